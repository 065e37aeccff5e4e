//! How an RTMP publish names a relay stream: OBS's "Custom" service with server
//! `rtmp://HOST/live` and stream key `cam1` (ffmpeg: `rtmp://HOST/live/cam1`) connects with app
//! `live` and publishes `cam1`, which is the stream `live/cam1`.
//!
//! Owns: that mapping and its rules. The key may carry a query after `?` (`cam1?s=SESSION` for
//! a single-use session, `cam1?token=...`): it is split off and percent-decoded, `s` becomes
//! [`PublishTarget::session`]. The resulting name must be one the players can ask for
//! ([`crate::playback::routes::valid_stream_name`]: letters, digits, `-_.~/`, no empty, `.` or
//! `..` component, nothing under `_/`), so what is published over RTMP plays over HTTP and SRT
//! under the same name.
//! Decided: a `/` in the key is refused. Sub-paths belong in the app (`rtmp://HOST/live/sub`
//! with key `cam1` is `live/sub/cam1`, as OBS and ffmpeg split it); a key is one component, so
//! it cannot reach into another app's names. `+` in the query stays `+` (tokens are often
//! base64); only `%XX` is decoded.
//! Must not: decide whether the stream may be published (access control does).

use thiserror::Error;

use crate::playback::routes::valid_stream_name;

/// Longest app + key we look at, like SRT's Stream ID limit.
pub const MAX_NAME_BYTES: usize = 512;
/// Query parameters a key may carry.
pub const MAX_QUERY_PARAMS: usize = 16;

/// A publish, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishTarget {
    /// `app/key`, e.g. `live/cam1`.
    pub stream: String,
    /// The `s` parameter: a single-use publishing session.
    pub session: Option<String>,
    /// The other parameters, decoded, in order.
    pub query: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    #[error("empty application or stream key")]
    Empty,
    #[error("application and stream key longer than {MAX_NAME_BYTES} bytes")]
    TooLong,
    #[error("'/' in the stream key (put sub-paths in the application)")]
    SlashInKey,
    #[error("stream name {0:?} has characters or components a stream name cannot have")]
    BadName(String),
    #[error("bad percent-encoding or control character in the query")]
    BadQuery,
    #[error("more than {MAX_QUERY_PARAMS} query parameters")]
    TooManyParams,
    #[error("the session parameter 's' appears twice or is empty")]
    BadSession,
}

pub fn publish_target(app: &str, key: &str) -> Result<PublishTarget, NameError> {
    if app.len() + key.len() > MAX_NAME_BYTES {
        return Err(NameError::TooLong);
    }
    let app = app.trim_end_matches('/');
    let (name, query) = key.split_once('?').unwrap_or((key, ""));
    if app.is_empty() || name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.contains('/') {
        return Err(NameError::SlashInKey);
    }
    let stream = format!("{app}/{name}");
    if !valid_stream_name(&stream) {
        return Err(NameError::BadName(stream));
    }
    let mut target = PublishTarget {
        stream,
        session: None,
        query: Vec::new(),
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        if target.query.len() + usize::from(target.session.is_some()) >= MAX_QUERY_PARAMS {
            return Err(NameError::TooManyParams);
        }
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k)?, percent_decode(v)?);
        if k == "s" {
            if target.session.is_some() || v.is_empty() {
                return Err(NameError::BadSession);
            }
            target.session = Some(v);
        } else {
            target.query.push((k, v));
        }
    }
    Ok(target)
}

/// `%XX` decoding (RFC 3986 §2.1); the result must be UTF-8 without control characters.
fn percent_decode(s: &str) -> Result<String, NameError> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hex = |c: Option<u8>| c.and_then(|c| (c as char).to_digit(16));
            match (hex(bytes.next()), hex(bytes.next())) {
                (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                _ => return Err(NameError::BadQuery),
            }
        } else {
            out.push(b);
        }
    }
    let text = String::from_utf8(out).map_err(|_| NameError::BadQuery)?;
    if text.chars().any(char::is_control) {
        return Err(NameError::BadQuery);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(stream: &str) -> PublishTarget {
        PublishTarget {
            stream: stream.into(),
            session: None,
            query: Vec::new(),
        }
    }

    #[test]
    fn obs_custom_server_and_key_name_app_slash_key() {
        assert_eq!(publish_target("live", "cam1"), Ok(target("live/cam1")));
        assert_eq!(publish_target("live/", "cam1"), Ok(target("live/cam1")));
        assert_eq!(
            publish_target("live/sub", "cam-1_a.b~c"),
            Ok(target("live/sub/cam-1_a.b~c"))
        );
    }

    #[test]
    fn a_session_and_a_token_are_split_off_and_decoded() {
        let t = publish_target("live", "cam1?s=AbC%2F1&token=a+b%3D%3D&flag").expect("valid");
        assert_eq!(t.stream, "live/cam1");
        assert_eq!(t.session.as_deref(), Some("AbC/1"));
        assert_eq!(
            t.query,
            vec![
                ("token".to_string(), "a+b==".to_string()),
                ("flag".to_string(), String::new())
            ]
        );
        // An empty query is no query.
        assert_eq!(publish_target("live", "cam1?"), Ok(target("live/cam1")));
    }

    #[test]
    fn bad_names_are_refused() {
        let cases: &[(&str, &str, NameError)] = &[
            ("", "cam1", NameError::Empty),
            ("live", "", NameError::Empty),
            ("live", "?s=1", NameError::Empty),
            ("live", "a/b", NameError::SlashInKey),
            ("live", "../x", NameError::SlashInKey),
            ("live", "..", NameError::BadName("live/..".into())),
            ("..", "x", NameError::BadName("../x".into())),
            ("live//a", "x", NameError::BadName("live//a/x".into())),
            ("live", "a b", NameError::BadName("live/a b".into())),
            ("live", "a\u{1}", NameError::BadName("live/a\u{1}".into())),
            (
                "live",
                "caf\u{e9}",
                NameError::BadName("live/caf\u{e9}".into()),
            ),
            ("_", "x", NameError::BadName("_/x".into())),
            ("live", "x?s=1&s=2", NameError::BadSession),
            ("live", "x?s=", NameError::BadSession),
            ("live", "x?t=%zz", NameError::BadQuery),
            ("live", "x?t=%4", NameError::BadQuery),
            ("live", "x?t=%0a", NameError::BadQuery),
            ("live", "x?t=%ff", NameError::BadQuery),
        ];
        for (app, key, want) in cases {
            assert_eq!(
                publish_target(app, key).as_ref(),
                Err(want),
                "{app:?} {key:?}"
            );
        }
    }

    #[test]
    fn length_and_parameter_count_are_capped() {
        // "live/" + 507 bytes is a 512-byte name; one more byte of key is too long.
        let key = "k".repeat(MAX_NAME_BYTES - 5);
        assert_eq!(
            publish_target("live", &key).map(|t| t.stream.len()),
            Ok(MAX_NAME_BYTES)
        );
        let key = "k".repeat(MAX_NAME_BYTES - 3);
        assert_eq!(publish_target("live", &key), Err(NameError::TooLong));
        let params: Vec<String> = (0..MAX_QUERY_PARAMS).map(|i| format!("p{i}=1")).collect();
        let ok = format!("x?{}", params[..MAX_QUERY_PARAMS - 1].join("&"));
        assert_eq!(
            publish_target("live", &ok).map(|t| t.query.len()),
            Ok(MAX_QUERY_PARAMS - 1)
        );
        let over = format!("x?s=1&{}", params.join("&"));
        assert_eq!(publish_target("live", &over), Err(NameError::TooManyParams));
    }
}
