//! Real-time release of a file input by its PCR: a file must reach the relay at the rate it
//! was recorded, not as fast as the disk reads it.
//!
//! Owns: choosing the PCR PID (the PMT's `PCR_PID`, or until that is known the first PID
//! carrying a PCR), anchoring the PCR timeline at a local instant, the 27 MHz arithmetic with
//! the 2^33 × 300 wrap (ISO/IEC 13818-1 §2.4.2.2), and re-anchoring when the timeline jumps
//! (a concatenated or looped file).
//! Must not: read the clock or sleep: it says *when* a packet may go; the shard waits.

#![deny(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use crate::media::packet::{self, NULL_PID, TsPacket};
use crate::media::pes::{self, PCR_HZ, TIMESTAMP_WRAP};
use crate::media::psi::PsiCache;

/// The PCR counts modulo this (33-bit base × 300 + extension).
pub const PCR_WRAP: u64 = TIMESTAMP_WRAP * 300;
/// A PCR more than this far ahead of the last one (or behind it) is a new timeline, not
/// elapsed time: §2.4.2.2 wants PCRs at most 100 ms apart, so 10 s is no stall of a real
/// stream, and following it would hold the file back for the whole jump.
pub const MAX_PCR_STEP: Duration = Duration::from_secs(10);

/// Counters of one pacer; plain numbers for the metrics scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PacerStats {
    pub packets: u64,
    /// PCRs of the PCR PID followed.
    pub pcrs: u64,
    /// PCRs that jumped backwards or more than [`MAX_PCR_STEP`] forwards and re-anchored.
    pub reanchors: u64,
    /// Calls to [`PcrPacer::restart`].
    pub restarts: u64,
}

/// Release times for the packets of one file input.
///
/// Packets between two PCRs are released at the time of the earlier one (a step, not an
/// interpolation: interpolating needs the next PCR, i.e. reading ahead, and PCRs are at most
/// 100 ms apart, well inside what the relay's players buffer). Release times never go back,
/// also across re-anchors.
#[derive(Debug, Default)]
pub struct PcrPacer {
    psi: PsiCache,
    pcr_pid: Option<u16>,
    anchor: Option<Anchor>,
    /// The latest release time handed out: a re-anchor starts no earlier.
    floor: Option<Instant>,
    stats: PacerStats,
}

/// Where the PCR timeline is pinned to local time.
#[derive(Debug, Clone, Copy)]
struct Anchor {
    at: Instant,
    /// 27 MHz ticks from the anchoring PCR to the last one (summed steps, so the wrap never
    /// shows).
    elapsed: u64,
    last_pcr: u64,
    /// Release time of the last PCR.
    release: Instant,
}

impl PcrPacer {
    pub fn new() -> Self {
        Self::default()
    }

    /// The instant packet `pkt` (a whole TS packet) may be released, given that it is read
    /// at `now`. The first PCR anchors at `now`; a later PCR at the anchor plus its distance
    /// from the anchoring PCR; packets before the first PCR go at `now`. A jump backwards or
    /// by more than [`MAX_PCR_STEP`] re-anchors at `now` (or the last release, if later),
    /// counted.
    pub fn release_at(&mut self, pkt: &TsPacket, now: Instant) -> Instant {
        self.stats.packets += 1;
        self.psi.observe(pkt);
        if let Some(p) = self.psi.pcr_pid().filter(|&p| p != NULL_PID) {
            self.pcr_pid = Some(p);
        }
        if !packet::transport_error(pkt)
            && let Some(pcr) = pes::pcr(pkt)
        {
            let pid = packet::pid(pkt);
            if *self.pcr_pid.get_or_insert(pid) == pid {
                self.on_pcr(pcr, now);
            }
        }
        let at = match self.anchor {
            Some(a) => a.release,
            None => self.floor.map_or(now, |f| f.max(now)),
        };
        self.floor = Some(at);
        at
    }

    /// A loop restart: the next PCR re-anchors (at no earlier than the last release).
    pub fn restart(&mut self) {
        self.stats.restarts += 1;
        self.anchor = None;
    }

    pub fn stats(&self) -> PacerStats {
        self.stats
    }

    fn on_pcr(&mut self, pcr: u64, now: Instant) {
        self.stats.pcrs += 1;
        let start = self.floor.map_or(now, |f| f.max(now));
        let fresh = Anchor {
            at: start,
            elapsed: 0,
            last_pcr: pcr,
            release: start,
        };
        let Some(a) = &mut self.anchor else {
            self.anchor = Some(fresh);
            return;
        };
        // The forward distance modulo the wrap: a PCR behind the last one is a huge step.
        let step = (pcr + PCR_WRAP - a.last_pcr) % PCR_WRAP;
        if step > MAX_PCR_STEP.as_secs() * PCR_HZ {
            self.stats.reanchors += 1;
            self.anchor = Some(fresh);
            return;
        }
        a.elapsed += step;
        a.last_pcr = pcr;
        a.release = a.at + ticks_to_duration(a.elapsed);
    }
}

