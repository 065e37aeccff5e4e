//! Loopback round trips through the real syscalls, and `flush_with` over a fake `sendmmsg` for
//! the paths loopback cannot produce (`EAGAIN`: lo frees send memory at once; `EIO` from a
//! device without GSO).

use super::*;
use crate::shard::sys::poll_readable;
use std::net::UdpSocket;
use std::os::fd::AsFd;
use std::time::Duration;

fn udp(addr: &str) -> UdpSocket {
    let s = UdpSocket::bind(addr).unwrap();
    s.set_nonblocking(true).unwrap();
    s
}

/// Receives until `n` datagrams (GRO segments split) arrived on `s`, with `slot_len` slots.
fn recv_n(s: &UdpSocket, n: usize, slot_len: usize) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut batch = RecvBatch::new(16, slot_len);
    let mut out = Vec::new();
    while out.len() < n {
        let ready = poll_readable(&[s.as_fd()], Some(Duration::from_secs(5))).unwrap();
        assert!(ready[0], "timed out with {} of {n} datagrams", out.len());
        match batch.recv(s.as_fd()) {
            Ok(_) => {
                for r in batch.iter() {
                    out.extend(r.segments().map(|d| (r.from, d.to_vec())));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("{e}"),
        }
    }
    out
}

fn payload(tag: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| tag.wrapping_add(i as u8)).collect()
}

#[test]
fn datagrams_of_several_sizes_reach_their_own_destinations() {
    let (tx, a, b) = (udp("127.0.0.1:0"), udp("127.0.0.1:0"), udp("127.0.0.1:0"));
    let (aa, ba) = (a.local_addr().unwrap(), b.local_addr().unwrap());
    let mut batch = SendBatch::new(8, 1500, 1);
    for (dest, tag, len) in [(aa, 1, 1), (ba, 2, 1316), (aa, 3, 1500), (ba, 4, 0)] {
        batch.push(dest, &payload(tag, len)).unwrap();
    }
    let f = batch.flush(tx.as_fd()).unwrap();
    assert_eq!(
        (f.datagrams, f.messages, f.syscalls, f.dropped),
        (4, 4, 1, 0)
    );
    assert!(batch.is_empty());
    let from = tx.local_addr().unwrap();
    let got_a = recv_n(&a, 2, 2048);
    assert_eq!(got_a, vec![(from, payload(1, 1)), (from, payload(3, 1500))]);
    let got_b = recv_n(&b, 2, 2048);
    assert_eq!(got_b, vec![(from, payload(2, 1316)), (from, vec![])]);
}

#[test]
fn ipv6_round_trip() {
    let (tx, rx) = (udp("[::1]:0"), udp("[::1]:0"));
    let mut batch = SendBatch::new(4, 1500, MAX_GSO_SEGMENTS);
    batch
        .push(rx.local_addr().unwrap(), &payload(7, 1316))
        .unwrap();
    batch
        .push(rx.local_addr().unwrap(), &payload(8, 1316))
        .unwrap();
    assert_eq!(batch.flush(tx.as_fd()).unwrap().datagrams, 2);
    let got = recv_n(&rx, 2, 2048);
    assert_eq!(got[0], (tx.local_addr().unwrap(), payload(7, 1316)));
    assert_eq!(got[1].1, payload(8, 1316));
}

#[test]
fn gso_run_is_one_message_and_arrives_as_separate_datagrams() {
    let (tx, rx) = (udp("127.0.0.1:0"), udp("127.0.0.1:0"));
    assert_eq!(
        probe_gso(tx.as_fd()),
        MAX_GSO_SEGMENTS,
        "kernel without UDP_SEGMENT"
    );
    let dest = rx.local_addr().unwrap();
    let mut batch = SendBatch::new(16, 1500, MAX_GSO_SEGMENTS);
    for tag in 0..5 {
        batch.push(dest, &payload(tag, 1316)).unwrap();
    }
    batch.push(dest, &payload(9, 100)).unwrap(); // shorter last segment: still the same run
    assert_eq!(
        (batch.pending_messages(), batch.pending_datagrams()),
        (1, 6)
    );
    let f = batch.flush(tx.as_fd()).unwrap();
    assert_eq!((f.datagrams, f.messages, f.syscalls), (6, 1, 1));
    let got: Vec<Vec<u8>> = recv_n(&rx, 6, 2048).into_iter().map(|x| x.1).collect();
    let want: Vec<Vec<u8>> = (0..5)
        .map(|t| payload(t, 1316))
        .chain([payload(9, 100)])
        .collect();
    assert_eq!(got, want);
}

