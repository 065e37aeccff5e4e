//! TCP listeners for the shards (the players' HTTP listener): one socket per shard on the same
//! address with `SO_REUSEPORT`, so the kernel spreads connections over the shards as it does
//! SRT callers. Bound before any shard starts, like the UDP sockets, so a taken port fails the
//! start-up and port 0 (tests) gives every shard the same port.

use std::io;
use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

/// Pending connections per shard socket before the kernel refuses more (`somaxconn` caps it).
const BACKLOG: i32 = 1024;

/// Binds `count` listening sockets to `addr` with `SO_REUSEPORT`.
pub fn bind_tcp_group(addr: SocketAddr, count: usize) -> io::Result<Vec<TcpListener>> {
    let mut addr = addr;
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let domain = if addr.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let s = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_port(true)?;
        // A restart must not wait for the last run's connections in TIME_WAIT.
        s.set_reuse_address(true)?;
        s.set_nonblocking(true)?;
        s.bind(&addr.into())?;
        s.listen(BACKLOG)?;
        let l: TcpListener = s.into();
        addr = l.local_addr()?;
        out.push(l);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_shares_one_port_chosen_by_the_first() {
        let g = bind_tcp_group("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let port = g[0].local_addr().unwrap().port();
        assert_ne!(port, 0);
        assert!(g.iter().all(|l| l.local_addr().unwrap().port() == port));
    }
}
