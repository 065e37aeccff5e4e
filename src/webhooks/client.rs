//! The callback thread: one OS thread running a current-thread tokio runtime; every callback
//! is a task there (hyper's HTTP/1 client, a new connection per call: callbacks are rare and
//! a kept-alive connection to a server that restarted would fail one of them). Shards hand
//! calls over without waiting: a permit from `max_pending` or an immediate refusal.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::Request;
use hyper_util::rt::TokioIo;
use log::{info, warn};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

use super::{Ask, Deny, Hook, Verdict};
use crate::config::{HookUrl, WebhookSettings};

/// Counters of one callback (relaxed atomics; read for metrics).
#[derive(Debug, Default)]
pub struct HookCounts {
    /// 2xx answers (admissions: allowed; notifications: delivered).
    pub ok: AtomicU64,
    /// Other statuses.
    pub denied: AtomicU64,
    pub timeouts: AtomicU64,
    pub failures: AtomicU64,
    /// Refused at hand-over: `max_pending` callbacks were waiting.
    pub busy: AtomicU64,
    /// Notification attempts after the first.
    pub retries: AtomicU64,
    /// Notifications that failed every attempt.
    pub given_up: AtomicU64,
}

#[derive(Debug, Default)]
pub struct WebhookCounters {
    pub hooks: [HookCounts; 5],
}

impl WebhookCounters {
    pub fn of(&self, h: Hook) -> &HookCounts {
        &self.hooks[h.index()]
    }

    /// In `telemetry::WEBHOOK_OUTCOMES` order.
    pub fn totals(&self) -> [[u64; 7]; 5] {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        self.hooks.each_ref().map(|h| {
            [
                g(&h.ok),
                g(&h.denied),
                g(&h.timeouts),
                g(&h.failures),
                g(&h.busy),
                g(&h.retries),
                g(&h.given_up),
            ]
        })
    }