#[test]
fn coalescing_rules() {
    let a: SocketAddr = "127.0.0.1:1000".parse().unwrap();
    let b: SocketAddr = "127.0.0.1:1001".parse().unwrap();
    let mut batch = SendBatch::new(32, 1500, 3);
    let sizes = [
        (a, 1316), // msg 1
        (a, 1316),
        (a, 1316), // 3 segments: the cap
        (a, 1316), // msg 2
        (b, 1316), // msg 3: other peer
        (b, 1400), // msg 4: larger than the run's segments
        (b, 1400),
        (b, 50), // short last segment ends the run...
        (b, 50), // msg 5: ...so this starts a new one
        (a, 0),  // msg 6: empty datagrams never coalesce
        (a, 0),  // msg 7
    ];
    for (d, len) in sizes {
        batch.push(d, &vec![0; len]).unwrap();
    }
    assert_eq!(batch.pending_messages(), 7);
    assert_eq!(batch.pending_datagrams(), sizes.len());

    let mut plain = SendBatch::new(8, 1500, 1);
    for _ in 0..4 {
        plain.push(a, &[0; 1316]).unwrap();
    }
    assert_eq!(plain.pending_messages(), 4, "GSO off: no coalescing");
}

#[test]
fn gro_receive_splits_a_coalesced_read() {
    let (tx, rx) = (udp("127.0.0.1:0"), udp("127.0.0.1:0"));
    enable_gro(rx.as_fd()).unwrap();
    let dest = rx.local_addr().unwrap();
    let mut batch = SendBatch::new(16, 1500, MAX_GSO_SEGMENTS);
    for tag in 0..8 {
        batch.push(dest, &payload(tag, 1316)).unwrap();
    }
    batch.flush(tx.as_fd()).unwrap();
    poll_readable(&[rx.as_fd()], Some(Duration::from_secs(5))).unwrap();
    let mut rb = RecvBatch::new(4, 65536);
    assert_eq!(
        rb.recv(rx.as_fd()).unwrap(),
        1,
        "loopback hands the GSO skb over whole"
    );
    let r = rb.iter().next().unwrap();
    assert_eq!((r.data.len(), r.segment_len), (8 * 1316, 1316));
    let segs: Vec<&[u8]> = r.segments().collect();
    assert_eq!(segs.len(), 8);
    assert!(
        segs.iter()
            .enumerate()
            .all(|(t, s)| *s == payload(t as u8, 1316))
    );
}

#[test]
fn refused_message_is_dropped_and_the_rest_still_go() {
    let (tx, rx) = (udp("127.0.0.1:0"), udp("127.0.0.1:0"));
    let dest = rx.local_addr().unwrap();
    let port_zero: SocketAddr = "127.0.0.1:0".parse().unwrap(); // udp_sendmsg: EINVAL
    let v6: SocketAddr = "[::1]:9".parse().unwrap(); // wrong family for a v4 socket
    let mut batch = SendBatch::new(8, 1500, 1);
    batch.push(dest, b"one").unwrap();
    batch.push(port_zero, b"bad").unwrap();
    batch.push(dest, b"two").unwrap();
    batch.push(v6, b"bad").unwrap();
    batch.push(dest, b"three").unwrap();
    let f = batch.flush(tx.as_fd()).unwrap();
    // sendmmsg stops at each bad message: 3 good calls + 2 failing ones.
    assert_eq!((f.datagrams, f.dropped, f.syscalls), (3, 2, 5));
    assert!(f.last_error.is_some() && !f.blocked && batch.is_empty());
    let got: Vec<Vec<u8>> = recv_n(&rx, 3, 2048).into_iter().map(|x| x.1).collect();
    assert_eq!(
        got,
        vec![b"one".to_vec(), b"two".to_vec(), b"three".to_vec()]
    );
}

