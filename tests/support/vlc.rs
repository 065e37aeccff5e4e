//! Desktop players on an HTTP URL: VLC (`cvlc`, Debian `vlc-bin` + `vlc-plugin-base`) and,
//! as a second opinion, GStreamer (`gst-launch-1.0`), both headless, for a bounded time, with
//! their complaints sorted into "the input is broken" and "this machine was slow".
//!
//! Owns: the command lines, running a player as an unprivileged user when we are root (VLC
//! refuses root: "VLC is not supposed to be run as root", and the supported way out is not to
//! be root; `setpriv` drops to `nobody` without a PAM session and execs, so the pid we hold is
//! VLC's), the snapshots VLC's `scene` filter writes (proof that pictures were decoded and
//! shown, and what they showed), and the log classification.
//! Must not: wait without a deadline, leave a player running, or call a line "broken input"
//! that a correct stream on a busy machine can produce.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::pgroup;
use super::process::Proc;
use super::tools;

/// Start-up slack on top of the requested play time before a player is stopped by force: a
/// fresh VLC loads ~300 plugins, slow on a loaded machine.
const STARTUP_SLACK: Duration = Duration::from_secs(30);
const STOP_GRACE: Duration = Duration::from_secs(5);
/// VLC snapshots one picture in this many (~2 a second at 25-30 fps).
const SNAPSHOT_RATIO: u32 = 15;
/// `nobody` / `nogroup` on Debian.
const NOBODY: u32 = 65534;

/// Log lines (lowercased substrings) that mean the stream itself is damaged. Each is printed
/// only for bytes that are wrong, whatever the machine's speed:
const BROKEN_INPUT: &[&str] = &[
    // ts demux: a TS continuity counter jumped, i.e. packets were lost, duplicated or reordered
    // on the way (the counter is per PID and wraps at 16; a correct remux keeps it).
    "discontinuity received",
    // PSI (PAT/PMT/SDT) sections damaged or out of sequence.
    "libdvbpsi error",
    "transport error",
    // libavcodec's H.264 decoder hit a slice it could not parse, or had to guess pixels.
    "error while decoding",
    "concealing",
    "corrupt",
    "decode_slice_header error",
    "unavailable for requested intra",
    "no frame!",
    "invalid nal",
    // A slice whose parameter sets never came (a stream cut mid-GOP: a relay must start a
    // player at a keyframe with SPS/PPS), or whose reference frames were lost.
    "non-existing pps",
    "non-existing sps",
    "missing reference picture",
    "reference picture missing",
    "mmco: unref short failure",
    // VLC's decoder queue filled while it waited for a first picture it never got.
    "buffer deadlock prevented",
    // faad (AAC) reports bad frames as warnings; see NOT_BROKEN for its harmless one.
    "faad decoder warning",
];

/// Lines that match [`BROKEN_INPUT`] but are not about damage: faad's "decoded zero sample" is
/// the encoder's priming frame at the start of every AAC stream.
const NOT_BROKEN: &[&str] = &["decoded zero sample"];

/// Lines about timing (counted, never failures): VLC's clock found a picture or block past its
/// display time. That is what a busy machine (two cores shared with builds) or a late network
/// does to a correct stream, so it says nothing about the bytes. Includes "picture is too late
/// to be displayed", "picture might be displayed late", "ES_OUT_SET_(GROUP_)PCR is called too
/// late", "buffer too late".
const LATE: &[&str] = &["too late", "displayed late", "late frames"];

/// Lines that say the stream started mid-GOP: VLC's H.264 packetizer drops what comes before
/// the first SPS/PPS. Normal when joining an arbitrary live TS; a relay that starts each player
/// at a keyframe (with its parameter sets) never causes it: see
/// [`VlcReport::assert_started_on_keyframe`].
const JOINED_MID_GOP: &[&str] = &["waiting for sps/pps"];

/// What a VLC run showed.
pub struct VlcReport {
    /// Exit status; `None` if VLC had to be killed at the deadline.
    pub status: Option<ExitStatus>,
    /// The lines that mean broken input (see [`BROKEN_INPUT`]).
    pub broken_input: Vec<String>,
    /// How many lines were about lateness (a busy machine, not broken input).
    pub late: usize,
    /// How many lines said the stream began before its first keyframe (see [`JOINED_MID_GOP`]).
    pub joined_mid_gop: usize,
    /// Snapshots of the displayed pictures (PNG, one in [`SNAPSHOT_RATIO`]), in order.
    pub snapshots: Vec<PathBuf>,
    pub log: String,
    /// Removed on drop: VLC's home and snapshot directory.
    scratch: PathBuf,
}

