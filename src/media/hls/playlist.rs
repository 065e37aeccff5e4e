//! Rendering the media playlist (RFC 8216bis §4), once per snapshot.
//!
//! Owns: the tag order and number formats: durations from 90 kHz ticks with five decimals at
//! most (10 µs; rounding keeps a part that fits PART-TARGET within it in print too), dates as
//! RFC 3339 UTC with milliseconds.
//! Must not: decide what is listed (the segmenter does), or read the clock.

use std::fmt::Write;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::window::{OpenSegment, Segment};
use super::{TICKS_PER_SECOND, part_uri, segment_uri};

/// What one rendering lists.
pub(crate) struct PlaylistParams<'a> {
    pub target_duration_s: u64,
    pub part_target_ticks: Option<u64>,
    /// The listed segments, ascending.
    pub listed: &'a [Arc<Segment>],
    pub open: Option<&'a OpenSegment>,
    /// The open segment's msn, or the next one's.
    pub next_msn: u64,
    pub discontinuity_sequence: u64,
    /// Listed segments from this msn on carry their EXT-X-PART tags.
    pub parts_from_msn: u64,
}

/// The playlist text.
///
/// EXT-X-VERSION 6: floating-point EXTINF needs 3 (§8), and 6 is where EXT-X-TARGETDURATION
/// means the longest EXTINF rounded to the nearest second (§4.4.3.1), the reading this
/// segmenter relies on; hls.js and Apple's LL-HLS examples use it too.
pub(crate) fn render(p: &PlaylistParams<'_>) -> String {
    let mut out = String::with_capacity(256 + p.listed.len() * 96 + 64 * 24);
    out.push_str("#EXTM3U\n#EXT-X-VERSION:6\n");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{}", p.target_duration_s);
    if let Some(pt) = p.part_target_ticks {
        // §4.4.3.8: PART-HOLD-BACK is REQUIRED with parts, at least twice PART-TARGET and
        // SHOULD be three times; blocking reload is what makes LL-HLS parts reachable.
        let _ = writeln!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={}",
            format_duration_ticks(3 * pt)
        );
        let _ = writeln!(
            out,
            "#EXT-X-PART-INF:PART-TARGET={}",
            format_duration_ticks(pt)
        );
    }
    let first = p.listed.first().map_or(p.next_msn, |s| s.msn);
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first}");
    let _ = writeln!(
        out,
        "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
        p.discontinuity_sequence
    );
    // §4.4.2.1: only when every segment starts with a key frame; a forced cut breaks that.
    let all_independent = p.listed.iter().all(|s| s.independent)
        && p.open
            .is_none_or(|o| o.parts.first().is_none_or(|f| f.independent));
    if all_independent {
        out.push_str("#EXT-X-INDEPENDENT-SEGMENTS\n");
    }
    for s in p.listed {
        if s.discontinuity {
            out.push_str("#EXT-X-DISCONTINUITY\n");
        }
        // §6.2.1: a date on every segment (it SHOULD be on each one with a discontinuity).
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            format_program_date_time(s.program_date_time)
        );
        if p.part_target_ticks.is_some() && s.msn >= p.parts_from_msn {
            write_parts(&mut out, s.msn, &s.parts);
        }
        let _ = writeln!(
            out,
            "#EXTINF:{},\n{}",
            format_duration_ticks(s.duration_ticks),
            segment_uri(s.msn)
        );
    }
    if p.part_target_ticks.is_some() {
        if let Some(o) = p.open.filter(|o| !o.parts.is_empty()) {
            // The segment being built: its tags precede its first part, as they would its URI.
            if o.discontinuity {
                out.push_str("#EXT-X-DISCONTINUITY\n");
            }
            let _ = writeln!(
                out,
                "#EXT-X-PROGRAM-DATE-TIME:{}",
                format_program_date_time(o.program_date_time)
            );
            write_parts(&mut out, o.msn, &o.parts);
        }
        let (msn, index) = p.open.map_or((p.next_msn, 0), |o| (o.msn, o.parts.len()));
        // §4.4.5.3: the part being built, so a client can ask for it before it exists.
        let _ = writeln!(
            out,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
            part_uri(msn, index)
        );
    }
    out
}

fn write_parts(out: &mut String, msn: u64, parts: &[super::Part]) {
    for (i, part) in parts.iter().enumerate() {
        let _ = write!(
            out,
            "#EXT-X-PART:DURATION={},URI=\"{}\"",
            format_duration_ticks(part.duration_ticks),
            part_uri(msn, i)
        );
        out.push_str(if part.independent {
            ",INDEPENDENT=YES\n"
        } else {
            "\n"
        });
    }
}

/// Seconds with at most five decimals (rounded to 10 µs), trailing zeros dropped but one
/// decimal kept so it reads as the decimal-floating-point §4.2 defines: 180000 -> "2.0",
/// 29970 -> "0.333", 3003 -> "0.03337".
pub fn format_duration_ticks(ticks: u64) -> String {
    // 10 µs units, rounded half up: ticks * 100000 / 90000.
    let tps = u128::from(TICKS_PER_SECOND);
    let units = (u128::from(ticks) * 100_000 + tps / 2) / tps;
    let whole = units / 100_000;
    let mut frac = format!("{:05}", units % 100_000);
    while frac.len() > 1 && frac.ends_with('0') {
        frac.pop();
    }
    format!("{whole}.{frac}")
}

/// RFC 3339 date-time in UTC with milliseconds, as §4.4.4.6 asks for
/// EXT-X-PROGRAM-DATE-TIME: `2024-05-06T07:08:09.123Z`. Times before 1970 print as 1970.
pub fn format_program_date_time(t: SystemTime) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        since.subsec_millis()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day): H. Hinnant's
/// `civil_from_days` (eras of 400 years, March-based years so the leap day comes last).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}
