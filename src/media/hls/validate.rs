//! A checker of media playlist rules, for tests of what the relay serves.
//!
//! Owns: parsing a media playlist into [`ParsedPlaylist`] and refusing one that breaks a rule
//! of RFC 8216bis (draft-pantos-hls-rfc8216bis) that a server must keep: the tags it requires,
//! their placement, duration bounds of segments and parts, LL-HLS server control; and
//! checking two successive reloads against each other (§6.2.1-6.2.2: a live playlist only
//! appends, and removes from the front).
//! Must not: be lenient where the spec says MUST (it checks our output, not a player's
//! tolerance), or panic on any text. Unknown tags are ignored, as §4.1 tells clients to.
//! Durations are compared in microseconds, exactly as printed.

use std::collections::HashSet;

/// A media playlist as the rules see it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParsedPlaylist {
    pub version: Option<u64>,
    /// EXT-X-TARGETDURATION, seconds.
    pub target_duration: u64,
    pub media_sequence: u64,
    pub discontinuity_sequence: u64,
    pub independent_segments: bool,
    pub can_block_reload: bool,
    pub part_hold_back_us: Option<u64>,
    pub hold_back_us: Option<u64>,
    /// EXT-X-PART-INF PART-TARGET.
    pub part_target_us: Option<u64>,
    pub segments: Vec<ParsedSegment>,
    /// Parts after the last segment URI: the segment being built.
    pub open_parts: Vec<ParsedPart>,
    /// URI of the EXT-X-PRELOAD-HINT of TYPE=PART.
    pub preload_hint: Option<String>,
    pub endlist: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedSegment {
    pub msn: u64,
    pub uri: String,
    pub duration_us: u64,
    pub discontinuity: bool,
    /// Discontinuity Sequence Number (§4.4.3.3).
    pub discontinuity_sequence: u64,
    pub program_date_time: Option<String>,
    pub parts: Vec<ParsedPart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedPart {
    pub uri: String,
    pub duration_us: u64,
    pub independent: bool,
}

/// Parses `text` and checks it; the error names the rule (and section) it breaks.
pub fn validate_media_playlist(text: &str) -> Result<ParsedPlaylist, String> {
    let p = parse(text)?;
    check(&p)?;
    Ok(p)
}

/// Checks that `next`, a later reload of the same playlist, only moved forward from `prev`.
pub fn check_reload_continuity(prev: &ParsedPlaylist, next: &ParsedPlaylist) -> Result<(), String> {
    // §6.2.2: EXT-X-MEDIA-SEQUENCE and EXT-X-DISCONTINUITY-SEQUENCE MUST NOT decrease.
    if next.media_sequence < prev.media_sequence {
        return Err(format!(
            "media sequence went back from {} to {} (§6.2.2)",
            prev.media_sequence, next.media_sequence
        ));
    }
    if next.discontinuity_sequence < prev.discontinuity_sequence {
        return Err(format!(
            "discontinuity sequence went back from {} to {} (§6.2.2)",
            prev.discontinuity_sequence, next.discontinuity_sequence
        ));
    }
    // §6.2.1: the target duration MUST NOT change.
    if next.target_duration != prev.target_duration {
        return Err(format!(
            "EXT-X-TARGETDURATION changed from {} to {} (§6.2.1)",
            prev.target_duration, next.target_duration
        ));
    }
    for old in &prev.segments {
        let Some(new) = next.segments.iter().find(|s| s.msn == old.msn) else {
            // §6.2.2: segments leave from the front only.
            if old.msn >= next.media_sequence {
                return Err(format!(
                    "segment {} vanished from the playlist's end (§6.2.2)",
                    old.msn
                ));
            }
            continue;
        };
        if new.uri != old.uri
            || new.duration_us != old.duration_us
            || new.discontinuity != old.discontinuity
            || new.discontinuity_sequence != old.discontinuity_sequence
            || new.program_date_time != old.program_date_time
        {
            return Err(format!(
                "segment {} changed between reloads: {old:?} then {new:?} (§6.2.1)",
                old.msn
            ));
        }
        if !new.parts.is_empty() && !old.parts.is_empty() && new.parts != old.parts {
            return Err(format!(
                "the parts of segment {} changed between reloads",
                old.msn
            ));
        }
    }
    // The parts of the segment being built are a prefix of its parts once listed again.
    let open_msn = prev
        .segments
        .last()
        .map_or(prev.media_sequence, |s| s.msn + 1);
    let later = match next.segments.iter().find(|s| s.msn == open_msn) {
        Some(s) => Some(&s.parts),
        None if next
            .segments
            .last()
            .map_or(next.media_sequence, |s| s.msn + 1)
            == open_msn =>
        {
            Some(&next.open_parts)
        }
        None => None,
    };
    if let Some(later) = later.filter(|l| !l.is_empty())
        && !later.starts_with(&prev.open_parts)
    {
        return Err(format!(
            "the parts of segment {open_msn} changed between reloads: {:?} then {later:?}",
            prev.open_parts
        ));
    }
    Ok(())
}

fn check(p: &ParsedPlaylist) -> Result<(), String> {
    let td_us = p.target_duration.saturating_mul(1_000_000);
    for s in &p.segments {
        // §4.4.3.1: each EXTINF rounded to the nearest integer MUST be <= the target.
        let rounded = (s.duration_us + 500_000) / 1_000_000;
        if rounded > p.target_duration {
            return Err(format!(
                "EXTINF of {} ({} us) rounds above EXT-X-TARGETDURATION {} (§4.4.3.1)",
                s.uri, s.duration_us, p.target_duration
            ));
        }
    }
    let has_parts = !p.open_parts.is_empty() || p.segments.iter().any(|s| !s.parts.is_empty());
    match p.part_target_us {
        None if has_parts => {
            return Err("EXT-X-PART without EXT-X-PART-INF (§4.4.3.7)".into());
        }
        None => {}
        Some(pt) => check_parts(p, pt)?,
    }
    if let Some(hb) = p.hold_back_us
        && hb < 3 * td_us
    {
        return Err(format!(
            "HOLD-BACK {hb} us is under three target durations (§4.4.3.8)"
        ));
    }
    // §6.2.1: dates MUST NOT make the date-to-media mapping ambiguous; the only overlap
    // allowed is under a second, and the later segment only partly overlaps the earlier.
    let dated: Vec<(i64, &ParsedSegment)> = p
        .segments
        .iter()
        .filter_map(|s| Some((parse_date(s.program_date_time.as_deref()?).ok()?, s)))
        .collect();
    for w in dated.windows(2) {
        let ((d0, s0), (d1, s1)) = (w[0], w[1]);
        if s1.msn != s0.msn + 1 {
            continue;
        }
        let end = d0 + s0.duration_us as i64;
        let allowed = 1_000_000.min(s0.duration_us as i64);
        if d1 <= end - allowed {
            return Err(format!(
                "{} is dated {} us before {} ends: more than a partial, sub-second overlap (§6.2.1)",
                s1.uri,
                end - d1,
                s0.uri
            ));
        }
    }
    let mut uris = HashSet::new();
    let all = p
        .segments
        .iter()
        .flat_map(|s| s.parts.iter().map(|p| &p.uri).chain([&s.uri]))
        .chain(p.open_parts.iter().map(|p| &p.uri));
    for u in all {
        check_uri(u)?;
        if !uris.insert(u.as_str()) {
            return Err(format!("URI {u} is listed twice"));
        }
    }
    if let Some(h) = &p.preload_hint {
        check_uri(h)?;
        if uris.contains(h.as_str()) {
            return Err(format!(
                "the preload hint {h} names a part already listed (§4.4.5.3)"
            ));
        }
    }
    Ok(())
}

fn check_parts(p: &ParsedPlaylist, pt: u64) -> Result<(), String> {
    // §4.4.3.8: PART-HOLD-BACK is REQUIRED with EXT-X-PART-INF and MUST be at least twice
    // PART-TARGET.
    let Some(phb) = p.part_hold_back_us else {
        return Err("EXT-X-PART-INF without SERVER-CONTROL PART-HOLD-BACK (§4.4.3.8)".into());
    };
    if phb < 2 * pt {
        return Err(format!(
            "PART-HOLD-BACK {phb} us is under twice PART-TARGET {pt} us (§4.4.3.8)"
        ));
    }
    // LL-HLS clients reach new parts through blocking reload and the preload hint.
    if p.can_block_reload && p.preload_hint.is_none() && !p.endlist {
        return Err("CAN-BLOCK-RELOAD with parts but no EXT-X-PRELOAD-HINT of TYPE=PART".into());
    }
    let finished = p.segments.iter().map(|s| (&s.parts, true));
    for (parts, is_finished) in finished.chain([(&p.open_parts, false)]) {
        for (i, part) in parts.iter().enumerate() {
            // §4.4.4.9: every part MUST be at most PART-TARGET long; each at least 85 % of
            // it, except INDEPENDENT ones and the last part of a parent segment.
            if part.duration_us > pt {
                return Err(format!(
                    "part {} lasts {} us, over PART-TARGET {pt} us (§4.4.4.9)",
                    part.uri, part.duration_us
                ));
            }
            let last = is_finished && i + 1 == parts.len();
            if !part.independent && !last && part.duration_us * 100 < pt * 85 {
                return Err(format!(
                    "part {} lasts {} us, under 85 % of PART-TARGET {pt} us (§4.4.4.9)",
                    part.uri, part.duration_us
                ));
            }
        }
    }
    for s in p.segments.iter().filter(|s| !s.parts.is_empty()) {
        // A parent segment is its parts: their durations add up to its EXTINF, within the
        // 5 us rounding of each printed number.
        let sum: u64 = s.parts.iter().map(|p| p.duration_us).sum();
        let slack = 5 * (s.parts.len() as u64 + 1);
        if sum.abs_diff(s.duration_us) > slack {
            return Err(format!(
                "the parts of {} add up to {sum} us, its EXTINF says {} us",
                s.uri, s.duration_us
            ));
        }
    }
    Ok(())
}

/// A relative or absolute URI reference without characters a playlist line cannot carry.
fn check_uri(u: &str) -> Result<(), String> {
    let ok = !u.is_empty()
        && u.chars().all(|c| {
            c.is_ascii_graphic()
                && !matches!(c, '"' | '<' | '>' | '\\' | '^' | '`' | '{' | '|' | '}')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("malformed URI {u:?} (RFC 3986)"))
    }
}

/// Line-by-line parse; structural rules (§4.1, §4.4) are checked here, as they are easiest
/// to see in order.
fn parse(text: &str) -> Result<ParsedPlaylist, String> {
    let mut lines = text.lines().map(|l| l.strip_suffix('\r').unwrap_or(l));
    // §4.4.1.1: the first line MUST be EXTM3U.
    if lines.next() != Some("#EXTM3U") {
        return Err("the first line is not #EXTM3U (§4.4.1.1)".into());
    }
    let mut p = ParsedPlaylist::default();
    let mut target = None;
    let mut media_sequence = None;
    let mut discontinuity_sequence = None;
    let mut pending_inf: Option<u64> = None;
    let mut pending_disc = false;
    let mut pending_date: Option<String> = None;
    let mut pending_parts: Vec<ParsedPart> = Vec::new();
    let mut dsn_tags = 0u64;
    let mut seen_segment = false;
    let mut float_extinf = false;
    for line in lines {
        if line.is_empty() {
            continue;
        }
        if p.preload_hint.is_some()
            && (line.starts_with("#EXT-X-PART:") || line.starts_with("#EXTINF"))
        {
            return Err("media after EXT-X-PRELOAD-HINT".into());
        }
        let Some(tag) = line.strip_prefix('#') else {
            // A URI line: the segment the preceding tags describe.
            let Some(d) = pending_inf.take() else {
                return Err(format!("URI {line} without EXTINF (§4.4.4.1)"));
            };
            let base_dsn = discontinuity_sequence.unwrap_or(0);
            dsn_tags += u64::from(pending_disc);
            let msn = media_sequence.unwrap_or(0) + p.segments.len() as u64;
            p.segments.push(ParsedSegment {
                msn,
                uri: line.to_string(),
                duration_us: d,
                discontinuity: std::mem::take(&mut pending_disc),
                discontinuity_sequence: base_dsn + dsn_tags,
                program_date_time: pending_date.take(),
                parts: std::mem::take(&mut pending_parts),
            });
            seen_segment = true;
            continue;
        };
        let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
        let once = |slot: &Option<u64>| -> Result<(), String> {
            if slot.is_some() {
                Err(format!("#{name} appears twice"))
            } else {
                Ok(())
            }
        };
        let before_media = |what: &str| -> Result<(), String> {
            if seen_segment || !pending_parts.is_empty() || pending_inf.is_some() {
                Err(format!("#{what} after the first media segment (§4.4.3)"))
            } else {
                Ok(())
            }
        };
        match name {
            "EXTM3U" => return Err("#EXTM3U appears twice".into()),
            "EXT-X-VERSION" => {
                once(&p.version)?;
                p.version = Some(integer(name, value)?);
            }
            "EXT-X-TARGETDURATION" => {
                once(&target)?;
                before_media(name)?;
                target = Some(integer(name, value)?);
            }
            "EXT-X-MEDIA-SEQUENCE" => {
                once(&media_sequence)?;
                // §4.4.3.2: it MUST appear before the first Media Segment.
                before_media(name)?;
                media_sequence = Some(integer(name, value)?);
            }
            "EXT-X-DISCONTINUITY-SEQUENCE" => {
                once(&discontinuity_sequence)?;
                // §4.4.3.3: before the first Media Segment and any EXT-X-DISCONTINUITY.
                before_media(name)?;
                if pending_disc || dsn_tags > 0 {
                    return Err(
                        "#EXT-X-DISCONTINUITY-SEQUENCE after a discontinuity (§4.4.3.3)".into(),
                    );
                }
                discontinuity_sequence = Some(integer(name, value)?);
            }
            "EXT-X-INDEPENDENT-SEGMENTS" => p.independent_segments = true,
            "EXT-X-ENDLIST" => p.endlist = true,
            "EXTINF" => {
                if pending_inf.is_some() {
                    return Err("two EXTINF without a URI between them (§4.4.4.1)".into());
                }
                let d = value.split(',').next().unwrap_or("");
                float_extinf |= d.contains('.');
                pending_inf = Some(decimal_us(name, d)?);
            }
            "EXT-X-DISCONTINUITY" => pending_disc = true,
            "EXT-X-PROGRAM-DATE-TIME" => {
                parse_date(value)?;
                pending_date = Some(value.to_string());
            }
            "EXT-X-SERVER-CONTROL" => {
                for (k, v) in attributes(value)? {
                    match k.as_str() {
                        "CAN-BLOCK-RELOAD" => p.can_block_reload = v.plain() == Some("YES"),
                        "PART-HOLD-BACK" => p.part_hold_back_us = Some(attr_decimal(&k, &v)?),
                        "HOLD-BACK" => p.hold_back_us = Some(attr_decimal(&k, &v)?),
                        _ => {}
                    }
                }
            }
            "EXT-X-PART-INF" => {
                let attrs = attributes(value)?;
                let pt = attrs
                    .iter()
                    .find(|(k, _)| k == "PART-TARGET")
                    .ok_or("EXT-X-PART-INF without PART-TARGET (§4.4.3.7)")?;
                p.part_target_us = Some(attr_decimal(&pt.0, &pt.1)?);
            }
            "EXT-X-PART" => {
                let attrs = attributes(value)?;
                let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v);
                let duration = get("DURATION").ok_or("EXT-X-PART without DURATION (§4.4.4.9)")?;
                let uri = get("URI")
                    .and_then(Value::quoted)
                    .ok_or("EXT-X-PART without a quoted URI (§4.4.4.9)")?;
                let independent = match get("INDEPENDENT").map(|v| v.plain()) {
                    None => false,
                    Some(Some("YES")) => true,
                    Some(Some("NO")) => false,
                    Some(_) => return Err("EXT-X-PART INDEPENDENT is neither YES nor NO".into()),
                };
                pending_parts.push(ParsedPart {
                    uri: uri.to_string(),
                    duration_us: attr_decimal("DURATION", duration)?,
                    independent,
                });
            }
            "EXT-X-PRELOAD-HINT" => {
                let attrs = attributes(value)?;
                let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v);
                let uri = get("URI")
                    .and_then(Value::quoted)
                    .ok_or("EXT-X-PRELOAD-HINT without a quoted URI (§4.4.5.3)")?;
                match get("TYPE").and_then(Value::plain) {
                    Some("PART") => {
                        if p.preload_hint.is_some() {
                            return Err("two EXT-X-PRELOAD-HINT of TYPE=PART (§6.2.6)".into());
                        }
                        p.preload_hint = Some(uri.to_string());
                    }
                    Some("MAP") => {}
                    _ => {
                        return Err(
                            "EXT-X-PRELOAD-HINT TYPE is neither PART nor MAP (§4.4.5.3)".into()
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if pending_inf.is_some() {
        return Err("EXTINF without a URI at the end (§4.4.4.1)".into());
    }
    // §8: floating-point EXTINF needs version 3.
    if float_extinf && p.version.unwrap_or(1) < 3 {
        return Err("floating-point EXTINF needs EXT-X-VERSION 3 or higher (§8)".into());
    }
    p.target_duration = target.ok_or("no EXT-X-TARGETDURATION (§4.4.3.1)")?;
    p.media_sequence = media_sequence.unwrap_or(0);
    p.discontinuity_sequence = discontinuity_sequence.unwrap_or(0);
    p.open_parts = pending_parts;
    Ok(p)
}

/// An attribute value (§4.2): quoted-string, or anything else as written.
#[derive(Debug)]
enum Value {
    Quoted(String),
    Plain(String),
}

impl Value {
    fn quoted(&self) -> Option<&str> {
        match self {
            Value::Quoted(s) => Some(s),
            Value::Plain(_) => None,
        }
    }

    fn plain(&self) -> Option<&str> {
        match self {
            Value::Plain(s) => Some(s),
            Value::Quoted(_) => None,
        }
    }
}

/// §4.2 attribute-list: `NAME=value` pairs separated by commas, names of A-Z, 0-9 and '-'.
fn attributes(s: &str) -> Result<Vec<(String, Value)>, String> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("attribute without '=' in {s:?} (§4.2)"))?;
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("bad attribute name {name:?} (§4.2)"));
        }
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let end = q
                .find('"')
                .ok_or_else(|| format!("unterminated quoted string in {s:?}"))?;
            (Value::Quoted(q[..end].to_string()), &q[end + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (Value::Plain(after[..end].to_string()), &after[end..])
        };
        out.push((name.to_string(), value));
        rest = match tail.strip_prefix(',') {
            Some(t) if !t.is_empty() => t,
            None if tail.is_empty() => "",
            _ => return Err(format!("bad attribute list {s:?} (§4.2)")),
        };
    }
    Ok(out)
}

fn attr_decimal(name: &str, v: &Value) -> Result<u64, String> {
    match v {
        Value::Plain(s) => decimal_us(name, s),
        Value::Quoted(_) => Err(format!("{name} is quoted, it must be a number (§4.2)")),
    }
}

/// §4.2 decimal-integer: digits only, at most 20.
fn integer(name: &str, s: &str) -> Result<u64, String> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("#{name}:{s} is not a decimal-integer (§4.2)"));
    }
    s.parse()
        .map_err(|_| format!("#{name}:{s} is out of range"))
}