    pub fn add(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

/// What to do with the answer of an admission callback (runs on the callback thread: it must
/// only hand the verdict on, e.g. into a shard's inbox).
pub type Reply = Box<dyn FnOnce(Verdict) + Send>;

struct Job {
    ask: Ask,
    reply: Option<Reply>,
    _permit: OwnedSemaphorePermit,
}

pub struct WebhookClient {
    settings: WebhookSettings,
    tx: mpsc::UnboundedSender<Job>,
    permits: Arc<Semaphore>,
    pub counters: Arc<WebhookCounters>,
}

impl WebhookClient {
    /// Starts the callback thread.
    pub fn start(settings: WebhookSettings) -> io::Result<Arc<WebhookClient>> {
        let (tx, rx) = mpsc::unbounded_channel();
        let counters = Arc::new(WebhookCounters::default());
        let client = Arc::new(WebhookClient {
            permits: Arc::new(Semaphore::new(settings.max_pending)),
            settings: settings.clone(),
            tx,
            counters: counters.clone(),
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        std::thread::Builder::new()
            .name("webhooks".into())
            .spawn(move || rt.block_on(run(rx, settings, counters)))?;
        Ok(client)
    }

    pub fn settings(&self) -> &WebhookSettings {
        &self.settings
    }

    /// Whether `hook` is configured.
    pub fn has(&self, hook: Hook) -> bool {
        url_of(&self.settings, hook).is_some()
    }

    /// Hands an admission callback over; `reply` gets the verdict later. `Err(Busy)` at once
    /// when `max_pending` are waiting (counted).
    pub fn decide(&self, ask: Ask, reply: Reply) -> Result<(), Deny> {
        self.submit(ask, Some(reply))
    }

    /// Sends a notification in the background, if that callback is configured.
    pub fn notify(&self, ask: Ask) {
        if self.has(ask.hook) {
            let _ = self.submit(ask, None);
        }
    }

    fn submit(&self, ask: Ask, reply: Option<Reply>) -> Result<(), Deny> {
        let c = self.counters.of(ask.hook);
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            WebhookCounters::add(&c.busy);
            return Err(Deny::Busy);
        };
        self.tx
            .send(Job {
                ask,
                reply,
                _permit: permit,
            })
            .map_err(|_| {
                WebhookCounters::add(&c.failures);
                Deny::Failed
            })
    }
}

fn url_of(s: &WebhookSettings, hook: Hook) -> Option<&HookUrl> {
    match hook {
        Hook::Publish => s.on_publish.as_ref(),
        Hook::Play => s.on_play.as_ref(),
        Hook::PublishDone => s.on_publish_done.as_ref(),
        Hook::PlayDone => s.on_play_done.as_ref(),
        Hook::RecordDone => s.on_record_done.as_ref(),
    }
}

async fn run(
    mut rx: mpsc::UnboundedReceiver<Job>,
    settings: WebhookSettings,
    counters: Arc<WebhookCounters>,
) {
    let settings = Arc::new(settings);
    while let Some(job) = rx.recv().await {
        tokio::spawn(serve(job, settings.clone(), counters.clone()));
    }
}

async fn serve(job: Job, settings: Arc<WebhookSettings>, counters: Arc<WebhookCounters>) {
    let hook = job.ask.hook;
    let Some(url) = url_of(&settings, hook) else {
        // An admission for a callback that is not configured: nothing forbids it.
        if let Some(reply) = job.reply {
            reply(Verdict::Allow);
        }
        return;
    };
    let c = counters.of(hook);
    let body = Bytes::from(job.ask.body());
    let attempts = if hook.decides() {
        1
    } else {
        settings.notify_retries + 1
    };
    let mut verdict = Verdict::Deny(Deny::Failed);
    for attempt in 0..attempts {
        if attempt > 0 {
            WebhookCounters::add(&c.retries);
            tokio::time::sleep(settings.retry_delay).await;
        }
        verdict = match tokio::time::timeout(settings.timeout, call(url, body.clone())).await {
            Ok(Ok(status)) if (200..300).contains(&status) => Verdict::Allow,
            Ok(Ok(status)) => Verdict::Deny(Deny::Status(status)),
            Ok(Err(e)) => {
                info!("webhook {} to {url:?} failed: {e}", hook.as_str());
                Verdict::Deny(Deny::Failed)
            }
            Err(_) => Verdict::Deny(Deny::Timeout),
        };
        match verdict {
            Verdict::Allow => WebhookCounters::add(&c.ok),
            Verdict::Deny(Deny::Status(_)) => WebhookCounters::add(&c.denied),
            Verdict::Deny(Deny::Timeout) => WebhookCounters::add(&c.timeouts),
            Verdict::Deny(_) => WebhookCounters::add(&c.failures),
        }
        if verdict == Verdict::Allow {
            break;
        }
    }
    match job.reply {
        Some(reply) => reply(verdict),
        None if verdict != Verdict::Allow => {
            WebhookCounters::add(&c.given_up);
            warn!(
                "webhook {} for {:?} to {url:?}: no 2xx after {attempts} attempts ({verdict:?})",
                hook.as_str(),
                job.ask.stream
            );
        }
        None => {}
    }
}

/// One POST; the status of the answer (its body is not read).
async fn call(url: &HookUrl, body: Bytes) -> Result<u16, Box<dyn std::error::Error + Send + Sync>> {
    let addr = tokio::net::lookup_host((url.host.as_str(), url.port))
        .await?
        .next()
        .ok_or("no address")?;
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let authority = if url.port == 80 {
        url.host.clone()
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let req = Request::post(url.path_and_query.as_str())
        .header(hyper::header::HOST, authority)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header(
            hyper::header::USER_AGENT,
            concat!("srtrelay/", env!("CARGO_PKG_VERSION")),
        )
        .body(Full::new(body))?;
    let resp = sender.send_request(req).await?;
    Ok(resp.status().as_u16())
}

/// A wait that ends in a verdict: for callers on a shard that can await (RTMP, HTTP).
pub fn timeout_for(settings: &WebhookSettings) -> Duration {
    // The callback thread answers within its timeout; the margin covers the shard's inbox.
    settings.timeout + Duration::from_secs(1)
}
