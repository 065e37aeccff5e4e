//! Installing the logger: env_logger's human-readable lines by default, or one JSON object per
//! line (`log.format = "json"` / `--log-format json`) for journald and log collectors.
//!
//! Owns the logger's set-up and the JSON line format. Must not decide levels per module (that
//! is `RUST_LOG`'s job) or rate-limit (callers do, see `ratelimit`).
//!
//! `RUST_LOG`, when set, wins over `log.level`. Otherwise the logger lets everything through
//! and the level is `log::set_max_level`, so a reload can change it without re-installing the
//! logger (see [`apply_level`]).

use std::io::Write;

use log::LevelFilter;

use crate::config::LogFormat;

/// Installs the process-wide logger (once; later calls are ignored by `log`).
pub fn init(level: LevelFilter, format: LogFormat) {
    let from_env = rust_log_set();
    let mut builder = env_logger::Builder::new();
    if from_env {
        builder.parse_default_env();
    } else {
        builder.filter_level(LevelFilter::Trace);
    }
    if format == LogFormat::Json {
        builder.format(|buf, record| {
            let ts = buf.timestamp_millis().to_string();
            let line = json_line(
                &ts,
                record.level(),
                record.target(),
                &record.args().to_string(),
            );
            writeln!(buf, "{line}")
        });
    }
    // `try_init`: a second logger (tests that call this twice) is not an error worth dying on.
    let _ = builder.try_init();
    if !from_env {
        log::set_max_level(level);
    }
}

/// A reload's new `log.level`, unless `RUST_LOG` is in charge.
pub fn apply_level(level: LevelFilter) {
    if !rust_log_set() {
        log::set_max_level(level);
    }
}

/// One log record as a JSON object (no trailing newline). Keys: `ts` (RFC 3339, UTC, ms),
/// `level`, `target` (the module path), `msg`.
pub fn json_line(ts: &str, level: log::Level, target: &str, msg: &str) -> String {
    format!(
        "{{\"ts\":{},\"level\":\"{level}\",\"target\":{},\"msg\":{}}}",
        json_string(ts),
        json_string(target),
        json_string(msg),
    )
}

/// A JSON string literal (RFC 8259 §7).
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn rust_log_set() -> bool {
    std::env::var_os("RUST_LOG").is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(json_string("a\"b\\c\nd\u{1}é"), r#""a\"b\\c\nd\u0001é""#);
    }

    #[test]
    fn a_json_line_is_one_object_a_parser_reads_back() {
        let line = json_line(
            "2025-01-02T03:04:05.678Z",
            log::Level::Warn,
            "srtrelay::shard",
            "shard 0: 3 unparsable\nsecond line \"quoted\"",
        );
        assert!(!line.contains('\n'), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).expect("valid JSON");
        assert_eq!(v["ts"], "2025-01-02T03:04:05.678Z");
        assert_eq!(v["level"], "WARN");
        assert_eq!(v["target"], "srtrelay::shard");
        assert_eq!(v["msg"], "shard 0: 3 unparsable\nsecond line \"quoted\"");
    }
}
