//! A small SRT server built on srtrelay's core for interop tests: it stores what publishers
//! (`m=publish`) send, per resource, and serves a byte buffer to requesters (`m=request`),
//! paced, then closes with SHUTDOWN once everything is acknowledged.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use srtrelay::driver::BlockingDriver;
use srtrelay::srt::connection::Stats;
use srtrelay::srt::endpoint::{AcceptAll, ConnId, Endpoint, EndpointConfig, EndpointEvent, EndpointStats};
use srtrelay::srt::handshake::{Listener, ListenerConfig, StreamMode};

#[derive(Clone)]
pub struct ServerConfig {
    pub latency: Duration,
    /// What requesters receive.
    pub serve: Arc<Vec<u8>>,
    /// Gap between served packets.
    pub pace: Duration,
    pub bind: SocketAddr,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            latency: Duration::from_millis(120),
            serve: Arc::new(Vec::new()),
            pace: Duration::from_micros(500),
            bind: "127.0.0.1:0".parse().expect("literal address"),
        }
    }
}

#[derive(Debug, Default)]
pub struct ServerReport {
    /// Bytes received from publishers, by resource name.
    pub received: HashMap<String, Vec<u8>>,
    /// Statistics of every connection that closed.
    pub closed: Vec<Stats>,
    /// Requesters that got the whole buffer acknowledged.
    pub served_complete: u32,
    pub endpoint: EndpointStats,
}

pub struct FileServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<ServerReport>>,
}

struct Source {
    offset: usize,
    next_at: Instant,
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
        let endpoint = Endpoint::new(EndpointConfig::default(), Some(listener), now);
        let mut driver = BlockingDriver::bind(cfg.bind, endpoint).expect("bind test server");
        let addr = driver.local_addr().expect("bound");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let handle = std::thread::spawn(move || run(&mut driver, &cfg, &stop2));
        FileServer { addr, stop, handle: Some(handle) }
    }

    /// Stops the server and returns what it saw.
    pub fn finish(mut self) -> ServerReport {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.take().expect("joined once").join().expect("server thread panicked")
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn run(driver: &mut BlockingDriver, cfg: &ServerConfig, stop: &AtomicBool) -> ServerReport {
    let mut report = ServerReport::default();
    let mut sinks: HashMap<ConnId, String> = HashMap::new();
    let mut sources: HashMap<ConnId, Source> = HashMap::new();
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::Relaxed) {
        driver.turn(&mut AcceptAll, Duration::from_millis(2)).expect("socket I/O");
        let now = Instant::now();
        while let Some(ev) = driver.endpoint.poll_event() {
            match ev {
                EndpointEvent::Accepted { id, stream_id, .. } => {
                    let sid = stream_id.unwrap_or_default();
                    let name = sid.resource.clone().unwrap_or_default();
                    if sid.mode == Some(StreamMode::Publish) {
                        report.received.entry(name.clone()).or_default();
                        sinks.insert(id, name);
                    } else {
                        sources.insert(id, Source { offset: 0, next_at: now });
                    }
                }
                EndpointEvent::Closed { id, stats, .. } => {
                    sinks.remove(&id);
                    sources.remove(&id);
                    report.closed.push(*stats);
                }
                _ => {}
            }
        }
        for (&id, name) in &sinks {
            while let Some(d) = driver.endpoint.recv(id, now, &mut buf) {
                report.received.get_mut(name).expect("created on accept").extend_from_slice(&buf[..d.len]);
            }
        }
        let mut done = Vec::new();
        for (&id, src) in sources.iter_mut() {
            while src.offset < cfg.serve.len() && src.next_at <= now {
                let end = (src.offset + 1316).min(cfg.serve.len());
                if driver.endpoint.send(id, now, &cfg.serve[src.offset..end]).is_err() {
                    break;
                }
                src.offset = end;
                src.next_at += cfg.pace;
            }
            let acked = driver.endpoint.connection(id).is_some_and(|c| c.stats().pkt_snd_buf == 0);
            if src.offset >= cfg.serve.len() && acked {
                done.push(id);
            }
        }
        for id in done {
            sources.remove(&id);
            report.served_complete += 1;
            driver.endpoint.close(id);
        }
    }
    report.endpoint = driver.endpoint.stats().clone();
    report
}
