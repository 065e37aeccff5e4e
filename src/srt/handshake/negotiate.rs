//! What a finished handshake agreed on, and the rules both sides use to agree
//! (draft-sharabayko-srt §3.2.1.1, §4.4; libsrt `processSrtMsg_HSREQ`, `fillSrtHandshake_HSRSP`,
//! `processSrtMsg_HSRSP`, `acceptAndRespond`).
//!
//! Owns: [`Negotiated`], the latency rule, and the peer-IP field encoding. Must not: build or
//! send packets.
//!
//! Latency fields, as libsrt uses them (HSv5):
//! - HSREQ from the caller: `recv_tsbpd_delay_ms` (upper 16 bits) = the caller's own receive
//!   latency (`SRTO_RCVLATENCY`); `send_tsbpd_delay_ms` (lower 16 bits) = the latency the caller
//!   proposes for the listener's receiver (`SRTO_PEERLATENCY`).
//! - The listener receives with `max(own rcvlatency, HSREQ.send)` (if the caller set TSBPDSND)
//!   and the caller receives with `max(own peerlatency, HSREQ.recv)` (if the caller set
//!   TSBPDRCV).
//! - HSRSP from the listener: `recv` = the listener's receive latency, `send` = the caller's
//!   receive latency, both already maximised; the caller takes them as they are.
//!
//! So each direction runs at the max of the receiver's rcvlatency and the sender's peerlatency.

use std::net::IpAddr;
use std::time::Duration;

use super::streamid::StreamId;
use crate::srt::packet::HsFlags;
use crate::srt::seq::SeqNo;

/// The parameters a connection starts with once the handshake is done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The peer's SRT socket id: the destination socket id of everything we send.
    pub peer_socket_id: u32,
    /// Initial sequence number for both directions: libsrt HSv5 uses the caller's ISN both ways
    /// (`acceptAndRespond`: `m_iISN = m_iPeerISN = hs.m_iISN`).
    pub isn: SeqNo,
    /// Maximum packet size including IP/UDP headers: the min of both sides' MSS.
    pub mtu: u32,
    /// The peer's flow window (packets it can take in flight).
    pub peer_flow_window: u32,
    /// TSBPD latency for packets we receive.
    pub recv_latency: Duration,
    /// TSBPD latency the peer's receiver uses for packets we send (drives our too-late drop).
    pub send_latency: Duration,
    /// The peer's HSREQ/HSRSP flags (TLPKTDROP, PERIODICNAK, REXMITFLG, ...).
    pub peer_flags: HsFlags,
    /// The peer's SRT version, e.g. 0x010501.
    pub peer_srt_version: u32,
    /// The caller's Stream ID: as received on the listener side, as configured on the caller side
    /// (`None` when absent or malformed).
    pub stream_id: Option<StreamId>,
}

/// The smallest SRT version that speaks HSv5 (libsrt `SRT_VERSION_FEAT_HSv5`); a HSv5 HSREQ with
/// a smaller version is rejected as `SRT_REJ_ROGUE`.
pub const SRT_VERSION_FEAT_HSV5: u32 = 0x0001_0300;

/// Our SRT version as sent in HSREQ/HSRSP: 1.5.1, the reference peer's version.
pub const OUR_SRT_VERSION: u32 = 0x0001_0501;

/// The flags we send in HSREQ: TSBPDSND | TSBPDRCV | CRYPT | TLPKTDROP | PERIODICNAK | REXMITFLG.
/// libsrt 1.5.1 sends 0xBF, which adds PACKET_FILTER (0x80, "filter capable"): we have no packet
/// filter (FEC), so we do not claim it, and a libsrt listener then sends us no FILTER extension.
pub const DEFAULT_CALLER_FLAGS: u32 = HsFlags::TSBPDSND
    | HsFlags::TSBPDRCV
    | HsFlags::CRYPT
    | HsFlags::TLPKTDROP
    | HsFlags::PERIODICNAK
    | HsFlags::REXMITFLG;

/// Largest latency the 16-bit millisecond fields carry.
const MAX_LATENCY_MS: u16 = u16::MAX;

/// A latency as the 16-bit millisecond value the handshake carries, saturating (config validation
/// is expected to keep latencies far below 65 s).
pub(crate) fn latency_ms(d: Duration) -> u16 {
    u16::try_from(d.as_millis()).unwrap_or(MAX_LATENCY_MS)
}

pub(crate) fn ms(v: u16) -> Duration {
    Duration::from_millis(u64::from(v))
}

