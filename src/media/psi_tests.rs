use super::*;
use crate::media::packet::{continuity_counter, pid};
use crate::media::ts::packets;
use crate::media::tsgen::{FFMPEG_FIXTURE, Mux, concat, pat_section, pmt_section, with_crc};

const VIDEO: (u8, u16, &[u8]) = (0x1B, 0x100, &[]);
const AUDIO: (u8, u16, &[u8]) = (0x0F, 0x101, &[]);

fn feed(cache: &mut PsiCache, pkts: &[TsPacket]) {
    for p in pkts {
        cache.observe(p);
    }
}

#[test]
fn ffmpeg_fixture_pat_and_pmt() {
    let mut cache = PsiCache::new();
    let (mut last_pat, mut last_pmt) = (None, None);
    for p in packets(FFMPEG_FIXTURE) {
        cache.observe(p);
        match pid(p) {
            0 => last_pat = Some(*p),
            0x1000 => last_pmt = Some(*p),
            _ => {}
        }
    }
    let header = cache.header().expect("PAT and PMT seen");
    assert_eq!(header.len(), 2 * 188);
    assert_eq!(
        header[..188],
        last_pat.unwrap(),
        "the latest PAT packet, verbatim"
    );
    assert_eq!(
        header[188..],
        last_pmt.unwrap(),
        "the latest PMT packet, verbatim"
    );
    assert_eq!(cache.video_pid(), Some(0x100));
    assert_eq!(cache.video().map(|v| v.stream_type), Some(0x1B));
    assert_eq!(cache.audio_pids(), &[0x101]);
    assert_eq!(
        cache.pcr_pid(),
        Some(0x100),
        "ffmpeg carries the PCR on the video PID"
    );
    assert!(cache.has_video());
    assert!(cache.is_psi_pid(0x1000) && cache.is_psi_pid(0) && !cache.is_psi_pid(0x100));
    // Repetitions (45 of each) are not changes: one PAT, one PMT.
    assert_eq!(cache.version(), 2);
    let s = cache.stats();
    assert_eq!((s.sections, s.crc_errors, s.malformed), (90, 0, 0));
    assert_eq!((s.continuity_breaks, s.ignored), (0, 0));
}

#[test]
fn header_waits_for_a_pmt_the_pat_names() {
    let mut mux = Mux::default();
    let mut cache = PsiCache::new();
    feed(&mut cache, &mux.pmt(0x1000, &[VIDEO]));
    assert_eq!(cache.header(), None, "a PMT before any PAT is not followed");
    assert_eq!(cache.stats().sections, 0);
    feed(&mut cache, &mux.pat(&[(1, 0x1000)]));
    assert_eq!(cache.header(), None);
    assert_eq!(cache.video_pid(), None);
    let pmt = mux.pmt(0x1000, &[VIDEO]);
    feed(&mut cache, &pmt);
    assert_eq!(cache.header().map(<[u8]>::len), Some(2 * 188));
    assert_eq!(cache.header().unwrap()[188..], pmt[0]);
    assert_eq!(cache.audio_pids(), &[] as &[u16]);
    assert!(cache.has_video());
}

#[test]
fn repetitions_refresh_packets_not_version() {
    let mut mux = Mux::default();
    let mut cache = PsiCache::new();
    feed(&mut cache, &mux.pat(&[(1, 0x1000)]));
    feed(&mut cache, &mux.pmt(0x1000, &[VIDEO, AUDIO]));
    let v = cache.version();
    for _ in 0..5 {
        feed(&mut cache, &mux.pat(&[(1, 0x1000)]));
        feed(&mut cache, &mux.pmt(0x1000, &[VIDEO, AUDIO]));
    }
    assert_eq!(cache.version(), v);
    let h = cache.header().unwrap();
    let pat: &TsPacket = h[..188].try_into().unwrap();
    assert_eq!(
        continuity_counter(pat),
        5,
        "the latest copy, counter as sent"
    );
}

#[test]
fn content_change_bumps_version_and_streams() {
    let mut mux = Mux::default();
    let mut cache = PsiCache::new();
    feed(&mut cache, &mux.pat(&[(1, 0x1000)]));
    feed(&mut cache, &mux.pmt(0x1000, &[VIDEO]));
    let v = cache.version();
    feed(&mut cache, &mux.pmt(0x1000, &[VIDEO, AUDIO]));
    assert_eq!(cache.version(), v + 1);
    assert_eq!(cache.audio_pids(), &[0x101]);
    // A new PAT moving the PMT: the old PMT is forgotten until the new PID delivers.
    feed(&mut cache, &mux.pat(&[(1, 0x1001)]));
    assert_eq!(cache.version(), v + 2);
    assert_eq!(cache.header(), None);
    assert!(!cache.has_video());
    feed(&mut cache, &mux.pmt(0x1000, &[VIDEO]));
    assert_eq!(
        cache.header(),
        None,
        "the old PMT PID is no longer followed"
    );
    feed(&mut cache, &mux.pmt(0x1001, &[(0x24, 0x200, &[])]));
    assert_eq!(cache.video_pid(), Some(0x200));
    assert_eq!(cache.video().unwrap().stream_type, 0x24);
}

