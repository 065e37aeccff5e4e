//! FLV tag bodies as RTMP carries them: one video or audio message body, without the FLV file
//! header or tag header.
//!
//! Owns: the VIDEODATA / AUDIODATA headers (Adobe FLV v10.1 §E.4.2-3, and Enhanced RTMP v1/v2
//! "ExVideoTagHeader"), read into borrowed views that say which codec and packet type a body
//! carries and where its payload is; the codec configuration records under `config` (AVC and
//! HEVC parameter sets) and `aac` (AudioSpecificConfig to ADTS).
//! Must not: keep state across messages, allocate for a tag, read the clock, or panic on any
//! bytes. Remuxing into TS is `media::remux`.

#![deny(clippy::disallowed_methods)]

pub mod aac;
pub mod config;

use thiserror::Error;

/// Why a tag body cannot be read at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum FlvError {
    #[error("empty tag body")]
    Empty,
    /// The body ends inside its own header (`need` bytes of header, `len` present).
    #[error("tag body of {len} bytes ends inside its {need}-byte header")]
    Truncated { need: usize, len: usize },
}

/// The video codec a tag names: a legacy CodecID (FLV §E.4.3.1) or an Enhanced RTMP FourCC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoCodec {
    /// CodecID 7 or FourCC `avc1`.
    Avc,
    /// FourCC `hvc1`, or the CodecID 12 that Chinese CDNs used before Enhanced RTMP (same
    /// layout as AVC).
    Hevc,
    /// FourCC `av01`.
    Av1,
    /// FourCC `vp09`.
    Vp9,
    /// Another legacy CodecID (Sorenson, VP6, screen video, ...).
    Legacy(u8),
    /// Another FourCC.
    FourCc([u8; 4]),
}

