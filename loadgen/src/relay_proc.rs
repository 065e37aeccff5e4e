//! Starting an `srtrelay` binary for the sweep and the smoke tests: a temporary config on a
//! free loopback port, stderr to a log file (a pipe nobody reads would fill up and stall the
//! relay), a wait for its "listening on" line, and a kill when dropped.
//!
//! Owns: the child process and its temporary files. Must not: outlive its guard (a leaked relay
//! would hold a port and a core for later runs).

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::clock;

/// The config the sweep and tests use unless given one: `{listen}` becomes the address and
/// `{latency_ms}` the latency. The operator API and the playback listener are off so several
/// relays can run at once.
pub const DEFAULT_CONFIG_TEMPLATE: &str = "\
[srt]
listen = [\"{listen}\"]
latency_ms = {latency_ms}

[http]
enabled = false

[playback]
enabled = false

[log]
level = \"info\"
";

/// How long a relay may take to report it is listening.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running relay; killed (SIGKILL) and its files removed on drop.
pub struct RelayProcess {
    child: Child,
    addr: SocketAddr,
    config_path: PathBuf,
    log_path: PathBuf,
}

impl RelayProcess {
    /// Starts `bin --config FILE` with `template` filled in for a free port on 127.0.0.1, and
    /// waits until it logs that it is listening.
    pub fn start(bin: &Path, template: &str, latency_ms: u64) -> anyhow::Result<RelayProcess> {
        if !bin.is_file() {
            bail!("relay binary {} not found", bin.display());
        }
        let port = UdpSocket::bind("127.0.0.1:0")
            .and_then(|s| s.local_addr())
            .context("find a free UDP port")?
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        static N: AtomicU32 = AtomicU32::new(0);
        let stem = format!(
            "loadgen-relay-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir();
        let config_path = dir.join(format!("{stem}.toml"));
        let log_path = dir.join(format!("{stem}.log"));
        let config = template
            .replace("{listen}", &addr.to_string())
            .replace("{latency_ms}", &latency_ms.to_string());
        std::fs::write(&config_path, config)
            .with_context(|| format!("write {}", config_path.display()))?;
        let log = std::fs::File::create(&log_path)
            .with_context(|| format!("create {}", log_path.display()))?;
        let child = Command::new(bin)
            .arg("--config")
            .arg(&config_path)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("spawn {}", bin.display()))?;
        let mut relay = RelayProcess {
            child,
            addr,
            config_path,
            log_path,
        };
        relay.wait_listening()?;
        Ok(relay)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The relay's log so far (for a failure message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    fn wait_listening(&mut self) -> anyhow::Result<()> {
        let deadline = clock::now() + START_TIMEOUT;
        // The relay logs its bound address; with a port given it is the one we chose.
        let needle = format!("listening on {}", self.addr);
        loop {
            if self.log().contains(&needle) {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "relay exited with {status} before listening:\n{}",
                    self.log()
                );
            }
            if clock::now() >= deadline {
                bail!(
                    "relay did not log {needle:?} within {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RelayProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.config_path);
        let _ = std::fs::remove_file(&self.log_path);
    }
}

/// The `srtrelay` binary next to the running executable (cargo puts every binary of a
/// workspace in the same `target/<profile>/` directory), or `None` if it is not there.
pub fn sibling_relay_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let dir = exe.parent()?;
    // Test binaries live one level down, in target/<profile>/deps/.
    [dir.join("srtrelay"), dir.parent()?.join("srtrelay")]
        .into_iter()
        .find(|p| p.is_file())
}
