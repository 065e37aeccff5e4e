//! Reload rules: which keys SIGHUP may change on a running relay, and what a reload would do.
//!
//! Owns: the classification of every key in `config.toml` (a test checks that the table and the
//! file list the same keys) and [`ReloadPlan`]. Must not: apply anything or touch signals; the
//! shards take the plan's pieces and swap them in.
//!
//! Reloadable: everything that is consulted when a connection or stream is admitted (limits,
//! the stream policies, the latency proposal and bounds, `[access]`, `[[encryption]]`), the
//! `[[inputs]]` list (the engine applies its diff), the `[[record]]` rules (for sessions that
//! start later) and the log level. Existing
//! connections keep what they negotiated and are never dropped by a reload; lowering a limit
//! only refuses newcomers. Restart-only: everything that shapes sockets, threads or memory laid
//! out at start (listen addresses, cores, buffers, socket sizes, ring length, payload size, the
//! HTTP address, log format), and the per-connection SRT timers that live in each shard's
//! endpoint configuration (idle timeout, reorder tolerance).

use std::fmt;

use log::LevelFilter;

use super::{
    AccessConfig, Config, ConfigError, EncryptionRule, Host, InputConfig, LatencyBounds, Limits,
    RecordRule, StreamPolicy,
};

/// Whether a changed key can be applied by a reload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReloadClass {
    /// Applied on reload, to connections and streams admitted from then on.
    Reloadable,
    /// Only read at start: a reload that changes it is refused.
    RestartOnly,
}

/// What a reload changes: the new values of the reloadable groups that differ (`None` = same).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ReloadPlan {
    /// The changed keys, in file order (for the log line).
    pub changed: Vec<&'static str>,
    pub limits: Option<Limits>,
    pub policy: Option<StreamPolicy>,
    /// For connections accepted after the reload.
    pub latency: Option<LatencyBounds>,
    /// Apply with `log::set_max_level`, unless `RUST_LOG` is set (it overrides the file).
    pub log_level: Option<LevelFilter>,
    /// Apply with `SessionStore::reconfigure`.
    pub access: Option<AccessConfig>,
    /// `[[encryption]]` rules for callers admitted after the reload.
    pub encryption: Option<Vec<EncryptionRule>>,
    /// The whole new `[[outputs]]` list when it differs: the engine diffs it (starts the new
    /// outputs, stops the removed ones, restarts the changed ones).
    pub outputs: Option<Vec<super::OutputConfig>>,
    /// The whole new `[[inputs]]` list when it differs: the engine diffs it by stream (starts
    /// the new inputs, stops the removed ones, restarts the changed ones).
    pub inputs: Option<Vec<InputConfig>>,
    /// `[[record]]` rules for publisher sessions that start after the reload.
    pub record: Option<Vec<RecordRule>>,
}

impl ReloadClass {
    /// Every key of `config.toml` in file order, with its class.
    pub fn all_keys() -> Vec<(&'static str, ReloadClass)> {
        let host = Host::with_cpus(vec![0]);
        let c = Config::from_toml_on("", &host).expect("the built-in defaults are valid (tested)");
        rows(&c, &c)
            .into_iter()
            .map(|(k, class, _)| (k, class))
            .collect()
    }
}

impl ReloadPlan {
    pub fn is_empty(&self) -> bool {
        self.changed.is_empty()
    }
}

impl fmt::Display for ReloadPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.changed.is_empty() {
            return f.write_str("no changes");
        }
        f.write_str("changes ")?;
        for (i, key) in self.changed.iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}`{key}`")?;
        }
        Ok(())
    }
}

