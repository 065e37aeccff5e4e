//! Key material messages to and from keys: the glue between `packet::KeyMaterial` (the block
//! layout) and `keys` (KEK, wrap, SEK). libsrt: `hcryptCtx_Tx_AsmKM`, `hcryptCtx_Rx_ParseKM`.
//!
//! Must not: keep state (the KEK cache is the caller's), or accept anything libsrt would not
//! send: a KM we cannot use is an error, never a guess.

use super::keys::{BadSecret, Kek, SALT_LEN, Sek, WRAP_OVERHEAD};
use super::{KeyLen, Parity, Passphrase};
use crate::srt::packet::KeyMaterial;

/// KM cipher field: AES-CTR (`HCRYPT_CIPHER_AES_CTR`); the only one libsrt 1.5 uses.
pub const CIPHER_AES_CTR: u8 = 2;
/// KM auth field: none (`HCRYPT_AUTH_NONE`).
pub const AUTH_NONE: u8 = 0;
/// KM stream encapsulation: SRT (`HCRYPT_SE_TSSRT`).
pub const SE_SRT: u8 = 2;
/// KK bits of a KM: which keys it carries (even first when both; draft §3.2.2).
pub const KK_EVEN: u8 = 1;
pub const KK_ODD: u8 = 2;
pub const KK_BOTH: u8 = 3;

/// Keys a KM carried, unwrapped.
#[derive(Debug, Clone)]
pub struct Unwrapped {
    pub salt: [u8; SALT_LEN],
    pub key_len: KeyLen,
    pub even: Option<Sek>,
    pub odd: Option<Sek>,
}

/// Why a KM could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KmError {
    /// Not AES-CTR for SRT with a 16-byte salt: libsrt's `hcryptCtx_Rx_ParseKM` refuses these
    /// too, and its KMREQ handler then answers NOSECRET.
    #[error("unsupported key material: {0}")]
    Unsupported(&'static str),
    /// The keys did not unwrap: the passphrases differ (answered with BADSECRET).
    #[error("wrong passphrase")]
    BadSecret,
}

impl From<BadSecret> for KmError {
    fn from(_: BadSecret) -> Self {
        KmError::BadSecret
    }
}

/// Unwraps `km` with a KEK for `pass`, reusing `kek` when it was derived for the same salt and
/// key length (a refresh keeps the salt), otherwise deriving one and leaving it there.
pub fn unwrap_km(
    km: &KeyMaterial,
    pass: &Passphrase,
    kek: &mut Option<Kek>,
) -> Result<Unwrapped, KmError> {
    if km.cipher != CIPHER_AES_CTR {
        return Err(KmError::Unsupported("cipher is not AES-CTR"));
    }
    if km.auth != AUTH_NONE {
        return Err(KmError::Unsupported("authentication is not none"));
    }
    if km.se != SE_SRT {
        return Err(KmError::Unsupported("stream encapsulation is not SRT"));
    }
    let salt: [u8; SALT_LEN] = km
        .salt
        .as_slice()
        .try_into()
        .map_err(|_| KmError::Unsupported("salt is not 16 bytes"))?;
    let key_len =
        KeyLen::from_bytes(km.key_len).ok_or(KmError::Unsupported("key length not 16/24/32"))?;
    let keys = match km.kk {
        KK_EVEN | KK_ODD => 1,
        KK_BOTH => 2,
        _ => return Err(KmError::Unsupported("KK carries no key")),
    };
    let n = key_len.bytes() * keys;
    if km.wrapped_keys.len() != n + WRAP_OVERHEAD {
        return Err(KmError::Unsupported("wrapped key length"));
    }
    let kek = match kek {
        Some(k) if k.matches(&salt, key_len) => k,
        _ => kek.insert(Kek::derive(pass, &salt, key_len)),
    };
    let mut plain = [0u8; 64];
    kek.unwrap(&km.wrapped_keys, &mut plain[..n])?;
    let first = Sek::new(key_len, &plain[..]);
    let second = Sek::new(key_len, &plain[key_len.bytes()..]);
    plain.fill(0);
    let (even, odd) = match km.kk {
        KK_EVEN => (first, None),
        KK_ODD => (None, first),
        _ => (first, second),
    };
    Ok(Unwrapped {
        salt,
        key_len,
        even,
        odd,
    })
}

/// Which keys a KM carries.
#[derive(Debug, Clone, Copy)]
pub enum KmKeys<'a> {
    One(Parity, &'a Sek),
    /// Both, during a refresh: the even key is wrapped first (libsrt `hcryptCtx_Tx_AsmKM`).
    Both {
        even: &'a Sek,
        odd: &'a Sek,
    },
}

/// A KM carrying `keys` (KK 1, 2 or 3), wrapped with `kek`. The keys must have `kek`'s length
/// (a connection never changes its key length).
pub fn build_km(kek: &Kek, salt: &[u8; SALT_LEN], keys: KmKeys<'_>) -> KeyMaterial {
    let (kk, first, second) = match keys {
        KmKeys::One(Parity::Even, k) => (KK_EVEN, k, None),
        KmKeys::One(Parity::Odd, k) => (KK_ODD, k, None),
        KmKeys::Both { even, odd } => (KK_BOTH, even, Some(odd)),
    };
    let key_len = first.len();
    let mut plain = [0u8; 64];
    let mut n = 0;
    for key in std::iter::once(first).chain(second) {
        plain[n..n + key.bytes().len()].copy_from_slice(key.bytes());
        n += key.bytes().len();
    }
    let mut wrapped = vec![0u8; n + WRAP_OVERHEAD];
    // Wrapping whole 8-byte blocks (16, 24, 32 or twice that) with a valid KEK cannot fail.
    kek.wrap(&plain[..n], &mut wrapped)
        .expect("SEKs are a whole number of 64-bit blocks");
    plain.fill(0);
    KeyMaterial {
        kk,
        // KEKI 0: the passphrase-derived KEK (libsrt leaves it 0).
        keki: 0,
        cipher: CIPHER_AES_CTR,
        auth: AUTH_NONE,
        se: SE_SRT,
        salt: salt.to_vec(),
        key_len: key_len.bytes(),
        wrapped_keys: wrapped,
    }
}
