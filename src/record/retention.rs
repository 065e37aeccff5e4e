//! Which finished recording files to delete: those older than `max_age`, then the oldest
//! until the rest fit in `max_total_bytes`. The newest file is always kept, so a cap smaller
//! than one segment still leaves the last one.
//!
//! Owns: that choice over a list of (path, modification time, size). Must not: list or
//! delete files (the writer does, on the blocking pool), read the clock.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// A rule's retention; `None` is off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Retention {
    pub max_age: Option<Duration>,
    pub max_total_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedFile {
    pub path: PathBuf,
    pub modified: SystemTime,
    pub size: u64,
}

impl Retention {
    pub fn is_off(&self) -> bool {
        self.max_age.is_none() && self.max_total_bytes.is_none()
    }

    /// The files to delete, oldest first.
    pub fn expired(&self, mut files: Vec<RecordedFile>, now: SystemTime) -> Vec<PathBuf> {
        if self.is_off() || files.len() < 2 {
            return Vec::new();
        }
        // Oldest first; equal times by name, which carries the time and the sequence.
        files.sort_by(|a, b| a.modified.cmp(&b.modified).then(a.path.cmp(&b.path)));
        let newest = files.pop().expect("at least two");
        let mut total: u64 = files.iter().map(|f| f.size).sum::<u64>() + newest.size;
        let mut out = Vec::new();
        for f in files {
            let too_old = self
                .max_age
                .is_some_and(|age| now.duration_since(f.modified).is_ok_and(|d| d > age));
            let too_big = self.max_total_bytes.is_some_and(|cap| total > cap);
            if !(too_old || too_big) {
                // Everything after this one is newer, and the total only shrinks.
                break;
            }
            total -= f.size;
            out.push(f.path);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn f(name: &str, at_s: u64, size: u64) -> RecordedFile {
        RecordedFile {
            path: PathBuf::from(name),
            modified: UNIX_EPOCH + Duration::from_secs(at_s),
            size,
        }
    }

    fn names(v: Vec<PathBuf>) -> Vec<String> {
        v.into_iter().map(|p| p.display().to_string()).collect()
    }

    const NOW: u64 = 10_000;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    #[test]
    fn off_keeps_everything() {
        let files = vec![f("a", 0, 100), f("b", 1, 100)];
        assert!(Retention::default().expired(files, now()).is_empty());
    }

    #[test]
    fn the_total_cap_removes_the_oldest_first() {
        let r = Retention {
            max_total_bytes: Some(250),
            ..Retention::default()
        };
        // Listed out of order: the choice is by time.
        let files = vec![
            f("c", 30, 100),
            f("a", 10, 100),
            f("d", 40, 100),
            f("b", 20, 100),
        ];
        assert_eq!(names(r.expired(files, now())), ["a", "b"]);
        let fits = vec![f("a", 10, 100), f("b", 20, 100)];
        assert!(r.expired(fits, now()).is_empty());
    }

    #[test]
    fn the_newest_stays_even_above_the_cap() {
        let r = Retention {
            max_total_bytes: Some(10),
            ..Retention::default()
        };
        let files = vec![f("a", 10, 100), f("b", 20, 100), f("c", 30, 100)];
        assert_eq!(names(r.expired(files, now())), ["a", "b"]);
        assert!(r.expired(vec![f("only", 1, 1000)], now()).is_empty());
    }

    #[test]
    fn age_removes_what_is_older_and_combines_with_the_cap() {
        let r = Retention {
            max_age: Some(Duration::from_secs(100)),
            ..Retention::default()
        };
        let files = vec![
            f("old1", NOW - 500, 1),
            f("old2", NOW - 101, 1),
            f("edge", NOW - 100, 1),
            f("new", NOW - 1, 1),
        ];
        assert_eq!(names(r.expired(files.clone(), now())), ["old1", "old2"]);
        let both = Retention {
            max_total_bytes: Some(1),
            ..r
        };
        assert_eq!(names(both.expired(files, now())), ["old1", "old2", "edge"]);
        // Everything old: the newest is still kept.
        let stale = vec![f("x", 0, 1), f("y", 1, 1)];
        assert_eq!(names(r.expired(stale, now())), ["x"]);
    }

    #[test]
    fn times_in_the_future_are_not_old() {
        let r = Retention {
            max_age: Some(Duration::from_secs(1)),
            ..Retention::default()
        };
        let files = vec![f("skew", NOW + 50, 1), f("new", NOW + 60, 1)];
        assert!(r.expired(files, now()).is_empty());
    }
}
