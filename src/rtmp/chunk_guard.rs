//! The RTMP chunk stream (RTMP spec §5.3), read ahead of `rml_rtmp` so that it only ever sees
//! whole messages we have checked.
//!
//! Owns: mirroring `rml_rtmp::chunk_io::ChunkDeserializer`'s view of the chunk stream (basic and
//! message headers per chunk stream id, extended timestamps, the peer's chunk size) closely enough
//! to find the same message boundaries, and refusing what that deserializer mishandles:
//! - a declared message length above the limit (it reserves the whole length on the first chunk);
//! - a chunk of another message while one is unfinished (it keeps one payload buffer for all chunk
//!   streams: interleaving underflows `length - received`); ffmpeg and OBS never interleave;
//! - an extended timestamp below 0xFFFFFF after a non-type-0 header (`ts - 0xFFFFFF` underflows);
//! - Set Chunk Size 0 or above 2^31-1, Window Acknowledgement Size outside [`MIN_ACK_WINDOW`,
//!   2^31] (its ack counter is a u32 that must not wrap; a tiny window would ack every read);
//! - AMF bodies it would panic on (a command with fewer than three values: `drain(..3)`;
//!   `@setDataFrame` with fewer than three: `data[0]`, `remove(1)`) or recurse on;
//! - more than [`MAX_CHUNK_STREAMS`] chunk stream ids, and more than [`MAX_CREATE_STREAMS`]
//!   `createStream` commands (each adds a stream to its map).
//!
//! Memory: an unfinished message is held here once (its chunks), then once more inside rml_rtmp
//! while it reassembles it; both are bounded by the message limit.
//! Must not: decode media, or change a byte: what it releases is the peer's byte stream, cut at
//! message ends.

use bytes::{Bytes, BytesMut};

use super::amf_check;

/// Chunk stream ids a peer may use (ffmpeg and OBS use 2..=8).
pub const MAX_CHUNK_STREAMS: usize = 64;
/// `createStream` commands per connection (a publisher needs one).
pub const MAX_CREATE_STREAMS: u32 = 8;
/// Smallest acknowledgement window we let a peer announce.
pub const MIN_ACK_WINDOW: u32 = 4096;
/// Control, command and data messages (types 1..=7, 15..=20) are read into a buffer to check
/// them; they are small in practice (onMetaData is under 1 KB).
pub const MAX_CONTROL_BYTES: usize = 64 * 1024;

/// The chunk size every peer starts with (RTMP spec §5.4.1).
const INITIAL_CHUNK_SIZE: usize = 128;
const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;

/// Message type ids (RTMP spec §5.4, §7.1).
pub const TYPE_SET_CHUNK_SIZE: u8 = 1;
pub const TYPE_WINDOW_ACK_SIZE: u8 = 5;
pub const TYPE_AUDIO: u8 = 8;
pub const TYPE_VIDEO: u8 = 9;
const TYPE_AMF3_DATA: u8 = 15;
const TYPE_AMF3_COMMAND: u8 = 17;
const TYPE_AMF0_DATA: u8 = 18;
const TYPE_AMF0_COMMAND: u8 = 20;

/// One message, checked: the peer's bytes for all its chunks.
#[derive(Debug)]
pub struct Released {
    pub bytes: Bytes,
    pub stream_id: u32,
    /// What the message says, where the session needs to know before rml_rtmp acts on it.
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Media,
    /// A command and its name.
    Command(String),
    /// Set Chunk Size, Window Acknowledgement Size and the like, data messages, unknown types.
    Other,
    /// Window Acknowledgement Size: the peer wants an ack every this many bytes.
    AckWindow(u32),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuardError {
    TooLarge { declared: usize, limit: usize },
    Protocol(String),
}

#[derive(Debug, Clone, Copy)]
struct Header {
    csid: u32,
    length: usize,
    type_id: u8,
    stream_id: u32,
    /// The last 24-bit timestamp field on this chunk stream: 0xFFFFFF means type-3 chunks carry
    /// an extended timestamp too (rml_rtmp inherits it the same way).
    timestamp_field: u32,
}

/// The unfinished message, if any.
#[derive(Debug)]
struct Partial {
    csid: u32,
    received: usize,
    /// Control, command and data bodies, gathered to check; media is not copied.
    body: Option<Vec<u8>>,
}

#[derive(Debug)]
pub struct ChunkGuard {
    max_message: usize,
    chunk_size: usize,
    /// The peer's bytes from the start of the unreleased message.
    buf: BytesMut,
    /// How far into `buf` chunks have been parsed.
    parsed: usize,
    headers: Vec<Header>,
    partial: Option<Partial>,
    create_streams: u32,
}

impl ChunkGuard {
    pub fn new(max_message: usize) -> Self {
        ChunkGuard {
            max_message,
            chunk_size: INITIAL_CHUNK_SIZE,
            buf: BytesMut::new(),
            parsed: 0,
            headers: Vec::new(),
            partial: None,
            create_streams: 0,
        }
    }

    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next whole message, or `None` until more bytes come.
    pub fn next_message(&mut self) -> Result<Option<Released>, GuardError> {
        loop {
            let Some(chunk) = self.parse_chunk()? else {
                self.check_buffered()?;
                return Ok(None);
            };
            if let Some(done) = chunk {
                return Ok(Some(done));
            }
        }
    }

