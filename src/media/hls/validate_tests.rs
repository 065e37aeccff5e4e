//! One test per rule: the good playlist passes, the same playlist broken in one place fails
//! naming the rule.

use super::validate::*;

const GOOD: &str = "#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.999
#EXT-X-PART-INF:PART-TARGET=0.333
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-DISCONTINUITY-SEQUENCE:3
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-PROGRAM-DATE-TIME:2024-01-02T03:04:05.678Z
#EXTINF:2.0,
seg-10.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2024-01-02T03:04:07.678Z
#EXT-X-PART:DURATION=0.32,URI=\"part-11-0.ts\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.32,URI=\"part-11-1.ts\"
#EXT-X-PART:DURATION=0.32,URI=\"part-11-2.ts\"
#EXT-X-PART:DURATION=0.32,URI=\"part-11-3.ts\"
#EXT-X-PART:DURATION=0.32,URI=\"part-11-4.ts\"
#EXT-X-PART:DURATION=0.32,URI=\"part-11-5.ts\"
#EXT-X-PART:DURATION=0.08,URI=\"part-11-6.ts\"
#EXTINF:2.0,
seg-11.ts
#EXT-X-PROGRAM-DATE-TIME:2024-01-02T03:04:09.678Z
#EXT-X-PART:DURATION=0.32,URI=\"part-12-0.ts\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.32,URI=\"part-12-1.ts\"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-12-2.ts\"
";

fn good() -> ParsedPlaylist {
    validate_media_playlist(GOOD).expect("the good playlist passes")
}

/// `GOOD` with `from` replaced by `to` must fail with an error containing `needle`.
fn fails(from: &str, to: &str, needle: &str) {
    good();
    assert!(GOOD.contains(from), "{from:?} not in GOOD");
    let broken = GOOD.replacen(from, to, 1);
    match validate_media_playlist(&broken) {
        Ok(_) => panic!("accepted with {from:?} -> {to:?}"),
        Err(e) => assert!(e.contains(needle), "{e:?} does not mention {needle:?}"),
    }
}

#[test]
fn the_good_playlist_parses_fully() {
    let p = good();
    assert_eq!((p.version, p.target_duration), (Some(6), 2));
    assert_eq!((p.media_sequence, p.discontinuity_sequence), (10, 3));
    assert!(p.independent_segments && p.can_block_reload && !p.endlist);
    assert_eq!(p.part_target_us, Some(333_000));
    assert_eq!(p.part_hold_back_us, Some(999_000));
    assert_eq!(p.segments.len(), 2);
    let s = &p.segments[1];
    assert_eq!(
        (s.msn, s.uri.as_str(), s.duration_us),
        (11, "seg-11.ts", 2_000_000)
    );
    assert!(s.discontinuity);
    assert_eq!(p.segments[0].discontinuity_sequence, 3);
    assert_eq!(s.discontinuity_sequence, 4);
    assert_eq!(s.parts.len(), 7);
    assert!(s.parts[0].independent && !s.parts[1].independent);
    assert_eq!(
        s.program_date_time.as_deref(),
        Some("2024-01-02T03:04:07.678Z")
    );
    assert_eq!(p.open_parts.len(), 2);
    assert_eq!(p.preload_hint.as_deref(), Some("part-12-2.ts"));
}

#[test]
fn extm3u_must_come_first() {
    fails("#EXTM3U\n", "\n#EXTM3U\n", "#EXTM3U");
    fails("#EXTM3U\n", "#EXT-X-VERSION:6\n#EXTM3U\n", "#EXTM3U");
}

#[test]
fn target_duration_is_required_once() {
    fails("#EXT-X-TARGETDURATION:2\n", "", "TARGETDURATION");
    fails(
        "#EXT-X-TARGETDURATION:2\n",
        "#EXT-X-TARGETDURATION:2\n#EXT-X-TARGETDURATION:2\n",
        "twice",
    );
    fails(
        "#EXT-X-TARGETDURATION:2\n",
        "#EXT-X-TARGETDURATION:2.0\n",
        "decimal-integer",
    );
}

#[test]
fn extinf_rounded_must_not_exceed_the_target() {
    // 2.4 rounds to 2: allowed; 2.5 rounds to 3: not.
    validate_media_playlist(&GOOD.replacen("#EXTINF:2.0,\nseg-10", "#EXTINF:2.4,\nseg-10", 1))
        .expect("2.4 rounds to 2");
    fails(
        "#EXTINF:2.0,\nseg-10",
        "#EXTINF:2.5,\nseg-10",
        "rounds above",
    );
}

#[test]
fn float_extinf_needs_version_3() {
    fails("#EXT-X-VERSION:6", "#EXT-X-VERSION:2", "VERSION 3");
    fails("#EXT-X-VERSION:6", "#EXT-X-VERSION:six", "decimal-integer");
}

