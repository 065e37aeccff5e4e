//! The run report: what `--json` prints and what the table shows, and the arithmetic behind
//! each derived number (delivery %, loss, CPU per packet, percentiles).
//!
//! Owns: the report's shape (serde, field names with units) and its text table. Must not: run
//! anything or read the clock; `run.rs` fills it in.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::loss::LegStats;

/// Histogram range: 1 us to 100 s at 3 significant digits (0.1 % resolution).
pub const HIST_MAX_US: u64 = 100_000_000;

/// A new latency histogram in microseconds.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("static bounds are valid")
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Report {
    pub run: RunSummary,
    pub publishers: RoleReport,
    pub subscribers: RoleReport,
    /// Arrival at the subscriber socket (as SRT first sees a packet, before TSBPD holds it)
    /// minus the publisher's send stamp. Includes both legs' injected delay, SRT pacing and
    /// retransmission time for recovered packets, and whatever the relay holds packets for.
    pub transit: Latency,
    /// TSBPD delivery to the subscriber application minus the publisher's send stamp: what a
    /// player experiences (about the relay's plus the subscriber's configured latency when the
    /// relay re-times packets, about one latency when it passes source times through).
    pub end_to_end: Latency,
    pub relay: Option<RelayUsage>,
    pub loadgen: LoadgenUsage,
    pub io: IoStats,
}

/// What was asked for, echoed so a JSON file stands on its own.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RunSummary {
    pub target: String,
    pub streams: u32,
    pub subscribers_per_stream: u32,
    pub bitrate_mbps: f64,
    pub payload_bytes: usize,
    pub packets_per_second: f64,
    pub duration_s: f64,
    pub latency_ms: u64,
    /// Publishing before the measured part, not counted.
    pub warmup_s: f64,
    pub threads: usize,
    pub pub_ports: usize,
    pub sub_ports: usize,
    pub seed: u64,
    pub source: String,
    /// Human-readable impairments, e.g. "5% random, 20 ms delay".
    pub pub_leg: String,
    pub sub_leg: String,
    /// Wall time of each phase in seconds: connecting, publishing (measured part), draining.
    pub connect_s: f64,
    pub publish_s: f64,
    pub drain_s: f64,
}

/// Publishers or subscribers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RoleReport {
    pub count: u64,
    pub connected: u64,
    pub failed_connects: u64,
    /// Failure reasons ("rejected by the listener: ...") and how often.
    pub failure_reasons: BTreeMap<String, u64>,
    /// Connections the peer (or an idle timeout) closed before loadgen did.
    pub disconnects: u64,
    pub connect: Latency,
    /// Publishers: payloads the constant-bitrate schedule called for. Subscribers: for every
    /// subscriber (connected or not), the payloads its stream's schedule called for.
    pub expected: u64,
    /// Publishers: payloads handed to SRT and not dropped by its sender as too late.
    /// Subscribers: distinct payloads delivered to the application.
    pub delivered: u64,
    /// `expected - delivered`: lost after ARQ (or never sent, for publishers).
    pub lost: u64,
    pub delivery_pct: f64,
    /// Subscribers: a payload (stream, sequence number) delivered again.
    pub duplicates: u64,
    /// Subscribers: payloads without a loadgen stamp, with a corrupted one, or from another
    /// stream than the one subscribed to.
    pub foreign: u64,
    /// Publishers: retransmitted packets sent. Subscribers: retransmitted packets received.
    pub retransmissions: u64,
    pub srt: SrtCounters,
    /// What the leg's impairment did to this role's datagrams.
    pub leg: LegStats,
}

/// libsrt-named counters summed over a role's connections (`srtrelay::srt::connection::Stats`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct SrtCounters {
    pub pkt_sent: u64,
    pub pkt_recv: u64,
    pub pkt_snd_loss: u64,
    pub pkt_rcv_loss: u64,
    pub pkt_retrans: u64,
    pub pkt_rcv_retrans: u64,
    pub pkt_snd_drop: u64,
    pub pkt_rcv_drop: u64,
    pub pkt_rcv_belated: u64,
    pub pkt_rcv_duplicate: u64,
    pub pkt_sent_nak: u64,
    pub pkt_recv_nak: u64,
    pub pkt_snd_overflow: u64,
}

