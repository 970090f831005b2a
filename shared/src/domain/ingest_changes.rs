//! The ingest change feed: the recent changes that make what an ingest
//! container has cached wrong (a key revoked or its settings changed, an
//! org's limits changed), so that containers can cache key grants and org
//! limits for minutes and still apply such a change within seconds.
//!
//! Entries are numbered without gaps (`seq` 1, 2, ...). Writers append one
//! in the same transaction as the change it names and drop the oldest past
//! [`FEED_RETENTION`] or [`FEED_CAPACITY`]; a reader remembers the last
//! number it applied, and if the entries after it are no longer all there
//! (dropped, or the feed was reset) it cannot tell what changed and
//! forgets everything it cached. No clocks are compared: a number says
//! what a reader has seen.
//!
//! It holds key hashes and org ids only (nothing a tenant wrote), and is
//! never shown to anyone.

use std::time::Duration;

use time::OffsetDateTime;

use super::{ApiKeyHash, OrgId};

/// How long an entry is kept: longer than ingest caches anything the feed
/// names (5 minutes), so a container that reads the feed at least that often
/// never finds a hole. Dropping an entry early is never wrong, only costly.
pub const FEED_RETENTION: Duration = Duration::from_secs(10 * 60);
/// The most entries the feed keeps (about 110 bytes each as stored, so the
/// item stays under 24 KB: at most 6 read units a strongly consistent read).
pub const FEED_CAPACITY: usize = 200;

/// What a change makes stale in ingest's caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IngestChange {
    /// The key's grant (revoked, or its settings changed).
    ApiKey(ApiKeyHash),
    /// What ingest reads of the org (its limits).
    Org(OrgId),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeEntry {
    pub seq: u64,
    /// When the writer recorded it (for retention only).
    pub at: OffsetDateTime,
    pub change: IngestChange,
}

/// The feed: the number of the last entry ever appended, and the entries
/// kept, oldest first, numbered consecutively up to `seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFeed {
    pub seq: u64,
    pub entries: Vec<ChangeEntry>,
}

impl ChangeFeed {
    /// Appends `change` as the next entry, then drops the oldest entries
    /// older than [`FEED_RETENTION`] at `at`, or beyond [`FEED_CAPACITY`].
    /// Only the oldest go, so the kept entries stay consecutive.
    pub fn record(&mut self, change: IngestChange, at: OffsetDateTime) {
        self.seq += 1;
        self.entries.push(ChangeEntry {
            seq: self.seq,
            at,
            change,
        });
        let oldest_kept = at - FEED_RETENTION;
        let too_old = self
            .entries
            .iter()
            .take_while(|entry| entry.at < oldest_kept)
            .count();
        let too_many = self.entries.len().saturating_sub(FEED_CAPACITY);
        self.entries.drain(..too_old.max(too_many));
    }

    /// The changes after entry `seen`, if the feed still has all of them;
    /// `None` when some were dropped (or the feed restarted below `seen`):
    /// then anything cached may be stale.
    pub fn changes_after(&self, seen: u64) -> Option<&[ChangeEntry]> {
        if seen > self.seq {
            return None;
        }
        let first = self.entries.first().map_or(self.seq + 1, |entry| entry.seq);
        if first > seen + 1 {
            return None;
        }
        let skip = usize::try_from(seen + 1 - first).ok()?;
        self.entries.get(skip..)
    }

    /// Whether the entries kept are numbered consecutively up to `seq`:
    /// what a stored feed must be to be read.
    pub fn is_consistent(&self) -> bool {
        let consecutive = self
            .entries
            .windows(2)
            .all(|pair| pair[1].seq == pair[0].seq + 1);
        consecutive && self.entries.last().is_none_or(|last| last.seq == self.seq)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    const T0: OffsetDateTime = datetime!(2026-11-22 12:00:00 UTC);

    fn org() -> IngestChange {
        IngestChange::Org(OrgId::new())
    }

    #[test]
    fn a_reader_gets_what_came_after_what_it_saw() {
        let mut feed = ChangeFeed::default();
        assert_eq!(feed.changes_after(0), Some(&[][..]));
        for _ in 0..3 {
            feed.record(org(), T0);
        }
        assert!(feed.is_consistent());
        assert_eq!(feed.seq, 3);
        let after_one: Vec<u64> = feed
            .changes_after(1)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(after_one, [2, 3]);
        assert_eq!(feed.changes_after(3), Some(&[][..]));
        assert_eq!(feed.changes_after(4), None, "a feed that went back");
    }

    #[test]
    fn old_entries_and_entries_past_the_bound_go_and_leave_a_hole() {
        let mut feed = ChangeFeed::default();
        feed.record(org(), T0);
        feed.record(org(), T0 + Duration::from_secs(60));
        // Ten minutes after the first: it goes, the second stays.
        feed.record(org(), T0 + FEED_RETENTION + Duration::from_secs(1));
        assert_eq!(feed.entries.first().map(|e| e.seq), Some(2));
        assert!(feed.is_consistent());
        assert_eq!(feed.changes_after(0), None, "entry 1 is gone");
        assert_eq!(feed.changes_after(1).map(<[_]>::len), Some(2));

        let later = T0 + Duration::from_secs(3600);
        for _ in 0..(FEED_CAPACITY + 5) {
            feed.record(org(), later);
        }
        assert_eq!(feed.entries.len(), FEED_CAPACITY);
        assert!(feed.is_consistent());
        assert_eq!(feed.changes_after(feed.seq - 201), None);
        assert_eq!(
            feed.changes_after(feed.seq - 200).map(<[_]>::len),
            Some(FEED_CAPACITY)
        );
    }
}
