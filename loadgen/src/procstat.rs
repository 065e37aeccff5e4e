//! CPU time and memory of a process from `/proc` (proc(5)): the relay under test when
//! `--relay-pid` is given, and loadgen itself.
//!
//! Owns: parsing `/proc/PID/stat` (utime + stime) and `/proc/PID/status` (VmRSS, VmHWM). Must
//! not: sample on a timer (callers decide when) or fail a run when a file is unreadable (the
//! relay may have exited: the report then says so).

use std::time::Duration;

/// `USER_HZ`: the unit of utime/stime in `/proc/PID/stat`. The kernel reports these in
/// USER_HZ, fixed at 100 on every Linux ABI regardless of CONFIG_HZ (proc(5), times(2)), so no
/// `sysconf(_SC_CLK_TCK)` call is needed. Resolution is therefore 10 ms: sample windows of
/// seconds.
const USER_HZ: u64 = 100;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcSample {
    /// User + system CPU time since the process started, all threads.
    pub cpu: Duration,
    pub rss_kb: u64,
    /// Peak resident set size (`VmHWM`).
    pub peak_rss_kb: u64,
}

/// Reads `/proc/PID/stat` and `/proc/PID/status`; `None` if the process is gone or either file
/// does not parse.
pub fn sample(pid: u32) -> Option<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    Some(ProcSample {
        cpu: parse_stat_cpu(&stat)?,
        rss_kb: parse_status_kb(&status, "VmRSS")?,
        peak_rss_kb: parse_status_kb(&status, "VmHWM")?,
    })
}

/// This process.
pub fn sample_self() -> Option<ProcSample> {
    sample(std::process::id())
}

/// utime + stime from the text of `/proc/PID/stat`. The command name (field 2) is in
/// parentheses and may itself contain spaces and parentheses, so fields are counted from the
/// last `)`: state is field 3, utime field 14, stime field 15.
pub fn parse_stat_cpu(stat: &str) -> Option<Duration> {
    let after = &stat[stat.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // fields after ')' start at field 3; utime is field 14, i.e. the 12th here.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    let ticks = utime + stime;
    Some(Duration::from_millis(ticks * 1000 / USER_HZ))
}

/// A `Key:   1234 kB` line of `/proc/PID/status`, in kB.
pub fn parse_status_kb(status: &str, key: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(key)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_counts_fields_after_the_last_paren() {
        // A command name with a space and a parenthesis; utime 250 and stime 37 ticks.
        let stat = "4242 (srt relay) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 37 0 0 20 0 \
                    3 0 987654 123456789 2345 18446744073709551615";
        assert_eq!(parse_stat_cpu(stat), Some(Duration::from_millis(2870)));
        assert_eq!(parse_stat_cpu("garbage"), None);
        assert_eq!(parse_stat_cpu("1 (x) S 1 2 3"), None, "too few fields");
    }

    #[test]
    fn status_kb_reads_the_named_line_only() {
        let status = "Name:\tsrtrelay\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\nVmRSSx:\t 1 kB\n";
        assert_eq!(parse_status_kb(status, "VmRSS"), Some(10_240));
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(20_480));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
    }

    #[test]
    fn samples_this_process() {
        let s = sample_self().expect("/proc/self is readable on Linux");
        assert!(s.rss_kb > 0 && s.peak_rss_kb >= s.rss_kb);
        assert_eq!(sample(u32::MAX), None, "no such process");
    }
}
