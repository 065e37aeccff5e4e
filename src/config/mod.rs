//! Configuration: the TOML file model and its validated, typed form.
//!
//! Owns: `config.toml` (embedded as the default), parsing with unknown keys rejected, validation
//! with the offending key named in every error, and the reload rules (which keys SIGHUP may
//! change). Must not: open sockets, pin threads or apply anything; it only describes.
//!
//! The path is text -> [`model::FileModel`] (serde, `deny_unknown_fields`, every field defaulted)
//! -> [`Config`] (durations, socket addresses, non-zero counts, enums, cores resolved against
//! this machine). `Config` is grouped by file section; inside `[streams]` the policies that a
//! reload may change are their own [`StreamPolicy`] so a reload hands them over in one piece.

mod access;
mod cluster;
mod encryption;
mod host;
mod inputs;
mod model;
mod outputs;
mod playback;
mod record;
mod reload;
mod rtmp;
mod srt;
mod srtla;
#[cfg(test)]
mod tests;
mod webhooks;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub use crate::access::AccessConfig;
pub use cluster::{Backend as ClusterBackend, ClusterConfig, StaticOrigin};
pub use encryption::{EncryptionRule, StreamPattern};
pub use host::{Host, format_cpu_list, parse_cpu_list};
pub use inputs::{InputConfig, MAX_UPSTREAMS};
pub use outputs::{MAX_OUTPUTS, OutputConfig, OutputTarget, RtmpTarget};
pub use playback::{HlsSettings, PlaybackConfig};
pub use record::RecordRule;
pub use reload::{ReloadClass, ReloadPlan};
pub use rtmp::RtmpSettings;
pub use srtla::SrtlaSettings;
pub use webhooks::{HookUrl, WebhookSettings};

/// The default configuration, shipped as `config.toml` and embedded in the binary. Parsing it
/// gives the same [`Config`] as parsing an empty file (tested).
pub const DEFAULT_CONFIG: &str = include_str!("../../config.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// TOML syntax, a type mismatch or an unknown key, located in the file. `key` is the dotted
    /// path when it could be told from the line (e.g. `srt.latncy_ms`).
    #[error("{}", toml_message(.key, .message, .line, .column))]
    Toml {
        key: Option<String>,
        message: String,
        line: usize,
        column: usize,
    },
    #[error("invalid `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
    /// A reload changed keys that only take effect after a restart; nothing was applied.
    #[error(
        "cannot reload: changing {} needs a restart; nothing was applied (restore the old \
         value or restart srtrelay)",
        quoted_list(.keys)
    )]
    RestartRequired { keys: Vec<&'static str> },
}

/// Validated configuration. Field docs give the file key; `config.toml` documents semantics.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub srt: SrtConfig,
    pub runtime: RuntimeConfig,
    pub streams: StreamsConfig,
    pub limits: Limits,
    /// `[http]`: the operator API's address; `None` when `http.enabled = false`.
    pub http: Option<SocketAddr>,
    /// `[http]` limits, timeouts and the operator token (restart only).
    pub http_settings: crate::http::HttpSettings,
    pub log: LogConfig,
    /// `[access]`: tokens, open streams and sessions.
    pub access: AccessConfig,
    /// `[[encryption]]`, in file order (the first matching rule applies); empty by default.
    pub encryption: Vec<EncryptionRule>,
    /// `[playback]`: the players' HTTP listener on the shards; `None` when disabled.
    pub playback: Option<PlaybackConfig>,
    /// `[rtmp]`: the RTMP listener for encoders; `None` when disabled (restart only).
    pub rtmp: Option<RtmpSettings>,
    /// `[srtla]`: the SRTLA receiver for bonded senders, off without `srtla.listen` (restart
    /// only).
    pub srtla: SrtlaSettings,
    /// `[[inputs]]`, in file order: streams pulled from upstreams; empty by default.
    pub inputs: Vec<InputConfig>,
    /// `[[outputs]]`, in file order: streams pushed to other servers while live; empty by
    /// default.
    pub outputs: Vec<OutputConfig>,
    /// `[cluster]` (off by default).
    pub cluster: ClusterConfig,
    /// `[webhooks]`: admission and departure callbacks (restart only).
    pub webhooks: WebhookSettings,
    /// `[[record]]`, in file order: recordings by stream pattern; empty by default.
    pub record: Vec<RecordRule>,
}

