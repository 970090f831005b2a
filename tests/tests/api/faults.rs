//! The whole product with a tenth of its AWS calls failing: ingest (with
//! plugins retrying as docs/ingest-api.md says), the analytics aggregator
//! (fed from the table's stream) and the export worker (fed from the queue)
//! all run on an AWS set-up with fault injection on: HTTP 500s, throttling,
//! calls that never answer and reset connections, half of them after the
//! call took effect (the answer is lost). Checked around the faults, on a clean set-up:
//! - every acknowledged message is stored exactly once, as sent, and
//!   nothing else is (0 lost, 0 duplicated);
//! - the analytics summary is exact;
//! - every export job ends completed, with exactly the right rows, or
//!   failed with a reason: none is left queued or running.
//!
//! Another fault sequence: `FAULTS_SEED=<n>` (the seed is printed); each
//! injected fault in the output: `FAULTS_LOG=warn,chatlogger::aws::faults=debug`.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use chatlogger::{
    adapters::{ExportBucket, SqsExportQueue},
    auth::JwtKeys,
    aws::{Aws, Budget, FaultKind, Faults, Timeouts, faults::FaultPhase},
    domain::{
        Chat, ChatId, ChatTitle, EndUserId, LatencyMs, Message, MessageContent, MessageId,
        MessageRole, Metadata, Tag, Tags, TokenCount, UserRole, analytics::DayRange,
        export::ExportStatus,
    },
    export::ExportReader,
    http::BrowserPolicy,
    store::{DynamoStore, ExportJobStore, PageRequest},
};
use chatlogger_local::{LocalExports, aggregator::LocalAggregator};
use reqwest::Method;
use serde_json::{Value, json};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::{
    analytics::{brute_force, superadmin},
    dashboard::Cookies,
    exports::{Seeded, Worker, assert_rows_match, download, parse_file, signed_in},
    helpers::{
        DASHBOARD_ORIGIN, TEST_JWT_SECRET, TestApp, TestOrg, aws, export_resources, serve,
        spawn_app,
    },
};

/// The share of AWS calls that fail.
const RATE: f64 = 0.1;
/// The faults' random sequence, so a run is reproducible; try others with
/// `FAULTS_SEED` (the sequence of decisions is fixed by the seed, only
/// which call meets which decision depends on timing).
const DEFAULT_SEED: u64 = 1;
/// How often a plugin sends one request before giving up (it never should).
const CLIENT_ATTEMPTS: usize = 12;

/// Short timeouts, so a call that never answers costs a second or two,
/// with room for a busy moto under the whole test suite.
fn budget(attempt: Duration) -> Budget {
    let timeouts = |attempt: Duration| Timeouts {
        connect: Duration::from_millis(500),
        attempt,
        operation: attempt * 5,
    };
    Budget {
        requests: timeouts(attempt),
        transfers: timeouts(attempt * 2),
    }
}

/// What the plugins sent and the API acknowledged.
struct Acknowledged {
    seeded: Seeded,
    /// 503s the plugins saw and retried.
    retried: usize,
}

