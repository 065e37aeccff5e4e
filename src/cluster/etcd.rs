//! The slice of etcd's v3 API the cluster needs, over etcd's JSON gateway (`POST /v3/...`,
//! HTTP/1.1, keys and values in base64), with hyper on the cluster thread's tokio runtime.
//! The gateway is part of every etcd v3 server; a gRPC client crate would add tonic, prost
//! and a `protoc` at build time to a relay that otherwise needs none.
//!
//! Owns: the requests (lease grant and keepalive, put-if-absent under a lease, conditional
//! delete, prefix range), trying the configured endpoints in order, and a cap on response
//! size. Must not: decide anything (the directory does), run on a shard.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

/// A response larger than this is refused (a directory of thousands of streams fits).
const MAX_RESPONSE: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum EtcdError {
    #[error("no etcd endpoint answered: {0}")]
    Unreachable(String),
    #[error("etcd answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unexpected answer from etcd: {0}")]
    Malformed(String),
}

/// One etcd endpoint: `http://host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    /// `http://host:port` (no path; https is not supported: run etcd on a private network or
    /// loopback).
    pub fn parse(url: &str) -> Result<Endpoint, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("{url:?}: only http://host:port endpoints"))?;
        let rest = rest.trim_end_matches('/');
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| format!("{url:?}: needs a port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| format!("{url:?}: bad port {port:?}"))?;
        let host = host.trim_matches(['[', ']']);
        if host.is_empty() || host.contains('/') || port == 0 {
            return Err(format!("{url:?}: needs http://host:port"));
        }
        Ok(Endpoint {
            host: host.to_string(),
            port,
        })
    }
}

/// What a put-if-absent found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is ours now (or was already, with this value).
    Won,
    /// Another value holds it.
    Held(String),
}

pub struct Etcd {
    endpoints: Vec<Endpoint>,
    timeout: Duration,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn unb64(v: &Value) -> Result<String, EtcdError> {
    let s = v
        .as_str()
        .ok_or_else(|| EtcdError::Malformed("a key or value is not a string".into()))?;
    let raw = B64
        .decode(s)
        .map_err(|e| EtcdError::Malformed(format!("base64: {e}")))?;
    String::from_utf8(raw).map_err(|_| EtcdError::Malformed("a key or value is not UTF-8".into()))
}

/// etcd's JSON renders 64-bit numbers as strings.
fn int(v: &Value) -> Option<i64> {
    match v {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_i64(),
        _ => None,
    }
}

/// The end of the range of keys starting with `prefix` (its last byte plus one).
fn prefix_end(prefix: &str) -> String {
    let mut b = prefix.as_bytes().to_vec();
    while let Some(last) = b.pop() {
        if last < 0xFF {
            b.push(last + 1);
            return B64.encode(&b);
        }
    }
    // All 0xFF (never for our prefixes): the whole key space after it.
    B64.encode([0u8])
}

impl Etcd {
    pub fn new(endpoints: Vec<Endpoint>, timeout: Duration) -> Etcd {
        Etcd { endpoints, timeout }
    }

    /// A lease of `ttl`; its id.
    pub async fn grant(&self, ttl: Duration) -> Result<i64, EtcdError> {
        let v = self
            .post("/v3/lease/grant", json!({ "TTL": ttl.as_secs().max(1) }))
            .await?;
        int(&v["ID"]).ok_or_else(|| EtcdError::Malformed(format!("lease grant: {v}")))
    }

    /// Renews lease `id`; false if etcd no longer knows it (expired).
    pub async fn keepalive(&self, id: i64) -> Result<bool, EtcdError> {
        let v = self
            .post("/v3/lease/keepalive", json!({ "ID": id.to_string() }))
            .await?;
        Ok(int(&v["result"]["TTL"]).unwrap_or(0) > 0)
    }

