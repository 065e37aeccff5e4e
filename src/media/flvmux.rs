//! MPEG-TS to FLV tags, without transcoding: what the relay's rings hold becomes what an RTMP
//! publisher sends (the reverse of `remux`, which turns RTMP ingest into TS).
//!
//! Owns: [`TsToFlv`], which reads PAT/PMT (`psi`), reassembles the PES packets of the first
//! H.264 (stream type 0x1B) and AAC ADTS (0x0F) streams, and turns each access unit into an
//! AVCVIDEOPACKET (NAL units with 4-byte lengths; access unit delimiters, end-of-sequence and
//! filler taken out) and each ADTS frame into an AACAUDIODATA body; the sequence headers
//! (AVCDecoderConfigurationRecord, AudioSpecificConfig) before the first frame and whenever the
//! parameter sets or the ADTS configuration change; an onMetaData script tag first; millisecond
//! timestamps from DTS on one monotonic timeline (`timeline`); the counters of everything it
//! drops. H.264 details are in `avc`.
//! Must not: transcode, read the clock, keep more than one PES per track (capped at
//! [`MAX_PES_BYTES`]), or panic on any bytes.
//!
//! SPS and PPS stay in the frames that carry them, where the encoder put them, as ffmpeg's FLV
//! muxer leaves them (and in the sequence header): a reader that turns FLV back into Annex B
//! (ffmpeg's `h264_mp4toannexb`, behind every `-c copy -f mpegts` of an RTMP stream) inserts the
//! record's sets right before the IDR slice when the frame has none, after any SEI, and x264's
//! buffering-period SEI then names an SPS the decoder has not seen (checked with ffmpeg 5.1
//! reading back from nginx-rtmp: "non-existing SPS 0 referenced in buffering period").
//!
//! The stream starts at the first H.264 IDR access unit: video before it cannot be decoded, and
//! audio before it is held (at most [`MAX_EARLY_AUDIO_FRAMES`]) and sent from the keyframe's
//! time on, so a player's first tags are a keyframe and the audio that goes with it, and the
//! timeline's origin (timestamp 0) is that keyframe's DTS. A program without H.264 sends its
//! audio at once (origin: the first audio frame). HEVC (0x24) and other stream types are
//! counted and dropped.

#![deny(clippy::disallowed_methods)]

mod avc;
mod timeline;

use std::collections::VecDeque;

use self::avc::SpsInfo;
use self::timeline::{Timeline, Track};
use super::flv::aac::AdtsConfig;
use super::packet::{self, TsPacket};
use super::pes::{self, TIMESTAMP_WRAP};
use super::psi::PsiCache;
use super::ts::{TS_PACKET_LEN, TS_SYNC_BYTE};

/// A PES packet larger than this is dropped (counted) rather than buffered: nginx-rtmp's
/// default `max_message` is 1 MB and the relay's own ingest takes 8 MiB
/// (`RtmpConfig::max_message_bytes`).
pub const MAX_PES_BYTES: usize = 8 << 20;
/// Audio frames held while waiting for the first video keyframe (about 2 s of 48 kHz AAC); the
/// oldest go first.
pub const MAX_EARLY_AUDIO_FRAMES: usize = 96;
/// SPS or PPS units kept per kind, and the largest one kept (real ones are tens of bytes).
pub const MAX_PARAMETER_SETS: usize = 16;
pub const MAX_PARAMETER_SET_LEN: usize = 4096;

/// H.264 and AAC ADTS `stream_type`s (ISO/IEC 13818-1 Table 2-34).
pub const STREAM_TYPE_H264: u8 = 0x1B;
pub const STREAM_TYPE_AAC_ADTS: u8 = 0x0F;

/// FLV §E.4.3.1 CodecID 7 (AVC) and §E.4.2.1 SoundFormat 10 (AAC), as onMetaData names them.
const VIDEO_CODEC_AVC: u8 = 7;
const SOUND_FORMAT_AAC: u8 = 10;
/// AAC frames carry 1024 samples (ISO/IEC 14496-3 §4.5.1.1, frameLengthFlag 0).
const AAC_SAMPLES_PER_FRAME: u64 = 1024;

