//! A shard's UDP socket inside glommio: batched I/O on the raw fd, glommio only for waiting.
//!
//! The choice, and why: glommio's `UdpSocket::send_to`/`recv_from` move one datagram per call
//! (a direct non-blocking syscall first, one io_uring SQE plus a copy into a DMA buffer after
//! `EAGAIN`) and expose no `sendmmsg`, `recvmmsg` or cmsg (so no GSO/GRO). Fan-out needs all
//! three, and glommio has no public "wait until readable" either. So the shard keeps two handles
//! on one socket: a std `UdpSocket` whose fd the batched syscalls in `batch` use directly (they
//! never block: `MSG_DONTWAIT`), and a `dup` of it wrapped as `glommio::net::UdpSocket`, used
//! only to park the executor until a datagram arrives (`peek_from` of one byte, which glommio
//! turns into an io_uring `recvmsg(MSG_PEEK)` when nothing is queued). The peek costs one extra
//! syscall per idle-to-busy transition, not per datagram. Sends never wait: a full socket
//! (`Flushed::blocked`) leaves datagrams queued in the batch for the shard's next turn.
//!
//! Owns nothing but the two handles. Must be created on the shard's executor thread (glommio
//! registers the socket with that thread's reactor).

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, BorrowedFd};

use super::batch::{Flushed, RecvBatch, SendBatch};

pub struct ShardUdp {
    std: UdpSocket,
    glommio: glommio::net::UdpSocket,
}

impl ShardUdp {
    /// Wraps a bound non-blocking socket (from `socket::bind_udp`). Call inside the executor.
    pub fn new(socket: UdpSocket) -> io::Result<Self> {
        socket.set_nonblocking(true)?;
        let dup = socket.try_clone()?;
        Ok(ShardUdp {
            std: socket,
            glommio: glommio::net::UdpSocket::from(socket2::Socket::from(dup)),
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.std.local_addr()
    }

    /// The fd for `batch` syscalls.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.std.as_fd()
    }

    /// Parks this task until a datagram (or a socket error) is queued. Does not consume it.
    pub async fn readable(&self) -> io::Result<()> {
        match self.glommio.peek_from(&mut [0u8; 1]).await {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = io::Error::from(e);
                // A queued ICMP error is "readable" too: the next recv reports and clears it.
                if e.kind() == io::ErrorKind::ConnectionRefused {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// Receives at least one datagram into `batch`, parking the task while none is queued.
    pub async fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        loop {
            match batch.recv(self.fd()) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.readable().await?,
                // ICMP port unreachable from a vanished peer: not this socket's failure.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Sends one datagram on a connected socket without waiting (`WouldBlock` when its
    /// buffer is full).
    pub fn send(&self, datagram: &[u8]) -> io::Result<usize> {
        self.std.send(datagram)
    }

    /// Sends what `batch` holds without waiting (see `SendBatch::flush`).
    pub fn send_batch(&self, batch: &mut SendBatch) -> io::Result<Flushed> {
        batch.flush(self.fd())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::batch::{MAX_GSO_SEGMENTS, probe_gso};
    use crate::shard::executor::{ExecutorConfig, available_cores, start};
    use crate::shard::socket::{UdpSocketConfig, bind_reuseport_group};
    use crate::shard::sys::poll_readable;
    use std::collections::HashSet;
    use std::time::Duration;

    /// The whole pattern on this 2-core machine: two pinned shards, each with its own
    /// SO_REUSEPORT socket on one port, echo what they receive (batched both ways) until
    /// stopped. Clients on many source ports all get their echo, and both shards took part.
    #[test]
    fn two_shards_echo_over_one_reuseport_address() {
        const CLIENTS: usize = 32;
        let cores = available_cores();
        assert!(!cores.is_empty());
        let cfg = ExecutorConfig {
            cores: vec![cores[0], cores[cores.len() - 1]],
            ..ExecutorConfig::default()
        };
        let group = bind_reuseport_group(
            &UdpSocketConfig {
                addr: "127.0.0.1:0".parse().unwrap(),
                recv_buffer_bytes: 1 << 20,
                send_buffer_bytes: 1 << 20,
                reuse_port: true,
            },
            2,
        )
        .unwrap();
        let addr = group[0].local_addr;
        let mut sockets = group.into_iter().map(|b| b.socket);
        let shards = start(&cfg, |_| {
            let socket = sockets.next().expect("one socket per shard");
            move |ctx: crate::shard::executor::ShardContext| async move {
                let udp = ShardUdp::new(socket).unwrap();
                let gso = probe_gso(udp.fd());
                let mut rx = RecvBatch::new(32, 2048);
                let mut tx = SendBatch::new(64, 2048, gso);
                let mut echoed = 0usize;
                loop {
                    let got = futures_lite::future::or(
                        async { Some(udp.recv_batch(&mut rx).await) },
                        async {
                            ctx.stop.wait().await;
                            None
                        },
                    )
                    .await;
                    let Some(got) = got else { break };
                    got.unwrap();
                    for r in rx.iter() {
                        tx.push(r.from, r.data).unwrap();
                    }
                    echoed += udp.send_batch(&mut tx).unwrap().datagrams;
                }
                (ctx.index, echoed, gso)
            }
        })
        .unwrap();

        let clients: Vec<UdpSocket> = (0..CLIENTS)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for (i, c) in clients.iter().enumerate() {
            c.send_to(&[i as u8; 100], addr).unwrap();
        }
        let mut answered = HashSet::new();
        for (i, c) in clients.iter().enumerate() {
            let ready = poll_readable(&[c.as_fd()], Some(Duration::from_secs(10))).unwrap();
            assert!(ready[0], "client {i} got no echo");
            let mut buf = [0u8; 200];
            let (n, from) = c.recv_from(&mut buf).unwrap();
            assert_eq!((n, from, buf[0]), (100, addr, i as u8));
            answered.insert(i);
        }
        assert_eq!(answered.len(), CLIENTS);
        shards.stop();
        let results = shards.join().unwrap();
        assert_eq!(results.len(), 2);
        assert_eq!(results.iter().map(|r| r.1).sum::<usize>(), CLIENTS);
        // 32 flows over 2 sockets all on one: probability 2^-31.
        assert!(results.iter().all(|r| r.1 > 0), "{results:?}");
        assert!(results.iter().all(|r| r.2 == MAX_GSO_SEGMENTS));
    }
}
