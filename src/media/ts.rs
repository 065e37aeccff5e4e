//! MPEG-TS framing checks for relay payloads.
//!
//! Owns: deciding whether an SRT payload is a whole number of 188-byte TS packets that each start
//! with the 0x47 sync byte (ISO/IEC 13818-1 §2.4.3.2), splitting it into those packets, the drop
//! counters for payloads that are not, and a cheap "starts a video random-access point" test so a
//! new subscriber can begin at a keyframe.
//! Must not: parse PSI tables or PES bodies, allocate, read the clock, or know about SRT.

// Sans-IO like `src/srt`: times come in as arguments.
#![deny(clippy::disallowed_methods)]

use thiserror::Error;

/// Length of one MPEG-TS packet (ISO/IEC 13818-1 §2.4.3.2).
pub const TS_PACKET_LEN: usize = 188;
/// First byte of every TS packet.
pub const TS_SYNC_BYTE: u8 = 0x47;

/// Why a payload is not a run of whole TS packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum TsError {
    /// The length is not a positive multiple of 188 (an empty payload lands here too).
    #[error("payload of {len} bytes is not a whole number of 188-byte TS packets")]
    NotTsAligned { len: usize },
    /// TS packet number `index` (0-based) does not start with 0x47.
    #[error("TS packet {index} of the payload does not start with the 0x47 sync byte")]
    BadSync { index: usize },
}

/// Counters kept by [`TsFilter`]; plain numbers, snapshotted by the metrics scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TsStats {
    /// Payloads that were whole TS packets.
    pub payloads_ok: u64,
    /// TS packets inside those payloads.
    pub ts_packets_ok: u64,
    /// Payloads dropped because their length is not a multiple of 188.
    pub dropped_not_aligned: u64,
    /// Payloads dropped because a packet lacked the sync byte.
    pub dropped_bad_sync: u64,
    /// Non-TS payloads forwarded anyway because the config asked for pass-through.
    pub passed_through: u64,
}

/// Applies the "whole TS packets only" rule to each publisher payload and counts the outcome.
#[derive(Debug, Clone)]
pub struct TsFilter {
    pass_through_non_ts: bool,
    stats: TsStats,
}

impl TsFilter {
    /// With `pass_through_non_ts`, payloads that fail the check are still forwarded (counted as
    /// `passed_through`); otherwise they are dropped.
    pub fn new(pass_through_non_ts: bool) -> Self {
        TsFilter {
            pass_through_non_ts,
            stats: TsStats::default(),
        }
    }

    /// Whether `payload` should go into the ring.
    pub fn admit(&mut self, payload: &[u8]) -> bool {
        match validate(payload) {
            Ok(n) => {
                self.stats.payloads_ok += 1;
                self.stats.ts_packets_ok += n as u64;
                true
            }
            Err(_) if self.pass_through_non_ts => {
                self.stats.passed_through += 1;
                true
            }
            Err(TsError::NotTsAligned { .. }) => {
                self.stats.dropped_not_aligned += 1;
                false
            }
            Err(TsError::BadSync { .. }) => {
                self.stats.dropped_bad_sync += 1;
                false
            }
        }
    }

    pub fn stats(&self) -> &TsStats {
        &self.stats
    }
}

/// Checks that `payload` is one or more whole TS packets with sync bytes; returns how many.
pub fn validate(payload: &[u8]) -> Result<usize, TsError> {
    let (packets, rest) = payload.as_chunks::<TS_PACKET_LEN>();
    if packets.is_empty() || !rest.is_empty() {
        return Err(TsError::NotTsAligned { len: payload.len() });
    }
    match packets.iter().position(|p| p[0] != TS_SYNC_BYTE) {
        Some(index) => Err(TsError::BadSync { index }),
        None => Ok(packets.len()),
    }
}

/// The whole TS packets of `payload`, in order; a trailing partial packet is not yielded.
pub fn packets(payload: &[u8]) -> impl ExactSizeIterator<Item = &[u8; TS_PACKET_LEN]> {
    payload.as_chunks::<TS_PACKET_LEN>().0.iter()
}

