//! The stateless HSv5 listener (draft-sharabayko-srt §4.3.1; libsrt `processConnectRequest`,
//! `newConnection`, `acceptAndRespond`, `interpretSrtHandshake`).
//!
//! Owns: answering inductions with a SYN cookie, checking conclusions, and building the
//! conclusion response or the rejection. Must not: keep per-peer state, allocate connection
//! state, read the clock, or decide access policy (the Stream ID is parsed and handed up).
//!
//! Flow for the endpoint:
//! 1. `handle(now, peer, &hs)` on every handshake whose destination socket id is 0.
//! 2. [`ListenerAction::Reply`]: send it. [`ListenerAction::Reject`]: send it and count the
//!    reason. [`ListenerAction::Drop`]: send nothing and count the reason.
//! 3. [`ListenerAction::Conclusion`]: if a connection for (peer address, caller socket id)
//!    already exists, resend the reply stored for it (callers repeat their conclusion every
//!    250 ms until they see a response). Otherwise apply policy to the Stream ID, then either
//!    `reject(req.handshake(), reason)` or `accept(&req, new_socket_id)`, create the connection
//!    from [`Negotiated`], store the reply with it and send it. `accept` is deterministic (same
//!    request and socket id, same reply), so storing it or rebuilding it are equivalent.
//!
//! Rejections we send copy the caller's handshake with the type set to `1000 + code` and no
//! extensions, to the caller's socket id, as libsrt does for rejections made before it
//! allocates a socket.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::cookie::CookieJar;
use super::negotiate::{
    Negotiated, OUR_SRT_VERSION, SRT_VERSION_FEAT_HSV5, encode_peer_ip, latency_ms,
    listener_latencies, ms,
};
use super::reject::RejectReason;
use super::streamid::{StreamId, StreamIdError};
use super::{Transmit, find_hs_req, has_ext_flag, is_valid, trim_nul};
use crate::srt::packet::{
    HS_MAGIC, HS_VERSION_4, HS_VERSION_5, Handshake, HandshakeType, HsExt, HsExtension, HsFlags,
    KeyMaterial, KmResponse, ext_flags,
};

/// Listener settings that shape the handshake.
#[derive(Debug, Clone)]
pub struct ListenerConfig {
    /// Our receive latency (`SRTO_RCVLATENCY`; libsrt live default 120 ms).
    pub recv_latency: Duration,
    /// The latency we ask the caller's receiver to use (`SRTO_PEERLATENCY`; 120 ms in live mode).
    pub peer_latency: Duration,
    /// Our maximum packet size including IP/UDP headers (`SRTO_MSS`, 1500).
    pub mtu: u32,
    /// The flow window we advertise. libsrt advertises `min(SRTO_RCVBUF, SRTO_FC)` in packets,
    /// which is 8192 with its defaults (captured from srt-live-transmit 1.5.1), not SRTO_FC's
    /// 25600: it must not exceed what our receive buffer holds.
    pub flow_window: u32,
    /// Our SRT version in HSRSP.
    pub srt_version: u32,
    /// We drop too-late packets as a receiver (TLPKTDROP; libsrt live default on).
    pub tlpktdrop: bool,
    /// We send periodic NAK reports (PERIODICNAK; libsrt live default on).
    pub periodic_nak: bool,
    /// Encryption key length we advertise, in bytes (0, 16, 24 or 32; `SRTO_PBKEYLEN`). It goes
    /// in the encryption field as `len / 8` (libsrt `SrtHSRequest::wrapFlags`).
    pub pbkeylen: u8,
    /// Ceiling on either direction's negotiated latency: a caller asking for more gets this
    /// (the relay's `srt.max_latency_ms`). The floor needs no check: each direction runs at
    /// the larger of both proposals, so never below ours.
    pub max_latency: Duration,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            recv_latency: Duration::from_millis(120),
            peer_latency: Duration::from_millis(120),
            mtu: 1500,
            flow_window: 8192,
            srt_version: OUR_SRT_VERSION,
            tlpktdrop: true,
            periodic_nak: true,
            pbkeylen: 0,
            max_latency: Duration::from_millis(u64::from(u16::MAX)),
        }
    }
}

/// What the endpoint should do with a handshake sent to socket id 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenerAction {
    /// Send this handshake (the induction response). Nothing else happens.
    Reply(Transmit),
    /// The conclusion is refused at protocol level: send this rejection and count `reason`.
    Reject {
        reply: Transmit,
        reason: RejectReason,
    },
    /// A conclusion with a valid cookie and a usable HSv5 request: apply policy, then call
    /// [`Listener::accept`] or [`Listener::reject`].
    Conclusion(ConclusionRequest),
    /// Send nothing (libsrt sends nothing in these cases either).
    Drop(DropReason),
}

