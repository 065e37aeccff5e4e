//! One shard's UDP socket: bound with `SO_REUSEPORT` so every shard binds the same address and
//! the kernel spreads peers (by a hash of the 4-tuple) across them; non-blocking; with the
//! receive/send buffer sizes from config, and a report of what the kernel actually granted.
//!
//! Also the start-up probe that refuses a port another process holds (`probe_udp_port`), and
//! who that process is (`/proc/net/udp{,6}` and `/proc/*/fd`).
//!
//! Owns socket creation only. Must not read or write datagrams (that is `batch.rs`) or know
//! about SRT. A peer's datagrams always hash to the same socket as long as the set of sockets
//! does not change, which is what keeps every SRT connection on one shard.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

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

/// Another process holds a UDP address the relay is configured to listen on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "UDP {addr} is in use by another process{}; refusing to share it (SO_REUSEPORT would let \
     the kernel split live connections between the two)",
    holders_text(.holders)
)]
pub struct PortInUse {
    pub addr: SocketAddr,
    /// Who holds it, when `/proc` tells (it may not: another user's process, a container).
    pub holders: Vec<PortHolder>,
}

/// A process with a socket bound to the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortHolder {
    pub pid: u32,
    /// `/proc/<pid>/comm`.
    pub comm: String,
}

/// Before the `SO_REUSEPORT` group binds: a plain bind (no `SO_REUSEPORT`, no `SO_REUSEADDR`)
/// fails with `EADDRINUSE` whenever anything holds `addr`, even a socket that itself set
/// `SO_REUSEPORT`, which the group's own bind would silently join. Port 0 is skipped (the
/// kernel picks a free one). Other bind errors are left to the real bind, which reports them.
/// The probe socket is closed again at once.
pub fn probe_udp_port(addr: SocketAddr) -> Result<(), PortInUse> {
    if addr.port() == 0 {
        return Ok(());
    }
    match std::net::UdpSocket::bind(addr) {
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => Err(PortInUse {
            addr,
            holders: udp_port_holders(addr, Path::new("/proc")),
        }),
        _ => Ok(()),
    }
}

/// At most this many holders are named (a port shared by a whole group of processes).
const MAX_HOLDERS: usize = 4;

/// Processes with a UDP socket on `addr` (or on an address overlapping it), from
/// `<proc>/net/udp{,6}` (socket inodes) and `<proc>/*/fd` (which process has them). Best
/// effort: unreadable entries are skipped.
pub fn udp_port_holders(addr: SocketAddr, proc_root: &Path) -> Vec<PortHolder> {
    let mut inodes = Vec::new();
    for table in ["net/udp", "net/udp6"] {
        if let Ok(text) = std::fs::read_to_string(proc_root.join(table)) {
            inodes.extend(udp_inodes(&text, addr));
        }
    }
    if inodes.is_empty() {
        return Vec::new();
    }
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let mut holders = Vec::new();
    let Ok(procs) = std::fs::read_dir(proc_root) else {
        return holders;
    };
    for entry in procs.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            std::fs::read_link(fd.path())
                .is_ok_and(|target| wanted.iter().any(|w| target.as_os_str() == w.as_str()))
        });
        if holds {
            let comm = std::fs::read_to_string(entry.path().join("comm"))
                .map(|c| c.trim().to_string())
                .unwrap_or_default();
            holders.push(PortHolder { pid, comm });
            if holders.len() >= MAX_HOLDERS {
                break;
            }
        }
    }
    holders.sort_by_key(|h| h.pid);
    holders
}

/// Socket inodes in a `/proc/net/udp` or `udp6` table bound to an address overlapping `addr`
/// on its port: the same address, or either side the wildcard (v4-mapped v6 counts as v4).
fn udp_inodes(table: &str, addr: SocketAddr) -> Vec<u64> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let local = parse_proc_addr(cols.get(1)?)?;
            let inode = cols.get(9)?.parse::<u64>().ok()?;
            (local.port() == addr.port() && overlaps(local.ip(), addr.ip())).then_some(inode)
        })
        .collect()
}

/// `0100007F:270F` (IPv4) or 32 hex digits and a port (IPv6): each 32-bit word printed as a
/// host-order number of the network-order bytes, the port as a plain number.
fn parse_proc_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| -> Option<[u8; 4]> {
        let w = u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok()?;
        Some(w.to_ne_bytes())
    };
    let ip = match ip.len() {
        8 => IpAddr::from(word(0)?),
        32 => {
            let mut b = [0u8; 16];
            for i in 0..4 {
                b[i * 4..i * 4 + 4].copy_from_slice(&word(i)?);
            }
            IpAddr::from(b)
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    let (a, b) = (a.to_canonical(), b.to_canonical());
    a == b || a.is_unspecified() || b.is_unspecified()
}

fn holders_text(holders: &[PortHolder]) -> String {
    if holders.is_empty() {
        return String::new();
    }
    let list: Vec<String> = holders
        .iter()
        .map(|h| format!("pid {} ({})", h.pid, h.comm))
        .collect();
    format!(": {}", list.join(", "))
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

    #[test]
    fn proc_net_udp_addresses_parse_and_match_overlapping_binds() {
        let v4 = parse_proc_addr("0100007F:270F").expect("v4");
        assert_eq!(v4, "127.0.0.1:9999".parse().unwrap());
        let any6 = parse_proc_addr("00000000000000000000000000000000:270F").expect("v6");
        assert_eq!(any6, "[::]:9999".parse().unwrap());
        let lo6 = parse_proc_addr("00000000000000000000000001000000:0050").expect("v6");
        assert_eq!(lo6, "[::1]:80".parse().unwrap());
        assert_eq!(parse_proc_addr("zz:1"), None);
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
            1: 0100007F:270F 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4242 2 0000000000000000 0\n\
            2: 00000000:270F 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4343 2 0000000000000000 0\n\
            3: 0200007F:270F 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4444 2 0000000000000000 0\n\
            4: 0100007F:2710 00000000:0000 07 00000000:00000000 00:00000000 00000000  1000        0 4545 2 0000000000000000 0\n";
        // 127.0.0.1:9999 meets itself and the wildcard, not 127.0.0.2 or another port.
        assert_eq!(
            udp_inodes(table, "127.0.0.1:9999".parse().unwrap()),
            vec![4242, 4343]
        );
        // The wildcard meets every address on the port.
        assert_eq!(
            udp_inodes(table, "0.0.0.0:9999".parse().unwrap()),
            vec![4242, 4343, 4444]
        );
    }

    #[test]
    fn a_held_port_is_refused_naming_this_process() {
        // A holder with SO_REUSEPORT, as a running relay's shards are: the probe must still
        // see it (a second SO_REUSEPORT bind would have joined it silently).
        let held = bind_udp(&cfg((Ipv4Addr::LOCALHOST, 0).into())).unwrap();
        let err = probe_udp_port(held.local_addr).expect_err("held");
        assert_eq!(err.addr, held.local_addr);
        let me = std::process::id();
        assert!(
            err.holders.iter().any(|h| h.pid == me),
            "{err} (holders {:?})",
            err.holders
        );
        let text = err.to_string();
        assert!(text.contains(&held.local_addr.to_string()) && text.contains("in use"));
        assert!(text.contains(&format!("pid {me}")), "{text}");
        // Free again once the holder is gone; port 0 is never probed.
        let addr = held.local_addr;
        drop(held);
        assert_eq!(probe_udp_port(addr), Ok(()));
        assert_eq!(probe_udp_port((Ipv4Addr::LOCALHOST, 0).into()), Ok(()));
    }
}
