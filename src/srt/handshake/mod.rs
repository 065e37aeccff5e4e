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

mod caller;
mod cookie;
mod listener;
mod negotiate;
mod reject;
mod streamid;

#[cfg(test)]
mod tests;

pub use caller::{CONNECT_RETRY_INTERVAL, Caller, CallerConfig, CallerConfigError, CallerEvent};
pub use cookie::{COOKIE_PERIOD, CookieJar};
pub use listener::{ConclusionRequest, DropReason, Listener, ListenerAction, ListenerConfig};
pub use negotiate::{
    DEFAULT_CALLER_FLAGS, Negotiated, OUR_SRT_VERSION, SRT_VERSION_FEAT_HSV5, decode_peer_ip,
    encode_peer_ip,
};
pub use reject::{REJC_PREDEFINED, REJC_USERDEFINED, RejectReason};
pub use streamid::{MAX_STREAMID_LEN, StreamId, StreamIdError, StreamMode};

use crate::srt::packet::{Handshake, HsExt, HsExtension};

/// A handshake to send: wrap `hs` in a HANDSHAKE control packet addressed to `dest_socket_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    pub dest_socket_id: u32,
    pub hs: Handshake,
}

/// Whether the extension field (a conclusion's extension flags) has `flag` set.
fn has_ext_flag(hs: &Handshake, flag: u16) -> bool {
    hs.extension_field & flag == flag
}

/// The HSREQ block, looked for only when the HSREQ flag is set (libsrt `interpretSrtHandshake`).
fn find_hs_req(hs: &Handshake) -> Option<HsExt> {
    if !has_ext_flag(hs, crate::srt::packet::ext_flags::HSREQ) {
        return None;
    }
    hs.extensions.iter().find_map(|e| match e {
        HsExtension::HsReq(x) => Some(*x),
        _ => None,
    })
}

/// The HSRSP block, under the same flag.
fn find_hs_rsp(hs: &Handshake) -> Option<HsExt> {
    if !has_ext_flag(hs, crate::srt::packet::ext_flags::HSREQ) {
        return None;
    }
    hs.extensions.iter().find_map(|e| match e {
        HsExtension::HsRsp(x) => Some(*x),
        _ => None,
    })
}

/// libsrt `CHandShake::valid`: version >= 4, ISN < 0x7FFFFFFF, MSS >= 32, flow window >= 2.
/// libsrt drops a conclusion failing this without answer, and a caller refuses such a response.
fn is_valid(hs: &Handshake) -> bool {
    hs.version >= crate::srt::packet::HS_VERSION_4
        && hs.initial_seq.value() < crate::srt::seq::SeqNo::MAX
        && hs.mtu >= 32
        && hs.flow_window >= 2
}

/// libsrt reads string extensions (SID, congestion) as C strings: they end at the first NUL.
fn trim_nul(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

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
