//! `[[record]]`: recordings of the streams a pattern matches, written as TS segments to a
//! `path` template, with retention by age and total size. Reloadable as a whole: the rules
//! are read when a publisher session starts, so running recordings keep theirs.
//!
//! Owns: the model and its validation (errors name the key and the rule). Must not: touch
//! the file system (a directory that does not exist yet is created when recording starts).

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::model::in_range;
use crate::access::Pattern;
use crate::record::path::PathTemplate;
use crate::record::retention::Retention;

/// One `[[record]]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRule {
    /// `streams`: the stream names it records (`*` matches any run, `/` included).
    pub streams: Pattern,
    /// `path`: where each segment goes.
    pub path: PathTemplate,
    /// `segment_s`: a segment ends at the first keyframe at or after this much media.
    pub segment: Duration,
    /// `max_age_s`, `max_total_bytes` (0 = off).
    pub retention: Retention,
}

/// Ten years: any longer retention is surely a typo for 0 (off).
const MAX_AGE_S: i64 = 10 * 366 * 86_400;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RecordModel {
    streams: String,
    path: String,
    #[serde(default = "default_segment_s")]
    segment_s: i64,
    #[serde(default)]
    max_age_s: i64,
    #[serde(default)]
    max_total_bytes: i64,
}

fn default_segment_s() -> i64 {
    60
}

/// Validates the `[[record]]` list, in file order.
pub(super) fn rules(models: &[RecordModel]) -> Result<Vec<RecordRule>, ConfigError> {
    let mut out: Vec<RecordRule> = Vec::with_capacity(models.len());
    for (i, m) in models.iter().enumerate() {
        let named = |(key, reason): (&'static str, String)| ConfigError::Invalid {
            key,
            reason: format!("rule {} (streams = {:?}): {reason}", i + 1, m.streams),
        };
        let rule = rule(m).map_err(named)?;
        if let Some(j) = out
            .iter()
            .position(|r| r.streams == rule.streams && r.path == rule.path)
        {
            return Err(named((
                "record.path",
                format!(
                    "rule {} records the same streams to the same path already",
                    j + 1
                ),
            )));
        }
        out.push(rule);
    }
    Ok(out)
}

