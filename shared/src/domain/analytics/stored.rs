//! An org-day's aggregate as stored: two items, so that the aggregator's
//! usual commit is one small write.
//!
//! - [`DayCounters`]: the day's counters, which a commit adds to, and the
//!   top-list changes of the commits since the last fold ([`TopChanges`],
//!   appended: no read needed), with the list's generation and the round
//!   that last wrote the item. Kept under 1 KB, a commit bills one write unit.
//! - [`DayTops`]: the day's top end users and tags ([`TopK`] summaries),
//!   rewritten only when the pending changes are folded in.
//!
//! A fold writes the tops (holding the pending changes) first, then empties
//! the pending list; in between, the tops are one generation ahead and hold
//! the first [`DayTops::folded`] pending entries. So `tops.generation` is
//! `counters.generation` (the tops hold no pending entry) or one more (they
//! hold the first `folded`), and [`DayState::current_tops`] is exact in
//! every state a crash can leave.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{aggregate::Counters, topk::TopK};

/// A commit round of the aggregator: `run * ROUNDS_PER_RUN + n`, so rounds
/// only grow, across runs too. The round that last wrote a day's counters
/// says which records they hold (see [`super::journal`]).
pub type Round = u64;

/// Rounds one aggregator run may number (a run lasts minutes; a round is
/// seconds).
pub const ROUNDS_PER_RUN: Round = 1_000_000;

/// The largest item DynamoDB bills as one write unit.
pub const WRITE_UNIT_BYTES: usize = 1024;

/// Pending changes larger than this go straight into the tops: the
/// counters item stays small whatever a window holds (100,000 distinct end
/// users in a burst).
pub const MAX_PENDING_ENTRY_BYTES: usize = 512;

/// What a commit changes in a day's top lists: exact per-value changes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopChanges {
    /// End user → change in messages.
    #[serde(rename = "u", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, i64>,
    /// Tag → change in chats.
    #[serde(rename = "t", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, i64>,
}

impl TopChanges {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.tags.is_empty()
    }

    /// As the pending list stores it: compact JSON.
    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("top changes serialise")
    }

    pub fn decode(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Applies the changes to a day's summaries.
    pub fn apply_to(&self, users: &mut TopK, tags: &mut TopK) {
        users.apply(&self.users);
        tags.apply(&self.tags);
    }
}

/// A day's counters item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounters {
    pub counters: Counters,
    /// Top-list changes committed since the last fold, oldest first.
    pub pending: Vec<TopChanges>,
    /// Folds completed on this day.
    pub generation: u64,
    /// The round that last wrote the item (none: not written by a round).
    pub round: Option<Round>,
    /// The item's size as DynamoDB bills it, and its pending list's share.
    pub stored_bytes: usize,
    pub pending_bytes: usize,
}

/// A day's top-lists item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayTops {
    pub users: TopK,
    pub tags: TopK,
    /// The counters' generation this fold ends (0: never folded).
    pub generation: u64,
    /// Of the counters' pending list at that generation, how many entries
    /// the tops hold (meaningful while the counters lag one generation).
    pub folded: usize,
    pub round: Option<Round>,
}

/// A stored org-day; the default is a day with nothing stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayState {
    pub counters: DayCounters,
    pub tops: DayTops,
}

/// The two items disagree in a way no sequence of writes leaves them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the day's tops are at generation {tops} and its counters at {counters}: the tops must equal the counters' or be one ahead"
)]
pub struct Inconsistent {
    pub tops: u64,
    pub counters: u64,
}

impl DayState {
    /// Whether a fold wrote the tops but not yet the counters.
    pub fn fold_incomplete(&self) -> bool {
        self.tops.generation == self.counters.generation + 1
    }

    /// The pending entries the tops do not hold yet.
    pub fn unfolded(&self) -> Result<&[TopChanges], Inconsistent> {
        let pending = &self.counters.pending;
        if self.tops.generation == self.counters.generation {
            Ok(pending)
        } else if self.fold_incomplete() {
            Ok(&pending[self.tops.folded.min(pending.len())..])
        } else {
            Err(Inconsistent {
                tops: self.tops.generation,
                counters: self.counters.generation,
            })
        }
    }

