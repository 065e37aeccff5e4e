//! The packetizer on the ffmpeg fixture: any chunking gives the same bytes, garbage before
//! sync and after a loss is skipped and counted, what is not TS is refused with a reason,
//! and payloads are seven packets unless time or a flush cuts them short.

// One real `Instant` is the origin of each test's virtual time.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use super::*;
use crate::media::tsgen::FFMPEG_FIXTURE;

const FIXTURE_PACKETS: usize = 327;

/// Garbage as an upstream might send before the stream: text with sync bytes in it that
/// confirmation must reject (none at a multiple of 188 from the stream's start).
fn garbage() -> Vec<u8> {
    let mut g = b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\n\r\n<junk>".to_vec();
    g.extend(std::iter::repeat_n(b'x', 250));
    for at in [3, 60, 190, 251] {
        g[at] = TS_SYNC_BYTE;
    }
    assert!(g.len() < TsIngestConfig::default().sync_search_bytes);
    g
}

/// Feeds `input` in `chunk`-byte pieces, all at `now`, then flushes.
fn run(ingest: &mut TsIngest, input: &[u8], chunk: usize, now: Instant) -> Vec<(Vec<u8>, Instant)> {
    let mut out = Vec::new();
    let mut collect = |p: &[u8], at: Instant| out.push((p.to_vec(), at));
    for c in input.chunks(chunk) {
        ingest.push(c, now, &mut collect).expect("TS");
        assert!(ingest.buffered_bytes() <= MAX_BUFFERED);
    }
    ingest.flush(now, &mut collect);
    out
}

fn concat(payloads: &[(Vec<u8>, Instant)]) -> Vec<u8> {
    payloads
        .iter()
        .flat_map(|(p, _)| p.iter().copied())
        .collect()
}

fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            // xorshift64
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
fn any_chunking_gives_the_fixture_byte_exact() {
    let g = garbage();
    let mut input = g.clone();
    input.extend_from_slice(FFMPEG_FIXTURE);
    let t0 = Instant::now();
    for chunk in [1, 7, 188, 1000, 65536] {
        let mut ingest = TsIngest::new(TsIngestConfig::default());
        let out = run(&mut ingest, &input, chunk, t0);
        assert!(
            concat(&out) == FFMPEG_FIXTURE,
            "chunk {chunk}: bytes differ"
        );
        let (last, full) = out.split_last().expect("payloads");
        assert!(full.iter().all(|(p, _)| p.len() == MAX_PAYLOAD_LEN));
        // 327 = 46 × 7 + 5: the flush hands out the last five.
        assert_eq!(last.0.len(), 5 * TS_PACKET_LEN);
        let s = *ingest.stats();
        assert_eq!(
            s,
            TsIngestStats {
                bytes_in: input.len() as u64,
                packets_in: FIXTURE_PACKETS as u64,
                packets_out: FIXTURE_PACKETS as u64,
                payloads_out: 47,
                short_payloads: 1,
                bytes_skipped: g.len() as u64,
                ..Default::default()
            },
            "chunk {chunk}"
        );
    }
}

/// A payload stands for the push that brought its last packet.
#[test]
fn payload_time_is_the_push_that_completed_it() {
    let t0 = Instant::now();
    let mut ingest = TsIngest::new(TsIngestConfig {
        max_hold: Duration::from_secs(60),
        ..Default::default()
    });
    let mut out = Vec::new();
    for (i, c) in FFMPEG_FIXTURE.chunks(1000).enumerate() {
        let now = t0 + Duration::from_millis(i as u64);
        ingest
            .push(c, now, &mut |p: &[u8], at| out.push((p.len(), at)))
            .expect("TS");
    }
    assert_eq!(out.len(), 46);
    for (k, &(len, at)) in out.iter().enumerate() {
        assert_eq!(len, MAX_PAYLOAD_LEN);
        let last_byte = (k + 1) * MAX_PAYLOAD_LEN - 1;
        assert_eq!(at, t0 + Duration::from_millis((last_byte / 1000) as u64));
    }
}

