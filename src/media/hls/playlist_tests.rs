use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;

use super::playlist::{PlaylistParams, render};
use super::window::OpenSegment;
use super::*;

#[test]
fn durations_print_with_at_most_five_decimals() {
    assert_eq!(format_duration_ticks(180_000), "2.0");
    assert_eq!(format_duration_ticks(29_970), "0.333");
    assert_eq!(format_duration_ticks(28_800), "0.32");
    assert_eq!(format_duration_ticks(3003), "0.03337");
    assert_eq!(format_duration_ticks(0), "0.0");
    assert_eq!(format_duration_ticks(1), "0.00001");
    // 10 us rounding is monotonic: what fits PART-TARGET in ticks fits it in print.
    let target = format_duration_ticks(29_970);
    for t in 29_000..=29_970 {
        assert!(format_duration_ticks(t) <= target, "{t}");
    }
}

#[test]
fn dates_are_rfc3339_utc_with_milliseconds() {
    let at = |s: u64, ms: u64| UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms);
    assert_eq!(
        format_program_date_time(at(0, 0)),
        "1970-01-01T00:00:00.000Z"
    );
    assert_eq!(
        format_program_date_time(at(951_782_400, 5)),
        "2000-02-29T00:00:00.005Z"
    );
    assert_eq!(
        format_program_date_time(at(1_709_251_199, 999)),
        "2024-02-29T23:59:59.999Z"
    );
    assert_eq!(
        format_program_date_time(at(4_102_444_800, 0)),
        "2100-01-01T00:00:00.000Z"
    );
    assert_eq!(
        format_program_date_time(UNIX_EPOCH - Duration::from_secs(5)),
        "1970-01-01T00:00:00.000Z"
    );
}

fn part(ticks: u64, independent: bool) -> Part {
    Part {
        bytes: Bytes::from_static(&[0x47; 188]),
        duration_ticks: ticks,
        independent,
    }
}

#[test]
fn ll_hls_playlist_layout() {
    let date = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let seg = |msn, disc, dsn| {
        Arc::new(Segment::new(
            msn,
            vec![part(28_800, true), part(28_800, false), part(14_400, false)],
            disc,
            dsn,
            date + Duration::from_secs(msn),
            true,
        ))
    };
    let listed = [seg(7, false, 0), seg(8, true, 1)];
    let open = OpenSegment {
        msn: 9,
        discontinuity: false,
        discontinuity_sequence: 1,
        program_date_time: date + Duration::from_secs(9),
        parts: vec![part(28_800, true)],
    };
    let text = render(&PlaylistParams {
        target_duration_s: 1,
        part_target_ticks: Some(29_970),
        listed: &listed,
        open: Some(&open),
        next_msn: 9,
        discontinuity_sequence: 0,
        parts_from_msn: 8,
    });
    assert_eq!(
        text,
        "#EXTM3U
#EXT-X-VERSION:6
#EXT-X-TARGETDURATION:1
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.999
#EXT-X-PART-INF:PART-TARGET=0.333
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:27.000Z
#EXTINF:0.8,
seg-7.ts
#EXT-X-DISCONTINUITY
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:28.000Z
#EXT-X-PART:DURATION=0.32,URI=\"part-8-0.ts\",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.32,URI=\"part-8-1.ts\"
#EXT-X-PART:DURATION=0.16,URI=\"part-8-2.ts\"
#EXTINF:0.8,
seg-8.ts
#EXT-X-PROGRAM-DATE-TIME:2023-11-14T22:13:29.000Z
#EXT-X-PART:DURATION=0.32,URI=\"part-9-0.ts\",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part-9-1.ts\"
"
    );
    let parsed = validate::validate_media_playlist(&text).expect("valid");
    assert_eq!(parsed.segments[1].discontinuity_sequence, 1);
    assert_eq!(parsed.open_parts.len(), 1);
}

#[test]
fn plain_hls_playlist_has_no_ll_tags_and_drops_independence_on_forced_cuts() {
    let date = UNIX_EPOCH;
    let listed = [
        Arc::new(Segment::new(
            0,
            vec![part(180_000, false)],
            false,
            0,
            date,
            true,
        )),
        Arc::new(Segment::new(
            1,
            vec![part(180_000, false)],
            false,
            0,
            date + Duration::from_secs(2),
            false,
        )),
    ];
    let text = render(&PlaylistParams {
        target_duration_s: 2,
        part_target_ticks: None,
        listed: &listed,
        open: None,
        next_msn: 2,
        discontinuity_sequence: 0,
        parts_from_msn: 0,
    });
    for tag in [
        "PART",
        "SERVER-CONTROL",
        "PRELOAD-HINT",
        "INDEPENDENT-SEGMENTS",
    ] {
        assert!(!text.contains(tag), "{tag} in {text}");
    }
    assert!(text.contains("#EXTINF:2.0,\nseg-1.ts\n"));
    validate::validate_media_playlist(&text).expect("valid");
}