/// Why a handshake got no answer. Each is worth its own counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
pub enum DropReason {
    /// The conclusion's cookie is not ours for this peer in this or the previous minute (stale,
    /// spoofed source, or sent to another listener). libsrt drops these silently.
    #[error("bad or expired SYN cookie")]
    BadCookie,
    /// Fields a handshake cannot have (libsrt `CHandShake::valid`): version below 4, ISN
    /// 0x7FFFFFFF, MSS below 32, flow window below 2.
    #[error("malformed handshake")]
    Malformed,
    /// WAVEAHAND: a rendezvous peer. Rendezvous is not supported; a libsrt listener also ends up
    /// dropping it (the rendezvous cookie never matches its own).
    #[error("rendezvous handshake sent to a listener")]
    Rendezvous,
    /// AGREEMENT, DONE, or a rejection: not something a listener answers (answering a
    /// rejection could loop between two buggy peers).
    #[error("handshake type a listener does not take")]
    UnexpectedType,
}

/// A conclusion that passed the protocol checks, waiting for the application's decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConclusionRequest {
    peer: SocketAddr,
    hs: Handshake,
    hs_req: HsExt,
    stream_id: Result<Option<StreamId>, StreamIdError>,
}

impl ConclusionRequest {
    /// The caller's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The caller's SRT socket id (the destination of everything we send it).
    pub fn peer_socket_id(&self) -> u32 {
        self.hs.socket_id
    }

    /// The conclusion as received.
    pub fn handshake(&self) -> &Handshake {
        &self.hs
    }

    /// The caller's HSREQ.
    pub fn hs_req(&self) -> &HsExt {
        &self.hs_req
    }

    /// The caller's Stream ID: `Ok(None)` when it sent none, `Err` when it is malformed (answer
    /// with [`RejectReason::BadRequest`] unless policy says otherwise).
    pub fn stream_id(&self) -> &Result<Option<StreamId>, StreamIdError> {
        &self.stream_id
    }

    /// The caller's KMREQ, when it wants encryption. The endpoint answers it with
    /// `crypto::respond_to_kmreq` under the application's `Admit::encryption` (libsrt's
    /// default for a listener without a passphrase: reject with [`RejectReason::Unsecure`]).
    pub fn km_request(&self) -> Option<&KeyMaterial> {
        if !has_ext_flag(&self.hs, ext_flags::KMREQ) {
            return None;
        }
        self.hs.extensions.iter().find_map(|e| match e {
            HsExtension::KmReq(km) => Some(km),
            _ => None,
        })
    }
}

/// The stateless listener. One per shard, all built from the same secret and epoch.
#[derive(Debug, Clone)]
pub struct Listener {
    cookies: CookieJar,
    config: ListenerConfig,
}

impl Listener {
    pub fn new(secret: [u8; 16], epoch: Instant, config: ListenerConfig) -> Listener {
        Listener {
            cookies: CookieJar::new(secret, epoch),
            config,
        }
    }

    pub fn config(&self) -> &ListenerConfig {
        &self.config
    }

    /// For a reload: the new terms apply to conclusions answered from now on.
    pub fn config_mut(&mut self) -> &mut ListenerConfig {
        &mut self.config
    }

    /// Handles a handshake addressed to socket id 0. Keeps no state.
    pub fn handle(&self, now: Instant, peer: SocketAddr, hs: &Handshake) -> ListenerAction {
        match hs.kind {
            HandshakeType::Induction => {
                ListenerAction::Reply(self.induction_response(now, peer, hs))
            }
            HandshakeType::Conclusion => self.conclusion(now, peer, hs),
            HandshakeType::WaveAHand => ListenerAction::Drop(DropReason::Rendezvous),
            HandshakeType::Agreement | HandshakeType::Done | HandshakeType::Rejection(_) => {
                ListenerAction::Drop(DropReason::UnexpectedType)
            }
        }
    }

    /// Accepts a conclusion: builds the conclusion response (HSRSP, no Stream ID echo: libsrt
    /// only sends SID in HSREQ) and the negotiated parameters. Deterministic in its inputs.
    pub fn accept(&self, req: &ConclusionRequest, local_socket_id: u32) -> (Transmit, Negotiated) {
        self.accept_with_km(req, local_socket_id, None, false)
    }

