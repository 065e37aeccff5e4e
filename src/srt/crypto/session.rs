//! One connection's encryption state, both directions: the sending key pair with its refresh
//! schedule, the receiving key pair, and the in-band KMREQ/KMRSP exchange (libsrt
//! `CCryptoControl`, `hcryptCtx_Tx_ManageKM`, `hcryptCtx_Rx_ParseKM`).
//!
//! Owns: keys, the refresh state machine, KM messages waiting to go out and their retries, and
//! a scratch buffer that received payloads are decrypted into. Must not: read the clock (times
//! come in as arguments), touch packets other than their payload bytes, or panic on anything a
//! peer sends. An unencrypted connection has no `Crypto` at all.

use std::fmt;
use std::time::{Duration, Instant};

use rand_chacha::rand_core::Rng;

use super::keys::{Kek, SALT_LEN, Sek};
use super::km::{KmError, KmKeys, Unwrapped, build_km, unwrap_km};
use super::{Encryption, KeyLen, KeyRng, KmRefresh, KmState, Parity, Passphrase};
use crate::srt::packet::{EncryptionKey, KeyMaterial, KmResponse};
use crate::srt::seq::SeqNo;

/// libsrt `SRT_MAX_KMRETRY`: an unanswered KMREQ is sent this many times in all.
const KM_MAX_RETRY: u8 = 10;
/// Largest payload we decrypt: an SRT packet never exceeds a 1500-byte MSS.
const MAX_PAYLOAD: usize = 1500;
/// KMREQ retries wait 1.5 RTT (libsrt `sendKeysToPeer`), and no less than one ACK period:
/// libsrt only looks at it when an ACK arrives.
const KM_RETRY_FLOOR: Duration = Duration::from_millis(10);

/// A UMSG_EXT control packet to send (draft §3.2.2; libsrt `sendSrtMsg`): subtype 3 KMREQ or
/// 4 KMRSP, the KM bytes as they go on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KmPacket {
    Request(Vec<u8>),
    Response(Vec<u8>),
}

impl KmPacket {
    /// UMSG_EXT subtypes (libsrt `SRT_CMD_KMREQ`, `SRT_CMD_KMRSP`).
    pub const KMREQ: u16 = 3;
    pub const KMRSP: u16 = 4;

    pub fn subtype(&self) -> u16 {
        match self {
            KmPacket::Request(_) => KmPacket::KMREQ,
            KmPacket::Response(_) => KmPacket::KMRSP,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        match self {
            KmPacket::Request(b) | KmPacket::Response(b) => b,
        }
    }
}

/// Why a received payload was not decrypted. Each is counted and the packet dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The key exchange failed (wrong passphrase, or the peer has none): nothing decrypts.
    #[error("no shared key (key exchange {0:?})")]
    NotSecured(KmState),
    /// The packet names a key slot the peer never sent us a key for.
    #[error("no {0:?} key received")]
    NoKey(Parity),
    #[error("payload longer than an SRT packet can be")]
    TooLarge,
    #[error("packet is not encrypted")]
    NotEncrypted,
}

/// Per-connection encryption; see the module doc.
pub struct Crypto {
    passphrase: Passphrase,
    enforced: bool,
    /// State of what we receive (libsrt `m_RcvKmState`); only `Secured` decrypts.
    rx_state: KmState,
    rx_salt: [u8; SALT_LEN],
    rx_keys: [Option<Sek>; 2],
    /// KEK for the peer's salt, kept for its refreshes (same salt, so no PBKDF2 again).
    rx_kek: Option<Kek>,
    /// The last KM applied, to skip repeats (libsrt `HaiCrypt_Rx_Process` compares too).
    rx_last_km: Vec<u8>,
    tx: Tx,
    rng: KeyRng,
    /// Our refresh KMREQ until the peer echoes it, with retries left and the last send.
    km_out: Option<(Vec<u8>, u8, Option<Instant>)>,
    /// The answer to the peer's last KMREQ.
    kmrsp_out: Option<Vec<u8>>,
    scratch: Vec<u8>,
    pub(crate) refreshes_sent: u64,
    pub(crate) refreshes_recv: u64,
}

struct Tx {
    salt: [u8; SALT_LEN],
    kek: Kek,
    parity: Parity,
    active: Sek,
    /// The key in the other slot: announced and not yet active, or retired and kept for the
    /// pre-announce period.
    other: Option<Sek>,
    /// Packets encrypted with `active` (libsrt `pkt_cnt`).
    sent: u32,
    phase: Phase,
    /// `None`: this key is never replaced (a connection whose key exchange failed).
    refresh: Option<KmRefresh>,
    /// Generation of `active` (0 for the handshake's key, +1 per switch).
    generation: u32,
    /// Generation of the newest key announced to the peer (`generation`, or one more while a
    /// pre-announced key waits).
    announced: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Steady,
    /// The next key is in `other` and announced to the peer.
    Announced,
    /// Switched; the old key is in `other` until `preannounce` packets have passed.
    Retiring,
}

