//! Caller <-> listener on typed handshakes with virtual time: the endpoint's job is played by
//! [`Net`], which delivers each transmit after a fixed one-way delay (or drops it).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::test_util::t0;
use super::*;
use crate::srt::packet::HandshakeType;
use crate::srt::seq::SeqNo;

const SECRET: [u8; 16] = *b"shared-secret-16";
const CALLER_ID: u32 = 0x0c8c_d7de;
const LISTENER_SOCKET: u32 = 0x3000_0001;
const ONE_WAY: Duration = Duration::from_millis(20);

fn caller_addr() -> SocketAddr {
    "203.0.113.5:50000".parse().expect("addr")
}

fn listener_addr() -> SocketAddr {
    "198.51.100.1:9000".parse().expect("addr")
}

/// The application's decision on a conclusion.
type Policy = Box<dyn Fn(&ConclusionRequest) -> Option<RejectReason>>;

fn accept_all() -> Policy {
    Box::new(|_| None)
}

/// A minimal endpoint: listener shards (a conclusion may land on any of them), a table of
/// accepted connections with their stored replies, and a one-way delay both ways.
struct Net {
    shards: Vec<Listener>,
    policy: Policy,
    /// (caller address, caller socket id) -> stored conclusion response.
    accepted: Vec<((SocketAddr, u32), Transmit, Negotiated)>,
    to_listener: Vec<(Instant, Transmit)>,
    to_caller: Vec<(Instant, Transmit)>,
    sent_to_listener: usize,
    /// Drop the n-th packet towards the caller (0-based), to lose a reply.
    lose_to_caller: Option<usize>,
    sent_to_caller: usize,
    drops: Vec<DropReason>,
}

impl Net {
    fn new(shards: Vec<Listener>, policy: Policy) -> Net {
        Net {
            shards,
            policy,
            accepted: Vec::new(),
            to_listener: Vec::new(),
            to_caller: Vec::new(),
            sent_to_listener: 0,
            lose_to_caller: None,
            sent_to_caller: 0,
            drops: Vec::new(),
        }
    }

    /// Runs until the caller reports an outcome; returns it.
    fn run(&mut self, caller: &mut Caller) -> CallerEvent {
        let mut now = t0();
        loop {
            while let Some(t) = caller.poll_transmit(now) {
                self.sent_to_listener += 1;
                self.to_listener.push((now + ONE_WAY, t));
            }
            if let Some(ev) = caller.poll_event() {
                return ev;
            }
            let next = [
                caller.poll_timeout(),
                self.to_listener.iter().map(|p| p.0).min(),
                self.to_caller.iter().map(|p| p.0).min(),
            ]
            .into_iter()
            .flatten()
            .min()
            .expect("something is always pending while connecting");
            now = next;
            self.deliver_to_listener(now);
            self.deliver_to_caller(now, caller);
            caller.handle_timeout(now);
        }
    }

    fn deliver_to_listener(&mut self, now: Instant) {
        let (due, rest) = self.to_listener.drain(..).partition(|p| p.0 <= now);
        self.to_listener = rest;
        for (_, t) in due {
            assert_eq!(t.dest_socket_id, 0, "callers always send to socket 0");
            // Inductions go to the first shard, everything else to the last one.
            let shard = if t.hs.kind == HandshakeType::Induction {
                &self.shards[0]
            } else {
                self.shards.last().expect("at least one shard")
            };
            let reply = match shard.handle(now, caller_addr(), &t.hs) {
                ListenerAction::Reply(r) | ListenerAction::Reject { reply: r, .. } => Some(r),
                ListenerAction::Drop(why) => {
                    self.drops.push(why);
                    None
                }
                ListenerAction::Conclusion(req) => Some(self.decide(shard.clone(), &req)),
            };
            if let Some(r) = reply {
                if self.lose_to_caller != Some(self.sent_to_caller) {
                    self.to_caller.push((now + ONE_WAY, r));
                }
                self.sent_to_caller += 1;
            }
        }
    }

    fn decide(&mut self, shard: Listener, req: &ConclusionRequest) -> Transmit {
        let key = (req.peer(), req.peer_socket_id());
        if let Some((_, stored, _)) = self.accepted.iter().find(|a| a.0 == key) {
            // A repeated conclusion: the stored reply, and it equals a fresh accept().
            assert_eq!(stored, &shard.accept(req, LISTENER_SOCKET).0);
            return stored.clone();
        }
        match (self.policy)(req) {
            Some(reason) => shard.reject(req.handshake(), reason),
            None => {
                let (reply, n) = shard.accept(req, LISTENER_SOCKET);
                self.accepted.push((key, reply.clone(), n));
                reply
            }
        }
    }

    fn deliver_to_caller(&mut self, now: Instant, caller: &mut Caller) {
        let (due, rest) = self.to_caller.drain(..).partition(|p| p.0 <= now);
        self.to_caller = rest;
        for (_, t) in due {
            assert_eq!(t.dest_socket_id, CALLER_ID);
            caller.handle(now, &t.hs);
        }
    }

