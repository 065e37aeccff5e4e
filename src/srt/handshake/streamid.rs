//! The Stream ID access-control syntax (draft-sharabayko-srt Appendix B; libsrt
//! `docs/features/access-control.md`).
//!
//! Owns: turning the caller's Stream ID bytes into a typed [`StreamId`], and back. Must not:
//! decide whether a stream may be published or played (that is relay policy); it only reports
//! what the caller asked for, or why the string is malformed.
//!
//! Accepted forms:
//! - `#!::k=v,k=v,...` with standard keys `u` user, `r` resource, `h` host, `s` session,
//!   `t` type, `m` mode (`request`, `publish`, `bidirectional`);
//! - anything not starting with `#!` (e.g. `cam1`, `live/cam1`) is a plain resource name with no
//!   mode, the form many tools send when the user types a bare path.
//!
//! Unknown keys: the draft reserves all other single-letter keys and suggests `user_*` /
//! `company_*` prefixes for custom keys; libsrt's guide leaves it to the application to ignore
//! them or reject with `SRT_REJX_KEY_NOTSUP`. We keep them, in order, in [`StreamId::extra`] so
//! policy can choose.

use std::fmt;

/// Maximum Stream ID length in bytes (draft §3.2.1.3; libsrt `CSrtConfig::MAX_SID_LENGTH`).
pub const MAX_STREAMID_LEN: usize = 512;

/// The `#!::` prefix of the keyed syntax.
const KEYED_PREFIX: &str = "#!::";

/// What the caller wants to do with the resource (`m` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamMode {
    /// `m=request`: the caller wants to receive (play). The draft's default when `m` is absent.
    Request,
    /// `m=publish`: the caller wants to send.
    Publish,
    /// `m=bidirectional`: both directions.
    Bidirectional,
}

impl StreamMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StreamMode::Request => "request",
            StreamMode::Publish => "publish",
            StreamMode::Bidirectional => "bidirectional",
        }
    }

    fn parse(s: &str) -> Option<StreamMode> {
        match s {
            "request" => Some(StreamMode::Request),
            "publish" => Some(StreamMode::Publish),
            "bidirectional" => Some(StreamMode::Bidirectional),
            _ => None,
        }
    }
}

impl fmt::Display for StreamMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed Stream ID. Fields are `None` when the key was absent.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StreamId {
    /// `r`, or the whole string in the plain form.
    pub resource: Option<String>,
    /// `u`.
    pub user: Option<String>,
    /// `h`.
    pub host: Option<String>,
    /// `s`.
    pub session: Option<String>,
    /// `t` (`stream`, `file`, `auth`, or an application type); `None` means the default `stream`.
    pub kind: Option<String>,
    /// `m`; `None` when absent (the draft's default is `request`, the relay decides).
    pub mode: Option<StreamMode>,
    /// Other keys with their values, in the order received.
    pub extra: Vec<(String, String)>,
}

/// Why a Stream ID is malformed. The listener usually answers `SRT_REJX_BAD_REQUEST` (1400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamIdError {
    #[error("stream id is {len} bytes, more than {MAX_STREAMID_LEN}")]
    TooLong { len: usize },
    #[error("stream id is not valid UTF-8")]
    InvalidUtf8,
    #[error("stream id contains a control character")]
    ControlChar,
    #[error("nested `#!:{{...}}` stream id syntax is not supported")]
    Nested,
    #[error("unknown `#!` stream id syntax")]
    UnknownSyntax,
    #[error("empty key in stream id")]
    EmptyKey,
    #[error("stream id pair without `=`")]
    MissingEquals,
    #[error("duplicate stream id key `{0}`")]
    DuplicateKey(String),
    #[error("unknown stream id mode `{0}`")]
    UnknownMode(String),
}

impl StreamId {
    /// A plain resource name, no keys.
    pub fn plain(resource: impl Into<String>) -> StreamId {
        StreamId {
            resource: Some(resource.into()),
            ..StreamId::default()
        }
    }

    /// Parses Stream ID bytes as received (padding already removed). An empty string is
    /// `Ok(None)`: libsrt sends no SID extension at all in that case, and treats both the same.
    pub fn parse(bytes: &[u8]) -> Result<Option<StreamId>, StreamIdError> {
        if bytes.len() > MAX_STREAMID_LEN {
            return Err(StreamIdError::TooLong { len: bytes.len() });
        }
        let s = std::str::from_utf8(bytes).map_err(|_| StreamIdError::InvalidUtf8)?;
        if s.chars().any(char::is_control) {
            return Err(StreamIdError::ControlChar);
        }
        if s.is_empty() {
            return Ok(None);
        }
        let Some(after_bang) = s.strip_prefix("#!") else {
            return Ok(Some(StreamId::plain(s)));
        };
        if after_bang.starts_with(":{") {
            return Err(StreamIdError::Nested);
        }
        let Some(body) = s.strip_prefix(KEYED_PREFIX) else {
            return Err(StreamIdError::UnknownSyntax);
        };
        Self::parse_pairs(body).map(Some)
    }

