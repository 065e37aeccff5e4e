//! Pulled inputs on the shards: each `[[inputs]]` entry runs as a task on one shard
//! (`runner.rs`), reading its upstreams (`source.rs`, `http.rs`) and publishing one stream
//! through `legs::ingest`. The sans-IO parts (URLs, the failover schedule, the TS pipeline,
//! the file pacer) are in `src/ingest`.

pub mod http;
pub mod runner;
pub mod source;
pub mod tls;

/// The shard that runs input `stream` of a relay with `shards` shards: stable across reloads,
/// so a reload restarts only what changed, on the shard that ran it.
pub fn shard_of(stream: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in stream.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % shards.max(1) as u64) as usize
}
