//! The invariants every fuzz target checks, shared with `tests/fuzz_corpus.rs` (which replays
//! the committed corpus on stable) through `#[path]`, so both check exactly the same thing.
//!
//! Each parser check: parsing never panics; whatever parses emits without error into a buffer
//! of exactly `wire_len` bytes, and the emitted bytes parse back to an equal value that re-emits
//! the same bytes; the one exception is a Stream ID over 512 bytes, which parses (so the
//! listener can refuse it with an answer) and must refuse to emit. `streamid` checks Display against parse the same way. `endpoint` runs a
//! little script of datagrams, timers and application calls against an `Endpoint` (see there).

#![allow(dead_code)] // each fuzz target uses only its own check

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use srtrelay::srt::connection::Delivery;
use srtrelay::srt::crypto::{Encryption, Passphrase};
use srtrelay::srt::endpoint::{AccessControl, Admit, Endpoint, EndpointConfig, EndpointEvent};
use srtrelay::srt::handshake::{
    CallerConfig, ConclusionRequest, CookieJar, Listener, ListenerConfig, RejectReason, StreamId,
};
use srtrelay::srt::packet::{
    Control, ControlPacket, EmitError, Handshake, HsExtension, KeyMaterial, KmResponse, LossList,
    LossListBuilder, Packet,
};
use srtrelay::srt::seq::SeqNo;

/// Over-long Stream IDs parse so they can be refused, and are never written.
fn has_overlong_stream_id(hs: &Handshake) -> bool {
    hs.extensions
        .iter()
        .any(|e| matches!(e, HsExtension::StreamIdTooLong { .. }))
}

fn refuses_to_emit(hs: &Handshake) {
    let mut out = vec![0u8; hs.wire_len()];
    assert!(matches!(
        hs.emit(&mut out),
        Err(EmitError::FieldOverflow(_))
    ));
}

pub fn packet(data: &[u8]) {
    let Ok(p) = Packet::parse(data) else { return };
    if let Packet::Control(ControlPacket {
        body: Control::Handshake(hs),
        ..
    }) = &p
        && has_overlong_stream_id(hs)
    {
        return refuses_to_emit(hs);
    }
    let mut out = vec![0u8; p.wire_len()];
    let n = p.emit(&mut out).expect("a parsed packet emits");
    assert_eq!(n, out.len(), "emit length != wire_len");
    let again = Packet::parse(&out).expect("an emitted packet parses");
    assert_eq!(again, p, "parse(emit(p)) != p");
    let mut out2 = vec![0u8; n];
    assert_eq!(again.emit(&mut out2), Ok(n));
    assert_eq!(out2, out, "re-emit differs");
}

pub fn handshake(data: &[u8]) {
    let Ok(hs) = Handshake::parse(data) else {
        return;
    };
    if has_overlong_stream_id(&hs) {
        return refuses_to_emit(&hs);
    }
    let mut out = vec![0u8; hs.wire_len()];
    let n = hs.emit(&mut out).expect("a parsed handshake emits");
    assert_eq!(n, out.len(), "emit length != wire_len");
    let again = Handshake::parse(&out).expect("an emitted handshake parses");
    assert_eq!(again, hs, "parse(emit(hs)) != hs");
    // Accessors walk the extensions; they must agree with the list.
    assert_eq!(hs.stream_id().is_some(), again.stream_id().is_some());
}

pub fn loss_list(data: &[u8]) {
    let Ok(list) = LossList::parse(data) else {
        return;
    };
    assert_eq!(list.as_bytes(), data);
    let ranges: Vec<_> = list.iter().collect();
    assert!(!ranges.is_empty(), "a parsed loss list has a range");
    // Re-encode through the builder: same ranges, never longer than the input.
    let mut buf = vec![0u8; data.len()];
    let mut b = LossListBuilder::new(&mut buf);
    for (first, last) in &ranges {
        b.push(*first, *last)
            .expect("a parsed range re-encodes in the same space");
    }
    let rebuilt = b.finish();
    let reparsed = LossList::parse(rebuilt.as_bytes()).expect("a built list parses");
    assert_eq!(reparsed.iter().collect::<Vec<_>>(), ranges);
}

pub fn key_material(data: &[u8]) {
    if let Ok(km) = KeyMaterial::parse(data) {
        let mut out = vec![0u8; km.wire_len()];
        assert_eq!(km.emit(&mut out), Ok(out.len()));
        assert_eq!(KeyMaterial::parse(&out), Ok(km));
    }
    if let Ok(r) = KmResponse::parse(data) {
        let mut out = vec![0u8; r.wire_len()];
        assert_eq!(r.emit(&mut out), Ok(out.len()));
        assert_eq!(KmResponse::parse(&out), Ok(r));
    }
}

/// `StreamId::parse` never panics, and whatever parses prints (Display) to a string that parses
/// back to an equal value. Parsed values never hold a `,` (the separator), which is the one
/// case the Display doc excludes.
pub fn streamid(data: &[u8]) {
    let Ok(Some(id)) = StreamId::parse(data) else {
        return;
    };
    let text = id.to_string();
    assert!(
        text.len() <= data.len(),
        "display {text:?} is longer than the input"
    );
    assert_eq!(
        StreamId::parse(text.as_bytes()),
        Ok(Some(id)),
        "display {text:?} does not parse back"
    );
}

/// What an endpoint script did, for tests that check the seeds reach deep paths.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct EndpointRun {
    pub accepted: u64,
    pub connected: u64,
    pub connect_failed: u64,
    pub closed: u64,
    pub rejections: u64,
    pub data_sent: u64,
    pub delivered: u64,
}

/// The listener's cookie secret in the endpoint script.
const SECRET: [u8; 16] = *b"fuzz-secret-0001";

/// An access policy that rejects some resources, so both outcomes are reachable.
struct Policy(u8);

impl AccessControl for Policy {
    fn check(&mut self, req: &ConclusionRequest) -> Result<Admit, RejectReason> {
        let resource = match req.stream_id() {
            Ok(Some(sid)) => sid.resource.clone().unwrap_or_default(),
            _ => String::new(),
        };
        // Publishers of resources starting with 'c' get cut-through delivery, so both
        // receive paths are fuzzed.
        let admit = Admit {
            delivery: if resource.starts_with('c') {
                Delivery::CutThrough
            } else {
                Delivery::Tsbpd
            },
            // Callers that send a KMREQ get the passphrase of the libsrt captures, so the
            // key unwrap, decryption and in-band key material are fuzzed too.
            encryption: match req.km_request() {
                Some(_) => Encryption::with_passphrase(
                    Passphrase::new("0123456789abcdef").expect("valid passphrase"),
                ),
                None => Encryption::default(),
            },
            // Resources starting with 'b' run as an SRTLA group's merged connection.
            bonded: resource.starts_with('b'),
        };
        match self.0 % 4 {
            0 => Ok(admit),
            1 if resource.starts_with('x') => Err(RejectReason::from_code(1403)),
            1 => Ok(admit),
            2 if resource.is_empty() => Err(RejectReason::from_code(1404)),
            2 => Ok(admit),
            _ => Err(RejectReason::from_code(1409)),
        }
    }
}

/// The fake peers: two ports on one IPv4 host and an IPv6 host.
fn peers() -> [SocketAddr; 3] {
    [
        SocketAddr::from(([192, 0, 2, 1], 5000)),
        SocketAddr::from(([192, 0, 2, 1], 5001)),
        SocketAddr::from(([0x2001, 0xdb8, 0, 0, 0, 0, 0, 1], 9000)),
    ]
}

