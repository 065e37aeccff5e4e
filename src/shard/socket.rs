//! One shard's UDP socket: bound with `SO_REUSEPORT` so every shard binds the same address and
//! the kernel spreads peers (by a hash of the 4-tuple) across them; non-blocking; with the
//! receive/send buffer sizes from config, and a report of what the kernel actually granted.
//!
//! Owns socket creation only. Must not read or write datagrams (that is `batch.rs`) or know
//! about SRT. A peer's datagrams always hash to the same socket as long as the set of sockets
//! does not change, which is what keeps every SRT connection on one shard.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// What to bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpSocketConfig {
    pub addr: SocketAddr,
    /// `SO_RCVBUF` request in bytes; 0 keeps the kernel default (`net.core.rmem_default`).
    pub recv_buffer_bytes: usize,
    /// `SO_SNDBUF` request in bytes; 0 keeps the kernel default (`net.core.wmem_default`).
    pub send_buffer_bytes: usize,
    /// `SO_REUSEPORT`: required when several shards bind one address.
    pub reuse_port: bool,
}

/// Requested and granted socket buffer sizes.
///
/// `*_granted` is what the kernel honoured, in the same unit as the request: Linux stores (and
/// `getsockopt` returns) twice the value it accepted to cover per-packet bookkeeping
/// (socket(7)), so the granted value is the read-back divided by two. A request above
/// `net.core.rmem_max` / `wmem_max` is silently clamped to it; without `CAP_NET_ADMIN` and
/// `SO_RCVBUFFORCE` the only fix is the sysctl.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferGrant {
    pub recv_requested: usize,
    pub recv_granted: usize,
    pub send_requested: usize,
    pub send_granted: usize,
}

impl BufferGrant {
    /// The kernel gave less receive buffer than asked: raise `net.core.rmem_max`.
    pub fn is_recv_clamped(&self) -> bool {
        self.recv_granted < self.recv_requested
    }

    /// The kernel gave less send buffer than asked: raise `net.core.wmem_max`.
    pub fn is_send_clamped(&self) -> bool {
        self.send_granted < self.send_requested
    }
}

/// A bound, non-blocking UDP socket and what the kernel granted. A std socket so it lends its
/// fd (`AsFd`) to the batched syscalls in `batch`; it moves into `glommio::net::UdpSocket`
/// through `socket2::Socket::from` (glommio 0.9 takes the same socket2 0.4), all safe code.
#[derive(Debug)]
pub struct BoundUdp {
    pub socket: std::net::UdpSocket,
    /// The bound address, with the actual port when `addr` had port 0.
    pub local_addr: SocketAddr,
    pub buffers: BufferGrant,
}

/// Binds a UDP socket per `cfg`. IPv6 sockets are v6-only so an IPv4 listener on the same port
/// is a separate socket (and `[::]` does not silently accept v4-mapped peers). Logs (debug)
/// the sysctl when a buffer request was clamped.
pub fn bind_udp(cfg: &UdpSocketConfig) -> io::Result<BoundUdp> {
    let domain = Domain::for_address(cfg.addr);
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
    if cfg.addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if cfg.reuse_port {
        socket.set_reuse_port(true)?;
    }
    // Buffers before bind: a reuseport group member may receive as soon as it is bound.
    if cfg.recv_buffer_bytes > 0 {
        socket.set_recv_buffer_size(cfg.recv_buffer_bytes)?;
    }
    if cfg.send_buffer_bytes > 0 {
        socket.set_send_buffer_size(cfg.send_buffer_bytes)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&SockAddr::from(cfg.addr))?;
    let local_addr = socket
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("bound UDP socket has a non-IP local address"))?;

    let recv_granted = socket.recv_buffer_size()? / 2;
    let send_granted = socket.send_buffer_size()? / 2;
    let buffers = BufferGrant {
        // A 0 request means "kernel default": whatever was granted is what was asked for.
        recv_requested: if cfg.recv_buffer_bytes == 0 {
            recv_granted
        } else {
            cfg.recv_buffer_bytes
        },
        recv_granted,
        send_requested: if cfg.send_buffer_bytes == 0 {
            send_granted
        } else {
            cfg.send_buffer_bytes
        },
        send_granted,
    };
    if buffers.is_recv_clamped() {
        warn_clamped(
            local_addr,
            "SO_RCVBUF",
            buffers.recv_requested,
            buffers.recv_granted,
            "rmem_max",
        );
    }
    if buffers.is_send_clamped() {
        warn_clamped(
            local_addr,
            "SO_SNDBUF",
            buffers.send_requested,
            buffers.send_granted,
            "wmem_max",
        );
    }
    Ok(BoundUdp {
        socket: socket.into(),
        local_addr,
        buffers,
    })
}

/// Binds `count` sockets to the same address with `SO_REUSEPORT`, one per shard. When
/// `cfg.addr` has port 0 the first socket picks the port and the rest join it.
pub fn bind_reuseport_group(cfg: &UdpSocketConfig, count: usize) -> io::Result<Vec<BoundUdp>> {
    let mut cfg = UdpSocketConfig {
        reuse_port: true,
        ..*cfg
    };
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let bound = bind_udp(&cfg)?;
        cfg.addr = bound.local_addr;
        out.push(bound);
    }
    Ok(out)
}

