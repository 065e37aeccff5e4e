//! Sessions issued over HTTP, redeemed by real libsrt callers (ffmpeg) at an SRT endpoint whose
//! admission is the session store: the path the engine's admission will take.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use srtrelay::access::{Mode, SessionStore};
use srtrelay::driver::BlockingDriver;
use srtrelay::legs::srt::admission::{access_mode, denied_reason};
use srtrelay::srt::endpoint::{AccessControl, Admit, Endpoint, EndpointConfig};
use srtrelay::srt::handshake::{ConclusionRequest, Listener, ListenerConfig, RejectReason};

use super::harness::*;
use super::support;

/// Each admission decision: resource, and `Ok` or the reject code.
type Decisions = Arc<Mutex<Vec<(String, Result<(), u32>)>>>;

/// An SRT listener whose admission is `SessionStore::redeem`, the way the engine's will be:
/// resource `r`, mode `m` (absent means request, the draft's default) and session `s` from the
/// Stream ID.
struct Gate {
    store: Arc<SessionStore>,
    decisions: Decisions,
}

impl AccessControl for Gate {
    fn check(&mut self, req: &ConclusionRequest) -> Result<Admit, RejectReason> {
        let sid = req.stream_id().as_ref().ok().and_then(|s| s.as_ref());
        let resource = sid.and_then(|s| s.resource.clone()).unwrap_or_default();
        let mode = sid
            .and_then(|s| s.mode)
            .map_or(Some(Mode::Request), access_mode)
            .ok_or(RejectReason::BadMode)?;
        let session = sid.and_then(|s| s.session.as_deref());
        let result = self
            .store
            .redeem(&resource, mode, session, BlockingDriver::now());
        let result = result.map_err(denied_reason);
        let code = result.map_err(|r| r.code());
        self.decisions.lock().unwrap().push((resource, code));
        result.map(|()| Admit::default())
    }
}

struct GateServer {
    addr: SocketAddr,
    decisions: Decisions,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl GateServer {
    fn start(store: Arc<SessionStore>) -> GateServer {
        let now = BlockingDriver::now();
        let listener = Listener::new([3; 16], now, ListenerConfig::default());
        let endpoint = Endpoint::new(EndpointConfig::default(), Some(listener), now);
        let mut driver =
            BlockingDriver::bind("127.0.0.1:0".parse().unwrap(), endpoint).expect("bind SRT");
        let addr = driver.local_addr().unwrap();
        let decisions = Arc::new(Mutex::new(Vec::new()));
        let mut gate = Gate {
            store,
            decisions: decisions.clone(),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                driver
                    .turn(&mut gate, Duration::from_millis(5))
                    .expect("SRT driver");
                while driver.endpoint.poll_event().is_some() {}
            }
        });
        GateServer {
            addr,
            decisions,
            stop,
            thread: Some(thread),
        }
    }

    fn decisions_for(&self, resource: &str) -> Vec<Result<(), u32>> {
        let d = self.decisions.lock().unwrap();
        d.iter()
            .filter(|(r, _)| r == resource)
            .map(|(_, c)| *c)
            .collect()
    }
}

impl Drop for GateServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A libsrt caller (ffmpeg) that must be refused: it fails to connect, and the gate refused
/// it with `code`.
fn refused(gate: &GateServer, name: &str, streamid: &str, code: u32) {
    use support::{media, recipes, srt_url::SrtUrl};
    let url = SrtUrl::caller(gate.addr)
        .with_streamid(streamid)
        .with_connect_timeout(Duration::from_secs(2));
    let out = media::scratch_dir(&format!("http_api_{name}")).join("out.ts");
    let mut sub = recipes::subscribe_with_ffmpeg(&url, &out);
    let exit = sub
        .wait_exit(Duration::from_secs(10))
        .expect("ffmpeg gives up");
    assert!(!exit.success(), "{name}: ffmpeg must fail to connect");
    let decisions = gate.decisions_for(resource_of(streamid));
    assert!(!decisions.is_empty(), "{name}: the gate saw no handshake");
    assert!(
        decisions.iter().all(|d| *d == Err(code)),
        "{name}: {decisions:?}"
    );
    gate.decisions.lock().unwrap().clear();
}

/// A libsrt caller (ffmpeg) that must be admitted: the gate accepts its one handshake and
/// ffmpeg stays connected (it waits for data the gate never sends).
fn admitted(gate: &GateServer, name: &str, streamid: &str) {
    use support::{media, recipes, srt_url::SrtUrl};
    let resource = resource_of(streamid);
    let url = SrtUrl::caller(gate.addr).with_streamid(streamid);
    let out = media::scratch_dir(&format!("http_api_{name}")).join("out.ts");
    let mut sub = recipes::subscribe_with_ffmpeg(&url, &out);
    let deadline = start_instant() + Duration::from_secs(10);
    while gate.decisions_for(resource).is_empty() && start_instant() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(gate.decisions_for(resource), vec![Ok(())], "{name}");
    // Still connected a moment later: not rejected after all.
    assert_eq!(
        sub.wait_exit(Duration::from_millis(500)),
        None,
        "{name}: ffmpeg exited"
    );
    sub.proc().kill();
    gate.decisions.lock().unwrap().clear();
}

fn resource_of(streamid: &str) -> &str {
    streamid
        .split([':', ','])
        .find_map(|kv| kv.strip_prefix("r="))
        .expect("r= in the stream id")
}

#[test]
fn libsrt_callers_are_admitted_once_per_session_and_refused_without_one() {
    let api = Api::start();
    let gate = GateServer::start(api.store.clone());
    let (status, s) = api.post_session("live/cam1", Some(VIEWER), r#"{"mode":"request"}"#);
    assert_eq!(status, 200, "{s}");
    let streamid = s["streamid"].as_str().unwrap().to_string();

    // The session from the API admits a real libsrt caller once.
    admitted(&gate, "admitted", &streamid);

    // Reused: 1403. No session on a protected stream: 1401. A made-up one: 1403.
    refused(&gate, "reused", &streamid, 1403);
    refused(&gate, "missing", "#!::r=live/cam1,m=request", 1401);
    let made_up = format!("#!::r=live/cam1,m=request,s={}", "ab".repeat(16));
    refused(&gate, "unknown", &made_up, 1403);

    // An open stream needs no session.
    admitted(&gate, "open", "#!::r=public/feed,m=request");

    let scrape = api.scrape();
    let rej = |reason| {
        metric(
            &scrape,
            "srt_access_rejections_total",
            &[("reason", reason)],
        )
    };
    assert!(rej("reused") >= 1.0);
    assert!(rej("missing") >= 1.0);
    assert!(rej("unknown") >= 1.0);
    assert_eq!(
        metric(&scrape, "srt_access_sessions_redeemed_total", &[]),
        1.0
    );
}
