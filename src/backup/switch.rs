//! Which feed the public stream carries, sans-IO: the feeds' silence in, decisions out.
//!
//! A feed is *fresh* while its publisher's last data is less than `switch_after` old. The
//! stream starts on the first fresh feed (the main if both are). On the main it switches to a
//! fresh backup as soon as the main is no longer fresh; the runner then reads the backup from
//! its ring's last keyframe, so the players' gap is the silence threshold, not a GOP more. On
//! the backup it goes back once the main has been fresh for `switch_after` (a flapping encoder
//! does not bounce the players) and the runner has seen a main keyframe that arrived after
//! that: the main's ring may still hold a keyframe from before its silence, which is not where
//! the main is now. Must not: read the clock or know readers.

#![deny(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use super::Role;

/// A feed as the switch sees it: `None` without a publisher, else how long it has been silent.
pub type Feed = Option<Duration>;

/// What the runner does after a [`Switch::poll`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Stay,
    /// Carry `role` from now on, read from its last keyframe.
    SwitchTo(Role),
    /// Watch the main for its next keyframe and call [`Switch::main_keyframe`] at each one
    /// after the first (the first is the reader's join point, which may be stale).
    WatchMain,
    /// The main is no longer fresh: stop watching.
    StopWatching,
    /// No feed has a publisher: the public session ends.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    OnMain,
    OnBackup {
        /// Since when the main has been fresh without a break.
        main_fresh_since: Option<Instant>,
        watching: bool,
    },
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SwitchCounters {
    pub to_backup: u64,
    pub to_main: u64,
}

#[derive(Debug)]
pub struct Switch {
    state: State,
    pub counters: SwitchCounters,
}

impl Default for Switch {
    fn default() -> Self {
        Self::new()
    }
}

impl Switch {
    pub fn new() -> Switch {
        Switch {
            state: State::Idle,
            counters: SwitchCounters::default(),
        }
    }

    /// The feed carried now, if any.
    pub fn active(&self) -> Option<Role> {
        match self.state {
            State::Idle => None,
            State::OnMain => Some(Role::Main),
            State::OnBackup { .. } => Some(Role::Backup),
        }
    }

    /// The carried feed's reader ended (its publisher left for good, or it fell behind): the
    /// next poll picks a feed afresh.
    pub fn reader_ended(&mut self) {
        self.state = State::Idle;
    }

    pub fn poll(
        &mut self,
        now: Instant,
        main: Feed,
        backup: Feed,
        switch_after: Duration,
    ) -> Decision {
        let fresh = |f: Feed| f.is_some_and(|quiet| quiet < switch_after);
        if main.is_none() && backup.is_none() {
            self.state = State::Idle;
            return Decision::End;
        }
        match self.state {
            State::Idle if fresh(main) => {
                self.state = State::OnMain;
                Decision::SwitchTo(Role::Main)
            }
            State::Idle if fresh(backup) => {
                self.state = State::OnBackup {
                    main_fresh_since: None,
                    watching: false,
                };
                Decision::SwitchTo(Role::Backup)
            }
            State::Idle => Decision::Stay,
            State::OnMain if !fresh(main) && fresh(backup) => {
                self.state = State::OnBackup {
                    main_fresh_since: None,
                    watching: false,
                };
                self.counters.to_backup += 1;
                Decision::SwitchTo(Role::Backup)
            }
            State::OnMain => Decision::Stay,
            State::OnBackup {
                main_fresh_since,
                watching,
            } => {
                if !fresh(main) {
                    self.state = State::OnBackup {
                        main_fresh_since: None,
                        watching: false,
                    };
                    return if watching {
                        Decision::StopWatching
                    } else {
                        Decision::Stay
                    };
                }
                let since = main_fresh_since.unwrap_or(now);
                let stable = now.saturating_duration_since(since) >= switch_after;
                self.state = State::OnBackup {
                    main_fresh_since: Some(since),
                    watching: watching || stable,
                };
                if stable && !watching {
                    Decision::WatchMain
                } else {
                    Decision::Stay
                }
            }
        }
    }

