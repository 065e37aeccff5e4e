//! Ingest beyond SRT: pulled inputs' upstream URLs and their failover schedule, sans-IO.

pub mod failover;
pub mod upstream;
