//! The `onStatus` errors that end a session (a refused publish, a refused play), written the way
//! nginx-rtmp writes them: `onStatus(0, null, {level: "error", code, description})` on the
//! stream the request came on.
//!
//! Owns: their bytes. rml_rtmp only offers `reject_request`, which answers `_error` with level
//! "_error": ffmpeg shows that, but librtmp (OBS) logs it and keeps waiting; an `onStatus` error
//! with a NetStream code is what both act on.
//! Must not: be used while the session goes on. The message is written with a serializer of its
//! own and a full (type 0) header, so the peer's header state for that chunk stream becomes
//! ours, not rml_rtmp's: nothing may follow it but the close.

use std::collections::HashMap;

use rml_rtmp::chunk_io::{ChunkSerializationError, ChunkSerializer};
use rml_rtmp::messages::RtmpMessage;
use rml_rtmp::rml_amf0::Amf0Value;
use rml_rtmp::time::RtmpTimestamp;

use super::Refusal;

/// Our chunk size, announced by rml_rtmp's `ServerSession::new`; the status is chunked to it.
pub const OUR_CHUNK_SIZE: u32 = 4096;

impl Refusal {
    /// The `onStatus` code and a description for the peer's log.
    pub fn status(self) -> (&'static str, &'static str) {
        match self {
            Refusal::BadName => ("NetStream.Publish.BadName", "stream key not accepted"),
            Refusal::Unauthorized => ("NetStream.Publish.Denied", "not authorized to publish"),
            Refusal::Busy => ("NetStream.Publish.BadName", "already publishing"),
            Refusal::Full => ("NetStream.Publish.Denied", "relay at its publisher limit"),
        }
    }
}

/// The bytes of one `onStatus` error on `stream_id`; the description carries the code too,
/// since ffmpeg prints only the description.
pub fn error_status(code: &str, description: &str, stream_id: u32) -> Vec<u8> {
    let mut info = HashMap::new();
    info.insert("level".to_string(), Amf0Value::Utf8String("error".into()));
    info.insert("code".to_string(), Amf0Value::Utf8String(code.into()));
    info.insert(
        "description".to_string(),
        Amf0Value::Utf8String(format!("{code}: {description}")),
    );
    let message = RtmpMessage::Amf0Command {
        command_name: "onStatus".to_string(),
        transaction_id: 0.0,
        command_object: Amf0Value::Null,
        additional_arguments: vec![Amf0Value::Object(info)],
    };
    // A status object of a few short strings always serializes; the fallback is nothing.
    chunked(message, stream_id).unwrap_or_default()
}

fn chunked(message: RtmpMessage, stream_id: u32) -> Result<Vec<u8>, ChunkSerializationError> {
    let mut serializer = ChunkSerializer::new();
    // The returned Set Chunk Size packet is not sent: the peer already has ours.
    serializer.set_max_chunk_size(OUR_CHUNK_SIZE, RtmpTimestamp::new(0))?;
    let payload = message.into_message_payload(RtmpTimestamp::new(0), stream_id)?;
    Ok(serializer.serialize(&payload, true, false)?.bytes)
}
