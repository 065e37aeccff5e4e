//! Deterministic MPEG-TS test files and byte-exact comparison.
//!
//! Owns: generating TS files with ffmpeg (lavfi test sources, no media files in the repo), the
//! cache under `target/test-media/`, the "what ffmpeg's remux of this file looks like"
//! reference, and comparing two files with a useful failure message.
//! Must not: write outside `target/`, or expose a half-written file (write, then rename).

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::process::run_bounded;
use super::tools;

/// One TS packet.
pub const TS_PACKET: usize = 188;
/// The SRT live payload: 7 TS packets (libsrt and ffmpeg default `payload_size`).
pub const SRT_LIVE_PAYLOAD: usize = 7 * TS_PACKET;
/// Bumped whenever the generator's arguments change, so stale cached files are not reused.
const GENERATOR_VERSION: u32 = 1;

/// What to generate. The defaults give a 5 s 640x360@30 H.264 + AAC stream at ~2 Mbit/s:
/// ~1.3 MB, ~1000 SRT packets, with a keyframe every second.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TsSpec {
    pub seconds: u32,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    pub video_kbps: u32,
    /// Append TS null packets (PID 0x1FFF) until the length is a multiple of 1316 bytes.
    /// srt-live-transmit reads stdin in whole chunks and silently drops a short last chunk, so
    /// a byte-exact test through it needs this. Real encoders send whole 7-packet chunks too.
    pub pad_to_srt_payload: bool,
}

impl Default for TsSpec {
    fn default() -> Self {
        TsSpec {
            seconds: 5,
            width: 640,
            height: 360,
            fps: 30,
            video_kbps: 2000,
            pad_to_srt_payload: true,
        }
    }
}

impl TsSpec {
    /// A spec of `seconds` with the other defaults.
    pub fn seconds(seconds: u32) -> Self {
        TsSpec {
            seconds,
            ..Self::default()
        }
    }

    fn cache_name(&self) -> String {
        let key = format!(
            "{self:?} gen={GENERATOR_VERSION} {}",
            tools::ffmpeg_version()
        );
        format!(
            "ts-{}s-{}x{}-{}fps-{}k{}-{:016x}.ts",
            self.seconds,
            self.width,
            self.height,
            self.fps,
            self.video_kbps,
            if self.pad_to_srt_payload {
                "-padded"
            } else {
                ""
            },
            fnv1a64(key.as_bytes())
        )
    }
}

/// Directory for generated media: `<target>/test-media`, shared by all test binaries.
pub fn media_dir() -> PathBuf {
    // Cargo sets CARGO_TARGET_TMPDIR (= <target dir>/tmp) for integration tests; its parent
    // follows CARGO_TARGET_DIR, so the cache lands in the right target directory.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("test-media")
}

/// A scratch directory for one test's outputs, emptied first: `<target>/tmp/<name>`.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Path of the TS file for `spec`, generated on first use and cached across runs.
pub fn test_ts(spec: TsSpec) -> PathBuf {
    let path = media_dir().join(spec.cache_name());
    cached(&path, |tmp| generate(spec, tmp))
}

/// What `ffmpeg -i FILE -map 0 -c copy -f mpegts` produces for `file` (cached). A publisher
/// that remuxes (the usual `ffmpeg -re -i in.ts -c copy -f mpegts srt://...`) sends these
/// bytes, not the file's: ffmpeg drops null packets and rewrites PAT/PMT/PCR and PES framing.
/// For files ffmpeg wrote itself without padding the remux is byte-identical to the file.
pub fn ffmpeg_remux_reference(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .expect("media file name")
        .to_string_lossy()
        .into_owned();
    let path = media_dir().join(format!("remux-{name}"));
    cached(&path, |tmp| {
        let mut cmd = Command::new(tools::ffmpeg());
        cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i"])
            .arg(file);
        cmd.args(super::recipes::FFMPEG_REMUX_ARGS).arg(tmp);
        let out = run_bounded("ffmpeg remux", &mut cmd, Duration::from_secs(60));
        assert!(
            out.status.success(),
            "ffmpeg remux of {} failed: {}",
            file.display(),
            out.stderr
        );
    })
}

/// First difference between two byte sequences.
#[derive(Debug, PartialEq, Eq)]
pub struct Mismatch {
    pub expected_len: u64,
    pub actual_len: u64,
    /// Offset of the first differing byte, or of the end of the shorter one.
    pub first_diff: u64,
}