#[test]
fn a_partial_payload_waits_at_most_max_hold() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut ingest = TsIngest::new(TsIngestConfig::default());
    let mut out: Vec<(usize, Instant)> = Vec::new();
    let mut collect = |p: &[u8], at: Instant| out.push((p.len() / TS_PACKET_LEN, at));
    assert_eq!(ingest.deadline(), None);
    // Sync needs four packet starts, so the first push brings a whole payload.
    ingest
        .push(&FFMPEG_FIXTURE[..7 * 188], t0, &mut collect)
        .unwrap();
    assert_eq!(ingest.deadline(), None);
    // Three packets at t0 + 1 ms, the start of a fourth at t0 + 3 ms.
    let at = |n: usize| 7 * 188 + n;
    ingest
        .push(
            &FFMPEG_FIXTURE[at(0)..at(3 * 188)],
            t0 + ms(1),
            &mut collect,
        )
        .unwrap();
    ingest
        .push(
            &FFMPEG_FIXTURE[at(3 * 188)..at(3 * 188 + 100)],
            t0 + ms(3),
            &mut collect,
        )
        .unwrap();
    assert_eq!(
        ingest.deadline(),
        Some(t0 + ms(11)),
        "from the first packet"
    );
    ingest.on_timeout(t0 + ms(10), &mut collect);
    ingest.on_timeout(t0 + ms(11), &mut collect);
    assert_eq!(ingest.deadline(), None);
    // The fourth packet completes at t0 + 30 ms; pushing later first flushes it by time.
    ingest
        .push(
            &FFMPEG_FIXTURE[at(3 * 188 + 100)..at(4 * 188)],
            t0 + ms(30),
            &mut collect,
        )
        .unwrap();
    assert_eq!(ingest.deadline(), Some(t0 + ms(40)));
    ingest
        .push(
            &FFMPEG_FIXTURE[at(4 * 188)..at(5 * 188)],
            t0 + ms(45),
            &mut collect,
        )
        .unwrap();
    ingest.flush(t0 + ms(46), &mut collect);
    ingest.flush(t0 + ms(47), &mut collect);
    assert_eq!(
        out,
        vec![(7, t0), (3, t0 + ms(1)), (1, t0 + ms(30)), (1, t0 + ms(45))],
        "a flushed payload carries its last packet's time; an empty flush emits nothing"
    );
    assert_eq!(ingest.stats().short_payloads, 3);
}

#[test]
fn html_mp4_and_noise_are_not_ts() {
    let t0 = Instant::now();
    let html = b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head>\
        <body><h1>502 Bad Gateway</h1><hr><center>nginx</center></body></html>\n"
        .repeat(20);
    let mut mp4 = vec![0, 0, 0, 0x20];
    mp4.extend_from_slice(b"ftypisom\0\0\x02\0isomiso2avc1mp41");
    mp4.extend(noise(4000, 7));
    let cases: [(&[u8], &str); 3] = [
        (&html, "an HTML or XML page"),
        (&mp4, "MP4"),
        (&noise(4000, 1), "binary data"),
    ];
    for (input, what) in cases {
        for chunk in [1, 500, 65536] {
            let mut ingest = TsIngest::new(TsIngestConfig::default());
            let mut emitted = 0;
            let mut err = None;
            for c in input.chunks(chunk) {
                if let Err(e) = ingest.push(c, t0, &mut |_: &[u8], _| emitted += 1) {
                    err = Some(e);
                }
            }
            let Some(IngestError::NotTs {
                skipped,
                looks_like,
            }) = err
            else {
                panic!("{what} accepted");
            };
            assert_eq!(looks_like, what);
            assert!(skipped > 1880 && skipped <= 1880 + 752, "{skipped}");
            assert_eq!(emitted, 0);
            let s = ingest.stats();
            assert_eq!(s.not_ts, 1);
            assert_eq!(s.bytes_skipped, input.len() as u64, "every byte accounted");
            assert!(err.unwrap().to_string().starts_with("not MPEG-TS: "));
        }
    }
}

/// The limit is on garbage before the first packet: exactly `sync_search_bytes` is accepted,
/// one more is not; a refused source stays refused until a switch, and the next source is
/// then the first one (nothing was emitted): passed through unchanged.
#[test]
fn sync_search_limit_and_recovery_by_switch() {
    let t0 = Instant::now();
    let cfg = TsIngestConfig::default();
    for (extra, refused) in [(0, false), (1, true)] {
        let mut input = vec![b'x'; cfg.sync_search_bytes + extra];
        input.extend_from_slice(FFMPEG_FIXTURE);
        for chunk in [1, 188, 65536] {
            let mut ingest = TsIngest::new(cfg);
            let mut out = Vec::new();
            let mut err = None;
            for c in input.chunks(chunk) {
                err = err.or(ingest
                    .push(c, t0, &mut |p: &[u8], _| out.extend_from_slice(p))
                    .err());
            }
            assert_eq!(err.is_some(), refused, "extra {extra} chunk {chunk}");
            if !refused {
                ingest.flush(t0, &mut |p: &[u8], _| out.extend_from_slice(p));
                assert!(out == FFMPEG_FIXTURE);
                continue;
            }
            assert!(out.is_empty());
            ingest.switch_source(t0, &mut |_: &[u8], _| unreachable!());
            for c in FFMPEG_FIXTURE.chunks(chunk) {
                ingest
                    .push(c, t0, &mut |p: &[u8], _| out.extend_from_slice(p))
                    .expect("the next source is TS");
            }
            ingest.flush(t0, &mut |p: &[u8], _| out.extend_from_slice(p));
            assert!(out == FFMPEG_FIXTURE, "not spliced: there was no output");
            assert_eq!(ingest.stats().switch_dropped_packets, 0);
        }
    }
}

