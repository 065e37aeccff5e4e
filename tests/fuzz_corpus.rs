//! Replays the committed cargo-fuzz seed corpus (fuzz/corpus/<target>/) through the same checks
//! the fuzz targets run (fuzz/checks.rs), on the stable toolchain, in the normal test command.

#[path = "../fuzz/checks.rs"]
mod checks;

use std::fs;
use std::path::Path;

/// Runs `check` on every file of `fuzz/corpus/<target>/`; returns how many ran.
fn replay(target: &str, check: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    assert!(dir.is_dir(), "missing corpus dir {}", dir.display());
    let mut n = 0;
    for entry in fs::read_dir(&dir).expect("read corpus dir") {
        let path = entry.expect("dir entry").path();
        let data = fs::read(&path).expect("read corpus file");
        let result = std::panic::catch_unwind(|| check(&data));
        assert!(result.is_ok(), "{} failed its fuzz check", path.display());
        n += 1;
    }
    assert!(n > 0, "corpus dir {} is empty", dir.display());
    n
}

#[test]
fn packet_corpus() {
    // The libsrt captures are among the seeds.
    assert!(replay("packet", checks::packet) >= 15);
}

#[test]
fn handshake_corpus() {
    replay("handshake", checks::handshake);
}

#[test]
fn loss_list_corpus() {
    replay("loss_list", checks::loss_list);
}

#[test]
fn key_material_corpus() {
    replay("key_material", checks::key_material);
}

/// The seeds must actually exercise the parsers: every libsrt capture parses.
#[test]
fn libsrt_seeds_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/packet");
    for entry in fs::read_dir(dir).expect("read corpus dir") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("libsrt_") {
            let data = fs::read(&path).expect("read");
            assert!(
                srtrelay::srt::packet::Packet::parse(&data).is_ok(),
                "{name} does not parse"
            );
        }
    }
}

#[test]
fn streamid_corpus() {
    assert!(replay("streamid", checks::streamid) >= 10);
}

#[test]
fn endpoint_corpus() {
    replay("endpoint", |d| {
        checks::endpoint(d);
    });
}

#[test]
fn psi_corpus() {
    replay("psi", checks::psi);
}

#[test]
fn playback_corpus() {
    assert!(replay("playback", checks::playback) >= 5);
}

#[test]
fn pes_corpus() {
    replay("pes", checks::pes);
}

#[test]
fn segmenter_corpus() {
    replay("segmenter", |d| {
        checks::segmenter(d);
    });
}

/// The media seeds are the ffmpeg fixture (tests/vectors/media/) cut and timed, so the
/// fuzzer starts from a stream that really segments: between them they finish parts and
/// segments, in both modes, and mark a discontinuity.
#[test]
fn segmenter_seeds_reach_segments_and_discontinuities() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/segmenter");
    let run = |name: &str| checks::segmenter(&fs::read(dir.join(name)).expect("read seed"));
    let ll = run("ffmpeg_ll_1s");
    assert!(
        ll.segments >= 4 && ll.parts > 10 && ll.forced_cuts == 0,
        "{ll:?}"
    );
    let plain = run("ffmpeg_plain_2s");
    assert!(plain.segments >= 1 && plain.parts == 0, "{plain:?}");
    let disc = run("ffmpeg_discontinuity");
    assert!(disc.discontinuities == 1 && disc.segments >= 2, "{disc:?}");
}

/// The endpoint seeds are generated here (run with `FUZZ_WRITE_SEEDS=1` to rewrite them) from
/// the libsrt captures, so they stay reproducible; this checks the committed files match.
#[test]
fn endpoint_seeds_are_current() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/endpoint");
    let write = std::env::var_os("FUZZ_WRITE_SEEDS").is_some();
    for (name, script) in seeds::endpoint() {
        let path = dir.join(name);
        if write {
            fs::create_dir_all(&dir).expect("create corpus dir");
            fs::write(&path, &script).expect("write seed");
        }
        let committed = fs::read(&path).unwrap_or_default();
        assert!(
            committed == script,
            "{name} is stale: rerun with FUZZ_WRITE_SEEDS=1"
        );
    }
}

