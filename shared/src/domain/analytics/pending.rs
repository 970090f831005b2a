//! What the aggregator has read and not committed yet, per org: the org's
//! changes summed per UTC day, when its oldest change happened, and where
//! its records start on each shard (the journal's `reread` positions).
//!
//! An org is committed when it is due ([`Cadence`]): its commit costs the
//! same whatever it holds, so a quiet org waits up to
//! [`Cadence::quiet_after`] to gather several changes into one commit,
//! and an org logging steadily (this round, or at its last commit) is
//! committed every [`Cadence::active_after`]: the tail of a busy org's
//! traffic does not wait as long as a quiet org. One commit per org
//! whatever the number of shards its records came from.

use std::{
    collections::{BTreeMap, btree_map::Entry},
    time::Duration,
};

use time::{Date, OffsetDateTime};

use super::{
    aggregate::{DayDelta, OrgDelta},
    change::{ChatState, Deltas, Sequence, StreamChange},
};
use crate::domain::{ChatId, MessageId, OrgId};

/// When an org's pending changes are committed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cadence {
    /// An org whose oldest pending change is this old is committed.
    pub quiet_after: Duration,
    /// So is one whose oldest change is this old and that has at least
    /// [`Self::active_changes`] pending.
    pub active_after: Duration,
    pub active_changes: usize,
    /// And one whose pending changes grew this large (bounds memory).
    pub max_bytes: usize,
}

impl Cadence {
    /// What the template's aggregator runs with: an org logging a message
    /// a second or more is in its summary within about 10 s plus a round,
    /// a quieter one within about 40 s.
    pub const DEFAULT: Cadence = Cadence {
        quiet_after: Duration::from_secs(40),
        active_after: Duration::from_secs(10),
        active_changes: 10,
        max_bytes: 64 * 1024,
    };
}

/// A message logged into a chat that is deleted or missing: counted, then
/// deleted once the commit that counted it is done (its removal then
/// uncounts it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub org: OrgId,
    pub chat: ChatId,
    pub id: MessageId,
}

/// One org's pending changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgPending {
    pub days: OrgDelta,
    /// When the oldest pending change was written.
    pub oldest: Option<OffsetDateTime>,
    /// Records folded in.
    pub changes: usize,
    /// About the bytes the days hold (names and numbers): what a commit
    /// writes, and what the reader keeps in memory.
    pub bytes: usize,
    pub orphans: Vec<Orphan>,
    /// Per shard, its first record folded in.
    first: BTreeMap<String, Sequence>,
}

/// Where a record was read and when it was written.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub shard: &'a str,
    pub sequence: &'a Sequence,
    pub at: OffsetDateTime,
}

impl OrgPending {
    fn note(&mut self, origin: Origin<'_>) {
        self.changes += 1;
        self.oldest = Some(
            self.oldest
                .map_or(origin.at, |oldest| oldest.min(origin.at)),
        );
        match self.first.entry(origin.shard.to_owned()) {
            Entry::Vacant(slot) => {
                slot.insert(origin.sequence.clone());
            }
            Entry::Occupied(mut slot) => {
                if origin.sequence < slot.get() {
                    slot.insert(origin.sequence.clone());
                }
            }
        }
    }

    fn add_day(&mut self, day: Date, delta: &DayDelta) {
        let total = self.days.entry(day).or_default();
        let before = delta_bytes(total);
        total.add(delta);
        let after = delta_bytes(total);
        self.bytes = self.bytes + after - before;
        if total.is_empty() {
            self.days.remove(&day);
        }
    }

    fn is_due(&self, now: OffsetDateTime, cadence: &Cadence, was_active: bool) -> bool {
        let Some(oldest) = self.oldest else {
            return false;
        };
        let age = now - oldest;
        let active = was_active || self.changes >= cadence.active_changes;
        age >= cadence.quiet_after
            || (age >= cadence.active_after && active)
            || self.bytes >= cadence.max_bytes
    }
}

fn delta_bytes(delta: &DayDelta) -> usize {
    let entry = |name: &String| name.len() + 8;
    delta.counters.keys().map(entry).sum::<usize>()
        + delta.users.keys().map(entry).sum::<usize>()
        + delta.tags.keys().map(entry).sum::<usize>()
}

/// Every org's pending changes.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    orgs: BTreeMap<OrgId, OrgPending>,
    /// Orgs whose last commit held at least `active_changes`, and when.
    active: BTreeMap<OrgId, OffsetDateTime>,
}