/// `[srt]`: the SRT listener and per-connection parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct SrtConfig {
    /// `srt.listen`: non-empty, no port 0, no duplicates.
    pub listen: Vec<SocketAddr>,
    pub latency: LatencyBounds,
    /// `srt.max_payload`: bytes of payload per SRT data packet.
    pub max_payload: usize,
    /// `srt.recv_buffer_pkts`.
    pub recv_buffer_pkts: usize,
    /// `srt.send_buffer_pkts`.
    pub send_buffer_pkts: usize,
    /// `srt.peer_idle_timeout_ms`.
    pub peer_idle_timeout: Duration,
    /// `srt.loss_max_ttl`: reorder tolerance ceiling in packets.
    pub loss_max_ttl: u32,
    /// `srt.retransmit_overhead_percent`: retransmissions may add at most this percentage of a
    /// connection's input rate (5..=1000).
    pub retransmit_overhead_percent: u32,
    /// `srt.unresponsive_subscriber_timeout_ms`; `None` when 0 (off).
    pub unresponsive_subscriber_timeout: Option<Duration>,
}

/// `srt.latency_ms`, `srt.min_latency_ms`, `srt.max_latency_ms`: `min <= default <= max <= 65535
/// ms`. Applies to connections accepted after it is set (reloadable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LatencyBounds {
    /// What the relay proposes in its handshake, for both directions.
    pub default: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl LatencyBounds {
    /// A negotiated latency kept inside the bounds.
    pub fn clamp(&self, latency: Duration) -> Duration {
        latency.clamp(self.min, self.max)
    }
}

/// `[runtime]`: threads and sockets.
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    /// `runtime.cores`: CPU ids to run one shard each on, in the order given; `"all"` resolves to
    /// every CPU this process may use. Non-empty, no duplicates, each present on this machine.
    pub cores: Vec<usize>,
    /// `runtime.socket_recv_buffer_bytes`: `SO_RCVBUF`; `None` (0 in the file) keeps the
    /// kernel's default.
    pub socket_recv_buffer_bytes: Option<NonZeroUsize>,
    /// `runtime.socket_send_buffer_bytes`: `SO_SNDBUF`; `None` keeps the kernel's default.
    pub socket_send_buffer_bytes: Option<NonZeroUsize>,
}

/// `[streams]`.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamsConfig {
    /// `streams.ring_packets`: slots in each stream's fan-out ring, a power of two.
    pub ring_packets: NonZeroUsize,
    /// `streams.passthrough_non_ts`: forward payloads that are not MPEG-TS instead of dropping.
    pub passthrough_non_ts: bool,
    /// `streams.fanout_linger_ms`: how long a shard holds a publisher's packets before fanning
    /// them out (longer send batches for added latency); zero by default.
    pub fanout_linger: Duration,
    pub policy: StreamPolicy,
}

/// The admission and lifetime policies of `[streams]`; all reloadable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPolicy {
    /// `streams.default_stream`: the resource of a caller that sends no Stream ID.
    pub default_stream: String,
    /// `streams.second_publisher`.
    pub second_publisher: SecondPublisher,
    /// `streams.unknown_stream` and `streams.unknown_stream_wait_ms`.
    pub unknown_stream: UnknownStream,
    /// `streams.publisher_grace_ms`: how long subscribers stay connected after their publisher
    /// left, waiting for a new one. Zero closes them at once.
    pub publisher_grace: Duration,
    /// `streams.publisher_silence_takeover_ms`: a new publisher replaces the current one (under
    /// either `second_publisher` policy) when the current one has sent no data for this long,
    /// e.g. a killed encoder whose connection has not timed out yet. `None` (0) turns it off.
    pub publisher_silence_takeover: Option<Duration>,
    /// `streams.backup_publisher`: each stream takes a main and a backup publisher
    /// (`src/backup`).
    pub backup_publisher: bool,
    /// `streams.backup_switch_ms`: the main's silence after which the backup is carried (and
    /// the main's freshness before it is carried again).
    pub backup_switch: Duration,
}

