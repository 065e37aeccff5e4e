//! The operator's log of callers: one info line for every rejection (code and reason), every
//! departure (duration and bytes), a Stream-ID-less caller mapped to the default stream, and a
//! player closed because no publisher came in time.
//!
//! Owns the wording of those lines, their rate limits and the reject code operators see
//! ([`operator_code`], shared with `/metrics`). Must not decide anything: the shard calls one
//! function per event and carries on. A peer can trigger every one of these lines at will
//! (connect, be refused, repeat), so each kind is limited per shard: at most [`BURST`] lines per
//! [`INTERVAL`], and the next line says how many were held back. The counters behind them are
//! the metrics; the log only tells the story.
//!
//! Per shard means per thread: each shard is one executor thread, so the limiters are
//! thread-local and a call site needs no state of its own.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::info;

use crate::relay::fanout::Role;
use crate::relay::leg::LegId;
use crate::srt::connection::{CloseReason, Stats};
use crate::srt::endpoint::ConnId;
use crate::srt::handshake::{REJC_PREDEFINED, RejectReason};

use super::ratelimit::RateLimited;

/// The window of each kind's rate limit.
pub const INTERVAL: Duration = Duration::from_secs(10);
/// Lines of one kind per shard per [`INTERVAL`].
pub const BURST: u32 = 20;

/// The code an operator sees for a rejection, as the caller's handshake carries it: libsrt's
/// own reasons (`SRT_REJ_*`, API codes 0..=999) travel as `1000 + code` (BADSECRET is 1010,
/// UNSECURE 1011, what libsrt tools print); the server codes (`SRT_REJX_*`, 1400 ...) are
/// written as they are named, 1401, 1402, ... (as libsrt's `srt_getrejectreason` returns them).
pub fn operator_code(reason: RejectReason) -> u32 {
    let code = reason.code();
    if code < REJC_PREDEFINED {
        REJC_PREDEFINED + code
    } else {
        code
    }
}

/// What a refused caller asked for, for the line.
#[derive(Debug, Clone, Copy)]
pub enum Asked<'a> {
    Publish(&'a str),
    Play(&'a str),
    /// The Stream ID did not parse, or the mode is not one this relay serves.
    Unreadable,
    /// A publisher whose Stream ID names no resource (`#!::m=publish`).
    PublishWithoutResource,
}

/// A caller refused at admission (`[access]` sessions, the registry, a bad Stream ID).
/// `why` says in words what the code means here, e.g. "stream already has a publisher".
pub fn rejected(now: Instant, shard: usize, peer: SocketAddr, asked: Asked<'_>, r: RejectReason) {
    with(|s| {
        *s.decided.entry(r.code()).or_default() += 1;
        if let Some(held) = s.rejected.allow(now) {
            let what = match asked {
                Asked::Publish(name) => format!("publisher for {name:?}"),
                Asked::Play(name) => format!("player for {name:?}"),
                Asked::Unreadable => "caller".to_string(),
                Asked::PublishWithoutResource => "publisher without a resource name".to_string(),
            };
            info!(
                "shard {shard}: refused {what} from {peer}: {} {r} ({}){}",
                operator_code(r),
                meaning(r),
                held_back(held)
            );
        }
    });
}

/// Call on the shard's housekeeping tick with the endpoint's rejections by API code: reports
/// the ones admission did not decide (encryption mismatches, unreadable handshakes), which the
/// endpoint refuses on its own after the access check, one line per code.
pub fn endpoint_rejections(now: Instant, shard: usize, totals: &HashMap<u32, u64>) {
    with(|s| {
        for (code, new) in s.unreported(now, totals) {
            let r = RejectReason::from_code(code);
            info!(
                "shard {shard}: refused {new} caller(s): {} {r} ({})",
                operator_code(r),
                meaning(r),
            );
        }
    });
}

/// A caller without a Stream ID, mapped to `[streams] default_stream`.
pub fn default_stream(now: Instant, shard: usize, peer: SocketAddr, publish: bool, name: &str) {
    with(|s| {
        if let Some(held) = s.default_stream.allow(now) {
            let mode = if publish { "publishes" } else { "plays" };
            info!(
                "shard {shard}: caller {peer} sent no Stream ID: it {mode} the default stream \
                 {name:?} (streams.default_stream){}",
                held_back(held)
            );
        }
    });
}

/// A player closed because its stream had no publisher before its wait (or the grace after a
/// publisher left) ran out.
pub fn wait_timeout(now: Instant, shard: usize, conn: LegId, role: Option<&Role>) {
    with(|s| {
        if let Some(held) = s.wait_timeout.allow(now) {
            let name = match role {
                Some(Role::Subscriber { name } | Role::Publisher { name, .. }) => name.as_str(),
                None => "?",
            };
            info!(
                "shard {shard}: closing player {conn:#x} on {name:?}: no publisher in time \
                 (streams.unknown_stream wait / publisher grace){}",
                held_back(held)
            );
        }
    });
}

/// The connection behind a departure line.
#[derive(Debug, Clone, Copy)]
pub struct Departure<'a> {
    pub id: ConnId,
    pub peer: Option<SocketAddr>,
    /// When it was accepted; `None` when the shard never saw it accepted.
    pub since: Option<Instant>,
    pub role: Option<&'a Role>,
    pub reason: CloseReason,
    pub stats: &'a Stats,
}

