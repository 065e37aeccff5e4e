//! The protocol-neutral relay core: the registry shared by the shards (`registry`), each
//! shard's streams and fan-out (`fanout`), the legs that publish into and play from them
//! (`leg`: ids, offers, the sink a protocol implements), the per-stream ring (`ring`) and the
//! shard's spare rings (`ring_pool`), and the cross-shard handoff (`handoff`). The shard loop
//! (`shard::engine`) drives them; nothing here reads the clock, touches a socket or knows a
//! protocol (SRT lives in `crate::legs::srt`).

pub mod fanout;
pub mod handoff;
pub mod leg;
pub mod registry;
pub mod ring;
pub mod ring_pool;

#[cfg(test)]
mod core_tests;
#[cfg(test)]
pub(crate) mod test_legs;
