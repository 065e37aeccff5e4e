//! `RtmpPublisher` against our own ingest session (`RtmpSession`) in memory on virtual time, and
//! against hand-made server bytes where our server would not misbehave. `RTMP_WRITE_SEEDS=1`
//! also records what our server sent after the handshake as fuzz seeds
//! (fuzz/corpus/rtmp_publisher/, format: `fuzz/checks.rs` `rtmp_publisher`).
#![allow(clippy::disallowed_methods)] // one Instant::now() as the origin of virtual time

use std::time::{Duration, Instant};

use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};

use super::{
    PublisherConfig, PublisherError, PublisherEvent, Refusal, RtmpConfig, RtmpEvent, RtmpPublisher,
    RtmpSession,
};
use crate::media::flvmux::{FlvTag, TagKind, TsToFlv};
use crate::media::tsgen::FFMPEG_FIXTURE;

struct Pair {
    publisher: RtmpPublisher,
    server: RtmpSession,
    now: Instant,
    /// Bytes from the publisher not yet given to the server.
    to_server: Vec<u8>,
    /// Everything the server sent, S0+S1+S2 first.
    from_server: Vec<u8>,
    publisher_events: Vec<PublisherEvent>,
    server_events: Vec<RtmpEvent>,
}

impl Pair {
    fn new() -> Pair {
        let now = Instant::now();
        let mut publisher = RtmpPublisher::new(
            PublisherConfig::default(),
            "live",
            "cam1",
            "rtmp://127.0.0.1/live",
            now,
        )
        .expect("publisher");
        let to_server = publisher.take_output();
        assert_eq!(to_server.len(), 1 + 1536, "C0 and C1");
        Pair {
            publisher,
            server: RtmpSession::new(RtmpConfig::default(), now),
            now,
            to_server,
            from_server: Vec::new(),
            publisher_events: Vec::new(),
            server_events: Vec::new(),
        }
    }

    /// Bytes both ways until both sides are quiet.
    fn pump(&mut self) {
        loop {
            let bytes = std::mem::take(&mut self.to_server);
            if !bytes.is_empty() {
                self.server
                    .on_bytes(&bytes, self.now)
                    .expect("server reads us");
            }
            while let Some(e) = self.server.poll_event() {
                self.server_events.push(e);
            }
            let mut back = Vec::new();
            self.server.take_output(&mut back);
            if back.is_empty() && bytes.is_empty() {
                return;
            }
            self.from_server.extend_from_slice(&back);
            if !back.is_empty() {
                let reply = self
                    .publisher
                    .handle_input(&back, self.now)
                    .expect("publisher reads the server");
                self.to_server.extend(reply);
            }
            while let Some(e) = self.publisher.poll_event() {
                self.publisher_events.push(e);
            }
        }
    }

    fn publish_requested() -> Pair {
        let mut pair = Pair::new();
        pair.pump();
        assert_eq!(
            pair.server_events,
            [RtmpEvent::PublishRequested {
                app: "live".into(),
                key: "cam1".into()
            }]
        );
        assert_eq!(pair.publisher_events, [PublisherEvent::Connected]);
        assert!(!pair.publisher.is_publishing());
        pair.server_events.clear();
        pair.publisher_events.clear();
        pair
    }

    fn publishing() -> Pair {
        let mut pair = Pair::publish_requested();
        pair.server.accept_publish(pair.now).expect("accept");
        pair.pump();
        assert_eq!(pair.publisher_events, [PublisherEvent::Publishing]);
        assert!(pair.publisher.is_publishing());
        assert_eq!(
            pair.publisher.deadline(),
            None,
            "no setup deadline once publishing"
        );
        pair.publisher_events.clear();
        pair
    }
}

fn fixture_tags() -> Vec<FlvTag> {
    let mut m = TsToFlv::new();
    let mut tags = Vec::new();
    m.push(FFMPEG_FIXTURE, &mut tags);
    m.flush(&mut tags);
    tags
}

