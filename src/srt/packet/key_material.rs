//! Key material messages carried in KMREQ/KMRSP (draft-sharabayko-srt §3.2.2). Only the block
//! structure lives here; unwrapping keys is the crypto module's business.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |S|  V  |   PT  |              Sign             |   Resv1   | KK|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                              KEKI                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Cipher    |      Auth     |       SE      |     Resv2     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Resv3             |     SLen/4    |     KLen/4    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                              Salt                             |
//! |                      Wrapped Key (KLen * keys + 8)            |
//! ```

use super::{EmitError, ParseError};

/// A key material message (version 1, packet type 2, sign 0x2029 "HAI").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMaterial {
    /// KK: 1 even, 2 odd, 3 both (two wrapped keys).
    pub kk: u8,
    pub keki: u32,
    /// 0 none, 1 AES-ECB (unused), 2 AES-CTR, 3 AES-CBC, 4 AES-GCM.
    pub cipher: u8,
    pub auth: u8,
    /// Stream encapsulation: 2 for SRT.
    pub se: u8,
    pub salt: Vec<u8>,
    /// Length of one key in bytes (16, 24 or 32).
    pub key_len: usize,
    /// `key_len * keys + 8` bytes (RFC 3394 adds an 8-byte integrity block).
    pub wrapped_keys: Vec<u8>,
}

/// KMRSP body: the echoed key material, or a single-word error state (draft §3.2.2:
/// 3 NOSECRET, 4 BADSECRET).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmResponse {
    Material(KeyMaterial),
    State(u32),
}

impl KeyMaterial {
    pub fn parse(bytes: &[u8]) -> Result<KeyMaterial, ParseError> {
        todo!()
    }

    pub fn wire_len(&self) -> usize {
        todo!()
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        todo!()
    }
}

impl KmResponse {
    pub fn parse(bytes: &[u8]) -> Result<KmResponse, ParseError> {
        todo!()
    }

    pub fn wire_len(&self) -> usize {
        todo!()
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        todo!()
    }
}
