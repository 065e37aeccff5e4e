//! `[rtmp]`: the RTMP listener encoders such as OBS publish to (`rtmp://HOST/live` with stream
//! key `cam1` publishes `live/cam1`), as the file has it and validated. All of it is read once
//! at start-up: the listener is bound on every shard then.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::model::{MAX_TIMEOUT_MS, in_range, invalid, socket_addr};

/// The RTMP listener, validated. `Config::rtmp` is `None` when `rtmp.enabled = false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtmpSettings {
    pub listen: SocketAddr,
    /// RTMP connections at once, all shards together.
    pub max_connections: usize,
    /// From TCP accept to an accepted `publish`: handshake, `connect`, `createStream`.
    pub handshake_timeout: Duration,
    /// A publisher that sends no byte for this long is closed.
    pub idle_timeout: Duration,
    /// Largest RTMP message (a reassembled video frame, say) accepted; larger ones close the
    /// connection before anything is allocated for them.
    pub max_message_bytes: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RtmpModel {
    enabled: bool,
    listen: String,
    max_connections: i64,
    handshake_timeout_ms: i64,
    idle_timeout_ms: i64,
    max_message_bytes: i64,
}

impl Default for RtmpModel {
    fn default() -> Self {
        RtmpModel {
            enabled: true,
            listen: "0.0.0.0:1935".into(),
            max_connections: 1000,
            handshake_timeout_ms: 10_000,
            idle_timeout_ms: 10_000,
            max_message_bytes: 8 << 20,
        }
    }
}

/// RTMP's message length field is 24 bits (RTMP 1.0 §5.3.1.2.1).
const MAX_RTMP_MESSAGE: i64 = (1 << 24) - 1;

/// `others`: the other TCP listeners by key, `None` when disabled; `rtmp.listen` may not
/// share a port with one (all of them bind with `SO_REUSEPORT`, so the kernel would not
/// refuse it: it would split the connections between the two servers).
pub(super) fn rtmp(
    m: &RtmpModel,
    others: &[(&'static str, Option<SocketAddr>)],
) -> Result<Option<RtmpSettings>, ConfigError> {
    const KEY: &str = "rtmp.listen";
    // Checked even when disabled, so turning it on later does not reveal an old typo.
    let listen = socket_addr(KEY, &m.listen)?;
    let settings = RtmpSettings {
        listen,
        max_connections: in_range("rtmp.max_connections", m.max_connections, 1, 1_000_000)?
            as usize,
        handshake_timeout: ms("rtmp.handshake_timeout_ms", m.handshake_timeout_ms, 100)?,
        idle_timeout: ms("rtmp.idle_timeout_ms", m.idle_timeout_ms, 1000)?,
        max_message_bytes: in_range(
            "rtmp.max_message_bytes",
            m.max_message_bytes,
            64 << 10,
            MAX_RTMP_MESSAGE,
        )? as usize,
    };
    if !m.enabled {
        return Ok(None);
    }
    for (key, other) in others {
        if let Some(other) = other
            && overlaps(listen, *other)
        {
            let reason = format!(
                "{listen} shares port {} with `{key}` ({other}); give RTMP a port of its own \
                 (1935 is the usual one)",
                listen.port()
            );
            return Err(invalid(KEY, reason));
        }
    }
    Ok(Some(settings))
}

/// Whether two listeners would receive each other's connections: the same port on the same
/// address, or on a wildcard one (which covers every address, of both families on Linux's
/// default dual-stack sockets).
pub(super) fn overlaps(a: SocketAddr, b: SocketAddr) -> bool {
    a.port() == b.port() && (a.ip() == b.ip() || a.ip().is_unspecified() || b.ip().is_unspecified())
}

fn ms(key: &'static str, v: i64, lo: i64) -> Result<Duration, ConfigError> {
    in_range(key, v, lo, MAX_TIMEOUT_MS).map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Host};
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_on(text, &Host::with_cpus(vec![0]))
    }

    fn refusal(text: &str) -> (&'static str, String) {
        match parse(text) {
            Err(ConfigError::Invalid { key, reason }) => (key, reason),
            other => panic!("{text:?}: expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn on_by_default_on_1935() {
        let r = parse("").unwrap().rtmp.expect("enabled by default");
        assert_eq!(
            r,
            RtmpSettings {
                listen: "0.0.0.0:1935".parse().unwrap(),
                max_connections: 1000,
                handshake_timeout: Duration::from_secs(10),
                idle_timeout: Duration::from_secs(10),
                max_message_bytes: 8 << 20,
            }
        );
        assert_eq!(parse("[rtmp]\nenabled = false").unwrap().rtmp, None);
        let r = parse("[rtmp]\nlisten = \"[::]:1936\"\nmax_message_bytes = 16777215")
            .unwrap()
            .rtmp
            .unwrap();
        assert_eq!(r.listen.port(), 1936);
        assert_eq!(r.max_message_bytes, 16_777_215);
    }

    #[test]
    fn every_refusal_names_its_key() {
        let cases = [
            ("listen = \"1935\"", "rtmp.listen", "not an address"),
            ("max_connections = 0", "rtmp.max_connections", "at least 1"),
            (
                "handshake_timeout_ms = 99",
                "rtmp.handshake_timeout_ms",
                "at least 100",
            ),
            (
                "idle_timeout_ms = 999",
                "rtmp.idle_timeout_ms",
                "at least 1000",
            ),
            (
                "max_message_bytes = 16777216",
                "rtmp.max_message_bytes",
                "at most 16777215",
            ),
            (
                "max_message_bytes = 1000",
                "rtmp.max_message_bytes",
                "at least 65536",
            ),
            // Checked when disabled too.
            (
                "enabled = false\nlisten = \"x\"",
                "rtmp.listen",
                "not an address",
            ),
        ];
        for (body, want_key, says) in cases {
            let (key, reason) = refusal(&format!("[rtmp]\n{body}\n"));
            assert_eq!(key, want_key, "{body}");
            assert!(reason.contains(says), "{body}: {reason}");
        }
        let err = parse("[rtmp]\nlisten_addr = \"0.0.0.0:1935\"").unwrap_err();
        assert!(
            err.to_string().contains("unknown key `listen_addr`"),
            "{err}"
        );
    }

    #[test]
    fn a_port_shared_with_another_tcp_listener_is_refused() {
        let (key, reason) = refusal("[rtmp]\nlisten = \"127.0.0.1:8080\"");
        assert_eq!(key, "rtmp.listen");
        assert!(
            reason.contains("`playback.listen` (0.0.0.0:8080)"),
            "{reason}"
        );
        let (_, reason) = refusal("[rtmp]\nlisten = \"[::]:9990\"");
        assert!(reason.contains("`http.listen`"), "{reason}");
        // A disabled listener or another address on the same port is no conflict.
        assert!(parse("[rtmp]\nlisten = \"0.0.0.0:8080\"\n[playback]\nenabled = false").is_ok());
        assert!(parse("[rtmp]\nlisten = \"127.0.0.2:9990\"").is_ok());
        assert!(parse("[rtmp]\nenabled = false\nlisten = \"0.0.0.0:8080\"").is_ok());
    }
}
