//! The session store: issues single-use sessions to token holders and redeems them at
//! handshake time.
//!
//! Owns: token lookup (constant time), outstanding sessions with their expiry, and the counters
//! of every issue, redemption and refusal. Must not: read the clock or the OS's randomness, or
//! keep unbounded state: sessions expire after `access.session_ttl` and at most
//! `access.max_sessions` are kept (a used session stays, as a tombstone, until it would have
//! expired, so its reuse is recognised).

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use siphasher::sip128::SipHasher24;
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

use super::{AccessConfig, ApiError, Denied, Mode, mask};

/// Where session ids come from. Injected so that the store holds no global RNG and tests are
/// deterministic; the binary seeds [`KeyedIds`] from the OS.
pub trait SessionIdSource: Send {
    /// 16 bytes no one can predict from earlier outputs.
    fn next_id(&mut self) -> [u8; 16];
}

/// Session ids as SipHash-2-4 (a keyed pseudo-random function) of a counter under a 128-bit
/// secret key: unpredictable to anyone without the key, never repeating.
pub struct KeyedIds {
    hasher: SipHasher24,
    counter: u64,
}

/// A session as returned to the API client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The stream it is for (the `r` of the Stream ID).
    pub resource_id: String,
    /// 32 lowercase hex digits (16 bytes), the `s` of the Stream ID.
    pub session_id: String,
    pub mode: Mode,
    pub expires_in: Duration,
}

/// Cumulative counters, and one gauge (`outstanding`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AccessCounters {
    /// Sessions handed out.
    pub issued: u64,
    /// Sessions accepted at a handshake.
    pub redeemed: u64,
    /// Handshakes admitted without a session (open stream, or access control off).
    pub open: u64,
    /// Handshake rejections, 1401: no `s` for a stream that needs one.
    pub missing: u64,
    /// Handshake rejections, 1403: the session is not one we issued (or long gone).
    pub unknown: u64,
    /// 1403: issued, but its time ran out before it was used.
    pub expired: u64,
    /// 1403: already used once.
    pub reused: u64,
    /// 1403: issued for another stream or mode.
    pub mismatch: u64,
    /// API refusals, 401: no bearer token.
    pub api_missing_token: u64,
    /// 403: a bearer token that is not configured.
    pub api_bad_token: u64,
    /// 403: a valid token not allowed this stream and mode.
    pub api_not_allowed: u64,
    /// 503: `access.max_sessions` reached.
    pub store_full: u64,
    /// Sessions held now, used ones included until they expire.
    pub outstanding: u64,
}

pub struct SessionStore {
    inner: Mutex<Inner>,
}

struct Inner {
    config: AccessConfig,
    /// Key for token digests: tokens are compared as fixed-length keyed digests, so neither
    /// their content nor their length leaks through timing.
    digest_key: [u8; 16],
    /// `config.tokens[i]`'s digest.
    digests: Vec<[u8; 16]>,
    ids: Box<dyn SessionIdSource>,
    sessions: HashMap<[u8; 16], Entry>,
    /// Session ids in issue order with their expiry: with one TTL that is expiry order, so the
    /// sweep pops from the front. After a reload that shortened the TTL a later entry may
    /// expire first; it is then swept a little late, still within `max_sessions`.
    expiry: VecDeque<(Instant, [u8; 16])>,
    counters: AccessCounters,
    /// Token digests compared so far (tests check that every token is compared every time).
    ct_comparisons: u64,
}

struct Entry {
    resource: String,
    mode: Mode,
    expires: Instant,
    used: bool,
    /// Digest of the token that issued it: a reload that removes the token drops its sessions.
    token: [u8; 16],
}

impl KeyedIds {
    pub fn new(secret: [u8; 16]) -> KeyedIds {
        KeyedIds {
            hasher: SipHasher24::new_with_key(&secret),
            counter: 0,
        }
    }
}

impl SessionIdSource for KeyedIds {
    fn next_id(&mut self) -> [u8; 16] {
        self.counter = self.counter.wrapping_add(1);
        self.hasher.hash(&self.counter.to_le_bytes()).as_bytes()
    }
}

