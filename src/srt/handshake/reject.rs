//! Handshake rejection reasons and their codes (draft-sharabayko-srt §4.3, Table 7; libsrt
//! `srtcore/srt.h` `SRT_REJECT_REASON`, `srtcore/access_control.h` `SRT_REJX_*`,
//! `docs/API/rejection-codes.md`).
//!
//! Owns: the mapping between a [`RejectReason`] and its API code. Must not: know about packets;
//! the wire carries `1000 + code` in the handshake type field, and the packet layer already
//! stores that as `HandshakeType::Rejection(code)`.
//!
//! Code ranges (libsrt `SRT_REJC_*`):
//! - `0..=999` internal (`SRT_REJ_*`, 0..=17 defined; 17 CRYPTO is new in libsrt 1.5.2),
//! - `1000..=1999` predefined application codes, `1000 + HTTP status` (`SRT_REJX_*`),
//! - `2000..` user-defined.
//!
//! libsrt facts worth knowing when choosing a reason:
//! - a libsrt caller treats a handshake type `> 1000` as a rejection (`processConnectResponse`),
//!   so [`RejectReason::Unknown`] (wire 1000) is NOT seen as a rejection by libsrt: never send it;
//! - libsrt 1.5.1 maps internal codes it does not know (`>= SRT_REJ_E_SIZE`, i.e. 17 and up) to
//!   `SRT_REJ_UNKNOWN` when reporting (`RejectReasonForURQ`), but still fails the connection;
//! - `srt_rejectreason_str` prints "Application-defined rejection reason" for every code from 1000.

use std::fmt;
use std::hash::{Hash, Hasher};

