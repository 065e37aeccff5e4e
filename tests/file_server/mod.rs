//! A small SRT server built on srtrelay's core, for interop tests: it stores what publishers
//! (`m=publish`) send, per resource, and serves a byte buffer to requesters (`m=request`),
//! paced, followed by TS null packets, then closes with SHUTDOWN.
//!
//! The filler matters: a libsrt receiver discards whatever it has not yet delivered when the
//! peer closes (docs/interop-recipes.md), so the server keeps the stream alive for two
//! latencies after the last byte, and only then closes.

// The server is a driver: it owns the clock (clippy.toml's ban is for the sans-IO core).
#![allow(clippy::disallowed_methods, dead_code)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use srtrelay::driver::BlockingDriver;
use srtrelay::srt::connection::Stats;
use srtrelay::srt::crypto::Encryption;
use srtrelay::srt::endpoint::{
    AccessControl, Admit, ConnId, Endpoint, EndpointConfig, EndpointEvent, EndpointStats,
};
use srtrelay::srt::handshake::{
    ConclusionRequest, Listener, ListenerConfig, RejectReason, StreamMode,
};

const TS_NULL: [u8; 188] = {
    let mut p = [0xFFu8; 188];
    p[0] = 0x47;
    p[1] = 0x1F;
    p[2] = 0xFF;
    p[3] = 0x10;
    p
};

#[derive(Clone)]
pub struct ServerConfig {
    pub latency: Duration,
    /// What requesters receive.
    pub serve: Arc<Vec<u8>>,
    /// Serving rate in bytes per second.
    pub serve_rate: u64,
    /// Resources callers may not use, and the reason they get.
    pub reject: Vec<(String, RejectReason)>,
    /// Encryption for publishers (`m=publish`) and requesters; unencrypted by default.
    pub publisher_encryption: Encryption,
    pub subscriber_encryption: Encryption,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            latency: Duration::from_millis(120),
            serve: Arc::new(Vec::new()),
            serve_rate: 2_000_000,
            reject: Vec::new(),
            publisher_encryption: Encryption::default(),
            subscriber_encryption: Encryption::default(),
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct ServerReport {
    /// Bytes received from publishers, by resource name.
    pub received: HashMap<String, Vec<u8>>,
    /// Statistics of every connection that closed.
    pub closed: Vec<Stats>,
    /// Statistics of the connections still open when the server stopped.
    pub open: Vec<Stats>,
    /// Requesters that were served the whole buffer.
    pub served: u32,
    pub endpoint: EndpointStats,
}

impl ServerReport {
    /// Every connection's statistics, closed or still open.
    pub fn all_stats(&self) -> impl Iterator<Item = &Stats> {
        self.closed.iter().chain(&self.open)
    }
}

pub struct FileServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<ServerReport>>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

struct Source {
    offset: usize,
    next_at: Instant,
    /// When the last byte of the buffer was queued: filler runs from then.
    done_at: Option<Instant>,
}

struct Policy {
    reject: Vec<(String, RejectReason)>,
    publisher: Encryption,
    subscriber: Encryption,
}

impl AccessControl for Policy {
    fn check(&mut self, req: &ConclusionRequest) -> Result<Admit, RejectReason> {
        let (resource, mode) = match req.stream_id() {
            Ok(Some(s)) => (s.resource.clone().unwrap_or_default(), s.mode),
            _ => (String::new(), None),
        };
        if let Some((_, reason)) = self.reject.iter().find(|(r, _)| *r == resource) {
            return Err(*reason);
        }
        let encryption = match mode {
            Some(StreamMode::Publish) => self.publisher.clone(),
            _ => self.subscriber.clone(),
        };
        Ok(Admit {
            encryption,
            ..Admit::default()
        })
    }
}

impl FileServer {
    pub fn start(cfg: ServerConfig) -> FileServer {
        let now = Instant::now();
        let listener_cfg = ListenerConfig {
            recv_latency: cfg.latency,
            peer_latency: cfg.latency,
            ..ListenerConfig::default()
        };
        let listener = Listener::new(*b"interop-test-key", now, listener_cfg);
        let mut endpoint = Endpoint::new(EndpointConfig::default(), Some(listener), now);
        endpoint.set_crypto_seed(os_random_seed());
        let bind = "127.0.0.1:0".parse().expect("literal address");
        let mut driver = BlockingDriver::bind(bind, endpoint).expect("bind test server");
        let addr = driver.local_addr().expect("bound");
        let stop = Arc::new(AtomicBool::new(false));
        let state = Arc::new(Mutex::new(ServerReport::default()));
        let (stop2, state2) = (stop.clone(), state.clone());
        let handle = std::thread::spawn(move || run(&mut driver, &cfg, &stop2, &state2));
        FileServer {
            addr,
            state,
            stop,
            handle: Some(handle),
        }
    }

