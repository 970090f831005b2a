//! `make bench` for analytics:
//!
//! - `aggregator`: the windowed aggregator against moto, through the
//!   production store, with an SDK meter that records every item each write
//!   request touches and sizes it as DynamoDB bills it (by the item's size,
//!   per started KB; twice inside a transaction): write units per message,
//!   per message rate, end users per day and batch size;
//! - `hot-org`: an org logging 1,000 messages/s on several shards, in
//!   memory: commits (writes) per org-day item per second;
//! - `summary`: the summary's reads for a range of days whose aggregate items
//!   are as large as they get.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
    time::Instant,
};

use aws_sdk_dynamodb::{
    Client,
    operation::{
        delete_item::DeleteItemInput, put_item::PutItemInput,
        transact_write_items::TransactWriteItemsInput, update_item::UpdateItemInput,
    },
    types::AttributeValue,
};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::interceptors::{Intercept, context::BeforeSerializationInterceptorContextRef},
};
use aws_smithy_types::config_bag::ConfigBag;
use chatlogger::{
    analytics::{handle_window, window_event},
    aws_lambda_events::event::dynamodb::EventRecord,
    domain::{
        Chat, ChatId, EndUserId, Metadata, OrgId, Tag, Tags,
        analytics::{
            DayDelta, DayRange, OrgCommit, Sequence, Summary, TopK, TopKind, aggregate::counter,
            histogram,
        },
    },
    store::{
        AggregatorStore, AnalyticsStore, ChatStore, DynamoStore, MemoryAggregates, TopWrite, keys,
    },
};
use serde_json::{Value, json};
use time::{Date, Duration, OffsetDateTime};

/// The template's tumbling window.
const WINDOW_SECONDS: usize = 15;
const DAY: &str = "2026-11-22";

fn require_moto() -> chatlogger::aws::Budget {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "run through `make bench`, which starts moto"
    );
    chatlogger::aws::Budget::interactive()
}

type Key = HashMap<String, AttributeValue>;

/// Every item a write request touched, and whether inside a transaction.
#[derive(Debug, Clone, Default)]
struct WriteMeter(Arc<Mutex<Vec<(Key, bool)>>>);

fn key_of(item: &HashMap<String, AttributeValue>) -> HashMap<String, AttributeValue> {
    [keys::PK, keys::SK]
        .iter()
        .filter_map(|k| item.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect()
}

impl Intercept for WriteMeter {
    fn name(&self) -> &'static str {
        "WriteMeter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let mut touched = Vec::new();
        if let Some(tx) = input.downcast_ref::<TransactWriteItemsInput>() {
            for item in tx.transact_items() {
                let key = if let Some(put) = item.put() {
                    key_of(put.item())
                } else if let Some(update) = item.update() {
                    update.key().clone()
                } else if let Some(delete) = item.delete() {
                    delete.key().clone()
                } else if let Some(check) = item.condition_check() {
                    check.key().clone()
                } else {
                    continue;
                };
                touched.push((key, true));
            }
        } else if let Some(put) = input.downcast_ref::<PutItemInput>() {
            touched.push((key_of(put.item().unwrap_or(&HashMap::new())), false));
        } else if let Some(update) = input.downcast_ref::<UpdateItemInput>() {
            touched.push((update.key().cloned().unwrap_or_default(), false));
        } else if let Some(delete) = input.downcast_ref::<DeleteItemInput>() {
            touched.push((delete.key().cloned().unwrap_or_default(), false));
        }
        self.0.lock().unwrap().extend(touched);
        Ok(())
    }
}

