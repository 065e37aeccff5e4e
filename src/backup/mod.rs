//! Main/backup publishers (`streams.backup_publisher`): a stream fed by two encoders, players
//! getting the main one and the backup while the main is silent.
//!
//! Owns: the feed names (each role publishes a hidden stream of its own, `switch.rs` decides
//! which one the public stream carries) and the switch task (`runner.rs`) that reads the feeds
//! as byte streams on the public stream's shard (`inputs::shard_of`) and publishes the public
//! stream through `ingest::TsIngest`, which splices at every change (PAT/PMT, keyframe,
//! continuity counters, discontinuity flag, timestamps continued). Must not: touch the packet
//! path of streams without a backup, or let a feed name reach a player: the separator is a
//! control character, which no Stream ID, RTMP key or URL path may carry.

pub mod runner;
pub mod switch;

/// Which encoder a publisher is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Main,
    Backup,
}

impl Role {
    /// The publisher's role from its Stream ID user (`u=backup`) or RTMP key query
    /// (`cam1?u=backup`): anything but `backup` is the main.
    pub fn from_user(user: Option<&str>) -> Role {
        match user {
            Some(u) if u.eq_ignore_ascii_case("backup") => Role::Backup,
            _ => Role::Main,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Main => "main",
            Role::Backup => "backup",
        }
    }
}

/// Separates a public stream's name from its role in a feed's name (ASCII unit separator).
const SEPARATOR: char = '\u{1f}';

/// The hidden stream a publisher of `stream` in `role` feeds.
pub fn feed_name(stream: &str, role: Role) -> String {
    format!("{stream}{SEPARATOR}{}", role.as_str())
}

/// The public stream and role of a feed's name; `None` for any other stream.
pub fn parse_feed(name: &str) -> Option<(&str, Role)> {
    let (stream, role) = name.rsplit_once(SEPARATOR)?;
    let role = match role {
        "main" => Role::Main,
        "backup" => Role::Backup,
        _ => return None,
    };
    Some((stream, role))
}

/// A feed's name as logs and `/v1/streams` show it.
pub fn display_name(name: &str) -> std::borrow::Cow<'_, str> {
    match parse_feed(name) {
        Some((stream, role)) => format!("{stream} ({})", role.as_str()).into(),
        None => name.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_names_round_trip_and_no_public_name_parses_as_one() {
        for role in [Role::Main, Role::Backup] {
            let f = feed_name("live/cam1", role);
            assert_eq!(parse_feed(&f), Some(("live/cam1", role)));
            assert!(f.chars().any(char::is_control), "{f:?}");
        }
        for name in ["cam1", "cam1 backup", "cam1/main", "cam1#backup", ""] {
            assert_eq!(parse_feed(name), None, "{name:?}");
        }
        assert_eq!(Role::from_user(Some("Backup")), Role::Backup);
        assert_eq!(Role::from_user(Some("bob")), Role::Main);
        assert_eq!(Role::from_user(None), Role::Main);
        assert_eq!(display_name(&feed_name("c", Role::Backup)), "c (backup)");
    }
}
