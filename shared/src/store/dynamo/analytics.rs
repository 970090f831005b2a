//! Analytics on DynamoDB: the aggregator's batched, exactly-once counting
//! transactions, the summary's range query, and the reading of stream
//! records into [`StreamChange`]s.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::EventRecord;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item, cancellation_reasons,
    dashboard::{key, s},
    from_item, from_sdk, from_transaction, is_conditional_failure,
    items::{ChatItem, MarkerItem, TRACKED_KINDS, TrackedImage},
    keys, to_item,
};
use crate::{
    analytics::{
        AggregateKey, AggregatorStore, Applied, ChatState, Counters, DayRange, Marker,
        MessageFacts, StreamChange, Tracked,
    },
    domain::{ChatId, OrgId},
    store::{AnalyticsStore, StoreError, StoreResult},
};

/// How long a marker outlives the change it marks: past the stream's 24 h.
const MARKER_TTL: time::Duration = time::Duration::days(2);

/// Attributes of an aggregate item that are not counters.
const NOT_COUNTERS: [&str; 4] = [keys::PK, keys::SK, "kind", "org_id"];

#[async_trait]
impl AggregatorStore for DynamoStore {
    async fn chat_states(
        &self,
        chats: &BTreeSet<(OrgId, ChatId)>,
    ) -> StoreResult<BTreeMap<(OrgId, ChatId), ChatState>> {
        let item_keys = chats
            .iter()
            .map(|(org, chat)| key(keys::org_pk(*org), keys::chat_sk(*chat)))
            .collect();
        let mut states = BTreeMap::new();
        for item in self.get_many(item_keys).await? {
            let chat: ChatItem = from_item(item)?;
            let (org, id, user_id) = chat.owner()?;
            states.insert(
                (org, id),
                ChatState {
                    user_id,
                    deleted: chat.deleted_at.is_some(),
                },
            );
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
            let put = Put::builder()
                .table_name(&*self.table)
                .set_item(Some(to_item(&MarkerItem::new(marker, expires_at))?))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map_err(StoreError::unavailable)?;
            steps.push(TransactWriteItem::builder().put(put).build());
        }
        for (aggregate, delta) in deltas {
            steps.push(self.add_step(aggregate, delta)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(steps))
            .send()
            .await;
        let Err(error) = result else {
            return Ok(Applied::Done);
        };
        match cancellation_reasons(&error) {
            Some(reasons) if reasons.iter().any(is_conditional_failure) => {
                Ok(Applied::AlreadyCounted(
                    reasons
                        .iter()
                        .take(markers.len())
                        .enumerate()
                        .filter(|(_, reason)| is_conditional_failure(reason))
                        .map(|(index, _)| index)
                        .collect(),
                ))
            }
            _ => Err(from_transaction(error)),
        }
    }

    async fn delete_message(&self, message: &MessageFacts) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(key(
                keys::messages_pk(message.org, message.chat),
                keys::message_sk(message.id),
            )))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }
}

impl DynamoStore {
    /// A transaction step adding `delta` to an aggregate item (created on
    /// first use: `ADD` starts from zero).
    fn add_step(
        &self,
        aggregate: &AggregateKey,
        delta: &Counters,
    ) -> StoreResult<TransactWriteItem> {
        let mut names = HashMap::from([
            ("#kind".to_owned(), "kind".to_owned()),
            ("#org".to_owned(), "org_id".to_owned()),
        ]);
        let mut values = HashMap::from([
            (":kind".to_owned(), s("stats")),
            (":org".to_owned(), s(aggregate.org.to_string())),
        ]);
        let mut adds = Vec::with_capacity(delta.len());
        for (n, (name, change)) in delta.iter().enumerate() {
            names.insert(format!("#c{n}"), name.clone());
            values.insert(format!(":c{n}"), AttributeValue::N(change.to_string()));
            adds.push(format!("#c{n} :c{n}"));
        }
        let update = Update::builder()
            .table_name(&*self.table)
            .set_key(Some(key(
                keys::stats_pk(aggregate.org),
                keys::aggregate_sk(aggregate),
            )))
            .update_expression(format!(
                "SET #kind = :kind, #org = :org ADD {}",
                adds.join(", ")
            ))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().update(update).build())
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
        let last = format!("{}#~", keys::day_sk(range.to));
        let mut aggregates = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&*self.table)
                .key_condition_expression("pk = :p AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":p", s(keys::stats_pk(org)))
                .expression_attribute_values(":from", s(keys::day_sk(range.from)))
                .expression_attribute_values(":to", s(last.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(from_sdk)?;
            for item in output.items.unwrap_or_default() {
                aggregates.push(aggregate_from(org, item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(aggregates);
            }
        }
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

/// Reads a stream record about the table. `Ok(None)` for items analytics
/// do not follow (users, sessions, aggregates, markers...); an error for a
/// chat or message image that cannot be read.
pub fn stream_change(record: &EventRecord) -> StoreResult<Option<StreamChange>> {
    let sequence =
        record.change.sequence_number.clone().ok_or_else(|| {
            StoreError::Corrupt("a stream record without a sequence number".into())
        })?;
    let old = tracked(&record.change.old_image)?;
    let new = tracked(&record.change.new_image)?;
    if old.is_none() && new.is_none() {
        return Ok(None);
    }
    Ok(Some(StreamChange { sequence, old, new }))
}

fn tracked(image: &serde_dynamo::Item) -> StoreResult<Option<Tracked>> {
    let kind = match image.get("kind") {
        Some(serde_dynamo::AttributeValue::S(kind)) => kind.as_str(),
        _ => return Ok(None),
    };
    if !TRACKED_KINDS.contains(&kind) {
        return Ok(None);
    }
    let image: TrackedImage = serde_dynamo::from_item(image.clone())
        .map_err(|e| StoreError::Corrupt(format!("a {kind} image on the stream: {e}")))?;
    Tracked::try_from(image).map(Some)
}