impl Pending {
    /// Folds in one record's change, given the owners of message chats.
    /// A change that counts nothing (an edit of a title) leaves nothing.
    pub fn add(
        &mut self,
        origin: Origin<'_>,
        change: &StreamChange,
        owners: &BTreeMap<(OrgId, ChatId), ChatState>,
    ) {
        let mut deltas = Deltas::new();
        change.add_to(&mut deltas, owners);
        let orphan = change.orphan(owners).map(|m| Orphan {
            org: m.org,
            chat: m.chat,
            id: m.id,
        });
        for (org, days) in deltas {
            for (day, delta) in days {
                self.add_delta(org, day, &delta, origin);
            }
        }
        if let Some(orphan) = orphan {
            self.add_orphan(orphan, origin);
        }
    }

    /// Folds in one org-day's change (what [`Self::add`] does per org-day;
    /// also how a new run puts back what it found uncommitted).
    pub fn add_delta(&mut self, org: OrgId, day: Date, delta: &DayDelta, origin: Origin<'_>) {
        if delta.is_empty() {
            return;
        }
        let pending = self.orgs.entry(org).or_default();
        pending.note(origin);
        pending.add_day(day, delta);
    }

    /// A message to delete once its org's pending changes are committed.
    pub fn add_orphan(&mut self, orphan: Orphan, origin: Origin<'_>) {
        let pending = self.orgs.entry(orphan.org).or_default();
        pending.note(origin);
        pending.orphans.push(orphan);
    }

    /// The orgs due for a commit at `now`.
    pub fn due(&self, now: OffsetDateTime, cadence: &Cadence) -> Vec<OrgId> {
        let recent = |org: &OrgId| {
            self.active
                .get(org)
                .is_some_and(|at| now - *at <= cadence.quiet_after)
        };
        self.orgs
            .iter()
            .filter(|(org, pending)| pending.is_due(now, cadence, recent(org)))
            .map(|(org, _)| *org)
            .collect()
    }

    /// Takes an org's changes to commit them at `now`, remembering whether
    /// it was active (for the cadence of its next changes).
    pub fn take_to_commit(
        &mut self,
        org: OrgId,
        now: OffsetDateTime,
        cadence: &Cadence,
    ) -> Option<OrgPending> {
        let pending = self.orgs.remove(&org)?;
        if pending.changes >= cadence.active_changes {
            self.active.insert(org, now);
        } else {
            self.active.remove(&org);
        }
        // What no longer counts as recent is forgotten: bounded by the
        // orgs active within the last `quiet_after`.
        self.active.retain(|_, at| now - *at <= cadence.quiet_after);
        Some(pending)
    }

    /// Every org with pending changes.
    pub fn orgs(&self) -> Vec<OrgId> {
        self.orgs.keys().copied().collect()
    }

    pub fn take(&mut self, org: OrgId) -> Option<OrgPending> {
        self.orgs.remove(&org)
    }

    pub fn is_empty(&self) -> bool {
        self.orgs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.orgs.len()
    }

    /// Records folded in and not committed, over every org.
    pub fn changes(&self) -> usize {
        self.orgs.values().map(|p| p.changes).sum()
    }

    /// When the oldest pending change was written.
    pub fn oldest(&self) -> Option<OffsetDateTime> {
        self.orgs.values().filter_map(|p| p.oldest).min()
    }

    /// Per shard, the first record some org has not committed: where a new
    /// run reads again from.
    pub fn first_positions(&self) -> BTreeMap<String, Sequence> {
        let mut first: BTreeMap<String, Sequence> = BTreeMap::new();
        for pending in self.orgs.values() {
            for (shard, sequence) in &pending.first {
                match first.entry(shard.clone()) {
                    Entry::Vacant(slot) => {
                        slot.insert(sequence.clone());
                    }
                    Entry::Occupied(mut slot) => {
                        if sequence < slot.get() {
                            slot.insert(sequence.clone());
                        }
                    }
                }
            }
        }
        first
    }
}

#[cfg(test)]
mod tests {
    use time::macros::{date, datetime};

    use super::*;
    use crate::domain::{
        MessageRole,
        analytics::{
            aggregate::counter,
            change::{MessageFacts, Tracked},
        },
    };

    const CADENCE: Cadence = Cadence::DEFAULT;

    fn message(org: OrgId, chat: ChatId) -> StreamChange {
        StreamChange {
            sequence: Sequence::new("1".into()),
            old: None,
            new: Some(Tracked::Message(MessageFacts {
                org,
                chat,
                id: MessageId::new(),
                role: MessageRole::User,
                tokens: Some(3),
                latency_ms: None,
                day: date!(2026 - 11 - 22),
            })),
        }
    }

