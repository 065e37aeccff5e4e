//! Writing a file into a tool's stdin at a chosen pace, then keeping the stream alive.
//!
//! Owns: the feeder thread, its pacing, and the null-packet filler after the file.
//! Must not: block its owner (it runs on its own thread), or outlive the tool (a write to a
//! dead tool fails with EPIPE and the thread ends).

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::media::{SRT_LIVE_PAYLOAD, TS_PACKET, file_len, ts_null_packet};
use super::process::StderrWatch;
use super::recipes::CONNECT_TIMEOUT;

/// How often the feeder sends a chunk of TS null packets after the file (see [`Feeder`]).
pub const FILLER_INTERVAL: Duration = Duration::from_millis(20);

/// How a feeder writes the file into a tool's stdin.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// As fast as the tool reads: the whole file leaves in a burst.
    Unpaced,
    /// One 1316-byte chunk at a time at this average rate.
    BytesPerSec(u64),
}

impl Pace {
    /// `speed` times real time for a file lasting `seconds` (e.g. 4.0 = a 5 s file in 1.25 s).
    pub fn realtime(file: &Path, seconds: u32, speed: f64) -> Pace {
        Pace::BytesPerSec((file_len(file) as f64 / f64::from(seconds) * speed) as u64)
    }
}

/// Writes a file into a tool's stdin on its own thread, then keeps stdin open and writes one
/// chunk of TS null packets every [`FILLER_INTERVAL`] until dropped, like a live source that
/// never stops:
/// - closing stdin would end ffmpeg (and its connection) before the receiver has delivered the
///   tail, which a libsrt receiver then throws away;
/// - libsrt live senders never retransmit blindly while the receiver sends periodic NAKs
///   (`checkRexmitTimer`), and a receiver only learns of a lost packet from a later one, so a
///   lost *last* packet would never be recovered. The filler is that later packet.
///
/// So receivers get the file followed by null packets: compare with
/// [`media::assert_delivered`](super::media::assert_delivered).
pub struct Feeder {
    done: mpsc::Receiver<io::Result<u64>>,
    result: Option<io::Result<u64>>,
    _close: Sender<()>,
    _thread: JoinHandle<()>,
}

impl Feeder {
    pub fn start(
        mut stdin: Box<dyn Write + Send>,
        file: &Path,
        pace: Pace,
        start_when: Option<(StderrWatch, &'static str)>,
    ) -> Feeder {
        let mut data = Vec::new();
        File::open(file)
            .and_then(|mut f| f.read_to_end(&mut data))
            .unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        let (done_tx, done) = mpsc::channel();
        let (close, close_rx) = mpsc::channel::<()>();
        let thread = thread::Builder::new()
            .name("stdin-feeder".into())
            .spawn(move || {
                let result = (|| {
                    if let Some((watch, needle)) = start_when
                        && !watch.wait_for(needle, CONNECT_TIMEOUT)
                    {
                        return Err(io::Error::other(format!(
                            "tool did not print {needle:?} within {CONNECT_TIMEOUT:?}"
                        )));
                    }
                    write_paced(&mut stdin, &data, pace)
                })();
                let fed = result.is_ok();
                let _ = done_tx.send(result);
                let filler: Vec<u8> = (0..SRT_LIVE_PAYLOAD / TS_PACKET)
                    .flat_map(|_| ts_null_packet())
                    .collect();
                // Until the owner drops us (then recv fails: `close` is gone).
                while let Err(RecvTimeoutError::Timeout) = close_rx.recv_timeout(FILLER_INTERVAL) {
                    if fed
                        && stdin
                            .write_all(&filler)
                            .and_then(|()| stdin.flush())
                            .is_err()
                    {
                        break;
                    }
                }
                drop(stdin);
            })
            .expect("spawn feeder thread");
        Feeder {
            done,
            result: None,
            _close: close,
            _thread: thread,
        }
    }

    pub fn wait(&mut self, timeout: Duration) -> io::Result<u64> {
        if self.result.is_none() {
            match self.done.recv_timeout(timeout) {
                Ok(r) => self.result = Some(r),
                Err(_) => return Err(io::Error::other(format!("still feeding after {timeout:?}"))),
            }
        }
        match self.result.as_ref().expect("set above") {
            Ok(n) => Ok(*n),
            Err(e) => Err(io::Error::new(e.kind(), e.to_string())),
        }
    }
}

fn write_paced(out: &mut dyn Write, data: &[u8], pace: Pace) -> io::Result<u64> {
    let start = Instant::now();
    let mut written = 0usize;
    for chunk in data.chunks(SRT_LIVE_PAYLOAD) {
        if let Pace::BytesPerSec(rate) = pace {
            let due = start + Duration::from_secs_f64(written as f64 / rate.max(1) as f64);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        out.write_all(chunk)?;
        out.flush()?;
        written += chunk.len();
    }
    Ok(written as u64)
}
