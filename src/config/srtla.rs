//! `[srtla]`: the SRTLA receiver bonded senders (BELABOX, Moblin, IRL Pro) register their
//! links with, as the file has it and validated. Read once at start-up: shard 0 binds the
//! socket then.

use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;
use super::model::{in_range, invalid, socket_addr};
use super::rtmp::overlaps;

/// The SRTLA receiver, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrtlaSettings {
    /// `None` when `srtla.listen` is empty: no receiver.
    pub listen: Option<SocketAddr>,
    /// Bonded senders at once (one group each).
    pub max_groups: usize,
    /// Links one sender may register.
    pub max_links_per_group: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct SrtlaModel {
    listen: String,
    max_groups: i64,
    max_links_per_group: i64,
}

impl Default for SrtlaModel {
    fn default() -> Self {
        SrtlaModel {
            listen: String::new(),
            max_groups: 200,
            max_links_per_group: 16,
        }
    }
}

/// `srt_listen`: the SRT listener's addresses; SRTLA may not share a UDP port with one (the
/// SRT sockets bind with `SO_REUSEPORT`, the SRTLA one without, so the kernel would refuse
/// one of them at start-up: better said here, naming the key).
pub(super) fn srtla(
    m: &SrtlaModel,
    srt_listen: &[SocketAddr],
) -> Result<SrtlaSettings, ConfigError> {
    const KEY: &str = "srtla.listen";
    let max_groups = in_range("srtla.max_groups", m.max_groups, 1, 100_000)? as usize;
    let max_links_per_group =
        in_range("srtla.max_links_per_group", m.max_links_per_group, 1, 64)? as usize;
    let off = SrtlaSettings {
        listen: None,
        max_groups,
        max_links_per_group,
    };
    if m.listen.is_empty() {
        return Ok(off);
    }
    let listen = socket_addr(KEY, &m.listen)?;
    if let Some(other) = srt_listen.iter().find(|&&a| overlaps(listen, a)) {
        let reason = format!(
            "{listen} shares port {} with `srt.listen` ({other}); give SRTLA a port of its own \
             (5000 is the usual one)",
            listen.port()
        );
        return Err(invalid(KEY, reason));
    }
    Ok(SrtlaSettings {
        listen: Some(listen),
        ..off
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Host};
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_on(text, &Host::with_cpus(vec![0]))
    }

    #[test]
    fn off_by_default_and_on_with_an_address() {
        assert_eq!(parse("").unwrap().srtla.listen, None);
        let s = parse("[srtla]\nlisten = \"0.0.0.0:5000\"\nmax_groups = 3")
            .unwrap()
            .srtla;
        assert_eq!(
            s,
            SrtlaSettings {
                listen: Some("0.0.0.0:5000".parse().unwrap()),
                max_groups: 3,
                max_links_per_group: 16,
            }
        );
    }

    #[test]
    fn every_refusal_names_its_key() {
        let cases = [
            ("listen = \"5000\"", "srtla.listen", "not an address"),
            ("listen = \"0.0.0.0:9999\"", "srtla.listen", "srt.listen"),
            ("max_groups = 0", "srtla.max_groups", "at least 1"),
            (
                "max_links_per_group = 65",
                "srtla.max_links_per_group",
                "at most 64",
            ),
            // Limits are checked when it is off too.
            ("max_groups = -1", "srtla.max_groups", "at least 1"),
        ];
        for (body, want_key, says) in cases {
            match parse(&format!("[srtla]\n{body}\n")) {
                Err(ConfigError::Invalid { key, reason }) => {
                    assert_eq!(key, want_key, "{body}");
                    assert!(reason.contains(says), "{body}: {reason}");
                }
                other => panic!("{body}: expected an invalid key, got {other:?}"),
            }
        }
        // Another address on the SRT port is no conflict.
        let text = "[srt]\nlisten = [\"127.0.0.1:9999\"]\n[srtla]\nlisten = \"127.0.0.2:9999\"";
        assert!(parse(text).unwrap().srtla.listen.is_some());
    }
}