/// Why a connection was refused. Maps one-to-one to a `u32` code: `from_code(c).code() == c` for
/// every `c`, and two reasons are equal exactly when their codes are equal (so
/// `Predefined(1403) == Forbidden`).
#[derive(Debug, Clone, Copy)]
pub enum RejectReason {
    /// 0 `SRT_REJ_UNKNOWN`: libsrt's "no reason yet" value; libsrt callers do not treat wire 1000
    /// as a rejection, so do not send it.
    Unknown,
    /// 1 `SRT_REJ_SYSTEM`: a system function failed.
    System,
    /// 2 `SRT_REJ_PEER`: rejected by the peer, no details.
    Peer,
    /// 3 `SRT_REJ_RESOURCE`: resource allocation problem (libsrt's default for a callback reject).
    Resource,
    /// 4 `SRT_REJ_ROGUE`: incorrect data in the handshake.
    Rogue,
    /// 5 `SRT_REJ_BACKLOG`: listener's backlog exceeded.
    Backlog,
    /// 6 `SRT_REJ_IPE`: internal program error.
    Ipe,
    /// 7 `SRT_REJ_CLOSE`: the listener is closing.
    Close,
    /// 8 `SRT_REJ_VERSION`: the peer's version is below the required minimum.
    Version,
    /// 9 `SRT_REJ_RDVCOOKIE`: rendezvous cookie collision.
    RdvCookie,
    /// 10 `SRT_REJ_BADSECRET`: passphrases differ.
    BadSecret,
    /// 11 `SRT_REJ_UNSECURE`: only one side has a passphrase.
    Unsecure,
    /// 12 `SRT_REJ_MESSAGEAPI`: message/stream API mismatch (STREAM flag).
    MessageApi,
    /// 13 `SRT_REJ_CONGESTION`: incompatible congestion controller.
    Congestion,
    /// 14 `SRT_REJ_FILTER`: incompatible packet filter.
    Filter,
    /// 15 `SRT_REJ_GROUP`: incompatible group (bonding).
    Group,
    /// 16 `SRT_REJ_TIMEOUT`: connection timed out (local outcome, also sendable).
    Timeout,
    /// 17 `SRT_REJ_CRYPTO`: unsupported or mismatching crypto mode (libsrt 1.5.2+).
    Crypto,
    /// 18..=999: reserved internal codes without a libsrt name.
    Internal(u32),
    /// 1000 `SRT_REJX_FALLBACK`: the application rejected without a precise reason.
    Fallback,
    /// 1001 `SRT_REJX_KEY_NOTSUP`: a Stream ID key is not supported.
    KeyNotSupported,
    /// 1002 `SRT_REJX_FILEPATH`: bad file path (`t=file`).
    FilePath,
    /// 1003 `SRT_REJX_HOSTNOTFOUND`: the `h` key names an unknown host.
    HostNotFound,
    /// 1400 `SRT_REJX_BAD_REQUEST`: Stream ID syntax error.
    BadRequest,
    /// 1401 `SRT_REJX_UNAUTHORIZED`: authentication failed.
    Unauthorized,
    /// 1402 `SRT_REJX_OVERLOAD`: server overloaded or credit exceeded.
    Overload,
    /// 1403 `SRT_REJX_FORBIDDEN`: access denied.
    Forbidden,
    /// 1404 `SRT_REJX_NOTFOUND`: resource not found.
    NotFound,
    /// 1405 `SRT_REJX_BAD_MODE`: the `m` mode is not supported for this resource.
    BadMode,
    /// 1406 `SRT_REJX_UNACCEPTABLE`: parameters cannot be satisfied.
    Unacceptable,
    /// 1409 `SRT_REJX_CONFLICT`: resource locked for modification (e.g. already published).
    Conflict,
    /// 1415 `SRT_REJX_NOTSUP_MEDIA`: media type (`t`) not supported.
    NotSupportedMedia,
    /// 1423 `SRT_REJX_LOCKED`: resource locked against any access.
    Locked,
    /// 1424 `SRT_REJX_FAILED_DEPEND`: dependent session (`s`) missing or expired.
    FailedDepend,
    /// 1500 `SRT_REJX_ISE`: internal server error.
    InternalServerError,
    /// 1501 `SRT_REJX_UNIMPLEMENTED`: not supported by this version of the service.
    Unimplemented,
    /// 1502 `SRT_REJX_GW`: a gateway's target rejected the connection.
    Gateway,
    /// 1503 `SRT_REJX_DOWN`: service down for maintenance.
    Down,
    /// 1505 `SRT_REJX_VERSION`: application version not supported.
    AppVersion,
    /// 1507 `SRT_REJX_NOROOM`: no storage space.
    NoRoom,
    /// Other codes in 1000..=1999 (1000 + an HTTP status libsrt does not name).
    Predefined(u32),
    /// 2000 and above: application-defined codes.
    User(u32),
}

/// Start of libsrt's predefined (server) range, `SRT_REJC_PREDEFINED`.
pub const REJC_PREDEFINED: u32 = 1000;
/// Start of libsrt's user range, `SRT_REJC_USERDEFINED`.
pub const REJC_USERDEFINED: u32 = 2000;