    /// Bytes received so far for `resource`.
    pub fn received_len(&self, resource: &str) -> usize {
        self.state
            .lock()
            .expect("server state")
            .received
            .get(resource)
            .map_or(0, Vec::len)
    }

    /// Waits until `resource` has `len` bytes; `Err` with what it has after `timeout`.
    pub fn wait_for_len(&self, resource: &str, len: usize, timeout: Duration) -> Result<(), usize> {
        let deadline = Instant::now() + timeout;
        loop {
            let have = self.received_len(resource);
            if have >= len {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(have);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn report(&self) -> ServerReport {
        self.state.lock().expect("server state").clone()
    }

    /// Stops the server and returns what it saw.
    pub fn finish(mut self) -> ServerReport {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            h.join().expect("server thread panicked");
        }
        self.report()
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn run(
    driver: &mut BlockingDriver,
    cfg: &ServerConfig,
    stop: &AtomicBool,
    state: &Mutex<ServerReport>,
) {
    let mut policy = Policy {
        reject: cfg.reject.clone(),
        publisher: cfg.publisher_encryption.clone(),
        subscriber: cfg.subscriber_encryption.clone(),
    };
    let mut sinks: HashMap<ConnId, String> = HashMap::new();
    let mut sources: HashMap<ConnId, Source> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    let filler: Vec<u8> = TS_NULL.iter().copied().cycle().take(7 * 188).collect();
    let gap = Duration::from_nanos(1316 * 1_000_000_000 / cfg.serve_rate.max(1));
    while !stop.load(Ordering::Relaxed) {
        driver
            .turn(&mut policy, Duration::from_millis(1))
            .expect("socket I/O");
        let now = Instant::now();
        let mut st = state.lock().expect("server state");
        while let Some(ev) = driver.endpoint.poll_event() {
            match ev {
                EndpointEvent::Accepted { id, stream_id, .. } => {
                    let sid = stream_id.unwrap_or_default();
                    let name = sid.resource.clone().unwrap_or_default();
                    if sid.mode == Some(StreamMode::Publish) {
                        st.received.entry(name.clone()).or_default();
                        sinks.insert(id, name);
                    } else {
                        sources.insert(
                            id,
                            Source {
                                offset: 0,
                                next_at: now,
                                done_at: None,
                            },
                        );
                    }
                }
                EndpointEvent::Closed { id, stats, .. } => {
                    sinks.remove(&id);
                    sources.remove(&id);
                    st.closed.push(*stats);
                }
                _ => {}
            }
        }
        for (&id, name) in &sinks {
            while let Some(d) = driver.endpoint.recv(id, now, &mut buf) {
                st.received
                    .get_mut(name)
                    .expect("created on accept")
                    .extend_from_slice(&buf[..d.len]);
            }
        }
        let mut done = Vec::new();
        for (&id, src) in sources.iter_mut() {
            while src.next_at <= now {
                let chunk = if src.offset < cfg.serve.len() {
                    let end = (src.offset + 1316).min(cfg.serve.len());
                    &cfg.serve[src.offset..end]
                } else {
                    &filler[..]
                };
                if driver.endpoint.send(id, now, chunk).is_err() {
                    break;
                }
                src.offset += chunk.len();
                src.next_at += gap;
            }
            if src.offset >= cfg.serve.len() && src.done_at.is_none() {
                src.done_at = Some(now);
            }
            // By then every file packet is delivered or given up on (TSBPD), and the libsrt
            // receiver has handed it to its output.
            if src
                .done_at
                .is_some_and(|t| now >= t + 2 * cfg.latency + Duration::from_millis(500))
            {
                done.push(id);
            }
        }
        for id in done {
            sources.remove(&id);
            st.served += 1;
            driver.endpoint.close(id);
        }
        st.endpoint = driver.endpoint.stats().clone();
    }
    let open = driver.endpoint.connection_ids().collect::<Vec<_>>();
    state.lock().expect("server state").open = open
        .into_iter()
        .filter_map(|id| driver.endpoint.connection(id).map(|c| c.stats()))
        .collect();
    // Let the SHUTDOWNs out.
    let _ = driver.flush();
}

/// 32 bytes from the OS for the endpoint's key generator (the driver's job, not the core's).
pub fn os_random_seed() -> [u8; 32] {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .expect("read /dev/urandom");
    seed
}