impl Crypto {
    /// The caller's side of HSv5 (libsrt `CCryptoControl::init` as initiator): draws a salt and
    /// an even key, which serve both directions, and returns the KM for the conclusion's KMREQ.
    pub fn initiator(
        passphrase: Passphrase,
        enc: &Encryption,
        key_len: KeyLen,
        mut rng: KeyRng,
    ) -> (Crypto, KeyMaterial) {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let sek = random_sek(&mut rng, key_len);
        let kek = Kek::derive(&passphrase, &salt, key_len);
        let km = build_km(&kek, &salt, KmKeys::One(Parity::Even, &sek));
        let mut rx_keys = [None, None];
        rx_keys[Parity::Even as usize] = Some(sek.clone());
        let crypto = Crypto::new(
            passphrase,
            enc,
            KmState::Secured,
            salt,
            rx_keys,
            Some(kek.clone()),
            tx(salt, kek, Parity::Even, sek, Some(enc.refresh)),
            rng,
        );
        (crypto, km)
    }

    /// The listener's side once the caller's KM unwrapped: receive with its keys, and send
    /// with them too (libsrt clones the receiver context into the sender one in HSv5), until
    /// our own refresh replaces the sending key.
    pub fn responder(
        passphrase: Passphrase,
        enc: &Encryption,
        km: &KeyMaterial,
        keys: Unwrapped,
        kek: Kek,
        rng: KeyRng,
    ) -> Option<Crypto> {
        // libsrt's initiator starts with the even key; take whichever the KM carried.
        let (parity, active) = match (&keys.even, &keys.odd) {
            (Some(e), _) => (Parity::Even, e.clone()),
            (None, Some(o)) => (Parity::Odd, o.clone()),
            (None, None) => return None,
        };
        let mut c = Crypto::new(
            passphrase,
            enc,
            KmState::Secured,
            keys.salt,
            [keys.even, keys.odd],
            Some(kek.clone()),
            tx(keys.salt, kek, parity, active, Some(enc.refresh)),
            rng,
        );
        c.rx_last_km = km_bytes(km);
        Some(c)
    }

