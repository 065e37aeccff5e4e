//! RTMP push to a real server: an ffmpeg-made TS is turned into FLV tags (`media::flvmux`) and
//! published, paced in real time, by our `RtmpPublisher` over a `std::net::TcpStream` to
//! nginx-rtmp (Debian `libnginx-mod-rtmp`) on loopback, while ffmpeg reads the stream back
//! from nginx; what ffmpeg wrote must decode without a single error, with video and audio, as
//! long as what was pushed. And nginx's refusals reach the publisher. `RTMP_WRITE_SEEDS=1` also
//! records what nginx sent after the handshake as fuzz seeds (fuzz/corpus/rtmp_publisher/,
//! format: `fuzz/checks.rs` `rtmp_publisher`).

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod support;

use std::fs;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use srtrelay::media::flvmux::{FlvTag, TsToFlv, TsToFlvStats};
use srtrelay::rtmp::{PublisherConfig, PublisherEvent, RtmpPublisher};
use support::media::{self, TsSpec};
use support::nginx_rtmp::{Nginx, free_tcp_port};
use support::process::{Proc, run_bounded};
use support::tools;

const T: Duration = Duration::from_secs(30);

/// Our publisher on a blocking TcpStream: reads with a short timeout so the same loop paces
/// the tags.
struct Push {
    stream: TcpStream,
    publisher: RtmpPublisher,
    events: Vec<PublisherEvent>,
    eof: bool,
    /// Everything nginx sent.
    received: Vec<u8>,
}

impl Push {
    fn connect(port: u16, app: &str, key: &str) -> Push {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to nginx");
        stream.set_nodelay(true).expect("nodelay");
        stream
            .set_read_timeout(Some(Duration::from_millis(5)))
            .expect("read timeout");
        let tc_url = format!("rtmp://127.0.0.1:{port}/{app}");
        // A small window, so that nginx acknowledges a few times within the push.
        let cfg = PublisherConfig {
            ack_window: 256 * 1024,
            ..PublisherConfig::default()
        };
        let publisher =
            RtmpPublisher::new(cfg, app, key, &tc_url, Instant::now()).expect("publisher");
        let mut push = Push {
            stream,
            publisher,
            events: Vec::new(),
            eof: false,
            received: Vec::new(),
        };
        let hello = push.publisher.take_output();
        push.write(&hello);
        push
    }

    fn write(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.stream.write_all(bytes).expect("write to nginx");
        }
    }

    /// One read (up to the read timeout), its answer written, the setup deadline checked.
    fn pump(&mut self) {
        let mut buf = [0u8; 16 * 1024];
        if !self.eof {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.eof = true;
                    self.publisher.handle_eof();
                }
                Ok(n) => {
                    self.received.extend_from_slice(&buf[..n]);
                    let reply = self
                        .publisher
                        .handle_input(&buf[..n], Instant::now())
                        .expect("nginx speaks RTMP");
                    self.write(&reply);
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.eof = true;
                    self.publisher.handle_eof();
                }
                Err(e) => panic!("read from nginx: {e}"),
            }
        } else {
            thread::sleep(Duration::from_millis(5));
        }
        self.publisher
            .on_timeout(Instant::now())
            .expect("publish set up in time");
        while let Some(e) = self.publisher.poll_event() {
            self.events.push(e);
        }
    }

    /// Records nginx's chunk stream (after S0+S1+S2) as a seed when asked to.
    fn write_seed(&self, name: &str) {
        if std::env::var_os("RTMP_WRITE_SEEDS").is_none() {
            return;
        }
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/rtmp_publisher");
        fs::create_dir_all(dir).expect("seed dir");
        let mut seed = vec![0u8];
        seed.extend_from_slice(&self.received[1 + 2 * 1536..]);
        fs::write(format!("{dir}/{name}"), seed).expect("write seed");
    }

    /// Pumps until an event matching `want` arrives; panics with the events so far otherwise.
    fn wait_for(&mut self, what: &str, want: impl Fn(&PublisherEvent) -> bool) -> PublisherEvent {
        let deadline = Instant::now() + T;
        while Instant::now() < deadline {
            if let Some(e) = self.events.iter().find(|e| want(e)) {
                return e.clone();
            }
            self.pump();
        }
        panic!("no {what} within {T:?}: events {:?}", self.events);
    }
}

