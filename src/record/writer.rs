//! A recorder's writer: a task on the recorder's shard that takes its ops and writes the
//! segment files. Data goes through glommio's `BufferedFile` (io_uring: the shard's thread
//! never waits on the disk); creating directories, listing and deleting for retention run on
//! glommio's blocking pool. A disk error stops this recording only: it is logged with its
//! reason, counted, and the recorder leaves the stream.
//!
//! A driver: it reads the wall clock for retention ages.

use std::future::poll_fn;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use glommio::GlommioError;
use glommio::io::{BufferedFile, OpenOptions};
use log::{debug, info, warn};

use super::leg::{Op, RecorderRef};
use super::path::PathTemplate;
use super::retention::{RecordedFile, Retention};
use super::{ErrorReason, RecordEvent, RecordFailure, RecordShared, RecordingInfo, SegmentInfo};

/// Bytes gathered before a write (fewer when the queue runs dry).
const WRITE_CHUNK: usize = 256 << 10;
/// Sequence suffixes tried before giving up on a name.
const MAX_SEQ: u32 = 10_000;
/// Files retention looks at per pass, at most (a directory of a million files is not ours).
const MAX_LISTED: usize = 100_000;

struct OpenSegment {
    file: BufferedFile,
    path: PathBuf,
    pos: u64,
    at: Instant,
}

struct Writer {
    rec: RecorderRef,
    shared: Arc<RecordShared>,
    stream: String,
    template: PathTemplate,
    retention: Retention,
    open: Option<OpenSegment>,
    buf: Vec<u8>,
    /// The last name rendered without a suffix, and the highest suffix used with it.
    last_name: Option<(PathBuf, u32)>,
    last_path: Option<PathBuf>,
    bytes: u64,
    segments: u64,
}

pub(super) async fn run(rec: RecorderRef, shared: Arc<RecordShared>) {
    // Spawned while the shard's state is borrowed: let the caller finish first.
    futures_lite::future::yield_now().await;
    let (stream, rule, started) = {
        let r = rec.borrow();
        (r.stream.clone(), r.rule.clone(), r.started)
    };
    let mut w = Writer {
        rec: rec.clone(),
        shared: shared.clone(),
        stream: stream.clone(),
        template: rule.path.clone(),
        retention: rule.retention,
        open: None,
        buf: Vec::with_capacity(WRITE_CHUNK),
        last_name: None,
        last_path: None,
        bytes: 0,
        segments: 0,
    };
    let outcome = w.run().await;
    let error = match outcome {
        Ok(()) => None,
        Err(e) => {
            warn!(
                "recording of {stream:?} to {} stopped ({}): {}; the stream goes on",
                rule.path,
                e.reason.as_str(),
                e.message
            );
            rec.borrow_mut().fail(e.reason);
            if let Some(o) = w.open.take() {
                let _ = o.file.close().await;
            }
            Some(e)
        }
    };
    let last = rec.borrow().last_at;
    let info = RecordingInfo {
        stream: stream.clone(),
        template: rule.path.to_string(),
        started: shared.wall(started),
        duration: last.map_or(Default::default(), |l| l.saturating_duration_since(started)),
        bytes: w.bytes,
        segments: w.segments,
        last_path: w.last_path.clone(),
        error,
    };
    info!(
        "recording of {stream:?} to {} ended: {} segments, {} bytes",
        rule.path, info.segments, info.bytes
    );
    shared.emit(RecordEvent::RecordingFinished(info));
    let mut r = rec.borrow_mut();
    r.current = None;
    r.done = true;
}

impl Writer {
    async fn run(&mut self) -> Result<(), RecordFailure> {
        let mut ops = Vec::new();
        loop {
            let more = poll_fn(|cx| self.rec.borrow_mut().poll_ops(cx.waker(), &mut ops)).await;
            for op in ops.drain(..) {
                match op {
                    Op::Start { at, header } => {
                        self.start(at).await?;
                        self.buf.extend_from_slice(&header);
                    }
                    Op::Data { payload, range } => {
                        if self.open.is_some() {
                            self.buf.extend_from_slice(&payload.as_slice()[range]);
                        }
                        if self.buf.len() >= WRITE_CHUNK {
                            self.flush().await?;
                        }
                    }
                    Op::End { at } => self.end(at).await?,
                }
            }
            self.flush().await?;
            if !more {
                // The cutter closes the segment before it finishes; a failed one is closed
                // by our caller.
                return Ok(());
            }
        }
    }