    /// Puts `value` at `key` under `lease` unless another value holds it; a key holding
    /// `value` already is moved to `lease` (a claim renewed after etcd lost our lease).
    pub async fn claim(&self, key: &str, value: &str, lease: i64) -> Result<Claim, EtcdError> {
        let (k, v) = (b64(key), b64(value));
        let put = json!({ "request_put": { "key": k, "value": v, "lease": lease.to_string() } });
        let body = json!({
            "compare": [{ "key": k, "target": "CREATE", "create_revision": "0" }],
            "success": [put.clone()],
            "failure": [{ "request_range": { "key": k } }],
        });
        let r = self.post("/v3/kv/txn", body).await?;
        if r["succeeded"].as_bool() == Some(true) {
            return Ok(Claim::Won);
        }
        let held = match r["responses"][0]["response_range"]["kvs"][0].get("value") {
            Some(v) => unb64(v)?,
            // Deleted in between: the next round claims it.
            None => return Ok(Claim::Held(String::new())),
        };
        if held != value {
            return Ok(Claim::Held(held));
        }
        let body = json!({
            "compare": [{ "key": k, "target": "VALUE", "value": v }],
            "success": [put],
        });
        let r = self.post("/v3/kv/txn", body).await?;
        Ok(if r["succeeded"].as_bool() == Some(true) {
            Claim::Won
        } else {
            Claim::Held(String::new())
        })
    }

    /// Deletes `key` if it still holds `value`.
    pub async fn release(&self, key: &str, value: &str) -> Result<(), EtcdError> {
        let k = b64(key);
        let body = json!({
            "compare": [{ "key": k, "target": "VALUE", "value": b64(value) }],
            "success": [{ "request_delete_range": { "key": k } }],
        });
        self.post("/v3/kv/txn", body).await.map(|_| ())
    }

    /// Every key under `prefix` with its value.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, String)>, EtcdError> {
        let body = json!({ "key": b64(prefix), "range_end": prefix_end(prefix) });
        let r = self.post("/v3/kv/range", body).await?;
        let Some(kvs) = r["kvs"].as_array() else {
            return Ok(Vec::new());
        };
        kvs.iter()
            .map(|kv| Ok((unb64(&kv["key"])?, unb64(&kv["value"])?)))
            .collect()
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, EtcdError> {
        let body = Bytes::from(body.to_string());
        let mut errors = Vec::new();
        for ep in &self.endpoints {
            match tokio::time::timeout(self.timeout, call(ep, path, body.clone())).await {
                Ok(Ok((200, v))) => return Ok(v),
                Ok(Ok((status, v))) => {
                    return Err(EtcdError::Status {
                        status,
                        body: v.to_string().chars().take(200).collect(),
                    });
                }
                Ok(Err(e)) => errors.push(format!("{}:{}: {e}", ep.host, ep.port)),
                Err(_) => errors.push(format!("{}:{}: timed out", ep.host, ep.port)),
            }
        }
        Err(EtcdError::Unreachable(errors.join("; ")))
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

async fn call(ep: &Endpoint, path: &str, body: Bytes) -> Result<(u16, Value), BoxError> {
    let stream = tokio::net::TcpStream::connect((ep.host.as_str(), ep.port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = Request::post(path)
        .header(hyper::header::HOST, format!("{}:{}", ep.host, ep.port))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let bytes = Limited::new(resp.into_body(), MAX_RESPONSE)
        .collect()
        .await?
        .to_bytes();
    let v: Value = serde_json::from_slice(&bytes)?;
    Ok((status, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_prefix_ranges_end_after_the_prefix() {
        assert_eq!(
            Endpoint::parse("http://127.0.0.1:2379/"),
            Ok(Endpoint {
                host: "127.0.0.1".into(),
                port: 2379
            })
        );
        assert_eq!(Endpoint::parse("http://[::1]:2379").unwrap().host, "::1");
        for bad in [
            "https://h:1",
            "h:1",
            "http://h",
            "http://:1",
            "http://h:0",
            "http://h:x",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(prefix_end("/a/"), B64.encode("/a0"));
        assert_eq!(unb64(&Value::String(b64("x/y"))).unwrap(), "x/y");
        assert_eq!(int(&json!("42")), Some(42));
    }
}