    /// We have a passphrase but no key in common with the peer (wrong passphrase, or it sent
    /// none, under `enforced = false`). As libsrt (`createFakeSndContext`), we still encrypt
    /// what we send, with a key of our own the peer cannot have: a passphrase never falls
    /// back to plaintext. Nothing received decrypts.
    pub fn unkeyed(
        passphrase: Passphrase,
        enc: &Encryption,
        key_len: KeyLen,
        state: KmState,
        mut rng: KeyRng,
    ) -> Crypto {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        let sek = random_sek(&mut rng, key_len);
        let kek = Kek::derive(&passphrase, &salt, key_len);
        Crypto::new(
            passphrase,
            enc,
            state,
            salt,
            [None, None],
            None,
            tx(salt, kek, Parity::Even, sek, None),
            rng,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn new(
        passphrase: Passphrase,
        enc: &Encryption,
        rx_state: KmState,
        rx_salt: [u8; SALT_LEN],
        rx_keys: [Option<Sek>; 2],
        rx_kek: Option<Kek>,
        tx: Tx,
        rng: KeyRng,
    ) -> Crypto {
        Crypto {
            passphrase,
            enforced: enc.enforced,
            rx_state,
            rx_salt,
            rx_keys,
            rx_kek,
            rx_last_km: Vec::new(),
            tx,
            rng,
            km_out: None,
            kmrsp_out: None,
            scratch: Vec::with_capacity(MAX_PAYLOAD),
            refreshes_sent: 0,
            refreshes_recv: 0,
        }
    }

    /// Whether received data can be decrypted.
    pub fn rx_state(&self) -> KmState {
        self.rx_state
    }

    /// The slot new packets are encrypted with.
    pub fn tx_parity(&self) -> Parity {
        self.tx.parity
    }

    /// Generation of the key `encrypt` uses now.
    pub fn tx_generation(&self) -> u32 {
        self.tx.generation
    }

    /// Whether the peer can still hold our key of `generation`: it has two slots (even, odd),
    /// and announcing generation g + 2 overwrote g's slot.
    pub fn peer_may_hold(&self, generation: u32) -> bool {
        self.tx.announced < generation.saturating_add(2)
    }

    /// Encrypts a payload in place for packet `seq`, on its first transmission; returns the KK
    /// value for its header. Retransmissions resend the stored ciphertext with the same KK (as
    /// libsrt, which encrypts in its send buffer), so a key switch never re-encrypts anything.
    pub fn encrypt(&mut self, seq: SeqNo, payload: &mut [u8]) -> EncryptionKey {
        self.manage_tx_keys();
        let tx = &mut self.tx;
        tx.active.apply(&tx.salt, seq, payload);
        tx.sent = tx.sent.saturating_add(1);
        tx.parity.packet_key()
    }

    /// Decrypts a received payload into the scratch buffer and returns it.
    pub fn decrypt(
        &mut self,
        key: EncryptionKey,
        seq: SeqNo,
        payload: &[u8],
    ) -> Result<&[u8], DecryptError> {
        let parity = Parity::of_packet(key).ok_or(DecryptError::NotEncrypted)?;
        if self.rx_state != KmState::Secured {
            return Err(DecryptError::NotSecured(self.rx_state));
        }
        if payload.len() > MAX_PAYLOAD {
            return Err(DecryptError::TooLarge);
        }
        let sek = self.rx_keys[parity as usize]
            .as_ref()
            .ok_or(DecryptError::NoKey(parity))?;
        self.scratch.clear();
        self.scratch.resize(payload.len(), 0);
        sek.apply_b2b(&self.rx_salt, seq, payload, &mut self.scratch);
        Ok(&self.scratch)
    }

    /// The payload [`Crypto::decrypt`] produced last.
    pub fn last_decrypted(&self) -> &[u8] {
        &self.scratch
    }

    /// The peer's in-band KMREQ (UMSG_EXT subtype 3; libsrt `processSrtMsg_KMREQ` called from
    /// `processSrtMsg`): install its keys and echo it in a KMRSP. A KM that fails answers with
    /// the error state, except under enforced encryption, where libsrt answers nothing.
    pub fn on_kmreq(&mut self, data: &[u8]) {
        if data == self.rx_last_km.as_slice() && self.rx_state == KmState::Secured {
            // A retransmitted KMREQ: our KMRSP was lost. Answer again, change nothing.
            self.kmrsp_out = Some(data.to_vec());
            return;
        }
        let result = KeyMaterial::parse(data)
            .map_err(|_| KmError::Unsupported("malformed key material"))
            .and_then(|km| {
                // libsrt keeps the salt for the life of a connection (a refresh only draws new
                // keys), so a new salt is refused rather than paid for: each would cost a
                // PBKDF2 derivation on the packet path, which a flood could exploit.
                if self.rx_kek.is_some() && km.salt.as_slice() != self.rx_salt.as_slice() {
                    return Err(KmError::Unsupported("salt changed within the connection"));
                }
                unwrap_km(&km, &self.passphrase, &mut self.rx_kek)
            });
        match result {
            Ok(keys) => {
                self.rx_salt = keys.salt;
                if let Some(k) = keys.even {
                    self.rx_keys[Parity::Even as usize] = Some(k);
                }
                if let Some(k) = keys.odd {
                    self.rx_keys[Parity::Odd as usize] = Some(k);
                }
                self.rx_state = KmState::Secured;
                self.rx_last_km = data.to_vec();
                self.refreshes_recv += 1;
                self.kmrsp_out = Some(data.to_vec());
            }
            Err(e) => {
                if let Ok(km) = KeyMaterial::parse(data)
                    && self.rx_state != KmState::Secured
                    && let Ok(salt) = km.salt.as_slice().try_into()
                {
                    self.rx_salt = salt;
                }
                let state = match e {
                    KmError::BadSecret => KmState::BadSecret,
                    KmError::Unsupported(_) => KmState::NoSecret,
                };
                log::debug!("in-band KMREQ refused: {e}");
                if !self.enforced {
                    self.kmrsp_out = Some(state_bytes(state));
                }
            }
        }
    }

    /// The peer's KMRSP to our refresh: an echo of our KMREQ ends its retries (libsrt
    /// `getKmMsg_acceptResponse`); an error state ends them too (libsrt zeroes the retries).
    pub fn on_kmrsp(&mut self, data: &[u8]) {
        let Some((ours, _, _)) = &self.km_out else {
            return;
        };
        if data != ours.as_slice() {
            match KmResponse::parse(data) {
                Ok(KmResponse::State(s)) => log::debug!("peer refused our key refresh: state {s}"),
                _ => {
                    log::debug!("KMRSP does not match our KMREQ; still retrying");
                    return;
                }
            }
        }
        self.km_out = None;
    }

    /// The next KMREQ/KMRSP to send at `now`, if any is due.
    pub fn poll_km(&mut self, now: Instant, rtt: Duration) -> Option<KmPacket> {
        if let Some(rsp) = self.kmrsp_out.take() {
            return Some(KmPacket::Response(rsp));
        }
        let retry = retry_interval(rtt);
        let (bytes, left, last) = self.km_out.as_mut()?;
        if *left == 0 || last.is_some_and(|t| now < t + retry) {
            return None;
        }
        *left -= 1;
        *last = Some(now);
        Some(KmPacket::Request(bytes.clone()))
    }

    /// When `poll_km` next has something, for the connection's `poll_timeout`.
    pub fn next_km_time(&self, rtt: Duration, now_hint: Instant) -> Option<Instant> {
        if self.kmrsp_out.is_some() {
            return Some(now_hint);
        }
        match &self.km_out {
            Some((_, left, _)) if *left == 0 => None,
            Some((_, _, Some(last))) => Some(*last + retry_interval(rtt)),
            Some((_, _, None)) => Some(now_hint),
            None => None,
        }
    }

    /// libsrt `hcryptCtx_Tx_ManageKM`, checked before each first transmission.
    fn manage_tx_keys(&mut self) {
        let Some(r) = self.tx.refresh else {
            return;
        };
        let sent = self.tx.sent;
        match self.tx.phase {
            Phase::Steady if sent > r.rate_pkts.saturating_sub(r.preannounce_pkts) => {
                // Pre-announce: a new key in the other slot, announced with the current one
                // (KK = both, even first), same salt and so the same KEK.
                let next = random_sek(&mut self.rng, self.tx.active.len());
                let keys = match self.tx.parity {
                    Parity::Even => KmKeys::Both {
                        even: &self.tx.active,
                        odd: &next,
                    },
                    Parity::Odd => KmKeys::Both {
                        even: &next,
                        odd: &self.tx.active,
                    },
                };
                let km = build_km(&self.tx.kek, &self.tx.salt, keys);
                self.km_out = Some((km_bytes(&km), KM_MAX_RETRY, None));
                self.tx.other = Some(next);
                self.tx.phase = Phase::Announced;
                self.tx.announced = self.tx.generation.wrapping_add(1);
                self.refreshes_sent += 1;
            }
            Phase::Announced if sent > r.rate_pkts => {
                if let Some(next) = self.tx.other.take() {
                    let old = std::mem::replace(&mut self.tx.active, next);
                    self.tx.other = Some(old);
                    self.tx.parity = self.tx.parity.other();
                    self.tx.generation = self.tx.generation.wrapping_add(1);
                }
                self.tx.sent = 0;
                self.tx.phase = Phase::Retiring;
            }
            Phase::Retiring if sent > r.preannounce_pkts => {
                self.tx.other = None;
                self.tx.phase = Phase::Steady;
            }
            _ => {}
        }
    }
}

impl fmt::Debug for Crypto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Crypto")
            .field("rx_state", &self.rx_state)
            .field("tx_parity", &self.tx.parity)
            .field("tx_phase", &self.tx.phase)
            .field("tx_sent", &self.tx.sent)
            .finish_non_exhaustive()
    }
}

