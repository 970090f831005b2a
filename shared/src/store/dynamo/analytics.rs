//! Analytics aggregates: one partition per org, `ORG#<org>#STATS`, holding
//! per UTC day the counters (`DAY#<d>`) and the top end users and tags
//! (`DAY#<d>#USERS`, `DAY#<d>#TAGS`), so a range of days is one query; the
//! aggregator's commit markers (`APPLIED#<shard>#<first>#<chunk>`) and
//! parked commits (`PARKED#...`, also listed on `gsi1` under `PARKED`);
//! and each stream shard's checkpoint (`STREAM#<shard>` / `CHECKPOINT`).

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::{
    DynamoStore, Item,
    chats::{ChatItem, chat_key},
    expr::{Cond, Update, number, s},
    from_item, keys,
    query::{Listing, SortKey, page_of},
    requests::key,
    to_item,
    transaction::{Step, Transaction},
};
use crate::{
    domain::{
        ChatId, OrgId,
        analytics::{
            ChatState, Counters, DayAggregate, DayRange, OrgCommit, OrgDelta, Orphan, Sequence,
            TopKind,
            aggregate::{format_day, parse_day},
        },
    },
    store::{
        AggregatorStore, AnalyticsStore, Committed, PageRequest, ParkedCommit, Read, StoreError,
        StoreResult, StoredTop, TopWrite,
    },
};

/// How long a commit marker outlives its commit: past the stream's 24-hour
/// retention (retries), and long enough to replay a parked commit whose
/// write did happen after all.
const MARKER_TTL: time::Duration = time::Duration::days(7);
/// A shard's checkpoint matters while the shard can still deliver.
const CHECKPOINT_TTL: time::Duration = time::Duration::days(2);
/// Attributes of a day's counters item that are not counters.
const NOT_COUNTERS: [&str; 4] = [keys::PK, keys::SK, "kind", "org_id"];
/// Sequence numbers, zero-padded so that the stored text compares as the number.
const SEQUENCE_WIDTH: usize = 48;

/// A day's top end users or tags.
#[derive(Serialize, Deserialize)]
struct TopItem {
    pk: String,
    sk: String,
    kind: String,
    org_id: OrgId,
    version: u64,
    /// The [`TopK`] as compact JSON: one attribute, so its size is its text.
    top: String,
}

/// A commit that could not be written.
#[derive(Serialize, Deserialize)]
struct ParkedItem {
    pk: String,
    sk: String,
    kind: String,
    gsi1pk: String,
    gsi1sk: String,
    org_id: OrgId,
    shard: String,
    first: Sequence,
    chunk: u32,
    /// The commit's days, as JSON text (days as `YYYY-MM-DD`).
    days: String,
    reason: String,
    #[serde(with = "time::serde::rfc3339")]
    parked_at: OffsetDateTime,
}

const PARKED_GSI_PK: &str = "PARKED";

fn marker_key(commit: &OrgCommit) -> Item {
    key(
        keys::stats_pk(commit.org),
        format!("APPLIED#{}", commit.name()),
    )
}

fn parked_key(commit: &OrgCommit) -> Item {
    key(
        keys::stats_pk(commit.org),
        format!("PARKED#{}", commit.name()),
    )
}

fn checkpoint_key(shard: &str) -> Item {
    key(format!("STREAM#{shard}"), "CHECKPOINT")
}

fn top_key(org: OrgId, day: Date, kind: TopKind) -> Item {
    key(keys::stats_pk(org), keys::top_sk(day, kind))
}

fn padded(sequence: &Sequence) -> String {
    let digits = sequence.as_str().trim_start_matches('0');
    format!("{digits:0>SEQUENCE_WIDTH$}")
}

fn encode_days(days: &OrgDelta) -> String {
    let by_text: BTreeMap<String, _> = days
        .iter()
        .map(|(day, delta)| (format_day(*day), delta))
        .collect();
    serde_json::to_string(&by_text).expect("deltas serialise")
}

