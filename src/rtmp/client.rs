//! One RTMP publish connection from our side (a push output to nginx-rtmp, YouTube, another
//! relay), sans-IO: the server's bytes and `now` in; our bytes, events and a deadline out.
//!
//! Owns: the order of things as a publisher (handshake, connect with `tcUrl`, createStream,
//! publish "live", media, deleteStream), reading the server's answers (`_result`/`_error`,
//! `onStatus`) into [`PublisherEvent`]s, the setup deadline, and the caps on what the server
//! may send: every message passes `chunk_guard` (declared length, chunk streams, AMF shape)
//! before `rml_rtmp`'s `ClientSession` sees it. FLV tags from `media::flvmux` go out as audio,
//! video and `@setDataFrame` messages.
//! Must not: read the clock or touch sockets. rml_rtmp reads `SystemTime` for the timestamps of
//! its command messages (their values matter to nobody) and draws the handshake's random bytes
//! from `rand::thread_rng`; neither reaches our logic.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::rml_amf0::{self, Amf0Value};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionError, ClientSessionEvent,
    ClientSessionResult, PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;

use super::amf_check;
use super::chunk_guard::{ChunkGuard, GuardError};
use crate::media::flvmux::{FlvTag, TagKind};

/// Limits of one publish connection.
#[derive(Debug, Clone)]
pub struct PublisherConfig {
    /// Handshake, connect, createStream and publish must all be answered within this, from
    /// [`RtmpPublisher::new`].
    pub setup_timeout: Duration,
    /// A message from the server declaring more than this ends the connection before any of it
    /// is buffered. Servers send a publisher only control messages and command answers (a few
    /// hundred bytes).
    pub max_message_bytes: usize,
    /// The chunk size we send at (announced with Set Chunk Size after connect).
    pub chunk_size: u32,
    /// The acknowledgement window we announce (Window Acknowledgement Size): the server acks
    /// every this many bytes of ours (nginx-rtmp follows the window its client announces).
    pub ack_window: u32,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        PublisherConfig {
            setup_timeout: Duration::from_secs(10),
            max_message_bytes: 64 * 1024,
            chunk_size: 4096,
            ack_window: 5_000_000,
        }
    }
}

/// What the publisher tells its driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublisherEvent {
    /// The server accepted `connect`; createStream and publish are on their way.
    Connected,
    /// `NetStream.Publish.Start`: [`RtmpPublisher::send_tag`] may be called.
    Publishing,
    /// The server said no to connect, createStream or publish, or closed the connection before
    /// publishing started; the reason is its status code and description where it sent one.
    /// Nothing more will happen: close the connection.
    Refused(String),
    /// The session ended after publishing had started (the server's status, its closing the
    /// connection, or our [`RtmpPublisher::finish`]).
    Closed(String),
}

/// Why a publisher session failed. After any of these the driver closes the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublisherError {
    #[error("RTMP handshake failed: {0}")]
    HandshakeFailed(String),
    #[error("RTMP protocol error from the server: {0}")]
    Protocol(String),
    #[error("RTMP message of {declared} bytes from the server exceeds the {limit}-byte limit")]
    MessageTooLarge { declared: usize, limit: usize },
    #[error("RTMP publish setup timed out")]
    SetupTimeout,
    #[error("not publishing")]
    NotPublishing,
    #[error("tag not sendable: {0}")]
    BadTag(String),
    #[error("the session has ended")]
    Closed,
}

/// Counters of one publisher; plain numbers, summed by the driver.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PublisherStats {
    pub bytes_in: u64,
    /// Bytes handed to the driver to write.
    pub bytes_out: u64,
    pub messages_in: u64,
    pub video_tags: u64,
    pub audio_tags: u64,
    pub metadata_tags: u64,
    /// Acknowledgements the server sent (it counts our bytes in its window).
    pub acks_received: u64,
    /// Server messages nobody acts on (onBWDone, unknown results, user control, ...).
    pub messages_ignored: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Handshake,
    Connecting,
    PublishRequested,
    Publishing,
    /// Refused, closed, failed: nothing more.
    Ended,
}