/// Between them the seeds reach every outcome: so the fuzzer starts from deep states.
#[test]
fn endpoint_seeds_reach_every_outcome() {
    let mut total = checks::EndpointRun::default();
    for (name, script) in seeds::endpoint() {
        let r = checks::endpoint(&script);
        if name.starts_with("accept") {
            assert!(r.accepted > 0, "{name} is not accepted: {r:?}");
        }
        total.accepted += r.accepted;
        total.connected += r.connected;
        total.connect_failed += r.connect_failed;
        total.closed += r.closed;
        total.rejections += r.rejections;
        total.data_sent += r.data_sent;
        total.delivered += r.delivered;
    }
    let t = &total;
    assert!(
        t.accepted > 0
            && t.connected > 0
            && t.connect_failed > 0
            && t.closed > 0
            && t.rejections > 0
            && t.data_sent > 0
            && t.delivered > 0,
        "{t:?}"
    );
}

/// Endpoint scripts for the fuzz corpus (format: `checks::endpoint`).
mod seeds {
    use srtrelay::srt::packet::{
        Control, ControlPacket, DataPacket, DropRequest, EncryptionKey, HsExtension,
        LossListBuilder, Packet, PacketPosition,
    };
    use srtrelay::srt::seq::{MsgNo, SeqNo, Timestamp};

    const RAW: u8 = 0;
    const COOKIE: u8 = 1;
    const TO_OURS: u8 = 2;
    const TIMEOUT: u8 = 3;
    const EVENTS: u8 = 5;
    const APP: u8 = 6;
    const CONNECT: u8 = 7;
    /// Application sub-ops (the peer byte): send 1316 bytes, recv, close, on connection 0.
    const SEND: u8 = 0;
    const RECV: u8 = 2;
    const CLOSE: u8 = 3;
    /// Time steps (see `checks::step`): 10 ms, 1 s, 10 s.
    const MS10: u8 = 10;
    const S1: u8 = 109;
    const S10: u8 = 200;

    fn vector(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/vectors/libsrt/{name}.hex",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).expect("read vector");
        let text = text.trim();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
            .collect()
    }

    fn emit(p: &Packet<'_>) -> Vec<u8> {
        let mut buf = vec![0u8; p.wire_len()];
        p.emit(&mut buf).expect("seed packet emits");
        buf
    }

    /// The ISN of the ffmpeg conclusion: its data continues from there.
    fn ffmpeg_isn() -> SeqNo {
        match Packet::parse(&vector("conclusion_request_ffmpeg")) {
            Ok(Packet::Control(ControlPacket {
                body: Control::Handshake(hs),
                ..
            })) => hs.initial_seq,
            other => panic!("not a handshake: {other:?}"),
        }
    }

    /// The ffmpeg conclusion with its Stream ID replaced.
    fn conclusion_with_sid(sid: &str) -> Vec<u8> {
        let bytes = vector("conclusion_request_ffmpeg");
        let Ok(Packet::Control(mut c)) = Packet::parse(&bytes) else {
            panic!("not a control packet")
        };
        if let Control::Handshake(hs) = &mut c.body {
            for e in &mut hs.extensions {
                if let HsExtension::StreamId(s) = e {
                    *s = sid.as_bytes().to_vec();
                }
            }
        }
        emit(&Packet::Control(c))
    }

    fn data(offset: i32, ts_us: u32) -> Vec<u8> {
        emit(&Packet::Data(DataPacket {
            seq: ffmpeg_isn().add(offset),
            position: PacketPosition::Only,
            in_order: false,
            key: EncryptionKey::None,
            retransmitted: false,
            msg_no: MsgNo::new(offset as u32 + 1),
            timestamp: Timestamp::from_micros(ts_us),
            dest_socket_id: 0,
            payload: &[0x47; 188],
        }))
    }

