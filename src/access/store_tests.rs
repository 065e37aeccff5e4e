//! Session store tests: the lifecycle under injected time, every refusal and its counter, the
//! constant-time lookup, bounded memory, reloads.

use std::time::{Duration, Instant};

use super::*;
use crate::access::{Pattern, Secret, TokenRule};

const STUDIO: &str = "studio-token-0123456789";
const VIEWER: &str = "viewer-token-abcdefghij";

/// Deterministic ids: 1, 2, 3, ... in the first byte.
struct Counting(u8);

impl SessionIdSource for Counting {
    fn next_id(&mut self) -> [u8; 16] {
        self.0 = self.0.wrapping_add(1);
        [self.0; 16]
    }
}

fn rule(name: &str, token: &str, publish: &[&str], request: &[&str]) -> TokenRule {
    let p = |v: &[&str]| v.iter().map(|s| Pattern::new(s).unwrap()).collect();
    TokenRule {
        name: name.into(),
        token: Secret::new(token),
        publish: p(publish),
        request: p(request),
    }
}

fn config() -> AccessConfig {
    AccessConfig {
        session_ttl: Duration::from_secs(300),
        max_sessions: 4,
        open_streams: vec![Pattern::new("public/*").unwrap()],
        open_request_streams: vec![],
        tokens: vec![
            rule("studio", STUDIO, &["live/*"], &["*"]),
            rule("viewer", VIEWER, &[], &["live/*"]),
        ],
    }
}

/// Any instant will do: time only moves by what the tests add to it.
#[allow(clippy::disallowed_methods)]
fn start() -> Instant {
    Instant::now()
}

fn store() -> SessionStore {
    SessionStore::new(config(), Box::new(KeyedIds::new([7; 16])))
}

