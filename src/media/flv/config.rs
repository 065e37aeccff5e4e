//! Video decoder configuration records: the parameter sets a keyframe needs in Annex B.
//!
//! Owns: reading an AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1) or an
//! HEVCDecoderConfigurationRecord (§8.3.3.1) into the NAL length size its frames use and its
//! SPS/PPS (and VPS) as one Annex B run, checking every length against the record.
//! Must not: keep more than one record's bytes, or panic on any bytes.

#![deny(clippy::disallowed_methods)]

use thiserror::Error;

/// Records larger than this are refused: real ones are a few hundred bytes, and the remuxer
/// copies the parameter sets before every keyframe.
pub const MAX_RECORD_LEN: usize = 16 * 1024;

/// Which NAL unit syntax the parameter sets and frames use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NalSyntax {
    /// ITU-T H.264 §7.3.1: one header byte, `nal_unit_type` in bits 4..0.
    Avc,
    /// ITU-T H.265 §7.3.1.2: two header bytes, `nal_unit_type` in bits 6..1 of the first.
    Hevc,
}

impl NalSyntax {
    /// The `nal_unit_type` of a NAL unit starting with `first`.
    pub fn nal_type(self, first: u8) -> u8 {
        match self {
            NalSyntax::Avc => first & 0x1F,
            NalSyntax::Hevc => (first >> 1) & 0x3F,
        }
    }

    /// Whether a NAL unit of this type starts a picture a decoder can begin at: H.264 IDR (5),
    /// H.265 IRAP (BLA, IDR, CRA: 16..=21).
    pub fn is_random_access(self, nal_type: u8) -> bool {
        match self {
            NalSyntax::Avc => nal_type == 5,
            NalSyntax::Hevc => (16..=21).contains(&nal_type),
        }
    }

    /// The access unit delimiter in Annex B: H.264 `09 F0` (primary_pic_type 7: any slice),
    /// H.265 `46 01 50` (type 35, pic_type 2: any slice), as ffmpeg's TS muxer writes them.
    pub fn access_unit_delimiter(self) -> &'static [u8] {
        match self {
            NalSyntax::Avc => &[0, 0, 0, 1, 0x09, 0xF0],
            NalSyntax::Hevc => &[0, 0, 0, 1, 0x46, 0x01, 0x50],
        }
    }

    /// Whether `nal_type` is an access unit delimiter (H.264 9, H.265 35).
    pub fn is_delimiter(self, nal_type: u8) -> bool {
        match self {
            NalSyntax::Avc => nal_type == 9,
            NalSyntax::Hevc => nal_type == 35,
        }
    }

    /// The parameter set types a keyframe must be preceded by, as bits: bit n for type n's
    /// position in [`Self::parameter_set_bit`].
    pub fn required_parameter_sets(self) -> u8 {
        match self {
            NalSyntax::Avc => 0b011,
            NalSyntax::Hevc => 0b111,
        }
    }

    /// The bit for a parameter set NAL type (H.264 SPS 7, PPS 8; H.265 VPS 32, SPS 33,
    /// PPS 34), 0 for any other type.
    pub fn parameter_set_bit(self, nal_type: u8) -> u8 {
        match (self, nal_type) {
            (NalSyntax::Avc, 7) => 0b001,
            (NalSyntax::Avc, 8) => 0b010,
            (NalSyntax::Hevc, 32) => 0b100,
            (NalSyntax::Hevc, 33) => 0b001,
            (NalSyntax::Hevc, 34) => 0b010,
            _ => 0,
        }
    }
}

/// Why a configuration record is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("decoder configuration record ends early: {0}")]
    Truncated(&'static str),
    #[error("configurationVersion {0}, expected 1")]
    Version(u8),
    #[error("decoder configuration record of {0} bytes is larger than allowed")]
    TooLarge(usize),
    #[error("record holds a NAL unit of type {0} where a parameter set belongs")]
    NalType(u8),
    #[error("record holds an empty NAL unit")]
    EmptyNal,
    /// The record lacks a parameter set a decoder needs (H.264 SPS/PPS, H.265 VPS/SPS/PPS).
    #[error("record lacks a required parameter set")]
    Missing,
}

/// The parameter sets of one record, ready to put in front of a keyframe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamSets {
    pub syntax: NalSyntax,
    /// Bytes of each NAL unit length prefix in the frames (`lengthSizeMinusOne + 1`).
    pub length_size: u8,
    /// Every parameter set, each after a 4-byte start code, in record order (VPS, SPS, PPS).
    pub annex_b: Vec<u8>,
}

