//! `cluster.upstream_nodes`: which node an edge pulls a stream through.
//!
//! Owns: the choice among the configured upstream nodes (rendezvous hashing on this node,
//! the stream and the candidate, so the edges of one stream spread over the tier and each
//! edge keeps its choice while the tier stands), skipping nodes the directory does not list
//! and nodes that pull back through this one (a cycle would have every node wait for the
//! others). Must not: do IO; it reads the node records the directory last listed.

use std::collections::BTreeMap;

use super::directory::Owner;

/// Where a pull of one stream goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The stream's owner: no tiers configured, or the owner is one of them.
    Owner(Owner),
    /// A node of the upstream tier, which pulls the stream itself.
    Tier(Owner),
    /// Tiers are configured but none is listed or usable: the owner, directly.
    OwnerFallback(Owner),
}

impl Source {
    pub fn node(&self) -> &Owner {
        match self {
            Source::Owner(o) | Source::Tier(o) | Source::OwnerFallback(o) => o,
        }
    }
}

/// The node `me` pulls `stream` (served by `owner`) from.
pub fn pull_source(
    me: &str,
    stream: &str,
    owner: &Owner,
    upstream_nodes: &[String],
    nodes: &BTreeMap<String, Owner>,
) -> Source {
    if upstream_nodes.is_empty() || upstream_nodes.contains(&owner.node) {
        return Source::Owner(owner.clone());
    }
    upstream_nodes
        .iter()
        .filter_map(|id| nodes.get(id).filter(|n| n.node == *id))
        .filter(|n| !reaches(n, me, nodes))
        .max_by_key(|n| score(me, stream, &n.node))
        .map_or_else(
            || Source::OwnerFallback(owner.clone()),
            |n| Source::Tier(n.clone()),
        )
}

/// Whether `from` pulls through `target`, directly or through its own tiers.
fn reaches(from: &Owner, target: &str, nodes: &BTreeMap<String, Owner>) -> bool {
    let mut seen: Vec<&str> = Vec::new();
    let mut todo: Vec<&str> = from.upstream.iter().map(String::as_str).collect();
    while let Some(id) = todo.pop() {
        if id == target {
            return true;
        }
        if seen.contains(&id) {
            continue;
        }
        seen.push(id);
        if let Some(n) = nodes.get(id) {
            todo.extend(n.upstream.iter().map(String::as_str));
        }
    }
    false
}

/// FNV-1a: stable across processes and versions, unlike std's hasher.
fn score(me: &str, stream: &str, candidate: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [me, stream, candidate] {
        for b in part.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, upstream: &[&str]) -> Owner {
        Owner {
            node: id.into(),
            advertise: format!("{id}:9000"),
            upstream: upstream.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn listed(ns: &[Owner]) -> BTreeMap<String, Owner> {
        ns.iter().map(|n| (n.node.clone(), n.clone())).collect()
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn without_tiers_or_with_the_owner_among_them_the_owner_is_pulled() {
        let origin = node("origin", &[]);
        let nodes = listed(&[origin.clone(), node("mid1", &[])]);
        let got = pull_source("edge", "live/a", &origin, &[], &nodes);
        assert_eq!(got, Source::Owner(origin.clone()));
        let got = pull_source("edge", "live/a", &origin, &ids(&["mid1", "origin"]), &nodes);
        assert_eq!(got, Source::Owner(origin));
    }

    #[test]
    fn edges_of_one_stream_spread_over_the_tier_and_keep_their_choice() {
        let origin = node("origin", &[]);
        let mids = ["mid1", "mid2", "mid3"];
        let mut all: Vec<Owner> = mids.iter().map(|m| node(m, &[])).collect();
        all.push(origin.clone());
        let nodes = listed(&all);
        let mut used = std::collections::BTreeSet::new();
        for e in 0..30 {
            let me = format!("edge{e}");
            let got = pull_source(&me, "live/a", &origin, &ids(&mids), &nodes);
            let Source::Tier(n) = &got else {
                panic!("{me}: {got:?}")
            };
            used.insert(n.node.clone());
            // The same answer on every read of the same directory.
            assert_eq!(
                pull_source(&me, "live/a", &origin, &ids(&mids), &nodes),
                got
            );
        }
        assert_eq!(used.len(), 3, "30 edges use every mid node: {used:?}");
    }

    #[test]
    fn a_tier_node_gone_from_the_directory_moves_only_its_edges() {
        let origin = node("origin", &[]);
        let mids = ids(&["mid1", "mid2", "mid3"]);
        let full = listed(&[node("mid1", &[]), node("mid2", &[]), node("mid3", &[])]);
        let mut less = full.clone();
        less.remove("mid2");
        for e in 0..30 {
            let me = format!("edge{e}");
            let before = pull_source(&me, "s", &origin, &mids, &full);
            let after = pull_source(&me, "s", &origin, &mids, &less);
            if before.node().node != "mid2" {
                assert_eq!(before, after, "{me} kept its node");
            } else {
                assert!(matches!(after, Source::Tier(ref n) if n.node != "mid2"));
            }
        }
        let got = pull_source("edge0", "s", &origin, &mids, &BTreeMap::new());
        assert_eq!(got, Source::OwnerFallback(origin));
    }

    #[test]
    fn a_tier_that_pulls_back_through_this_node_is_never_chosen() {
        let origin = node("origin", &[]);
        // b pulls through c, c through a: a must not pull through b (nor c).
        let nodes = listed(&[node("a", &["b"]), node("b", &["c"]), node("c", &["a"])]);
        let got = pull_source("a", "s", &origin, &ids(&["b"]), &nodes);
        assert_eq!(got, Source::OwnerFallback(origin.clone()));
        // With d, which pulls from the owner, a uses d.
        let mut nodes = nodes;
        nodes.insert("d".into(), node("d", &[]));
        let got = pull_source("a", "s", &origin, &ids(&["b", "d"]), &nodes);
        assert_eq!(got, Source::Tier(node("d", &[])));
    }
}
