//! The aggregator against the local AWS, fed synthetic shards: per-org
//! isolation (a poisoned org is parked and replayed, the others commit),
//! bounded aggregate items whatever the input (100,000 distinct tags and end
//! users in one day), and exactness under what a reader meets: records
//! delivered twice, a run that dies mid-way and one that takes over, and a
//! shard split; with quiet, typical and busy orgs committed once per
//! cadence whatever the shards. (Deleted chats, edits and randomised
//! restarts are in `analytics.rs`.)

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use chatlogger::aws_lambda_events::event::dynamodb::EventRecord;
use chatlogger::{
    analytics::replay_parked,
    clock::Clock,
    domain::{
        ChatId, MessageId, OrgId,
        analytics::{DayRange, Summary, topk::CAPACITY},
    },
    store::{AggregatorStore, AnalyticsStore, DynamoStore, item_size, keys},
};
use futures::{StreamExt, stream};
use serde_json::{Value, json};
use time::{Date, macros::date};

use crate::{
    feed::Feed,
    helpers::{new_table, sdk_config},
};

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

/// A record as the reader reads it, at the feed's time.
fn stream_record(feed: &Feed, record: &EventRecord) -> chatlogger::store::StreamRecord {
    chatlogger::store::StreamRecord {
        sequence: chatlogger::domain::analytics::Sequence::new(
            record.change.sequence_number.clone().unwrap(),
        ),
        at: feed.clock.now(),
        change: chatlogger::store::stream_change(record).map_err(|e| e.to_string()),
    }
}