/// Every named reason with its code and libsrt name, in code order.
const NAMED: &[(RejectReason, u32, &str)] = &[
    (RejectReason::Unknown, 0, "SRT_REJ_UNKNOWN"),
    (RejectReason::System, 1, "SRT_REJ_SYSTEM"),
    (RejectReason::Peer, 2, "SRT_REJ_PEER"),
    (RejectReason::Resource, 3, "SRT_REJ_RESOURCE"),
    (RejectReason::Rogue, 4, "SRT_REJ_ROGUE"),
    (RejectReason::Backlog, 5, "SRT_REJ_BACKLOG"),
    (RejectReason::Ipe, 6, "SRT_REJ_IPE"),
    (RejectReason::Close, 7, "SRT_REJ_CLOSE"),
    (RejectReason::Version, 8, "SRT_REJ_VERSION"),
    (RejectReason::RdvCookie, 9, "SRT_REJ_RDVCOOKIE"),
    (RejectReason::BadSecret, 10, "SRT_REJ_BADSECRET"),
    (RejectReason::Unsecure, 11, "SRT_REJ_UNSECURE"),
    (RejectReason::MessageApi, 12, "SRT_REJ_MESSAGEAPI"),
    (RejectReason::Congestion, 13, "SRT_REJ_CONGESTION"),
    (RejectReason::Filter, 14, "SRT_REJ_FILTER"),
    (RejectReason::Group, 15, "SRT_REJ_GROUP"),
    (RejectReason::Timeout, 16, "SRT_REJ_TIMEOUT"),
    (RejectReason::Crypto, 17, "SRT_REJ_CRYPTO"),
    (RejectReason::Fallback, 1000, "SRT_REJX_FALLBACK"),
    (RejectReason::KeyNotSupported, 1001, "SRT_REJX_KEY_NOTSUP"),
    (RejectReason::FilePath, 1002, "SRT_REJX_FILEPATH"),
    (RejectReason::HostNotFound, 1003, "SRT_REJX_HOSTNOTFOUND"),
    (RejectReason::BadRequest, 1400, "SRT_REJX_BAD_REQUEST"),
    (RejectReason::Unauthorized, 1401, "SRT_REJX_UNAUTHORIZED"),
    (RejectReason::Overload, 1402, "SRT_REJX_OVERLOAD"),
    (RejectReason::Forbidden, 1403, "SRT_REJX_FORBIDDEN"),
    (RejectReason::NotFound, 1404, "SRT_REJX_NOTFOUND"),
    (RejectReason::BadMode, 1405, "SRT_REJX_BAD_MODE"),
    (RejectReason::Unacceptable, 1406, "SRT_REJX_UNACCEPTABLE"),
    (RejectReason::Conflict, 1409, "SRT_REJX_CONFLICT"),
    (
        RejectReason::NotSupportedMedia,
        1415,
        "SRT_REJX_NOTSUP_MEDIA",
    ),
    (RejectReason::Locked, 1423, "SRT_REJX_LOCKED"),
    (RejectReason::FailedDepend, 1424, "SRT_REJX_FAILED_DEPEND"),
    (RejectReason::InternalServerError, 1500, "SRT_REJX_ISE"),
    (RejectReason::Unimplemented, 1501, "SRT_REJX_UNIMPLEMENTED"),
    (RejectReason::Gateway, 1502, "SRT_REJX_GW"),
    (RejectReason::Down, 1503, "SRT_REJX_DOWN"),
    (RejectReason::AppVersion, 1505, "SRT_REJX_VERSION"),
    (RejectReason::NoRoom, 1507, "SRT_REJX_NOROOM"),
];

impl RejectReason {
    /// The API code (libsrt `srt_getrejectreason`); the wire handshake type is `1000 + code`.
    pub fn code(self) -> u32 {
        match self {
            RejectReason::Internal(c) | RejectReason::Predefined(c) | RejectReason::User(c) => c,
            named => NAMED
                .iter()
                .find(|(r, _, _)| std::mem::discriminant(r) == std::mem::discriminant(&named))
                .map_or(0, |&(_, c, _)| c),
        }
    }

    /// The reason for an API code; total over `u32`.
    pub fn from_code(code: u32) -> RejectReason {
        if let Some(&(r, _, _)) = NAMED.iter().find(|&&(_, c, _)| c == code) {
            return r;
        }
        match code {
            0..REJC_PREDEFINED => RejectReason::Internal(code),
            REJC_PREDEFINED..REJC_USERDEFINED => RejectReason::Predefined(code),
            _ => RejectReason::User(code),
        }
    }

    /// libsrt's symbol for a named reason (`SRT_REJ_*` / `SRT_REJX_*`); `None` for the open ranges.
    pub fn libsrt_name(self) -> Option<&'static str> {
        let code = self.code();
        NAMED
            .iter()
            .find(|&&(_, c, _)| c == code)
            .map(|&(_, _, name)| name)
    }

    /// Whether a libsrt caller recognises this reason as a rejection on the wire (all but 0).
    pub fn is_sendable(self) -> bool {
        self.code() != 0
    }
}

impl PartialEq for RejectReason {
    fn eq(&self, other: &Self) -> bool {
        self.code() == other.code()
    }
}

impl Eq for RejectReason {}