#[test]
fn bad_crc_is_counted_and_ignored() {
    let mut mux = Mux::default();
    let mut cache = PsiCache::new();
    feed(&mut cache, &mux.pat(&[(1, 0x1000)]));
    feed(&mut cache, &mux.pmt(0x1000, &[VIDEO, AUDIO]));
    let before = cache.header().unwrap().to_vec();
    let mut bad = mux.pmt(0x1000, &[VIDEO]);
    bad[0][20] ^= 0x01;
    feed(&mut cache, &bad);
    assert_eq!(cache.stats().crc_errors, 1);
    assert_eq!(cache.header().unwrap(), &before[..]);
    assert_eq!(cache.audio_pids(), &[0x101]);
}

#[test]
fn section_spanning_packets_keeps_all_of_them() {
    let mut mux = Mux::default();
    let mut cache = PsiCache::new();
    feed(&mut cache, &mux.pat(&[(1, 0x1000)]));
    let long_desc = [0x05, 4, b'a', b'b', b'c', b'd'].repeat(60);
    let pmt = mux.pmt(0x1000, &[VIDEO, (0x0F, 0x101, &long_desc)]);
    assert_eq!(pmt.len(), 3);
    feed(&mut cache, &pmt);
    let h = cache.header().unwrap();
    assert_eq!(h.len(), 4 * 188);
    assert_eq!(h[188..], concat(&pmt)[..]);
    assert_eq!(cache.audio_pids(), &[0x101]);

    // The middle packet lost: the section is abandoned, the old one stays.
    let v = cache.version();
    let pmt = mux.pmt(0x1000, &[VIDEO, (0x03, 0x102, &long_desc)]);
    feed(&mut cache, &[pmt[0], pmt[2]]);
    assert_eq!(cache.stats().continuity_breaks, 1);
    assert_eq!(cache.version(), v);
    // A duplicated packet inside the section is skipped (§2.4.3.3).
    let pmt = mux.pmt(0x1000, &[VIDEO, (0x03, 0x102, &long_desc)]);
    feed(&mut cache, &[pmt[0], pmt[1], pmt[1], pmt[2]]);
    assert_eq!(cache.version(), v + 1);
    assert_eq!(cache.audio_pids(), &[0x102]);
    assert_eq!(cache.header().unwrap().len(), 4 * 188);
}

#[test]
fn section_length_over_1021_is_malformed() {
    let mut mux = Mux::default();
    let mut cache = PsiCache::new();
    let mut pat = mux.pat(&[(1, 0x1000)]);
    pat[0][6] = 0xB3;
    pat[0][7] = 0xFF;
    feed(&mut cache, &pat);
    assert_eq!(cache.stats().malformed, 1);
    assert_eq!(cache.stats().sections, 0);
}

#[test]
fn pointer_field_and_back_to_back_sections() {
    // Two programs share PMT PID 0x1000; both PMT sections travel in one packet, after the
    // 3-byte tail (pointer_field 3) of a section we never saw start.
    let mut cache = PsiCache::new();
    let mut mux = Mux::default();
    feed(&mut cache, &mux.pat(&[(1, 0x1000), (2, 0x1000)]));
    let a = pmt_section(1, 0, 0x100, &[VIDEO]);
    let b = pmt_section(2, 0, 0x200, &[(0x81, 0x201, &[])]);
    let mut body = vec![3, 0xAA, 0xBB, 0xCC];
    body.extend_from_slice(&a);
    body.extend_from_slice(&b);
    let mut p = [0xFF; 188];
    p[..4].copy_from_slice(&[0x47, 0x50, 0x00, 0x10]);
    p[4..4 + body.len()].copy_from_slice(&body);
    cache.observe(&p);
    assert_eq!(cache.stats().sections, 3);
    assert_eq!(cache.video_pid(), Some(0x100));
    assert_eq!(cache.audio_pids(), &[0x201], "AC-3 (ATSC 0x81)");
    // The shared packet is in the header once per program.
    assert_eq!(cache.header().unwrap().len(), 3 * 188);
}