impl SessionStore {
    pub fn new(config: AccessConfig, mut ids: Box<dyn SessionIdSource>) -> SessionStore {
        let digest_key = ids.next_id();
        let digests = digests(&config, &digest_key);
        SessionStore {
            inner: Mutex::new(Inner {
                config,
                digest_key,
                digests,
                ids,
                sessions: HashMap::new(),
                expiry: VecDeque::new(),
                counters: AccessCounters::default(),
                ct_comparisons: 0,
            }),
        }
    }

    /// A new session for `resource` in `mode`, if `bearer` is a configured token allowed to.
    pub fn issue(
        &self,
        bearer: &str,
        resource: &str,
        mode: Mode,
        now: Instant,
    ) -> Result<Session, ApiError> {
        if bearer.is_empty() {
            return Err(self.refuse_missing_token());
        }
        let mut inner = self.lock();
        let inner = &mut *inner;
        let Some(index) = inner.find_token(bearer) else {
            inner.counters.api_bad_token += 1;
            // Debug, not warn: anyone who reaches the API could flood the log; the refusal is
            // counted (`srt_access_api_refusals_total{reason="bad_token"}`).
            log::debug!(
                "session request with an unknown access token {}",
                mask(bearer)
            );
            return Err(ApiError::Forbidden("invalid access token".into()));
        };
        check_resource(resource)?;
        let rule = &inner.config.tokens[index];
        if !rule.allows(resource, mode) {
            inner.counters.api_not_allowed += 1;
            return Err(ApiError::Forbidden(format!(
                "token `{}` may not {mode} stream {resource:?}",
                rule.name
            )));
        }
        inner.sweep(now);
        if inner.sessions.len() >= inner.config.max_sessions {
            inner.counters.store_full += 1;
            return Err(ApiError::Unavailable(format!(
                "too many outstanding sessions ({}); retry when some expire",
                inner.config.max_sessions
            )));
        }
        let ttl = inner.config.session_ttl;
        let expires = now.checked_add(ttl).unwrap_or(now);
        let id = loop {
            // 128 random bits do not collide in practice; the loop makes it a certainty.
            let id = inner.ids.next_id();
            if !inner.sessions.contains_key(&id) {
                break id;
            }
        };
        let token = inner.digests[index];
        inner.sessions.insert(
            id,
            Entry {
                resource: resource.to_string(),
                mode,
                expires,
                used: false,
                token,
            },
        );
        inner.expiry.push_back((expires, id));
        inner.counters.issued += 1;
        Ok(Session {
            resource_id: resource.to_string(),
            session_id: hex(&id),
            mode,
            expires_in: ttl,
        })
    }

    /// The 401 for a session request without a bearer token, counted.
    pub fn refuse_missing_token(&self) -> ApiError {
        self.lock().counters.api_missing_token += 1;
        ApiError::Unauthorized("missing access token: send `Authorization: Bearer <token>`".into())
    }