/// The time step encoded in one script byte: fine steps up to 99 ms, then 100 ms steps up to
/// 10 s, then 10 s steps up to 560 s (cookies last 1-2 minutes, idle timeout is 5 s).
fn step(b: u8) -> Duration {
    match b {
        0..=99 => Duration::from_millis(u64::from(b)),
        100..=199 => Duration::from_millis(100 * u64::from(b - 99)),
        _ => Duration::from_secs(10 * u64::from(b - 199)),
    }
}

/// The largest datagram the endpoint may emit: our MSS (1500) minus IP and UDP headers.
const MAX_DATAGRAM: usize = 1500 - 28;

struct Harness {
    ep: Endpoint,
    policy: Policy,
    now: Instant,
    jar: CookieJar,
    /// Socket ids of our connections and callers, in the order they appeared.
    ids: Vec<u32>,
    buf: Vec<u8>,
    run: EndpointRun,
    datagrams_in: u64,
    datagrams_out: u64,
    connects: u64,
    /// The ISN in the last handshake our callers sent to each peer, echoed by op 2.
    caller_isn: HashMap<SocketAddr, u32>,
}

impl Harness {
    /// Drains `poll_transmit`: everything parses, fits our MSS and goes to a known peer.
    fn transmit(&mut self) {
        while let Some(t) = self.ep.poll_transmit(self.now, &mut self.buf) {
            let (to, n) = (t.to, t.len);
            self.datagrams_out += 1;
            assert!(peers().contains(&to), "sent to an unknown address {to}");
            assert!(n <= MAX_DATAGRAM, "{n}-byte datagram exceeds the MSS");
            match Packet::parse(&self.buf[..n]) {
                Ok(Packet::Data(_)) => self.run.data_sent += 1,
                Ok(Packet::Control(ControlPacket {
                    dest_socket_id: 0,
                    body: Control::Handshake(hs),
                    ..
                })) => {
                    self.caller_isn.insert(to, hs.initial_seq.value());
                }
                Ok(Packet::Control(_)) => {}
                Err(e) => panic!(
                    "emitted an unparsable datagram ({e}): {:02x?}",
                    &self.buf[..n]
                ),
            }
        }
    }

    fn events(&mut self) {
        while let Some(e) = self.ep.poll_event() {
            match e {
                EndpointEvent::Accepted { id, .. } => {
                    self.run.accepted += 1;
                    self.ids.push(id);
                }
                EndpointEvent::Connected { id } => {
                    self.run.connected += 1;
                    assert!(self.ids.contains(&id), "connected an id never returned");
                }
                EndpointEvent::ConnectFailed { .. } => self.run.connect_failed += 1,
                EndpointEvent::Closed { id, .. } => {
                    self.run.closed += 1;
                    assert!(
                        self.ep.connection(id).is_none(),
                        "closed connection still listed"
                    );
                }
            }
        }
    }

    /// Runs due timers and sends; afterwards nothing may be due any more: `poll_timeout` is in
    /// the future (a driver sleeping until it would otherwise spin).
    fn timeout(&mut self) {
        self.ep.handle_timeout(self.now);
        self.transmit();
        self.events();
        if let Some(t) = self.ep.poll_timeout() {
            assert!(
                t > self.now,
                "poll_timeout {:?} not after now",
                self.now - t
            );
        }
    }

    fn recv_all(&mut self) {
        let mut out = [0u8; 1500];
        for i in 0..self.ids.len() {
            while self.ep.recv(self.ids[i], self.now, &mut out).is_some() {
                self.run.delivered += 1;
            }
        }
    }
}

/// Drives an `Endpoint` with a listener by a script: a config byte, then records of
/// `op, peer, time step` followed, for datagram ops, by a little-endian u16 length and that
/// many bytes. Ops (`op % 8`): 0 a datagram as is; 1 the same with the SYN cookie set to the
/// valid one (so conclusions get through); 2 the same with the destination socket id set to one
/// of ours (so established connections and callers see it; a handshake also gets the ISN our
/// caller sent that peer, as a listener echoes it); 3 `handle_timeout` and drain; 4 one
/// `poll_transmit`; 5 drain events; 6 application calls (send, recv, close); 7 `connect`.
///
/// Checks: no panic; every datagram out parses, fits the MSS and goes to a known peer;
/// `poll_timeout` is after `now` once timers ran and output was drained; the endpoint's
/// counters match what was seen; and once the peers go silent every connection and caller
/// ends within 200 s of virtual time.
#[allow(clippy::disallowed_methods)] // the one clock read: the origin of virtual time
pub fn endpoint(data: &[u8]) -> EndpointRun {
    let base = Instant::now();
    let Some((&config, mut script)) = data.split_first() else {
        return EndpointRun::default();
    };
    let listener = Listener::new(SECRET, base, ListenerConfig::default());
    let cfg = EndpointConfig {
        loss_max_ttl: if config & 0x10 != 0 { 16 } else { 0 },
        seed: u64::from(config >> 5) + 1,
        ..EndpointConfig::default()
    };
    let mut ep = Endpoint::new(cfg, Some(listener), base);
    ep.set_crypto_seed([0x5E; 32]);
    let mut h = Harness {
        ep,
        policy: Policy(config),
        now: base,
        jar: CookieJar::new(SECRET, base),
        ids: Vec::new(),
        buf: vec![0; 1500],
        run: EndpointRun::default(),
        datagrams_in: 0,
        datagrams_out: 0,
        connects: 0,
        caller_isn: HashMap::new(),
    };
    let peers = peers();
    while let [op, peer, dt, rest @ ..] = script {
        script = rest;
        h.now += step(*dt);
        let from = peers[usize::from(*peer) % peers.len()];
        match op % 8 {
            0..=2 => {
                let (len, rest) = match script {
                    [lo, hi, rest @ ..] => (usize::from(u16::from_le_bytes([*lo, *hi])), rest),
                    _ => (0, &[][..]),
                };
                let (bytes, rest) = rest.split_at(len.min(rest.len()));
                script = rest;
                let mut d = bytes.to_vec();
                if op % 8 == 1 && d.len() >= 48 {
                    d[44..48].copy_from_slice(&h.jar.cookie(h.now, from).to_be_bytes());
                }
                if op % 8 == 2 && d.len() >= 16 && !h.ids.is_empty() {
                    let id = h.ids[usize::from(*peer / 3) % h.ids.len()];
                    d[12..16].copy_from_slice(&id.to_be_bytes());
                    // A handshake echoes the ISN our caller sent there (a listener must).
                    if d.len() >= 28
                        && d[..4] == [0x80, 0, 0, 0]
                        && let Some(isn) = h.caller_isn.get(&from)
                    {
                        d[24..28].copy_from_slice(&isn.to_be_bytes());
                    }
                }
                h.datagrams_in += 1;
                h.ep.handle_datagram(h.now, from, &d, &mut h.policy);
            }
            3 => h.timeout(),
            4 => {
                if let Some(t) = h.ep.poll_transmit(h.now, &mut h.buf) {
                    let (to, n) = (t.to, t.len);
                    h.datagrams_out += 1;
                    assert!(peers.contains(&to));
                    assert!(n <= MAX_DATAGRAM, "{n}-byte datagram exceeds the MSS");
                    assert!(Packet::parse(&h.buf[..n]).is_ok(), "unparsable datagram");
                }
            }
            5 => h.events(),
            6 if !h.ids.is_empty() => {
                let id = h.ids[usize::from(*peer / 4) % h.ids.len()];
                match peer % 4 {
                    0 => {
                        let _ = h.ep.send(id, h.now, &[0x47; 1316]);
                    }
                    1 => {
                        let _ = h.ep.send(id, h.now, &vec![0x47; usize::from(*dt) * 8]);
                    }
                    2 => h.recv_all(),
                    _ => h.ep.close(id),
                }
            }
            6 => {}
            _ => {
                let mut cc = CallerConfig::new(0, SeqNo::new(0), from);
                cc.stream_id = match dt % 3 {
                    0 => None,
                    1 => Some("#!::r=live/cam1,m=publish".into()),
                    _ => Some("xdenied".into()),
                };
                if let Ok(id) = h.ep.connect(h.now, cc) {
                    h.connects += 1;
                    h.ids.push(id);
                }
            }
        }
    }
    h.transmit();
    h.events();
    let stats = h.ep.stats().clone();
    assert_eq!(stats.datagrams_in, h.datagrams_in, "datagrams_in counter");
    assert_eq!(
        stats.datagrams_out, h.datagrams_out,
        "datagrams_out counter"
    );
    assert_eq!(stats.accepted, h.run.accepted, "accepted counter vs events");
    assert_eq!(
        stats.connected, h.run.connected,
        "connected counter vs events"
    );
    h.run.rejections = stats.rejections.values().sum();

    // The peers go silent: everything must end (idle timeout 5 s, connect timeout 3 s,
    // draining at most the latency, up to 65.5 s, plus slack).
    for _ in 0..200 {
        if h.ep.connection_ids().next().is_none()
            && h.run.connected + h.run.connect_failed == h.connects
        {
            break;
        }
        h.now += Duration::from_secs(1);
        h.recv_all();
        h.timeout();
    }
    assert_eq!(
        h.ep.connection_ids().count(),
        0,
        "connections outlive silent peers"
    );
    assert_eq!(
        h.run.connected + h.run.connect_failed,
        h.connects,
        "a connect attempt never ended"
    );
    assert_eq!(
        h.run.closed,
        h.run.accepted + h.run.connected,
        "every connection closed once"
    );
    h.run
}

