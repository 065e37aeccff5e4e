//! Streams: the registry shared by the shards (`registry`), each shard's streams and fan-out
//! (`fanout`), the per-stream ring (`ring`), TS framing checks (`ts`) and the cross-shard
//! handoff (`handoff`). The shard loop (`shard::engine`) drives them; nothing here reads the
//! clock or touches a socket.

pub mod fanout;
pub mod handoff;
pub mod registry;
pub mod ring;
pub mod ts;

use crate::srt::handshake::{StreamId, StreamMode};

/// The resource and mode a caller asks for: `#!::r=...,m=...`, a plain `name`, or nothing (the
/// default stream). Without `m`, a caller plays (`request`), as the draft's default.
pub fn resolve(stream_id: Option<&StreamId>, default_stream: &str) -> (String, StreamMode) {
    let resource = stream_id
        .and_then(|s| s.resource.clone())
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| default_stream.to_string());
    let mode = stream_id
        .and_then(|s| s.mode)
        .unwrap_or(StreamMode::Request);
    (resource, mode)
}