impl SrtCounters {
    /// What happened between two snapshots of one connection (`before` may be absent: since
    /// it started).
    pub fn between(
        before: Option<&srtrelay::srt::connection::Stats>,
        after: &srtrelay::srt::connection::Stats,
    ) -> SrtCounters {
        let mut a = SrtCounters::default();
        a.add_stats(after);
        let mut b = SrtCounters::default();
        if let Some(s) = before {
            b.add_stats(s);
        }
        SrtCounters {
            pkt_sent: a.pkt_sent.saturating_sub(b.pkt_sent),
            pkt_recv: a.pkt_recv.saturating_sub(b.pkt_recv),
            pkt_snd_loss: a.pkt_snd_loss.saturating_sub(b.pkt_snd_loss),
            pkt_rcv_loss: a.pkt_rcv_loss.saturating_sub(b.pkt_rcv_loss),
            pkt_retrans: a.pkt_retrans.saturating_sub(b.pkt_retrans),
            pkt_rcv_retrans: a.pkt_rcv_retrans.saturating_sub(b.pkt_rcv_retrans),
            pkt_snd_drop: a.pkt_snd_drop.saturating_sub(b.pkt_snd_drop),
            pkt_rcv_drop: a.pkt_rcv_drop.saturating_sub(b.pkt_rcv_drop),
            pkt_rcv_belated: a.pkt_rcv_belated.saturating_sub(b.pkt_rcv_belated),
            pkt_rcv_duplicate: a.pkt_rcv_duplicate.saturating_sub(b.pkt_rcv_duplicate),
            pkt_sent_nak: a.pkt_sent_nak.saturating_sub(b.pkt_sent_nak),
            pkt_recv_nak: a.pkt_recv_nak.saturating_sub(b.pkt_recv_nak),
            pkt_snd_overflow: a.pkt_snd_overflow.saturating_sub(b.pkt_snd_overflow),
        }
    }

    pub fn add(&mut self, o: &SrtCounters) {
        self.pkt_sent += o.pkt_sent;
        self.pkt_recv += o.pkt_recv;
        self.pkt_snd_loss += o.pkt_snd_loss;
        self.pkt_rcv_loss += o.pkt_rcv_loss;
        self.pkt_retrans += o.pkt_retrans;
        self.pkt_rcv_retrans += o.pkt_rcv_retrans;
        self.pkt_snd_drop += o.pkt_snd_drop;
        self.pkt_rcv_drop += o.pkt_rcv_drop;
        self.pkt_rcv_belated += o.pkt_rcv_belated;
        self.pkt_rcv_duplicate += o.pkt_rcv_duplicate;
        self.pkt_sent_nak += o.pkt_sent_nak;
        self.pkt_recv_nak += o.pkt_recv_nak;
        self.pkt_snd_overflow += o.pkt_snd_overflow;
    }

    pub fn add_stats(&mut self, s: &srtrelay::srt::connection::Stats) {
        self.pkt_sent += s.pkt_sent;
        self.pkt_recv += s.pkt_recv;
        self.pkt_snd_loss += s.pkt_snd_loss;
        self.pkt_rcv_loss += s.pkt_rcv_loss;
        self.pkt_retrans += s.pkt_retrans;
        self.pkt_rcv_retrans += s.pkt_rcv_retrans;
        self.pkt_snd_drop += s.pkt_snd_drop;
        self.pkt_rcv_drop += s.pkt_rcv_drop;
        self.pkt_rcv_belated += s.pkt_rcv_belated;
        self.pkt_rcv_duplicate += s.pkt_rcv_duplicate;
        self.pkt_sent_nak += s.pkt_sent_nak;
        self.pkt_recv_nak += s.pkt_recv_nak;
        self.pkt_snd_overflow += s.pkt_snd_overflow;
    }
}

/// Percentiles of a latency histogram, in microseconds. All zero when `samples` is 0.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct Latency {
    pub samples: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
    pub mean_us: f64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            samples: h.len(),
            p50_us: h.value_at_quantile(0.50),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
            mean_us: h.mean(),
        }
    }
}