/// The client side of one RTMP publish. See the module doc for what it owns.
///
/// Driving it: write [`Self::take_output`] (C0+C1) after `new`; after each read, write what
/// [`Self::handle_input`] returns and drain [`Self::poll_event`]; at EOF call
/// [`Self::handle_eof`]; sleep until [`Self::deadline`] and call [`Self::on_timeout`]. Once
/// `Publishing`, hand it tags with [`Self::send_tag`] and write what it returns, in order.
/// Any `Err` but [`PublisherError::BadTag`] (a tag of ours it cannot send, skipped) ends the
/// session: close the connection.
pub struct RtmpPublisher {
    cfg: PublisherConfig,
    app: String,
    stream_key: String,
    tc_url: String,
    handshake: Option<Handshake>,
    client: Option<ClientSession>,
    guard: ChunkGuard,
    stage: Stage,
    started: Instant,
    out: Vec<u8>,
    events: Vec<PublisherEvent>,
    stats: PublisherStats,
}

impl RtmpPublisher {
    /// A publish of `stream_key` in application `app` (`rtmp://host/app/key`); `tc_url` is the
    /// URL up to the application (`rtmp://host/app`), which servers such as nginx-rtmp and
    /// YouTube want in `connect`. C0 and C1 wait in [`Self::take_output`].
    pub fn new(
        cfg: PublisherConfig,
        app: &str,
        stream_key: &str,
        tc_url: &str,
        now: Instant,
    ) -> Result<Self, PublisherError> {
        let mut handshake = Handshake::new(PeerType::Client);
        let c0c1 = handshake
            .generate_outbound_p0_and_p1()
            .map_err(|e| PublisherError::HandshakeFailed(e.to_string()))?;
        Ok(RtmpPublisher {
            guard: ChunkGuard::new(cfg.max_message_bytes),
            cfg,
            app: app.to_owned(),
            stream_key: stream_key.to_owned(),
            tc_url: tc_url.to_owned(),
            handshake: Some(handshake),
            client: None,
            stage: Stage::Handshake,
            started: now,
            out: c0c1,
            events: Vec::new(),
            stats: PublisherStats::default(),
        })
    }

    /// Bytes waiting to be written that no call returned (C0+C1 after `new`).
    pub fn take_output(&mut self) -> Vec<u8> {
        self.stats.bytes_out += self.out.len() as u64;
        std::mem::take(&mut self.out)
    }

    /// Bytes from the server; returns what to write back (handshake, commands, acks).
    pub fn handle_input(&mut self, data: &[u8], _now: Instant) -> Result<Vec<u8>, PublisherError> {
        if self.stage == Stage::Ended {
            return Err(PublisherError::Closed);
        }
        self.stats.bytes_in += data.len() as u64;
        let result = self.take_in(data);
        if result.is_err() {
            self.stage = Stage::Ended;
        }
        result.map(|()| self.take_output())
    }

    /// The server closed the connection.
    pub fn handle_eof(&mut self) {
        let stage = self.stage;
        self.stage = Stage::Ended;
        match stage {
            Stage::Ended => {}
            Stage::Publishing => self.events.push(PublisherEvent::Closed(
                "connection closed by the server".into(),
            )),
            Stage::Handshake | Stage::Connecting | Stage::PublishRequested => {
                self.events.push(PublisherEvent::Refused(format!(
                    "connection closed by the server during {}",
                    stage_name(stage)
                )))
            }
        }
    }

