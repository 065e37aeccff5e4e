//! A real browser for playback tests: headless Chromium driven over WebDriver.
//!
//! Owns: starting `chromedriver` (Debian `chromium-driver`) on a free loopback port in a process
//! group of its own, one Chromium session per [`Browser`], a small blocking W3C WebDriver client
//! (JSON over HTTP/1.1 through support/http_client, every call with a deadline), and [`Browser::
//! play_and_watch`], which plays a player page and reports what a viewer would have seen.
//! Must not: leave a process behind (the whole group is killed on drop, and [`Browser::quit`]
//! checks none survived), reach anything but 127.0.0.1 (Chromium's background services are
//! off and every host name but the loopback address fails to resolve), or skip.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::clockbar::{self, Area};
use super::http_client;
use super::image::{self, RgbImage};
use super::media;
use super::net;
use super::pgroup;
use super::process::Proc;
use super::tools;

/// chromedriver answering `/status`; a fresh process on a busy machine can take seconds.
const DRIVER_START: Duration = Duration::from_secs(30);
/// Creating a session starts Chromium: its first start on a loaded 2-core machine is slow.
const SESSION_START: Duration = Duration::from_secs(90);
/// Any other WebDriver command (navigation and scripts have their own W3C timeouts below, and
/// the HTTP deadline is theirs plus this).
const COMMAND: Duration = Duration::from_secs(30);
const PAGE_LOAD: Duration = Duration::from_secs(30);
const SCRIPT: Duration = Duration::from_secs(20);
/// Closing the session waits for Chromium to exit; then the group is killed regardless.
const QUIT: Duration = Duration::from_secs(15);
const GROUP_GONE: Duration = Duration::from_secs(10);
/// The viewport: a 640 px player fits unscaled, so screenshots show the picture 1:1.
const WINDOW: (u32, u32) = (1280, 800);

/// Where Debian puts the real binary; `/usr/bin/chromium` is a shell wrapper around it.
const DEBIAN_CHROMIUM: &str = "/usr/lib/chromium/chromium";

/// Set by scripts/test.sh: the `dist/` directory of the pinned npm package `hls.js`.
pub const HLSJS_DIR_ENV: &str = "SRTRELAY_HLSJS_DIR";
/// Where scripts/test.sh installs it (`npm install --prefix target/npm`), for a plain
/// `cargo test` after one run of the script.
const HLSJS_DEFAULT: &str = "target/npm/node_modules/hls.js/dist";

/// hls.js's `dist/` directory (`hls.min.js` inside), from `SRTRELAY_HLSJS_DIR` or the place
/// scripts/test.sh puts it. Never skips: panics with the command that installs it.
pub fn hlsjs_dir() -> PathBuf {
    let dir = std::env::var_os(HLSJS_DIR_ENV).map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join(HLSJS_DEFAULT),
        PathBuf::from,
    );
    assert!(
        dir.join("hls.min.js").is_file(),
        "hls.js not found at {} ({HLSJS_DIR_ENV}): run ./scripts/test.sh, which installs the \
         pinned version with `npm install --prefix target/npm hls.js@<version>`",
        dir.display()
    );
    dir
}

/// A headless Chromium session. Dropping it ends the session and kills chromedriver, Chromium
/// and everything they started.
pub struct Browser {
    driver: Proc,
    addr: SocketAddr,
    session: Option<String>,
    profile: PathBuf,
    closed: bool,
}

