//! `[[inputs]]`: streams the relay pulls from upstreams instead of waiting for a publisher,
//! as the file has them and validated. Reloadable as a whole: the engine applies the diff.
//!
//! Owns: the model, each input's checks (errors name the key and the input), the checks
//! across inputs (one input per stream, one stdin per process, no UDP port of `srt.listen`),
//! that every `file://` upstream exists and a `tls_ca_file` holds certificates. Those checks read the file system, once per load,
//! so `--check-config`, start-up and a SIGHUP refuse a missing file with its path instead of
//! an input failing later in a log line. Must not: open, resolve or connect anything.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::model::{MAX_TIMEOUT_MS, in_range};
use super::rtmp::overlaps;
use crate::ingest::upstream::Upstream;

/// Upstreams per input: a failover list, not a directory.
pub const MAX_UPSTREAMS: usize = 64;

/// One `[[inputs]]` table, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputConfig {
    /// The stream it publishes.
    pub stream: String,
    /// `url` or `urls`, in file order (at least one).
    pub upstreams: Vec<Upstream>,
    /// Try the upstreams in an order shuffled once at start, rather than file order.
    pub shuffle: bool,
    /// After an upstream ended or stalled (or a whole round failed), wait this long before
    /// the next; `None` (0 in the file): stay offline instead.
    pub retry_delay: Option<Duration>,
    /// No data for this long and the upstream counts as ended.
    pub stall_timeout: Duration,
    pub connect_timeout: Duration,
    /// Start on the first player instead of with the relay, stop `idle_stop` after the last.
    pub on_demand: bool,
    pub idle_stop: Duration,
    /// `loop`: `file://` upstreams start over at their end.
    pub looped: bool,
    /// CA certificates (PEM) an `https://` upstream must chain to, instead of the system's.
    pub tls_ca_file: Option<PathBuf>,
    /// Started by `[cluster]` (an edge pulling a stream another node serves), not the file:
    /// its publisher is a replica the directory does not claim.
    pub edge: bool,
}

/// The file's form of one input. By-hand `Debug`: URLs may carry tokens.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct InputModel {
    stream: String,
    url: Option<String>,
    urls: Option<Vec<String>>,
    shuffle: bool,
    retry_delay_ms: i64,
    stall_timeout_ms: i64,
    connect_timeout_ms: i64,
    on_demand: bool,
    idle_stop_ms: i64,
    #[serde(rename = "loop")]
    looped: bool,
    tls_ca_file: Option<PathBuf>,
}

impl Default for InputModel {
    fn default() -> Self {
        InputModel {
            stream: String::new(),
            url: None,
            urls: None,
            shuffle: true,
            retry_delay_ms: 3000,
            stall_timeout_ms: 5000,
            connect_timeout_ms: 5000,
            on_demand: false,
            idle_stop_ms: 30_000,
            looped: false,
            tls_ca_file: None,
        }
    }
}

impl std::fmt::Debug for InputModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.urls.as_ref().map_or(0, Vec::len) + usize::from(self.url.is_some());
        f.debug_struct("InputModel")
            .field("stream", &self.stream)
            .field("urls", &format_args!("<{n} URLs>"))
            .field("shuffle", &self.shuffle)
            .field("retry_delay_ms", &self.retry_delay_ms)
            .field("stall_timeout_ms", &self.stall_timeout_ms)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .field("on_demand", &self.on_demand)
            .field("idle_stop_ms", &self.idle_stop_ms)
            .field("loop", &self.looped)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

/// Validates the `[[inputs]]` list, in file order. `srt_listen`: UDP ports a `udp://`
/// upstream must not receive on.
pub(super) fn inputs(
    models: &[InputModel],
    srt_listen: &[SocketAddr],
) -> Result<Vec<InputConfig>, ConfigError> {
    let mut out: Vec<InputConfig> = Vec::with_capacity(models.len());
    for (i, m) in models.iter().enumerate() {
        let n = i + 1;
        let named = |(key, reason): (&'static str, String)| ConfigError::Invalid {
            key,
            reason: format!("input {n} (stream = {:?}): {reason}", m.stream),
        };
        let input = input(m, srt_listen).map_err(named)?;
        if let Some(j) = out.iter().position(|o| o.stream == input.stream) {
            return Err(named((
                "inputs.stream",
                format!(
                    "input {} publishes this stream too; one input per stream",
                    j + 1
                ),
            )));
        }
        let stdin_elsewhere = out
            .iter()
            .position(|o| o.upstreams.contains(&Upstream::Stdin));
        if let Some(j) = stdin_elsewhere.filter(|_| input.upstreams.contains(&Upstream::Stdin)) {
            let reason = format!(
                "stdin is an upstream of input {} (stream = {:?}) too; the relay has one stdin",
                j + 1,
                out[j].stream
            );
            return Err(named(("inputs.urls", reason)));
        }
        out.push(input);
    }
    Ok(out)
}