impl Mismatch {
    /// `actual` is a strict prefix of `expected` (data missing at the end only).
    pub fn is_truncation(&self) -> bool {
        self.actual_len < self.expected_len && self.first_diff == self.actual_len
    }
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "expected {} bytes, got {}; first difference at byte {} (TS packet {}, SRT payload {})",
            self.expected_len,
            self.actual_len,
            self.first_diff,
            self.first_diff / TS_PACKET as u64,
            self.first_diff / SRT_LIVE_PAYLOAD as u64,
        )?;
        if self.is_truncation() {
            write!(
                f,
                "; actual is a prefix of expected ({} bytes missing at the end)",
                self.expected_len - self.actual_len
            )?;
        }
        Ok(())
    }
}

/// Compares two files byte by byte.
pub fn compare_files(expected: &Path, actual: &Path) -> Result<(), Mismatch> {
    let a = read(expected);
    let b = read(actual);
    compare_bytes(&a, &b)
}

/// Compares two byte slices.
pub fn compare_bytes(expected: &[u8], actual: &[u8]) -> Result<(), Mismatch> {
    let first_diff = expected
        .iter()
        .zip(actual)
        .position(|(x, y)| x != y)
        .unwrap_or(expected.len().min(actual.len()));
    if first_diff == expected.len() && expected.len() == actual.len() {
        return Ok(());
    }
    Err(Mismatch {
        expected_len: expected.len() as u64,
        actual_len: actual.len() as u64,
        first_diff: first_diff as u64,
    })
}

/// Panics with the first differing offset and both sizes unless the files are identical.
pub fn assert_same_bytes(expected: &Path, actual: &Path) {
    if let Err(m) = compare_files(expected, actual) {
        panic!(
            "{} differs from {}: {m}",
            actual.display(),
            expected.display()
        );
    }
}

/// Panics unless `actual` is `expected` followed only by whole TS null packets: what a
/// receiver gets from a publisher whose feeder keeps the stream alive after the file
/// (see `recipes::Feeder`). Any other difference is reported like [`assert_same_bytes`].
pub fn assert_delivered(expected: &Path, actual: &Path) {
    let (want, got) = (read(expected), read(actual));
    let head = &got[..got.len().min(want.len())];
    if let Err(m) = compare_bytes(&want, head) {
        panic!(
            "{} differs from {}: {m}",
            actual.display(),
            expected.display()
        );
    }
    let tail = &got[want.len()..];
    let null = ts_null_packet();
    if let Some(bad) = tail.chunks(TS_PACKET).position(|p| p != null) {
        panic!(
            "{}: after the expected {} bytes, TS packet {bad} of the filler is not a null packet",
            actual.display(),
            want.len()
        );
    }
}

/// File length, 0 if it does not exist yet.
pub fn file_len(path: &Path) -> u64 {
    fs::metadata(path).map_or(0, |m| m.len())
}

/// One TS null packet: sync byte, PID 0x1FFF, payload only, stuffing bytes.
pub fn ts_null_packet() -> [u8; TS_PACKET] {
    let mut p = [0xFFu8; TS_PACKET];
    p[..4].copy_from_slice(&[0x47, 0x1F, 0xFF, 0x10]);
    p
}

