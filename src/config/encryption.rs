//! `[[encryption]]`: passphrases and key policy per stream pattern, separately for publishers
//! and subscribers (the relay decrypts a publisher's stream once and encrypts it again for
//! each subscriber with the subscribers' passphrase).
//!
//! Owns: the rule model, its validation (errors name the key and the rule), pattern matching
//! and [`Config::encryption_for`]. Must not: print passphrases (`Passphrase`'s `Debug` shows
//! only the length) or touch the SRT core beyond its `Encryption` policy type.

use serde::Deserialize;

use super::{Config, ConfigError};
use crate::srt::crypto::{Encryption, KeyLen, KmRefresh, Passphrase};
use crate::srt::handshake::StreamMode;

/// One `[[encryption]]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptionRule {
    /// `streams`: the resources it applies to.
    pub streams: StreamPattern,
    /// For callers with `m=publish` (and `m=bidirectional`).
    pub publisher: Encryption,
    /// For callers with `m=request`.
    pub subscriber: Encryption,
}

/// A resource pattern where `*` matches any run of characters (`/` included), everything else
/// itself: `"live/*"`, `"*/secure"`, `"*"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamPattern(String);

/// The file's form of one rule.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EncryptionModel {
    streams: String,
    #[serde(default)]
    publisher_passphrase: Option<String>,
    #[serde(default)]
    subscriber_passphrase: Option<String>,
    #[serde(default = "default_pbkeylen")]
    pbkeylen: i64,
    #[serde(default = "default_enforced")]
    enforced: bool,
    #[serde(default)]
    km_refresh_rate_pkts: Option<i64>,
    #[serde(default)]
    km_preannounce_pkts: Option<i64>,
}

fn default_pbkeylen() -> i64 {
    16
}

fn default_enforced() -> bool {
    true
}

impl Config {
    /// The encryption a caller for `resource` in `mode` is admitted with: the first
    /// `[[encryption]]` rule whose pattern matches, for its side; `None` when no rule does
    /// (then `Encryption::default()`: unencrypted, and callers that want encryption are
    /// refused with UNSECURE, as libsrt does without a passphrase).
    pub fn encryption_for(&self, resource: &str, mode: StreamMode) -> Option<&Encryption> {
        let rule = self
            .encryption
            .iter()
            .find(|r| r.streams.matches(resource))?;
        Some(match mode {
            StreamMode::Request => &rule.subscriber,
            StreamMode::Publish | StreamMode::Bidirectional => &rule.publisher,
        })
    }
}