/// The input as TS packets: 188-byte chunks with the sync byte forced, so the fuzzer spends
/// its time past the framing check. A trailing partial chunk is dropped.
fn ts_packets(data: &[u8]) -> Vec<[u8; 188]> {
    data.chunks_exact(188)
        .map(|c| {
            let mut p = [0u8; 188];
            p.copy_from_slice(c);
            p[0] = 0x47;
            p
        })
        .collect()
}

/// `PsiCache` never panics, stays within its bounds, and its header is whole packets that
/// begin with the PAT.
pub fn psi(data: &[u8]) {
    use srtrelay::media::packet::pid;
    use srtrelay::media::psi::{MAX_PROGRAMS, MAX_SECTION_PACKETS, PsiCache};
    let mut cache = PsiCache::new();
    let mut version = 0;
    for p in ts_packets(data) {
        cache.observe(&p);
        assert!(cache.version() >= version, "version went back");
        version = cache.version();
        if let Some(h) = cache.header() {
            assert!(!h.is_empty() && h.len().is_multiple_of(188));
            assert!(h.len() <= (1 + MAX_PROGRAMS) * MAX_SECTION_PACKETS * 188);
            let first: &[u8; 188] = h[..188].try_into().expect("a whole packet");
            assert_eq!(pid(first), 0, "the header starts with the PAT");
        }
        if let Some(v) = cache.video_pid() {
            assert!(cache.streams().any(|e| e.pid == v));
        }
        for a in cache.audio_pids() {
            assert!(cache.streams().any(|e| e.pid == *a));
        }
    }
}

/// PES and PCR readers never panic and return in-range values; the timestamp delta is
/// antisymmetric.
pub fn pes(data: &[u8]) {
    use srtrelay::media::pes::{
        TIMESTAMP_WRAP, pcr, pes_start, timestamp_delta, video_random_access,
    };
    for p in ts_packets(data) {
        if let Some(s) = pes_start(&p) {
            for t in [s.pts, s.dts].into_iter().flatten() {
                assert!(t < TIMESTAMP_WRAP);
            }
            assert!(s.es.len() <= 184);
            let _ = video_random_access(0x1B, s.es);
            let _ = video_random_access(0x24, s.es);
            if let (Some(a), Some(b)) = (s.pts, s.dts) {
                let d = timestamp_delta(a, b);
                assert!(d.unsigned_abs() <= TIMESTAMP_WRAP / 2);
                if d.unsigned_abs() != TIMESTAMP_WRAP / 2 {
                    assert_eq!(timestamp_delta(b, a), -d);
                }
            }
        }
        if let Some(v) = pcr(&p) {
            assert!(v < TIMESTAMP_WRAP * 300);
        }
    }
}

/// The segmenter fed arbitrary packets never panics and keeps its invariants: the first
/// byte picks the configuration, then each packet's own first byte (replaced by the sync
/// byte) says how far time moves before it, 0xFF meaning a discontinuity first. Segments are
/// their parts, bounded in size; numbers only move forward; lookups answer for anything.
/// Returns the segmenter's counters, so tests can see the seeds reach deep states.
pub fn segmenter(data: &[u8]) -> srtrelay::media::hls::HlsStats {
    use srtrelay::media::hls::validate::validate_media_playlist;
    use srtrelay::media::hls::{Availability, HlsConfig, Segmenter};
    use std::time::{Duration, Instant, UNIX_EPOCH};

    let Some((&flags, rest)) = data.split_first() else {
        return Default::default();
    };
    let cfg = HlsConfig {
        target_duration: Duration::from_secs(1 + u64::from(flags & 0x03)),
        part_target: (flags & 0x04 == 0)
            .then(|| Duration::from_millis(200 + 100 * u64::from(flags >> 6))),
        window_segments: 3 + usize::from((flags >> 3) & 0x03),
        keep_after_window: 1,
        max_segment_bytes: 64 << 10,
    };
    // Fuzz targets may read the clock: it is only the origin of virtual time.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut seg = Segmenter::new(cfg.clone(), (t0, UNIX_EPOCH + Duration::from_secs(1 << 30)));
    let mut now = t0;
    let mut last_seq = 0;
    let mut last_msn = None;
    for (i, c) in rest.chunks_exact(188).enumerate() {
        if c[0] == 0xFF {
            seg.discontinuity();
        }
        now += Duration::from_millis(u64::from(c[0] & 0x3F));
        let mut p = [0u8; 188];
        p.copy_from_slice(c);
        p[0] = 0x47;
        seg.push(&p, now);
        if i % 7 != 6 {
            continue;
        }
        let s = seg.snapshot();
        assert_eq!(s.generation(), seg.generation());
        if s.is_ready() {
            assert!(s.playlist().starts_with("#EXTM3U\n"));
            let _ = validate_media_playlist(s.playlist());
        }
        assert!(s.media_sequence() >= last_seq, "media sequence went back");
        last_seq = s.media_sequence();
        let kept = s.segments();
        assert!(kept.len() <= 4 * cfg.window_segments + cfg.keep_after_window);
        for w in kept.windows(2) {
            assert_eq!(w[1].msn, w[0].msn + 1, "kept segments are contiguous");
            assert!(w[1].discontinuity_sequence >= w[0].discontinuity_sequence);
        }
        for k in kept {
            assert!(k.len <= cfg.max_segment_bytes);
            let bytes = s.segment(k.msn).expect("a kept segment is served");
            assert_eq!(bytes.len(), k.len);
            let parts: usize = k.parts.iter().map(|p| p.bytes.len()).sum();
            assert_eq!(parts, k.len, "a segment is its parts");
            assert_eq!(
                k.duration_ticks,
                k.parts.iter().map(|p| p.duration_ticks).sum::<u64>()
            );
        }
        if let Some(l) = kept.last() {
            assert!(last_msn.is_none_or(|m| l.msn >= m));
            last_msn = Some(l.msn);
            for msn in [0, l.msn, l.msn + 1, l.msn + 2, l.msn + 3, u64::MAX] {
                for part in [None, Some(0), Some(5), Some(u32::MAX)] {
                    let a = s.has(msn, part);
                    assert_ne!(a, Availability::Gone, "reloads are never Gone");
                }
                let _ = (
                    s.has_part(msn, 0),
                    s.has_part(msn, u32::MAX),
                    s.has_segment(msn),
                );
                let _ = s.part(msn, 0);
            }
        }
    }
    *seg.stats()
}

