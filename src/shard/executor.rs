//! Starting, stopping and joining the shards: one glommio `LocalExecutor` per configured core,
//! each on its own OS thread pinned to that core (glommio `Placement::Fixed`), running a future
//! built for its shard index.
//!
//! Owns thread lifetime and the stop signal. Must not own sockets or relay state: those are
//! moved into each shard's closure by the caller. Shards live and die together: when any
//! shard's thread ends, for whatever reason (returned, panicked, executor failed to start), the
//! stop signal is raised so the others wind down and `join` cannot hang on them.
//!
//! io_uring and RLIMIT_MEMLOCK: glommio refuses to start below 512 KiB of memlock, then
//! registers its `io_memory` buffer with each of its three rings (main, latency, poll), which
//! pins 3 x `io_memory` per executor, charged per user against RLIMIT_MEMLOCK unless the
//! process has CAP_IPC_LOCK (root does). Ring memory itself is charged to the memory cgroup
//! (Linux >= 5.12), not to memlock. Measured here as uid 65534 with the sandbox's 8 MiB limit:
//! 2 shards x 1 MiB pin 6 MiB and register; 2 x 2 MiB (12 MiB) fail with ENOMEM, and glommio
//! only logs a warning and runs without registered buffers. Those buffers serve glommio's file
//! DMA only; our UDP path uses its own buffers (`batch`), so [`ExecutorConfig::default`] asks
//! for 64 KiB (glommio's floor): 192 KiB pinned per shard, fine for any core count under 8 MiB.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use glommio::{LocalExecutorBuilder, Placement};

/// How to build the shards' executors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutorConfig {
    /// One shard per entry, pinned to that CPU id; shard `i` runs on `cores[i]`.
    pub cores: Vec<usize>,
    /// glommio `io_memory` per executor (registered with io_uring three times; see module doc).
    pub io_memory_bytes: usize,
    /// io_uring submission queue depth per ring.
    pub ring_depth: usize,
    /// Thread name prefix; threads are named `{name}-{index}`.
    pub name: String,
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        ExecutorConfig {
            cores: available_cores(),
            io_memory_bytes: 64 * 1024,
            ring_depth: 128,
            name: "shard".to_string(),
        }
    }
}

/// CPU ids this process may run on (its affinity mask), ascending.
pub fn available_cores() -> Vec<usize> {
    let mut ids: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.id)
        .collect();
    ids.sort_unstable();
    ids
}

/// What a shard's future gets: who it is and how to hear that it must stop.
#[derive(Debug, Clone)]
pub struct ShardContext {
    pub index: usize,
    pub core: usize,
    pub stop: StopSignal,
}

/// A one-way latch shared by all shards and the thread that started them. Raising it wakes
/// every task waiting in [`StopSignal::wait`], on any thread (glommio accepts foreign wakers).
/// Not on the packet path: the lock is taken only to park or to stop.
#[derive(Debug, Clone, Default)]
pub struct StopSignal(Arc<StopInner>);

#[derive(Debug, Default)]
struct StopInner {
    stopped: AtomicBool,
    wakers: Mutex<Vec<Waker>>,
}

/// Why the shards could not start or did not end cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    #[error("no cores configured for the shards")]
    NoCores,
    #[error("shard {index} (core {core}): cannot spawn its thread: {source}")]
    Spawn {
        index: usize,
        core: usize,
        source: std::io::Error,
    },
    #[error("shard {index} (core {core}): executor did not start: {message}")]
    Executor {
        index: usize,
        core: usize,
        message: String,
    },
    #[error("shard {index} (core {core}) panicked: {message}")]
    Panicked {
        index: usize,
        core: usize,
        message: String,
    },
}

/// Running shards. Dropping this without [`Shards::join`] raises the stop signal and detaches
/// the threads (they end on their own once they observe it).
#[derive(Debug)]
pub struct Shards<T> {
    threads: Vec<(usize, std::thread::JoinHandle<Result<T, String>>)>,
    stop: StopSignal,
}

