//! Webhooks (`[webhooks]`): HTTP callbacks that decide admissions and hear of departures.
//!
//! Owns: what a callback says (`Ask`, its JSON body), what its answer means (`Verdict`), each
//! shard's cache of answers (`gate`), and the callback thread (`client`): one thread with a
//! small tokio runtime doing every HTTP call, fed through a bounded queue. Must not: run a
//! call on a shard or make a shard wait for one (the shard learns answers from its inbox), or
//! grow without bound (a full queue refuses admissions as overload and drops notifications,
//! counted).

pub mod client;
pub mod gate;
pub mod shard;

use std::net::SocketAddr;

pub use client::{WebhookClient, WebhookCounters};
pub use gate::{HookGate, Lookup};
pub use shard::ShardHooks;

/// Which callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    Publish,
    Play,
    PublishDone,
    PlayDone,
    RecordDone,
}

impl Hook {
    pub const ALL: [Hook; 5] = [
        Hook::Publish,
        Hook::Play,
        Hook::PublishDone,
        Hook::PlayDone,
        Hook::RecordDone,
    ];

    /// The `action` field and the metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::Publish => "on_publish",
            Hook::Play => "on_play",
            Hook::PublishDone => "on_publish_done",
            Hook::PlayDone => "on_play_done",
            Hook::RecordDone => "on_record_done",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// Admission hooks wait for the answer; the others are notifications.
    pub fn decides(self) -> bool {
        matches!(self, Hook::Publish | Hook::Play)
    }
}

/// What a callback is about: the JSON body says it, and for admissions it is the cache key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ask {
    pub hook: Hook,
    /// `srt`, `rtmp`, `http`, `hls`, `input`.
    pub protocol: &'static str,
    pub stream: String,
    pub peer: Option<SocketAddr>,
    /// What the caller sent, by name: `stream_id` and its keys (`r`, `m`, `u`, `s`, ...) for
    /// SRT; `app`, `key`, `query` for RTMP; `path`, `query` for HTTP; extra facts for
    /// notifications (`duration_ms`, `bytes`, `path`, ...).
    pub fields: Vec<(String, String)>,
}

impl Ask {
    pub fn new(hook: Hook, protocol: &'static str, stream: &str, peer: Option<SocketAddr>) -> Ask {
        Ask {
            hook,
            protocol,
            stream: stream.to_string(),
            peer,
            fields: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, value: impl Into<String>) -> Ask {
        self.fields.push((name.to_string(), value.into()));
        self
    }

    /// The cache key of an admission: the same caller address (not port: a retry comes from
    /// a new one), protocol, stream and credentials get the same answer.
    pub fn key(&self) -> String {
        let mut k = format!(
            "{}\u{0}{}\u{0}{}\u{0}{}",
            self.hook.as_str(),
            self.protocol,
            self.peer.map(|p| p.ip().to_string()).unwrap_or_default(),
            self.stream
        );
        for (n, v) in &self.fields {
            k.push('\u{0}');
            k.push_str(n);
            k.push('=');
            k.push_str(v);
        }
        k
    }

    /// The POST body: `{"action", "stream", "protocol", "peer", ...fields}`.
    pub fn body(&self) -> Vec<u8> {
        let mut m = serde_json::Map::new();
        m.insert("action".into(), self.hook.as_str().into());
        m.insert("stream".into(), self.stream.clone().into());
        m.insert("protocol".into(), self.protocol.into());
        if let Some(p) = self.peer {
            m.insert("peer".into(), p.to_string().into());
            m.insert("ip".into(), p.ip().to_string().into());
        }
        for (n, v) in &self.fields {
            m.entry(n.clone()).or_insert_with(|| v.clone().into());
        }
        serde_json::to_vec(&serde_json::Value::Object(m)).unwrap_or_default()
    }
}

/// A callback's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A 2xx.
    Allow,
    Deny(Deny),
}

/// Why an admission callback refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deny {
    /// The callback answered with this (non-2xx) status.
    Status(u16),
    /// No answer within `webhooks.timeout_ms`.
    Timeout,
    /// Connecting or talking to it failed.
    Failed,
    /// `webhooks.max_pending` callbacks were already waiting.
    Busy,
}

impl Deny {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Deny::Status(_) => "denied",
            Deny::Timeout => "timeout",
            Deny::Failed => "failed",
            Deny::Busy => "busy",
        }
    }

    /// The SRT rejection code (libsrt `SRT_REJX_*`).
    pub fn srt_reason(self) -> crate::srt::handshake::RejectReason {
        use crate::srt::handshake::RejectReason as R;
        match self {
            Deny::Status(401) => R::Unauthorized,
            Deny::Status(404) => R::NotFound,
            Deny::Status(500..) => R::Gateway,
            Deny::Status(_) => R::Forbidden,
            Deny::Timeout | Deny::Failed => R::Gateway,
            Deny::Busy => R::Overload,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_the_port_and_tell_credentials_apart() {
        let peer = |port| Some(SocketAddr::from(([10, 0, 0, 1], port)));
        let a = Ask::new(Hook::Publish, "srt", "live/cam1", peer(5000)).with("u", "alice");
        let b = Ask::new(Hook::Publish, "srt", "live/cam1", peer(5001)).with("u", "alice");
        let c = Ask::new(Hook::Publish, "srt", "live/cam1", peer(5000)).with("u", "bob");
        let d = Ask::new(Hook::Play, "srt", "live/cam1", peer(5000)).with("u", "alice");
        assert_eq!(a.key(), b.key());
        assert_ne!(a.key(), c.key());
        assert_ne!(a.key(), d.key());
    }

    #[test]
    fn the_body_carries_the_facts_and_fields_cannot_overwrite_them() {
        let ask = Ask::new(
            Hook::Play,
            "http",
            "live/cam1",
            Some(SocketAddr::from(([127, 0, 0, 1], 4000))),
        )
        .with("query", "token=abc")
        .with("stream", "spoofed");
        let v: serde_json::Value = serde_json::from_slice(&ask.body()).unwrap();
        assert_eq!(v["action"], "on_play");
        assert_eq!(v["stream"], "live/cam1");
        assert_eq!(v["protocol"], "http");
        assert_eq!(v["peer"], "127.0.0.1:4000");
        assert_eq!(v["ip"], "127.0.0.1");
        assert_eq!(v["query"], "token=abc");
    }

    #[test]
    fn refusals_map_to_srt_codes() {
        assert_eq!(Deny::Status(401).srt_reason().code(), 1401);
        assert_eq!(Deny::Status(403).srt_reason().code(), 1403);
        assert_eq!(Deny::Status(404).srt_reason().code(), 1404);
        assert_eq!(Deny::Status(418).srt_reason().code(), 1403);
        assert_eq!(Deny::Status(500).srt_reason().code(), 1502);
        assert_eq!(Deny::Timeout.srt_reason().code(), 1502);
        assert_eq!(Deny::Busy.srt_reason().code(), 1402);
    }
}
