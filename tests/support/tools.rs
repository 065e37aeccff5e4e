//! Locating the external tools and checking their versions.
//!
//! Owns: the PATH lookup for ffmpeg, ffprobe and srt-live-transmit, and the libsrt version check.
//! Must not: skip. A missing tool is a test failure with a message that says how to install it;
//! `./scripts/test.sh` installs them (Debian packages `ffmpeg` and `srt-tools`) before any test.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::process::run_bounded;

/// Set to `1` by `scripts/test.sh`: the tools were installed by the script, so a missing or
/// broken tool means the installation itself failed.
pub const REQUIRE_INTEROP_ENV: &str = "SRTRELAY_REQUIRE_INTEROP";

/// The libsrt version this harness and docs/interop-recipes.md were written against.
pub const EXPECTED_LIBSRT: (u32, u32, u32) = (1, 5, 1);

/// `true` when the run was started by `scripts/test.sh` (or CI) and the tools must be present.
pub fn interop_required() -> bool {
    env::var(REQUIRE_INTEROP_ENV).is_ok_and(|v| v == "1")
}

/// Absolute path of `name` found on PATH, or a panic that says how to get it. Never skips.
pub fn require(name: &str) -> PathBuf {
    if let Some(path) = find_on_path(name) {
        return path;
    }
    let why = if interop_required() {
        "scripts/test.sh was supposed to install it: check its apt-get output above"
    } else {
        "run ./scripts/test.sh (it installs the Debian packages `ffmpeg` and `srt-tools`), \
         or `apt-get install ffmpeg srt-tools`"
    };
    panic!("required tool `{name}` not found on PATH; interop tests never skip: {why}");
}

/// Path of `ffmpeg`, checked once to be built with libsrt.
pub fn ffmpeg() -> PathBuf {
    let path = require("ffmpeg");
    ffmpeg_version();
    path
}

/// Path of `ffprobe`.
pub fn ffprobe() -> PathBuf {
    require("ffprobe")
}

/// Path of `srt-live-transmit` (Debian package `srt-tools`), checked once for a libsrt >= 1.5.
pub fn srt_live_transmit() -> PathBuf {
    let path = require("srt-live-transmit");
    libsrt_version();
    path
}

/// The first line of `ffmpeg -version`. Panics if ffmpeg was built without libsrt: then the
/// `srt://` protocol does not exist and every ffmpeg recipe would fail with a confusing error.
pub fn ffmpeg_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut out = String::new();
        for _ in 0..PROBE_ATTEMPTS {
            out = run_capture(&require("ffmpeg"), &["-hide_banner", "-version"]);
            if out.contains("ffmpeg version") {
                break;
            }
        }
        assert!(
            out.contains("--enable-libsrt"),
            "this ffmpeg is built without libsrt (no --enable-libsrt in `ffmpeg -version`); \
             install Debian's `ffmpeg` package"
        );
        out.lines().next().unwrap_or_default().to_owned()
    })
}

/// How often a tool-version probe is run before its output is believed.
const PROBE_ATTEMPTS: usize = 3;

/// libsrt version as reported by `srt-live-transmit -version`. Panics below 1.5 (the recipes
/// rely on 1.5 behaviour); a different 1.5.x is accepted with a note on stderr.
pub fn libsrt_version() -> (u32, u32, u32) {
    static VERSION: OnceLock<(u32, u32, u32)> = OnceLock::new();
    *VERSION.get_or_init(|| {
        // Retried: a probe that lost its output to a busy machine is not a wrong version.
        let mut out = String::new();
        let mut version = None;
        for _ in 0..PROBE_ATTEMPTS {
            out = run_capture(&require("srt-live-transmit"), &["-version"]);
            version = parse_libsrt_version(&out);
            if version.is_some() {
                break;
            }
        }
        let version = version.unwrap_or_else(|| {
            panic!("cannot read the libsrt version ({PROBE_ATTEMPTS} attempts) from: {out:?}")
        });
        assert!(
            version >= (1, 5, 0),
            "libsrt {version:?} is too old: the interop recipes are written for {EXPECTED_LIBSRT:?}"
        );
        if version != EXPECTED_LIBSRT {
            eprintln!(
                "note: libsrt {version:?}, the recipes were checked with {EXPECTED_LIBSRT:?}"
            );
        }
        version
    })
}

/// Extracts `1.5.1` from a line like `SRT Library version: 1.5.1, clock type: ...`.
pub fn parse_libsrt_version(text: &str) -> Option<(u32, u32, u32)> {
    let rest = text.split("SRT Library version:").nth(1)?;
    let token = rest
        .split(|c: char| c == ',' || c.is_whitespace())
        .find(|t| !t.is_empty())?;
    let mut parts = token.split('.').map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH")?;
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Runs a short informational command (`-version`) and returns stdout + stderr.
fn run_capture(tool: &Path, args: &[&str]) -> String {
    let name = tool
        .file_name()
        .map_or_else(|| "tool".into(), |n| n.to_string_lossy());
    let out = run_bounded(
        &name,
        Command::new(tool).args(args),
        Duration::from_secs(20),
    );
    out.stdout + &out.stderr
}