    fn parse_pairs(body: &str) -> Result<StreamId, StreamIdError> {
        let mut id = StreamId::default();
        if body.is_empty() {
            return Ok(id);
        }
        let mut seen: Vec<&str> = Vec::new();
        for pair in body.split(',') {
            let (key, value) = pair.split_once('=').ok_or(StreamIdError::MissingEquals)?;
            if key.is_empty() {
                return Err(StreamIdError::EmptyKey);
            }
            if seen.contains(&key) {
                return Err(StreamIdError::DuplicateKey(key.to_owned()));
            }
            seen.push(key);
            let value = value.to_owned();
            match key {
                "r" => id.resource = Some(value),
                "u" => id.user = Some(value),
                "h" => id.host = Some(value),
                "s" => id.session = Some(value),
                "t" => id.kind = Some(value),
                "m" => {
                    id.mode =
                        Some(StreamMode::parse(&value).ok_or(StreamIdError::UnknownMode(value))?);
                }
                _ => id.extra.push((key.to_owned(), value)),
            }
        }
        Ok(id)
    }

    /// Whether this Stream ID can be written back as a plain name (only a resource, which does
    /// not itself start with `#!`).
    fn is_plain(&self) -> bool {
        self.user.is_none()
            && self.host.is_none()
            && self.session.is_none()
            && self.kind.is_none()
            && self.mode.is_none()
            && self.extra.is_empty()
            && self
                .resource
                .as_deref()
                .is_some_and(|r| !r.is_empty() && !r.starts_with("#!"))
    }
}

