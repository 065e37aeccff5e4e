//! Media formats the relay looks into without transcoding: MPEG-TS framing and keyframe
//! detection (`ts`). Later: FLV to TS, a pacer, the HLS segmenter.

pub mod ts;