impl VlcReport {
    /// Panics with the evidence unless VLC exited by itself, showed pictures and logged no
    /// broken input.
    pub fn assert_clean(&self, what: &str) {
        let tail = self.log_tail();
        assert!(
            self.status.is_some_and(|s| s.success()),
            "{what}: VLC did not exit cleanly ({:?})\n{tail}",
            self.status
        );
        assert!(
            self.broken_input.is_empty(),
            "{what}: VLC reports broken input ({} lines): {:#?}",
            self.broken_input.len(),
            &self.broken_input[..self.broken_input.len().min(20)]
        );
        assert!(
            !self.snapshots.is_empty(),
            "{what}: VLC showed no picture (no snapshot)\n{tail}"
        );
    }

    /// Panics unless the stream began with a keyframe and its parameter sets.
    pub fn assert_started_on_keyframe(&self, what: &str) {
        assert!(
            self.joined_mid_gop == 0,
            "{what}: VLC waited {} times for SPS/PPS: the stream did not start at a keyframe\n{}",
            self.joined_mid_gop,
            self.log_tail()
        );
    }

    /// About as many pictures as VLC displayed (snapshots x ratio).
    pub fn pictures_shown(&self) -> usize {
        self.snapshots.len() * SNAPSHOT_RATIO as usize
    }

    pub fn log_tail(&self) -> String {
        let lines: Vec<&str> = self.log.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for VlcReport {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.scratch);
    }
}

/// Plays `url` in VLC for up to `run_for` (less if the stream ends: `--play-and-exit`), no
/// window, no sound device, and reports.
pub fn play_http(url: &str, run_for: Duration) -> VlcReport {
    let cvlc = tools::require("cvlc");
    let scratch = world_writable_scratch("vlc");
    let scenes = scratch.join("scenes");
    fs::create_dir(&scenes).expect("create snapshot dir");
    make_world_writable(&scenes);

    let mut cmd = as_unprivileged(&cvlc);
    cmd.env("HOME", &scratch)
        .env("XDG_CONFIG_HOME", scratch.join("config"))
        .env("XDG_CACHE_HOME", scratch.join("cache"))
        .env("XDG_DATA_HOME", scratch.join("data"))
        .args([
            "-I",
            "dummy",
            "--vout=dummy",
            "--aout=dummy",
            "--play-and-exit",
        ])
        .arg(format!(
            "--run-time={}",
            run_for.as_secs_f64().ceil() as u64
        ))
        // Level 2 prints warnings and debug lines: the demuxer's and decoders' complaints are
        // warnings, and libavcodec's own messages come through at this level.
        .args([
            "--verbose=2",
            "--no-color",
            "--ignore-config",
            "--no-media-library",
        ])
        .args([
            "--video-filter=scene",
            "--scene-format=png",
            "--scene-prefix=snap",
        ])
        .arg(format!("--scene-ratio={SNAPSHOT_RATIO}"))
        .arg(format!("--scene-path={}", scenes.display()))
        .arg(url)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    pgroup::in_new_group(&mut cmd);
    let mut vlc = Proc::spawn("cvlc", &mut cmd);
    let status = match vlc.wait_timeout(run_for + STARTUP_SLACK) {
        Some(status) => Some(status),
        None => {
            vlc.terminate(STOP_GRACE);
            None
        }
    };
    let _ = pgroup::kill_group(vlc.pid(), STOP_GRACE);
    vlc.wait_for_stderr_eof(Duration::from_secs(5));
    let log = vlc.stderr_text();
    let mut snapshots: Vec<PathBuf> = fs::read_dir(&scenes)
        .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    snapshots.sort();
    let Classified {
        broken_input,
        late,
        joined_mid_gop,
    } = classify(&log);
    VlcReport {
        status,
        broken_input,
        late,
        joined_mid_gop,
        snapshots,
        log,
        scratch,
    }
}

/// A VLC log sorted by what its complaints mean.
pub struct Classified {
    pub broken_input: Vec<String>,
    pub late: usize,
    pub joined_mid_gop: usize,
}

