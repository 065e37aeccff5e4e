//! The file as serde sees it, with the built-in defaults, and its validation into [`Config`].
//!
//! Owns: the defaults (which `config.toml` must repeat; a test compares them) and every range
//! check. Integers are read as `i64` so that a negative or zero value gets our message naming
//! the key rather than a serde type error. Must not: read anything but [`Host`].

use std::collections::HashSet;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

use serde::Deserialize;

use super::{
    Config, ConfigError, Host, LatencyBounds, Limits, LogConfig, LogFormat, RuntimeConfig,
    SecondPublisher, SrtConfig, StreamPolicy, StreamsConfig, UnknownStream, format_cpu_list,
};

/// HSREQ carries each direction's latency in 16 bits of milliseconds (draft-sharabayko-srt
/// §3.2.1.1), so no larger latency can be negotiated.
const MAX_LATENCY_MS: i64 = u16::MAX as i64;
/// Payload bounds: one TS packet, up to a 1500-byte MTU minus IPv4 (20), UDP (8) and the SRT
/// header (16). libsrt's `SRTO_PAYLOADSIZE` has the same ceiling (`SRT_LIVE_MAX_PLSIZE`).
const TS_PACKET: i64 = 188;
const MAX_PAYLOAD: i64 = 1456;
/// Over IPv6 the IP header is 40 bytes, not 20: 1456 + 64 would exceed a 1500-byte MTU and
/// IPv6 routers do not fragment.
const MAX_PAYLOAD_IPV6: i64 = 1436;
/// Durations beyond a day are surely mistakes, and keep `Instant + Duration` far from overflow.
const MAX_TIMEOUT_MS: i64 = 86_400_000;
/// `SO_RCVBUF`/`SO_SNDBUF` take an `int` that the kernel doubles.
const MAX_SOCKET_BUFFER: i64 = 1 << 30;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct FileModel {
    srt: SrtModel,
    runtime: RuntimeModel,
    streams: StreamsModel,
    limits: LimitsModel,
    http: HttpModel,
    log: LogModel,
    access: super::access::AccessModel,
    encryption: Vec<super::encryption::EncryptionModel>,
}

/// A parsed file and the machine it is checked against.
pub(super) struct Input<'a> {
    pub file: FileModel,
    pub host: &'a Host,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct SrtModel {
    listen: Vec<String>,
    latency_ms: i64,
    min_latency_ms: i64,
    max_latency_ms: i64,
    max_payload: i64,
    recv_buffer_pkts: i64,
    send_buffer_pkts: i64,
    peer_idle_timeout_ms: i64,
    loss_max_ttl: i64,
    retransmit_overhead_percent: i64,
    unresponsive_subscriber_timeout_ms: i64,
}

impl Default for SrtModel {
    fn default() -> Self {
        SrtModel {
            listen: vec!["0.0.0.0:9999".into()],
            latency_ms: 120,
            min_latency_ms: 20,
            max_latency_ms: 8000,
            max_payload: 1316,
            recv_buffer_pkts: 8192,
            send_buffer_pkts: 8192,
            peer_idle_timeout_ms: 5000,
            loss_max_ttl: 0,
            retransmit_overhead_percent: 25,
            unresponsive_subscriber_timeout_ms: 5000,
        }
    }
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
        Ok(Config {
            srt: srt(&m.srt, streams.passthrough_non_ts)?,
            runtime: runtime(&m.runtime, input.host)?,
            streams,
            limits: limits(&m.limits)?,
            http: http(&m.http)?,
            http_settings: http_settings(&m.http)?,
            log: log_config(&m.log)?,
            access: super::access::access(&m.access)?,
            encryption: super::encryption::rules(&m.encryption)?,
        })
    }
}

