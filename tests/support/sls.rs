//! SLS (srt-live-server 1.4.9 by Edward Wu, MIT; vendored in `tests/peers/srt-live-server`,
//! built by `scripts/build-sls.sh` into `target/peers`, which `scripts/test.sh` runs) on a
//! loopback port of its own, for the push test: its config and log in a scratch directory,
//! killed when dropped.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::media;
use super::process::Proc;

const T: Duration = Duration::from_secs(30);

pub struct Sls {
    _proc: Proc,
    pub port: u16,
    pub dir: PathBuf,
}

/// `SRTRELAY_SLS`, else where `scripts/build-sls.sh` puts it.
fn binary() -> PathBuf {
    std::env::var_os("SRTRELAY_SLS").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/peers/srt-live-server/bin/sls"),
        PathBuf::from,
    )
}

impl Sls {
    /// SLS taking publishers on `pub/live/NAME` and players on `play/live/NAME`.
    pub fn start(name: &str) -> Sls {
        let bin = binary();
        assert!(
            bin.exists(),
            "{} missing: run scripts/build-sls.sh (scripts/test.sh does)",
            bin.display()
        );
        let dir = media::scratch_dir(name);
        let port = free_low_udp_port();
        let conf = dir.join("sls.conf");
        fs::write(&conf, config(&dir, port)).expect("write sls.conf");
        let mut cmd = Command::new(&bin);
        cmd.arg("-c")
            .arg(&conf)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let mut proc = Proc::spawn("sls", &mut cmd);
        let deadline = Instant::now() + T;
        while !udp_bound(port) {
            assert!(
                proc.try_wait().is_none() && Instant::now() < deadline,
                "sls did not listen on {port}\n{}\n{}",
                proc.diagnostics(),
                fs::read_to_string(dir.join("sls.log")).unwrap_or_default()
            );
            thread::sleep(Duration::from_millis(20));
        }
        Sls {
            _proc: proc,
            port,
            dir,
        }
    }
}

/// SLS takes listen ports 1024 to 10000 only: a free one there (not in the ephemeral range the
/// other tests' ports come from), starting at a place of this process's own.
fn free_low_udp_port() -> u16 {
    let start = 2000 + (std::process::id() % 7000) as u16;
    (start..10_000)
        .chain(2000..start)
        .find(|&p| std::net::UdpSocket::bind(("0.0.0.0", p)).is_ok())
        .expect("a free UDP port below 10000")
}

/// Whether a socket is bound to UDP `port` (SLS says nothing when it is ready).
fn udp_bound(port: u16) -> bool {
    let hex = format!(":{port:04X} ");
    ["/proc/net/udp", "/proc/net/udp6"].iter().any(|f| {
        fs::read_to_string(f)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|l| {
                l.split_whitespace()
                    .nth(1)
                    .is_some_and(|a| format!("{a} ").ends_with(&hex))
            })
    })
}

/// The lab's `sls.conf` on `port`, logging into `dir`.
fn config(dir: &std::path::Path, port: u16) -> String {
    format!(
        "srt {{\n\
           worker_threads 1;\n\
           worker_connections 64;\n\
           log_file {log};\n\
           log_level info;\n\
           server {{\n\
             listen {port};\n\
             latency 120;\n\
             domain_player play;\n\
             domain_publisher pub;\n\
             backlog 100;\n\
             idle_streams_timeout 10;\n\
             app {{\n\
               app_player live;\n\
               app_publisher live;\n\
               record_hls off;\n\
             }}\n\
           }}\n\
         }}\n",
        log = dir.join("sls.log").display(),
    )
}
