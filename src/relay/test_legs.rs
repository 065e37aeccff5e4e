//! Legs that are not SRT, for the relay core's tests: subscriber legs that record what they
//! are offered, so a test can move a stream through the core (across shards) with no protocol
//! behind it.

use std::collections::HashMap;

use super::leg::{LegId, LegKind, Offer, Sink, Sinks, Taken};

/// What one test leg received: (its number, ring position, payload), in offer order.
pub type Received = Vec<(u64, u64, Vec<u8>)>;

#[derive(Debug, Default)]
pub struct TestLegs {
    legs: HashMap<LegId, TestLeg>,
}

#[derive(Debug, Default)]
pub struct TestLeg {
    /// The number its first packet of a session gets ([`Sink::base`]).
    pub next_number: u64,
    pub received: Received,
    /// It takes at most this many more packets, then skips (a full send buffer).
    pub room: Option<usize>,
}

pub fn test_leg(n: u32) -> LegId {
    LegId::new(LegKind::Test, n)
}

impl TestLegs {
    pub fn add(&mut self, leg: LegId) {
        self.legs.insert(leg, TestLeg::default());
    }

    pub fn remove(&mut self, leg: LegId) {
        self.legs.remove(&leg);
    }

    pub fn leg_mut(&mut self, leg: LegId) -> &mut TestLeg {
        self.legs.get_mut(&leg).expect("a test leg")
    }

    pub fn received(&self, leg: LegId) -> &Received {
        &self.legs[&leg].received
    }
}

pub struct TestSink<'a>(&'a mut TestLeg);

impl Sink for TestSink<'_> {
    fn base(&mut self) -> u64 {
        self.0.next_number
    }

    fn offer(&mut self, o: Offer<'_>) -> Taken {
        if let Some(room) = &mut self.0.room {
            if *room == 0 {
                return Taken::Skipped;
            }
            *room -= 1;
        }
        self.0.next_number = o.number + 1;
        self.0
            .received
            .push((o.number, o.pos, o.payload.as_slice().to_vec()));
        Taken::Queued
    }
}

impl Sinks for TestLegs {
    type Sink<'a> = TestSink<'a>;

    fn sink(&mut self, leg: LegId) -> Option<TestSink<'_>> {
        self.legs.get_mut(&leg).map(TestSink)
    }
}
