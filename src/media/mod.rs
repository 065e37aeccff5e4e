//! Media formats the relay looks into without transcoding: MPEG-TS framing and keyframe
//! detection (`ts`), TS packet header fields (`packet`), the current PAT/PMT (`psi`), PES
//! timestamps and the PCR (`pes`), the HLS/LL-HLS segmenter and playlist (`hls`), RTMP's FLV
//! tag bodies (`flv`), their remux into TS (`remux`) and TS back into FLV tags for RTMP push
//! outputs (`flvmux`). Later: a pacer.

pub mod flv;
pub mod flvmux;
pub mod hls;
pub mod packet;
pub mod pes;
pub mod psi;
pub mod remux;
pub mod ts;

#[cfg(test)]
pub(crate) mod tsgen;
