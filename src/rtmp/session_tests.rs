//! `RtmpSession` driven in memory by rml_rtmp's own client (`ClientSession` + client
//! `Handshake`) on virtual time, and by hand-made chunks where a client would not misbehave.
#![allow(clippy::disallowed_methods)] // one Instant::now() as the origin of virtual time

use std::time::{Duration, Instant};

use bytes::Bytes;
use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
use rml_rtmp::rml_amf0::{self, Amf0Value};
use rml_rtmp::sessions::{
    ClientSession, ClientSessionConfig, ClientSessionEvent, ClientSessionResult,
    PublishRequestType, StreamMetadata,
};
use rml_rtmp::time::RtmpTimestamp;

use super::{Refusal, RtmpConfig, RtmpError, RtmpEvent, RtmpSession};

struct Pair {
    server: RtmpSession,
    client: ClientSession,
    now: Instant,
    events: Vec<RtmpEvent>,
    client_events: Vec<ClientSessionEvent>,
}

fn output(s: &mut RtmpSession) -> Vec<u8> {
    let mut out = Vec::new();
    s.take_output(&mut out);
    out
}

fn bytes_of(results: Vec<ClientSessionResult>) -> Vec<u8> {
    let mut out = Vec::new();
    for r in results {
        if let ClientSessionResult::OutboundResponse(p) = r {
            out.extend(p.bytes);
        }
    }
    out
}

impl Pair {
    /// Handshake, then C2 and the connect command in one segment; connected.
    fn connected(cfg: RtmpConfig) -> Pair {
        let now = Instant::now();
        let mut server = RtmpSession::new(cfg, now);
        let mut hs = Handshake::new(PeerType::Client);
        let c0c1 = hs.generate_outbound_p0_and_p1().expect("c0c1");
        server.on_bytes(&c0c1, now).expect("c0c1 accepted");
        let s0s1s2 = output(&mut server);
        assert_eq!(s0s1s2.len(), 1 + 2 * 1536, "S0, S1 and S2");
        let Ok(HandshakeProcessResult::Completed {
            response_bytes: mut segment,
            remaining_bytes,
        }) = hs.process_bytes(&s0s1s2)
        else {
            panic!("client handshake not complete")
        };
        assert!(remaining_bytes.is_empty());
        let (client, _) = ClientSession::new(ClientSessionConfig::new()).expect("client");
        let mut pair = Pair {
            server,
            client,
            now,
            events: Vec::new(),
            client_events: Vec::new(),
        };
        let connect = pair
            .client
            .request_connection("live".into())
            .expect("connect");
        segment.extend(bytes_of(vec![connect]));
        pair.server.on_bytes(&segment, now).expect("C2 + connect");
        pair.pump().expect("connect answered");
        assert!(
            pair.client_events
                .contains(&ClientSessionEvent::ConnectionRequestAccepted),
            "{:?}",
            pair.client_events
        );
        pair
    }

    /// Connected, createStream + publish answered up to our PublishRequested.
    fn publish_requested(key: &str) -> Pair {
        let mut pair = Pair::connected(RtmpConfig::default());
        let publish = pair
            .client
            .request_publishing(key.into(), PublishRequestType::Live)
            .expect("publish");
        pair.client_sends(vec![publish]).expect("publish sent");
        assert_eq!(
            pair.events,
            vec![RtmpEvent::PublishRequested {
                app: "live".into(),
                key: key.into()
            }]
        );
        pair.events.clear();
        pair
    }

    fn publishing() -> Pair {
        let mut pair = Pair::publish_requested("cam1");
        pair.server.accept_publish(pair.now).expect("accept");
        pair.pump().expect("publish start delivered");
        assert!(
            pair.client_events
                .contains(&ClientSessionEvent::PublishRequestAccepted)
        );
        pair
    }

    fn client_sends(&mut self, results: Vec<ClientSessionResult>) -> Result<(), RtmpError> {
        self.server.on_bytes(&bytes_of(results), self.now)?;
        self.pump()
    }

