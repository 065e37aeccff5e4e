//! Main/backup publishers (`streams.backup_publisher`): two SRT encoders publish one stream, the
//! main killed mid-stream and later restarted. An SRT player that stays connected throughout
//! gets the main, the backup within `backup_switch_ms` of the main's silence, and the main
//! again; each switch starts with PAT, PMT and a keyframe, continuity counters run on, the PCR
//! PID carries a discontinuity flag, and ffmpeg decodes the whole recording.

// A test drives real processes and sockets: it owns the clock.
#![allow(clippy::disallowed_methods)]

mod in_process;
mod support;

use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use in_process::InProcessRelay;
use srtrelay::telemetry::BackupSnapshot;
use support::media::{self, TsSpec};
use support::recipes::{self, Pace, Publisher};
use support::srt_url::SrtUrl;

const TS: usize = 188;
const T: Duration = Duration::from_secs(60);
const SWITCH: Duration = Duration::from_millis(500);

fn pid(p: &[u8]) -> u16 {
    (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2])
}

fn is_keyframe(p: &[u8]) -> bool {
    p[1] & 0x40 != 0 && p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x40 != 0 && pid(p) == 0x100
}

fn is_discontinuity(p: &[u8]) -> bool {
    p[3] & 0x20 != 0 && p[4] > 0 && p[5] & 0x80 != 0
}

fn backup(relay: &InProcessRelay, stream: &str) -> Option<BackupSnapshot> {
    relay
        .reports()
        .into_iter()
        .flat_map(|r| r.backups)
        .find(|b| b.stream == stream)
}

