//! Certificates for the `https://` upstream test: a CA made for the run and server
//! certificates for 127.0.0.1, signed by it or by nobody the relay trusts.
//!
//! Owns: key and certificate generation (rcgen) and the rustls server configs the test
//! upstream (`upstream::Upstream::tls`) serves with. Must not: write anywhere but the scratch
//! directory it is given.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, SanType};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate as a PEM file, for `tls_ca_file`.
    pub pem_path: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            format!("srtrelay test CA {name}"),
        );
        let cert = params.self_signed(&key).expect("CA certificate");
        let pem_path = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&pem_path, cert.pem()).expect("write CA PEM");
        TestCa {
            issuer: Issuer::new(params, key),
            pem_path,
        }
    }

    /// A server config with a certificate for 127.0.0.1 this CA signed.
    pub fn server_config(&self) -> Arc<ServerConfig> {
        let key = KeyPair::generate().expect("server key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("server params");
        params.subject_alt_names = vec![SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST))];
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("server certificate");
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let chain = vec![CertificateDer::from(cert.der().to_vec())];
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let cfg = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(chain, der)
            .expect("server config");
        Arc::new(cfg)
    }
}
