//! The HSv5 caller-listener handshake, sans-IO (draft-sharabayko-srt §4.3, §3.2.1; libsrt 1.5.1
//! `srtcore/core.cpp` as the reference).
//!
//! Owns: SYN cookies, the stateless listener, the caller state machine, Stream ID parsing,
//! rejection codes, and the negotiated connection parameters. Must not: touch sockets, read the
//! clock, parse or emit bytes (it works on typed [`Handshake`] values from `packet`), or hold
//! per-peer state on the listener side. Rendezvous and HSv4 are not supported.
//!
//! The endpoint wraps each [`Transmit`] in a control packet (type HANDSHAKE, destination socket
//! id `dest_socket_id`). It should keep the header timestamp of the caller's conclusion: libsrt
//! derives the peer's TSBPD time base from it (`processSrtMsg_HSREQ`: start = now - timestamp).

mod cookie;
mod reject;
mod streamid;

pub use cookie::{COOKIE_PERIOD, CookieJar};
pub use reject::{REJC_PREDEFINED, REJC_USERDEFINED, RejectReason};
pub use streamid::{MAX_STREAMID_LEN, StreamId, StreamIdError, StreamMode};

#[cfg(test)]
pub(crate) mod test_util {
    use std::sync::OnceLock;
    use std::time::Instant;

    /// A fixed base instant for virtual time in tests. Tests only ever add to it, so its value
    /// does not matter; reading the clock once here is the only way to get an `Instant`.
    #[allow(clippy::disallowed_methods)]
    pub(crate) fn t0() -> Instant {
        static BASE: OnceLock<Instant> = OnceLock::new();
        *BASE.get_or_init(Instant::now)
    }
}