impl WriteMeter {
    /// Bills what was written since the last call: each touched item's size
    /// now, per started KB, twice in a transaction. (The aggregator's items
    /// only grow or keep their size, so their size after a write is the
    /// larger of before and after, which DynamoDB bills.)
    async fn bill(&self, client: &Client, table: &str) -> (f64, usize) {
        let touched = std::mem::take(&mut *self.0.lock().unwrap());
        let mut units = 0.0;
        for (key, transactional) in &touched {
            let item = client
                .get_item()
                .table_name(table)
                .set_key(Some(key.clone()))
                .consistent_read(true)
                .send()
                .await
                .expect("read a written item")
                .item
                .unwrap_or_default();
            let kb = item_size(&item).div_ceil(1024).max(1) as f64;
            units += if *transactional { 2.0 * kb } else { kb };
        }
        (units, touched.len())
    }
}

/// An item's size as DynamoDB counts it: attribute names plus values.
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

/// Stream records for one org's traffic, numbered along one shard.
struct Traffic {
    org: OrgId,
    chats: Vec<(ChatId, String)>,
    next: u64,
}

impl Traffic {
    fn message(&mut self, n: usize) -> EventRecord {
        let (chat, _) = &self.chats[n * 7919 % self.chats.len()];
        self.next += 1;
        let role = if n.is_multiple_of(2) {
            "user"
        } else {
            "assistant"
        };
        let image = json!({
            "kind": {"S": "message"},
            "org_id": {"S": self.org.to_string()},
            "id": {"S": ulid::Ulid::new().to_string()},
            "chat_id": {"S": chat.to_string()},
            "role": {"S": role},
            "token_count": {"N": format!("{}", n % 700)},
            "latency_ms": {"N": format!("{}", n * 37 % 4000)},
            "created_at": {"S": format!("{DAY}T10:00:00Z")},
        });
        record(self.next, image)
    }
}

fn record(sequence: u64, image: Value) -> EventRecord {
    serde_json::from_value(json!({
        "eventID": format!("bench-{sequence}"),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "SequenceNumber": format!("{}", 100_000_000_000_000_000_000u128 + u128::from(sequence)),
            "SizeBytes": 200,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
            "NewImage": image,
        },
    }))
    .expect("a stream record")
}

/// Invokes `windows` windows of `per_window` messages, in batches.
async fn run_windows(
    store: &dyn AggregatorStore,
    traffic: &mut Traffic,
    shard: &str,
    windows: usize,
    per_window: usize,
    batch: usize,
) {
    let mut n = 0;
    for _ in 0..windows {
        let messages: Vec<EventRecord> = (0..per_window)
            .map(|_| {
                n += 1;
                traffic.message(n)
            })
            .collect();
        let mut state = HashMap::new();
        for chunk in messages.chunks(batch) {
            let response =
                handle_window(store, &window_event(shard, state, chunk.to_vec(), false)).await;
            assert!(response.batch_item_failures.is_empty());
            state = response.time_window_event_response_properties.state;
        }
        let response = handle_window(store, &window_event(shard, state, Vec::new(), true)).await;
        assert!(response.batch_item_failures.is_empty());
    }
}