#[test]
fn a_session_is_issued_used_once_and_reuse_is_refused() {
    let s = store();
    let t0 = start();
    let session = s.issue(STUDIO, "live/cam1", Mode::Publish, t0).unwrap();
    assert_eq!(session.resource_id, "live/cam1");
    assert_eq!(session.session_id.len(), 32);
    assert!(session.session_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(session.expires_in, Duration::from_secs(300));
    let id = Some(session.session_id.as_str());
    let t1 = t0 + Duration::from_secs(10);
    assert_eq!(s.redeem("live/cam1", Mode::Publish, id, t1), Ok(()));
    assert_eq!(
        s.redeem("live/cam1", Mode::Publish, id, t1),
        Err(Denied::Forbidden)
    );
    let c = s.counters(t1);
    assert_eq!((c.issued, c.redeemed, c.reused), (1, 1, 1));
    assert_eq!(
        c.outstanding, 1,
        "a used session stays until expiry to catch reuse"
    );
    // Uppercase hex is the same session (still used).
    let upper = session.session_id.to_uppercase();
    assert_eq!(
        s.redeem("live/cam1", Mode::Publish, Some(&upper), t1),
        Err(Denied::Forbidden)
    );
    assert_eq!(s.counters(t1).reused, 2);
}

#[test]
fn sessions_expire_under_injected_time() {
    let s = store();
    let t0 = start();
    let a = s.issue(STUDIO, "live/a", Mode::Publish, t0).unwrap();
    let b = s.issue(STUDIO, "live/b", Mode::Publish, t0).unwrap();
    let just_before = t0 + Duration::from_secs(300) - Duration::from_millis(1);
    assert_eq!(
        s.redeem("live/a", Mode::Publish, Some(&a.session_id), just_before),
        Ok(())
    );
    let at_expiry = t0 + Duration::from_secs(300);
    assert_eq!(
        s.redeem("live/b", Mode::Publish, Some(&b.session_id), at_expiry),
        Err(Denied::Forbidden)
    );
    let c = s.counters(at_expiry);
    assert_eq!(c.expired, 1);
    assert_eq!(c.outstanding, 0, "both swept at expiry, used or not");
    // Once swept, an expired session is simply unknown.
    assert_eq!(
        s.redeem("live/a", Mode::Publish, Some(&a.session_id), at_expiry),
        Err(Denied::Forbidden)
    );
    assert_eq!(s.counters(at_expiry).unknown, 1);
}

#[test]
fn missing_unknown_malformed_and_mismatched_sessions_are_refused_and_counted() {
    let s = store();
    let t = start();
    assert_eq!(
        s.redeem("live/a", Mode::Publish, None, t),
        Err(Denied::Unauthorized)
    );
    assert_eq!(
        s.redeem("live/a", Mode::Publish, Some(""), t),
        Err(Denied::Unauthorized)
    );
    let forbidden = Err(Denied::Forbidden);
    assert_eq!(s.redeem("live/a", Mode::Publish, Some("zz"), t), forbidden);
    assert_eq!(
        s.redeem("live/a", Mode::Publish, Some(&"0".repeat(32)), t),
        forbidden
    );
    let sess = s.issue(STUDIO, "live/a", Mode::Publish, t).unwrap();
    let id = Some(sess.session_id.as_str());
    assert_eq!(s.redeem("live/b", Mode::Publish, id, t), forbidden);
    assert_eq!(s.redeem("live/a", Mode::Request, id, t), forbidden);
    // A mismatch does not consume the session.
    assert_eq!(s.redeem("live/a", Mode::Publish, id, t), Ok(()));
    let c = s.counters(t);
    assert_eq!((c.missing, c.unknown, c.mismatch, c.redeemed), (2, 2, 2, 1));
}

#[test]
fn open_streams_and_a_relay_without_tokens_need_no_session() {
    let s = store();
    let t = start();
    assert_eq!(s.redeem("public/x", Mode::Publish, None, t), Ok(()));
    assert_eq!(s.counters(t).open, 1);
    let off = SessionStore::new(AccessConfig::default(), Box::new(Counting(0)));
    assert!(!off.is_enabled());
    assert_eq!(off.redeem("any", Mode::Publish, None, t), Ok(()));
    assert_eq!(off.redeem("any", Mode::Request, Some("junk"), t), Ok(()));
}

#[test]
fn issue_checks_the_token_and_its_patterns() {
    let s = store();
    let t = start();
    let e = s.issue("", "live/a", Mode::Publish, t).unwrap_err();
    assert_eq!(e.status(), 401);
    let e = s
        .issue("not-a-token-at-all", "live/a", Mode::Publish, t)
        .unwrap_err();
    assert_eq!(e.status(), 403);
    let e = s.issue(VIEWER, "live/a", Mode::Publish, t).unwrap_err();
    assert_eq!(e.status(), 403);
    assert!(e.to_string().contains("`viewer` may not publish"), "{e}");
    assert!(!e.to_string().contains(VIEWER), "token leaked: {e}");
    let e = s.issue(VIEWER, "other", Mode::Request, t).unwrap_err();
    assert_eq!(e.status(), 403);
    assert!(s.issue(VIEWER, "live/a", Mode::Request, t).is_ok());
    let e = s.issue(STUDIO, "live/a,m=publish", Mode::Request, t);
    assert_eq!(e.unwrap_err().status(), 400);
    let c = s.counters(t);
    assert_eq!(
        (
            c.api_missing_token,
            c.api_bad_token,
            c.api_not_allowed,
            c.issued
        ),
        (1, 1, 2, 1)
    );
}

#[test]
fn token_lookup_compares_every_token_in_constant_time() {
    let s = store();
    let t = start();
    // The first token matches; the second is compared anyway.
    s.issue(STUDIO, "live/a", Mode::Publish, t).unwrap();
    assert_eq!(s.lock().ct_comparisons, 2);
    // A prefix of a token (same first bytes, shorter) is not a match and costs the same.
    let prefix = &STUDIO[..STUDIO.len() - 1];
    assert_eq!(
        s.issue(prefix, "live/a", Mode::Publish, t)
            .unwrap_err()
            .status(),
        403
    );
    assert_eq!(s.lock().ct_comparisons, 4);
    // The second token is found at index 1.
    assert!(s.issue(VIEWER, "live/a", Mode::Request, t).is_ok());
    assert_eq!(s.lock().ct_comparisons, 6);
}

#[test]
fn outstanding_sessions_are_capped_and_refusals_counted() {
    let s = store();
    let t0 = start();
    for i in 0..4 {
        s.issue(STUDIO, &format!("live/{i}"), Mode::Publish, t0)
            .unwrap();
    }
    let e = s.issue(STUDIO, "live/x", Mode::Publish, t0).unwrap_err();
    assert_eq!(e.status(), 503);
    assert_eq!(s.counters(t0).store_full, 1);
    assert_eq!(s.counters(t0).outstanding, 4);
    // Expiry frees the room.
    let later = t0 + Duration::from_secs(301);
    assert!(s.issue(STUDIO, "live/x", Mode::Publish, later).is_ok());
    assert_eq!(s.counters(later).outstanding, 1);
}

#[test]
fn ids_come_from_the_injected_source() {
    let s = SessionStore::new(config(), Box::new(Counting(0)));
    let t = start();
    // The first id went to the digest key.
    let a = s.issue(STUDIO, "live/a", Mode::Publish, t).unwrap();
    assert_eq!(a.session_id, "02".repeat(16));
    let b = s.issue(STUDIO, "live/b", Mode::Publish, t).unwrap();
    assert_eq!(b.session_id, "03".repeat(16));
    // KeyedIds: different keys, different sequences; no repeats.
    let mut k1 = KeyedIds::new([1; 16]);
    let mut k2 = KeyedIds::new([2; 16]);
    let (x, y) = (k1.next_id(), k2.next_id());
    assert_ne!(x, y);
    assert_ne!(x, k1.next_id());
}

#[test]
fn reload_revokes_sessions_of_removed_tokens_only() {
    let s = store();
    let t = start();
    let by_studio = s.issue(STUDIO, "live/a", Mode::Publish, t).unwrap();
    let by_viewer = s.issue(VIEWER, "live/a", Mode::Request, t).unwrap();
    let mut c = config();
    c.tokens.remove(0);
    s.reconfigure(c);
    assert_eq!(
        s.redeem("live/a", Mode::Publish, Some(&by_studio.session_id), t),
        Err(Denied::Forbidden)
    );
    assert_eq!(
        s.redeem("live/a", Mode::Request, Some(&by_viewer.session_id), t),
        Ok(())
    );
    assert_eq!(
        s.issue(STUDIO, "live/a", Mode::Publish, t)
            .unwrap_err()
            .status(),
        403
    );
}