#[test]
fn publishes_the_fixture_to_our_own_ingest() {
    let mut pair = Pair::publishing();
    let tags = fixture_tags();
    for t in &tags {
        let bytes = pair.publisher.send_tag(t, pair.now).expect("send");
        pair.server
            .on_bytes(&bytes, pair.now)
            .expect("server takes it");
    }
    // Acks and the like back to the publisher.
    pair.pump();
    while let Some(e) = pair.server.poll_event() {
        pair.server_events.push(e);
    }
    let mut want = Vec::new();
    for t in &tags {
        want.push(match t.kind {
            TagKind::Script => RtmpEvent::Metadata {
                video: true,
                audio: true,
            },
            TagKind::Video => RtmpEvent::Video {
                timestamp_ms: t.timestamp_ms,
                data: t.body.clone().into(),
            },
            TagKind::Audio => RtmpEvent::Audio {
                timestamp_ms: t.timestamp_ms,
                data: t.body.clone().into(),
            },
        });
    }
    assert_eq!(pair.server_events.len(), want.len());
    assert_eq!(
        pair.server_events, want,
        "every tag, byte for byte, on time"
    );
    let stats = pair.publisher.stats();
    assert_eq!(stats.metadata_tags, 1);
    assert_eq!(
        stats.video_tags + stats.audio_tags + stats.metadata_tags,
        tags.len() as u64
    );
    // And goodbye: the server sees the publish finish.
    pair.server_events.clear();
    pair.to_server = pair.publisher.finish();
    pair.pump();
    assert_eq!(pair.server_events, [RtmpEvent::Finished]);
    assert_eq!(
        pair.publisher_events,
        [PublisherEvent::Closed("finished by us".into())]
    );
    assert_eq!(
        pair.publisher.send_tag(&tags[0], pair.now),
        Err(PublisherError::Closed)
    );
}

#[test]
fn a_refused_publish_is_reported_with_the_status_code() {
    let mut pair = Pair::publish_requested();
    let tags = fixture_tags();
    assert_eq!(
        pair.publisher.send_tag(&tags[0], pair.now),
        Err(PublisherError::NotPublishing)
    );
    pair.server.refuse_publish(Refusal::BadName, pair.now);
    let mut back = Vec::new();
    pair.server.take_output(&mut back);
    pair.publisher
        .handle_input(&back, pair.now)
        .expect("a refusal is no error");
    assert_eq!(
        pair.publisher.poll_event(),
        Some(PublisherEvent::Refused("NetStream.Publish.BadName".into()))
    );
    assert_eq!(pair.publisher.deadline(), None);
    assert_eq!(
        pair.publisher.send_tag(&tags[0], pair.now),
        Err(PublisherError::Closed)
    );
}

#[test]
fn setup_deadline() {
    let now = Instant::now();
    let cfg = PublisherConfig {
        setup_timeout: Duration::from_secs(3),
        ..PublisherConfig::default()
    };
    let mut p = RtmpPublisher::new(cfg, "live", "k", "rtmp://h/live", now).expect("new");
    assert_eq!(p.deadline(), Some(now + Duration::from_secs(3)));
    assert_eq!(p.on_timeout(now + Duration::from_millis(2999)), Ok(()));
    assert_eq!(
        p.on_timeout(now + Duration::from_secs(3)),
        Err(PublisherError::SetupTimeout)
    );
    assert_eq!(p.deadline(), None);
    assert_eq!(p.handle_input(&[3], now), Err(PublisherError::Closed));
}

#[test]
fn eof_before_and_after_publishing() {
    let mut pair = Pair::publish_requested();
    pair.publisher.handle_eof();
    assert_eq!(
        pair.publisher.poll_event(),
        Some(PublisherEvent::Refused(
            "connection closed by the server during publish".into()
        ))
    );
    let mut pair = Pair::publishing();
    pair.publisher.handle_eof();
    assert_eq!(
        pair.publisher.poll_event(),
        Some(PublisherEvent::Closed(
            "connection closed by the server".into()
        ))
    );
    pair.publisher.handle_eof();
    assert_eq!(pair.publisher.poll_event(), None, "once");
}

