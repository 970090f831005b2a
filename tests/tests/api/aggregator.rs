//! The stream aggregator against the local AWS, fed tumbling-window
//! invocations built here: per-org isolation (a poisoned org is parked and
//! replayed, the others commit), bounded aggregate items whatever the input
//! (100,000 distinct tags and end users in one day), and exactness under
//! the ways Lambda delivers: duplicates, retried invocations, bisected
//! batches and shard splits. (Deleted chats, edits and randomised delivery
//! are in `analytics.rs`.)

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chatlogger::aws_lambda_events::event::dynamodb::{EventRecord, TimeWindowEvent};
use chatlogger::{
    analytics::{handle_window, replay_parked},
    domain::{
        ChatId, MessageId, OrgId,
        analytics::{DayRange, Summary, topk::CAPACITY},
    },
    store::{AggregatorStore, AnalyticsStore, DynamoStore, keys},
};
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use time::{Date, macros::date};

use crate::helpers::{new_table, sdk_config};

const DAY: Date = date!(2026 - 11 - 22);
const DAY_TEXT: &str = "2026-11-22";

/// Builds stream records the way DynamoDB writes them, numbering them.
#[derive(Default)]
struct Records {
    next: u64,
}

impl Records {
    fn record(&mut self, name: &str, old: Option<Value>, new: Option<Value>) -> EventRecord {
        self.next += 1;
        let mut dynamodb = json!({
            "SequenceNumber": format!("{}", 100_000_000_000_000_000_000u128 + u128::from(self.next)),
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        });
        if let Some(old) = old {
            dynamodb["OldImage"] = old;
        }
        if let Some(new) = new {
            dynamodb["NewImage"] = new;
        }
        serde_json::from_value(json!({
            "eventID": format!("event-{}", self.next),
            "eventName": name,
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
        }))
        .unwrap()
    }

    fn chat_created(&mut self, chat: &TestChat) -> EventRecord {
        self.record("INSERT", None, Some(chat.image()))
    }

    fn chat_edited(&mut self, before: &TestChat, after: &TestChat) -> EventRecord {
        self.record("MODIFY", Some(before.image()), Some(after.image()))
    }

    fn message_logged(&mut self, chat: &TestChat) -> EventRecord {
        let image = json!({
            "kind": {"S": "message"},
            "org_id": {"S": chat.org.to_string()},
            "id": {"S": MessageId::new().to_string()},
            "chat_id": {"S": chat.id.to_string()},
            "role": {"S": "user"},
            "token_count": {"N": "3"},
            "latency_ms": {"N": "120"},
            "created_at": {"S": format!("{DAY_TEXT}T10:00:00Z")},
        });
        self.record("INSERT", None, Some(image))
    }
}

#[derive(Clone)]
struct TestChat {
    org: OrgId,
    id: ChatId,
    user: Option<String>,
    tags: Vec<String>,
}

impl TestChat {
    fn new(org: OrgId, user: Option<String>, tags: Vec<String>) -> Self {
        Self {
            org,
            id: ChatId::new(),
            user,
            tags,
        }
    }

    /// The chat item as the table holds it (the aggregator reads its owner).
    fn item(&self) -> HashMap<String, AttributeValue> {
        let image: serde_dynamo::Item = serde_json::from_value(self.image()).unwrap();
        let mut item: HashMap<String, AttributeValue> = image.into();
        item.insert(keys::PK.into(), AttributeValue::S(keys::org_pk(self.org)));
        item.insert(keys::SK.into(), AttributeValue::S(keys::chat_sk(self.id)));
        item
    }

    fn image(&self) -> Value {
        let mut image = json!({
            "kind": {"S": "chat"},
            "org_id": {"S": self.org.to_string()},
            "id": {"S": self.id.to_string()},
            "tags": {"L": self.tags.iter().map(|t| json!({"S": t})).collect::<Vec<_>>()},
            "metadata": {"S": "{}"},
            "created_at": {"S": format!("{DAY_TEXT}T09:00:00Z")},
        });
        if let Some(user) = &self.user {
            image["user_id"] = json!({"S": user});
        }
        image
    }
}