/// The relay process over the measurement window (publishing start to drain end).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RelayUsage {
    pub pid: u32,
    /// False when the process could not be read at the end (it exited or crashed).
    pub alive: bool,
    pub cpu_s: f64,
    /// Percent of one core over the window.
    pub cpu_pct: f64,
    /// Relay CPU per payload delivered to a subscriber: the issue 3 benchmark figure.
    pub cpu_us_per_delivered_pkt: Option<f64>,
    pub rss_kb_start: u64,
    pub rss_kb_end: u64,
    pub peak_rss_kb: u64,
}

/// loadgen itself over the same window.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LoadgenUsage {
    /// Whole process (all threads).
    pub cpu_s: f64,
    pub cpu_pct: f64,
    pub cpu_us_per_delivered_pkt: Option<f64>,
    /// Each worker thread's CPU, percent of one core.
    pub thread_cpu_pct: Vec<f64>,
    /// A worker above 90 % of its core: the run measured loadgen's limit, not the relay's.
    pub saturated: bool,
}

/// Socket-level counters summed over every worker.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct IoStats {
    pub recv_datagrams: u64,
    pub recv_syscalls: u64,
    pub send_datagrams: u64,
    pub send_syscalls: u64,
    /// Datagrams dropped because a socket's send buffer was full.
    pub send_blocked_drops: u64,
    /// Socket errors read back (ICMP port unreachable, ...).
    pub socket_errors: u64,
    /// Datagrams the SRT endpoints could not parse or route.
    pub endpoint_drops: u64,
}

/// `delivered / expected` in percent; 100 when nothing was expected.
pub fn delivery_pct(delivered: u64, expected: u64) -> f64 {
    if expected == 0 {
        100.0
    } else {
        delivered as f64 * 100.0 / expected as f64
    }
}

/// CPU percent of one core over a wall-clock window.
pub fn cpu_pct(cpu: Duration, wall: Duration) -> f64 {
    if wall.is_zero() {
        0.0
    } else {
        cpu.as_secs_f64() * 100.0 / wall.as_secs_f64()
    }
}

/// Microseconds of CPU per packet; `None` without packets.
pub fn us_per_packet(cpu: Duration, packets: u64) -> Option<f64> {
    (packets > 0).then(|| cpu.as_secs_f64() * 1e6 / packets as f64)
}

impl RoleReport {
    /// Fills `lost` and `delivery_pct` from `expected` and `delivered`.
    pub fn finish(&mut self) {
        self.lost = self.expected.saturating_sub(self.delivered);
        self.delivery_pct = delivery_pct(self.delivered, self.expected);
    }
}