/// A publisher whose handshake a bare rml_rtmp server handshake completed: the next bytes are
/// the server's chunk stream.
fn after_handshake() -> RtmpPublisher {
    let now = Instant::now();
    let mut p = RtmpPublisher::new(
        PublisherConfig::default(),
        "live",
        "k",
        "rtmp://h/live",
        now,
    )
    .expect("new");
    let c0c1 = p.take_output();
    let mut server = Handshake::new(PeerType::Server);
    let HandshakeProcessResult::InProgress { response_bytes } =
        server.process_bytes(&c0c1).expect("c0c1")
    else {
        panic!("server handshake done too early")
    };
    let c2 = p.handle_input(&response_bytes, now).expect("s0s1s2");
    assert!(c2.len() > 1536, "C2 and connect");
    p
}

#[test]
fn a_server_message_over_the_cap_is_refused_before_buffering() {
    let mut p = after_handshake();
    // Type-0 chunk on chunk stream 3: a 1 MiB AMF0 command (type 20) on stream 0.
    let mut chunk = vec![0x03, 0, 0, 0, 0x10, 0, 0, 20, 0, 0, 0, 0];
    chunk.extend_from_slice(&[0x02; 100]);
    let r = p.handle_input(&chunk, Instant::now());
    assert!(
        matches!(r, Err(PublisherError::MessageTooLarge { declared, .. }) if declared == 1 << 20),
        "{r:?}"
    );
    // A command too short for rml_rtmp is refused by the guard, not a panic.
    let mut p = after_handshake();
    let body = [0x02, 0, 1, b'x'];
    let mut chunk = vec![0x03, 0, 0, 0, 0, 0, body.len() as u8, 20, 0, 0, 0, 0];
    chunk.extend_from_slice(&body);
    assert!(matches!(
        p.handle_input(&chunk, Instant::now()),
        Err(PublisherError::Protocol(_))
    ));
}

#[test]
fn a_script_tag_that_is_not_metadata_is_refused() {
    let mut pair = Pair::publishing();
    let tag = FlvTag {
        kind: TagKind::Script,
        timestamp_ms: 0,
        body: vec![0x02, 0, 3, b'a', b'b', b'c'],
    };
    assert!(matches!(
        pair.publisher.send_tag(&tag, pair.now),
        Err(PublisherError::BadTag(_))
    ));
}

/// What our server sends after the handshake, replayed into a fresh publisher whose handshake
/// another server completed: the chunk stream does not depend on the handshake, so it takes
/// the publisher as far (the fuzz seeds are these bytes).
#[test]
fn our_servers_chunk_stream_replays_into_a_fresh_publisher() {
    const HANDSHAKE: usize = 1 + 2 * 1536;
    let accepted = Pair::publishing();
    let mut refused = Pair::publish_requested();
    refused.server.refuse_publish(Refusal::Busy, refused.now);
    refused.pump();
    for (name, pair, want) in [
        ("our_ingest_publish", &accepted, PublisherEvent::Publishing),
        (
            "our_ingest_refused",
            &refused,
            PublisherEvent::Refused("NetStream.Publish.BadName".into()),
        ),
    ] {
        let stream = &pair.from_server[HANDSHAKE..];
        let mut p = after_handshake();
        p.handle_input(stream, Instant::now()).expect("replays");
        let mut events = Vec::new();
        while let Some(e) = p.poll_event() {
            events.push(e);
        }
        assert_eq!(events, [PublisherEvent::Connected, want], "{name}");
        if std::env::var_os("RTMP_WRITE_SEEDS").is_some() {
            let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/rtmp_publisher");
            std::fs::create_dir_all(dir).expect("seed dir");
            for (flags, suffix) in [(0u8, ""), (2, "_3_byte_pieces")] {
                let mut seed = vec![flags];
                seed.extend_from_slice(stream);
                std::fs::write(format!("{dir}/{name}{suffix}"), seed).expect("write seed");
            }
        }
    }
}
