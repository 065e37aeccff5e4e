//! An HTTP-TS player's queue fed real ffmpeg TS in SRT-sized payloads, as the fan-out would.

use std::collections::VecDeque;
use std::task::Waker;
use std::time::Duration;

use super::ts_player::{Chunk, TsPlayer};
use crate::buf::Payload;
use crate::media::psi::PsiCache;
use crate::media::ts::{TS_PACKET_LEN, is_video_random_access, packets};
use crate::media::tsgen::FFMPEG_FIXTURE;
use crate::relay::leg::{Offer, Sink, StreamHeader, Taken};
use crate::srt::sim::t0;

const PER_PAYLOAD: usize = 7 * TS_PACKET_LEN;

fn payloads() -> Vec<Payload> {
    FFMPEG_FIXTURE
        .chunks_exact(PER_PAYLOAD)
        .map(|c| Payload::copy_from_slice(c).unwrap())
        .collect()
}

/// Offers `ps[range]` (at 1 ms apart), keeping the stream's PSI as the fan-out does; returns
/// the answers.
fn offer_all(
    p: &mut TsPlayer,
    psi: &mut PsiCache,
    ps: &[Payload],
    from: usize,
    step: Duration,
) -> Vec<Taken> {
    let mut out = Vec::new();
    for (i, pl) in ps.iter().enumerate() {
        for pkt in packets(pl.as_slice()) {
            psi.observe(pkt);
        }
        let header = psi.header().map(|header| StreamHeader {
            header,
            has_video: psi.has_video(),
        });
        out.push(p.offer(Offer {
            number: 0,
            pos: (from + i) as u64,
            origin: t0() + step * (from + i) as u32,
            payload: pl,
            psi: header,
        }));
    }
    out
}

fn drain(p: &mut TsPlayer) -> Vec<u8> {
    let mut out = VecDeque::new();
    let mut bytes = Vec::new();
    loop {
        p.take(64, Waker::noop(), &mut out);
        if out.is_empty() {
            return bytes;
        }
        for c in out.drain(..) {
            bytes.extend_from_slice(c.bytes());
        }
    }
}

fn pid(p: &[u8; TS_PACKET_LEN]) -> u16 {
    crate::media::packet::pid(p)
}

/// PAT (PID 0) then the fixture's PMT (PID 0x1000), then a video keyframe.
fn starts_with_tables(out: &[u8]) -> bool {
    let p: Vec<&[u8; TS_PACKET_LEN]> = packets(&out[..3 * TS_PACKET_LEN]).collect();
    pid(p[0]) == 0 && pid(p[1]) == 0x1000 && is_video_random_access(p[2])
}

fn first_video_keyframe_index(bytes: &[u8]) -> Option<usize> {
    packets(bytes).position(is_video_random_access)
}

#[test]
fn a_joiner_gets_pat_pmt_then_the_keyframe_then_the_published_bytes() {
    let ps = payloads();
    let mut psi = PsiCache::new();
    // Join in the middle of the first GOP: the tables were seen, the keyframe is ahead.
    let mut p = TsPlayer::new(64 << 20, Duration::from_secs(10));
    p.base();
    let first_key = ps
        .iter()
        .enumerate()
        .skip(12)
        .find(|(_, pl)| first_video_keyframe_index(pl.as_slice()).is_some())
        .map(|(i, _)| i)
        .expect("the fixture has a second keyframe");
    // The cache saw the beginning (the fan-out observes every stored packet).
    for pl in &ps[..12] {
        for pkt in packets(pl.as_slice()) {
            psi.observe(pkt);
        }
    }
    let answers = offer_all(&mut p, &mut psi, &ps[12..], 12, Duration::from_millis(1));
    let skipped = answers.iter().take_while(|a| **a == Taken::Skipped).count();
    assert_eq!(
        12 + skipped,
        first_key,
        "everything before the keyframe is skipped"
    );
    assert_eq!(p.counters.join_skipped, skipped as u64);
    let out = drain(&mut p);
    let header_len = psi.header().unwrap().len();
    assert!(starts_with_tables(&out), "PAT and PMT first");
    let rest = &out[header_len..];
    assert!(is_video_random_access(
        rest[..TS_PACKET_LEN].try_into().unwrap()
    ));
    // Byte-exact from the keyframe packet to the end of what was published.
    let k = first_video_keyframe_index(ps[first_key].as_slice()).unwrap();
    let published_from = first_key * PER_PAYLOAD + k * TS_PACKET_LEN;
    let published_end = ps.len() * PER_PAYLOAD;
    assert_eq!(rest, &FFMPEG_FIXTURE[published_from..published_end]);
    assert_eq!(p.counters.bytes_out, out.len() as u64);
    assert_eq!(
        cc_errors(&out),
        0,
        "every PID's counter continues, the tables' too"
    );
}

/// Continuity-counter breaks (ISO/IEC 13818-1 §2.4.3.3): a packet with payload must carry its
/// PID's previous counter plus one (or repeat it, a duplicate).
fn cc_errors(out: &[u8]) -> usize {
    let mut last: std::collections::HashMap<u16, u8> = Default::default();
    let mut errors = 0;
    for p in packets(out) {
        if p[3] & 0x10 == 0 || pid(p) == 0x1FFF {
            continue;
        }
        let cc = p[3] & 0x0F;
        if let Some(&l) = last.get(&pid(p))
            && cc != l
            && cc != (l + 1) & 0x0F
        {
            errors += 1;
        }
        last.insert(pid(p), cc);
    }
    errors
}