/// What an RTMP message carries: its message type (RTMP spec §7.1.5: 8 audio, 9 video, 18 AMF0
/// data).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Audio,
    Video,
    /// onMetaData: an AMF0 string and an ECMA array, as in an FLV file's script tag. RTMP sends
    /// it behind `@setDataFrame`, which the publisher adds.
    Script,
}

impl TagKind {
    /// The RTMP message type id.
    pub fn type_id(self) -> u8 {
        match self {
            TagKind::Audio => 8,
            TagKind::Video => 9,
            TagKind::Script => 18,
        }
    }
}

/// One FLV tag body with its timestamp: one RTMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlvTag {
    pub kind: TagKind,
    /// Milliseconds on the stream's timeline (origin 0), wrapping at 32 bits like RTMP's.
    pub timestamp_ms: u32,
    /// VIDEODATA (frame type + codec id, AVCPacketType, composition time, data) or AUDIODATA
    /// (sound format byte, AACPacketType, data) or the script data.
    pub body: Vec<u8>,
}

impl FlvTag {
    /// An AVC or AAC sequence header (packet type 0).
    pub fn is_sequence_header(&self) -> bool {
        self.kind != TagKind::Script && self.body.get(1) == Some(&0)
    }

    /// A video key frame (FrameType 1), sequence headers included.
    pub fn is_keyframe(&self) -> bool {
        self.kind == TagKind::Video && self.body.first().is_some_and(|b| b >> 4 == 1)
    }
}

/// Counters of [`TsToFlv`]: plain numbers for the metrics scrape.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TsToFlvStats {
    /// Whole TS packets read.
    pub packets_in: u64,
    /// Times the input did not continue with a sync byte (bytes skipped to the next 0x47).
    pub sync_losses: u64,
    pub bytes_skipped: u64,
    /// Packets with the transport error indicator (dropped; the PES they belong to too).
    pub transport_errors: u64,
    /// Repeated packets (same continuity counter, §2.4.3.3), ignored.
    pub duplicates: u64,
    /// Continuity counter jumps on a carried PID: the PES in progress is dropped.
    pub continuity_errors: u64,
    /// Packets of non-PSI PIDs before a PMT named the streams.
    pub packets_before_tables: u64,
    /// PES packets of stream types this does not carry (HEVC, MP3, AC-3, private data, ...).
    pub unsupported_pes: u64,
    /// PES packets dropped as broken: lost packets, a header that does not parse, no PTS, a
    /// length that the packets did not fill.
    pub pes_errors: u64,
    /// PES packets over [`MAX_PES_BYTES`], dropped.
    pub oversize_pes: u64,
    /// Discontinuity indicators seen on carried PIDs.
    pub discontinuities: u64,
    /// Times a track's time went back or leapt and was held or rebased.
    pub timestamp_jumps: u64,
    pub video_frames_out: u64,
    pub keyframes_out: u64,
    pub video_sequence_headers: u64,
    pub audio_frames_out: u64,
    pub audio_sequence_headers: u64,
    pub metadata_out: u64,
    /// Video access units before the first keyframe (nothing could decode them).
    pub video_before_keyframe: u64,
    /// Access units with no NAL units but parameter sets and delimiters.
    pub empty_video: u64,
    /// Keyframes dropped because no usable SPS/PPS was known.
    pub no_parameter_sets: u64,
    /// Parameter set units over the caps ([`MAX_PARAMETER_SETS`], [`MAX_PARAMETER_SET_LEN`]).
    pub parameter_sets_ignored: u64,
    /// Audio frames from before the stream's start (the first keyframe), or beyond what is
    /// held while waiting for it.
    pub audio_before_start: u64,
    /// ADTS frames that do not parse (sync, length, reserved values, several raw data blocks);
    /// the rest of their PES is dropped.
    pub adts_errors: u64,
}

/// One TS program to FLV tags. See the module doc.
#[derive(Debug, Default)]
pub struct TsToFlv {
    psi: PsiCache,
    psi_version: u64,
    /// A partial trailing packet from the last call.
    carry: Vec<u8>,
    video: Option<PesTrack>,
    audio: Option<PesTrack>,
    /// PIDs of the PMT's streams this does not carry.
    others: Vec<u16>,
    /// The latest parameter sets, and whether they changed since the record was built.
    sps: Vec<Vec<u8>>,
    pps: Vec<Vec<u8>>,
    sets_changed: bool,
    /// What the last sequence headers said.
    avc_record: Option<Vec<u8>>,
    asc: Option<[u8; 2]>,
    /// The first keyframe went out (or, without video, the first audio frame): the timeline
    /// has its origin and onMetaData went out.
    started: bool,
    /// A keyframe went out on the current video PID: its other frames can follow.
    video_keyed: bool,
    early_audio: VecDeque<EarlyAudio>,
    timeline: Timeline,
    stats: TsToFlvStats,
}

