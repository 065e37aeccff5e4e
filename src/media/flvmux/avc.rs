//! H.264 from Annex B (TS) to what FLV carries: NAL units without start codes, the
//! AVCDecoderConfigurationRecord, and the picture size from the SPS for onMetaData.
//!
//! Owns: splitting an access unit at its start codes (ITU-T H.264 Annex B.2), building the
//! record (ISO/IEC 14496-15 §5.3.3.1) from the parameter sets, reading the SPS fields up to the
//! frame cropping (H.264 §7.3.2.1.1) through its emulation prevention bytes.
//! Must not: keep state, or panic on any bytes: an SPS it cannot read gives `None`.

#![deny(clippy::disallowed_methods)]

use crate::media::flv::config::MAX_RECORD_LEN;

/// H.264 Table 7-1 `nal_unit_type`s the remux looks at.
pub const NAL_IDR: u8 = 5;
pub const NAL_SPS: u8 = 7;
pub const NAL_PPS: u8 = 8;
pub const NAL_AUD: u8 = 9;
/// End of sequence, end of stream and filler data: nothing a decoder in FLV needs.
pub const NAL_END_OF_SEQUENCE: u8 = 10;
pub const NAL_END_OF_STREAM: u8 = 11;
pub const NAL_FILLER: u8 = 12;

/// The NAL units of an Annex B byte stream, without start codes and without the zero bytes
/// before the next start code (`trailing_zero_8bits`, and the leading zero of a 4-byte start
/// code: a NAL unit never ends in 0x00, §7.4.1). Bytes before the first start code are not a
/// NAL unit and are skipped; empty units are not yielded.
pub fn nal_units(es: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut at = next_start(es, 0).map(|s| s + 3);
    std::iter::from_fn(move || {
        loop {
            let start = at?;
            let end = next_start(es, start);
            at = end.map(|e| e + 3);
            let mut nal = &es[start..end.unwrap_or(es.len())];
            while let [rest @ .., 0] = nal {
                nal = rest;
            }
            if !nal.is_empty() {
                return Some(nal);
            }
        }
    })
}

/// The position of the next `00 00 01` at or after `from`.
fn next_start(es: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 2 < es.len() {
        match es[i + 2] {
            // `00 00 01` can start at i only if byte i+2 is 1; a byte > 1 there rules out
            // starts at i, i+1 and i+2.
            1 if es[i] == 0 && es[i + 1] == 0 => return Some(i),
            0 | 1 => i += 1,
            _ => i += 3,
        }
    }
    None
}

/// The AVCDecoderConfigurationRecord for `sps` and `pps` (ISO/IEC 14496-15 §5.3.3.1.2), with
/// 4-byte NAL lengths; `None` if a list is empty, longer than 31 SPS / 255 PPS, a unit does not
/// fit its 16-bit length, or the record would be larger than [`MAX_RECORD_LEN`] (what the
/// relay's own RTMP ingest accepts).
///
/// ```text
/// configurationVersion(8)=1 AVCProfileIndication(8) profile_compatibility(8)
/// AVCLevelIndication(8) reserved(6)=111111 lengthSizeMinusOne(2)=3
/// reserved(3)=111 numOfSequenceParameterSets(5) { sequenceParameterSetLength(16) SPS }
/// numOfPictureParameterSets(8) { pictureParameterSetLength(16) PPS }
/// [High profiles: reserved(6) chroma_format(2) reserved(5) bit_depth_luma_minus8(3)
///  reserved(5) bit_depth_chroma_minus8(3) numOfSequenceParameterSetExt(8)=0]
/// ```
pub fn decoder_configuration_record(sps: &[Vec<u8>], pps: &[Vec<u8>]) -> Option<Vec<u8>> {
    let first = sps.first()?;
    if first.len() < 4 || pps.is_empty() || sps.len() > 31 || pps.len() > 255 {
        return None;
    }
    let mut r = vec![
        1,
        first[1],
        first[2],
        first[3],
        0xFF,
        0xE0 | sps.len() as u8,
    ];
    for s in sps {
        r.extend_from_slice(&u16::try_from(s.len()).ok()?.to_be_bytes());
        r.extend_from_slice(s);
    }
    r.push(pps.len() as u8);
    for p in pps {
        r.extend_from_slice(&u16::try_from(p.len()).ok()?.to_be_bytes());
        r.extend_from_slice(p);
    }
    // §5.3.3.1.2: the extension is present for profile_idc 100, 110, 122 and 144; ffmpeg
    // writes it from the SPS the same way.
    if matches!(first[1], 100 | 110 | 122 | 144)
        && let Some(info) = SpsInfo::parse(first)
    {
        r.extend_from_slice(&[
            0xFC | info.chroma_format_idc & 3,
            0xF8 | info.bit_depth_luma_minus8 & 7,
            0xF8 | info.bit_depth_chroma_minus8 & 7,
            0,
        ]);
    }
    (r.len() <= MAX_RECORD_LEN).then_some(r)
}