    pub fn poll_event(&mut self) -> Option<PublisherEvent> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    /// One FLV tag as an RTMP message on the publishing stream; returns its chunks. Script tags
    /// (onMetaData) go out as `@setDataFrame`.
    pub fn send_tag(&mut self, tag: &FlvTag, _now: Instant) -> Result<Vec<u8>, PublisherError> {
        if self.stage != Stage::Publishing {
            return Err(if self.stage == Stage::Ended {
                PublisherError::Closed
            } else {
                PublisherError::NotPublishing
            });
        }
        let client = self.client.as_mut().ok_or(PublisherError::Closed)?;
        let time = RtmpTimestamp::new(tag.timestamp_ms);
        let result = match tag.kind {
            TagKind::Video => {
                self.stats.video_tags += 1;
                client.publish_video_data(Bytes::copy_from_slice(&tag.body), time, false)
            }
            TagKind::Audio => {
                self.stats.audio_tags += 1;
                client.publish_audio_data(Bytes::copy_from_slice(&tag.body), time, false)
            }
            TagKind::Script => {
                let metadata = stream_metadata(&tag.body)?;
                self.stats.metadata_tags += 1;
                client.publish_metadata(&metadata)
            }
        };
        match result {
            Ok(ClientSessionResult::OutboundResponse(packet)) => {
                self.stats.bytes_out += packet.bytes.len() as u64;
                Ok(packet.bytes)
            }
            Ok(_) => Ok(Vec::new()),
            Err(e) => {
                self.stage = Stage::Ended;
                Err(PublisherError::Protocol(e.to_string()))
            }
        }
    }

    /// Ends the publish (deleteStream); returns the bytes to write before closing.
    pub fn finish(&mut self) -> Vec<u8> {
        if self.stage == Stage::Publishing
            && let Some(client) = self.client.as_mut()
            && let Ok(results) = client.stop_publishing()
        {
            self.collect(results);
            self.events
                .push(PublisherEvent::Closed("finished by us".into()));
        }
        self.stage = Stage::Ended;
        self.take_output()
    }

    /// When [`Self::on_timeout`] must be called: the setup deadline until publishing starts.
    pub fn deadline(&self) -> Option<Instant> {
        match self.stage {
            Stage::Handshake | Stage::Connecting | Stage::PublishRequested => {
                Some(self.started + self.cfg.setup_timeout)
            }
            Stage::Publishing | Stage::Ended => None,
        }
    }

    pub fn on_timeout(&mut self, now: Instant) -> Result<(), PublisherError> {
        match self.deadline() {
            Some(d) if now >= d => {
                self.stage = Stage::Ended;
                Err(PublisherError::SetupTimeout)
            }
            _ => Ok(()),
        }
    }

    pub fn is_publishing(&self) -> bool {
        self.stage == Stage::Publishing
    }

    pub fn stats(&self) -> PublisherStats {
        self.stats
    }