#[test]
fn sequence_tags_come_before_the_first_segment() {
    let moved = GOOD.replacen("#EXT-X-MEDIA-SEQUENCE:10\n", "", 1).replacen(
        "seg-10.ts\n",
        "seg-10.ts\n#EXT-X-MEDIA-SEQUENCE:10\n",
        1,
    );
    assert!(
        validate_media_playlist(&moved)
            .unwrap_err()
            .contains("after the first media segment")
    );
    let moved = GOOD
        .replacen("#EXT-X-DISCONTINUITY-SEQUENCE:3\n", "", 1)
        .replacen(
            "seg-10.ts\n",
            "seg-10.ts\n#EXT-X-DISCONTINUITY-SEQUENCE:3\n",
            1,
        );
    assert!(
        validate_media_playlist(&moved)
            .unwrap_err()
            .contains("after the first media segment")
    );
}

#[test]
fn media_sequence_missing_means_zero() {
    // Not an error (§4.4.3.2 defaults it), but the numbers follow.
    let p = validate_media_playlist(&GOOD.replacen("#EXT-X-MEDIA-SEQUENCE:10\n", "", 1)).unwrap();
    assert_eq!(p.segments[0].msn, 0);
}

#[test]
fn every_uri_needs_an_extinf_and_every_extinf_a_uri() {
    fails("#EXTINF:2.0,\nseg-10.ts\n", "seg-10.ts\n", "without EXTINF");
    fails("seg-10.ts\n", "", "two EXTINF");
    let cut = &GOOD[..GOOD.find("seg-11.ts").unwrap()];
    assert!(
        validate_media_playlist(cut)
            .unwrap_err()
            .contains("at the end")
    );
}

#[test]
fn parts_need_part_inf() {
    fails("#EXT-X-PART-INF:PART-TARGET=0.333\n", "", "PART-INF");
}

#[test]
fn parts_must_not_exceed_part_target() {
    fails(
        "DURATION=0.32,URI=\"part-11-1.ts\"",
        "DURATION=0.334,URI=\"part-11-1.ts\"",
        "over PART-TARGET",
    );
    // The INDEPENDENT and final parts are held to the maximum too.
    fails("DURATION=0.08,URI", "DURATION=0.34,URI", "over PART-TARGET");
}

#[test]
fn parts_must_reach_85_percent_unless_independent_or_last() {
    // 0.283 is 85 % of 0.333 (283.05 ms): 0.28 is under.
    fails(
        "DURATION=0.32,URI=\"part-11-1.ts\"",
        "DURATION=0.28,URI=\"part-11-1.ts\"",
        "85 %",
    );
    fails(
        "DURATION=0.32,URI=\"part-12-1.ts\"",
        "DURATION=0.1,URI=\"part-12-1.ts\"",
        "85 %",
    );
    // The last part of a parent segment may be short (0.08 in GOOD); so may an INDEPENDENT one.
    let p = GOOD
        .replacen(
            "DURATION=0.32,URI=\"part-11-0.ts\"",
            "DURATION=0.1,URI=\"part-11-0.ts\"",
            1,
        )
        .replacen("DURATION=0.08,URI", "DURATION=0.3,URI", 1);
    validate_media_playlist(&p).expect("a short independent part is fine");
}

#[test]
fn parts_add_up_to_their_segment() {
    fails("#EXTINF:2.0,\nseg-11", "#EXTINF:1.9,\nseg-11", "add up");
}

#[test]
fn part_hold_back_is_required_and_at_least_twice_the_part_target() {
    fails(",PART-HOLD-BACK=0.999", "", "PART-HOLD-BACK");
    fails("PART-HOLD-BACK=0.999", "PART-HOLD-BACK=0.6", "twice");
    validate_media_playlist(&GOOD.replacen("PART-HOLD-BACK=0.999", "PART-HOLD-BACK=0.666", 1))
        .expect("exactly twice is allowed (three times is only recommended)");
}

#[test]
fn hold_back_is_at_least_three_target_durations() {
    fails(
        "PART-HOLD-BACK=0.999",
        "PART-HOLD-BACK=0.999,HOLD-BACK=5.9",
        "HOLD-BACK",
    );
    validate_media_playlist(&GOOD.replacen(
        "PART-HOLD-BACK=0.999",
        "PART-HOLD-BACK=0.999,HOLD-BACK=6",
        1,
    ))
    .expect("6 s is three times 2 s");
}

#[test]
fn blocking_reload_with_parts_needs_a_preload_hint() {
    fails(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-12-2.ts\"\n",
        "",
        "PRELOAD-HINT",
    );
}

