//! `[[outputs]]`: streams the relay pushes to other servers while they are live, as the file
//! has them and validated. Reloadable as a whole: the engine applies the diff.
//!
//! Owns: the model and each output's checks (errors name the key and the output). Must not:
//! open, resolve or connect anything.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::model::{MAX_TIMEOUT_MS, in_range};
use crate::ingest::upstream::Upstream;

/// Outputs in one file: each is a task and a connection.
pub const MAX_OUTPUTS: usize = 256;

/// Where an output pushes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputTarget {
    /// `srt://host:port?streamid=...&passphrase=...&latency=...`: the relay calls and sends,
    /// as `srt-live-transmit file://con srt://...` would. Always an [`Upstream::Srt`] (the
    /// same URL rules as an `srt://` input; `Display` masks the passphrase).
    Srt(Upstream),
    /// `rtmp://host[:port]/app/key`: the relay publishes the stream as FLV (H.264 and AAC
    /// remuxed from the TS), as OBS would to Twitch or YouTube.
    Rtmp(RtmpTarget),
}

/// An RTMP push target. `Display` masks the stream key.
#[derive(Clone, PartialEq, Eq)]
pub struct RtmpTarget {
    pub host: String,
    pub port: u16,
    /// Everything between the host and the last `/` (`live`, `app`, `live2`, `a/b`).
    pub app: String,
    /// The last path segment, query included (`KEY`, `KEY?bandwidthtest=true`).
    pub key: String,
    /// `rtmp://host[:port]/app`, the connect command's tcUrl.
    pub tc_url: String,
}

impl std::fmt::Debug for RtmpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RtmpTarget({self})")
    }
}

