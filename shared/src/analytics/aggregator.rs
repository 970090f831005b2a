//! The stream-fed aggregator: turns a batch of stream records into
//! per-org per-day counter updates, exactly once.
//!
//! Exactly once, whatever the delivery: each change is counted in a
//! transaction that also writes its [`Marker`] (conditional on the marker
//! being new). A batch Lambda retries, a record delivered twice, or the
//! same change arriving in two differently bisected batches finds its
//! marker and adds nothing. Markers expire after two days, well past the
//! stream's 24-hour retention.
//!
//! Batched: one transaction carries up to [`MAX_TRANSACTION_ITEMS`] markers
//! and aggregate updates, with every change to the same aggregate item
//! summed into one update.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    domain::analytics::{AggregateKey, Counters, Marker, StreamChange, aggregate::add_counters},
    sdk_error::error_chain,
    store::{AggregatorStore, Applied, StoreError, StoreResult},
};

/// DynamoDB's limit on the items of one transaction.
pub const MAX_TRANSACTION_ITEMS: usize = 100;
/// How often a chunk is retried after conflicting with another writer.
const ATTEMPTS: usize = 4;
/// Retrying in place is for brief contention. Past this, a chunk's failure
/// goes back to Lambda, which retries the batch: a database that is timing
/// out (each call up to its operation timeout) must not keep the function
/// running into its own timeout.
const RETRY_WINDOW: std::time::Duration = std::time::Duration::from_secs(5);

/// Where a batch stopped: Lambda retries it from this record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedFrom(pub String);

/// One change, ready to count.
struct Counted {
    sequence: String,
    marker: Marker,
    deltas: BTreeMap<AggregateKey, Counters>,
}

/// What an aggregation run did, for logs and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchReport {
    /// Changes counted now.
    pub counted: usize,
    /// Changes found already counted (retries, duplicates).
    pub already_counted: usize,
    /// Transactions written.
    pub transactions: usize,
    /// Items written by those transactions (markers and aggregates).
    pub items_written: usize,
    pub orphans_deleted: usize,
}

/// Counts every change of a batch (in stream order) exactly once. On
/// failure, everything before the returned record is counted, and retrying
/// from it (or from anywhere earlier) is safe.
pub async fn aggregate(
    store: &dyn AggregatorStore,
    changes: &[StreamChange],
) -> Result<BatchReport, (BatchReport, FailedFrom)> {
    let mut report = BatchReport::default();
    let Some(first) = changes.first() else {
        return Ok(report);
    };
    let chats: BTreeSet<_> = changes
        .iter()
        .filter_map(StreamChange::message_chat)
        .collect();
    let owners = match store.chat_states(&chats).await {
        Ok(owners) => owners,
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "could not look up chats");
            return Err((report, FailedFrom(first.sequence.clone())));
        }
    };

    // A record delivered twice in one batch is one change (and one
    // transaction may not write the same marker twice).
    let mut markers = BTreeSet::new();
    let counted: Vec<Counted> = changes
        .iter()
        .filter_map(|change| {
            let deltas = change.deltas(&owners);
            let marker = change.marker()?;
            if deltas.is_empty() {
                return None;
            }
            if !markers.insert(marker.clone()) {
                report.already_counted += 1;
                return None;
            }
            Some(Counted {
                sequence: change.sequence.clone(),
                marker,
                deltas,
            })
        })
        .collect();
    for chunk in chunks(counted) {
        if let Err(error) = count_chunk(store, chunk.as_slice(), &mut report).await {
            tracing::error!(error = %error_chain(&error), "could not count a chunk of changes");
            return Err((report, FailedFrom(chunk[0].sequence.clone())));
        }
    }

    // Only after the insert is counted, so its removal cannot come first.
    for change in changes {
        if let Some(orphan) = change.orphan(&owners) {
            if let Err(error) = store.delete_message(orphan).await {
                tracing::error!(error = %error_chain(&error), message_id = %orphan.id, "could not delete an orphan message");
                return Err((report, FailedFrom(change.sequence.clone())));
            }
            tracing::info!(message_id = %orphan.id, chat_id = %orphan.chat, "deleted a message logged after its chat was deleted");
            report.orphans_deleted += 1;
        }
    }
    Ok(report)
}

/// Splits the changes, in order, into transactions of at most
/// [`MAX_TRANSACTION_ITEMS`] items (one marker per change plus one update
/// per distinct aggregate item).
fn chunks(counted: Vec<Counted>) -> Vec<Vec<Counted>> {
    let mut chunks: Vec<Vec<Counted>> = Vec::new();
    let mut keys = BTreeSet::new();
    for change in counted {
        let new_keys = change
            .deltas
            .keys()
            .filter(|key| !keys.contains(*key))
            .count();
        let current = chunks.last().map_or(0, Vec::len);
        if chunks.is_empty() || current + 1 + keys.len() + new_keys > MAX_TRANSACTION_ITEMS {
            chunks.push(Vec::new());
            keys.clear();
        }
        keys.extend(change.deltas.keys().copied());
        chunks.last_mut().expect("just ensured").push(change);
    }
    chunks
}