/// The playback side's own parsing: a request path and query (the first line of `data`) is
/// routed without panicking and only ever names a stream the relay would accept; the rest,
/// cut into payloads by its bytes, goes through an HTTP-TS player's queue, which stays within
/// its cap and hands out exactly what it queued.
pub fn playback(data: &[u8]) {
    use srtrelay::buf::Payload;
    use srtrelay::legs::http::ts_player::TsPlayer;
    use srtrelay::playback::routes::{Route, query_param, route, valid_stream_name};
    use srtrelay::relay::leg::{Offer, Sink, StreamHeader};
    use std::time::{Duration, Instant};

    let (line, rest) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    let line = String::from_utf8_lossy(line);
    let (path, query) = match line.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (&*line, None),
    };
    match route(path) {
        Route::Ts(n)
        | Route::Playlist(n)
        | Route::Page(n)
        | Route::Segment(n, _)
        | Route::Part(n, _, _) => {
            assert!(valid_stream_name(n), "{path:?} -> {n:?}");
            assert!(
                n.split('/').all(|c| !c.is_empty() && c != "." && c != ".."),
                "{path:?} -> {n:?}: a name never walks out of a path"
            );
        }
        Route::Asset(f) => assert!(!f.contains('/') && !f.starts_with('.'), "{path:?}"),
        Route::Index | Route::StreamsJson | Route::NotFound => {}
    }
    for k in ["s", "_HLS_msn", "_HLS_part"] {
        let _ = query_param(query, k);
    }
    let cap = 4096 + usize::from(rest.first().copied().unwrap_or(0)) * 64;
    let mut p = TsPlayer::new(cap, Duration::from_millis(500));
    p.base();
    // The origin of virtual time, as in the other targets.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let header = [0x47u8; 376];
    let mut offered = 0u64;
    for (i, chunk) in rest.chunks(1316).enumerate() {
        let Some(payload) = Payload::copy_from_slice(chunk) else {
            continue;
        };
        let psi = (i % 3 != 0).then_some(StreamHeader {
            header: &header,
            has_video: i % 2 == 0,
        });
        let _ = p.offer(Offer {
            number: i as u64,
            pos: i as u64,
            origin: t0 + Duration::from_millis(i as u64 * 7),
            payload: &payload,
            psi,
        });
        offered += 1;
        assert!(
            p.queued_bytes() <= cap + header.len() + 1316,
            "cap {cap}: {}",
            p.queued_bytes()
        );
    }
    let mut out = std::collections::VecDeque::new();
    let mut taken = 0u64;
    loop {
        p.take(64, std::task::Waker::noop(), &mut out);
        if out.is_empty() {
            break;
        }
        taken += out.drain(..).map(|c| c.bytes().len() as u64).sum::<u64>();
    }
    assert_eq!(taken, p.counters.bytes_out);
    let _ = offered;
}

/// `upstream`: any text into `Upstream::parse`. Parsing never panics; `Debug` is the display
/// form; an upstream with nothing to mask displays as a URL that parses back to it; the display
/// of an SRT upstream does not depend on its passphrase (so never shows it); and every
/// `token=` an HTTP or SRT display shows is followed by the mask or by nothing.
pub fn upstream(data: &[u8]) {
    use srtrelay::ingest::upstream::Upstream;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(u) = Upstream::parse(text) else {
        return;
    };
    let shown = u.to_string();
    assert_eq!(format!("{u:?}"), format!("Upstream({shown})"));
    if !u.has_secrets() {
        assert_eq!(Upstream::parse(&shown).as_ref(), Ok(&u), "{shown}");
    }
    if let Upstream::Srt {
        passphrase: Some(_),
        ..
    } = &u
    {
        let mut other = u.clone();
        if let Upstream::Srt { passphrase, .. } = &mut other {
            *passphrase = Some(Passphrase::new("quite another one").expect("19 bytes"));
        }
        assert_eq!(other.to_string(), shown, "the display shows the passphrase");
    }
    if matches!(u, Upstream::Http { .. } | Upstream::Srt { .. }) {
        let lower = shown.to_ascii_lowercase();
        for (i, _) in lower.match_indices("token=") {
            let value = &shown[i + "token=".len()..];
            assert!(
                value.is_empty()
                    || value.starts_with("***")
                    || value.starts_with(['&', ',', ';', '#', '?', '%']),
                "unmasked token in {shown}"
            );
        }
    }
}

/// One step of an `ingest` script.
#[derive(Debug, Clone, Copy)]
enum IngestOp<'a> {
    Push(&'a [u8]),
    Packets(&'a [u8]),
    /// Advance virtual time by this many milliseconds, then `on_timeout`.
    Wait(u64),
    Switch,
    Flush,
}

/// An `ingest` script: the first byte is the configuration (low nibble: `max_hold` in ms,
/// high nibble: `sync_search_bytes` in packets, less one), then ops: `0x00..=0x7F` push the
/// next op+1 bytes; `0x80..=0xBF` push the next (op & 0x3F) + 1 packets' worth of bytes;
/// `0xC0..=0xDF` `push_packets` the next (op & 0x1F) + 1 packets' worth; `0xE0..=0xEF` wait
/// op & 0x0F ms then `on_timeout`; `0xF0..=0xF7` `switch_source`; `0xF8..` `flush`. A
/// short last chunk is pushed as it is.
fn ingest_script(
    data: &[u8],
) -> Option<(
    srtrelay::ingest::packetizer::TsIngestConfig,
    Vec<IngestOp<'_>>,
)> {
    use srtrelay::ingest::packetizer::TsIngestConfig;
    use std::time::Duration;
    let (&cfg, mut rest) = data.split_first()?;
    let cfg = TsIngestConfig {
        max_hold: Duration::from_millis(u64::from(cfg & 0x0F)),
        sync_search_bytes: 188 * (1 + usize::from(cfg >> 4)),
    };
    let mut ops = Vec::new();
    fn take<'a>(rest: &mut &'a [u8], n: usize) -> &'a [u8] {
        let (a, b) = rest.split_at(n.min(rest.len()));
        *rest = b;
        a
    }
    while let Some((&op, tail)) = rest.split_first() {
        rest = tail;
        ops.push(match op {
            0x00..=0x7F => IngestOp::Push(take(&mut rest, usize::from(op) + 1)),
            0x80..=0xBF => IngestOp::Push(take(&mut rest, 188 * (usize::from(op & 0x3F) + 1))),
            0xC0..=0xDF => IngestOp::Packets(take(&mut rest, 188 * (usize::from(op & 0x1F) + 1))),
            0xE0..=0xEF => IngestOp::Wait(u64::from(op & 0x0F)),
            0xF0..=0xF7 => IngestOp::Switch,
            _ => IngestOp::Flush,
        });
    }
    Some((cfg, ops))
}

