//! Analytics end to end: workloads go through ingest (and the store, for
//! back-dated data), the table's stream on moto is read, spread over
//! synthetic shards and aggregated by readers that die at random points
//! (the next one reads again what may not be committed), with records
//! delivered twice, and the summary route must equal a brute-force count
//! over the stored chats and messages, for every org.

use std::{collections::BTreeMap, path::Path, sync::Arc, time::Duration};

use chatlogger::aws_lambda_events::event::dynamodb::Event as StreamEvent;
use chatlogger::{
    aws::{Aws, Budget},
    domain::{
        Chat, ChatId, ChatTitle, EndUserId, LatencyMs, Message, MessageContent, MessageId,
        MessageRole, Metadata, OrgId, Tag, Tags, TokenCount, UserRole,
        analytics::{
            DayRange, Summary,
            histogram::{bucket_of, upper_bound},
            summary::{MAX_RANGE_DAYS, TOP_N},
        },
    },
    store::{
        AnalyticsStore, ChatCheck, ChatStore, DynamoStore, DynamoStream, MessageStore, StreamRecord,
    },
};
use chatlogger_local::aggregator::LocalAggregator;
use reqwest::Method;
use serde_json::{Value, json};
use time::{Date, Duration as Days, OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    dashboard::Cookies,
    events::STREAM_EVENTS,
    feed::{Feed, quick_config, stream_records},
    helpers::{
        TestApp, TestOrg, create_org_with_key, new_table, sdk_config, spawn_app,
        spawn_app_with_clock,
    },
};

/// A small deterministic generator (xorshift64*), seeded per run and
/// printed, so a failing workload can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const TAGS: [&str; 6] = ["billing", "bug", "vip", "sales", "refund", "other"];
const END_USERS: [&str; 5] = ["ann", "bob", "cy", "dee", "eve"];

pub async fn superadmin(app: &TestApp) -> Cookies {
    app.create_user(&app.acme, "root@acme.example", UserRole::Superadmin)
        .await;
    app.login("root@acme.example").await
}

/// Every item of a dashboard listing, following cursors.
async fn list_all(app: &TestApp, session: &Cookies, path: &str) -> Vec<Value> {
    app.pages(session, path).await.concat()
}

fn day_of(at: &str) -> Date {
    OffsetDateTime::parse(at, &Rfc3339).unwrap().date()
}

/// The summary computed the slow way, from every stored chat and message.
pub async fn brute_force(app: &TestApp, session: &Cookies, org: OrgId, range: DayRange) -> Value {
    let chats = list_all(app, session, &format!("/chats?org={org}&limit=100")).await;
    let in_range = |day: Date| day >= range.from && day <= range.to;
    let mut per_day: BTreeMap<Date, (u64, u64)> = range.days().map(|d| (d, (0, 0))).collect();
    let (mut by_role, mut tokens_by_role) = (
        BTreeMap::<String, u64>::new(),
        BTreeMap::<String, u64>::new(),
    );
    let (mut tokens, mut latencies) = (0u64, Vec::<u64>::new());
    let (mut users, mut tags) = (
        BTreeMap::<String, u64>::new(),
        BTreeMap::<String, u64>::new(),
    );
    for chat in &chats {
        let chat_day = day_of(chat["created_at"].as_str().unwrap());
        if in_range(chat_day) {
            per_day.get_mut(&chat_day).unwrap().1 += 1;
            for tag in chat["tags"].as_array().unwrap() {
                *tags.entry(tag.as_str().unwrap().to_owned()).or_default() += 1;
            }
        }
        let path = format!(
            "/chats/{}/messages?org={org}&limit=100",
            chat["id"].as_str().unwrap()
        );
        for message in list_all(app, session, &path).await {
            let day = day_of(message["created_at"].as_str().unwrap());
            if !in_range(day) {
                continue;
            }
            per_day.get_mut(&day).unwrap().0 += 1;
            let role = message["role"].as_str().unwrap().to_owned();
            *by_role.entry(role.clone()).or_default() += 1;
            if let Some(t) = message["token_count"].as_u64() {
                tokens += t;
                *tokens_by_role.entry(role).or_default() += t;
            }
            if let Some(latency) = message["latency_ms"].as_u64() {
                latencies.push(latency);
            }
            if let Some(user) = chat["user_id"].as_str() {
                *users.entry(user.to_owned()).or_default() += 1;
            }
        }
    }
    latencies.sort_unstable();
    // Nearest rank over the raw latencies, reported at the histogram's resolution.
    let percentile = |p: u64| {
        let n = latencies.len() as u64;
        (n > 0).then(|| {
            upper_bound(bucket_of(
                latencies[((n * p).div_ceil(100).max(1) - 1) as usize],
            ))
        })
    };
    let top = |counts: BTreeMap<String, u64>, field: &str, count: &str| {
        let mut entries: Vec<(String, u64)> = counts.into_iter().collect();
        entries.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        entries.truncate(TOP_N);
        entries
            .into_iter()
            .map(|(k, v)| json!({field: k, count: v}))
            .collect::<Vec<_>>()
    };
    let roles = |counts: &BTreeMap<String, u64>| {
        json!({
            "user": counts.get("user").copied().unwrap_or(0),
            "assistant": counts.get("assistant").copied().unwrap_or(0),
            "system": counts.get("system").copied().unwrap_or(0),
            "tool": counts.get("tool").copied().unwrap_or(0),
        })
    };
    let latency_count = latencies.len() as u64;
    let messages: u64 = per_day.values().map(|(m, _)| m).sum();
    let chats_total: u64 = per_day.values().map(|(_, c)| c).sum();
    let iso = |d: Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    json!({
        "org_id": org.to_string(),
        "from": iso(range.from),
        "to": iso(range.to),
        "totals": {"messages": messages, "chats": chats_total, "tokens": tokens},
        "days": per_day.iter().map(|(d, (m, c))| json!({"date": iso(*d), "messages": m, "chats": c})).collect::<Vec<_>>(),
        "messages_by_role": roles(&by_role),
        "tokens": {"total": tokens, "by_role": roles(&tokens_by_role)},
        "latency": {
            "count": latency_count,
            "average_ms": (latency_count > 0).then(|| latencies.iter().sum::<u64>() as f64 / latency_count as f64),
            "p50_ms": percentile(50),
            "p95_ms": percentile(95),
            "p99_ms": percentile(99),
            "resolution": chatlogger::domain::analytics::summary::LATENCY_RESOLUTION,
        },
        "top_users": top(users, "user_id", "messages"),
        // At most 5 end users and 6 tags a day: the top lists are exact.
        "top_users_error_bound": 0,
        "top_tags": top(tags, "tag", "chats"),
        "top_tags_error_bound": 0,
    })
}