type Refusal = (&'static str, String);

fn input(m: &InputModel, srt_listen: &[SocketAddr]) -> Result<InputConfig, Refusal> {
    if m.stream.is_empty() || m.stream.len() > 512 {
        return Err(("inputs.stream", "must be 1 to 512 bytes long".into()));
    }
    if m.stream.chars().any(char::is_control) {
        return Err((
            "inputs.stream",
            "must not contain control characters".into(),
        ));
    }
    let (key, urls): (&'static str, &[String]) = match (&m.url, &m.urls) {
        (Some(_), Some(_)) => {
            return Err(("inputs.urls", "give `url` or `urls`, not both".into()));
        }
        (Some(url), None) => ("inputs.url", std::slice::from_ref(url)),
        (None, Some(urls)) => ("inputs.urls", urls),
        (None, None) => (
            "inputs.urls",
            &[][..], // refused just below, with the usage
        ),
    };
    if urls.is_empty() || urls.len() > MAX_UPSTREAMS {
        let reason = format!(
            "needs 1 to {MAX_UPSTREAMS} upstreams: url = \"srt://host:port\" or \
             urls = [\"...\", \"...\"]"
        );
        return Err((key, reason));
    }
    let mut upstreams: Vec<Upstream> = Vec::with_capacity(urls.len());
    for (i, url) in urls.iter().enumerate() {
        let at = |reason: String| (key, format!("URL {}: {reason}", i + 1));
        let u = Upstream::parse(url).map_err(|e| at(e.to_string()))?;
        if let Some(j) = upstreams.iter().position(|o| *o == u) {
            return Err(at(format!("the same as URL {}", j + 1)));
        }
        check_local(&u, srt_listen).map_err(at)?;
        if m.looped && !matches!(u, Upstream::File(_)) {
            let reason = format!(
                "URL {} is {}: only file:// upstreams can loop",
                i + 1,
                u.kind()
            );
            return Err(("inputs.loop", reason));
        }
        upstreams.push(u);
    }
    if let Some(path) = &m.tls_ca_file {
        if !upstreams
            .iter()
            .any(|u| matches!(u, Upstream::Http { tls: true, .. }))
        {
            return Err((
                "inputs.tls_ca_file",
                "only https:// upstreams use it, and this input has none".into(),
            ));
        }
        // Read now so a bad path or a file without certificates is refused at load.
        crate::inputs::tls::load_pem(path).map_err(|e| ("inputs.tls_ca_file", e.to_string()))?;
    }
    Ok(InputConfig {
        stream: m.stream.clone(),
        upstreams,
        shuffle: m.shuffle,
        retry_delay: Some(ms("inputs.retry_delay_ms", m.retry_delay_ms, 0)?)
            .filter(|d| !d.is_zero()),
        stall_timeout: ms("inputs.stall_timeout_ms", m.stall_timeout_ms, 500)?,
        connect_timeout: ms("inputs.connect_timeout_ms", m.connect_timeout_ms, 100)?,
        on_demand: m.on_demand,
        idle_stop: ms("inputs.idle_stop_ms", m.idle_stop_ms, 0)?,
        looped: m.looped,
        tls_ca_file: m.tls_ca_file.clone(),
        edge: false,
    })
}

/// What this machine can tell at load: the file exists and is not a directory; a UDP
/// receiver does not take an SRT port (both would bind it with `SO_REUSEPORT`).
fn check_local(u: &Upstream, srt_listen: &[SocketAddr]) -> Result<(), String> {
    match u {
        Upstream::File(path) => match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => Err(format!("{} is a directory", path.display())),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("{}: {e}", path.display())),
        },
        Upstream::Udp { group_or_addr, .. } => {
            match srt_listen.iter().find(|l| overlaps(**l, *group_or_addr)) {
                Some(l) => Err(format!(
                    "receives UDP on port {}, which `srt.listen` ({l}) uses",
                    group_or_addr.port()
                )),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

fn ms(key: &'static str, v: i64, lo: i64) -> Result<Duration, Refusal> {
    in_range(key, v, lo, MAX_TIMEOUT_MS)
        .map(Duration::from_millis)
        .map_err(|e| match e {
            ConfigError::Invalid { key, reason } => (key, reason),
            other => (key, other.to_string()),
        })
}

#[cfg(test)]
#[path = "inputs_tests.rs"]
mod tests;