/// Aggregator write units per message against moto, per message rate, end
/// users per day and batch size.
pub async fn aggregator(rates: &[usize], users: &[usize], batches: &[usize], windows: usize) {
    let aws = chatlogger::aws::Aws::load_with(require_moto(), None).await;
    let meter = WriteMeter::default();
    let plain = aws.dynamodb();
    let metered = Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(aws.sdk())
            .interceptor(meter.clone())
            .build(),
    );
    println!(
        "aggregator write units per message (one org, {WINDOW_SECONDS} s tumbling windows, {windows} windows per run; items sized as DynamoDB bills them):"
    );
    for &end_users in users {
        let table = format!("bench-agg-{}", ulid::Ulid::new().to_string().to_lowercase());
        chatlogger_local::provision::create_table(&plain, &table)
            .await
            .expect("create the bench table");
        let setup = DynamoStore::new(plain.clone(), table.clone());
        let store = DynamoStore::new(metered.clone(), table.clone());
        let org = OrgId::new();
        let chats = chats_for(&setup, org, end_users).await;
        for &rate in rates {
            for &batch in batches {
                let per_window = rate * WINDOW_SECONDS;
                let mut traffic = Traffic {
                    org,
                    chats: chats.clone(),
                    next: 0,
                };
                let shard = format!("shardId-{rate}-{batch}-{}", ulid::Ulid::new());
                meter.bill(&plain, &table).await;
                let started = Instant::now();
                run_windows(&store, &mut traffic, &shard, windows, per_window, batch).await;
                let elapsed = started.elapsed();
                let (units, items) = meter.bill(&plain, &table).await;
                let messages = (windows * per_window) as f64;
                println!(
                    "  {rate:>4} msg/s ({per_window:>5}/window), {end_users:>6} end users/day, batch {batch:>3}: {:.4} WRU/message ({units:.0} WRU for {} messages, {items} items written; {:.1} s on moto){}",
                    units / messages,
                    messages,
                    elapsed.as_secs_f64(),
                    if units / messages <= 0.15 {
                        ""
                    } else {
                        "  [over 0.15]"
                    },
                );
            }
        }
    }
    println!(
        "  (a commit costs the same whatever the batch size: write units per message fall as an org's traffic per window grows)"
    );
}

/// Chats for `end_users` distinct 36-character end users, stored (the
/// aggregator reads their owners).
async fn chats_for(store: &DynamoStore, org: OrgId, end_users: usize) -> Vec<(ChatId, String)> {
    let chats: Vec<(ChatId, String)> = (0..end_users)
        .map(|n| (ChatId::new(), format!("visitor-{n:0>28}")))
        .collect();
    for chunk in chats.chunks(64) {
        let inserts = chunk.iter().map(|(id, user)| {
            let chat = Chat {
                id: *id,
                title: None,
                tags: Tags::parse(vec![Tag::parse("support").unwrap()]).unwrap(),
                metadata: Metadata::default(),
                user_id: Some(EndUserId::parse(user).unwrap()),
                created_at: OffsetDateTime::now_utc(),
            };
            async move { store.insert_chat(org, &chat).await.expect("store a chat") }
        });
        for insert in inserts {
            insert.await;
        }
    }
    chats
}

/// An org logging 1,000 messages/s on `shards` shards, in memory: how often
/// each org-day aggregate item is written.
pub async fn hot_org(rate: usize, shards: usize, seconds: usize) {
    let store = MemoryAggregates::new();
    let org = OrgId::new();
    let chats: Vec<(ChatId, String)> = (0..1_000)
        .map(|n| (ChatId::new(), format!("visitor-{n}")))
        .collect();
    for (chat, user) in &chats {
        store.set_chat(
            org,
            *chat,
            chatlogger::domain::analytics::ChatState {
                user_id: Some(user.clone()),
                deleted: false,
            },
        );
    }
    let windows = seconds / WINDOW_SECONDS;
    let per_window = rate * WINDOW_SECONDS / shards;
    let started = Instant::now();
    for shard in 0..shards {
        let mut traffic = Traffic {
            org,
            chats: chats.clone(),
            next: 0,
        };
        run_windows(
            &store,
            &mut traffic,
            &format!("shard-{shard}"),
            windows,
            per_window,
            100,
        )
        .await;
    }
    let commits = store.commits();
    let summary = Summary::build(
        org,
        DayRange::parse(
            Some(DAY),
            Some(DAY),
            Date::parse(DAY, counter_day()).unwrap(),
        )
        .unwrap(),
        store.aggregates(org),
    );
    assert_eq!(
        summary.totals.messages as usize,
        windows * per_window * shards
    );
    println!(
        "hot org: {rate} messages/s on {shards} shards for {seconds} s ({} messages, {:.1} s in memory): {commits} commits, so {:.2} writes per second to each of the org-day's items (counters, top users; one commit = one transaction of ~4 items), far under DynamoDB's 1,000 write units/s per partition",
        summary.totals.messages,
        started.elapsed().as_secs_f64(),
        commits as f64 / seconds as f64,
    );
}

