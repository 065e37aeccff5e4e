//! What a playback request asks for, from its path and query alone (no state): the player
//! page, the stream list, static assets, HTTP-TS, or an HLS playlist, segment or part.

/// Names the relay serves players: letters, digits and `-_.~/`, no empty or dot-only
/// components (so a name never walks out of a path, and `/_/` stays the relay's own).
pub fn valid_stream_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.~/".contains(&b))
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
        && !name.starts_with("_/")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/`: the list of live streams.
    Index,
    /// `/_/streams.json`.
    StreamsJson,
    /// `/_/assets/{file}` from `playback.assets_dir`.
    Asset(&'a str),
    /// `/{stream}.ts`.
    Ts(&'a str),
    /// `/{stream}/index.m3u8`.
    Playlist(&'a str),
    /// `/{stream}/seg-{msn}.ts`.
    Segment(&'a str, u64),
    /// `/{stream}/part-{msn}-{index}.ts`.
    Part(&'a str, u64, u32),
    /// `/{stream}`: the player page.
    Page(&'a str),
    NotFound,
}

pub fn route(path: &str) -> Route<'_> {
    let Some(p) = path.strip_prefix('/') else {
        return Route::NotFound;
    };
    if p.is_empty() {
        return Route::Index;
    }
    if p == "_/streams.json" {
        return Route::StreamsJson;
    }
    if let Some(f) = p.strip_prefix("_/assets/") {
        let ok = !f.is_empty()
            && f.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            && !f.starts_with('.');
        return if ok { Route::Asset(f) } else { Route::NotFound };
    }
    if let Some((stream, file)) = p.rsplit_once('/')
        && valid_stream_name(stream)
    {
        if file == "index.m3u8" {
            return Route::Playlist(stream);
        }
        if let Some(n) = file
            .strip_prefix("seg-")
            .and_then(|f| f.strip_suffix(".ts"))
            && let Some(msn) = number(n)
        {
            return Route::Segment(stream, msn);
        }
        if let Some(n) = file
            .strip_prefix("part-")
            .and_then(|f| f.strip_suffix(".ts"))
            && let Some((m, i)) = n.split_once('-')
            && let (Some(msn), Some(i)) = (number(m), number(i))
            && let Ok(i) = u32::try_from(i)
        {
            return Route::Part(stream, msn, i);
        }
    }
    if let Some(stream) = p.strip_suffix(".ts")
        && valid_stream_name(stream)
    {
        return Route::Ts(stream);
    }
    if valid_stream_name(p) {
        return Route::Page(p);
    }
    Route::NotFound
}

/// A decimal without sign or leading zeros beyond "0", at most 19 digits.
fn number(s: &str) -> Option<u64> {
    let ok = !s.is_empty()
        && s.len() <= 19
        && s.bytes().all(|b| b.is_ascii_digit())
        && (s == "0" || !s.starts_with('0'));
    ok.then(|| s.parse().ok()).flatten()
}

/// A query parameter's raw value (`a=1&b=2`); the relay's own parameters need no decoding.
pub fn query_param<'q>(query: Option<&'q str>, key: &str) -> Option<&'q str> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('=').or(Some((kv, ""))))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_routes() {
        assert_eq!(route("/"), Route::Index);
        assert_eq!(route("/live/cam1.ts"), Route::Ts("live/cam1"));
        assert_eq!(route("/cam.ts"), Route::Ts("cam"));
        assert_eq!(route("/live/cam1/index.m3u8"), Route::Playlist("live/cam1"));
        assert_eq!(
            route("/live/cam1/seg-12.ts"),
            Route::Segment("live/cam1", 12)
        );
        assert_eq!(
            route("/live/cam1/part-12-3.ts"),
            Route::Part("live/cam1", 12, 3)
        );
        assert_eq!(route("/live/cam1"), Route::Page("live/cam1"));
        assert_eq!(route("/_/streams.json"), Route::StreamsJson);
        assert_eq!(route("/_/assets/hls.min.js"), Route::Asset("hls.min.js"));
    }

    #[test]
    fn hostile_paths_are_not_found() {
        for p in [
            "",
            "live",
            "/../etc/passwd",
            "/live/../x.ts",
            "/_/assets/../config.toml",
            "/_/assets/.hidden",
            "/_/other",
            "/a//b.ts",
            "/live/cam%201.ts",
            "/live/cam1/seg-01.ts",
            "/live/cam1/part-1-99999999999.ts",
        ] {
            let r = route(p);
            assert!(
                matches!(r, Route::NotFound | Route::Page(_) | Route::Ts(_)),
                "{p}: {r:?}"
            );
            if let Route::Page(n) | Route::Ts(n) = r {
                assert!(valid_stream_name(n) && !n.contains(".."), "{p}: {r:?}");
            }
        }
        assert_eq!(route("/live/../x.ts"), Route::NotFound);
        assert_eq!(route("/_/assets/../config.toml"), Route::NotFound);
        assert_eq!(route(&format!("/{}.ts", "a".repeat(600))), Route::NotFound);
    }

    #[test]
    fn query_parameters() {
        let q = Some("_HLS_msn=5&_HLS_part=2&s=abc");
        assert_eq!(query_param(q, "_HLS_msn"), Some("5"));
        assert_eq!(query_param(q, "_HLS_part"), Some("2"));
        assert_eq!(query_param(q, "s"), Some("abc"));
        assert_eq!(query_param(q, "x"), None);
        assert_eq!(query_param(None, "s"), None);
    }
}
