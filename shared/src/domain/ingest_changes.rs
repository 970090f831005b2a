//! The ingest change feed: the recent changes that make what an ingest
//! container has cached wrong (a key revoked or its settings changed, an
//! org's limits changed), so that containers can cache key grants and org
//! limits for minutes and still apply such a change within seconds.
//!
//! Entries are numbered without gaps (`seq` 1, 2, ...) within the feed's
//! `epoch` (a random id given when the feed is first written). Writers
//! append one in the same transaction as the change it names and drop the
//! oldest past [`FEED_RETENTION`] or [`FEED_CAPACITY`]; a reader remembers
//! the [`Position`] it applied last, and if the entries after it are no
//! longer all there (dropped, or the feed was deleted and begun again) it
//! cannot tell what changed and forgets everything it cached. No clocks
//! are compared: a number says what a reader has seen.
//!
//! It holds key hashes and org ids only (nothing a tenant wrote), and is
//! never shown to anyone.

use std::time::Duration;

use time::OffsetDateTime;
use ulid::Ulid;

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

/// The feed: its epoch (none before its first entry), the number of the
/// last entry ever appended, and the entries kept, oldest first, numbered
/// consecutively up to `seq`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChangeFeed {
    pub epoch: Option<Ulid>,
    pub seq: u64,
    pub entries: Vec<ChangeEntry>,
}

/// Where a reader is in the feed: the last entry it applied.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub epoch: Option<Ulid>,
    pub seq: u64,
}

impl ChangeFeed {
    /// Where a reader that has applied this feed is.
    pub fn position(&self) -> Position {
        Position {
            epoch: self.epoch,
            seq: self.seq,
        }
    }

    /// Appends `change` as the next entry, then drops the oldest entries
    /// older than [`FEED_RETENTION`] at `at`, or beyond [`FEED_CAPACITY`].
    /// Only the oldest go, so the kept entries stay consecutive.
    pub fn record(&mut self, change: IngestChange, at: OffsetDateTime) {
        self.epoch.get_or_insert_with(Ulid::new);
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

    /// The changes after `seen`, if the feed still has all of them; `None`
    /// when some were dropped, or the feed is not the one `seen` was in
    /// (it was deleted and begun again): then anything cached may be stale.
    /// A reader that saw no feed at all has every entry still to see.
    pub fn changes_after(&self, seen: Position) -> Option<&[ChangeEntry]> {
        let seen = match (seen.epoch, self.epoch) {
            (None, _) => 0,
            (Some(seen_in), Some(epoch)) if seen_in == epoch => seen.seq,
            _ => return None,
        };
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

    fn at(feed: &ChangeFeed, seq: u64) -> Position {
        Position {
            epoch: feed.epoch,
            seq,
        }
    }

    fn seqs(entries: Option<&[ChangeEntry]>) -> Option<Vec<u64>> {
        entries.map(|entries| entries.iter().map(|entry| entry.seq).collect())
    }

    #[test]
    fn a_reader_gets_what_came_after_what_it_saw() {
        let mut feed = ChangeFeed::default();
        let empty = feed.position();
        assert_eq!(seqs(feed.changes_after(empty)), Some(vec![]));
        for _ in 0..3 {
            feed.record(org(), T0);
        }
        assert!(feed.is_consistent());
        assert_eq!(feed.seq, 3);
        assert_eq!(seqs(feed.changes_after(at(&feed, 1))), Some(vec![2, 3]));
        assert_eq!(seqs(feed.changes_after(at(&feed, 3))), Some(vec![]));
        assert_eq!(
            feed.changes_after(at(&feed, 4)),
            None,
            "a feed that went back"
        );
        assert_eq!(
            seqs(feed.changes_after(empty)),
            Some(vec![1, 2, 3]),
            "a reader that saw no feed has all of it to see"
        );
        let mut again = ChangeFeed::default();
        again.record(org(), T0);
        assert_ne!(again.epoch, feed.epoch);
        assert_eq!(
            again.changes_after(at(&feed, 0)),
            None,
            "a feed deleted and begun again is another"
        );
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
        assert_eq!(feed.changes_after(at(&feed, 0)), None, "entry 1 is gone");
        assert_eq!(seqs(feed.changes_after(at(&feed, 1))), Some(vec![2, 3]));

        let later = T0 + Duration::from_secs(3600);
        for _ in 0..(FEED_CAPACITY + 5) {
            feed.record(org(), later);
        }
        assert_eq!(feed.entries.len(), FEED_CAPACITY);
        assert!(feed.is_consistent());
        assert_eq!(feed.changes_after(at(&feed, feed.seq - 201)), None);
        assert_eq!(
            feed.changes_after(at(&feed, feed.seq - 200))
                .map(<[_]>::len),
            Some(FEED_CAPACITY)
        );
    }
}
