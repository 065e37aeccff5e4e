//! Caller unit tests: what it sends, when, and how it reads answers.

use super::*;
use crate::srt::handshake::test_util::t0;

const ID: u32 = 0x3f79_db2c;
const ISN: u32 = 295_737_965;
const COOKIE: u32 = 0x1234_5678;

fn remote() -> SocketAddr {
    "127.0.0.1:9000".parse().expect("addr")
}

fn config(sid: Option<&str>) -> CallerConfig {
    CallerConfig {
        stream_id: sid.map(str::to_owned),
        recv_latency: Duration::from_millis(200),
        peer_latency: Duration::from_millis(200),
        ..CallerConfig::new(ID, SeqNo::new(ISN), remote())
    }
}

fn caller(sid: Option<&str>) -> Caller {
    Caller::new(t0(), config(sid)).expect("valid config")
}

/// What a libsrt listener answers to our induction.
fn induction_response(cookie: u32) -> Handshake {
    Handshake {
        version: HS_VERSION_5,
        encryption_field: 0,
        extension_field: HS_MAGIC,
        kind: HandshakeType::Induction,
        syn_cookie: cookie,
        ..caller(None).induction()
    }
}

/// What a libsrt listener (rcv 120, peer 80) answers to our conclusion.
fn conclusion_response() -> Handshake {
    Handshake {
        version: HS_VERSION_5,
        encryption_field: 0,
        extension_field: ext_flags::HSREQ,
        initial_seq: SeqNo::new(ISN),
        mtu: 1500,
        flow_window: 8192,
        kind: HandshakeType::Conclusion,
        socket_id: 0x262c_a43f,
        syn_cookie: COOKIE,
        peer_ip: encode_peer_ip(remote().ip()),
        extensions: vec![HsExtension::HsRsp(HsExt {
            srt_version: 0x010501,
            flags: HsFlags(0xBF),
            recv_tsbpd_delay_ms: 120,
            send_tsbpd_delay_ms: 200,
        })],
    }
}

/// A caller that has had its induction answered at t0.
fn concluding(sid: Option<&str>) -> Caller {
    let mut c = caller(sid);
    c.poll_transmit(t0()).expect("induction");
    c.handle(t0(), &induction_response(COOKIE));
    c
}

