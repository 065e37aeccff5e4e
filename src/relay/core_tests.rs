//! The relay core with no protocol behind it: a test publisher leg feeds a stream on shard 0,
//! test subscriber legs play it on shard 0 (cut-through) and on shard 1 (in position order
//! with a hold time, through a replica fed by handoffs), all driven by hand on virtual time.

use std::time::{Duration, Instant};

use super::fanout::{FanoutConfig, Outgoing, ShardStreams};
use super::handoff::Handoff;
use super::leg::{LegId, ReadOrder};
use super::registry::Registry;
use super::ring::{RingConfig, Serial};
use super::test_legs::{TestLegs, test_leg};
use crate::config::Config;
use crate::srt::sim::t0;

const NAME: &str = "live/cam";
const HOLD: Duration = Duration::from_millis(50);

/// 7 TS packets whose bytes name serial `n`.
fn ts(n: u32) -> Vec<u8> {
    let mut p = vec![0xAAu8; 188 * 7];
    for k in 0..7 {
        p[k * 188] = 0x47;
        p[k * 188 + 4..k * 188 + 8].copy_from_slice(&n.to_be_bytes());
    }
    p
}

struct Shard {
    streams: ShardStreams,
    legs: TestLegs,
}

struct Core {
    shards: Vec<Shard>,
    registry: Registry,
    /// Notices in flight, delivered by `settle`.
    notices: Vec<Outgoing>,
    /// Handoffs in flight to shard 1.
    handoffs: Vec<Handoff>,
}

impl Core {
    fn new() -> Core {
        let config = Config::from_toml("").expect("default config");
        let shard = || Shard {
            streams: ShardStreams::new(FanoutConfig {
                ring: RingConfig {
                    capacity_pkts: 256,
                    ..RingConfig::default()
                },
                passthrough_non_ts: false,
            }),
            legs: TestLegs::default(),
        };
        Core {
            shards: vec![shard(), shard()],
            registry: Registry::new(2, config.streams.policy.clone(), config.limits),
            notices: Vec::new(),
            handoffs: Vec::new(),
        }
    }

    fn publish(&mut self, leg: LegId, now: Instant) {
        let g = self
            .registry
            .admit_publisher(NAME, 0, now)
            .expect("admitted");
        let reg = &self.registry;
        self.shards[0]
            .streams
            .publisher_accepted(0, reg, NAME, g.key, leg, &mut self.notices);
    }

    fn play(&mut self, shard: usize, leg: LegId, order: ReadOrder, now: Instant) {
        self.registry
            .admit_subscriber(NAME, shard)
            .expect("admitted");
        self.shards[shard].legs.add(leg);
        let reg = &self.registry;
        self.shards[shard].streams.subscriber_accepted(
            shard,
            reg,
            NAME,
            leg,
            order,
            now,
            None,
            &mut self.notices,
        );
    }

    /// Delivers the notices between the shards until none is left.
    fn settle(&mut self, now: Instant) {
        while !self.notices.is_empty() {
            for o in std::mem::take(&mut self.notices) {
                let reg = &self.registry;
                self.shards[o.to]
                    .streams
                    .on_session_msg(o.to, reg, o.msg, now, &mut self.notices);
            }
        }
    }

    /// Publisher packets arriving at `now`, then a fan-out on both shards (the handoffs
    /// carried over in between).
    fn arrive(&mut self, publisher: LegId, serials: &[u32], now: Instant) {
        for &n in serials {
            let stored = self.shards[0].streams.on_publisher_data(
                publisher,
                Serial::new(n),
                now,
                &ts(n),
                now,
            );
            assert!(stored, "serial {n} stored");
        }
        self.fan_out(now);
    }

    fn fan_out(&mut self, now: Instant) {
        let handoffs = &mut self.handoffs;
        let s0 = &mut self.shards[0];
        s0.streams.fan_out(&mut s0.legs, now, &mut |to, h| {
            assert_eq!(to, 1);
            handoffs.push(h);
            true
        });
        let s1 = &mut self.shards[1];
        for h in self.handoffs.drain(..) {
            assert!(s1.streams.on_handoff(&h), "the replica takes it");
        }
        s1.streams.fan_out(&mut s1.legs, now, &mut |_, _| false);
    }

