//! RTMP, sans-IO: ingest from publishers (OBS, ffmpeg `-f flv rtmp://...`) and publishing to
//! other servers (push outputs).
//!
//! Owns: one publisher connection's protocol ([`RtmpSession`]: handshake, connect, createStream,
//! publish, media out as FLV tag bodies), our own publish to a server ([`RtmpPublisher`] in
//! `client`: FLV tags from `media::flvmux` in, chunks out), the checks that stand between the
//! peer and `rml_rtmp` on both sides (`chunk_guard`, `amf_check`), and how an RTMP app and stream
//! key name a relay stream ([`publish_target`]).
//! Must not: open sockets, read the clock (`now` is an argument), spawn threads, know the relay or
//! the FLV -> TS remux. Playback over RTMP is refused: we are an ingest, players use SRT or HTTP.

#![deny(clippy::disallowed_methods)]

mod amf_check;
mod chunk_guard;
pub mod client;
pub mod name;
pub mod server;
pub mod session;
mod status;

#[cfg(test)]
mod client_tests;
#[cfg(test)]
mod interop_tests;
#[cfg(test)]
mod session_tests;

use std::time::Duration;

pub use client::{PublisherConfig, PublisherError, PublisherEvent, PublisherStats, RtmpPublisher};
pub use name::{NameError, PublishTarget, publish_target};
pub use session::RtmpSession;

/// Limits of one publisher connection.
#[derive(Debug, Clone)]
pub struct RtmpConfig {
    /// Handshake, connect and publish must all be done within this, counted from
    /// [`RtmpSession::new`] to the caller's [`RtmpSession::accept_publish`].
    pub handshake_timeout: Duration,
    /// A publishing peer that sends nothing for this long is gone.
    pub idle_timeout: Duration,
    /// A message declaring more than this closes the connection before any of it is buffered.
    /// RTMP's length field is 24 bits, so values above 16 MiB change nothing.
    pub max_message_bytes: usize,
    /// Bytes of ours the caller has not taken yet (a peer that never reads its acks and status
    /// replies); beyond this the session ends.
    pub max_pending_out: usize,
    /// The acknowledgement window we announce (Window Acknowledgement Size): the peer acks every
    /// this many bytes of ours. Our acks follow the window the peer announces.
    pub ack_window: u32,
    /// Set Peer Bandwidth we announce (limit type dynamic).
    pub peer_bandwidth: u32,
}

impl Default for RtmpConfig {
    /// nginx-rtmp's defaults where it has them (ack window 5 MB, 1 MB max message is its
    /// `max_message`; ours is larger for 4K keyframes).
    fn default() -> Self {
        RtmpConfig {
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_message_bytes: 8 << 20,
            max_pending_out: 1 << 20,
            ack_window: 5_000_000,
            peer_bandwidth: 5_000_000,
        }
    }
}

/// What the session tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RtmpEvent {
    /// The peer asked to publish `key` in application `app` (connect's `app`, e.g. "live").
    /// Answer with [`RtmpSession::accept_publish`] or [`RtmpSession::refuse_publish`].
    PublishRequested { app: String, key: String },
    /// `@setDataFrame`/`onMetaData`: whether it names a video and an audio codec.
    Metadata { video: bool, audio: bool },
    /// An FLV VIDEODATA body (frame type + codec id byte first).
    Video {
        timestamp_ms: u32,
        data: bytes::Bytes,
    },
    /// An FLV AUDIODATA body (sound format byte first).
    Audio {
        timestamp_ms: u32,
        data: bytes::Bytes,
    },
    /// The peer unpublished or said goodbye (deleteStream / FCUnpublish / closeStream).
    Finished,
}

/// Why a publish is refused; each maps to the `onStatus` code the peer sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `NetStream.Publish.BadName`: the key does not name a stream we accept.
    BadName,
    /// `NetStream.Publish.Denied`: access control said no.
    Unauthorized,
    /// `NetStream.Publish.BadName` with "already publishing" (nginx-rtmp's answer).
    Busy,
    /// `NetStream.Publish.Denied`: the relay is at its stream or publisher limit.
    Full,
}

/// Why a session ended. After any of these the driver sends what `take_output` has and closes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RtmpError {
    #[error("RTMP handshake failed: {0}")]
    HandshakeFailed(String),
    #[error("RTMP protocol error: {0}")]
    Protocol(String),
    #[error("RTMP message of {declared} bytes exceeds the {limit}-byte limit")]
    MessageTooLarge { declared: usize, limit: usize },
    #[error("RTMP {0} timeout")]
    Timeout(&'static str),
    #[error("RTMP playback is not supported (play request refused)")]
    PlayNotSupported,
    #[error("media before the publish was accepted")]
    MediaBeforePublish,
    #[error("the peer does not read: {0} bytes of output pending")]
    OutputBacklog(usize),
    #[error("input after the publish was refused")]
    Refused,
    #[error("the session has already ended")]
    Closed,
}

/// Per-session counters; plain numbers, summed by the driver.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RtmpStats {
    pub bytes_in: u64,
    /// Bytes handed to the driver by `take_output`.
    pub bytes_out: u64,
    /// RTMP messages (all types) that passed the guard.
    pub messages_in: u64,
    pub video_messages: u64,
    pub audio_messages: u64,
    pub metadata_messages: u64,
    /// Commands we do not act on (releaseStream, FCPublish, _checkbw, ...): answered by nobody.
    pub commands_ignored: u64,
    /// Messages of types rml_rtmp does not handle (shared objects, aggregates, AMF3): dropped.
    pub messages_dropped: u64,
    /// Acknowledgements we sent (every window the peer announced).
    pub acks_sent: u64,
}
