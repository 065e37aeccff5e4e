//! AAC in FLV to AAC in ADTS: the AudioSpecificConfig says once what every ADTS header repeats.
//!
//! Owns: reading the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1) down to the object type,
//! sampling frequency and channel configuration, refusing what ADTS cannot express, and writing
//! the 7-byte ADTS header (§1.A.2.2.1) for one raw frame.
//! Must not: look at the raw frames, allocate, or panic on any bytes.

#![deny(clippy::disallowed_methods)]

use thiserror::Error;

/// Length of an ADTS header without CRC (`protection_absent` = 1).
pub const ADTS_HEADER_LEN: usize = 7;
/// `frame_length` is 13 bits and counts the header, so a raw frame is at most this long.
pub const MAX_ADTS_PAYLOAD: usize = (1 << 13) - 1 - ADTS_HEADER_LEN;

/// §1.6.3.4 Table 1.18: `samplingFrequencyIndex` 0..=12; 13 and 14 are reserved, 15 escapes
/// to an explicit 24-bit frequency.
const SAMPLING_FREQUENCIES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

/// Why an AudioSpecificConfig cannot become ADTS headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AscError {
    #[error("AudioSpecificConfig ends early")]
    Truncated,
    /// ADTS `profile` is 2 bits: object types 1..=4 (Main, LC, SSR, LTP) only.
    #[error("audio object type {0} has no ADTS profile")]
    ObjectType(u8),
    /// A reserved index, or an explicit frequency outside the index table.
    #[error("sampling frequency {0} Hz has no ADTS index")]
    Frequency(u32),
    /// 0 (layout in a program_config_element) or above 7 (ADTS has 3 bits).
    #[error("channel configuration {0} has no ADTS form")]
    Channels(u8),
}

/// What every ADTS header of the stream repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdtsConfig {
    /// ADTS `profile`: audio object type - 1 (1 = AAC LC).
    pub profile: u8,
    /// `sampling_frequency_index`, 0..=12.
    pub sampling_index: u8,
    /// `channel_configuration`, 1..=7.
    pub channels: u8,
}

impl AdtsConfig {
    /// Reads an AudioSpecificConfig. HE-AAC signalled explicitly (object type 5 or 29 first,
    /// §1.6.2.1) is written as its core object type at the core frequency: ADTS carries
    /// HE-AAC that way and decoders find the SBR data in the frames (implicit signalling).
    /// What follows the fields ADTS needs (GASpecificConfig, backward-compatible extension
    /// signalling) is not read.
    pub fn parse(asc: &[u8]) -> Result<Self, AscError> {
        let mut r = Bits::new(asc);
        let mut object_type = r.object_type()?;
        let frequency = r.frequency()?;
        let channels = r.read(4)? as u8;
        if object_type == 5 || object_type == 29 {
            // extensionSamplingFrequencyIndex (the SBR rate), then the core object type.
            r.frequency()?;
            object_type = r.object_type()?;
        }
        if !(1..=4).contains(&object_type) {
            return Err(AscError::ObjectType(object_type));
        }
        let sampling_index = match frequency {
            Frequency::Index(i) if (i as usize) < SAMPLING_FREQUENCIES.len() => i,
            Frequency::Index(i) => return Err(AscError::Frequency(i as u32)),
            Frequency::Explicit(hz) => SAMPLING_FREQUENCIES
                .iter()
                .position(|&f| f == hz)
                .map(|i| i as u8)
                .ok_or(AscError::Frequency(hz))?,
        };
        if !(1..=7).contains(&channels) {
            return Err(AscError::Channels(channels));
        }
        Ok(AdtsConfig {
            profile: object_type - 1,
            sampling_index,
            channels,
        })
    }

    /// The sampling frequency in Hz.
    pub fn sample_rate(&self) -> u32 {
        SAMPLING_FREQUENCIES[self.sampling_index as usize % SAMPLING_FREQUENCIES.len()]
    }

    /// The ADTS header for a raw frame of `payload_len` bytes, or `None` if the frame is too
    /// long for the 13-bit `frame_length`.
    ///
    /// ```text
    /// syncword(12)=FFF ID(1)=0 layer(2)=0 protection_absent(1)=1 profile(2)
    /// sampling_frequency_index(4) private_bit(1) channel_configuration(3) original_copy(1)
    /// home(1) copyright_identification_bit(1) copyright_identification_start(1)
    /// aac_frame_length(13) adts_buffer_fullness(11)=7FF (VBR) number_of_raw_data_blocks(2)=0
    /// ```
    pub fn header(&self, payload_len: usize) -> Option<[u8; ADTS_HEADER_LEN]> {
        if payload_len > MAX_ADTS_PAYLOAD {
            return None;
        }
        let len = (payload_len + ADTS_HEADER_LEN) as u16;
        Some([
            0xFF,
            0xF1,
            (self.profile & 0x03) << 6
                | (self.sampling_index & 0x0F) << 2
                | (self.channels >> 2) & 1,
            (self.channels & 0x03) << 6 | (len >> 11) as u8 & 0x03,
            (len >> 3) as u8,
            ((len & 0x07) as u8) << 5 | 0x1F,
            0xFC,
        ])
    }
}

enum Frequency {
    Index(u8),
    Explicit(u32),
}

