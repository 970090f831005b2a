//! What the aggregator learns from one stream record, and what it adds to
//! the aggregates because of it.
//!
//! A record's effect is the contribution of the item's new image minus the
//! contribution of its old image. So an insert counts, a removal uncounts,
//! a tag edit moves a chat from the old tags to the new ones, and a soft
//! delete (a chat gaining `deleted_at`) uncounts the chat. Whatever is
//! stored and live is exactly what the aggregates count.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use super::{
    aggregate::{DayDelta, OrgDelta, counter},
    histogram,
};
use crate::domain::{ChatId, MessageId, MessageRole, OrgId};

/// The facts about a message that analytics use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageFacts {
    pub org: OrgId,
    pub chat: ChatId,
    pub id: MessageId,
    pub role: MessageRole,
    pub tokens: Option<u64>,
    pub latency_ms: Option<u64>,
    /// The UTC day it was logged.
    pub day: Date,
}

/// The facts about a chat that analytics use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatFacts {
    pub org: OrgId,
    pub id: ChatId,
    pub day: Date,
    pub tags: Vec<String>,
    pub user_id: Option<String>,
    pub deleted: bool,
}

/// An item the analytics follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracked {
    Message(MessageFacts),
    Chat(ChatFacts),
}

/// A stream record's sequence number: numeric text that grows along a
/// shard, compared as a number.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sequence(String);

impl Sequence {
    pub fn new(raw: String) -> Self {
        Self(raw)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits without leading zeros: longer is larger, then by text.
    fn digits(&self) -> &str {
        self.0.trim_start_matches('0')
    }
}

impl PartialEq for Sequence {
    fn eq(&self, other: &Self) -> bool {
        self.digits() == other.digits()
    }
}

impl Eq for Sequence {}

impl Ord for Sequence {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        let (a, b) = (self.digits(), other.digits());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for Sequence {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for Sequence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One stream record about a tracked item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamChange {
    /// Orders the changes of one shard.
    pub sequence: Sequence,
    pub old: Option<Tracked>,
    pub new: Option<Tracked>,
}

/// The owner of a message's chat, as the aggregator looks it up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatState {
    pub user_id: Option<String>,
    pub deleted: bool,
}

/// Every org's changes, by org then UTC day.
pub type Deltas = BTreeMap<OrgId, OrgDelta>;

impl StreamChange {
    /// The chats whose owner this change needs to know.
    pub fn message_chat(&self) -> Option<(OrgId, ChatId)> {
        match self.new.as_ref().or(self.old.as_ref()) {
            Some(Tracked::Message(m)) => Some((m.org, m.chat)),
            _ => None,
        }
    }

    /// Adds what this change does to the counts into `deltas`, given the
    /// owners of the chats its messages belong to.
    pub fn add_to(&self, deltas: &mut Deltas, owners: &BTreeMap<(OrgId, ChatId), ChatState>) {
        if let Some(new) = &self.new {
            contribute(new, owners, 1, deltas);
        }
        if let Some(old) = &self.old {
            contribute(old, owners, -1, deltas);
        }
    }

