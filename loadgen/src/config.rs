//! A validated run: everything a worker and the coordinator need, in typed units. Built from
//! the command line (`cli.rs`) or by the sweep for each point.
//!
//! Owns: derived quantities (packet rate, receive buffer size, stream ids from templates) and
//! how connections are split over threads and sockets. Must not: open sockets or read files.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::loss::Impairment;
use crate::stamp::{PAYLOAD_LEN, PayloadSource};
use crate::worker::Schedule;

#[derive(Debug, Clone)]
pub struct RunConfig {
    pub target: SocketAddr,
    /// Where subscribers connect, when not `target`.
    pub sub_target: Option<SocketAddr>,
    /// Local address to bind every socket to (port 0).
    pub bind_ip: IpAddr,
    /// Streams, one publisher each.
    pub streams: u32,
    pub subs_per_stream: u32,
    /// Stream name template: `{index}` is the stream number.
    pub stream_name: String,
    /// Stream ID templates: `{stream}` (name), `{index}` (stream number), `{sub}` (subscriber
    /// number within the stream; 0 for publishers).
    pub pub_streamid: String,
    pub sub_streamid: String,
    /// Payload bits per second per stream (the TS rate; SRT headers and retransmissions are
    /// on top).
    pub bitrate_bps: f64,
    pub burst: u32,
    pub source: PayloadSource,
    pub source_desc: String,
    /// Publishing time before the measured `duration`: payloads sent in it are not counted or
    /// timed, and the CPU window starts after it.
    pub warmup: Duration,
    pub duration: Duration,
    /// SRT latency proposed for both directions.
    pub latency: Duration,
    /// SRT passphrases (AES) of the publisher and subscriber legs; `None` for a clear leg.
    pub pub_passphrase: Option<String>,
    pub sub_passphrase: Option<String>,
    /// AES key length in bytes (16, 24 or 32) for encrypted legs.
    pub pbkeylen: u8,
    pub connect_timeout: Duration,
    /// Connection attempts started per second, over all threads.
    pub connect_rate: f64,
    pub pub_ports: usize,
    pub sub_ports: usize,
    pub threads: usize,
    /// CPUs to pin worker threads to, round-robin; empty: no pinning.
    pub cpus: Vec<usize>,
    pub pub_leg: Impairment,
    pub sub_leg: Impairment,
    pub seed: u64,
    pub relay_pid: Option<u32>,
    /// Subscriber receive buffer and advertised flow window, packets.
    pub rcvbuf_pkts: usize,
    /// Progress line interval; `None`: no progress line.
    pub progress: Option<Duration>,
    /// Longest wait after publishing for the last deliveries.
    pub drain_max: Duration,
}

/// One worker's share of the connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub index: usize,
    pub cpu: Option<usize>,
    /// Stream numbers whose publisher this worker runs.
    pub publishers: Vec<u32>,
    /// (stream, subscriber number within the stream).
    pub subscribers: Vec<(u32, u32)>,
    pub pub_ports: usize,
    pub sub_ports: usize,
}

impl RunConfig {
    /// Payloads per second per stream.
    pub fn packets_per_second(&self) -> f64 {
        self.bitrate_bps / (PAYLOAD_LEN as f64 * 8.0)
    }

    /// Stream `stream`'s schedule when publishing starts at `start`: warm-up then duration,
    /// streams staggered over one burst period so they do not all send at once.
    pub fn schedule(&self, stream: u32, start: std::time::Instant) -> Schedule {
        let interval = Duration::from_secs_f64(1.0 / self.packets_per_second().max(1e-9));
        let step = interval * self.burst.max(1);
        let offset = step.mul_f64(f64::from(stream) / f64::from(self.streams.max(1)));
        Schedule {
            start: start + offset,
            end: start + self.warmup + self.duration + self.cooldown(),
            interval,
            burst: self.burst,
        }
    }

    /// Publishing goes on, unmeasured, this long after the measured part: a receiver learns
    /// of a lost packet only from a later one, so without it the last measured packets could
    /// never be recovered (a tail loss that no ARQ repairs, as in a real stream that ends).
    pub fn cooldown(&self) -> Duration {
        self.latency.max(Duration::from_millis(250))
    }

