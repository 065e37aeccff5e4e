//! The file as serde sees it, with the built-in defaults, and its validation into [`Config`].
//!
//! Owns: the defaults (which `config.toml` must repeat; a test compares them) and every range
//! check. Integers are read as `i64` so that a negative or zero value gets our message naming
//! the key rather than a serde type error. Must not: read anything but [`Host`].

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::Deserialize;

use super::{
    Config, ConfigError, Host, Limits, LogConfig, LogFormat, RuntimeConfig, SecondPublisher,
    StreamPolicy, StreamsConfig, UnknownStream, format_cpu_list,
};

/// Durations beyond a day are surely mistakes, and keep `Instant + Duration` far from overflow.
pub(super) const MAX_TIMEOUT_MS: i64 = 86_400_000;
/// `SO_RCVBUF`/`SO_SNDBUF` take an `int` that the kernel doubles.
const MAX_SOCKET_BUFFER: i64 = 1 << 30;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FileModel {
    srt: super::srt::SrtModel,
    runtime: RuntimeModel,
    streams: StreamsModel,
    limits: LimitsModel,
    http: HttpModel,
    stats: StatsModel,
    playback: super::playback::PlaybackModel,
    rtmp: super::rtmp::RtmpModel,
    srtla: super::srtla::SrtlaModel,
    log: LogModel,
    access: super::access::AccessModel,
    encryption: Vec<super::encryption::EncryptionModel>,
    inputs: Vec<super::inputs::InputModel>,
    outputs: Vec<super::outputs::OutputModel>,
    cluster: super::cluster::ClusterModel,
    webhooks: super::webhooks::WebhooksModel,
    record: Vec<super::record::RecordModel>,
}

/// A parsed file and the machine it is checked against.
pub(super) struct Input<'a> {
    pub file: FileModel,
    pub host: &'a Host,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RuntimeModel {
    /// `"all"` or an array of integers; checked by hand so the error names the key.
    cores: toml::Value,
    socket_recv_buffer_bytes: i64,
    socket_send_buffer_bytes: i64,
}