    /// Our output to the client, its answers back, until both are quiet.
    fn pump(&mut self) -> Result<(), RtmpError> {
        loop {
            while let Some(e) = self.server.poll_event() {
                self.events.push(e);
            }
            let out = output(&mut self.server);
            if out.is_empty() {
                return Ok(());
            }
            let mut back = Vec::new();
            for r in self.client.handle_input(&out).expect("client reads us") {
                match r {
                    ClientSessionResult::OutboundResponse(p) => back.extend(p.bytes),
                    ClientSessionResult::RaisedEvent(e) => self.client_events.push(e),
                    ClientSessionResult::UnhandleableMessageReceived(_) => {}
                }
            }
            if !back.is_empty() {
                self.server.on_bytes(&back, self.now)?;
            }
        }
    }
}

/// A chunk with a type-0 header (RTMP spec §5.3.1.2.1) on chunk stream `csid` (2..=63).
fn chunk0(csid: u8, ts: u32, len: usize, type_id: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let mut c = vec![csid];
    let field = ts.min(0xFF_FFFF);
    c.extend(&field.to_be_bytes()[1..]);
    c.extend(&(len as u32).to_be_bytes()[1..]);
    c.push(type_id);
    c.extend(stream.to_le_bytes());
    if field == 0xFF_FFFF {
        c.extend(ts.to_be_bytes());
    }
    c.extend(payload);
    c
}

/// A whole message split into chunks of `size` on `csid` (type 0, then type 3 headers).
fn message(csid: u8, type_id: u8, stream: u32, body: &[u8], size: usize) -> Vec<u8> {
    let mut parts = body.chunks(size.max(1));
    let mut out = chunk0(
        csid,
        0,
        body.len(),
        type_id,
        stream,
        parts.next().unwrap_or(&[]),
    );
    for p in parts {
        out.push(0xC0 | csid);
        out.extend(p);
    }
    out
}

fn set_chunk_size(size: u32) -> Vec<u8> {
    chunk0(2, 0, 4, 1, 0, &size.to_be_bytes())
}

fn amf(values: Vec<Amf0Value>) -> Vec<u8> {
    rml_amf0::serialize(&values).expect("amf")
}

#[test]
fn publish_metadata_media_and_unpublish() {
    let mut p = Pair::publishing();
    let metadata = StreamMetadata {
        video_codec_id: Some(7),
        audio_codec_id: Some(10),
        ..StreamMetadata::new()
    };
    let sent = p.client.publish_metadata(&metadata).expect("metadata");
    p.client_sends(vec![sent]).expect("metadata accepted");
    let mut want = vec![RtmpEvent::Metadata {
        video: true,
        audio: true,
    }];
    for (i, ts) in [0u32, 40, 80].into_iter().enumerate() {
        // A 10 KB frame: several 4096-byte chunks.
        let frame_type = if i == 0 { 0x17 } else { 0x27 }; // keyframe, then inter frames
        let frame = Bytes::from(vec![frame_type; 10_000]);
        let v = p
            .client
            .publish_video_data(frame.clone(), RtmpTimestamp::new(ts), false)
            .expect("video");
        let audio = Bytes::from(vec![0xaf, 1, i as u8]);
        let a = p
            .client
            .publish_audio_data(audio.clone(), RtmpTimestamp::new(ts + 3), false)
            .expect("audio");
        p.client_sends(vec![v, a]).expect("media accepted");
        want.push(RtmpEvent::Video {
            timestamp_ms: ts,
            data: frame,
        });
        want.push(RtmpEvent::Audio {
            timestamp_ms: ts + 3,
            data: audio,
        });
    }
    let stop = p.client.stop_publishing().expect("stop");
    p.client_sends(stop).expect("deleteStream");
    want.push(RtmpEvent::Finished);
    assert_eq!(p.events, want);
    let s = p.server.stats();
    assert_eq!(
        (s.video_messages, s.audio_messages, s.metadata_messages),
        (3, 3, 1)
    );
    assert!(s.bytes_in > 30_000 && s.bytes_out > 3073, "{s:?}");
    // After Finished the deadline is the idle one.
    assert_eq!(
        p.server.deadline(),
        Some(p.now + RtmpConfig::default().idle_timeout)
    );
}

