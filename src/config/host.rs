//! The facts about this machine that validation needs: which CPUs this process may run on.
//!
//! Owns: reading the affinity list once. Must not: pin threads (the shards do that).

/// CPUs this process may run on, ascending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    cpus: Vec<usize>,
}

impl Host {
    /// A host with exactly these CPUs (tests, and callers that know better).
    pub fn with_cpus(mut cpus: Vec<usize>) -> Host {
        cpus.sort_unstable();
        cpus.dedup();
        Host { cpus }
    }

    /// The CPUs in this process's affinity mask (`Cpus_allowed_list` in `/proc/self/status`), so
    /// `taskset` and cpusets are honoured: a core outside the mask cannot be pinned to. Falls back
    /// to `0..available_parallelism` where that file is unreadable.
    pub fn detect() -> Host {
        let from_proc = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
                    .and_then(parse_cpu_list)
            })
            .filter(|c| !c.is_empty());
        match from_proc {
            Some(cpus) => Host::with_cpus(cpus),
            None => {
                let n = std::thread::available_parallelism().map_or(1, |n| n.get());
                Host::with_cpus((0..n).collect())
            }
        }
    }

    pub fn cpus(&self) -> &[usize] {
        &self.cpus
    }

    pub fn has_cpu(&self, cpu: usize) -> bool {
        self.cpus.binary_search(&cpu).is_ok()
    }
}

/// Parses the kernel's CPU list format: `0-3,8,10-11`. `None` on anything else.
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi): (usize, usize) = (lo.trim().parse().ok()?, hi.trim().parse().ok()?);
                if lo > hi || hi - lo > 1 << 16 {
                    return None;
                }
                cpus.extend(lo..=hi);
            }
            None => cpus.push(part.trim().parse().ok()?),
        }
    }
    Some(cpus)
}

/// Formats CPUs as the kernel does (`0-3,8`), for error messages.
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut out = Vec::new();
    let mut i = 0;
    while i < cpus.len() {
        let mut j = i;
        while j + 1 < cpus.len() && cpus[j + 1] == cpus[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            cpus[i].to_string()
        } else {
            format!("{}-{}", cpus[i], cpus[j])
        });
        i = j + 1;
    }
    out.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_list_round_trip() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(format_cpu_list(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(parse_cpu_list("\t0\n"), Some(vec![0]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
    }

    #[test]
    fn detect_finds_at_least_one_cpu() {
        let host = Host::detect();
        assert!(!host.cpus().is_empty());
        assert!(host.has_cpu(host.cpus()[0]));
    }
}