impl Default for RuntimeModel {
    fn default() -> Self {
        RuntimeModel {
            cores: toml::Value::String("all".into()),
            socket_recv_buffer_bytes: 8 << 20,
            socket_send_buffer_bytes: 8 << 20,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StreamsModel {
    ring_packets: i64,
    default_stream: String,
    second_publisher: String,
    unknown_stream: String,
    unknown_stream_wait_ms: i64,
    publisher_grace_ms: i64,
    passthrough_non_ts: bool,
    publisher_silence_takeover_ms: i64,
    fanout_linger_ms: i64,
    backup_publisher: bool,
    backup_switch_ms: i64,
}

impl Default for StreamsModel {
    fn default() -> Self {
        StreamsModel {
            ring_packets: 4096,
            default_stream: "live".into(),
            second_publisher: "reject".into(),
            unknown_stream: "wait".into(),
            unknown_stream_wait_ms: 10_000,
            publisher_grace_ms: 5000,
            passthrough_non_ts: false,
            publisher_silence_takeover_ms: 1500,
            fanout_linger_ms: 0,
            backup_publisher: false,
            backup_switch_ms: 1000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LimitsModel {
    max_streams: i64,
    max_subscribers_per_stream: i64,
    max_connections: i64,
    soft_max_connections: i64,
    max_waiting_players: i64,
}

impl Default for LimitsModel {
    fn default() -> Self {
        LimitsModel {
            max_streams: 1000,
            max_subscribers_per_stream: 1000,
            max_connections: 10_000,
            soft_max_connections: 8000,
            max_waiting_players: 1000,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct StatsModel {
    enabled: bool,
    public: bool,
}

impl Default for StatsModel {
    fn default() -> Self {
        let d = crate::http::HttpSettings::default();
        StatsModel {
            enabled: d.stats,
            public: d.stats_public,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
struct HttpModel {
    enabled: bool,
    listen: String,
    max_connections: i64,
    header_timeout_ms: i64,
    body_timeout_ms: i64,
    idle_timeout_ms: i64,
    max_header_bytes: i64,
    /// Empty: no operator token.
    token: String,
}

impl Default for HttpModel {
    fn default() -> Self {
        let d = crate::http::HttpSettings::default();
        HttpModel {
            enabled: true,
            listen: "127.0.0.1:9990".into(),
            max_connections: d.max_connections as i64,
            header_timeout_ms: d.header_timeout.as_millis() as i64,
            body_timeout_ms: d.body_timeout.as_millis() as i64,
            idle_timeout_ms: d.idle_timeout.as_millis() as i64,
            max_header_bytes: d.max_header_bytes as i64,
            token: String::new(),
        }
    }
}

// By hand: the token must not reach a log line through `Debug`.
impl std::fmt::Debug for HttpModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpModel")
            .field("enabled", &self.enabled)
            .field("listen", &self.listen)
            .field("max_connections", &self.max_connections)
            .field("header_timeout_ms", &self.header_timeout_ms)
            .field("body_timeout_ms", &self.body_timeout_ms)
            .field("idle_timeout_ms", &self.idle_timeout_ms)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("token", &crate::access::mask(&self.token))
            .finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct LogModel {
    level: String,
    format: String,
}

impl Default for LogModel {
    fn default() -> Self {
        LogModel {
            level: "info".into(),
            format: "text".into(),
        }
    }
}

impl TryFrom<Input<'_>> for Config {
    type Error = ConfigError;

    fn try_from(input: Input<'_>) -> Result<Config, ConfigError> {
        let m = input.file;
        let streams = streams(&m.streams)?;
        let srt = super::srt::srt(&m.srt, streams.passthrough_non_ts)?;
        let http = http(&m.http)?;
        let playback = super::playback::playback(&m.playback)?;
        let tcp_listeners = [
            ("playback.listen", playback.as_ref().map(|p| p.listen)),
            ("http.listen", http),
        ];
        let inputs = super::inputs::inputs(&m.inputs, &srt.listen)?;
        // An on-demand input starts for players that wait for it; refused players
        // (1404, HTTP 404) never would.
        if let Some(i) = inputs.iter().find(|i| i.on_demand)
            && !matches!(streams.policy.unknown_stream, super::UnknownStream::Wait(_))
        {
            return Err(invalid(
                "inputs.on_demand",
                format!(
                    "input {:?} starts on its first player, which needs streams.unknown_stream = \"wait\" (players of a stream without publisher are refused otherwise)",
                    i.stream
                ),
            ));
        }
        let cluster = super::cluster::cluster(&m.cluster, srt.listen[0].port())?;
        // An edge pulls a stream for players that wait for it; refused players never would.
        if cluster.enabled
            && !matches!(streams.policy.unknown_stream, super::UnknownStream::Wait(_))
        {
            return Err(invalid(
                "cluster.enabled",
                "a cluster node pulls other nodes' streams for players waiting for them, which needs streams.unknown_stream = \"wait\"",
            ));
        }
        Ok(Config {
            runtime: runtime(&m.runtime, input.host)?,
            streams,
            limits: limits(&m.limits)?,
            http,
            http_settings: http_settings(&m.http, &m.stats)?,
            log: log_config(&m.log)?,
            access: super::access::access(&m.access)?,
            encryption: super::encryption::rules(&m.encryption)?,
            rtmp: super::rtmp::rtmp(&m.rtmp, &tcp_listeners)?,
            srtla: super::srtla::srtla(&m.srtla, &srt.listen)?,
            inputs,
            outputs: super::outputs::outputs(&m.outputs)?,
            cluster,
            record: super::record::rules(&m.record)?,
            playback,
            webhooks: super::webhooks::webhooks(&m.webhooks)?,
            srt,
        })
    }
}

/// A listening address with a fixed port: callers must know where to connect, and every shard
/// binds the same port with `SO_REUSEPORT`, which port 0 would break.
pub(super) fn socket_addr(key: &'static str, text: &str) -> Result<SocketAddr, ConfigError> {
    let addr: SocketAddr = text.parse().map_err(|_| {
        // `localhost:21001`: a name with a port. Names are not resolved (a listener binds an
        // interface address, and a resolver must not decide which one at start-up).
        let named = text
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        let reason = if named {
            format!(
                "{text:?} is not an address with a port: host names are not accepted, only IP \
                 addresses, such as \"127.0.0.1:9999\", \"0.0.0.0:9999\" or \"[::1]:9999\""
            )
        } else {
            format!(
                "{text:?} is not an address with a port, such as \"0.0.0.0:9999\" or \"[::]:9999\""
            )
        };
        invalid(key, reason)
    })?;
    if addr.port() == 0 {
        return Err(invalid(key, format!("{text:?}: port 0 is not allowed")));
    }
    Ok(addr)
}

fn runtime(m: &RuntimeModel, host: &Host) -> Result<RuntimeConfig, ConfigError> {
    Ok(RuntimeConfig {
        cores: cores(&m.cores, host)?,
        socket_recv_buffer_bytes: socket_buffer(
            "runtime.socket_recv_buffer_bytes",
            m.socket_recv_buffer_bytes,
        )?,
        socket_send_buffer_bytes: socket_buffer(
            "runtime.socket_send_buffer_bytes",
            m.socket_send_buffer_bytes,
        )?,
    })
}

fn cores(value: &toml::Value, host: &Host) -> Result<Vec<usize>, ConfigError> {
    const KEY: &str = "runtime.cores";
    let usage = "must be \"all\" or a list of CPU numbers such as [0, 1]";
    let available = || format_cpu_list(host.cpus());
    let items = match value {
        toml::Value::String(s) if s == "all" => return Ok(host.cpus().to_vec()),
        toml::Value::Array(items) => items,
        _ => return Err(invalid(KEY, usage)),
    };
    if items.is_empty() {
        return Err(invalid(KEY, "needs at least one CPU (or \"all\")"));
    }
    let mut out: Vec<usize> = Vec::with_capacity(items.len());
    for item in items {
        let cpu = item
            .as_integer()
            .and_then(|i| usize::try_from(i).ok())
            .ok_or_else(|| invalid(KEY, usage))?;
        if !host.has_cpu(cpu) {
            let reason = format!(
                "CPU {cpu} is not available to this process (available: {})",
                available()
            );
            return Err(invalid(KEY, reason));
        }
        if out.contains(&cpu) {
            return Err(invalid(KEY, format!("CPU {cpu} is listed twice")));
        }
        out.push(cpu);
    }
    Ok(out)
}

fn socket_buffer(key: &'static str, bytes: i64) -> Result<Option<NonZeroUsize>, ConfigError> {
    if bytes == 0 {
        return Ok(None);
    }
    let v = in_range(key, bytes, 4096, MAX_SOCKET_BUFFER).map_err(|_| {
        invalid(
            key,
            "must be 0 (kernel default) or between 4096 and 1073741824",
        )
    })?;
    Ok(NonZeroUsize::new(v as usize))
}

fn streams(m: &StreamsModel) -> Result<StreamsConfig, ConfigError> {
    const RING: &str = "streams.ring_packets";
    let ring = in_range(RING, m.ring_packets, 64, 1 << 20)?;
    // Ring positions are masked, not divided, on the fan-out path.
    if !ring.is_power_of_two() {
        return Err(invalid(RING, "must be a power of two (such as 4096)"));
    }
    let default_stream = m.default_stream.as_str();
    // The Stream ID is at most 512 bytes (draft-sharabayko-srt §3.2.1.3), so a longer
    // resource could never be asked for explicitly.
    if default_stream.is_empty() || default_stream.len() > 512 {
        return Err(invalid(
            "streams.default_stream",
            "must be 1 to 512 bytes long",
        ));
    }
    if default_stream.chars().any(char::is_control) {
        return Err(invalid(
            "streams.default_stream",
            "must not contain control characters",
        ));
    }
    let second_publisher = m
        .second_publisher
        .parse::<SecondPublisher>()
        .map_err(|e| invalid("streams.second_publisher", e))?;
    // Checked even under "reject", so a typo does not wait for the policy to change.
    let wait = millis(
        "streams.unknown_stream_wait_ms",
        m.unknown_stream_wait_ms,
        1,
    )?;
    let unknown_stream = match m.unknown_stream.as_str() {
        "wait" => UnknownStream::Wait(wait),
        "reject" => UnknownStream::Reject,
        other => {
            let reason = format!("{other:?} is not one of \"wait\", \"reject\"");
            return Err(invalid("streams.unknown_stream", reason));
        }
    };
    Ok(StreamsConfig {
        ring_packets: NonZeroUsize::new(ring as usize).expect("checked >= 64"),
        passthrough_non_ts: m.passthrough_non_ts,
        // Beyond 100 ms the linger eats most of a default 120 ms latency budget.
        fanout_linger: Duration::from_millis(in_range(
            "streams.fanout_linger_ms",
            m.fanout_linger_ms,
            0,
            100,
        )?),
        policy: StreamPolicy {
            default_stream: default_stream.to_string(),
            second_publisher,
            unknown_stream,
            publisher_grace: millis("streams.publisher_grace_ms", m.publisher_grace_ms, 0)?,
            publisher_silence_takeover: Some(millis(
                "streams.publisher_silence_takeover_ms",
                m.publisher_silence_takeover_ms,
                0,
            )?)
            .filter(|d| !d.is_zero()),
            backup_publisher: m.backup_publisher,
            backup_switch: Duration::from_millis(in_range(
                "streams.backup_switch_ms",
                m.backup_switch_ms,
                50,
                60_000,
            )?),
        },
    })
}

fn limits(m: &LimitsModel) -> Result<Limits, ConfigError> {
    let max_connections = count("limits.max_connections", m.max_connections)?;
    let soft_max_connections = count("limits.soft_max_connections", m.soft_max_connections)?;
    if soft_max_connections > max_connections {
        let reason = format!("must be at most `limits.max_connections` ({max_connections})");
        return Err(invalid("limits.soft_max_connections", reason));
    }
    Ok(Limits {
        max_streams: count("limits.max_streams", m.max_streams)?,
        max_subscribers_per_stream: count(
            "limits.max_subscribers_per_stream",
            m.max_subscribers_per_stream,
        )?,
        max_connections,
        soft_max_connections,
        max_waiting_players: count("limits.max_waiting_players", m.max_waiting_players)?,
    })
}

fn http(m: &HttpModel) -> Result<Option<SocketAddr>, ConfigError> {
    // Checked even when disabled, so turning it on later does not reveal an old typo.
    let addr = socket_addr("http.listen", &m.listen)?;
    Ok(m.enabled.then_some(addr))
}

/// Shortest `http.token` (as for `[access]` tokens: long enough not to be guessed).
const MIN_HTTP_TOKEN_LEN: usize = 16;
const MAX_HTTP_TOKEN_LEN: usize = 1024;

fn http_settings(
    m: &HttpModel,
    stats: &StatsModel,
) -> Result<crate::http::HttpSettings, ConfigError> {
    let max_connections = in_range("http.max_connections", m.max_connections, 1, 1_000_000)?;
    let max_header_bytes = in_range(
        "http.max_header_bytes",
        m.max_header_bytes,
        crate::http::MIN_HEADER_BYTES as i64,
        1 << 20,
    )?;
    let token = if m.token.is_empty() {
        None
    } else {
        // The reasons never quote the token.
        let len = m.token.chars().count();
        if !(MIN_HTTP_TOKEN_LEN..=MAX_HTTP_TOKEN_LEN).contains(&len) {
            let reason = format!(
                "must be empty (no token) or {MIN_HTTP_TOKEN_LEN} to {MAX_HTTP_TOKEN_LEN} \
                 characters long"
            );
            return Err(invalid("http.token", reason));
        }
        if !m.token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid(
                "http.token",
                "must be printable ASCII without spaces",
            ));
        }
        Some(crate::access::Secret::new(m.token.clone()))
    };
    Ok(crate::http::HttpSettings {
        max_connections: max_connections as usize,
        header_timeout: millis("http.header_timeout_ms", m.header_timeout_ms, 100)?,
        body_timeout: millis("http.body_timeout_ms", m.body_timeout_ms, 100)?,
        idle_timeout: millis("http.idle_timeout_ms", m.idle_timeout_ms, 100)?,
        max_header_bytes: max_header_bytes as usize,
        token,
        stats: stats.enabled,
        stats_public: stats.public,
    })
}

fn log_config(m: &LogModel) -> Result<LogConfig, ConfigError> {
    let level = m.level.parse().map_err(|_| {
        let reason = format!(
            "{:?} is not one of \"off\", \"error\", \"warn\", \"info\", \"debug\", \"trace\"",
            m.level
        );
        invalid("log.level", reason)
    })?;
    let format = m
        .format
        .parse::<LogFormat>()
        .map_err(|e| invalid("log.format", e))?;
    Ok(LogConfig { level, format })
}

pub(super) fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

pub(super) fn in_range(key: &'static str, v: i64, lo: i64, hi: i64) -> Result<u64, ConfigError> {
    if v < lo {
        return Err(invalid(key, format!("must be at least {lo}")));
    }
    if v > hi {
        return Err(invalid(key, format!("must be at most {hi}")));
    }
    Ok(v as u64)
}

fn count(key: &'static str, v: i64) -> Result<NonZeroUsize, ConfigError> {
    let v = in_range(key, v, 1, i64::from(u32::MAX))?;
    Ok(NonZeroUsize::new(v as usize).expect("checked >= 1"))
}

fn millis(key: &'static str, v: i64, lo: i64) -> Result<Duration, ConfigError> {
    in_range(key, v, lo, MAX_TIMEOUT_MS).map(Duration::from_millis)
}
