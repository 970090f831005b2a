//! Analytics aggregates: one partition per org, `ORG#<org>#STATS`, holding
//! per UTC day the counters (`DAY#<d>`, with the top changes not folded
//! yet) and the top end users and tags (`DAY#<d>#TOP`), so a range of days
//! is one query; parked commits (`PARKED#...`, also listed on `gsi1` under
//! `PARKED`). The aggregator's lease and journals live under `AGGREGATOR`.
//!
//! A day's counters item is written by one `UpdateItem` per commit and
//! kept small (short attribute names, see [`stored_counter`]), so that a
//! commit bills one write unit.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use super::{
    DynamoStore, Item,
    chats::{ChatItem, chat_key},
    expr::{Cond, Update, number, number_of, s},
    from_item, keys,
    query::{Listing, SortKey, page_of},
    requests::{Updated, key},
    to_item,
    transaction::{Step, Transaction},
};
use crate::{
    domain::{
        ChatId, MessageRole, OrgId,
        analytics::{
            ChatState, Counters, DayAggregate, DayCounters, DayRange, DayState, DayTops, Journal,
            Orphan, Round, TopChanges, TopKind,
            aggregate::{counter, format_day, parse_day},
        },
    },
    store::{
        AggregatorStore, AnalyticsStore, DayWrite, EndFold, Lease, PageRequest, ParkedDay, Read,
        StoreError, StoreResult,
        billing::{item_size, value_size},
    },
};

/// How long a journal is kept: far past the minutes a new run reads back.
const JOURNAL_TTL: time::Duration = time::Duration::days(1);
const PARKED_GSI_PK: &str = "PARKED";

/// The counters item's own attributes (the rest are counters).
const PENDING: &str = "p";
const GENERATION: &str = "g";
const ROUND: &str = "r";
/// The tops item's attributes.
const USERS: &str = "u";
const TAGS: &str = "t";
const FOLDED: &str = "f";

/// A domain counter's attribute name in a day's counters item: short,
/// since every byte of the item is billed on every commit.
pub fn stored_counter(name: &str) -> String {
    fn role_code(role: &str) -> &str {
        match role {
            "user" => "u",
            "assistant" => "a",
            "system" => "s",
            "tool" => "t",
            other => other,
        }
    }
    if let Some(bucket) = name.strip_prefix(counter::LATENCY_BUCKET_PREFIX) {
        return format!("l{bucket}");
    }
    if let Some(role) = name.strip_prefix(counter::ROLE_TOKENS_PREFIX) {
        return format!("t{}", role_code(role));
    }
    if let Some(role) = name.strip_prefix(counter::ROLE_PREFIX) {
        return format!("r{}", role_code(role));
    }
    match name {
        counter::MESSAGES => "m",
        counter::CHATS => "c",
        counter::TOKENS => "k",
        counter::LATENCY_COUNT => "lc",
        counter::LATENCY_SUM_MS => "ls",
        other => other,
    }
    .to_owned()
}

/// The domain counter of a stored attribute name (none: not a counter).
fn domain_counter(stored: &str) -> Option<String> {
    let role = |code: &str| -> Option<MessageRole> {
        MessageRole::ALL.into_iter().find(|role| {
            let name = role.as_str();
            &name[..1] == code
        })
    };
    Some(match stored {
        "m" => counter::MESSAGES.to_owned(),
        "c" => counter::CHATS.to_owned(),
        "k" => counter::TOKENS.to_owned(),
        "lc" => counter::LATENCY_COUNT.to_owned(),
        "ls" => counter::LATENCY_SUM_MS.to_owned(),
        _ => {
            let (kind, rest) = stored.split_at_checked(1)?;
            match kind {
                "l" => {
                    let bucket: u16 = rest.parse().ok()?;
                    counter::latency_bucket(bucket)
                }
                "r" => counter::role(role(rest)?),
                "t" => counter::role_tokens(role(rest)?),
                _ => return None,
            }
        }
    })
}

fn day_key(org: OrgId, day: Date) -> Item {
    key(keys::stats_pk(org), keys::day_sk(day))
}

fn tops_key(org: OrgId, day: Date) -> Item {
    key(keys::stats_pk(org), keys::tops_sk(day))
}

fn lease_key() -> Item {
    key(keys::AGGREGATOR_PK.to_owned(), keys::LEASE_SK)
}