/// What a video tag carries after its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VideoPacket<'a> {
    /// The decoder configuration record (AVCPacketType 0 / SequenceStart).
    SequenceStart(&'a [u8]),
    /// Coded frames (AVCPacketType 1 / CodedFrames / CodedFramesX): for AVC and HEVC,
    /// length-prefixed NAL units. `composition_ms` is PTS - DTS (signed 24 bits; 0 for
    /// CodedFramesX and for codecs that carry none).
    Frames { composition_ms: i32, data: &'a [u8] },
    /// AVCPacketType 2 / SequenceEnd.
    SequenceEnd,
    /// Enhanced RTMP Metadata (AMF-encoded, e.g. HDR colour info).
    Metadata(&'a [u8]),
    /// A video info/command frame (FrameType 5): one command byte, no media.
    Command(u8),
    /// A packet type this module does not open: Enhanced RTMP v2 Multitrack and ModEx,
    /// MPEG2TSSequenceStart, reserved values (the number is the packet type), and the bodies of
    /// legacy codecs other than AVC/HEVC (0).
    Unsupported(u8),
}

/// One parsed video tag body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VideoTag<'a> {
    /// FrameType: 1 key frame, 2 inter frame, 3 disposable, 4 generated key frame, 5 command.
    pub frame_type: u8,
    pub codec: VideoCodec,
    pub packet: VideoPacket<'a>,
}

/// What an audio tag carries after its header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioTag<'a> {
    /// SoundFormat 10, AACPacketType 0: the AudioSpecificConfig (ISO/IEC 14496-3 §1.6.2.1).
    AacConfig(&'a [u8]),
    /// SoundFormat 10, AACPacketType 1: one raw AAC frame (no ADTS header).
    AacRaw(&'a [u8]),
    /// Any other SoundFormat (MP3, Speex, G.711, Enhanced RTMP audio's ExHeader 9, ...) or an
    /// AACPacketType other than 0 and 1; the number is the SoundFormat.
    Unsupported(u8),
}

/// FLV §E.4.3.1 CodecID for AVC.
const CODEC_ID_AVC: u8 = 7;
/// The non-standard HEVC CodecID (same body layout as AVC).
const CODEC_ID_HEVC_LEGACY: u8 = 12;
/// FrameType 5: video info / command frame.
const FRAME_TYPE_COMMAND: u8 = 5;
/// FLV §E.4.2.1 SoundFormat for AAC.
const SOUND_FORMAT_AAC: u8 = 10;

/// Enhanced RTMP VideoPacketType values (v1 §"ExVideoTagHeader", v2 adds 6 and 7).
mod packet_type {
    pub const SEQUENCE_START: u8 = 0;
    pub const CODED_FRAMES: u8 = 1;
    pub const SEQUENCE_END: u8 = 2;
    pub const CODED_FRAMES_X: u8 = 3;
    pub const METADATA: u8 = 4;
}

/// Reads a video message body.
///
/// Legacy layout (FLV §E.4.3.1): `FrameType(4) CodecID(4)`, then for AVC `AVCPacketType(8)
/// CompositionTime(SI24)`. Enhanced layout: `IsExHeader(1) FrameType(3) PacketType(4)`, then
/// (unless a command frame) a FourCC, then for AVC/HEVC CodedFrames an SI24 composition time.
pub fn parse_video(body: &[u8]) -> Result<VideoTag<'_>, FlvError> {
    let &first = body.first().ok_or(FlvError::Empty)?;
    if first & 0x80 != 0 {
        return parse_ex_video(body);
    }
    let frame_type = first >> 4;
    let codec_id = first & 0x0F;
    let codec = match codec_id {
        CODEC_ID_AVC => VideoCodec::Avc,
        CODEC_ID_HEVC_LEGACY => VideoCodec::Hevc,
        other => VideoCodec::Legacy(other),
    };
    if frame_type == FRAME_TYPE_COMMAND {
        // FLV §E.4.3.1: a command frame's body is one UI8 instead of video data.
        let command = body.get(1).copied().unwrap_or(0);
        return Ok(VideoTag {
            frame_type,
            codec,
            packet: VideoPacket::Command(command),
        });
    }
    if !matches!(codec, VideoCodec::Avc | VideoCodec::Hevc) {
        return Ok(VideoTag {
            frame_type,
            codec,
            packet: VideoPacket::Unsupported(0),
        });
    }
    let head = header(body, 5)?;
    let payload = &body[5..];
    let packet = match head[1] {
        0 => VideoPacket::SequenceStart(payload),
        1 => VideoPacket::Frames {
            composition_ms: si24(&head[2..5]),
            data: payload,
        },
        2 => VideoPacket::SequenceEnd,
        other => VideoPacket::Unsupported(other),
    };
    Ok(VideoTag {
        frame_type,
        codec,
        packet,
    })
}

/// Reads an audio message body: `SoundFormat(4) SoundRate(2) SoundSize(1) SoundType(1)`, then
/// for AAC an `AACPacketType` byte (FLV §E.4.2.1). For AAC the rate/size/type bits are fixed
/// and ignored: the AudioSpecificConfig is what counts.
pub fn parse_audio(body: &[u8]) -> Result<AudioTag<'_>, FlvError> {
    let &first = body.first().ok_or(FlvError::Empty)?;
    let format = first >> 4;
    if format != SOUND_FORMAT_AAC {
        return Ok(AudioTag::Unsupported(format));
    }
    let head = header(body, 2)?;
    Ok(match head[1] {
        0 => AudioTag::AacConfig(&body[2..]),
        1 => AudioTag::AacRaw(&body[2..]),
        _ => AudioTag::Unsupported(format),
    })
}