#[test]
fn empty_socket_would_block_and_long_datagrams_are_flagged_truncated() {
    let (tx, rx) = (udp("127.0.0.1:0"), udp("127.0.0.1:0"));
    let mut rb = RecvBatch::new(4, 100);
    let err = rb.recv(rx.as_fd()).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    tx.send_to(&[5; 300], rx.local_addr().unwrap()).unwrap();
    poll_readable(&[rx.as_fd()], Some(Duration::from_secs(5))).unwrap();
    assert_eq!(rb.recv(rx.as_fd()).unwrap(), 1);
    let r = rb.iter().next().unwrap();
    assert!(r.truncated);
    assert_eq!(r.data, &[5; 100][..]);
}

#[test]
fn batch_full_and_spare_commit() {
    let d: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut batch = SendBatch::new(2, 100, 1);
    let spare = batch.spare().unwrap();
    assert_eq!(spare.len(), 100);
    spare[..3].copy_from_slice(b"abc");
    batch.commit(d, 3);
    batch.push(d, &[1; 100]).unwrap();
    assert!(batch.spare().is_none());
    assert_eq!(batch.push(d, b"x"), Err(BatchFull));
    assert_eq!(SendBatch::new(2, 100, 1).push(d, &[0; 101]), Err(BatchFull));
    batch.clear();
    assert!(batch.spare().is_some());
}

fn err(code: i32) -> io::Result<usize> {
    Err(io::Error::from_raw_os_error(code))
}

/// The segment size in a header's `UDP_SEGMENT` cmsg, if any, read back via `CmsgSpace`.
fn header_segment(batch: &SendBatch, i: usize, h: &libc::mmsghdr) -> Option<u16> {
    if h.msg_hdr.msg_controllen == 0 {
        return None;
    }
    let d = batch.ctrl[i].find(controllen(&h.msg_hdr), libc::SOL_UDP, libc::UDP_SEGMENT)?;
    Some(u16::from_ne_bytes([d[0], d[1]]))
}

#[test]
fn eagain_keeps_the_rest_queued_and_a_later_flush_sends_it() {
    let d: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut batch = SendBatch::new(4, 100, 1);
    for i in 0..4 {
        batch.push(d, &[i; 100]).unwrap();
    }
    let mut calls = 0;
    let f = batch
        .flush_with(|h| {
            calls += 1;
            if calls == 1 {
                Ok(2.min(h.len()))
            } else {
                err(libc::EAGAIN)
            }
        })
        .unwrap();
    assert_eq!((f.messages, f.syscalls, f.blocked), (2, 2, true));
    assert_eq!(batch.pending_datagrams(), 2);
    // Arena not reclaimed while messages are pending, so no new room was made up.
    assert!(batch.spare().is_none());

    let mut first_len = None;
    let f = batch
        .flush_with(|h| {
            first_len = Some(h[0].msg_hdr.msg_iov.is_null());
            Ok(h.len())
        })
        .unwrap();
    assert_eq!((f.messages, f.blocked), (2, false));
    assert_eq!(first_len, Some(false));
    assert!(batch.is_empty() && batch.spare().is_some());
}

#[test]
fn eio_on_gso_falls_back_to_plain_datagrams_for_good() {
    let d: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut batch = SendBatch::new(8, 1500, MAX_GSO_SEGMENTS);
    for _ in 0..3 {
        batch.push(d, &[0; 1316]).unwrap();
    }
    let mut seen: Vec<Vec<Option<u16>>> = Vec::new();
    let f = batch
        .flush_with(|h| {
            seen.push(
                h.iter()
                    .map(|x| (x.msg_hdr.msg_controllen > 0).then_some(0))
                    .collect(),
            );
            if h[0].msg_hdr.msg_controllen > 0 {
                err(libc::EIO)
            } else {
                Ok(h.len())
            }
        })
        .unwrap();
    assert_eq!((f.datagrams, f.messages, f.dropped), (3, 3, 0));
    assert_eq!(seen, vec![vec![Some(0)], vec![None, None, None]]);
    assert!(batch.gso_failed() && batch.gso_segments() == 1);
    batch.push(d, &[0; 1316]).unwrap();
    batch.push(d, &[0; 1316]).unwrap();
    assert_eq!(
        batch.pending_messages(),
        2,
        "no coalescing after the fallback"
    );
}