impl std::fmt::Display for RtmpTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/***", self.tc_url)
    }
}

impl RtmpTarget {
    /// `rtmp://host[:port]/app[/more]/key`; `rtmps://` is refused (no TLS push yet).
    pub fn parse(url: &str) -> Result<RtmpTarget, String> {
        let rest = url
            .strip_prefix("rtmp://")
            .ok_or("rtmp://host[:port]/app/key (rtmps:// is not supported)")?;
        let (authority, path) = rest
            .split_once('/')
            .ok_or("needs /app/key after the host")?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                let port = p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?;
                (h.trim_matches(['[', ']']), port)
            }
            _ => (authority.trim_matches(['[', ']']), 1935),
        };
        if host.is_empty() || port == 0 {
            return Err("needs a host and a port above 0".into());
        }
        let (app, key) = path
            .rsplit_once('/')
            .ok_or("needs both an application and a stream key: rtmp://host/app/key")?;
        if app.is_empty() || key.is_empty() || url.chars().any(|c| c.is_control() || c == ' ') {
            return Err("needs both an application and a stream key: rtmp://host/app/key".into());
        }
        Ok(RtmpTarget {
            host: host.to_string(),
            port,
            app: app.to_string(),
            key: key.to_string(),
            tc_url: format!("rtmp://{authority}/{app}"),
        })
    }
}

impl std::fmt::Display for OutputTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutputTarget::Srt(u) => u.fmt(f),
            OutputTarget::Rtmp(r) => r.fmt(f),
        }
    }
}

/// One `[[outputs]]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputConfig {
    /// The stream it pushes (any publisher's: SRT, RTMP, an input, a main/backup switch).
    pub stream: String,
    pub target: OutputTarget,
    /// The first wait after a failed or lost connection; doubled per failure in a row up to
    /// `max_retry_delay`, back to this after a connection that delivered.
    pub retry_delay: Duration,
    pub max_retry_delay: Duration,
    pub connect_timeout: Duration,
}

/// The file's form of one output. By-hand `Debug`: URLs may carry passphrases.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct OutputModel {
    stream: String,
    url: String,
    retry_delay_ms: i64,
    max_retry_delay_ms: i64,
    connect_timeout_ms: i64,
}

impl Default for OutputModel {
    fn default() -> Self {
        OutputModel {
            stream: String::new(),
            url: String::new(),
            retry_delay_ms: 1000,
            max_retry_delay_ms: 30_000,
            connect_timeout_ms: 5000,
        }
    }
}

impl std::fmt::Debug for OutputModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputModel")
            .field("stream", &self.stream)
            .field("url", &"<url>")
            .field("retry_delay_ms", &self.retry_delay_ms)
            .field("max_retry_delay_ms", &self.max_retry_delay_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .finish()
    }
}

type Refusal = (&'static str, String);

/// Validates the `[[outputs]]` list, in file order.
pub(super) fn outputs(models: &[OutputModel]) -> Result<Vec<OutputConfig>, ConfigError> {
    if models.len() > MAX_OUTPUTS {
        return Err(ConfigError::Invalid {
            key: "outputs",
            reason: format!("{} outputs; at most {MAX_OUTPUTS}", models.len()),
        });
    }
    let mut out: Vec<OutputConfig> = Vec::with_capacity(models.len());
    for (i, m) in models.iter().enumerate() {
        let n = i + 1;
        let named = |(key, reason): Refusal| ConfigError::Invalid {
            key,
            reason: format!("output {n} (stream = {:?}): {reason}", m.stream),
        };
        let o = output(m).map_err(named)?;
        if let Some(j) = out
            .iter()
            .position(|p| p.stream == o.stream && p.target == o.target)
        {
            return Err(named((
                "outputs.url",
                format!("output {} pushes this stream there too", j + 1),
            )));
        }
        out.push(o);
    }
    Ok(out)
}

fn ms(key: &'static str, v: i64, lo: i64) -> Result<Duration, Refusal> {
    in_range(key, v, lo, MAX_TIMEOUT_MS)
        .map(Duration::from_millis)
        .map_err(|e| match e {
            ConfigError::Invalid { key, reason } => (key, reason),
            other => (key, other.to_string()),
        })
}

fn output(m: &OutputModel) -> Result<OutputConfig, Refusal> {
    if m.stream.is_empty() || m.stream.len() > 512 || m.stream.chars().any(char::is_control) {
        return Err((
            "outputs.stream",
            "must be 1 to 512 bytes long, without control characters".into(),
        ));
    }
    if m.url.is_empty() {
        return Err((
            "outputs.url",
            "missing: url = \"srt://host:port?streamid=...\"".into(),
        ));
    }
    let target = if m.url.starts_with("rtmp://") || m.url.starts_with("rtmps://") {
        OutputTarget::Rtmp(RtmpTarget::parse(&m.url).map_err(|e| ("outputs.url", e))?)
    } else {
        match Upstream::parse(&m.url) {
            Ok(u @ Upstream::Srt { .. }) => OutputTarget::Srt(u),
            Ok(u) => {
                return Err((
                    "outputs.url",
                    format!(
                        "{} URLs cannot be pushed to; outputs take srt:// and rtmp://",
                        u.kind()
                    ),
                ));
            }
            Err(e) => return Err(("outputs.url", e.to_string())),
        }
    };
    let retry_delay = ms("outputs.retry_delay_ms", m.retry_delay_ms, 1)?;
    let max_retry_delay = ms("outputs.max_retry_delay_ms", m.max_retry_delay_ms, 1)?;
    if max_retry_delay < retry_delay {
        return Err((
            "outputs.max_retry_delay_ms",
            "must be at least retry_delay_ms".into(),
        ));
    }
    Ok(OutputConfig {
        stream: m.stream.clone(),
        target,
        retry_delay,
        max_retry_delay,
        connect_timeout: ms("outputs.connect_timeout_ms", m.connect_timeout_ms, 100)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Host};
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_on(text, &Host::with_cpus(vec![0]))
    }

    fn model(url: &str) -> OutputModel {
        OutputModel {
            stream: "live/cam1".into(),
            url: url.into(),
            ..OutputModel::default()
        }
    }

    #[test]
    fn the_shipped_example_parses() {
        let text = super::super::DEFAULT_CONFIG;
        let start = text
            .find("\n# [[outputs]]\n")
            .expect("config.toml shows [[outputs]]");
        let end = start
            + text[start..]
                .find("\n# [[inputs]]:")
                .expect("inputs follow");
        let example: Vec<&str> = text[start..end]
            .lines()
            .map(|l| match l {
                "#" => "",
                l => l.strip_prefix("# ").unwrap_or(l),
            })
            .collect();
        let c = parse(&example.join("\n")).expect("the example is valid");
        assert_eq!(c.outputs.len(), 1);
        let o = &c.outputs[0];
        assert_eq!(o.stream, "live/news");
        assert_eq!(o.max_retry_delay, Duration::from_secs(30));
        assert!(
            matches!(&o.target, OutputTarget::Srt(Upstream::Srt { latency: Some(l), .. }) if l.as_millis() == 200)
        );
        assert!(parse("").unwrap().outputs.is_empty(), "none by default");
    }

    #[test]
    fn srt_targets_are_taken_other_kinds_and_bad_values_are_refused_by_name() {
        let ok = outputs(&[model(
            "srt://127.0.0.1:9000?streamid=%23%21%3A%3Ar%3Dx%2Cm%3Dpublish&passphrase=0123456789ab",
        )])
        .expect("valid");
        assert_eq!(ok[0].retry_delay, Duration::from_secs(1));
        let shown = ok[0].target.to_string();
        assert!(
            !shown.contains("0123456789ab"),
            "passphrase masked: {shown}"
        );
        let refused = |m: OutputModel| match outputs(&[m]) {
            Err(ConfigError::Invalid { key, reason }) => (key, reason),
            other => panic!("{other:?}"),
        };
        assert_eq!(refused(model("tcp://127.0.0.1:9")).0, "outputs.url");
        let r = outputs(&[model("rtmp://live.example.com/app/SECRETKEY")]).expect("rtmp");
        match &r[0].target {
            OutputTarget::Rtmp(t) => {
                assert_eq!(
                    (t.host.as_str(), t.port, t.app.as_str()),
                    ("live.example.com", 1935, "app")
                );
                assert_eq!(t.key, "SECRETKEY");
                assert_eq!(t.tc_url, "rtmp://live.example.com/app");
            }
            other => panic!("{other:?}"),
        }
        assert!(!r[0].target.to_string().contains("SECRETKEY"), "key masked");
        let t = RtmpTarget::parse("rtmp://127.0.0.1:1936/a/b/k?x=1").unwrap();
        assert_eq!(
            (t.port, t.app.as_str(), t.key.as_str()),
            (1936, "a/b", "k?x=1")
        );
        for bad in [
            "rtmps://h/a/k",
            "rtmp://h/k",
            "rtmp://h",
            "rtmp://:1/a/k",
            "rtmp://h:x/a/k",
        ] {
            assert_eq!(refused(model(bad)).0, "outputs.url", "{bad}");
        }
        assert_eq!(refused(model("")).0, "outputs.url");
        let mut m = model("srt://h:1");
        m.max_retry_delay_ms = 10;
        assert_eq!(refused(m).0, "outputs.max_retry_delay_ms");
        let mut m = model("srt://h:1");
        m.stream = "a\u{1f}b".into();
        assert_eq!(refused(m).0, "outputs.stream");
        let (key, reason) = match outputs(&[model("srt://h:1"), model("srt://h:1")]) {
            Err(ConfigError::Invalid { key, reason }) => (key, reason),
            other => panic!("{other:?}"),
        };
        assert_eq!(key, "outputs.url");
        assert!(reason.contains("output 1"), "{reason}");
    }
}