/// 27 MHz ticks as a duration, to the nanosecond below.
fn ticks_to_duration(ticks: u64) -> Duration {
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(PCR_HZ);
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    // One real `Instant` is the origin of each test's virtual time.
    #![allow(clippy::disallowed_methods)]

    use super::*;
    use crate::media::ts::packets;
    use crate::media::tsgen::{FFMPEG_FIXTURE, Mux, Start};

    /// The fixture's first and last PCR (PID 0x100), in 27 MHz ticks.
    fn fixture_pcr_span() -> Duration {
        let pcrs: Vec<u64> = packets(FFMPEG_FIXTURE).filter_map(pes::pcr).collect();
        ticks_to_duration(pcrs[pcrs.len() - 1] - pcrs[0])
    }

    #[test]
    fn fixture_read_at_once_is_released_over_its_pcr_duration() {
        let t0 = Instant::now();
        let mut pacer = PcrPacer::new();
        let mut last = t0;
        for p in packets(FFMPEG_FIXTURE) {
            let at = pacer.release_at(p, t0);
            assert!(at >= last, "release times never go back");
            last = at;
        }
        let span = fixture_pcr_span();
        // ffprobe says 5.064 s for the file; its PCRs span 4.92 s (0.764 to 5.684).
        assert!(span > Duration::from_millis(4800), "{span:?}");
        let took = last - t0;
        assert!(
            took.abs_diff(span) < Duration::from_millis(100),
            "{took:?} vs {span:?}"
        );
        let s = pacer.stats();
        assert_eq!((s.packets, s.pcrs, s.reanchors), (327, 65, 0));
        assert_eq!(pacer.pcr_pid, Some(0x100));
    }

    /// A reader that waits for each release (virtual time moves to it; a release already
    /// past goes at once) ends on time too.
    #[test]
    fn paced_reader_on_virtual_time() {
        let t0 = Instant::now();
        let mut pacer = PcrPacer::new();
        let mut now = t0;
        for p in packets(FFMPEG_FIXTURE) {
            let at = pacer.release_at(p, now).max(now);
            // Reading the next packet takes 1 µs once this one went.
            now = at + Duration::from_micros(1);
        }
        let span = fixture_pcr_span();
        assert!((now - t0).abs_diff(span) < Duration::from_millis(100));
    }

    #[test]
    fn looped_file_reanchors_and_keeps_going_forward() {
        let t0 = Instant::now();
        let mut pacer = PcrPacer::new();
        let mut last = t0;
        for _ in 0..2 {
            for p in packets(FFMPEG_FIXTURE) {
                let at = pacer.release_at(p, t0);
                assert!(at >= last);
                last = at;
            }
        }
        assert_eq!(pacer.stats().reanchors, 1, "the PCR went back at the loop");
        let span = fixture_pcr_span();
        // The second pass starts where the first one's last PCR was released.
        assert!((last - t0).abs_diff(2 * span) < Duration::from_millis(100));

        // An announced loop (restart) re-anchors without counting a jump.
        pacer.restart();
        for p in packets(FFMPEG_FIXTURE) {
            last = pacer.release_at(p, t0);
        }
        let s = pacer.stats();
        assert_eq!((s.reanchors, s.restarts), (1, 1));
        assert!((last - t0).abs_diff(3 * span) < Duration::from_millis(150));
    }

    /// PCRs (on a PID of their own, named by the PMT) that cross the 2^33 × 300 wrap keep
    /// counting forward; a jump of 11 s re-anchors.
    #[test]
    fn wrap_is_elapsed_time_and_a_big_jump_reanchors() {
        let mut mux = Mux::default();
        let mut stream = mux.pat(&[(1, 0x1000)]);
        stream.extend(mux.pmt(0x1000, &[(0x1B, 0x100, &[])]));
        let ms = PCR_HZ / 1000;
        let pcr_at = |mux: &mut Mux, pcr: u64| {
            mux.payload(
                0x100,
                &[0u8; 10],
                Start {
                    rai: false,
                    pcr: Some(pcr % PCR_WRAP),
                },
            )
        };
        let before = PCR_WRAP - 40 * ms;
        let t0 = Instant::now();
        let mut pacer = PcrPacer::new();
        for p in &stream {
            assert_eq!(pacer.release_at(p, t0), t0, "before any PCR: now");
        }
        let first = pcr_at(&mut mux, before);
        assert_eq!(pacer.release_at(&first[0], t0), t0);
        let wrapped = pcr_at(&mut mux, before + 80 * ms);
        assert_eq!(
            pacer.release_at(&wrapped[0], t0),
            t0 + Duration::from_millis(80)
        );
        assert_eq!(pacer.stats().reanchors, 0);
        let jump = pcr_at(&mut mux, before + 80 * ms + 11_000 * ms);
        let later = t0 + Duration::from_millis(500);
        assert_eq!(
            pacer.release_at(&jump[0], later),
            later,
            "re-anchored at now"
        );
        let next = pcr_at(&mut mux, before + 80 * ms + 11_040 * ms);
        assert_eq!(
            pacer.release_at(&next[0], later),
            later + Duration::from_millis(40)
        );
        let s = pacer.stats();
        assert_eq!((s.pcrs, s.reanchors), (4, 1));
        assert_eq!(pacer.pcr_pid, Some(0x100));
    }

    /// PCRs on a PID other than the PMT's PCR_PID are not followed.
    #[test]
    fn only_the_pcr_pid_counts() {
        let mut mux = Mux::default();
        let mut stream = mux.pat(&[(1, 0x1000)]);
        stream.extend(mux.pmt(0x1000, &[(0x1B, 0x100, &[]), (0x0F, 0x101, &[])]));
        let other = mux.payload(
            0x101,
            &[0u8; 10],
            Start {
                rai: false,
                pcr: Some(123_456_789),
            },
        );
        stream.extend(other);
        let t0 = Instant::now();
        let mut pacer = PcrPacer::new();
        for p in &stream {
            assert_eq!(pacer.release_at(p, t0), t0);
        }
        assert_eq!(pacer.stats().pcrs, 0);
    }
}