#[test]
fn einval_on_one_gso_run_splits_only_it_and_eintr_retries() {
    let d: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut batch = SendBatch::new(8, 1500, MAX_GSO_SEGMENTS);
    for _ in 0..2 {
        batch.push(d, &[0; 1316]).unwrap();
    }
    let mut calls = 0;
    let mut segs = Vec::new();
    let f = batch
        .flush_with(|h| {
            calls += 1;
            segs.push(header_segment_raw(h));
            match calls {
                1 => err(libc::EINTR),
                2 => err(libc::EINVAL),
                _ => Ok(h.len()),
            }
        })
        .unwrap();
    assert_eq!((f.datagrams, f.messages, f.syscalls), (2, 2, 3));
    assert_eq!(segs, vec![true, true, false]);
    assert!(!batch.gso_failed() && batch.gso_segments() == MAX_GSO_SEGMENTS);
}

fn header_segment_raw(h: &[libc::mmsghdr]) -> bool {
    h[0].msg_hdr.msg_controllen > 0
}

#[test]
fn segment_cmsg_carries_the_segment_size() {
    let d: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut batch = SendBatch::new(8, 1500, MAX_GSO_SEGMENTS);
    for _ in 0..3 {
        batch.push(d, &[0; 1316]).unwrap();
    }
    batch.build_headers(0);
    let h = batch.hdrs[0];
    assert_eq!(header_segment(&batch, 0, &h), Some(1316));
    assert_eq!(batch.iovs[0].iov_len, 3 * 1316);
}

#[test]
fn fatal_socket_errors_surface_and_keep_the_batch() {
    let d: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut batch = SendBatch::new(4, 100, 1);
    batch.push(d, b"x").unwrap();
    let e = batch.flush_with(|_| err(libc::EBADF)).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EBADF));
    assert_eq!(batch.pending_datagrams(), 1);
}

#[test]
fn more_messages_than_uio_maxiov_take_several_calls() {
    let d: SocketAddr = "127.0.0.1:9".parse().unwrap();
    let mut batch = SendBatch::new(1500, 8, 1);
    for _ in 0..1500 {
        batch.push(d, b"x").unwrap();
    }
    let mut lens = Vec::new();
    let f = batch
        .flush_with(|h| {
            lens.push(h.len());
            Ok(h.len())
        })
        .unwrap();
    assert_eq!(lens, vec![1024, 476]);
    assert_eq!(f.datagrams, 1500);
}

#[test]
fn raw_addr_round_trips_both_families() {
    for s in ["10.1.2.3:4567", "[fe80::1%7]:9", "[::1]:65535", "0.0.0.0:0"] {
        let a: SocketAddr = s.parse().unwrap();
        let (raw, len) = RawAddr::encode(&a);
        assert_eq!(raw.decode(len), Some(a), "{s}");
        assert_eq!(raw.decode(len - 1), None, "short length rejected for {s}");
    }
    assert_eq!(RawAddr::zeroed().decode(28), None);
}

#[test]
fn cmsg_space_finds_what_it_wrote_and_rejects_bad_lengths() {
    let mut c = CmsgSpace::ZERO;
    let n = c.write_one(libc::SOL_UDP, libc::UDP_GRO, &1316i32.to_ne_bytes());
    assert_eq!(n, CMSG_HDR + 8);
    let d = c.find(n, libc::SOL_UDP, libc::UDP_GRO).unwrap();
    assert_eq!(d, &1316i32.to_ne_bytes()[..]);
    assert!(c.find(n, libc::SOL_UDP, libc::UDP_SEGMENT).is_none());
    assert!(c.find(CMSG_HDR - 1, libc::SOL_UDP, libc::UDP_GRO).is_none());
    // A header claiming more bytes than the buffer holds stops the walk.
    c.write_one(libc::SOL_UDP, libc::UDP_GRO, &[0; 40]);
    assert!(c.find(20, libc::SOL_UDP, libc::UDP_GRO).is_none());
}
