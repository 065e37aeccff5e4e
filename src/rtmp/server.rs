//! One shard's RTMP listener: accept, then per connection a task that drives the sans-IO
//! session (`session.rs`), remuxes the publisher's FLV messages to TS (`media::remux`), packs
//! them into ring payloads (`ingest::TsIngest`) and hands each wake-up's payloads to the shard
//! (`legs::ingest::IngestHost`). Publishers only: RTMP playback is refused by the session.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use log::{debug, info, warn};

use super::name::{PublishTarget, publish_target};
use super::{Refusal, RtmpConfig, RtmpError, RtmpEvent, RtmpSession};
use crate::config::RtmpSettings;
use crate::ingest::packetizer::{TsIngest, TsIngestConfig};
use crate::legs::ingest::{
    CLOSE_POLL, IngestAsk, IngestHost, IngestRef, PayloadBatch, Protocol, Refused,
};
use crate::media::remux::FlvRemux;
use crate::relay::registry::Refusal as RegistryRefusal;
use crate::webhooks::{Ask, Deny, Hook, Verdict};

/// Accept errors (EMFILE) are retried after this, so a full fd table does not spin the shard.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Bytes read per `read` call.
const READ_CHUNK: usize = 64 * 1024;
/// A partial ring payload (audio between video frames) waits at most this long.
const MAX_HOLD: Duration = Duration::from_millis(10);
/// How often a publish waiting for its `on_publish` callback looks for the answer.
const HOOK_POLL: Duration = Duration::from_millis(20);
/// The callback thread answers within `webhooks.timeout_ms` (at most 30 s); past this the
/// answer was lost and the publish is refused.
const HOOK_WAIT: Duration = Duration::from_secs(35);

/// The listener's counters, all shards together (exported by shard 0's snapshot).
#[derive(Debug, Default)]
pub struct RtmpCounters {
    pub accepted: AtomicU64,
    /// Refused at accept: `rtmp.max_connections` open.
    pub refused_connections: AtomicU64,
    pub publishes: AtomicU64,
    /// Publish requests refused (name, access, registry).
    pub publish_refused: AtomicU64,
    /// Connections closed for a protocol error (garbage, oversize messages, play requests).
    pub protocol_errors: AtomicU64,
    /// Closed at the handshake or idle deadline.
    pub timeouts: AtomicU64,
    /// FLV messages the remux refused.
    pub remux_errors: AtomicU64,
    pub bytes_in: AtomicU64,
    /// Connections open now.
    pub open: AtomicUsize,
}

impl RtmpCounters {
    fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Ordering::Relaxed);
    }

    pub fn totals(&self) -> crate::telemetry::RtmpTotals {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        crate::telemetry::RtmpTotals {
            accepted: g(&self.accepted),
            refused_connections: g(&self.refused_connections),
            publishes: g(&self.publishes),
            publish_refused: g(&self.publish_refused),
            protocol_errors: g(&self.protocol_errors),
            timeouts: g(&self.timeouts),
            remux_errors: g(&self.remux_errors),
            bytes_in: g(&self.bytes_in),
            open: self.open.load(Ordering::Relaxed) as u64,
        }
    }
}

/// What every shard's listener shares.
pub struct RtmpShared {
    pub cfg: RtmpSettings,
    pub counters: RtmpCounters,
}