fn wait_backup(relay: &InProcessRelay, what: &str, cond: impl Fn(&BackupSnapshot) -> bool) {
    let deadline = Instant::now() + T;
    loop {
        let b = backup(relay, "cam1");
        if b.as_ref().is_some_and(&cond) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {b:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}

fn publish(relay: &InProcessRelay, file: &Path, streamid: &str) -> Publisher {
    let url = SrtUrl::caller(relay.addr).with_streamid(streamid);
    recipes::publish_with_srt_live_transmit(file, &url, Pace::realtime(file, 20, 1.0))
}

#[test]
fn players_get_the_backup_while_the_main_is_gone_and_the_main_again_when_it_returns() {
    let relay = InProcessRelay::start(
        &format!(
            "[http]\nenabled = false\n[rtmp]\nenabled = false\n[streams]\nbackup_publisher = true\nbackup_switch_ms = {}\n",
            SWITCH.as_millis()
        ),
        |c| c.srt.latency.default = Duration::from_millis(300),
    );
    let main_file = media::test_ts(TsSpec::seconds(20));
    let backup_file = media::test_ts(TsSpec {
        video_kbps: 1200,
        ..TsSpec::seconds(20)
    });
    let rate = media::file_len(&main_file) / 20;
    let mut main = publish(&relay, &main_file, "#!::r=cam1,m=publish");
    let _backup = publish(&relay, &backup_file, "#!::r=cam1,m=publish,u=backup");
    // A second main is refused like any second publisher (1409).
    let url = SrtUrl::caller(relay.addr).with_streamid("#!::r=cam1,m=publish");
    let refused = recipes::rejected_srt_live_transmit(&url);
    let conflicts: u64 = relay
        .reports()
        .iter()
        .map(|r| r.counters.refused_publisher_conflict)
        .sum();
    assert_eq!(
        conflicts, 1,
        "the second main is refused as a conflict: {refused}"
    );
    wait_backup(&relay, "the switch carries the main", |b| {
        b.active == "main"
    });

    let dir = media::scratch_dir("backup-switch");
    let out = dir.join("player.ts");
    let url = SrtUrl::caller(relay.addr).with_streamid("#!::r=cam1,m=request");
    let mut player = recipes::subscribe_with_srt_live_transmit(&url, &out);
    player.wait_for_len(2 * rate, T).expect("the main plays");

    main.proc().kill();
    let killed = Instant::now();
    wait_backup(&relay, "the backup is carried", |b| b.active == "backup");
    let took = killed.elapsed();
    let have = media::file_len(&out);
    player
        .wait_for_len(have + 2 * rate, T)
        .expect("the backup plays");

    let restarted = Instant::now();
    let _main = publish(&relay, &main_file, "#!::r=cam1,m=publish");
    wait_backup(&relay, "the main is carried again", |b| b.active == "main");
    let back = restarted.elapsed();
    let have = media::file_len(&out);
    player
        .wait_for_len(have + 2 * rate, T)
        .expect("the main plays again");
    let bytes = std::fs::read(&out).unwrap();
    let b = backup(&relay, "cam1").expect("switch");
    assert_eq!((b.to_backup, b.to_main), (1, 1), "{b:?}");
    // The backup within the threshold plus the shards' polling, on a busy machine.
    assert!(
        took < SWITCH * 6,
        "switched to the backup {took:?} after the kill"
    );
    assert!(
        back >= SWITCH,
        "the main is carried again only once it is steady: {back:?}"
    );

    let pkts: Vec<&[u8]> = bytes.chunks_exact(TS).collect();
    assert_eq!(pid(pkts[0]), 0, "the player starts with the PAT");
    // Each switch: PAT, PMT, keyframe, and a discontinuity flag on the PCR PID.
    let marks: Vec<usize> = (0..pkts.len())
        .filter(|&k| is_discontinuity(pkts[k]))
        .collect();
    assert_eq!(
        marks.len(),
        2,
        "one discontinuity flag per switch: {marks:?}"
    );
    for &k in &marks {
        let tables = &pkts[k.saturating_sub(2)..k];
        assert!(
            tables.iter().map(|p| pid(p)).eq([0, 0x1000]) && is_keyframe(pkts[k]),
            "PAT, PMT, then the keyframe at the switch at packet {k}"
        );
    }
    // Continuity counters run on across both switches.
    let mut last: std::collections::HashMap<u16, u8> = Default::default();
    for (k, p) in pkts.iter().enumerate() {
        let id = pid(p);
        if id == 0x1FFF || p[3] & 0x10 == 0 {
            continue;
        }
        if let Some(prev) = last.get(&id) {
            assert_eq!(
                p[3] & 0x0F,
                (prev + 1) & 0x0F,
                "pid {id:#x}: CC break at packet {k}"
            );
        }
        last.insert(id, p[3] & 0x0F);
    }
    // ffmpeg decodes all of it; a frame cut by the kill or by a switch may be concealed, and
    // the recording is read while the stream runs, so it ends before the last video PES.
    let end = pkts
        .iter()
        .rposition(|p| pid(p) == 0x100 && p[1] & 0x40 != 0)
        .expect("video");
    let whole = dir.join("whole.ts");
    std::fs::write(&whole, &bytes[..end * TS]).unwrap();
    let d = support::process::run_bounded(
        "ffmpeg decode",
        std::process::Command::new(support::tools::ffmpeg())
            .args(["-v", "error", "-i"])
            .arg(&whole)
            .args(["-f", "null", "-"]),
        T,
    );
    // A frame in flight at a cut (the killed encoder's last one, the old feed's at a switch)
    // is incomplete: video concealed, or an AAC frame that ends early. Nothing else.
    // The AAC decoder words a cut frame in several ways ("Input buffer exhausted", "Reserved
    // bit set", ...): any of its lines, counted below.
    let cut_frame = |l: &str| {
        l.contains("error while decoding MB")
            || l.contains("concealing")
            || l.starts_with("[aac @")
            || l.contains("Error while decoding stream #0:1")
            || l.contains("Last message repeated")
    };
    let unexpected: Vec<&str> = d.stderr.lines().filter(|l| !cut_frame(l)).collect();
    assert!(
        d.status.success() && unexpected.is_empty(),
        "ffmpeg decodes across both switches: {}",
        d.stderr
    );
    let count = |needle: &str| d.stderr.lines().filter(|l| l.contains(needle)).count();
    assert!(
        count("concealing") <= 3
            && count("[aac @") <= 6
            && count("Error while decoding stream #0:1") <= 4,
        "at most the frames cut at the kill and the switches: {}",
        d.stderr
    );
    eprintln!("backup: carried {took:?} after the kill; main again {back:?} after its restart");
}
