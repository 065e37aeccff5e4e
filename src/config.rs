//! Configuration: the TOML file model (serde, unknown keys rejected) and its validated, typed
//! form. A bad value is reported with the key that holds it.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The default configuration, shipped as `config.toml` and embedded in the binary.
pub const DEFAULT_CONFIG: &str = include_str!("../config.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Syntax(String),
    #[error("invalid `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileModel {
    #[serde(default)]
    srt: SrtModel,
    #[serde(default)]
    streams: StreamsModel,
    #[serde(default)]
    log: LogModel,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SrtModel {
    listen: Vec<String>,
    latency_ms: u64,
    max_payload: usize,
    recv_buffer_pkts: usize,
    send_buffer_pkts: usize,
    peer_idle_timeout_ms: u64,
    loss_max_ttl: u32,
}

impl Default for SrtModel {
    fn default() -> Self {
        SrtModel {
            listen: vec!["0.0.0.0:9999".into()],
            latency_ms: 120,
            max_payload: 1316,
            recv_buffer_pkts: 8192,
            send_buffer_pkts: 8192,
            peer_idle_timeout_ms: 5000,
            loss_max_ttl: 0,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StreamsModel {
    default_stream: String,
}

impl Default for StreamsModel {
    fn default() -> Self {
        StreamsModel {
            default_stream: "live".into(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LogModel {
    level: String,
}

impl Default for LogModel {
    fn default() -> Self {
        LogModel {
            level: "info".into(),
        }
    }
}

/// Validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen: Vec<SocketAddr>,
    pub latency: Duration,
    pub max_payload: usize,
    pub recv_buffer_pkts: usize,
    pub send_buffer_pkts: usize,
    pub peer_idle_timeout: Duration,
    pub loss_max_ttl: u32,
    pub default_stream: String,
    pub log_level: log::LevelFilter,
}

impl Config {
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let model: FileModel =
            toml::from_str(text).map_err(|e| ConfigError::Syntax(e.to_string()))?;
        Config::try_from(model)
    }

    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Config::from_toml(&text)
    }

    pub fn embedded_default() -> Config {
        Config::from_toml(DEFAULT_CONFIG).expect("the embedded config.toml is valid (tested)")
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

impl TryFrom<FileModel> for Config {
    type Error = ConfigError;

    fn try_from(m: FileModel) -> Result<Config, ConfigError> {
        let listen = m
            .srt
            .listen
            .iter()
            .map(|a| {
                a.parse::<SocketAddr>()
                    .map_err(|e| invalid("srt.listen", format!("{a:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if listen.is_empty() {
            return Err(invalid("srt.listen", "at least one address is needed"));
        }
        // HSREQ carries latency in 16 bits of milliseconds (draft §3.2.1.1).
        if m.srt.latency_ms > u64::from(u16::MAX) {
            return Err(invalid("srt.latency_ms", "must be at most 65535"));
        }
        // 1500-byte MSS minus IP, UDP and SRT headers.
        if !(188..=1456).contains(&m.srt.max_payload) {
            return Err(invalid("srt.max_payload", "must be between 188 and 1456"));
        }
        for (key, v) in [
            ("srt.recv_buffer_pkts", m.srt.recv_buffer_pkts),
            ("srt.send_buffer_pkts", m.srt.send_buffer_pkts),
        ] {
            if !(32..=1 << 20).contains(&v) {
                return Err(invalid(key, "must be between 32 and 1048576"));
            }
        }
        if m.srt.peer_idle_timeout_ms < 1000 {
            return Err(invalid("srt.peer_idle_timeout_ms", "must be at least 1000"));
        }
        let log_level = m
            .log
            .level
            .parse()
            .map_err(|_| invalid("log.level", format!("unknown level {:?}", m.log.level)))?;
        Ok(Config {
            listen,
            latency: Duration::from_millis(m.srt.latency_ms),
            max_payload: m.srt.max_payload,
            recv_buffer_pkts: m.srt.recv_buffer_pkts,
            send_buffer_pkts: m.srt.send_buffer_pkts,
            peer_idle_timeout: Duration::from_millis(m.srt.peer_idle_timeout_ms),
            loss_max_ttl: m.srt.loss_max_ttl,
            default_stream: m.streams.default_stream,
            log_level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_config_parses_to_the_documented_defaults() {
        let c = Config::from_toml(DEFAULT_CONFIG).expect("valid");
        assert_eq!(c.listen, vec!["0.0.0.0:9999".parse().unwrap()]);
        assert_eq!(c.latency, Duration::from_millis(120));
        assert_eq!((c.max_payload, c.recv_buffer_pkts), (1316, 8192));
        assert_eq!(c.default_stream, "live");
        // Every default in the file matches the built-in default for an empty file.
        assert_eq!(c, Config::from_toml("").expect("empty is valid"));
    }

    #[test]
    fn errors_name_the_key() {
        let cases = [
            ("[srt]\nlisten = [\"nowhere\"]", "srt.listen"),
            ("[srt]\nlatency_ms = 70000", "srt.latency_ms"),
            ("[srt]\nmax_payload = 2000", "srt.max_payload"),
            ("[srt]\nrecv_buffer_pkts = 1", "srt.recv_buffer_pkts"),
            ("[log]\nlevel = \"loud\"", "log.level"),
            ("[srt]\nlatncy_ms = 1", "latncy_ms"),
            ("[stream]\n", "stream"),
        ];
        for (text, key) in cases {
            let err = Config::from_toml(text).expect_err(text).to_string();
            assert!(err.contains(key), "{text:?} -> {err}");
        }
    }

    #[test]
    fn ipv6_listen() {
        let c = Config::from_toml("[srt]\nlisten = [\"[::1]:9000\", \"127.0.0.1:9000\"]").unwrap();
        assert_eq!(c.listen.len(), 2);
        assert!(c.listen[0].is_ipv6());
    }
}
