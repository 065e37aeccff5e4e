//! PES header timestamps, the PCR, and where video access units start decodable.
//!
//! Owns: reading PTS/DTS from a PES header that starts in a TS packet (ISO/IEC 13818-1
//! §2.4.3.6-7), the PCR from the adaptation field (§2.4.3.4-5), 33-bit wrapping timestamp
//! arithmetic, and a look at the first ES bytes of a video PES for an H.264/HEVC random-access
//! NAL unit (ITU-T H.264 §7.4.1.2, H.265 §7.4.2.2).
//! Must not: reassemble PES packets, allocate, read the clock, or panic on any input.

#![deny(clippy::disallowed_methods)]

use super::packet::{self, TsPacket};

/// PTS and DTS count a 90 kHz clock in 33 bits (§2.4.3.7).
pub const TIMESTAMP_HZ: u64 = 90_000;
/// Where 33-bit timestamps wrap (about 26.5 hours).
pub const TIMESTAMP_WRAP: u64 = 1 << 33;
/// The PCR counts 27 MHz: `base * 300 + extension` (§2.4.2.2).
pub const PCR_HZ: u64 = 27_000_000;

/// The start of a PES packet as far as one TS packet shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PesStart<'a> {
    /// `stream_id` (Table 2-22): 0xE0..=0xEF video, 0xC0..=0xDF MPEG audio, 0xBD private 1.
    pub stream_id: u8,
    /// Presentation time, 90 kHz, 33 bits.
    pub pts: Option<u64>,
    /// Decode time, present only when it differs from the PTS (B-frames).
    pub dts: Option<u64>,
    /// The elementary-stream bytes after the PES header in this TS packet (possibly empty).
    pub es: &'a [u8],
}

impl PesStart<'_> {
    /// The decode time: DTS, or PTS when no DTS is sent (then they are equal, §2.4.3.7).
    pub fn decode_time(&self) -> Option<u64> {
        self.dts.or(self.pts)
    }
}

/// The PES packet starting in `pkt`: `None` unless PUSI is set, the payload begins with the
/// `00 00 01` prefix and the whole PES header lies inside this packet (muxers put it there;
/// a header split across packets is not worth following).
pub fn pes_start(pkt: &TsPacket) -> Option<PesStart<'_>> {
    if !packet::pusi(pkt) {
        return None;
    }
    let p = packet::payload(pkt)?;
    let [0, 0, 1, stream_id, ..] = *p else {
        return None;
    };
    // §2.4.3.6: these stream ids carry no optional header (no timestamps) after the length.
    if matches!(
        stream_id,
        0xBC | 0xBE | 0xBF | 0xF0 | 0xF1 | 0xF2 | 0xF8 | 0xFF
    ) {
        return Some(PesStart {
            stream_id,
            pts: None,
            dts: None,
            es: p.get(6..).unwrap_or(&[]),
        });
    }
    // Bytes 6..9: '10' marker bits and flags, PTS_DTS_flags, PES_header_data_length.
    let &[flags1, flags2, header_len] = p.get(6..9)? else {
        return None;
    };
    if flags1 & 0xC0 != 0x80 {
        return None;
    }
    let fields = p.get(9..9 + header_len as usize)?;
    let es = &p[9 + header_len as usize..];
    let (pts, dts) = match flags2 >> 6 {
        0b10 => (Some(timestamp(fields.get(0..5)?)), None),
        0b11 => (
            Some(timestamp(fields.get(0..5)?)),
            Some(timestamp(fields.get(5..10)?)),
        ),
        // 0b01 is forbidden; treat it like no timestamps.
        _ => (None, None),
    };
    Some(PesStart {
        stream_id,
        pts,
        dts,
        es,
    })
}

