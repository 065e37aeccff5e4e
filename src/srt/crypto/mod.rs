//! AES encryption interoperable with libsrt (draft-sharabayko-srt §6; libsrt 1.5.1 `haicrypt/`
//! and `srtcore/crypto.cpp` as the reference), sans-IO.
//!
//! Owns: passphrases and key lengths, KEK derivation and key wrapping (`keys`), key material
//! messages built from and unwrapped into keys (`km`), the per-connection state that encrypts,
//! decrypts and refreshes keys (`session::Crypto`), and the handshake decisions for both sides
//! (`handshake`). Must not: read the clock or the OS random generator (keys come from a seeded
//! ChaCha20 generator the endpoint is given), log or `Debug`-print secrets, or panic on peer
//! input.
//!
//! How SRT uses it (HSv5, what libsrt does):
//! - The caller (initiator) draws a 16-byte salt and a SEK, wraps the SEK with a KEK derived
//!   from the passphrase and sends it in the conclusion's KMREQ. The listener unwraps it and
//!   answers with the same KM in KMRSP. Both directions then use that one key, whichever side
//!   sends data (libsrt clones the receiver context into the sender one).
//! - Each sender refreshes its own key in band: after `refresh_rate - preannounce` packets it
//!   draws a new SEK into the other (even/odd) slot and sends a KMREQ control packet carrying
//!   both keys; after `refresh_rate` packets it switches the KK bits to the new key; after
//!   `preannounce` more it forgets the old one. The receiver installs what a KMREQ carries and
//!   echoes it in a KMRSP.
//! - Data payloads are AES-CTR encrypted with an IV of salt XOR packet sequence number; the
//!   header's KK bits say which key. There is no authentication: a wrong key only shows as a
//!   failed key unwrap in the handshake, never per packet.

mod handshake;
mod keys;
mod km;
mod session;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::fmt;

use crate::srt::packet::EncryptionKey;

pub use handshake::{Initiator, Responder, respond_to_kmreq};
pub use keys::{BadSecret, PBKDF2_ITERATIONS, SALT_LEN};
pub use km::{KmError, KmKeys, Unwrapped, build_km, unwrap_km};
pub use session::{Crypto, DecryptError, KmPacket};

/// Random bytes for salts and keys. The endpoint forks one per encrypted connection from its
/// seeded generator; the driver seeds that from the OS (`EndpointConfig::crypto_seed`).
pub type KeyRng = rand_chacha::ChaCha20Rng;

/// AES key length in bytes (`SRTO_PBKEYLEN`): 16, 24 or 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyLen {
    Aes128 = 16,
    Aes192 = 24,
    Aes256 = 32,
}

impl KeyLen {
    pub const fn from_bytes(n: usize) -> Option<KeyLen> {
        match n {
            16 => Some(KeyLen::Aes128),
            24 => Some(KeyLen::Aes192),
            32 => Some(KeyLen::Aes256),
            _ => None,
        }
    }

    pub const fn bytes(self) -> usize {
        self as usize
    }
}

/// A passphrase: 10 to 79 bytes, as libsrt requires (`SRTO_PASSPHRASE`,
/// `HAICRYPT_SECRET_MIN_SZ`/`MAX_SZ`). `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq)]
pub struct Passphrase(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("passphrase is {len} bytes; SRT needs 10 to 79")]
pub struct PassphraseError {
    pub len: usize,
}

impl Passphrase {
    pub const MIN_LEN: usize = 10;
    pub const MAX_LEN: usize = 79;

    pub fn new(s: impl Into<String>) -> Result<Passphrase, PassphraseError> {
        let s = s.into();
        if (Self::MIN_LEN..=Self::MAX_LEN).contains(&s.len()) {
            Ok(Passphrase(s))
        } else {
            Err(PassphraseError { len: s.len() })
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Passphrase(<{} bytes>)", self.0.len())
    }
}

/// When a sender replaces its key (`SRTO_KMREFRESHRATE`, `SRTO_KMPREANNOUNCE`), in packets
/// encrypted with the current key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KmRefresh {
    /// Packets per key.
    pub rate_pkts: u32,
    /// How many packets before the switch the next key is announced, and after it the old one
    /// is kept. libsrt refuses more than `(rate - 1) / 2`.
    pub preannounce_pkts: u32,
}