fn parse_ex_video(body: &[u8]) -> Result<VideoTag<'_>, FlvError> {
    let frame_type = (body[0] >> 4) & 0x07;
    let packet_type = body[0] & 0x0F;
    if packet_type != packet_type::METADATA && frame_type == FRAME_TYPE_COMMAND {
        // E-RTMP v2: a command frame carries a VideoCommand byte and no FourCC.
        let head = header(body, 2)?;
        return Ok(VideoTag {
            frame_type,
            codec: VideoCodec::FourCc([0; 4]),
            packet: VideoPacket::Command(head[1]),
        });
    }
    let head = header(body, 5)?;
    let fourcc = [head[1], head[2], head[3], head[4]];
    let codec = match &fourcc {
        b"avc1" => VideoCodec::Avc,
        b"hvc1" => VideoCodec::Hevc,
        b"av01" => VideoCodec::Av1,
        b"vp09" => VideoCodec::Vp9,
        _ => VideoCodec::FourCc(fourcc),
    };
    let payload = &body[5..];
    let packet = match packet_type {
        packet_type::SEQUENCE_START => VideoPacket::SequenceStart(payload),
        packet_type::CODED_FRAMES if matches!(codec, VideoCodec::Avc | VideoCodec::Hevc) => {
            // Only AVC and HEVC carry a composition time in CodedFrames.
            let head = header(body, 8)?;
            VideoPacket::Frames {
                composition_ms: si24(&head[5..8]),
                data: &body[8..],
            }
        }
        packet_type::CODED_FRAMES | packet_type::CODED_FRAMES_X => VideoPacket::Frames {
            composition_ms: 0,
            data: payload,
        },
        packet_type::SEQUENCE_END => VideoPacket::SequenceEnd,
        packet_type::METADATA => VideoPacket::Metadata(payload),
        other => VideoPacket::Unsupported(other),
    };
    Ok(VideoTag {
        frame_type,
        codec,
        packet,
    })
}

/// The first `need` bytes of `body`, or why not.
fn header(body: &[u8], need: usize) -> Result<&[u8], FlvError> {
    body.get(..need).ok_or(FlvError::Truncated {
        need,
        len: body.len(),
    })
}

