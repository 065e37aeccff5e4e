//! Free UDP ports on 127.0.0.1 for tools that must be told a port on their command line.
//!
//! Owns: choosing a port that is free now and that no other test in this process was given.
//! Must not: hand out ports from the kernel's ephemeral range. Callers (srt-live-transmit and
//! ffmpeg as SRT callers, our own upstream sockets) get ephemeral ports from the kernel at any
//! moment, so a port chosen there could be taken between our check and the tool's bind. Below
//! the ephemeral range only explicit binds compete, and those (other tests, other engineers'
//! test runs on the same machine) are spread out by a random start.
//!
//! A tool that still loses the race fails to bind; recipes that start listeners retry with a
//! new port (see `recipes::listen_*`).

use std::collections::HashSet;
use std::fs;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Lowest port handed out: above the well-known and most registered service ports.
const LOW: u16 = 20_000;

/// A UDP port on 127.0.0.1 that was bindable a moment ago and is unique within this process.
pub fn free_udp_port() -> u16 {
    static GIVEN: Mutex<Option<(HashSet<u16>, u64)>> = Mutex::new(None);
    let high = ephemeral_low().saturating_sub(1).max(LOW + 1000);
    let span = u64::from(high - LOW);
    let mut guard = GIVEN.lock().expect("port registry lock");
    let (given, rng) = guard.get_or_insert_with(|| (HashSet::new(), seed()));
    for _ in 0..1000 {
        *rng = splitmix64(*rng);
        let port = LOW + u16::try_from(*rng % span).expect("span fits u16");
        if given.contains(&port) {
            continue;
        }
        if UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            given.insert(port);
            return port;
        }
    }
    panic!("no free UDP port on 127.0.0.1 between {LOW} and {high} after 1000 tries");
}

/// `127.0.0.1:<free port>`.
pub fn free_udp_addr() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, free_udp_port()))
}

/// First port of the kernel's ephemeral range (32768 on Debian when unreadable).
fn ephemeral_low() -> u16 {
    fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|p| p.parse().ok()))
        .unwrap_or(32_768)
}

/// Different processes must start at different places: the pid and the clock differ.
fn seed() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    splitmix64(nanos ^ (u64::from(std::process::id()) << 32))
}

/// splitmix64 step (Steele, Lea, Flood 2014): a tiny, well-mixed generator; good enough here.
pub fn splitmix64(state: u64) -> u64 {
    let mut z = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
