//! `[[outputs]]`: the relay pushes a live stream to another server, from the stream's last
//! keyframe, reconnecting with backoff while the stream is live and hanging up when it ends:
//! an SRT listener (srt-live-transmit, SLS, another relay) in caller mode, byte for byte, or an
//! RTMP server (nginx-rtmp, Twitch, YouTube) as FLV (`rtmp.rs`: `media::flvmux` and
//! `rtmp::RtmpPublisher` over the shard's TCP stream).
//!
//! Owns: one task per output (`runner.rs`) on the stream's shard (`inputs::shard_of`), its
//! reader of the stream (an HTTP-TS leg, as a switch reads its feeds) and its call from the
//! shard's endpoint (`IngestHost::srt_call` / `srt_push`), its backoff (`backoff.rs`) and its
//! status for `/v1/streams` and the metrics. Must not: hold the stream's publisher back: a
//! target slower than the stream loses packets at its own send buffer (counted), as any
//! player would.

pub mod backoff;
mod rtmp;
pub mod runner;

/// Payload of one SRT message: seven TS packets, as libsrt live mode and encoders send them.
pub const SRT_PAYLOAD: usize = 7 * 188;