#[test]
fn private_data_streams_need_an_audio_descriptor() {
    assert_eq!(classify(0x06, &[]), EsKind::Other);
    assert_eq!(classify(0x06, &[0x6A, 1, 0x00]), EsKind::Audio, "DVB AC-3");
    assert_eq!(classify(0x06, &[0x7A, 0]), EsKind::Audio, "DVB E-AC-3");
    assert_eq!(
        classify(0x06, &[0x7F, 2, 0x80, 2]),
        EsKind::Audio,
        "DVB Opus"
    );
    let opus_reg = [
        0x0A, 4, b'e', b'n', b'g', 0, 0x05, 4, b'O', b'p', b'u', b's',
    ];
    assert_eq!(classify(0x06, &opus_reg), EsKind::Audio);
    assert_eq!(
        classify(0x06, &[0x05, 4, b'K', b'L', b'V', b'A']),
        EsKind::Other
    );
    assert_eq!(
        classify(0x06, &[0x6A, 9]),
        EsKind::Other,
        "truncated descriptor"
    );
    assert_eq!(classify(0x15, &[]), EsKind::Other, "ID3 metadata");
    for st in [0x01, 0x02, 0x10, 0x1B, 0x24, 0x33, 0x42, 0xEA] {
        assert_eq!(classify(st, &[]), EsKind::Video, "{st:#x}");
    }
    for st in [0x03, 0x04, 0x0F, 0x11, 0x81, 0x87] {
        assert_eq!(classify(st, &[]), EsKind::Audio, "{st:#x}");
    }
}

#[test]
fn not_current_and_multi_section_tables_are_ignored() {
    let mut cache = PsiCache::new();
    let mut mux = Mux::default();
    let mut pat = pat_section(&[(1, 0x1000)], 0);
    pat.truncate(pat.len() - 4);
    pat[5] &= !0x01;
    feed(&mut cache, &mux.section(0, &with_crc(pat.clone())));
    pat[5] |= 0x01;
    pat[7] = 1;
    feed(&mut cache, &mux.section(0, &with_crc(pat)));
    assert_eq!(cache.stats().ignored, 2);
    assert!(!cache.is_psi_pid(0x1000));
}

#[test]
fn crc_matches_the_standard_check_value() {
    // CRC-32/MPEG-2 check value for "123456789".
    assert_eq!(crc32_mpeg2(b"123456789"), 0x0376_E6E7);
}

/// xorshift64*: reproducible noise without a dependency.
fn noise(seed: &mut u64) -> u64 {
    *seed ^= *seed >> 12;
    *seed ^= *seed << 25;
    *seed ^= *seed >> 27;
    seed.wrapping_mul(0x2545_F491_4F6C_DD1D)
}

#[test]
fn garbage_never_panics_and_memory_stays_bounded() {
    let mut seed = 0x9E37_79B9_7F4A_7C15;
    let mut cache = PsiCache::new();
    let mut mux = Mux::default();
    feed(&mut cache, &mux.pat(&[(1, 0x1000), (2, 0x20)]));
    for round in 0..20_000 {
        let mut p = [0u8; 188];
        for b in p.iter_mut() {
            *b = noise(&mut seed) as u8;
        }
        p[0] = 0x47;
        // Mostly PSI PIDs, so the section paths see the noise.
        match round % 3 {
            0 => (p[1], p[2]) = (p[1] & 0xE0, 0x00),
            1 => (p[1], p[2]) = ((p[1] & 0xE0) | 0x10, 0x00),
            _ => {}
        }
        cache.observe(&p);
        // Sections with a valid CRC and random bodies reach the table parsers.
        if round % 7 == 0 {
            let n = (noise(&mut seed) % 40) as usize;
            let mut s: Vec<u8> = (0..n + 8).map(|_| noise(&mut seed) as u8).collect();
            s[0] = if round % 2 == 0 { 0x00 } else { 0x02 };
            s[3..5].copy_from_slice(&[0, 1]);
            s[5] |= 0x01;
            s[6] = 0;
            s[7] = 0;
            let pid = if round % 2 == 0 { 0 } else { 0x1000 };
            feed(&mut cache, &mux.section(pid, &with_crc(s)));
        }
        assert!(
            cache.header().map_or(0, <[u8]>::len) <= (1 + MAX_PROGRAMS) * MAX_SECTION_PACKETS * 188
        );
        assert!(cache.programs.len() <= MAX_PROGRAMS);
    }
    assert!(cache.stats().sections > 0);
}