#[test]
fn induction_matches_libsrt() {
    let mut c = caller(Some("#!::r=live/cam1,m=publish"));
    let t = c.poll_transmit(t0()).expect("induction due at once");
    assert_eq!(t.dest_socket_id, 0);
    assert_eq!(
        t.hs,
        Handshake {
            version: 4,
            encryption_field: 0,
            extension_field: 2,
            initial_seq: SeqNo::new(ISN),
            mtu: 1500,
            flow_window: 8192,
            kind: HandshakeType::Induction,
            socket_id: ID,
            syn_cookie: 0,
            peer_ip: [1, 0, 0, 127, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            extensions: vec![],
        }
    );
    assert_eq!(c.poll_transmit(t0() + Duration::from_millis(249)), None);
    assert_eq!(c.poll_timeout(), Some(t0() + CONNECT_RETRY_INTERVAL));
    let again = c.poll_transmit(t0() + CONNECT_RETRY_INTERVAL);
    assert_eq!(again, Some(t), "resent unchanged after 250 ms");
}

#[test]
fn conclusion_matches_libsrt() {
    let mut c = concluding(Some("#!::r=live/cam1,m=publish"));
    let t = c.poll_transmit(t0()).expect("conclusion due at once");
    assert_eq!(t.dest_socket_id, 0);
    let hs = t.hs;
    assert_eq!(hs.version, 5);
    assert_eq!(hs.kind, HandshakeType::Conclusion);
    assert_eq!(
        hs.extension_field, 0x5,
        "HSREQ | CONFIG, as srt-live-transmit"
    );
    assert_eq!(hs.syn_cookie, COOKIE);
    assert_eq!(hs.socket_id, ID);
    assert_eq!(hs.initial_seq, SeqNo::new(ISN));
    assert_eq!(
        hs.extensions,
        vec![
            HsExtension::HsReq(HsExt {
                srt_version: 0x010501,
                flags: HsFlags(0x3F),
                recv_tsbpd_delay_ms: 200,
                send_tsbpd_delay_ms: 200,
            }),
            HsExtension::StreamId(b"#!::r=live/cam1,m=publish".to_vec()),
        ]
    );

    let mut plain = concluding(Some(""));
    let hs = plain.poll_transmit(t0()).expect("conclusion").hs;
    assert_eq!(
        hs.extension_field,
        ext_flags::HSREQ,
        "empty SID is not sent"
    );
    assert_eq!(hs.extensions.len(), 1);
}

#[test]
fn retransmits_every_250ms_then_times_out_after_3s() {
    let mut c = concluding(None);
    let mut sends = Vec::new();
    let mut now = t0();
    while let Some(deadline) = c.poll_timeout() {
        now = deadline;
        if let Some(t) = c.poll_transmit(now) {
            assert_eq!(t.hs.kind, HandshakeType::Conclusion);
            sends.push(now - t0());
        }
    }
    let expected: Vec<Duration> = (0..12).map(|i| CONNECT_RETRY_INTERVAL * i).collect();
    assert_eq!(sends, expected, "t = 0, 0.25, ..., 2.75 s");
    assert_eq!(now, t0() + Duration::from_secs(3));
    assert_eq!(c.poll_event(), Some(CallerEvent::TimedOut));
    assert_eq!(c.poll_event(), None, "reported once");
    assert!(!c.is_connecting());
    assert_eq!(c.poll_transmit(now + Duration::from_secs(1)), None);
}

#[test]
fn timeout_applies_in_induction_too() {
    let mut c = caller(None);
    c.handle_timeout(t0() + Duration::from_millis(2999));
    assert!(c.is_connecting());
    c.handle_timeout(t0() + Duration::from_secs(3));
    assert_eq!(c.poll_event(), Some(CallerEvent::TimedOut));
    // An answer after the deadline changes nothing.
    c.handle(t0() + Duration::from_secs(4), &induction_response(COOKIE));
    assert_eq!(c.poll_event(), None);
}

#[test]
fn connected_reads_hsrsp() {
    let mut c = concluding(Some("#!::r=live/cam1,m=publish"));
    c.poll_transmit(t0());
    c.handle(t0() + Duration::from_millis(1), &conclusion_response());
    let Some(CallerEvent::Connected(n)) = c.poll_event() else {
        panic!("expected to connect");
    };
    assert_eq!(n.peer_socket_id, 0x262c_a43f);
    assert_eq!(n.isn, SeqNo::new(ISN));
    assert_eq!(n.mtu, 1500);
    assert_eq!(n.peer_flow_window, 8192);
    assert_eq!(
        n.recv_latency,
        Duration::from_millis(200),
        "HSRSP send field"
    );
    assert_eq!(
        n.send_latency,
        Duration::from_millis(120),
        "HSRSP recv field"
    );
    assert_eq!(n.peer_flags, HsFlags(0xBF));
    assert_eq!(n.peer_srt_version, 0x010501);
    assert_eq!(
        n.stream_id.and_then(|s| s.resource),
        Some("live/cam1".to_owned())
    );
    assert_eq!(c.poll_timeout(), None);
    assert_eq!(
        c.poll_transmit(t0() + Duration::from_secs(1)),
        None,
        "stops sending"
    );
}

#[test]
fn rejections_end_the_attempt_in_either_phase() {
    let rejection = |code| Handshake {
        kind: HandshakeType::Rejection(code),
        ..induction_response(0)
    };
    let mut c = caller(None);
    c.handle(t0(), &rejection(1403));
    assert_eq!(
        c.poll_event(),
        Some(CallerEvent::Rejected(RejectReason::Forbidden))
    );
    let mut c = concluding(None);
    c.handle(t0(), &rejection(5));
    assert_eq!(
        c.poll_event(),
        Some(CallerEvent::Rejected(RejectReason::Backlog))
    );
}

#[test]
fn refuses_hsv4_listener() {
    let mut c = caller(None);
    c.handle(
        t0(),
        &Handshake {
            version: 4,
            ..induction_response(COOKIE)
        },
    );
    assert_eq!(
        c.poll_event(),
        Some(CallerEvent::Refused(RejectReason::Version))
    );
}

#[test]
fn missing_magic_is_tolerated_like_libsrt() {
    let mut c = caller(None);
    c.handle(
        t0(),
        &Handshake {
            extension_field: 0,
            ..induction_response(COOKIE)
        },
    );
    let t = c.poll_transmit(t0()).expect("conclusion");
    assert_eq!(t.hs.kind, HandshakeType::Conclusion);
}

#[test]
fn bad_conclusion_responses_refused() {
    type Case = (fn(&mut Handshake), RejectReason);
    let cases: [Case; 8] = [
        (
            |hs| hs.initial_seq = SeqNo::new(ISN + 1),
            RejectReason::Rogue,
        ),
        (|hs| hs.mtu = 1501, RejectReason::Rogue),
        (|hs| hs.flow_window = 0, RejectReason::Rogue),
        (|hs| hs.version = 4, RejectReason::Version),
        (|hs| hs.extensions.clear(), RejectReason::Rogue),
        (|hs| hs.extension_field = 0, RejectReason::Rogue),
        (
            |hs| {
                hs.extension_field |= ext_flags::CONFIG;
                hs.extensions
                    .push(HsExtension::Congestion(b"file".to_vec()));
            },
            RejectReason::Congestion,
        ),
        (
            |hs| {
                hs.extension_field |= ext_flags::CONFIG;
                hs.extensions.push(HsExtension::Filter(b"fec".to_vec()));
            },
            RejectReason::Filter,
        ),
    ];
    for (f, want) in cases {
        let mut c = concluding(None);
        let mut rsp = conclusion_response();
        f(&mut rsp);
        c.handle(t0(), &rsp);
        assert_eq!(c.poll_event(), Some(CallerEvent::Refused(want)));
    }
}

#[test]
fn stray_handshakes_ignored() {
    // A conclusion response before we have sent a conclusion is not ours.
    let mut c = caller(None);
    c.handle(t0(), &conclusion_response());
    assert!(c.is_connecting());
    assert_eq!(c.poll_event(), None);
    // Rendezvous/agreement types are ignored in the conclusion phase.
    let mut c = concluding(None);
    for kind in [HandshakeType::WaveAHand, HandshakeType::Agreement] {
        c.handle(
            t0(),
            &Handshake {
                kind,
                ..conclusion_response()
            },
        );
    }
    assert!(c.is_connecting());
}

#[test]
fn late_induction_with_new_cookie_is_adopted() {
    let mut c = concluding(None);
    assert_eq!(c.poll_transmit(t0()).map(|t| t.hs.syn_cookie), Some(COOKIE));
    let later = t0() + Duration::from_millis(100);
    // Same cookie: nothing new to send yet.
    c.handle(later, &induction_response(COOKIE));
    assert_eq!(c.poll_transmit(later), None);
    c.handle(later, &induction_response(COOKIE + 1));
    assert_eq!(
        c.poll_transmit(later).map(|t| t.hs.syn_cookie),
        Some(COOKIE + 1)
    );
}

#[test]
fn config_checks() {
    let long = "a".repeat(MAX_STREAMID_LEN + 1);
    assert_eq!(
        Caller::new(t0(), config(Some(&long))).map(|_| ()),
        Err(CallerConfigError::StreamIdTooLong { len: 513 })
    );
    let cfg = CallerConfig {
        isn: SeqNo::new(SeqNo::MAX),
        ..config(None)
    };
    let mut c = Caller::new(t0(), cfg).expect("valid");
    assert_eq!(
        c.poll_transmit(t0()).map(|t| t.hs.initial_seq),
        Some(SeqNo::new(0)),
        "libsrt listeners drop ISN 0x7FFFFFFF"
    );
    assert_eq!(c.local_socket_id(), ID);
}