fn decode_days(text: &str) -> StoreResult<OrgDelta> {
    let by_text: BTreeMap<String, _> = serde_json::from_str(text)
        .map_err(|e| StoreError::Corrupt(format!("parked commit days: {e}")))?;
    by_text
        .into_iter()
        .map(|(day, delta)| {
            parse_day(&day)
                .map(|day| (day, delta))
                .ok_or_else(|| StoreError::Corrupt(format!("parked commit day {day}")))
        })
        .collect()
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

    async fn checkpoint(&self, shard: &str) -> StoreResult<Option<Sequence>> {
        let item = self.get(checkpoint_key(shard), Read::Consistent).await?;
        Ok(item
            .and_then(|item| item.get("last").and_then(|v| v.as_s().ok()).cloned())
            .map(Sequence::new))
    }

    async fn save_checkpoint(&self, shard: &str, last: &Sequence) -> StoreResult<()> {
        let last = s(padded(last));
        let expires = OffsetDateTime::now_utc() + CHECKPOINT_TTL;
        let update = Update::default()
            .set("last", last.clone())
            .set("expires_at", number(expires.unix_timestamp()))
            // Never backwards: a late retry of an older commit keeps the newer one.
            .when(Cond::Lacks("last").or(Cond::Lt("last", last)));
        self.update(checkpoint_key(shard), update).await?;
        Ok(())
    }

    async fn tops(
        &self,
        org: OrgId,
        days: &[Date],
    ) -> StoreResult<BTreeMap<(Date, TopKind), StoredTop>> {
        let kinds = [TopKind::Users, TopKind::Tags];
        let item_keys = days
            .iter()
            .flat_map(|day| kinds.map(|kind| top_key(org, *day, kind)))
            .collect();
        let mut tops = BTreeMap::new();
        for item in self.get_many(item_keys, Read::Consistent).await? {
            let (day, kind, stored) = top_from(org, item)?;
            tops.insert((day, kind), stored);
        }
        Ok(tops)
    }

    async fn commit(&self, commit: &OrgCommit, tops: &[TopWrite]) -> StoreResult<Committed> {
        let expires = OffsetDateTime::now_utc() + MARKER_TTL;
        let mut marker = marker_key(commit);
        marker.insert("kind".into(), s("applied"));
        marker.insert("expires_at".into(), number(expires.unix_timestamp()));
        let mut steps = vec![Step::Put {
            item: marker,
            condition: Some(Cond::IsNew),
        }];
        for (day, delta) in &commit.days {
            if !delta.counters.is_empty() {
                steps.push(add_counters(commit.org, *day, &delta.counters));
            }
        }
        let first_top = steps.len();
        for write in tops {
            let item = TopItem {
                pk: keys::stats_pk(commit.org),
                sk: keys::top_sk(write.day, write.kind),
                kind: "top".into(),
                org_id: commit.org,
                version: write.expected + 1,
                top: serde_json::to_string(&write.top).expect("a top summary serialises"),
            };
            let unchanged = if write.expected == 0 {
                Cond::IsNew
            } else {
                Cond::Eq("version", number(write.expected))
            };
            steps.push(Step::Put {
                item: to_item(&item)?,
                condition: Some(unchanged),
            });
        }
        Ok(match self.transact(steps).await? {
            Transaction::Committed => Committed::Done,
            outcome if outcome.refused_at(0).is_some() => Committed::AlreadyDone,
            Transaction::Refused(refused) => {
                debug_assert!(refused.iter().all(|(step, _)| *step >= first_top));
                Committed::TopChanged
            }
        })
    }

    async fn park(&self, commit: &OrgCommit, reason: &str) -> StoreResult<()> {
        let parked_at = OffsetDateTime::now_utc();
        let item = ParkedItem {
            pk: keys::stats_pk(commit.org),
            sk: format!("PARKED#{}", commit.name()),
            kind: "parked".into(),
            gsi1pk: PARKED_GSI_PK.into(),
            gsi1sk: format!(
                "{PARKED_GSI_PK}#{}#{}#{}",
                parked_at.unix_timestamp(),
                commit.org,
                commit.name()
            ),
            org_id: commit.org,
            shard: commit.shard.clone(),
            first: commit.first.clone(),
            chunk: commit.chunk,
            days: encode_days(&commit.days),
            reason: reason.to_owned(),
            parked_at,
        };
        // Parking the same commit again (a retried invocation) keeps the first.
        self.put_if_new(to_item(&item)?).await?;
        Ok(())
    }

    async fn parked(&self, limit: u16) -> StoreResult<Vec<ParkedCommit>> {
        let listing = Listing::gsi1(PARKED_GSI_PK.to_owned(), format!("{PARKED_GSI_PK}#"));
        let page = PageRequest {
            limit,
            cursor: None,
        };
        let parked = page_of(self.query_page(&listing, &page).await?, |item| {
            let parked: ParkedItem = from_item(item)?;
            Ok(ParkedCommit {
                commit: OrgCommit {
                    org: parked.org_id,
                    shard: parked.shard,
                    first: parked.first,
                    chunk: parked.chunk,
                    days: decode_days(&parked.days)?,
                },
                reason: parked.reason,
                parked_at: parked.parked_at,
            })
        })?;
        Ok(parked.items)
    }

    async fn unpark(&self, commit: &OrgCommit) -> StoreResult<()> {
        self.delete(parked_key(commit), None).await?;
        Ok(())
    }

    async fn delete_message(&self, orphan: &Orphan) -> StoreResult<()> {
        let message_key = key(
            keys::messages_pk(orphan.org, orphan.chat),
            keys::message_sk(orphan.id),
        );
        self.delete(message_key, None).await?;
        Ok(())
    }
}

/// Adds a day's counters (the item is created on first use: `ADD` starts
/// from zero).
fn add_counters(org: OrgId, day: Date, counters: &Counters) -> Step {
    let mut update = Update::default()
        .set("kind", s("stats"))
        .set("org_id", s(org.to_string()));
    for (name, change) in counters {
        update = update.add(name.clone(), number(change));
    }
    Step::Update {
        key: key(keys::stats_pk(org), keys::day_sk(day)),
        update,
    }
}

fn top_from(org: OrgId, item: Item) -> StoreResult<(Date, TopKind, StoredTop)> {
    let stored: TopItem = from_item(item)?;
    let (day, kind) = keys::parse_top_sk(&stored.sk)
        .ok_or_else(|| StoreError::Corrupt(format!("top item {} of org {org}", stored.sk)))?;
    let top = serde_json::from_str(&stored.top)
        .map_err(|e| StoreError::Corrupt(format!("top item {}: {e}", stored.sk)))?;
    let stored = StoredTop {
        top,
        version: stored.version,
    };
    Ok((day, kind, stored))
}

#[async_trait]
impl AnalyticsStore for DynamoStore {
    async fn aggregates(
        &self,
        org: OrgId,
        range: DayRange,
    ) -> StoreResult<Vec<(Date, DayAggregate)>> {
        // `DAY#<to>#~` sorts after `DAY#<to>` and its `#TAGS`/`#USERS` items.
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

fn aggregate_from(org: OrgId, item: Item) -> StoreResult<(Date, DayAggregate)> {
    let sk = item
        .get(keys::SK)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default();
    if let Some(day) = keys::parse_day_sk(&sk) {
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
        return Ok((day, DayAggregate::Counters(counters)));
    }
    let (day, kind, stored) = top_from(org, item)?;
    Ok((day, DayAggregate::Top(kind, stored.top)))
}
