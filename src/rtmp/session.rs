//! One RTMP publisher connection, sans-IO: the peer's bytes and `now` in; our bytes, events and a
//! deadline out.
//!
//! Owns: the order of things (handshake, connect, createStream, publish, media, unpublish), which
//! `rml_rtmp` requests we grant (connect always, publish only when the driver says so, play
//! never), the deadlines (the whole setup within `handshake_timeout`, then `idle_timeout` between
//! reads) and the output cap.
//! Must not: read the clock or touch sockets. rml_rtmp does read `SystemTime` for the timestamps
//! of its own replies (their values matter to nobody), and its handshake draws random bytes
//! from `rand::thread_rng`; neither reaches our logic.

use std::collections::VecDeque;
use std::time::Instant;

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::sessions::{
    ServerSession, ServerSessionConfig, ServerSessionEvent, ServerSessionResult,
};

use super::chunk_guard::{ChunkGuard, GuardError, Kind};
use super::status::{OUR_CHUNK_SIZE, error_status};
use super::{Refusal, RtmpConfig, RtmpError, RtmpEvent, RtmpStats};

/// RTMP's message length field is 24 bits (spec §5.3.1.2).
const MAX_DECLARABLE_MESSAGE: usize = 0xFF_FFFF;

/// The RTMP server side of one publisher connection. See the module doc for what it owns.
///
/// Driving it: after each `on_bytes` (and `accept_publish`, `refuse_publish`, `on_timeout`),
/// drain `poll_event` and write what `take_output` gives; sleep until `deadline`. Any `Err`
/// ends the session: flush the output, then close.
pub struct RtmpSession {
    cfg: RtmpConfig,
    /// Until the peer's C2 arrived.
    handshake: Option<Handshake>,
    /// From the end of the handshake.
    server: Option<ServerSession>,
    guard: ChunkGuard,
    stage: Stage,
    started: Instant,
    last_input: Instant,
    out: Vec<u8>,
    events: VecDeque<RtmpEvent>,
    /// The stream id the last `publish` command came on (rml_rtmp does not say).
    publish_stream: u32,
    /// The acknowledgement window the peer announced and the bytes since our last ack,
    /// counted the way rml_rtmp counts them (bytes handed to `handle_input`), for the stats.
    peer_window: Option<u32>,
    since_ack: u32,
    stats: RtmpStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Handshake,
    AwaitConnect,
    Connected,
    PublishPending {
        request_id: u32,
        stream_id: u32,
    },
    Publishing,
    /// The peer unpublished; it may still say goodbye (deleteStream after FCUnpublish).
    Finished,
    Refused,
    Failed,
}

impl RtmpSession {
    pub fn new(mut cfg: RtmpConfig, now: Instant) -> Self {
        cfg.max_message_bytes = cfg.max_message_bytes.min(MAX_DECLARABLE_MESSAGE);
        RtmpSession {
            guard: ChunkGuard::new(cfg.max_message_bytes),
            cfg,
            handshake: Some(Handshake::new(PeerType::Server)),
            server: None,
            stage: Stage::Handshake,
            started: now,
            last_input: now,
            out: Vec::new(),
            events: VecDeque::new(),
            publish_stream: 0,
            peer_window: None,
            since_ack: 0,
            stats: RtmpStats::default(),
        }
    }

    /// Bytes from the peer. Err means: send what `take_output` has, then close.
    pub fn on_bytes(&mut self, data: &[u8], now: Instant) -> Result<(), RtmpError> {
        match self.stage {
            Stage::Refused => {
                self.stage = Stage::Failed;
                return Err(RtmpError::Refused);
            }
            Stage::Failed => return Err(RtmpError::Closed),
            _ => {}
        }
        self.stats.bytes_in += data.len() as u64;
        self.last_input = now;
        let result = self.take_in(data);
        if result.is_err() {
            self.stage = Stage::Failed;
        }
        result
    }

    /// Bytes to write to the peer (handshake, control messages, command replies, status).
    pub fn take_output(&mut self, out: &mut Vec<u8>) {
        self.stats.bytes_out += self.out.len() as u64;
        out.append(&mut self.out);
    }

    pub fn poll_event(&mut self) -> Option<RtmpEvent> {
        self.events.pop_front()
    }

    /// Grants the pending publish: the peer gets `NetStream.Publish.Start` and may send media.
    pub fn accept_publish(&mut self, now: Instant) -> Result<(), RtmpError> {
        let Stage::PublishPending { request_id, .. } = self.stage else {
            return Err(match self.stage {
                Stage::Failed | Stage::Refused => RtmpError::Closed,
                _ => RtmpError::Protocol("accept_publish with no publish pending".into()),
            });
        };
        let server = self.server.as_mut().ok_or(RtmpError::Closed)?;
        let results = server
            .accept_request(request_id)
            .map_err(|e| RtmpError::Protocol(e.to_string()));
        self.stage = Stage::Publishing;
        self.last_input = now;
        // Then whatever the peer sent after its publish, held until now.
        let result = results
            .and_then(|r| self.handle_results(r))
            .and_then(|()| self.drain_guard());
        if result.is_err() {
            self.stage = Stage::Failed;
        }
        result
    }