/// Reads an AVCDecoderConfigurationRecord (14496-15 §5.3.3.1.2):
///
/// ```text
/// configurationVersion(8)=1 AVCProfileIndication(8) profile_compatibility(8)
/// AVCLevelIndication(8) reserved(6) lengthSizeMinusOne(2)
/// reserved(3) numOfSequenceParameterSets(5) { sequenceParameterSetLength(16) NAL }*
/// numOfPictureParameterSets(8) { pictureParameterSetLength(16) NAL }*
/// [High profile extensions, ignored]
/// ```
pub fn parse_avc(record: &[u8]) -> Result<ParamSets, ConfigError> {
    let mut r = Reader::new(record)?;
    let head = r.take(5, "header")?;
    if head[0] != 1 {
        return Err(ConfigError::Version(head[0]));
    }
    let mut sets = ParamSets {
        syntax: NalSyntax::Avc,
        length_size: (head[4] & 0x03) + 1,
        annex_b: Vec::with_capacity(record.len() + 16),
    };
    let sps_count = r.byte("numOfSequenceParameterSets")? & 0x1F;
    let mut seen = 0;
    for _ in 0..sps_count {
        seen |= sets.push(r.nal()?, 7)?;
    }
    let pps_count = r.byte("numOfPictureParameterSets")?;
    for _ in 0..pps_count {
        seen |= sets.push(r.nal()?, 8)?;
    }
    sets.finish(seen)
}

/// Reads an HEVCDecoderConfigurationRecord (14496-15 §8.3.3.1.2): 22 bytes of profile, tier,
/// level and format fields with `lengthSizeMinusOne` in the low two bits of byte 21, then
/// `numOfArrays(8)` arrays of `array_completeness(1) reserved(1) NAL_unit_type(6)
/// numNalus(16) { nalUnitLength(16) NAL }*`. Arrays of other types (SEI) are skipped.
pub fn parse_hevc(record: &[u8]) -> Result<ParamSets, ConfigError> {
    let mut r = Reader::new(record)?;
    let head = r.take(22, "header")?;
    if head[0] != 1 {
        return Err(ConfigError::Version(head[0]));
    }
    let mut sets = ParamSets {
        syntax: NalSyntax::Hevc,
        length_size: (head[21] & 0x03) + 1,
        annex_b: Vec::with_capacity(record.len() + 16),
    };
    let arrays = r.byte("numOfArrays")?;
    let mut seen = 0;
    for _ in 0..arrays {
        let nal_type = r.byte("array NAL_unit_type")? & 0x3F;
        let count = r.u16("numNalus")?;
        for _ in 0..count {
            let nal = r.nal()?;
            if matches!(nal_type, 32..=34) {
                seen |= sets.push(nal, nal_type)?;
            }
        }
    }
    sets.finish(seen)
}

impl ParamSets {
    /// Appends one parameter set after checking that its header says `expected_type`;
    /// returns its bit for [`NalSyntax::parameter_set_bit`].
    fn push(&mut self, nal: &[u8], expected_type: u8) -> Result<u8, ConfigError> {
        let &first = nal.first().ok_or(ConfigError::EmptyNal)?;
        let got = self.syntax.nal_type(first);
        if got != expected_type {
            return Err(ConfigError::NalType(got));
        }
        self.annex_b.extend_from_slice(&[0, 0, 0, 1]);
        self.annex_b.extend_from_slice(nal);
        Ok(self.syntax.parameter_set_bit(got))
    }

    fn finish(self, seen: u8) -> Result<ParamSets, ConfigError> {
        let need = self.syntax.required_parameter_sets();
        if seen & need != need {
            return Err(ConfigError::Missing);
        }
        Ok(self)
    }
}

