//! What the aggregator learns from one stream record, and what it adds to
//! the aggregates because of it.
//!
//! A record's effect is the contribution of the item's new image minus the
//! contribution of its old image. So an insert counts, a removal uncounts,
//! a tag edit moves a chat from the old tags to the new ones, and a soft
//! delete (a chat gaining `deleted_at`) uncounts the chat. Whatever is
//! stored and live is exactly what the aggregates count.

use std::collections::BTreeMap;

use time::Date;

use super::{
    aggregate::{AggregateKey, Counters, counter},
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
    /// Bumped by every change to the chat, so each change is counted once.
    pub revision: u64,
    pub deleted: bool,
}

/// An item the analytics follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tracked {
    Message(MessageFacts),
    Chat(ChatFacts),
}

/// One stream record about a tracked item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamChange {
    /// The record's sequence number: what a partial batch failure reports.
    pub sequence: String,
    pub old: Option<Tracked>,
    pub new: Option<Tracked>,
}

/// The proof that a change was counted: an item named after the change
/// itself (not after the stream record, which a retry may re-deliver in
/// another batch), written in the same transaction as the counts.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Marker {
    pub org: OrgId,
    /// Markers of message changes live in the chat's message partition,
    /// those of chat changes in the org's.
    pub chat: Option<ChatId>,
    pub name: String,
}

/// The owner of a message's chat, as the aggregator looks it up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChatState {
    pub user_id: Option<String>,
    pub deleted: bool,
}

impl StreamChange {
    /// The chats whose owner this change needs to know.
    pub fn message_chat(&self) -> Option<(OrgId, ChatId)> {
        match self.new.as_ref().or(self.old.as_ref()) {
            Some(Tracked::Message(m)) => Some((m.org, m.chat)),
            _ => None,
        }
    }

    /// The marker of this change, or `None` when it changes no count (a
    /// message edit, a chat edit that keeps its tags).
    pub fn marker(&self) -> Option<Marker> {
        match (&self.old, &self.new) {
            (None, Some(Tracked::Message(m))) => Some(message_marker(m, "+")),
            (Some(Tracked::Message(m)), None) => Some(message_marker(m, "-")),
            (_, Some(Tracked::Chat(c))) => Some(chat_marker(c, &c.revision.to_string())),
            (Some(Tracked::Chat(c)), None) => Some(chat_marker(c, "-")),
            _ => None,
        }
    }