    fn listener_side(&self) -> &Negotiated {
        &self.accepted.first().expect("accepted").2
    }
}

fn caller_with(f: impl FnOnce(&mut CallerConfig)) -> Caller {
    let mut cfg = CallerConfig::new(CALLER_ID, SeqNo::new(424_242), listener_addr());
    cfg.stream_id = Some("#!::r=live/cam1,m=publish".into());
    f(&mut cfg);
    Caller::new(t0(), cfg).expect("valid caller config")
}

fn shards(n: usize, cfg: ListenerConfig) -> Vec<Listener> {
    (0..n)
        .map(|_| Listener::new(SECRET, t0(), cfg.clone()))
        .collect()
}

fn connected(ev: CallerEvent) -> Negotiated {
    match ev {
        CallerEvent::Connected(n) => n,
        other => panic!("expected Connected, got {other:?}"),
    }
}

#[test]
fn full_success_path() {
    let mut net = Net::new(shards(1, ListenerConfig::default()), accept_all());
    let mut caller = caller_with(|_| {});
    let c = connected(net.run(&mut caller));
    let l = net.listener_side().clone();
    assert_eq!(c.peer_socket_id, LISTENER_SOCKET);
    assert_eq!(l.peer_socket_id, CALLER_ID);
    assert_eq!(c.isn, SeqNo::new(424_242));
    assert_eq!(l.isn, c.isn, "one ISN for both directions");
    assert_eq!((c.mtu, l.mtu), (1500, 1500));
    assert_eq!((c.peer_flow_window, l.peer_flow_window), (8192, 8192));
    assert_eq!(c.recv_latency, l.send_latency);
    assert_eq!(c.send_latency, l.recv_latency);
    assert_eq!(c.recv_latency, Duration::from_millis(120));
    assert_eq!(l.peer_srt_version, OUR_SRT_VERSION);
    assert_eq!(c.peer_srt_version, OUR_SRT_VERSION);
    let sid = l.stream_id.expect("listener saw the stream id");
    assert_eq!(sid.resource.as_deref(), Some("live/cam1"));
    assert_eq!(sid.mode, Some(StreamMode::Publish));
    assert_eq!(c.stream_id, Some(sid));
    assert_eq!(net.sent_to_listener, 2, "one induction, one conclusion");
    assert!(net.drops.is_empty());
}

#[test]
fn latency_negotiated_as_max_per_direction() {
    let cfg = ListenerConfig {
        recv_latency: Duration::from_millis(120),
        peer_latency: Duration::from_millis(80),
        ..ListenerConfig::default()
    };
    let mut net = Net::new(shards(1, cfg), accept_all());
    let mut caller = caller_with(|c| {
        c.recv_latency = Duration::from_millis(200);
        c.peer_latency = Duration::from_millis(120);
    });
    let c = connected(net.run(&mut caller));
    let l = net.listener_side();
    // caller -> listener: max(listener rcv 120, caller peer 120) = 120
    assert_eq!(l.recv_latency, Duration::from_millis(120));
    assert_eq!(c.send_latency, Duration::from_millis(120));
    // listener -> caller: max(caller rcv 200, listener peer 80) = 200
    assert_eq!(c.recv_latency, Duration::from_millis(200));
    assert_eq!(l.send_latency, Duration::from_millis(200));
}

#[test]
fn mtu_is_the_smaller_side() {
    let cfg = ListenerConfig {
        mtu: 1400,
        ..ListenerConfig::default()
    };
    let mut net = Net::new(shards(1, cfg), accept_all());
    let c = connected(net.run(&mut caller_with(|_| {})));
    assert_eq!(c.mtu, 1400);
    assert_eq!(net.listener_side().mtu, 1400);
}

#[test]
fn conclusion_on_another_shard_is_accepted() {
    // Induction answered by shard 0, conclusion handled by shard 1: same secret and epoch.
    let mut net = Net::new(shards(2, ListenerConfig::default()), accept_all());
    connected(net.run(&mut caller_with(|_| {})));
    assert!(net.drops.is_empty());
}

#[test]
fn shard_with_another_secret_drops_and_caller_times_out() {
    let mut shards = shards(1, ListenerConfig::default());
    shards.push(Listener::new([0xAA; 16], t0(), ListenerConfig::default()));
    let mut net = Net::new(shards, accept_all());
    let ev = net.run(&mut caller_with(|_| {}));
    assert_eq!(ev, CallerEvent::TimedOut);
    assert!(!net.drops.is_empty());
    assert!(net.drops.iter().all(|d| *d == DropReason::BadCookie));
    // Induction + 12 conclusions, one every 250 ms until the 3 s timeout.
    assert_eq!(net.sent_to_listener, 13);
}

