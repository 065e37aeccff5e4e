use std::time::{Duration, Instant};

use proptest::prelude::*;

use super::*;
use crate::srt::handshake::test_util::t0;

fn ring(cap: usize) -> StreamRing {
    StreamRing::new(RingConfig {
        capacity_pkts: cap,
        max_jump_pkts: 1 << 20,
    })
}

/// A payload that names its sequence number and has a length that depends on it, so a read
/// from the wrong slot or with the wrong length is caught.
fn payload(seq: Serial) -> Vec<u8> {
    let len = 4 + (seq.value() % 29) as usize;
    let mut p = vec![0xAB; len];
    p[..4].copy_from_slice(&seq.value().to_be_bytes());
    p
}

fn origin(seq: Serial) -> Instant {
    t0() + Duration::from_micros(u64::from(seq.value() % 1_000_000))
}

fn put(r: &mut StreamRing, seq: u32) -> InsertOutcome {
    let s = Serial::new(seq);
    r.insert(s, origin(s), &payload(s))
}

/// Reads until `Empty`, checking each packet's bytes; returns sequence numbers and lags.
fn drain(r: &StreamRing, c: &mut Cursor) -> (Vec<u32>, Vec<u64>) {
    let (mut seqs, mut lags) = (Vec::new(), Vec::new());
    loop {
        match r.read(c) {
            Ok(p) => {
                assert_eq!(
                    p.payload,
                    payload(p.serial()).as_slice(),
                    "bytes of {:?}",
                    p
                );
                assert_eq!(p.origin, origin(p.serial()));
                seqs.push(p.serial().value());
            }
            Err(ReadError::Lagged(n)) => lags.push(n),
            Err(ReadError::Empty) => return (seqs, lags),
        }
    }
}

#[test]
fn in_order_insert_and_read() {
    let mut r = ring(16);
    let mut c = r.cursor_at_head();
    assert_eq!(r.read(&mut c), Err(ReadError::Empty));
    for s in 100..110 {
        assert!(matches!(
            put(&mut r, s),
            InsertOutcome::NewHead { skipped: 0, .. }
        ));
    }
    assert_eq!(r.head_serial(), Some(Serial::new(109)));
    assert_eq!(r.missing(), 0);
    assert_eq!(drain(&r, &mut c), ((100..110).collect(), vec![]));
    assert_eq!(c.start_pos(), r.head().map(|h| h - 9));
    assert_eq!(c.stats().delivered, 10);
}

#[test]
fn out_of_order_fills_gaps_and_reads_in_arrival_order() {
    let mut r = ring(16);
    let mut c = r.cursor_at_head();
    assert!(matches!(
        put(&mut r, 10),
        InsertOutcome::NewHead { skipped: 0, .. }
    ));
    assert!(matches!(
        put(&mut r, 13),
        InsertOutcome::NewHead { skipped: 2, .. }
    ));
    assert_eq!(r.missing(), 2);
    let p12 = r.position_of(Serial::new(12));
    assert_eq!(put(&mut r, 12), InsertOutcome::FilledGap { pos: p12 });
    assert_eq!(put(&mut r, 12), InsertOutcome::Duplicate { pos: p12 });
    assert!(matches!(put(&mut r, 11), InsertOutcome::FilledGap { .. }));
    assert_eq!(r.missing(), 0);
    assert_eq!(drain(&r, &mut c).0, vec![10, 13, 12, 11]);
    assert_eq!(r.stats().duplicates, 1);
    assert_eq!(r.stats().filled_gaps, 2);
    assert_eq!(r.arrivals(), 4, "the duplicate is not an arrival");
}

#[test]
fn duplicate_is_delivered_once() {
    let mut r = ring(8);
    let mut c = r.cursor_at_oldest();
    put(&mut r, 5);
    assert_eq!(drain(&r, &mut c).0, vec![5]);
    assert!(matches!(put(&mut r, 5), InsertOutcome::Duplicate { .. }));
    assert_eq!(drain(&r, &mut c).0, Vec::<u32>::new());
}

#[test]
fn sequence_numbers_wrap_into_increasing_positions() {
    let mut r = ring(16);
    let max = Serial::MAX;
    put(&mut r, max - 2);
    put(&mut r, 1); // across the wrap, 0 and MAX-1..=MAX missing
    let first = r.position_of(Serial::new(max - 2));
    assert_eq!(r.head(), Some(first + 4));
    assert_eq!(r.missing(), 3);
    assert!(matches!(put(&mut r, 0), InsertOutcome::FilledGap { .. }));
    assert!(matches!(put(&mut r, max), InsertOutcome::FilledGap { .. }));
    assert!(matches!(
        put(&mut r, max - 1),
        InsertOutcome::FilledGap { .. }
    ));
    assert_eq!(r.position_of(Serial::new(0)), first + 3);
    assert_eq!(r.missing(), 0);
    let mut c = r.cursor_at_oldest();
    assert_eq!(drain(&r, &mut c).0, vec![max - 2, 1, 0, max, max - 1]);
    assert_eq!(c.start_pos(), Some(first));
}