/// `TsIngest` driven by a script (see `ingest_script`) on virtual time. Checks: every
/// payload is 1..=7 whole packets starting with 0x47, at a time neither in the future nor
/// before the previous payload's; the buffer stays within `MAX_BUFFERED` and the hold
/// deadline within `max_hold`, and a timeout leaves no overdue payload; after a switch with
/// earlier output, the output resumes with the PAT and the first packet of every PID
/// continues that PID's counter; the counters add up. And the bytes out do not depend on the
/// chunking or on the timeouts and flushes: the same script with each run of pushes merged
/// into one push, and no timeouts or flushes, gives the same bytes. Returns the counters.
pub fn ingest(data: &[u8]) -> srtrelay::ingest::packetizer::TsIngestStats {
    use srtrelay::ingest::packetizer::{MAX_BUFFERED, TsIngest};
    use srtrelay::media::packet::{NULL_PID, continuity_counter, has_payload, pid};
    use std::time::{Duration, Instant};

    let Some((cfg, ops)) = ingest_script(data) else {
        return Default::default();
    };
    // Fuzz targets may read the clock: it is only the origin of virtual time.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let mut now = t0;
    let mut ingest = TsIngest::new(cfg);
    let mut out_bytes = Vec::new();
    let mut last_at = t0;
    let mut payloads = 0u64;
    let mut last_cc = vec![None::<u8>; 8192];
    let mut check_first = vec![false; 8192];
    let mut expect_pat = false;
    let mut bytes_in = 0u64;
    for op in &ops {
        if let IngestOp::Wait(ms) = op {
            now += Duration::from_millis(*ms);
        }
        let mut collect = |p: &[u8], at: Instant| {
            assert!(
                !p.is_empty() && p.len() <= 7 * 188 && p.len().is_multiple_of(188),
                "{}",
                p.len()
            );
            assert!(at <= now && at >= last_at, "payload time out of order");
            last_at = at;
            payloads += 1;
            for pkt in p.chunks_exact(188) {
                let pkt: &[u8; 188] = pkt.try_into().expect("188 bytes");
                assert_eq!(pkt[0], 0x47);
                let id = pid(pkt);
                if std::mem::take(&mut expect_pat) {
                    assert_eq!(id, 0, "a splice starts with the PAT");
                }
                if id == NULL_PID {
                    continue;
                }
                let i = usize::from(id);
                let cc = continuity_counter(pkt);
                if std::mem::take(&mut check_first[i]) {
                    let prev = last_cc[i].expect("checked PIDs had output");
                    let want = if has_payload(pkt) {
                        (prev + 1) & 0x0F
                    } else {
                        prev
                    };
                    assert_eq!(cc, want, "PID {id:#x} breaks its counter at the splice");
                }
                last_cc[i] = Some(cc);
            }
            out_bytes.extend_from_slice(p);
        };
        match *op {
            IngestOp::Push(b) => {
                bytes_in += b.len() as u64;
                let _ = ingest.push(b, now, &mut collect);
            }
            IngestOp::Packets(b) => {
                bytes_in += b.len() as u64;
                ingest.push_packets(b, now, &mut collect);
            }
            IngestOp::Wait(_) => {
                ingest.on_timeout(now, &mut collect);
                assert!(
                    ingest.deadline().is_none_or(|d| d > now),
                    "overdue after timeout"
                );
            }
            IngestOp::Switch => {
                ingest.switch_source(now, &mut collect);
                if !out_bytes.is_empty() {
                    expect_pat = true;
                    for (c, l) in check_first.iter_mut().zip(&last_cc) {
                        *c = l.is_some();
                    }
                }
            }
            IngestOp::Flush => ingest.flush(now, &mut collect),
        }
        assert!(ingest.buffered_bytes() <= MAX_BUFFERED);
        if let Some(d) = ingest.deadline() {
            assert!(d <= now + cfg.max_hold);
        }
    }
    ingest.flush(now, &mut |p: &[u8], _| out_bytes.extend_from_slice(p));
    let s = *ingest.stats();
    assert_eq!(s.bytes_in, bytes_in);
    assert_eq!(s.packets_out as usize * 188, out_bytes.len());
    assert!(s.payloads_out >= payloads && s.payloads_out <= payloads + 1);
    assert!(s.splices <= s.switches && s.discontinuities_marked <= s.splices);

    // The reference: runs of pushes merged, no timeouts, no flushes until the end.
    let mut reference = TsIngest::new(cfg);
    let mut ref_bytes = Vec::new();
    let mut merged = Vec::new();
    let mut sink = |p: &[u8], _: Instant| ref_bytes.extend_from_slice(p);
    for op in &ops {
        if let IngestOp::Push(b) = op {
            merged.extend_from_slice(b);
            continue;
        }
        let _ = reference.push(&merged, t0, &mut sink);
        merged.clear();
        match *op {
            IngestOp::Packets(b) => reference.push_packets(b, t0, &mut sink),
            IngestOp::Switch => reference.switch_source(t0, &mut sink),
            _ => {}
        }
    }
    let _ = reference.push(&merged, t0, &mut sink);
    reference.flush(t0, &mut sink);
    assert!(
        ref_bytes == out_bytes,
        "the bytes out depend on chunking or timing"
    );
    s
}

/// What an `rtmp` run reached, for the seed test.
#[derive(Debug, Default, Clone, Copy)]
pub struct RtmpRun {
    pub publish_requested: bool,
    pub accepted: bool,
    pub video: u64,
    pub audio: u64,
    pub finished: bool,
    pub ended_with_error: bool,
}