pub fn classify(log: &str) -> Classified {
    let mut out = Classified {
        broken_input: Vec::new(),
        late: 0,
        joined_mid_gop: 0,
    };
    for line in log.lines() {
        let l = line.to_lowercase();
        if LATE.iter().any(|n| l.contains(n)) {
            out.late += 1;
        } else if JOINED_MID_GOP.iter().any(|n| l.contains(n)) {
            out.joined_mid_gop += 1;
        } else if BROKEN_INPUT.iter().any(|n| l.contains(n))
            && !NOT_BROKEN.iter().any(|n| l.contains(n))
        {
            out.broken_input.push(line.to_owned());
        }
    }
    out
}

/// What a GStreamer run showed: `souphttpsrc ! tsdemux ! h264parse ! avdec_h264 ! fakesink`.
pub struct GstReport {
    pub status: Option<ExitStatus>,
    /// Decoded pictures that reached the sink (one `last-message = chain` line each).
    pub frames: usize,
    /// Element warnings (tsdemux's "CONTINUITY: Mismatch packet" is its discontinuity) and
    /// errors: with GStreamer every one of them is about the stream or the connection.
    pub warnings: Vec<String>,
    pub errors: Vec<String>,
    pub log: String,
}

impl GstReport {
    pub fn assert_clean(&self, what: &str) {
        assert!(
            self.errors.is_empty() && self.warnings.is_empty() && self.frames > 0,
            "{what}: GStreamer: {} frames, errors {:#?}, warnings {:#?}, status {:?}",
            self.frames,
            self.errors,
            &self.warnings[..self.warnings.len().min(20)],
            self.status
        );
    }
}

/// Decodes the H.264 video of the TS at `url` with GStreamer for up to `run_for` (the stream's
/// end stops it sooner), in real time (`sync=true`, like a player), then interrupts it.
pub fn gst_play_http(url: &str, run_for: Duration) -> GstReport {
    let gst = tools::require("gst-launch-1.0");
    let mut cmd = Command::new(gst);
    // -v prints the sink's last-message for every buffer: the frame count.
    cmd.args(["-v", "souphttpsrc"])
        .arg(format!("location={url}"))
        .args(["!", "tsdemux", "!", "h264parse", "!", "avdec_h264", "!"])
        .args(["fakesink", "sync=true", "silent=false"])
        .env("GST_DEBUG_NO_COLOR", "1")
        .stdin(Stdio::null());
    pgroup::in_new_group(&mut cmd);
    let mut gst = Proc::spawn_capturing_stdout("gst-launch-1.0", &mut cmd);
    let status = match gst.wait_timeout(run_for + Duration::from_secs(10)) {
        Some(status) => Some(status),
        None => {
            // gst-launch stops its pipeline on SIGINT; SIGKILL after the grace.
            gst.signal(libc::SIGINT);
            gst.wait_timeout(STOP_GRACE).or_else(|| Some(gst.kill()))
        }
    };
    let _ = pgroup::kill_group(gst.pid(), STOP_GRACE);
    gst.wait_for_stderr_eof(Duration::from_secs(5));
    let log = gst.stdout_text() + &gst.stderr_text();
    let pick = |needle: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    };
    GstReport {
        status,
        frames: log.matches("last-message = chain").count(),
        warnings: pick("WARNING: from element"),
        errors: pick("ERROR: from element"),
        log,
    }
}

/// `program` as a command that runs unprivileged: as is for a normal user; as `nobody` via
/// `setpriv` (util-linux) when we are root.
fn as_unprivileged(program: &Path) -> Command {
    if effective_uid() != 0 {
        return Command::new(program);
    }
    let mut cmd = Command::new(tools::require("setpriv"));
    cmd.arg(format!("--reuid={NOBODY}"))
        .arg(format!("--regid={NOBODY}"))
        .arg("--clear-groups")
        .arg(program);
    cmd
}

/// Our effective uid without libc: /proc/self belongs to it.
fn effective_uid() -> u32 {
    fs::metadata("/proc/self").map_or(0, |m| m.uid())
}

/// A fresh directory under the system temp dir that `nobody` can write: the target directory
/// may sit under a home directory `nobody` cannot enter.
fn world_writable_scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "srtrelay-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    make_world_writable(&dir);
    dir
}

fn make_world_writable(dir: &Path) {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o777))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
}