/// The fixture's tags, fed to `TsToFlv` in SRT-sized pieces as the relay's ring would.
fn tags_of(file: &Path) -> (Vec<FlvTag>, TsToFlvStats) {
    let ts = fs::read(file).expect("read fixture");
    let mut m = TsToFlv::new();
    let mut tags = Vec::new();
    for piece in ts.chunks(1316) {
        m.push(piece, &mut tags);
    }
    m.flush(&mut tags);
    (tags, *m.stats())
}

/// `codec_type` per stream and the container duration in seconds, from ffprobe.
fn probe(file: &Path) -> (Vec<String>, f64) {
    let out = run_bounded(
        "ffprobe",
        Command::new(tools::ffprobe())
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type,codec_name",
            ])
            .args(["-show_entries", "format=duration", "-of", "csv=p=0"])
            .arg(file),
        T,
    );
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        out.stderr
    );
    let mut streams = Vec::new();
    let mut duration = 0.0;
    for line in out.stdout.lines().filter(|l| !l.is_empty()) {
        match line.parse::<f64>() {
            Ok(d) => duration = d,
            Err(_) => streams.push(line.to_owned()),
        }
    }
    streams.sort();
    streams.dedup();
    (streams, duration)
}

#[test]
fn pushed_stream_reads_back_from_nginx_and_decodes() {
    let nginx = Nginx::start("rtmp-push-nginx", free_tcp_port());
    let file = media::test_ts(TsSpec::seconds(8));
    let (tags, stats) = tags_of(&file);
    assert_eq!(
        stats.pes_errors + stats.continuity_errors + stats.adts_errors + stats.no_parameter_sets,
        0,
        "{stats:?}"
    );
    assert!(
        stats.keyframes_out >= 8 && stats.audio_frames_out > 300,
        "{stats:?}"
    );
    let pushed_s = f64::from(tags.last().expect("tags").timestamp_ms) / 1000.0;

    let mut push = Push::connect(nginx.port, "live", "test");
    push.wait_for("Publishing", |e| *e == PublisherEvent::Publishing);
    assert!(push.events.contains(&PublisherEvent::Connected));

    // The reader joins right after the publish starts (nginx starts it at the next keyframe);
    // the media waits until nginx has it as a player, so that a slow ffmpeg start on a busy
    // machine costs no seconds of the stream.
    let out = nginx.dir.join("out.ts");
    let mut reader = Proc::spawn(
        "ffmpeg reader",
        Command::new(tools::ffmpeg())
            .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
            .arg(nginx.url("live", "test"))
            .args(["-c", "copy", "-f", "mpegts", "-y"])
            .arg(&out)
            .stdin(Stdio::null())
            .stdout(Stdio::null()),
    );

    let deadline = Instant::now() + T;
    while !nginx.error_log().contains("play: name='test'") {
        assert!(
            Instant::now() < deadline,
            "the reader never joined\n{}",
            reader.diagnostics()
        );
        push.pump();
    }

    // Each tag when its time comes, answering nginx in between.
    let start = Instant::now();
    for tag in &tags {
        let due = start + Duration::from_millis(u64::from(tag.timestamp_ms));
        while Instant::now() < due {
            push.pump();
        }
        let bytes = push
            .publisher
            .send_tag(tag, Instant::now())
            .expect("publishing");
        push.write(&bytes);
    }
    push.write_seed("nginx_publish");
    let sent = push.publisher.stats();
    assert_eq!(
        sent.video_tags + sent.audio_tags + sent.metadata_tags,
        tags.len() as u64
    );
    assert!(
        sent.acks_received > 0,
        "nginx acknowledged our bytes: {sent:?}"
    );
    assert!(
        !push
            .events
            .iter()
            .any(|e| matches!(e, PublisherEvent::Closed(_) | PublisherEvent::Refused(_))),
        "{:?}",
        push.events
    );
    // Unpublish: nginx tells the player the stream ended, and ffmpeg finishes the file.
    let bye = push.publisher.finish();
    push.write(&bye);
    let status = reader.wait_timeout(T);
    if status.is_none() {
        reader.terminate(Duration::from_secs(5));
    }
    reader.wait_for_stderr_eof(Duration::from_secs(5));
    assert!(
        status.is_some_and(|s| s.success()),
        "the reader ends with the publish\n{}",
        reader.diagnostics()
    );
    assert_eq!(reader.stderr_text(), "", "the reader saw no error");
    drop(push);

    // What ffmpeg read back decodes cleanly, has both tracks, and lasts as long as the push
    // (the reader was there from the first keyframe on).
    let decode = run_bounded(
        "ffmpeg decode",
        Command::new(tools::ffmpeg())
            .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
            .arg(&out)
            .args(["-f", "null", "-"]),
        T,
    );
    assert!(
        decode.status.success() && decode.stderr.is_empty(),
        "decode errors:\n{}",
        decode.stderr
    );
    let (streams, duration) = probe(&out);
    eprintln!(
        "pushed {pushed_s} s ({} tags, {} bytes, {} acks), read back {duration} s",
        tags.len(),
        sent.bytes_out,
        sent.acks_received
    );
    assert_eq!(streams, ["aac,audio", "h264,video"], "{streams:?}");
    assert!(
        (duration - pushed_s).abs() < 0.25,
        "read back {duration} s of a {pushed_s} s push"
    );
    assert!(
        nginx.error_log().contains("publish: name='test'"),
        "{}",
        nginx.error_log()
    );
}