fn text_of(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// A day's counters item as the domain reads it.
fn day_counters(item: &Item) -> StoreResult<DayCounters> {
    let mut counters = Counters::new();
    for (name, value) in item {
        if [keys::PK, keys::SK, PENDING, GENERATION, ROUND].contains(&name.as_str()) {
            continue;
        }
        let domain = domain_counter(name)
            .ok_or_else(|| StoreError::Corrupt(format!("unknown aggregate counter {name}")))?;
        let count = value
            .as_n()
            .ok()
            .and_then(|n| n.parse::<i64>().ok())
            .ok_or_else(|| StoreError::Corrupt(format!("aggregate counter {name}")))?;
        counters.insert(domain, count);
    }
    let mut pending = Vec::new();
    let mut pending_bytes = 0;
    if let Some(list) = item.get(PENDING) {
        pending_bytes = PENDING.len() + value_size(list) as usize;
        let entries = list
            .as_l()
            .map_err(|_| StoreError::Corrupt("pending top changes: not a list".into()))?;
        for entry in entries {
            let text = entry
                .as_s()
                .map_err(|_| StoreError::Corrupt("pending top changes: not text".into()))?;
            pending.push(
                TopChanges::decode(text)
                    .map_err(|e| StoreError::Corrupt(format!("pending top changes: {e}")))?,
            );
        }
    }
    Ok(DayCounters {
        counters,
        pending,
        generation: number_of(item, GENERATION)?.unwrap_or(0),
        round: number_of(item, ROUND)?,
        stored_bytes: item_size(item) as usize,
        pending_bytes,
    })
}

fn day_tops(item: &Item) -> StoreResult<DayTops> {
    let top = |name: &str| {
        text_of(item, name)
            .map(|text| {
                serde_json::from_str(&text)
                    .map_err(|e| StoreError::Corrupt(format!("day tops {name}: {e}")))
            })
            .transpose()
            .map(Option::unwrap_or_default)
    };
    Ok(DayTops {
        users: top(USERS)?,
        tags: top(TAGS)?,
        generation: number_of(item, GENERATION)?.unwrap_or(0),
        folded: number_of(item, FOLDED)?.unwrap_or(0) as usize,
        round: number_of(item, ROUND)?,
    })
}

fn tops_item(org: OrgId, day: Date, tops: &DayTops) -> Item {
    let mut item = tops_key(org, day);
    let json = |top| serde_json::to_string(top).expect("a top summary serialises");
    item.insert(USERS.into(), s(json(&tops.users)));
    item.insert(TAGS.into(), s(json(&tops.tags)));
    item.insert(GENERATION.into(), number(tops.generation));
    item.insert(FOLDED.into(), number(tops.folded));
    if let Some(round) = tops.round {
        item.insert(ROUND.into(), number(round));
    }
    item
}

/// `ADD` for each counter.
fn adding(mut update: Update, counters: &Counters) -> Update {
    for (name, change) in counters {
        update = update.add(stored_counter(name), number(change));
    }
    update
}

/// Appends one entry to the pending list.
fn appending(update: Update, changes: &TopChanges) -> Update {
    update.append(PENDING, AttributeValue::L(vec![s(changes.encode())]))
}

/// The round has not written the item yet.
fn before_round(round: Round) -> Cond {
    Cond::Lacks(ROUND).or(Cond::Lt(ROUND, number(round)))
}

fn day_write(updated: Updated) -> StoreResult<DayWrite> {
    Ok(match updated {
        Updated::Done(item) => DayWrite::Done(day_counters(&item)?),
        Updated::Refused(item) => DayWrite::Refused(item.as_ref().map(day_counters).transpose()?),
    })
}

/// A commit that could not be written.
#[derive(Serialize, Deserialize)]
struct ParkedItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    org_id: OrgId,
    day: String,
    round: Round,
    /// The counters and the top changes, as JSON text.
    counters: String,
    changes: String,
    reason: String,
    #[serde(with = "time::serde::rfc3339")]
    parked_at: OffsetDateTime,
}

impl ParkedItem {
    fn domain(self) -> StoreResult<ParkedDay> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("parked commit {}: {what}", self.sk));
        Ok(ParkedDay {
            org: self.org_id,
            day: parse_day(&self.day).ok_or_else(|| corrupt("day"))?,
            round: self.round,
            counters: serde_json::from_str(&self.counters).map_err(|_| corrupt("counters"))?,
            changes: TopChanges::decode(&self.changes).map_err(|_| corrupt("changes"))?,
            reason: self.reason,
            parked_at: self.parked_at,
        })
    }
}