/// What onMetaData and the record's extension need from an SPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpsInfo {
    pub width: u32,
    pub height: u32,
    pub chroma_format_idc: u8,
    pub bit_depth_luma_minus8: u8,
    pub bit_depth_chroma_minus8: u8,
}

impl SpsInfo {
    /// Reads `seq_parameter_set_data()` (H.264 §7.3.2.1.1) from an SPS NAL unit (header byte
    /// first) up to the frame cropping; `None` on anything out of range or cut short.
    pub fn parse(nal: &[u8]) -> Option<SpsInfo> {
        // Enough RBSP for every field up to the cropping, scaling lists included.
        const MAX_SPS_READ: usize = 256;
        let rbsp = unescape(nal.get(1..)?, MAX_SPS_READ);
        let mut b = Bits::new(&rbsp);
        let profile_idc = b.bits(8)?;
        b.bits(16)?; // constraint flags, reserved bits, level_idc
        if b.ue()? > 31 {
            return None; // seq_parameter_set_id
        }
        let mut info = SpsInfo {
            width: 0,
            height: 0,
            chroma_format_idc: 1,
            bit_depth_luma_minus8: 0,
            bit_depth_chroma_minus8: 0,
        };
        if matches!(
            profile_idc,
            100 | 110 | 122 | 244 | 44 | 83 | 86 | 118 | 128 | 138 | 139 | 134 | 135
        ) {
            info.chroma_format_idc = u8::try_from(b.ue()?).ok().filter(|&c| c <= 3)?;
            if info.chroma_format_idc == 3 {
                b.bits(1)?; // separate_colour_plane_flag
            }
            info.bit_depth_luma_minus8 = u8::try_from(b.ue()?).ok().filter(|&d| d <= 6)?;
            info.bit_depth_chroma_minus8 = u8::try_from(b.ue()?).ok().filter(|&d| d <= 6)?;
            b.bits(1)?; // qpprime_y_zero_transform_bypass_flag
            if b.bits(1)? == 1 {
                // seq_scaling_matrix_present_flag: 8 lists (12 for 4:4:4), §7.3.2.1.1.1.
                let lists = if info.chroma_format_idc == 3 { 12 } else { 8 };
                for i in 0..lists {
                    if b.bits(1)? == 1 {
                        skip_scaling_list(&mut b, if i < 6 { 16 } else { 64 })?;
                    }
                }
            }
        }
        b.ue()?; // log2_max_frame_num_minus4
        match b.ue()? {
            0 => {
                b.ue()?; // log2_max_pic_order_cnt_lsb_minus4
            }
            1 => {
                b.bits(1)?; // delta_pic_order_always_zero_flag
                b.se()?;
                b.se()?;
                let cycle = b.ue()?;
                if cycle > 255 {
                    return None;
                }
                for _ in 0..cycle {
                    b.se()?;
                }
            }
            2 => {}
            _ => return None,
        }
        b.ue()?; // max_num_ref_frames
        b.bits(1)?; // gaps_in_frame_num_value_allowed_flag
        let width_mbs = b.ue()?.checked_add(1)?;
        let height_units = b.ue()?.checked_add(1)?;
        let frame_mbs_only = b.bits(1)?;
        if frame_mbs_only == 0 {
            b.bits(1)?; // mb_adaptive_frame_field_flag
        }
        b.bits(1)?; // direct_8x8_inference_flag
        let (mut crop_x, mut crop_y) = (0, 0);
        if b.bits(1)? == 1 {
            let (l, r, t, bt) = (b.ue()?, b.ue()?, b.ue()?, b.ue()?);
            // §7.4.2.1.1, Table 6-1: crop units in luma samples.
            let (sub_w, sub_h) = match info.chroma_format_idc {
                1 => (2, 2),
                2 => (2, 1),
                _ => (1, 1),
            };
            let unit_y = sub_h * (2 - frame_mbs_only);
            crop_x = l.checked_add(r)?.checked_mul(sub_w)?;
            crop_y = t.checked_add(bt)?.checked_mul(unit_y)?;
        }
        let width = width_mbs.checked_mul(16)?.checked_sub(crop_x)?;
        let height = height_units
            .checked_mul(16)?
            .checked_mul(2 - frame_mbs_only)?
            .checked_sub(crop_y)?;
        if width == 0 || height == 0 || width > 16_384 || height > 16_384 {
            return None;
        }
        info.width = width;
        info.height = height;
        Some(info)
    }
}

