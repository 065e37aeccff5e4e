//! Small safe wrappers over single libc calls that std and socket2 0.4 do not offer: integer
//! socket options at `SOL_UDP` (GSO/GRO), `poll(2)` readiness, and the calling thread's CPU clock.
//!
//! Owns no state. Must not grow protocol or batching logic: that is `batch.rs`. Every `unsafe`
//! block here is one FFI call whose pointer arguments come from live Rust references.

#![deny(clippy::undocumented_unsafe_blocks)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

/// `setsockopt(fd, level, name, &value, sizeof(int))`.
pub fn set_int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    // SAFETY: `fd` is a live descriptor for the borrow's lifetime; the option value pointer
    // and its length describe `value`, a local `c_int` that outlives the call.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&value as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `getsockopt(fd, level, name)` for an integer option.
pub fn int_option(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut value: libc::c_int = 0;
    let mut len = size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are locals that outlive the call; `len` tells the kernel how
    // many bytes it may write at the value pointer.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc == 0 {
        Ok(value)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Waits up to `timeout` (None: forever) until any of `fds` is readable. Returns, per fd,
/// whether it is readable (or has an error pending, which a read will then report). An
/// interrupted wait returns all-false rather than an error: callers loop anyway.
pub fn poll_readable(fds: &[BorrowedFd<'_>], timeout: Option<Duration>) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    let timeout_ms = timeout.map_or(-1, |t| {
        // Round up so a 100 us timeout does not become a busy 0 ms poll.
        libc::c_int::try_from(t.as_micros().div_ceil(1000)).unwrap_or(libc::c_int::MAX)
    });
    // SAFETY: the pointer and count describe `pfds`, a live Vec the kernel may write
    // `revents` into; every fd in it is borrowed for the duration of the call.
    let rc = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if rc < 0 {
        let err = io::Error::last_os_error();
        if err.kind() == io::ErrorKind::Interrupted {
            return Ok(vec![false; fds.len()]);
        }
        return Err(err);
    }
    Ok(pfds.iter().map(|p| p.revents != 0).collect())
}

/// CPU time consumed so far by the calling thread (user + system), from
/// `CLOCK_THREAD_CPUTIME_ID`. On loopback this includes the softirq work the kernel does in the
/// sender's context (the receiving half of the stack), which is why benchmarks measure it
/// rather than wall time.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a local the kernel fills; the clock id is a constant valid on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    // This clock cannot fail on Linux for the calling thread; a zero reading would only make a
    // measurement visibly wrong, never unsafe.
    debug_assert_eq!(
        rc, 0,
        "CLOCK_THREAD_CPUTIME_ID is always available on Linux"
    );
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// `malloc_trim(0)` (glibc): returns free heap pages of every arena to the kernel. Freed
/// connection buffers are medium blocks scattered through the shard's arena, so glibc keeps
/// them resident after a crowd of connections leaves unless asked; see `ShardState` for when
/// it is called. Without glibc there is nothing to do.
pub fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim takes an integer and touches only the allocator's own state, which
    // it locks; it is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A bound, listening std listener as a glommio listener of the calling shard's executor.
/// glommio binds its own listeners from an address only (each executor picking a port for
/// port 0); the engine binds every shard's socket up front so they share one port.
pub fn glommio_listener(l: std::net::TcpListener) -> glommio::net::TcpListener {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let fd = l.into_raw_fd();
    // SAFETY: `fd` comes from `into_raw_fd` of a listening socket we own, so it is open and
    // nothing else will close it; ownership moves into the glommio listener.
    unsafe { glommio::net::TcpListener::from_raw_fd(fd) }
}

/// Raises the soft limit on open files to the hard one (every player is a socket; distributions
/// default the soft limit to 1024 while the hard one is far higher). Returns (old, new).
pub fn raise_nofile_limit() -> io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `r` is a live, writable `rlimit` for the duration of the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let old = r.rlim_cur;
    if r.rlim_cur < r.rlim_max {
        r.rlim_cur = r.rlim_max;
        // SAFETY: `r` is a live `rlimit` read back from the kernel with only the soft limit
        // raised to the hard one, which an unprivileged process may do.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &r) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok((old, r.rlim_cur))
}

/// One non-blocking `sendmsg(2)` of `bufs` on a stream socket (`MSG_DONTWAIT`, and
/// `MSG_NOSIGNAL`: a peer that went away is an error, not SIGPIPE). The playback listener
/// writes a response's queued chunks (ring handles, HLS parts) straight from where they are.
pub fn send_vectored(sock: &impl AsRawFd, bufs: &[std::io::IoSlice<'_>]) -> io::Result<usize> {
    // Linux's UIO_MAXIOV.
    let bufs = &bufs[..bufs.len().min(1024)];
    // SAFETY: an all-zero `msghdr` is a valid value (null name, no control data).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // `IoSlice` is ABI-compatible with `iovec` (std documents it), and the kernel only reads
    // through this pointer.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;
    // SAFETY: the descriptor is `sock`'s, borrowed (so open) for the call; `msg` points at
    // `bufs`, which outlive the call, and names no address or control buffer.
    let n = unsafe {
        libc::sendmsg(
            sock.as_raw_fd(),
            &msg,
            libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsFd;

    #[test]
    fn int_option_round_trips_so_rcvbuf() {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        set_int_option(s.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 65536).unwrap();
        // Linux doubles the request to account for bookkeeping overhead (socket(7)).
        let got = int_option(s.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF).unwrap();
        assert_eq!(got, 2 * 65536);
    }

    #[test]
    fn poll_readable_sees_only_the_socket_with_data() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.send_to(b"x", b.local_addr().unwrap()).unwrap();
        let ready = loop {
            let r = poll_readable(&[a.as_fd(), b.as_fd()], Some(Duration::from_secs(5))).unwrap();
            if r.iter().any(|&x| x) {
                break r;
            }
        };
        assert_eq!(ready, vec![false, true]);
    }

    #[test]
    fn thread_cpu_time_advances_with_work() {
        let t0 = thread_cpu_time();
        let mut x = 0u64;
        while thread_cpu_time() == t0 {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(thread_cpu_time() > t0);
    }
}
