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

use super::wire;
use super::{EmitError, ParseError};

/// Byte offsets inside the message (libsrt `haicrypt/hcrypt_msg.h`, HCRYPT_MSG_KM_OFS_*).
mod field {
    /// S (1 bit), V (3 bits), PT (4 bits).
    pub const VERSION_PT: usize = 0;
    pub const SIGN: usize = 1;
    /// Resv1 (6 bits), KK (2 bits).
    pub const KK: usize = 3;
    pub const KEKI: usize = 4;
    pub const CIPHER: usize = 8;
    pub const AUTH: usize = 9;
    pub const SE: usize = 10;
    pub const SLEN: usize = 14;
    pub const KLEN: usize = 15;
    pub const SALT: usize = 16;
}

/// V = 1, PT = 2 (keying material), S = 0.
const VERSION_PT: u8 = 0x12;
/// "HAI" as a 5-bit-per-letter PnP manufacturer id (draft §3.2.2).
pub const KM_SIGN: u16 = 0x2029;
/// RFC 3394 key wrap adds one 64-bit integrity block.
const WRAP_OVERHEAD: usize = 8;
/// SLen/4 and KLen/4 are bytes, so at most 255 words.
const MAX_SALT_LEN: usize = 255 * 4;

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
/// 0 UNSECURED, 3 NOSECRET, 4 BADSECRET).
///
/// libsrt writes the state word in host (little-endian) byte order: its control payloads go
/// through `htonl` per word (`CPacket::toNL`), and `fillHsExtKMRSP` pre-swaps the KM words
/// with `NtoHLA` to cancel that, which also "cancels" it for the plain integer state. The
/// BADSECRET capture (tests/vectors/libsrt) carries `04 00 00 00`, so we read and write it
/// little-endian too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmResponse {
    Material(KeyMaterial),
    State(u32),
}

impl KeyMaterial {
    /// Parses one key material message. The bytes are in wire order (libsrt sends KM messages
    /// without any per-word swapping: `fillHsExtKMREQ` pre-swaps to cancel `toNL`).
    pub fn parse(bytes: &[u8]) -> Result<KeyMaterial, ParseError> {
        let head = wire::bytes(bytes, 0, field::SALT)?;
        if head[field::VERSION_PT] & 0x7F != VERSION_PT {
            return Err(ParseError::Malformed("key material version/packet type"));
        }
        if wire::be_u16(head, field::SIGN)? != KM_SIGN {
            return Err(ParseError::Malformed("key material sign is not 0x2029"));
        }
        let kk = head[field::KK] & 0b11;
        let keys = key_count(kk).ok_or(ParseError::Malformed("key material KK = 0"))?;
        let salt_len = usize::from(head[field::SLEN]) * 4;
        let key_len = usize::from(head[field::KLEN]) * 4;
        if !valid_key_len(key_len) {
            return Err(ParseError::Malformed("key length not 16, 24 or 32"));
        }
        let wrapped_len = key_len * keys + WRAP_OVERHEAD;
        let salt = wire::bytes(bytes, field::SALT, salt_len)?;
        let wrapped = wire::bytes(bytes, field::SALT + salt_len, wrapped_len)?;
        if bytes.len() != field::SALT + salt_len + wrapped_len {
            return Err(ParseError::Malformed("trailing bytes after key material"));
        }
        Ok(KeyMaterial {
            kk,
            keki: wire::be_u32(head, field::KEKI)?,
            cipher: head[field::CIPHER],
            auth: head[field::AUTH],
            se: head[field::SE],
            salt: salt.to_vec(),
            key_len,
            wrapped_keys: wrapped.to_vec(),
        })
    }

    pub fn wire_len(&self) -> usize {
        field::SALT + self.salt.len() + self.wrapped_keys.len()
    }

    /// Writes the message; reserved bits are written as zero.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let keys = key_count(self.kk).ok_or(EmitError::FieldOverflow(
            "key material KK must be 1, 2 or 3",
        ))?;
        if !valid_key_len(self.key_len) {
            return Err(EmitError::FieldOverflow("key length not 16, 24 or 32"));
        }
        if !self.salt.len().is_multiple_of(4) || self.salt.len() > MAX_SALT_LEN {
            return Err(EmitError::FieldOverflow(
                "salt length not a multiple of 4 up to 1020",
            ));
        }
        if self.wrapped_keys.len() != self.key_len * keys + WRAP_OVERHEAD {
            return Err(EmitError::FieldOverflow(
                "wrapped keys length != key_len * keys + 8",
            ));
        }
        let len = self.wire_len();
        wire::ensure_room(buf, len)?;
        buf[..field::SALT].fill(0);
        buf[field::VERSION_PT] = VERSION_PT;
        wire::put_u16(buf, field::SIGN, KM_SIGN);
        buf[field::KK] = self.kk;
        wire::put_u32(buf, field::KEKI, self.keki);
        buf[field::CIPHER] = self.cipher;
        buf[field::AUTH] = self.auth;
        buf[field::SE] = self.se;
        // Both lengths were range-checked above, so the quotients fit a byte.
        buf[field::SLEN] = (self.salt.len() / 4) as u8;
        buf[field::KLEN] = (self.key_len / 4) as u8;
        let salt_end = field::SALT + self.salt.len();
        buf[field::SALT..salt_end].copy_from_slice(&self.salt);
        buf[salt_end..len].copy_from_slice(&self.wrapped_keys);
        Ok(len)
    }
}