/// §7.3.2.1.1.1 scaling_list(): delta_scale values until next_scale is 0.
fn skip_scaling_list(b: &mut Bits, size: usize) -> Option<()> {
    let (mut last, mut next) = (8i64, 8i64);
    for _ in 0..size {
        if next != 0 {
            next = (last + b.se()? + 256).rem_euclid(256);
        }
        if next != 0 {
            last = next;
        }
    }
    Some(())
}

/// RBSP bytes of `nal` (without its header): each `00 00 03` loses its 03 (§7.4.1). At most
/// `max` bytes are produced.
fn unescape(nal: &[u8], max: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(nal.len().min(max));
    let mut zeros = 0;
    for &byte in nal {
        if out.len() == max {
            break;
        }
        if zeros >= 2 && byte == 3 {
            zeros = 0;
            continue;
        }
        zeros = if byte == 0 { zeros + 1 } else { 0 };
        out.push(byte);
    }
    out
}

/// An MSB-first bit reader with Exp-Golomb codes (§9.1).
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, pos: 0 }
    }

    fn bits(&mut self, n: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8)?;
            v = v << 1 | u32::from(byte >> (7 - self.pos % 8) & 1);
            self.pos += 1;
        }
        Some(v)
    }

    /// ue(v): leading zeros, a 1, as many bits again; at most 31 leading zeros.
    fn ue(&mut self) -> Option<u32> {
        let mut zeros = 0;
        while self.bits(1)? == 0 {
            zeros += 1;
            if zeros > 31 {
                return None;
            }
        }
        let rest = self.bits(zeros)?;
        Some(((1u64 << zeros) - 1 + u64::from(rest)).min(u64::from(u32::MAX)) as u32)
    }

    /// se(v): ue mapped 0, 1, -1, 2, -2, ...
    fn se(&mut self) -> Option<i64> {
        let k = i64::from(self.ue()?);
        Some(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::flv::config::{self, tests::X264_AVCC};

    /// The SPS and PPS inside the x264 record (640x360 High, from the FLV fixture).
    fn x264_sets() -> (Vec<u8>, Vec<u8>) {
        let sps = X264_AVCC[8..8 + 0x1a].to_vec();
        let pps = X264_AVCC[8 + 0x1a + 3..8 + 0x1a + 3 + 6].to_vec();
        (sps, pps)
    }

    #[test]
    fn record_matches_what_ffmpeg_wrote() {
        let (sps, pps) = x264_sets();
        let r = decoder_configuration_record(&[sps], &[pps]).expect("record");
        assert_eq!(
            r, X264_AVCC,
            "byte for byte, High profile extension included"
        );
        assert!(config::parse_avc(&r).is_ok());
        assert_eq!(decoder_configuration_record(&[], &[vec![0x68]]), None);
        assert_eq!(
            decoder_configuration_record(&[vec![0x67, 66, 0, 30]], &[]),
            None
        );
        let huge = vec![0x68; MAX_RECORD_LEN];
        assert_eq!(
            decoder_configuration_record(&[vec![0x67, 66, 0, 30]], &[huge]),
            None
        );
    }

    #[test]
    fn sps_size_of_the_fixture() {
        let (sps, _) = x264_sets();
        let info = SpsInfo::parse(&sps).expect("parses");
        assert_eq!((info.width, info.height), (640, 360));
        assert_eq!(info.chroma_format_idc, 1);
        for n in 0..sps.len() - 4 {
            // Cut short, it reads nothing wrong: either None or the same size.
            if let Some(i) = SpsInfo::parse(&sps[..n]) {
                assert_eq!((i.width, i.height), (640, 360), "{n}");
            }
        }
    }

    #[test]
    fn annex_b_split() {
        let es = [
            0xAA, 0, 0, 0, 1, 0x09, 0xF0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 0, 1, 0x65, 0, 0, 3, 1, 0,
            0, 1, 0, 0, 1,
        ];
        let units: Vec<&[u8]> = nal_units(&es).collect();
        assert_eq!(
            units,
            [&[0x09, 0xF0][..], &[0x67, 1, 2], &[0x65, 0, 0, 3, 1],]
        );
        assert_eq!(nal_units(&[0, 0, 1]).count(), 0);
        assert_eq!(nal_units(&[1, 2, 3]).count(), 0);
    }
}