pub(super) fn diff(old: &Config, new: &Config) -> Result<ReloadPlan, ConfigError> {
    let rows = rows(old, new);
    let restart: Vec<&'static str> = rows
        .iter()
        .filter(|(_, class, changed)| *changed && *class == ReloadClass::RestartOnly)
        .map(|(key, _, _)| *key)
        .collect();
    if !restart.is_empty() {
        return Err(ConfigError::RestartRequired { keys: restart });
    }
    let mut changed: Vec<&'static str> = rows
        .iter()
        .filter(|(_, _, changed)| *changed)
        .map(|(key, _, _)| *key)
        .collect();
    // The `[[encryption]]` list is not a scalar key of the table below: reloadable as a whole,
    // consulted at admission like the stream policies.
    let encryption_changed = old.encryption != new.encryption;
    if encryption_changed {
        changed.push("encryption");
    }
    // `[[inputs]]` likewise: a list, reloadable as a whole.
    let inputs_changed = old.inputs != new.inputs;
    if inputs_changed {
        changed.push("inputs");
    }
    let outputs_changed = old.outputs != new.outputs;
    if outputs_changed {
        changed.push("outputs");
    }
    // `[[record]]` likewise: read when a session starts; running recordings keep theirs.
    let record_changed = old.record != new.record;
    if record_changed {
        changed.push("record");
    }
    Ok(ReloadPlan {
        changed,
        limits: (old.limits != new.limits).then_some(new.limits),
        policy: (old.streams.policy != new.streams.policy).then(|| new.streams.policy.clone()),
        latency: (old.srt.latency != new.srt.latency).then_some(new.srt.latency),
        log_level: (old.log.level != new.log.level).then_some(new.log.level),
        access: (old.access != new.access).then(|| new.access.clone()),
        encryption: encryption_changed.then(|| new.encryption.clone()),
        inputs: inputs_changed.then(|| new.inputs.clone()),
        outputs: outputs_changed.then(|| new.outputs.clone()),
        record: record_changed.then(|| new.record.clone()),
    })
}