#[test]
fn preload_hint_is_last_and_new() {
    fails("part-12-2.ts\"\n", "part-12-1.ts\"\n", "already listed");
    fails("TYPE=PART,URI", "TYPE=SEGMENT,URI", "TYPE");
    fails("URI=\"part-12-2.ts\"", "URI=part-12-2.ts", "quoted URI");
    let twice = format!("{GOOD}#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-12-3.ts\"\n");
    assert!(
        validate_media_playlist(&twice)
            .unwrap_err()
            .contains("two EXT-X-PRELOAD-HINT")
    );
    let after = format!("{GOOD}#EXT-X-PART:DURATION=0.32,URI=\"part-12-2.ts\"\n");
    assert!(
        validate_media_playlist(&after)
            .unwrap_err()
            .contains("after EXT-X-PRELOAD-HINT")
    );
}

#[test]
fn uris_are_well_formed_and_unique() {
    fails("seg-10.ts\n", "seg 10.ts\n", "malformed URI");
    fails("URI=\"part-11-1.ts\"", "URI=\"part-11-0.ts\"", "twice");
    fails("URI=\"part-11-1.ts\"", "URI=\"\"", "malformed URI");
    fails("seg-11.ts\n", "seg-10.ts\n", "twice");
}

#[test]
fn attribute_lists_follow_the_grammar() {
    fails("URI=\"part-11-1.ts\"", "URI=\"part-11-1.ts", "unterminated");
    fails(
        "DURATION=0.32,URI=\"part-11-1.ts\"",
        "DURATION=0.32,,URI=\"part-11-1.ts\"",
        "§4.2",
    );
    fails(
        "DURATION=0.32,URI=\"part-11-1.ts\"",
        "URI=\"part-11-1.ts\"",
        "DURATION",
    );
    fails(
        "DURATION=0.32,URI=\"part-11-1.ts\"",
        "DURATION=-0.32,URI=\"part-11-1.ts\"",
        "decimal-floating-point",
    );
    fails(
        "DURATION=0.32,URI=\"part-11-1.ts\"",
        "DURATION=0.32,URI=\"part-11-1.ts\",INDEPENDENT=MAYBE",
        "INDEPENDENT",
    );
    fails(
        "DURATION=0.32,URI=\"part-11-1.ts\"",
        "duration=0.32,URI=\"part-11-1.ts\"",
        "attribute name",
    );
}

#[test]
fn program_date_time_is_rfc3339() {
    fails(
        "2024-01-02T03:04:07.678Z",
        "2024-01-02 03:04:07.678Z",
        "RFC 3339",
    );
    fails(
        "2024-01-02T03:04:07.678Z",
        "2024-01-02T03:04:07.678",
        "RFC 3339",
    );
    fails(
        "2024-01-02T03:04:07.678Z",
        "2024-13-02T03:04:07.678Z",
        "RFC 3339",
    );
    fails(
        "2024-01-02T03:04:07.678Z",
        "2024-01-02T03:04:07.Z",
        "RFC 3339",
    );
    for ok in [
        "2024-01-02T03:04:07Z",
        "2024-01-02T04:04:07.678+01:00",
        "2024-01-01T21:34:07.678-05:30",
    ] {
        validate_media_playlist(&GOOD.replacen("2024-01-02T03:04:07.678Z", ok, 1)).expect(ok);
    }
}

#[test]
fn garbage_text_never_panics() {
    let mut seed = 0xDEAD_BEEF_u64;
    let alphabet: Vec<char> = "#EXT-X-PART:DURATION=0.3,URI=\"\n\r ,=ab9é"
        .chars()
        .collect();
    for _ in 0..3000 {
        let mut s = String::from("#EXTM3U\n");
        let bytes = GOOD.as_bytes();
        for _ in 0..200 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            if seed.is_multiple_of(3) {
                s.push(alphabet[(seed >> 8) as usize % alphabet.len()]);
            } else {
                s.push(bytes[(seed >> 8) as usize % bytes.len()] as char);
            }
        }
        let _ = validate_media_playlist(&s);
    }
}

// Reload continuity.

fn reload(text: &str) -> ParsedPlaylist {
    validate_media_playlist(text).expect("valid reload")
}

/// GOOD one part later: part 12-2 finished, 12-3 hinted.
fn next_part() -> String {
    GOOD.replacen(
        "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-12-2.ts\"\n",
        "#EXT-X-PART:DURATION=0.32,URI=\"part-12-2.ts\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-12-3.ts\"\n",
        1,
    )
}

#[test]
fn reloads_that_append_pass() {
    check_reload_continuity(&good(), &reload(&next_part())).unwrap();
    check_reload_continuity(&good(), &good()).unwrap();
    // Segment 10 slides out; its discontinuity-free successor keeps its numbers.
    let slid = GOOD
        .replacen("#EXT-X-MEDIA-SEQUENCE:10", "#EXT-X-MEDIA-SEQUENCE:11", 1)
        .replacen(
            "#EXT-X-PROGRAM-DATE-TIME:2024-01-02T03:04:05.678Z\n#EXTINF:2.0,\nseg-10.ts\n",
            "",
            1,
        );
    check_reload_continuity(&good(), &reload(&slid)).unwrap();
}

