//! The command lines that make libsrt tools publish, subscribe and probe, and how each one ends.
//!
//! Owns: one function per (tool, role), the stdin feeder that paces a file into a tool, and the
//! handles that wait for output and stop the tool. The reasons behind every flag are observed
//! libsrt 1.5.1 / ffmpeg 5.1 behaviour, written up in docs/interop-recipes.md.
//! Must not: wait without a deadline, or let a tool outlive its handle (handles own a `Proc`).
//!
//! Facts the recipes are built around:
//! - srt-live-transmit never exits at stdin EOF; it exits when the SRT peer goes away (with
//!   `-a no`; the default `-a yes` reconnects forever). Stop it with SIGTERM (graceful close).
//! - srt-live-transmit reads stdin in whole `-chunk` blocks, drops a short last block, and
//!   drops everything read before its SRT side is connected: feed it after "connected".
//! - A libsrt receiver discards what it has not yet delivered (TSBPD) when the peer closes. A
//!   publisher that closes right after its last byte loses about `latency` of tail at a libsrt
//!   receiver. Byte-exact tests keep the publisher connected until the output is complete.
//! - srt-live-transmit reads stdin and writes stdout through stdio buffers: `stdbuf -i0 -o0`
//!   keeps chunks from getting stuck in its input buffer and makes the output file grow as
//!   data is delivered, so tests can wait on its length.
//! - Publishers fed by our `Feeder` send TS null packets after the file until finished, so
//!   receivers get the file then null packets: compare with `media::assert_delivered`.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::feeder::Feeder;
pub use super::feeder::Pace;
use super::media::{SRT_LIVE_PAYLOAD, file_len};
use super::net;
use super::process::{Proc, run_bounded};
use super::srt_url::{Mode, SrtUrl};
use super::tools;

/// ffmpeg's remux to MPEG-TS; also used to compute the expected bytes
/// (`media::ffmpeg_remux_reference`).
pub const FFMPEG_REMUX_ARGS: &[&str] = &["-map", "0", "-c", "copy", "-f", "mpegts"];
/// How long a tool may take to bind, connect or accept before a recipe gives up. Generous: a
/// wait ends as soon as the tool says so (or exits), and a machine busy with other builds can
/// take seconds to schedule a fresh process.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Grace between SIGTERM and SIGKILL when stopping a tool.
pub const STOP_GRACE: Duration = Duration::from_secs(3);
/// ffmpeg subscribers end after this long without data (`timeout` URL option, a watchdog).
pub const FFMPEG_IDLE_TIMEOUT: Duration = Duration::from_secs(5);

/// How ffmpeg publishes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FfmpegPublish {
    /// What users type: `ffmpeg -re -i in.ts -c copy -f mpegts srt://...`. ffmpeg remuxes (the
    /// bytes sent are `media::ffmpeg_remux_reference(file)`), paces by the file's timestamps at
    /// `readrate` x real time (1.0 = `-re`; `None` = unpaced), and closes right after its last
    /// packet, so a libsrt receiver loses the tail (about `latency` worth).
    Remux { readrate: Option<f64> },
    /// `ffmpeg -f data -i pipe:0 -c copy -f data srt://...`: ffmpeg's SRT output fed raw bytes
    /// by our feeder, in 1316-byte messages, staying connected until [`Publisher::finish`].
    /// Byte-exact with the file and end-to-end, for the same reasons as srt-live-transmit.
    Passthrough { pace: Pace },
}

/// A publishing tool. Dropping it kills the tool.
pub struct Publisher {
    proc: Proc,
    feeder: Option<Feeder>,
    addr: SocketAddr,
}

impl Publisher {
    /// Listener: the address it listens on (chosen by the recipe when the URL said port 0).
    /// Caller: the address it connects to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn proc(&mut self) -> &mut Proc {
        &mut self.proc
    }

    /// Waits until the feeder has written the whole file into the tool's stdin.
    pub fn wait_fed(&mut self, timeout: Duration) -> Result<u64, String> {
        let Some(feeder) = &mut self.feeder else {
            return Ok(0);
        };
        feeder.wait(timeout).map_err(|e| {
            format!(
                "feeding {} failed: {e}\n{}",
                self.proc.name(),
                self.proc.diagnostics()
            )
        })
    }

    /// Closes stdin, SIGTERMs the tool (libsrt then sends SHUTDOWN) and waits for it.
    pub fn finish(mut self) -> ExitStatus {
        self.feeder = None;
        self.proc.terminate(STOP_GRACE)
    }

    /// Waits for a tool that ends by itself (ffmpeg `Remux`), panicking on failure.
    pub fn expect_exit(mut self, timeout: Duration) -> ExitStatus {
        self.proc.expect_success(timeout)
    }
}