    /// The day's top end users and tags as a reader sees them: the tops
    /// with every pending change they do not hold yet.
    pub fn current_tops(&self) -> Result<(TopK, TopK), Inconsistent> {
        let (mut users, mut tags) = (self.tops.users.clone(), self.tops.tags.clone());
        for changes in self.unfolded()? {
            changes.apply_to(&mut users, &mut tags);
        }
        Ok((users, tags))
    }

    /// The tops a fold in `round` writes: everything pending and `changes`
    /// folded in, one generation ahead of the counters. (Complete an
    /// incomplete fold first.)
    pub fn folded(&self, changes: &TopChanges, round: Round) -> Result<DayTops, Inconsistent> {
        let (mut users, mut tags) = self.current_tops()?;
        changes.apply_to(&mut users, &mut tags);
        Ok(DayTops {
            users,
            tags,
            generation: self.counters.generation + 1,
            folded: self.counters.pending.len(),
            round: Some(round),
        })
    }

    /// Whether `changes` should be folded now rather than appended: when
    /// appending would make every later write of the counters bill one more
    /// write unit than the counters alone need, or when they are large.
    pub fn should_fold(&self, changes: &TopChanges) -> bool {
        if changes.is_empty() {
            return false;
        }
        let entry = changes.encode().len() + 1;
        if entry > MAX_PENDING_ENTRY_BYTES {
            return true;
        }
        let with_pending = self.counters.stored_bytes + entry;
        let without = self
            .counters
            .stored_bytes
            .saturating_sub(self.counters.pending_bytes);
        units(with_pending) > units(without)
    }
}

/// Write units an item of `bytes` bills.
pub fn units(bytes: usize) -> usize {
    bytes.div_ceil(WRITE_UNIT_BYTES).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(user: &str, n: i64) -> TopChanges {
        TopChanges {
            users: BTreeMap::from([(user.to_owned(), n)]),
            tags: BTreeMap::new(),
        }
    }

    fn users_of(state: &DayState) -> Vec<(String, u64)> {
        state.current_tops().unwrap().0.top(10)
    }

    #[test]
    fn the_tops_a_reader_sees_are_exact_before_during_and_after_a_fold() {
        let mut state = DayState::default();
        state.counters.pending = vec![changes("ann", 2), changes("bob", 1)];
        assert_eq!(users_of(&state), [("ann".into(), 2), ("bob".into(), 1)]);

        // A fold in round 7 with one more change: the tops are written first...
        let tops = state.folded(&changes("ann", 3), 7).unwrap();
        assert_eq!((tops.generation, tops.folded), (1, 2));
        state.tops = tops;
        assert!(state.fold_incomplete());
        // ...so a reader between the two writes counts nothing twice.
        assert_eq!(users_of(&state), [("ann".into(), 5), ("bob".into(), 1)]);
        // A replay appended meanwhile is still seen.
        state.counters.pending.push(changes("cy", 4));
        assert_eq!(
            users_of(&state),
            [("ann".into(), 5), ("cy".into(), 4), ("bob".into(), 1)]
        );
        // The counters catch up: the folded entries leave the pending list.
        state.counters.pending.drain(..2);
        state.counters.generation = 1;
        assert!(!state.fold_incomplete());
        assert_eq!(
            users_of(&state),
            [("ann".into(), 5), ("cy".into(), 4), ("bob".into(), 1)]
        );

        state.tops.generation = 3;
        assert_eq!(
            state.current_tops(),
            Err(Inconsistent {
                tops: 3,
                counters: 1
            })
        );
    }

    #[test]
    fn changes_are_appended_until_they_would_cost_a_write_unit_more() {
        let mut state = DayState::default();
        state.counters.stored_bytes = 600;
        let small = changes("visitor-1234567890", 5);
        assert!(!state.should_fold(&small));
        assert!(!state.should_fold(&TopChanges::default()));
        state.counters.stored_bytes = 1000;
        state.counters.pending_bytes = 300;
        assert!(state.should_fold(&small), "1000 + entry > 1 KB > 700");
        // An item over 1 KB without its pending list bills 2 units anyway.
        state.counters.stored_bytes = 1300;
        state.counters.pending_bytes = 0;
        assert!(!state.should_fold(&small));
        let burst = TopChanges {
            users: (0..100).map(|n| (format!("user-{n}"), 1)).collect(),
            tags: BTreeMap::new(),
        };
        assert!(state.should_fold(&burst), "large changes go to the tops");
        let decoded = TopChanges::decode(&burst.encode()).unwrap();
        assert_eq!(decoded, burst);
    }
}