#[test]
fn a_refused_publish_reaches_the_client_as_a_status_error() {
    let mut p = Pair::publish_requested("cam1?token=bad");
    p.server.refuse_publish(Refusal::BadName, p.now);
    let out = output(&mut p.server);
    let events = p
        .client
        .handle_input(&out)
        .expect("client reads the status");
    assert!(
        events.contains(&ClientSessionResult::RaisedEvent(
            ClientSessionEvent::UnhandleableOnStatusCode {
                code: "NetStream.Publish.BadName".into()
            }
        )),
        "{events:?}"
    );
    assert_eq!(p.server.deadline(), None);
    assert_eq!(p.server.on_bytes(&[0xc3], p.now), Err(RtmpError::Refused));
    assert_eq!(p.server.on_bytes(&[0xc3], p.now), Err(RtmpError::Closed));
    assert_eq!(p.server.accept_publish(p.now), Err(RtmpError::Closed));
}

#[test]
fn play_is_refused_with_play_failed() {
    let mut p = Pair::connected(RtmpConfig::default());
    let play = p.client.request_playback("cam1".into()).expect("play");
    let mut r = Ok(());
    let mut statuses = Vec::new();
    // createStream is answered; the play then fails with a status for the client.
    let mut to_server = bytes_of(vec![play]);
    for _ in 0..4 {
        if !to_server.is_empty() {
            r = p.server.on_bytes(&to_server, p.now);
        }
        let out = output(&mut p.server);
        to_server.clear();
        for x in p.client.handle_input(&out).expect("client") {
            match x {
                ClientSessionResult::OutboundResponse(b) => to_server.extend(b.bytes),
                ClientSessionResult::RaisedEvent(e) => statuses.push(e),
                _ => {}
            }
        }
        if r.is_err() {
            break;
        }
    }
    assert_eq!(r, Err(RtmpError::PlayNotSupported));
    assert!(
        statuses.contains(&ClientSessionEvent::UnhandleableOnStatusCode {
            code: "NetStream.Play.Failed".into()
        }),
        "{statuses:?}"
    );
}

#[test]
fn a_stalled_handshake_times_out_at_its_deadline() {
    let t0 = Instant::now();
    let cfg = RtmpConfig::default();
    let mut s = RtmpSession::new(cfg.clone(), t0);
    let mut hs = Handshake::new(PeerType::Client);
    let c0c1 = hs.generate_outbound_p0_and_p1().expect("c0c1");
    s.on_bytes(&c0c1[..700], t0 + Duration::from_secs(3))
        .expect("half a C1");
    let deadline = t0 + cfg.handshake_timeout;
    // Input does not move the handshake deadline.
    assert_eq!(s.deadline(), Some(deadline));
    assert_eq!(s.on_timeout(deadline - Duration::from_millis(1)), Ok(()));
    assert_eq!(s.on_timeout(deadline), Err(RtmpError::Timeout("handshake")));
    assert_eq!(s.deadline(), None);
}

#[test]
fn a_pending_publish_counts_toward_the_handshake_deadline_then_idle_applies() {
    let mut p = Pair::publish_requested("cam1");
    let cfg = RtmpConfig::default();
    assert_eq!(p.server.deadline(), Some(p.now + cfg.handshake_timeout));
    let later = p.now + Duration::from_secs(2);
    p.server.accept_publish(later).expect("accept");
    assert_eq!(p.server.deadline(), Some(later + cfg.idle_timeout));
    let t = later + Duration::from_secs(20);
    p.now = t;
    let ping = p.client.send_ping_request().expect("ping").0;
    p.server.on_bytes(&ping.bytes, t).expect("ping");
    assert_eq!(p.server.deadline(), Some(t + cfg.idle_timeout));
    assert_eq!(
        p.server.on_timeout(t + cfg.idle_timeout),
        Err(RtmpError::Timeout("idle"))
    );
}

#[test]
fn a_bad_c0_fails_at_once() {
    let t0 = Instant::now();
    let mut s = RtmpSession::new(RtmpConfig::default(), t0);
    let r = s.on_bytes(b"GET / HTTP/1.1\r\n", t0);
    assert!(matches!(r, Err(RtmpError::HandshakeFailed(_))), "{r:?}");
    assert!(output(&mut s).is_empty(), "nothing sent to a non-RTMP peer");
}