fn rule(m: &RecordModel) -> Result<RecordRule, (&'static str, String)> {
    let streams = Pattern::new(&m.streams).map_err(|e| ("record.streams", e))?;
    let path = PathTemplate::parse(&m.path).map_err(|e| ("record.path", e))?;
    if streams.as_str().contains('*') && !path.has_stream() {
        return Err((
            "record.path",
            format!(
                "{:?} must contain {{stream}}: the pattern matches many streams, whose files would mix",
                m.path
            ),
        ));
    }
    let range = |key: &'static str, v: i64, lo: i64, hi: i64| {
        in_range(key, v, lo, hi).map_err(|e| match e {
            ConfigError::Invalid { key, reason } => (key, reason),
            other => (key, other.to_string()),
        })
    };
    let segment = Duration::from_secs(range("record.segment_s", m.segment_s, 1, 86_400)?);
    let age = range("record.max_age_s", m.max_age_s, 0, MAX_AGE_S)?;
    let total = range("record.max_total_bytes", m.max_total_bytes, 0, i64::MAX)?;
    Ok(RecordRule {
        streams,
        path,
        segment,
        retention: Retention {
            max_age: (age > 0).then(|| Duration::from_secs(age)),
            max_total_bytes: (total > 0).then_some(total),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Config, ConfigError, Host};
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_on(text, &Host::with_cpus(vec![0]))
    }

    fn refusal(text: &str) -> (&'static str, String) {
        match parse(text) {
            Err(ConfigError::Invalid { key, reason }) => (key, reason),
            other => panic!("{text:?}: expected an invalid key, got {other:?}"),
        }
    }

    /// The commented `[[record]]` examples of `config.toml`, uncommented.
    fn shipped_examples() -> String {
        let text = super::super::DEFAULT_CONFIG;
        let start = text
            .find("\n# [[record]]\n")
            .expect("config.toml shows [[record]]");
        let end = text[start..]
            .find("\n# [[outputs]]:")
            .map_or(text.len(), |e| start + e);
        text[start..end]
            .lines()
            .map(|l| match l {
                "#" => "",
                l => l.strip_prefix("# ").unwrap_or(l),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn the_shipped_examples_parse() {
        let c = parse(&shipped_examples()).expect("the examples in config.toml are valid");
        assert_eq!(c.record.len(), 2);
        let r = &c.record[0];
        assert_eq!(r.streams.as_str(), "live/*");
        assert_eq!(r.segment, Duration::from_secs(60));
        assert_eq!(r.retention.max_age, Some(Duration::from_secs(7 * 86_400)));
        assert_eq!(r.retention.max_total_bytes, Some(500_000_000_000));
        assert!(parse("").unwrap().record.is_empty(), "none by default");
    }

    #[test]
    fn defaults_and_zero_turn_retention_off() {
        let c = parse("[[record]]\nstreams = \"cam\"\npath = \"/rec/cam-{time}.ts\"\n").unwrap();
        let r = &c.record[0];
        assert_eq!(r.segment, Duration::from_secs(60));
        assert!(r.retention.is_off());
    }

    #[test]
    fn refusals_name_the_key_and_the_rule() {
        let cases = [
            (
                "streams = \"\"\npath = \"/r/{stream}.ts\"",
                "record.streams",
                "1 to 512",
            ),
            (
                "streams = \"a\"\npath = \"r/{stream}.ts\"",
                "record.path",
                "absolute",
            ),
            (
                "streams = \"a\"\npath = \"/r/{stream}.mkv\"",
                "record.path",
                "end in .ts",
            ),
            (
                "streams = \"a\"\npath = \"/r/{when}.ts\"",
                "record.path",
                "{when}",
            ),
            (
                "streams = \"a/*\"\npath = \"/r/{date}.ts\"",
                "record.path",
                "{stream}",
            ),
            (
                "streams = \"a\"\npath = \"/r/x.ts\"\nsegment_s = 0",
                "record.segment_s",
                "at least 1",
            ),
            (
                "streams = \"a\"\npath = \"/r/x.ts\"\nmax_age_s = -1",
                "record.max_age_s",
                "at least 0",
            ),
            (
                "streams = \"a\"\npath = \"/r/x.ts\"\nmax_total_bytes = -5",
                "record.max_total_bytes",
                "at least 0",
            ),
        ];
        for (body, key, why) in cases {
            let (k, reason) = refusal(&format!("[[record]]\n{body}\n"));
            assert_eq!(k, key, "{body}: {reason}");
            assert!(reason.contains(why), "{body}: {reason}");
            assert!(reason.starts_with("rule 1 (streams = "), "{reason}");
        }
        let twice = "[[record]]\nstreams = \"a\"\npath = \"/r/x.ts\"\n".repeat(2);
        let (k, reason) = refusal(&twice);
        assert_eq!(k, "record.path");
        assert!(
            reason.contains("rule 2") && reason.contains("rule 1"),
            "{reason}"
        );
        match parse("[[record]]\nstreams = \"a\"\npath = \"/r/x.ts\"\nsegments = 3\n") {
            Err(ConfigError::Toml { message, .. }) => assert!(message.contains("unknown key")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_reload_may_change_the_rules() {
        let a = parse("").unwrap();
        let b = parse("[[record]]\nstreams = \"a\"\npath = \"/r/x.ts\"\n").unwrap();
        let plan = Config::reloadable_diff(&a, &b).expect("reloadable");
        assert_eq!(plan.changed, ["record"]);
        assert_eq!(plan.record.as_deref(), Some(&b.record[..]));
    }
}