/// `RtmpSession` on arbitrary peer bytes. Byte 0 is flags: bit 0 refuses the publish instead of
/// accepting it; bit 1 means the bytes carry their own handshake (a raw capture), else a
/// C0+C1+C2 of our own goes first; bits 2..=4 pick the piece size the bytes are fed in.
/// Checks: no panic; output at most 8x the input plus the handshake and a few replies; events
/// in order (one PublishRequested, media and metadata only once accepted, nothing after
/// Finished, Finished once) and counted as the stats say; after an error the session stays
/// closed; deadlines are honoured on virtual time.
pub fn rtmp(data: &[u8]) -> RtmpRun {
    use srtrelay::rtmp::{Refusal, RtmpConfig, RtmpEvent, RtmpSession};
    const PIECES: [usize; 8] = [usize::MAX, 1, 3, 17, 128, 1460, 4096, 65536];
    let mut run = RtmpRun::default();
    let Some((&flags, rest)) = data.split_first() else {
        return run;
    };
    let refuse = flags & 1 != 0;
    let mut input = Vec::new();
    if flags & 2 == 0 {
        input.push(3);
        input.extend(std::iter::repeat_n(0u8, 2 * 1536));
    }
    input.extend_from_slice(rest);
    let piece = PIECES[usize::from(flags >> 2) & 7];
    let cfg = RtmpConfig {
        max_message_bytes: 1 << 20,
        ..RtmpConfig::default()
    };
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    let t0 = Instant::now();
    let mut now = t0;
    let mut s = RtmpSession::new(cfg, now);
    let (mut out, mut fed) = (Vec::new(), 0usize);
    let mut refused = false;
    for chunk in input.chunks(piece.min(input.len().max(1))) {
        now += Duration::from_millis(1);
        fed += chunk.len();
        let mut r = s.on_bytes(chunk, now);
        while let Some(e) = s.poll_event() {
            match e {
                RtmpEvent::PublishRequested { .. } => {
                    assert!(!run.publish_requested, "two PublishRequested");
                    run.publish_requested = true;
                    if refuse {
                        s.refuse_publish(Refusal::Busy, now);
                        refused = true;
                    } else if r.is_ok() {
                        // What was held behind the publish flows now, up to an error if any.
                        run.accepted = true;
                        r = s.accept_publish(now);
                    }
                }
                RtmpEvent::Metadata { .. } => assert!(run.accepted && !run.finished),
                RtmpEvent::Video { .. } => {
                    assert!(
                        run.accepted && !run.finished,
                        "video before accept/after end"
                    );
                    run.video += 1;
                }
                RtmpEvent::Audio { .. } => {
                    assert!(
                        run.accepted && !run.finished,
                        "audio before accept/after end"
                    );
                    run.audio += 1;
                }
                RtmpEvent::Finished => {
                    assert!(
                        run.accepted && !run.finished,
                        "Finished twice or unpublished"
                    );
                    run.finished = true;
                }
            }
        }
        s.take_output(&mut out);
        // The handshake (S0 S1 S2), the session start, connect's and publish's answers, and
        // one status are constant; the rest (acks, pings, createStream) is at most 8x input.
        assert!(
            out.len() <= 8 * fed + 3073 + 4096,
            "{} bytes out for {fed} in",
            out.len()
        );
        if r.is_err() || refused {
            run.ended_with_error = r.is_err();
            assert!(s.on_bytes(b"\x03", now).is_err(), "input after the end");
            assert!(s.on_bytes(b"\x03", now).is_err());
            break;
        }
        match s.deadline() {
            // Virtual time runs 1 ms a piece: a long input fed bytewise outlives the handshake.
            Some(d) if d <= now => {
                assert!(s.on_timeout(now).is_err(), "due deadline not honoured");
                assert_eq!(s.deadline(), None);
                break;
            }
            Some(_) => assert_eq!(s.on_timeout(now), Ok(())),
            None => {}
        }
    }
    let st = s.stats();
    assert_eq!(
        (st.video_messages, st.audio_messages),
        (run.video, run.audio)
    );
    // Past every deadline the session ends with a timeout or has already ended.
    if let Some(d) = s.deadline() {
        assert!(s.on_timeout(d).is_err());
        assert_eq!(s.deadline(), None);
    }
    run
}

/// The `remux` script: messages of `kind(8) delta_ms(i8) len(16 BE) body`, the delta added to
/// the running timestamp (so it can step back and wrap). Kind `& 3`: 0 video, 1 audio, 2 the
/// onMetaData hint (`body[0]` bit 0 video, bit 1 audio), 3 a 32-bit timestamp jump taken
/// from the body.
pub fn remux(data: &[u8]) -> srtrelay::media::remux::RemuxStats {
    use srtrelay::media::packet::{continuity_counter, has_payload, pid};
    use srtrelay::media::pes::{TIMESTAMP_WRAP, pes_start};
    use srtrelay::media::remux::{AUDIO_PID, FlvRemux, VIDEO_PID};
    use srtrelay::media::ts;

    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    let mut at = 0;
    let mut ts_ms = 0u32;
    let mut errors = 0u64;
    let mut largest_record = 0usize;
    let mut cc = vec![None::<u8>; 8192];
    let mut last_dts = [None::<u64>; 2];
    let mut read = 0;
    while at + 4 <= data.len() {
        let kind = data[at] & 3;
        let delta = data[at + 1] as i8;
        let len = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        let body = &data[at + 4..(at + 4 + len).min(data.len())];
        at += 4 + len;
        ts_ms = ts_ms.wrapping_add_signed(i32::from(delta));
        let before = out.len();
        let result = match kind {
            0 => {
                // A sequence start (AVC packet type 0 or an enhanced header) may become the
                // parameter sets put before every keyframe.
                largest_record = largest_record.max(body.len());
                r.video(ts_ms, body, &mut out)
            }
            1 => r.audio(ts_ms, body, &mut out),
            2 => {
                let bits = body.first().copied().unwrap_or(0);
                r.expect_tracks(bits & 1 != 0, bits & 2 != 0);
                Ok(())
            }
            _ => {
                let mut b = [0u8; 4];
                for (d, s) in b.iter_mut().zip(body) {
                    *d = *s;
                }
                ts_ms = u32::from_be_bytes(b);
                Ok(())
            }
        };
        errors += u64::from(result.is_err());
        let written = out.len() - before;
        assert!(
            result.is_ok() || written == 0,
            "a refused message wrote {written} bytes"
        );
        // No amplification beyond the frame, the parameter sets (start codes can double a
        // record of tiny NAL units), PES/TS overhead and one PAT/PMT/PCR set.
        let bound = 2 * (body.len() + 2 * largest_record) + 188 * 16;
        assert!(
            written <= bound,
            "{written} bytes out of a {}-byte message",
            body.len()
        );
        // Every packet written so far is whole, in sequence on its PID, and carries PES
        // timestamps that make sense.
        if written > 0 {
            assert_eq!(ts::validate(&out[read..]).map(|n| n * 188), Ok(written));
        }
        for p in ts::packets(&out[read..]) {
            let id = pid(p);
            let c = continuity_counter(p);
            if let Some(prev) = cc[usize::from(id)] {
                let want = if has_payload(p) {
                    (prev + 1) & 0x0F
                } else {
                    prev
                };
                assert_eq!(c, want, "continuity on PID {id:#x}");
            }
            cc[usize::from(id)] = Some(c);
            if id != VIDEO_PID && id != AUDIO_PID {
                continue;
            }
            let Some(start) = pes_start(p) else { continue };
            let pts = start.pts.expect("every media PES has a PTS");
            assert!(pts < TIMESTAMP_WRAP);
            let dts = start.decode_time().expect("and so a decode time");
            // PTS >= DTS on the 33-bit circle: the difference is a small forward step.
            assert!(
                (pts.wrapping_sub(dts) & (TIMESTAMP_WRAP - 1)) < TIMESTAMP_WRAP / 2,
                "PTS {pts} before DTS {dts}"
            );
            // Decode times never go back on a track (jumps are held or rebased).
            let track = usize::from(id == AUDIO_PID);
            if let Some(prev) = last_dts[track] {
                let step = dts.wrapping_sub(prev) & (TIMESTAMP_WRAP - 1);
                assert!(
                    step < TIMESTAMP_WRAP / 2,
                    "DTS {prev} -> {dts} on PID {id:#x}"
                );
            }
            last_dts[track] = Some(dts);
        }
        read = out.len();
    }
    let s = *r.stats();
    assert_eq!(s.malformed, errors, "every refusal is counted");
    assert_eq!(s.ts_packets_out as usize * 188, out.len());
    assert!(s.keyframes <= s.video_frames_out);
    s
}

/// What an `RtmpPublisher` run reached, for tests that check the seeds go deep.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PublisherRun {
    pub connected: bool,
    pub publishing: bool,
    pub refused: Option<String>,
    pub closed: bool,
    pub ended_with_error: bool,
}