/// A big-endian signed 24-bit integer (FLV's SI24).
fn si24(b: &[u8]) -> i32 {
    let v = i32::from_be_bytes([b[0], b[1], b[2], 0]);
    v >> 8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_avc_packet_types_and_composition_time() {
        let seq = [0x17, 0, 0, 0, 0, 1, 0x64];
        assert_eq!(
            parse_video(&seq),
            Ok(VideoTag {
                frame_type: 1,
                codec: VideoCodec::Avc,
                packet: VideoPacket::SequenceStart(&[1, 0x64]),
            })
        );
        // Inter frame, composition time +67 ms and -2 ms (SI24 sign extension).
        let frames = [0x27, 1, 0x00, 0x00, 0x43, 0, 0, 0, 1, 0x41];
        let tag = parse_video(&frames).expect("parses");
        assert_eq!(tag.frame_type, 2);
        assert_eq!(
            tag.packet,
            VideoPacket::Frames {
                composition_ms: 67,
                data: &frames[5..],
            }
        );
        let negative = [0x27, 1, 0xFF, 0xFF, 0xFE];
        assert!(matches!(
            parse_video(&negative).map(|t| t.packet),
            Ok(VideoPacket::Frames {
                composition_ms: -2,
                ..
            })
        ));
        assert_eq!(
            parse_video(&[0x17, 2, 0, 0, 0]).map(|t| t.packet),
            Ok(VideoPacket::SequenceEnd)
        );
    }

    #[test]
    fn every_truncated_prefix_fails_cleanly() {
        let frames = [0x17, 1, 0, 0, 0x21];
        assert_eq!(parse_video(&[]), Err(FlvError::Empty));
        for n in 1..frames.len() {
            assert_eq!(
                parse_video(&frames[..n]),
                Err(FlvError::Truncated { need: 5, len: n })
            );
        }
        let ex = [0x91, b'h', b'v', b'c', b'1', 0, 0, 1];
        for n in 1..ex.len() {
            assert!(parse_video(&ex[..n]).is_err(), "{n}");
        }
        assert_eq!(parse_audio(&[]), Err(FlvError::Empty));
        assert_eq!(
            parse_audio(&[0xAF]),
            Err(FlvError::Truncated { need: 2, len: 1 })
        );
    }

    #[test]
    fn other_legacy_codecs_and_commands() {
        assert_eq!(
            parse_video(&[0x22, 0xAA]),
            Ok(VideoTag {
                frame_type: 2,
                codec: VideoCodec::Legacy(2),
                packet: VideoPacket::Unsupported(0),
            })
        );
        assert_eq!(
            parse_video(&[0x57, 1]).map(|t| t.packet),
            Ok(VideoPacket::Command(1))
        );
        assert_eq!(
            parse_video(&[0x1C, 0, 0, 0, 0]).map(|t| t.codec),
            Ok(VideoCodec::Hevc)
        );
    }

    #[test]
    fn enhanced_rtmp_headers() {
        // Key frame, SequenceStart, hvc1.
        let seq = [0x90, b'h', b'v', b'c', b'1', 1, 2];
        assert_eq!(
            parse_video(&seq),
            Ok(VideoTag {
                frame_type: 1,
                codec: VideoCodec::Hevc,
                packet: VideoPacket::SequenceStart(&[1, 2]),
            })
        );
        // Inter frame, CodedFrames with an SI24 composition time of 33.
        let coded = [0xA1, b'h', b'v', b'c', b'1', 0, 0, 33, 0, 0, 0, 1, 2];
        assert_eq!(
            parse_video(&coded).map(|t| t.packet),
            Ok(VideoPacket::Frames {
                composition_ms: 33,
                data: &coded[8..],
            })
        );
        // CodedFramesX: no composition time.
        let x = [0x93, b'a', b'v', b'c', b'1', 0, 0, 0, 1];
        assert_eq!(
            parse_video(&x).map(|t| t.packet),
            Ok(VideoPacket::Frames {
                composition_ms: 0,
                data: &x[5..],
            })
        );
        // AV1 CodedFrames carry no composition time either.
        let av1 = [0x91, b'a', b'v', b'0', b'1', 0x12, 0];
        assert_eq!(
            parse_video(&av1),
            Ok(VideoTag {
                frame_type: 1,
                codec: VideoCodec::Av1,
                packet: VideoPacket::Frames {
                    composition_ms: 0,
                    data: &av1[5..],
                },
            })
        );
        assert_eq!(
            parse_video(&[0x94, b'v', b'p', b'0', b'9', 2]).map(|t| t.packet),
            Ok(VideoPacket::Metadata(&[2]))
        );
        assert_eq!(
            parse_video(&[0x96, b'h', b'v', b'c', b'1']).map(|t| t.packet),
            Ok(VideoPacket::Unsupported(6)),
            "v2 Multitrack"
        );
        assert_eq!(
            parse_video(&[0xD1, 0x01]).map(|t| t.packet),
            Ok(VideoPacket::Command(1))
        );
        assert_eq!(
            parse_video(&[0x92, b'x', b'y', b'z', b'w']).map(|t| t.codec),
            Ok(VideoCodec::FourCc(*b"xyzw"))
        );
    }

    #[test]
    fn audio_formats() {
        assert_eq!(
            parse_audio(&[0xAF, 0, 0x11, 0x88]),
            Ok(AudioTag::AacConfig(&[0x11, 0x88]))
        );
        assert_eq!(parse_audio(&[0xAF, 1, 0x21]), Ok(AudioTag::AacRaw(&[0x21])));
        assert_eq!(parse_audio(&[0xAF, 7]), Ok(AudioTag::Unsupported(10)));
        // MP3 (2) and Enhanced RTMP's ExHeader (9).
        assert_eq!(parse_audio(&[0x2F, 0xFF]), Ok(AudioTag::Unsupported(2)));
        assert_eq!(parse_audio(&[0x90]), Ok(AudioTag::Unsupported(9)));
    }
}