impl Browser {
    /// chromedriver and a Chromium session; `name` names the scratch profile directory. Panics
    /// with chromedriver's output if either does not start in time.
    pub fn start(name: &str) -> Browser {
        let chromedriver = tools::require("chromedriver");
        let chromium = if Path::new(DEBIAN_CHROMIUM).exists() {
            PathBuf::from(DEBIAN_CHROMIUM)
        } else {
            tools::require("chromium")
        };
        let profile = media::scratch_dir(&format!("{name}-chromium"));
        let mut browser = Browser::start_driver(&chromedriver, &profile);
        let caps = json!({"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {
                "binary": chromium,
                "args": chromium_args(&profile),
            },
            // Console messages, for failure reports (`console_log`).
            "goog:loggingPrefs": {"browser": "ALL"},
            "timeouts": {
                "script": SCRIPT.as_millis() as u64,
                "pageLoad": PAGE_LOAD.as_millis() as u64,
                "implicit": 0,
            },
        }}});
        let value = browser
            .call("POST", "/session", Some(&caps), SESSION_START)
            .unwrap_or_else(|e| panic!("cannot start Chromium: {e}\n{}", browser.diagnostics()));
        let id = value["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {value}"))
            .to_owned();
        browser.session = Some(id);
        browser
    }

    fn start_driver(chromedriver: &Path, profile: &Path) -> Browser {
        // A port below the ephemeral range (net.rs explains why), free for TCP now; a driver
        // that loses a race for it exits, and we try another.
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_tcp_port();
            let mut cmd = Command::new(chromedriver);
            cmd.arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                // Chromium keeps its crash database under the XDG config directory, not the
                // profile: point it into our scratch directory too, so nothing lands in the
                // user's home and the crash handler is recognisable by its --database path.
                .env("XDG_CONFIG_HOME", profile.join("xdg-config"))
                .env("XDG_CACHE_HOME", profile.join("xdg-cache"))
                .stdin(Stdio::null());
            pgroup::in_new_group(&mut cmd);
            let driver = Proc::spawn_capturing_stdout("chromedriver", &mut cmd);
            let mut browser = Browser {
                driver,
                addr: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
                session: None,
                profile: profile.to_owned(),
                closed: false,
            };
            match browser.wait_ready() {
                Ok(()) => return browser,
                Err(e) => last = format!("{e}\n{}", browser.diagnostics()),
            }
        }
        panic!("chromedriver did not start (3 ports tried): {last}");
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + DRIVER_START;
        loop {
            if let Some(status) = self.driver.try_wait() {
                return Err(format!("chromedriver exited: {status}"));
            }
            if let Ok(v) = self.call("GET", "/status", None, Duration::from_secs(2))
                && v["ready"].as_bool() == Some(true)
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("chromedriver not ready within {DRIVER_START:?}"));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    fn session_path(&self, rest: &str) -> String {
        let id = self.session.as_deref().expect("session is open");
        format!("/session/{id}{rest}")
    }

    /// Loads `url` and waits for its load event (W3C page-load timeout).
    pub fn navigate(&self, url: &str) -> Result<(), String> {
        let body = json!({ "url": url });
        self.call(
            "POST",
            &self.session_path("/url"),
            Some(&body),
            PAGE_LOAD + COMMAND,
        )
        .map(drop)
    }

    /// Runs `script` as a function body (`return` gives the value) with `args` as `arguments`.
    pub fn execute(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        let body = json!({ "script": script, "args": args });
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(&body),
            SCRIPT + COMMAND,
        )
    }

    /// Like [`Browser::execute`], but the script ends by calling its last argument (the
    /// callback WebDriver appends) with the value; fails after the script timeout.
    pub fn execute_async(&self, script: &str, args: &[Value]) -> Result<Value, String> {
        let body = json!({ "script": script, "args": args });
        self.call(
            "POST",
            &self.session_path("/execute/async"),
            Some(&body),
            SCRIPT + COMMAND,
        )
    }

    /// The viewport as PNG bytes.
    pub fn screenshot(&self) -> Result<Vec<u8>, String> {
        let v = self.call("GET", &self.session_path("/screenshot"), None, COMMAND)?;
        let b64 = v
            .as_str()
            .ok_or_else(|| format!("screenshot is not a string: {v:.100}"))?;
        base64_decode(b64)
    }

    /// The page's console messages since the last call (chromedriver's log extension), for
    /// failure messages. Empty if the driver does not offer it.
    pub fn console_log(&self) -> Vec<String> {
        let body = json!({ "type": "browser" });
        let Ok(Value::Array(entries)) =
            self.call("POST", &self.session_path("/se/log"), Some(&body), COMMAND)
        else {
            return Vec::new();
        };
        entries
            .iter()
            .map(|e| format!("{} {}", e["level"].as_str().unwrap_or("?"), e["message"]))
            .collect()
    }

    /// Plays the player page at `url` for `watch`: `video.currentTime` every 250 ms, the clock
    /// bar every second, then the page's hls.js error log and a screenshot. Panics only if the
    /// page cannot be loaded at all; everything else is in the report for the test to judge.
    pub fn play_and_watch(&self, url: &str, watch: Duration) -> PlayReport {
        const POLL: Duration = Duration::from_millis(250);
        const CLOCK_EVERY: Duration = Duration::from_secs(1);
        self.navigate(url)
            .unwrap_or_else(|e| panic!("cannot load {url}: {e}"));
        let start = Instant::now();
        let mut report = PlayReport::default();
        let mut next_clock = start;
        let mut tick = start;
        while start.elapsed() < watch {
            let t = self
                .execute(
                    "const v = document.querySelector('video'); return v ? v.currentTime : null;",
                    &[],
                )
                .unwrap_or_else(|e| panic!("polling currentTime: {e}"));
            if let Some(t) = t.as_f64() {
                report.current_times.push((start.elapsed(), t));
            }
            if Instant::now() >= next_clock {
                next_clock += CLOCK_EVERY;
                if let Some((encoded, now)) = self.read_clock() {
                    report.latency_ms.push(now as i64 - encoded as i64);
                    report.clock_reads += 1;
                } else {
                    report.clock_misses += 1;
                }
            }
            tick += POLL;
            if let Some(wait) = tick.checked_duration_since(Instant::now()) {
                thread::sleep(wait);
            }
        }
        let log = self
            .execute(
                "const p = window.srtrelayPlayer;
                 if (!p) return null;
                 return {fatal: p.fatal, errors: p.errors.map(e =>
                   e.type + '/' + e.details + (e.fatal ? ' FATAL' : '') +
                   (e.reason ? ': ' + e.reason : '') + ' @' + e.at_ms + 'ms')};",
                &[],
            )
            .unwrap_or_else(|e| panic!("reading srtrelayPlayer: {e}"));
        if log.is_null() {
            report
                .errors
                .push("page has no window.srtrelayPlayer".into());
            report.fatal = true;
        } else {
            report.fatal = log["fatal"].as_bool().unwrap_or(true);
            report.errors = log["errors"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|e| e.as_str().unwrap_or("?").to_owned())
                        .collect()
                })
                .unwrap_or_default();
        }
        // The page's reading just before the screenshot, to cross-check the Rust reader.
        report.page_clock_ms = self.read_clock().map(|(encoded, _)| encoded);
        let area = self.video_area();
        report.screenshot_png = self
            .screenshot()
            .unwrap_or_else(|e| panic!("screenshot: {e}"));
        report.video_size = area.map(|(_, w, h)| (w, h));
        report.screenshot_clock_ms = match (RgbImage::from_png(&report.screenshot_png), area) {
            (Ok(img), Some((area, _, _))) => clockbar::read(&img, area),
            (Err(e), _) => Err(e),
            (_, None) => Err("no video frame on the page".into()),
        };
        report.console = self.console_log();
        report
    }

    /// `window.srtrelayReadClock()`: (encoded_ms, now_ms), or None if the page has no reader or
    /// the picture no readable bar.
    pub fn read_clock(&self) -> Option<(u64, u64)> {
        let v = self
            .execute(
                "return window.srtrelayReadClock ? window.srtrelayReadClock() : null;",
                &[],
            )
            .ok()?;
        Some((v["encoded_ms"].as_u64()?, v["now_ms"].as_u64()?))
    }

    /// Where the video's picture is in the viewport in device pixels (its box, less the
    /// letterboxing of `object-fit: contain`), and the picture's size; None before the first
    /// frame.
    pub fn video_area(&self) -> Option<(Area, u32, u32)> {
        let v = self
            .execute(
                "const v = document.querySelector('video');
                 if (!v || !v.videoWidth) return null;
                 const r = v.getBoundingClientRect(), d = window.devicePixelRatio;
                 const s = Math.min(r.width / v.videoWidth, r.height / v.videoHeight);
                 const w = v.videoWidth * s, h = v.videoHeight * s;
                 return {x: (r.left + (r.width - w) / 2) * d, y: (r.top + (r.height - h) / 2) * d,
                         w: w * d, vw: v.videoWidth, vh: v.videoHeight};",
                &[],
            )
            .ok()?;
        let area = Area {
            x: v["x"].as_f64()?,
            y: v["y"].as_f64()?,
            width: v["w"].as_f64()?,
        };
        Some((area, v["vw"].as_u64()? as u32, v["vh"].as_u64()? as u32))
    }

    /// Ends the session, kills the process group and checks that nothing of it survived.
    pub fn quit(mut self) -> Result<(), String> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), String> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let mut problems = Vec::new();
        if let Some(id) = self.session.take()
            && let Err(e) = self.call("DELETE", &format!("/session/{id}"), None, QUIT)
        {
            problems.push(format!("closing the session: {e}"));
        }
        let pgid = self.driver.pid();
        if let Err(alive) = pgroup::kill_group(pgid, GROUP_GONE) {
            problems.push(format!("still alive after SIGKILL: {alive:?}"));
        }
        self.driver.kill();
        // Chromium's crash handler (crashpad) daemonizes into a group of its own, so the group
        // kill misses it. It exits by itself once its browser is gone (about a second after a
        // SIGKILL); it names our scratch directory in its arguments, so it is found by that
        // and killed by pid if it has not. (`--disable-crashpad-for-testing` would avoid it,
        // but with that flag Chromium 156 stays on about:blank after a navigation.)
        if let Err(alive) = pgroup::wait_gone_by_arg(&self.profile.to_string_lossy(), GROUP_GONE) {
            problems.push(format!("crash handler still alive: {alive:?}"));
        }
        let _ = std::fs::remove_dir_all(&self.profile);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }

    /// chromedriver's output so far, for failure messages.
    pub fn diagnostics(&self) -> String {
        format!(
            "{}\n--- chromedriver stdout ---\n{}",
            self.driver.diagnostics(),
            self.driver.stdout_text()
        )
    }

    /// One WebDriver command: the W3C `value` of the answer, or the error it names.
    fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, String> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let (status, text) = http_request(self.addr, method, path, &body, timeout)
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let json: Value = serde_json::from_str(&text)
            .map_err(|e| format!("{method} {path}: HTTP {status}, not JSON ({e}): {text:.300}"))?;
        let value = json.get("value").cloned().unwrap_or(Value::Null);
        if status >= 400 || value.get("error").is_some_and(Value::is_string) {
            return Err(format!(
                "{method} {path}: HTTP {status} {}: {}",
                value["error"].as_str().unwrap_or("?"),
                value["message"]
                    .as_str()
                    .unwrap_or("")
                    .lines()
                    .next()
                    .unwrap_or("")
            ));
        }
        Ok(value)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// Chromium's flags: headless, autoplay without a gesture, and quiet. Every background service
