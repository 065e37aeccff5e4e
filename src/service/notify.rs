//! The `sd_notify` protocol without libsystemd: where the service manager listens
//! (`NOTIFY_SOCKET`), what it wants told (`READY=1`, `RELOADING=1`, `STOPPING=1`, `WATCHDOG=1`,
//! `STATUS=`), and how often (`WATCHDOG_USEC`, `WATCHDOG_PID`).
//!
//! Owns the wire format and the one unix datagram socket. Must not decide *when* to notify
//! (that is [`super::Supervisor`]) and must never fail the relay: without `NOTIFY_SOCKET` every
//! call is a no-op, and a send error is returned for the caller to log, not to act on.
//!
//! Protocol facts (sd_notify(3), systemd.service(5), systemd 252 on this machine):
//! - `NOTIFY_SOCKET` is a filesystem path (`/run/systemd/notify`) or, when it starts with `@`,
//!   a name in the abstract namespace (the `@` stands for the leading NUL byte). systemd 254+
//!   also accepts `vsock:`; a relay runs on the host, so that form is refused by name.
//! - A datagram is newline-separated `KEY=VALUE` assignments. systemd takes the sender's pid
//!   from the kernel's credentials (it enables `SO_PASSCRED`), and with the default
//!   `NotifyAccess=main` only the main pid is heard: we send from the main process.
//! - `RELOADING=1` must carry `MONOTONIC_USEC=` (CLOCK_MONOTONIC at the start of the reload)
//!   for `Type=notify-reload` (systemd 253+); older managers ignore the extra field.
//! - The watchdog is armed when `WATCHDOG_USEC` is a positive integer and `WATCHDOG_PID`, if
//!   set, is our pid (sd_watchdog_enabled(3)); pinging at half the interval is the advice.

use std::ffi::OsStr;
use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::PathBuf;
use std::time::Duration;

/// A send never blocks the signal loop for longer than this (the manager's queue is full only
/// when it is itself stuck).
const SEND_TIMEOUT: Duration = Duration::from_secs(1);

/// Where the service manager listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    Path(PathBuf),
    /// Abstract-namespace name, without the leading NUL (`@name` in the variable).
    Abstract(Vec<u8>),
}

/// Why `NOTIFY_SOCKET` or the watchdog variables were not usable.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET={0:?} is neither an absolute path nor an @abstract name")]
    BadSocket(String),
    #[error("WATCHDOG_USEC={0:?} is not a positive integer")]
    BadWatchdogUsec(String),
    #[error("cannot open the notify socket: {0}")]
    Io(#[from] io::Error),
}