/// A subscribing (receiving) tool writing the bytes it gets to a file. Dropping it kills it.
pub struct Subscriber {
    proc: Proc,
    out: PathBuf,
    addr: SocketAddr,
}

impl Subscriber {
    pub fn proc(&mut self) -> &mut Proc {
        &mut self.proc
    }

    /// Listener: the address it listens on (chosen by the recipe when the URL said port 0).
    /// Caller: the address it connects to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn output(&self) -> &Path {
        &self.out
    }

    /// Waits until the output file holds at least `len` bytes. Fails early if the tool exits.
    pub fn wait_for_len(&mut self, len: u64, timeout: Duration) -> Result<u64, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let have = file_len(&self.out);
            if have >= len {
                return Ok(have);
            }
            if let Some(status) = self.proc.try_wait() {
                let have = file_len(&self.out);
                if have >= len {
                    return Ok(have);
                }
                return Err(format!(
                    "{} exited ({status}) with {have} of {len} bytes\n{}",
                    self.proc.name(),
                    self.proc.diagnostics()
                ));
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} has {have} of {len} bytes after {timeout:?}\n{}",
                    self.proc.name(),
                    self.proc.diagnostics()
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits for the tool to exit on its own (it does when the sender disconnects).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        self.proc.wait_timeout(timeout)
    }

    /// SIGTERM and wait.
    pub fn finish(mut self) -> ExitStatus {
        self.proc.terminate(STOP_GRACE)
    }
}

/// `srt-live-transmit -a no -chunk 1316 file://con <url>` with `file` fed into stdin once
/// connected. Returns once the SRT side is connected (caller) or listening (listener; feeding
/// then starts when a subscriber is accepted).
pub fn publish_with_srt_live_transmit(file: &Path, url: &SrtUrl, pace: Pace) -> Publisher {
    let (mut proc, addr) =
        spawn_srt_live_transmit("srt-live-transmit publisher", url, true, |cmd, url| {
            cmd.args(["file://con", url])
                .stdin(Stdio::piped())
                .stdout(Stdio::null());
        });
    let connected = match url.mode {
        Mode::Caller => "SRT target connected",
        Mode::Listener => "Accepted SRT target connection",
    };
    if url.mode == Mode::Caller
        && let Err(e) = proc.wait_for_stderr(connected, CONNECT_TIMEOUT)
    {
        panic!("{e}");
    }
    let stdin = Box::new(proc.take_stdin());
    let feeder = Feeder::start(stdin, file, pace, Some((proc.stderr_watch(), connected)));
    Publisher {
        proc,
        feeder: Some(feeder),
        addr,
    }
}

/// ffmpeg publishing `file` to `url` (see [`FfmpegPublish`] for the two modes).
pub fn publish_with_ffmpeg(file: &Path, url: &SrtUrl, how: FfmpegPublish) -> Publisher {
    let mut cmd = Command::new(tools::ffmpeg());
    cmd.args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "info"]);
    match how {
        FfmpegPublish::Remux { readrate } => {
            if let Some(rate) = readrate {
                cmd.args(["-readrate", &rate.to_string()]);
            }
            cmd.arg("-i")
                .arg(file)
                .args(FFMPEG_REMUX_ARGS)
                .arg(url.for_ffmpeg())
                .stdin(Stdio::null());
            Publisher {
                proc: Proc::spawn("ffmpeg publisher", &mut cmd),
                feeder: None,
                addr: url.addr,
            }
        }
        FfmpegPublish::Passthrough { pace } => {
            // Output buffer = SRT payload size (1316), flushed only when full: every SRT
            // message is 7 whole TS packets, whatever sizes the pipe reads return.
            cmd.args([
                "-f",
                "data",
                "-i",
                "pipe:0",
                "-map",
                "0",
                "-c",
                "copy",
                "-flush_packets",
                "0",
                "-f",
                "data",
            ])
            .arg(url.for_ffmpeg())
            .stdin(Stdio::piped());
            let mut proc = Proc::spawn("ffmpeg publisher", &mut cmd);
            // ffmpeg opens its output only after reading input, so nothing is lost before the
            // connection: no need to wait for a message first.
            let feeder = Feeder::start(Box::new(proc.take_stdin()), file, pace, None);
            Publisher {
                proc,
                feeder: Some(feeder),
                addr: url.addr,
            }
        }
    }
}