#[test]
fn a_message_declared_too_large_is_refused_from_its_header() {
    // 24 bits cannot declare 100 MB: the largest declarable length, 16 MiB - 1, against 8 MiB.
    let mut p = Pair::connected(RtmpConfig::default());
    let header = chunk0(10, 0, 0xFF_FFFF, 9, 1, &[]);
    assert_eq!(header.len(), 12);
    assert_eq!(
        p.server.on_bytes(&header, p.now),
        Err(RtmpError::MessageTooLarge {
            declared: 0xFF_FFFF,
            limit: 8 << 20
        })
    );
    // A smaller limit, and a command (held in full to be checked) over its own 64 KiB cap.
    let cfg = RtmpConfig {
        max_message_bytes: 1 << 20,
        ..RtmpConfig::default()
    };
    let mut p = Pair::connected(cfg);
    let r = p
        .server
        .on_bytes(&chunk0(10, 0, 2_000_000, 8, 1, &[]), p.now);
    assert!(matches!(r, Err(RtmpError::MessageTooLarge { .. })), "{r:?}");
    let mut p = Pair::connected(RtmpConfig::default());
    let r = p
        .server
        .on_bytes(&chunk0(10, 0, 100_000, 20, 0, &[]), p.now);
    assert!(matches!(r, Err(RtmpError::MessageTooLarge { .. })), "{r:?}");
}