#[test]
fn too_old_too_far_ahead_and_oversized_are_refused() {
    let mut r = StreamRing::new(RingConfig {
        capacity_pkts: 8,
        max_jump_pkts: 100,
    });
    put(&mut r, 1000);
    assert_eq!(put(&mut r, 1101), InsertOutcome::TooFarAhead);
    assert!(matches!(
        put(&mut r, 1100),
        InsertOutcome::NewHead { skipped: 99, .. }
    ));
    assert_eq!(r.tail(), Some(r.position_of(Serial::new(1093))));
    assert_eq!(put(&mut r, 1092), InsertOutcome::TooOld);
    assert!(matches!(put(&mut r, 1093), InsertOutcome::FilledGap { .. }));
    let big = [0x47; MAX_PAYLOAD + 1];
    assert_eq!(
        r.insert(Serial::new(1101), t0(), &big),
        InsertOutcome::Oversized
    );
    assert!(
        r.insert(Serial::new(1101), t0(), &big[..MAX_PAYLOAD])
            .is_stored()
    );
    let s = r.stats();
    assert_eq!((s.too_far_ahead, s.too_old, s.oversized), (1, 1, 1));
    // 1001..=1092 left the window unfilled; 1094..=1099 are still open gaps.
    assert_eq!(s.lost, 92);
    assert_eq!(r.missing(), 6);
}

#[test]
fn late_fill_behind_what_a_cursor_was_sent_is_delivered() {
    let mut r = ring(32);
    put(&mut r, 9);
    let mut c = r.cursor_at_head();
    for s in 11..=15 {
        put(&mut r, s);
    }
    assert_eq!(drain(&r, &mut c).0, vec![11, 12, 13, 14, 15]);
    put(&mut r, 10);
    assert_eq!(drain(&r, &mut c).0, vec![10]);
    // The subscriber's numbering starts at the first position after the head it joined at.
    assert_eq!(c.start_pos(), Some(r.position_of(Serial::new(10))));
}

#[test]
fn cursor_at_head_skips_fills_before_its_start() {
    let mut r = ring(32);
    put(&mut r, 14);
    put(&mut r, 16);
    let mut c = r.cursor_at_head();
    put(&mut r, 15);
    put(&mut r, 17);
    assert_eq!(drain(&r, &mut c).0, vec![17]);
    assert_eq!(c.stats().before_start, 1);
}

#[test]
fn lagging_cursor_skips_whole_packets_and_fast_cursor_is_untouched() {
    let mut r = ring(8);
    let mut slow = r.cursor_at_oldest();
    let mut fast = r.cursor_at_oldest();
    let mut fast_seen = Vec::new();
    for s in 0..13 {
        put(&mut r, s);
        fast_seen.extend(drain(&r, &mut fast).0);
    }
    assert_eq!(fast_seen, (0..13).collect::<Vec<_>>());
    assert_eq!(r.read(&mut slow), Err(ReadError::Lagged(5)));
    assert_eq!(drain(&r, &mut slow), ((5..13).collect(), vec![]));
    assert_eq!(slow.stats().lagged_pkts, 5);
    assert_eq!(slow.stats().lag_events, 1);
    assert_eq!(fast.stats().lag_events, 0);
}

#[test]
fn late_fill_overwritten_before_read_is_a_lag_of_one() {
    let mut r = ring(8);
    put(&mut r, 0);
    put(&mut r, 2);
    let mut c = r.cursor_at_oldest();
    assert_eq!(drain(&r, &mut c).0, vec![0, 2]);
    put(&mut r, 1); // late fill of slot 1
    for s in 3..=9 {
        put(&mut r, s); // 9 overwrites slot 1 before `c` reads
    }
    assert_eq!(r.read(&mut c), Err(ReadError::Lagged(1)));
    assert_eq!(drain(&r, &mut c).0, (3..=9).collect::<Vec<_>>());
}

