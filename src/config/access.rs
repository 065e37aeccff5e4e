//! `[access]` as the file has it, and its validation into [`AccessConfig`].
//!
//! Owns: the access defaults (repeated in `config.toml`), the `session_ttl` duration syntax and
//! every check on tokens and patterns. Must not: let a token into an error message or a `Debug`
//! line: errors name the entry by its position and `name`, never by its token.

use std::collections::HashSet;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use crate::access::{AccessConfig, Pattern, Secret, TokenRule};

/// Tokens shorter than this are guessable; 16 characters of a random string are not.
const MIN_TOKEN_LEN: usize = 16;
const MAX_TOKEN_LEN: usize = 1024;
/// A session TTL between one second and a day.
const MIN_TTL: Duration = Duration::from_secs(1);
const MAX_TTL: Duration = Duration::from_secs(86_400);
const MAX_SESSIONS: i64 = 1_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct AccessModel {
    session_ttl: String,
    max_sessions: i64,
    open_streams: Vec<String>,
    open_request_streams: Vec<String>,
    tokens: Vec<TokenModel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenModel {
    name: String,
    token: String,
    #[serde(default)]
    publish: Vec<String>,
    #[serde(default)]
    request: Vec<String>,
}

impl Default for AccessModel {
    fn default() -> Self {
        AccessModel {
            session_ttl: "5m".into(),
            max_sessions: 10_000,
            open_streams: Vec::new(),
            open_request_streams: Vec::new(),
            tokens: Vec::new(),
        }
    }
}

impl fmt::Debug for TokenModel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenModel")
            .field("name", &self.name)
            .field("token", &crate::access::mask(&self.token))
            .field("publish", &self.publish)
            .field("request", &self.request)
            .finish()
    }
}

pub(super) fn access(m: &AccessModel) -> Result<AccessConfig, ConfigError> {
    let session_ttl = parse_duration(&m.session_ttl)
        .filter(|d| (MIN_TTL..=MAX_TTL).contains(d))
        .ok_or_else(|| {
            let reason = format!(
                "{:?} is not a duration between 1s and 24h, such as \"5m\", \"90s\" or \"1h\"",
                m.session_ttl
            );
            invalid("access.session_ttl", reason)
        })?;
    if !(1..=MAX_SESSIONS).contains(&m.max_sessions) {
        let reason = format!("must be between 1 and {MAX_SESSIONS}");
        return Err(invalid("access.max_sessions", reason));
    }
    let mut tokens = Vec::with_capacity(m.tokens.len());
    let mut names = HashSet::new();
    let mut secrets = HashSet::new();
    for (i, t) in m.tokens.iter().enumerate() {
        let at = |what: String| {
            let reason = format!("entry {} ({:?}): {what}", i + 1, t.name);
            invalid("access.tokens", reason)
        };
        if t.name.is_empty() || t.name.chars().any(char::is_control) {
            return Err(at("`name` must be non-empty text".into()));
        }
        if !names.insert(t.name.as_str()) {
            return Err(at("`name` is used by an earlier entry".into()));
        }
        let len = t.token.chars().count();
        if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&len) {
            return Err(at(format!(
                "`token` must be {MIN_TOKEN_LEN} to {MAX_TOKEN_LEN} characters long"
            )));
        }
        // It travels in an `Authorization` header.
        if !t.token.chars().all(|c| c.is_ascii_graphic()) {
            return Err(at("`token` must be printable ASCII without spaces".into()));
        }
        if !secrets.insert(t.token.as_str()) {
            return Err(at("`token` is the same as an earlier entry's".into()));
        }
        if t.publish.is_empty() && t.request.is_empty() {
            return Err(at(
                "grants nothing: give it `publish` and/or `request` patterns".into(),
            ));
        }
        tokens.push(TokenRule {
            name: t.name.clone(),
            token: Secret::new(t.token.clone()),
            publish: patterns(&t.publish).map_err(|e| at(format!("`publish`: {e}")))?,
            request: patterns(&t.request).map_err(|e| at(format!("`request`: {e}")))?,
        });
    }
    Ok(AccessConfig {
        session_ttl,
        max_sessions: m.max_sessions as usize,
        open_streams: patterns(&m.open_streams).map_err(|e| invalid("access.open_streams", e))?,
        open_request_streams: patterns(&m.open_request_streams)
            .map_err(|e| invalid("access.open_request_streams", e))?,
        tokens,
    })
}