/// The listener's side of the latency rule, from the caller's HSREQ. Returns
/// `(listener_recv_ms, caller_recv_ms)`, i.e. the HSRSP `recv` and `send` fields.
pub(crate) fn listener_latencies(
    our_recv_ms: u16,
    our_peer_ms: u16,
    req_flags: HsFlags,
    req_recv_ms: u16,
    req_send_ms: u16,
) -> (u16, u16) {
    // libsrt processSrtMsg_HSREQ: only a TSBPD sender's proposal counts for our receiver ...
    let recv = if req_flags.contains(HsFlags::TSBPDSND) {
        our_recv_ms.max(req_send_ms)
    } else {
        our_recv_ms
    };
    // ... and only a TSBPD receiver's own latency counts for the reverse direction.
    let peer = if req_flags.contains(HsFlags::TSBPDRCV) {
        our_peer_ms.max(req_recv_ms)
    } else {
        our_peer_ms
    };
    (recv, peer)
}

/// Encodes an address for the handshake's 128-bit peer IP field, as libsrt writes it.
///
/// libsrt (`CIPAddress::ntop` + per-word `htonl` of the CIF) stores the address as four 32-bit
/// words taken in host (little-endian) order, so on the wire each 4-byte group of the address
/// appears byte-reversed: 127.0.0.1 is `01 00 00 7f` followed by 12 zero bytes (checked against
/// srt-live-transmit 1.5.1). The field is informational; nobody routes on it.
pub fn encode_peer_ip(ip: IpAddr) -> [u8; 16] {
    let mut out = [0u8; 16];
    match ip {
        IpAddr::V4(v4) => out[..4].copy_from_slice(&v4.octets()),
        IpAddr::V6(v6) => out.copy_from_slice(&v6.octets()),
    }
    for word in out.chunks_exact_mut(4) {
        word.reverse();
    }
    out
}

/// Decodes the peer IP field written by [`encode_peer_ip`] (or libsrt): IPv4 when the last 12
/// bytes are zero.
pub fn decode_peer_ip(field: &[u8; 16]) -> IpAddr {
    let mut b = *field;
    for word in b.chunks_exact_mut(4) {
        word.reverse();
    }
    if b[4..].iter().all(|&x| x == 0) {
        IpAddr::from([b[0], b[1], b[2], b[3]])
    } else {
        IpAddr::from(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: HsFlags = HsFlags(HsFlags::TSBPDSND | HsFlags::TSBPDRCV);

    #[test]
    fn latency_is_max_of_receiver_and_sender_proposal() {
        // Caller: rcvlatency 200, peerlatency 120. Listener: rcvlatency 120, peerlatency 80.
        let (listener_recv, caller_recv) = listener_latencies(120, 80, BOTH, 200, 120);
        assert_eq!(listener_recv, 120, "max(listener rcv 120, caller peer 120)");
        assert_eq!(caller_recv, 200, "max(listener peer 80, caller rcv 200)");

        // Listener wants more in both directions.
        assert_eq!(listener_latencies(500, 300, BOTH, 120, 120), (500, 300));
        // Caller asks the listener to hold more than it would.
        assert_eq!(listener_latencies(120, 120, BOTH, 120, 1000), (1000, 120));
    }

    #[test]
    fn latency_ignores_sides_without_tsbpd() {
        let none = HsFlags(0);
        assert_eq!(listener_latencies(120, 80, none, 900, 900), (120, 80));
        let snd_only = HsFlags(HsFlags::TSBPDSND);
        assert_eq!(listener_latencies(120, 80, snd_only, 900, 300), (300, 80));
    }

    #[test]
    fn latency_ms_saturates() {
        assert_eq!(latency_ms(Duration::from_millis(120)), 120);
        assert_eq!(latency_ms(Duration::from_micros(120_900)), 120);
        assert_eq!(latency_ms(Duration::from_secs(100)), u16::MAX);
        assert_eq!(ms(250), Duration::from_millis(250));
    }

    #[test]
    fn peer_ip_matches_libsrt_bytes() {
        let v4 = encode_peer_ip("127.0.0.1".parse().expect("ip"));
        assert_eq!(
            v4,
            [1, 0, 0, 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            "as captured from srt-live-transmit 1.5.1"
        );
        assert_eq!(
            decode_peer_ip(&v4),
            "127.0.0.1".parse::<IpAddr>().expect("ip")
        );

        let ip6: IpAddr = "2001:db8::1".parse().expect("ip");
        let v6 = encode_peer_ip(ip6);
        assert_eq!(&v6[..4], &[0xb8, 0x0d, 0x01, 0x20]);
        assert_eq!(decode_peer_ip(&v6), ip6);
    }
}
