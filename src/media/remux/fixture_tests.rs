//! The ffmpeg FLV fixture (tests/vectors/media/ffmpeg_h264_aac_4s.flv: libx264 High with
//! B-frames, AAC) fed tag by tag to `FlvRemux`, as an RTMP session would hand over its
//! messages, and the output checked by ffprobe/ffmpeg and the relay's own readers.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::tests::Demux;
use super::*;
use crate::media::ts;

pub(crate) const FLV_FIXTURE: &[u8] =
    include_bytes!("../../../tests/vectors/media/ffmpeg_h264_aac_4s.flv");
const FLV_FIXTURE_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/vectors/media/ffmpeg_h264_aac_4s.flv"
);

/// One FLV file tag (FLV §E.4.1): type 8 audio, 9 video, 18 script data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FileTag<'a> {
    pub kind: u8,
    pub timestamp_ms: u32,
    pub body: &'a [u8],
}

/// The tags of an FLV file: a 9-byte header, then `PreviousTagSize(32)` and tags of
/// `TagType(8) DataSize(24) Timestamp(24) TimestampExtended(8) StreamID(24) body`, where the
/// extended byte is the timestamp's upper 8 bits.
pub(crate) fn flv_tags(file: &[u8]) -> Vec<FileTag<'_>> {
    assert_eq!(&file[..3], b"FLV", "an FLV file");
    let mut at = u32::from_be_bytes([file[5], file[6], file[7], file[8]]) as usize + 4;
    let mut tags = Vec::new();
    while at + 11 <= file.len() {
        let h = &file[at..at + 11];
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let timestamp_ms = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let body = &file[at + 11..at + 11 + size];
        tags.push(FileTag {
            kind: h[0] & 0x1F,
            timestamp_ms,
            body,
        });
        at += 11 + size + 4;
    }
    assert_eq!(at, file.len(), "the file ends after a whole tag");
    tags
}

/// Remuxes a whole FLV file, giving onMetaData's track hint first, as an RTMP session would.
fn remux(file: &[u8]) -> (Vec<u8>, RemuxStats) {
    let mut r = FlvRemux::new();
    let mut out = Vec::new();
    for t in flv_tags(file) {
        match t.kind {
            8 => r.audio(t.timestamp_ms, t.body, &mut out).expect("audio"),
            9 => r.video(t.timestamp_ms, t.body, &mut out).expect("video"),
            18 => {
                let has = |key: &[u8]| t.body.windows(key.len()).any(|w| w == key);
                r.expect_tracks(has(b"videocodecid"), has(b"audiocodecid"));
            }
            _ => {}
        }
    }
    (out, *r.stats())
}

/// A temp file for one test's output, removed when dropped.
struct TempTs(PathBuf);

impl TempTs {
    fn new(name: &str, bytes: &[u8]) -> TempTs {
        let path =
            std::env::temp_dir().join(format!("srtrelay-remux-{name}-{}.ts", std::process::id()));
        std::fs::write(&path, bytes).expect("write temp TS");
        TempTs(path)
    }
}

