//! Batched UDP I/O on a raw non-blocking socket: `recvmmsg` into preallocated slots
//! ([`RecvBatch`]) and `sendmmsg` from a preallocated arena with per-datagram destinations
//! ([`SendBatch`]), where consecutive equal-size datagrams to one peer are coalesced into a
//! single UDP GSO message (`UDP_SEGMENT` cmsg) when the kernel supports it.
//!
//! Owns the only `unsafe` on the data path: building `mmsghdr` arrays and the two syscalls.
//! Must not know SRT, block, or allocate per call (every buffer is sized at construction).
//! Control messages are read and written as bytes at `offset_of!` positions, so the unsafe
//! surface is the syscalls, a zeroed `msghdr`, and reading the address family out of a union.
//!
//! Why raw syscalls rather than glommio's `UdpSocket::send_to`: glommio sends one datagram per
//! call (a direct `sendmsg`, or one io_uring SQE after `EAGAIN`) and exposes neither
//! `sendmmsg`, `recvmmsg` nor control messages. The shard keeps the glommio socket for
//! readiness (see `executor.rs`) and does the batched I/O here on the same fd.

#![deny(clippy::undocumented_unsafe_blocks)]

mod recv;
mod send;
#[cfg(test)]
mod tests;

use std::io;
use std::mem::offset_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::BorrowedFd;

pub use recv::{Received, RecvBatch};
pub use send::{BatchFull, Flushed, SendBatch};

use super::sys;

/// Most segments the kernel accepts in one GSO send (`UDP_MAX_SEGMENTS`: 64 since Linux 4.18;
/// later kernels allow 128, 64 is the portable floor).
pub const MAX_GSO_SEGMENTS: usize = 64;

/// Most payload bytes in one UDP GSO message: the largest UDP payload an IPv4 datagram can
/// carry (65535 - 20 - 8). The kernel checks the super-packet against this before segmenting.
pub const MAX_GSO_BYTES: usize = 65507;

/// `UIO_MAXIOV`: the kernel truncates a longer `sendmmsg`/`recvmmsg` vector to this.
const MAX_MMSG: usize = 1024;

/// Whether this kernel knows `UDP_SEGMENT` on `fd`'s socket. Returns the number of segments a
/// [`SendBatch`] may coalesce (1 disables GSO). A device without checksum offload can still
/// refuse a GSO send with `EIO` at run time; [`SendBatch`] then falls back by itself.
pub fn probe_gso(fd: BorrowedFd<'_>) -> usize {
    match sys::int_option(fd, libc::SOL_UDP, libc::UDP_SEGMENT) {
        Ok(_) => MAX_GSO_SEGMENTS,
        Err(_) => 1,
    }
}

/// Turns on UDP GRO for `fd`: the kernel may hand several same-size datagrams from one peer to
/// one receive slot, with the segment size in a cmsg ([`Received::segments`] splits them).
/// Receive slots must then be 64 KiB or datagrams are truncated.
pub fn enable_gro(fd: BorrowedFd<'_>) -> io::Result<()> {
    sys::set_int_option(fd, libc::SOL_UDP, libc::UDP_GRO, 1)
}

/// A socket address in the kernel's layout, large enough for either family; the family field
/// sits at offset 0 in both variants.
#[repr(C)]
#[derive(Clone, Copy)]
union RawAddr {
    v4: libc::sockaddr_in,
    v6: libc::sockaddr_in6,
}

impl RawAddr {
    /// All-zero (family `AF_UNSPEC`), with every byte initialised: the receive path hands this
    /// to the kernel to fill.
    fn zeroed() -> Self {
        RawAddr {
            v6: libc::sockaddr_in6 {
                sin6_family: 0,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: [0; 16] },
                sin6_scope_id: 0,
            },
        }
    }

    /// The kernel representation of `addr` and its length.
    fn encode(addr: &SocketAddr) -> (Self, libc::socklen_t) {
        // Start from zero so the bytes past a v4 address are initialised too.
        let mut raw = Self::zeroed();
        match addr {
            SocketAddr::V4(a) => {
                raw.v4 = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: a.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                (raw, size_of::<libc::sockaddr_in>() as libc::socklen_t)
            }
            SocketAddr::V6(a) => {
                // Flow info and scope id in host order, as std does.
                raw.v6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: a.port().to_be(),
                    sin6_flowinfo: a.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.ip().octets(),
                    },
                    sin6_scope_id: a.scope_id(),
                };
                (raw, size_of::<libc::sockaddr_in6>() as libc::socklen_t)
            }
        }
    }

    /// The address the kernel wrote, or `None` for a family other than IPv4/IPv6 or a length
    /// too short for its family.
    fn decode(&self, len: libc::socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        // SAFETY: both variants are plain-old-data whose every byte was initialised (by
        // `zeroed`, `encode` or the kernel), the family field is at offset 0 in both, and any
        // bit pattern is a valid value of each field read below.
        unsafe {
            match self.v4.sin_family as libc::c_int {
                libc::AF_INET if len >= size_of::<libc::sockaddr_in>() => {
                    let a = self.v4;
                    Some(SocketAddr::V4(SocketAddrV4::new(
                        Ipv4Addr::from(a.sin_addr.s_addr.to_ne_bytes()),
                        u16::from_be(a.sin_port),
                    )))
                }
                libc::AF_INET6 if len >= size_of::<libc::sockaddr_in6>() => {
                    let a = self.v6;
                    Some(SocketAddr::V6(SocketAddrV6::new(
                        Ipv6Addr::from(a.sin6_addr.s6_addr),
                        u16::from_be(a.sin6_port),
                        a.sin6_flowinfo,
                        a.sin6_scope_id,
                    )))
                }
                _ => None,
            }
        }
    }
}

