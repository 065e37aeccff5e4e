//! The encryption decisions of the HSv5 handshake, for each side (libsrt 1.5.1
//! `interpretSrtHandshake`, `processSrtMsg_KMREQ`, `processSrtMsg_KMRSP`).
//!
//! Must not: build handshakes (the listener and caller do), or decide who may connect (the
//! application's `Encryption` says which passphrase applies).
//!
//! The responder (listener) side, by case, as libsrt behaves and as the peer observes it:
//!
//! | caller sends | we have | enforced | outcome |
//! |---|---|---|---|
//! | KMREQ | passphrase, keys unwrap | either | accept, KMRSP echoes the KM |
//! | KMREQ | passphrase, keys do not unwrap | yes | reject BADSECRET (1010) |
//! | KMREQ | passphrase, keys do not unwrap | no | accept, KMRSP state BADSECRET, nothing decrypts |
//! | KMREQ | no passphrase | yes | reject UNSECURE (1011) |
//! | KMREQ | no passphrase | no | accept, KMRSP state NOSECRET, data stays encrypted |
//! | nothing | passphrase | yes | reject UNSECURE (1011) |
//! | nothing | passphrase | no | accept; we send with a key the peer lacks |
//! | nothing | no passphrase | - | accept, no encryption |
//!
//! A caller key shorter than `Encryption::min_key_len` is refused with UNSECURE whatever
//! `enforced` says: that is our own floor, not a mismatch libsrt knows about.

use super::keys::Kek;
use super::km::{KmError, unwrap_km};
use super::session::Crypto;
use super::{Encryption, KeyLen, KeyRng, KmState, Passphrase};
use crate::srt::handshake::RejectReason;
use crate::srt::packet::{KeyMaterial, KmResponse};

/// The listener's answer to a conclusion, encryption-wise.
#[derive(Debug)]
pub enum Responder {
    /// Accept: attach `km_response` as KMRSP; the connection runs with `crypto` (none:
    /// unencrypted).
    Accept {
        crypto: Option<Box<Crypto>>,
        km_response: Option<KmResponse>,
    },
    Reject(RejectReason),
}

/// The caller's key material, made when it starts calling.
#[derive(Debug)]
pub struct Initiator {
    /// The connection's encryption once the listener confirms the key.
    pub crypto: Box<Crypto>,
    /// Goes in the conclusion's KMREQ; the listener must echo it in KMRSP.
    pub km: KeyMaterial,
}

/// Decides what a conclusion's KMREQ (`km`, or none) gets under `enc`; see the module table.
/// `rng` is called only when the connection will be encrypted; `None` from it (no entropy
/// source) refuses with IPE rather than use guessable keys.
pub fn respond_to_kmreq(
    km: Option<&KeyMaterial>,
    enc: &Encryption,
    rng: impl FnOnce() -> Option<KeyRng>,
) -> Responder {
    let accept = |crypto: Option<Crypto>, km_response| Responder::Accept {
        crypto: crypto.map(Box::new),
        km_response,
    };
    let state = |s: KmState| Some(KmResponse::State(s.code()));
    let Some(pass) = enc.passphrase.clone() else {
        return match km {
            None => accept(None, None),
            // libsrt: "Peer declares encryption, but agent does not".
            Some(_) if enc.enforced => Responder::Reject(RejectReason::Unsecure),
            Some(_) => accept(None, state(KmState::NoSecret)),
        };
    };
    let Some(km) = km else {
        // libsrt: "Agent declares encryption, but Peer does not".
        if enc.enforced {
            return Responder::Reject(RejectReason::Unsecure);
        }
        let Some(rng) = rng() else {
            return Responder::Reject(RejectReason::Ipe);
        };
        let c = Crypto::unkeyed(pass, enc, enc.min_key_len, KmState::Unsecured, rng);
        return accept(Some(c), None);
    };
    let key_len = KeyLen::from_bytes(km.key_len).unwrap_or(enc.min_key_len);
    if key_len < enc.min_key_len {
        return Responder::Reject(RejectReason::Unsecure);
    }
    let mut kek: Option<Kek> = None;
    let failed = match unwrap_km(km, &pass, &mut kek) {
        Ok(keys) => {
            let crypto = kek
                .zip(rng())
                .and_then(|(kek, rng)| Crypto::responder(pass, enc, km, keys, kek, rng));
            return match crypto {
                Some(c) => accept(Some(c), Some(KmResponse::Material(km.clone()))),
                None => Responder::Reject(RejectReason::Ipe),
            };
        }
        Err(KmError::BadSecret) => KmState::BadSecret,
        Err(KmError::Unsupported(why)) => {
            log::debug!("caller's key material refused: {why}");
            KmState::NoSecret
        }
    };
    if enc.enforced {
        // libsrt: BADSECRET when the keys did not unwrap, UNSECURE for any other failure.
        return Responder::Reject(match failed {
            KmState::BadSecret => RejectReason::BadSecret,
            _ => RejectReason::Unsecure,
        });
    }
    let Some(rng) = rng() else {
        return Responder::Reject(RejectReason::Ipe);
    };
    let c = Crypto::unkeyed(pass, enc, key_len, failed, rng);
    accept(Some(c), state(failed))
}

impl Initiator {
    /// Draws the salt and key for a caller with `passphrase` (libsrt: `SRTO_PBKEYLEN` 0 means
    /// 16 bytes).
    pub fn new(
        passphrase: Passphrase,
        enc: &Encryption,
        key_len: KeyLen,
        rng: KeyRng,
    ) -> Initiator {
        let (crypto, km) = Crypto::initiator(passphrase, enc, key_len, rng);
        Initiator {
            crypto: Box::new(crypto),
            km,
        }
    }

    /// libsrt `processSrtMsg_KMRSP` on the conclusion response, enforced: the listener must
    /// echo our KM. An error state, a different KM or no KMRSP at all leave us without a
    /// shared key, which libsrt reports as UNSECURE.
    pub fn check_response(
        sent: &KeyMaterial,
        rsp: Option<&KmResponse>,
    ) -> Result<(), RejectReason> {
        match rsp {
            Some(KmResponse::Material(km)) if km == sent => Ok(()),
            _ => Err(RejectReason::Unsecure),
        }
    }
}