    fn take_in(&mut self, data: &[u8]) -> Result<(), PublisherError> {
        if let Some(hs) = &mut self.handshake {
            let rest = match hs
                .process_bytes(data)
                .map_err(|e| PublisherError::HandshakeFailed(e.to_string()))?
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    self.out.extend_from_slice(&response_bytes);
                    return Ok(());
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    self.out.extend_from_slice(&response_bytes);
                    remaining_bytes
                }
            };
            self.handshake = None;
            self.connect()?;
            self.guard.push(&rest);
        } else {
            self.guard.push(data);
        }
        while self.stage != Stage::Ended
            && let Some(m) = self.guard.next_message().map_err(guard_error)?
        {
            self.stats.messages_in += 1;
            let client = self.client.as_mut().ok_or(PublisherError::Closed)?;
            match client.handle_input(&m.bytes) {
                Ok(results) => self.collect(results),
                // `_error` to createStream: the server will not give us a stream.
                Err(ClientSessionError::CreateStreamFailed) => {
                    self.refused("createStream refused by the server".into())
                }
                Err(e) => return Err(PublisherError::Protocol(e.to_string())),
            }
        }
        Ok(())
    }

    fn connect(&mut self) -> Result<(), PublisherError> {
        let mut config = ClientSessionConfig::new();
        config.tc_url = Some(self.tc_url.clone());
        config.chunk_size = self.cfg.chunk_size;
        config.window_ack_size = self.cfg.ack_window;
        // ffmpeg's flashVer, which servers that look at it know.
        config.flash_version = "FMLE/3.0 (compatible; srtrelay)".into();
        let (mut client, results) =
            ClientSession::new(config).map_err(|e| PublisherError::Protocol(e.to_string()))?;
        let connect = client
            .request_connection(self.app.clone())
            .map_err(|e| PublisherError::Protocol(e.to_string()))?;
        self.client = Some(client);
        self.collect(results);
        self.collect(vec![connect]);
        self.stage = Stage::Connecting;
        Ok(())
    }

    fn collect(&mut self, results: Vec<ClientSessionResult>) {
        for r in results {
            match r {
                ClientSessionResult::OutboundResponse(p) => self.out.extend_from_slice(&p.bytes),
                ClientSessionResult::RaisedEvent(e) => self.on_event(e),
                ClientSessionResult::UnhandleableMessageReceived(_) => {
                    self.stats.messages_ignored += 1
                }
            }
        }
    }

    fn on_event(&mut self, e: ClientSessionEvent) {
        match e {
            ClientSessionEvent::ConnectionRequestAccepted if self.stage == Stage::Connecting => {
                self.events.push(PublisherEvent::Connected);
                let request = self.client.as_mut().map(|c| {
                    c.request_publishing(self.stream_key.clone(), PublishRequestType::Live)
                });
                match request {
                    Some(Ok(r)) => {
                        self.stage = Stage::PublishRequested;
                        self.collect(vec![r]);
                    }
                    _ => self.refused("createStream could not be sent".into()),
                }
            }
            ClientSessionEvent::ConnectionRequestRejected { description } => {
                self.refused(format!("connect rejected: {description}"))
            }
            ClientSessionEvent::PublishRequestAccepted => {
                self.stage = Stage::Publishing;
                self.events.push(PublisherEvent::Publishing);
            }
            ClientSessionEvent::UnhandleableOnStatusCode { code } => match self.stage {
                // Anything but Publish.Start in answer to publish is a no (BadName, Denied,
                // nginx-rtmp's "NetStream.Publish.Failed" ...).
                Stage::PublishRequested if is_refusal(&code) => self.refused(code),
                Stage::Publishing if is_refusal(&code) => {
                    self.stage = Stage::Ended;
                    self.events.push(PublisherEvent::Closed(code));
                }
                _ => self.stats.messages_ignored += 1,
            },
            ClientSessionEvent::AcknowledgementReceived { .. } => self.stats.acks_received += 1,
            _ => self.stats.messages_ignored += 1,
        }
    }

    fn refused(&mut self, why: String) {
        if self.stage != Stage::Ended {
            self.stage = Stage::Ended;
            self.events.push(PublisherEvent::Refused(why));
        }
    }
}

/// Status codes that end a publish. Informational ones (`NetStream.Publish.Idle`, play and
/// data codes) do not.
fn is_refusal(code: &str) -> bool {
    [
        "BadName",
        "Denied",
        "Failed",
        "Rejected",
        "Error",
        "Unpublish",
        "Close",
    ]
    .iter()
    .any(|w| code.contains(w))
}

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Handshake => "the handshake",
        Stage::Connecting => "connect",
        Stage::PublishRequested => "publish",
        Stage::Publishing => "publishing",
        Stage::Ended => "the end",
    }
}

/// The onMetaData fields of a script tag (AMF0 "onMetaData" and an object or ECMA array) as
/// rml_rtmp's `StreamMetadata`, which it sends as `@setDataFrame`.
fn stream_metadata(body: &[u8]) -> Result<StreamMetadata, PublisherError> {
    let bad = |what: &str| PublisherError::BadTag(format!("script tag: {what}"));
    // The same shape check the ingest runs before rml_amf0 decodes (depth, truncation).
    amf_check::check(body).map_err(|e| bad(&format!("{e:?}")))?;
    let mut values = rml_amf0::deserialize(&mut &body[..]).map_err(|e| bad(&e.to_string()))?;
    if values.len() < 2 || values[0] != Amf0Value::Utf8String("onMetaData".into()) {
        return Err(bad("not onMetaData"));
    }
    let Amf0Value::Object(properties) = values.swap_remove(1) else {
        return Err(bad("no properties"));
    };
    let mut metadata = StreamMetadata::new();
    metadata.apply_metadata_values(properties);
    Ok(metadata)
}

fn guard_error(e: GuardError) -> PublisherError {
    match e {
        GuardError::TooLarge { declared, limit } => {
            PublisherError::MessageTooLarge { declared, limit }
        }
        GuardError::Protocol(what) => PublisherError::Protocol(what),
    }
}