    /// [`Listener::accept`] with a KMRSP to attach (the crypto layer's answer to
    /// [`ConclusionRequest::km_request`]); sets the KMREQ extension flag as libsrt does.
    /// `bonded`: the caller's packets come over several paths (an SRTLA group, see
    /// `endpoint::Admit::bonded`): PERIODICNAK is not offered, whatever the config says.
    pub fn accept_with_km(
        &self,
        req: &ConclusionRequest,
        local_socket_id: u32,
        km_response: Option<KmResponse>,
        bonded: bool,
    ) -> (Transmit, Negotiated) {
        let hs = &req.hs;
        let caller = &req.hs_req;
        let cfg = &self.config;
        let (recv_ms, caller_recv_ms) = listener_latencies(
            latency_ms(cfg.recv_latency),
            latency_ms(cfg.peer_latency),
            caller.flags,
            caller.recv_tsbpd_delay_ms,
            caller.send_tsbpd_delay_ms,
        );
        let ceiling = latency_ms(cfg.max_latency);
        let (recv_ms, caller_recv_ms) = (recv_ms.min(ceiling), caller_recv_ms.min(ceiling));
        let caller_tsbpd_rcv = caller.flags.contains(HsFlags::TSBPDRCV);

        // libsrt fillSrtHandshake_HSRSP: capabilities, TSBPDRCV for ourselves, TSBPDSND only
        // when the caller receives with TSBPD, REXMITFLG only when the caller has it too.
        let mut flags = HsFlags::CRYPT | HsFlags::TSBPDRCV;
        if caller_tsbpd_rcv {
            flags |= HsFlags::TSBPDSND;
        }
        if cfg.tlpktdrop {
            flags |= HsFlags::TLPKTDROP;
        }
        if cfg.periodic_nak && !bonded {
            flags |= HsFlags::PERIODICNAK;
        }
        if caller.flags.contains(HsFlags::REXMITFLG) {
            flags |= HsFlags::REXMITFLG;
        }
        let hs_rsp = HsExt {
            srt_version: cfg.srt_version,
            flags: HsFlags(flags),
            recv_tsbpd_delay_ms: recv_ms,
            send_tsbpd_delay_ms: if caller_tsbpd_rcv { caller_recv_ms } else { 0 },
        };

        let mtu = cfg.mtu.min(hs.mtu);
        let mut extension_field = ext_flags::HSREQ;
        let mut extensions = vec![HsExtension::HsRsp(hs_rsp)];
        if let Some(km) = km_response {
            extension_field |= ext_flags::KMREQ;
            extensions.push(HsExtension::KmRsp(km));
        }
        // libsrt rewriteHandshakeData/acceptAndRespond: our MSS (the min), our flow window, our
        // socket id, the caller's address in the peer IP field; ISN and cookie stay the caller's.
        let response = Handshake {
            version: HS_VERSION_5,
            encryption_field: self.encryption_field(),
            extension_field,
            initial_seq: hs.initial_seq,
            mtu,
            flow_window: cfg.flow_window,
            kind: HandshakeType::Conclusion,
            socket_id: local_socket_id,
            syn_cookie: hs.syn_cookie,
            peer_ip: encode_peer_ip(req.peer.ip()),
            extensions,
        };
        let negotiated = Negotiated {
            peer_socket_id: hs.socket_id,
            isn: hs.initial_seq,
            mtu,
            peer_flow_window: hs.flow_window,
            recv_latency: ms(recv_ms),
            send_latency: ms(caller_recv_ms),
            peer_flags: caller.flags,
            peer_srt_version: caller.srt_version,
            stream_id: req.stream_id.clone().ok().flatten(),
        };
        (
            Transmit {
                dest_socket_id: hs.socket_id,
                hs: response,
            },
            negotiated,
        )
    }

    /// The rejection libsrt sends before allocating a socket: the caller's handshake with the
    /// type set to `1000 + reason` and no extensions, addressed to the caller's socket id.
    /// Pass `req.handshake()` for an application-level rejection.
    pub fn reject(&self, hs: &Handshake, reason: RejectReason) -> Transmit {
        Transmit {
            dest_socket_id: hs.socket_id,
            hs: Handshake {
                kind: HandshakeType::Rejection(reason.code()),
                extensions: Vec::new(),
                ..hs.clone()
            },
        }
    }