/// that would call home is off, and host names other than the loopback address resolve to
/// nothing, so the tests' traffic stays on 127.0.0.1.
fn chromium_args(profile: &Path) -> Vec<String> {
    let mut args: Vec<String> = [
        "--headless=new",
        // Root in a container: Chromium's sandbox needs user namespaces it does not get.
        "--no-sandbox",
        "--autoplay-policy=no-user-gesture-required",
        "--mute-audio",
        "--force-device-scale-factor=1",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-default-apps",
        "--disable-domain-reliability",
        "--disable-extensions",
        "--disable-sync",
        "--metrics-recording-only",
        "--no-pings",
        // A page in a headless window counts as hidden: without these its timers and media
        // may be throttled, which would read as a slow player.
        "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows",
        "--disable-renderer-backgrounding",
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--window-size={},{}", WINDOW.0, WINDOW.1));
    args.push(format!("--user-data-dir={}", profile.display()));
    args
}

/// What a viewer saw during [`Browser::play_and_watch`].
pub struct PlayReport {
    /// (time since the page loaded, `video.currentTime`), every ~250 ms.
    pub current_times: Vec<(Duration, f64)>,
    /// Every hls.js ERROR event the page logged (`type/details [FATAL]: reason @ms`).
    pub errors: Vec<String>,
    /// Whether any of them was fatal.
    pub fatal: bool,
    /// Glass-to-glass latency from the clock bar, once a second when readable.
    pub latency_ms: Vec<i64>,
    pub clock_reads: usize,
    pub clock_misses: usize,
    pub screenshot_png: Vec<u8>,
    /// The picture's size (`videoWidth`, `videoHeight`) when the screenshot was taken.
    pub video_size: Option<(u32, u32)>,
    /// The clock the page read just before the screenshot, and the one the Rust reader found
    /// in the screenshot: the two readers should agree to within the time between them.
    pub page_clock_ms: Option<u64>,
    pub screenshot_clock_ms: Result<u64, String>,
    pub console: Vec<String>,
}

impl Default for PlayReport {
    fn default() -> Self {
        PlayReport {
            current_times: Vec::new(),
            errors: Vec::new(),
            fatal: false,
            latency_ms: Vec::new(),
            clock_reads: 0,
            clock_misses: 0,
            screenshot_png: Vec::new(),
            video_size: None,
            page_clock_ms: None,
            screenshot_clock_ms: Err("no screenshot yet".into()),
            console: Vec::new(),
        }
    }
}

impl PlayReport {
    /// How far `currentTime` moved from the first sample to the last, in seconds.
    pub fn progress(&self) -> f64 {
        match (self.current_times.first(), self.current_times.last()) {
            (Some((_, a)), Some((_, b))) => b - a,
            _ => 0.0,
        }
    }

    /// When `currentTime` first moved (time to first frame, roughly).
    pub fn started_after(&self) -> Option<Duration> {
        let first = self.current_times.first()?.1;
        self.current_times
            .iter()
            .find(|(_, t)| *t > first)
            .map(|(at, _)| *at)
    }

    /// The longest time `currentTime` stood still after it first moved (a stall).
    pub fn longest_stall(&self) -> Duration {
        let Some(started) = self.started_after() else {
            return Duration::ZERO;
        };
        let mut longest = Duration::ZERO;
        let mut since = (started, f64::NEG_INFINITY);
        for &(at, t) in self.current_times.iter().filter(|(at, _)| *at >= started) {
            if t > since.1 {
                since = (at, t);
            } else {
                longest = longest.max(at - since.0);
            }
        }
        longest
    }

    /// Median glass-to-glass latency, if any was read.
    pub fn median_latency_ms(&self) -> Option<i64> {
        let mut l = self.latency_ms.clone();
        l.sort_unstable();
        l.get(l.len() / 2).copied()
    }

    /// Checks the screenshot for ffmpeg's test pattern.
    pub fn screenshot_shows_test_pattern(&self) -> Result<(), String> {
        screenshot_shows_test_pattern(&self.screenshot_png)
    }

    /// Everything, for assertion messages.
    pub fn summary(&self) -> String {
        let times: Vec<String> = self
            .current_times
            .iter()
            .step_by(4)
            .map(|(at, t)| format!("{:.1}s:{t:.2}", at.as_secs_f64()))
            .collect();
        format!(
            "progress {:.2} s, started after {:?}, longest stall {:?}, video {:?}\n\
             currentTime samples: {}\nlatency ms ({} read, {} unreadable): {:?}\n\
             page clock {:?}, screenshot clock {:?}\nhls.js errors (fatal: {}): {:#?}\n\
             console: {:#?}",
            self.progress(),
            self.started_after(),
            self.longest_stall(),
            self.video_size,
            times.join(" "),
            self.clock_reads,
            self.clock_misses,
            self.latency_ms,
            self.page_clock_ms,
            self.screenshot_clock_ms,
            self.fatal,
            self.errors,
            self.console
        )
    }
}

/// `Ok` if the PNG shows ffmpeg's `testsrc`/`testsrc2` pattern (several distinct saturated
/// colours; see `image::shows_test_pattern`), not a black or blank picture.
pub fn screenshot_shows_test_pattern(png: &[u8]) -> Result<(), String> {
    image::shows_test_pattern(&RgbImage::from_png(png)?)
}

/// A TCP port on 127.0.0.1 below the ephemeral range (net.rs's registry, so no other test of
/// this process gets it) that is free for TCP right now.
pub fn free_tcp_port() -> u16 {
    for _ in 0..100 {
        let port = net::free_udp_port();
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
    panic!("no free TCP port on 127.0.0.1 after 100 tries");
}

/// One HTTP/1.1 request with a JSON body and `Connection: close` (support/http_client reads
/// the answer, every read within the deadline): the status and body.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &str,
    timeout: Duration,
) -> Result<(u16, String), String> {
    let deadline = Instant::now() + timeout;
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json; \
         charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut response = http_client::raw_request(addr, raw.as_bytes(), timeout)?;
    let left = deadline.saturating_duration_since(Instant::now());
    let text = String::from_utf8_lossy(response.read_to_end(left)).into_owned();
    if !response.finished() {
        return Err(format!(
            "answer cut short within {timeout:?} ({} bytes)",
            text.len()
        ));
    }
    Ok((response.status, text))
}

/// Standard base64 (RFC 4648, with padding), as WebDriver sends screenshots.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let value = |c: u8| -> Result<u32, String> {
        Ok(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("not base64: {:?}", c as char)),
        } as u32)
    };
    let clean: Vec<u8> = text.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let data = clean
        .strip_suffix(b"==")
        .or_else(|| clean.strip_suffix(b"="))
        .unwrap_or(&clean);
    let mut out = Vec::with_capacity(data.len() * 3 / 4);
    for group in data.chunks(4) {
        let mut acc = 0u32;
        for &c in group {
            acc = acc << 6 | value(c)?;
        }
        match group.len() {
            4 => out.extend_from_slice(&acc.to_be_bytes()[1..]),
            3 => out.extend_from_slice(&(acc << 6).to_be_bytes()[1..3]),
            2 => out.push((acc >> 4) as u8),
            _ => return Err("truncated base64".into()),
        }
    }
    Ok(out)
}