impl KmResponse {
    /// A 4-byte body is the error state; anything else must be key material.
    pub fn parse(bytes: &[u8]) -> Result<KmResponse, ParseError> {
        match <[u8; 4]>::try_from(bytes) {
            Ok(word) => Ok(KmResponse::State(u32::from_le_bytes(word))),
            Err(_) => KeyMaterial::parse(bytes).map(KmResponse::Material),
        }
    }

    pub fn wire_len(&self) -> usize {
        match self {
            KmResponse::Material(km) => km.wire_len(),
            KmResponse::State(_) => 4,
        }
    }

    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        match self {
            KmResponse::Material(km) => km.emit(buf),
            KmResponse::State(state) => {
                wire::ensure_room(buf, 4)?;
                buf[..4].copy_from_slice(&state.to_le_bytes());
                Ok(4)
            }
        }
    }
}

/// Wrapped keys in the message: one for KK 1 (even) or 2 (odd), two for 3 (both).
const fn key_count(kk: u8) -> Option<usize> {
    match kk {
        1 | 2 => Some(1),
        3 => Some(2),
        _ => None,
    }
}

const fn valid_key_len(len: usize) -> bool {
    matches!(len, 16 | 24 | 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The KMREQ body: the last 56 bytes of a libsrt conclusion (AES-128 CTR, even key,
    /// 16-byte salt, 24-byte wrapped key).
    fn km_bytes() -> Vec<u8> {
        let pkt = crate::srt::packet::test_util::hex(include_str!(
            "../../../tests/vectors/libsrt/conclusion_request_sid_kmreq.hex"
        ));
        pkt[pkt.len() - 56..].to_vec()
    }

    #[test]
    fn parses_libsrt_key_material() {
        let bytes = km_bytes();
        assert_eq!(bytes.len(), 56);
        let km = KeyMaterial::parse(&bytes).unwrap();
        assert_eq!(km.kk, 1);
        assert_eq!(km.keki, 0);
        assert_eq!(km.cipher, 2);
        assert_eq!(km.auth, 0);
        assert_eq!(km.se, 2);
        assert_eq!(km.key_len, 16);
        assert_eq!(km.salt, bytes[16..32]);
        assert_eq!(km.wrapped_keys, bytes[32..]);
        let mut out = vec![0; km.wire_len()];
        assert_eq!(km.emit(&mut out), Ok(56));
        assert_eq!(out, bytes);
        assert_eq!(
            km.emit(&mut out[..55]),
            Err(EmitError::BufferTooSmall { needed: 56 })
        );
    }

    #[test]
    fn every_prefix_and_suffix_change_fails() {
        let bytes = km_bytes();
        for len in 0..bytes.len() {
            assert!(KeyMaterial::parse(&bytes[..len]).is_err(), "prefix {len}");
        }
        let mut longer = bytes.clone();
        longer.extend_from_slice(&[0; 4]);
        assert!(matches!(
            KeyMaterial::parse(&longer),
            Err(ParseError::Malformed(_))
        ));
        let mut bad_sign = bytes.clone();
        bad_sign[2] = 0x28;
        assert!(matches!(
            KeyMaterial::parse(&bad_sign),
            Err(ParseError::Malformed(_))
        ));
        let mut no_key = bytes;
        no_key[3] = 0;
        assert!(matches!(
            KeyMaterial::parse(&no_key),
            Err(ParseError::Malformed(_))
        ));
    }

    #[test]
    fn two_keys_when_kk_is_both() {
        let km = KeyMaterial {
            kk: 3,
            keki: 7,
            cipher: 2,
            auth: 0,
            se: 2,
            salt: vec![9; 16],
            key_len: 32,
            wrapped_keys: vec![5; 72],
        };
        let mut out = [0u8; 128];
        let n = km.emit(&mut out).unwrap();
        assert_eq!(n, 16 + 16 + 72);
        assert_eq!(KeyMaterial::parse(&out[..n]), Ok(km.clone()));
        let bad = KeyMaterial {
            wrapped_keys: vec![5; 40],
            ..km
        };
        assert!(matches!(
            bad.emit(&mut out),
            Err(EmitError::FieldOverflow(_))
        ));
    }

    #[test]
    fn one_word_kmrsp_is_little_endian_state() {
        // From tests/vectors/libsrt/conclusion_response_kmrsp_badsecret.hex.
        let r = KmResponse::parse(&[4, 0, 0, 0]).unwrap();
        assert_eq!(r, KmResponse::State(4));
        let mut out = [0u8; 4];
        assert_eq!(r.emit(&mut out), Ok(4));
        assert_eq!(out, [4, 0, 0, 0]);
        assert_eq!(
            KmResponse::parse(&km_bytes()).unwrap(),
            KmResponse::Material(KeyMaterial::parse(&km_bytes()).unwrap())
        );
        assert_eq!(KmResponse::parse(&[]), Err(ParseError::Truncated));
    }
}