/// Serves `listener` until the shard stops.
pub async fn serve(
    listener: glommio::net::TcpListener,
    host: Rc<dyn IngestHost>,
    shared: Arc<RtmpShared>,
) {
    loop {
        match listener.accept().await {
            Ok(stream) => {
                let open = shared.counters.open.fetch_add(1, Ordering::Relaxed);
                if open >= shared.cfg.max_connections {
                    shared.counters.open.fetch_sub(1, Ordering::Relaxed);
                    RtmpCounters::add(&shared.counters.refused_connections, 1);
                    debug!("rtmp: connection refused: {open} open");
                    continue;
                }
                RtmpCounters::add(&shared.counters.accepted, 1);
                glommio::spawn_local(connection(stream, host.clone(), shared.clone())).detach();
            }
            Err(e) => {
                warn!("rtmp: accept failed: {e}");
                glommio::timer::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}

/// The publish's RTMP answer to a refusal.
fn refusal(r: Refused) -> Refusal {
    match r {
        Refused::Denied(_) => Refusal::Unauthorized,
        Refused::Registry(RegistryRefusal::PublisherConflict) => Refusal::Busy,
        Refused::Registry(_) => Refusal::Full,
    }
}

/// Why a connection ended, for the log and the counters.
enum End {
    PeerClosed,
    Finished,
    Refused,
    TakenOver,
    Error(RtmpError),
    Io(std::io::Error),
}

async fn connection(
    mut stream: glommio::net::TcpStream,
    host: Rc<dyn IngestHost>,
    shared: Arc<RtmpShared>,
) {
    struct Open(Arc<RtmpShared>);
    impl Drop for Open {
        fn drop(&mut self) {
            self.0.counters.open.fetch_sub(1, Ordering::Relaxed);
        }
    }
    let _open = Open(shared.clone());
    let Ok(peer) = stream.peer_addr() else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let mut conn = Conn::new(peer, host.clone(), &shared.cfg, host.now());
    let end = conn.run(&mut stream, &shared.counters).await;
    let c = &shared.counters;
    let why = match &end {
        End::PeerClosed => "the peer closed".to_string(),
        End::Finished => "unpublished".to_string(),
        End::Refused => "publish refused".to_string(),
        End::TakenOver => "closed by the relay (taken over or closed by the operator)".to_string(),
        End::Error(e) => {
            match e {
                RtmpError::Timeout(_) => RtmpCounters::add(&c.timeouts, 1),
                _ => RtmpCounters::add(&c.protocol_errors, 1),
            }
            e.to_string()
        }
        End::Io(e) => e.to_string(),
    };
    // What the session still has to say (a refusal's status, an error's close) goes out first.
    let mut out = Vec::new();
    conn.session.take_output(&mut out);
    if !out.is_empty() {
        let _ = stream.write_all(&out).await;
        let _ = stream.flush().await;
    }
    match conn.leg.take() {
        Some(leg) => {
            conn.flush();
            host.publish(&leg, &conn.batch);
            host.close(&leg, &why);
        }
        None if matches!(end, End::Error(_)) => {
            info!("rtmp: connection from {peer} closed before publishing: {why}")
        }
        None => debug!("rtmp: connection from {peer} closed: {why}"),
    }
    let _ = stream.close().await;
}

/// One RTMP connection's state between its reads.
struct Conn {
    peer: SocketAddr,
    host: Rc<dyn IngestHost>,
    session: RtmpSession,
    remux: FlvRemux,
    ingest: TsIngest,
    leg: Option<IngestRef>,
    /// The remux's TS packets for one message, reused.
    ts: Vec<u8>,
    batch: PayloadBatch,
    remux_warned: bool,
    /// A publish waiting for the `on_publish` callback, and until when.
    awaiting: Option<(PublishTarget, Ask, Instant)>,
}

impl Conn {
    fn new(peer: SocketAddr, host: Rc<dyn IngestHost>, cfg: &RtmpSettings, now: Instant) -> Conn {
        let session = RtmpSession::new(
            RtmpConfig {
                handshake_timeout: cfg.handshake_timeout,
                idle_timeout: cfg.idle_timeout,
                max_message_bytes: cfg.max_message_bytes,
                ..RtmpConfig::default()
            },
            now,
        );
        Conn {
            peer,
            host,
            session,
            remux: FlvRemux::new(),
            ingest: TsIngest::new(TsIngestConfig {
                max_hold: MAX_HOLD,
                ..TsIngestConfig::default()
            }),
            leg: None,
            ts: Vec::new(),
            batch: PayloadBatch::default(),
            remux_warned: false,
            awaiting: None,
        }
    }

    async fn run(&mut self, stream: &mut glommio::net::TcpStream, c: &RtmpCounters) -> End {
        let mut buf = vec![0u8; READ_CHUNK];
        let mut out = Vec::new();
        loop {
            if self.awaiting.is_some() {
                // The publisher waits for our answer and sends nothing meanwhile; its bytes
                // stay in the socket until the callback decided.
                glommio::timer::sleep(HOOK_POLL).await;
                let now = self.host.now();
                if let Some(end) = self.awaited(c, now) {
                    return end;
                }
                if let Some(end) = self.events(c, now) {
                    return end;
                }
                out.clear();
                self.session.take_output(&mut out);
                if !out.is_empty()
                    && let Err(e) = stream.write_all(&out).await
                {
                    return End::Io(e);
                }
                continue;
            }
            let now = self.host.now();
            if self
                .leg
                .as_ref()
                .is_some_and(|l| l.borrow().close_requested())
            {
                return End::TakenOver;
            }
            // Wake for the session's deadline, a held payload, or a close request.
            let mut wake = now + CLOSE_POLL;
            if let Some(d) = self.session.deadline() {
                wake = wake.min(d);
            }
            if let Some(d) = self.ingest.deadline() {
                wake = wake.min(d);
            }
            let wait = wake
                .saturating_duration_since(now)
                .max(Duration::from_millis(1));
            let _ = stream.set_read_timeout(Some(wait));
            let n = match stream.read(&mut buf).await {
                Ok(0) => return End::PeerClosed,
                Ok(n) => n,
                Err(e) if is_timeout(&e) => 0,
                Err(e) => return End::Io(e),
            };
            let now = self.host.now();
            if n > 0 {
                RtmpCounters::add(&c.bytes_in, n as u64);
                if let Err(e) = self.session.on_bytes(&buf[..n], now) {
                    return End::Error(e);
                }
            } else if let Err(e) = self.session.on_timeout(now) {
                return End::Error(e);
            }
            if let Some(end) = self.events(c, now) {
                return end;
            }
            {
                let batch = &mut self.batch;
                self.ingest
                    .on_timeout(now, &mut |p: &[u8], t: Instant| batch.push(p, t));
            }
            if let Some(leg) = &self.leg {
                self.host.publish(leg, &self.batch);
            }
            self.batch.clear();
            out.clear();
            self.session.take_output(&mut out);
            if !out.is_empty()
                && let Err(e) = stream.write_all(&out).await
            {
                return End::Io(e);
            }
        }
    }

    /// The `on_publish` callback's answer, once there (or its deadline).
    fn awaited(&mut self, c: &RtmpCounters, now: Instant) -> Option<End> {
        let (target, ask, until) = self.awaiting.take()?;
        match self.host.authorize(ask.clone()) {
            Some(Verdict::Allow) => self.admit(&target, c, now),
            Some(Verdict::Deny(d)) => self.hook_refused(&target, d, c, now),
            None if now >= until => self.hook_refused(&target, Deny::Timeout, c, now),
            None => {
                self.awaiting = Some((target, ask, until));
                None
            }
        }
    }

    fn hook_refused(
        &mut self,
        target: &PublishTarget,
        d: Deny,
        c: &RtmpCounters,
        now: Instant,
    ) -> Option<End> {
        info!(
            "rtmp: webhook refused publish of {:?} from {}: {d:?}",
            target.stream, self.peer
        );
        RtmpCounters::add(&c.publish_refused, 1);
        self.session.refuse_publish(Refusal::Unauthorized, now);
        Some(End::Refused)
    }

    /// Admits the publish of `target` (the callback, if any, agreed).
    fn admit(&mut self, target: &PublishTarget, c: &RtmpCounters, now: Instant) -> Option<End> {
        let user = target.query.iter().find(|(k, _)| k == "u");
        let opened = self.host.open(IngestAsk {
            name: &target.stream,
            session: target.session.as_deref(),
            check_access: true,
            protocol: Protocol::Rtmp,
            source: self.peer.to_string(),
            role: Some(crate::backup::Role::from_user(
                user.map(|(_, v)| v.as_str()),
            )),
        });
        match opened {
            Ok(leg) => {
                if let Err(e) = self.session.accept_publish(now) {
                    self.host.close(&leg, "publish could not be accepted");
                    return Some(End::Error(e));
                }
                RtmpCounters::add(&c.publishes, 1);
                self.leg = Some(leg);
                None
            }
            Err(r) => {
                RtmpCounters::add(&c.publish_refused, 1);
                self.session.refuse_publish(refusal(r), now);
                Some(End::Refused)
            }
        }
    }

    /// Handles what the session produced; `Some` ends the connection. Stops early while a
    /// publish waits for its callback (the rest stays queued in the session).
    fn events(&mut self, c: &RtmpCounters, now: Instant) -> Option<End> {
        while self.awaiting.is_none()
            && let Some(ev) = self.session.poll_event()
        {
            match ev {
                RtmpEvent::PublishRequested { app, key } => {
                    if self.leg.is_some() {
                        // One stream per connection, as OBS and ffmpeg do.
                        RtmpCounters::add(&c.publish_refused, 1);
                        self.session.refuse_publish(Refusal::Busy, now);
                        return Some(End::Refused);
                    }
                    let target = match publish_target(&app, &key) {
                        Ok(t) => t,
                        Err(e) => {
                            info!("rtmp: refused publish from {}: {e}", self.peer);
                            RtmpCounters::add(&c.publish_refused, 1);
                            self.session.refuse_publish(Refusal::BadName, now);
                            return Some(End::Refused);
                        }
                    };
                    let mut ask = Ask::new(Hook::Publish, "rtmp", &target.stream, Some(self.peer))
                        .with("app", app.as_str())
                        .with("key", key.as_str());
                    if let Some((_, q)) = key.split_once('?') {
                        ask = ask.with("query", q);
                    }
                    let end = match self.host.authorize(ask.clone()) {
                        Some(Verdict::Allow) => self.admit(&target, c, now),
                        Some(Verdict::Deny(d)) => self.hook_refused(&target, d, c, now),
                        None => {
                            let until = now + HOOK_WAIT;
                            self.awaiting = Some((target, ask, until));
                            None
                        }
                    };
                    if end.is_some() {
                        return end;
                    }
                }
                RtmpEvent::Metadata { video, audio } => self.remux.expect_tracks(video, audio),
                RtmpEvent::Video { timestamp_ms, data } => {
                    self.ts.clear();
                    if let Err(e) = self.remux.video(timestamp_ms, &data, &mut self.ts) {
                        self.remux_error(c, "a video message", &e);
                    }
                    self.packets(now, true);
                }
                RtmpEvent::Audio { timestamp_ms, data } => {
                    self.ts.clear();
                    if let Err(e) = self.remux.audio(timestamp_ms, &data, &mut self.ts) {
                        self.remux_error(c, "an audio message", &e);
                    }
                    self.packets(now, false);
                }
                RtmpEvent::Finished => return Some(End::Finished),
            }
        }
        None
    }

    /// The remux's packets for one message into ring payloads. A video frame's tail goes at
    /// once (a frame is the unit players wait for); audio tails wait up to `MAX_HOLD` for more.
    fn packets(&mut self, now: Instant, end_of_frame: bool) {
        if self.ts.is_empty() {
            return;
        }
        let batch = &mut self.batch;
        let mut out = |p: &[u8], t: Instant| batch.push(p, t);
        self.ingest.push_packets(&self.ts, now, &mut out);
        if end_of_frame {
            self.ingest.flush(now, &mut out);
        }
    }

    /// Counted; the first of a connection is logged (a publisher repeats what it sends).
    fn remux_error(&mut self, c: &RtmpCounters, what: &str, e: &dyn std::fmt::Display) {
        RtmpCounters::add(&c.remux_errors, 1);
        if !self.remux_warned {
            self.remux_warned = true;
            warn!("rtmp: {} dropped {what}: {e}", self.peer);
        }
    }

    fn flush(&mut self) {
        let now = self.host.now();
        let batch = &mut self.batch;
        self.ingest
            .flush(now, &mut |p: &[u8], t: Instant| batch.push(p, t));
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}