    /// One past the last measured sequence number of `stream` (later ones are cool-down).
    pub fn measure_until(&self, stream: u32, start: std::time::Instant) -> u64 {
        self.schedule(stream, start)
            .count_before(start + self.warmup + self.duration)
    }

    /// The first measured sequence number of `stream` (payloads before it are warm-up).
    pub fn measure_from(&self, stream: u32, start: std::time::Instant) -> u64 {
        self.schedule(stream, start)
            .count_before(start + self.warmup)
    }

    pub fn total_subscribers(&self) -> u64 {
        u64::from(self.streams) * u64::from(self.subs_per_stream)
    }

    pub fn name_of(&self, stream: u32) -> String {
        self.stream_name.replace("{index}", &stream.to_string())
    }

    pub fn pub_streamid_of(&self, stream: u32) -> String {
        fill(&self.pub_streamid, &self.name_of(stream), stream, 0)
    }

    pub fn sub_streamid_of(&self, stream: u32, sub: u32) -> String {
        fill(&self.sub_streamid, &self.name_of(stream), stream, sub)
    }

    /// Streams round-robin over workers; subscribers too, in (stream, sub) order, so every
    /// worker gets a slice of every stream's audience. Sockets are split in proportion.
    pub fn plans(&self) -> Vec<Plan> {
        let threads = self.threads.max(1);
        let mut plans: Vec<Plan> = (0..threads)
            .map(|i| Plan {
                index: i,
                cpu: (!self.cpus.is_empty()).then(|| self.cpus[i % self.cpus.len()]),
                publishers: Vec::new(),
                subscribers: Vec::new(),
                pub_ports: 0,
                sub_ports: 0,
            })
            .collect();
        for s in 0..self.streams {
            plans[s as usize % threads].publishers.push(s);
        }
        let mut j = 0usize;
        for s in 0..self.streams {
            for k in 0..self.subs_per_stream {
                plans[j % threads].subscribers.push((s, k));
                j += 1;
            }
        }
        let share = |ports: usize, mine: usize, total: usize| -> usize {
            if mine == 0 {
                0
            } else {
                (ports * mine).div_ceil(total.max(1)).clamp(1, mine)
            }
        };
        let total_pubs = self.streams as usize;
        let total_subs = self.total_subscribers() as usize;
        for p in &mut plans {
            p.pub_ports = share(self.pub_ports, p.publishers.len(), total_pubs);
            p.sub_ports = share(self.sub_ports, p.subscribers.len(), total_subs);
        }
        plans
    }
}

/// Subscriber receive buffer for a rate and latency: what arrives in two latencies plus a
/// second of slack (retransmissions, a stalled loop), as a power of two in 256..=8192. The
/// core keeps a payload-sized allocation per slot once used, so this bounds loadgen's memory:
/// 1000 subscribers x 2048 slots x 1.3 kB = 2.7 GB.
pub fn auto_rcvbuf_pkts(pps: f64, latency: Duration, extra_delay: Duration) -> usize {
    let secs = 2.0 * latency.as_secs_f64() + extra_delay.as_secs_f64() + 0.5;
    ((pps * secs).ceil() as usize)
        .next_power_of_two()
        .clamp(256, 8192)
}