/// `stdbuf -o0 srt-live-transmit -a no <url> file://con > out`. Exits when the sender
/// disconnects. A listener URL with port 0 gets a free port (retried if another process wins
/// the race); this is also the stand-in server of the harness self-test.
pub fn subscribe_with_srt_live_transmit(url: &SrtUrl, out: &Path) -> Subscriber {
    let mut sub = subscribe_with_srt_live_transmit_no_wait(url, out);
    if url.mode == Mode::Caller
        && let Err(e) = sub
            .proc
            .wait_for_stderr("SRT source connected", CONNECT_TIMEOUT)
    {
        panic!("{e}");
    }
    sub
}

/// Like [`subscribe_with_srt_live_transmit`] but returns without waiting for "SRT source
/// connected": srt-live-transmit prints it only once the first data is readable, so a player
/// that joins before its stream has a publisher (a relay's waiting subscriber) says nothing
/// until then. Check the connection on the server side instead.
pub fn subscribe_with_srt_live_transmit_no_wait(url: &SrtUrl, out: &Path) -> Subscriber {
    let (proc, addr) =
        spawn_srt_live_transmit("srt-live-transmit subscriber", url, false, |cmd, url| {
            let file =
                File::create(out).unwrap_or_else(|e| panic!("create {}: {e}", out.display()));
            cmd.args([url, "file://con"])
                .stdin(Stdio::null())
                .stdout(file);
        });
    Subscriber {
        proc,
        out: out.to_owned(),
        addr,
    }
}