impl Report {
    /// The readable table.
    pub fn table(&self) -> String {
        let r = &self.run;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "loadgen -> {}: {} stream(s) x {} subscriber(s), {:.2} Mbit/s ({:.0} pkt/s of {} B), \
             {:.1} s after {:.1} s warm-up, latency {} ms, {} thread(s), seed {}",
            r.target,
            r.streams,
            r.subscribers_per_stream,
            r.bitrate_mbps,
            r.packets_per_second,
            r.payload_bytes,
            r.duration_s,
            r.warmup_s,
            r.latency_ms,
            r.threads,
            r.seed
        );
        let _ = writeln!(
            out,
            "source: {}; publisher leg: {}; subscriber leg: {}",
            r.source, r.pub_leg, r.sub_leg
        );
        let _ = writeln!(
            out,
            "phases: connect {:.2} s, publish {:.2} s, drain {:.2} s\n",
            r.connect_s, r.publish_s, r.drain_s
        );
        let _ = writeln!(
            out,
            "{:<12} {:>11} {:>5} {:>5} {:>11} {:>11} {:>8} {:>8} {:>6} {:>7} {:>8} {:>8}",
            "role",
            "connected",
            "fail",
            "disc",
            "expected",
            "delivered",
            "lost",
            "deliv%",
            "dups",
            "foreign",
            "rexmit",
            "dropped"
        );
        for (name, role) in [
            ("publishers", &self.publishers),
            ("subscribers", &self.subscribers),
        ] {
            let _ = writeln!(
                out,
                "{:<12} {:>11} {:>5} {:>5} {:>11} {:>11} {:>8} {:>8.3} {:>6} {:>7} {:>8} {:>8}",
                name,
                format!("{}/{}", role.connected, role.count),
                role.failed_connects,
                role.disconnects,
                role.expected,
                role.delivered,
                role.lost,
                role.delivery_pct,
                role.duplicates,
                role.foreign,
                role.retransmissions,
                role.leg.dropped
            );
        }
        for (name, role) in [
            ("publishers", &self.publishers),
            ("subscribers", &self.subscribers),
        ] {
            for (reason, n) in &role.failure_reasons {
                let _ = writeln!(out, "  {name}: {n} failed: {reason}");
            }
        }
        let _ = writeln!(
            out,
            "\n{:<28} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "latency (ms)", "p50", "p99", "p99.9", "max", "samples"
        );
        for (name, l) in [
            ("relay transit (arrival)", &self.transit),
            ("end-to-end (TSBPD)", &self.end_to_end),
            ("connect publishers", &self.publishers.connect),
            ("connect subscribers", &self.subscribers.connect),
        ] {
            let ms = |us: u64| us as f64 / 1000.0;
            let _ = writeln!(
                out,
                "{:<28} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10}",
                name,
                ms(l.p50_us),
                ms(l.p99_us),
                ms(l.p999_us),
                ms(l.max_us),
                l.samples
            );
        }
        out.push('\n');
        match &self.relay {
            Some(u) if u.alive => {
                let _ = writeln!(
                    out,
                    "relay pid {}: cpu {:.2} s ({:.1}% of a core), {} per delivered packet; \
                     rss {:.1} MiB -> {:.1} MiB (peak {:.1} MiB)",
                    u.pid,
                    u.cpu_s,
                    u.cpu_pct,
                    fmt_us(u.cpu_us_per_delivered_pkt),
                    u.rss_kb_start as f64 / 1024.0,
                    u.rss_kb_end as f64 / 1024.0,
                    u.peak_rss_kb as f64 / 1024.0
                );
            }
            Some(u) => {
                let _ = writeln!(out, "relay pid {}: GONE by the end of the run", u.pid);
            }
            None => {
                let _ = writeln!(out, "relay: not measured (no --relay-pid)");
            }
        }
        let l = &self.loadgen;
        let threads: Vec<String> = l
            .thread_cpu_pct
            .iter()
            .map(|p| format!("{p:.0}%"))
            .collect();
        let _ = writeln!(
            out,
            "loadgen: cpu {:.2} s ({:.1}% of a core), {} per delivered packet; threads [{}]{}",
            l.cpu_s,
            l.cpu_pct,
            fmt_us(l.cpu_us_per_delivered_pkt),
            threads.join(" "),
            if l.saturated {
                "  SATURATED: this run measured loadgen, add --threads"
            } else {
                ""
            }
        );
        let io = &self.io;
        let _ = writeln!(
            out,
            "io: recv {} datagrams in {} syscalls, send {} in {} syscalls, {} send drops, \
             {} socket errors, {} endpoint drops",
            io.recv_datagrams,
            io.recv_syscalls,
            io.send_datagrams,
            io.send_syscalls,
            io.send_blocked_drops,
            io.socket_errors,
            io.endpoint_drops
        );
        out
    }
}

