//! `[[outputs]]`: the relay pushes a live stream to another server (an SRT listener such as
//! srt-live-transmit, SLS or another relay) in caller mode, from the stream's last keyframe,
//! reconnecting with backoff while the stream is live and hanging up when it ends.
//!
//! Owns: one task per output (`runner.rs`) on the stream's shard (`inputs::shard_of`), its
//! reader of the stream (an HTTP-TS leg, as a switch reads its feeds) and its call from the
//! shard's endpoint (`IngestHost::srt_call` / `srt_push`), its backoff (`backoff.rs`) and its
//! status for `/v1/streams` and the metrics. Must not: hold the stream's publisher back: a
//! target slower than the stream loses packets at its own send buffer (counted), as any
//! player would.

pub mod backoff;
pub mod runner;

/// Payload of one SRT message: seven TS packets, as libsrt live mode and encoders send them.
pub const SRT_PAYLOAD: usize = 7 * 188;