/// Writes the canonical form: the plain name when only a resource is set, otherwise `#!::` with
/// keys in the order u, r, h, s, t, m, then extras. Values are written as they are: one with a
/// `,` does not parse back the same.
impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_plain() {
            return f.write_str(self.resource.as_deref().unwrap_or_default());
        }
        f.write_str(KEYED_PREFIX)?;
        let standard = [
            ("u", self.user.as_deref()),
            ("r", self.resource.as_deref()),
            ("h", self.host.as_deref()),
            ("s", self.session.as_deref()),
            ("t", self.kind.as_deref()),
            ("m", self.mode.map(StreamMode::as_str)),
        ];
        let pairs = standard
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .chain(self.extra.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        for (i, (k, v)) in pairs.enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> StreamId {
        StreamId::parse(s.as_bytes())
            .unwrap_or_else(|e| panic!("{s:?}: {e}"))
            .unwrap_or_else(|| panic!("{s:?}: empty"))
    }

    fn err(s: &[u8]) -> StreamIdError {
        match StreamId::parse(s) {
            Err(e) => e,
            Ok(v) => panic!("{:?} parsed as {v:?}", String::from_utf8_lossy(s)),
        }
    }

    #[test]
    fn ffmpeg_and_srt_live_transmit_forms() {
        let id = ok("#!::r=live/cam1,m=publish");
        assert_eq!(id.resource.as_deref(), Some("live/cam1"));
        assert_eq!(id.mode, Some(StreamMode::Publish));
        assert_eq!(id.user, None);
        assert!(id.extra.is_empty());

        let id = ok("#!::u=admin,r=bluesbrothers1_hi,m=publish");
        assert_eq!(id.user.as_deref(), Some("admin"));
        assert_eq!(id.resource.as_deref(), Some("bluesbrothers1_hi"));
        assert_eq!(id.mode, Some(StreamMode::Publish));

        let id = ok("#!::r=live/cam1,m=request");
        assert_eq!(id.mode, Some(StreamMode::Request));

        let id = ok("#!::u=johnny,t=file,m=publish,r=results.csv");
        assert_eq!(id.kind.as_deref(), Some("file"));
        assert_eq!(id.resource.as_deref(), Some("results.csv"));

        let id = ok("#!::u=admin,r=bluesbrothers1_hi");
        assert_eq!(id.mode, None, "absent m stays None");
    }

    #[test]
    fn plain_names_are_resources_without_mode() {
        assert_eq!(ok("cam1"), StreamId::plain("cam1"));
        assert_eq!(ok("live/cam1"), StreamId::plain("live/cam1"));
        // Plain strings are taken whole, even with characters the keyed form gives meaning to.
        assert_eq!(
            ok("live/cam1?token=abc"),
            StreamId::plain("live/cam1?token=abc")
        );
        assert_eq!(
            ok("publish:live/cam1"),
            StreamId::plain("publish:live/cam1")
        );
        assert_eq!(ok("#hash"), StreamId::plain("#hash"));
        assert_eq!(ok("a=b,c=d").mode, None, "no #!:: prefix means plain");
    }

    #[test]
    fn all_standard_keys_and_extras() {
        let id =
            ok("#!::u=bob,r=room,h=example.com,s=abc123,t=stream,m=bidirectional,user_x=1,z=2");
        assert_eq!(id.user.as_deref(), Some("bob"));
        assert_eq!(id.resource.as_deref(), Some("room"));
        assert_eq!(id.host.as_deref(), Some("example.com"));
        assert_eq!(id.session.as_deref(), Some("abc123"));
        assert_eq!(id.kind.as_deref(), Some("stream"));
        assert_eq!(id.mode, Some(StreamMode::Bidirectional));
        assert_eq!(
            id.extra,
            vec![("user_x".into(), "1".into()), ("z".into(), "2".into())]
        );
    }

    #[test]
    fn values_may_contain_equals_colon_slash_and_be_empty() {
        let id = ok("#!::r=a=b:c/d,u=");
        assert_eq!(id.resource.as_deref(), Some("a=b:c/d"));
        assert_eq!(id.user.as_deref(), Some(""));
        assert_eq!(ok("#!::"), StreamId::default());
        assert_eq!(ok("#!::r=caf\u{e9}").resource.as_deref(), Some("caf\u{e9}"));
    }

    #[test]
    fn empty_is_none() {
        assert_eq!(StreamId::parse(b""), Ok(None));
    }

    #[test]
    fn rejections() {
        assert_eq!(err(b"#!::r=\xff\xfe"), StreamIdError::InvalidUtf8);
        assert_eq!(err(b"#!:{r=live}"), StreamIdError::Nested);
        assert_eq!(err(b"#!:{u=a,{r=b}}"), StreamIdError::Nested);
        assert_eq!(err(b"#!x"), StreamIdError::UnknownSyntax);
        assert_eq!(err(b"#!:r=a"), StreamIdError::UnknownSyntax);
        assert_eq!(err(b"#!"), StreamIdError::UnknownSyntax);
        assert_eq!(err(b"#!::=live"), StreamIdError::EmptyKey);
        assert_eq!(err(b"#!::r=a,=b"), StreamIdError::EmptyKey);
        assert_eq!(err(b"#!::r"), StreamIdError::MissingEquals);
        assert_eq!(
            err(b"#!::r=a,"),
            StreamIdError::MissingEquals,
            "trailing comma"
        );
        assert_eq!(err(b"#!::r=a,,m=publish"), StreamIdError::MissingEquals);
        assert_eq!(err(b"#!::r=a,r=b"), StreamIdError::DuplicateKey("r".into()));
        assert_eq!(err(b"#!::x=1,x=2"), StreamIdError::DuplicateKey("x".into()));
        assert_eq!(
            err(b"#!::r=a,m=play"),
            StreamIdError::UnknownMode("play".into())
        );
        assert_eq!(
            err(b"#!::r=a,m=Publish"),
            StreamIdError::UnknownMode("Publish".into()),
            "modes are case-sensitive like libsrt's examples"
        );
        assert_eq!(err(b"#!::r=a\nb"), StreamIdError::ControlChar);
        assert_eq!(err(b"cam\x001"), StreamIdError::ControlChar);
        assert_eq!(err(b"cam\x7f"), StreamIdError::ControlChar);
    }

    #[test]
    fn length_limit() {
        let at_limit = format!("#!::r={}", "a".repeat(MAX_STREAMID_LEN - 6));
        assert_eq!(at_limit.len(), MAX_STREAMID_LEN);
        assert!(StreamId::parse(at_limit.as_bytes()).is_ok());
        let over = format!("{at_limit}b");
        assert_eq!(
            err(over.as_bytes()),
            StreamIdError::TooLong {
                len: MAX_STREAMID_LEN + 1
            }
        );
        // Length is checked before UTF-8, so a huge garbage blob fails cheaply.
        assert_eq!(err(&[0xff; 600]), StreamIdError::TooLong { len: 600 });
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "cam1",
            "live/cam1",
            "#!::r=live/cam1,m=publish",
            "#!::u=admin,r=bluesbrothers1_hi,m=publish",
            "#!::u=bob,r=room,h=example.com,s=abc123,t=stream,m=bidirectional,user_x=1",
            "#!::m=request",
            "#!::",
        ] {
            let id = ok(s);
            assert_eq!(id.to_string(), s);
            assert_eq!(ok(&id.to_string()), id);
        }
        // A resource alone prints plain, even when it arrived keyed.
        assert_eq!(ok("#!::r=live/cam1").to_string(), "live/cam1");
        // ... unless the plain form would be mistaken for the keyed syntax.
        let tricky = StreamId::plain("#!::x");
        assert_eq!(tricky.to_string(), "#!::r=#!::x");
        assert_eq!(ok(&tricky.to_string()), tricky);
    }
}