#[test]
fn media_sequence_must_not_go_back() {
    let back = GOOD.replacen("#EXT-X-MEDIA-SEQUENCE:10", "#EXT-X-MEDIA-SEQUENCE:9", 1);
    let e = check_reload_continuity(&good(), &reload(&back)).unwrap_err();
    assert!(e.contains("media sequence went back"), "{e}");
}

#[test]
fn discontinuity_sequence_must_stay_consistent() {
    let back = GOOD.replacen("SEQUENCE:3", "SEQUENCE:2", 1);
    let e = check_reload_continuity(&good(), &reload(&back)).unwrap_err();
    assert!(e.contains("discontinuity sequence went back"), "{e}");
    // Sliding out segment 10 without removing the discontinuity from segment 11's number.
    let slid = GOOD
        .replacen("#EXT-X-MEDIA-SEQUENCE:10", "#EXT-X-MEDIA-SEQUENCE:11", 1)
        .replacen("SEQUENCE:3", "SEQUENCE:4", 1)
        .replacen(
            "#EXT-X-PROGRAM-DATE-TIME:2024-01-02T03:04:05.678Z\n#EXTINF:2.0,\nseg-10.ts\n",
            "",
            1,
        );
    let e = check_reload_continuity(&good(), &reload(&slid)).unwrap_err();
    assert!(e.contains("segment 11 changed"), "{e}");
}

#[test]
fn target_duration_must_not_change() {
    let longer = GOOD.replacen("TARGETDURATION:2", "TARGETDURATION:3", 1);
    let e = check_reload_continuity(&good(), &reload(&longer)).unwrap_err();
    assert!(e.contains("TARGETDURATION changed"), "{e}");
}

#[test]
fn a_segment_keeps_its_uri_and_duration() {
    let renamed = GOOD.replacen("seg-10.ts", "seg-10b.ts", 1);
    let e = check_reload_continuity(&good(), &reload(&renamed)).unwrap_err();
    assert!(e.contains("segment 10 changed"), "{e}");
    let shorter = GOOD.replacen("#EXTINF:2.0,\nseg-10", "#EXTINF:1.9,\nseg-10", 1);
    let e = check_reload_continuity(&good(), &reload(&shorter)).unwrap_err();
    assert!(e.contains("segment 10 changed"), "{e}");
}

#[test]
fn segments_leave_from_the_front_only() {
    let plain = |uris: &[&str]| {
        let mut t = String::from("#EXTM3U\n#EXT-X-VERSION:6\n#EXT-X-TARGETDURATION:2\n");
        t.push_str("#EXT-X-MEDIA-SEQUENCE:0\n");
        for u in uris {
            t.push_str(&format!("#EXTINF:2.0,\n{u}\n"));
        }
        reload(&t)
    };
    let prev = plain(&["seg-0.ts", "seg-1.ts", "seg-2.ts"]);
    check_reload_continuity(
        &prev,
        &plain(&["seg-0.ts", "seg-1.ts", "seg-2.ts", "seg-3.ts"]),
    )
    .unwrap();
    let e = check_reload_continuity(&prev, &plain(&["seg-0.ts", "seg-1.ts"])).unwrap_err();
    assert!(e.contains("segment 2 vanished"), "{e}");
}

#[test]
fn open_parts_stay_a_prefix() {
    let changed = next_part().replacen(
        "#EXT-X-PART:DURATION=0.32,URI=\"part-12-1.ts\"",
        "#EXT-X-PART:DURATION=0.3,URI=\"part-12-1.ts\"",
        1,
    );
    let e = check_reload_continuity(&good(), &reload(&changed)).unwrap_err();
    assert!(e.contains("parts of segment 12 changed"), "{e}");
}

#[test]
fn program_dates_do_not_overlap_by_a_second() {
    // Segment 11 starts 2 s after segment 10 (2.0 s long): moved 0.9 s earlier is a
    // sub-second overlap, allowed; 1 s earlier is not; and its zone may differ.
    let at = |t: &str| GOOD.replacen("2024-01-02T03:04:07.678Z", t, 1);
    validate_media_playlist(&at("2024-01-02T03:04:06.778Z")).expect("0.9 s overlap");
    validate_media_playlist(&at("2024-01-02T04:04:07.678+01:00")).expect("same instant");
    let e = validate_media_playlist(&at("2024-01-02T03:04:06.678Z")).unwrap_err();
    assert!(e.contains("overlap"), "{e}");
    let e = validate_media_playlist(&at("2024-01-02T03:04:05.678Z")).unwrap_err();
    assert!(e.contains("overlap"), "{e}");
}