#[test]
fn jump_past_capacity_counts_loss_and_keeps_unread_packets() {
    let mut r = ring(8);
    let mut c = r.cursor_at_oldest();
    for s in [0, 1, 3] {
        put(&mut r, s);
    }
    assert!(matches!(
        put(&mut r, 20),
        InsertOutcome::NewHead { skipped: 16, .. }
    ));
    // Window is now 13..=20: 2 and 4..=12 are lost; 13..=19 are open gaps.
    assert_eq!(r.stats().lost, 10);
    assert_eq!(r.missing(), 7);
    // Nothing overwrote 0, 1 or 3 (20 went to slot 4), so the cursor still gets them.
    assert_eq!(drain(&r, &mut c).0, vec![0, 1, 3, 20]);
    assert_eq!(put(&mut r, 3), InsertOutcome::TooOld);
}

#[test]
fn cursor_at_last_starts_at_newest_match_and_includes_earlier_arrivals() {
    let mut r = ring(32);
    // 20 is a keyframe that arrives late, after 21 and 22.
    for s in [10, 11, 12, 21, 22, 20, 23] {
        put(&mut r, s);
    }
    let is_key = |p: &[u8]| matches!(p[..4], [0, 0, 0, 10 | 20]);
    let mut c = r.cursor_at_last(is_key).expect("20 is held");
    assert_eq!(c.start_pos(), Some(r.position_of(Serial::new(20))));
    assert_eq!(drain(&r, &mut c).0, vec![21, 22, 20, 23]);
    assert!(r.cursor_at_last(|_| false).is_none());
}

#[test]
fn cursor_on_empty_ring_starts_at_first_packet() {
    let mut r = ring(8);
    let mut c = r.cursor_at_head();
    assert_eq!(c.start_pos(), None);
    put(&mut r, 50);
    put(&mut r, 49);
    assert_eq!(drain(&r, &mut c).0, vec![50]);
    assert_eq!(c.stats().before_start, 1);
    assert_eq!(c.start_pos(), Some(r.position_of(Serial::new(50))));
}

proptest! {
    /// Random arrival orders (each packet displaced by up to `window`), random duplicates, a
    /// fast reader after every insert and a slow one every `slow_every` inserts.
    #[test]
    fn every_cursor_sees_each_stored_position_once(
        start in 0u32..=Serial::MAX,
        n in 1usize..400,
        window in 1usize..40,
        cap_log2 in 3u32..10,
        slow_every in 1usize..60,
        jitter in proptest::collection::vec(0usize..1000, 400),
        dups in proptest::collection::vec(any::<bool>(), 400),
    ) {
        let cap = 1usize << cap_log2;
        let mut order: Vec<(usize, usize)> =
            (0..n).map(|i| (i + jitter[i] % window, i)).collect();
        order.sort_unstable();
        let mut arrivals: Vec<usize> = Vec::new();
        for (k, &(_, i)) in order.iter().enumerate() {
            arrivals.push(i);
            if dups[k] && k % 3 == 0 {
                arrivals.push(order[k / 2].1);
            }
        }

        let mut r = ring(cap);
        let mut fast = r.cursor_at_head();
        let mut slow = r.cursor_at_head();
        let (mut stored, mut fast_seen, mut slow_seen) = (Vec::new(), Vec::new(), Vec::new());
        for (k, &i) in arrivals.iter().enumerate() {
            let seq = Serial::new(start).add(i as i32);
            if r.insert(seq, origin(seq), &payload(seq)).is_stored() {
                stored.push(seq.value());
            }
            let (seen, lags) = drain(&r, &mut fast);
            prop_assert!(lags.is_empty());
            fast_seen.extend(seen);
            if k % slow_every == 0 {
                slow_seen.extend(drain(&r, &mut slow).0);
            }
        }
        slow_seen.extend(drain(&r, &mut slow).0);

        // Stored positions are distinct. Both cursors joined an empty ring, so they start at
        // the first arrival: the fast one saw exactly the stored packets from there on, in
        // arrival order; earlier positions (they map before the subscriber's ISN) are skipped.
        let base = r.position_of(Serial::new(start).add(arrivals[0] as i32));
        let positions: Vec<u64> = stored.iter().map(|&s| r.position_of(Serial::new(s))).collect();
        let mut distinct = positions.clone();
        distinct.sort_unstable();
        distinct.dedup();
        prop_assert_eq!(distinct.len(), positions.len());
        let expected: Vec<u32> = stored
            .iter()
            .zip(&positions)
            .filter(|&(_, &p)| p >= base)
            .map(|(&s, _)| s)
            .collect();
        prop_assert_eq!(&fast_seen, &expected);
        prop_assert_eq!(fast.stats().before_start as usize, stored.len() - expected.len());

        // The slow cursor saw a subsequence of the same; every arrival is delivered, lagged or
        // before its start, exactly once.
        let mut it = expected.iter();
        for s in &slow_seen {
            prop_assert!(it.any(|x| x == s), "{} out of order or repeated", s);
        }
        let st = slow.stats();
        prop_assert_eq!(st.delivered + st.lagged_pkts + st.before_start, stored.len() as u64);
        if arrivals.len() <= cap {
            prop_assert_eq!(&slow_seen, &expected);
        }

        // Every position from the first arrival to the head that never got stored is either an
        // open gap or counted lost.
        let head = r.head().expect("non-empty");
        let stored_from_base = positions.iter().filter(|&&p| p >= base).count() as u64;
        prop_assert_eq!(r.missing() + r.stats().lost, head - base + 1 - stored_from_base);
    }
}