/// A publisher or player left (or was closed): how long it stayed and what it moved.
pub fn departed(now: Instant, shard: usize, d: Departure<'_>) {
    with(|s| {
        let Some(held) = s.departed.allow(now) else {
            return;
        };
        let peer = d.peer.map_or("?".to_string(), |p| p.to_string());
        let stayed = d
            .since
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        let (who, name, moved) = match d.role {
            Some(Role::Publisher { name, .. }) => (
                "publisher",
                name.as_str(),
                format!("{} bytes received", d.stats.byte_recv),
            ),
            Some(Role::Subscriber { name }) => (
                "player",
                name.as_str(),
                format!("{} bytes sent", d.stats.byte_sent),
            ),
            None => (
                "connection",
                "",
                format!(
                    "{} bytes sent, {} received",
                    d.stats.byte_sent, d.stats.byte_recv
                ),
            ),
        };
        info!(
            "shard {shard}: {who} {:#x} from {peer} on {name:?} left after {:.1} s ({}): {moved}{}",
            d.id,
            stayed.as_secs_f64(),
            d.reason,
            held_back(held)
        );
    });
}

/// Per-shard (per-thread) limiter state.
struct State {
    rejected: RateLimited,
    endpoint: RateLimited,
    default_stream: RateLimited,
    wait_timeout: RateLimited,
    departed: RateLimited,
    /// Rejections admission decided (and logged), by API code.
    decided: HashMap<u32, u64>,
    /// Endpoint-only rejections already reported, by API code.
    reported: HashMap<u32, u64>,
}

impl State {
    /// Per API code, the endpoint's rejections that admission did not decide and no line has
    /// reported yet, as far as the rate limit lets them out at `now` (the rest stay pending
    /// and are reported, summed, later).
    fn unreported(&mut self, now: Instant, totals: &HashMap<u32, u64>) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        for (&code, &total) in totals {
            let decided = self.decided.get(&code).copied().unwrap_or(0);
            let reported = self.reported.entry(code).or_default();
            let new = total.saturating_sub(decided).saturating_sub(*reported);
            if new > 0 && self.endpoint.allow(now).is_some() {
                *reported += new;
                out.push((code, new));
            }
        }
        out.sort_unstable();
        out
    }
}

thread_local! {
    static STATE: RefCell<State> = RefCell::new(State {
        rejected: RateLimited::new(INTERVAL, BURST),
        endpoint: RateLimited::new(INTERVAL, BURST),
        default_stream: RateLimited::new(INTERVAL, BURST),
        wait_timeout: RateLimited::new(INTERVAL, BURST),
        departed: RateLimited::new(INTERVAL, BURST),
        decided: HashMap::new(),
        reported: HashMap::new(),
    });
}

fn with(f: impl FnOnce(&mut State)) {
    STATE.with(|s| f(&mut s.borrow_mut()));
}

fn held_back(n: u64) -> String {
    if n == 0 {
        String::new()
    } else {
        format!(" [{n} similar line(s) held back]")
    }
}

/// What a code means for a caller of this relay, in words.
fn meaning(r: RejectReason) -> &'static str {
    match r {
        RejectReason::BadRequest => "unreadable or invalid Stream ID",
        RejectReason::Unauthorized => "no session; [access] requires one for this stream",
        RejectReason::Forbidden => "session unknown, expired, used or for another stream",
        RejectReason::Overload => "a connection, stream or subscriber limit is reached",
        RejectReason::NotFound => "no publisher on this stream and unknown_stream = \"reject\"",
        RejectReason::BadMode => "only m=publish or m=request is served",
        RejectReason::Conflict => "the stream already has a publisher",
        RejectReason::BadSecret => "wrong passphrase",
        RejectReason::Unsecure => "encryption on one side only, or a key length not allowed",
        RejectReason::Version => "handshake version not supported",
        _ => "see libsrt's rejection codes",
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // a base instant for virtual time
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_tally_reports_only_what_admission_did_not_log_and_only_once() {
        let t0 = Instant::now();
        let peer: SocketAddr = "127.0.0.1:5000".parse().unwrap();
        // Admission refused two publishers (1409) and logged them itself.
        rejected(t0, 0, peer, Asked::Publish("cam"), RejectReason::Conflict);
        rejected(t0, 0, peer, Asked::Publish("cam"), RejectReason::Conflict);
        let mut totals = HashMap::from([(1409, 2), (10, 3)]);
        let new = with_state(|s| s.unreported(t0, &totals));
        assert_eq!(
            new,
            vec![(10, 3)],
            "only the BADSECRETs the endpoint decided"
        );
        assert!(with_state(|s| s.unreported(t0, &totals)).is_empty(), "once");
        totals.insert(10, 4);
        totals.insert(1409, 3); // one more from the endpoint itself
        assert_eq!(
            with_state(|s| s.unreported(t0, &totals)),
            vec![(10, 1), (1409, 1)]
        );
    }

    #[test]
    fn a_flood_is_held_back_and_reported_later() {
        let t0 = Instant::now();
        let mut totals = HashMap::new();
        for i in 1..=u64::from(BURST) + 5 {
            totals.insert(11, i);
            with_state(|s| s.unreported(t0, &totals));
        }
        // The window is spent: what came after the burst waits for the next one.
        totals.insert(11, u64::from(BURST) + 6);
        assert!(with_state(|s| s.unreported(t0, &totals)).is_empty());
        assert_eq!(
            with_state(|s| s.unreported(t0 + INTERVAL, &totals)),
            vec![(11, 6)]
        );
    }

    fn with_state<T>(f: impl FnOnce(&mut State) -> T) -> T {
        STATE.with(|s| f(&mut s.borrow_mut()))
    }

    #[test]
    fn operator_codes_are_the_ones_on_the_wire_or_in_libsrt_tools() {
        assert_eq!(operator_code(RejectReason::BadSecret), 1010);
        assert_eq!(operator_code(RejectReason::Unsecure), 1011);
        assert_eq!(operator_code(RejectReason::Unauthorized), 1401);
        assert_eq!(operator_code(RejectReason::Conflict), 1409);
        assert_eq!(operator_code(RejectReason::User(2001)), 2001);
    }
}
