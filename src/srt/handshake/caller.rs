//! The HSv5 caller (draft-sharabayko-srt §4.3.1; libsrt `startConnect`,
//! `processConnectResponse`, `postConnect`), used by loadgen and relay-to-relay pulls.
//!
//! Owns: the induction/conclusion exchange, its retransmission and its timeout. Must not: read
//! the clock, touch sockets, or hold anything past the handshake (the connection takes over from
//! [`Negotiated`]).
//!
//! What goes out, matching libsrt 1.5.1 (captured from srt-live-transmit):
//! - induction: version 4, encryption 0, extension field 2 (`UDT_DGRAM`), cookie 0, no
//!   extensions; destination socket id 0;
//! - conclusion: version 5, extension field HSREQ (| CONFIG with a Stream ID), the listener's
//!   cookie, HSREQ with our version, flags and latencies, then SID; destination socket id 0;
//! - both carry our socket id, ISN, MSS, flow window and the listener's IP;
//! - the current request is resent every 250 ms until an answer moves us on, and the attempt
//!   fails after `connect_timeout` (libsrt `SRTO_CONNTIMEO`, 3 s by default).
//!
//! After [`CallerEvent::Refused`] libsrt sends a SHUTDOWN to the listener (it may already have
//! created the connection); the endpoint should do the same when it knows the listener's id.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::negotiate::{
    DEFAULT_CALLER_FLAGS, Negotiated, OUR_SRT_VERSION, encode_peer_ip, latency_ms, ms,
};
use super::reject::RejectReason;
use super::streamid::{MAX_STREAMID_LEN, StreamId};
use super::{Transmit, find_hs_rsp, has_ext_flag, is_valid, trim_nul};
use crate::srt::crypto::{Encryption, Initiator};
use crate::srt::packet::{
    HS_MAGIC, HS_VERSION_4, HS_VERSION_5, Handshake, HandshakeType, HsExt, HsExtension, HsFlags,
    KeyMaterial, ext_flags,
};
use crate::srt::seq::SeqNo;

/// How often an unanswered request is repeated (libsrt `startConnect`: "> 250 ms"; measured
/// 250-256 ms from srt-live-transmit).
pub const CONNECT_RETRY_INTERVAL: Duration = Duration::from_millis(250);

/// The induction's extension field: UDT's socket type `UDT_DGRAM` (libsrt `m_iType`).
const UDT_DGRAM: u16 = 2;

/// Largest MSS a libsrt caller accepts in the response (`CPacket::ETH_MAX_MTU_SIZE`).
const ETH_MAX_MTU_SIZE: u32 = 1500;

/// Caller settings.
#[derive(Debug, Clone)]
pub struct CallerConfig {
    pub local_socket_id: u32,
    /// Our ISN, which becomes the ISN of both directions. 0x7FFFFFFF is replaced by 0: libsrt
    /// listeners silently drop a handshake with that ISN (`CHandShake::valid`).
    pub isn: SeqNo,
    /// The listener; its IP goes in the peer IP field.
    pub remote: SocketAddr,
    /// Sent as the SID extension; `None` or empty sends none (libsrt does the same).
    pub stream_id: Option<String>,
    /// Our receive latency (`SRTO_RCVLATENCY`).
    pub recv_latency: Duration,
    /// Latency we propose for the listener's receiver (`SRTO_PEERLATENCY`).
    pub peer_latency: Duration,
    /// Our MSS (`SRTO_MSS`).
    pub mtu: u32,
    /// Our flow window; libsrt sends `min(SRTO_RCVBUF, SRTO_FC)` = 8192 by default.
    pub flow_window: u32,
    /// Give up after this long without a conclusion response (`SRTO_CONNTIMEO`).
    pub connect_timeout: Duration,
    pub srt_version: u32,
    /// HSREQ flags; see [`DEFAULT_CALLER_FLAGS`].
    pub flags: HsFlags,
    /// Key length we advertise in the encryption field, in bytes (0 = none). With a
    /// passphrase it is the length of the key we generate (0 means 16, as in libsrt); the
    /// endpoint writes back what it used.
    pub pbkeylen: u8,
    /// Passphrase and key refresh for this call. As the initiator we generate the key (HSv5),
    /// and we always enforce: a listener that does not echo our key material is refused with
    /// UNSECURE, as an enforcing libsrt caller does.
    pub encryption: Encryption,
}

impl CallerConfig {
    /// libsrt live-mode defaults: latency 120/120 ms, MSS 1500, flow window 8192, 3 s timeout.
    pub fn new(local_socket_id: u32, isn: SeqNo, remote: SocketAddr) -> CallerConfig {
        CallerConfig {
            local_socket_id,
            isn,
            remote,
            stream_id: None,
            recv_latency: Duration::from_millis(120),
            peer_latency: Duration::from_millis(120),
            mtu: 1500,
            flow_window: 8192,
            connect_timeout: Duration::from_secs(3),
            srt_version: OUR_SRT_VERSION,
            flags: HsFlags(DEFAULT_CALLER_FLAGS),
            pbkeylen: 0,
            encryption: Encryption::default(),
        }
    }
}