/// `srt-live-transmit -a no <url> file://con` for a caller that is expected to be refused:
/// runs it until it ends (it gives up after the rejection or the connect timeout) and returns
/// what it printed on stderr, where libsrt logs the reason (e.g. "Incorrect passphrase").
/// libsrt's tool sometimes hangs after logging a rejection instead of exiting
/// (Haivision/srt#2776; seen here under load): once the rejection is logged it gets a few
/// seconds to exit on its own, then it is killed; what it logged is the answer either way.
pub fn rejected_srt_live_transmit(url: &SrtUrl) -> String {
    assert_eq!(url.mode, Mode::Caller, "only a caller is refused");
    let mut cmd = Command::new(tools::srt_live_transmit());
    cmd.args(["-v", "-a", "no", &url.for_srt_live_transmit(), "file://con"]);
    cmd.stdin(Stdio::null());
    let mut proc = Proc::spawn("srt-live-transmit (refused)", &mut cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut rejected_at = None;
    loop {
        if proc.try_wait().is_some() {
            break;
        }
        let now = Instant::now();
        if rejected_at.is_none() && proc.stderr_text().contains("REJECT") {
            rejected_at = Some(now);
        }
        if rejected_at.is_some_and(|t| now >= t + Duration::from_secs(3)) {
            proc.kill();
            break;
        }
        assert!(
            now < deadline,
            "srt-live-transmit was not refused within 30 s\n{}",
            proc.diagnostics()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    proc.wait_for_stderr_eof(Duration::from_secs(5));
    proc.stderr_text()
}

/// `ffmpeg -f data -i <url> -map 0 -c copy -flush_packets 1 -f data out`: writes the received
/// bytes unchanged (`-f mpegts` would remux and not be byte-exact). Ends when the sender
/// disconnects, or after [`FFMPEG_IDLE_TIMEOUT`] without data. Returns at once: ffmpeg says
/// nothing until the first bytes arrive.
pub fn subscribe_with_ffmpeg(url: &SrtUrl, out: &Path) -> Subscriber {
    let mut cmd = Command::new(tools::ffmpeg());
    cmd.args([
        "-hide_banner",
        "-nostdin",
        "-nostats",
        "-loglevel",
        "info",
        "-y",
        "-f",
        "data",
        "-i",
    ])
    .arg(ffmpeg_with_idle_timeout(url))
    .args([
        "-map",
        "0",
        "-c",
        "copy",
        "-flush_packets",
        "1",
        "-f",
        "data",
    ])
    .arg(out)
    .stdin(Stdio::null())
    .stdout(Stdio::null());
    Subscriber {
        proc: Proc::spawn("ffmpeg subscriber", &mut cmd),
        out: out.to_owned(),
        addr: url.addr,
    }
}

/// `ffprobe -show_entries stream=index,codec_name,codec_type` on an SRT URL: returns one
/// `kind,codec` line per stream in index order, e.g. `["video,h264", "audio,aac"]`. ffprobe
/// connects, reads until it knows the streams (capped at 1 s of stream by `-analyzeduration`),
/// prints and disconnects. It lists each stream twice (inside its program and at top level),
/// hence the dedup by index.
pub fn probe_with_ffprobe(url: &SrtUrl) -> Vec<String> {
    let mut cmd = Command::new(tools::ffprobe());
    cmd.args(["-hide_banner", "-v", "error", "-analyzeduration", "1000000"])
        .args([
            "-show_entries",
            "stream=index,codec_name,codec_type",
            "-of",
            "csv=p=0",
        ])
        .arg(ffmpeg_with_idle_timeout(url));
    let out = run_bounded("ffprobe", &mut cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "ffprobe {} failed ({}): {}",
        url.for_ffmpeg(),
        out.status,
        out.stderr
    );
    let mut streams = std::collections::BTreeMap::new();
    for line in out.stdout.lines() {
        let fields: Vec<&str> = line.trim().split(',').collect();
        if let [index, name, kind] = fields[..]
            && let Ok(index) = index.parse::<u32>()
        {
            streams.insert(index, format!("{kind},{name}"));
        }
    }
    streams.into_values().collect()
}

/// The ffmpeg URL plus `timeout` (I/O timeout, microseconds) so a reader never hangs.
fn ffmpeg_with_idle_timeout(url: &SrtUrl) -> String {
    let base = url.for_ffmpeg();
    let sep = if base.contains('?') { '&' } else { '?' };
    format!("{base}{sep}timeout={}", FFMPEG_IDLE_TIMEOUT.as_micros())
}

/// Spawns srt-live-transmit with `-v -a no` (and `-chunk 1316 -buffering 1` when sending);
/// for a listener, waits until it is bound, choosing and retrying a free port if the URL's
/// port is 0. `finish` adds the direction-specific arguments.
fn spawn_srt_live_transmit(
    name: &str,
    url: &SrtUrl,
    sending: bool,
    finish: impl Fn(&mut Command, &str),
) -> (Proc, SocketAddr) {
    let pick = url.mode == Mode::Listener && url.addr.port() == 0;
    for _attempt in 0..5 {
        let addr = if pick { net::free_udp_addr() } else { url.addr };
        let url = url.clone().at(addr);
        // stdio buffering off both ways: stdin, because srt-live-transmit polls fd 0 and then
        // reads through stdio, so chunks already pulled into stdio's 4 KiB buffer would wait
        // for more input that may never come; stdout, so the output file grows as data is
        // delivered instead of in 4 KiB steps.
        let mut cmd = Command::new(tools::require("stdbuf"));
        cmd.args(["-i0", "-o0"])
            .arg(tools::srt_live_transmit())
            .args(["-v", "-a", "no"]);
        if sending {
            // Whole TS-aligned SRT payloads, each sent as soon as it is read (the default
            // -buffering 10 holds up to 10 chunks back until the 10th arrives).
            cmd.args(["-chunk", &SRT_LIVE_PAYLOAD.to_string(), "-buffering", "1"]);
        }
        finish(&mut cmd, &url.for_srt_live_transmit());
        let mut proc = Proc::spawn(name, &mut cmd);
        if url.mode == Mode::Caller {
            return (proc, addr);
        }
        match proc.wait_for_stderr(" listen...", CONNECT_TIMEOUT) {
            Ok(()) => return (proc, addr),
            Err(e) if pick && proc.stderr_text().contains("srt_bind") => {
                eprintln!("port {addr} taken, retrying: {e}")
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("{name}: could not bind a listener after 5 ports");
}

/// `ffmpeg -re -i FILE -c copy -f flv rtmp://...`: the README's RTMP publish command.
pub fn publish_flv_with_ffmpeg(file: &Path, url: &str) -> Proc {
    let mut cmd = Command::new(tools::ffmpeg());
    cmd.args([
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "warning",
        "-re",
        "-i",
    ])
    .arg(file)
    .args(["-c", "copy", "-f", "flv", url])
    .stdin(Stdio::null());
    Proc::spawn_capturing_stdout("ffmpeg rtmp publisher", &mut cmd)
}
