//! An `http://` upstream: one GET with hyper's HTTP/1.1 client on the shard's executor (the
//! playback listener's `ShardIo` as its I/O), the body read as it arrives (chunked or not).
//! `https://` runs the same over TLS (`tls.rs`). Redirects are followed a few times, between
//! http and https too; any status but 200 is an error naming it.

use std::io;
use std::path::Path;
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use super::source::{Read, resolve, within};
use crate::ingest::upstream::Upstream;
use crate::playback::io::ShardIo;

/// Redirects followed before the upstream counts as failed.
const MAX_REDIRECTS: usize = 3;

pub struct HttpSource {
    body: Incoming,
    /// The rest of the last frame, when it was larger than the caller's buffer.
    left: Bytes,
}

impl HttpSource {
    /// `tls_ca_file`: the CA certificates an https server must chain to, instead of the
    /// system's.
    pub async fn get(up: &Upstream, tls_ca_file: Option<&Path>) -> io::Result<HttpSource> {
        let Upstream::Http {
            host,
            port,
            path_and_query,
            tls,
            ..
        } = up
        else {
            return Err(io::Error::other("not an http upstream"));
        };
        let (mut host, mut port, mut path, mut tls) =
            (host.clone(), *port, path_and_query.clone(), *tls);
        let mut tls_config = None;
        for _ in 0..=MAX_REDIRECTS {
            let addr = resolve(&host, port).await?;
            let stream = glommio::net::TcpStream::connect(addr).await?;
            let _ = stream.set_nodelay(true);
            let mut sender = if tls {
                let cfg = match &tls_config {
                    Some(c) => std::sync::Arc::clone(c),
                    None => tls_config
                        .insert(
                            super::tls::client_config_off_shard(tls_ca_file.map(Path::to_path_buf))
                                .await?,
                        )
                        .clone(),
                };
                handshake(super::tls::connect(stream, &host, cfg).await?).await?
            } else {
                handshake(ShardIo(stream)).await?
            };
            let default_port = if tls { 443 } else { 80 };
            let authority = if port == default_port {
                host.clone()
            } else {
                format!("{host}:{port}")
            };
            let req = Request::get(path.as_str())
                .header(hyper::header::HOST, authority)
                .header(
                    hyper::header::USER_AGENT,
                    concat!("srtrelay/", env!("CARGO_PKG_VERSION")),
                )
                .body(Empty::<Bytes>::new())
                .map_err(io::Error::other)?;
            let resp = sender.send_request(req).await.map_err(io::Error::other)?;
            let status = resp.status();
            if status == StatusCode::OK {
                return Ok(HttpSource {
                    body: resp.into_body(),
                    left: Bytes::new(),
                });
            }
            if status.is_redirection()
                && let Some(loc) = resp.headers().get(hyper::header::LOCATION)
            {
                let loc = loc.to_str().map_err(io::Error::other)?;
                match Upstream::parse(loc) {
                    Ok(Upstream::Http {
                        host: h,
                        port: p,
                        path_and_query: q,
                        tls: t,
                        ..
                    }) => (host, port, path, tls) = (h, p, q, t),
                    _ if loc.starts_with('/') => path = loc.to_string(),
                    _ => {
                        return Err(io::Error::other(format!(
                            "HTTP {status} to {loc:?}, which is not an http:// or https:// URL"
                        )));
                    }
                }
                continue;
            }
            return Err(io::Error::other(format!("HTTP {status}")));
        }
        Err(io::Error::other("too many redirects"))
    }

    pub async fn read(&mut self, buf: &mut [u8], wait: Duration) -> io::Result<Read> {
        if self.left.is_empty() {
            loop {
                match within(wait, self.body.frame()).await {
                    None => return Ok(Read::Idle),
                    Some(None) => return Ok(Read::End),
                    Some(Some(Err(e))) => return Err(io::Error::other(e)),
                    Some(Some(Ok(f))) => {
                        if let Ok(d) = f.into_data()
                            && !d.is_empty()
                        {
                            self.left = d;
                            break;
                        }
                    }
                }
            }
        }
        let n = self.left.len().min(buf.len());
        buf[..n].copy_from_slice(&self.left[..n]);
        self.left.advance(n);
        Ok(Read::Data(n))
    }
}

/// An HTTP/1 client connection over `io`, its driver task on the shard's executor.
async fn handshake<T>(io: T) -> io::Result<hyper::client::conn::http1::SendRequest<Empty<Bytes>>>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(io::Error::other)?;
    glommio::spawn_local(async move {
        let _ = conn.await;
    })
    .detach();
    Ok(sender)
}