#[test]
fn expired_cookie_dropped() {
    // A conclusion delivered two minutes after its cookie was made is dropped; one minute is fine.
    let listener = Listener::new(SECRET, t0(), ListenerConfig::default());
    let mut c = caller_with(|_| {});
    let ind = c.poll_transmit(t0()).expect("induction");
    let ListenerAction::Reply(r) = listener.handle(t0(), caller_addr(), &ind.hs) else {
        panic!("induction answered");
    };
    c.handle(t0(), &r.hs);
    let concl = c.poll_transmit(t0()).expect("conclusion");
    assert_eq!(
        listener.handle(t0() + Duration::from_secs(121), caller_addr(), &concl.hs),
        ListenerAction::Drop(DropReason::BadCookie)
    );
    assert!(matches!(
        listener.handle(t0() + Duration::from_secs(61), caller_addr(), &concl.hs),
        ListenerAction::Conclusion(_)
    ));
}

#[test]
fn lost_conclusion_response_is_answered_again_identically() {
    let mut net = Net::new(shards(1, ListenerConfig::default()), accept_all());
    // Packet 0 to the caller is the induction response, 1 the first conclusion response.
    net.lose_to_caller = Some(1);
    let c = connected(net.run(&mut caller_with(|_| {})));
    assert_eq!(
        net.accepted.len(),
        1,
        "one connection despite two conclusions"
    );
    assert_eq!(
        net.sent_to_listener, 3,
        "induction + conclusion + one resend"
    );
    assert_eq!(c.peer_socket_id, LISTENER_SOCKET);
}

#[test]
fn lost_induction_response_is_retried() {
    let mut net = Net::new(shards(1, ListenerConfig::default()), accept_all());
    net.lose_to_caller = Some(0);
    connected(net.run(&mut caller_with(|_| {})));
    assert_eq!(net.sent_to_listener, 3, "two inductions + conclusion");
}

#[test]
fn every_reject_reason_reaches_the_caller_intact() {
    let mut reasons: Vec<RejectReason> = (1..=17).map(RejectReason::from_code).collect();
    reasons.extend(
        [
            18, 999, 1000, 1001, 1002, 1003, 1400, 1401, 1402, 1403, 1404, 1405, 1406, 1409, 1415,
            1423, 1424, 1500, 1501, 1502, 1503, 1505, 1507, 1999, 2000, 2005, 65_535,
        ]
        .map(RejectReason::from_code),
    );
    for reason in reasons {
        let mut net = Net::new(
            shards(1, ListenerConfig::default()),
            Box::new(move |_| Some(reason)),
        );
        let ev = net.run(&mut caller_with(|_| {}));
        match ev {
            CallerEvent::Rejected(got) => {
                assert_eq!(got.code(), reason.code());
                assert_eq!(got.to_string(), reason.to_string());
            }
            other => panic!("{reason}: expected Rejected, got {other:?}"),
        }
        assert!(net.accepted.is_empty());
    }
}

#[test]
fn garbage_stream_id_is_carried_and_rejected_by_policy() {
    let policy: Policy = Box::new(|req| match req.stream_id() {
        Err(StreamIdError::UnknownMode(m)) if m == "stream" => Some(RejectReason::BadRequest),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("garbage stream id parsed"),
    });
    let mut net = Net::new(shards(1, ListenerConfig::default()), policy);
    let ev = net.run(&mut caller_with(|c| {
        c.stream_id = Some("#!::r=live/cam1,m=stream".into());
    }));
    assert_eq!(ev, CallerEvent::Rejected(RejectReason::BadRequest));
}

#[test]
fn resource_policy_sees_plain_names() {
    let policy: Policy = Box::new(|req| match req.stream_id() {
        Ok(Some(id)) if id.resource.as_deref() == Some("live/cam1") && id.mode.is_none() => None,
        _ => Some(RejectReason::NotFound),
    });
    let mut net = Net::new(shards(1, ListenerConfig::default()), policy);
    connected(net.run(&mut caller_with(|c| c.stream_id = Some("live/cam1".into()))));
    let policy: Policy = Box::new(|req| match req.stream_id() {
        Ok(None) => Some(RejectReason::NotFound),
        _ => None,
    });
    let mut net = Net::new(shards(1, ListenerConfig::default()), policy);
    let ev = net.run(&mut caller_with(|c| c.stream_id = None));
    assert_eq!(ev, CallerEvent::Rejected(RejectReason::NotFound));
}

#[test]
fn wrong_version_rejected_end_to_end() {
    // A caller claiming HSv6 in its conclusion: the listener answers SRT_REJ_VERSION.
    let listener = Listener::new(SECRET, t0(), ListenerConfig::default());
    let mut c = caller_with(|_| {});
    let ind = c.poll_transmit(t0()).expect("induction");
    let ListenerAction::Reply(r) = listener.handle(t0(), caller_addr(), &ind.hs) else {
        panic!("induction answered");
    };
    c.handle(t0(), &r.hs);
    let mut concl = c.poll_transmit(t0()).expect("conclusion").hs;
    concl.version = 6;
    let ListenerAction::Reject { reply, reason } = listener.handle(t0(), caller_addr(), &concl)
    else {
        panic!("version 6 must be rejected");
    };
    assert_eq!(reason, RejectReason::Version);
    c.handle(t0(), &reply.hs);
    assert_eq!(
        c.poll_event(),
        Some(CallerEvent::Rejected(RejectReason::Version))
    );
}