/// An MSB-first bit reader.
struct Bits<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Bits<'a> {
    fn new(data: &'a [u8]) -> Self {
        Bits { data, pos: 0 }
    }

    fn read(&mut self, n: usize) -> Result<u32, AscError> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self.data.get(self.pos / 8).ok_or(AscError::Truncated)?;
            v = v << 1 | u32::from(byte >> (7 - self.pos % 8) & 1);
            self.pos += 1;
        }
        Ok(v)
    }

    /// GetAudioObjectType(): 5 bits, 31 escaping to 32 + 6 more bits.
    fn object_type(&mut self) -> Result<u8, AscError> {
        match self.read(5)? as u8 {
            31 => Ok(32 + self.read(6)? as u8),
            t => Ok(t),
        }
    }

    /// samplingFrequencyIndex, 15 escaping to a 24-bit samplingFrequency.
    fn frequency(&mut self) -> Result<Frequency, AscError> {
        match self.read(4)? as u8 {
            15 => Ok(Frequency::Explicit(self.read(24)?)),
            i => Ok(Frequency::Index(i)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lc_configs() {
        // ffmpeg's native AAC encoder, 48 kHz mono, with the backward-compatible SBR sync
        // extension after the fields (the FLV fixture's config).
        let ffmpeg = AdtsConfig::parse(&[0x11, 0x88, 0x56, 0xe5, 0x00]).expect("parses");
        assert_eq!(
            ffmpeg,
            AdtsConfig {
                profile: 1,
                sampling_index: 3,
                channels: 1,
            }
        );
        assert_eq!(ffmpeg.sample_rate(), 48000);
        // OBS: AAC LC 44.1 kHz stereo.
        let obs = AdtsConfig::parse(&[0x12, 0x10]).expect("parses");
        assert_eq!((obs.profile, obs.sampling_index, obs.channels), (1, 4, 2));
    }

    #[test]
    fn adts_header_bits() {
        let c = AdtsConfig {
            profile: 1,
            sampling_index: 4,
            channels: 2,
        };
        // 44.1 kHz stereo LC, a 371-byte raw frame: frame_length 378 = 0x17A.
        let h = c.header(371).expect("fits");
        assert_eq!(h, [0xFF, 0xF1, 0x50, 0x80, 0x2F, 0x5F, 0xFC]);
        let bits = u64::from_be_bytes([0, h[0], h[1], h[2], h[3], h[4], h[5], h[6]]);
        assert_eq!(bits >> 44, 0xFFF, "syncword");
        assert_eq!(bits >> 43 & 1, 0, "MPEG-4");
        assert_eq!(bits >> 40 & 1, 1, "protection_absent");
        assert_eq!(bits >> 38 & 3, 1, "profile LC");
        assert_eq!(bits >> 34 & 0xF, 4, "sampling index");
        assert_eq!(bits >> 30 & 7, 2, "channels");
        assert_eq!(bits >> 13 & 0x1FFF, 378, "frame_length counts the header");
        assert_eq!(bits >> 2 & 0x7FF, 0x7FF, "VBR fullness");
        assert_eq!(bits & 3, 0, "one raw data block");
        // Channel configuration 7 (7.1) spills into byte 2's low bit.
        let wide = AdtsConfig { channels: 7, ..c };
        let h = wide.header(0).expect("fits");
        assert_eq!((h[2] & 1, h[3] >> 6), (1, 3));
        assert!(c.header(MAX_ADTS_PAYLOAD).is_some());
        assert_eq!(c.header(MAX_ADTS_PAYLOAD + 1), None);
    }

    #[test]
    fn explicit_frequency_escape() {
        // AOT 2, index 15, frequency 48000 (0x00BB80), channels 2: bit-packed by hand.
        // 00010 1111 000000001011101110000000 0010 ...
        let asc = [0x17, 0x80, 0x5D, 0xC0, 0x10];
        assert_eq!(
            AdtsConfig::parse(&asc),
            Ok(AdtsConfig {
                profile: 1,
                sampling_index: 3,
                channels: 2,
            })
        );
        // The same with 47999 Hz: no index.
        let odd = [0x17, 0x80, 0x5D, 0xBF, 0x90];
        assert_eq!(AdtsConfig::parse(&odd), Err(AscError::Frequency(47999)));
        assert_eq!(AdtsConfig::parse(&asc[..3]), Err(AscError::Truncated));
    }

    #[test]
    fn he_aac_is_written_as_its_core() {
        // AOT 5 (SBR), core index 6 (24 kHz), channels 2, extension index 3 (48 kHz), then
        // AOT 2: 00101 0110 0010 0011 00010 ...
        let asc = [0x2B, 0x11, 0x88, 0x00];
        assert_eq!(
            AdtsConfig::parse(&asc),
            Ok(AdtsConfig {
                profile: 1,
                sampling_index: 6,
                channels: 2,
            })
        );
    }

    #[test]
    fn configs_adts_cannot_express() {
        // AOT 23 (ER AAC LD): 10111 0011 0001
        assert_eq!(
            AdtsConfig::parse(&[0xB9, 0x88]),
            Err(AscError::ObjectType(23))
        );
        // AOT 31 escape to 32 + 10 = 42 (USAC): 11111 001010 ...
        assert_eq!(
            AdtsConfig::parse(&[0xF9, 0x40, 0, 0]),
            Err(AscError::ObjectType(42))
        );
        // Channel configuration 0 (program_config_element).
        assert_eq!(AdtsConfig::parse(&[0x11, 0x80]), Err(AscError::Channels(0)));
        // Reserved sampling index 13.
        assert_eq!(
            AdtsConfig::parse(&[0x16, 0x88]),
            Err(AscError::Frequency(13))
        );
        assert_eq!(AdtsConfig::parse(&[]), Err(AscError::Truncated));
        assert_eq!(AdtsConfig::parse(&[0x11]), Err(AscError::Truncated));
    }
}
