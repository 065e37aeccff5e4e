//! Listener unit tests on typed handshakes (no bytes: the codec is tested in `packet`).

use super::*;
use crate::srt::handshake::negotiate::DEFAULT_CALLER_FLAGS;
use crate::srt::handshake::test_util::t0;
use crate::srt::seq::SeqNo;

const SECRET: [u8; 16] = [7; 16];
const CALLER_ID: u32 = 0x0123_4567;
const ISN: u32 = 1000;

fn peer() -> SocketAddr {
    "192.0.2.10:40000".parse().expect("addr")
}

fn listener() -> Listener {
    Listener::new(SECRET, t0(), ListenerConfig::default())
}

fn induction() -> Handshake {
    Handshake {
        version: HS_VERSION_4,
        encryption_field: 0,
        extension_field: 2,
        initial_seq: SeqNo::new(ISN),
        mtu: 1500,
        flow_window: 8192,
        kind: HandshakeType::Induction,
        socket_id: CALLER_ID,
        syn_cookie: 0,
        peer_ip: encode_peer_ip("198.51.100.1".parse().expect("ip")),
        extensions: vec![],
    }
}

fn hs_req(rcv: u16, snd: u16) -> HsExt {
    HsExt {
        srt_version: 0x010501,
        flags: HsFlags(DEFAULT_CALLER_FLAGS | HsFlags::PACKET_FILTER),
        recv_tsbpd_delay_ms: rcv,
        send_tsbpd_delay_ms: snd,
    }
}

/// A libsrt-like conclusion (as captured from srt-live-transmit 1.5.1) with the given cookie.
fn conclusion(cookie: u32, sid: Option<&str>) -> Handshake {
    let mut extension_field = ext_flags::HSREQ;
    let mut extensions = vec![HsExtension::HsReq(hs_req(200, 120))];
    if let Some(s) = sid {
        extension_field |= ext_flags::CONFIG;
        extensions.push(HsExtension::StreamId(s.as_bytes().to_vec()));
    }
    Handshake {
        version: HS_VERSION_5,
        extension_field,
        kind: HandshakeType::Conclusion,
        syn_cookie: cookie,
        extensions,
        ..induction()
    }
}

fn cookie_at(l: &Listener, now: Instant) -> u32 {
    match l.handle(now, peer(), &induction()) {
        ListenerAction::Reply(t) => t.hs.syn_cookie,
        other => panic!("induction not answered: {other:?}"),
    }
}

fn expect_conclusion(a: ListenerAction) -> ConclusionRequest {
    match a {
        ListenerAction::Conclusion(req) => req,
        other => panic!("expected a conclusion request, got {other:?}"),
    }
}