/// A configuration the caller cannot send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallerConfigError {
    #[error("stream id is {len} bytes, more than {MAX_STREAMID_LEN}")]
    StreamIdTooLong { len: usize },
}

/// How the attempt ended. Reported once by [`Caller::poll_event`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallerEvent {
    Connected(Negotiated),
    /// The listener rejected us with this reason.
    Rejected(RejectReason),
    /// We refused the listener's answer (HSv4 listener, ISN mismatch, missing HSRSP, ...); the
    /// reason is the one libsrt would report locally.
    Refused(RejectReason),
    /// No conclusion response within `connect_timeout` (libsrt reports `SRT_REJ_TIMEOUT`).
    TimedOut,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Induction,
    Conclusion { cookie: u32 },
    Done,
}

/// One connection attempt.
#[derive(Debug)]
pub struct Caller {
    config: CallerConfig,
    phase: Phase,
    next_send: Instant,
    deadline: Instant,
    event: Option<CallerEvent>,
    /// Our KMREQ, sent with every conclusion; the listener must echo it.
    km_request: Option<KeyMaterial>,
}

impl Caller {
    /// Starts an attempt at `now`; the induction is due immediately.
    pub fn new(now: Instant, mut config: CallerConfig) -> Result<Caller, CallerConfigError> {
        if let Some(sid) = &config.stream_id
            && sid.len() > MAX_STREAMID_LEN
        {
            return Err(CallerConfigError::StreamIdTooLong { len: sid.len() });
        }
        if config.isn.value() == SeqNo::MAX {
            config.isn = SeqNo::new(0);
        }
        Ok(Caller {
            deadline: now + config.connect_timeout,
            config,
            phase: Phase::Induction,
            next_send: now,
            event: None,
            km_request: None,
        })
    }

    pub fn local_socket_id(&self) -> u32 {
        self.config.local_socket_id
    }

    /// Attaches key material (from `crypto::Initiator`) to our conclusions as KMREQ; the
    /// response must carry it back in KMRSP.
    pub fn set_km_request(&mut self, km: KeyMaterial) {
        self.km_request = Some(km);
    }

    /// Whether the attempt is still going.
    pub fn is_connecting(&self) -> bool {
        self.phase != Phase::Done
    }

