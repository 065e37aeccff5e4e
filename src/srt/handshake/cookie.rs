//! Stateless SYN cookies for the induction phase (draft-sharabayko-srt §4.3.1.1: "a cookie that
//! is crafted based on host, port and current time with 1 minute accuracy").
//!
//! Owns: computing and verifying cookies. Must not: read the clock or keep per-peer state. The
//! secret and the epoch are injected, and every shard gets the same pair, so a conclusion that
//! lands on another shard than its induction still verifies.
//!
//! libsrt (`CUDT::bake`) hashes "host:port:minute" with MD5 and accepts the current and the
//! previous minute; we use a keyed SipHash-2-4 instead (a secret key makes cookies unforgeable
//! without the listener's secret, which an unkeyed MD5 of public data is not). Only the listener
//! ever checks its own cookies, so the hash choice does not affect interop.

use std::hash::Hasher;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use siphasher::sip::SipHasher24;

/// Cookies are valid for the minute they were made in and the next one.
pub const COOKIE_PERIOD: Duration = Duration::from_secs(60);

/// Makes and checks SYN cookies. Cheap to copy; holds no per-peer state.
#[derive(Clone, Copy)]
pub struct CookieJar {
    k0: u64,
    k1: u64,
    epoch: Instant,
}

impl CookieJar {
    /// `secret` keys the hash; `epoch` is the instant minute 0 starts. All shards must share both.
    pub fn new(secret: [u8; 16], epoch: Instant) -> CookieJar {
        let (lo, hi) = secret.split_at(8);
        CookieJar {
            k0: u64::from_le_bytes(lo.try_into().expect("split_at(8) of 16 bytes")),
            k1: u64::from_le_bytes(hi.try_into().expect("split_at(8) of 16 bytes")),
            epoch,
        }
    }

    /// The minute number of `now`: whole `COOKIE_PERIOD`s since the epoch (0 before it).
    pub fn minute(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs() / COOKIE_PERIOD.as_secs()
    }

    /// The cookie for `peer` at `now`. Never 0: 0 means "no cookie" in an induction request.
    pub fn cookie(&self, now: Instant, peer: SocketAddr) -> u32 {
        self.cookie_for_minute(peer, self.minute(now))
    }

    /// Whether `cookie` was made for `peer` in the current or the previous minute (libsrt
    /// `processConnectRequest` accepts the same window: `bake(addr)` then `bake(addr, .., -1)`).
    pub fn verify(&self, now: Instant, peer: SocketAddr, cookie: u32) -> bool {
        let minute = self.minute(now);
        cookie != 0
            && (cookie == self.cookie_for_minute(peer, minute)
                || (minute > 0 && cookie == self.cookie_for_minute(peer, minute - 1)))
    }

    /// The cookie for `peer` in a given minute.
    pub fn cookie_for_minute(&self, peer: SocketAddr, minute: u64) -> u32 {
        let mut h = SipHasher24::new_with_keys(self.k0, self.k1);
        // A family tag keeps an IPv4 address apart from an IPv6 one with the same leading bytes.
        match peer {
            SocketAddr::V4(a) => {
                h.write_u8(4);
                h.write(&a.ip().octets());
            }
            SocketAddr::V6(a) => {
                h.write_u8(6);
                h.write(&a.ip().octets());
            }
        }
        h.write_u16(peer.port());
        h.write_u64(minute);
        let full = h.finish();
        let folded = (full ^ (full >> 32)) as u32;
        if folded == 0 { 1 } else { folded }
    }
}

impl std::fmt::Debug for CookieJar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("CookieJar")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::srt::handshake::test_util::t0;

    const SECRET: [u8; 16] = *b"0123456789abcdef";

    fn addr(s: &str) -> SocketAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn differs_by_peer_port_minute_and_secret() {
        let epoch = t0();
        let jar = CookieJar::new(SECRET, epoch);
        let p = addr("192.0.2.1:5000");
        let base = jar.cookie_for_minute(p, 7);
        assert_ne!(base, jar.cookie_for_minute(addr("192.0.2.2:5000"), 7));
        assert_ne!(base, jar.cookie_for_minute(addr("192.0.2.1:5001"), 7));
        assert_ne!(base, jar.cookie_for_minute(p, 8));
        let mut other = SECRET;
        other[15] ^= 1;
        assert_ne!(
            base,
            CookieJar::new(other, epoch).cookie_for_minute(p, 7),
            "a different secret gives a different cookie"
        );
        assert_ne!(
            jar.cookie_for_minute(addr("[::ffff:192.0.2.1]:5000"), 7),
            base,
            "v4 and v4-mapped v6 are different peers"
        );
        assert_eq!(base, jar.cookie_for_minute(p, 7), "deterministic");
    }

    #[test]
    fn verify_window_is_current_and_previous_minute() {
        let epoch = t0();
        let jar = CookieJar::new(SECRET, epoch);
        let p = addr("198.51.100.7:40000");
        let made_at = epoch + Duration::from_secs(60 * 10 + 59);
        let c = jar.cookie(made_at, p);
        assert_ne!(c, 0);
        assert!(jar.verify(made_at, p, c));
        // One second later it is the next minute: still accepted as the previous one.
        assert!(jar.verify(made_at + Duration::from_secs(1), p, c));
        assert!(jar.verify(made_at + Duration::from_secs(60), p, c));
        // Two minutes on: rejected.
        assert!(!jar.verify(made_at + Duration::from_secs(61), p, c));
        assert!(!jar.verify(made_at + Duration::from_secs(120), p, c));
        // Wrong peer, zero.
        assert!(!jar.verify(made_at, addr("198.51.100.7:40001"), c));
        assert!(!jar.verify(made_at, p, 0));
        // A cookie from the future (minute + 1) is not accepted either.
        let future = jar.cookie_for_minute(p, jar.minute(made_at) + 1);
        assert!(!jar.verify(made_at, p, future));
    }

    #[test]
    fn minute_zero_and_before_epoch() {
        let epoch = t0() + Duration::from_secs(3600);
        let jar = CookieJar::new(SECRET, epoch);
        let p = addr("10.0.0.1:1");
        assert_eq!(jar.minute(epoch - Duration::from_secs(5)), 0);
        let c = jar.cookie(epoch, p);
        assert!(jar.verify(epoch + Duration::from_secs(59), p, c));
    }

    #[test]
    fn never_zero() {
        let jar = CookieJar::new(SECRET, t0());
        for port in 0..2000u16 {
            let p = SocketAddr::from(([10, 1, 2, 3], port));
            assert_ne!(jar.cookie_for_minute(p, u64::from(port)), 0);
        }
    }

    #[test]
    fn debug_hides_secret() {
        let jar = CookieJar::new(SECRET, t0());
        let s = format!("{jar:?}");
        assert!(!s.contains("k0") && !s.contains(&u64::from_le_bytes(*b"01234567").to_string()));
    }
}