    /// What this change adds to each aggregate item, given the owners of
    /// the chats its messages belong to.
    pub fn deltas(
        &self,
        owners: &BTreeMap<(OrgId, ChatId), ChatState>,
    ) -> BTreeMap<AggregateKey, Counters> {
        let mut deltas = BTreeMap::new();
        if let Some(new) = &self.new {
            contribute(new, owners, 1, &mut deltas);
        }
        if let Some(old) = &self.old {
            contribute(old, owners, -1, &mut deltas);
        }
        deltas.retain(|_, counters: &mut Counters| {
            counters.retain(|_, value| *value != 0);
            !counters.is_empty()
        });
        deltas
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

fn message_marker(message: &MessageFacts, suffix: &str) -> Marker {
    Marker {
        org: message.org,
        chat: Some(message.chat),
        name: format!("SEEN#MSG#{}#{suffix}", message.id),
    }
}

fn chat_marker(chat: &ChatFacts, suffix: &str) -> Marker {
    Marker {
        org: chat.org,
        chat: None,
        name: format!("SEEN#CHAT#{}#{suffix}", chat.id),
    }
}

/// Adds `sign` times the item's counts to `deltas`.
fn contribute(
    item: &Tracked,
    owners: &BTreeMap<(OrgId, ChatId), ChatState>,
    sign: i64,
    deltas: &mut BTreeMap<AggregateKey, Counters>,
) {
    let mut add = |key: AggregateKey, name: String, amount: u64| {
        let amount = i64::try_from(amount).unwrap_or(i64::MAX);
        *deltas.entry(key).or_default().entry(name).or_default() += sign * amount;
    };
    match item {
        Tracked::Message(m) => {
            let day = AggregateKey::day(m.org, m.day);
            add(day, counter::MESSAGES.into(), 1);
            add(day, counter::role(m.role), 1);
            if let Some(tokens) = m.tokens {
                add(day, counter::TOKENS.into(), tokens);
                add(day, counter::role_tokens(m.role), tokens);
            }
            if let Some(latency) = m.latency_ms {
                add(day, counter::LATENCY_COUNT.into(), 1);
                add(day, counter::LATENCY_SUM_MS.into(), latency);
                add(
                    day,
                    counter::latency_bucket(histogram::bucket_of(latency)),
                    1,
                );
            }
            let owner = owners
                .get(&(m.org, m.chat))
                .and_then(|chat| chat.user_id.as_deref());
            if let Some(user) = owner {
                add(
                    AggregateKey::users(m.org, m.day, user),
                    counter::user(user),
                    1,
                );
            }
        }
        Tracked::Chat(c) if !c.deleted => {
            let day = AggregateKey::day(c.org, c.day);
            add(day, counter::CHATS.into(), 1);
            for tag in &c.tags {
                add(day, counter::tag(tag), 1);
            }
        }
        Tracked::Chat(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::domain::analytics::aggregate::AggregatePart;

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

    fn chat(org: OrgId, tags: &[&str], revision: u64, deleted: bool) -> ChatFacts {
        ChatFacts {
            org,
            id: ChatId::new(),
            day: date!(2026 - 11 - 19),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            user_id: Some("visitor-1".into()),
            revision,
            deleted,
        }
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
        let insert = StreamChange {
            sequence: "1".into(),
            old: None,
            new: Some(Tracked::Message(m.clone())),
        };
        let deltas = insert.deltas(&owners);
        let day = &deltas[&AggregateKey::day(org, m.day)];
        assert_eq!(day[counter::MESSAGES], 1);
        assert_eq!(day["role:assistant"], 1);
        assert_eq!(day[counter::TOKENS], 7);
        assert_eq!(day["role_tokens:assistant"], 7);
        assert_eq!(day[counter::LATENCY_SUM_MS], 120);
        let users = &deltas[&AggregateKey::users(org, m.day, "visitor-1")];
        assert_eq!(users["user:visitor-1"], 1);
        assert!(insert.orphan(&owners).is_none());
        assert!(insert.orphan(&BTreeMap::new()).is_some());

        let remove = StreamChange {
            sequence: "2".into(),
            old: Some(Tracked::Message(m)),
            new: None,
        };
        assert_eq!(
            remove.deltas(&owners)[&AggregateKey::day(org, date!(2026 - 11 - 20))]
                [counter::MESSAGES],
            -1
        );
        assert_ne!(insert.marker(), remove.marker());
    }

    #[test]
    fn chat_edits_move_tags_and_soft_deletes_uncount() {
        let org = OrgId::new();
        let before = chat(org, &["a", "b"], 0, false);
        let after = ChatFacts {
            tags: vec!["b".into(), "c".into()],
            revision: 1,
            ..before.clone()
        };
        let edit = StreamChange {
            sequence: "5".into(),
            old: Some(Tracked::Chat(before.clone())),
            new: Some(Tracked::Chat(after.clone())),
        };
        let deltas = edit.deltas(&BTreeMap::new());
        let day = &deltas[&AggregateKey::day(org, before.day)];
        assert_eq!(day.get("tag:a"), Some(&-1));
        assert_eq!(day.get("tag:b"), None, "unchanged tags add nothing");
        assert_eq!(day.get("tag:c"), Some(&1));
        assert_eq!(day.get(counter::CHATS), None);

        let deleted = ChatFacts {
            deleted: true,
            revision: 2,
            ..after.clone()
        };
        let delete = StreamChange {
            sequence: "6".into(),
            old: Some(Tracked::Chat(after)),
            new: Some(Tracked::Chat(deleted.clone())),
        };
        let day = &delete.deltas(&BTreeMap::new())[&AggregateKey::day(org, before.day)];
        assert_eq!(day[counter::CHATS], -1);
        assert_eq!(day["tag:c"], -1);
        // The tombstone's eventual TTL removal changes nothing.
        let expiry = StreamChange {
            sequence: "7".into(),
            old: Some(Tracked::Chat(deleted)),
            new: None,
        };
        assert!(expiry.deltas(&BTreeMap::new()).is_empty());
        assert_ne!(edit.marker(), delete.marker());
        assert!(matches!(
            AggregateKey::users(org, before.day, "x").part,
            AggregatePart::Users(b) if b < crate::domain::analytics::aggregate::USER_BUCKETS
        ));
    }
}