    /// (serial named in the payload, the leg's number) of what `leg` on `shard` got.
    fn got(&self, shard: usize, leg: LegId) -> Vec<(u32, u64)> {
        self.shards[shard]
            .legs
            .received(leg)
            .iter()
            .map(|(number, _, p)| {
                assert_eq!(p, &ts(u32::from_be_bytes([p[4], p[5], p[6], p[7]])));
                (u32::from_be_bytes([p[4], p[5], p[6], p[7]]), *number)
            })
            .collect()
    }

    fn skipped(&self, shard: usize) -> u64 {
        self.shards[shard].streams.views()[0].counters.skipped
    }
}

fn serials(got: &[(u32, u64)]) -> Vec<u32> {
    got.iter().map(|g| g.0).collect()
}

#[test]
fn a_stream_moves_between_non_srt_legs_across_shards_cut_through_and_in_order() {
    let t = t0();
    let mut core = Core::new();
    let (publisher, near, far) = (test_leg(1), test_leg(2), test_leg(3));
    core.publish(publisher, t);
    core.play(0, near, ReadOrder::CutThrough, t);
    core.play(1, far, ReadOrder::Ordered { hold: HOLD }, t);
    core.settle(t);
    assert!(core.shards[1].streams.live_key(NAME).is_some(), "a replica");

    // 7 is late, 13 never comes.
    core.arrive(publisher, &[0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12], t);
    assert_eq!(
        serials(&core.got(1, far)),
        (0..=6).collect::<Vec<_>>(),
        "in order: held at the gap"
    );
    assert_eq!(core.shards[1].streams.next_wake(), Some(t + HOLD));
    let t1 = t + Duration::from_millis(10);
    core.arrive(publisher, &[7, 14, 15, 16, 17, 18, 19], t1);

    // Cut-through: everything as it arrived, 7 after 12, numbered by position.
    let near_got = core.got(0, near);
    assert_eq!(
        serials(&near_got),
        [
            0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 7, 14, 15, 16, 17, 18, 19
        ]
    );
    assert!(near_got.iter().all(|&(n, number)| number == u64::from(n)));

    // In order: 7 filled the first gap; 13 is held from 14's arrival.
    assert_eq!(serials(&core.got(1, far)), (0..=12).collect::<Vec<_>>());
    assert_eq!(core.shards[1].streams.next_wake(), Some(t1 + HOLD));
    core.fan_out(t1 + HOLD - Duration::from_millis(1));
    assert_eq!(core.got(1, far).len(), 13, "still held");
    assert_eq!(core.skipped(1), 0);

    // The hold is over: the gap is given up, counted, and the rest follows; the leg's
    // numbering shows the hole where 13 was.
    core.fan_out(t1 + HOLD);
    let far_got = core.got(1, far);
    let want: Vec<u32> = (0..=12).chain(14..=19).collect();
    assert_eq!(serials(&far_got), want);
    assert!(far_got.iter().all(|&(n, number)| number == u64::from(n)));
    assert_eq!(core.skipped(1), 1, "the given-up gap");
    assert_eq!(core.skipped(0), 0);
    assert_eq!(core.shards[1].streams.next_wake(), None);
    let v1 = &core.shards[1].streams.views()[0];
    assert!(v1.replica);
    assert_eq!(v1.counters.handoffs_in, 19);
    assert_eq!(v1.counters.forwarded, 19);
}

#[test]
fn a_subscriber_that_cannot_take_more_misses_packets_alone() {
    let t = t0();
    let mut core = Core::new();
    let (publisher, full, fine) = (test_leg(1), test_leg(2), test_leg(3));
    core.publish(publisher, t);
    core.play(0, full, ReadOrder::CutThrough, t);
    core.play(0, fine, ReadOrder::CutThrough, t);
    core.settle(t);
    core.shards[0].legs.leg_mut(full).room = Some(3);
    core.arrive(publisher, &(0..10).collect::<Vec<_>>(), t);
    assert_eq!(serials(&core.got(0, full)), [0, 1, 2]);
    assert_eq!(serials(&core.got(0, fine)), (0..10).collect::<Vec<_>>());
    assert_eq!(core.skipped(0), 7);
}
