//! A shard's tumbling window, as the aggregator carries it between Lambda
//! invocations (the event's `state`): the changes folded in since the last
//! commit, summed per org and day, and the sequence numbers that make each
//! commit happen once.
//!
//! - Records at or below [`WindowState::last`] were folded in already (a
//!   re-delivery) and are dropped.
//! - A commit is named after the first record it holds
//!   ([`WindowState::first`]) and the shard: a retried invocation rebuilds
//!   the same commit from the same state, and its marker says it is done.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use time::Date;

use super::{
    aggregate::{DayDelta, OrgDelta, format_day, parse_day},
    change::{ChatState, Deltas, Sequence, StreamChange},
};
use crate::domain::{ChatId, MessageId, OrgId};

/// The key of the aggregator's state in Lambda's state map.
pub const STATE_KEY: &str = "window";
/// Lambda ends a window whose state passes 1 MB, and a parked commit must
/// fit in a 400 KB item: the aggregator commits the state whenever it grows
/// past this while folding records in, [`FOLD_CHUNK`] at a time.
pub const COMMIT_AT_BYTES: usize = 200 * 1024;
/// Records folded in between two looks at the state's size: at most ~70 KB
/// (50 chats of 20 tags of 64 characters). The points where a commit happens
/// depend only on the records, so a retried invocation commits the same.
pub const FOLD_CHUNK: usize = 50;
/// Days per commit: a marker and three items a day fill a transaction's
/// 100 items.
pub const MAX_DAYS_PER_COMMIT: usize = 33;

/// A message logged into a deleted or missing chat: counted, then deleted
/// once the commit that counted it is done (its removal then uncounts it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Orphan {
    pub org: OrgId,
    pub chat: ChatId,
    pub id: MessageId,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowState {
    /// The last record folded in.
    pub last: Option<Sequence>,
    /// The first record folded in since the last commit.
    pub first: Option<Sequence>,
    pub deltas: Deltas,
    pub orphans: Vec<Orphan>,
}

/// [`WindowState`] as JSON text: org and day keys as strings.
#[derive(Serialize, Deserialize, Default)]
struct Encoded {
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    last: Option<Sequence>,
    #[serde(rename = "f", default, skip_serializing_if = "Option::is_none")]
    first: Option<Sequence>,
    #[serde(rename = "d", default, skip_serializing_if = "BTreeMap::is_empty")]
    deltas: BTreeMap<OrgId, BTreeMap<String, DayDelta>>,
    #[serde(rename = "x", default, skip_serializing_if = "Vec::is_empty")]
    orphans: Vec<Orphan>,
}

/// A window state that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("the window state cannot be read: {0}")]
pub struct StateError(String);

/// What one commit writes for one org: a chunk of at most
/// [`MAX_DAYS_PER_COMMIT`] days of its changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgCommit {
    pub org: OrgId,
    /// The shard, the commit's first record and the chunk name the commit.
    pub shard: String,
    pub first: Sequence,
    pub chunk: u32,
    pub days: OrgDelta,
}

impl OrgCommit {
    /// The marker's name: unique per shard, commit and chunk.
    pub fn name(&self) -> String {
        format!("{}#{}#{}", self.shard, self.first, self.chunk)
    }
}

impl WindowState {
    pub fn from_lambda(state: &HashMap<String, String>) -> Result<Self, StateError> {
        let Some(text) = state.get(STATE_KEY) else {
            return Ok(Self::default());
        };
        let encoded: Encoded = serde_json::from_str(text).map_err(|e| StateError(e.to_string()))?;
        let mut deltas = Deltas::new();
        for (org, days) in encoded.deltas {
            let days = days
                .into_iter()
                .map(|(day, delta)| {
                    parse_day(&day)
                        .map(|day| (day, delta))
                        .ok_or_else(|| StateError(format!("not a day: {day}")))
                })
                .collect::<Result<_, _>>()?;
            deltas.insert(org, days);
        }
        Ok(Self {
            last: encoded.last,
            first: encoded.first,
            deltas,
            orphans: encoded.orphans,
        })
    }

    pub fn to_lambda(&self) -> HashMap<String, String> {
        let encoded = Encoded {
            last: self.last.clone(),
            first: self.first.clone(),
            deltas: self
                .deltas
                .iter()
                .map(|(org, days)| {
                    let days = days
                        .iter()
                        .map(|(day, delta)| (format_day(*day), delta.clone()))
                        .collect();
                    (*org, days)
                })
                .collect(),
            orphans: self.orphans.clone(),
        };
        let text = serde_json::to_string(&encoded).expect("the window state serialises");
        HashMap::from([(STATE_KEY.to_owned(), text)])
    }

    /// The size Lambda counts against its 1 MB state limit.
    pub fn encoded_len(&self) -> usize {
        self.to_lambda().values().map(String::len).sum()
    }

    /// About [`Self::encoded_len`], counted without encoding: what the
    /// aggregator watches while it folds records in.
    pub fn estimated_len(&self) -> usize {
        let entry = |name: &String| name.len() + 12;
        let days: usize = self
            .deltas
            .values()
            .flat_map(|days| days.values())
            .map(|day| {
                40 + day.counters.keys().map(entry).sum::<usize>()
                    + day.users.keys().map(entry).sum::<usize>()
                    + day.tags.keys().map(entry).sum::<usize>()
            })
            .sum();
        100 + days + self.deltas.len() * 32 + self.orphans.len() * 96
    }

    /// Whether nothing was folded in since the last commit.
    pub fn is_empty(&self) -> bool {
        self.deltas.is_empty() && self.orphans.is_empty()
    }