/// Starts one shard per `cfg.cores` entry. `make(i)` runs on the calling thread, in index
/// order, and returns shard `i`'s entry point: a `Send` closure (move the shard's socket and
/// state into it) that is called on the shard's thread, inside its executor, and returns the
/// shard's (non-`Send`) main future. If a shard cannot be started, the ones already running are
/// stopped and joined before the error is returned.
pub fn start<M, G, Fut, T>(cfg: &ExecutorConfig, mut make: M) -> Result<Shards<T>, ShardError>
where
    M: FnMut(usize) -> G,
    G: FnOnce(ShardContext) -> Fut + Send + 'static,
    Fut: Future<Output = T> + 'static,
    T: Send + 'static,
{
    if cfg.cores.is_empty() {
        return Err(ShardError::NoCores);
    }
    let stop = StopSignal::default();
    let mut shards = Shards {
        threads: Vec::with_capacity(cfg.cores.len()),
        stop: stop.clone(),
    };
    for (index, &core) in cfg.cores.iter().enumerate() {
        let entry = make(index);
        let ctx = ShardContext {
            index,
            core,
            stop: stop.clone(),
        };
        let builder = LocalExecutorBuilder::new(Placement::Fixed(core))
            .name(&format!("{}-{index}", cfg.name))
            .io_memory(cfg.io_memory_bytes)
            .ring_depth(cfg.ring_depth);
        let spawned = std::thread::Builder::new()
            .name(format!("{}-{index}", cfg.name))
            .spawn(move || {
                // Raised however this thread ends, so the other shards never outlive it.
                let _raise = RaiseOnDrop(ctx.stop.clone());
                let executor = builder.make().map_err(|e| e.to_string())?;
                Ok(executor.run(entry(ctx)))
            });
        match spawned {
            Ok(handle) => shards.threads.push((core, handle)),
            Err(source) => {
                shards.stop();
                // The shards already running are stopped; their outcome is secondary.
                let _ = shards.join();
                return Err(ShardError::Spawn {
                    index,
                    core,
                    source,
                });
            }
        }
    }
    Ok(shards)
}

impl<T> Shards<T> {
    /// Asks every shard to stop (they observe it through their [`ShardContext::stop`]).
    pub fn stop(&self) {
        self.stop.stop();
    }

    /// The signal the shards watch; raise it from a signal handler thread, for example.
    pub fn stop_signal(&self) -> StopSignal {
        self.stop.clone()
    }

    pub fn len(&self) -> usize {
        self.threads.len()
    }

    pub fn is_empty(&self) -> bool {
        self.threads.is_empty()
    }

    /// Waits for every shard to end and returns their results in index order, or the first
    /// failure (by index) after all threads have been joined.
    pub fn join(mut self) -> Result<Vec<T>, ShardError> {
        let threads = std::mem::take(&mut self.threads);
        let mut results = Vec::with_capacity(threads.len());
        let mut first_err = None;
        for (index, (core, handle)) in threads.into_iter().enumerate() {
            let err = match handle.join() {
                Ok(Ok(v)) => {
                    results.push(v);
                    continue;
                }
                Ok(Err(message)) => ShardError::Executor {
                    index,
                    core,
                    message,
                },
                Err(payload) => ShardError::Panicked {
                    index,
                    core,
                    message: panic_message(payload.as_ref()),
                },
            };
            first_err.get_or_insert(err);
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(results),
        }
    }
}

impl<T> Drop for Shards<T> {
    fn drop(&mut self) {
        // After `join` there is nothing left to stop; otherwise do not leave shards running
        // that nobody can join any more.
        if !self.threads.is_empty() {
            self.stop.stop();
        }
    }
}

impl ShardContext {
    pub fn is_stopping(&self) -> bool {
        self.stop.is_stopped()
    }
}

impl StopSignal {
    /// Raises the signal (idempotent) and wakes every waiter.
    pub fn stop(&self) {
        if !self.0.stopped.swap(true, Ordering::SeqCst) {
            let wakers = std::mem::take(&mut *lock(&self.0.wakers));
            wakers.into_iter().for_each(Waker::wake);
        }
    }

    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    /// Resolves once the signal is raised.
    pub fn wait(&self) -> StopWait<'_> {
        StopWait(self)
    }
}

/// Future returned by [`StopSignal::wait`].
#[derive(Debug)]
pub struct StopWait<'a>(&'a StopSignal);

impl Future for StopWait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let inner = &(self.0).0;
        if inner.stopped.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        let mut wakers = lock(&inner.wakers);
        // Re-check under the lock: `stop` sets the flag before it drains the wakers under the
        // same lock, so either we see the flag or our waker is drained.
        if inner.stopped.load(Ordering::SeqCst) {
            return Poll::Ready(());
        }
        if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
            wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

struct RaiseOnDrop(StopSignal);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0.stop();
    }
}

