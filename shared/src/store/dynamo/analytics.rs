//! Analytics aggregates: one partition per org, `ORG#<org>#STATS` /
//! `DAY#<yyyy-mm-dd>[#USERS#<n>]`, so a range of days is one query; and
//! the aggregator's exactly-once markers next to the items they mark.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    chats::{ChatItem, chat_key},
    expr::{Cond, Update, number, s},
    from_item, keys,
    query::{Listing, SortKey},
    requests::key,
    to_item,
    transaction::{Step, Transaction},
};
use crate::{
    domain::{
        ChatId, OrgId,
        analytics::{AggregateKey, ChatState, Counters, DayRange, Marker, MessageFacts},
    },
    store::{AggregatorStore, AnalyticsStore, Applied, Read, StoreError, StoreResult},
};

/// How long a marker outlives the change it marks: past the stream's 24 h.
const MARKER_TTL: time::Duration = time::Duration::days(2);

/// Attributes of an aggregate item that are not counters.
const NOT_COUNTERS: [&str; 4] = [keys::PK, keys::SK, "kind", "org_id"];

/// Proof that the aggregator counted one change (see `analytics::aggregator`).
#[derive(Serialize, Deserialize)]
struct MarkerItem {
    pk: String,
    sk: String,
    kind: String,
    /// Epoch seconds: DynamoDB's TTL deletes the marker after this.
    expires_at: i64,
}

impl MarkerItem {
    fn new(marker: &Marker, expires_at: OffsetDateTime) -> Self {
        Self {
            pk: keys::marker_pk(marker),
            sk: marker.name.clone(),
            kind: "seen".into(),
            expires_at: expires_at.unix_timestamp(),
        }
    }
}

/// Adds `delta` to an aggregate item (created on first use: `ADD` starts
/// from zero).
fn add_to(aggregate: &AggregateKey, delta: &Counters) -> Step {
    let mut update = Update::default()
        .set("kind", s("stats"))
        .set("org_id", s(aggregate.org.to_string()));
    for (name, change) in delta {
        update = update.add(name.clone(), number(change));
    }
    Step::Update {
        key: key(keys::stats_pk(aggregate.org), keys::aggregate_sk(aggregate)),
        update,
    }
}

#[async_trait]
impl AggregatorStore for DynamoStore {
    async fn chat_states(
        &self,
        chats: &BTreeSet<(OrgId, ChatId)>,
    ) -> StoreResult<BTreeMap<(OrgId, ChatId), ChatState>> {
        let item_keys = chats
            .iter()
            .map(|(org, chat)| chat_key(*org, *chat))
            .collect();
        let mut states = BTreeMap::new();
        for item in self.get_many(item_keys, Read::Consistent).await? {
            let chat: ChatItem = from_item(item)?;
            let (org, id, user_id) = chat.owner()?;
            let deleted = chat.deleted_at.is_some();
            states.insert((org, id), ChatState { user_id, deleted });
        }
        Ok(states)
    }

    async fn apply_once(
        &self,
        markers: &[Marker],
        deltas: &BTreeMap<AggregateKey, Counters>,
    ) -> StoreResult<Applied> {
        let expires_at = OffsetDateTime::now_utc() + MARKER_TTL;
        let mut steps = Vec::with_capacity(markers.len() + deltas.len());
        for marker in markers {
            steps.push(Step::Put {
                item: to_item(&MarkerItem::new(marker, expires_at))?,
                condition: Some(Cond::IsNew),
            });
        }
        steps.extend(
            deltas
                .iter()
                .map(|(aggregate, delta)| add_to(aggregate, delta)),
        );
        match self.transact(steps).await? {
            Transaction::Committed => Ok(Applied::Done),
            Transaction::Refused(refused) => Ok(Applied::AlreadyCounted(
                refused
                    .into_iter()
                    .map(|(index, _)| index)
                    .filter(|index| *index < markers.len())
                    .collect(),
            )),
        }
    }

    async fn delete_message(&self, message: &MessageFacts) -> StoreResult<()> {
        let message_key = key(
            keys::messages_pk(message.org, message.chat),
            keys::message_sk(message.id),
        );
        self.delete(message_key, None).await?;
        Ok(())
    }
}

#[async_trait]
impl AnalyticsStore for DynamoStore {
    async fn aggregates(
        &self,
        org: OrgId,
        range: DayRange,
    ) -> StoreResult<Vec<(AggregateKey, Counters)>> {
        // `DAY#<to>#~` sorts after `DAY#<to>` and all of its `#USERS#` items.
        let listing = Listing {
            sort: SortKey::Between(
                keys::day_sk(range.from),
                format!("{}#~", keys::day_sk(range.to)),
            ),
            // The summary may lag the aggregator by a second: half the cost.
            read: Read::Eventual,
            ..Listing::partition(keys::stats_pk(org), "")
        };
        let items = self.query_all(&listing).await?;
        items
            .into_iter()
            .map(|item| aggregate_from(org, item))
            .collect()
    }
}

fn aggregate_from(org: OrgId, item: Item) -> StoreResult<(AggregateKey, Counters)> {
    let sk = item.get(keys::SK).and_then(|v| v.as_s().ok());
    let aggregate = sk
        .and_then(|sk| keys::parse_aggregate_sk(org, sk))
        .ok_or_else(|| StoreError::Corrupt(format!("aggregate item with key {sk:?}")))?;
    let mut counters = Counters::new();
    for (name, value) in item {
        if NOT_COUNTERS.contains(&name.as_str()) {
            continue;
        }
        let count = value
            .as_n()
            .ok()
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("aggregate counter {name}")))?;
        counters.insert(name, count);
    }
    Ok((aggregate, counters))
}
