//! HTTP players as legs: each HTTP-TS response is a subscriber leg whose queue
//! ([`ts_player::TsPlayer`]) the fan-out fills and the connection's body drains, on the same
//! shard. The table is the shard's; the connection holds the player by `Rc` and says when it
//! is gone through the table's departure queue (a body may be dropped while the shard's state
//! is borrowed, so it never touches the table itself).

pub mod admission;
pub mod ts_player;
#[cfg(test)]
mod ts_player_tests;

use std::cell::RefCell;
use std::rc::Rc;

use crate::idhash::IdMap;
use crate::relay::leg::{LegId, LegKind};
use ts_player::TsPlayer;

pub type PlayerRef = Rc<RefCell<TsPlayer>>;
/// Where connections report players gone (see the module doc).
pub type Departures = Rc<RefCell<Vec<LegId>>>;

/// A shard's HTTP-TS players.
pub struct HttpLegs {
    players: IdMap<u32, PlayerRef>,
    /// Local ids are `k * shards + shard`: unique across shards, like SRT socket ids.
    next: u32,
    step: u32,
    departed: Departures,
}

impl HttpLegs {
    pub fn new(shard: usize, shards: usize) -> HttpLegs {
        HttpLegs {
            players: IdMap::default(),
            next: shard as u32,
            step: shards.max(1) as u32,
            departed: Rc::default(),
        }
    }

    /// A new player's id (not yet added).
    pub fn allocate(&mut self) -> LegId {
        let id = LegId::new(LegKind::HttpTs, self.next);
        self.next = self.next.wrapping_add(self.step);
        id
    }

    pub fn insert(&mut self, leg: LegId, p: PlayerRef) {
        self.players.insert(leg.local(), p);
    }

    pub fn get(&self, leg: LegId) -> Option<&PlayerRef> {
        self.players.get(&leg.local())
    }

    /// Where a connection reports that its player is gone.
    pub fn departures(&self) -> Departures {
        self.departed.clone()
    }

    /// Players whose connection ended since the last call, removed from the table.
    pub fn take_departed(&mut self) -> Vec<(LegId, PlayerRef)> {
        let ids = std::mem::take(&mut *self.departed.borrow_mut());
        ids.into_iter()
            .filter_map(|l| self.players.remove(&l.local()).map(|p| (l, p)))
            .collect()
    }

    /// Asks a player's response to end (its departure follows from the connection).
    pub fn close(&mut self, leg: LegId) {
        if let Some(p) = self.players.get(&leg.local()) {
            p.borrow_mut().close();
        }
    }

    pub fn len(&self) -> usize {
        self.players.len()
    }

    pub fn is_empty(&self) -> bool {
        self.players.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (LegId, &PlayerRef)> {
        self.players
            .iter()
            .map(|(&k, p)| (LegId::new(LegKind::HttpTs, k), p))
    }
}