    async fn start(&mut self, at: Instant) -> Result<(), RecordFailure> {
        let wall = self.shared.wall(at);
        let base = self.template.render(&self.stream, wall, 0);
        let mut seq = match &self.last_name {
            Some((b, s)) if *b == base => s + 1,
            _ => 0,
        };
        let dir = base.parent().map(Path::to_path_buf);
        if let Some(dir) = dir {
            let d = dir.clone();
            glommio::executor()
                .spawn_blocking(move || std::fs::create_dir_all(&d))
                .await
                .map_err(|e| {
                    failure(e.raw_os_error(), format!("creating {}: {e}", dir.display()))
                })?;
        }
        let (file, path) = loop {
            let path = self.template.render(&self.stream, wall, seq);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .buffered_open(&path)
                .await
            {
                Ok(f) => break (f, path),
                Err(e) if errno(&e) == Some(libc::EEXIST) && seq < MAX_SEQ => seq += 1,
                Err(e) => return Err(failure(errno(&e), e.to_string())),
            }
        };
        self.last_name = Some((base, seq));
        debug!("recording {:?}: segment {}", self.stream, path.display());
        self.rec.borrow_mut().current = Some(path.clone());
        self.open = Some(OpenSegment {
            file,
            path,
            pos: 0,
            at,
        });
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), RecordFailure> {
        let Some(o) = &mut self.open else {
            self.buf.clear();
            return Ok(());
        };
        if self.buf.is_empty() {
            return Ok(());
        }
        // glommio takes the buffer; the next one grows from a small start again.
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(16 << 10));
        let len = data.len();
        let n = o
            .file
            .write_at(data, o.pos)
            .await
            .map_err(|e| failure(errno(&e), e.to_string()))?;
        o.pos += n as u64;
        self.bytes += n as u64;
        self.rec.borrow_mut().counters.bytes += n as u64;
        // A regular file writes short only when the device is full (or the file too big).
        if n < len {
            return Err(failure(
                Some(libc::ENOSPC),
                format!("writing {}: {n} of {len} bytes written", o.path.display()),
            ));
        }
        Ok(())
    }

    async fn end(&mut self, at: Instant) -> Result<(), RecordFailure> {
        self.flush().await?;
        let Some(o) = self.open.take() else {
            return Ok(());
        };
        let (path, bytes, started) = (o.path.clone(), o.pos, o.at);
        o.file
            .close()
            .await
            .map_err(|e| failure(errno(&e), e.to_string()))?;
        self.segments += 1;
        self.last_path = Some(path.clone());
        {
            let mut r = self.rec.borrow_mut();
            r.counters.segments += 1;
            r.current = None;
        }
        self.shared.emit(RecordEvent::SegmentFinished(SegmentInfo {
            stream: self.stream.clone(),
            path,
            started: self.shared.wall(started),
            duration: at.saturating_duration_since(started),
            bytes,
        }));
        self.apply_retention().await;
        Ok(())
    }

    /// Deletes what the rule no longer keeps of this stream's files. A failure here is
    /// logged; it does not stop the recording.
    async fn apply_retention(&mut self) {
        if self.retention.is_off() {
            return;
        }
        let (template, stream, retention) =
            (self.template.clone(), self.stream.clone(), self.retention);
        let (removed, failed) = glommio::executor()
            .spawn_blocking(move || {
                let files = list(&template, &stream);
                #[allow(clippy::disallowed_methods)] // a driver: file ages are wall-clock
                let now = SystemTime::now();
                let mut removed = Vec::new();
                let mut failed = Vec::new();
                for p in retention.expired(files, now) {
                    match std::fs::remove_file(&p) {
                        Ok(()) => removed.push(p),
                        // Someone else removed it: fine.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                        Err(e) => failed.push(format!("{}: {e}", p.display())),
                    }
                }
                (removed, failed)
            })
            .await;
        for p in &removed {
            info!(
                "recording {:?}: retention removed {}",
                self.stream,
                p.display()
            );
        }
        if let Some(first) = failed.first() {
            warn!(
                "recording {:?}: retention could not remove {} file(s), e.g. {first}",
                self.stream,
                failed.len()
            );
        }
        self.rec.borrow_mut().counters.retention_removed += removed.len() as u64;
    }
}

/// The files `template` gives `stream`, with their times and sizes (blocking).
fn list(template: &PathTemplate, stream: &str) -> Vec<RecordedFile> {
    let (root, depth) = template.root(stream);
    let mut out = Vec::new();
    let mut dirs = vec![(root, depth)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if out.len() >= MAX_LISTED {
                return out;
            }
            let Ok(meta) = e.metadata() else {
                continue;
            };
            let path = e.path();
            if depth > 1 && meta.is_dir() {
                dirs.push((path, depth - 1));
            } else if depth == 1 && meta.is_file() && template.matches(stream, &path) {
                out.push(RecordedFile {
                    path,
                    modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                    size: meta.len(),
                });
            }
        }
    }
    out
}

fn errno<T>(e: &GlommioError<T>) -> Option<i32> {
    match e {
        GlommioError::IoError(e) => e.raw_os_error(),
        GlommioError::EnhancedIoError { source, .. } => source.raw_os_error(),
        _ => None,
    }
}

fn failure(errno: Option<i32>, message: String) -> RecordFailure {
    RecordFailure {
        reason: ErrorReason::from_errno(errno),
        message,
    }
}
