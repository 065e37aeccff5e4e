//! Child processes for tests: captured stderr, bounded waits, and a kill-on-drop guard.
//!
//! Owns: spawning a tool, collecting its stderr (and optionally stdout) on a reader thread,
//! waiting for a stderr message or for exit with a deadline, graceful SIGTERM then SIGKILL.
//! Must not: block without a deadline, or leave a child running after its guard is dropped
//! (a panicking test would otherwise leak listeners that hold ports for later tests).

use std::io::{ErrorKind, Read};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// How often exit status is polled while waiting: std has no wait-with-timeout.
const POLL: Duration = Duration::from_millis(5);
/// How long [`run_bounded`] waits for an exited child's pipes to be read to their end.
const PIPE_DRAIN: Duration = Duration::from_secs(10);
/// How much of a tool's stderr goes into a panic message (the end is the interesting part).
const DIAG_TAIL_BYTES: usize = 6000;

/// A running child. Dropping it kills the child (SIGKILL) if it is still running.
pub struct Proc {
    name: String,
    child: Child,
    stderr: Arc<Captured>,
    stdout: Option<Arc<Captured>>,
    status: Option<ExitStatus>,
}

/// A handle on a child's stderr that another thread can wait on (e.g. a feeder waiting for
/// "connected" before it writes).
#[derive(Clone)]
pub struct StderrWatch(Arc<Captured>);

impl StderrWatch {
    /// `true` once stderr contains `needle`; `false` at the deadline or when stderr closes.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> bool {
        self.0.wait_for(needle, Instant::now() + timeout).0
    }
}

