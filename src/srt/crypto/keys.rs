//! Key derivation, key wrapping and the data-packet cipher (draft-sharabayko-srt §6; libsrt
//! `haicrypt/hcrypt_sa.c`, `hcrypt.h`, `cryspr.c`). Every primitive is a RustCrypto crate:
//! PBKDF2-HMAC-SHA1 (`pbkdf2`, `hmac`, `sha1`), RFC 3394 key wrap (`aes-kw`), AES-CTR (`aes`,
//! `ctr`). This file only arranges their inputs the way libsrt does.
//!
//! Must not: read randomness or the clock, log key bytes, or panic on peer input.

use std::fmt;

use aes::{Aes128, Aes192, Aes256};
use aes_kw::{KwAes128, KwAes192, KwAes256};
use ctr::cipher::{InnerIvInit, KeyInit, StreamCipher, StreamCipherCoreWrapper};

use super::{KeyLen, Passphrase};
use crate::srt::seq::SeqNo;

/// PBKDF2 iteration count (libsrt `HAICRYPT_PBKDF2_ITER_CNT`, draft §6.1.4).
pub const PBKDF2_ITERATIONS: u32 = 2048;
/// PBKDF2 takes the last 8 bytes of the KM salt (libsrt `hcryptCtx_GenSecret`: "KEK =
/// PBKDF2(Pwd, LSB(64, Salt), Iter, Klen)", `HAICRYPT_PBKDF2_SALT_LEN`).
pub const PBKDF2_SALT_LEN: usize = 8;
/// Salt length libsrt generates and the only one we accept (`HAICRYPT_SALT_SZ`); the CTR IV
/// uses its first 14 bytes.
pub const SALT_LEN: usize = 16;
/// RFC 3394 adds one 64-bit integrity block to the wrapped keys.
pub const WRAP_OVERHEAD: usize = 8;

/// One side of a stream encrypting key (SEK): its bytes, kept to wrap it into key material
/// again at refresh time, and its AES key schedule. Debug output never shows key bytes.
#[derive(Clone)]
pub struct Sek {
    bytes: [u8; 32],
    aes: AesKey,
}

#[derive(Clone)]
enum AesKey {
    A128(Aes128),
    A192(Aes192),
    A256(Aes256),
}

/// A key encrypting key derived from the passphrase and the salt.
#[derive(Clone)]
pub struct Kek {
    kw: Kw,
    /// What it was derived from, so a KM with the same salt reuses it (PBKDF2 is the slow part:
    /// 2048 HMAC-SHA1 rounds).
    salt: [u8; PBKDF2_SALT_LEN],
    key_len: KeyLen,
}

#[derive(Clone)]
enum Kw {
    A128(KwAes128),
    A192(KwAes192),
    A256(KwAes256),
}

/// The wrapped keys failed RFC 3394's integrity check: the peer's passphrase differs from ours
/// (libsrt `HAICRYPT_ERROR_WRONG_SECRET`, reported as BADSECRET).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("wrapped keys do not unwrap with our passphrase")]
pub struct BadSecret;

impl Sek {
    /// A key from `len` bytes of `bytes`; `None` if `bytes` is shorter.
    pub fn new(len: KeyLen, bytes: &[u8]) -> Option<Sek> {
        let key = bytes.get(..len.bytes())?;
        let mut stored = [0u8; 32];
        stored[..key.len()].copy_from_slice(key);
        // The lengths match the variant by construction, so `new_from_slice` cannot fail.
        let aes = match len {
            KeyLen::Aes128 => AesKey::A128(Aes128::new_from_slice(key).ok()?),
            KeyLen::Aes192 => AesKey::A192(Aes192::new_from_slice(key).ok()?),
            KeyLen::Aes256 => AesKey::A256(Aes256::new_from_slice(key).ok()?),
        };
        Some(Sek { bytes: stored, aes })
    }

    pub fn len(&self) -> KeyLen {
        match self.aes {
            AesKey::A128(_) => KeyLen::Aes128,
            AesKey::A192(_) => KeyLen::Aes192,
            AesKey::A256(_) => KeyLen::Aes256,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len().bytes()]
    }

    /// XORs the AES-CTR keystream for packet `seq` into `data` (encrypts or decrypts: CTR is
    /// its own inverse). The key schedule is borrowed, not copied, per packet.
    pub fn apply(&self, salt: &[u8; SALT_LEN], seq: SeqNo, data: &mut [u8]) {
        let iv = ctr_iv(salt, seq);
        match &self.aes {
            AesKey::A128(k) => ctr_for(k, &iv).apply_keystream(data),
            AesKey::A192(k) => ctr_for(k, &iv).apply_keystream(data),
            AesKey::A256(k) => ctr_for(k, &iv).apply_keystream(data),
        }
    }

    /// As [`Sek::apply`], reading `input` and writing the same number of bytes to `output`
    /// (which must be exactly as long).
    pub fn apply_b2b(&self, salt: &[u8; SALT_LEN], seq: SeqNo, input: &[u8], output: &mut [u8]) {
        let iv = ctr_iv(salt, seq);
        match &self.aes {
            AesKey::A128(k) => ctr_for(k, &iv).apply_keystream_b2b(input, output),
            AesKey::A192(k) => ctr_for(k, &iv).apply_keystream_b2b(input, output),
            AesKey::A256(k) => ctr_for(k, &iv).apply_keystream_b2b(input, output),
        }
    }
}

