//! A network namespace of the test's own (`ip netns add`), with its loopback up and routing
//! multicast, so a test can send UDP multicast without it leaving the machine. Threads enter
//! it with [`NetNs::enter`] (per-thread: `setns(2)`; threads they spawn inherit it), tools run
//! in it with [`NetNs::command`]. Deleted on drop. Needs root, as the test command runs.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::process::Command;

pub struct NetNs {
    pub name: String,
}

fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip {args:?}: {e} (iproute2 is needed)"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl NetNs {
    pub fn new(tag: &str) -> NetNs {
        let name = format!("srtrelay-{tag}-{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        ip(&["netns", "add", &name]);
        ip(&["-n", &name, "link", "set", "lo", "up"]);
        ip(&["-n", &name, "link", "set", "lo", "multicast", "on"]);
        ip(&["-n", &name, "route", "add", "224.0.0.0/4", "dev", "lo"]);
        NetNs { name }
    }

    /// Moves the calling thread into the namespace.
    pub fn enter(&self) {
        let f = File::open(format!("/run/netns/{}", self.name)).expect("open netns");
        // SAFETY: `f` is an open namespace file for the whole call; setns only changes the
        // calling thread's network namespace.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
    }

    /// A veth pair between this namespace and `other` (both ends up), with `mine` and
    /// `theirs` as their addresses (`"10.77.0.2/24"`). Gone with either namespace.
    pub fn veth_to(&self, other: &NetNs, mine: &[&str], theirs: &[&str]) {
        // Interface names have at most 15 bytes.
        let tag = std::process::id() % 100_000;
        let (a, b) = (format!("sv{tag}a"), format!("sv{tag}b"));
        ip(&[
            "link",
            "add",
            &a,
            "netns",
            &self.name,
            "type",
            "veth",
            "peer",
            "name",
            &b,
            "netns",
            &other.name,
        ]);
        for (ns, dev, addrs) in [(self, &a, mine), (other, &b, theirs)] {
            for addr in addrs {
                ip(&["-n", &ns.name, "addr", "add", addr, "dev", dev]);
            }
            ip(&["-n", &ns.name, "link", "set", dev, "up"]);
        }
    }

    /// Removes `addr` (`"10.77.0.3/24"`) from this namespace's end of [`NetNs::veth_to`]:
    /// what was bound to it can send no more and receives nothing.
    pub fn drop_addr(&self, addr: &str) {
        let tag = std::process::id() % 100_000;
        ip(&[
            "-n",
            &self.name,
            "addr",
            "del",
            addr,
            "dev",
            &format!("sv{tag}a"),
        ]);
    }

    /// `ip netns exec NAME program`.
    pub fn command(&self, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}