/// The adaptation field's `random_access_indicator` (ISO/IEC 13818-1 §2.4.3.4, §2.4.3.5).
///
/// Header byte 3 bits 5..4 are `adaptation_field_control` (bit 5 set: a field is present), byte 4
/// is its length, byte 5 its flags with the indicator at 0x40. Note that ffmpeg's muxer sets it
/// on every audio PES start as well as on video keyframes (checked on an ffmpeg 5.1 mux of
/// libx264 + AAC), so on its own it does not mean "video keyframe".
pub fn random_access_indicator(pkt: &[u8; TS_PACKET_LEN]) -> bool {
    pkt[3] & 0x20 != 0 && pkt[4] > 0 && pkt[5] & 0x40 != 0
}

/// Whether `pkt` starts a video access unit at a random-access point: the indicator is set,
/// `payload_unit_start_indicator` is set (byte 1, 0x40), and the PES that starts after the
/// adaptation field has a video `stream_id` 0xE0..=0xEF (ISO/IEC 13818-1 Table 2-22; ffmpeg and
/// libsrt-fed encoders use 0xE0 for H.264 and HEVC). Reading the PES start code avoids needing
/// the PMT to know which PID is video.
pub fn is_video_random_access(pkt: &[u8; TS_PACKET_LEN]) -> bool {
    let pusi = pkt[1] & 0x40 != 0;
    let has_payload = pkt[3] & 0x10 != 0;
    if !(pusi && has_payload && random_access_indicator(pkt)) {
        return false;
    }
    // The adaptation field is byte 4 (its length) plus that many bytes.
    let pes = 5 + pkt[4] as usize;
    match pkt.get(pes..pes + 4) {
        Some(&[0, 0, 1, stream_id]) => stream_id & 0xF0 == 0xE0,
        _ => false,
    }
}

