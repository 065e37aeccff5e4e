//! FLV (RTMP media) to MPEG-TS, without transcoding: what an RTMP publisher sends becomes the
//! TS the relay's rings, players and HLS segmenter take.
//!
//! Owns: [`FlvRemux`], which turns each RTMP video/audio message (an FLV tag body and its
//! millisecond timestamp) into whole 188-byte TS packets: PAT/PMT before the first media and
//! before every video keyframe, H.264/HEVC access units in Annex B with an AUD and the latest
//! parameter sets in front of every keyframe, AAC in ADTS, PES timestamps in 90 kHz, the PCR;
//! and the counters of everything it drops. The TS writing is `tsmux`, the timeline `clock`.
//! Must not: transcode, read the clock, hold more than one message's worth of bytes, or emit
//! anything but whole packets (a message it refuses adds nothing to the output).

#![deny(clippy::disallowed_methods)]

mod clock;
mod tsmux;

pub use tsmux::{
    AUDIO_PID, PMT_PID, PROGRAM_NUMBER, STREAM_TYPE_AAC_ADTS, STREAM_TYPE_H264, STREAM_TYPE_HEVC,
    VIDEO_PID,
};

use thiserror::Error;

use self::clock::{Clock, Track};
use self::tsmux::{STREAM_ID_AUDIO, STREAM_ID_VIDEO, Start, TrackSet, TsWriter};
use super::flv::aac::{AdtsConfig, AscError};
use super::flv::config::{self, ConfigError, NalSyntax, ParamSets};
use super::flv::{self, AudioTag, FlvError, VideoCodec, VideoPacket};
use super::pes::TIMESTAMP_WRAP;

/// Added to every PTS/DTS, in ms: the PCR runs [`PCR_LAG_MS`] behind the decode times, and
/// with a track starting a little before the other, or a held backward step, early timestamps
/// would otherwise fall below zero or below the PCR.
pub const TIMESTAMP_OFFSET_MS: i64 = 1_000;
/// How far the PCR runs behind the latest decode time, in ms. The PCR says when a packet
/// arrives at the decoder and the DTS when its frame is decoded, so each frame must have
/// arrived, in the PCR's terms, before its DTS: the lag is the decode buffer a player keeps. It
/// covers the skew between a publisher's audio and video messages (encoders interleave them
/// within a few tens of ms) while adding little latency.
pub const PCR_LAG_MS: i64 = 200;
/// The PCR is repeated at least this often (ISO/IEC 13818-1 §2.7.2 asks for 100 ms; players
/// such as ffmpeg's demuxer and DVB recommend 40 ms).
pub const PCR_INTERVAL_MS: i64 = 40;
/// PAT/PMT are repeated this often when there is no video keyframe to put them before.
pub const AUDIO_ONLY_PSI_INTERVAL_MS: i64 = 500;

/// Counters of [`FlvRemux`]: plain numbers for the metrics scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RemuxStats {
    /// Empty AAC sequence headers (placeholders before the real one), ignored.
    pub empty_audio_configs: u64,
    /// Video and audio messages handed in.
    pub video_tags_in: u64,
    pub audio_tags_in: u64,
    /// Access units and AAC frames written as PES packets.
    pub video_frames_out: u64,
    pub audio_frames_out: u64,
    /// Video access units written as random-access points (IDR / IRAP).
    pub keyframes: u64,
    /// Keyframes that lacked parameter sets and got the sequence header's put in front.
    pub parameter_sets_inserted: u64,
    /// Video decoder configuration records and AAC AudioSpecificConfigs accepted.
    pub sequence_headers: u64,
    pub audio_configs: u64,
    /// Frames dropped because no usable configuration for their codec had arrived yet.
    pub dropped_before_config: u64,
    /// Video frames dropped before the first keyframe (of the stream, or of a new codec):
    /// nothing could decode them.
    pub dropped_before_keyframe: u64,
    /// Messages of codecs or packet types the remux does not carry (dropped).
    pub unsupported_codec: u64,
    /// AudioSpecificConfigs ADTS cannot express; that track's frames are then dropped as
    /// unsupported until a usable config arrives.
    pub rejected_audio_config: u64,
    /// Messages refused as malformed (each also returned as a [`RemuxError`]).
    pub malformed: u64,
    /// Messages with no media in them: sequence ends, metadata, command frames (ignored).
    pub control_tags: u64,
    /// A track's timestamp went backwards or leapt (held or rebased, see `clock`).
    pub timestamp_jumps: u64,
    /// PAT+PMT pairs written.
    pub psi_out: u64,
    /// PMT version bumps: the track set changed.
    pub track_changes: u64,
    /// TS packets written.
    pub ts_packets_out: u64,
}