    /// Refuses the pending publish with an `onStatus` error (see [`Refusal::status`]); the
    /// driver flushes the output and closes. Further input is an error.
    pub fn refuse_publish(&mut self, why: Refusal, _now: Instant) {
        if let Stage::PublishPending { stream_id, .. } = self.stage {
            let (code, description) = why.status();
            // Past the output cap on purpose: it is the last thing we send.
            self.out
                .extend_from_slice(&error_status(code, description, stream_id));
        }
        if self.stage != Stage::Failed {
            self.stage = Stage::Refused;
        }
    }

    /// When `on_timeout` must be called; `None` once the session has ended.
    pub fn deadline(&self) -> Option<Instant> {
        match self.stage {
            Stage::Handshake
            | Stage::AwaitConnect
            | Stage::Connected
            | Stage::PublishPending { .. } => Some(self.started + self.cfg.handshake_timeout),
            Stage::Publishing | Stage::Finished => Some(self.last_input + self.cfg.idle_timeout),
            Stage::Refused | Stage::Failed => None,
        }
    }

    pub fn on_timeout(&mut self, now: Instant) -> Result<(), RtmpError> {
        match self.deadline() {
            Some(d) if now >= d => {
                let which = if self.is_publishing() || self.stage == Stage::Finished {
                    "idle"
                } else {
                    "handshake"
                };
                self.stage = Stage::Failed;
                Err(RtmpError::Timeout(which))
            }
            _ => Ok(()),
        }
    }

    pub fn is_publishing(&self) -> bool {
        self.stage == Stage::Publishing
    }

    pub fn stats(&self) -> RtmpStats {
        self.stats
    }

    fn take_in(&mut self, data: &[u8]) -> Result<(), RtmpError> {
        if let Some(hs) = &mut self.handshake {
            let rest = match hs
                .process_bytes(data)
                .map_err(|e| RtmpError::HandshakeFailed(e.to_string()))?
            {
                HandshakeProcessResult::InProgress { response_bytes } => {
                    return self.emit(&response_bytes);
                }
                HandshakeProcessResult::Completed {
                    response_bytes,
                    remaining_bytes,
                } => {
                    self.emit(&response_bytes)?;
                    remaining_bytes
                }
            };
            self.handshake = None;
            self.start_server()?;
            self.guard.push(&rest);
        } else {
            self.guard.push(data);
        }
        if let Stage::PublishPending { .. } = self.stage {
            // Held until the driver decides; as much as one message may take.
            self.guard.check_buffered().map_err(guard_error)?;
        }
        self.drain_guard()
    }

    /// rml_rtmp's session announces our chunk size (4096), window and bandwidth as it starts.
    fn start_server(&mut self) -> Result<(), RtmpError> {
        let config = ServerSessionConfig {
            fms_version: "FMS/3,0,1,123".to_string(),
            chunk_size: OUR_CHUNK_SIZE,
            peer_bandwidth: self.cfg.peer_bandwidth,
            window_ack_size: self.cfg.ack_window,
            send_on_bw_done_message_on_start: false,
        };
        let (server, results) =
            ServerSession::new(config).map_err(|e| RtmpError::Protocol(e.to_string()))?;
        self.server = Some(server);
        self.stage = Stage::AwaitConnect;
        self.handle_results(results)
    }

    /// Hands each checked message to rml_rtmp, one at a time, so that what a message may do can
    /// depend on what the ones before it did (media only once publishing). While a publish
    /// waits for the driver, what follows it stays in the guard: media a peer sends without
    /// waiting for `NetStream.Publish.Start` reaches nobody unless the publish is accepted.
    fn drain_guard(&mut self) -> Result<(), RtmpError> {
        while !matches!(self.stage, Stage::PublishPending { .. })
            && let Some(m) = self.guard.next_message().map_err(guard_error)?
        {
            self.stats.messages_in += 1;
            match &m.kind {
                Kind::Media if self.stage == Stage::Finished => {
                    return Err(RtmpError::Protocol("media after unpublish".into()));
                }
                Kind::Media if self.stage != Stage::Publishing => {
                    return Err(RtmpError::MediaBeforePublish);
                }
                Kind::Command(name) if name == "publish" => self.publish_stream = m.stream_id,
                _ => {}
            }
            // rml_rtmp acks when the bytes since its last ack reach the peer's window.
            if let Some(window) = self.peer_window {
                self.since_ack = self.since_ack.saturating_add(m.bytes.len() as u32);
                if self.since_ack >= window {
                    self.stats.acks_sent += 1;
                    self.since_ack = 0;
                }
            }
            let server = self.server.as_mut().ok_or(RtmpError::Closed)?;
            let results = server
                .handle_input(&m.bytes)
                .map_err(|e| RtmpError::Protocol(e.to_string()))?;
            if let Kind::AckWindow(size) = m.kind {
                self.peer_window = Some(size);
            }
            self.handle_results(results)?;
        }
        Ok(())
    }