/// A cursor over the record; every read is bounds-checked.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(record: &'a [u8]) -> Result<Self, ConfigError> {
        if record.len() > MAX_RECORD_LEN {
            return Err(ConfigError::TooLarge(record.len()));
        }
        Ok(Reader { rest: record })
    }

    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ConfigError> {
        if self.rest.len() < n {
            return Err(ConfigError::Truncated(what));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, ConfigError> {
        Ok(self.take(1, what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, ConfigError> {
        let b = self.take(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A NAL unit behind a 16-bit length.
    fn nal(&mut self) -> Result<&'a [u8], ConfigError> {
        let len = self.u16("parameter set length")? as usize;
        self.take(len, "parameter set")
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The avcC libx264 wrote for the FLV fixture's 640x360 High profile stream (from
    /// `ffmpeg ... -f flv`, tests/vectors/media/ffmpeg_h264_aac_4s.flv, first video tag).
    pub(crate) const X264_AVCC: &[u8] = &[
        0x01, 0x64, 0x00, 0x1e, 0xff, 0xe1, 0x00, 0x1a, 0x67, 0x64, 0x00, 0x1e, 0xac, 0xd9, 0x40,
        0xa0, 0x2f, 0xf9, 0x70, 0x11, 0x00, 0x00, 0x03, 0x00, 0x01, 0x00, 0x00, 0x03, 0x00, 0x3c,
        0x0f, 0x16, 0x2d, 0x96, 0x01, 0x00, 0x06, 0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0, 0xfd, 0xf8,
        0xf8, 0x00,
    ];

    #[test]
    fn avc_record_from_x264() {
        let sets = parse_avc(X264_AVCC).expect("parses");
        assert_eq!(sets.syntax, NalSyntax::Avc);
        assert_eq!(sets.length_size, 4);
        let sps = &X264_AVCC[8..8 + 0x1a];
        let pps = &X264_AVCC[8 + 0x1a + 3..8 + 0x1a + 3 + 6];
        let mut want = vec![0, 0, 0, 1];
        want.extend_from_slice(sps);
        want.extend_from_slice(&[0, 0, 0, 1]);
        want.extend_from_slice(pps);
        assert_eq!(sets.annex_b, want);
    }

    #[test]
    fn avc_record_every_truncation_and_lie_is_refused() {
        // Cutting anywhere inside the SPS/PPS lists fails; the trailing High profile extension
        // bytes (the last 4) are not needed.
        let needed = X264_AVCC.len() - 4;
        for n in 0..needed {
            assert!(parse_avc(&X264_AVCC[..n]).is_err(), "prefix {n}");
        }
        assert!(parse_avc(&X264_AVCC[..needed]).is_ok());
        let mut lying = X264_AVCC.to_vec();
        lying[7] = 0xF0; // SPS length 0x1a -> 0xF0: past the end.
        assert_eq!(
            parse_avc(&lying),
            Err(ConfigError::Truncated("parameter set"))
        );
        let mut version = X264_AVCC.to_vec();
        version[0] = 0;
        assert_eq!(parse_avc(&version), Err(ConfigError::Version(0)));
        let mut no_pps = X264_AVCC[..8 + 0x1a].to_vec();
        no_pps.push(0);
        assert_eq!(parse_avc(&no_pps), Err(ConfigError::Missing));
        let mut swapped = X264_AVCC.to_vec();
        swapped[8] = 0x68; // the SPS slot holds a PPS
        assert_eq!(parse_avc(&swapped), Err(ConfigError::NalType(8)));
        let mut empty = X264_AVCC[..6].to_vec();
        empty.extend_from_slice(&[0, 0]);
        assert_eq!(parse_avc(&empty), Err(ConfigError::EmptyNal));
        assert_eq!(
            parse_avc(&vec![1; MAX_RECORD_LEN + 1]),
            Err(ConfigError::TooLarge(MAX_RECORD_LEN + 1))
        );
    }

    /// An hvcC as libx265 writes it, cut to what the parser reads: 22 header bytes with
    /// lengthSizeMinusOne 3, then VPS, SPS, PPS and an SEI array (skipped).
    fn hvcc() -> Vec<u8> {
        let mut r = vec![
            0x01, 0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5d, 0xf0, 0,
        ];
        r.extend_from_slice(&[0xfc, 0xfd, 0xf8, 0xf8, 0, 0, 0x0f]);
        r.push(4);
        for (t, nal) in [
            (32u8, &[0x40, 0x01, 0x0c][..]),
            (33, &[0x42, 0x01, 0x01, 0x01]),
            (34, &[0x44, 0x01, 0xc1]),
            (39, &[0x4e, 0x01, 0x05]),
        ] {
            r.push(0x80 | t);
            r.extend_from_slice(&1u16.to_be_bytes());
            r.extend_from_slice(&(nal.len() as u16).to_be_bytes());
            r.extend_from_slice(nal);
        }
        r
    }

    #[test]
    fn hevc_record() {
        let sets = parse_hevc(&hvcc()).expect("parses");
        assert_eq!(sets.syntax, NalSyntax::Hevc);
        assert_eq!(sets.length_size, 4);
        assert_eq!(
            sets.annex_b,
            [
                0, 0, 0, 1, 0x40, 0x01, 0x0c, 0, 0, 0, 1, 0x42, 0x01, 0x01, 0x01, 0, 0, 0, 1, 0x44,
                0x01, 0xc1
            ]
        );
        let full = hvcc();
        // Everything up to the end of the PPS array is needed.
        for n in 0..full.len() - 8 {
            assert!(parse_hevc(&full[..n]).is_err(), "prefix {n}");
        }
        let mut no_vps = full.clone();
        no_vps[22] = 3;
        no_vps.drain(23..23 + 8);
        assert_eq!(parse_hevc(&no_vps), Err(ConfigError::Missing));
        let mut wrong = full;
        wrong[28] = 0x42; // the VPS array holds an SPS
        assert_eq!(parse_hevc(&wrong), Err(ConfigError::NalType(33)));
    }

    #[test]
    fn nal_syntax_tables() {
        assert!(NalSyntax::Avc.is_random_access(NalSyntax::Avc.nal_type(0x65)));
        assert!(!NalSyntax::Avc.is_random_access(NalSyntax::Avc.nal_type(0x41)));
        // HEVC IDR_W_RADL (19) = 0x26 0x01; TRAIL_R (1) = 0x02 0x01.
        assert!(NalSyntax::Hevc.is_random_access(NalSyntax::Hevc.nal_type(0x26)));
        assert!(!NalSyntax::Hevc.is_random_access(NalSyntax::Hevc.nal_type(0x02)));
        assert!(NalSyntax::Avc.is_delimiter(NalSyntax::Avc.nal_type(0x09)));
        assert!(NalSyntax::Hevc.is_delimiter(NalSyntax::Hevc.nal_type(0x46)));
    }
}