fn generate(spec: TsSpec, out: &Path) {
    let mut cmd = Command::new(tools::ffmpeg());
    let (kbps, secs) = (spec.video_kbps, spec.seconds.to_string());
    cmd.args(["-hide_banner", "-nostdin", "-loglevel", "error", "-y"])
        .args([
            "-f",
            "lavfi",
            "-i",
            &format!(
                "testsrc=size={}x{}:rate={}",
                spec.width, spec.height, spec.fps
            ),
        ])
        .args(["-f", "lavfi", "-i", "sine=frequency=1000:sample_rate=48000"])
        .args(["-t", &secs, "-map", "0:v", "-map", "1:a"])
        // One x264 thread and fixed rate control: the same bytes on every run and machine
        // with the same ffmpeg build. A keyframe every second (fast-start tests need them).
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-threads", "1", "-pix_fmt", "yuv420p",
        ])
        .args([
            "-g",
            &spec.fps.to_string(),
            "-keyint_min",
            &spec.fps.to_string(),
            "-sc_threshold",
            "0",
        ])
        .args([
            "-b:v",
            &format!("{kbps}k"),
            "-minrate",
            &format!("{kbps}k"),
            "-maxrate",
            &format!("{kbps}k"),
        ])
        .args([
            "-bufsize",
            &format!("{}k", kbps / 2),
            "-x264-params",
            "nal-hrd=cbr:force-cfr=1",
        ])
        .args(["-c:a", "aac", "-b:a", "128k"])
        // No version strings or dates in the stream: identical bytes from any ffmpeg 5.x run.
        .args([
            "-fflags",
            "+bitexact",
            "-flags:v",
            "+bitexact",
            "-flags:a",
            "+bitexact",
            "-map_metadata",
            "-1",
        ])
        .args(["-f", "mpegts"])
        .arg(out);
    let done = run_bounded("ffmpeg generate", &mut cmd, Duration::from_secs(120));
    assert!(
        done.status.success(),
        "generating {} failed: {}",
        out.display(),
        done.stderr
    );
    if spec.pad_to_srt_payload {
        pad_with_null_packets(out);
    }
}

fn pad_with_null_packets(path: &Path) {
    let len = file_len(path) as usize;
    assert_eq!(
        len % TS_PACKET,
        0,
        "ffmpeg wrote a TS file that is not whole packets"
    );
    let missing = (SRT_LIVE_PAYLOAD - len % SRT_LIVE_PAYLOAD) % SRT_LIVE_PAYLOAD / TS_PACKET;
    let pad: Vec<u8> = (0..missing).flat_map(|_| ts_null_packet()).collect();
    let mut f = fs::OpenOptions::new()
        .append(true)
        .open(path)
        .expect("open for padding");
    io::Write::write_all(&mut f, &pad).expect("append null packets");
}

/// Returns `path`, creating it with `make(tmp)` first if needed. `make` writes a temporary file
/// that is renamed into place, so concurrent tests (threads or test binaries) never read a
/// partial file; at worst two of them generate the same bytes and one rename wins.
fn cached(path: &Path, make: impl FnOnce(&Path)) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let _serial = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if path.exists() {
        return path.to_owned();
    }
    let dir = path.parent().expect("cache path has a parent");
    fs::create_dir_all(dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(
        ".tmp-{}-{n}-{}",
        std::process::id(),
        path.file_name().expect("name").to_string_lossy()
    ));
    make(&tmp);
    fs::rename(&tmp, path)
        .unwrap_or_else(|e| panic!("rename {} -> {}: {e}", tmp.display(), path.display()));
    path.to_owned()
}

fn read(path: &Path) -> Vec<u8> {
    let mut buf = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut buf))
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    buf
}

/// FNV-1a, 64 bit: a stable hash for cache file names (std's hasher is not stable).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A TS packet that starts a video keyframe: payload start, random access indicator, on the
/// test media's video PID (0x100, ffmpeg's default).
pub fn is_video_keyframe(p: &[u8]) -> bool {
    let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
    p[1] & 0x40 != 0 && p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x40 != 0 && pid == 0x100
}

/// Where `out` starts in `file`: a 7-packet payload boundary (publishers and the ingest send
/// the file in such payloads) whose payload holds a keyframe; panics unless `out` is the file
/// from there, byte for byte.
pub fn assert_byte_exact_from_keyframe(out: &[u8], file: &[u8], what: &str) -> usize {
    assert!(
        out.len() >= SRT_LIVE_PAYLOAD,
        "{what}: only {} bytes",
        out.len()
    );
    let at = file
        .windows(SRT_LIVE_PAYLOAD)
        .step_by(SRT_LIVE_PAYLOAD)
        .position(|w| w == &out[..SRT_LIVE_PAYLOAD])
        .unwrap_or_else(|| panic!("{what}: the first payload is not one of the file's"))
        * SRT_LIVE_PAYLOAD;
    assert!(
        out[..SRT_LIVE_PAYLOAD]
            .chunks(TS_PACKET)
            .any(is_video_keyframe),
        "{what}: the player's first payload holds a keyframe"
    );
    let want = &file[at..];
    let n = want.len().min(out.len());
    if let Err(m) = compare_bytes(&want[..n], &out[..n]) {
        panic!("{what}: not byte-exact from offset {at}: {m:?}");
    }
    at
}
