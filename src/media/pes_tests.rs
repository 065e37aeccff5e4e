use super::*;
use crate::media::packet::pid;
use crate::media::ts::{is_video_random_access, packets, random_access_indicator};
use crate::media::tsgen::{FFMPEG_FIXTURE, Mux, Start, h264_au};

#[test]
fn ffmpeg_fixture_timestamps_match_ffprobe() {
    // `ffprobe -show_packets`: the first video packet has pts=dts=131760 and is a keyframe,
    // the next two 135360 and 138960 (25 fps: 3600 ticks); the first audio packet 126000.
    let starts: Vec<_> = packets(FFMPEG_FIXTURE)
        .filter(|p| pid(p) == 0x100)
        .filter_map(pes_start)
        .take(3)
        .collect();
    assert_eq!(
        starts.iter().map(|s| s.pts).collect::<Vec<_>>(),
        [Some(131_760), Some(135_360), Some(138_960)]
    );
    assert!(
        starts
            .iter()
            .all(|s| s.dts.is_none() && s.stream_id == 0xE0)
    );
    assert_eq!(starts[0].decode_time(), Some(131_760));
    let audio = packets(FFMPEG_FIXTURE)
        .filter(|p| pid(p) == 0x101)
        .find_map(pes_start)
        .unwrap();
    assert_eq!((audio.stream_id, audio.pts), (0xC0, Some(126_000)));
}

#[test]
fn ffmpeg_fixture_pcr_runs_at_27_mhz() {
    let pcrs: Vec<u64> = packets(FFMPEG_FIXTURE).filter_map(pcr).collect();
    assert!(pcrs.len() > 10);
    // ffmpeg runs the PCR its default max_delay (0.7 s = 63000 ticks) behind the first DTS.
    assert_eq!(pcrs[0], (131_760 - 63_000) * 300);
    assert!(pcrs.windows(2).all(|w| w[1] > w[0]));
    // Five seconds of stream: the PCR spans a little less.
    let span = pcrs[pcrs.len() - 1] - pcrs[0];
    assert!(span > 4 * PCR_HZ && span < 5 * PCR_HZ, "{span}");
}

#[test]
fn ffmpeg_fixture_keyframes_by_nal_agree_with_rai() {
    let mut keys = 0;
    for p in packets(FFMPEG_FIXTURE).filter(|p| pid(p) == 0x100) {
        let Some(s) = pes_start(p) else { continue };
        let nal = video_random_access(0x1B, s.es);
        if is_video_random_access(p) {
            keys += 1;
            assert!(
                matches!(
                    nal,
                    RandomAccess::Yes
                        | RandomAccess::Unknown {
                            parameter_sets: true
                        }
                ),
                "{nal:?}"
            );
        } else {
            assert!(!random_access_indicator(p));
            assert_eq!(nal, RandomAccess::No);
        }
    }
    assert_eq!(keys, 5, "one keyframe a second");
}

#[test]
fn timestamps_round_trip_through_the_muxer() {
    let mut mux = Mux::default();
    for (pts, dts) in [
        (0, None),
        (TIMESTAMP_WRAP - 1, Some(TIMESTAMP_WRAP - 3600)),
        (0x1_2345_6789, Some(0x0_2345_6789)),
        (90_000, Some(86_400)),
    ] {
        let pkts = mux.pes(0x100, 0xE0, Some(pts), dts, &[1, 2, 3], Start::default());
        let s = pes_start(&pkts[0]).unwrap();
        assert_eq!((s.pts, s.dts), (Some(pts), dts));
        assert_eq!(s.es, &[1, 2, 3]);
        assert_eq!(s.decode_time(), Some(dts.unwrap_or(pts)));
    }
    let pkts = mux.pes(0x101, 0xC0, None, None, &[9], Start::default());
    let s = pes_start(&pkts[0]).unwrap();
    assert_eq!((s.pts, s.dts, s.es), (None, None, &[9][..]));
}

#[test]
fn pcr_round_trips_including_extension() {
    let mut mux = Mux::default();
    for v in [
        0,
        299,
        300,
        27_000_000 * 3600 + 123,
        (TIMESTAMP_WRAP - 1) * 300 + 299,
    ] {
        let p = mux.pes(
            0x100,
            0xE0,
            Some(0),
            None,
            &[0],
            Start {
                rai: true,
                pcr: Some(v),
            },
        );
        assert_eq!(pcr(&p[0]), Some(v));
        assert!(random_access_indicator(&p[0]));
    }
    let p = mux.pes(0x100, 0xE0, Some(0), None, &[0], Start::default());
    assert_eq!(pcr(&p[0]), None);
    // An extension of 300 or more is corrupt (fuzzer-found: it overflowed the 33-bit range).
    let mut bad = mux.pes(
        0x100,
        0xE0,
        Some(0),
        None,
        &[0],
        Start {
            rai: false,
            pcr: Some(299),
        },
    )[0];
    assert_eq!(pcr(&bad), Some(299));
    bad[10] |= 0x01;
    bad[11] = 0xFF;
    assert_eq!(pcr(&bad), None);
}