/// Garbage between two packets: one sync loss, the garbage skipped, every packet kept.
/// Bytes lost inside a packet: that packet goes out damaged (its start had sync), the
/// stream resyncs at the next packet start.
#[test]
fn lost_sync_in_the_middle_recovers_and_counts() {
    let t0 = Instant::now();
    let cut = 100 * TS_PACKET_LEN;
    let mut inserted = FFMPEG_FIXTURE[..cut].to_vec();
    inserted.extend(noise(500, 3).iter().map(|&b| if b == 0x47 { 0 } else { b }));
    inserted.extend_from_slice(&FFMPEG_FIXTURE[cut..]);
    let mut truncated = FFMPEG_FIXTURE[..200 * TS_PACKET_LEN + 88].to_vec();
    truncated.extend_from_slice(&FFMPEG_FIXTURE[200 * TS_PACKET_LEN + 188..]);
    for chunk in [1, 7, 1000, 65536] {
        let mut ingest = TsIngest::new(TsIngestConfig::default());
        let out = concat(&run(&mut ingest, &inserted, chunk, t0));
        assert!(out == FFMPEG_FIXTURE, "chunk {chunk}");
        let s = ingest.stats();
        assert_eq!((s.sync_losses, s.bytes_skipped), (1, 500));

        let mut ingest = TsIngest::new(TsIngestConfig::default());
        let out = concat(&run(&mut ingest, &truncated, chunk, t0));
        let s = *ingest.stats();
        assert_eq!(s.sync_losses, 1, "chunk {chunk}");
        // Packet 200 = its first 88 bytes + 100 of packet 201; then packet 201's tail
        // (88 bytes) is skipped.
        assert_eq!(s.bytes_skipped, 88);
        assert_eq!(out.len(), (FIXTURE_PACKETS - 1) * TS_PACKET_LEN);
        assert!(out[..200 * TS_PACKET_LEN] == FFMPEG_FIXTURE[..200 * TS_PACKET_LEN]);
        assert!(out[201 * TS_PACKET_LEN..] == FFMPEG_FIXTURE[202 * TS_PACKET_LEN..]);
    }
}

#[test]
fn push_packets_skips_the_search_and_counts_misfits() {
    let t0 = Instant::now();
    let mut ingest = TsIngest::new(TsIngestConfig::default());
    let mut out = Vec::new();
    let mut bad = FFMPEG_FIXTURE[..3 * 188].to_vec();
    bad[188] = 0;
    ingest.push_packets(&bad, t0, &mut |p: &[u8], _| out.extend_from_slice(p));
    ingest.push_packets(&FFMPEG_FIXTURE[..100], t0, &mut |p: &[u8], _| {
        out.extend_from_slice(p)
    });
    ingest.flush(t0, &mut |p: &[u8], _| out.extend_from_slice(p));
    assert_eq!(out.len(), 2 * 188);
    assert!(out[..188] == bad[..188] && out[188..] == bad[376..]);
    let s = ingest.stats();
    assert_eq!((s.packets_in, s.bytes_skipped, s.bytes_in), (2, 288, 664));
}

#[test]
fn transport_errors_are_kept_and_counted() {
    let t0 = Instant::now();
    let mut input = FFMPEG_FIXTURE[..14 * 188].to_vec();
    input[5 * 188 + 1] |= 0x80;
    let mut ingest = TsIngest::new(TsIngestConfig::default());
    let out = concat(&run(&mut ingest, &input, 300, t0));
    assert!(out == input);
    assert_eq!(ingest.stats().transport_errors, 1);
}

#[test]
fn find_sync_waits_for_confirmation() {
    let mut w = vec![0u8; SEARCH_LEN];
    assert_eq!(find_sync(&w), Candidate::None);
    w[5] = TS_SYNC_BYTE;
    assert_eq!(find_sync(&w[..5 + 188]), Candidate::Unconfirmed(5));
    w[5 + 188] = TS_SYNC_BYTE;
    w[5 + 376] = TS_SYNC_BYTE;
    assert_eq!(find_sync(&w[..5 + 564]), Candidate::Unconfirmed(5));
    assert_eq!(
        find_sync(&w),
        Candidate::None,
        "the third confirmation fails"
    );
    w[5 + 564] = TS_SYNC_BYTE;
    w[2] = TS_SYNC_BYTE;
    assert_eq!(find_sync(&w), Candidate::Confirmed(5));
}