impl KmRefresh {
    /// `rate_pkts` and the pre-announce libsrt applies with it: its default (0x10000) capped at
    /// `(rate - 1) / 2`, as `SRTO_KMREFRESHRATE` does.
    pub fn with_rate(rate_pkts: u32) -> KmRefresh {
        let rate_pkts = rate_pkts.max(3);
        KmRefresh {
            rate_pkts,
            preannounce_pkts: KmRefresh::default()
                .preannounce_pkts
                .min((rate_pkts - 1) / 2),
        }
    }

    /// Both values, or `None` when libsrt would refuse them (pre-announce 0 or above
    /// `(rate - 1) / 2`).
    pub fn new(rate_pkts: u32, preannounce_pkts: u32) -> Option<KmRefresh> {
        (preannounce_pkts >= 1 && preannounce_pkts <= rate_pkts.saturating_sub(1) / 2).then_some(
            KmRefresh {
                rate_pkts,
                preannounce_pkts,
            },
        )
    }
}

impl Default for KmRefresh {
    /// libsrt: `HAICRYPT_DEF_KM_REFRESH_RATE` (2^24 packets) and `SRT_CRYPT_KM_PRE_ANNOUNCE`
    /// (0x10000), what `CCryptoControl::createCryptoCtx` uses when the options are unset.
    /// (API-socket-options.md says 2^12 for the pre-announce; the 1.5.1 code uses 0x10000.)
    fn default() -> Self {
        KmRefresh {
            rate_pkts: 0x100_0000,
            preannounce_pkts: 0x1_0000,
        }
    }
}

/// How a connection is to be encrypted, decided by the application per caller (the listener's
/// [`crate::srt::endpoint::Admit`]) or per call (`CallerConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encryption {
    /// `None`: the connection is not encrypted.
    pub passphrase: Option<Passphrase>,
    /// Refuse a peer whose setting does not match ours (`SRTO_ENFORCEDENCRYPTION`, libsrt's
    /// default on): a peer without encryption when we have a passphrase, or the reverse, gets
    /// UNSECURE (1011); a wrong passphrase gets BADSECRET (1010). Off, such peers are accepted
    /// and what cannot be decrypted is counted and dropped, as libsrt does.
    pub enforced: bool,
    /// The shortest key a caller may choose. In HSv5 the caller generates the key, so a
    /// listener cannot pick its length, only refuse (UNSECURE) one that is too short.
    pub min_key_len: KeyLen,
    /// Our sending key's lifetime (the peer refreshes its own on its schedule).
    pub refresh: KmRefresh,
}

impl Encryption {
    /// A passphrase-protected connection with libsrt's defaults.
    pub fn with_passphrase(passphrase: Passphrase) -> Encryption {
        Encryption {
            passphrase: Some(passphrase),
            ..Encryption::default()
        }
    }
}

impl Default for Encryption {
    /// Unencrypted, enforced: what a libsrt socket without a passphrase does.
    fn default() -> Self {
        Encryption {
            passphrase: None,
            enforced: true,
            min_key_len: KeyLen::Aes128,
            refresh: KmRefresh::default(),
        }
    }
}

/// One of the two key slots: data packets say which in their KK bits, KMs in theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parity {
    Even = 0,
    Odd = 1,
}

impl Parity {
    pub const fn other(self) -> Parity {
        match self {
            Parity::Even => Parity::Odd,
            Parity::Odd => Parity::Even,
        }
    }

    /// The data packet KK value for this key.
    pub const fn packet_key(self) -> EncryptionKey {
        match self {
            Parity::Even => EncryptionKey::Even,
            Parity::Odd => EncryptionKey::Odd,
        }
    }

    /// The slot a data packet's KK names; `None` for an unencrypted packet.
    pub const fn of_packet(key: EncryptionKey) -> Option<Parity> {
        match key {
            EncryptionKey::None => None,
            EncryptionKey::Even => Some(Parity::Even),
            EncryptionKey::Odd => Some(Parity::Odd),
        }
    }
}

/// Key material exchange states (libsrt `SRT_KM_STATE`); the error ones travel in a one-word
/// KMRSP (draft §3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmState {
    Unsecured = 0,
    Securing = 1,
    Secured = 2,
    NoSecret = 3,
    BadSecret = 4,
}

impl KmState {
    pub const fn code(self) -> u32 {
        self as u32
    }
}