/// The kernel granted less than asked: say which sysctl caps it.
fn warn_clamped(
    local_addr: SocketAddr,
    option: &str,
    requested: impl std::fmt::Display,
    granted: impl std::fmt::Display,
    sysctl: &str,
) {
    // Debug only: every shard socket hits the same cap, and the start-up block
    // (`service::firstrun`) says once, at info, which sysctl values to apply.
    log::debug!(
        "udp {local_addr}: {option} {requested} bytes requested, kernel granted {granted} \
         (net.core.{sysctl} = {}); raise it with sysctl -w net.core.{sysctl}={requested}",
        read_sysctl(&format!("net/core/{sysctl}"))
    );
}

/// A `/proc/sys` value for a log message; "unknown" when unreadable (e.g. in a container).
fn read_sysctl(path: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{path}"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::sys::poll_readable;
    use std::net::{Ipv4Addr, Ipv6Addr, UdpSocket};
    use std::os::fd::AsFd;
    use std::time::{Duration, Instant};

    fn cfg(addr: SocketAddr) -> UdpSocketConfig {
        UdpSocketConfig {
            addr,
            recv_buffer_bytes: 0,
            send_buffer_bytes: 0,
            reuse_port: true,
        }
    }

    #[test]
    fn grants_a_small_request_exactly_and_reports_the_clamp_above_rmem_max() {
        let small = bind_udp(&UdpSocketConfig {
            recv_buffer_bytes: 256 * 1024,
            send_buffer_bytes: 128 * 1024,
            ..cfg((Ipv4Addr::LOCALHOST, 0).into())
        })
        .unwrap();
        assert_eq!(small.buffers.recv_granted, 256 * 1024);
        assert_eq!(small.buffers.send_granted, 128 * 1024);
        assert!(!small.buffers.is_recv_clamped() && !small.buffers.is_send_clamped());

        let rmem_max: usize = read_sysctl("net/core/rmem_max").parse().unwrap();
        let huge = bind_udp(&UdpSocketConfig {
            recv_buffer_bytes: rmem_max * 4,
            ..cfg((Ipv4Addr::LOCALHOST, 0).into())
        })
        .unwrap();
        assert_eq!(huge.buffers.recv_granted, rmem_max);
        assert!(huge.buffers.is_recv_clamped());
    }

    #[test]
    fn binds_nonblocking_v6_only() {
        let b = bind_udp(&cfg((Ipv6Addr::LOCALHOST, 0).into())).unwrap();
        assert!(b.local_addr.is_ipv6() && b.local_addr.port() != 0);
        let v6only =
            crate::shard::sys::int_option(b.socket.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_V6ONLY);
        assert_eq!(v6only.unwrap(), 1);
        let err = b.socket.recv_from(&mut [0; 8]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn without_reuseport_a_second_bind_fails() {
        let a = bind_udp(&UdpSocketConfig {
            reuse_port: false,
            ..cfg((Ipv4Addr::LOCALHOST, 0).into())
        })
        .unwrap();
        let err = bind_udp(&UdpSocketConfig {
            reuse_port: false,
            ..cfg(a.local_addr)
        })
        .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    }

    /// The kernel's reuseport hash spreads flows (source ports) over every socket in the group,
    /// and each flow sticks to one socket.
    #[test]
    fn reuseport_group_spreads_flows_over_every_socket() {
        const SOCKETS: usize = 4;
        const FLOWS: usize = 64;
        const PER_FLOW: usize = 3;
        let group = bind_reuseport_group(&cfg((Ipv4Addr::LOCALHOST, 0).into()), SOCKETS).unwrap();
        let addr = group[0].local_addr;
        assert!(group.iter().all(|b| b.local_addr == addr));

        let clients: Vec<UdpSocket> = (0..FLOWS)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for round in 0..PER_FLOW {
            for c in &clients {
                c.send_to(&[round as u8], addr).unwrap();
            }
        }

        // socket index that received each client's datagrams
        let mut owner: std::collections::HashMap<SocketAddr, Vec<usize>> = Default::default();
        let mut received = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 16];
        while received < FLOWS * PER_FLOW && Instant::now() < deadline {
            let fds: Vec<_> = group.iter().map(|b| b.socket.as_fd()).collect();
            poll_readable(&fds, Some(Duration::from_millis(100))).unwrap();
            for (i, b) in group.iter().enumerate() {
                while let Ok((_, from)) = b.socket.recv_from(&mut buf) {
                    owner.entry(from).or_default().push(i);
                    received += 1;
                }
            }
        }
        assert_eq!(received, FLOWS * PER_FLOW);
        assert_eq!(owner.len(), FLOWS);
        // Every flow stayed on one socket.
        assert!(owner.values().all(|v| v.iter().all(|&i| i == v[0])));
        // Every socket got some flows: 64 flows over 4 sockets leave one empty with
        // probability 4 * (3/4)^64, about 4e-8.
        let mut per_socket = [0usize; SOCKETS];
        for v in owner.values() {
            per_socket[v[0]] += 1;
        }
        assert!(per_socket.iter().all(|&n| n > 0), "{per_socket:?}");
    }
}