/// Stores chats 25 at a time (the aggregator looks their owners up).
async fn store_chats(store: &DynamoStore, chats: &[TestChat]) {
    let client = &store_client(store).await;
    let table = store.table().to_owned();
    stream::iter(chats.chunks(25))
        .for_each_concurrent(8, |chunk| {
            let (client, table) = (client.clone(), table.clone());
            async move {
                let writes: Vec<WriteRequest> = chunk
                    .iter()
                    .map(|chat| {
                        let put = PutRequest::builder()
                            .set_item(Some(chat.item()))
                            .build()
                            .unwrap();
                        WriteRequest::builder().put_request(put).build()
                    })
                    .collect();
                let mut pending = writes;
                while !pending.is_empty() {
                    let output = client
                        .batch_write_item()
                        .request_items(&table, pending)
                        .send()
                        .await
                        .unwrap();
                    pending = output
                        .unprocessed_items
                        .and_then(|mut t| t.remove(&table))
                        .unwrap_or_default();
                }
            }
        })
        .await;
}

async fn store_client(_: &DynamoStore) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
}

/// One shard's tumbling windows, invoked as Lambda invokes them.
struct Shard {
    id: String,
    state: HashMap<String, String>,
}

impl Shard {
    fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            state: HashMap::new(),
        }
    }

    fn event(&self, records: Vec<EventRecord>, is_final: bool) -> TimeWindowEvent {
        let mut event = TimeWindowEvent::default();
        event.dynamo_db_event.records = records;
        event.time_window_properties.shard_id = Some(self.id.clone());
        event.time_window_properties.state = self.state.clone();
        event.time_window_properties.is_final_invoke_for_window = is_final;
        event
    }

    /// One invocation; keeps the state it answers.
    async fn invoke(&mut self, store: &DynamoStore, records: Vec<EventRecord>, is_final: bool) {
        let response = handle_window(store, &self.event(records, is_final)).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "the invocation failed (the aggregator's log says why): {:?}",
            response.batch_item_failures
        );
        self.state = response.time_window_event_response_properties.state;
    }

    /// A whole window: the records in batches, then the final invocation.
    async fn window(&mut self, store: &DynamoStore, records: Vec<EventRecord>, batch: usize) {
        for chunk in records.chunks(batch.max(1)) {
            self.invoke(store, chunk.to_vec(), false).await;
        }
        self.invoke(store, Vec::new(), true).await;
    }
}

async fn new_store() -> DynamoStore {
    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table)
}

async fn summary(store: &DynamoStore, org: OrgId) -> Summary {
    let range = DayRange::parse(Some(DAY_TEXT), Some(DAY_TEXT), DAY).unwrap();
    Summary::build(org, range, store.aggregates(org, range).await.unwrap())
}