    /// The records after [`Self::last`], in order.
    pub fn unseen<'a>(&self, changes: &'a [StreamChange]) -> Vec<&'a StreamChange> {
        let mut unseen: Vec<&StreamChange> = changes
            .iter()
            .filter(|change| {
                self.last
                    .as_ref()
                    .is_none_or(|last| change.sequence > *last)
            })
            .collect();
        unseen.sort_by(|a, b| a.sequence.cmp(&b.sequence));
        unseen.dedup_by(|a, b| a.sequence == b.sequence);
        unseen
    }

    /// Folds changes (from [`Self::unseen`]) in, given the owners of their
    /// messages' chats.
    pub fn fold(
        &mut self,
        changes: &[&StreamChange],
        owners: &BTreeMap<(OrgId, ChatId), ChatState>,
    ) {
        for change in changes {
            change.add_to(&mut self.deltas, owners);
            if let Some(orphan) = change.orphan(owners) {
                self.orphans.push(Orphan {
                    org: orphan.org,
                    chat: orphan.chat,
                    id: orphan.id,
                });
            }
            if self.first.is_none() {
                self.first = Some(change.sequence.clone());
            }
            self.last = Some(change.sequence.clone());
        }
    }

    /// Takes what the next commit writes, per org and chunk of days, and
    /// the orphans to delete after it; the state keeps only [`Self::last`].
    pub fn take_commit(&mut self, shard: &str) -> (Vec<OrgCommit>, Vec<Orphan>) {
        let first = self.first.take();
        let deltas = std::mem::take(&mut self.deltas);
        let orphans = std::mem::take(&mut self.orphans);
        let Some(first) = first else {
            return (Vec::new(), orphans);
        };
        let mut commits = Vec::new();
        for (org, days) in deltas {
            let days: Vec<(Date, DayDelta)> = days.into_iter().collect();
            for (chunk, days) in days.chunks(MAX_DAYS_PER_COMMIT).enumerate() {
                commits.push(OrgCommit {
                    org,
                    shard: shard.to_owned(),
                    first: first.clone(),
                    chunk: chunk as u32,
                    days: days.iter().cloned().collect(),
                });
            }
        }
        (commits, orphans)
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::domain::{
        MessageRole,
        analytics::{
            aggregate::counter,
            change::{ChatFacts, MessageFacts, Tracked},
        },
    };

    fn insert(seq: u64, org: OrgId, chat: ChatId) -> StreamChange {
        StreamChange {
            sequence: Sequence::new(seq.to_string()),
            old: None,
            new: Some(Tracked::Message(MessageFacts {
                org,
                chat,
                id: MessageId::new(),
                role: MessageRole::User,
                tokens: None,
                latency_ms: Some(5),
                day: date!(2026 - 11 - 22),
            })),
        }
    }

    #[test]
    fn redelivered_records_are_dropped_and_the_state_survives_lambda() {
        let (org, chat) = (OrgId::new(), ChatId::new());
        let owners = BTreeMap::from([(
            (org, chat),
            ChatState {
                user_id: Some("ann".into()),
                deleted: false,
            },
        )]);
        let batch: Vec<StreamChange> = (1..=3).map(|n| insert(n, org, chat)).collect();
        let mut state = WindowState::default();
        state.fold(&state.clone().unseen(&batch), &owners);
        // A retry of the whole batch plus one new record, out of order.
        let mut again = batch.clone();
        again.insert(0, insert(4, org, chat));
        let unseen = state.unseen(&again);
        assert_eq!(unseen.len(), 1);
        state.fold(&unseen, &owners);
        let estimate = state.estimated_len() as f64;
        let exact = state.encoded_len() as f64;
        assert!(
            estimate > exact * 0.5 && estimate < exact * 2.0,
            "{estimate} vs {exact}"
        );
        let state = WindowState::from_lambda(&state.to_lambda()).unwrap();
        let day = &state.deltas[&org][&date!(2026 - 11 - 22)];
        assert_eq!(day.counters[counter::MESSAGES], 4);
        assert_eq!(day.users["ann"], 4);
        assert_eq!(state.first.as_ref().map(Sequence::as_str), Some("1"));
        assert_eq!(state.last.as_ref().map(Sequence::as_str), Some("4"));
    }

    #[test]
    fn commits_are_per_org_in_chunks_of_days_and_keep_the_last_record() {
        let org = OrgId::new();
        let mut state = WindowState::default();
        let changes: Vec<StreamChange> = (0..40)
            .map(|n| StreamChange {
                sequence: Sequence::new((100 + n).to_string()),
                old: None,
                new: Some(Tracked::Chat(ChatFacts {
                    org,
                    id: ChatId::new(),
                    day: date!(2026 - 01 - 01) + time::Duration::days(n as i64),
                    tags: vec!["vip".into()],
                    user_id: None,
                    deleted: false,
                })),
            })
            .collect();
        state.fold(&state.clone().unseen(&changes), &BTreeMap::new());
        let (commits, orphans) = state.take_commit("shard-1");
        assert!(orphans.is_empty());
        assert_eq!(commits.len(), 2);
        assert_eq!(commits[0].days.len(), MAX_DAYS_PER_COMMIT);
        assert_eq!(commits[1].name(), "shard-1#100#1");
        assert!(state.is_empty());
        assert_eq!(state.last.as_ref().map(Sequence::as_str), Some("139"));
        assert!(state.take_commit("shard-1").0.is_empty());
    }
}
