//! Process groups for tools that start children of their own (chromedriver starts Chromium,
//! which starts a zygote, renderers and a GPU process; `runuser` starts cvlc): killing the
//! child we spawned would orphan the rest.
//!
//! Owns: putting a command in a new process group, listing a group's live members from /proc,
//! signalling the whole group, and finding stragglers that left the group by an argument only
//! our processes carry (a scratch directory's path). Must not: signal anything outside a group
//! it was handed (a group id is the leader's pid, which we spawned) or without such an
//! argument, or use `unsafe` (it runs procps `kill`).

use std::fs;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Makes the command's process the leader of a new group (pgid = its pid) that its children
/// inherit. Chromium keeps its helpers in the group it starts in (no `setsid` without its
/// sandbox, which the tests turn off).
pub fn in_new_group(cmd: &mut Command) -> &mut Command {
    cmd.process_group(0)
}

/// (pid, state, process group) of every process, from /proc/<pid>/stat.
fn processes() -> Vec<(u32, String, u32)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // `pid (comm) state ppid pgrp ...`; comm may hold spaces and parentheses.
            let (_, rest) = stat.rsplit_once(')')?;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some((
                pid,
                fields.first()?.to_string(),
                fields.get(2)?.parse().ok()?,
            ))
        })
        .collect()
}

/// Pids in group `pgid` that are not zombies (a zombie holds no resources; one whose parent
/// is gone waits for PID 1 to reap it, which is not ours to hurry).
pub fn live_members(pgid: u32) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|(_, state, group)| state != "Z" && *group == pgid)
        .map(|(pid, _, _)| pid)
        .collect()
}

/// Live (not zombie) processes with an argument containing `needle`.
pub fn live_with_arg(needle: &str) -> Vec<u32> {
    processes()
        .into_iter()
        .filter(|(pid, state, _)| {
            state != "Z"
                && fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                    c.split(|&b| b == 0)
                        .any(|arg| String::from_utf8_lossy(arg).contains(needle))
                })
        })
        .map(|(pid, _, _)| pid)
        .collect()
}

/// Waits (bounded) until no live process has an argument containing `needle`, SIGKILLing
/// those left by pid after half the time; the pids still alive at the deadline are the error.
pub fn wait_gone_by_arg(needle: &str, timeout: Duration) -> Result<(), Vec<u32>> {
    let start = Instant::now();
    loop {
        let alive = live_with_arg(needle);
        if alive.is_empty() {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            return Err(alive);
        }
        if start.elapsed() >= timeout / 2 {
            let mut cmd = Command::new("kill");
            cmd.args(["-s", "KILL", "--"]);
            cmd.args(alive.iter().map(u32::to_string));
            let _ = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Sends `signal` (a name: "TERM", "KILL", "INT") to every process in group `pgid`. Errors
/// (the group is already empty) are ignored: this is cleanup.
pub fn signal_group(pgid: u32, signal: &str) {
    // procps kill: `--` then the negative pid addresses the group.
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// SIGKILLs group `pgid` and waits (bounded) until none of it is alive; the pids still alive
/// at the deadline are the error.
pub fn kill_group(pgid: u32, timeout: Duration) -> Result<(), Vec<u32>> {
    let deadline = Instant::now() + timeout;
    loop {
        let alive = live_members(pgid);
        if alive.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(alive);
        }
        signal_group(pgid, "KILL");
        thread::sleep(Duration::from_millis(20));
    }
}