fn random_message(rng: &mut Rng, chat: ChatId, at: OffsetDateTime) -> Message {
    Message {
        id: MessageId::new(),
        chat_id: chat,
        role: *rng.pick(&MessageRole::ALL),
        content: MessageContent::parse("hello").unwrap(),
        metadata: Metadata::default(),
        latency_ms: rng
            .chance(80)
            .then(|| LatencyMs::parse(i128::from(rng.below(5000) * rng.below(3))).unwrap()),
        token_count: rng
            .chance(70)
            .then(|| TokenCount::parse(i128::from(rng.below(2000))).unwrap()),
        key_id: None,
        created_at: at,
    }
}

/// One org's workload: chats and messages through ingest (today) and
/// through the store (back-dated up to 20 days), plugin re-sends, tag
/// edits and deletes through the dashboard.
async fn run_workload(app: &TestApp, session: &Cookies, org: &TestOrg, rng: &mut Rng) {
    let mut chats = Vec::new();
    for _ in 0..(4 + rng.below(5)) {
        let tags: Vec<&str> = (0..rng.below(4)).map(|_| *rng.pick(&TAGS)).collect();
        let user = rng.chance(75).then(|| *rng.pick(&END_USERS));
        let id = if rng.chance(60) {
            let reply = app
                .create_chat(org, &json!({"tags": tags, "user_id": user}))
                .await;
            assert_eq!(reply.status, 201, "{}", reply.body);
            ChatId::parse(reply.body["id"].as_str().unwrap()).unwrap()
        } else {
            let chat = Chat {
                id: ChatId::new(),
                title: Some(ChatTitle::parse("back-dated").unwrap()),
                tags: Tags::parse(tags.iter().map(|t| Tag::parse(t).unwrap()).collect()).unwrap(),
                metadata: Metadata::default(),
                user_id: user.map(|u| EndUserId::parse(u).unwrap()),
                key_id: None,
                created_at: OffsetDateTime::now_utc() - Days::days(rng.below(20) as i64),
            };
            app.store.insert_chat(org.org.id, &chat).await.unwrap();
            chat.id
        };
        chats.push(id);
        for _ in 0..rng.below(12) {
            if rng.chance(50) {
                let body = json!({
                    "id": MessageId::new().to_string(),
                    "role": rng.pick(&MessageRole::ALL).as_str(),
                    "content": "hi",
                    "latency_ms": rng.chance(80).then(|| rng.below(3000)),
                    "token_count": rng.chance(70).then(|| rng.below(500)),
                });
                let url = app.messages_url(org, &id.to_string());
                let reply = app.post(&url, Some(org.key.expose()), &body).await;
                assert_eq!(reply.status, 201, "{}", reply.body);
                if rng.chance(20) {
                    // The plugin re-sends it: stored (and counted) once.
                    let again = app.post(&url, Some(org.key.expose()), &body).await;
                    assert_eq!(again.status, 200, "{}", again.body);
                }
            } else {
                let at = OffsetDateTime::now_utc() - Days::days(rng.below(20) as i64);
                let message = random_message(rng, id, at);
                app.store
                    .insert_message(org.org.id, &message, ChatCheck::Verify)
                    .await
                    .unwrap();
            }
        }
    }
    for id in &chats {
        let q = format!("?org={}", org.org.id);
        if rng.chance(25) {
            let tags: Vec<&str> = (0..rng.below(3)).map(|_| *rng.pick(&TAGS)).collect();
            let reply = app
                .send(
                    Method::PATCH,
                    &format!("/chats/{id}{q}"),
                    session,
                    Some(&json!({"tags": tags})),
                )
                .await;
            assert_eq!(reply.status, 200, "{}", reply.body);
        } else if rng.chance(15) {
            let reply = app
                .send(Method::DELETE, &format!("/chats/{id}{q}"), session, None)
                .await;
            assert_eq!(reply.status, 204, "{}", reply.body);
        }
    }
}