/// Result of [`run_bounded`].
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Proc {
    /// `bin` (an srtrelay binary) on `config`, its log level as the file says (`RUST_LOG`
    /// cleared), returned once its stderr shows `ready` (e.g. "listening on"); panics with the
    /// log so far if it does not within `timeout`.
    pub fn start_relay(bin: &Path, config: &Path, ready: &str, timeout: Duration) -> Proc {
        let mut cmd = Command::new(bin);
        cmd.arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        let mut relay = Proc::spawn("srtrelay", &mut cmd);
        relay
            .wait_for_stderr(ready, timeout)
            .unwrap_or_else(|e| panic!("{e}"));
        relay
    }

    /// Spawns `cmd` with stderr captured. Stdin and stdout are whatever `cmd` says (std's
    /// default is to inherit; recipes set them explicitly).
    pub fn spawn(name: &str, cmd: &mut Command) -> Proc {
        Self::spawn_inner(name, cmd, false)
    }

    /// Like [`Proc::spawn`], and stdout is captured too (for tools that print results).
    pub fn spawn_capturing_stdout(name: &str, cmd: &mut Command) -> Proc {
        Self::spawn_inner(name, cmd, true)
    }

    fn spawn_inner(name: &str, cmd: &mut Command, capture_stdout: bool) -> Proc {
        cmd.stderr(Stdio::piped());
        if capture_stdout {
            cmd.stdout(Stdio::piped());
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {name} ({:?}): {e}", cmd.get_program()));
        let stderr = Captured::start(name, child.stderr.take());
        let stdout = capture_stdout.then(|| Captured::start(name, child.stdout.take()));
        Proc {
            name: name.to_owned(),
            child,
            stderr,
            stdout,
            status: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The child's stdin; panics unless the command was given `Stdio::piped()` for stdin.
    pub fn take_stdin(&mut self) -> ChildStdin {
        self.child
            .stdin
            .take()
            .unwrap_or_else(|| panic!("{}: stdin is not piped", self.name))
    }

    pub fn stderr_watch(&self) -> StderrWatch {
        StderrWatch(Arc::clone(&self.stderr))
    }

    /// Everything the child wrote to stderr so far (lossy UTF-8).
    pub fn stderr_text(&self) -> String {
        self.stderr.text()
    }

    /// Waits (bounded) until the child's stderr reached end-of-file: after it exited or was
    /// killed, its last lines may still be on the way to the reader thread.
    pub fn wait_for_stderr_eof(&self, timeout: Duration) {
        self.stderr.wait_closed(Instant::now() + timeout);
    }

    /// Everything the child wrote to stdout so far, if stdout is captured.
    pub fn stdout_text(&self) -> String {
        self.stdout.as_ref().map(|c| c.text()).unwrap_or_default()
    }

    /// Waits until stderr contains `needle`. Fails early if the child exits (or closes stderr)
    /// first; the error carries the diagnostics.
    pub fn wait_for_stderr(&mut self, needle: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let (found, closed) = self
                .stderr
                .wait_for(needle, deadline.min(Instant::now() + POLL * 20));
            if found {
                return Ok(());
            }
            if closed || self.try_wait().is_some() {
                // Give the reader a moment to collect the last bytes before reporting.
                let _ = self.wait_timeout(Duration::from_millis(100));
                if self.stderr.text().contains(needle) {
                    return Ok(());
                }
                return Err(format!(
                    "{} exited before printing {needle:?}\n{}",
                    self.name,
                    self.diagnostics()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} did not print {needle:?} within {timeout:?}\n{}",
                    self.name,
                    self.diagnostics()
                ));
            }
        }
    }

    /// Exit status if the child has exited (reaps it).
    pub fn try_wait(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self
                .child
                .try_wait()
                .unwrap_or_else(|e| panic!("{}: wait failed: {e}", self.name));
        }
        self.status
    }

    /// Waits up to `timeout` for the child to exit on its own.
    pub fn wait_timeout(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                // The reader thread drains the pipe after exit; wait briefly so that the
                // diagnostics include the final lines.
                self.stderr
                    .wait_closed(Instant::now() + Duration::from_millis(200));
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(POLL);
        }
    }

    /// Sends `signal` (e.g. `libc::SIGTERM`) unless the child has already been reaped.
    pub fn signal(&mut self, signal: i32) {
        if self.try_wait().is_some() {
            return;
        }
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits pid_t");
        // SAFETY: kill(2) has no memory-safety preconditions. The child is not reaped yet
        // (checked just above), so the pid still names our child and not a recycled process.
        unsafe {
            libc::kill(pid, signal);
        }
    }

    /// SIGTERM, then SIGKILL if the child is still alive after `grace`. libsrt tools close
    /// their sockets on SIGTERM (the peer sees a SHUTDOWN at once instead of a 5 s idle timeout).
    pub fn terminate(&mut self, grace: Duration) -> ExitStatus {
        self.signal(libc::SIGTERM);
        match self.wait_timeout(grace) {
            Some(status) => status,
            None => self.kill(),
        }
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) -> ExitStatus {
        if let Some(status) = self.try_wait() {
            return status;
        }
        let _ = self.child.kill();
        // After SIGKILL the kernel reaps promptly; this wait is bounded in practice.
        let status = self
            .child
            .wait()
            .unwrap_or_else(|e| panic!("{}: wait failed: {e}", self.name));
        self.status = Some(status);
        self.stderr
            .wait_closed(Instant::now() + Duration::from_millis(200));
        status
    }

    /// Waits for exit and panics (with stderr) on timeout or a non-zero exit status.
    pub fn expect_success(&mut self, timeout: Duration) -> ExitStatus {
        match self.wait_timeout(timeout) {
            Some(status) if status.success() => status,
            Some(status) => panic!("{} failed with {status}\n{}", self.name, self.diagnostics()),
            None => {
                self.kill();
                panic!(
                    "{} did not finish within {timeout:?}\n{}",
                    self.name,
                    self.diagnostics()
                )
            }
        }
    }

    /// Name, pid, status and the tail of stderr, for assertion messages.
    pub fn diagnostics(&self) -> String {
        let text = self.stderr.text();
        let mut start = text.len().saturating_sub(DIAG_TAIL_BYTES);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        let status = self.status.map_or("running".to_owned(), |s| s.to_string());
        format!(
            "--- {} (pid {}, {status}) stderr tail ---\n{}\n--- end ---",
            self.name,
            self.child.id(),
            &text[start..]
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.status.is_none() && self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to completion with stdout and stderr captured; panics if it runs past `timeout`.
pub fn run_bounded(name: &str, cmd: &mut Command, timeout: Duration) -> Finished {
    cmd.stdin(Stdio::null());
    let mut proc = Proc::spawn_capturing_stdout(name, cmd);
    let Some(status) = proc.wait_timeout(timeout) else {
        proc.kill();
        panic!(
            "{name} did not finish within {timeout:?}\n{}",
            proc.diagnostics()
        );
    };
    // The child has exited, but its pipes' reader threads may not have run yet on a busy
    // machine: wait for both to reach end-of-file (bounded), or a tool's output reads as empty
    // (seen under load: "cannot read the libsrt version from: " with nothing after it).
    let drained = Instant::now() + PIPE_DRAIN;
    proc.stderr.wait_closed(drained);
    if let Some(out) = &proc.stdout {
        out.wait_closed(drained);
    }
    Finished {
        status,
        stdout: proc.stdout_text(),
        stderr: proc.stderr_text(),
    }
}

/// Bytes read from one pipe by a background thread.
struct Captured {
    state: Mutex<(Vec<u8>, bool)>,
    changed: Condvar,
}

impl Captured {
    fn start(name: &str, pipe: Option<impl Read + Send + 'static>) -> Arc<Captured> {
        let captured = Arc::new(Captured {
            state: Mutex::new((Vec::new(), false)),
            changed: Condvar::new(),
        });
        let Some(mut pipe) = pipe else {
            captured.close();
            return captured;
        };
        let sink = Arc::clone(&captured);
        // Detached on purpose: it ends when the pipe closes, which the child's exit guarantees.
        thread::Builder::new()
            .name(format!("{name}-pipe"))
            .spawn(move || {
                let mut buf = [0u8; 8192];
                loop {
                    match pipe.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            let mut state = sink.state.lock().expect("pipe buffer lock");
                            state.0.extend_from_slice(&buf[..n]);
                            sink.changed.notify_all();
                        }
                        Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                sink.close();
            })
            .expect("spawn pipe reader thread");
        captured
    }

    fn close(&self) {
        self.state.lock().expect("pipe buffer lock").1 = true;
        self.changed.notify_all();
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.state.lock().expect("pipe buffer lock").0).into_owned()
    }

    /// Returns (needle found, pipe closed) once either holds or at `deadline`.
    fn wait_for(&self, needle: &str, deadline: Instant) -> (bool, bool) {
        let mut state = self.state.lock().expect("pipe buffer lock");
        loop {
            let found = String::from_utf8_lossy(&state.0).contains(needle);
            let now = Instant::now();
            if found || state.1 || now >= deadline {
                return (found, state.1);
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .expect("pipe buffer lock")
                .0;
        }
    }

    fn wait_closed(&self, deadline: Instant) {
        let mut state = self.state.lock().expect("pipe buffer lock");
        while !state.1 {
            let now = Instant::now();
            if now >= deadline {
                return;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .expect("pipe buffer lock")
                .0;
        }
    }
}