/// Control-message space for one datagram, aligned for `cmsghdr`. 64 bytes hold a `UDP_GRO` or
/// `UDP_SEGMENT` cmsg (16-byte header + 8) with room for one more (e.g. `IP_PKTINFO` later).
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct CmsgSpace([u8; 64]);

/// `CMSG_ALIGN`: control messages are padded to the alignment of `size_t`.
const fn cmsg_align(n: usize) -> usize {
    (n + size_of::<usize>() - 1) & !(size_of::<usize>() - 1)
}

/// Offset of a control message's data from its header (`CMSG_DATA - cmsg`).
const CMSG_HDR: usize = cmsg_align(size_of::<libc::cmsghdr>());

impl CmsgSpace {
    const ZERO: Self = CmsgSpace([0; 64]);

    /// Writes one cmsg (`level`, `ty`, `data`) at the start; returns the control length to put
    /// in `msg_controllen` (`CMSG_SPACE(data.len())`).
    fn write_one(&mut self, level: libc::c_int, ty: libc::c_int, data: &[u8]) -> usize {
        let b = &mut self.0;
        let cmsg_len = CMSG_HDR + data.len();
        put(
            b,
            offset_of!(libc::cmsghdr, cmsg_len),
            &cmsg_len.to_ne_bytes(),
        );
        put(
            b,
            offset_of!(libc::cmsghdr, cmsg_level),
            &level.to_ne_bytes(),
        );
        put(b, offset_of!(libc::cmsghdr, cmsg_type), &ty.to_ne_bytes());
        put(b, CMSG_HDR, data);
        cmsg_align(cmsg_len)
    }

    /// Walks the control messages in the first `len` bytes and returns the data of the first
    /// one with `level` and `ty`.
    fn find(&self, len: usize, level: libc::c_int, ty: libc::c_int) -> Option<&[u8]> {
        let b = &self.0[..len.min(self.0.len())];
        let mut off = 0;
        while off + CMSG_HDR <= b.len() {
            let h = &b[off..];
            let cmsg_len = usize::from_ne_bytes(take(h, offset_of!(libc::cmsghdr, cmsg_len)));
            let lvl = libc::c_int::from_ne_bytes(take(h, offset_of!(libc::cmsghdr, cmsg_level)));
            let t = libc::c_int::from_ne_bytes(take(h, offset_of!(libc::cmsghdr, cmsg_type)));
            if cmsg_len < CMSG_HDR || off + cmsg_len > b.len() {
                return None;
            }
            if lvl == level && t == ty {
                return Some(&b[off + CMSG_HDR..off + cmsg_len]);
            }
            off += cmsg_align(cmsg_len);
        }
        None
    }
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

fn take<const N: usize>(buf: &[u8], at: usize) -> [u8; N] {
    let mut out = [0; N];
    out.copy_from_slice(&buf[at..at + N]);
    out
}

/// `msg_controllen` as usize (it is `size_t` on glibc, `socklen_t` on musl).
#[allow(clippy::unnecessary_cast)]
fn controllen(h: &libc::msghdr) -> usize {
    h.msg_controllen as usize
}

/// An `mmsghdr` with null pointers and zero lengths, filled in before each syscall.
fn empty_mmsghdr() -> libc::mmsghdr {
    // SAFETY: `mmsghdr` is a C struct of integers and raw pointers (plus padding on some
    // targets, which is why it is not built with a literal); all-zero is a valid value of each.
    unsafe { std::mem::zeroed() }
}