#[test]
fn a_wrapping_ring_refills_its_handles_instead_of_allocating() {
    let mut r = StreamRing::new(RingConfig {
        capacity_pkts: 16,
        max_jump_pkts: 1 << 20,
    });
    for s in 0..48u32 {
        let payload = [0x47, s as u8, 1, 2];
        assert!(r.insert(Serial::new(s), t0(), &payload).is_stored());
    }
    assert_eq!(
        r.payload_allocations(),
        (16, 32),
        "one handle per slot, ever"
    );
    let head = r.head().expect("packets");
    assert_eq!(
        r.get(head).map(|p| p.payload.to_vec()),
        Some(vec![0x47, 47, 1, 2])
    );
}

/// Reads in position order at `now` until it stops; returns serials and why it stopped,
/// with the skips seen on the way.
fn drain_ordered(
    r: &StreamRing,
    c: &mut OrderedCursor,
    now: Instant,
    hold: Duration,
) -> (Vec<u32>, Vec<OrderedError>) {
    let (mut got, mut why) = (Vec::new(), Vec::new());
    loop {
        match r.read_ordered(c, now, hold) {
            Ok(p) => {
                assert_eq!(p.payload, payload(p.serial()).as_slice());
                got.push(p.serial().value());
            }
            Err(e @ (OrderedError::Lagged(_) | OrderedError::Gap(_))) => why.push(e),
            Err(e) => {
                why.push(e);
                return (got, why);
            }
        }
    }
}

#[test]
fn in_order_reader_holds_a_gap_until_the_hold_passes_then_skips_it() {
    let (t, hold) = (t0(), Duration::from_millis(40));
    let mut r = ring(64);
    let mut c = OrderedCursor::from_cursor(&r.cursor_at_head());
    assert_eq!(
        r.read_ordered(&mut c, t, hold),
        Err(OrderedError::Empty),
        "empty ring"
    );
    let at = |r: &mut StreamRing, s: u32, when: Instant| {
        let s = Serial::new(s);
        r.insert_arrived(s, origin(s), when, &payload(s))
    };
    for s in [10, 11, 13, 14] {
        at(&mut r, s, t);
    }
    let (got, why) = drain_ordered(&r, &mut c, t, hold);
    assert_eq!(got, vec![10, 11]);
    assert_eq!(why, vec![OrderedError::Held { until: t + hold }]);
    // 12 arrives late but within the hold: nothing is skipped.
    at(&mut r, 12, t + Duration::from_millis(5));
    at(&mut r, 16, t + Duration::from_millis(10));
    let (got, why) = drain_ordered(&r, &mut c, t + Duration::from_millis(10), hold);
    assert_eq!(got, vec![12, 13, 14]);
    let until = t + Duration::from_millis(10) + hold;
    assert_eq!(why, vec![OrderedError::Held { until }]);
    // 15 never comes: given up at 16's arrival plus the hold, counted.
    let (got, why) = drain_ordered(&r, &mut c, until, hold);
    assert_eq!(got, vec![16]);
    assert_eq!(why, vec![OrderedError::Gap(1), OrderedError::Empty]);
    assert_eq!(c.stats().gap_pkts, 1);
    assert_eq!(c.stats().delivered, 6);
}

#[test]
fn in_order_reader_that_falls_a_ring_behind_resumes_at_the_oldest_held() {
    let t = t0();
    let mut r = ring(8);
    put(&mut r, 100);
    let mut c = OrderedCursor::from_cursor(&r.cursor_at_oldest());
    for s in 101..120 {
        put(&mut r, s);
    }
    let (got, why) = drain_ordered(&r, &mut c, t, Duration::ZERO);
    assert_eq!(why, vec![OrderedError::Lagged(12), OrderedError::Empty]);
    assert_eq!(got, (112..120).collect::<Vec<_>>());
    assert_eq!(c.stats().lagged_pkts, 12);
}
