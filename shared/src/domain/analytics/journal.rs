//! Where the aggregator stands on the table's stream, written before each
//! commit round: how far it has read each shard, and where a new run must
//! read again from to find every change not committed yet.
//!
//! A day's counters record the round that last wrote them, so the journal
//! of that round says which records they hold: those at or before the
//! round's read position on their shard. That is what makes a commit
//! exactly-once without a marker item: a run that starts after a crash (or
//! after the previous run's end) reads again from the last journal's
//! `reread` positions and drops, per org-day, what that org-day's round
//! already holds.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::{change::Sequence, stored::Round};

/// A shard as the stream lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardInfo {
    pub id: String,
    /// The shard it split from, whose records come first.
    pub parent: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    pub round: Round,
    /// Per shard, the last record read before the round's commits: every
    /// org-day the round commits holds its records up to here.
    #[serde(rename = "r", default)]
    pub read: BTreeMap<String, Sequence>,
    /// Shards read to their end (closed by a split or a rotation).
    #[serde(rename = "d", default)]
    pub drained: BTreeSet<String>,
    /// Per shard, the first record that some org has not committed (the
    /// round's own commits included, since they may not happen): a new run
    /// reads the shard again from here, inclusive. A shard not listed is
    /// read on after `read`.
    #[serde(rename = "f", default)]
    pub reread: BTreeMap<String, Sequence>,
}

impl Journal {
    /// Whether a commit of this round holds the record at `sequence` on `shard`.
    pub fn holds(&self, shard: &str, sequence: &Sequence) -> bool {
        self.read.get(shard).is_some_and(|read| sequence <= read)
    }

    /// Whether this round read nothing that a new run starting from
    /// `later`'s `reread` positions reads again: older journals are then
    /// not needed to tell what is committed.
    pub fn read_nothing_reread_by(&self, later: &Journal) -> bool {
        self.read
            .iter()
            .all(|(shard, read)| later.reread.get(shard).is_none_or(|from| read < from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(n: u64) -> Sequence {
        Sequence::new(n.to_string())
    }

    #[test]
    fn a_round_holds_what_it_had_read_and_older_rounds_stop_mattering() {
        let early = Journal {
            round: 7,
            read: BTreeMap::from([("a".into(), seq(10)), ("b".into(), seq(3))]),
            ..Journal::default()
        };
        assert!(early.holds("a", &seq(10)));
        assert!(!early.holds("a", &seq(11)));
        assert!(!early.holds("c", &seq(1)), "a shard it had not read");

        let late = Journal {
            round: 9,
            read: BTreeMap::from([("a".into(), seq(20)), ("b".into(), seq(8))]),
            reread: BTreeMap::from([("a".into(), seq(12)), ("b".into(), seq(4))]),
            ..Journal::default()
        };
        assert!(early.read_nothing_reread_by(&late));
        let overlapping = Journal {
            read: BTreeMap::from([("a".into(), seq(12))]),
            ..early.clone()
        };
        assert!(!overlapping.read_nothing_reread_by(&late));
        let text = serde_json::to_string(&late).unwrap();
        assert_eq!(serde_json::from_str::<Journal>(&text).unwrap(), late);
    }
}