async fn count_chunk(
    store: &dyn AggregatorStore,
    chunk: &[Counted],
    report: &mut BatchReport,
) -> StoreResult<()> {
    let mut pending: Vec<&Counted> = chunk.iter().collect();
    let mut conflicts = 0;
    let started = std::time::Instant::now();
    while !pending.is_empty() {
        let markers: Vec<Marker> = pending.iter().map(|c| c.marker.clone()).collect();
        let mut deltas: BTreeMap<AggregateKey, Counters> = BTreeMap::new();
        for change in &pending {
            for (key, delta) in &change.deltas {
                add_counters(deltas.entry(*key).or_default(), delta);
            }
        }
        deltas.retain(|_, counters| !counters.is_empty());
        let failure = match store.apply_once(&markers, &deltas).await {
            Ok(Applied::Done) => {
                report.counted += pending.len();
                report.transactions += 1;
                report.items_written += markers.len() + deltas.len();
                return Ok(());
            }
            Ok(Applied::AlreadyCounted(indices)) if !indices.is_empty() => {
                report.already_counted += indices.len();
                let seen: BTreeSet<usize> = indices.into_iter().collect();
                pending = pending
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| !seen.contains(i))
                    .map(|(_, c)| c)
                    .collect();
                continue;
            }
            // Cancelled without naming a marker: another writer held an item.
            Ok(Applied::AlreadyCounted(_)) => {
                StoreError::transient("another writer held an aggregate item")
            }
            Err(error @ StoreError::Transient(_)) => error,
            Err(error) => return Err(error),
        };
        conflicts += 1;
        if conflicts >= ATTEMPTS || started.elapsed() >= RETRY_WINDOW {
            // The last failure is the one the log shows.
            return Err(failure);
        }
        tokio::time::sleep(std::time::Duration::from_millis(20 << conflicts)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;
    use crate::{
        domain::{
            ChatId, MessageId, MessageRole, OrgId,
            analytics::{ChatFacts, ChatState, MessageFacts, Tracked},
        },
        store::MemoryAggregates,
    };

    fn message_insert(seq: u64, org: OrgId, chat: ChatId) -> StreamChange {
        StreamChange {
            sequence: seq.to_string(),
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

    fn messages(store: &MemoryAggregates, org: OrgId) -> i64 {
        store.aggregates()[&AggregateKey::day(org, date!(2026 - 11 - 22))]["messages"]
    }

    #[tokio::test]
    async fn retried_batches_and_duplicated_records_count_once() {
        let store = MemoryAggregates::new();
        let (org, chat) = (OrgId::new(), ChatId::new());
        store.set_chat(
            org,
            chat,
            ChatState {
                user_id: Some("v".into()),
                deleted: false,
            },
        );
        let batch: Vec<_> = (0..250).map(|i| message_insert(i, org, chat)).collect();

        let report = aggregate(&store, &batch).await.unwrap();
        assert_eq!(report.counted, 250);
        assert!(report.transactions >= 3, "chunks of at most 100 items");
        // Lambda retries the whole batch, then a bisected half, then a record twice in one batch.
        let retry = aggregate(&store, &batch).await.unwrap();
        assert_eq!((retry.counted, retry.already_counted), (0, 250));
        aggregate(&store, &batch[100..200]).await.unwrap();
        let twice = [
            batch[7].clone(),
            batch[7].clone(),
            message_insert(999, org, chat),
        ];
        let report = aggregate(&store, &twice).await.unwrap();
        assert_eq!(report.counted, 1);
        assert_eq!(messages(&store, org), 251);
        assert_eq!(
            store.aggregates()[&AggregateKey::users(org, date!(2026 - 11 - 22), "v")]["user:v"],
            251
        );
    }

    #[tokio::test]
    async fn messages_of_deleted_chats_are_counted_then_deleted() {
        let store = MemoryAggregates::new();
        let (org, chat) = (OrgId::new(), ChatId::new());
        store.set_chat(
            org,
            chat,
            ChatState {
                user_id: None,
                deleted: true,
            },
        );
        let insert = message_insert(1, org, chat);
        let report = aggregate(&store, std::slice::from_ref(&insert))
            .await
            .unwrap();
        assert_eq!(report.orphans_deleted, 1);
        let Some(Tracked::Message(m)) = &insert.new else {
            unreachable!()
        };
        assert_eq!(store.deleted_messages(), [m.id]);
        // Its removal then uncounts it.
        let removal = StreamChange {
            sequence: "2".into(),
            old: insert.new.clone(),
            new: None,
        };
        aggregate(&store, &[removal]).await.unwrap();
        assert_eq!(messages(&store, org), 0);
    }

    #[tokio::test]
    async fn chat_changes_without_count_effect_write_nothing() {
        let store = MemoryAggregates::new();
        let chat = ChatFacts {
            org: OrgId::new(),
            id: ChatId::new(),
            day: date!(2026 - 11 - 22),
            tags: vec!["a".into()],
            user_id: None,
            revision: 1,
            deleted: false,
        };
        let retitled = StreamChange {
            sequence: "9".into(),
            old: Some(Tracked::Chat(ChatFacts {
                revision: 0,
                ..chat.clone()
            })),
            new: Some(Tracked::Chat(chat)),
        };
        let report = aggregate(&store, &[retitled]).await.unwrap();
        assert_eq!((report.counted, store.transactions()), (0, 0));
    }
}