    /// The request to send now, if one is due (first call, or 250 ms after the last send).
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        self.handle_timeout(now);
        if now < self.next_send {
            return None;
        }
        let hs = match self.phase {
            Phase::Induction => self.induction(),
            Phase::Conclusion { cookie } => self.conclusion(cookie),
            Phase::Done => return None,
        };
        self.next_send = now + CONNECT_RETRY_INTERVAL;
        Some(Transmit {
            // The caller always sends to socket id 0: the listener has none for us yet.
            dest_socket_id: 0,
            hs,
        })
    }

    /// When to call `poll_transmit` / `handle_timeout` next; `None` once finished.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.phase {
            Phase::Done => None,
            _ => Some(self.next_send.min(self.deadline)),
        }
    }

    /// Gives up once the connect timeout has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase != Phase::Done && now >= self.deadline {
            self.finish(CallerEvent::TimedOut);
        }
    }

    /// The outcome, once.
    pub fn poll_event(&mut self) -> Option<CallerEvent> {
        self.event.take()
    }

    /// A handshake addressed to our socket id.
    pub fn handle(&mut self, now: Instant, hs: &Handshake) {
        self.handle_timeout(now);
        match (self.phase, hs.kind) {
            (Phase::Done, _) => {}
            // libsrt processConnectResponse: any rejection ends the attempt, in either phase.
            (_, HandshakeType::Rejection(code)) => {
                self.finish(CallerEvent::Rejected(RejectReason::from_code(code)));
            }
            (Phase::Induction, HandshakeType::Induction) => self.on_induction(now, hs),
            (Phase::Conclusion { cookie }, HandshakeType::Induction) => {
                // A late answer to a repeated induction. libsrt adopts whatever cookie it
                // carries; only a changed one (the minute rolled) is worth a resend now.
                if hs.syn_cookie != cookie && hs.version == HS_VERSION_5 {
                    self.phase = Phase::Conclusion {
                        cookie: hs.syn_cookie,
                    };
                    self.next_send = now;
                }
            }
            (Phase::Conclusion { .. }, HandshakeType::Conclusion) => {
                let event = match self.negotiate(hs) {
                    Ok(n) => CallerEvent::Connected(n),
                    Err(reason) => CallerEvent::Refused(reason),
                };
                self.finish(event);
            }
            // Stray or rendezvous handshakes: nothing for a caller to do.
            _ => log::trace!("caller: ignoring {:?} in {:?}", hs.kind, self.phase),
        }
    }

    fn on_induction(&mut self, now: Instant, hs: &Handshake) {
        if hs.version != HS_VERSION_5 {
            // An HSv4 (pre-1.3.0) listener. libsrt would continue with HSv4; we only speak HSv5.
            self.finish(CallerEvent::Refused(RejectReason::Version));
            return;
        }
        if hs.extension_field != HS_MAGIC {
            // The draft says reject with SRT_REJ_ROGUE; libsrt only logs a warning and goes on.
            // We follow libsrt so we can reach whatever it can reach.
            log::debug!("caller: induction response without the SRT magic");
        }
        self.phase = Phase::Conclusion {
            cookie: hs.syn_cookie,
        };
        self.next_send = now;
    }

    fn induction(&self) -> Handshake {
        let c = &self.config;
        Handshake {
            version: HS_VERSION_4,
            encryption_field: 0,
            extension_field: UDT_DGRAM,
            initial_seq: c.isn,
            mtu: c.mtu,
            flow_window: c.flow_window,
            kind: HandshakeType::Induction,
            socket_id: c.local_socket_id,
            syn_cookie: 0,
            peer_ip: encode_peer_ip(c.remote.ip()),
            extensions: Vec::new(),
        }
    }

    fn conclusion(&self, cookie: u32) -> Handshake {
        let c = &self.config;
        let mut extension_field = ext_flags::HSREQ;
        let mut extensions = vec![HsExtension::HsReq(HsExt {
            srt_version: c.srt_version,
            flags: c.flags,
            recv_tsbpd_delay_ms: latency_ms(c.recv_latency),
            send_tsbpd_delay_ms: latency_ms(c.peer_latency),
        })];
        if let Some(sid) = c.stream_id.as_deref().filter(|s| !s.is_empty()) {
            extension_field |= ext_flags::CONFIG;
            extensions.push(HsExtension::StreamId(sid.as_bytes().to_vec()));
        }
        // libsrt `createSrtHandshake` appends KMREQ after the config extensions (the capture
        // conclusion_request_sid_kmreq.hex ends with it).
        if let Some(km) = &self.km_request {
            extension_field |= ext_flags::KMREQ;
            extensions.push(HsExtension::KmReq(km.clone()));
        }
        Handshake {
            version: HS_VERSION_5,
            encryption_field: u16::from(c.pbkeylen / 8),
            extension_field,
            initial_seq: c.isn,
            mtu: c.mtu,
            flow_window: c.flow_window,
            kind: HandshakeType::Conclusion,
            socket_id: c.local_socket_id,
            syn_cookie: cookie,
            peer_ip: encode_peer_ip(c.remote.ip()),
            extensions,
        }
    }

    /// libsrt `processConnectResponse` + `applyResponseSettings` + `processSrtMsg_HSRSP`.
    fn negotiate(&self, hs: &Handshake) -> Result<Negotiated, RejectReason> {
        let c = &self.config;
        if hs.mtu > ETH_MAX_MTU_SIZE || !is_valid(hs) {
            return Err(RejectReason::Rogue);
        }
        if hs.version != HS_VERSION_5 {
            return Err(RejectReason::Version);
        }
        // libsrt's "security check": the listener must echo our ISN (it becomes both ISNs).
        if hs.initial_seq != c.isn {
            return Err(RejectReason::Rogue);
        }
        let rsp = find_hs_rsp(hs).ok_or(RejectReason::Rogue)?;
        if has_ext_flag(hs, ext_flags::CONFIG) {
            for ext in &hs.extensions {
                match ext {
                    HsExtension::Congestion(name) if trim_nul(name) != b"live" => {
                        return Err(RejectReason::Congestion);
                    }
                    // We did not claim filter capability, so a filter config is a mismatch.
                    HsExtension::Filter(_) => return Err(RejectReason::Filter),
                    HsExtension::Group(_) => return Err(RejectReason::Group),
                    _ => {}
                }
            }
        }
        if let Some(sent) = &self.km_request {
            let rsp = has_ext_flag(hs, ext_flags::KMREQ)
                .then(|| {
                    hs.extensions.iter().find_map(|e| match e {
                        HsExtension::KmRsp(r) => Some(r),
                        _ => None,
                    })
                })
                .flatten();
            Initiator::check_response(sent, rsp)?;
        }
        // The listener already took the max of both proposals; libsrt takes its values as they
        // are, falling back to its own setting when a TSBPD flag is missing.
        let send_latency = if rsp.flags.contains(HsFlags::TSBPDRCV) {
            ms(rsp.recv_tsbpd_delay_ms)
        } else {
            c.peer_latency
        };
        let recv_latency = if rsp.flags.contains(HsFlags::TSBPDSND) {
            ms(rsp.send_tsbpd_delay_ms)
        } else {
            c.recv_latency
        };
        Ok(Negotiated {
            peer_socket_id: hs.socket_id,
            isn: c.isn,
            // libsrt takes the response's MSS; a libsrt listener already sent the min.
            mtu: hs.mtu.min(c.mtu),
            peer_flow_window: hs.flow_window,
            recv_latency,
            send_latency,
            peer_flags: rsp.flags,
            peer_srt_version: rsp.srt_version,
            stream_id: c
                .stream_id
                .as_deref()
                .and_then(|s| StreamId::parse(s.as_bytes()).ok().flatten()),
        })
    }

    fn finish(&mut self, event: CallerEvent) {
        self.phase = Phase::Done;
        self.event = Some(event);
    }
}

#[cfg(test)]
#[path = "caller_tests.rs"]
mod tests;