/// An `on_publish` endpoint that says 403 to everything and keeps the request lines.
struct Hook {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Hook {
    fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind hook");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&requests);
        thread::spawn(move || {
            let end = Instant::now() + 2 * T;
            while Instant::now() < end {
                let Ok((mut conn, _)) = listener.accept() else {
                    thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                        _ => break,
                    }
                }
                let line = String::from_utf8_lossy(&head)
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().expect("hook log").push(line);
                let _ = conn.write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        Hook { port, requests }
    }
}

#[test]
fn refusals_from_nginx_are_reported() {
    let hook = Hook::start();
    let nginx = Nginx::start("rtmp-push-nginx-refusals", hook.port);
    let (tags, _) = tags_of(&media::test_ts(TsSpec::seconds(8)));

    // A stream someone else publishes: nginx answers publish with NetStream.Publish.BadName.
    let mut first = Push::connect(nginx.port, "live", "taken");
    first.wait_for("Publishing", |e| *e == PublisherEvent::Publishing);
    let mut second = Push::connect(nginx.port, "live", "taken");
    let refused = second.wait_for("Refused", |e| matches!(e, PublisherEvent::Refused(_)));
    assert_eq!(
        refused,
        PublisherEvent::Refused("NetStream.Publish.BadName".into())
    );
    assert_eq!(second.events, [PublisherEvent::Connected, refused]);
    assert!(!second.publisher.is_publishing());
    assert_eq!(
        second.publisher.deadline(),
        None,
        "nothing more to wait for"
    );
    assert!(second.publisher.send_tag(&tags[0], Instant::now()).is_err());
    second.write_seed("nginx_refused_taken_name");
    drop(first);

    // on_publish says 403: nginx closes the connection before any status.
    let mut hooked = Push::connect(nginx.port, "hooked", "secret");
    let refused = hooked.wait_for("Refused", |e| matches!(e, PublisherEvent::Refused(_)));
    assert_eq!(
        refused,
        PublisherEvent::Refused("connection closed by the server during publish".into())
    );
    let asked = hook.requests.lock().expect("hook log").clone();
    assert!(
        asked.len() == 1 && asked[0].contains("/publish"),
        "{asked:?}"
    );

    // `deny publish all`: nginx-rtmp's live module answers NetStream.Publish.Start before the
    // access rule runs, then the rule closes the connection. So that refusal shows as a publish
    // that started and ended at once: a driver's retry policy has to cover it.
    let mut denied = Push::connect(nginx.port, "closed", "test");
    let closed = denied.wait_for("Closed", |e| matches!(e, PublisherEvent::Closed(_)));
    assert_eq!(
        denied.events,
        [
            PublisherEvent::Connected,
            PublisherEvent::Publishing,
            closed
        ]
    );
    assert!(
        nginx.error_log().contains("access forbidden by rule"),
        "{}",
        nginx.error_log()
    );
}
