//! A webhook server for the callback tests: answers each POST by a rule on its JSON body and
//! records every body it got.
//!
//! Owns: a listener on a kernel-chosen loopback port, one thread per request, the log of
//! bodies. The rule: a body whose `stream`, `stream_id`, `key`, `query` or `path` contains
//! "slow" gets no answer for [`HANG`]; "deny" gets 403; "gone" gets 404; anything else 200.
//! Must not: block without a deadline or outlive its handle (drop stops the accept loop).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How long a "slow" request waits before the server closes it without an answer.
pub const HANG: Duration = Duration::from_secs(6);

pub struct WebhookServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    bodies: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl WebhookServer {
    pub fn start() -> WebhookServer {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.set_nonblocking(true).expect("nonblocking");
        let addr = l.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let (s, b) = (stop.clone(), bodies.clone());
        thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((c, _)) => {
                        let b = b.clone();
                        thread::spawn(move || {
                            let _ = serve(c, &b);
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        WebhookServer { addr, stop, bodies }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Bodies received so far whose `action` is `action`.
    pub fn calls(&self, action: &str) -> Vec<serde_json::Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter(|b| b["action"] == action)
            .cloned()
            .collect()
    }

    /// Waits until `cond` holds for the calls of `action`.
    pub fn wait_calls(
        &self,
        action: &str,
        timeout: Duration,
        cond: impl Fn(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let c = self.calls(action);
            if cond(&c) {
                return c;
            }
            assert!(Instant::now() < deadline, "{action}: calls so far {c:#?}");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for WebhookServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut c: TcpStream, bodies: &Mutex<Vec<serde_json::Value>>) -> std::io::Result<()> {
    c.set_nonblocking(false)?;
    c.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = Vec::new();
    let mut b = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = c.read(&mut b)?;
        if n == 0 || buf.len() > 64 * 1024 {
            return Ok(());
        }
        buf.extend_from_slice(&b[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = c.read(&mut b)?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&b[..n]);
    }
    let body: serde_json::Value =
        serde_json::from_slice(&buf[head_end..head_end + len]).unwrap_or_default();
    let said = ["stream", "stream_id", "key", "query", "path"]
        .iter()
        .filter_map(|k| body[*k].as_str())
        .collect::<Vec<_>>()
        .join(" ");
    bodies.lock().unwrap().push(body);
    let status = if said.contains("slow") {
        thread::sleep(HANG);
        return Ok(());
    } else if said.contains("deny") {
        "403 Forbidden"
    } else if said.contains("gone") {
        "404 Not Found"
    } else {
        "200 OK"
    };
    c.write_all(
        format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}