fn fill(template: &str, name: &str, index: u32, sub: u32) -> String {
    template
        .replace("{stream}", name)
        .replace("{index}", &index.to_string())
        .replace("{sub}", &sub.to_string())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn sample() -> RunConfig {
        RunConfig {
            target: "127.0.0.1:9999".parse().unwrap(),
            sub_target: None,
            bind_ip: "127.0.0.1".parse().unwrap(),
            streams: 3,
            subs_per_stream: 4,
            stream_name: "lg-{index}".into(),
            pub_streamid: "#!::r={stream},m=publish".into(),
            sub_streamid: "pub/live/{stream}?sub={sub}".into(),
            bitrate_bps: 5e6,
            burst: 1,
            source: PayloadSource::Synthetic,
            source_desc: "synthetic".into(),
            warmup: Duration::ZERO,
            duration: Duration::from_secs(3),
            latency: Duration::from_millis(120),
            pub_passphrase: None,
            sub_passphrase: None,
            pbkeylen: 16,
            connect_timeout: Duration::from_secs(3),
            connect_rate: 500.0,
            pub_ports: 3,
            sub_ports: 2,
            threads: 2,
            cpus: vec![1],
            pub_leg: Impairment::default(),
            sub_leg: Impairment::default(),
            seed: 1,
            relay_pid: None,
            rcvbuf_pkts: 1024,
            progress: None,
            drain_max: Duration::from_secs(2),
        }
    }

    #[test]
    fn templates_fill_every_placeholder() {
        let c = sample();
        assert_eq!(c.pub_streamid_of(2), "#!::r=lg-2,m=publish");
        assert_eq!(c.sub_streamid_of(1, 3), "pub/live/lg-1?sub=3");
        assert!((c.packets_per_second() - 474.924).abs() < 0.01);
    }

    #[test]
    fn plans_split_everything_once() {
        let c = sample();
        let plans = c.plans();
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].publishers, vec![0, 2]);
        assert_eq!(plans[1].publishers, vec![1]);
        let mut subs: Vec<(u32, u32)> = plans.iter().flat_map(|p| p.subscribers.clone()).collect();
        subs.sort();
        assert_eq!(subs.len(), 12);
        subs.dedup();
        assert_eq!(subs.len(), 12, "no subscriber twice");
        assert_eq!(plans[0].subscribers.len(), 6);
        assert!(plans.iter().all(|p| p.cpu == Some(1)));
        // 3 publisher ports for 3 publishers: one each. 2 subscriber ports over 2 workers.
        assert_eq!((plans[0].pub_ports, plans[1].pub_ports), (2, 1));
        assert_eq!((plans[0].sub_ports, plans[1].sub_ports), (1, 1));
    }

    #[test]
    fn a_worker_without_connections_gets_no_sockets() {
        let c = RunConfig {
            streams: 1,
            subs_per_stream: 1,
            threads: 3,
            ..sample()
        };
        let plans = c.plans();
        assert_eq!(plans[2].publishers.len() + plans[2].subscribers.len(), 0);
        assert_eq!((plans[2].pub_ports, plans[2].sub_ports), (0, 0));
        assert_eq!((plans[0].pub_ports, plans[0].sub_ports), (1, 1));
    }

    #[test]
    fn warmup_splits_the_schedule() {
        let c = RunConfig {
            warmup: Duration::from_secs(1),
            bitrate_bps: 1316.0 * 8.0 * 100.0, // 100 payloads/s
            ..sample()
        };
        let t0 = crate::clock::now();
        let s0 = c.schedule(0, t0);
        assert_eq!(s0.start, t0);
        // 1 s warm-up + 3 s measured + 250 ms cool-down (latency 120 ms, floor 250 ms).
        assert_eq!(c.cooldown(), Duration::from_millis(250));
        assert_eq!(s0.total(), 425);
        assert_eq!(c.measure_from(0, t0), 100);
        assert_eq!(c.measure_until(0, t0), 400, "the cool-down is not measured");
        // Stream 1 of 3 starts a third of a period later; still 100 payloads of warm-up.
        let s1 = c.schedule(1, t0);
        assert!(s1.start > t0 && s1.start < t0 + Duration::from_millis(4));
        assert_eq!(c.measure_from(1, t0), 100);
    }

    #[test]
    fn rcvbuf_scales_with_rate_and_latency() {
        let ms = Duration::from_millis;
        assert_eq!(auto_rcvbuf_pkts(475.0, ms(120), ms(0)), 512);
        assert_eq!(auto_rcvbuf_pkts(1900.0, ms(120), ms(0)), 2048);
        assert_eq!(auto_rcvbuf_pkts(10.0, ms(20), ms(0)), 256);
        assert_eq!(auto_rcvbuf_pkts(100_000.0, ms(2000), ms(0)), 8192);
    }
}