/// What happens when a publisher arrives for a stream that already has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecondPublisher {
    /// Refuse the newcomer (SRT reject 1409, conflict); the current publisher keeps the stream.
    Reject,
    /// The newcomer replaces the current publisher, which is disconnected; subscribers stay.
    Takeover,
}

/// What happens to a subscriber that asks for a stream with no publisher.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownStream {
    /// Accept it and wait this long for a publisher, then close it.
    Wait(Duration),
    /// Refuse it in the handshake (SRT reject 1404, not found).
    Reject,
}

/// `[limits]`; all reloadable. Lowering a limit refuses new connections above it and drops none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_streams: NonZeroUsize,
    pub max_subscribers_per_stream: NonZeroUsize,
    /// Publishers plus subscribers, all cores together.
    pub max_connections: NonZeroUsize,
    /// `limits.soft_max_connections`: above it health reports "full" while connections are
    /// still accepted. At most `max_connections`.
    pub soft_max_connections: NonZeroUsize,
    /// `limits.max_waiting_players`: players on streams without a publisher, all streams
    /// together. They do not count toward `max_streams`, so they cannot lock publishers out.
    pub max_waiting_players: NonZeroUsize,
}

/// `[log]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogConfig {
    /// `log.level`; `RUST_LOG`, when set, overrides it.
    pub level: log::LevelFilter,
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (env_logger's format).
    Text,
    /// One JSON object per line.
    Json,
}

impl Config {
    /// Parses and validates `text`, resolving `runtime.cores` against this machine.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_on(text, &Host::detect())
    }

    /// As [`Config::from_toml`], for a given machine (tests).
    pub fn from_toml_on(text: &str, host: &Host) -> Result<Config, ConfigError> {
        let file = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        Config::try_from(model::Input { file, host })
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

    /// What reloading from `old` to `new` would change. Refuses, naming every such key, when a
    /// key that needs a restart differs (see [`ReloadClass`] and `config.toml`).
    pub fn reloadable_diff(old: &Config, new: &Config) -> Result<ReloadPlan, ConfigError> {
        reload::diff(old, new)
    }
}

impl FromStr for SecondPublisher {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "reject" => Ok(SecondPublisher::Reject),
            "takeover" => Ok(SecondPublisher::Takeover),
            _ => Err(format!("{s:?} is not one of \"reject\", \"takeover\"")),
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("{s:?} is not one of \"text\", \"json\"")),
        }
    }
}

/// Turns a TOML error into one that names the key: serde reports the message and a byte span,
/// and in our flat layout the key is whatever precedes `=` on that line, inside the last
/// `[section]` header above it.
fn toml_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let start = e.span().map_or(0, |s| s.start).min(text.len());
    let before = &text[..start];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line_no = before.matches('\n').count() + 1;
    let column = before[line_start..].chars().count() + 1;
    let line = text[line_start..].lines().next().unwrap_or("");
    let section = text[..line_start].lines().rev().find_map(header_name);
    let key = match (header_name(line), line.split_once('=')) {
        (Some(h), _) => Some(h),
        (None, Some((k, _))) if e.span().is_some() => {
            let k = k.trim().trim_matches('"');
            Some(match section {
                Some(s) => format!("{s}.{k}"),
                None => k.to_string(),
            })
        }
        _ => None,
    };
    ConfigError::Toml {
        key,
        // TOML calls them keys; serde says "field".
        message: e
            .message()
            .replace("unknown field", "unknown key")
            .replace("expected i64", "expected an integer"),
        line: line_no,
        column,
    }
}

/// `name` for a `[name]` header line.
fn header_name(line: &str) -> Option<String> {
    let l = line.trim();
    let inner = l.strip_prefix('[')?.split(']').next()?;
    Some(inner.trim().trim_matches('[').trim().to_string()).filter(|n| !n.is_empty())
}

fn toml_message(key: &Option<String>, message: &str, line: &usize, column: &usize) -> String {
    match key {
        Some(k) => format!("invalid `{k}`: {message} (line {line}, column {column})"),
        None => format!("{message} (line {line}, column {column})"),
    }
}

fn quoted_list(keys: &[&'static str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