#[tokio::test]
async fn a_poisoned_org_is_parked_while_the_others_commit_and_recovers_on_replay() {
    let store = new_store().await;
    let (healthy, poisoned) = (OrgId::new(), OrgId::new());
    let chats = [
        TestChat::new(healthy, Some("ann".into()), vec!["billing".into()]),
        TestChat::new(poisoned, Some("bob".into()), vec!["vip".into()]),
    ];
    store_chats(&store, &chats).await;
    // The poison: a corrupt top-users item on the poisoned org's day.
    let client = store_client(&store).await;
    let corrupt = || {
        HashMap::from([
            (
                keys::PK.to_owned(),
                AttributeValue::S(keys::stats_pk(poisoned)),
            ),
            (
                keys::SK.to_owned(),
                AttributeValue::S(format!("DAY#{DAY_TEXT}#USERS")),
            ),
        ])
    };
    let mut item = corrupt();
    item.insert("kind".into(), AttributeValue::S("top".into()));
    item.insert("org_id".into(), AttributeValue::S(poisoned.to_string()));
    item.insert("version".into(), AttributeValue::N("1".into()));
    item.insert("top".into(), AttributeValue::S("not a summary".into()));
    client
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();

    // One window, one batch, both orgs.
    let mut records = Records::default();
    let mut batch = Vec::new();
    for chat in &chats {
        batch.push(records.chat_created(chat));
        for _ in 0..3 {
            batch.push(records.message_logged(chat));
        }
    }
    let mut shard = Shard::new("shardId-poison");
    shard.window(&store, batch, 100).await;

    let healthy_summary = summary(&store, healthy).await;
    assert_eq!(
        (
            healthy_summary.totals.messages,
            healthy_summary.totals.chats
        ),
        (3, 1)
    );
    assert_eq!(healthy_summary.top_users[0].user_id, "ann");
    let day_counters = client
        .get_item()
        .table_name(store.table())
        .key(keys::PK, AttributeValue::S(keys::stats_pk(poisoned)))
        .key(keys::SK, AttributeValue::S(format!("DAY#{DAY_TEXT}")))
        .send()
        .await
        .unwrap();
    assert!(
        day_counters.item.is_none(),
        "nothing of the poisoned org was written"
    );
    let parked = store.parked(10).await.unwrap();
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].commit.org, poisoned);
    assert!(
        parked[0].reason.contains("top item"),
        "the reason says why: {}",
        parked[0].reason
    );

    // A replay while the cause is still there changes nothing, and keeps it parked.
    let report = replay_parked(&store, 10).await.unwrap();
    assert_eq!(report.still_failing.len(), 1);
    assert_eq!(store.parked(10).await.unwrap().len(), 1);

    // The cause removed, the replay commits it, once.
    client
        .delete_item()
        .table_name(store.table())
        .set_key(Some(corrupt()))
        .send()
        .await
        .unwrap();
    let report = replay_parked(&store, 10).await.unwrap();
    assert_eq!((report.replayed, report.still_failing.len()), (1, 0));
    assert!(store.parked(10).await.unwrap().is_empty());
    let recovered = summary(&store, poisoned).await;
    assert_eq!((recovered.totals.messages, recovered.totals.chats), (3, 1));
    assert_eq!(recovered.top_users[0].user_id, "bob");
    assert_eq!(recovered.top_tags[0].tag, "vip");
    assert_eq!(replay_parked(&store, 10).await.unwrap().replayed, 0);
    assert_eq!(summary(&store, healthy).await, healthy_summary);
}

#[tokio::test]
async fn duplicates_retried_invocations_and_bisected_batches_count_once() {
    let store = new_store().await;
    let org = OrgId::new();
    let chats: Vec<TestChat> = (0..4)
        .map(|n| TestChat::new(org, Some(format!("user-{n}")), vec![format!("tag-{n}")]))
        .collect();
    store_chats(&store, &chats).await;
    let mut records = Records::default();
    let mut all = Vec::new();
    for chat in &chats {
        all.push(records.chat_created(chat));
        for _ in 0..5 {
            all.push(records.message_logged(chat));
        }
    }
    let mut shard = Shard::new("shardId-delivery");
    // The same record twice in one batch, and again in a later batch.
    let mut first = all[..10].to_vec();
    first.insert(3, all[2].clone());
    shard.invoke(&store, first, false).await;
    // A failed invocation is retried as it was: its first answer is lost.
    let before = shard.state.clone();
    shard.invoke(&store, all[10..16].to_vec(), false).await;
    shard.state = before;
    let mut retried = all[10..16].to_vec();
    retried.push(all[5].clone());
    shard.invoke(&store, retried, false).await;
    // Bisected: the rest in two halves, after a failed attempt with all of it.
    let (left, right) = all[16..].split_at(4);
    shard.invoke(&store, left.to_vec(), false).await;
    shard.invoke(&store, right.to_vec(), false).await;
    // The final invocation retried after it committed.
    let last_state = shard.state.clone();
    shard.invoke(&store, Vec::new(), true).await;
    shard.state = last_state;
    shard.invoke(&store, Vec::new(), true).await;
    // The whole window delivered again later (a new window): the checkpoint drops it.
    shard.window(&store, all.clone(), 7).await;

    let summary = summary(&store, org).await;
    assert_eq!(
        (
            summary.totals.messages,
            summary.totals.chats,
            summary.totals.tokens
        ),
        (20, 4, 60)
    );
    assert_eq!(summary.latency.count, 20);
    assert_eq!(summary.top_users.len(), 4);
    assert!(summary.top_users.iter().all(|u| u.messages == 5));
    assert!(summary.top_tags.iter().all(|t| t.chats == 1));
    assert_eq!(summary.top_users_error_bound, 0);
}

