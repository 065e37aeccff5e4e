//! A fast hasher for maps keyed by ids the relay hands out itself (SRT socket ids, leg ids):
//! those keys are spread by our own seeded generator, so the DoS resistance of std's SipHash
//! buys nothing there, and SipHash showed as 5 % of the relay's profile (several lookups per
//! delivered packet). Maps keyed by anything a peer chooses (addresses, names) keep SipHash.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The multiply-rotate step of rustc's FxHasher.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

const K: u64 = 0xf135_7aea_2e62_a9c5;

impl IdHasher {
    fn add(&mut self, v: u64) {
        self.0 = (self.0 ^ v).wrapping_mul(K);
    }
}

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }

    fn finish(&self) -> u64 {
        // The product's high bits are the well-mixed ones; hashbrown indexes buckets with the
        // low bits.
        self.0.rotate_left(26)
    }
}

pub type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequential_and_strided_ids_spread_over_buckets() {
        // Socket ids congruent to the shard index (stride 2) must not pile into a few buckets.
        for stride in [1u32, 2, 64] {
            let mut low = std::collections::HashSet::new();
            for i in 0..1024u32 {
                let mut h = IdHasher::default();
                h.write_u32(0x1000_0000 + i * stride);
                low.insert(h.finish() & 1023);
            }
            assert!(
                low.len() > 600,
                "stride {stride}: {} buckets of 1024",
                low.len()
            );
        }
        let mut m: IdMap<u32, u32> = IdMap::default();
        m.insert(7, 1);
        assert_eq!(m.get(&7), Some(&1));
    }
}
