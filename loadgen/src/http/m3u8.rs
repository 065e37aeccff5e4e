//! The part of HLS playlists (RFC 8216, and its LL-HLS additions in draft-pantos-hls-rfc8216bis)
//! a live player needs: target duration, media sequence, segments with their durations and
//! program date-times, partial segments, server control (blocking reload), end list; and the
//! variant URIs of a multivariant playlist.
//!
//! Owns: parsing text into numbers and URIs, PROGRAM-DATE-TIME to Unix milliseconds. Must not:
//! resolve URIs or decide what to fetch (the player does).

#[derive(Debug, Clone, PartialEq)]
pub enum Playlist {
    /// A multivariant (master) playlist: its variant stream URIs in order.
    Multivariant(Vec<String>),
    Media(MediaPlaylist),
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaPlaylist {
    pub target_duration: f64,
    pub media_sequence: u64,
    pub segments: Vec<Segment>,
    /// Parts of the segment still being written (its media sequence number is one past the
    /// last complete segment's).
    pub trailing_parts: Vec<Part>,
    /// When trailing parts exist: that segment's program date-time in Unix ms, if known.
    pub trailing_pdt_ms: Option<f64>,
    pub part_target: Option<f64>,
    /// EXT-X-SERVER-CONTROL CAN-BLOCK-RELOAD=YES: `_HLS_msn`/`_HLS_part` requests wait.
    pub can_block_reload: bool,
    pub endlist: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub msn: u64,
    pub uri: String,
    pub duration: f64,
    /// Start of the segment in Unix milliseconds: its own PROGRAM-DATE-TIME, or the last one
    /// before it plus the durations in between (RFC 8216 §4.3.2.6).
    pub pdt_ms: Option<f64>,
    pub parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub uri: String,
    pub duration: f64,
    pub independent: bool,
}

impl MediaPlaylist {
    /// Media sequence number of the segment after the last complete one.
    pub fn next_msn(&self) -> u64 {
        self.media_sequence + self.segments.len() as u64
    }
}

pub fn parse(text: &str) -> Result<Playlist, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some("#EXTM3U") {
        return Err("not a playlist: no #EXTM3U first line".into());
    }
    let mut pl = MediaPlaylist::default();
    let mut variants = Vec::new();
    let mut stream_inf = false;
    let mut have_target = false;
    let mut inf: Option<f64> = None;
    let mut pending_pdt: Option<f64> = None;
    let mut next_pdt: Option<f64> = None;
    let mut parts: Vec<Part> = Vec::new();
    for line in lines {
        if let Some(tag) = line.strip_prefix('#') {
            let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
            match name {
                "EXT-X-TARGETDURATION" => {
                    pl.target_duration = number(name, value)?;
                    have_target = true;
                }
                "EXT-X-MEDIA-SEQUENCE" => {
                    pl.media_sequence = value
                        .parse()
                        .map_err(|_| format!("{name}: bad number {value:?}"))?;
                }
                "EXTINF" => {
                    let d = value.split(',').next().unwrap_or("");
                    inf = Some(number(name, d)?);
                }
                "EXT-X-PROGRAM-DATE-TIME" => {
                    pending_pdt = Some(
                        parse_date_time_ms(value)
                            .ok_or_else(|| format!("{name}: bad date-time {value:?}"))?,
                    );
                }
                "EXT-X-PART" => {
                    let a = attributes(value);
                    let uri = attr(&a, "URI").ok_or("EXT-X-PART without URI")?;
                    let duration = number(
                        name,
                        attr(&a, "DURATION").ok_or("EXT-X-PART without DURATION")?,
                    )?;
                    parts.push(Part {
                        uri: uri.to_string(),
                        duration,
                        independent: attr(&a, "INDEPENDENT") == Some("YES"),
                    });
                }
                "EXT-X-PART-INF" => {
                    let a = attributes(value);
                    if let Some(t) = attr(&a, "PART-TARGET") {
                        pl.part_target = Some(number(name, t)?);
                    }
                }
                "EXT-X-SERVER-CONTROL" => {
                    pl.can_block_reload =
                        attr(&attributes(value), "CAN-BLOCK-RELOAD") == Some("YES");
                }
                "EXT-X-ENDLIST" => pl.endlist = true,
                "EXT-X-STREAM-INF" => stream_inf = true,
                _ => {}
            }
            continue;
        }
        // A URI line.
        if stream_inf {
            variants.push(line.to_string());
            stream_inf = false;
            continue;
        }
        let duration = inf
            .take()
            .ok_or_else(|| format!("segment {line:?} without EXTINF"))?;
        let pdt_ms = pending_pdt.take().or(next_pdt);
        next_pdt = pdt_ms.map(|t| t + duration * 1000.0);
        pl.segments.push(Segment {
            msn: pl.media_sequence + pl.segments.len() as u64,
            uri: line.to_string(),
            duration,
            pdt_ms,
            parts: std::mem::take(&mut parts),
        });
    }
    if !variants.is_empty() {
        return Ok(Playlist::Multivariant(variants));
    }
    if !have_target {
        return Err("media playlist without EXT-X-TARGETDURATION".into());
    }
    if !parts.is_empty() {
        pl.trailing_pdt_ms = pending_pdt.or(next_pdt);
        pl.trailing_parts = parts;
    }
    Ok(Playlist::Media(pl))
}