    fn handle_results(&mut self, results: Vec<ServerSessionResult>) -> Result<(), RtmpError> {
        for r in results {
            match r {
                ServerSessionResult::OutboundResponse(packet) => self.emit(&packet.bytes)?,
                ServerSessionResult::RaisedEvent(event) => self.on_server_event(event)?,
                ServerSessionResult::UnhandleableMessageReceived(_) => {
                    self.stats.messages_dropped += 1
                }
            }
        }
        Ok(())
    }

    fn on_server_event(&mut self, event: ServerSessionEvent) -> Result<(), RtmpError> {
        match event {
            ServerSessionEvent::ConnectionRequested { request_id, .. } => {
                if self.stage != Stage::AwaitConnect {
                    return Err(RtmpError::Protocol("a second connect".into()));
                }
                self.stage = Stage::Connected;
                let server = self.server.as_mut().ok_or(RtmpError::Closed)?;
                let results = server
                    .accept_request(request_id)
                    .map_err(|e| RtmpError::Protocol(e.to_string()))?;
                self.handle_results(results)?;
            }
            ServerSessionEvent::PublishStreamRequested {
                request_id,
                app_name,
                stream_key,
                ..
            } => {
                if self.stage != Stage::Connected {
                    return Err(RtmpError::Protocol(format!(
                        "publish while {:?}",
                        self.stage
                    )));
                }
                self.stage = Stage::PublishPending {
                    request_id,
                    stream_id: self.publish_stream,
                };
                self.events.push_back(RtmpEvent::PublishRequested {
                    app: app_name,
                    key: stream_key,
                });
            }
            ServerSessionEvent::PlayStreamRequested { stream_id, .. } => {
                let status = error_status(
                    "NetStream.Play.Failed",
                    "this relay takes RTMP publishers only",
                    stream_id,
                );
                self.out.extend_from_slice(&status);
                return Err(RtmpError::PlayNotSupported);
            }
            // After FCUnpublish rml_rtmp still takes the stream as publishing; we do not.
            ServerSessionEvent::StreamMetadataChanged { .. } if self.stage != Stage::Publishing => {
                self.stats.messages_dropped += 1
            }
            ServerSessionEvent::StreamMetadataChanged { metadata, .. } => {
                self.stats.metadata_messages += 1;
                self.events.push_back(RtmpEvent::Metadata {
                    video: metadata.video_codec_id.is_some(),
                    audio: metadata.audio_codec_id.is_some(),
                });
            }
            ServerSessionEvent::VideoDataReceived {
                data, timestamp, ..
            } => {
                self.stats.video_messages += 1;
                self.events.push_back(RtmpEvent::Video {
                    timestamp_ms: timestamp.value,
                    data,
                });
            }
            ServerSessionEvent::AudioDataReceived {
                data, timestamp, ..
            } => {
                self.stats.audio_messages += 1;
                self.events.push_back(RtmpEvent::Audio {
                    timestamp_ms: timestamp.value,
                    data,
                });
            }
            // deleteStream or closeStream of the publishing stream.
            ServerSessionEvent::PublishStreamFinished { .. } => self.finish(),
            ServerSessionEvent::UnhandleableAmf0Command { command_name, .. }
                if command_name == "FCUnpublish" && self.stage == Stage::Publishing =>
            {
                self.finish()
            }
            ServerSessionEvent::UnhandleableAmf0Command { .. }
            | ServerSessionEvent::ReleaseStreamRequested { .. } => self.stats.commands_ignored += 1,
            ServerSessionEvent::ClientChunkSizeChanged { .. }
            | ServerSessionEvent::PlayStreamFinished { .. }
            | ServerSessionEvent::AcknowledgementReceived { .. }
            | ServerSessionEvent::PingResponseReceived { .. } => {}
        }
        Ok(())
    }

    fn finish(&mut self) {
        if self.stage == Stage::Publishing {
            self.stage = Stage::Finished;
            self.events.push_back(RtmpEvent::Finished);
        }
    }

    fn emit(&mut self, bytes: &[u8]) -> Result<(), RtmpError> {
        self.out.extend_from_slice(bytes);
        if self.out.len() > self.cfg.max_pending_out {
            return Err(RtmpError::OutputBacklog(self.out.len()));
        }
        Ok(())
    }
}

fn guard_error(e: GuardError) -> RtmpError {
    match e {
        GuardError::TooLarge { declared, limit } => RtmpError::MessageTooLarge { declared, limit },
        GuardError::Protocol(what) => RtmpError::Protocol(what),
    }
}
