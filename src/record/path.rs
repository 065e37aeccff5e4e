//! Recording file names: the `path` template of a `[[record]]` rule (`{stream}`, `{date}`,
//! `{time}`), rendered for one segment, and recognised again when retention looks for the
//! files a rule wrote.
//!
//! Owns: template syntax and validation, the stream name made safe for a path, UTC dates
//! without a calendar crate, the sequence suffix that keeps two segments from sharing a name.
//! Must not: touch the file system or read the clock (times come in).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Templates longer than this are surely mistakes (Linux `PATH_MAX` is 4096 with the stream).
const MAX_TEMPLATE_LEN: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Lit(String),
    /// The stream name, `/` and a leading `.` made `_` ([`safe_stream`]).
    Stream,
    /// `YYYY-MM-DD`, UTC.
    Date,
    /// `HHMMSS`, UTC.
    Time,
}

/// A validated `path` template: absolute, ending in `.ts`, no `.`/`..`/empty components, only
/// the three placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    pieces: Vec<Piece>,
}

impl PathTemplate {
    pub fn parse(text: &str) -> Result<PathTemplate, String> {
        if text.is_empty() || text.len() > MAX_TEMPLATE_LEN {
            return Err(format!("must be 1 to {MAX_TEMPLATE_LEN} bytes long"));
        }
        if text.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        if !text.starts_with('/') {
            return Err(format!("{text:?} must be an absolute path"));
        }
        if !text.ends_with(".ts") {
            return Err(format!("{text:?} must end in .ts"));
        }
        for c in text[1..].split('/') {
            if c.is_empty() || c == "." || c == ".." {
                return Err(format!("{text:?} has an empty, `.` or `..` path component"));
            }
        }
        if text.rsplit('/').next() == Some(".ts") {
            return Err(format!("{text:?}: the file name needs more than .ts"));
        }
        let mut pieces = Vec::new();
        let mut rest = text;
        let mut lit = String::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('{') {
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("{text:?}: a `{{` without its `}}`"))?;
                let piece = match &after[..end] {
                    "stream" => Piece::Stream,
                    "date" => Piece::Date,
                    "time" => Piece::Time,
                    other => {
                        return Err(format!(
                            "{text:?}: unknown placeholder {{{other}}} (there are {{stream}}, {{date}}, {{time}})"
                        ));
                    }
                };
                if !lit.is_empty() {
                    pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                pieces.push(piece);
                rest = &after[end + 1..];
            } else if rest.starts_with('}') {
                return Err(format!("{text:?}: a `}}` without its `{{`"));
            } else {
                let c = rest.chars().next().expect("not empty");
                lit.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
        if !lit.is_empty() {
            pieces.push(Piece::Lit(lit));
        }
        Ok(PathTemplate {
            text: text.to_string(),
            pieces,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn has_stream(&self) -> bool {
        self.pieces.contains(&Piece::Stream)
    }

    /// The file of a segment of `stream` that starts at `at`; `seq` > 0 adds `-{seq}` before
    /// `.ts` (another segment already has the name).
    pub fn render(&self, stream: &str, at: SystemTime, seq: u32) -> PathBuf {
        let (date, time) = utc(at);
        let mut s = String::with_capacity(self.text.len() + stream.len());
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => s.push_str(l),
                Piece::Stream => s.push_str(&safe_stream(stream)),
                Piece::Date => s.push_str(&date),
                Piece::Time => s.push_str(&time),
            }
        }
        if seq > 0 {
            s.truncate(s.len() - ".ts".len());
            s.push_str(&format!("-{seq}.ts"));
        }
        PathBuf::from(s)
    }

    /// The directory under which every file of `stream` lies, and how many components below
    /// it they are: what retention walks.
    pub fn root(&self, stream: &str) -> (PathBuf, usize) {
        let mut fixed = String::new();
        for p in &self.pieces {
            match p {
                Piece::Lit(l) => fixed.push_str(l),
                Piece::Stream => fixed.push_str(&safe_stream(stream)),
                Piece::Date | Piece::Time => break,
            }
        }
        // A stream name cannot add components: `/` is made safe.
        let cut = fixed.rfind('/').expect("absolute");
        let root = if cut == 0 { "/" } else { &fixed[..cut] };
        let depth = self.text.matches('/').count() - fixed[..cut].matches('/').count() - 1;
        (PathBuf::from(root), depth + 1)
    }

    /// Whether `path` is a file this template gives `stream` (any date, time and sequence).
    pub fn matches(&self, stream: &str, path: &Path) -> bool {
        let Some(s) = path.to_str() else {
            return false;
        };
        let Some(s) = s.strip_suffix(".ts") else {
            return false;
        };
        if self.matches_stem(stream, s) {
            return true;
        }
        // The sequence suffix: `-` and digits, not starting with 0.
        match s.rsplit_once('-') {
            Some((stem, seq))
                if !seq.is_empty()
                    && !seq.starts_with('0')
                    && seq.bytes().all(|b| b.is_ascii_digit()) =>
            {
                self.matches_stem(stream, stem)
            }
            _ => false,
        }
    }

    fn matches_stem(&self, stream: &str, mut s: &str) -> bool {
        let last = self.pieces.len() - 1;
        for (i, p) in self.pieces.iter().enumerate() {
            let want: &str = match p {
                Piece::Lit(l) if i == last => l.strip_suffix(".ts").expect("validated"),
                Piece::Lit(l) => l,
                Piece::Stream => {
                    let safe = safe_stream(stream);
                    match s.strip_prefix(safe.as_str()) {
                        Some(r) => {
                            s = r;
                            continue;
                        }
                        None => return false,
                    }
                }
                Piece::Date => "dddd-dd-dd",
                Piece::Time => "dddddd",
            };
            let is_digits = matches!(p, Piece::Date | Piece::Time);
            if s.len() < want.len() {
                return false;
            }
            let (head, tail) = s.split_at_checked(want.len()).unwrap_or(("", s));
            let ok = if is_digits {
                head.bytes().zip(want.bytes()).all(|(h, w)| {
                    if w == b'd' {
                        h.is_ascii_digit()
                    } else {
                        h == w
                    }
                })
            } else {
                head == want
            };
            if !ok || head.len() != want.len() {
                return false;
            }
            s = tail;
        }
        s.is_empty()
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A stream name as one path component: `/` (and control characters) become `_`, and so does
/// a leading `.` (no hidden files, no `..`).
pub fn safe_stream(stream: &str) -> String {
    let mut s: String = stream
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    if s.starts_with('.') {
        s.replace_range(..1, "_");
    }
    if s.is_empty() {
        s.push('_');
    }
    s
}

/// `(YYYY-MM-DD, HHMMSS)` of `t` in UTC; times before 1970 are 1970-01-01.
pub fn utc(t: SystemTime) -> (String, String) {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 to a proleptic Gregorian date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(utc(t(0)), ("1970-01-01".into(), "000000".into()));
        // 2000-02-29 23:59:59 (a leap day in a century year divisible by 400).
        assert_eq!(utc(t(951_868_799)), ("2000-02-29".into(), "235959".into()));
        // 2024-12-31 12:34:56
        assert_eq!(
            utc(t(1_735_648_496)),
            ("2024-12-31".into(), "123456".into())
        );
        assert_eq!(
            utc(t(1_735_689_600)),
            ("2025-01-01".into(), "000000".into())
        );
    }

    #[test]
    fn renders_placeholders_and_the_sequence_suffix() {
        let p = PathTemplate::parse("/rec/{stream}/{date}/{stream}-{time}.ts").unwrap();
        let at = t(1_735_648_496);
        assert_eq!(
            p.render("live/cam1", at, 0),
            Path::new("/rec/live_cam1/2024-12-31/live_cam1-123456.ts")
        );
        assert_eq!(
            p.render("live/cam1", at, 2),
            Path::new("/rec/live_cam1/2024-12-31/live_cam1-123456-2.ts")
        );
        assert_eq!(safe_stream("../etc"), "_._etc");
        assert_eq!(safe_stream(".hidden"), "_hidden");
        assert_eq!(safe_stream(""), "_");
    }

    #[test]
    fn refuses_bad_templates_with_the_rule() {
        for (bad, why) in [
            ("rec/{stream}.ts", "absolute"),
            ("/rec/{stream}.mp4", "end in .ts"),
            ("/rec/{name}.ts", "unknown placeholder {name}"),
            ("/rec/{stream.ts", "without its"),
            ("/rec/}{stream}.ts", "without its"),
            ("/rec/../{stream}.ts", "`..`"),
            ("/rec//{stream}.ts", "empty"),
            ("/rec/.ts", "more than .ts"),
            ("/rec/\n{stream}.ts", "control"),
            ("", "1 to"),
        ] {
            let e = PathTemplate::parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn recognises_its_own_files_only() {
        let p = PathTemplate::parse("/rec/{stream}/{date}/{time}.ts").unwrap();
        let at = t(1_735_648_496);
        for seq in [0, 1, 17] {
            assert!(p.matches("a/b", &p.render("a/b", at, seq)));
        }
        assert!(!p.matches("a/c", &p.render("a/b", at, 0)), "another stream");
        for other in [
            "/rec/a_b/2024-12-31/123456.mp4",
            "/rec/a_b/2024-12-31/12345x.ts",
            "/rec/a_b/2024-12-31/123456-01.ts",
            "/rec/a_b/2024-12-31/123456-.ts",
            "/rec/a_b/2024-12-31/notes.ts",
            "/rec/a_b/2024-12-31/sub/123456.ts",
            "/rec/a_b/123456.ts",
        ] {
            assert!(!p.matches("a/b", Path::new(other)), "{other}");
        }
        assert_eq!(p.root("a/b"), (PathBuf::from("/rec/a_b"), 2));
        let flat = PathTemplate::parse("/rec/{stream}-{date}.ts").unwrap();
        assert_eq!(flat.root("x"), (PathBuf::from("/rec"), 1));
        assert!(flat.matches("x", Path::new("/rec/x-2024-01-02-3.ts")));
        let top = PathTemplate::parse("/{stream}.ts").unwrap();
        assert_eq!(top.root("x"), (PathBuf::from("/"), 1));
        assert!(top.matches("x", Path::new("/x-1.ts")));
    }
}