fn parked_key(org: OrgId, day: Date, round: Round) -> Item {
    key(keys::stats_pk(org), keys::parked_sk(day, round))
}

/// The lease as stored: times in Unix milliseconds.
#[derive(Serialize, Deserialize)]
struct LeaseItem {
    pk: String,
    sk: String,
    owner: String,
    run: u64,
    expires_ms: i64,
    ends_ms: i64,
}

fn millis(at: OffsetDateTime) -> i64 {
    (at.unix_timestamp_nanos() / 1_000_000) as i64
}

fn from_millis(ms: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// A round's journal as stored: the journal as JSON text, with a TTL.
#[derive(Serialize, Deserialize)]
struct JournalItem {
    pk: String,
    sk: String,
    journal: String,
    expires_at: i64,
}

#[async_trait]
impl AggregatorStore for DynamoStore {
    async fn lease(&self) -> StoreResult<Option<Lease>> {
        let Some(item) = self.get(lease_key(), Read::Consistent).await? else {
            return Ok(None);
        };
        let stored: LeaseItem = from_item(item)?;
        Ok(Some(Lease {
            owner: stored.owner,
            run: stored.run,
            expires_at: from_millis(stored.expires_ms),
            ends_at: from_millis(stored.ends_ms),
        }))
    }

    async fn take_lease(&self, previous: Option<&Lease>, lease: &Lease) -> StoreResult<bool> {
        let item = LeaseItem {
            pk: keys::AGGREGATOR_PK.into(),
            sk: keys::LEASE_SK.into(),
            owner: lease.owner.clone(),
            run: lease.run,
            expires_ms: millis(lease.expires_at),
            ends_ms: millis(lease.ends_at),
        };
        let unchanged = match previous {
            None => Cond::IsNew,
            Some(previous) => Cond::Eq("owner", s(previous.owner.clone()))
                .and(Cond::Eq("expires_ms", number(millis(previous.expires_at)))),
        };
        self.put_when(to_item(&item)?, unchanged).await
    }

    async fn renew_lease(&self, lease: &Lease) -> StoreResult<bool> {
        let update = Update::default()
            .set("expires_ms", number(millis(lease.expires_at)))
            .set("ends_ms", number(millis(lease.ends_at)))
            .when(Cond::Eq("owner", s(lease.owner.clone())));
        Ok(self.update(lease_key(), update).await?.applied().is_some())
    }

    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        let update = Update::default()
            .set("expires_ms", number(0))
            .when(Cond::Eq("owner", s(lease.owner.clone())));
        self.update(lease_key(), update).await?;
        Ok(())
    }

    async fn save_journal(&self, journal: &Journal) -> StoreResult<()> {
        let expires = OffsetDateTime::now_utc() + JOURNAL_TTL;
        let item = JournalItem {
            pk: keys::AGGREGATOR_PK.into(),
            sk: keys::journal_sk(journal.round),
            journal: serde_json::to_string(journal).expect("a journal serialises"),
            expires_at: expires.unix_timestamp(),
        };
        // A round's journal is written once: a retried request whose first
        // attempt took effect finds it there, which is as good.
        self.put_when(to_item(&item)?, Cond::IsNew).await?;
        Ok(())
    }

    async fn journals(&self, limit: usize, before: Option<Round>) -> StoreResult<Vec<Journal>> {
        let last = match before {
            Some(round) => keys::journal_sk(round.saturating_sub(1)),
            None => format!("{}~", keys::JOURNAL_SK_PREFIX),
        };
        let listing = Listing {
            sort: SortKey::Between(keys::journal_sk(0), last),
            newest_first: true,
            ..Listing::partition(keys::AGGREGATOR_PK.to_owned(), "")
        };
        let page = PageRequest {
            limit: limit.clamp(1, 100) as u16,
            cursor: None,
        };
        let page = page_of(self.query_page(&listing, &page).await?, |item| {
            let stored: JournalItem = from_item(item)?;
            serde_json::from_str(&stored.journal)
                .map_err(|e| StoreError::Corrupt(format!("journal {}: {e}", stored.sk)))
        })?;
        Ok(page.items)
    }

    async fn chat_states(
        &self,
        chats: &BTreeSet<(OrgId, ChatId)>,
    ) -> StoreResult<BTreeMap<(OrgId, ChatId), ChatState>> {
        let mut states = BTreeMap::new();
        let item_keys = |chats: &mut dyn Iterator<Item = &(OrgId, ChatId)>| {
            chats
                .map(|(org, chat)| chat_key(*org, *chat))
                .collect::<Vec<_>>()
        };
        // Half a read unit each; a chat created a moment ago may not show
        // yet, so what this misses is read again, strongly consistent.
        for read in [Read::Eventual, Read::Consistent] {
            let missing: Vec<&(OrgId, ChatId)> =
                chats.iter().filter(|c| !states.contains_key(*c)).collect();
            if missing.is_empty() {
                break;
            }
            for item in self
                .get_many(item_keys(&mut missing.into_iter()), read)
                .await?
            {
                let chat: ChatItem = from_item(item)?;
                let (org, id, user_id) = chat.owner()?;
                let deleted = chat.deleted_at.is_some();
                states.insert((org, id), ChatState { user_id, deleted });
            }
        }
        Ok(states)
    }

    async fn days(&self, days: &[(OrgId, Date)]) -> StoreResult<BTreeMap<(OrgId, Date), DayState>> {
        let item_keys = days
            .iter()
            .flat_map(|(org, day)| [day_key(*org, *day), tops_key(*org, *day)])
            .collect();
        let mut states: BTreeMap<(OrgId, Date), DayState> =
            days.iter().map(|day| (*day, DayState::default())).collect();
        for item in self.get_many(item_keys, Read::Consistent).await? {
            let (pk, sk) = (
                text_of(&item, keys::PK).unwrap_or_default(),
                text_of(&item, keys::SK).unwrap_or_default(),
            );
            let org = days
                .iter()
                .map(|(org, _)| *org)
                .find(|org| keys::stats_pk(*org) == pk)
                .ok_or_else(|| StoreError::Corrupt(format!("an aggregate of {pk}")))?;
            if let Some(day) = keys::parse_tops_sk(&sk) {
                states.entry((org, day)).or_default().tops = day_tops(&item)?;
            } else if let Some(day) = keys::parse_day_sk(&sk) {
                states.entry((org, day)).or_default().counters = day_counters(&item)?;
            }
        }
        Ok(states)
    }

    async fn add_to_day(
        &self,
        org: OrgId,
        day: Date,
        round: Round,
        counters: &Counters,
        changes: Option<&TopChanges>,
    ) -> StoreResult<DayWrite> {
        let mut update = adding(Update::default(), counters).set(ROUND, number(round));
        if let Some(changes) = changes.filter(|c| !c.is_empty()) {
            update = appending(update, changes);
        }
        let update = update.when(before_round(round));
        day_write(self.update(day_key(org, day), update).await?)
    }

    async fn write_tops(
        &self,
        org: OrgId,
        day: Date,
        tops: &DayTops,
        expected_generation: u64,
    ) -> StoreResult<bool> {
        let unchanged = if expected_generation == 0 {
            Cond::IsNew
        } else {
            Cond::Eq(GENERATION, number(expected_generation))
        };
        self.put_when(tops_item(org, day, tops), unchanged).await
    }

    async fn end_fold(&self, org: OrgId, day: Date, end: &EndFold) -> StoreResult<DayWrite> {
        let mut update =
            adding(Update::default(), &end.add).set(GENERATION, number(end.generation + 1));
        let folded = end.folded.min(end.pending_len);
        if folded == end.pending_len {
            if end.pending_len > 0 {
                update = update.remove(PENDING);
            }
        } else {
            for index in 0..folded {
                update = update.remove_element(PENDING, index);
            }
        }
        let generation = if end.generation == 0 {
            Cond::Lacks(GENERATION).or(Cond::Eq(GENERATION, number(0)))
        } else {
            Cond::Eq(GENERATION, number(end.generation))
        };
        let pending = if end.pending_len == 0 {
            Cond::Lacks(PENDING).or(Cond::SizeEq(PENDING, number(0)))
        } else {
            Cond::SizeEq(PENDING, number(end.pending_len))
        };
        let mut condition = generation.and(pending);
        if let Some(round) = end.round {
            update = update.set(ROUND, number(round));
            condition = condition.and(before_round(round));
        }
        day_write(
            self.update(day_key(org, day), update.when(condition))
                .await?,
        )
    }

    async fn park(&self, parked: &ParkedDay) -> StoreResult<()> {
        let item = ParkedItem {
            pk: keys::stats_pk(parked.org),
            sk: keys::parked_sk(parked.day, parked.round),
            gsi1pk: PARKED_GSI_PK.into(),
            gsi1sk: format!(
                "{PARKED_GSI_PK}#{:012}#{}#{}",
                parked.parked_at.unix_timestamp(),
                parked.org,
                keys::parked_sk(parked.day, parked.round)
            ),
            org_id: parked.org,
            day: format_day(parked.day),
            round: parked.round,
            counters: serde_json::to_string(&parked.counters).expect("counters serialise"),
            changes: parked.changes.encode(),
            reason: parked.reason.clone(),
            parked_at: parked.parked_at,
        };
        // Parking the same commit again keeps the first.
        self.put_if_new(to_item(&item)?).await?;
        Ok(())
    }

    async fn parked(&self, limit: u16) -> StoreResult<Vec<ParkedDay>> {
        let listing = Listing::gsi1(PARKED_GSI_PK.to_owned(), format!("{PARKED_GSI_PK}#"));
        let page = PageRequest {
            limit,
            cursor: None,
        };
        let parked = page_of(self.query_page(&listing, &page).await?, |item| {
            from_item::<ParkedItem>(item)?.domain()
        })?;
        Ok(parked.items)
    }

    async fn replay(&self, parked: &ParkedDay) -> StoreResult<bool> {
        let mut update = adding(Update::default(), &parked.counters);
        if !parked.changes.is_empty() {
            update = appending(update, &parked.changes);
        }
        let steps = vec![
            Step::Delete {
                key: parked_key(parked.org, parked.day, parked.round),
                condition: Some(Cond::Exists),
            },
            Step::Update {
                key: day_key(parked.org, parked.day),
                update,
            },
        ];
        Ok(match self.transact(steps).await? {
            Transaction::Committed => true,
            Transaction::Refused(_) => false,
        })
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

#[async_trait]
impl AnalyticsStore for DynamoStore {
    async fn aggregates(
        &self,
        org: OrgId,
        range: DayRange,
    ) -> StoreResult<Vec<(Date, DayAggregate)>> {
        // `DAY#<to>#~` sorts after `DAY#<to>` and its `#TOP` item.
        let listing = Listing {
            sort: SortKey::Between(
                keys::day_sk(range.from),
                format!("{}#~", keys::day_sk(range.to)),
            ),
            // The summary may lag the aggregator by a second: half the cost.
            read: Read::Eventual,
            ..Listing::partition(keys::stats_pk(org), "")
        };
        let mut days: BTreeMap<Date, DayState> = BTreeMap::new();
        for item in self.query_all(&listing).await? {
            let sk = text_of(&item, keys::SK).unwrap_or_default();
            if let Some(day) = keys::parse_tops_sk(&sk) {
                days.entry(day).or_default().tops = day_tops(&item)?;
            } else if let Some(day) = keys::parse_day_sk(&sk) {
                days.entry(day).or_default().counters = day_counters(&item)?;
            }
        }
        let mut aggregates = Vec::with_capacity(days.len() * 3);
        for (day, state) in days {
            let (users, tags) = state
                .current_tops()
                .map_err(|e| StoreError::Corrupt(format!("org {org} day {day}: {e}")))?;
            aggregates.push((day, DayAggregate::Counters(state.counters.counters)));
            aggregates.push((day, DayAggregate::Top(TopKind::Users, users)));
            aggregates.push((day, DayAggregate::Top(TopKind::Tags, tags)));
        }
        Ok(aggregates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::analytics::histogram;

    #[test]
    fn every_counter_has_a_short_stored_name_that_reads_back() {
        let mut names = vec![
            counter::MESSAGES.to_owned(),
            counter::CHATS.to_owned(),
            counter::TOKENS.to_owned(),
            counter::LATENCY_COUNT.to_owned(),
            counter::LATENCY_SUM_MS.to_owned(),
        ];
        for role in MessageRole::ALL {
            names.push(counter::role(role));
            names.push(counter::role_tokens(role));
        }
        for bucket in 0..histogram::bucket_count() as u16 {
            names.push(counter::latency_bucket(bucket));
        }
        let mut stored = BTreeSet::new();
        for name in &names {
            let short = stored_counter(name);
            assert!(short.len() <= 4, "{name} -> {short}");
            assert!(![PENDING, GENERATION, ROUND].contains(&short.as_str()));
            assert_eq!(domain_counter(&short).as_deref(), Some(name.as_str()));
            assert!(stored.insert(short), "{name} collides");
        }
        assert_eq!(domain_counter("x"), None);
        assert_eq!(domain_counter("lzz"), None);
    }
}