fn fmt_us(v: Option<f64>) -> String {
    v.map_or("n/a".to_string(), |v| format!("{v:.2} us"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_and_loss_math() {
        assert_eq!(delivery_pct(0, 0), 100.0);
        assert_eq!(delivery_pct(95, 100), 95.0);
        let mut r = RoleReport {
            expected: 1000,
            delivered: 990,
            ..Default::default()
        };
        r.finish();
        assert_eq!(r.lost, 10);
        assert!((r.delivery_pct - 99.0).abs() < 1e-9);
        // More delivered than expected (cannot happen for distinct payloads) never underflows.
        let mut r = RoleReport {
            expected: 5,
            delivered: 6,
            ..Default::default()
        };
        r.finish();
        assert_eq!(r.lost, 0);
    }

    #[test]
    fn counters_between_snapshots() {
        use srtrelay::srt::connection::Stats;
        let before = Stats {
            pkt_retrans: 5,
            pkt_rcv_drop: 1,
            ..Default::default()
        };
        let after = Stats {
            pkt_retrans: 12,
            pkt_rcv_drop: 1,
            pkt_recv: 100,
            ..Default::default()
        };
        let d = SrtCounters::between(Some(&before), &after);
        assert_eq!((d.pkt_retrans, d.pkt_rcv_drop, d.pkt_recv), (7, 0, 100));
        let all = SrtCounters::between(None, &after);
        assert_eq!(all.pkt_retrans, 12);
        let mut sum = d;
        sum.add(&all);
        assert_eq!(sum.pkt_recv, 200);
    }

    #[test]
    fn cpu_math() {
        let s = Duration::from_secs;
        assert_eq!(cpu_pct(Duration::from_millis(500), s(2)), 25.0);
        assert_eq!(cpu_pct(s(1), Duration::ZERO), 0.0);
        assert_eq!(us_per_packet(s(3), 1_000_000), Some(3.0));
        assert_eq!(us_per_packet(s(3), 0), None);
    }

    #[test]
    fn percentiles_from_a_histogram() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 100).unwrap(); // 100 us .. 100 ms
        }
        let l = Latency::from_histogram(&h);
        assert_eq!(l.samples, 1000);
        // 3 significant digits: within 0.1 %.
        let near = |got: u64, want: u64| (got as f64 - want as f64).abs() <= want as f64 * 1e-3;
        assert!(near(l.p50_us, 50_000), "{l:?}");
        assert!(near(l.p99_us, 99_000), "{l:?}");
        assert!(near(l.p999_us, 99_900), "{l:?}");
        assert!(near(l.max_us, 100_000), "{l:?}");
        assert!((l.mean_us - 50_050.0).abs() < 100.0, "{l:?}");
        assert_eq!(
            Latency::from_histogram(&new_histogram()),
            Latency::default()
        );
    }

    #[test]
    fn merged_histograms_give_the_union_percentiles() {
        let mut a = new_histogram();
        let mut b = new_histogram();
        for _ in 0..99 {
            a.record(1000).unwrap();
        }
        b.record(500_000).unwrap();
        a.add(&b).unwrap();
        let l = Latency::from_histogram(&a);
        assert_eq!(l.samples, 100);
        assert!(l.p50_us < 1002 && l.max_us >= 499_000, "{l:?}");
    }

    fn sample_report() -> Report {
        let mut subs = RoleReport {
            count: 4,
            connected: 4,
            expected: 4000,
            delivered: 3998,
            retransmissions: 17,
            ..Default::default()
        };
        subs.failure_reasons.insert("no answer".into(), 0);
        subs.finish();
        Report {
            run: RunSummary {
                target: "127.0.0.1:9999".into(),
                streams: 1,
                subscribers_per_stream: 4,
                bitrate_mbps: 5.0,
                payload_bytes: 1316,
                packets_per_second: 474.9,
                duration_s: 3.0,
                latency_ms: 120,
                warmup_s: 0.0,
                threads: 1,
                pub_ports: 1,
                sub_ports: 1,
                seed: 1,
                source: "synthetic".into(),
                pub_leg: "none".into(),
                sub_leg: "5% random".into(),
                connect_s: 0.1,
                publish_s: 3.0,
                drain_s: 0.5,
            },
            publishers: RoleReport::default(),
            subscribers: subs,
            transit: Latency {
                samples: 3998,
                p50_us: 121_500,
                p99_us: 130_000,
                p999_us: 140_000,
                max_us: 150_000,
                mean_us: 122_000.0,
            },
            end_to_end: Latency::default(),
            relay: Some(RelayUsage {
                pid: 77,
                alive: true,
                cpu_s: 0.5,
                cpu_pct: 14.3,
                cpu_us_per_delivered_pkt: Some(125.06),
                rss_kb_start: 1024,
                rss_kb_end: 2048,
                peak_rss_kb: 4096,
            }),
            loadgen: LoadgenUsage::default(),
            io: IoStats::default(),
        }
    }

    #[test]
    fn table_shows_the_numbers_and_json_round_trips() {
        let r = sample_report();
        let t = r.table();
        assert!(t.contains("4/4"), "{t}");
        assert!(t.contains("99.950"), "{t}");
        assert!(t.contains("121.50"), "{t}");
        assert!(t.contains("125.06 us per delivered packet"), "{t}");
        assert!(t.contains("5% random"), "{t}");
        let json = serde_json::to_string(&r).unwrap();
        let back: Report = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["subscribers"]["lost"], 2);
        assert_eq!(v["transit"]["p99_us"], 130_000);
    }
}