#[test]
fn non_starts_and_broken_headers_are_none() {
    let mut mux = Mux::default();
    let pkts = mux.pes(0x100, 0xE0, Some(5), None, &[0xAB; 400], Start::default());
    assert!(pes_start(&pkts[0]).is_some());
    assert_eq!(pes_start(&pkts[1]), None, "no PUSI");
    let mut no_prefix = pkts[0];
    no_prefix[6] = 0x02;
    assert_eq!(pes_start(&no_prefix), None);
    let mut bad_marker = pkts[0];
    bad_marker[10] = 0x00;
    assert_eq!(pes_start(&bad_marker), None);
    let mut long_header = pkts[0];
    long_header[12] = 200;
    assert_eq!(pes_start(&long_header), None, "header past the packet");
    // Padding stream: no optional header.
    let pad = mux.pes(0x100, 0xBE, None, None, &[], Start::default());
    assert_eq!(pes_start(&pad[0]).map(|s| s.pts), Some(None));
}

#[test]
fn delta_takes_the_short_way_round() {
    assert_eq!(timestamp_delta(100, 40), 60);
    assert_eq!(timestamp_delta(40, 100), -60);
    assert_eq!(timestamp_delta(10, TIMESTAMP_WRAP - 10), 20);
    assert_eq!(timestamp_delta(TIMESTAMP_WRAP - 10, 10), -20);
    assert_eq!(timestamp_delta(1 << 32, 0), 1 << 32);
    assert_eq!(timestamp_delta((1 << 32) + 1, 0), -(1 << 32) + 1);
    // Bits above 33 are ignored.
    assert_eq!(timestamp_delta(TIMESTAMP_WRAP + 5, 0), 5);
}

#[test]
fn nal_scan_finds_the_first_slice() {
    assert_eq!(
        video_random_access(0x1B, &h264_au(true, 64)),
        RandomAccess::Yes
    );
    assert_eq!(
        video_random_access(0x1B, &h264_au(false, 64)),
        RandomAccess::No
    );
    // SPS, PPS and a long SEI: the IDR is in a later packet.
    let sps_only = [
        0, 0, 0, 1, 0x09, 0xF0, 0, 0, 0, 1, 0x67, 0x42, 0, 0, 1, 0x06, 0xFF,
    ];
    assert_eq!(
        video_random_access(0x1B, &sps_only),
        RandomAccess::Unknown {
            parameter_sets: true
        }
    );
    assert_eq!(
        video_random_access(0x1B, &[0, 0, 1, 0x09, 0xF0]),
        RandomAccess::Unknown {
            parameter_sets: false
        }
    );
    // HEVC: AUD (35), VPS (32), then IDR_W_RADL (19); or TRAIL_R (1).
    let hevc_idr = [
        0,
        0,
        1,
        35 << 1,
        1,
        0x50,
        0,
        0,
        1,
        32 << 1,
        1,
        0,
        0,
        1,
        19 << 1,
        1,
    ];
    assert_eq!(video_random_access(0x24, &hevc_idr), RandomAccess::Yes);
    assert_eq!(
        video_random_access(0x24, &[0, 0, 1, 1 << 1, 1]),
        RandomAccess::No
    );
    assert_eq!(
        video_random_access(0x02, &h264_au(true, 64)),
        RandomAccess::Unknown {
            parameter_sets: false
        }
    );
    assert_eq!(
        video_random_access(0x1B, &[0, 0, 1]),
        RandomAccess::Unknown {
            parameter_sets: false
        }
    );
}

#[test]
fn garbage_never_panics() {
    let mut seed = 0x1234_5678_9ABC_DEF1u64;
    for i in 0..50_000 {
        let mut p = [0u8; 188];
        for b in p.iter_mut() {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            *b = seed as u8;
        }
        p[0] = 0x47;
        if i % 2 == 0 {
            // A PES prefix where the payload starts, so header parsing runs.
            p[1] |= 0x40;
            let at = if p[3] & 0x20 != 0 {
                5 + p[4] as usize
            } else {
                4
            };
            if at + 3 <= 188 {
                p[at..at + 3].copy_from_slice(&[0, 0, 1]);
            }
        }
        if let Some(s) = pes_start(&p) {
            let _ = video_random_access(if i % 3 == 0 { 0x1B } else { 0x24 }, s.es);
        }
        let _ = pcr(&p);
    }
}