/// Spreads records over the feed's shards in random chunks, with some
/// delivered twice, and aggregates them with readers that now and then die
/// between rounds (no last journal, the lease left to lapse): the next
/// reader reads again what may not be committed.
async fn aggregate_unreliably(feed: &Feed, records: Vec<StreamRecord>, rng: &mut Rng) {
    let mut reader = feed.reader().await;
    let mut start = 0;
    while start < records.len() {
        let end = (start + 1 + rng.below(40) as usize).min(records.len());
        for record in &records[start..end] {
            feed.push(record.clone());
            if rng.chance(10) {
                feed.push(record.clone());
            }
        }
        // A round every few seconds, as the reader runs them.
        feed.clock
            .advance(time::Duration::seconds(1 + rng.below(10) as i64));
        reader.round().await.unwrap();
        if rng.chance(15) {
            drop(reader);
            reader = feed.reader().await;
        }
        start = end;
    }
    while reader.flush().await.unwrap().records > 0 {}
    reader.finish().await.unwrap();
}

#[tokio::test]
async fn the_summary_equals_a_brute_force_count_for_every_org() {
    let seed = std::env::var("ANALYTICS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| OffsetDateTime::now_utc().unix_timestamp_nanos() as u64 | 1);
    println!("analytics workload seed: {seed} (replay with ANALYTICS_SEED={seed})");
    let mut rng = Rng(seed);
    let app = spawn_app().await;
    let session = superadmin(&app).await;
    let initech = create_org_with_key(&app.store, "initech").await;
    for org in [&app.acme, &app.globex, &initech] {
        run_workload(&app, &session, org, &mut rng).await;
    }

    let aws = Aws::load_with(Budget::interactive(), None).await;
    let stream = DynamoStream::of_table(&aws.dynamodb(), aws.dynamodb_streams(), &app.table)
        .await
        .unwrap();
    let feed = Feed::new(app.store.clone(), 4);
    let mut seen = 0;
    // Orphans and deletes produce more records: aggregate until the stream
    // has no new change to chats or messages (the aggregator's own writes
    // are records too, of items it does not follow).
    loop {
        let records = stream_records(&stream).await;
        let more = records[seen..].to_vec();
        seen = records.len();
        if !more.iter().any(|r| matches!(r.change, Ok(Some(_)))) {
            break;
        }
        aggregate_unreliably(&feed, more, &mut rng).await;
    }

    let today = OffsetDateTime::now_utc().date();
    let range = DayRange::parse(None, None, today).unwrap();
    let query = format!("from={}&to={}", range.from, range.to);
    for org in [&app.acme, &app.globex, &initech] {
        let reply = app
            .send(
                Method::GET,
                &format!("/analytics/orgs/me/summary?{query}&org={}", org.org.id),
                &session,
                None,
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let expected = brute_force(&app, &session, org.org.id, range).await;
        assert_eq!(reply.body, expected, "org {} (seed {seed})", org.slug());
        assert!(
            reply.body["totals"]["messages"].as_u64().unwrap() > 0
                || expected["totals"]["messages"] == 0
        );
    }
}

#[tokio::test]
async fn the_sample_stream_events_count_exactly() {
    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
    let events_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let read = |file: &str| -> StreamEvent {
        serde_json::from_str(&std::fs::read_to_string(events_dir.join(file)).unwrap()).unwrap()
    };
    // The chat the samples are about, as the table holds it.
    let created = read(STREAM_EVENTS[0]);
    let image = &created.records[0].change.new_image;
    let org: OrgId = serde_dynamo::from_attribute_value(image["org_id"].clone()).unwrap();
    let chat = Chat {
        id: serde_dynamo::from_attribute_value(image["id"].clone()).unwrap(),
        title: None,
        tags: Tags::default(),
        metadata: Metadata::default(),
        user_id: Some(EndUserId::parse("visitor-42").unwrap()),
        key_id: None,
        created_at: OffsetDateTime::parse("2026-11-22T10:00:00Z", &Rfc3339).unwrap(),
    };
    store.insert_chat(org, &chat).await.unwrap();
    let range = DayRange::parse(
        Some("2026-11-22"),
        Some("2026-11-22"),
        chat.created_at.date(),
    )
    .unwrap();
    let summary = |store: &DynamoStore| {
        let store = store.clone();
        async move { Summary::build(org, range, store.aggregates(org, range).await.unwrap()) }
    };

    let feed = Feed::new(Arc::new(store.clone()), 1);
    for file in STREAM_EVENTS {
        // Every record delivered twice in a row: taken once.
        for record in &read(file).records {
            feed.push_event(record);
            feed.push_event(record);
        }
        feed.drain().await;
        let s = summary(&store).await;
        match *file {
            "stream-chat-created.json" => {
                assert_eq!((s.totals.chats, s.totals.messages), (1, 0));
                let tags: Vec<_> = s
                    .top_tags
                    .iter()
                    .map(|t| (t.tag.as_str(), t.chats))
                    .collect();
                assert_eq!(tags, [("billing", 1), ("vip", 1)]);
            }
            "stream-messages-logged.json" => {
                // Three records, one of them delivered twice: two messages.
                assert_eq!((s.totals.messages, s.totals.tokens), (2, 60));
                assert_eq!(
                    (s.messages_by_role.user, s.messages_by_role.assistant),
                    (1, 1)
                );
                assert_eq!((s.latency.count, s.latency.average_ms), (2, Some(425.0)));
                assert_eq!(
                    (s.latency.p50_ms, s.latency.p99_ms),
                    (Some(0), Some(upper_bound(bucket_of(850))))
                );
                assert_eq!(s.top_users[0].user_id, "visitor-42");
                assert_eq!(s.top_users[0].messages, 2);
            }
            _ => {
                assert_eq!(
                    (s.totals.chats, s.totals.messages, s.totals.tokens),
                    (0, 0, 0)
                );
                assert!(s.top_tags.is_empty() && s.top_users.is_empty());
            }
        }
        // A later run reads nothing twice.
        feed.drain().await;
        assert_eq!(summary(&store).await, s, "{file} read again");
    }
}

#[tokio::test]
async fn the_local_server_keeps_the_dashboard_fresh_and_deletes_stay_consistent() {
    // Ingest stamps the chat and its messages, and the summary reads
    // "today", by the stack's clock: held at noon, they cannot fall on two
    // days, whenever the test runs.
    let noon = time::macros::datetime!(2026-06-01 12:00:00 UTC);
    let app = spawn_app_with_clock(chatlogger::clock::ManualClock::shared(noon)).await;
    // A one-second cadence and rounds instead of the template's, not to wait.
    let aws = Aws::load_with(Budget::interactive(), None).await;
    let aggregator = LocalAggregator::open(&aws, app.store.clone())
        .await
        .unwrap()
        .with_config(quick_config());
    tokio::spawn(aggregator.run());
    app.create_user(&app.acme, "viewer@acme.example", UserRole::Viewer)
        .await;
    let viewer = app.login("viewer@acme.example").await;
    app.create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    let admin = app.login("admin@acme.example").await;

    let chat = app
        .create_chat(&app.acme, &json!({"tags": ["fresh"], "user_id": "ann"}))
        .await;
    let chat_id = chat.body["id"].as_str().unwrap().to_owned();
    for i in 0..5 {
        let body = json!({"role": "user", "content": format!("m{i}"), "latency_ms": 100 * i, "token_count": 10});
        assert_eq!(
            app.create_message(&app.acme, &chat_id, &body).await.status,
            201
        );
    }
    let totals = |expected: Value| {
        let (app, viewer) = (&app, &viewer);
        async move {
            for _ in 0..100 {
                let reply = app
                    .send(Method::GET, "/analytics/orgs/me/summary", viewer, None)
                    .await;
                assert_eq!(reply.status, 200);
                if reply.body["totals"] == expected {
                    return reply.body;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("the summary never reached {expected}");
        }
    };
    let fresh = totals(json!({"messages": 5, "chats": 1, "tokens": 50})).await;
    assert_eq!(fresh["top_tags"], json!([{"tag": "fresh", "chats": 1}]));
    assert_eq!(
        fresh["top_users"],
        json!([{"user_id": "ann", "messages": 5}])
    );
    let today = fresh["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (today["messages"].as_u64(), today["chats"].as_u64()),
        (Some(5), Some(1))
    );
    assert_eq!(
        today["date"], "2026-06-01",
        "the clock's day ends the range"
    );

    // Deleting the chat uncounts it and its messages: analytics follow what is stored.
    let deleted = app
        .send(Method::DELETE, &format!("/chats/{chat_id}"), &admin, None)
        .await;
    assert_eq!(deleted.status, 204);
    let after = totals(json!({"messages": 0, "chats": 0, "tokens": 0})).await;
    assert_eq!(after["top_tags"], json!([]));
    // Globex saw none of it.
    app.create_user(&app.globex, "viewer@globex.example", UserRole::Viewer)
        .await;
    let globex = app.login("viewer@globex.example").await;
    let theirs = app
        .send(Method::GET, "/analytics/orgs/me/summary", &globex, None)
        .await;
    assert_eq!(
        theirs.body["totals"],
        json!({"messages": 0, "chats": 0, "tokens": 0})
    );
}

#[tokio::test]
async fn a_message_logged_after_its_chat_was_deleted_is_removed_and_uncounted() {
    let app = spawn_app().await;
    let chat = app.create_chat(&app.acme, &json!({})).await;
    let chat_id = ChatId::parse(chat.body["id"].as_str().unwrap()).unwrap();
    assert!(
        app.store
            .delete_chat(app.acme.org.id, chat_id, OffsetDateTime::now_utc())
            .await
            .unwrap()
    );
    // An ingest container that still had the chat cached writes one more message.
    let late = random_message(&mut Rng(7), chat_id, OffsetDateTime::now_utc());
    app.store
        .insert_message(app.acme.org.id, &late, ChatCheck::KnownToExist)
        .await
        .unwrap();

    let aws = Aws::load_with(Budget::interactive(), None).await;
    let aggregator = LocalAggregator::open(&aws, app.store.clone())
        .await
        .unwrap();
    aggregator.drain().await.unwrap();
    // The orphan's removal is a record too: it uncounts the message.
    aggregator.drain().await.unwrap();
    let pk = chatlogger::store::keys::messages_pk(app.acme.org.id, chat_id);
    let left: Vec<_> = app
        .items_in(&pk)
        .await
        .into_iter()
        .filter(|i| i["sk"].as_s().unwrap().starts_with("MSG#"))
        .collect();
    assert!(left.is_empty(), "the orphan was deleted");
    let today = OffsetDateTime::now_utc().date();
    let range = DayRange::parse(None, None, today).unwrap();
    let summary = Summary::build(
        app.acme.org.id,
        range,
        app.store.aggregates(app.acme.org.id, range).await.unwrap(),
    );
    assert_eq!((summary.totals.messages, summary.totals.chats), (0, 0));
}

#[tokio::test]
async fn summary_ranges_are_validated() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "viewer@acme.example", UserRole::Viewer)
        .await;
    let viewer = app.login("viewer@acme.example").await;
    let too_long = format!(
        "from=2024-01-01&to={}",
        Date::from_calendar_date(2024, time::Month::January, 1).unwrap()
            + Days::days(i64::from(MAX_RANGE_DAYS))
    );
    for query in [
        "from=2026-13-01",
        "to=yesterday",
        "from=2026-02-02&to=2026-02-01",
        too_long.as_str(),
        "colour=red",
        "org=not-a-ulid",
    ] {
        let reply = app
            .send(
                Method::GET,
                &format!("/analytics/orgs/me/summary?{query}"),
                &viewer,
                None,
            )
            .await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "invalid_query"),
            "{query}: {}",
            reply.body
        );
    }
    let default = app
        .send(Method::GET, "/analytics/orgs/me/summary", &viewer, None)
        .await;
    assert_eq!(default.body["days"].as_array().unwrap().len(), 30);
    let year = app
        .send(
            Method::GET,
            "/analytics/orgs/me/summary?from=2025-01-01&to=2025-12-31",
            &viewer,
            None,
        )
        .await;
    assert_eq!(year.body["days"].as_array().unwrap().len(), 365);
}
