//! HLS across shards: each stream's segmenter runs on its publisher's shard (`legs::hls`) and
//! publishes an immutable snapshot (segments, parts, the rendered playlist) here; a request on
//! any shard reads the latest one. A blocked playlist reload or preload-hint request (RFC
//! 8216bis §6.2.5.2, §6.2.6) parks its waker on the stream and is woken by the next publish,
//! whichever thread it comes from (glommio tasks accept foreign wake-ups). One lock per stream,
//! taken per request and per finished part, never per packet.

use std::collections::HashMap;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use crate::media::hls::{HlsSnapshot, Segmenter};

/// How long a client counts as watching after its last playlist request.
const CLIENT_WINDOW: Duration = Duration::from_secs(10);
/// Clients remembered per stream (a flood of addresses cannot grow it).
const MAX_CLIENTS: usize = 65_536;
/// A stream whose publisher left is forgotten this long after (players see its last
/// playlist until then; a new publisher within it continues the numbering).
const LINGER: Duration = Duration::from_secs(60);

#[derive(Debug, Default)]
struct Inner {
    snapshot: Option<Arc<HlsSnapshot>>,
    wakers: Vec<Waker>,
    /// The segmenter between publisher sessions, so a new session continues the media
    /// sequence with a discontinuity.
    parked: Option<Segmenter>,
    /// A publisher's segmenter is running (on some shard).
    live: bool,
    ended_at: Option<Instant>,
    clients: HashMap<IpAddr, Instant>,
}

/// One stream's HLS state, shared by every shard.
#[derive(Debug, Default)]
pub struct HlsStream {
    inner: Mutex<Inner>,
}

impl HlsStream {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A segmenter finished a part or segment.
    pub fn publish(&self, snap: Arc<HlsSnapshot>) {
        let wakers = {
            let mut g = self.lock();
            g.snapshot = Some(snap);
            std::mem::take(&mut g.wakers)
        };
        for w in wakers {
            w.wake();
        }
    }

    pub fn snapshot(&self) -> Option<Arc<HlsSnapshot>> {
        self.lock().snapshot.clone()
    }

    /// A publisher session starts: the segmenter to continue, if an earlier session left one.
    pub fn start(&self) -> Option<Segmenter> {
        let mut g = self.lock();
        g.live = true;
        g.ended_at = None;
        g.parked.take()
    }

    /// The session ended; its segmenter waits for the next one.
    pub fn end(&self, seg: Segmenter, now: Instant) {
        let mut g = self.lock();
        g.live = false;
        g.ended_at = Some(now);
        g.parked = Some(seg);
    }

    pub fn is_live(&self) -> bool {
        self.lock().live
    }

    /// A playlist request from `ip`.
    pub fn seen(&self, ip: IpAddr, now: Instant) {
        let mut g = self.lock();
        if g.clients.len() >= MAX_CLIENTS && !g.clients.contains_key(&ip) {
            g.clients
                .retain(|_, t| now.saturating_duration_since(*t) < CLIENT_WINDOW);
            if g.clients.len() >= MAX_CLIENTS {
                return;
            }
        }
        g.clients.insert(ip, now);
    }

    /// Addresses that asked for the playlist in the last [`CLIENT_WINDOW`].
    pub fn clients(&self, now: Instant) -> usize {
        let mut g = self.lock();
        g.clients
            .retain(|_, t| now.saturating_duration_since(*t) < CLIENT_WINDOW);
        g.clients.len()
    }

    /// Resolves once a snapshot newer than `generation` is published.
    pub fn changed(self: &Arc<Self>, generation: Option<u64>) -> Changed {
        Changed {
            stream: self.clone(),
            generation,
        }
    }
}

pub struct Changed {
    stream: Arc<HlsStream>,
    generation: Option<u64>,
}

impl Future for Changed {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut g = self.stream.lock();
        let now = g.snapshot.as_ref().map(|s| s.generation());
        if now != self.generation {
            return Poll::Ready(());
        }
        if !g.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            g.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

/// Every stream's HLS state, by name.
#[derive(Debug, Default)]
pub struct HlsDirectory {
    streams: Mutex<HashMap<String, Arc<HlsStream>>>,
}

impl HlsDirectory {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Arc<HlsStream>>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self, name: &str) -> Option<Arc<HlsStream>> {
        self.lock().get(name).cloned()
    }

    /// The stream's entry, made on its first publisher.
    pub fn open(&self, name: &str) -> Arc<HlsStream> {
        self.lock().entry(name.to_string()).or_default().clone()
    }

    /// Forgets streams whose publisher left more than [`LINGER`] ago.
    pub fn prune(&self, now: Instant) {
        self.lock().retain(|_, s| {
            let g = s.lock();
            g.live
                || g.ended_at
                    .is_none_or(|t| now.saturating_duration_since(t) < LINGER)
        });
    }

    /// Watching clients per live stream.
    pub fn clients(&self, now: Instant) -> HashMap<String, usize> {
        self.lock()
            .iter()
            .map(|(n, s)| (n.clone(), s.clients(now)))
            .collect()
    }
}

/// Waits (at most `limit`) until `ready` answers from the stream's latest snapshot. `None`:
/// the limit passed first.
pub async fn wait_until<T>(
    stream: &Arc<HlsStream>,
    limit: Duration,
    ready: impl Fn(&HlsSnapshot) -> Option<T>,
) -> Option<T> {
    let deadline = crate::shard::engine::clock() + limit;
    loop {
        let snap = stream.snapshot();
        if let Some(t) = snap.as_deref().and_then(&ready) {
            return Some(t);
        }
        let left = deadline.saturating_duration_since(crate::shard::engine::clock());
        if left.is_zero() {
            return None;
        }
        let changed = stream.changed(snap.map(|s| s.generation()));
        let timed_out = async {
            glommio::timer::sleep(left).await;
        };
        futures_lite::future::or(changed, timed_out).await;
    }
}