fn srt(m: &SrtModel, passthrough: bool) -> Result<SrtConfig, ConfigError> {
    let listen = listen_addrs(&m.listen)?;
    let latency_ms = in_range("srt.latency_ms", m.latency_ms, 0, MAX_LATENCY_MS)?;
    let min_ms = in_range("srt.min_latency_ms", m.min_latency_ms, 0, MAX_LATENCY_MS)?;
    let max_ms = in_range("srt.max_latency_ms", m.max_latency_ms, 0, MAX_LATENCY_MS)?;
    // Name the key the user wrote: a bound still at its default was not written, so a
    // `latency_ms` outside it is the latency's fault, not the bound's.
    let defaults = SrtModel::default();
    if min_ms > latency_ms {
        if m.min_latency_ms == defaults.min_latency_ms {
            let reason = format!(
                "{latency_ms} is below `srt.min_latency_ms` ({min_ms}, its default): use at                  least {min_ms}, or lower `srt.min_latency_ms` as well"
            );
            return Err(invalid("srt.latency_ms", reason));
        }
        let reason = format!("must be at most `srt.latency_ms` ({latency_ms})");
        return Err(invalid("srt.min_latency_ms", reason));
    }
    if max_ms < latency_ms {
        if m.max_latency_ms == defaults.max_latency_ms {
            let reason = format!(
                "{latency_ms} is above `srt.max_latency_ms` ({max_ms}, its default): use at                  most {max_ms}, or raise `srt.max_latency_ms` as well"
            );
            return Err(invalid("srt.latency_ms", reason));
        }
        let reason = format!("must be at least `srt.latency_ms` ({latency_ms})");
        return Err(invalid("srt.max_latency_ms", reason));
    }

    let max_payload = in_range("srt.max_payload", m.max_payload, TS_PACKET, MAX_PAYLOAD)?;
    if !passthrough && max_payload % TS_PACKET as u64 != 0 {
        let reason = "must be a multiple of 188 (MPEG-TS packets; 1316 is 7 of them) unless \
                      `streams.passthrough_non_ts = true`";
        return Err(invalid("srt.max_payload", reason));
    }
    let ipv6 = listen
        .iter()
        .any(|a| matches!(a, SocketAddr::V6(v6) if v6.ip().to_ipv4_mapped().is_none()));
    if ipv6 && max_payload > MAX_PAYLOAD_IPV6 as u64 {
        let reason = "must be at most 1436 when listening on IPv6 (its header is 20 bytes longer)";
        return Err(invalid("srt.max_payload", reason));
    }

    let recv_buffer_pkts = in_range("srt.recv_buffer_pkts", m.recv_buffer_pkts, 32, 1 << 20)?;
    let send_buffer_pkts = in_range("srt.send_buffer_pkts", m.send_buffer_pkts, 32, 1 << 20)?;
    let idle = in_range(
        "srt.peer_idle_timeout_ms",
        m.peer_idle_timeout_ms,
        1000,
        MAX_TIMEOUT_MS,
    )?;
    // A reorder tolerance beyond the receive buffer could never be waited out.
    let loss_max_ttl = in_range(
        "srt.loss_max_ttl",
        m.loss_max_ttl,
        0,
        recv_buffer_pkts as i64,
    )?;
    // libsrt accepts 5..=100 for SRTO_OHEADBW; more than the stream again is allowed for very
    // lossy links, but a budget beyond 10x the stream is no bound at all.
    let retransmit_overhead_percent = in_range(
        "srt.retransmit_overhead_percent",
        m.retransmit_overhead_percent,
        5,
        1000,
    )?;
    // 0 turns it off; otherwise not below the ACK cadence's worst case (1 s keeps a slow
    // link's receiver well clear of it).
    let unresponsive = in_range(
        "srt.unresponsive_subscriber_timeout_ms",
        m.unresponsive_subscriber_timeout_ms,
        0,
        MAX_TIMEOUT_MS,
    )?;
    if unresponsive > 0 && unresponsive < 1000 {
        let reason = "must be 0 (off) or at least 1000";
        return Err(invalid("srt.unresponsive_subscriber_timeout_ms", reason));
    }
    Ok(SrtConfig {
        listen,
        latency: LatencyBounds {
            default: Duration::from_millis(latency_ms),
            min: Duration::from_millis(min_ms),
            max: Duration::from_millis(max_ms),
        },
        max_payload: max_payload as usize,
        recv_buffer_pkts: recv_buffer_pkts as usize,
        send_buffer_pkts: send_buffer_pkts as usize,
        peer_idle_timeout: Duration::from_millis(idle),
        loss_max_ttl: loss_max_ttl as u32,
        retransmit_overhead_percent: retransmit_overhead_percent as u32,
        unresponsive_subscriber_timeout: (unresponsive > 0)
            .then(|| Duration::from_millis(unresponsive)),
    })
}

fn listen_addrs(list: &[String]) -> Result<Vec<SocketAddr>, ConfigError> {
    const KEY: &str = "srt.listen";
    if list.is_empty() {
        return Err(invalid(KEY, "needs at least one address"));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(list.len());
    for text in list {
        let addr = socket_addr(KEY, text)?;
        if !seen.insert(addr) {
            return Err(invalid(KEY, format!("{text:?} is listed twice")));
        }
        out.push(addr);
    }
    Ok(out)
}

/// A listening address with a fixed port: callers must know where to connect, and every shard
/// binds the same port with `SO_REUSEPORT`, which port 0 would break.
fn socket_addr(key: &'static str, text: &str) -> Result<SocketAddr, ConfigError> {
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

fn http_settings(m: &HttpModel) -> Result<crate::http::HttpSettings, ConfigError> {
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

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

fn in_range(key: &'static str, v: i64, lo: i64, hi: i64) -> Result<u64, ConfigError> {
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