    /// The handshake check for a caller asking `resource` in `mode` with Stream ID session
    /// `session` (`s=`). Open streams and a relay without tokens need none. A missing session
    /// is 1401 (unauthorized); an unknown, expired, reused or mismatched one is 1403
    /// (forbidden) (libsrt `docs/API/rejection-codes.md`, `SRT_REJX_UNAUTHORIZED` and
    /// `SRT_REJX_FORBIDDEN`). A mismatched session is not consumed: its holder may still use it.
    pub fn redeem(
        &self,
        resource: &str,
        mode: Mode,
        session: Option<&str>,
        now: Instant,
    ) -> Result<(), Denied> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        if inner.config.is_open(resource, mode) {
            inner.counters.open += 1;
            return Ok(());
        }
        let Some(text) = session.filter(|s| !s.is_empty()) else {
            inner.counters.missing += 1;
            return Err(Denied::Unauthorized);
        };
        let Some(id) = parse_hex(text) else {
            inner.counters.unknown += 1;
            return Err(Denied::Forbidden);
        };
        let Some(entry) = inner.sessions.get_mut(&id) else {
            inner.counters.unknown += 1;
            return Err(Denied::Forbidden);
        };
        if entry.expires <= now {
            inner.sessions.remove(&id);
            inner.counters.expired += 1;
            return Err(Denied::Forbidden);
        }
        if entry.used {
            inner.counters.reused += 1;
            return Err(Denied::Forbidden);
        }
        if entry.resource != resource || entry.mode != mode {
            inner.counters.mismatch += 1;
            return Err(Denied::Forbidden);
        }
        entry.used = true;
        inner.counters.redeemed += 1;
        inner.sweep(now);
        Ok(())
    }

    /// Applies a reloaded `[access]`. Sessions stay valid unless the token that issued them is
    /// gone (removed or changed), so revoking a token also revokes its sessions; a new TTL
    /// applies to sessions issued from now on.
    pub fn reconfigure(&self, config: AccessConfig) {
        let mut inner = self.lock();
        let inner = &mut *inner;
        inner.digests = digests(&config, &inner.digest_key);
        inner.config = config;
        let live = &inner.digests;
        inner.sessions.retain(|_, e| live.contains(&e.token));
        let sessions = &inner.sessions;
        inner.expiry.retain(|(_, id)| sessions.contains_key(id));
    }

    /// Counters, with `outstanding` as of `now` (expired sessions are swept first).
    pub fn counters(&self, now: Instant) -> AccessCounters {
        let mut inner = self.lock();
        inner.sweep(now);
        let mut c = inner.counters;
        c.outstanding = inner.sessions.len() as u64;
        c
    }

    /// Whether any token is configured (access control on for streams not left open).
    pub fn is_enabled(&self) -> bool {
        !self.lock().config.tokens.is_empty()
    }

    /// A poisoned lock only means another thread panicked mid-update of plain counters and
    /// maps; the state is still usable, so carry on rather than fail every handshake.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Inner {
    /// The index of the token equal to `bearer`. Every configured token's digest is compared
    /// with `subtle`'s constant-time equality and the result selected without branching, so
    /// the time taken does not depend on which token (if any) matched or how much of it.
    fn find_token(&mut self, bearer: &str) -> Option<usize> {
        let probe = digest(&self.digest_key, bearer);
        let mut found = Choice::from(0);
        let mut index = 0u64;
        for (i, d) in self.digests.iter().enumerate() {
            let eq = d.ct_eq(&probe);
            index = u64::conditional_select(&index, &(i as u64), eq);
            found |= eq;
            self.ct_comparisons += 1;
        }
        bool::from(found).then_some(index as usize)
    }

    fn sweep(&mut self, now: Instant) {
        while let Some(&(expires, id)) = self.expiry.front() {
            if expires > now {
                break;
            }
            self.expiry.pop_front();
            if self.sessions.get(&id).is_some_and(|e| e.expires <= now) {
                self.sessions.remove(&id);
            }
        }
    }
}

fn digests(config: &AccessConfig, key: &[u8; 16]) -> Vec<[u8; 16]> {
    config
        .tokens
        .iter()
        .map(|t| digest(key, t.token.expose()))
        .collect()
}

fn digest(key: &[u8; 16], token: &str) -> [u8; 16] {
    SipHasher24::new_with_key(key)
        .hash(token.as_bytes())
        .as_bytes()
}

/// A resource a session can be issued for: what a Stream ID `r=` can carry (at most 512 bytes,
/// draft-sharabayko-srt §3.2.1.3) and no `,` (the key separator of the `#!::` syntax, Appendix
/// B), so the returned session is usable.
fn check_resource(resource: &str) -> Result<(), ApiError> {
    if resource.is_empty() || resource.len() > 512 {
        return Err(ApiError::BadRequest(
            "stream name must be 1 to 512 bytes long".into(),
        ));
    }
    if resource.chars().any(|c| c.is_control() || c == ',') {
        return Err(ApiError::BadRequest(
            "stream name must not contain control characters or commas".into(),
        ));
    }
    Ok(())
}

fn hex(bytes: &[u8; 16]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(text: &str) -> Option<[u8; 16]> {
    let t = text.as_bytes();
    if t.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in t.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