/// `RtmpPublisher` on arbitrary server bytes after a real handshake (rml_rtmp's server side
/// answers our C0+C1). Byte 0 picks the piece size the rest is fed in. Checks: no panic; each
/// reply at most 4x its input plus our few commands; events in order (Connected, then
/// Publishing, then at most one Refused or Closed, last); after an error every call says
/// Closed; once publishing, tags go out.
pub fn rtmp_publisher(data: &[u8]) -> PublisherRun {
    use rml_rtmp::handshake::{Handshake, HandshakeProcessResult, PeerType};
    use srtrelay::media::flvmux::{FlvTag, TagKind};
    use srtrelay::rtmp::{PublisherConfig, PublisherError, PublisherEvent, RtmpPublisher};
    const PIECES: [usize; 8] = [usize::MAX, 1, 3, 17, 128, 1460, 4096, 65536];

    let mut run = PublisherRun::default();
    let Some((&flags, input)) = data.split_first() else {
        return run;
    };
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    let now = Instant::now();
    let mut p = RtmpPublisher::new(
        PublisherConfig::default(),
        "live",
        "k",
        "rtmp://h/live",
        now,
    )
    .expect("a publisher starts");
    let mut server = Handshake::new(PeerType::Server);
    let Ok(HandshakeProcessResult::InProgress { response_bytes }) =
        server.process_bytes(&p.take_output())
    else {
        panic!("rml_rtmp's server answers our C0+C1")
    };
    p.handle_input(&response_bytes, now)
        .expect("our handshake completes");
    let piece = PIECES[usize::from(flags) & 7].min(input.len().max(1));
    let mut events = Vec::new();
    for chunk in input.chunks(piece) {
        match p.handle_input(chunk, now) {
            Ok(reply) => assert!(
                reply.len() <= 4 * chunk.len() + 1024,
                "{} bytes out for {}",
                reply.len(),
                chunk.len()
            ),
            Err(PublisherError::Closed) => {
                let ended = events
                    .iter()
                    .any(|e| matches!(e, PublisherEvent::Refused(_) | PublisherEvent::Closed(_)));
                assert!(run.ended_with_error || ended, "closed without a reason");
            }
            Err(_) => {
                run.ended_with_error = true;
                assert_eq!(p.handle_input(chunk, now), Err(PublisherError::Closed));
            }
        }
        while let Some(e) = p.poll_event() {
            events.push(e);
        }
    }
    for (i, e) in events.iter().enumerate() {
        match e {
            PublisherEvent::Connected => {
                assert!(i == 0 && !run.connected);
                run.connected = true;
            }
            PublisherEvent::Publishing => {
                assert!(run.connected && !run.publishing, "{events:?}");
                run.publishing = true;
            }
            PublisherEvent::Refused(why) => {
                assert!(!run.publishing && i == events.len() - 1, "{events:?}");
                run.refused = Some(why.clone());
            }
            PublisherEvent::Closed(_) => {
                assert!(run.publishing && i == events.len() - 1, "{events:?}");
                run.closed = true;
            }
        }
    }
    if p.is_publishing() {
        let tag = FlvTag {
            kind: TagKind::Audio,
            timestamp_ms: 0,
            body: vec![0xAF, 0, 0x11, 0x90],
        };
        let bytes = p.send_tag(&tag, now).expect("publishing sends");
        assert!(bytes.len() > tag.body.len());
    }
    run
}

/// `flvmux`: the first byte picks the piece size (1..=2041 bytes) the rest is pushed to
/// `TsToFlv` in, as the relay's ring hands it over; then a flush. Every tag must be well formed
/// (video: frame type 1 or 2, codec 7, a sequence header that `flv::config` reads or whole
/// length-prefixed NAL units; audio: AAC with an AudioSpecificConfig ADTS can carry, or a
/// non-empty raw frame), onMetaData first, timestamps never going back per kind, and the output
/// no larger than twice the input plus a record per sequence header and a little per tag.
pub fn flvmux(data: &[u8]) -> srtrelay::media::flvmux::TsToFlvStats {
    use srtrelay::media::flv::aac::AdtsConfig;
    use srtrelay::media::flv::config::{MAX_RECORD_LEN, parse_avc};
    use srtrelay::media::flvmux::{TagKind, TsToFlv};

    let Some((&piece, ts)) = data.split_first() else {
        return Default::default();
    };
    let piece = 1 + usize::from(piece) * 8;
    let mut m = TsToFlv::new();
    let mut tags = Vec::new();
    for chunk in ts.chunks(piece) {
        m.push(chunk, &mut tags);
    }
    m.flush(&mut tags);
    let stats = *m.stats();
    let mut last = [None::<u32>; 3];
    let mut bytes = 0usize;
    for (i, t) in tags.iter().enumerate() {
        bytes += t.body.len();
        assert_eq!(t.kind == TagKind::Script, i == 0, "onMetaData first, once");
        let kind = t.kind as usize;
        if let Some(prev) = last[kind] {
            assert!(
                (t.timestamp_ms.wrapping_sub(prev) as i32) >= 0,
                "{:?} time {prev} -> {}",
                t.kind,
                t.timestamp_ms
            );
        }
        last[kind] = Some(t.timestamp_ms);
        match t.kind {
            TagKind::Video => {
                let b = &t.body;
                assert!(matches!(b[0], 0x17 | 0x27) && b.len() >= 5, "{:x?}", &b[..]);
                match b[1] {
                    0 => {
                        assert_eq!(&b[1..5], [0, 0, 0, 0]);
                        parse_avc(&b[5..]).expect("our record parses");
                    }
                    1 => {
                        let mut rest = &b[5..];
                        assert!(!rest.is_empty(), "a frame has NAL units");
                        while let [a, b, c, d, tail @ ..] = rest {
                            let n = u32::from_be_bytes([*a, *b, *c, *d]) as usize;
                            assert!(n > 0 && n <= tail.len(), "NAL length {n}");
                            rest = &tail[n..];
                        }
                        assert!(rest.is_empty(), "whole NAL units");
                    }
                    other => panic!("AVC packet type {other}"),
                }
            }
            TagKind::Audio => {
                assert_eq!(t.body[0], 0xAF);
                match t.body[1] {
                    0 => {
                        assert_eq!(t.body.len(), 4);
                        AdtsConfig::parse(&t.body[2..]).expect("an ASC ADTS can carry");
                    }
                    1 => assert!(t.body.len() > 2, "an empty AAC frame"),
                    other => panic!("AAC packet type {other}"),
                }
            }
            TagKind::Script => assert_eq!(t.body[0], 0x02, "an AMF0 string first"),
        }
    }
    let headers = (stats.video_sequence_headers + stats.audio_sequence_headers) as usize;
    assert!(
        bytes <= 2 * ts.len() + headers * (MAX_RECORD_LEN + 16) + tags.len() * 16 + 256,
        "{bytes} bytes of tags from {} bytes of TS",
        ts.len()
    );
    assert_eq!(
        tags.len() as u64,
        stats.video_frames_out
            + stats.video_sequence_headers
            + stats.audio_frames_out
            + stats.audio_sequence_headers
            + stats.metadata_out,
        "every tag counted"
    );
    assert!(stats.keyframes_out <= stats.video_frames_out);
    assert!(stats.video_sequence_headers <= stats.packets_in);
    stats
}