    fn control(body: Control<'_>) -> Vec<u8> {
        emit(&Packet::Control(ControlPacket {
            timestamp: Timestamp::from_micros(0),
            dest_socket_id: 0,
            body,
        }))
    }

    fn nak(first: SeqNo, last: SeqNo) -> Vec<u8> {
        let mut b = [0u8; 8];
        let mut l = LossListBuilder::new(&mut b);
        l.push(first, last).expect("fits");
        control(Control::Nak(l.finish()))
    }

    struct Script(Vec<u8>);

    impl Script {
        fn new(config: u8) -> Script {
            Script(vec![config])
        }

        fn op(mut self, op: u8, peer: u8, dt: u8) -> Script {
            self.0.extend([op, peer, dt]);
            self
        }

        fn dgram(mut self, op: u8, peer: u8, dt: u8, d: &[u8]) -> Script {
            self.0.extend([op, peer, dt]);
            self.0.extend((d.len() as u16).to_le_bytes());
            self.0.extend(d);
            self
        }

        /// Induction then conclusion from `peer`, answered, events collected.
        fn handshake(self, peer: u8, conclusion: &[u8]) -> Script {
            self.dgram(RAW, peer, 0, &vector("induction_request"))
                .op(TIMEOUT, 0, 1)
                .dgram(COOKIE, peer, 5, conclusion)
                .op(TIMEOUT, 0, 0)
                .op(EVENTS, 0, 0)
        }
    }

