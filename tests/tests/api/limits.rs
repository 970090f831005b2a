//! Limits and quotas end to end: over an org's or a key's rate, ingest
//! answers 429 with `Retry-After` and the rate-limit fields and writes
//! nothing; over its export quotas an org's new export is a 429 too; and an
//! inline export of a narrow time range reads only that range.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_sdk_dynamodb::operation::query::QueryOutput;
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{Intercept, context::AfterDeserializationInterceptorContextRef},
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;
use chatlogger::{
    domain::{
        Chat, ChatId, ExportId, Message, MessageContent, MessageId, MessageRole, Metadata, Tags,
        UserRole,
        export::ExportStatus,
        limits::{OrgLimits, RateLimit},
    },
    store::{ChatCheck, ChatStore, DynamoStore, ExportJobStore, MessageStore, PageRequest},
};
use reqwest::Method;
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    exports::{Worker, create_export, parse_file, signed_in},
    helpers::{TestApp, local_app, spawn_app},
};

fn assert_throttled(reply: &crate::dashboard::FullReply, scope: &str, quota: u64) {
    assert_eq!(
        (reply.status, reply.error_code().as_str()),
        (429, "rate_limited"),
        "{}",
        reply.body
    );
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    let policy = reply.headers["ratelimit-policy"].to_str().unwrap();
    assert!(
        policy.contains(&format!("\"{scope}\";q={quota};w=10")),
        "{policy}"
    );
    let status = reply.headers["ratelimit"].to_str().unwrap();
    assert!(
        status.starts_with(&format!("\"{scope}\";r=0;t=")),
        "{status}"
    );
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing was logged"),
        "{}",
        reply.body
    );
}

