//! A real ffmpeg publishing to `RtmpSession` over loopback TCP, one blocking thread driving it.
//! `RTMP_WRITE_SEEDS=1` also records the first 30 KB ffmpeg sent as fuzz seeds
//! (fuzz/corpus/rtmp/, format: `fuzz/checks.rs` `rtmp`).
#![allow(clippy::disallowed_methods)] // a driver: it reads the clock

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Refusal, RtmpConfig, RtmpEvent, RtmpSession, RtmpStats};

/// Generous for a busy 2-core machine: ffmpeg's whole run, and its exit.
const CAP: Duration = Duration::from_secs(60);
const CAPTURE_BYTES: usize = 30_000;

struct Run {
    events: Vec<RtmpEvent>,
    stats: RtmpStats,
    end: Result<(), super::RtmpError>,
    exit_ok: bool,
    stderr: String,
    capture: Vec<u8>,
}

fn ffmpeg(port: u16, key: &str) -> Child {
    Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"])
        .args(["-f", "lavfi", "-i", "sine"])
        .args(["-c:v", "libx264", "-g", "25", "-c:a", "aac", "-t", "3"])
        .args(["-f", "flv", &format!("rtmp://127.0.0.1:{port}/live/{key}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg is installed (scripts/test.sh installs it)")
}

fn accept(listener: &TcpListener, child: &mut Child) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let start = Instant::now();
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).expect("blocking");
                return s;
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("ffmpeg exited before connecting: {status}");
                }
                assert!(start.elapsed() < CAP, "ffmpeg never connected");
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// Runs ffmpeg against one session; `refuse` answers its publish with that refusal.
fn publish(key: &str, refuse: Option<Refusal>) -> Run {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut child = ffmpeg(port, key);
    let mut sock = accept(&listener, &mut child);
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut session = RtmpSession::new(RtmpConfig::default(), Instant::now());
    let (mut events, mut capture) = (Vec::new(), Vec::new());
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::new();
    let start = Instant::now();
    let end = loop {
        assert!(start.elapsed() < CAP, "ffmpeg's publish took over {CAP:?}");
        let step = match sock.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => {
                let room = CAPTURE_BYTES.saturating_sub(capture.len()).min(n);
                capture.extend_from_slice(&buf[..room]);
                session.on_bytes(&buf[..n], Instant::now())
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                session.on_timeout(Instant::now())
            }
            Err(e) => panic!("read: {e}"),
        };
        let mut step = step;
        while let Some(e) = session.poll_event() {
            if let RtmpEvent::PublishRequested { .. } = e {
                match refuse {
                    Some(why) => session.refuse_publish(why, Instant::now()),
                    None => step = step.and(session.accept_publish(Instant::now())),
                }
            }
            events.push(e);
        }
        session.take_output(&mut out);
        // A peer that already left may refuse our last bytes; the session's end says why.
        let _ = sock.write_all(&out);
        out.clear();
        if step.is_err() || refuse.is_some() && session.deadline().is_none() {
            break step;
        }
    };
    drop(sock);
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > CAP {
            let _ = child.kill();
            panic!("ffmpeg did not exit within {CAP:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    Run {
        events,
        stats: session.stats(),
        end,
        exit_ok: status.success(),
        stderr,
        capture,
    }
}

/// Fuzz seeds from a real capture: flag byte (see `checks::rtmp`) + bytes.
fn write_seeds(capture: &[u8]) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/rtmp");
    std::fs::create_dir_all(&dir).expect("corpus dir");
    const OWN_HANDSHAKE: u8 = 0b10;
    const REFUSE: u8 = 0b01;
    let hs = 1 + 2 * 1536;
    let seeds: [(&str, u8, &[u8]); 4] = [
        ("ffmpeg_publish", OWN_HANDSHAKE, capture),
        ("ffmpeg_publish_refused", OWN_HANDSHAKE | REFUSE, capture),
        ("ffmpeg_handshake", OWN_HANDSHAKE, &capture[..hs]),
        // After the check's own handshake, fed in 17-byte pieces (split index 3).
        ("ffmpeg_chunks_split", 3 << 2, &capture[hs..]),
    ];
    for (name, flags, bytes) in seeds {
        let mut seed = vec![flags];
        seed.extend_from_slice(bytes);
        std::fs::write(dir.join(name), seed).expect("write seed");
    }
}

#[test]
fn ffmpeg_publishes_h264_and_aac() {
    let run = publish("cam1", None);
    assert!(run.exit_ok, "ffmpeg failed: {}", run.stderr);
    assert_eq!(run.end, Ok(()), "session ended with an error");
    assert_eq!(
        run.events.first(),
        Some(&RtmpEvent::PublishRequested {
            app: "live".into(),
            key: "cam1".into()
        })
    );
    assert!(run.events.contains(&RtmpEvent::Metadata {
        video: true,
        audio: true
    }));
    assert_eq!(run.events.last(), Some(&RtmpEvent::Finished));
    let video: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            RtmpEvent::Video { timestamp_ms, data } => Some((*timestamp_ms, data.clone())),
            _ => None,
        })
        .collect();
    let audio: Vec<_> = run
        .events
        .iter()
        .filter_map(|e| match e {
            RtmpEvent::Audio { timestamp_ms, data } => Some((*timestamp_ms, data.clone())),
            _ => None,
        })
        .collect();
    // FLV: AVC keyframe (0x17) + AVCPacketType 0, the sequence header, comes first.
    assert_eq!(&video[0].1[..2], &[0x17, 0], "AVC sequence header first");
    // Then NAL units; ffmpeg's FLV muxer ends with an end-of-sequence tag (type 2).
    let (last, frames) = video[1..].split_last().expect("frames");
    assert!(frames.iter().all(|(_, d)| d[1] == 1), "then NAL units");
    assert!(matches!(last.1[1], 1 | 2), "{:?}", &last.1[..2]);
    // AAC (sound format 10) + AACPacketType 0, the AudioSpecificConfig.
    assert_eq!(audio[0].1[0] >> 4, 10);
    assert_eq!(audio[0].1[1], 0, "AAC config first");
    // 3 s at 25 fps; a keyframe every 25 frames.
    assert!(video.len() > 70, "{} video messages", video.len());
    assert!(video.iter().filter(|(_, d)| d[0] == 0x17).count() >= 3);
    assert!(audio.len() > 100, "{} audio messages", audio.len());
    for media in [frames, &audio[1..]] {
        assert!(
            media.windows(2).all(|w| w[0].0 < w[1].0),
            "timestamps increase"
        );
    }
    assert_eq!(run.stats.video_messages as usize, video.len());
    assert_eq!(run.stats.audio_messages as usize, audio.len());
    if std::env::var_os("RTMP_WRITE_SEEDS").is_some() {
        write_seeds(&run.capture);
    }
}

#[test]
fn ffmpeg_sees_a_refused_key_and_fails() {
    let run = publish("wrong", Some(Refusal::BadName));
    assert_eq!(
        run.events,
        vec![RtmpEvent::PublishRequested {
            app: "live".into(),
            key: "wrong".into()
        }]
    );
    assert!(!run.exit_ok, "ffmpeg must fail; stderr: {}", run.stderr);
    assert!(
        run.stderr.contains("NetStream.Publish.BadName"),
        "the refusal is in ffmpeg's stderr: {}",
        run.stderr
    );
    assert_eq!(run.stats.video_messages, 0);
}