/// POSTs `body` like a plugin following the retry rules of
/// docs/ingest-api.md: after a 503 the same body (with its id) again, until
/// it is acknowledged (201, or 200 when a retry finds it stored). Anything
/// else fails the test.
async fn post_until_acknowledged(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: &Value,
    retried: &mut usize,
) -> Value {
    for _ in 0..CLIENT_ATTEMPTS {
        let response = http
            .post(url)
            .header("x-organization-api-key", key)
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let retry_after = response.headers().contains_key("retry-after");
        let reply: Value = response.json().await.unwrap();
        match status {
            200 | 201 => return reply,
            503 => {
                assert!(retry_after, "a 503 says when to retry");
                assert_eq!(reply["error"]["code"], "unavailable");
                *retried += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{url}: {other} {reply}"),
        }
    }
    panic!("{url}: not acknowledged after {CLIENT_ATTEMPTS} attempts")
}

fn time_of(reply: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(reply["created_at"].as_str().unwrap(), &Rfc3339).unwrap()
}

/// One plugin: `chats` chats of `per_chat` messages, with client-chosen
/// ids, re-sending some messages that already succeeded.
async fn plugin(
    app: Arc<TestApp>,
    org: TestOrg,
    chats: usize,
    per_chat: usize,
    seed: u64,
) -> Acknowledged {
    let key = org.key.expose().to_owned();
    let tag_names = ["billing", "vip", "support"];
    let mut retried = 0;
    let mut seeded = Vec::new();
    for c in 0..chats {
        let n = (seed % 997) as usize + c;
        let id = ChatId::new();
        let tags = vec![Tag::parse(tag_names[n % 3]).unwrap()];
        let user = format!("visitor-{}", n % 4);
        let body = json!({
            "id": id.to_string(),
            "title": format!("{} chat {c}", org.slug()),
            "tags": tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
            "user_id": user,
        });
        let reply =
            post_until_acknowledged(&app.http, &app.chats_url(&org), &key, &body, &mut retried)
                .await;
        let chat = Chat {
            id,
            title: Some(ChatTitle::parse(body["title"].as_str().unwrap()).unwrap()),
            tags: Tags::parse(tags).unwrap(),
            metadata: Metadata::default(),
            user_id: Some(EndUserId::parse(&user).unwrap()),
            key_id: Some(org.key_id),
            created_at: time_of(&reply),
        };
        let url = app.messages_url(&org, &id.to_string());
        let mut messages = Vec::new();
        for m in 0..per_chat {
            let k = n + m;
            let mut message = Message {
                id: MessageId::new(),
                chat_id: id,
                role: MessageRole::ALL[k % 4],
                content: MessageContent::parse(&format!("message {m} of chat {c}, \"quoted\""))
                    .unwrap(),
                metadata: Metadata::parse(json!({"m": m})).unwrap(),
                latency_ms: (!k.is_multiple_of(3))
                    .then(|| LatencyMs::parse((k * 37 % 2000) as i128).unwrap()),
                token_count: (!k.is_multiple_of(5))
                    .then(|| TokenCount::parse((k % 300) as i128).unwrap()),
                key_id: Some(org.key_id),
                created_at: OffsetDateTime::UNIX_EPOCH,
            };
            let body = json!({
                "id": message.id.to_string(),
                "role": message.role.as_str(),
                "content": message.content.as_str(),
                "metadata": message.metadata,
                "latency_ms": message.latency_ms.map(|l| l.get()),
                "token_count": message.token_count.map(|t| t.get()),
            });
            let reply = post_until_acknowledged(&app.http, &url, &key, &body, &mut retried).await;
            message.created_at = time_of(&reply);
            if k.is_multiple_of(5) {
                // A blind re-send of a message that already succeeded.
                let again =
                    post_until_acknowledged(&app.http, &url, &key, &body, &mut retried).await;
                assert_eq!(again, reply, "a re-send answers the stored message");
            }
            messages.push(message);
        }
        seeded.push((chat, messages));
    }
    Acknowledged {
        seeded: Seeded { chats: seeded },
        retried,
    }
}

/// The stored chats and messages of the org, read through the (clean) API,
/// equal what was acknowledged: nothing lost, nothing extra, nothing twice.
async fn assert_stored_exactly(app: &TestApp, session: &Cookies, org: &TestOrg, sent: &Seeded) {
    let org_id = org.org.id;
    let chats = app
        .pages(session, &format!("/chats?org={org_id}&limit=100"))
        .await
        .concat();
    let stored: BTreeMap<String, Value> = chats
        .into_iter()
        .map(|chat| (chat["id"].as_str().unwrap().to_owned(), chat))
        .collect();
    let expected: Vec<String> = sent.chats.iter().map(|(c, _)| c.id.to_string()).collect();
    assert_eq!(
        stored.keys().cloned().collect::<Vec<_>>(),
        {
            let mut ids = expected.clone();
            ids.sort();
            ids
        },
        "{}: chats",
        org.slug()
    );
    for (chat, messages) in &sent.chats {
        let path = format!("/chats/{}/messages?org={org_id}&limit=100", chat.id);
        let listed = app.pages(session, &path).await.concat();
        let listed: Vec<(String, String)> = listed
            .iter()
            .map(|m| {
                (
                    m["id"].as_str().unwrap().to_owned(),
                    m["content"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        let mut sent: Vec<(String, String)> = messages
            .iter()
            .map(|m| (m.id.to_string(), m.content.as_str().to_owned()))
            .collect();
        sent.sort();
        assert_eq!(listed, sent, "{}: messages of chat {}", org.slug(), chat.id);
    }
}

/// The org's chats with at least one of `tags`, and their messages.
fn with_tags(seeded: &Seeded, tags: &[&str]) -> Seeded {
    Seeded {
        chats: seeded
            .chats
            .iter()
            .filter(|(chat, _)| chat.tags.iter().any(|t| tags.contains(&t.as_str())))
            .cloned()
            .collect(),
    }
}

#[tokio::test]
async fn nothing_is_lost_doubled_or_stuck_when_a_tenth_of_aws_calls_fail() {
    let seed = std::env::var("FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    println!("fault injection seed: {seed} (replay with FAULTS_SEED={seed})");
    let started = Instant::now();
    // The product's warnings and errors, shown when the test fails.
    let _logs = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_env_filter(std::env::var("FAULTS_LOG").unwrap_or_else(|_| "warn".into()))
            .with_test_writer()
            .finish(),
    );

    // Set-up and every check go around the faults.
    let clean_app = spawn_app().await;
    let session = superadmin(&clean_app).await;
    let clean = aws().await;
    let (queue_url, provisioned) = export_resources(&clean, &clean_app.table).await;

    // The product runs on an AWS set-up that injects faults.
    // As on AWS, the HTTP functions get shorter timeouts than the
    // aggregator and the export worker; each has its own faults.
    let faulty = Aws::load_with(
        budget(Duration::from_secs(1)),
        Some(Faults::new(RATE, seed)),
    )
    .await;
    let background = Aws::load_with(
        budget(Duration::from_secs(2)),
        Some(Faults::new(RATE, seed.wrapping_add(1))),
    )
    .await;
    let store = Arc::new(DynamoStore::new(faulty.dynamodb(), clean_app.table.clone()));
    let background_store = Arc::new(DynamoStore::new(
        background.dynamodb(),
        clean_app.table.clone(),
    ));
    let exports = LocalExports {
        queue: Arc::new(SqsExportQueue::new(faulty.sqs(), queue_url)),
        bucket: ExportBucket::new(faulty.s3(), provisioned.bucket.name()),
    };
    let router = chatlogger_local::app(
        store.clone(),
        JwtKeys::new(TEST_JWT_SECRET).unwrap(),
        BrowserPolicy::new(DASHBOARD_ORIGIN).unwrap(),
        exports,
    );
    let same_org = |org: &TestOrg| TestOrg {
        org: org.org.clone(),
        key: org.key.clone(),
        key_id: org.key_id,
    };
    let app = Arc::new(TestApp {
        base_url: serve(router).await,
        http: reqwest::Client::new(),
        dynamodb: clean_app.dynamodb.clone(),
        store: store.clone(),
        table: clean_app.table.clone(),
        acme: same_org(&clean_app.acme),
        globex: same_org(&clean_app.globex),
        clock: chatlogger::clock::system(),
    });

    // Ingest: three plugins of one org and one of another, at once.
    let plugins: Vec<_> = (0..4)
        .map(|p| {
            let org = if p < 3 { &app.acme } else { &app.globex };
            let (chats, per_chat) = if p < 3 { (3, 12) } else { (2, 5) };
            tokio::spawn(plugin(
                app.clone(),
                same_org(org),
                chats,
                per_chat,
                seed + p,
            ))
        })
        .collect();
    let mut acme = Acknowledged {
        seeded: Seeded { chats: Vec::new() },
        retried: 0,
    };
    let mut globex = Acknowledged {
        seeded: Seeded { chats: Vec::new() },
        retried: 0,
    };
    for (p, plugin) in plugins.into_iter().enumerate() {
        let sent = plugin.await.unwrap();
        let into = if p < 3 { &mut acme } else { &mut globex };
        into.seeded.chats.extend(sent.seeded.chats);
        into.retried += sent.retried;
    }
    for (org, sent) in [(&app.acme, &acme), (&app.globex, &globex)] {
        assert_stored_exactly(&clean_app, &session, org, &sent.seeded).await;
    }
    println!("ingest done at {:.1} s", started.elapsed().as_secs_f64());

    // Analytics: the aggregator reads the stream through the faults, and is
    // retried from where it failed, as Lambda retries a batch.
    let today = OffsetDateTime::now_utc().date();
    let range = DayRange::parse(None, None, today).unwrap();
    let summary = |org: &TestOrg| {
        let path = format!(
            "/analytics/orgs/me/summary?from={}&to={}&org={}",
            range.from, range.to, org.org.id
        );
        let (app, session) = (&clean_app, &session);
        async move {
            let reply = app.send(Method::GET, &path, session, None).await;
            assert_eq!(reply.status, 200, "{}", reply.body);
            reply.body
        }
    };
    let mut expected = Vec::new();
    for org in [&app.acme, &app.globex] {
        expected.push(brute_force(&clean_app, &session, org.org.id, range).await);
    }
    let mut aggregator = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            Instant::now() < deadline,
            "the analytics never became exact"
        );
        let reader = match aggregator.as_ref() {
            Some(reader) => reader,
            None => match LocalAggregator::open(&background, background_store.clone()).await {
                Ok(opened) => aggregator.insert(opened),
                Err(error) => {
                    println!("opening the stream failed (retrying): {error}");
                    continue;
                }
            },
        };
        if let Err(error) = reader.drain().await {
            println!("an aggregator run failed (the next reads on from its last journal): {error}");
            continue;
        }
        if summary(&app.acme).await == expected[0] && summary(&app.globex).await == expected[1] {
            break;
        }
    }
    println!(
        "analytics exact at {:.1} s",
        started.elapsed().as_secs_f64()
    );
    // Exact: the summaries equal the count of what was acknowledged (the
    // stored data, checked above to be exactly that).
    let acme_messages = acme.seeded.message_count() as u64;
    assert_eq!(expected[0]["totals"]["messages"], acme_messages);
    assert_eq!(expected[0]["totals"]["chats"], 9);
    assert_eq!(expected[1]["totals"]["messages"], 10);

    // Exports: queued through the faulty API (a client retries a 503, which
    // may leave a job whose enqueue failed: it must end cleanly too), run by
    // the worker through the faults.
    let admin = signed_in(&clean_app, &clean_app.acme, UserRole::Admin).await;
    // Three exports at once: more than the default quota of two.
    let roomy = serde_json::from_value(json!({"concurrent_exports": 10})).unwrap();
    clean_app.set_limits(clean_app.acme.org.id, roomy).await;
    let requests = [
        json!({"format": "csv"}),
        json!({"format": "ndjson"}),
        json!({"format": "json", "tags": ["vip"]}),
    ];
    let mut retried_exports = 0;
    for request in &requests {
        for attempt in 0.. {
            assert!(attempt < CLIENT_ATTEMPTS, "export never queued");
            let reply = app
                .send(Method::POST, "/exports/orgs/me", &admin, Some(request))
                .await;
            match reply.status {
                202 => break,
                503 => retried_exports += 1,
                other => panic!("{other}: {}", reply.body),
            }
        }
    }
    let worker = Worker::with(
        &clean_app,
        &background,
        background_store.clone(),
        ExportReader::new(background_store.clone()),
    )
    .await;
    let acme_id = clean_app.acme.org.id;
    let jobs = |store: Arc<DynamoStore>| async move {
        let page = PageRequest {
            limit: 100,
            cursor: None,
        };
        store.list_export_jobs(acme_id, &page).await.unwrap().items
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let listed = jobs(clean_app.store.clone()).await;
        let finished = listed
            .iter()
            .all(|job| matches!(job.status, ExportStatus::Completed | ExportStatus::Failed));
        if finished && listed.len() >= requests.len() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "export jobs stuck: {:?}",
            listed
                .iter()
                .map(|j| (j.id, j.status, j.attempts))
                .collect::<Vec<_>>()
        );
        if let Err(error) = worker.poller.poll_once(Duration::ZERO).await {
            println!("an export queue poll failed (retrying): {error}");
        }
    }
    let mut completed = 0;
    for job in jobs(clean_app.store.clone()).await {
        match job.status {
            ExportStatus::Completed => {
                let (_, bytes) = download(&clean_app, &admin, &job.id.to_string()).await;
                let rows = parse_file(job.format, &bytes);
                let want = if job.filters.tags.is_empty() {
                    with_tags(&acme.seeded, &["billing", "vip", "support"])
                } else {
                    with_tags(&acme.seeded, &["vip"])
                };
                assert_rows_match(
                    &rows,
                    &want,
                    &format!("{} export {}", job.format.as_str(), job.id),
                );
                assert_eq!(job.rows_written, want.message_count() as u64);
                completed += 1;
            }
            ExportStatus::Failed => {
                // Failed cleanly: with a reason for the user, finished.
                assert!(job.error.is_some() && job.finished_at.is_some(), "{job:?}");
            }
            other => unreachable!("{other:?}"),
        }
    }

    let injectors = [faulty.faults().unwrap(), background.faults().unwrap()];
    let injected = |kind, phase| -> u64 { injectors.iter().map(|i| i.count(kind, phase)).sum() };
    println!(
        "{} faults injected; plugins retried {} 503s, export requests {}; {completed} of {} \
         exports completed; {:.1} s",
        injectors.iter().map(|i| i.total()).sum::<u64>(),
        acme.retried + globex.retried,
        retried_exports,
        requests.len(),
        started.elapsed().as_secs_f64(),
    );
    // The faults were real: of every kind, and some after the call took effect.
    for kind in FaultKind::ALL {
        let count = injected(kind, FaultPhase::Before) + injected(kind, FaultPhase::After);
        assert!(count > 0, "no {kind:?} fault was injected");
    }
    let after: u64 = FaultKind::ALL
        .into_iter()
        .map(|kind| injected(kind, FaultPhase::After))
        .sum();
    assert!(after > 0, "no fault struck after a call took effect");
    assert!(completed > 0, "at least one export got through");
}
