//! `[webhooks]`: HTTP callbacks that decide admissions (`on_publish`, `on_play`) and hear of
//! departures (`on_publish_done`, `on_play_done`, `on_record_done`), as the file has them and
//! validated. Read once at start-up: the callback thread starts with the relay.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::model::{in_range, invalid};
use crate::ingest::upstream::Upstream;

/// Where a callback goes: `http://host[:port]/path` (no TLS: webhook servers run next to the
/// relay, or behind a local proxy).
#[derive(Clone, PartialEq, Eq)]
pub struct HookUrl {
    pub host: String,
    pub port: u16,
    pub path_and_query: String,
    /// As written, for logs (queries masked).
    pub display: String,
}

impl std::fmt::Debug for HookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display)
    }
}

/// The callbacks, validated; with no URL set nothing is called and no thread runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub on_publish: Option<HookUrl>,
    pub on_play: Option<HookUrl>,
    pub on_publish_done: Option<HookUrl>,
    pub on_play_done: Option<HookUrl>,
    pub on_record_done: Option<HookUrl>,
    /// A decision must arrive within this (connect, request, answer head); later is a refusal.
    pub timeout: Duration,
    /// How long an admission's answer is reused for the same caller address and credentials;
    /// zero: asked every time.
    pub allow_cache: Duration,
    pub deny_cache: Duration,
    /// Callbacks queued or running at once; beyond it admissions are refused as overload and
    /// notifications dropped (both counted).
    pub max_pending: usize,
    /// A notification that fails is sent again this many times, `retry_delay` apart.
    pub notify_retries: u32,
    pub retry_delay: Duration,
}

impl WebhookSettings {
    /// Whether admissions wait for a callback.
    pub fn decides(&self) -> bool {
        self.on_publish.is_some() || self.on_play.is_some()
    }

    /// Whether any callback is set (the callback thread runs).
    pub fn any(&self) -> bool {
        self.decides()
            || self.on_publish_done.is_some()
            || self.on_play_done.is_some()
            || self.on_record_done.is_some()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct WebhooksModel {
    on_publish: String,
    on_play: String,
    on_publish_done: String,
    on_play_done: String,
    on_record_done: String,
    timeout_ms: i64,
    cache_ms: i64,
    deny_cache_ms: i64,
    max_pending: i64,
    notify_retries: i64,
    retry_delay_ms: i64,
}

impl Default for WebhooksModel {
    fn default() -> Self {
        WebhooksModel {
            on_publish: String::new(),
            on_play: String::new(),
            on_publish_done: String::new(),
            on_play_done: String::new(),
            on_record_done: String::new(),
            timeout_ms: 2000,
            cache_ms: 10_000,
            deny_cache_ms: 2000,
            max_pending: 1024,
            notify_retries: 3,
            retry_delay_ms: 1000,
        }
    }
}

pub(super) fn webhooks(m: &WebhooksModel) -> Result<WebhookSettings, ConfigError> {
    let ms = |key, v, lo, hi| in_range(key, v, lo, hi).map(Duration::from_millis);
    let s = WebhookSettings {
        on_publish: url("webhooks.on_publish", &m.on_publish)?,
        on_play: url("webhooks.on_play", &m.on_play)?,
        on_publish_done: url("webhooks.on_publish_done", &m.on_publish_done)?,
        on_play_done: url("webhooks.on_play_done", &m.on_play_done)?,
        on_record_done: url("webhooks.on_record_done", &m.on_record_done)?,
        // An SRT caller gives up after its connect timeout (libsrt: 3 s) and repeats its
        // conclusion every 250 ms meanwhile: a decision slower than that reaches nobody.
        timeout: ms("webhooks.timeout_ms", m.timeout_ms, 100, 30_000)?,
        allow_cache: ms("webhooks.cache_ms", m.cache_ms, 0, 86_400_000)?,
        deny_cache: ms("webhooks.deny_cache_ms", m.deny_cache_ms, 0, 86_400_000)?,
        max_pending: in_range("webhooks.max_pending", m.max_pending, 1, 1_000_000)? as usize,
        notify_retries: in_range("webhooks.notify_retries", m.notify_retries, 0, 100)? as u32,
        retry_delay: ms("webhooks.retry_delay_ms", m.retry_delay_ms, 10, 3_600_000)?,
    };
    Ok(s)
}

fn url(key: &'static str, text: &str) -> Result<Option<HookUrl>, ConfigError> {
    if text.is_empty() {
        return Ok(None);
    }
    let parsed = Upstream::parse(text);
    let display = parsed.as_ref().map(|u| u.to_string()).unwrap_or_default();
    match parsed {
        Ok(Upstream::Http {
            tls: false,
            host,
            port,
            path_and_query,
            ..
        }) => Ok(Some(HookUrl {
            host,
            port,
            path_and_query,
            display,
        })),
        Ok(Upstream::Http { tls: true, .. }) => Err(invalid(
            key,
            "https:// callbacks are not supported: run the webhook server next to the relay \
             (http://127.0.0.1:PORT/...) or behind a local TLS proxy",
        )),
        Ok(_) => Err(invalid(key, format!("{text:?} is not an http:// URL"))),
        Err(e) => Err(invalid(key, format!("{e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Host};
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_on(text, &Host::with_cpus(vec![0]))
    }

    #[test]
    fn off_unless_a_callback_is_set() {
        assert!(!parse("").unwrap().webhooks.any());
        assert!(
            !parse("[webhooks]\ntimeout_ms = 500")
                .unwrap()
                .webhooks
                .any()
        );
        let c = parse("[webhooks]\non_play = \"http://127.0.0.1:8000/hook/play?k=1\"").unwrap();
        let w = c.webhooks;
        let play = w.on_play.as_ref().expect("on_play");
        assert_eq!(
            (play.host.as_str(), play.port, play.path_and_query.as_str()),
            ("127.0.0.1", 8000, "/hook/play?k=1")
        );
        assert!(w.decides() && w.on_publish.is_none());
        assert_eq!(w.timeout, Duration::from_secs(2));
        assert_eq!(w.allow_cache, Duration::from_secs(10));
        assert_eq!(w.deny_cache, Duration::from_secs(2));
        assert_eq!((w.max_pending, w.notify_retries), (1024, 3));
    }

    #[test]
    fn refusals_name_the_key() {
        for (text, key, says) in [
            (
                "on_publish = \"https://h/x\"",
                "webhooks.on_publish",
                "not supported",
            ),
            (
                "on_play = \"tcp://h:1\"",
                "webhooks.on_play",
                "not an http://",
            ),
            ("on_play_done = \"http://\"", "webhooks.on_play_done", ""),
            ("timeout_ms = 99", "webhooks.timeout_ms", "at least 100"),
            ("max_pending = 0", "webhooks.max_pending", "at least 1"),
            ("cache_ms = -1", "webhooks.cache_ms", "at least 0"),
        ] {
            match parse(&format!("[webhooks]\n{text}\n")) {
                Err(ConfigError::Invalid { key: k, reason }) => {
                    assert_eq!(k, key, "{text}: {reason}");
                    assert!(reason.contains(says), "{text}: {reason}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
