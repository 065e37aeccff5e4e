//! Stream ID to stream and mode: `#!::r=...,m=...`, a plain name, or nothing (the default
//! stream, for players only).

use crate::srt::handshake::{StreamId, StreamMode};

/// A Stream ID the relay can parse but not admit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// `#!::m=publish`, `#!::r=,m=publish`: a publisher must say what it publishes. The
    /// default stream is for players that cannot set a Stream ID; a publisher landing there
    /// by accident would hijack (or be refused from) the stream everyone plays by default.
    #[error("a publisher must name its stream (r=...)")]
    PublishWithoutResource,
}

/// The resource and mode a caller asks for: `#!::r=...,m=...`, a plain `name`, or nothing (the
/// default stream, for players only). Without `m`, a caller plays (`request`), as the draft's
/// default.
pub fn resolve(
    stream_id: Option<&StreamId>,
    default_stream: &str,
) -> Result<(String, StreamMode), ResolveError> {
    let resource = stream_id
        .and_then(|s| s.resource.clone())
        .filter(|r| !r.is_empty());
    let mode = stream_id
        .and_then(|s| s.mode)
        .unwrap_or(StreamMode::Request);
    match resource {
        Some(r) => Ok((r, mode)),
        None if mode == StreamMode::Request => Ok((default_stream.to_string(), mode)),
        None => Err(ResolveError::PublishWithoutResource),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> Option<StreamId> {
        StreamId::parse(s.as_bytes()).expect("valid stream id")
    }

    #[test]
    fn players_without_a_resource_get_the_default_stream_publishers_are_refused() {
        let play = |s: &str| resolve(sid(s).as_ref(), "live");
        assert_eq!(play(""), Ok(("live".into(), StreamMode::Request)));
        assert_eq!(
            play("#!::m=request"),
            Ok(("live".into(), StreamMode::Request))
        );
        assert_eq!(
            play("#!::r=,m=request"),
            Ok(("live".into(), StreamMode::Request))
        );
        assert_eq!(play("#!::u=bob"), Ok(("live".into(), StreamMode::Request)));
        assert_eq!(play("cam1"), Ok(("cam1".into(), StreamMode::Request)));
        assert_eq!(
            play("#!::r=cam1,m=publish"),
            Ok(("cam1".into(), StreamMode::Publish))
        );
        for s in ["#!::m=publish", "#!::r=,m=publish", "#!::u=bob,m=publish"] {
            assert_eq!(play(s), Err(ResolveError::PublishWithoutResource), "{s}");
        }
        // Bidirectional without a resource is refused here too (admission refuses it anyway).
        assert!(play("#!::m=bidirectional").is_err());
    }
}
