//! `[cluster]`: this node's place in a cluster of relays sharing a stream directory in etcd.
//! Off by default: a single node needs nothing. Restart-only.
//!
//! Owns: the model and its checks. Must not: resolve or connect anything.

use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::model::in_range;
use crate::cluster::etcd::Endpoint;

/// Where the directory lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// etcd: claims, leases, fencing, failover.
    Etcd,
    /// `origins_file`: stream patterns and the origins to pull them from, read at load:
    /// edges only, no claims (setups without etcd).
    Static(Vec<StaticOrigin>),
}

/// One `[[origins]]` entry of the static directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticOrigin {
    pub streams: crate::access::Pattern,
    /// `host:port` of the origin's SRT listener.
    pub advertise: String,
}

/// `[cluster]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    pub enabled: bool,
    pub backend: Backend,
    /// `cluster.origins_file` as written.
    pub origins_file: String,
    /// `cluster.node_id` and `cluster.advertise` as written (maybe empty).
    pub node_id_setting: String,
    pub advertise_setting: String,
    /// This node's name: `node_id`, the machine's host name when not given.
    pub node_id: String,
    /// `host:port` other nodes pull this node's streams from (its SRT listener as they reach
    /// it): `advertise`, the node id and the first `srt.listen` port when not given.
    pub advertise: String,
    pub etcd: Vec<Endpoint>,
    /// Ends with `/`.
    pub prefix: String,
    pub lease_ttl: Duration,
    /// An edge pull stops this long after its last local player left.
    pub edge_idle: Duration,
    /// Shared by every node: edges present it when they pull (Stream ID
    /// `#!::r=STREAM,m=request,u=srtrelay-edge,s=SECRET`), origins admit it past `[access]`.
    pub secret: Option<String>,
    /// Encrypts every edge pull (origins require it of callers showing the secret).
    pub passphrase: Option<crate::srt::crypto::Passphrase>,
    /// Node ids this node pulls other nodes' streams through (a deeper tier), instead of
    /// from the stream's owner; empty: from the owner.
    pub upstream_nodes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct ClusterModel {
    enabled: bool,
    node_id: String,
    advertise: String,
    etcd: Vec<String>,
    prefix: String,
    lease_ttl_ms: i64,
    edge_idle_ms: i64,
    secret: String,
    passphrase: String,
    upstream_nodes: Vec<String>,
    origins_file: String,
}

impl Default for ClusterModel {
    fn default() -> Self {
        ClusterModel {
            enabled: false,
            node_id: String::new(),
            advertise: String::new(),
            etcd: vec!["http://127.0.0.1:2379".into()],
            prefix: "/srtrelay".into(),
            lease_ttl_ms: 5000,
            edge_idle_ms: 30_000,
            secret: String::new(),
            passphrase: String::new(),
            upstream_nodes: Vec::new(),
            origins_file: String::new(),
        }
    }
}