/// One PES being reassembled on a carried PID.
#[derive(Debug)]
struct PesTrack {
    pid: u16,
    buf: Vec<u8>,
    /// A PES started and is being collected.
    open: bool,
    /// Its packets went missing or it grew too large: dropped at its end.
    broken: bool,
    /// The whole PES length when PES_packet_length is not 0.
    need: Option<usize>,
    cc: Option<u8>,
}

#[derive(Debug)]
struct EarlyAudio {
    config: AdtsConfig,
    time: u64,
    raw: Vec<u8>,
}

impl PesTrack {
    fn new(pid: u16) -> Self {
        PesTrack {
            pid,
            buf: Vec::new(),
            open: false,
            broken: false,
            need: None,
            cc: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Video,
    Audio,
}

impl TsToFlv {
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads TS bytes (whole 188-byte packets; a partial trailing packet is kept for the next
    /// call, and the input resynchronises on the next 0x47 after garbage) and appends the tags
    /// they complete to `out`. A video access unit completes when the next one starts on its
    /// PID (or its PES length is reached), so video leaves one frame late.
    pub fn push(&mut self, ts: &[u8], out: &mut Vec<FlvTag>) {
        let mut data = ts;
        if !self.carry.is_empty() {
            let take = (TS_PACKET_LEN - self.carry.len()).min(data.len());
            self.carry.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.carry.len() < TS_PACKET_LEN {
                return;
            }
            let mut pkt = [0u8; TS_PACKET_LEN];
            pkt.copy_from_slice(&self.carry);
            self.carry.clear();
            self.packet(&pkt, out);
        }
        while !data.is_empty() {
            if data[0] != TS_SYNC_BYTE {
                let skip = data
                    .iter()
                    .position(|&b| b == TS_SYNC_BYTE)
                    .unwrap_or(data.len());
                self.stats.sync_losses += 1;
                self.stats.bytes_skipped += skip as u64;
                data = &data[skip..];
                continue;
            }
            let Some((pkt, rest)) = data.split_first_chunk::<TS_PACKET_LEN>() else {
                self.carry.extend_from_slice(data);
                return;
            };
            self.packet(pkt, out);
            data = rest;
        }
    }

    /// The end of the input: completes the PES packets still open (the last video frame).
    pub fn flush(&mut self, out: &mut Vec<FlvTag>) {
        self.finish(Which::Video, out);
        self.finish(Which::Audio, out);
    }

    pub fn stats(&self) -> &TsToFlvStats {
        &self.stats
    }

    fn packet(&mut self, pkt: &TsPacket, out: &mut Vec<FlvTag>) {
        self.stats.packets_in += 1;
        let pid = packet::pid(pkt);
        if packet::transport_error(pkt) {
            self.stats.transport_errors += 1;
            if let Some(t) = self.track_mut(pid) {
                t.broken |= t.open;
            }
            return;
        }
        if self.psi.is_psi_pid(pid) {
            self.psi.observe(pkt);
            if self.psi.version() != self.psi_version {
                self.psi_version = self.psi.version();
                self.on_tables(out);
            }
            return;
        }
        let which = match (&self.video, &self.audio) {
            (Some(v), _) if v.pid == pid => Which::Video,
            (_, Some(a)) if a.pid == pid => Which::Audio,
            _ => {
                if self.psi.header().is_none() {
                    self.stats.packets_before_tables += u64::from(pid != packet::NULL_PID);
                } else if packet::pusi(pkt) && self.others.contains(&pid) {
                    self.stats.unsupported_pes += 1;
                }
                return;
            }
        };
        self.media(which, pkt, out);
    }

    /// The PAT or PMT changed: follow the first H.264 and AAC streams, wherever they moved.
    fn on_tables(&mut self, out: &mut Vec<FlvTag>) {
        let mut video = None;
        let mut audio = None;
        self.others.clear();
        for es in self.psi.streams() {
            match es.stream_type {
                STREAM_TYPE_H264 if video.is_none() => video = Some(es.pid),
                STREAM_TYPE_AAC_ADTS if audio.is_none() => audio = Some(es.pid),
                _ => self.others.push(es.pid),
            }
        }
        if self.video.as_ref().map(|t| t.pid) != video {
            self.finish(Which::Video, out);
            self.video = video.map(PesTrack::new);
            // Another stream: its frames wait for its own keyframe.
            self.video_keyed = false;
        }
        if self.audio.as_ref().map(|t| t.pid) != audio {
            self.finish(Which::Audio, out);
            self.audio = audio.map(PesTrack::new);
        }
    }

    fn track_mut(&mut self, pid: u16) -> Option<&mut PesTrack> {
        [self.video.as_mut(), self.audio.as_mut()]
            .into_iter()
            .flatten()
            .find(|t| t.pid == pid)
    }

    fn track(&mut self, which: Which) -> Option<&mut PesTrack> {
        match which {
            Which::Video => self.video.as_mut(),
            Which::Audio => self.audio.as_mut(),
        }
    }

    fn media(&mut self, which: Which, pkt: &TsPacket, out: &mut Vec<FlvTag>) {
        let discontinuity = packet::adaptation_field(pkt).is_some_and(|af| af[0] & 0x80 != 0);
        if discontinuity {
            self.stats.discontinuities += 1;
        }
        let Some(payload) = packet::payload(pkt) else {
            // The new time base starts with the next PES, as with a PES start.
            if discontinuity {
                self.timeline.discontinuity();
            }
            return;
        };
        let cc = packet::continuity_counter(pkt);
        let Some(t) = self.track(which) else { return };
        match t.cc {
            Some(prev) if prev == cc && !discontinuity => {
                self.stats.duplicates += 1;
                return;
            }
            Some(prev) if (prev + 1) & 0x0F != cc && !discontinuity => {
                t.broken |= t.open;
                t.cc = Some(cc);
                self.stats.continuity_errors += 1;
            }
            _ => t.cc = Some(cc),
        }
        if packet::pusi(pkt) {
            // The PES that ends here is on the old time base.
            self.finish(which, out);
            let Some(t) = self.track(which) else { return };
            t.open = true;
            t.broken = false;
            t.buf.clear();
            t.need = match payload {
                [0, 0, 1, _, hi, lo, ..] if (*hi, *lo) != (0, 0) => {
                    Some(6 + usize::from(u16::from_be_bytes([*hi, *lo])))
                }
                _ => None,
            };
        }
        if discontinuity {
            self.timeline.discontinuity();
        }
        let Some(t) = self.track(which) else { return };
        if !t.open || t.broken {
            return;
        }
        if t.buf.len() + payload.len() > MAX_PES_BYTES {
            t.broken = true;
            t.buf = Vec::new();
            self.stats.oversize_pes += 1;
            return;
        }
        t.buf.extend_from_slice(payload);
        if t.need.is_some_and(|n| t.buf.len() >= n) {
            self.finish(which, out);
        }
    }

    /// Ends the PES open on `which`: emits what it carries, or counts why not.
    fn finish(&mut self, which: Which, out: &mut Vec<FlvTag>) {
        let Some(t) = self.track(which) else { return };
        if !t.open {
            return;
        }
        t.open = false;
        let broken = t.broken;
        let need = t.need;
        let mut buf = std::mem::take(&mut t.buf);
        if broken {
            // An oversize PES (its buffer let go) was counted when it went over; the rest
            // lost packets.
            if !buf.is_empty() {
                self.stats.pes_errors += 1;
            }
        } else {
            let whole = need.map_or(Some(&buf[..]), |n| buf.get(..n));
            match whole.and_then(parse_pes) {
                Some(p) => match which {
                    Which::Video => self.video_pes(p, out),
                    Which::Audio => self.audio_pes(p, out),
                },
                None => self.stats.pes_errors += 1,
            }
        }
        // One huge PES does not keep its buffer for the rest of the stream.
        buf.clear();
        if buf.capacity() > 1 << 20 {
            buf = Vec::new();
        }
        if let Some(t) = self.track(which) {
            t.buf = buf;
        }
    }

    fn video_pes(&mut self, p: Pes<'_>, out: &mut Vec<FlvTag>) {
        let mut units: Vec<&[u8]> = Vec::new();
        let mut idr = false;
        let (mut sps, mut pps): (Vec<&[u8]>, Vec<&[u8]>) = (Vec::new(), Vec::new());
        for nal in avc::nal_units(p.es) {
            match nal[0] & 0x1F {
                avc::NAL_AUD
                | avc::NAL_END_OF_SEQUENCE
                | avc::NAL_END_OF_STREAM
                | avc::NAL_FILLER => {}
                // Kept in the frame too, where the encoder put them (see the module doc).
                avc::NAL_SPS => {
                    sps.push(nal);
                    units.push(nal);
                }
                avc::NAL_PPS => {
                    pps.push(nal);
                    units.push(nal);
                }
                t => {
                    idr |= t == avc::NAL_IDR;
                    units.push(nal);
                }
            }
        }
        self.take_sets(&sps, &pps);
        if units.len() == sps.len() + pps.len() {
            self.stats.empty_video += 1;
            return;
        }
        if !self.video_keyed && !idr {
            self.stats.video_before_keyframe += 1;
            return;
        }
        let mut header = None;
        if self.sets_changed || self.avc_record.is_none() {
            match avc::decoder_configuration_record(&self.sps, &self.pps) {
                Some(r) => {
                    self.sets_changed = false;
                    if self.avc_record.as_ref() != Some(&r) {
                        header = Some(r);
                    }
                }
                None if self.avc_record.is_none() => {
                    self.stats.no_parameter_sets += 1;
                    return;
                }
                // Unusable new sets: the decoder keeps the last record.
                None => self.sets_changed = false,
            }
        }
        let placed = self.timeline.place(Track::Video, p.dts);
        self.stats.timestamp_jumps += u64::from(placed.jumped);
        let dts_ms = placed.ticks.div_euclid(90).max(0);
        let pts_ms = (placed.ticks + pes::timestamp_delta(p.pts, p.dts).max(0)).div_euclid(90);
        let composition = (pts_ms - dts_ms).clamp(0, 0x7F_FFFF) as u32;
        let timestamp_ms = dts_ms as u32;
        let first = !self.started;
        if first {
            self.started = true;
            out.push(self.metadata(timestamp_ms));
        }
        if let Some(r) = header {
            let mut body = vec![0x10 | VIDEO_CODEC_AVC, 0, 0, 0, 0];
            body.extend_from_slice(&r);
            out.push(FlvTag {
                kind: TagKind::Video,
                timestamp_ms,
                body,
            });
            self.avc_record = Some(r);
            self.stats.video_sequence_headers += 1;
        }
        let frame_type = if idr { 1 } else { 2 };
        let size: usize = units.iter().map(|u| u.len() + 4).sum();
        let mut body = Vec::with_capacity(5 + size);
        body.push(frame_type << 4 | VIDEO_CODEC_AVC);
        body.push(1);
        body.extend_from_slice(&composition.to_be_bytes()[1..]);
        for u in &units {
            body.extend_from_slice(&(u.len() as u32).to_be_bytes());
            body.extend_from_slice(u);
        }
        out.push(FlvTag {
            kind: TagKind::Video,
            timestamp_ms,
            body,
        });
        self.stats.video_frames_out += 1;
        self.stats.keyframes_out += u64::from(idr);
        self.video_keyed = true;
        if first {
            for a in std::mem::take(&mut self.early_audio) {
                self.audio_frame(a.config, a.time, &a.raw, out);
            }
        }
    }

    /// The parameter sets an access unit carried replace the kept ones of their kind.
    fn take_sets(&mut self, sps: &[&[u8]], pps: &[&[u8]]) {
        for (new, kept) in [(sps, &mut self.sps), (pps, &mut self.pps)] {
            if new.is_empty() {
                continue;
            }
            let usable: Vec<&[u8]> = new
                .iter()
                .copied()
                .filter(|s| s.len() <= MAX_PARAMETER_SET_LEN)
                .take(MAX_PARAMETER_SETS)
                .collect();
            self.stats.parameter_sets_ignored += (new.len() - usable.len()) as u64;
            if usable.is_empty() || usable.iter().eq(kept.iter()) {
                continue;
            }
            *kept = usable.iter().map(|s| s.to_vec()).collect();
            self.sets_changed = true;
        }
    }

    fn audio_pes(&mut self, p: Pes<'_>, out: &mut Vec<FlvTag>) {
        let mut at = 0;
        let mut index = 0u64;
        while at < p.es.len() {
            let Some((config, header_len, frame_len)) = adts_header(&p.es[at..]) else {
                self.stats.adts_errors += 1;
                return;
            };
            let raw = &p.es[at + header_len..at + frame_len];
            // The n-th frame of a PES plays n frames after its PTS.
            let offset =
                index * AAC_SAMPLES_PER_FRAME * pes::TIMESTAMP_HZ / u64::from(config.sample_rate());
            let time = (p.pts + offset) % TIMESTAMP_WRAP;
            self.audio_frame(config, time, raw, out);
            at += frame_len;
            index += 1;
        }
    }

    fn audio_frame(&mut self, config: AdtsConfig, time: u64, raw: &[u8], out: &mut Vec<FlvTag>) {
        if !self.started {
            if self.video.is_some() {
                if self.early_audio.len() == MAX_EARLY_AUDIO_FRAMES {
                    self.early_audio.pop_front();
                    self.stats.audio_before_start += 1;
                }
                self.early_audio.push_back(EarlyAudio {
                    config,
                    time,
                    raw: raw.to_vec(),
                });
                return;
            }
            // No video to wait for (any more): audio starts the stream, with what was held
            // while there was video to wait for.
            self.started = true;
            let held = std::mem::take(&mut self.early_audio);
            let first = held.front().map_or(time, |a| a.time);
            let placed = self.timeline.place(Track::Audio, first);
            out.push(self.metadata(placed.ticks.div_euclid(90).max(0) as u32));
            let mut placed = Some(placed);
            for a in held {
                let p = placed
                    .take()
                    .unwrap_or_else(|| self.timeline.place(Track::Audio, a.time));
                self.audio_placed(a.config, p, &a.raw, out);
            }
            let p = placed.unwrap_or_else(|| self.timeline.place(Track::Audio, time));
            self.audio_placed(config, p, raw, out);
            return;
        }
        let placed = self.timeline.place(Track::Audio, time);
        self.audio_placed(config, placed, raw, out);
    }

    fn audio_placed(
        &mut self,
        config: AdtsConfig,
        placed: timeline::Placed,
        raw: &[u8],
        out: &mut Vec<FlvTag>,
    ) {
        self.stats.timestamp_jumps += u64::from(placed.jumped);
        if placed.ticks < 0 {
            // Before the keyframe the stream starts at.
            self.stats.audio_before_start += 1;
            return;
        }
        let timestamp_ms = placed.ticks.div_euclid(90) as u32;
        let asc = audio_specific_config(config);
        // AACAUDIODATA: SoundFormat 10, and rate/size/type bits FLV fixes for AAC (44 kHz,
        // 16 bit, stereo: §E.4.2.1); the AudioSpecificConfig says what the audio is.
        let flags = SOUND_FORMAT_AAC << 4 | 0x0F;
        if self.asc != Some(asc) {
            self.asc = Some(asc);
            out.push(FlvTag {
                kind: TagKind::Audio,
                timestamp_ms,
                body: vec![flags, 0, asc[0], asc[1]],
            });
            self.stats.audio_sequence_headers += 1;
        }
        let mut body = Vec::with_capacity(2 + raw.len());
        body.extend_from_slice(&[flags, 1]);
        body.extend_from_slice(raw);
        out.push(FlvTag {
            kind: TagKind::Audio,
            timestamp_ms,
            body,
        });
        self.stats.audio_frames_out += 1;
    }

    /// onMetaData (FLV §E.5): the codec ids of the tracks the PMT lists, the picture size.
    fn metadata(&mut self, timestamp_ms: u32) -> FlvTag {
        self.stats.metadata_out += 1;
        let mut fields: Vec<(&str, Amf)> = Vec::new();
        if self.video.is_some() {
            if let Some(info) = self.sps.first().and_then(|s| SpsInfo::parse(s)) {
                fields.push(("width", Amf::Number(f64::from(info.width))));
                fields.push(("height", Amf::Number(f64::from(info.height))));
            }
            fields.push(("videocodecid", Amf::Number(f64::from(VIDEO_CODEC_AVC))));
        }
        if self.audio.is_some() {
            fields.push(("audiocodecid", Amf::Number(f64::from(SOUND_FORMAT_AAC))));
        }
        fields.push(("encoder", Amf::String("srtrelay")));
        FlvTag {
            kind: TagKind::Script,
            timestamp_ms,
            body: on_metadata(&fields),
        }
    }
}

/// A reassembled PES packet's times and elementary stream bytes.
struct Pes<'a> {
    pts: u64,
    /// DTS, or the PTS when none is sent (§2.4.3.7).
    dts: u64,
    es: &'a [u8],
}

/// Reads a whole PES packet (§2.4.3.6): the header with a PTS, and the bytes after it.
fn parse_pes(buf: &[u8]) -> Option<Pes<'_>> {
    let &[0, 0, 1, _stream_id, _, _, flags1, flags2, header_len, ..] = buf else {
        return None;
    };
    if flags1 & 0xC0 != 0x80 {
        return None;
    }
    let fields = buf.get(9..9 + usize::from(header_len))?;
    let es = &buf[9 + usize::from(header_len)..];
    let (pts, dts) = match flags2 >> 6 {
        0b10 => {
            let pts = pes::timestamp(fields.get(0..5)?);
            (pts, pts)
        }
        0b11 => (
            pes::timestamp(fields.get(0..5)?),
            pes::timestamp(fields.get(5..10)?),
        ),
        _ => return None,
    };
    Some(Pes { pts, dts, es })
}

/// An ADTS header (ISO/IEC 14496-3 §1.A.2.2.1) at the start of `es`: the configuration, the
/// header length (7, or 9 with CRC) and the frame length; `None` for what FLV cannot carry
/// (reserved sampling index, channel configuration 0, several raw data blocks) or a frame that
/// does not fit in `es`.
fn adts_header(es: &[u8]) -> Option<(AdtsConfig, usize, usize)> {
    let h = es.get(..7)?;
    // syncword 0xFFF, layer 00.
    if h[0] != 0xFF || h[1] & 0xF6 != 0xF0 {
        return None;
    }
    let header_len = if h[1] & 0x01 != 0 { 7 } else { 9 };
    let profile = h[2] >> 6;
    let sampling_index = (h[2] >> 2) & 0x0F;
    let channels = (h[2] & 0x01) << 2 | h[3] >> 6;
    let frame_len =
        usize::from(h[3] & 0x03) << 11 | usize::from(h[4]) << 3 | usize::from(h[5] >> 5);
    let blocks = h[6] & 0x03;
    if sampling_index > 12 || channels == 0 || blocks != 0 || frame_len <= header_len {
        return None;
    }
    if frame_len > es.len() {
        return None;
    }
    let config = AdtsConfig {
        profile,
        sampling_index,
        channels,
    };
    Some((config, header_len, frame_len))
}

/// The 2-byte AudioSpecificConfig (§1.6.2.1) an ADTS header implies: audioObjectType =
/// profile + 1 (5 bits), samplingFrequencyIndex (4), channelConfiguration (4), and a
/// GASpecificConfig of three zero flags.
fn audio_specific_config(c: AdtsConfig) -> [u8; 2] {
    let object_type = c.profile + 1;
    [
        object_type << 3 | c.sampling_index >> 1,
        (c.sampling_index & 1) << 7 | (c.channels & 0x0F) << 3,
    ]
}

enum Amf<'a> {
    Number(f64),
    String(&'a str),
}

/// AMF0 (Adobe AMF0 §2): the string "onMetaData" and an ECMA array of `fields`.
fn on_metadata(fields: &[(&str, Amf)]) -> Vec<u8> {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend_from_slice(&(s.len() as u16).to_be_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    let mut out = vec![0x02];
    string(&mut out, "onMetaData");
    out.push(0x08);
    out.extend_from_slice(&(fields.len() as u32).to_be_bytes());
    for (name, value) in fields {
        string(&mut out, name);
        match value {
            Amf::Number(n) => {
                out.push(0x00);
                out.extend_from_slice(&n.to_be_bytes());
            }
            Amf::String(s) => {
                out.push(0x02);
                string(&mut out, s);
            }
        }
    }
    // The object-end marker: an empty name and type 0x09.
    out.extend_from_slice(&[0, 0, 0x09]);
    out
}

#[cfg(test)]
mod tests;