/// A poisoned lock only means a waker panicked while we held it; the list is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_cores() -> ExecutorConfig {
        let cores = available_cores();
        ExecutorConfig {
            // On this 2-core machine: 0 and 1. On one core both shards share it.
            cores: vec![cores[0], cores[cores.len() - 1]],
            ..ExecutorConfig::default()
        }
    }

    #[test]
    fn two_shards_run_pinned_to_their_cores_and_return_in_index_order() {
        let cfg = two_cores();
        let shards = start(&cfg, |i| {
            move |ctx: ShardContext| async move {
                // The affinity mask of the executor thread itself.
                let mask: Vec<usize> = core_affinity::get_core_ids()
                    .unwrap()
                    .into_iter()
                    .map(|c| c.id)
                    .collect();
                (i, ctx.index, ctx.core, mask)
            }
        })
        .unwrap();
        assert_eq!(shards.len(), 2);
        let out = shards.join().unwrap();
        for (i, (made_for, index, core, mask)) in out.into_iter().enumerate() {
            assert_eq!((made_for, index, core), (i, i, cfg.cores[i]));
            assert_eq!(mask, vec![cfg.cores[i]], "shard {i} not pinned");
        }
    }

    #[test]
    fn stop_wakes_shards_parked_on_the_signal() {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let shards = start(&two_cores(), |_| {
            let ready = ready_tx.clone();
            move |ctx: ShardContext| async move {
                ready.send(ctx.index).unwrap();
                ctx.stop.wait().await;
                ctx.is_stopping()
            }
        })
        .unwrap();
        let mut ready: Vec<usize> = (0..2).map(|_| ready_rx.recv().unwrap()).collect();
        ready.sort_unstable();
        assert_eq!(ready, vec![0, 1]);
        assert!(!shards.stop_signal().is_stopped());
        shards.stop();
        assert_eq!(shards.join().unwrap(), vec![true, true]);
    }

    #[test]
    fn a_panicking_shard_stops_the_others_and_is_reported() {
        let shards = start(&two_cores(), |i| {
            move |ctx: ShardContext| async move {
                if i == 1 {
                    panic!("shard one fails");
                }
                ctx.stop.wait().await;
            }
        })
        .unwrap();
        match shards.join() {
            Err(ShardError::Panicked { index, message, .. }) => {
                assert_eq!((index, message.as_str()), (1, "shard one fails"));
            }
            other => panic!("expected a panic report, got {other:?}"),
        }
    }

    #[test]
    fn an_executor_that_cannot_start_is_reported_and_stops_the_rest() {
        let cfg = ExecutorConfig {
            cores: vec![available_cores()[0], usize::MAX],
            ..ExecutorConfig::default()
        };
        let shards = start(&cfg, |_| {
            |ctx: ShardContext| async move { ctx.stop.wait().await }
        })
        .unwrap();
        match shards.join() {
            Err(ShardError::Executor { index, core, .. }) => {
                assert_eq!((index, core), (1, usize::MAX));
            }
            other => panic!("expected an executor error, got {other:?}"),
        }
    }

    #[test]
    fn dropping_the_handle_stops_the_shards() {
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let shards = start(&two_cores(), |_| {
            let done = done_tx.clone();
            move |ctx: ShardContext| async move {
                ctx.stop.wait().await;
                done.send(ctx.index).unwrap();
            }
        })
        .unwrap();
        drop(shards);
        let mut done: Vec<usize> = (0..2).map(|_| done_rx.recv().unwrap()).collect();
        done.sort_unstable();
        assert_eq!(done, vec![0, 1]);
    }

    #[test]
    fn no_cores_is_an_error() {
        let cfg = ExecutorConfig {
            cores: vec![],
            ..ExecutorConfig::default()
        };
        let r = start(&cfg, |_| |_: ShardContext| async {});
        assert!(matches!(r, Err(ShardError::NoCores)));
    }

    #[test]
    fn stop_signal_wakes_a_waiter_registered_before_the_stop() {
        let stop = StopSignal::default();
        let flag = Arc::new(AtomicBool::new(false));
        let waker = Waker::from(Arc::new(FlagWaker(flag.clone())));
        let mut cx = Context::from_waker(&waker);
        let mut wait = stop.wait();
        assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        assert!(!flag.load(Ordering::SeqCst));
        stop.stop();
        assert!(flag.load(Ordering::SeqCst), "waker not called");
        assert!(Pin::new(&mut wait).poll(&mut cx).is_ready());
    }

    struct FlagWaker(Arc<AtomicBool>);

    impl std::task::Wake for FlagWaker {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
}