/// The PCR of `pkt` in 27 MHz units, if its adaptation field carries a valid one (PCR_flag,
/// 0x10; always below `TIMESTAMP_WRAP * 300`).
pub fn pcr(pkt: &TsPacket) -> Option<u64> {
    let af = packet::adaptation_field(pkt)?;
    if af[0] & 0x10 == 0 {
        return None;
    }
    let b = af.get(1..7)?;
    // 33-bit base, 6 reserved bits, 9-bit extension.
    let base = (b[0] as u64) << 25
        | (b[1] as u64) << 17
        | (b[2] as u64) << 9
        | (b[3] as u64) << 1
        | (b[4] as u64) >> 7;
    let ext = ((b[4] as u64 & 0x01) << 8) | b[5] as u64;
    // §2.4.2.2: the extension counts 27 MHz cycles within one 90 kHz tick, 0..=299; more
    // is a corrupt field, not a time.
    (ext < 300).then_some(base * 300 + ext)
}

/// `later - earlier` for 33-bit timestamps, taking the shorter way round the wrap: the result
/// is in `-2^32 ..= 2^32` ticks (about ±13 hours), so one that crossed the wrap stays small.
pub fn timestamp_delta(later: u64, earlier: u64) -> i64 {
    let d = later.wrapping_sub(earlier) & (TIMESTAMP_WRAP - 1);
    if d > TIMESTAMP_WRAP / 2 {
        d as i64 - TIMESTAMP_WRAP as i64
    } else {
        d as i64
    }
}

/// What the first ES bytes of a video PES say about random access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RandomAccess {
    /// The first slice NAL unit is an IDR (H.264) or IRAP (HEVC) picture.
    Yes,
    /// The first slice NAL unit is some other picture.
    No,
    /// No slice NAL unit in these bytes; whether a parameter set (SPS, or HEVC VPS/SPS) came
    /// first, which encoders send right before a keyframe.
    Unknown { parameter_sets: bool },
}

/// Scans Annex B start codes in `es` (the start of one access unit) for the first slice NAL
/// unit. `stream_type` 0x1B is H.264 and 0x24 HEVC (Table 2-34); other types say `Unknown`.
pub fn video_random_access(stream_type: u8, es: &[u8]) -> RandomAccess {
    let mut parameter_sets = false;
    let mut i = 0;
    // A NAL unit header follows each 00 00 01 (a 4-byte 00 00 00 01 contains one).
    while i + 3 < es.len() {
        if es[i] != 0 || es[i + 1] != 0 || es[i + 2] != 1 {
            i += 1;
            continue;
        }
        let h = es[i + 3];
        match stream_type {
            0x1B => match h & 0x1F {
                // H.264 Table 7-1: 5 IDR slice, 1 non-IDR slice, 7 SPS.
                5 => return RandomAccess::Yes,
                1 => return RandomAccess::No,
                7 => parameter_sets = true,
                _ => {}
            },
            0x24 => match (h >> 1) & 0x3F {
                // H.265 Table 7-1: 16..=21 BLA/IDR/CRA (IRAP), 0..=9 other VCL, 32 VPS, 33 SPS.
                16..=21 => return RandomAccess::Yes,
                0..=9 => return RandomAccess::No,
                32 | 33 => parameter_sets = true,
                _ => {}
            },
            _ => return RandomAccess::Unknown { parameter_sets },
        }
        i += 3;
    }
    RandomAccess::Unknown { parameter_sets }
}

/// The 5-byte PTS/DTS field: 3 + 15 + 15 bits with marker bits between (§2.4.3.7). The
/// marker and prefix bits are not checked: some muxers get them wrong and players ignore them.
pub fn timestamp(b: &[u8]) -> u64 {
    ((b[0] as u64 >> 1) & 0x07) << 30
        | (b[1] as u64) << 22
        | ((b[2] as u64) >> 1) << 15
        | (b[3] as u64) << 7
        | (b[4] as u64) >> 1
}

#[cfg(test)]
#[path = "pes_tests.rs"]
mod tests;