    pub fn endpoint() -> Vec<(&'static str, Vec<u8>)> {
        let ffmpeg = vector("conclusion_request_ffmpeg");
        let isn = ffmpeg_isn();
        let ack = |pos: SeqNo| {
            control(Control::Ack(srtrelay::srt::packet::Ack {
                ack_no: 1,
                last_ack: pos,
                info: srtrelay::srt::packet::AckInfo::Light,
            }))
        };
        vec![
            (
                "accept_ffmpeg_data",
                Script::new(0)
                    .handshake(0, &ffmpeg)
                    .dgram(TO_OURS, 0, 1, &data(0, 0))
                    .dgram(TO_OURS, 0, 1, &data(1, 1_000))
                    .dgram(TO_OURS, 0, 1, &data(3, 3_000))
                    .op(TIMEOUT, 0, MS10)
                    .dgram(TO_OURS, 0, 1, &vector("keepalive"))
                    .dgram(TO_OURS, 0, 1, &vector("ackack"))
                    .op(TIMEOUT, 0, 99)
                    .op(APP, RECV, 99)
                    .op(TIMEOUT, 0, 99)
                    .op(APP, RECV, 0)
                    .dgram(TO_OURS, 0, 1, &vector("shutdown"))
                    .op(TIMEOUT, 0, S1)
                    .op(EVENTS, 0, 0)
                    .0,
            ),
            (
                "accept_send_nak_ack",
                Script::new(0)
                    .handshake(0, &ffmpeg)
                    .op(APP, SEND, 0)
                    .op(APP, SEND, 1)
                    .op(APP, SEND, 1)
                    .op(TIMEOUT, 0, 1)
                    .dgram(TO_OURS, 0, 5, &nak(isn, isn.next()))
                    .op(TIMEOUT, 0, 0)
                    .dgram(TO_OURS, 0, 5, &nak(isn.add(-5), isn))
                    .op(TIMEOUT, 0, 0)
                    .dgram(TO_OURS, 0, 5, &ack(isn.add(3)))
                    .dgram(TO_OURS, 0, 5, &vector("ack_full"))
                    .op(TIMEOUT, 0, S1)
                    .op(APP, CLOSE, 0)
                    .op(TIMEOUT, 0, 0)
                    .0,
            ),
            (
                "accept_sid_kmreq",
                Script::new(0)
                    .handshake(1, &vector("conclusion_request_sid_kmreq"))
                    .dgram(COOKIE, 1, 10, &vector("conclusion_request_sid_kmreq"))
                    .op(TIMEOUT, 0, S10)
                    .0,
            ),
            (
                "accept_two_peers_drain",
                Script::new(0x10)
                    .handshake(0, &ffmpeg)
                    .handshake(2, &ffmpeg)
                    .dgram(TO_OURS, 5, 1, &data(0, 0))
                    .dgram(TO_OURS, 5, 1, &data(4, 4_000))
                    .dgram(
                        TO_OURS,
                        5,
                        1,
                        &control(Control::DropRequest(DropRequest {
                            msg_no: 0,
                            first: isn.add(2),
                            last: isn.add(2),
                        })),
                    )
                    .dgram(TO_OURS, 5, 1, &vector("shutdown"))
                    .op(TIMEOUT, 0, 50)
                    .op(APP, RECV + 4, S1)
                    .op(TIMEOUT, 0, S1)
                    .0,
            ),
            (
                "reject_all",
                Script::new(3).handshake(0, &ffmpeg).op(TIMEOUT, 0, 1).0,
            ),
            (
                "reject_x_resource",
                Script::new(1)
                    .handshake(0, &conclusion_with_sid("#!::r=xcam,m=publish"))
                    .handshake(1, &conclusion_with_sid("#!::r=cam,m=publish"))
                    .handshake(2, &conclusion_with_sid("#!::r=a,m=play"))
                    .0,
            ),
            (
                "bad_and_stale_cookie",
                Script::new(0)
                    .dgram(RAW, 0, 0, &ffmpeg)
                    .dgram(RAW, 0, 0, &vector("induction_request"))
                    .op(TIMEOUT, 0, 0)
                    .dgram(RAW, 0, S10, &vector("rejection_unsecure"))
                    .dgram(RAW, 0, S10, &vector("data_plain"))
                    .op(TIMEOUT, 0, 0)
                    .0,
            ),
            (
                "caller_connected",
                Script::new(0)
                    .op(CONNECT, 0, 1)
                    .op(TIMEOUT, 0, 0)
                    .dgram(TO_OURS, 0, 5, &vector("induction_response"))
                    .op(TIMEOUT, 0, 0)
                    .dgram(TO_OURS, 0, 5, &vector("conclusion_response_hsrsp"))
                    .op(EVENTS, 0, 0)
                    .op(APP, SEND, 0)
                    .op(TIMEOUT, 0, 1)
                    .dgram(TO_OURS, 0, 5, &vector("ack_full"))
                    .op(TIMEOUT, 0, MS10)
                    .0,
            ),
            (
                "caller_rejected_and_timed_out",
                Script::new(0)
                    .op(CONNECT, 0, 2)
                    .op(CONNECT, 2, 0)
                    .op(TIMEOUT, 0, 0)
                    .dgram(TO_OURS, 0, 5, &vector("rejection_unsecure"))
                    .op(TIMEOUT, 0, S1)
                    .op(TIMEOUT, 0, S1)
                    .op(TIMEOUT, 0, S1)
                    .op(TIMEOUT, 0, S1)
                    .op(EVENTS, 0, 0)
                    .0,
            ),
        ]
    }
}

#[test]
fn upstream_corpus() {
    // One URL of each kind at least (file and stdin twice, srt both ways of writing a Stream ID).
    assert!(replay("upstream", checks::upstream) >= 8);
}

/// The seeds parse: the fuzzer starts from accepted URLs of every kind.
#[test]
fn upstream_seeds_parse_to_every_kind() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/upstream");
    let mut kinds = std::collections::BTreeSet::new();
    for entry in fs::read_dir(dir).expect("read corpus dir") {
        let path = entry.expect("dir entry").path();
        let text = fs::read_to_string(&path).expect("read seed");
        if let Ok(u) = srtrelay::ingest::upstream::Upstream::parse(&text) {
            kinds.insert(u.kind());
        }
    }
    let all = [
        "file", "http", "https", "srt", "stdin", "tcp", "udp", "unix",
    ];
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), all);
}