impl Drop for TempTs {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs a tool, asserting it succeeds with nothing on stderr; returns stdout.
fn run_quiet(tool: &str, args: &[&str], input: &Path) -> String {
    let mut cmd = Command::new(tool);
    cmd.args(["-v", "error"]);
    if tool == "ffmpeg" {
        cmd.arg("-i");
    }
    let out = cmd
        .arg(input)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} must be installed: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "{tool} {args:?} on {}: {stderr}",
        input.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ffprobe(input: &Path, args: &[&str]) -> String {
    run_quiet("ffprobe", args, input)
}

/// `codec_type,nb_read_frames` per stream, sorted.
fn frame_counts(input: &Path) -> Vec<String> {
    let out = ffprobe(
        input,
        &[
            "-count_frames",
            "-show_entries",
            "stream=codec_type,codec_name,nb_read_frames",
            "-of",
            "csv=p=0",
        ],
    );
    // ffprobe lists a TS's streams once on their own and once under their program.
    let mut v: Vec<_> = out
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The video packets' PTS in seconds, in decode order.
fn video_pts(input: &Path) -> Vec<f64> {
    ffprobe(
        input,
        &[
            "-select_streams",
            "v",
            "-show_entries",
            "packet=pts_time",
            "-of",
            "csv=p=0",
        ],
    )
    .lines()
    // A TS packet's line ends in an empty field and an empty line (its side data: the
    // stream id).
    .filter(|l| !l.is_empty())
    .map(|l| {
        l.split(',')
            .next()
            .unwrap_or_default()
            .parse()
            .unwrap_or_else(|e| panic!("pts_time {l:?}: {e}"))
    })
    .collect()
}

#[test]
fn fixture_tags_are_what_ffmpeg_wrote() {
    let tags = flv_tags(FLV_FIXTURE);
    assert_eq!(tags[0].kind, 18, "onMetaData first");
    let video: Vec<_> = tags.iter().filter(|t| t.kind == 9).collect();
    assert_eq!(video.len(), 122, "config, 120 frames, end of sequence");
    assert_eq!(video[121].body, [0x17, 2, 0, 0, 0]);
    assert_eq!(
        tags.iter().filter(|t| t.kind == 8).count(),
        190,
        "config + 189"
    );
    assert_eq!(
        tags[1].body[5..],
        *crate::media::flv::config::tests::X264_AVCC
    );
}

#[test]
fn fixture_remux_decodes_like_the_source() {
    let (out, stats) = remux(FLV_FIXTURE);
    let file = TempTs::new("full", &out);
    // One H.264 and one AAC stream, as many frames as the source, no complaint from either
    // tool.
    let src = Path::new(FLV_FIXTURE_PATH);
    let counts = frame_counts(&file.0);
    assert_eq!(counts, ["aac,audio,189", "h264,video,120"]);
    assert_eq!(counts, frame_counts(src));
    run_quiet("ffmpeg", &["-f", "null", "-"], &file.0);
    // Video PTS where the source has them (offsets from the first; B-frames make them
    // non-monotonic in decode order, which checks the composition times).
    let (a, b) = (video_pts(src), video_pts(&file.0));
    assert_eq!(a.len(), b.len());
    assert!(
        a.windows(2).any(|w| w[1] < w[0]),
        "the fixture has B-frames"
    );
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        let d = ((y - b[0]) - (x - a[0])).abs();
        assert!(d <= 0.001, "packet {i}: source {x}, remux {y}");
    }
    assert_eq!(
        (
            stats.keyframes,
            stats.video_frames_out,
            stats.audio_frames_out
        ),
        (4, 120, 189)
    );
    assert_eq!(
        stats.parameter_sets_inserted, 4,
        "ffmpeg's FLV keeps them out of band"
    );
    assert_eq!(stats.control_tags, 1, "the end of sequence");
    assert_eq!(
        stats.dropped_before_config
            + stats.dropped_before_keyframe
            + stats.unsupported_codec
            + stats.malformed
            + stats.timestamp_jumps
            + stats.track_changes,
        0,
        "{stats:?}"
    );
}

#[test]
fn fixture_remux_keyframes_psi_and_counters() {
    let (out, stats) = remux(FLV_FIXTURE);
    let d = Demux::read(&out);
    assert_eq!(d.packets as u64, stats.ts_packets_out);
    // Both tracks from the first PMT on (onMetaData named both).
    assert!(
        d.pmts
            .iter()
            .all(|p| p.version == 0 && p.streams.len() == 2)
    );
    assert_eq!(d.pmts.len() as u64, stats.psi_out);
    // Every keyframe passes the relay's keyframe test, right after a PAT and PMT; nothing
    // else does.
    let packets: Vec<_> = ts::packets(&out).collect();
    let rai: Vec<usize> = (0..packets.len())
        .filter(|&i| ts::is_video_random_access(packets[i]))
        .collect();
    assert_eq!(rai.len() as u64, stats.keyframes);
    for &i in &rai {
        assert!(d.pat_indices.contains(&(i - 2)), "PAT before keyframe {i}");
        assert!(d.pmts.iter().any(|p| p.index == i - 1), "PMT before {i}");
    }
    for v in d.video() {
        let idr = crate::media::pes::video_random_access(STREAM_TYPE_H264, &v.es);
        assert_eq!(
            v.video_rai,
            idr == crate::media::pes::RandomAccess::Yes,
            "{v:?}"
        );
        assert_eq!(&v.es[..6], &[0, 0, 0, 1, 0x09, 0xF0], "AUD first");
    }
    // The PCR: on every keyframe's first packet, never more than 40 ms apart, and behind
    // every decode time.
    assert!(d.video().filter(|v| v.video_rai).all(|v| v.pcr.is_some()));
    for w in d.pcrs.windows(2) {
        assert!(w[1].1 >= w[0].1 && w[1].1 - w[0].1 <= 40 * 27_000, "{w:?}");
    }
    for p in &d.pes {
        let pcr = d.pcrs.iter().rev().find(|c| c.0 <= p.index).expect("PCR").1;
        assert!(p.dts.or(p.pts).expect("timestamp") * 300 > pcr, "{p:?}");
    }
}

#[test]
fn a_late_player_starting_at_the_second_keyframe_decodes() {
    let (out, _) = remux(FLV_FIXTURE);
    let d = Demux::read(&out);
    let second = d
        .video()
        .filter(|v| v.video_rai)
        .nth(1)
        .expect("two keyframes");
    let pat = second.index - 2;
    assert!(d.pat_indices.contains(&pat));
    let file = TempTs::new("late", &out[pat * 188..]);
    run_quiet("ffmpeg", &["-f", "null", "-"], &file.0);
    let counts = frame_counts(&file.0);
    assert_eq!(counts.len(), 2, "{counts:?}");
    assert!(counts[1].starts_with("h264,video,") && counts[1] != "h264,video,0");
}

#[test]
fn fixture_in_arbitrary_pieces_writes_the_same_stream() {
    // The output of each message is whole packets, so a caller may ship them one call at a
    // time: concatenating per-call outputs is the stream.
    let mut r = FlvRemux::new();
    let mut joined = Vec::new();
    for t in flv_tags(FLV_FIXTURE) {
        let mut out = Vec::new();
        let _ = match t.kind {
            8 => r.audio(t.timestamp_ms, t.body, &mut out),
            9 => r.video(t.timestamp_ms, t.body, &mut out),
            _ => {
                r.expect_tracks(true, true);
                Ok(())
            }
        };
        assert!(ts::validate(&out).is_ok() || out.is_empty());
        joined.extend_from_slice(&out);
    }
    assert_eq!(joined, remux(FLV_FIXTURE).0);
}
