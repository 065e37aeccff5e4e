//! `sendmmsg` from a preallocated arena, coalescing runs of equal-size datagrams to one peer
//! into UDP GSO messages.
//!
//! Datagrams are written straight into the arena ([`SendBatch::spare`] then
//! [`SendBatch::commit`], so `poll_transmit` can fill it without a copy) and remembered as
//! messages `(offset, length, segment size, destination)`. A datagram to the same destination
//! as the previous one, no longer than its segments, and while that message's last segment is
//! full, extends it: the kernel then cuts one super-packet into segments (the last may be
//! shorter, the kernel's own rule). Flushing sends every pending message with as few
//! `sendmmsg` calls as the kernel allows.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};

use super::{CmsgSpace, MAX_GSO_BYTES, MAX_GSO_SEGMENTS, MAX_MMSG, RawAddr, empty_mmsghdr};

/// A preallocated send batch. `!Send` for the same reason as `RecvBatch`.
pub struct SendBatch {
    arena: Vec<u8>,
    /// Arena bytes in use (by pending messages and the ones before `head` until compaction).
    used: usize,
    max_datagram: usize,
    msgs: Vec<Msg>,
    /// Segments one message may hold; 1 = GSO off.
    gso_segments: usize,
    gso_failed: bool,
    // Scratch for one sendmmsg call; `pub(super)` so tests can inspect what was built.
    pub(super) iovs: Vec<libc::iovec>,
    pub(super) ctrl: Vec<CmsgSpace>,
    pub(super) hdrs: Vec<libc::mmsghdr>,
}

/// The arena has no room for another datagram: flush (or drop and count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("send batch full")]
pub struct BatchFull;

/// What one [`SendBatch::flush`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    /// Datagrams the kernel accepted (a GSO message counts each segment).
    pub datagrams: usize,
    /// `sendmmsg` messages accepted (a GSO message counts once).
    pub messages: usize,
    pub syscalls: usize,
    /// Datagrams dropped because the kernel refused their message (unreachable destination,
    /// bad address, too large); the error of the last one is in `last_error`.
    pub dropped: usize,
    pub last_error: Option<io::ErrorKind>,
    /// The socket buffer is full (`EAGAIN`/`ENOBUFS`): the rest stays queued for the next flush.
    pub blocked: bool,
}

#[derive(Clone, Copy)]
struct Msg {
    off: usize,
    len: usize,
    /// Segment size; equal to `len` for a plain datagram.
    seg: usize,
    dest: SocketAddr,
    raw: RawAddr,
    raw_len: libc::socklen_t,
}

impl Msg {
    fn segments(&self) -> usize {
        if self.seg == 0 {
            1
        } else {
            self.len.div_ceil(self.seg)
        }
    }

    fn is_gso(&self) -> bool {
        self.len > self.seg
    }
}

impl SendBatch {
    /// Room for `capacity` datagrams of up to `max_datagram` bytes, coalescing up to
    /// `gso_segments` per GSO message (from [`super::probe_gso`]; 1 disables GSO, values are
    /// capped at [`MAX_GSO_SEGMENTS`]).
    pub fn new(capacity: usize, max_datagram: usize, gso_segments: usize) -> Self {
        let capacity = capacity.max(1);
        let slots = capacity.min(MAX_MMSG);
        SendBatch {
            arena: vec![0; capacity * max_datagram],
            used: 0,
            max_datagram,
            msgs: Vec::with_capacity(capacity),
            gso_segments: gso_segments.clamp(1, MAX_GSO_SEGMENTS),
            gso_failed: false,
            iovs: vec![
                libc::iovec {
                    iov_base: std::ptr::null_mut(),
                    iov_len: 0,
                };
                slots
            ],
            ctrl: vec![CmsgSpace::ZERO; slots],
            hdrs: (0..slots).map(|_| empty_mmsghdr()).collect(),
        }
    }

    /// Segments per GSO message now in force (1 after a device refused GSO with `EIO`).
    pub fn gso_segments(&self) -> usize {
        self.gso_segments
    }

