//! The start-up block: once every shard runs, one info record that tells a new operator how to
//! publish and play the default stream, and, when the kernel caps the socket buffers the
//! config asks for, the exact sysctl values to apply (instead of one warning per shard socket).
//!
//! Owns the wording of that block. Must not change anything: it reads `/proc/sys` through the
//! function it is handed and returns text; the binary logs it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::access::Mode;
use crate::config::Config;
use crate::srt::handshake::StreamMode;

/// The kernel tuning file shipped in the repository, with the values and why.
pub const TUNING_FILE: &str = "tuning/99-srtrelay.conf";

/// The start-up block for `config` listening on `local`; `sysctl("net/core/rmem_max")` reads
/// a kernel value (`None` when it cannot, e.g. in a container).
pub fn startup_block(
    config: &Config,
    local: &[SocketAddr],
    sysctl: &dyn Fn(&str) -> Option<u64>,
) -> String {
    let mut out = String::new();
    let addr = local
        .first()
        .or(config.srt.listen.first())
        .copied()
        .map(reachable);
    let name = &config.streams.policy.default_stream;
    if let Some(addr) = addr {
        let base = format!("srt://{}", host_port(addr));
        let publish = format!(
            "'{base}?streamid=#!::r={name},m=publish{}'",
            extra(config, name, StreamMode::Publish)
        );
        let play = format!(
            "'{base}?streamid=#!::r={name},m=request{}'",
            extra(config, name, StreamMode::Request)
        );
        out.push_str(&format!(
            "srtrelay ready on {}; the default stream is {name:?} (streams.default_stream)\n",
            list(local)
        ));
        out.push_str(&format!(
            "  publish: ffmpeg -re -stream_loop -1 -i in.ts -c copy -f mpegts {publish}\n"
        ));
        out.push_str(&format!(
            "           srt-live-transmit file://con {publish} < in.ts\n"
        ));
        out.push_str(&format!("  play:    ffplay {play}\n"));
        out.push_str(&format!(
            "           srt-live-transmit {play} file://con > out.ts\n"
        ));
        out.push_str(&format!(
            "           vlc {base} (no Stream ID: plays {name:?}; Debian needs \
             vlc-plugin-access-extra for SRT)\n"
        ));
        if config.access.tokens.is_empty() {
            // Nothing to add: access control is off.
        } else if !config.access.is_open(name, Mode::Request)
            || !config.access.is_open(name, Mode::Publish)
        {
            out.push_str(&format!(
                "  [access] tokens are set: callers of {name:?} need a session (s=...) from \
                 POST /v1/streams/{name}/sessions\n"
            ));
        }
    }
    out.push_str(&kernel_advice(config, sysctl));
    out.trim_end().to_string()
}

/// Reads a `/proc/sys` value, e.g. `net/core/rmem_max`.
pub fn read_proc_sys(path: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The sysctl line when `net.core.rmem_max` / `wmem_max` are below what each shard socket
/// asks for (the kernel silently caps `SO_RCVBUF` / `SO_SNDBUF` at them).
fn kernel_advice(config: &Config, sysctl: &dyn Fn(&str) -> Option<u64>) -> String {
    let wants = [
        (
            "rmem_max",
            "runtime.socket_recv_buffer_bytes",
            config.runtime.socket_recv_buffer_bytes,
        ),
        (
            "wmem_max",
            "runtime.socket_send_buffer_bytes",
            config.runtime.socket_send_buffer_bytes,
        ),
    ];
    let mut short = Vec::new();
    let mut unknown = Vec::new();
    for (key, config_key, want) in wants {
        let Some(want) = want.map(|w| w.get() as u64) else {
            continue;
        };
        match sysctl(&format!("net/core/{key}")) {
            Some(have) if have >= want => {}
            Some(have) => short.push((key, config_key, want, have)),
            None => unknown.push((key, want)),
        }
    }
    let mut out = String::new();
    if !short.is_empty() {
        for (key, config_key, want, have) in &short {
            out.push_str(&format!(
                "  kernel: net.core.{key} = {have} caps the {want} bytes {config_key} asks \
                 for on every shard socket\n"
            ));
        }
        let values: Vec<String> = short
            .iter()
            .map(|(key, _, want, _)| format!("net.core.{key}={want}"))
            .collect();
        out.push_str(&format!(
            "  apply:  sysctl -w {}  (or install {TUNING_FILE}: install -m 0644 {TUNING_FILE} \
             /etc/sysctl.d/ && sysctl --system)\n",
            values.join(" ")
        ));
    }
    for (key, want) in unknown {
        out.push_str(&format!(
            "  kernel: cannot read net.core.{key}; it should be at least {want} ({TUNING_FILE})\n"
        ));
    }
    out
}

/// A wildcard listen address is reached on loopback from this host.
fn reachable(a: SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), a.port())
        }
        IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::new(Ipv6Addr::LOCALHOST.into(), a.port())
        }
        _ => a,
    }
}

fn host_port(a: SocketAddr) -> String {
    // SocketAddr's Display already brackets IPv6.
    a.to_string()
}

/// URL options the default stream needs beyond its Stream ID.
fn extra(config: &Config, name: &str, mode: StreamMode) -> String {
    match config.encryption_for(name, mode) {
        Some(e) if e.passphrase.is_some() => "&passphrase=...".to_string(),
        _ => String::new(),
    }
}

fn list(v: &[SocketAddr]) -> String {
    let v: Vec<String> = v.iter().map(ToString::to_string).collect();
    v.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_CONFIG;

    fn default_config() -> Config {
        Config::from_toml(DEFAULT_CONFIG).expect("the shipped config parses")
    }

    #[test]
    fn a_capped_kernel_gets_the_exact_values_and_the_tuning_file() {
        let c = default_config();
        let addr: SocketAddr = "0.0.0.0:9999".parse().unwrap();
        let low = |_: &str| Some(212_992);
        let block = startup_block(&c, &[addr], &low);
        assert!(
            block.contains("sysctl -w net.core.rmem_max=8388608 net.core.wmem_max=8388608"),
            "{block}"
        );
        assert!(block.contains(TUNING_FILE), "{block}");
        assert!(!block.contains("=N"), "{block}");
        assert!(
            block.contains("'srt://127.0.0.1:9999?streamid=#!::r=live,m=publish'"),
            "{block}"
        );
        assert!(
            block.contains("ffplay 'srt://127.0.0.1:9999?streamid=#!::r=live,m=request'"),
            "{block}"
        );
        assert!(block.contains("vlc srt://127.0.0.1:9999 "), "{block}");
        assert!(block.contains("vlc-plugin-access-extra"), "{block}");
    }

    #[test]
    fn a_tuned_kernel_gets_no_sysctl_advice() {
        let c = default_config();
        let addr: SocketAddr = "[::]:9000".parse().unwrap();
        let high = |_: &str| Some(16 << 20);
        let block = startup_block(&c, &[addr], &high);
        assert!(!block.contains("sysctl"), "{block}");
        assert!(block.contains("srt://[::1]:9000?streamid="), "{block}");
    }
}