#[tokio::test]
async fn a_shard_split_counts_every_record_once_across_parent_and_children() {
    let store = new_store().await;
    let org = OrgId::new();
    let before = TestChat::new(org, Some("ann".into()), vec!["a".into(), "b".into()]);
    let after = TestChat {
        tags: vec!["b".into(), "c".into()],
        ..before.clone()
    };
    let other = TestChat::new(org, Some("bob".into()), vec!["a".into()]);
    store_chats(&store, &[after.clone(), other.clone()]).await;
    let mut records = Records::default();
    // The parent shard: the chats and some messages; then it closes.
    let mut parent = Shard::new("shardId-parent");
    let parent_records = vec![
        records.chat_created(&before),
        records.chat_created(&other),
        records.message_logged(&before),
    ];
    parent.window(&store, parent_records.clone(), 2).await;
    // Its children carry on: each its own windows and checkpoint, committing
    // to the same org-day (and its top summaries) as the parent did.
    let mut left = Shard::new("shardId-child-left");
    let mut right = Shard::new("shardId-child-right");
    let left_records = vec![
        records.chat_edited(&before, &after),
        records.message_logged(&after),
    ];
    let right_records = vec![
        records.message_logged(&other),
        records.message_logged(&other),
    ];
    tokio::join!(
        left.window(&store, left_records, 1),
        right.window(&store, right_records, 1),
    );
    // A late retry of the parent's last window, after the children: nothing changes.
    parent.window(&store, parent_records, 3).await;

    let summary = summary(&store, org).await;
    assert_eq!((summary.totals.messages, summary.totals.chats), (4, 2));
    let users: BTreeMap<_, _> = summary
        .top_users
        .iter()
        .map(|u| (u.user_id.as_str(), u.messages))
        .collect();
    assert_eq!(users, BTreeMap::from([("ann", 2), ("bob", 2)]));
    let tags: BTreeMap<_, _> = summary
        .top_tags
        .iter()
        .map(|t| (t.tag.as_str(), t.chats))
        .collect();
    assert_eq!(tags, BTreeMap::from([("a", 1), ("b", 1), ("c", 1)]));
}

/// The largest item of a partition, in bytes of attribute names and values.
async fn largest_item(store: &DynamoStore, org: OrgId) -> (String, usize) {
    let client = store_client(store).await;
    let mut start = None;
    let mut largest = (String::new(), 0);
    loop {
        let output = client
            .query()
            .table_name(store.table())
            .key_condition_expression("pk = :p AND begins_with(sk, :d)")
            .expression_attribute_values(":p", AttributeValue::S(keys::stats_pk(org)))
            .expression_attribute_values(":d", AttributeValue::S("DAY#".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in output.items.unwrap_or_default() {
            let size: usize = item
                .iter()
                .map(|(name, value)| name.len() + attribute_size(value))
                .sum();
            if size > largest.1 {
                let sk = item["sk"].as_s().unwrap().clone();
                largest = (sk, size);
            }
        }
        start = output.last_evaluated_key;
        if start.is_none() {
            return largest;
        }
    }
}

fn attribute_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + attribute_size(v)).sum::<usize>(),
        _ => 8,
    }
}