/// `record`: the first byte picks the segment length (1..=8 s of arrival time); the rest is
/// cut into payloads of 1 to 7 TS packets (a length byte, then the packets), each 0.5 s after
/// the last, offered with or without tables to `record::cut::Cutter`. Segments must open and
/// close in turn, every range must lie inside its payload, and from the first segment on every
/// byte must be written once, in order (no interruption happens here). The same bytes as a
/// `path` template: whatever parses renders to a path it recognises again.
pub fn record(data: &[u8]) {
    use srtrelay::media::ts::TS_PACKET_LEN;
    use srtrelay::record::cut::{Cut, Cutter};
    use srtrelay::record::path::PathTemplate;
    use srtrelay::relay::leg::StreamHeader;

    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(t) = PathTemplate::parse(text)
    {
        let at = std::time::UNIX_EPOCH + Duration::from_secs(u64::from(data.len() as u32) * 7919);
        for (stream, seq) in [("a/b", 0), ("..", 3), ("", 1)] {
            let p = t.render(stream, at, seq);
            assert!(t.matches(stream, &p), "{text:?} renders {p:?}");
            let (root, _) = t.root(stream);
            assert!(p.starts_with(&root), "{p:?} under {root:?}");
        }
    }
    let Some((&first, mut rest)) = data.split_first() else {
        return;
    };
    let mut cutter = Cutter::new(Duration::from_millis(1000 * u64::from(first % 8 + 1)));
    // Only the origin of virtual time.
    #[allow(clippy::disallowed_methods)]
    let t0 = Instant::now();
    let header = [0x47u8; TS_PACKET_LEN];
    let (mut open, mut wrote, mut want) = (false, Vec::new(), Vec::new());
    let mut out = Vec::new();
    let mut i = 0u32;
    while let Some((&len, tail)) = rest.split_first() {
        let n = (usize::from(len % 7) + 1) * TS_PACKET_LEN;
        let Some((payload, tail)) = tail.split_at_checked(n) else {
            break;
        };
        rest = tail;
        i += 1;
        let at = t0 + Duration::from_millis(500 * u64::from(i));
        let psi = (len & 0x80 != 0).then_some(StreamHeader {
            header: &header,
            has_video: len & 0x40 != 0,
        });
        cutter.push(payload, at, psi, &mut out);
        let mut started_here = None;
        for c in out.drain(..) {
            match c {
                Cut::Start { .. } => {
                    assert!(!open, "a segment opens while one is open");
                    open = true;
                }
                Cut::End { .. } => {
                    assert!(open, "a segment closes while none is open");
                    open = false;
                }
                Cut::Bytes(r) => {
                    assert!(open, "bytes outside a segment");
                    assert!(r.start <= r.end && r.end <= payload.len(), "{r:?}");
                    started_here.get_or_insert(r.start);
                    wrote.extend_from_slice(&payload[r]);
                }
            }
        }
        if !want.is_empty() || started_here.is_some() {
            want.extend_from_slice(&payload[started_here.unwrap_or(0)..]);
        }
    }
    assert_eq!(
        wrote, want,
        "every byte from the first keyframe, once, in order"
    );
}

/// What an `srtla` script reached (the corpus test asserts its seeds go deep).
#[derive(Debug, Default)]
pub struct SrtlaRun {
    pub forwarded: u64,
    pub counters: srtrelay::srtla::Counters,
}

/// `srtla`: a script against `srtla::Receiver` (caps 3 groups, 2 links each), one op per record:
/// the first byte's low 3 bits pick the source address, the rest the op: 0 a raw datagram
/// (length byte, bytes), 1 REG1 (id byte), 2 REG2 with the last id the receiver handed out
/// (a byte flipped when the next byte is odd), 3 SRT data (2-byte sequence number), 4 time
/// passes (byte x 100 ms) and timers run, 5 an upstream packet (type byte) for the newest
/// group, 6 a keepalive. After each op: the caps hold, the gauges match the stats, every
/// forward names a live group, a pending group has a deadline, and the replies never add up
/// to more bytes than the datagrams that caused them (no amplification).
pub fn srtla(data: &[u8]) -> SrtlaRun {
    use srtrelay::srtla::packet::{self, ID_LEN, REG_LEN};
    use srtrelay::srtla::{Event, GroupHandle, Handled, Receiver, ReceiverConfig};
    let cfg = ReceiverConfig {
        max_groups: 3,
        max_links_per_group: 2,
        ..ReceiverConfig::default()
    };
    let mut r = Receiver::new(cfg.clone(), [7; 32]);
    #[allow(clippy::disallowed_methods)] // the origin of virtual time
    let mut now = Instant::now();
    let addrs: Vec<SocketAddr> = (0..8u16)
        .map(|i| SocketAddr::from(([192, 0, 2, 1 + (i % 3) as u8], 5000 + i)))
        .collect();
    let (mut bytes_in, mut bytes_out) = (0usize, 0usize);
    let mut last_id: Option<Vec<u8>> = None;
    let mut newest: Option<GroupHandle> = None;
    let mut run = SrtlaRun::default();
    let mut buf = [0u8; 1500];
    let mut to = Vec::new();
    let mut it = data.iter().copied();
    while let Some(op) = it.next() {
        let from = addrs[usize::from(op & 7)];
        let mut dgram: Vec<u8> = Vec::new();
        match (op >> 3) % 7 {
            0 => {
                let n = usize::from(it.next().unwrap_or(0));
                dgram.extend(it.by_ref().take(n));
            }
            1 => {
                let mut b = [0u8; REG_LEN];
                packet::emit_reg1(&[it.next().unwrap_or(0); ID_LEN], &mut b);
                dgram.extend_from_slice(&b);
            }
            2 => {
                let mut id = last_id.clone().unwrap_or_else(|| vec![0; ID_LEN]);
                let flip = it.next().unwrap_or(0);
                if flip & 1 == 1 {
                    id[usize::from(flip)] ^= 0x40;
                }
                dgram.extend_from_slice(&packet::REG2.to_be_bytes());
                dgram.extend_from_slice(&id);
            }
            3 => {
                let seq = u32::from(u16::from_be_bytes([
                    it.next().unwrap_or(0),
                    it.next().unwrap_or(0),
                ]));
                dgram.extend_from_slice(&seq.to_be_bytes());
                dgram.resize(16 + 188, 0x47);
            }
            4 => {
                now += Duration::from_millis(100 * u64::from(it.next().unwrap_or(1)));
                if r.poll_timeout().is_some_and(|d| d <= now) {
                    r.handle_timeout(now);
                }
            }
            5 => {
                let mut p = vec![0x80, it.next().unwrap_or(2)];
                p.resize(44, 0);
                if let Some(g) = newest {
                    r.route_upstream(g, &p, &mut to);
                    assert!(to.len() <= cfg.max_links_per_group);
                }
            }
            _ => dgram.extend_from_slice(&packet::KEEPALIVE.to_be_bytes()),
        }
        if !dgram.is_empty() || (op >> 3) % 7 == 0 {
            bytes_in += dgram.len();
            if let Handled::Forward(g) = r.handle_datagram(now, from, &dgram) {
                run.forwarded += 1;
                assert!(
                    r.stats(now).iter().any(|s| s.group == g),
                    "forward to a live group"
                );
            }
        }
        while let Some(t) = r.poll_transmit(&mut buf) {
            bytes_out += t.len;
            if packet::packet_type(&buf[..t.len]) == Some(packet::REG2) {
                last_id = Some(buf[2..t.len].to_vec());
            }
        }
        while let Some(e) = r.poll_event() {
            if let Event::GroupCreated { group, .. } = e {
                newest = Some(group);
            }
        }
        assert!(
            bytes_out <= bytes_in,
            "{bytes_out} bytes answered {bytes_in}"
        );
        let stats = r.stats(now);
        let c = r.counters();
        assert!(stats.len() <= cfg.max_groups);
        assert_eq!(c.groups as usize, stats.len());
        assert_eq!(
            c.links as usize,
            stats.iter().map(|g| g.links.len()).sum::<usize>()
        );
        assert!(
            stats
                .iter()
                .all(|g| g.links.len() <= cfg.max_links_per_group)
        );
        assert!(stats.is_empty() || r.poll_timeout().is_some());
    }
    run.counters = r.counters();
    run
}