impl StreamPattern {
    pub fn new(pattern: &str) -> StreamPattern {
        StreamPattern(pattern.to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `resource` matches: literal pieces in order, `*` spanning anything.
    pub fn matches(&self, resource: &str) -> bool {
        let mut parts = self.0.split('*');
        let first = parts.next().unwrap_or("");
        let Some(mut rest) = resource.strip_prefix(first) else {
            return false;
        };
        let parts: Vec<&str> = parts.collect();
        let Some((last, middle)) = parts.split_last() else {
            return rest.is_empty(); // no `*`: the whole pattern is literal
        };
        for part in middle {
            match rest.find(part) {
                Some(i) => rest = &rest[i + part.len()..],
                None => return false,
            }
        }
        rest.len() >= last.len() && rest.ends_with(last)
    }
}

/// Validates the `[[encryption]]` list, in file order.
pub(super) fn rules(models: &[EncryptionModel]) -> Result<Vec<EncryptionRule>, ConfigError> {
    let mut out: Vec<EncryptionRule> = Vec::with_capacity(models.len());
    for (i, m) in models.iter().enumerate() {
        let rule = rule(m).map_err(|(key, reason)| ConfigError::Invalid {
            key,
            reason: format!("rule {} (streams = {:?}): {reason}", i + 1, m.streams),
        })?;
        if out.iter().any(|r| r.streams == rule.streams) {
            return Err(ConfigError::Invalid {
                key: "encryption.streams",
                reason: format!(
                    "rule {}: {:?} is listed twice (the first rule that matches applies)",
                    i + 1,
                    m.streams
                ),
            });
        }
        out.push(rule);
    }
    Ok(out)
}

fn rule(m: &EncryptionModel) -> Result<EncryptionRule, (&'static str, String)> {
    if m.streams.is_empty() || m.streams.len() > 512 {
        return Err(("encryption.streams", "must be 1 to 512 bytes long".into()));
    }
    if m.streams.chars().any(char::is_control) {
        return Err((
            "encryption.streams",
            "must not contain control characters".into(),
        ));
    }
    let min_key_len = usize::try_from(m.pbkeylen)
        .ok()
        .and_then(KeyLen::from_bytes)
        .ok_or(("encryption.pbkeylen", "must be 16, 24 or 32".into()))?;
    let refresh = refresh(m.km_refresh_rate_pkts, m.km_preannounce_pkts)?;
    let side = |key: &'static str, pass: &Option<String>| -> Result<Encryption, _> {
        let passphrase = match pass {
            None => None,
            Some(p) => Some(Passphrase::new(p.as_str()).map_err(|e| (key, e.to_string()))?),
        };
        Ok(Encryption {
            passphrase,
            enforced: m.enforced,
            min_key_len,
            refresh,
        })
    };
    Ok(EncryptionRule {
        streams: StreamPattern::new(&m.streams),
        publisher: side("encryption.publisher_passphrase", &m.publisher_passphrase)?,
        subscriber: side("encryption.subscriber_passphrase", &m.subscriber_passphrase)?,
    })
}

fn refresh(rate: Option<i64>, pre: Option<i64>) -> Result<KmRefresh, (&'static str, String)> {
    let packets = |key: &'static str, v: i64, min: u32| {
        u32::try_from(v)
            .ok()
            .filter(|&v| v >= min)
            .ok_or((key, format!("must be between {min} and {}", u32::MAX)))
    };
    let default = KmRefresh::default();
    // At least 3: a key must outlive a pre-announce of at least one packet on each side.
    let rate_pkts = match rate {
        Some(r) => packets("encryption.km_refresh_rate_pkts", r, 3)?,
        None => default.rate_pkts,
    };
    match pre {
        None => Ok(KmRefresh::with_rate(rate_pkts)),
        Some(p) => {
            let p = packets("encryption.km_preannounce_pkts", p, 1)?;
            KmRefresh::new(rate_pkts, p).ok_or((
                "encryption.km_preannounce_pkts",
                format!(
                    "must be at most (km_refresh_rate_pkts - 1) / 2 = {}",
                    rate_pkts.saturating_sub(1) / 2
                ),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_on(text, &super::super::Host::with_cpus(vec![0]))
    }

    const TWO_RULES: &str = r#"
[[encryption]]
streams = "live/secret*"
publisher_passphrase = "publisher-pass-1"
subscriber_passphrase = "viewers-pass-22"
pbkeylen = 32

[[encryption]]
streams = "*"
publisher_passphrase = "everyone-else-1"
enforced = false
km_refresh_rate_pkts = 1024
"#;

    #[test]
    fn first_matching_rule_applies_per_side() {
        let c = parse(TWO_RULES).expect("valid");
        assert_eq!(c.encryption.len(), 2);
        let p = c
            .encryption_for("live/secret/cam", StreamMode::Publish)
            .expect("rule 1");
        assert_eq!(
            p.passphrase,
            Some(Passphrase::new("publisher-pass-1").unwrap())
        );
        assert_eq!((p.min_key_len, p.enforced), (KeyLen::Aes256, true));
        let s = c
            .encryption_for("live/secret/cam", StreamMode::Request)
            .expect("rule 1");
        assert_eq!(
            s.passphrase,
            Some(Passphrase::new("viewers-pass-22").unwrap())
        );
        // Rule 2: subscribers have no passphrase there; not enforced; refresh set.
        let s = c
            .encryption_for("other", StreamMode::Request)
            .expect("rule 2");
        assert_eq!((s.passphrase.as_ref(), s.enforced), (None, false));
        assert_eq!(s.refresh, KmRefresh::with_rate(1024));
        assert_eq!(s.refresh.preannounce_pkts, 511);
        assert!(
            parse("")
                .unwrap()
                .encryption_for("x", StreamMode::Publish)
                .is_none()
        );
    }

    #[test]
    fn patterns_match_with_stars() {
        let m = |p: &str, r: &str| StreamPattern::new(p).matches(r);
        assert!(m("*", "") && m("*", "a/b"));
        assert!(m("live/*", "live/cam") && !m("live/*", "vod/cam"));
        assert!(m("*/hd", "live/cam/hd") && !m("*/hd", "live/cam/sd"));
        assert!(m("a*b*c", "a-x-b-y-c") && !m("a*b*c", "a-c-b"));
        assert!(m("exact", "exact") && !m("exact", "exactly"));
        assert!(!m("ab*ba", "aba"), "pieces must not overlap");
    }

    #[test]
    fn errors_name_the_key_and_rule() {
        let bad = |text: &str| match parse(text) {
            Err(ConfigError::Invalid { key, reason }) => (key, reason),
            other => panic!("expected an error, got {other:?}"),
        };
        let (key, reason) =
            bad("[[encryption]]\nstreams = \"a\"\npublisher_passphrase = \"short\"\n");
        assert_eq!(key, "encryption.publisher_passphrase");
        assert!(
            reason.contains("rule 1") && reason.contains("10 to 79"),
            "{reason}"
        );
        assert!(!reason.contains("short"), "passphrase echoed: {reason}");
        let (key, _) = bad("[[encryption]]\nstreams = \"a\"\npbkeylen = 20\n");
        assert_eq!(key, "encryption.pbkeylen");
        let (key, _) = bad("[[encryption]]\nstreams = \"\"\n");
        assert_eq!(key, "encryption.streams");
        let (key, reason) = bad(
            "[[encryption]]\nstreams = \"a\"\nkm_refresh_rate_pkts = 100\nkm_preannounce_pkts = 50\n",
        );
        assert_eq!(key, "encryption.km_preannounce_pkts");
        assert!(reason.contains("49"), "{reason}");
        let (key, _) = bad("[[encryption]]\nstreams = \"a\"\n[[encryption]]\nstreams = \"a\"\n");
        assert_eq!(key, "encryption.streams");
        let (key, reason) = bad("[[encryption]]\nstreams = \"a\"\nkm_refresh_rate_pkts = 2\n");
        assert_eq!(key, "encryption.km_refresh_rate_pkts");
        assert!(reason.contains("between 3"), "{reason}");
        let unknown = parse("[[encryption]]\nstreams = \"a\"\npassphrase = \"0123456789\"\n");
        assert!(unknown.unwrap_err().to_string().contains("passphrase"));
    }

    #[test]
    fn rules_reload_as_a_whole() {
        let old = parse("").unwrap();
        let new = parse(TWO_RULES).unwrap();
        let plan = Config::reloadable_diff(&old, &new).expect("reloadable");
        assert_eq!(plan.changed, vec!["encryption"]);
        assert_eq!(plan.encryption.as_deref(), Some(&new.encryption[..]));
        let same = Config::reloadable_diff(&new, &new.clone()).unwrap();
        assert!(same.is_empty() && same.encryption.is_none());
    }

    #[test]
    fn debug_output_masks_passphrases() {
        let c = parse(TWO_RULES).expect("valid");
        let shown = format!("{c:?}");
        assert!(shown.contains("Passphrase(<16 bytes>)"), "{shown}");
        for secret in ["publisher-pass-1", "viewers-pass-22", "everyone-else-1"] {
            assert!(!shown.contains(secret), "{secret} shown");
        }
    }
}
