//! `[srt]`: the SRT listener and per-connection parameters, as the file has them and validated.
//! Each protocol has its own section and module like this one (later `[playback]`, `[rtmp]`,
//! `[[inputs]]`); what all legs share is in `[streams]` and `[limits]`.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::model::{MAX_TIMEOUT_MS, in_range, invalid, socket_addr};
use super::{ConfigError, LatencyBounds, SrtConfig};

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SrtModel {
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

pub(super) fn srt(m: &SrtModel, passthrough: bool) -> Result<SrtConfig, ConfigError> {
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