fn number(tag: &str, v: &str) -> Result<f64, String> {
    v.trim()
        .parse::<f64>()
        .ok()
        .filter(|x| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| format!("{tag}: bad number {v:?}"))
}

/// An attribute list (RFC 8216 §4.2): `KEY=value,KEY="quoted, with commas"`.
fn attributes(s: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            match q.split_once('"') {
                Some((v, n)) => (v, n),
                None => (q, ""),
            }
        } else {
            after.split_once(',').map_or((after, ""), |(v, n)| (v, n))
        };
        out.push((key.trim(), value));
        rest = next.strip_prefix(',').unwrap_or(next);
    }
    out
}

fn attr<'a>(a: &[(&'a str, &'a str)], key: &str) -> Option<&'a str> {
    a.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// `YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|+hhmm|-hh...)` (ISO 8601 as RFC 8216 §4.3.2.6 uses it)
/// to Unix milliseconds.
pub fn parse_date_time_ms(s: &str) -> Option<f64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut frac = 0.0;
    if b.get(i) == Some(&b'.') {
        let start = i + 1;
        i = start;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == start {
            return None;
        }
        frac = format!("0.{}", &s[start..i]).parse().ok()?;
    }
    let offset_min = match b.get(i) {
        None => 0, // no zone: taken as UTC
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let z = &s[i + 1..];
            let (zh, zm) = match z.len() {
                5 if z.as_bytes()[2] == b':' => (&z[..2], &z[3..]),
                4 => (&z[..2], &z[2..]),
                2 => (z, "00"),
                _ => return None,
            };
            let m = zh.parse::<i64>().ok()? * 60 + zm.parse::<i64>().ok()?;
            if sign == b'+' { m } else { -m }
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs as f64 * 1000.0 + frac * 1000.0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(text: &str) -> MediaPlaylist {
        match parse(text).unwrap() {
            Playlist::Media(m) => m,
            other => panic!("not media: {other:?}"),
        }
    }

    #[test]
    fn ffmpeg_live_playlist() {
        // As ffmpeg 5.1's hls muxer writes it with -hls_flags program_date_time.
        let m = media(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:41\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-12-03T05:37:48.120+0000\n#EXTINF:2.000000,\nseg41.ts\n\
             #EXT-X-PROGRAM-DATE-TIME:2026-12-03T05:37:50.120+0000\n#EXTINF:1.960000,\nseg42.ts\n\
             #EXTINF:2.040000,\nseg43.ts\n",
        );
        assert_eq!(
            (m.target_duration, m.media_sequence, m.next_msn()),
            (2.0, 41, 44)
        );
        let msns: Vec<u64> = m.segments.iter().map(|s| s.msn).collect();
        assert_eq!(msns, [41, 42, 43]);
        assert_eq!(m.segments[1].uri, "seg42.ts");
        let t41 = parse_date_time_ms("2026-12-03T05:37:48.120Z").unwrap();
        assert_eq!(m.segments[0].pdt_ms, Some(t41));
        assert_eq!(m.segments[1].pdt_ms, Some(t41 + 2000.0));
        // No tag of its own: the previous one plus its duration.
        assert!((m.segments[2].pdt_ms.unwrap() - (t41 + 3960.0)).abs() < 1e-6);
        assert!(!m.can_block_reload && !m.endlist && m.trailing_parts.is_empty());
    }

    #[test]
    fn low_latency_playlist_with_parts() {
        let m = media(
            "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-VERSION:6\n\
             #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0,CAN-SKIP-UNTIL=24\n\
             #EXT-X-PART-INF:PART-TARGET=0.33334\n#EXT-X-MEDIA-SEQUENCE:266\n\
             #EXT-X-PROGRAM-DATE-TIME:2019-02-14T02:13:36.106Z\n\
             #EXTINF:4.00008,\nfileSequence266.mp4\n\
             #EXT-X-PART:DURATION=0.33334,URI=\"filePart267.0.mp4\",INDEPENDENT=YES\n\
             #EXT-X-PART:DURATION=0.33334,URI=\"filePart267.1.mp4\"\n\
             #EXTINF:0.66668,\nfileSequence267.mp4\n\
             #EXT-X-PART:DURATION=0.33334,URI=\"filePart268.0.mp4\",INDEPENDENT=YES\n\
             #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"filePart268.1.mp4\"\n",
        );
        assert!(m.can_block_reload);
        assert_eq!(m.part_target, Some(0.33334));
        assert_eq!(m.segments.len(), 2);
        assert_eq!(m.segments[1].parts.len(), 2);
        assert!(m.segments[1].parts[0].independent && !m.segments[1].parts[1].independent);
        assert_eq!(m.trailing_parts.len(), 1);
        assert_eq!(m.trailing_parts[0].uri, "filePart268.0.mp4");
        assert_eq!(m.next_msn(), 268);
        let t = parse_date_time_ms("2019-02-14T02:13:36.106Z").unwrap();
        assert!((m.trailing_pdt_ms.unwrap() - (t + 4000.08 + 666.68)).abs() < 1e-6);
    }

    #[test]
    fn multivariant_and_errors() {
        assert_eq!(
            parse(
                "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=5000000,CODECS=\"avc1.64001f,mp4a.40.2\"\nlive/index.m3u8\n"
            ),
            Ok(Playlist::Multivariant(vec!["live/index.m3u8".into()]))
        );
        assert!(parse("").is_err());
        assert!(parse("<html>").is_err());
        assert!(
            parse("#EXTM3U\n#EXTINF:2,\na.ts\n")
                .unwrap_err()
                .contains("TARGETDURATION")
        );
        assert!(
            parse("#EXTM3U\n#EXT-X-TARGETDURATION:2\na.ts\n")
                .unwrap_err()
                .contains("EXTINF")
        );
        assert!(parse("#EXTM3U\n#EXT-X-TARGETDURATION:x\n").is_err());
        let m = media("#EXTM3U\r\n#EXT-X-TARGETDURATION:6\r\n#EXT-X-ENDLIST\r\n");
        assert!(m.endlist && m.segments.is_empty());
    }

    #[test]
    fn date_times() {
        assert_eq!(parse_date_time_ms("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_date_time_ms("1970-01-01T00:00:01.5Z"), Some(1500.0));
        assert_eq!(parse_date_time_ms("1970-01-01T01:00:00+01:00"), Some(0.0));
        assert_eq!(
            parse_date_time_ms("1970-01-01T00:00:00-0130"),
            Some(5_400_000.0)
        );
        // 2000-03-01 (after a leap day): 11017 days.
        assert_eq!(
            parse_date_time_ms("2000-03-01T00:00:00Z"),
            Some(11_017.0 * 86_400_000.0)
        );
        assert_eq!(
            parse_date_time_ms("2026-12-03T05:37:48.120+0000"),
            Some(1_796_276_268_120.0)
        );
        for bad in [
            "",
            "2026-12-03",
            "2026-13-01T00:00:00Z",
            "2026-12-03T00:00:00.Z",
            "2026-12-03T00:00:00Q",
        ] {
            assert_eq!(parse_date_time_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn quoted_attributes_keep_their_commas() {
        let a = attributes("URI=\"a,b.mp4\",DURATION=0.5,INDEPENDENT=YES");
        assert_eq!(
            a,
            [
                ("URI", "a,b.mp4"),
                ("DURATION", "0.5"),
                ("INDEPENDENT", "YES")
            ]
        );
    }
}