    /// A message's chunks plus headers: at worst `length` one-byte chunks with 8-byte headers
    /// (3-byte id, 4-byte extended timestamp) at chunk size 1. We hold the honest case (headers
    /// of at most 1/8 of a message at chunk sizes over 64) and refuse the rest.
    pub fn check_buffered(&self) -> Result<(), GuardError> {
        let limit = self.max_message + self.max_message / 8 + MAX_CONTROL_BYTES;
        if self.buf.len() > limit {
            return Err(GuardError::TooLarge {
                declared: self.buf.len(),
                limit,
            });
        }
        Ok(())
    }

    /// Parses one chunk at `parsed`: `Ok(None)` if it is not all here yet, `Ok(Some(None))` if it
    /// does not end a message, `Ok(Some(Some(m)))` if it does.
    #[allow(clippy::type_complexity)]
    fn parse_chunk(&mut self) -> Result<Option<Option<Released>>, GuardError> {
        let data = &self.buf[self.parsed..];
        let Some(&first) = data.first() else {
            return Ok(None);
        };
        let fmt = first >> 6;
        // Basic header (§5.3.1.1): ids 2..=63 in one byte, 64..=319 in two, 64..=65599 in three.
        let (csid, mut at) = match first & 0x3f {
            0 => match data.get(1) {
                Some(&b) => (u32::from(b) + 64, 2),
                None => return Ok(None),
            },
            1 => match (data.get(1), data.get(2)) {
                (Some(&lo), Some(&hi)) => (u32::from(hi) * 256 + u32::from(lo) + 64, 3),
                _ => return Ok(None),
            },
            id => (u32::from(id), 1),
        };
        if let Some(p) = &self.partial
            && (fmt != 3 || p.csid != csid)
        {
            return Err(GuardError::Protocol(format!(
                "chunk stream {csid} (type {fmt}) interleaved into the message on chunk stream {}",
                p.csid
            )));
        }
        let previous = self.headers.iter().position(|h| h.csid == csid);
        // Message header (§5.3.1.2): 11, 7, 3 or 0 bytes by format.
        let header_len = [11, 7, 3, 0][usize::from(fmt)];
        let Some(mh) = data.get(at..at + header_len) else {
            return Ok(None);
        };
        at += header_len;
        let mut h = match (fmt, previous) {
            (0, _) => Header {
                csid,
                length: u24(&mh[3..6]),
                type_id: mh[6],
                stream_id: u32::from_le_bytes([mh[7], mh[8], mh[9], mh[10]]),
                timestamp_field: u24(&mh[0..3]) as u32,
            },
            (_, None) => {
                return Err(GuardError::Protocol(format!(
                    "type {fmt} chunk on chunk stream {csid} with no previous header"
                )));
            }
            (_, Some(i)) => self.headers[i],
        };
        if fmt == 1 {
            h.length = u24(&mh[3..6]);
            h.type_id = mh[6];
        }
        if fmt == 1 || fmt == 2 {
            h.timestamp_field = u24(&mh[0..3]) as u32;
        }
        if h.timestamp_field >= EXTENDED_TIMESTAMP {
            let Some(ext) = data.get(at..at + 4) else {
                return Ok(None);
            };
            at += 4;
            let ext = u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]);
            // rml_rtmp adds `ext - 0xFFFFFF` to the previous timestamp at a message start.
            if fmt != 0 && self.partial.is_none() && ext < EXTENDED_TIMESTAMP {
                return Err(GuardError::Protocol(format!(
                    "extended timestamp delta {ext} below 0xFFFFFF on chunk stream {csid}"
                )));
            }
        }
        if h.length > self.max_message {
            return Err(GuardError::TooLarge {
                declared: h.length,
                limit: self.max_message,
            });
        }
        if gathered(h.type_id) && h.length > MAX_CONTROL_BYTES {
            return Err(GuardError::TooLarge {
                declared: h.length,
                limit: MAX_CONTROL_BYTES,
            });
        }
        let received = self.partial.as_ref().map_or(0, |p| p.received);
        let take = (h.length - received).min(self.chunk_size);
        let Some(payload) = data.get(at..at + take) else {
            return Ok(None);
        };
        at += take;