/// Whether any whole TS packet of `payload` starts a video random-access point.
pub fn has_video_random_access(payload: &[u8]) -> bool {
    packets(payload).any(is_video_random_access)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TS packet whose first bytes are `head`, padded with 0xFF stuffing.
    fn pkt(head: &[u8]) -> [u8; TS_PACKET_LEN] {
        let mut p = [0xFF; TS_PACKET_LEN];
        p[..head.len()].copy_from_slice(head);
        p
    }

    fn null_pkt() -> [u8; TS_PACKET_LEN] {
        // PID 0x1FFF, payload only.
        pkt(&[0x47, 0x1F, 0xFF, 0x10])
    }

    // Header bytes of an ffmpeg mux (`-f lavfi -i testsrc -f lavfi -i sine -c:v libx264 -g 30
    // -c:a aac -f mpegts`): packet 3 is PID 256's first video keyframe (adaptation field of 7
    // bytes with PCR and RAI, then PES `00 00 01 e0`); packet 46 is an audio PES start on PID 257
    // that ffmpeg also flags with RAI (`00 00 01 c0`).
    const FFMPEG_VIDEO_KEY: &[u8] = &[
        0x47, 0x41, 0x00, 0x30, 0x07, 0x50, 0x00, 0x00, 0x7b, 0x0c, 0x7e, 0x00, 0x00, 0x00, 0x01,
        0xe0, 0x00,
    ];
    const FFMPEG_AUDIO_START: &[u8] = &[
        0x47, 0x41, 0x01, 0x30, 0x01, 0x40, 0x00, 0x00, 0x01, 0xc0, 0x0b,
    ];

    #[test]
    fn validate_counts_whole_packets() {
        let mut buf = [0u8; 7 * TS_PACKET_LEN];
        for chunk in buf.chunks_mut(TS_PACKET_LEN) {
            chunk[0] = TS_SYNC_BYTE;
        }
        assert_eq!(validate(&buf), Ok(7));
        assert_eq!(validate(&buf[..TS_PACKET_LEN]), Ok(1));
        assert_eq!(packets(&buf).len(), 7);
        assert_eq!(packets(&buf[..TS_PACKET_LEN * 2 + 5]).len(), 2);
    }

    #[test]
    fn validate_rejects_misaligned_and_bad_sync() {
        let mut buf = [TS_SYNC_BYTE; 3 * TS_PACKET_LEN];
        assert_eq!(validate(&[]), Err(TsError::NotTsAligned { len: 0 }));
        assert_eq!(
            validate(&buf[..TS_PACKET_LEN + 1]),
            Err(TsError::NotTsAligned { len: 189 })
        );
        assert_eq!(
            validate(&[0u8; 1456]),
            Err(TsError::NotTsAligned { len: 1456 })
        );
        buf[2 * TS_PACKET_LEN] = 0x48;
        assert_eq!(validate(&buf), Err(TsError::BadSync { index: 2 }));
    }

    #[test]
    fn filter_counts_and_drops_unless_pass_through() {
        let good = [TS_SYNC_BYTE; 2 * TS_PACKET_LEN];
        let mut bad_sync = good;
        bad_sync[0] = 0;
        let mut strict = TsFilter::new(false);
        assert!(strict.admit(&good));
        assert!(!strict.admit(&good[..100]));
        assert!(!strict.admit(&bad_sync));
        assert_eq!(
            *strict.stats(),
            TsStats {
                payloads_ok: 1,
                ts_packets_ok: 2,
                dropped_not_aligned: 1,
                dropped_bad_sync: 1,
                passed_through: 0,
            }
        );
        let mut lax = TsFilter::new(true);
        assert!(lax.admit(&good[..100]));
        assert!(lax.admit(&bad_sync));
        assert_eq!(lax.stats().passed_through, 2);
        assert_eq!(lax.stats().payloads_ok, 0);
    }

    #[test]
    fn random_access_from_ffmpeg_headers() {
        let video = pkt(FFMPEG_VIDEO_KEY);
        let audio = pkt(FFMPEG_AUDIO_START);
        assert!(random_access_indicator(&video));
        assert!(random_access_indicator(&audio), "ffmpeg flags audio too");
        assert!(is_video_random_access(&video));
        assert!(!is_video_random_access(&audio));
        assert!(!random_access_indicator(&null_pkt()));
        assert!(!is_video_random_access(&null_pkt()));
    }

    #[test]
    fn random_access_needs_every_bit() {
        let mut no_pusi = pkt(FFMPEG_VIDEO_KEY);
        no_pusi[1] &= !0x40;
        assert!(!is_video_random_access(&no_pusi));
        let mut no_rai = pkt(FFMPEG_VIDEO_KEY);
        no_rai[5] &= !0x40;
        assert!(!is_video_random_access(&no_rai));
        let mut af_only = pkt(FFMPEG_VIDEO_KEY);
        af_only[3] = 0x20;
        assert!(random_access_indicator(&af_only));
        assert!(!is_video_random_access(&af_only));
        // An adaptation field that fills the packet leaves no room for a PES start code.
        let mut full_af = pkt(FFMPEG_VIDEO_KEY);
        full_af[4] = 183;
        assert!(!is_video_random_access(&full_af));
        full_af[4] = 255;
        assert!(!is_video_random_access(&full_af), "length past the end");
    }

    #[test]
    fn payload_random_access_looks_at_every_packet() {
        let mut payload = [0u8; 7 * TS_PACKET_LEN];
        for chunk in payload.chunks_mut(TS_PACKET_LEN) {
            chunk.copy_from_slice(&null_pkt());
        }
        assert!(!has_video_random_access(&payload));
        payload[5 * TS_PACKET_LEN..6 * TS_PACKET_LEN].copy_from_slice(&pkt(FFMPEG_VIDEO_KEY));
        assert!(has_video_random_access(&payload));
        assert!(!has_video_random_access(&payload[..5 * TS_PACKET_LEN]));
    }
}
