//! TLS for `https://` upstreams: rustls (ring) over the shard's glommio `TcpStream`, and that
//! stream as hyper's I/O. The server's certificate is checked against the system's CA store, or
//! against the input's own `tls_ca_file` (a private CA, a self-signed upstream); there is no
//! switch that turns verification off.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_lite::io::AsyncWrite;
use futures_rustls::TlsConnector;
use futures_rustls::client::TlsStream;
use glommio::net::TcpStream;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};

/// Reads through a stack buffer into hyper's (as `playback::io::ShardIo` does): the bytes are
/// decrypted already, so one copy more is the cost of staying without `unsafe`.
const READ_CHUNK: usize = 16 * 1024;

/// The trust anchors: the certificates in `ca_file` (PEM), or the system's store. Reading the
/// store parses a couple of hundred certificates: callers run this off the shard.
pub fn client_config(ca_file: Option<&Path>) -> io::Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            for cert in load_pem(path)? {
                roots.add(cert).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("{}: {e}", path.display()),
                    )
                })?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            // Unreadable entries are skipped, as every TLS client does; only an empty store
            // is an error, and it says where the relay looked.
            roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "none found".to_string(), |e| e.to_string());
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!(
                        "no system CA certificates ({why}); install ca-certificates or set \
                         tls_ca_file"
                    ),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// The certificates of a PEM file: at least one, or an error naming the file.
pub fn load_pem(path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let named = |e: &dyn std::fmt::Display| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {e}", path.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| named(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| named(&e))?;
    if certs.is_empty() {
        return Err(named(&"no PEM certificate in it"));
    }
    Ok(certs)
}

/// The config for `ca_file`, built on glommio's blocking pool (file reads and parsing would
/// otherwise hold up every other connection on the shard).
pub async fn client_config_off_shard(ca_file: Option<PathBuf>) -> io::Result<Arc<ClientConfig>> {
    glommio::executor()
        .spawn_blocking(move || client_config(ca_file.as_deref()))
        .await
}

/// A TLS session with `host` over `stream`, the certificate verified for that name.
pub async fn connect(stream: TcpStream, host: &str, cfg: Arc<ClientConfig>) -> io::Result<TlsIo> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))?;
    let tls = TlsConnector::from(cfg).connect(name, stream).await?;
    Ok(TlsIo(Box::new(tls)))
}

/// A TLS client stream as hyper's I/O.
pub struct TlsIo(Box<TlsStream<TcpStream>>);

impl hyper::rt::Read for TlsIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        crate::playback::io::poll_read_into::<READ_CHUNK>(Pin::new(&mut *self.get_mut().0), cx, buf)
    }
}

impl hyper::rt::Write for TlsIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().0).poll_close(cx)
    }
}