    /// The watched main delivered a keyframe after its join point: true if the stream goes
    /// back to the main at it (the runner then carries the watcher's reader from there).
    pub fn main_keyframe(&mut self) -> bool {
        if let State::OnBackup { watching: true, .. } = self.state {
            self.state = State::OnMain;
            self.counters.to_main += 1;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    const AFTER: Duration = Duration::from_millis(500);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn the_main_is_carried_when_both_are_fresh_and_the_backup_takes_over_once_it_is_silent() {
        let t = Instant::now();
        let mut s = Switch::new();
        assert_eq!(
            s.poll(t, Some(ms(0)), Some(ms(0)), AFTER),
            Decision::SwitchTo(Role::Main)
        );
        assert_eq!(
            s.poll(t + ms(10), Some(ms(499)), Some(ms(0)), AFTER),
            Decision::Stay
        );
        // Silent main, silent backup: nothing to switch to.
        assert_eq!(
            s.poll(t + ms(20), Some(ms(600)), Some(ms(600)), AFTER),
            Decision::Stay
        );
        assert_eq!(
            s.poll(t + ms(30), Some(ms(500)), Some(ms(0)), AFTER),
            Decision::SwitchTo(Role::Backup)
        );
        assert_eq!(
            s.counters,
            SwitchCounters {
                to_backup: 1,
                to_main: 0
            }
        );
        // The main's publisher gone entirely: the backup goes on.
        assert_eq!(s.poll(t + ms(40), None, Some(ms(0)), AFTER), Decision::Stay);
        assert_eq!(s.active(), Some(Role::Backup));
    }

    #[test]
    fn the_main_comes_back_after_being_fresh_for_the_threshold_and_at_a_keyframe_it_sent_since() {
        let t = Instant::now();
        let mut s = Switch::new();
        assert_eq!(
            s.poll(t, None, Some(ms(0)), AFTER),
            Decision::SwitchTo(Role::Backup)
        );
        // Keyframes before the watch are not switch points.
        assert!(!s.main_keyframe());
        assert_eq!(
            s.poll(t + ms(100), Some(ms(0)), Some(ms(0)), AFTER),
            Decision::Stay
        );
        assert_eq!(
            s.poll(t + ms(400), Some(ms(0)), Some(ms(0)), AFTER),
            Decision::Stay
        );
        // A break in the main's freshness starts the count again.
        assert_eq!(
            s.poll(t + ms(550), Some(ms(700)), Some(ms(0)), AFTER),
            Decision::Stay
        );
        assert_eq!(
            s.poll(t + ms(600), Some(ms(0)), Some(ms(0)), AFTER),
            Decision::Stay
        );
        assert_eq!(
            s.poll(t + ms(1099), Some(ms(0)), Some(ms(0)), AFTER),
            Decision::Stay
        );
        assert_eq!(
            s.poll(t + ms(1100), Some(ms(0)), Some(ms(0)), AFTER),
            Decision::WatchMain
        );
        assert_eq!(
            s.poll(t + ms(1200), Some(ms(0)), Some(ms(0)), AFTER),
            Decision::Stay
        );
        // The main goes quiet again before its keyframe: the watch is called off.
        assert_eq!(
            s.poll(t + ms(1300), Some(ms(600)), Some(ms(0)), AFTER),
            Decision::StopWatching
        );
        assert!(!s.main_keyframe());
        assert_eq!(
            s.poll(t + ms(1400), Some(ms(0)), Some(ms(0)), AFTER),
            Decision::Stay
        );
        assert_eq!(
            s.poll(t + ms(1900), Some(ms(0)), Some(ms(0)), AFTER),
            Decision::WatchMain
        );
        assert!(s.main_keyframe());
        assert_eq!(s.active(), Some(Role::Main));
        assert_eq!(
            s.counters,
            SwitchCounters {
                to_backup: 0,
                to_main: 1
            }
        );
        assert_eq!(
            s.poll(t + ms(2000), Some(ms(0)), Some(ms(0)), AFTER),
            Decision::Stay
        );
    }

    #[test]
    fn the_session_ends_when_no_feed_has_a_publisher_and_a_lost_reader_starts_afresh() {
        let t = Instant::now();
        let mut s = Switch::new();
        // A publisher admitted but silent past the threshold is not carried yet.
        assert_eq!(s.poll(t, Some(ms(900)), None, AFTER), Decision::Stay);
        assert_eq!(
            s.poll(t, Some(ms(0)), None, AFTER),
            Decision::SwitchTo(Role::Main)
        );
        s.reader_ended();
        assert_eq!(s.active(), None);
        assert_eq!(
            s.poll(t, Some(ms(0)), None, AFTER),
            Decision::SwitchTo(Role::Main)
        );
        assert_eq!(s.poll(t, None, None, AFTER), Decision::End);
    }
}