    /// Whether a GSO send failed with `EIO` and this batch fell back to plain datagrams.
    pub fn gso_failed(&self) -> bool {
        self.gso_failed
    }

    /// Writable room for the next datagram (`max_datagram` bytes), or `None` when full.
    pub fn spare(&mut self) -> Option<&mut [u8]> {
        let end = self.used + self.max_datagram;
        if end > self.arena.len() || self.msgs.len() == self.msgs.capacity() {
            return None;
        }
        Some(&mut self.arena[self.used..end])
    }

    /// Queues the first `len` bytes written into [`SendBatch::spare`] for `dest`.
    ///
    /// # Panics
    /// If there was no spare room or `len` exceeds it: a caller bug, never peer input.
    pub fn commit(&mut self, dest: SocketAddr, len: usize) {
        assert!(
            len <= self.max_datagram && self.used + self.max_datagram <= self.arena.len(),
            "commit of {len} bytes without spare room (max_datagram {})",
            self.max_datagram
        );
        if let Some(last) = self.msgs.last_mut() {
            let can_extend = self.gso_segments > 1
                && len > 0
                && last.seg > 0
                && last.dest == dest
                && last.len % last.seg == 0
                && len <= last.seg
                && last.segments() < self.gso_segments
                && last.len + len <= MAX_GSO_BYTES
                && last.off + last.len == self.used;
            if can_extend {
                last.len += len;
                self.used += len;
                return;
            }
        }
        let (raw, raw_len) = RawAddr::encode(&dest);
        self.msgs.push(Msg {
            off: self.used,
            len,
            seg: len,
            dest,
            raw,
            raw_len,
        });
        self.used += len;
    }

    /// Copies `payload` in and queues it for `dest`.
    pub fn push(&mut self, dest: SocketAddr, payload: &[u8]) -> Result<(), BatchFull> {
        let spare = self.spare().ok_or(BatchFull)?;
        let room = spare.len();
        let dst = spare.get_mut(..payload.len()).ok_or(BatchFull)?;
        dst.copy_from_slice(payload);
        debug_assert!(payload.len() <= room);
        self.commit(dest, payload.len());
        Ok(())
    }

    /// Pending `sendmmsg` messages (a GSO run counts once).
    pub fn pending_messages(&self) -> usize {
        self.msgs.len()
    }

    /// Pending datagrams (each GSO segment counts).
    pub fn pending_datagrams(&self) -> usize {
        self.msgs.iter().map(Msg::segments).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.msgs.is_empty()
    }

    /// Drops everything pending.
    pub fn clear(&mut self) {
        self.msgs.clear();
        self.used = 0;
    }