fn tx(
    salt: [u8; SALT_LEN],
    kek: Kek,
    parity: Parity,
    active: Sek,
    refresh: Option<KmRefresh>,
) -> Tx {
    Tx {
        salt,
        kek,
        parity,
        active,
        other: None,
        // libsrt `hcryptCtx_Tx_Rekey` starts the first key's count at 1.
        sent: 1,
        phase: Phase::Steady,
        refresh,
        generation: 0,
        announced: 0,
    }
}

fn random_sek(rng: &mut KeyRng, len: KeyLen) -> Sek {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes[..len.bytes()]);
    let sek = Sek::new(len, &bytes).expect("32 bytes hold any key length");
    bytes.fill(0);
    sek
}

/// A KM as it goes on the wire.
fn km_bytes(km: &KeyMaterial) -> Vec<u8> {
    let mut out = vec![0u8; km.wire_len()];
    // `wire_len` bytes always fit, and a KM we built or parsed is valid.
    match km.emit(&mut out) {
        Ok(n) => out.truncate(n),
        Err(_) => out.clear(),
    }
    out
}

/// A one-word KMRSP error state (little-endian on the wire, see `packet::KmResponse`).
fn state_bytes(state: KmState) -> Vec<u8> {
    let mut out = [0u8; 4];
    let _ = KmResponse::State(state.code()).emit(&mut out);
    out.to_vec()
}

fn retry_interval(rtt: Duration) -> Duration {
    (rtt * 3 / 2).max(KM_RETRY_FLOOR)
}