#[test]
fn a_reader_that_falls_behind_skips_to_the_next_keyframe_and_nobody_waits() {
    let ps = payloads();
    let mut psi = PsiCache::new();
    let mut p = TsPlayer::new(8 << 10, Duration::from_secs(3600));
    p.base();
    // It reads nothing while 12 payloads (16 KB) come: the queue overflows once.
    let answers = offer_all(&mut p, &mut psi, &ps[..12], 0, Duration::from_millis(1));
    assert_eq!(p.counters.resyncs, 1, "{:?}", p.counters);
    assert!(
        p.queued_bytes() <= 8 << 10,
        "the cap holds: {}",
        p.queued_bytes()
    );
    assert!(answers.contains(&Taken::Skipped));
    let before = drain(&mut p);
    assert!(starts_with_tables(&before));
    // It reads again: what follows starts at the next keyframe (payload 19), tables first.
    offer_all(&mut p, &mut psi, &ps[12..], 12, Duration::from_millis(1));
    let after = drain(&mut p);
    assert!(
        starts_with_tables(&after),
        "resumed at the tables and a keyframe"
    );
    let k = first_video_keyframe_index(ps[19].as_slice()).unwrap();
    let h = psi.header().unwrap().len();
    let from = 19 * PER_PAYLOAD + k * TS_PACKET_LEN;
    assert_eq!(
        &after[h..h + PER_PAYLOAD - k * TS_PACKET_LEN],
        &FFMPEG_FIXTURE[from..20 * PER_PAYLOAD],
        "payload 19 from its keyframe packet"
    );
    // Payloads 12..19 were skipped waiting for that keyframe, on top of the first overflow's.
    let queued_first = answers.iter().filter(|a| **a == Taken::Queued).count() as u64;
    assert!(
        p.counters.resync_skipped >= (12 - queued_first) + 7,
        "{:?}",
        p.counters
    );
}

#[test]
fn a_reader_that_stops_is_closed_once_its_queue_is_older_than_the_lag_limit() {
    let ps = payloads();
    let mut psi = PsiCache::new();
    let mut p = TsPlayer::new(1 << 30, Duration::from_millis(500));
    p.base();
    // 20 ms of media per payload: 0.5 s is 25 payloads after the start.
    let answers = offer_all(&mut p, &mut psi, &ps, 0, Duration::from_millis(20));
    assert!(answers.contains(&Taken::Closed), "closed for lag");
    assert!(p.counters.lag_closed);
    assert!(p.is_closed());
}

#[test]
fn a_start_before_the_tables_are_known_holds_its_bytes_until_they_are() {
    let ps = payloads();
    let mut p = TsPlayer::new(64 << 20, Duration::from_secs(10));
    p.base();
    let key = ps
        .iter()
        .position(|pl| first_video_keyframe_index(pl.as_slice()).is_some())
        .unwrap();
    // A replica that began at this keyframe: no PSI offered with it.
    let offer = |p: &mut TsPlayer, i: usize, psi: Option<StreamHeader<'_>>| {
        p.offer(Offer {
            number: 0,
            pos: i as u64,
            origin: t0() + Duration::from_millis(i as u64),
            payload: &ps[i],
            psi,
        })
    };
    assert_eq!(offer(&mut p, key, None), Taken::Queued);
    assert!(drain(&mut p).is_empty(), "held until the tables are known");
    let mut psi = PsiCache::new();
    for pl in &ps[..key + 1] {
        for pkt in packets(pl.as_slice()) {
            psi.observe(pkt);
        }
    }
    let h = StreamHeader {
        header: psi.header().unwrap(),
        has_video: true,
    };
    assert_eq!(offer(&mut p, key + 1, Some(h)), Taken::Queued);
    let out = drain(&mut p);
    assert_eq!(
        &out[..h.header.len()],
        h.header,
        "the tables still come first"
    );
    assert!(starts_with_tables(&out));
    let k = first_video_keyframe_index(ps[key].as_slice()).unwrap();
    assert!(is_video_random_access(
        out[h.header.len()..h.header.len() + TS_PACKET_LEN]
            .try_into()
            .unwrap()
    ));
    assert_eq!(
        out.len(),
        h.header.len() + PER_PAYLOAD - k * TS_PACKET_LEN + PER_PAYLOAD
    );
    let _ = Chunk::Header(Vec::new());
}

#[test]
fn tables_sent_at_a_start_continue_the_counters_of_the_backlog_that_follows() {
    // The fan-out's cache holds the newest tables (the ring's head), while a newcomer's backlog
    // starts at an older keyframe: the cached packets' counters are ahead of the backlog's.
    let ps = payloads();
    let mut psi = PsiCache::new();
    for pl in &ps {
        for pkt in packets(pl.as_slice()) {
            psi.observe(pkt);
        }
    }
    let header = StreamHeader {
        header: psi.header().unwrap(),
        has_video: true,
    };
    let mut p = TsPlayer::new(64 << 20, Duration::from_secs(10));
    p.base();
    for (i, pl) in ps.iter().enumerate().skip(12) {
        p.offer(Offer {
            number: 0,
            pos: i as u64,
            origin: t0() + Duration::from_millis(i as u64),
            payload: pl,
            psi: Some(header),
        });
    }
    let out = drain(&mut p);
    assert!(starts_with_tables(&out));
    assert_eq!(
        cc_errors(&out),
        0,
        "the tables' counters were set from the backlog"
    );
}