        // The chunk is whole: commit its header.
        match previous {
            Some(i) => self.headers[i] = h,
            None if self.headers.len() >= MAX_CHUNK_STREAMS => {
                return Err(GuardError::Protocol(format!(
                    "more than {MAX_CHUNK_STREAMS} chunk streams"
                )));
            }
            None => self.headers.push(h),
        }
        let mut partial = self.partial.take().unwrap_or(Partial {
            csid,
            received: 0,
            body: gathered(h.type_id).then(Vec::new),
        });
        partial.received += take;
        if let Some(body) = &mut partial.body {
            body.extend_from_slice(payload);
        }
        self.parsed += at;
        if partial.received < h.length {
            self.partial = Some(partial);
            return Ok(Some(None));
        }
        let kind = self.check_message(&h, partial.body.as_deref().unwrap_or(&[]))?;
        let bytes = self.buf.split_to(self.parsed).freeze();
        self.parsed = 0;
        Ok(Some(Some(Released {
            bytes,
            stream_id: h.stream_id,
            kind,
        })))
    }

    /// A whole message's meaning, where rml_rtmp needs it checked or the session needs to know.
    fn check_message(&mut self, h: &Header, body: &[u8]) -> Result<Kind, GuardError> {
        let protocol = |what: String| Err(GuardError::Protocol(what));
        match h.type_id {
            TYPE_AUDIO | TYPE_VIDEO => Ok(Kind::Media),
            TYPE_SET_CHUNK_SIZE => match be_u32(body) {
                // §5.4.1: 1..=0x7FFFFFFF.
                Some(size @ 1..=0x7fff_ffff) => {
                    self.chunk_size = size as usize;
                    Ok(Kind::Other)
                }
                other => protocol(format!("set chunk size {other:?}")),
            },
            TYPE_WINDOW_ACK_SIZE => match be_u32(body) {
                Some(size @ MIN_ACK_WINDOW..=0x8000_0000) => Ok(Kind::AckWindow(size)),
                other => protocol(format!("window acknowledgement size {other:?}")),
            },
            TYPE_AMF0_COMMAND | TYPE_AMF3_COMMAND => {
                // rml_rtmp drops one leading 0x00 of an "AMF3" command (Flash sends AMF0 in them).
                let amf = match body {
                    [0, rest @ ..] if h.type_id == TYPE_AMF3_COMMAND => rest,
                    _ => body,
                };
                let shape = amf_check::check(amf)
                    .map_err(|e| GuardError::Protocol(format!("command body: {e:?}")))?;
                let Some(name) = shape.first_string.filter(|_| shape.values >= 3) else {
                    return protocol(format!("command with {} values and no name", shape.values));
                };
                if name == "createStream" {
                    self.create_streams += 1;
                    if self.create_streams > MAX_CREATE_STREAMS {
                        return protocol(format!("more than {MAX_CREATE_STREAMS} createStream"));
                    }
                }
                Ok(Kind::Command(name.to_owned()))
            }
            TYPE_AMF0_DATA | TYPE_AMF3_DATA => {
                let shape = amf_check::check(body)
                    .map_err(|e| GuardError::Protocol(format!("data body: {e:?}")))?;
                if shape.first_string == Some("@setDataFrame") && shape.values < 3 {
                    return protocol(format!("@setDataFrame with {} values", shape.values));
                }
                Ok(Kind::Other)
            }
            _ => Ok(Kind::Other),
        }
    }
}

/// Types whose body the guard reads (everything but media and unknown types).
fn gathered(type_id: u8) -> bool {
    matches!(type_id, 1..=7 | 15..=20)
}

fn u24(b: &[u8]) -> usize {
    (usize::from(b[0]) << 16) | (usize::from(b[1]) << 8) | usize::from(b[2])
}

fn be_u32(b: &[u8]) -> Option<u32> {
    let b: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}