fn counter_day() -> &'static [time::format_description::BorrowedFormatItem<'static>] {
    chatlogger::domain::analytics::aggregate::DAY_FORMAT
}

/// The summary's reads for `days` days whose items are as large as they
/// get: every latency bucket, 32 end users of 128 characters, 32 tags of 64.
pub async fn summary_reads(days: i64) {
    let aws = chatlogger::aws::Aws::load_with(require_moto(), None).await;
    let client = aws.dynamodb();
    let table = format!("bench-sum-{}", ulid::Ulid::new().to_string().to_lowercase());
    chatlogger_local::provision::create_table(&client, &table)
        .await
        .expect("create the bench table");
    let store = DynamoStore::new(client.clone(), table.clone());
    let org = OrgId::new();
    let first = Date::from_calendar_date(2026, time::Month::January, 1).unwrap();
    let mut counters = BTreeMap::new();
    for role in chatlogger::domain::MessageRole::ALL {
        counters.insert(counter::role(role), 1_000_000);
        counters.insert(counter::role_tokens(role), 1_000_000_000);
    }
    for bucket in 0..histogram::bucket_count() as u16 {
        counters.insert(counter::latency_bucket(bucket), 1_000_000);
    }
    for name in [
        counter::MESSAGES,
        counter::CHATS,
        counter::TOKENS,
        counter::LATENCY_COUNT,
        counter::LATENCY_SUM_MS,
    ] {
        counters.insert(name.to_owned(), 1_000_000_000);
    }
    let top = |len: usize| {
        let mut top = TopK::default();
        let changes: BTreeMap<String, i64> = (0..40)
            .map(|n| (format!("{n:0>len$}"), 1_000_000 + n as i64))
            .collect();
        top.apply(&changes);
        top
    };
    let (users, tags) = (top(128), top(64));
    for day in 0..days {
        let day = first + Duration::days(day);
        let commit = OrgCommit {
            org,
            shard: "bench".into(),
            first: Sequence::new(day.to_julian_day().to_string()),
            chunk: 0,
            days: BTreeMap::from([(
                day,
                DayDelta {
                    counters: counters.clone(),
                    ..DayDelta::default()
                },
            )]),
        };
        let writes =
            [(TopKind::Users, &users), (TopKind::Tags, &tags)].map(|(kind, top)| TopWrite {
                day,
                kind,
                top: top.clone(),
                expected: 0,
            });
        store.commit(&commit, &writes).await.expect("write a day");
    }
    let range = DayRange {
        from: first,
        to: first + Duration::days(days - 1),
    };
    let started = Instant::now();
    let read = store.aggregates(org, range).await.unwrap();
    let elapsed = started.elapsed();
    // The same items, sized.
    let mut bytes = 0;
    let mut start = None;
    loop {
        let output = client
            .query()
            .table_name(&table)
            .key_condition_expression("pk = :p AND begins_with(sk, :d)")
            .expression_attribute_values(":p", AttributeValue::S(keys::stats_pk(org)))
            .expression_attribute_values(":d", AttributeValue::S("DAY#".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        bytes += output.items().iter().map(item_size).sum::<usize>();
        start = output.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let summary = Summary::build(org, range, read.clone());
    assert_eq!(summary.top_users.len(), 10);
    println!(
        "summary, {days}-day range at the largest items (every latency bucket, 32 end users of 128 characters, 32 tags of 64): {} items, {:.0} KB read = {:.0} RCU eventually consistent (at most {:.1} KB a day); {:.0} ms on moto",
        read.len(),
        bytes as f64 / 1024.0,
        (bytes as f64 / 4096.0).ceil() * 0.5,
        bytes as f64 / 1024.0 / days as f64,
        elapsed.as_secs_f64() * 1000.0,
    );
}