impl Hash for RejectReason {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.code().hash(state);
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = self.code();
        match self.libsrt_name() {
            Some(name) => f.write_str(name),
            None if code < REJC_PREDEFINED => write!(f, "internal reject reason {code}"),
            None if code < REJC_USERDEFINED => write!(f, "SRT_REJX {code}"),
            None => write!(f, "user reject reason {code}"),
        }
    }
}

impl From<u32> for RejectReason {
    fn from(code: u32) -> Self {
        RejectReason::from_code(code)
    }
}

impl From<RejectReason> for u32 {
    fn from(r: RejectReason) -> u32 {
        r.code()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn standard_codes_match_libsrt() {
        assert_eq!(RejectReason::Unknown.code(), 0);
        assert_eq!(RejectReason::Rogue.code(), 4);
        assert_eq!(RejectReason::Version.code(), 8);
        assert_eq!(RejectReason::BadSecret.code(), 10);
        assert_eq!(RejectReason::Timeout.code(), 16);
        assert_eq!(RejectReason::Crypto.code(), 17);
        assert_eq!(RejectReason::Fallback.code(), 1000);
        assert_eq!(RejectReason::BadRequest.code(), 1400);
        assert_eq!(RejectReason::Unauthorized.code(), 1401);
        assert_eq!(RejectReason::Overload.code(), 1402);
        assert_eq!(RejectReason::Forbidden.code(), 1403);
        assert_eq!(RejectReason::NotFound.code(), 1404);
        assert_eq!(RejectReason::BadMode.code(), 1405);
        assert_eq!(RejectReason::Unacceptable.code(), 1406);
        assert_eq!(RejectReason::Conflict.code(), 1409);
        assert_eq!(RejectReason::InternalServerError.code(), 1500);
        assert_eq!(RejectReason::Unimplemented.code(), 1501);
        assert_eq!(RejectReason::Down.code(), 1503);
        assert_eq!(RejectReason::from_code(13), RejectReason::Congestion);
        assert_eq!(RejectReason::from_code(1409), RejectReason::Conflict);
    }

    #[test]
    fn named_table_is_consistent() {
        for &(r, c, name) in NAMED {
            assert_eq!(r.code(), c, "{name}");
            assert!(matches!(
                RejectReason::from_code(c),
                x if std::mem::discriminant(&x) == std::mem::discriminant(&r)
            ));
            assert_eq!(r.to_string(), name);
        }
        // Codes are unique.
        let mut codes: Vec<u32> = NAMED.iter().map(|&(_, c, _)| c).collect();
        codes.dedup();
        assert_eq!(codes.len(), NAMED.len());
    }

    #[test]
    fn open_ranges_classify() {
        assert!(matches!(
            RejectReason::from_code(18),
            RejectReason::Internal(18)
        ));
        assert!(matches!(
            RejectReason::from_code(999),
            RejectReason::Internal(999)
        ));
        assert!(matches!(
            RejectReason::from_code(1418),
            RejectReason::Predefined(1418)
        ));
        assert!(matches!(
            RejectReason::from_code(2000),
            RejectReason::User(2000)
        ));
        assert!(matches!(
            RejectReason::from_code(u32::MAX),
            RejectReason::User(u32::MAX)
        ));
        assert_eq!(RejectReason::Predefined(1403), RejectReason::Forbidden);
        assert_eq!(
            RejectReason::User(2005).to_string(),
            "user reject reason 2005"
        );
        assert_eq!(RejectReason::Forbidden.to_string(), "SRT_REJX_FORBIDDEN");
        assert_eq!(RejectReason::MessageApi.to_string(), "SRT_REJ_MESSAGEAPI");
        assert!(!RejectReason::Unknown.is_sendable());
        assert!(RejectReason::Peer.is_sendable());
    }

    proptest! {
        #[test]
        fn code_round_trips(c in any::<u32>()) {
            prop_assert_eq!(RejectReason::from_code(c).code(), c);
            prop_assert_eq!(u32::from(RejectReason::from(c)), c);
        }

        #[test]
        fn small_codes_round_trip(c in 0u32..3000) {
            prop_assert_eq!(RejectReason::from_code(c).code(), c);
        }
    }
}
