//! `recvmmsg` into preallocated slots: one syscall drains up to `slots` datagrams.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{CmsgSpace, MAX_MMSG, RawAddr, controllen, empty_mmsghdr};

/// Preallocated receive slots. Holds raw pointers between calls only as scratch (rebuilt before
/// every syscall), which also makes it `!Send`: create it on the shard thread that uses it.
pub struct RecvBatch {
    data: Vec<u8>,
    slot_len: usize,
    names: Vec<RawAddr>,
    iovs: Vec<libc::iovec>,
    ctrl: Vec<CmsgSpace>,
    hdrs: Vec<libc::mmsghdr>,
    meta: Vec<Meta>,
}

/// One received datagram (or, with GRO, several same-size datagrams from one peer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received<'a> {
    pub from: SocketAddr,
    pub data: &'a [u8],
    /// Size of each datagram in `data`: `data.len()` unless GRO coalesced several.
    pub segment_len: usize,
    /// The datagram was longer than the slot and was cut (`MSG_TRUNC`): drop it.
    pub truncated: bool,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    from: Option<SocketAddr>,
    len: usize,
    segment_len: usize,
    truncated: bool,
}

impl Received<'_> {
    /// The individual datagrams: one (possibly empty) unless GRO coalesced several, the last of
    /// which may be shorter.
    pub fn segments(&self) -> impl Iterator<Item = &[u8]> {
        let (data, seg) = (self.data, self.segment_len.max(1));
        let n = data.len().div_ceil(seg).max(1);
        (0..n).map(move |i| &data[i * seg..((i + 1) * seg).min(data.len())])
    }
}

impl RecvBatch {
    /// `slots` datagrams of up to `slot_len` bytes each (use 64 KiB slots with GRO).
    pub fn new(slots: usize, slot_len: usize) -> Self {
        let slots = slots.clamp(1, MAX_MMSG);
        RecvBatch {
            data: vec![0; slots * slot_len],
            slot_len,
            names: vec![RawAddr::zeroed(); slots],
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                slots
            ],
            ctrl: vec![CmsgSpace::ZERO; slots],
            hdrs: (0..slots).map(|_| empty_mmsghdr()).collect(),
            meta: Vec::with_capacity(slots),
        }
    }

    pub fn slots(&self) -> usize {
        self.hdrs.len()
    }

    /// Receives as many queued datagrams as there are slots, without waiting. Returns how many
    /// arrived (at least 1), `WouldBlock` when none was queued, and any other socket error
    /// as-is (on Linux an ICMP error queued on the socket surfaces here once). The previous
    /// contents are replaced.
    pub fn recv(&mut self, fd: BorrowedFd<'_>) -> io::Result<usize> {
        self.meta.clear();
        let slot_len = self.slot_len;
        for (i, (((hdr, iov), name), ctrl)) in self
            .hdrs
            .iter_mut()
            .zip(self.iovs.iter_mut())
            .zip(self.names.iter_mut())
            .zip(self.ctrl.iter_mut())
            .enumerate()
        {
            iov.iov_base = self.data[i * slot_len..].as_mut_ptr().cast();
            iov.iov_len = slot_len;
            let h = &mut hdr.msg_hdr;
            h.msg_name = (name as *mut RawAddr).cast();
            h.msg_namelen = size_of::<RawAddr>() as libc::socklen_t;
            h.msg_iov = iov;
            h.msg_iovlen = 1;
            h.msg_control = ctrl.0.as_mut_ptr().cast();
            h.msg_controllen = ctrl.0.len() as _;
            h.msg_flags = 0;
            hdr.msg_len = 0;
        }
        let n = loop {
            // SAFETY: every header points at this batch's own name, iovec, data slot and
            // control buffer, each sized by the lengths written just above and all alive and
            // unaliased for the call (we hold `&mut self`); `fd` is borrowed for the call; the
            // null timeout means "no timeout" and MSG_DONTWAIT makes the call non-blocking.
            let rc = unsafe {
                libc::recvmmsg(
                    fd.as_raw_fd(),
                    self.hdrs.as_mut_ptr(),
                    self.hdrs.len() as libc::c_uint,
                    libc::MSG_DONTWAIT,
                    std::ptr::null_mut(),
                )
            };
            if rc >= 0 {
                break rc as usize;
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        };
        for i in 0..n {
            let h = &self.hdrs[i];
            let len = h.msg_len as usize;
            let gro = self.ctrl[i]
                .find(controllen(&h.msg_hdr), libc::SOL_UDP, libc::UDP_GRO)
                .and_then(|d| d.get(..4))
                .map(|d| i32::from_ne_bytes([d[0], d[1], d[2], d[3]]) as usize);
            self.meta.push(Meta {
                from: self.names[i].decode(h.msg_hdr.msg_namelen),
                len: len.min(slot_len),
                segment_len: gro.filter(|&g| g > 0).unwrap_or(len.min(slot_len)),
                truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            });
        }
        Ok(n)
    }

    /// Datagrams from the last [`RecvBatch::recv`] (those with a non-IP source are skipped).
    pub fn iter(&self) -> impl Iterator<Item = Received<'_>> {
        self.meta.iter().enumerate().filter_map(|(i, m)| {
            Some(Received {
                from: m.from?,
                data: &self.data[i * self.slot_len..i * self.slot_len + m.len],
                segment_len: m.segment_len,
                truncated: m.truncated,
            })
        })
    }

    /// Number of datagrams (receive slots used) from the last call.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }
}