/// §4.2 decimal-floating-point (no sign, no exponent) in microseconds, truncated past six
/// decimals.
fn decimal_us(name: &str, s: &str) -> Result<u64, String> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || whole.len() > 12 || !digits(whole) || !digits(frac) {
        return Err(format!(
            "{name} {s:?} is not a decimal-floating-point (§4.2)"
        ));
    }
    let mut us: u64 = whole.parse::<u64>().map_err(|e| e.to_string())? * 1_000_000;
    let mut scale = 100_000;
    for b in frac.bytes().take(6) {
        us += u64::from(b - b'0') * scale;
        scale /= 10;
    }
    Ok(us)
}

/// RFC 3339 date-time (§4.4.4.6 requires ISO 8601 with a time zone; RFC 3339's profile of
/// it): `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+hh:mm|-hh:mm)`, as microseconds since 1970.
fn parse_date(s: &str) -> Result<i64, String> {
    let bad = || format!("EXT-X-PROGRAM-DATE-TIME {s:?} is not RFC 3339 (§4.4.4.6)");
    let b = s.as_bytes();
    if b.len() < 20 {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let shape = b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b'T' | b't')
        && b[13] == b':'
        && b[16] == b':';
    let (Some(y), Some(mo), Some(d), Some(h), Some(mi), Some(sec)) = (
        num(0..4),
        num(5..7),
        num(8..10),
        num(11..13),
        num(14..16),
        num(17..19),
    ) else {
        return Err(bad());
    };
    if !shape || !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60
    {
        return Err(bad());
    }
    let mut rest = &s[19..];
    let mut micros = 0;
    if let Some(f) = rest.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return Err(bad());
        }
        let mut scale = 100_000;
        for c in f.bytes().take(n.min(6)) {
            micros += i64::from(c - b'0') * scale;
            scale /= 10;
        }
        rest = &f[n..];
    }
    let offset_min = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && rest.as_bytes()[3] == b':' => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(bad()),
            };
            match (num(s.len() - 5..s.len() - 3), num(s.len() - 2..s.len())) {
                (Some(oh), Some(om)) if oh < 24 && om < 60 => sign * (oh * 60 + om),
                _ => return Err(bad()),
            }
        }
        _ => return Err(bad()),
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Ok(secs * 1_000_000 + micros)
}

/// H. Hinnant's `days_from_civil`: a proleptic Gregorian date to days since 1970-01-01.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