    /// Sends everything pending on non-blocking `fd`. Stops early only when the socket is full
    /// (`blocked`); per-message errors drop that message and go on. `Err` only for errors that
    /// concern the socket itself (`EBADF`, `ENOTSOCK`, `EFAULT`), with the batch left as is.
    pub fn flush(&mut self, fd: BorrowedFd<'_>) -> io::Result<Flushed> {
        let fd = fd.as_raw_fd();
        self.flush_with(|hdrs| {
            // SAFETY: `hdrs` was built by `flush_with` from this batch's arena, messages and
            // control buffers, which stay alive and unmoved for the call (`&mut self` is held
            // and nothing is pushed during a flush); `fd` is borrowed by our caller for the
            // duration; MSG_DONTWAIT keeps the call non-blocking.
            let rc = unsafe {
                libc::sendmmsg(
                    fd,
                    hdrs.as_mut_ptr(),
                    hdrs.len() as libc::c_uint,
                    libc::MSG_DONTWAIT,
                )
            };
            if rc < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(rc as usize)
            }
        })
    }

    /// [`SendBatch::flush`] over any `sendmmsg`-shaped function (tests inject failures).
    pub(super) fn flush_with(
        &mut self,
        mut sendmmsg: impl FnMut(&mut [libc::mmsghdr]) -> io::Result<usize>,
    ) -> io::Result<Flushed> {
        let mut out = Flushed::default();
        let mut head = 0;
        while head < self.msgs.len() {
            if self.gso_segments == 1 && self.msgs[head].is_gso() {
                self.split_message(head);
            }
            let k = self.build_headers(head);
            out.syscalls += 1;
            match sendmmsg(&mut self.hdrs[..k]) {
                Ok(sent) => {
                    // 0 cannot happen for k > 0; treat it like a full socket rather than spin.
                    if sent == 0 {
                        out.blocked = true;
                        break;
                    }
                    let sent = sent.min(k);
                    out.messages += sent;
                    out.datagrams += self.msgs[head..head + sent]
                        .iter()
                        .map(Msg::segments)
                        .sum::<usize>();
                    head += sent;
                }
                Err(e) => {
                    // Nothing was sent: the error belongs to msgs[head].
                    let code = e.raw_os_error().unwrap_or(0);
                    match code {
                        libc::EINTR => {}
                        libc::EAGAIN | libc::ENOBUFS => {
                            out.blocked = true;
                            break;
                        }
                        libc::EBADF | libc::ENOTSOCK | libc::EFAULT => {
                            self.compact(head);
                            return Err(e);
                        }
                        // The device cannot checksum-offload, so it cannot do GSO at all
                        // (udp_send_skb): stop coalescing and resend this run as datagrams.
                        libc::EIO if self.msgs[head].is_gso() => {
                            log::warn!("UDP GSO refused by the device (EIO); sending datagrams");
                            self.gso_segments = 1;
                            self.gso_failed = true;
                        }
                        // This run broke a GSO limit (segment vs path MTU, count); split only it.
                        libc::EINVAL | libc::EMSGSIZE if self.msgs[head].is_gso() => {
                            self.split_message(head);
                        }
                        _ => {
                            out.dropped += self.msgs[head].segments();
                            out.last_error = Some(e.kind());
                            head += 1;
                        }
                    }
                }
            }
        }
        self.compact(head);
        Ok(out)
    }

    /// Fills `hdrs` for up to `hdrs.len()` messages from `head`; returns how many.
    pub(super) fn build_headers(&mut self, head: usize) -> usize {
        let k = (self.msgs.len() - head).min(self.hdrs.len());
        for i in 0..k {
            let m = &mut self.msgs[head + i];
            let iov = &mut self.iovs[i];
            // The kernel only reads through this pointer; iovec has no const variant.
            iov.iov_base = self.arena[m.off..m.off + m.len].as_mut_ptr().cast();
            iov.iov_len = m.len;
            let h = &mut self.hdrs[i].msg_hdr;
            h.msg_name = (&mut m.raw as *mut RawAddr).cast();
            h.msg_namelen = m.raw_len;
            h.msg_iov = iov;
            h.msg_iovlen = 1;
            h.msg_flags = 0;
            if m.is_gso() {
                // Segment sizes fit u16: the kernel's gso_size is u16 and max_datagram is a
                // single UDP datagram.
                let seg = u16::try_from(m.seg).unwrap_or(u16::MAX);
                let ctrl = &mut self.ctrl[i];
                let n = ctrl.write_one(libc::SOL_UDP, libc::UDP_SEGMENT, &seg.to_ne_bytes());
                h.msg_control = ctrl.0.as_mut_ptr().cast();
                h.msg_controllen = n as _;
            } else {
                h.msg_control = std::ptr::null_mut();
                h.msg_controllen = 0;
            }
            self.hdrs[i].msg_len = 0;
        }
        k
    }

    /// Replaces GSO message `i` by its individual segments (same arena bytes).
    fn split_message(&mut self, i: usize) {
        let m = self.msgs[i];
        let parts = (0..m.segments()).map(|s| Msg {
            off: m.off + s * m.seg,
            len: m.seg.min(m.len - s * m.seg),
            seg: m.seg.min(m.len - s * m.seg),
            ..m
        });
        self.msgs.splice(i..=i, parts);
    }

    /// Forgets the messages before `head`; reclaims the arena once nothing is pending.
    fn compact(&mut self, head: usize) {
        self.msgs.drain(..head);
        if self.msgs.is_empty() {
            self.used = 0;
        }
    }
}