/// `"300ms"`, `"90s"`, `"5m"`, `"1h"`: a whole number and one unit.
pub(super) fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = t.split_at(split);
    let n: u64 = number.parse().ok()?;
    let ms_per_unit = match unit {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return None,
    };
    n.checked_mul(ms_per_unit).map(Duration::from_millis)
}

fn patterns(list: &[String]) -> Result<Vec<Pattern>, String> {
    list.iter().map(|p| Pattern::new(p)).collect()
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::parse_duration;
    use crate::access::Mode;
    use crate::config::{Config, ConfigError, Host};

    const TOKEN: &str = "s3cr3t-0123456789abcdef";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_on(text, &Host::with_cpus(vec![0]))
    }

    fn error(text: &str) -> String {
        match parse(text) {
            Ok(_) => panic!("{text:?} should be refused"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_leave_access_control_off() {
        let c = parse("").unwrap().access;
        assert_eq!(c.session_ttl, Duration::from_secs(300));
        assert_eq!(c.max_sessions, 10_000);
        assert!(c.tokens.is_empty());
        assert!(c.is_open("anything", Mode::Publish));
    }

    #[test]
    fn tokens_as_tables_parse_and_never_show_in_debug() {
        let text = format!(
            "[access]\nsession_ttl = \"2m\"\nopen_request_streams = [\"watch/*\"]\n\
             [[access.tokens]]\nname = \"studio\"\ntoken = \"{TOKEN}\"\npublish = [\"live/*\"]\n\
             [[access.tokens]]\nname = \"viewer\"\ntoken = \"viewer-0123456789abcdef\"\n\
             request = [\"live/*\"]\n"
        );
        let c = parse(&text).unwrap().access;
        assert_eq!(c.session_ttl, Duration::from_secs(120));
        assert_eq!(c.tokens.len(), 2);
        assert!(c.tokens[0].allows("live/x", Mode::Publish));
        assert!(!c.tokens[1].allows("live/x", Mode::Publish));
        assert!(c.is_open("watch/x", Mode::Request));
        let debug = format!("{c:?}");
        assert!(!debug.contains(TOKEN), "{debug}");
        assert!(debug.contains("s3cr…"), "{debug}");
    }

    #[test]
    fn every_access_error_names_its_key_and_hides_the_token() {
        let token = |name: &str, token: &str, rest: &str| {
            format!("[[access.tokens]]\nname = \"{name}\"\ntoken = \"{token}\"\n{rest}\n")
        };
        let good = "publish = [\"*\"]";
        let cases = [
            (
                "[access]\nsession_ttl = \"5 minutes\"".to_string(),
                "access.session_ttl",
                "duration",
            ),
            (
                "[access]\nsession_ttl = \"0s\"".into(),
                "access.session_ttl",
                "1s and 24h",
            ),
            (
                "[access]\nsession_ttl = \"25h\"".into(),
                "access.session_ttl",
                "1s and 24h",
            ),
            (
                "[access]\nmax_sessions = 0".into(),
                "access.max_sessions",
                "between 1",
            ),
            (
                "[access]\nopen_streams = [\"\"]".into(),
                "access.open_streams",
                "1 to 512",
            ),
            (
                "[access]\nopen_request_streams = [\"a\\nb\"]".into(),
                "access.open_request_streams",
                "control",
            ),
            (
                token("short", "tooshort", good),
                "access.tokens",
                "16 to 1024",
            ),
            (token("", TOKEN, good), "access.tokens", "`name`"),
            (
                token("sp", "has spaces in it 0123", good),
                "access.tokens",
                "printable",
            ),
            (token("none", TOKEN, ""), "access.tokens", "grants nothing"),
            (
                token("bad", TOKEN, "request = [\"\"]"),
                "access.tokens",
                "`request`",
            ),
            (
                token("a", TOKEN, good) + &token("a", "another-0123456789abc", good),
                "access.tokens",
                "earlier entry",
            ),
            (
                token("a", TOKEN, good) + &token("b", TOKEN, good),
                "access.tokens",
                "same as an earlier",
            ),
        ];
        for (text, key, words) in cases {
            let e = error(&text);
            assert!(e.contains(&format!("`{key}`")), "{text:?}: {e}");
            assert!(e.contains(words), "{text:?}: {e}");
            assert!(!e.contains(TOKEN), "token leaked: {e}");
        }
        let e = error(&token("x", TOKEN, "publish = [\"*\"]\nwrite = [\"*\"]"));
        assert!(e.contains("unknown key"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1500ms"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2h"), Some(Duration::from_secs(7200)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("-5m"), None);
        assert_eq!(parse_duration("5 m"), None);
        assert_eq!(parse_duration("99999999999999999999h"), None);
    }
}