/// One row per file key: its class and whether it differs between `a` and `b`. The single
/// place where file keys meet typed fields for reloads.
fn rows(a: &Config, b: &Config) -> Vec<(&'static str, ReloadClass, bool)> {
    use super::UnknownStream::{Reject, Wait};
    use ReloadClass::{Reloadable as Live, RestartOnly as Restart};
    let (pa, pb) = (&a.streams.policy, &b.streams.policy);
    let wait_changed = match (pa.unknown_stream, pb.unknown_stream) {
        (Wait(x), Wait(y)) => x != y,
        _ => false,
    };
    let unknown_changed = matches!(
        (pa.unknown_stream, pb.unknown_stream),
        (Wait(_), Reject) | (Reject, Wait(_))
    );
    vec![
        ("srt.listen", Restart, a.srt.listen != b.srt.listen),
        (
            "srt.latency_ms",
            Live,
            a.srt.latency.default != b.srt.latency.default,
        ),
        (
            "srt.min_latency_ms",
            Live,
            a.srt.latency.min != b.srt.latency.min,
        ),
        (
            "srt.max_latency_ms",
            Live,
            a.srt.latency.max != b.srt.latency.max,
        ),
        (
            "srt.max_payload",
            Restart,
            a.srt.max_payload != b.srt.max_payload,
        ),
        (
            "srt.recv_buffer_pkts",
            Restart,
            a.srt.recv_buffer_pkts != b.srt.recv_buffer_pkts,
        ),
        (
            "srt.send_buffer_pkts",
            Restart,
            a.srt.send_buffer_pkts != b.srt.send_buffer_pkts,
        ),
        (
            "srt.peer_idle_timeout_ms",
            Restart,
            a.srt.peer_idle_timeout != b.srt.peer_idle_timeout,
        ),
        (
            "srt.loss_max_ttl",
            Restart,
            a.srt.loss_max_ttl != b.srt.loss_max_ttl,
        ),
        (
            "srt.retransmit_overhead_percent",
            Restart,
            a.srt.retransmit_overhead_percent != b.srt.retransmit_overhead_percent,
        ),
        (
            "srt.unresponsive_subscriber_timeout_ms",
            Restart,
            a.srt.unresponsive_subscriber_timeout != b.srt.unresponsive_subscriber_timeout,
        ),
        ("runtime.cores", Restart, a.runtime.cores != b.runtime.cores),
        (
            "runtime.socket_recv_buffer_bytes",
            Restart,
            a.runtime.socket_recv_buffer_bytes != b.runtime.socket_recv_buffer_bytes,
        ),
        (
            "runtime.socket_send_buffer_bytes",
            Restart,
            a.runtime.socket_send_buffer_bytes != b.runtime.socket_send_buffer_bytes,
        ),
        (
            "streams.ring_packets",
            Restart,
            a.streams.ring_packets != b.streams.ring_packets,
        ),
        (
            "streams.default_stream",
            Live,
            pa.default_stream != pb.default_stream,
        ),
        (
            "streams.second_publisher",
            Live,
            pa.second_publisher != pb.second_publisher,
        ),
        ("streams.unknown_stream", Live, unknown_changed),
        ("streams.unknown_stream_wait_ms", Live, wait_changed),
        (
            "streams.publisher_grace_ms",
            Live,
            pa.publisher_grace != pb.publisher_grace,
        ),
        (
            "streams.publisher_silence_takeover_ms",
            Live,
            pa.publisher_silence_takeover != pb.publisher_silence_takeover,
        ),
        (
            "streams.backup_publisher",
            Live,
            pa.backup_publisher != pb.backup_publisher,
        ),
        (
            "streams.backup_switch_ms",
            Live,
            pa.backup_switch != pb.backup_switch,
        ),
        (
            "streams.passthrough_non_ts",
            Restart,
            a.streams.passthrough_non_ts != b.streams.passthrough_non_ts,
        ),
        (
            "streams.fanout_linger_ms",
            Restart,
            a.streams.fanout_linger != b.streams.fanout_linger,
        ),
        (
            "limits.max_streams",
            Live,
            a.limits.max_streams != b.limits.max_streams,
        ),
        (
            "limits.max_subscribers_per_stream",
            Live,
            a.limits.max_subscribers_per_stream != b.limits.max_subscribers_per_stream,
        ),
        (
            "limits.max_connections",
            Live,
            a.limits.max_connections != b.limits.max_connections,
        ),
        (
            "limits.soft_max_connections",
            Live,
            a.limits.soft_max_connections != b.limits.soft_max_connections,
        ),
        (
            "limits.max_waiting_players",
            Live,
            a.limits.max_waiting_players != b.limits.max_waiting_players,
        ),
        // `http.enabled` and `http.listen` meet in one `Option<SocketAddr>`: the address of a
        // disabled API is no change, turning it on or off is.
        (
            "http.enabled",
            Restart,
            a.http.is_some() != b.http.is_some(),
        ),
        (
            "http.listen",
            Restart,
            matches!((a.http, b.http), (Some(x), Some(y)) if x != y),
        ),
        // Read once when the server starts.
        (
            "http.max_connections",
            Restart,
            a.http_settings.max_connections != b.http_settings.max_connections,
        ),
        (
            "http.header_timeout_ms",
            Restart,
            a.http_settings.header_timeout != b.http_settings.header_timeout,
        ),
        (
            "http.body_timeout_ms",
            Restart,
            a.http_settings.body_timeout != b.http_settings.body_timeout,
        ),
        (
            "http.idle_timeout_ms",
            Restart,
            a.http_settings.idle_timeout != b.http_settings.idle_timeout,
        ),
        (
            "http.max_header_bytes",
            Restart,
            a.http_settings.max_header_bytes != b.http_settings.max_header_bytes,
        ),
        (
            "http.token",
            Restart,
            a.http_settings.token != b.http_settings.token,
        ),
        // `[playback]`: bound and read once per shard at start-up. A disabled listener's
        // settings are no change; turning it on or off is.
        (
            "playback.enabled",
            Restart,
            a.playback.is_some() != b.playback.is_some(),
        ),
        (
            "playback.listen",
            Restart,
            playback_differs(a, b, |x, y| x.listen != y.listen),
        ),
        (
            "playback.max_connections",
            Restart,
            playback_differs(a, b, |x, y| x.max_connections != y.max_connections),
        ),
        (
            "playback.header_timeout_ms",
            Restart,
            playback_differs(a, b, |x, y| x.header_timeout != y.header_timeout),
        ),
        (
            "playback.max_header_bytes",
            Restart,
            playback_differs(a, b, |x, y| x.max_header_bytes != y.max_header_bytes),
        ),
        (
            "playback.refused_status",
            Restart,
            playback_differs(a, b, |x, y| x.refused_status != y.refused_status),
        ),
        (
            "playback.ts_queue_bytes",
            Restart,
            playback_differs(a, b, |x, y| x.ts_queue_bytes != y.ts_queue_bytes),
        ),
        (
            "playback.max_lag_ms",
            Restart,
            playback_differs(a, b, |x, y| x.max_lag != y.max_lag),
        ),
        (
            "playback.reorder_hold_ms",
            Restart,
            playback_differs(a, b, |x, y| x.reorder_hold != y.reorder_hold),
        ),
        (
            "playback.hls_js_url",
            Restart,
            playback_differs(a, b, |x, y| x.hls_js_url != y.hls_js_url),
        ),
        (
            "playback.assets_dir",
            Restart,
            playback_differs(a, b, |x, y| x.assets_dir != y.assets_dir),
        ),
        (
            "playback.hls.enabled",
            Restart,
            playback_differs(a, b, |x, y| x.hls.is_some() != y.hls.is_some()),
        ),
        (
            "playback.hls.target_duration_ms",
            Restart,
            hls_differs(a, b, |x, y| x.target_duration != y.target_duration),
        ),
        (
            "playback.hls.part_ms",
            Restart,
            hls_differs(a, b, |x, y| x.part_target != y.part_target),
        ),
        (
            "playback.hls.window_segments",
            Restart,
            hls_differs(a, b, |x, y| x.window_segments != y.window_segments),
        ),
        // `[rtmp]`: bound once per shard at start-up, like `[playback]`.
        (
            "rtmp.enabled",
            Restart,
            a.rtmp.is_some() != b.rtmp.is_some(),
        ),
        (
            "rtmp.listen",
            Restart,
            rtmp_differs(a, b, |x, y| x.listen != y.listen),
        ),
        (
            "rtmp.max_connections",
            Restart,
            rtmp_differs(a, b, |x, y| x.max_connections != y.max_connections),
        ),
        (
            "rtmp.handshake_timeout_ms",
            Restart,
            rtmp_differs(a, b, |x, y| x.handshake_timeout != y.handshake_timeout),
        ),
        (
            "rtmp.idle_timeout_ms",
            Restart,
            rtmp_differs(a, b, |x, y| x.idle_timeout != y.idle_timeout),
        ),
        (
            "rtmp.max_message_bytes",
            Restart,
            rtmp_differs(a, b, |x, y| x.max_message_bytes != y.max_message_bytes),
        ),
        // `[srtla]`: shard 0 binds its socket at start-up.
        ("srtla.listen", Restart, a.srtla.listen != b.srtla.listen),
        (
            "srtla.max_groups",
            Restart,
            a.srtla.max_groups != b.srtla.max_groups,
        ),
        (
            "srtla.max_links_per_group",
            Restart,
            a.srtla.max_links_per_group != b.srtla.max_links_per_group,
        ),
        // `[webhooks]`: the callback thread and the shards' caches are set up at start-up.
        (
            "webhooks.on_publish",
            Restart,
            a.webhooks.on_publish != b.webhooks.on_publish,
        ),
        (
            "webhooks.on_play",
            Restart,
            a.webhooks.on_play != b.webhooks.on_play,
        ),
        (
            "webhooks.on_publish_done",
            Restart,
            a.webhooks.on_publish_done != b.webhooks.on_publish_done,
        ),
        (
            "webhooks.on_play_done",
            Restart,
            a.webhooks.on_play_done != b.webhooks.on_play_done,
        ),
        (
            "webhooks.on_record_done",
            Restart,
            a.webhooks.on_record_done != b.webhooks.on_record_done,
        ),
        (
            "webhooks.timeout_ms",
            Restart,
            a.webhooks.timeout != b.webhooks.timeout,
        ),
        (
            "webhooks.cache_ms",
            Restart,
            a.webhooks.allow_cache != b.webhooks.allow_cache,
        ),
        (
            "webhooks.deny_cache_ms",
            Restart,
            a.webhooks.deny_cache != b.webhooks.deny_cache,
        ),
        (
            "webhooks.max_pending",
            Restart,
            a.webhooks.max_pending != b.webhooks.max_pending,
        ),
        (
            "webhooks.notify_retries",
            Restart,
            a.webhooks.notify_retries != b.webhooks.notify_retries,
        ),
        (
            "webhooks.retry_delay_ms",
            Restart,
            a.webhooks.retry_delay != b.webhooks.retry_delay,
        ),
        (
            "cluster.enabled",
            Restart,
            a.cluster.enabled != b.cluster.enabled,
        ),
        (
            "cluster.node_id",
            Restart,
            a.cluster.node_id_setting != b.cluster.node_id_setting,
        ),
        (
            "cluster.advertise",
            Restart,
            a.cluster.advertise_setting != b.cluster.advertise_setting,
        ),
        ("cluster.etcd", Restart, a.cluster.etcd != b.cluster.etcd),
        (
            "cluster.prefix",
            Restart,
            a.cluster.prefix != b.cluster.prefix,
        ),
        (
            "cluster.lease_ttl_ms",
            Restart,
            a.cluster.lease_ttl != b.cluster.lease_ttl,
        ),
        (
            "cluster.edge_idle_ms",
            Restart,
            a.cluster.edge_idle != b.cluster.edge_idle,
        ),
        (
            "cluster.secret",
            Restart,
            a.cluster.secret != b.cluster.secret,
        ),
        (
            "cluster.passphrase",
            Restart,
            a.cluster.passphrase != b.cluster.passphrase,
        ),
        (
            "cluster.upstream_nodes",
            Restart,
            a.cluster.upstream_nodes != b.cluster.upstream_nodes,
        ),
        (
            "cluster.origins_file",
            Restart,
            a.cluster.origins_file != b.cluster.origins_file
                || a.cluster.backend != b.cluster.backend,
        ),
        // Consulted when a session is issued or redeemed: a reload applies to the next one
        // (and revokes the sessions of removed tokens).
        (
            "access.session_ttl",
            Live,
            a.access.session_ttl != b.access.session_ttl,
        ),
        (
            "access.max_sessions",
            Live,
            a.access.max_sessions != b.access.max_sessions,
        ),
        (
            "access.open_streams",
            Live,
            a.access.open_streams != b.access.open_streams,
        ),
        (
            "access.open_request_streams",
            Live,
            a.access.open_request_streams != b.access.open_request_streams,
        ),
        ("access.tokens", Live, a.access.tokens != b.access.tokens),
        (
            "stats.enabled",
            Restart,
            a.http_settings.stats != b.http_settings.stats,
        ),
        (
            "stats.public",
            Restart,
            a.http_settings.stats_public != b.http_settings.stats_public,
        ),
        ("log.level", Live, a.log.level != b.log.level),
        ("log.format", Restart, a.log.format != b.log.format),
    ]
}

/// Whether both configs have the playback listener on and `differ` says a field changed.
fn playback_differs(
    a: &Config,
    b: &Config,
    differ: impl Fn(&crate::config::PlaybackConfig, &crate::config::PlaybackConfig) -> bool,
) -> bool {
    matches!((&a.playback, &b.playback), (Some(x), Some(y)) if differ(x, y))
}

/// Whether both configs have the RTMP listener on and `differ` says a field changed.
fn rtmp_differs(
    a: &Config,
    b: &Config,
    differ: impl Fn(&crate::config::RtmpSettings, &crate::config::RtmpSettings) -> bool,
) -> bool {
    matches!((&a.rtmp, &b.rtmp), (Some(x), Some(y)) if differ(x, y))
}

/// Whether both configs have HLS on and `differ` says a field changed.
fn hls_differs(
    a: &Config,
    b: &Config,
    differ: impl Fn(&crate::config::HlsSettings, &crate::config::HlsSettings) -> bool,
) -> bool {
    playback_differs(a, b, |x, y| match (&x.hls, &y.hls) {
        (Some(x), Some(y)) => differ(x, y),
        _ => false,
    })
}