/// One message to the service manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice<'a> {
    /// Start-up or a reload finished.
    Ready { status: &'a str },
    /// A reload began, at `monotonic_usec` (CLOCK_MONOTONIC).
    Reloading {
        monotonic_usec: u64,
        status: &'a str,
    },
    /// Shutdown began.
    Stopping { status: &'a str },
    /// Still alive (only while every shard is).
    Watchdog,
    /// Free text for `systemctl status`.
    Status(&'a str),
}

/// The connection to the service manager; a no-op when there is none.
#[derive(Debug)]
pub struct Notifier {
    inner: Option<(UnixDatagram, NotifyTarget)>,
}

impl NotifyTarget {
    /// Reads a `NOTIFY_SOCKET` value.
    pub fn parse(value: &OsStr) -> Result<NotifyTarget, NotifyError> {
        let bytes = value.as_bytes();
        match bytes.first() {
            Some(b'/') => Ok(NotifyTarget::Path(PathBuf::from(value))),
            Some(b'@') if bytes.len() > 1 => Ok(NotifyTarget::Abstract(bytes[1..].to_vec())),
            _ => Err(NotifyError::BadSocket(value.to_string_lossy().into_owned())),
        }
    }

    fn address(&self) -> io::Result<SocketAddr> {
        match self {
            NotifyTarget::Path(p) => SocketAddr::from_pathname(p),
            NotifyTarget::Abstract(name) => SocketAddr::from_abstract_name(name),
        }
    }
}

impl Notice<'_> {
    /// The datagram: newline-separated assignments, `READY=1` style state first.
    pub fn encode(&self) -> String {
        match self {
            Notice::Ready { status } => with_status("READY=1", status),
            Notice::Reloading {
                monotonic_usec,
                status,
            } => with_status(
                &format!("RELOADING=1\nMONOTONIC_USEC={monotonic_usec}"),
                status,
            ),
            Notice::Stopping { status } => with_status("STOPPING=1", status),
            Notice::Watchdog => "WATCHDOG=1".to_string(),
            Notice::Status(status) => format!("STATUS={}", one_line(status)),
        }
    }
}

impl Notifier {
    /// Not under a service manager: every send does nothing.
    pub fn disabled() -> Notifier {
        Notifier { inner: None }
    }

    /// From `NOTIFY_SOCKET`; disabled when it is unset or empty.
    pub fn from_env() -> Result<Notifier, NotifyError> {
        match std::env::var_os("NOTIFY_SOCKET") {
            Some(v) if !v.is_empty() => Notifier::to(NotifyTarget::parse(&v)?),
            _ => Ok(Notifier::disabled()),
        }
    }

    /// An unbound datagram socket aimed at `target` (nothing is sent yet).
    pub fn to(target: NotifyTarget) -> Result<Notifier, NotifyError> {
        let socket = UnixDatagram::unbound()?;
        socket.set_write_timeout(Some(SEND_TIMEOUT))?;
        Ok(Notifier {
            inner: Some((socket, target)),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Sends one notice; `Ok` without a manager.
    pub fn send(&self, notice: &Notice<'_>) -> io::Result<()> {
        let Some((socket, target)) = &self.inner else {
            return Ok(());
        };
        let msg = notice.encode();
        let sent = socket.send_to_addr(msg.as_bytes(), &target.address()?)?;
        if sent != msg.len() {
            // Datagrams are all or nothing; a short count would be a kernel surprise.
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "short notify datagram",
            ));
        }
        Ok(())
    }
}

/// The watchdog interval the manager asked for, from the values of `WATCHDOG_USEC` and
/// `WATCHDOG_PID`. `None` when unset, zero, or meant for another process (a child that
/// inherited the variables must not ping on its parent's behalf).
pub fn watchdog_interval(
    usec: Option<&OsStr>,
    pid: Option<&OsStr>,
    own_pid: u32,
) -> Result<Option<Duration>, NotifyError> {
    let Some(usec) = usec.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let text = usec.to_string_lossy();
    let value: u64 = text
        .trim()
        .parse()
        .map_err(|_| NotifyError::BadWatchdogUsec(text.clone().into_owned()))?;
    if value == 0 {
        return Err(NotifyError::BadWatchdogUsec(text.into_owned()));
    }
    if let Some(pid) = pid.filter(|v| !v.is_empty())
        && pid.to_string_lossy().trim().parse::<u32>().ok() != Some(own_pid)
    {
        return Ok(None);
    }
    Ok(Some(Duration::from_micros(value)))
}

/// [`watchdog_interval`] from this process's environment.
pub fn watchdog_interval_from_env() -> Result<Option<Duration>, NotifyError> {
    watchdog_interval(
        std::env::var_os("WATCHDOG_USEC").as_deref(),
        std::env::var_os("WATCHDOG_PID").as_deref(),
        std::process::id(),
    )
}

/// CLOCK_MONOTONIC in microseconds, the clock `MONOTONIC_USEC=` is read against (`Instant`
/// uses the same clock but does not expose its value).
pub fn monotonic_usec() -> u64 {
    use nix::sys::time::TimeValLike;
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map_or(0, |t| u64::try_from(t.num_microseconds()).unwrap_or(0))
}

fn with_status(state: &str, status: &str) -> String {
    if status.is_empty() {
        state.to_string()
    } else {
        format!("{state}\nSTATUS={}", one_line(status))
    }
}

/// An assignment ends at a newline, so a status must not contain one.
fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_encode_as_newline_separated_assignments() {
        assert_eq!(Notice::Ready { status: "" }.encode(), "READY=1");
        assert_eq!(
            Notice::Ready {
                status: "listening on 127.0.0.1:9999"
            }
            .encode(),
            "READY=1\nSTATUS=listening on 127.0.0.1:9999"
        );
        assert_eq!(
            Notice::Reloading {
                monotonic_usec: 12_345,
                status: "reloading"
            }
            .encode(),
            "RELOADING=1\nMONOTONIC_USEC=12345\nSTATUS=reloading"
        );
        assert_eq!(Notice::Stopping { status: "" }.encode(), "STOPPING=1");
        assert_eq!(Notice::Watchdog.encode(), "WATCHDOG=1");
        // A newline in a status would start a bogus assignment.
        assert_eq!(Notice::Status("a\nREADY=1").encode(), "STATUS=a READY=1");
    }

    #[test]
    fn notify_socket_is_a_path_or_an_abstract_name() {
        assert_eq!(
            NotifyTarget::parse(OsStr::new("/run/systemd/notify")).expect("path"),
            NotifyTarget::Path("/run/systemd/notify".into())
        );
        assert_eq!(
            NotifyTarget::parse(OsStr::new("@sd-notify/1")).expect("abstract"),
            NotifyTarget::Abstract(b"sd-notify/1".to_vec())
        );
        for bad in ["", "@", "relative/path", "vsock:2:1234"] {
            assert!(
                NotifyTarget::parse(OsStr::new(bad)).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn watchdog_needs_a_positive_interval_for_this_pid() {
        let os = |s: &'static str| Some(OsStr::new(s));
        assert_eq!(
            watchdog_interval(os("200000"), None, 7).expect("valid"),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            watchdog_interval(os("10000000"), os("7"), 7).expect("valid"),
            Some(Duration::from_secs(10))
        );
        // Inherited from a parent: not ours to feed.
        assert_eq!(
            watchdog_interval(os("200000"), os("8"), 7).expect("valid"),
            None
        );
        assert_eq!(watchdog_interval(None, os("7"), 7).expect("unset"), None);
        assert_eq!(watchdog_interval(os(""), None, 7).expect("empty"), None);
        assert!(watchdog_interval(os("0"), None, 7).is_err());
        assert!(watchdog_interval(os("10s"), None, 7).is_err());
    }

    #[test]
    fn a_disabled_notifier_sends_nothing_and_succeeds() {
        let n = Notifier::disabled();
        assert!(!n.is_enabled());
        n.send(&Notice::Watchdog).expect("no-op");
    }

    #[test]
    fn datagrams_reach_a_path_and_an_abstract_socket() {
        let dir = std::env::temp_dir().join(format!("srtrelay-notify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("notify.sock");
        let _ = std::fs::remove_file(&path);
        let rx = UnixDatagram::bind(&path).expect("bind path");
        let n = Notifier::to(NotifyTarget::Path(path.clone())).expect("socket");
        n.send(&Notice::Ready { status: "up" }).expect("send");
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=up");
        let _ = std::fs::remove_dir_all(&dir);

        let name = format!("srtrelay-test-{}", std::process::id());
        let addr = SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract");
        let rx = UnixDatagram::bind_addr(&addr).expect("bind abstract");
        let n = Notifier::to(NotifyTarget::Abstract(name.into_bytes())).expect("socket");
        n.send(&Notice::Watchdog).expect("send");
        let len = rx.recv(&mut buf).expect("recv");
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn monotonic_usec_moves_forward() {
        let a = monotonic_usec();
        let b = monotonic_usec();
        assert!(a > 0 && b >= a, "{a} then {b}");
    }
}