/// A message the remux refuses: malformed or truncated. Nothing of it was written; the caller
/// counts it (it is in [`RemuxStats::malformed`] too) and may close the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RemuxError {
    #[error(transparent)]
    Tag(#[from] FlvError),
    #[error(transparent)]
    VideoConfig(#[from] ConfigError),
    #[error("AudioSpecificConfig ends early")]
    AudioConfigTruncated,
    #[error("NAL unit at byte {at} of a {frame}-byte frame claims {len} bytes")]
    NalLength { at: usize, len: usize, frame: usize },
    #[error("coded frame without data")]
    EmptyFrame,
    #[error("raw AAC frame of {0} bytes does not fit one ADTS frame")]
    AudioFrameTooLong(usize),
}

/// One RTMP publisher's media remuxed into one TS program (PMT [`PMT_PID`], video
/// [`VIDEO_PID`], audio [`AUDIO_PID`]).
#[derive(Debug, Default)]
pub struct FlvRemux {
    ts: TsWriter,
    clock: Clock,
    stats: RemuxStats,
    expect_video: bool,
    expect_audio: bool,
    /// The latest accepted video decoder configuration.
    params: Option<ParamSets>,
    /// The syntax of the last keyframe written: later frames of that syntax can follow it.
    video_active: Option<NalSyntax>,
    adts: Option<AdtsConfig>,
    /// The last AudioSpecificConfig was refused: frames are unsupported, not early.
    audio_rejected: bool,
    /// What the last PMT listed, and its version; `None` before the first PAT/PMT.
    listed: Option<TrackSet>,
    pmt_version: u8,
    /// 90 kHz times (offset included, not wrapped): the last PAT/PMT, the highest decode
    /// time written, the last PCR.
    last_psi: i64,
    max_dts: Option<i64>,
    last_pcr: Option<i64>,
    /// The last audio PES's PTS (90 kHz, unwrapped): the step to the next one is guessed
    /// from it.
    last_audio: Option<i64>,
    /// One PES being built; reused across messages.
    pes: Vec<u8>,
}

impl FlvRemux {
    pub fn new() -> Self {
        Self::default()
    }

    /// One RTMP video message. Appends whole 188-byte TS packets to `out`.
    pub fn video(
        &mut self,
        timestamp_ms: u32,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RemuxError> {
        self.stats.video_tags_in += 1;
        let tag = flv::parse_video(body).map_err(|e| self.malformed(e.into()))?;
        if matches!(
            tag.packet,
            VideoPacket::SequenceEnd | VideoPacket::Metadata(_) | VideoPacket::Command(_)
        ) {
            self.stats.control_tags += 1;
            return Ok(());
        }
        let syntax = match tag.codec {
            VideoCodec::Avc => NalSyntax::Avc,
            VideoCodec::Hevc => NalSyntax::Hevc,
            _ => {
                self.stats.unsupported_codec += 1;
                return Ok(());
            }
        };
        match tag.packet {
            VideoPacket::SequenceStart(record) => {
                let parsed = match syntax {
                    NalSyntax::Avc => config::parse_avc(record),
                    NalSyntax::Hevc => config::parse_hevc(record),
                };
                // A refused record leaves the previous one in use.
                let sets = parsed.map_err(|e| self.malformed(e.into()))?;
                self.stats.sequence_headers += 1;
                self.params = Some(sets);
                Ok(())
            }
            VideoPacket::Frames {
                composition_ms,
                data,
            } => self.video_frame(syntax, timestamp_ms, composition_ms, data, out),
            _ => {
                self.stats.unsupported_codec += 1;
                Ok(())
            }
        }
    }

    /// One RTMP audio message. Appends whole 188-byte TS packets to `out`.
    pub fn audio(
        &mut self,
        timestamp_ms: u32,
        body: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RemuxError> {
        self.stats.audio_tags_in += 1;
        match flv::parse_audio(body).map_err(|e| self.malformed(e.into()))? {
            // ffmpeg's FLV muxer sends an empty AAC sequence header when it starts before the
            // encoder's config is known (`-c copy` from TS), then the real one: a placeholder,
            // not an error.
            AudioTag::AacConfig([]) => {
                self.stats.empty_audio_configs += 1;
                Ok(())
            }
            AudioTag::AacConfig(asc) => match AdtsConfig::parse(asc) {
                Ok(c) => {
                    self.stats.audio_configs += 1;
                    self.adts = Some(c);
                    self.audio_rejected = false;
                    Ok(())
                }
                Err(AscError::Truncated) => Err(self.malformed(RemuxError::AudioConfigTruncated)),
                Err(_) => {
                    self.stats.rejected_audio_config += 1;
                    self.adts = None;
                    self.audio_rejected = true;
                    Ok(())
                }
            },
            AudioTag::AacRaw(raw) => self.audio_frame(timestamp_ms, raw, out),
            AudioTag::Unsupported(_) => {
                self.stats.unsupported_codec += 1;
                Ok(())
            }
        }
    }

    /// Optional hint from onMetaData (videocodecid / audiocodecid present): lets the first PMT
    /// list both tracks, so a player does not start with one and learn of the other later.
    /// Video is listed as H.264 until a keyframe says otherwise.
    pub fn expect_tracks(&mut self, video: bool, audio: bool) {
        self.expect_video = video;
        self.expect_audio = audio;
    }

    pub fn stats(&self) -> &RemuxStats {
        &self.stats
    }

    fn video_frame(
        &mut self,
        syntax: NalSyntax,
        timestamp_ms: u32,
        composition_ms: i32,
        data: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RemuxError> {
        let Some(length_size) = self
            .params
            .as_ref()
            .filter(|p| p.syntax == syntax)
            .map(|p| p.length_size)
        else {
            self.stats.dropped_before_config += 1;
            return Ok(());
        };
        let scan = scan_nal_units(data, length_size, syntax).map_err(|e| self.malformed(e))?;
        if !scan.random_access && self.video_active != Some(syntax) {
            self.stats.dropped_before_keyframe += 1;
            return Ok(());
        }
        let placed = self.clock.place(Track::Video, timestamp_ms);
        self.stats.timestamp_jumps += u64::from(placed.jumped);
        let dts = ticks(placed.ms);
        let pts = dts + i64::from(composition_ms.max(0)) * 90;
        self.max_dts = Some(self.max_dts.map_or(dts, |m| m.max(dts)));
        if scan.random_access {
            self.video_active = Some(syntax);
        }
        self.write_psi(dts, scan.random_access, out);
        let on_pcr_pid = self.listed.is_some_and(|l| l.pcr_pid() == VIDEO_PID);
        let start = Start {
            rai: scan.random_access,
            pcr: on_pcr_pid.then(|| self.next_pcr()),
        };

        let need = syntax.required_parameter_sets();
        let insert: &[u8] = match &self.params {
            Some(p) if scan.random_access && scan.parameter_sets & need != need => &p.annex_b,
            _ => &[],
        };
        let pes = &mut self.pes;
        tsmux::pes_header(STREAM_ID_VIDEO, wrap(pts), wrap(dts), None, pes);
        pes.reserve(data.len() + insert.len() + 16);
        pes.extend_from_slice(syntax.access_unit_delimiter());
        pes.extend_from_slice(insert);
        for nal in nal_units(data, length_size) {
            // Ours is the delimiter the access unit starts with; zero-length units say nothing.
            if nal.is_empty() || syntax.is_delimiter(syntax.nal_type(nal[0])) {
                continue;
            }
            pes.extend_from_slice(&[0, 0, 0, 1]);
            pes.extend_from_slice(nal);
        }
        self.stats.ts_packets_out += self.ts.pes(VIDEO_PID, pes, start, out);
        recycle(pes);
        self.stats.parameter_sets_inserted += u64::from(!insert.is_empty());
        self.stats.video_frames_out += 1;
        self.stats.keyframes += u64::from(scan.random_access);
        Ok(())
    }

    fn audio_frame(
        &mut self,
        timestamp_ms: u32,
        raw: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), RemuxError> {
        let Some(adts) = self.adts else {
            if self.audio_rejected {
                self.stats.unsupported_codec += 1;
            } else {
                self.stats.dropped_before_config += 1;
            }
            return Ok(());
        };
        if raw.is_empty() {
            return Err(self.malformed(RemuxError::EmptyFrame));
        }
        let Some(header) = adts.header(raw.len()) else {
            return Err(self.malformed(RemuxError::AudioFrameTooLong(raw.len())));
        };
        let placed = self.clock.place(Track::Audio, timestamp_ms);
        self.stats.timestamp_jumps += u64::from(placed.jumped);
        let pts = ticks(placed.ms);
        self.max_dts = Some(self.max_dts.map_or(pts, |m| m.max(pts)));
        self.write_psi(pts, false, out);
        let listed = self.listed.unwrap_or_default();
        let pcr = if listed.pcr_pid() == AUDIO_PID {
            Some(self.next_pcr())
        } else {
            // The PCR is on video: keep it flowing between video frames (low frame rates, a
            // stalled, ended or not yet started video track). Without knowing when the next
            // video frame comes, the next chance after this one is the next audio frame, so a
            // PCR goes out now if that one would be too late.
            let step = self.last_audio.map_or(0, |last| (pts - last).max(0));
            let due = self
                .last_pcr
                .is_none_or(|last| self.pcr_base() - last + step > PCR_INTERVAL_MS * 90);
            if due {
                let pcr = self.next_pcr();
                self.stats.ts_packets_out += self.ts.pcr_only(VIDEO_PID, pcr, out);
            }
            None
        };
        self.last_audio = Some(pts);
        let pes = &mut self.pes;
        let es_len = header.len() + raw.len();
        tsmux::pes_header(STREAM_ID_AUDIO, wrap(pts), wrap(pts), Some(es_len), pes);
        pes.extend_from_slice(&header);
        pes.extend_from_slice(raw);
        // Every AAC frame is a random-access point; ffmpeg's muxer flags them too.
        let start = Start { rai: true, pcr };
        self.stats.ts_packets_out += self.ts.pes(AUDIO_PID, pes, start, out);
        recycle(pes);
        self.stats.audio_frames_out += 1;
        Ok(())
    }

    /// Writes PAT/PMT when they are due: before the first media, when `keyframe`, when the
    /// track set changed (a new PMT version), and every [`AUDIO_ONLY_PSI_INTERVAL_MS`] while
    /// there is no video to carry them.
    fn write_psi(&mut self, at: i64, keyframe: bool, out: &mut Vec<u8>) {
        let wanted = self.wanted_tracks();
        let due = match self.listed {
            None => true,
            Some(listed) if listed != wanted => {
                self.pmt_version = (self.pmt_version + 1) & 0x1F;
                self.stats.track_changes += 1;
                true
            }
            Some(listed) => {
                keyframe
                    || (listed.video.is_none()
                        && at - self.last_psi >= AUDIO_ONLY_PSI_INTERVAL_MS * 90)
            }
        };
        if due {
            self.listed = Some(wanted);
            self.last_psi = at;
            self.stats.ts_packets_out += self.ts.psi(wanted, self.pmt_version, out);
            self.stats.psi_out += 1;
        }
    }

    /// The tracks the PMT should list now: what has started, and what onMetaData promised.
    fn wanted_tracks(&self) -> TrackSet {
        let video = match self.video_active {
            Some(s) => Some(stream_type(s)),
            None if self.expect_video => Some(STREAM_TYPE_H264),
            None => None,
        };
        // Audio stays listed once it was, even if a later config is refused.
        let audio =
            self.expect_audio || self.adts.is_some() || self.listed.is_some_and(|l| l.audio);
        TrackSet { video, audio }
    }

    /// The PCR base to write now (90 kHz, unwrapped): [`PCR_LAG_MS`] behind the highest decode
    /// time, never going back.
    fn pcr_base(&self) -> i64 {
        let target = self.max_dts.unwrap_or(0) - PCR_LAG_MS * 90;
        self.last_pcr.map_or(target, |last| last.max(target))
    }

    /// Takes the PCR for a packet being written now, in 27 MHz.
    fn next_pcr(&mut self) -> u64 {
        let base = self.pcr_base();
        self.last_pcr = Some(base);
        wrap(base) * 300
    }

    fn malformed(&mut self, e: RemuxError) -> RemuxError {
        self.stats.malformed += 1;
        e
    }
}

/// Empties the PES buffer for the next message, letting it go if one huge message grew it, so
/// the remux does not keep megabytes for the rest of the session.
fn recycle(pes: &mut Vec<u8>) {
    const KEEP: usize = 1 << 20;
    if pes.capacity() > KEEP {
        *pes = Vec::new();
    }
    pes.clear();
}

/// What one pass over a frame's NAL units found.
struct Scan {
    random_access: bool,
    /// [`NalSyntax::parameter_set_bit`]s of the parameter sets the frame carries itself.
    parameter_sets: u8,
}

/// Checks that `data` is a sequence of whole length-prefixed NAL units and reads their types.
fn scan_nal_units(data: &[u8], length_size: u8, syntax: NalSyntax) -> Result<Scan, RemuxError> {
    let mut scan = Scan {
        random_access: false,
        parameter_sets: 0,
    };
    let size = length_size as usize;
    let mut at = 0;
    let mut bytes = 0;
    while at < data.len() {
        let prefix = data.get(at..at + size).ok_or(RemuxError::NalLength {
            at,
            len: size,
            frame: data.len(),
        })?;
        let len = prefix.iter().fold(0usize, |v, &b| v << 8 | b as usize);
        let nal = data
            .get(at + size..)
            .and_then(|rest| rest.get(..len))
            .ok_or(RemuxError::NalLength {
                at,
                len,
                frame: data.len(),
            })?;
        if let Some(&first) = nal.first() {
            let t = syntax.nal_type(first);
            scan.random_access |= syntax.is_random_access(t);
            scan.parameter_sets |= syntax.parameter_set_bit(t);
        }
        bytes += len;
        at += size + len;
    }
    if bytes == 0 {
        return Err(RemuxError::EmptyFrame);
    }
    Ok(scan)
}

/// The NAL units of a frame [`scan_nal_units`] accepted.
fn nal_units(data: &[u8], length_size: u8) -> impl Iterator<Item = &[u8]> {
    let size = length_size as usize;
    let mut rest = data;
    std::iter::from_fn(move || {
        let prefix = rest.get(..size)?;
        let len = prefix.iter().fold(0usize, |v, &b| v << 8 | b as usize);
        let nal = rest.get(size..size + len)?;
        rest = &rest[size + len..];
        Some(nal)
    })
}

fn stream_type(syntax: NalSyntax) -> u8 {
    match syntax {
        NalSyntax::Avc => STREAM_TYPE_H264,
        NalSyntax::Hevc => STREAM_TYPE_HEVC,
    }
}

/// Timeline milliseconds to unwrapped 90 kHz ticks, offset included.
fn ticks(ms: i64) -> i64 {
    (ms + TIMESTAMP_OFFSET_MS) * 90
}

/// An unwrapped 90 kHz time as the 33-bit value TS carries.
fn wrap(t: i64) -> u64 {
    t.rem_euclid(TIMESTAMP_WRAP as i64) as u64
}

#[cfg(test)]
pub(crate) mod fixture_tests;
#[cfg(test)]
mod tests;