fn expect_reject(a: ListenerAction) -> (Transmit, RejectReason) {
    match a {
        ListenerAction::Reject { reply, reason } => (reply, reason),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// A conclusion with a fresh valid cookie, tweaked by `f`.
fn handle_conclusion(f: impl FnOnce(&mut Handshake)) -> ListenerAction {
    let l = listener();
    let now = t0() + Duration::from_secs(5);
    let mut hs = conclusion(cookie_at(&l, now), Some("#!::r=live/cam1,m=publish"));
    f(&mut hs);
    l.handle(now, peer(), &hs)
}

#[test]
fn induction_response_matches_libsrt() {
    let l = listener();
    let now = t0() + Duration::from_secs(1);
    let ListenerAction::Reply(t) = l.handle(now, peer(), &induction()) else {
        panic!("induction must be answered");
    };
    assert_eq!(t.dest_socket_id, CALLER_ID);
    let hs = t.hs;
    assert_eq!(hs.version, HS_VERSION_5);
    assert_eq!(hs.extension_field, HS_MAGIC);
    assert_eq!(hs.encryption_field, 0);
    assert_eq!(hs.kind, HandshakeType::Induction);
    // libsrt echoes the caller's socket id, ISN, MSS, flow window and peer IP.
    assert_eq!(hs.socket_id, CALLER_ID);
    assert_eq!(hs.initial_seq, SeqNo::new(ISN));
    assert_eq!(hs.mtu, 1500);
    assert_eq!(hs.flow_window, 8192);
    assert_eq!(hs.peer_ip, induction().peer_ip);
    assert!(hs.extensions.is_empty());
    assert_ne!(hs.syn_cookie, 0);
    assert_eq!(
        hs.syn_cookie,
        CookieJar::new(SECRET, t0()).cookie(now, peer())
    );
}

#[test]
fn induction_advertises_key_length() {
    let cfg = ListenerConfig {
        pbkeylen: 32,
        ..ListenerConfig::default()
    };
    let l = Listener::new(SECRET, t0(), cfg);
    let ListenerAction::Reply(t) = l.handle(t0(), peer(), &induction()) else {
        panic!("induction must be answered");
    };
    assert_eq!(t.hs.encryption_field, 4, "AES-256 advertised as 32/8");
}

#[test]
fn conclusion_accepted_with_libsrt_response() {
    let l = listener();
    let now = t0() + Duration::from_secs(5);
    let mut hs = conclusion(cookie_at(&l, now), Some("#!::r=live/cam1,m=publish"));
    hs.mtu = 9000;
    let req = expect_conclusion(l.handle(now, peer(), &hs));
    assert_eq!(req.peer(), peer());
    assert_eq!(req.peer_socket_id(), CALLER_ID);
    assert_eq!(req.handshake(), &hs);
    assert_eq!(req.hs_req(), &hs_req(200, 120));
    assert!(req.km_request().is_none());
    let sid = req
        .stream_id()
        .clone()
        .expect("valid sid")
        .expect("present");
    assert_eq!(sid.resource.as_deref(), Some("live/cam1"));

    let (reply, n) = l.accept(&req, 0x2222_0001);
    assert_eq!(reply.dest_socket_id, CALLER_ID);
    let r = &reply.hs;
    assert_eq!(r.version, HS_VERSION_5);
    assert_eq!(r.kind, HandshakeType::Conclusion);
    assert_eq!(r.extension_field, ext_flags::HSREQ, "no SID echo, no KM");
    assert_eq!(r.encryption_field, 0);
    assert_eq!(r.socket_id, 0x2222_0001);
    assert_eq!(r.initial_seq, SeqNo::new(ISN), "caller's ISN both ways");
    assert_eq!(r.mtu, 1500, "min of 9000 and ours");
    assert_eq!(r.flow_window, 8192);
    assert_eq!(r.syn_cookie, hs.syn_cookie);
    assert_eq!(r.peer_ip, encode_peer_ip(peer().ip()));
    // Listener rcv 120 / peer 120 vs caller rcv 200 / peer 120.
    assert_eq!(
        r.extensions,
        vec![HsExtension::HsRsp(HsExt {
            srt_version: OUR_SRT_VERSION,
            flags: HsFlags(0x3F),
            recv_tsbpd_delay_ms: 120,
            send_tsbpd_delay_ms: 200,
        })]
    );

    assert_eq!(n.peer_socket_id, CALLER_ID);
    assert_eq!(n.isn, SeqNo::new(ISN));
    assert_eq!(n.mtu, 1500);
    assert_eq!(n.peer_flow_window, 8192);
    assert_eq!(n.recv_latency, Duration::from_millis(120));
    assert_eq!(n.send_latency, Duration::from_millis(200));
    assert_eq!(n.peer_flags, hs_req(200, 120).flags);
    assert_eq!(n.peer_srt_version, 0x010501);
    assert_eq!(n.stream_id, Some(sid));
}

#[test]
fn response_flags_follow_the_caller() {
    let l = listener();
    let now = t0();
    let mut hs = conclusion(cookie_at(&l, now), None);
    hs.extensions = vec![HsExtension::HsReq(HsExt {
        flags: HsFlags(HsFlags::TSBPDSND | HsFlags::CRYPT),
        ..hs_req(500, 300)
    })];
    let req = expect_conclusion(l.handle(now, peer(), &hs));
    let (reply, n) = l.accept(&req, 9);
    let HsExtension::HsRsp(rsp) = reply.hs.extensions[0] else {
        panic!("HSRSP first");
    };
    // No TSBPDRCV from the caller: no TSBPDSND back and a zero send delay; no REXMITFLG either.
    assert_eq!(
        rsp.flags,
        HsFlags(HsFlags::CRYPT | HsFlags::TSBPDRCV | HsFlags::TLPKTDROP | HsFlags::PERIODICNAK)
    );
    assert_eq!(
        rsp.recv_tsbpd_delay_ms, 300,
        "max(120, caller's proposal 300)"
    );
    assert_eq!(rsp.send_tsbpd_delay_ms, 0);
    assert_eq!(n.recv_latency, Duration::from_millis(300));
    assert_eq!(n.stream_id, None);
    assert_eq!(req.stream_id(), &Ok(None));
}

#[test]
fn accept_is_deterministic_and_repeatable() {
    let l = listener();
    let now = t0() + Duration::from_secs(30);
    let hs = conclusion(cookie_at(&l, now), Some("cam1"));
    let req1 = expect_conclusion(l.handle(now, peer(), &hs));
    // The same conclusion repeated 250 ms later yields the same request and the same reply.
    let req2 = expect_conclusion(l.handle(now + Duration::from_millis(250), peer(), &hs));
    assert_eq!(req1, req2);
    assert_eq!(l.accept(&req1, 77), l.accept(&req2, 77));
    // And another shard with the same secret and epoch answers identically.
    let shard2 = listener();
    let req3 = expect_conclusion(shard2.handle(now, peer(), &hs));
    assert_eq!(shard2.accept(&req3, 77), l.accept(&req1, 77));
}

#[test]
fn cookies_checked() {
    let l = listener();
    let made = t0() + Duration::from_secs(59);
    let cookie = cookie_at(&l, made);
    let hs = conclusion(cookie, None);
    // Previous minute: accepted.
    expect_conclusion(l.handle(made + Duration::from_secs(30), peer(), &hs));
    // Two minutes later: dropped.
    assert_eq!(
        l.handle(made + Duration::from_secs(61), peer(), &hs),
        ListenerAction::Drop(DropReason::BadCookie)
    );
    // Wrong cookie, zero cookie, other source port.
    for bad in [cookie ^ 1, 0] {
        assert_eq!(
            l.handle(made, peer(), &conclusion(bad, None)),
            ListenerAction::Drop(DropReason::BadCookie)
        );
    }
    let other_port: SocketAddr = "192.0.2.10:40001".parse().expect("addr");
    assert_eq!(
        l.handle(made, other_port, &hs),
        ListenerAction::Drop(DropReason::BadCookie)
    );
    // Another secret (a different deployment) does not accept it.
    let stranger = Listener::new([8; 16], t0(), ListenerConfig::default());
    assert_eq!(
        stranger.handle(made, peer(), &hs),
        ListenerAction::Drop(DropReason::BadCookie)
    );
}

#[test]
fn malformed_conclusions_dropped_before_the_cookie_check() {
    let cases: [fn(&mut Handshake); 5] = [
        |hs| hs.mtu = 31,
        |hs| hs.flow_window = 1,
        |hs| hs.initial_seq = SeqNo::new(SeqNo::MAX),
        |hs| hs.version = 3,
        |hs| {
            hs.version = 0;
            hs.syn_cookie = 0;
        },
    ];
    for f in cases {
        assert_eq!(
            handle_conclusion(f),
            ListenerAction::Drop(DropReason::Malformed)
        );
    }
}

#[test]
fn versions_other_than_5_rejected_with_version() {
    for version in [HS_VERSION_4, 6, 0xFFFF_FFFF] {
        let (reply, reason) = expect_reject(handle_conclusion(|hs| {
            hs.version = version;
            if version == HS_VERSION_4 {
                // An HSv4 caller: type field UDT_DGRAM and no extensions.
                hs.extension_field = 2;
                hs.extensions.clear();
            }
        }));
        assert_eq!(reason, RejectReason::Version);
        assert_eq!(reply.dest_socket_id, CALLER_ID);
        assert_eq!(reply.hs.kind, HandshakeType::Rejection(8), "wire 1008");
        assert_eq!(
            reply.hs.version, version,
            "the caller's handshake is echoed"
        );
        assert_eq!(reply.hs.socket_id, CALLER_ID);
        assert!(reply.hs.extensions.is_empty());
    }
}

#[test]
fn hsv5_protocol_errors_rejected() {
    type Case = (fn(&mut Handshake), RejectReason);
    let cases: [Case; 9] = [
        (|hs| hs.extensions.clear(), RejectReason::Rogue),
        (|hs| hs.extension_field = 0, RejectReason::Rogue),
        // HSREQ present, but its flag is not set: libsrt never looks at it.
        (
            |hs| hs.extension_field = ext_flags::CONFIG,
            RejectReason::Rogue,
        ),
        (
            |hs| hs.extensions[0] = HsExtension::HsRsp(hs_req(1, 1)),
            RejectReason::Rogue,
        ),
        (
            |hs| {
                hs.extensions[0] = HsExtension::HsReq(HsExt {
                    srt_version: 0x010203,
                    ..hs_req(120, 120)
                })
            },
            RejectReason::Rogue,
        ),
        (
            |hs| {
                hs.extensions[0] = HsExtension::HsReq(HsExt {
                    flags: HsFlags(DEFAULT_CALLER_FLAGS | HsFlags::STREAM),
                    ..hs_req(120, 120)
                })
            },
            RejectReason::MessageApi,
        ),
        (
            |hs| {
                hs.extensions
                    .push(HsExtension::Congestion(b"file".to_vec()))
            },
            RejectReason::Congestion,
        ),
        (
            |hs| {
                hs.extensions
                    .push(HsExtension::Filter(b"fec,cols:10".to_vec()))
            },
            RejectReason::Filter,
        ),
        (
            |hs| hs.extensions.push(HsExtension::Group(vec![0; 8])),
            RejectReason::Group,
        ),
    ];
    for (f, want) in cases {
        let (reply, reason) = expect_reject(handle_conclusion(f));
        assert_eq!(reason, want);
        assert_eq!(reply.hs.kind, HandshakeType::Rejection(want.code()));
        assert_eq!(reply.dest_socket_id, CALLER_ID);
    }
}

#[test]
fn live_congestion_and_unknown_extensions_accepted() {
    let req = expect_conclusion(handle_conclusion(|hs| {
        hs.extensions
            .push(HsExtension::Congestion(b"live".to_vec()));
        hs.extensions.push(HsExtension::Unknown {
            ext_type: 99,
            data: vec![1, 2, 3, 4],
        });
    }));
    assert!(req.stream_id().is_ok());
    // Two congestion blocks: libsrt calls that rogue.
    let (_, reason) = expect_reject(handle_conclusion(|hs| {
        hs.extensions
            .push(HsExtension::Congestion(b"live".to_vec()));
        hs.extensions
            .push(HsExtension::Congestion(b"live".to_vec()));
    }));
    assert_eq!(reason, RejectReason::Rogue);
    // Config extensions are not looked at without the CONFIG flag.
    let req = expect_conclusion(handle_conclusion(|hs| {
        hs.extension_field = ext_flags::HSREQ;
        hs.extensions
            .push(HsExtension::Congestion(b"file".to_vec()));
    }));
    assert_eq!(req.stream_id(), &Ok(None), "SID ignored without CONFIG");
}

#[test]
fn stream_id_results_reach_the_application() {
    let sid_of = |bytes: &'static [u8]| {
        let req = expect_conclusion(handle_conclusion(|hs| {
            hs.extensions[1] = HsExtension::StreamId(bytes.to_vec());
        }));
        req.stream_id().clone()
    };
    assert_eq!(
        sid_of(b"#!::r=a,m=play"),
        Err(StreamIdError::UnknownMode("play".into()))
    );
    assert_eq!(sid_of(b"\xff\xfe"), Err(StreamIdError::InvalidUtf8));
    assert_eq!(sid_of(b"#!:{r=a}"), Err(StreamIdError::Nested));
    // libsrt reads the SID as a C string: bytes after a NUL are ignored.
    assert_eq!(
        sid_of(b"live/cam1\0\0garbage"),
        Ok(Some(StreamId::plain("live/cam1")))
    );
    assert_eq!(sid_of(b""), Ok(None));
    let long = expect_conclusion(handle_conclusion(|hs| {
        hs.extensions[1] = HsExtension::StreamId(vec![b'a'; 513]);
    }));
    assert_eq!(long.stream_id(), &Err(StreamIdError::TooLong { len: 513 }));
    // As it comes off the wire: longer than 512 bytes reaches the application as TooLong (it
    // answers 1400) instead of failing to parse and leaving the caller unanswered.
    let wire = expect_conclusion(handle_conclusion(|hs| {
        hs.extensions[1] = HsExtension::StreamIdTooLong { wire_len: 600 };
    }));
    assert_eq!(wire.stream_id(), &Err(StreamIdError::TooLong { len: 600 }));
}

#[test]
fn non_listener_types_dropped() {
    let l = listener();
    let now = t0();
    let cookie = cookie_at(&l, now);
    let with_kind = |kind| Handshake {
        kind,
        ..conclusion(cookie, None)
    };
    assert_eq!(
        l.handle(now, peer(), &with_kind(HandshakeType::WaveAHand)),
        ListenerAction::Drop(DropReason::Rendezvous)
    );
    for kind in [
        HandshakeType::Agreement,
        HandshakeType::Done,
        HandshakeType::Rejection(1403),
    ] {
        assert_eq!(
            l.handle(now, peer(), &with_kind(kind)),
            ListenerAction::Drop(DropReason::UnexpectedType)
        );
    }
}

#[test]
fn application_rejection_goes_out_as_1000_plus_code() {
    let l = listener();
    let now = t0();
    let req = expect_conclusion(l.handle(
        now,
        peer(),
        &conclusion(cookie_at(&l, now), Some("#!::r=x,m=publish")),
    ));
    let reply = l.reject(req.handshake(), RejectReason::Forbidden);
    assert_eq!(reply.dest_socket_id, CALLER_ID);
    // Wire value 2403; the packet layer stores the reason.
    assert_eq!(reply.hs.kind, HandshakeType::Rejection(1403));
    assert!(reply.hs.extensions.is_empty());
    assert_eq!(reply.hs.syn_cookie, req.handshake().syn_cookie);
    let user = l.reject(req.handshake(), RejectReason::User(2005));
    assert_eq!(user.hs.kind, HandshakeType::Rejection(2005));
}

#[test]
fn km_request_exposed_and_kmrsp_attached() {
    let km = KeyMaterial {
        kk: 1,
        keki: 0,
        cipher: 2,
        auth: 0,
        se: 2,
        salt: vec![0; 16],
        key_len: 16,
        wrapped_keys: vec![0; 24],
    };
    let with_km = |flag: bool| {
        let km = km.clone();
        handle_conclusion(move |hs| {
            if flag {
                hs.extension_field |= ext_flags::KMREQ;
            }
            hs.extensions.insert(1, HsExtension::KmReq(km));
        })
    };
    let req = expect_conclusion(with_km(true));
    assert_eq!(req.km_request(), Some(&km));
    assert_eq!(expect_conclusion(with_km(false)).km_request(), None);

    let (reply, _) = listener().accept_with_km(&req, 5, Some(KmResponse::State(3)), false);
    assert_eq!(
        reply.hs.extension_field,
        ext_flags::HSREQ | ext_flags::KMREQ
    );
    assert_eq!(
        reply.hs.extensions[1],
        HsExtension::KmRsp(KmResponse::State(3))
    );
}

#[test]
fn negotiated_latency_is_capped_by_max_latency() {
    let now = t0();
    let l = Listener::new(
        *b"0123456789abcdef",
        now,
        ListenerConfig {
            max_latency: Duration::from_millis(2000),
            ..ListenerConfig::default()
        },
    );
    let mut hs = conclusion(cookie_at(&l, now), None);
    hs.extensions = vec![HsExtension::HsReq(HsExt {
        flags: HsFlags(HsFlags::TSBPDSND | HsFlags::TSBPDRCV | HsFlags::CRYPT),
        ..hs_req(9000, 5000)
    })];
    let req = expect_conclusion(l.handle(now, peer(), &hs));
    let (reply, n) = l.accept(&req, 9);
    let HsExtension::HsRsp(rsp) = reply.hs.extensions[0] else {
        panic!("HSRSP first");
    };
    // Both directions asked for more than 2000 ms and get 2000.
    assert_eq!(rsp.recv_tsbpd_delay_ms, 2000);
    assert_eq!(rsp.send_tsbpd_delay_ms, 2000);
    assert_eq!(n.recv_latency, Duration::from_millis(2000));
    assert_eq!(n.send_latency, Duration::from_millis(2000));
}