#[test]
fn ingest_corpus() {
    assert!(
        replay("ingest", |d| {
            checks::ingest(d);
        }) >= 5
    );
}

/// The ingest seeds are the ffmpeg fixture cut into scripts (see `checks::ingest`): between
/// them they splice, refuse a source that is not TS, and lose and regain sync.
#[test]
fn ingest_seeds_reach_splices_refusals_and_resyncs() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/ingest");
    let run = |name: &str| checks::ingest(&fs::read(dir.join(name)).expect("read seed"));
    let splice = run("ffmpeg_splice");
    assert!(
        splice.splices == 1
            && splice.discontinuities_marked == 1
            && splice.packets_out == 20 + 2 + 11,
        "{splice:?}"
    );
    let html = run("html_then_ffmpeg");
    assert!(html.not_ts == 1 && html.packets_out > 0, "{html:?}");
    let loss = run("ffmpeg_sync_loss");
    assert!(
        loss.sync_losses >= 1 && loss.short_payloads >= 1,
        "{loss:?}"
    );
}

#[test]
fn rtmp_corpus() {
    assert!(
        replay("rtmp", |d| {
            checks::rtmp(d);
        }) >= 4
    );
}

/// The ffmpeg seeds (recorded by `src/rtmp/interop_tests.rs` with `RTMP_WRITE_SEEDS=1`) go deep:
/// publish granted and media flowing, a refusal, and a chunk stream fed in pieces.
#[test]
fn rtmp_seeds_reach_media_and_refusal() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/rtmp");
    let run = |name: &str| checks::rtmp(&fs::read(dir.join(name)).expect("read seed"));
    let publish = run("ffmpeg_publish");
    assert!(
        publish.accepted && publish.video > 0 && publish.audio > 0 && !publish.ended_with_error,
        "{publish:?}"
    );
    let split = run("ffmpeg_chunks_split");
    assert!(split.accepted && split.video > 0, "{split:?}");
    let refused = run("ffmpeg_publish_refused");
    assert!(
        refused.publish_requested && !refused.accepted,
        "{refused:?}"
    );
    assert!(!run("ffmpeg_handshake").publish_requested);
}

#[test]
fn remux_corpus() {
    assert!(
        replay("remux", |d| {
            checks::remux(d);
        }) >= 5
    );
}

/// The remux seeds are the ffmpeg FLV fixture's tags as scripts (see `checks::remux`):
/// between them they remux cleanly, drop frames before any configuration, rebase a
/// timestamp that went back, refuse truncated messages, and carry audio alone.
#[test]
fn remux_seeds_reach_frames_drops_jumps_and_refusals() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/remux");
    let run = |name: &str| checks::remux(&fs::read(dir.join(name)).expect("read seed"));
    let start = run("ffmpeg_start");
    assert!(
        start.malformed == 0
            && start.sequence_headers == 1
            && start.audio_configs == 1
            && start.keyframes >= 1
            && start.video_frames_out > 10
            && start.audio_frames_out > 10,
        "{start:?}"
    );
    let bare = run("ffmpeg_no_sequence_header");
    assert!(
        bare.dropped_before_config > 0 && bare.video_frames_out == 0,
        "{bare:?}"
    );
    let back = run("ffmpeg_time_backwards");
    assert!(back.timestamp_jumps >= 1, "{back:?}");
    let cut = run("ffmpeg_truncated");
    assert!(cut.malformed > 0, "{cut:?}");
    let audio = run("ffmpeg_audio_only");
    assert!(
        audio.audio_frames_out > 20 && audio.video_frames_out == 0,
        "{audio:?}"
    );
}

#[test]
fn rtmp_publisher_corpus() {
    assert!(
        replay("rtmp_publisher", |d| {
            checks::rtmp_publisher(d);
        }) >= 4
    );
}