#[tokio::test]
async fn over_a_key_or_org_rate_ingest_answers_429_and_writes_nothing() {
    let app = spawn_app().await;
    // A key of its own rate: 1 a second, 3 at once (13 a window).
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let created = app
        .send(
            Method::POST,
            "/orgs/me/apikeys",
            &admin,
            Some(&json!({"label": "slow", "rate_limit": {"per_second": 1, "burst": 3}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.body["secret"].as_str().unwrap().to_owned();
    let chat = app.create_chat(&app.acme, &json!({})).await;
    let chat = chat.body["id"].as_str().unwrap().to_owned();
    let url = app.batch_url(&app.acme);
    let batch = |n: usize| {
        let messages: Vec<_> = (0..n)
            .map(|i| json!({"chat_id": chat, "role": "user", "content": format!("m{i}")}))
            .collect();
        json!({ "messages": messages })
    };

    let before = app.tenant_items(&app.acme).await;
    // A batch larger than the bucket is refused whole.
    let whole = app.plugin_post(&url, &key, None, &batch(4)).await;
    assert_throttled(&whole, "key", 13);
    assert_eq!(app.tenant_items(&app.acme).await, before, "nothing of it");
    // Three fit; the answer says how much is left.
    let fits = app.plugin_post(&url, &key, None, &batch(3)).await;
    assert_eq!(fits.status, 207, "{}", fits.body);
    let status = fits.headers["ratelimit"].to_str().unwrap();
    assert!(status.starts_with("\"key\";r=0;"), "{status}");
    // The next one waits for the bucket.
    let single = app
        .plugin_post(
            &app.messages_url(&app.acme, &chat),
            &key,
            None,
            &json!({"role": "user", "content": "one more"}),
        )
        .await;
    assert_throttled(&single, "key", 13);
    assert_eq!(app.tenant_items(&app.acme).await, before + 3);
    // Another key of the org is not held back by this one.
    let other = app
        .create_message(
            &app.acme,
            &chat,
            &json!({"role": "user", "content": "fine"}),
        )
        .await;
    assert_eq!(other.status, 201);

    // The org's rate holds every key of the org: 1 a second, 2 at once.
    app.set_limits(
        app.globex.org.id,
        OrgLimits {
            rate_limit: Some(RateLimit::new(1, Some(2))),
            ..OrgLimits::default()
        },
    )
    .await;
    let globex_key = app.globex.key.expose();
    let chats_url = app.chats_url(&app.globex);
    for _ in 0..2 {
        let reply = app
            .plugin_post(&chats_url, globex_key, None, &json!({}))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    let refused = app
        .plugin_post(&chats_url, globex_key, None, &json!({}))
        .await;
    assert_throttled(&refused, "org", 12);
    assert_eq!(app.tenant_items(&app.globex).await, 2);
    // A second later the bucket has one more.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let later = app
        .plugin_post(&chats_url, globex_key, None, &json!({}))
        .await;
    assert_eq!(later.status, 201, "{}", later.body);
}

/// Inline exports are limited per user and minute: each may read 20,000
/// items, so a loop of them is refused (429 with Retry-After) long before it
/// costs much; another user is not held back. The stack's clock sits in the
/// middle of a minute, so the ten cannot straddle two.
#[tokio::test]
async fn inline_exports_are_limited_per_user_and_minute() {
    let clock =
        chatlogger::clock::ManualClock::shared(time::macros::datetime!(2026-06-01 12:00:20 UTC));
    let app = crate::helpers::spawn_app_with_clock(clock.clone()).await;
    let (ada, bob) = (
        signed_in(&app, &app.acme, UserRole::Admin).await,
        signed_in(&app, &app.acme, UserRole::Viewer).await,
    );
    let body = json!({"format": "ndjson"});
    let sync = |cookies| {
        let (app, body) = (&app, &body);
        async move {
            app.send(Method::POST, "/exports/orgs/me/sync", cookies, Some(body))
                .await
        }
    };
    for n in 0..10 {
        let reply = sync(&ada).await;
        assert_eq!(reply.status, 200, "export {n}: {}", reply.body);
    }
    let refused = sync(&ada).await;
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (429, "quota_exceeded")
    );
    assert_eq!(refused.headers["retry-after"], "40");
    assert_eq!(
        sync(&bob).await.status,
        200,
        "another user is not held back"
    );
    clock.advance(time::Duration::seconds(40));
    assert_eq!(sync(&ada).await.status, 200, "a new minute");
}

#[tokio::test]
async fn export_quotas_answer_429_and_create_nothing() {
    // The stack's clock, held at noon: the three jobs of the day's quota
    // cannot fall on two days, and the day's end is 12 hours away.
    let noon = time::macros::datetime!(2026-06-01 12:00:00 UTC);
    let app =
        crate::helpers::spawn_app_with_clock(chatlogger::clock::ManualClock::shared(noon)).await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    app.set_limits(
        app.acme.org.id,
        serde_json::from_value(json!({"concurrent_exports": 2, "exports_per_day": 3})).unwrap(),
    )
    .await;
    let worker = Worker::new(&app).await;
    let first = create_export(&app, &admin, json!({"format": "csv"})).await;
    create_export(&app, &admin, json!({"format": "json"})).await;
    let jobs = |app: &TestApp| {
        let store = app.store.clone();
        let org = app.acme.org.id;
        async move {
            store
                .list_export_jobs(org, &PageRequest::default())
                .await
                .unwrap()
                .items
                .len()
        }
    };
    assert_eq!(jobs(&app).await, 2);

    // Over a quota: 429, saying which.
    let refused_saying = |says: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let body = json!({"format": "csv"});
            let refused = app
                .send(Method::POST, "/exports/orgs/me", admin, Some(&body))
                .await;
            assert_eq!(
                (refused.status, refused.error_code().as_str()),
                (429, "quota_exceeded")
            );
            let message = refused.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(says), "{message}");
            refused
        }
    };
    // Two queued: a third waits.
    let refused = refused_saying("2 exports queued or running").await;
    assert_eq!(refused.headers["retry-after"], "30");
    assert_eq!(jobs(&app).await, 2);
    assert_eq!(worker.queued_messages().await, 2, "nothing was queued");

    // Once they have run, a third may start: the day's last.
    worker.drain().await;
    let id = ExportId::parse(first["id"].as_str().unwrap()).unwrap();
    let job = app
        .store
        .export_job(app.acme.org.id, id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(job.status, ExportStatus::Completed);
    create_export(&app, &admin, json!({"format": "ndjson"})).await;
    worker.drain().await;
    let refused = refused_saying("3 exports today (UTC)").await;
    assert_eq!(
        refused.headers["retry-after"], "43200",
        "until midnight UTC"
    );
    assert_eq!(jobs(&app).await, 3);

    // Another org's quota is its own.
    let globex = signed_in(&app, &app.globex, UserRole::Admin).await;
    create_export(&app, &globex, json!({"format": "csv"})).await;
}

/// Requests racing for the last places of the quota cannot all get them:
/// each counts again with its job written and takes it back if over.
#[tokio::test]
async fn racing_exports_never_exceed_the_quota() {
    let app = spawn_app().await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    app.set_limits(
        app.acme.org.id,
        serde_json::from_value(json!({"concurrent_exports": 2, "exports_per_day": 20})).unwrap(),
    )
    .await;
    let worker = Worker::new(&app).await;
    let body = json!({"format": "csv"});
    let replies = futures::future::join_all(
        (0..12).map(|_| app.send(Method::POST, "/exports/orgs/me", &admin, Some(&body))),
    )
    .await;
    let accepted = replies.iter().filter(|r| r.status == 202).count();
    assert!(
        replies
            .iter()
            .all(|r| r.status == 202 || (r.status == 429 && r.error_code() == "quota_exceeded")),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert!(accepted <= 2, "{accepted} accepted over a quota of 2");
    let stored = app
        .store
        .list_export_jobs(app.acme.org.id, &PageRequest::default())
        .await
        .unwrap()
        .items;
    assert_eq!(
        stored.len(),
        accepted,
        "refused requests leave no job behind"
    );
    assert_eq!(
        worker.queued_messages().await,
        accepted,
        "nor a queued message"
    );
}

/// Adds up the items every `Query` response says it read (`ScannedCount`).
#[derive(Debug, Clone, Default)]
struct ItemsRead(Arc<Mutex<u64>>);

impl Intercept for ItemsRead {
    fn name(&self) -> &'static str {
        "ItemsRead"
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Ok(output) = context.output_or_error()
            && let Some(query) = output.downcast_ref::<QueryOutput>()
        {
            *self.0.lock().unwrap() += query.scanned_count() as u64;
        }
        Ok(())
    }
}

#[tokio::test]
async fn an_inline_export_of_a_narrow_range_reads_only_that_range() {
    let app = spawn_app().await;
    // One chat, with ten messages a day for thirty days (ids carry their
    // time, as the server's do), and a chat made after the range.
    let start = OffsetDateTime::now_utc() - time::Duration::days(31);
    let chat = Chat {
        id: ChatId::at(start),
        title: None,
        tags: Tags::default(),
        metadata: Metadata::default(),
        user_id: None,
        key_id: None,
        created_at: start,
    };
    app.store.insert_chat(app.acme.org.id, &chat).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for day in 0..30 {
        for n in 0..10 {
            let at = start + time::Duration::days(day) + time::Duration::minutes(n * 7 + 1);
            let message = Message {
                id: MessageId::at(at),
                chat_id: chat.id,
                role: MessageRole::User,
                content: MessageContent::parse(&format!("day {day} message {n}")).unwrap(),
                metadata: Metadata::default(),
                latency_ms: None,
                token_count: None,
                key_id: None,
                created_at: at,
            };
            let (store, org) = (app.store.clone(), app.acme.org.id);
            tasks.spawn(async move {
                store
                    .insert_message(org, &message, ChatCheck::KnownToExist)
                    .await
                    .unwrap();
            });
        }
        while tasks.len() > 16 {
            tasks.join_next().await.unwrap().unwrap();
        }
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    let later = app
        .create_chat(&app.acme, &json!({"title": "made today"}))
        .await;
    assert_eq!(later.status, 201);

    // The same table, through a client that counts what each Query reads.
    let sdk = crate::helpers::sdk_config().await;
    let items_read = ItemsRead::default();
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(items_read.clone())
            .build(),
    );
    let server = local_app(Arc::new(DynamoStore::new(counted, app.table.clone()))).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, server).await.unwrap() });
    let viewer = signed_in(&app, &app.acme, UserRole::Viewer).await;
    let rfc = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let (from, to) = (
        start + time::Duration::days(10),
        start + time::Duration::days(11) - time::Duration::seconds(1),
    );
    *items_read.0.lock().unwrap() = 0;
    let reply = reqwest::Client::new()
        .post(format!("{base}/exports/orgs/me/sync"))
        .header("x-csrf-protection", "1")
        .header(
            "cookie",
            format!(
                "{}={}",
                crate::dashboard::SESSION_COOKIE,
                viewer.session.as_ref().unwrap()
            ),
        )
        .json(&json!({"format": "ndjson", "from": rfc(from), "to": rfc(to)}))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let rows = parse_file(
        chatlogger::domain::export::ExportFormat::Ndjson,
        &reply.bytes().await.unwrap(),
    );
    assert_eq!(rows.len(), 10, "day 10's messages");
    assert!(
        rows.iter()
            .all(|r| r["content"].as_str().unwrap().starts_with("day 10 "))
    );
    // One chat and its ten messages: the 290 other messages and the chat
    // made after `to` were never read.
    assert_eq!(*items_read.0.lock().unwrap(), 11);
}
