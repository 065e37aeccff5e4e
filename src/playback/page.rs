//! The player page and the stream list: the HTML in `page/` (no framework, no third-party code
//! committed; hls.js comes from `playback.hls_js_url`), with the three placeholders filled in,
//! and `/_/streams.json`, which both pages poll.

use std::fmt::Write as _;
use std::time::Instant;

use super::PlaybackShared;

const INDEX: &str = include_str!("page/index.html");
const PLAYER: &str = include_str!("page/player.html");

pub fn index() -> &'static str {
    INDEX
}

/// The player page of `name` (a valid stream name: see `routes::valid_stream_name`).
pub fn player(name: &str, hls_js_url: &str) -> String {
    PLAYER
        .replace("{{HLS_JS_URL}}", &escape(hls_js_url))
        .replace("{{PLAYLIST_URL}}", &escape(&format!("/{name}/index.m3u8")))
        .replace("{{STREAM}}", &escape(name))
}

/// HTML escaping for text and quoted attributes.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `{"streams":[{"name", "bitrate_kbps", "uptime_s", "players": {"srt", "http_ts", "hls"},
/// "ts_url", "hls_url", "page_url"}]}`: live streams, from every shard's board entry.
pub fn streams_json(shared: &PlaybackShared, now: Instant) -> String {
    let hls = shared.hls.clients(now);
    let streams: Vec<serde_json::Value> = shared
        .board
        .streams(now)
        .into_iter()
        .map(|s| {
            let mut hls_url = String::new();
            if shared.cfg.hls.is_some() {
                let _ = write!(hls_url, "/{}/index.m3u8", s.name);
            }
            serde_json::json!({
                "name": s.name,
                "bitrate_kbps": s.bitrate_bps / 1000,
                "uptime_s": s.uptime.as_secs(),
                "players": {
                    "srt": s.srt_players,
                    "http_ts": s.http_ts_players,
                    "hls": hls.get(&s.name).copied().unwrap_or(0),
                },
                "ts_url": format!("/{}.ts", s.name),
                "hls_url": hls_url,
                "page_url": format!("/{}", s.name),
            })
        })
        .collect();
    serde_json::json!({ "streams": streams }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_player_page_fills_every_placeholder_escaped() {
        let p = player("live/cam1", "/_/assets/hls.min.js?v=1&x=2");
        assert!(!p.contains("{{"), "a placeholder left");
        assert!(p.contains(r#"data-playlist="/live/cam1/index.m3u8""#));
        assert!(p.contains(r#"src="/_/assets/hls.min.js?v=1&amp;x=2""#));
        assert_eq!(
            escape(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
