//! A throwaway etcd (Debian's `etcd-server`) on loopback for the cluster tests: its own data
//! directory and ports, stopped and restarted at will, killed when dropped. Never the
//! machine's etcd service.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::process::Proc;
use super::tools;

pub struct Etcd {
    pub client: SocketAddr,
    peer: SocketAddr,
    dir: PathBuf,
    proc: Option<Proc>,
}

fn free_tcp() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free TCP port")
}

impl Etcd {
    /// Starts etcd with a fresh data directory under `dir`.
    pub fn start(dir: PathBuf) -> Etcd {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("etcd directory");
        let mut e = Etcd {
            client: free_tcp(),
            peer: free_tcp(),
            dir,
            proc: None,
        };
        e.resume();
        e
    }

    /// The endpoint as `[cluster] etcd` takes it.
    pub fn url(&self) -> String {
        format!("http://{}", self.client)
    }

    /// (Re)starts it on the same ports and data.
    pub fn resume(&mut self) {
        assert!(self.proc.is_none(), "etcd runs already");
        let (c, p) = (
            format!("http://{}", self.client),
            format!("http://{}", self.peer),
        );
        let mut cmd = Command::new(tools::require("etcd"));
        cmd.args(["--name", "test", "--data-dir"])
            .arg(self.dir.join("data"))
            .args(["--listen-client-urls", &c, "--advertise-client-urls", &c])
            .args([
                "--listen-peer-urls",
                &p,
                "--initial-advertise-peer-urls",
                &p,
            ])
            .args(["--initial-cluster", &format!("test={p}")])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        self.proc = Some(Proc::spawn("etcd", &mut cmd));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.answers() {
            assert!(Instant::now() < deadline, "etcd did not come up on {c}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it (SIGTERM, then SIGKILL after a grace).
    pub fn stop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.terminate(Duration::from_secs(5));
        }
    }

    /// Whether its v3 gateway answers a range request.
    pub fn answers(&self) -> bool {
        let Ok(mut s) = TcpStream::connect_timeout(&self.client, Duration::from_millis(500)) else {
            return false;
        };
        let body = r#"{"key":"AA=="}"#;
        let req = format!(
            "POST /v3/kv/range HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.client,
            body.len()
        );
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(req.as_bytes()).is_err() {
            return false;
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out.starts_with("HTTP/1.1 200")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(mut p) = self.proc.take() {
            p.kill();
        }
    }
}