#[test]
fn chunk_sizes_of_one_and_two_to_the_31_minus_one_work_and_beyond_are_refused() {
    let mut p = Pair::publishing();
    let frame: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let mut bytes = set_chunk_size(1);
    bytes.extend(message(10, 9, 1, &frame, 1));
    // At chunk size 1 the next Set Chunk Size comes in 1-byte chunks too.
    bytes.extend(message(2, 1, 0, &0x7fff_ffffu32.to_be_bytes(), 1));
    let big = vec![0x27; 20_000];
    bytes.extend(message(10, 9, 1, &big, usize::MAX));
    p.server.on_bytes(&bytes, p.now).expect("both chunk sizes");
    p.pump().expect("quiet");
    let data: Vec<_> = p
        .events
        .iter()
        .map(|e| match e {
            RtmpEvent::Video { data, .. } => data.to_vec(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(data, vec![frame, big]);

    for bad in [0, 0x8000_0000, u32::MAX] {
        let mut p = Pair::connected(RtmpConfig::default());
        let r = p.server.on_bytes(&set_chunk_size(bad), p.now);
        assert!(matches!(r, Err(RtmpError::Protocol(_))), "{bad}: {r:?}");
    }
}

#[test]
fn chunks_of_two_messages_interleaved_are_refused() {
    let mut p = Pair::connected(RtmpConfig::default());
    // 5000 bytes at the client's 4096: the first chunk, then another chunk stream.
    let mut bytes = chunk0(10, 0, 5000, 22, 1, &[0; 4096]);
    bytes.extend(chunk0(11, 0, 5, 22, 1, &[0; 5]));
    let r = p.server.on_bytes(&bytes, p.now);
    assert!(matches!(r, Err(RtmpError::Protocol(_))), "{r:?}");
}

#[test]
fn an_extended_timestamp_delta_below_0xffffff_is_refused() {
    let mut p = Pair::connected(RtmpConfig::default());
    // Type 22 (aggregate): rml_rtmp drops it, counted.
    let first = chunk0(10, 0x0100_0000, 1, 22, 1, &[0]);
    p.server
        .on_bytes(&first, p.now)
        .expect("extended timestamp");
    let mut next = vec![0xC0 | 10];
    next.extend(0x0100_0005u32.to_be_bytes());
    next.push(0);
    p.server.on_bytes(&next, p.now).expect("a delta of 6");
    assert_eq!(p.server.stats().messages_dropped, 2);
    let mut bad = vec![0xC0 | 10];
    bad.extend(5u32.to_be_bytes());
    bad.push(0);
    let r = p.server.on_bytes(&bad, p.now);
    assert!(matches!(r, Err(RtmpError::Protocol(_))), "{r:?}");
}

#[test]
fn bodies_rml_rtmp_would_panic_or_recurse_on_are_refused() {
    let s = |v: &str| Amf0Value::Utf8String(v.into());
    let cases = [
        // A command needs a name, a transaction id and an object (rml_rtmp: `drain(..3)`).
        message(
            3,
            20,
            0,
            &amf(vec![s("connect"), Amf0Value::Number(1.0)]),
            128,
        ),
        message(3, 17, 0, &[0], 128),
        // `@setDataFrame` needs two more values (rml_rtmp: `data[0]`, `remove(1)`).
        message(
            4,
            18,
            1,
            &amf(vec![s("@setDataFrame"), s("onMetaData")]),
            128,
        ),
        // 10 000 nested objects: rml_amf0 recurses once per level.
        message(4, 18, 1, &[0x03; 10_000], 128),
    ];
    for bytes in cases {
        let mut p = Pair::connected(RtmpConfig::default());
        let r = p.server.on_bytes(&bytes, p.now);
        assert!(matches!(r, Err(RtmpError::Protocol(_))), "{r:?}");
    }
}

#[test]
fn media_before_a_publish_is_an_error() {
    let mut p = Pair::connected(RtmpConfig::default());
    let r = p.server.on_bytes(&message(6, 9, 1, &[0x17, 0], 128), p.now);
    assert_eq!(r, Err(RtmpError::MediaBeforePublish));
}

#[test]
fn media_sent_before_the_answer_waits_for_it() {
    // A peer that does not wait for NetStream.Publish.Start: its media is held, not delivered.
    let mut p = Pair::publish_requested("cam1");
    let frame = message(6, 9, 1, &[0x17, 0, 0, 0, 0, 1], 4096);
    p.server.on_bytes(&frame, p.now).expect("held");
    assert_eq!(p.server.poll_event(), None);
    assert_eq!(p.server.stats().video_messages, 0);
    p.server.accept_publish(p.now).expect("accept");
    assert!(matches!(
        p.server.poll_event(),
        Some(RtmpEvent::Video {
            timestamp_ms: 0,
            ..
        })
    ));
    // Refused: never delivered, and the hold is capped like a message.
    let mut p = Pair::publish_requested("cam1");
    p.server.on_bytes(&frame, p.now).expect("held");
    p.server.refuse_publish(Refusal::Busy, p.now);
    assert_eq!(p.server.poll_event(), None);
    let mut p = Pair::publish_requested("cam1");
    let big = message(6, 9, 1, &vec![0x27; 4 << 20], 4096);
    let r = (0..3).try_for_each(|_| p.server.on_bytes(&big, p.now));
    assert!(matches!(r, Err(RtmpError::MessageTooLarge { .. })), "{r:?}");
}

#[test]
fn a_peer_that_does_not_read_is_cut_off() {
    let cfg = RtmpConfig {
        max_pending_out: 4096,
        ..RtmpConfig::default()
    };
    let mut p = Pair::connected(cfg);
    // Ping requests (user control 6) each want a reply; nobody takes our output.
    let ping = chunk0(2, 0, 6, 4, 0, &[0, 6, 0, 0, 0, 1]);
    let mut r = Ok(());
    for _ in 0..1000 {
        r = p.server.on_bytes(&ping, p.now);
        if r.is_err() {
            break;
        }
    }
    assert!(matches!(r, Err(RtmpError::OutputBacklog(_))), "{r:?}");
}

#[test]
fn create_streams_and_chunk_streams_are_capped() {
    let mut p = Pair::connected(RtmpConfig::default());
    let create = amf(vec![
        Amf0Value::Utf8String("createStream".into()),
        Amf0Value::Number(2.0),
        Amf0Value::Null,
    ]);
    let mut r = Ok(());
    for _ in 0..=super::chunk_guard::MAX_CREATE_STREAMS {
        r = p.server.on_bytes(&message(3, 20, 0, &create, 128), p.now);
        output(&mut p.server);
    }
    assert!(matches!(r, Err(RtmpError::Protocol(_))), "{r:?}");

    let mut p = Pair::connected(RtmpConfig::default());
    let mut bytes = Vec::new();
    for id in 0..=super::chunk_guard::MAX_CHUNK_STREAMS as u8 {
        // Two-byte basic headers: chunk stream ids 64 + id.
        let mut c = chunk0(0, 0, 1, 22, 0, &[0]);
        c.insert(1, id);
        bytes.extend(c);
    }
    let r = p.server.on_bytes(&bytes, p.now);
    assert!(matches!(r, Err(RtmpError::Protocol(_))), "{r:?}");
}