/// A day's item of `org` (`suffix`: "" for the counters, "#TOP" for the tops).
async fn day_item(
    store: &DynamoStore,
    org: OrgId,
    suffix: &str,
) -> HashMap<String, AttributeValue> {
    store_client(store)
        .await
        .get_item()
        .table_name(store.table())
        .key(keys::PK, AttributeValue::S(keys::stats_pk(org)))
        .key(
            keys::SK,
            AttributeValue::S(format!("DAY#{DAY_TEXT}{suffix}")),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default()
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
    let store = Arc::new(new_store().await);
    let (healthy, poisoned) = (OrgId::new(), OrgId::new());
    let chats = [
        TestChat::new(healthy, Some("ann".into()), vec!["billing".into()]),
        TestChat::new(poisoned, Some("bob".into()), vec!["vip".into()]),
    ];
    store_chats(&store, &chats).await;
    // The poison: the poisoned org's day counters hold text where a count goes.
    let client = store_client(&store).await;
    let corrupt = || {
        HashMap::from([
            (
                keys::PK.to_owned(),
                AttributeValue::S(keys::stats_pk(poisoned)),
            ),
            (
                keys::SK.to_owned(),
                AttributeValue::S(format!("DAY#{DAY_TEXT}")),
            ),
        ])
    };
    let mut item = corrupt();
    item.insert("m".into(), AttributeValue::S("not a count".into()));
    client
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();

    // Both orgs' records on four shards.
    let feed = Feed::new(store.clone(), 4);
    let mut records = Records::default();
    for chat in &chats {
        feed.push_event(&records.chat_created(chat));
        for _ in 0..3 {
            feed.push_event(&records.message_logged(chat));
        }
    }
    let report = feed.drain().await;
    assert_eq!(report.commits.parked, 1, "{report:?}");

    let healthy_summary = summary(&store, healthy).await;
    assert_eq!(
        (
            healthy_summary.totals.messages,
            healthy_summary.totals.chats
        ),
        (3, 1)
    );
    assert_eq!(healthy_summary.top_users[0].user_id, "ann");
    let parked = store.parked(10).await.unwrap();
    assert_eq!(parked.len(), 1, "{parked:?}");
    assert_eq!(parked[0].org, poisoned);
    assert!(
        parked[0].reason.contains("ValidationException"),
        "the reason says why: {}",
        parked[0].reason
    );

    // A replay while the cause is still there changes nothing, and keeps it parked.
    let report = replay_parked(&*store, 10).await.unwrap();
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
    let report = replay_parked(&*store, 10).await.unwrap();
    assert_eq!((report.replayed, report.still_failing.len()), (1, 0));
    assert!(store.parked(10).await.unwrap().is_empty());
    let recovered = summary(&store, poisoned).await;
    assert_eq!((recovered.totals.messages, recovered.totals.chats), (3, 1));
    assert_eq!(recovered.top_users[0].user_id, "bob");
    assert_eq!(recovered.top_tags[0].tag, "vip");
    assert_eq!(replay_parked(&*store, 10).await.unwrap().replayed, 0);
    assert_eq!(summary(&store, healthy).await, healthy_summary);
}

/// Seconds between an org's messages, per profile.
const PROFILES: [(&str, u64, u64); 3] = [
    // name, messages per tick, ticks between messages (a tick is 1 s)
    ("quiet", 1, 10),
    ("typical", 1, 1),
    ("busy", 10, 1),
];

#[tokio::test]
async fn quiet_typical_and_busy_orgs_count_once_through_duplicates_a_crash_and_a_split() {
    let store = Arc::new(new_store().await);
    let mut feed = Feed::new(store.clone(), 4);
    let mut records = Records::default();
    let orgs: Vec<(OrgId, TestChat)> = PROFILES
        .iter()
        .enumerate()
        .map(|(n, _)| {
            let org = OrgId::new();
            let chat = TestChat::new(org, Some(format!("visitor-{n}")), vec![format!("tag-{n}")]);
            (org, chat)
        })
        .collect();
    let chats: Vec<TestChat> = orgs.iter().map(|(_, c)| c.clone()).collect();
    store_chats(&store, &chats).await;
    for (_, chat) in &orgs {
        feed.push_event(&records.chat_created(chat));
    }
    let mut sent = [0u64; 3];
    let mut reader = feed.reader().await;
    let mut org_commits = 0;
    let mut last_busy: Option<EventRecord> = None;
    for second in 0..180u64 {
        for (n, (name, per_tick, every)) in PROFILES.iter().enumerate() {
            if second % every != 0 {
                continue;
            }
            for _ in 0..*per_tick {
                let record = records.message_logged(&orgs[n].1);
                feed.push_event(&record);
                sent[n] += 1;
                if *name == "busy" {
                    last_busy = Some(record);
                }
            }
        }
        // A record delivered twice, right after itself.
        if second == 30 {
            feed.push_event(last_busy.as_ref().unwrap());
        }
        // A shard splits: the parent closes, its children carry on.
        if second == 60 {
            feed.split(3);
        }
        feed.clock.advance(time::Duration::SECOND);
        if second % 3 == 2 {
            org_commits += reader.round().await.unwrap().commits.orgs;
        }
        // The run dies mid-way (no last journal, its lease left to lapse),
        // and a new one reads again what may not be committed.
        if second == 100 {
            drop(reader);
            feed.clock.advance(time::Duration::seconds(61));
            reader = feed.reader().await;
        }
    }
    org_commits += reader.flush().await.unwrap().commits.orgs;
    reader.finish().await.unwrap();

    for (n, (org, chat)) in orgs.iter().enumerate() {
        let s = summary(&store, *org).await;
        assert_eq!(
            (s.totals.messages, s.totals.chats, s.totals.tokens),
            (sent[n], 1, 3 * sent[n]),
            "{}",
            PROFILES[n].0
        );
        assert_eq!(s.top_users[0].user_id, chat.user.clone().unwrap());
        assert_eq!(s.top_users[0].messages, sent[n]);
        assert_eq!(s.latency.count, sent[n]);
    }
    // One commit per org per cadence, whatever the shards: the busy and
    // typical orgs about every 12 s, the quiet one every 40-odd s.
    assert!(
        org_commits <= 2 * (180 / 12 + 1) + 180 / 40 + 6,
        "{org_commits} org commits"
    );
}

#[tokio::test]
async fn a_shard_split_counts_every_record_once_across_parent_and_children() {
    let store = Arc::new(new_store().await);
    let org = OrgId::new();
    let before = TestChat::new(org, Some("ann".into()), vec!["a".into(), "b".into()]);
    let after = TestChat {
        tags: vec!["b".into(), "c".into()],
        ..before.clone()
    };
    let other = TestChat::new(org, Some("bob".into()), vec!["a".into()]);
    store_chats(&store, &[after.clone(), other.clone()]).await;
    let feed = Feed::new(store.clone(), 1);
    let mut records = Records::default();
    // The parent shard: the chats and some messages; then it closes.
    let parent = feed.shards[0].clone();
    for record in [
        records.chat_created(&before),
        records.chat_created(&other),
        records.message_logged(&before),
    ] {
        feed.stream.push(&parent, stream_record(&feed, &record));
    }
    feed.stream.close(&parent);
    // Its children carry on, committing to the same org-day as the parent.
    let (left, right) = (format!("{parent}-left"), format!("{parent}-right"));
    feed.stream.open(&left, Some(&parent));
    feed.stream.open(&right, Some(&parent));
    for record in [
        records.chat_edited(&before, &after),
        records.message_logged(&after),
    ] {
        feed.stream.push(&left, stream_record(&feed, &record));
    }
    for record in [
        records.message_logged(&other),
        records.message_logged(&other),
    ] {
        feed.stream.push(&right, stream_record(&feed, &record));
    }
    feed.drain().await;
    // A later run reads nothing twice.
    feed.drain().await;

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
async fn largest_item(store: &DynamoStore, org: OrgId) -> (String, u64) {
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
            let size = item_size(&item);
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

#[tokio::test]
async fn a_hundred_thousand_distinct_tags_and_end_users_in_a_day_keep_items_bounded_and_counts_exact()
 {
    let store = Arc::new(new_store().await);
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
    // Four shards; every org due at once, so the commits hold as much as
    // they can (the largest pending changes there are).
    let feed = Feed::new(store.clone(), 4);
    for record in &all {
        feed.push_event(record);
    }
    feed.drain().await;

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
    // Every aggregate item stays small, whatever the number of distinct
    // values: the counters item bills one write unit, the tops at most 6.
    let (sk, size) = largest_item(&store, org).await;
    assert!(size < 6 * 1024, "{sk} is {size} bytes");
    let counters = day_item(&store, org, "").await;
    assert!(item_size(&counters) <= 1024, "{counters:?}");
}