impl fmt::Debug for Sek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sek({:?}, ***)", self.len())
    }
}

impl Kek {
    /// PBKDF2-HMAC-SHA1(passphrase, last 8 bytes of `salt`, 2048 rounds, key length bytes).
    /// The KEK is as long as the keys it wraps (libsrt: `kek_len = ctx->sek_len`).
    pub fn derive(pass: &Passphrase, salt: &[u8; SALT_LEN], key_len: KeyLen) -> Kek {
        let mut pbkdf_salt = [0u8; PBKDF2_SALT_LEN];
        pbkdf_salt.copy_from_slice(&salt[SALT_LEN - PBKDF2_SALT_LEN..]);
        let mut kek = [0u8; 32];
        let kek = &mut kek[..key_len.bytes()];
        pbkdf2::pbkdf2_hmac::<sha1::Sha1>(pass.as_bytes(), &pbkdf_salt, PBKDF2_ITERATIONS, kek);
        let kw = match key_len {
            KeyLen::Aes128 => Kw::A128(KwAes128::new_from_slice(kek).expect("16-byte KEK")),
            KeyLen::Aes192 => Kw::A192(KwAes192::new_from_slice(kek).expect("24-byte KEK")),
            KeyLen::Aes256 => Kw::A256(KwAes256::new_from_slice(kek).expect("32-byte KEK")),
        };
        kek.fill(0);
        Kek {
            kw,
            salt: pbkdf_salt,
            key_len,
        }
    }

    /// A KEK from raw bytes, for the RFC 3394 test vectors.
    #[cfg(test)]
    pub fn from_bytes(key_len: KeyLen, kek: &[u8]) -> Kek {
        let kw = match key_len {
            KeyLen::Aes128 => Kw::A128(KwAes128::new_from_slice(kek).expect("16-byte KEK")),
            KeyLen::Aes192 => Kw::A192(KwAes192::new_from_slice(kek).expect("24-byte KEK")),
            KeyLen::Aes256 => Kw::A256(KwAes256::new_from_slice(kek).expect("32-byte KEK")),
        };
        Kek {
            kw,
            salt: [0; PBKDF2_SALT_LEN],
            key_len,
        }
    }

    /// Whether this KEK was derived for `salt` and `key_len` (the passphrase never changes on
    /// a connection).
    pub fn matches(&self, salt: &[u8; SALT_LEN], key_len: KeyLen) -> bool {
        self.key_len == key_len && salt[SALT_LEN - PBKDF2_SALT_LEN..] == self.salt
    }

    /// RFC 3394 wrap of `keys` (one or two SEKs back to back) into `out`, which must be
    /// `keys.len() + 8` bytes.
    pub fn wrap(&self, keys: &[u8], out: &mut [u8]) -> Result<(), aes_kw::Error> {
        match &self.kw {
            Kw::A128(kw) => kw.wrap_key(keys, out).map(|_| ()),
            Kw::A192(kw) => kw.wrap_key(keys, out).map(|_| ()),
            Kw::A256(kw) => kw.wrap_key(keys, out).map(|_| ()),
        }
    }

    /// RFC 3394 unwrap of `wrapped` into `out` (`wrapped.len() - 8` bytes). Any failure,
    /// integrity or length, means the keys cannot be ours.
    pub fn unwrap(&self, wrapped: &[u8], out: &mut [u8]) -> Result<(), BadSecret> {
        let r = match &self.kw {
            Kw::A128(kw) => kw.unwrap_key(wrapped, out).map(|_| ()),
            Kw::A192(kw) => kw.unwrap_key(wrapped, out).map(|_| ()),
            Kw::A256(kw) => kw.unwrap_key(wrapped, out).map(|_| ()),
        };
        r.map_err(|_| BadSecret)
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek({:?}, ***)", self.key_len)
    }
}

/// The CTR initial counter block for packet `seq` (libsrt `hcrypt_SetCtrIV`, draft §6.2.2):
///
/// ```text
///   0   1   2   3   4   5   6   7   8   9  10  11  12  13  14  15
/// |                  0s                   |      pki      |  ctr  |
///                              XOR
/// |                         nonce (salt[0..14])                   |
/// ```
///
/// `pki` is the packet sequence number in network byte order; `ctr` is the 16-bit block
/// counter, starting at 0. A 1456-byte payload uses 91 blocks, so the counter never carries
/// into the salt bytes and a plain 128-bit big-endian counter (`ctr::Ctr128BE`) is exact.
pub fn ctr_iv(salt: &[u8; SALT_LEN], seq: SeqNo) -> [u8; 16] {
    let mut iv = [0u8; 16];
    iv[10..14].copy_from_slice(&seq.value().to_be_bytes());
    for (b, s) in iv[..14].iter_mut().zip(salt) {
        *b ^= s;
    }
    iv
}

type Ctr<'k, C> = StreamCipherCoreWrapper<ctr::CtrCore<&'k C, ctr::flavors::Ctr128BE>>;

fn ctr_for<'k, C>(key: &'k C, iv: &[u8; 16]) -> Ctr<'k, C>
where
    C: ctr::cipher::BlockCipherEncrypt<BlockSize = ctr::cipher::consts::U16>,
{
    StreamCipherCoreWrapper::from_core(ctr::CtrCore::inner_iv_init(key, iv.into()))
}