    /// A message just logged into a chat that is gone (ingest's chat cache
    /// let it through after a delete): the aggregator removes it.
    pub fn orphan(&self, owners: &BTreeMap<(OrgId, ChatId), ChatState>) -> Option<&MessageFacts> {
        match (&self.old, &self.new) {
            (None, Some(Tracked::Message(m))) => {
                let live = owners.get(&(m.org, m.chat)).is_some_and(|c| !c.deleted);
                (!live).then_some(m)
            }
            _ => None,
        }
    }
}

/// Adds `sign` times the item's counts to `deltas`. What cancels out (a
/// tag kept by an edit) leaves nothing behind.
fn contribute(
    item: &Tracked,
    owners: &BTreeMap<(OrgId, ChatId), ChatState>,
    sign: i64,
    deltas: &mut Deltas,
) {
    let amount = |value: u64| sign * i64::try_from(value).unwrap_or(i64::MAX);
    let (org, day) = match item {
        Tracked::Message(m) => (m.org, m.day),
        Tracked::Chat(c) => (c.org, c.day),
    };
    let mut delta = DayDelta::default();
    match item {
        Tracked::Message(m) => {
            let mut add = |name: String, value: u64| {
                *delta.counters.entry(name).or_default() += amount(value);
            };
            add(counter::MESSAGES.into(), 1);
            add(counter::role(m.role), 1);
            if let Some(tokens) = m.tokens {
                add(counter::TOKENS.into(), tokens);
                add(counter::role_tokens(m.role), tokens);
            }
            if let Some(latency) = m.latency_ms {
                add(counter::LATENCY_COUNT.into(), 1);
                add(counter::LATENCY_SUM_MS.into(), latency);
                add(counter::latency_bucket(histogram::bucket_of(latency)), 1);
            }
            let owner = owners
                .get(&(m.org, m.chat))
                .and_then(|chat| chat.user_id.clone());
            if let Some(user) = owner {
                delta.users.insert(user, amount(1));
            }
        }
        Tracked::Chat(c) if !c.deleted => {
            delta.counters.insert(counter::CHATS.into(), amount(1));
            for tag in &c.tags {
                delta.tags.insert(tag.clone(), amount(1));
            }
        }
        Tracked::Chat(_) => return,
    }
    deltas
        .entry(org)
        .or_default()
        .entry(day)
        .or_default()
        .add(&delta);
    // Drop what cancelled out, so an edit that changes no count leaves no day behind.
    let days = deltas.get_mut(&org).expect("just added");
    if days.get(&day).is_some_and(DayDelta::is_empty) {
        days.remove(&day);
    }
    if days.is_empty() {
        deltas.remove(&org);
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    fn message(org: OrgId, chat: ChatId) -> MessageFacts {
        MessageFacts {
            org,
            chat,
            id: MessageId::new(),
            role: MessageRole::Assistant,
            tokens: Some(7),
            latency_ms: Some(120),
            day: date!(2026 - 11 - 20),
        }
    }

    fn chat(org: OrgId, tags: &[&str], deleted: bool) -> ChatFacts {
        ChatFacts {
            org,
            id: ChatId::new(),
            day: date!(2026 - 11 - 19),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            user_id: Some("visitor-1".into()),
            deleted,
        }
    }

    fn change(seq: u64, old: Option<Tracked>, new: Option<Tracked>) -> StreamChange {
        StreamChange {
            sequence: Sequence::new(seq.to_string()),
            old,
            new,
        }
    }

    fn deltas_of(change: &StreamChange, owners: &BTreeMap<(OrgId, ChatId), ChatState>) -> Deltas {
        let mut deltas = Deltas::new();
        change.add_to(&mut deltas, owners);
        deltas
    }

    #[test]
    fn a_message_counts_on_its_day_and_for_its_chats_owner() {
        let (org, chat_id) = (OrgId::new(), ChatId::new());
        let owners = BTreeMap::from([(
            (org, chat_id),
            ChatState {
                user_id: Some("visitor-1".into()),
                deleted: false,
            },
        )]);
        let m = message(org, chat_id);
        let insert = change(1, None, Some(Tracked::Message(m.clone())));
        let deltas = deltas_of(&insert, &owners);
        let day = &deltas[&org][&m.day];
        assert_eq!(day.counters[counter::MESSAGES], 1);
        assert_eq!(day.counters["role:assistant"], 1);
        assert_eq!(day.counters[counter::TOKENS], 7);
        assert_eq!(day.counters["role_tokens:assistant"], 7);
        assert_eq!(day.counters[counter::LATENCY_SUM_MS], 120);
        assert_eq!(day.users["visitor-1"], 1);
        assert!(insert.orphan(&owners).is_none());
        assert!(insert.orphan(&BTreeMap::new()).is_some());

        let remove = change(2, Some(Tracked::Message(m.clone())), None);
        let mut both = deltas;
        remove.add_to(&mut both, &owners);
        assert!(
            both.is_empty(),
            "an insert and its removal cancel out: {both:?}"
        );
        assert_eq!(
            deltas_of(&remove, &owners)[&org][&m.day].counters[counter::MESSAGES],
            -1
        );
    }

    #[test]
    fn chat_edits_move_tags_and_soft_deletes_uncount() {
        let org = OrgId::new();
        let before = chat(org, &["a", "b"], false);
        let after = ChatFacts {
            tags: vec!["b".into(), "c".into()],
            ..before.clone()
        };
        let edit = change(
            5,
            Some(Tracked::Chat(before.clone())),
            Some(Tracked::Chat(after.clone())),
        );
        let deltas = deltas_of(&edit, &BTreeMap::new());
        let day = &deltas[&org][&before.day];
        assert_eq!(day.tags.get("a"), Some(&-1));
        assert_eq!(day.tags.get("b"), None, "unchanged tags add nothing");
        assert_eq!(day.tags.get("c"), Some(&1));
        assert_eq!(day.counters.get(counter::CHATS), None);

        let deleted = ChatFacts {
            deleted: true,
            ..after.clone()
        };
        let delete = change(
            6,
            Some(Tracked::Chat(after)),
            Some(Tracked::Chat(deleted.clone())),
        );
        let day = &deltas_of(&delete, &BTreeMap::new())[&org][&before.day];
        assert_eq!(day.counters[counter::CHATS], -1);
        assert_eq!(day.tags["c"], -1);
        // The tombstone's eventual TTL removal changes nothing.
        let expiry = change(7, Some(Tracked::Chat(deleted)), None);
        assert!(deltas_of(&expiry, &BTreeMap::new()).is_empty());
    }

    #[test]
    fn sequence_numbers_compare_as_numbers() {
        let seq = |s: &str| Sequence::new(s.to_owned());
        assert!(seq("9") < seq("10"));
        assert!(seq("100000000000000000001") < seq("100000000000000000002"));
        assert!(seq("99999999999999999999") < seq("100000000000000000000"));
        assert_eq!(seq("0042"), seq("42"));
    }
}