#[tokio::test]
async fn a_hundred_thousand_distinct_tags_and_end_users_in_a_day_keep_items_bounded_and_counts_exact()
 {
    let store = new_store().await;
    let org = OrgId::new();
    // 100,000 chats, each with its own 128-character end user. The first
    // 5,000 carry 20 tags: the 10 heavy ones and 10 of their own; the next
    // 5,000 carry 10 of their own: 100,010 distinct 64-character tags.
    let long = |prefix: &str, n: usize, len: usize| {
        format!("{prefix}-{n:0>width$}", width = len - prefix.len() - 1)
    };
    let heavy_tags: Vec<String> = (0..10).map(|n| long("heavy", n, 64)).collect();
    let chats: Vec<TestChat> = (0..100_000)
        .map(|n| {
            let tags = if n < 5_000 {
                heavy_tags
                    .iter()
                    .cloned()
                    .chain((0..10).map(|t| long("tag", n * 10 + t, 64)))
                    .collect()
            } else if n < 10_000 {
                (0..10).map(|t| long("tag", n * 10 + t, 64)).collect()
            } else {
                Vec::new()
            };
            TestChat::new(org, Some(long("user", n, 128)), tags)
        })
        .collect();
    store_chats(&store, &chats).await;
    // One message per end user, and 5,000 more for each of 10 heavy users.
    let mut records = Records::default();
    let mut all: Vec<EventRecord> = chats.iter().map(|c| records.chat_created(c)).collect();
    all.extend(chats.iter().map(|c| records.message_logged(c)));
    for chat in &chats[..10] {
        all.extend((0..5_000).map(|_| records.message_logged(chat)));
    }
    let mut shard = Shard::new("shardId-many");
    // Large batches (Lambda allows up to 10,000), to keep the test quick.
    shard.window(&store, all, 2_000).await;

    let summary = summary(&store, org).await;
    let distinct_tags: std::collections::BTreeSet<&String> =
        chats.iter().flat_map(|c| &c.tags).collect();
    assert!(distinct_tags.len() >= 100_000);
    assert_eq!(
        (
            summary.totals.messages,
            summary.totals.chats,
            summary.totals.tokens
        ),
        (150_000, 100_000, 450_000)
    );
    assert_eq!(summary.messages_by_role.user, 150_000);
    assert_eq!(summary.latency.count, 150_000);
    // The top lists: within their bound, which is within N / (CAPACITY + 1).
    let bound = summary.top_users_error_bound;
    assert!(bound <= 150_000 / (CAPACITY as u64 + 1), "{bound}");
    for user in &summary.top_users {
        let truth = if user.user_id <= long("user", 9, 128) {
            5_001
        } else {
            1
        };
        assert!(
            user.messages <= truth && user.messages + bound >= truth,
            "{user:?}"
        );
    }
    let heavy_users: Vec<String> = (0..10).map(|n| long("user", n, 128)).collect();
    let listed: Vec<&str> = summary
        .top_users
        .iter()
        .map(|u| u.user_id.as_str())
        .collect();
    for user in &heavy_users {
        assert!(
            listed.contains(&user.as_str()),
            "{user} is over the bound: listed"
        );
    }
    let tag_uses = 5_000 * 20 + 5_000 * 10;
    assert!(summary.top_tags_error_bound <= tag_uses / (CAPACITY as u64 + 1));
    let listed: Vec<&str> = summary.top_tags.iter().map(|t| t.tag.as_str()).collect();
    for tag in &heavy_tags {
        assert!(
            listed.contains(&tag.as_str()),
            "{tag} is over the bound: listed"
        );
    }
    for tag in &summary.top_tags {
        let truth = if heavy_tags.contains(&tag.tag) {
            5_000
        } else {
            1
        };
        assert!(tag.chats <= truth && tag.chats + summary.top_tags_error_bound >= truth);
    }
    // Every aggregate item stays small, whatever the number of distinct values.
    let (sk, size) = largest_item(&store, org).await;
    assert!(size < 6 * 1024, "{sk} is {size} bytes");
}