    /// libsrt's induction response is the request echoed with version 5, the magic and our
    /// advertised key length in the type word, and the cookie. The socket id field keeps the
    /// caller's id (the draft says "Socket ID of the Listener"; libsrt echoes, and a stateless
    /// listener has no socket id yet). MSS, flow window, ISN and peer IP are echoed too.
    /// libsrt answers any induction without checking its version, and so do we.
    fn induction_response(&self, now: Instant, peer: SocketAddr, hs: &Handshake) -> Transmit {
        Transmit {
            dest_socket_id: hs.socket_id,
            hs: Handshake {
                version: HS_VERSION_5,
                encryption_field: self.encryption_field(),
                extension_field: HS_MAGIC,
                initial_seq: hs.initial_seq,
                mtu: hs.mtu,
                flow_window: hs.flow_window,
                kind: HandshakeType::Induction,
                socket_id: hs.socket_id,
                syn_cookie: self.cookies.cookie(now, peer),
                peer_ip: hs.peer_ip,
                extensions: Vec::new(),
            },
        }
    }

    /// Checks a conclusion in libsrt's order: validity, cookie, version, then the HSv5
    /// extensions.
    fn conclusion(&self, now: Instant, peer: SocketAddr, hs: &Handshake) -> ListenerAction {
        if !is_valid(hs) {
            return ListenerAction::Drop(DropReason::Malformed);
        }
        if !self.cookies.verify(now, peer, hs.syn_cookie) {
            return ListenerAction::Drop(DropReason::BadCookie);
        }
        let refuse = |reason| ListenerAction::Reject {
            reply: self.reject(hs, reason),
            reason,
        };
        match hs.version {
            HS_VERSION_5 => {}
            // libsrt still accepts HSv4 callers (SRT < 1.3.0, extensions exchanged later as
            // control packets). We do not implement that, so it is a version mismatch. libsrt
            // sends HSv4 callers a SHUTDOWN after a late rejection because they do not read the
            // code; for a rejection at this stage it sends the handshake, as we do.
            HS_VERSION_4 => return refuse(RejectReason::Version),
            // libsrt: "Unsupported version" -> SRT_REJ_VERSION.
            _ => return refuse(RejectReason::Version),
        }
        match self.check_hsv5(hs) {
            Ok((hs_req, stream_id)) => ListenerAction::Conclusion(ConclusionRequest {
                peer,
                hs: hs.clone(),
                hs_req,
                stream_id,
            }),
            Err(reason) => refuse(reason),
        }
    }

    /// libsrt `interpretSrtHandshake` + `processSrtMsg_HSREQ` for a live listener. Extensions are
    /// only looked at when their group's bit is set in the extension field, as libsrt does.
    fn check_hsv5(
        &self,
        hs: &Handshake,
    ) -> Result<(HsExt, Result<Option<StreamId>, StreamIdError>), RejectReason> {
        if hs.extension_field == 0 || hs.extensions.is_empty() {
            return Err(RejectReason::Rogue);
        }
        let hs_req = find_hs_req(hs).ok_or(RejectReason::Rogue)?;
        if hs_req.srt_version < SRT_VERSION_FEAT_HSV5 {
            return Err(RejectReason::Rogue);
        }
        // Live mode is message API; a STREAM (buffer API) peer is incompatible.
        if hs_req.flags.contains(HsFlags::STREAM) {
            return Err(RejectReason::MessageApi);
        }
        let mut stream_id = Ok(None);
        if has_ext_flag(hs, ext_flags::CONFIG) {
            let mut have_congestion = false;
            for ext in &hs.extensions {
                match ext {
                    HsExtension::StreamId(bytes) => stream_id = StreamId::parse(trim_nul(bytes)),
                    // Answered (1400 at admission), not dropped: a libsrt caller would
                    // otherwise wait out its whole connect timeout.
                    HsExtension::StreamIdTooLong { wire_len } => {
                        stream_id = Err(StreamIdError::TooLong { len: *wire_len })
                    }
                    HsExtension::Congestion(name) => {
                        if have_congestion {
                            return Err(RejectReason::Rogue);
                        }
                        have_congestion = true;
                        if trim_nul(name) != b"live" {
                            return Err(RejectReason::Congestion);
                        }
                    }
                    // We have no packet filter (FEC) to agree on.
                    HsExtension::Filter(_) => return Err(RejectReason::Filter),
                    // libsrt rejects group members unless SRTO_GROUPCONNECT is set; we have no
                    // bonding, so say so precisely.
                    HsExtension::Group(_) => return Err(RejectReason::Group),
                    _ => {}
                }
            }
        }
        Ok((hs_req, stream_id))
    }

    fn encryption_field(&self) -> u16 {
        u16::from(self.config.pbkeylen / 8)
    }
}

#[cfg(test)]
#[path = "listener_tests.rs"]
mod tests;