/// The publisher seeds are what nginx-rtmp (tests/rtmp_push.rs) and our own ingest
/// (src/rtmp/client_tests.rs) sent after the handshake, recorded with `RTMP_WRITE_SEEDS=1`:
/// they reach publishing and both kinds of refusal.
#[test]
fn rtmp_publisher_seeds_reach_publishing_and_refusals() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/rtmp_publisher");
    let run = |name: &str| checks::rtmp_publisher(&fs::read(dir.join(name)).expect("read seed"));
    for name in [
        "nginx_publish",
        "our_ingest_publish",
        "our_ingest_publish_3_byte_pieces",
    ] {
        let r = run(name);
        assert!(r.publishing && !r.ended_with_error, "{name}: {r:?}");
    }
    for name in ["nginx_refused_taken_name", "our_ingest_refused"] {
        let r = run(name);
        assert_eq!(
            r.refused.as_deref(),
            Some("NetStream.Publish.BadName"),
            "{name}: {r:?}"
        );
    }
}

#[test]
fn flvmux_corpus() {
    assert!(
        replay("flvmux", |d| {
            checks::flvmux(d);
        }) >= 5
    );
}

/// The flvmux seeds are pieces of the ffmpeg TS fixture: between them they carry frames of
/// both kinds, go back in time (rebased), lose packets among garbage (counted, resynced) and
/// cross a discontinuity indicator.
#[test]
fn flvmux_seeds_reach_frames_jumps_losses_and_discontinuities() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/flvmux");
    let run = |name: &str| checks::flvmux(&fs::read(dir.join(name)).expect("read seed"));
    let start = run("ffmpeg_start");
    assert!(
        start.keyframes_out >= 2
            && start.video_frames_out > 50
            && start.audio_frames_out > 30
            && start.video_sequence_headers == 1
            && start.pes_errors + start.continuity_errors == 0,
        "{start:?}"
    );
    let pieces = run("ffmpeg_pieces");
    assert!(pieces.video_frames_out > 5, "{pieces:?}");
    let back = run("ffmpeg_time_backwards");
    assert!(back.timestamp_jumps >= 1, "{back:?}");
    let lost = run("ffmpeg_lost_and_garbage");
    assert!(
        lost.sync_losses >= 1
            && lost.continuity_errors >= 1
            && lost.transport_errors == 1
            && lost.video_frames_out > 10,
        "{lost:?}"
    );
    let disc = run("ffmpeg_discontinuity");
    assert!(
        disc.discontinuities == 1 && disc.timestamp_jumps == 0 && disc.keyframes_out >= 2,
        "{disc:?}"
    );
}

#[test]
fn record_corpus() {
    assert!(replay("record", checks::record) >= 4);
}

#[test]
fn srtla_corpus() {
    replay("srtla", |d| {
        checks::srtla(d);
    });
}

/// The seeds reach streaming, SRTLA ACKs, the caps, expiry and every refusal.
#[test]
fn srtla_seeds_go_deep() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/srtla");
    let run = |name: &str| checks::srtla(&fs::read(dir.join(name)).expect("read seed"));
    let s = run("register_stream_expire");
    assert!(s.forwarded >= 20, "{s:?}");
    let c = s.counters;
    assert!(c.srtla_acks >= 2 && c.links_refused_limit == 1, "{c:?}");
    assert!(c.links_expired >= 2 && c.groups_expired == 1, "{c:?}");
    assert!(c.packets_out >= 3, "{c:?}");
    let c = run("flood_and_garbage").counters;
    assert!(c.groups_evicted >= 5 && c.reg2_unknown_group >= 2, "{c:?}");
    assert!(c.unknown_source >= 3, "{c:?}");
    let c = run("reregister").counters;
    assert!(
        c.groups_replaced == 1 && c.reg1_refused_registered >= 1,
        "{c:?}"
    );
}