// By hand: the secret stays out of logs.
impl std::fmt::Debug for ClusterModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterModel")
            .field("enabled", &self.enabled)
            .field("node_id", &self.node_id)
            .field("advertise", &self.advertise)
            .field("etcd", &self.etcd)
            .field("prefix", &self.prefix)
            .field("upstream_nodes", &self.upstream_nodes)
            .finish_non_exhaustive()
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// The machine's host name, the default node id.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// 1 to 64 letters, digits, `-`, `_` or `.`.
fn valid_node_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// `srt_port`: the first `srt.listen` port, for the default `advertise`.
pub(super) fn cluster(m: &ClusterModel, srt_port: u16) -> Result<ClusterConfig, ConfigError> {
    let lease_ttl = Duration::from_millis(in_range(
        "cluster.lease_ttl_ms",
        m.lease_ttl_ms,
        2000,
        60_000,
    )?);
    let edge_idle = Duration::from_millis(in_range(
        "cluster.edge_idle_ms",
        m.edge_idle_ms,
        0,
        86_400_000,
    )?);
    let node_id = match m.node_id.as_str() {
        "" if m.enabled => host_name(),
        id => id.to_string(),
    };
    let advertise = match m.advertise.as_str() {
        "" if m.enabled => format!("{node_id}:{srt_port}"),
        a => a.to_string(),
    };
    let id_ok = node_id.is_empty() && !m.enabled || valid_node_id(&node_id);
    if !id_ok {
        return Err(invalid(
            "cluster.node_id",
            "needs 1 to 64 letters, digits, '-', '_' or '.', unique in the cluster",
        ));
    }
    let port_ok = advertise
        .rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
    let advertise_ok = advertise.is_empty() && !m.enabled
        || port_ok && !advertise.chars().any(|c| c.is_whitespace() || c == '/');
    if !advertise_ok {
        return Err(invalid(
            "cluster.advertise",
            "needs host:port, the SRT address other nodes reach this one at",
        ));
    }
    if m.etcd.is_empty() || m.etcd.len() > 16 {
        return Err(invalid(
            "cluster.etcd",
            "needs 1 to 16 http://host:port endpoints",
        ));
    }
    let etcd = m
        .etcd
        .iter()
        .map(|u| Endpoint::parse(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid("cluster.etcd", e))?;
    if !m.prefix.starts_with('/') || m.prefix.len() > 128 || m.prefix.chars().any(char::is_control)
    {
        return Err(invalid(
            "cluster.prefix",
            "needs a key prefix starting with '/'",
        ));
    }
    let secret = match m.secret.as_str() {
        "" => None,
        s if s.len() >= 16
            && s.len() <= 128
            && s.bytes().all(|b| b.is_ascii_graphic() && b != b',') =>
        {
            Some(s.to_string())
        }
        _ => {
            return Err(invalid(
                "cluster.secret",
                "needs 16 to 128 printable characters without spaces or commas",
            ));
        }
    };
    let passphrase = match m.passphrase.as_str() {
        "" => None,
        p => Some(
            crate::srt::crypto::Passphrase::new(p)
                .map_err(|e| invalid("cluster.passphrase", e.to_string()))?,
        ),
    };
    if m.upstream_nodes.len() > 64
        || !m.upstream_nodes.iter().all(|n| valid_node_id(n))
        || m.upstream_nodes.contains(&node_id)
    {
        return Err(invalid(
            "cluster.upstream_nodes",
            "needs up to 64 node ids of other nodes",
        ));
    }
    if !m.upstream_nodes.is_empty() && !m.origins_file.is_empty() {
        return Err(invalid(
            "cluster.upstream_nodes",
            "needs the etcd directory (a static directory names origins only)",
        ));
    }
    // A file of origins replaces etcd: the static directory.
    let backend = match m.origins_file.as_str() {
        "" => Backend::Etcd,
        path => Backend::Static(static_origins(path)?),
    };
    Ok(ClusterConfig {
        enabled: m.enabled,
        backend,
        origins_file: m.origins_file.clone(),
        node_id_setting: m.node_id.clone(),
        advertise_setting: m.advertise.clone(),
        node_id,
        advertise,
        etcd,
        prefix: format!("{}/", m.prefix.trim_end_matches('/')),
        lease_ttl,
        edge_idle,
        secret,
        passphrase,
        upstream_nodes: m.upstream_nodes.clone(),
    })
}

/// The static directory's file: `[[origins]] streams = "live/*"  advertise = "host:port"`,
/// first match wins.
fn static_origins(path: &str) -> Result<Vec<StaticOrigin>, ConfigError> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        origins: Vec<Entry>,
    }
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        streams: String,
        advertise: String,
    }
    const KEY: &str = "cluster.origins_file";
    if path.is_empty() {
        return Err(invalid(
            KEY,
            "the static backend needs a file of [[origins]]",
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| invalid(KEY, format!("{path}: {e}")))?;
    let file: File = toml::from_str(&text).map_err(|e| invalid(KEY, format!("{path}: {e}")))?;
    if file.origins.is_empty() || file.origins.len() > 4096 {
        return Err(invalid(KEY, format!("{path}: needs 1 to 4096 [[origins]]")));
    }
    file.origins
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let streams = crate::access::Pattern::new(&e.streams)
                .map_err(|r| invalid(KEY, format!("{path}: origin {}: streams: {r}", i + 1)))?;
            let ok = e
                .advertise
                .rsplit_once(':')
                .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok_and(|p| p > 0));
            if !ok {
                return Err(invalid(
                    KEY,
                    format!("{path}: origin {}: advertise needs host:port", i + 1),
                ));
            }
            Ok(StaticOrigin {
                streams,
                advertise: e.advertise,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Host};
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::from_toml_on(text, &Host::with_cpus(vec![0]))
    }

    fn refused(body: &str) -> &'static str {
        match parse(&format!("[cluster]\nenabled = true\n{body}")) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("{body:?}: expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn off_by_default_and_defaults_fill_the_node_and_its_address() {
        let c = parse("").unwrap().cluster;
        assert!(!c.enabled);
        let on = parse("[cluster]\nenabled = true\nnode_id = \"n1\"\n").unwrap();
        let port = on.srt.listen[0].port();
        assert_eq!(on.cluster.advertise, format!("n1:{port}"));
        assert_eq!(on.cluster.prefix, "/srtrelay/");
        assert_eq!(on.cluster.lease_ttl, Duration::from_secs(5));
        assert_eq!(on.cluster.etcd[0].port, 2379);
    }

    #[test]
    fn bad_values_are_refused_by_key() {
        assert_eq!(refused("node_id = \"a b\""), "cluster.node_id");
        assert_eq!(
            refused("node_id = \"n\"\nadvertise = \"host\""),
            "cluster.advertise"
        );
        assert_eq!(refused("node_id = \"n\"\netcd = []"), "cluster.etcd");
        assert_eq!(
            refused("node_id = \"n\"\netcd = [\"https://e:1\"]"),
            "cluster.etcd"
        );
        assert_eq!(
            refused("node_id = \"n\"\nprefix = \"relays\""),
            "cluster.prefix"
        );
        assert_eq!(
            refused("node_id = \"n\"\nsecret = \"short\""),
            "cluster.secret"
        );
        assert_eq!(
            refused("node_id = \"n\"\nsecret = \"0123456789abcdef,x\""),
            "cluster.secret"
        );
        assert_eq!(
            refused("node_id = \"n\"\nlease_ttl_ms = 1000"),
            "cluster.lease_ttl_ms"
        );
        // A passphrase SRT would refuse, and never echoed.
        let short = parse("[cluster]\nenabled = true\nnode_id = \"n\"\npassphrase = \"tiny-pass\"");
        match short {
            Err(ConfigError::Invalid { key, reason }) => {
                assert_eq!(key, "cluster.passphrase");
                assert!(!reason.contains("tiny-pass"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        for tiers in [r#"["n"]"#, r#"["a b"]"#, r#"[""]"#] {
            let body = format!("node_id = \"n\"\nupstream_nodes = {tiers}");
            assert_eq!(refused(&body), "cluster.upstream_nodes", "{tiers}");
        }
        let both = "node_id = \"n\"\nupstream_nodes = [\"m\"]\norigins_file = \"docs/origins.example.toml\"";
        assert_eq!(refused(both), "cluster.upstream_nodes");
        let ok = parse("[cluster]\nenabled = true\nnode_id = \"n\"\nupstream_nodes = [\"m1\", \"m2\"]\npassphrase = \"cluster-pass-1\"")
            .expect("tiers and a passphrase parse")
            .cluster;
        assert_eq!(ok.upstream_nodes, ["m1", "m2"]);
        assert!(ok.passphrase.is_some());
        let missing = refused("node_id = \"n\"\norigins_file = \"/nonexistent/origins.toml\"");
        assert_eq!(missing, "cluster.origins_file");
        let c = parse("[cluster]\nenabled = true\nnode_id = \"n\"\norigins_file = \"docs/origins.example.toml\"")
            .expect("the shipped example parses");
        match &c.cluster.backend {
            Backend::Static(o) => {
                assert_eq!(o.len(), 2);
                assert!(o[0].streams.matches("live/x") && o[1].streams.matches("any"));
            }
            other => panic!("{other:?}"),
        }
        let reject = parse(
            "[streams]\nunknown_stream = \"reject\"\n[cluster]\nenabled = true\nnode_id = \"n\"",
        );
        assert!(
            matches!(
                reject,
                Err(ConfigError::Invalid {
                    key: "cluster.enabled",
                    ..
                })
            ),
            "{reject:?}"
        );
    }
}