    #[test]
    fn quiet_orgs_wait_to_gather_changes_and_active_ones_commit_sooner() {
        let (quiet, active, chat) = (OrgId::new(), OrgId::new(), ChatId::new());
        let owners = BTreeMap::from([
            (
                (quiet, chat),
                ChatState {
                    user_id: Some("ann".into()),
                    deleted: false,
                },
            ),
            ((active, chat), ChatState::default()),
        ]);
        let start = datetime!(2026-11-22 10:00:00 UTC);
        let mut pending = Pending::default();
        let seq = |n: u64| Sequence::new(n.to_string());
        let at = |secs: i64| start + time::Duration::seconds(secs);
        for n in 0..3 {
            let s = seq(100 + n);
            let origin = Origin {
                shard: "shard-a",
                sequence: &s,
                at: at(n as i64 * 10),
            };
            pending.add(origin, &message(quiet, chat), &owners);
        }
        for n in 0..12 {
            let s = seq(50 + n);
            let origin = Origin {
                shard: if n % 2 == 0 { "shard-a" } else { "shard-b" },
                sequence: &s,
                at: at(n as i64),
            };
            pending.add(origin, &message(active, chat), &owners);
        }
        assert!(pending.due(at(9), &CADENCE).is_empty());
        assert_eq!(pending.due(at(11), &CADENCE), [active]);
        assert_eq!(pending.due(at(40), &CADENCE).len(), 2);
        assert_eq!(
            pending.first_positions(),
            BTreeMap::from([("shard-a".into(), seq(50)), ("shard-b".into(), seq(51))])
        );
        let quiet_days = pending.take(quiet).unwrap();
        let day = &quiet_days.days[&date!(2026 - 11 - 22)];
        assert_eq!(day.counters[counter::MESSAGES], 3);
        assert_eq!(day.users["ann"], 3);
        assert_eq!(quiet_days.oldest, Some(start));
        assert_eq!(pending.changes(), 12);
        // Its size is what its days hold, not the sum of its changes.
        let active_days = pending.take(active).unwrap();
        let day = &active_days.days[&date!(2026 - 11 - 22)];
        assert_eq!(active_days.bytes, delta_bytes(day));
    }

    #[test]
    fn the_tail_of_an_active_orgs_traffic_does_not_wait_like_a_quiet_org() {
        let (org, chat) = (OrgId::new(), ChatId::new());
        let start = datetime!(2026-11-22 10:00:00 UTC);
        let at = |secs: i64| start + time::Duration::seconds(secs);
        let mut pending = Pending::default();
        let add = |pending: &mut Pending, n: u64, secs: i64| {
            let s = Sequence::new(n.to_string());
            let origin = Origin {
                shard: "s",
                sequence: &s,
                at: at(secs),
            };
            pending.add(origin, &message(org, chat), &BTreeMap::new());
        };
        for n in 0..20 {
            add(&mut pending, n, 0);
        }
        assert_eq!(pending.due(at(10), &CADENCE), [org]);
        pending.take_to_commit(org, at(10), &CADENCE).unwrap();
        // Three more, the last of its traffic: due after 10 s, not 40.
        for n in 20..23 {
            add(&mut pending, n, 11);
        }
        assert_eq!(pending.due(at(21), &CADENCE), [org]);
        pending.take_to_commit(org, at(21), &CADENCE).unwrap();
        // A quiet spell later it waits as a quiet org does.
        add(&mut pending, 30, 100);
        assert!(pending.due(at(110), &CADENCE).is_empty());
        assert_eq!(pending.due(at(140), &CADENCE), [org]);
    }

    #[test]
    fn a_message_of_a_gone_chat_is_counted_and_kept_to_delete() {
        let (org, chat) = (OrgId::new(), ChatId::new());
        let mut pending = Pending::default();
        let s = Sequence::new("7".into());
        let origin = Origin {
            shard: "s",
            sequence: &s,
            at: datetime!(2026-11-22 10:00:00 UTC),
        };
        pending.add(origin, &message(org, chat), &BTreeMap::new());
        let taken = pending.take(org).unwrap();
        assert_eq!(taken.orphans.len(), 1);
        assert_eq!(taken.orphans[0].chat, chat);
        assert_eq!(taken.days.len(), 1, "counted before it is deleted");
    }
}
