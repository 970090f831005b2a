//! The export worker under faults, through the real queue (with its
//! redrive policy) and bucket: an attempt that fails mid-way, a message that
//! is not an export message, a job that never succeeds, duplicate
//! deliveries, an invocation that runs out of time.

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use chatlogger::{
    aws_lambda_events::event::sqs::{SqsEvent, SqsMessage},
    domain::{
        ChatId, ExportId, Message, OrgId, UserRole,
        export::{ExportFormat, ExportJob, ExportStatus, Totals},
    },
    export::{
        ExportReader,
        worker::{ExportWorker, STOP_MARGIN},
    },
    store::{
        ActivityPage, ChatCheck, DynamoStore, ExportClaim, ExportJobStore, MessageInsert,
        MessageStore, Page, PageRequest, Read, StoreError, StoreResult,
    },
};
use reqwest::Method;
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    exports::{Worker, assert_rows_match, create_export, download, parse_file, seed, signed_in},
    helpers::{TestApp, spawn_app},
};

/// Reads through the real store, but the message page reads numbered in
/// `failing` fail (counting from 0 across all attempts), and each takes
/// `delay` at least.
struct FlakyReader {
    store: Arc<DynamoStore>,
    calls: AtomicUsize,
    failing: fn(usize) -> bool,
    delay: Duration,
}

impl FlakyReader {
    fn new(store: Arc<DynamoStore>, failing: fn(usize) -> bool) -> Arc<Self> {
        Self::slow(store, failing, Duration::ZERO)
    }

    fn slow(store: Arc<DynamoStore>, failing: fn(usize) -> bool, delay: Duration) -> Arc<Self> {
        Arc::new(Self {
            store,
            calls: AtomicUsize::new(0),
            failing,
            delay,
        })
    }
}

#[async_trait]
impl MessageStore for FlakyReader {
    async fn insert_message(
        &self,
        org: OrgId,
        message: &Message,
        check: ChatCheck,
    ) -> StoreResult<MessageInsert> {
        self.store.insert_message(org, message, check).await
    }

    async fn list_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        ids: std::ops::RangeInclusive<chatlogger::domain::MessageId>,
        page: &PageRequest,
        read: Read,
    ) -> StoreResult<Page<Message>> {
        tokio::time::sleep(self.delay).await;
        if (self.failing)(self.calls.fetch_add(1, Ordering::SeqCst)) {
            return Err(StoreError::failed(std::io::Error::other(
                "injected: connection reset",
            )));
        }
        self.store.list_messages(org, chat, ids, page, read).await
    }

    async fn activity_page(
        &self,
        org: OrgId,
        chat: ChatId,
        after: Option<chatlogger::domain::MessageId>,
        limit: u32,
    ) -> StoreResult<ActivityPage> {
        self.store.activity_page(org, chat, after, limit).await
    }

    async fn delete_key_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        key: chatlogger::domain::ApiKeyId,
        logged: std::ops::Range<time::OffsetDateTime>,
    ) -> StoreResult<usize> {
        self.store.delete_key_messages(org, chat, key, logged).await
    }
}

impl FlakyReader {
    /// What the export worker reads: chats from the table, messages through this.
    fn reader(self: Arc<Self>) -> ExportReader {
        ExportReader {
            chats: self.store.clone(),
            messages: self,
        }
    }
}

async fn job(app: &TestApp, id: &str) -> ExportJob {
    app.store
        .export_job(app.acme.org.id, ExportId::parse(id).unwrap())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn an_attempt_failing_midway_is_retried_and_completes_with_exactly_the_right_rows() {
    let app = spawn_app().await;
    // 12 chats of ~0.55 MB: the 11th message page comes after the first 5 MiB part.
    let seeded = seed(&app.store, &app.acme, 12, 170, 3_000).await;
    let worker = Worker::with_reader(
        &app,
        FlakyReader::new(app.store.clone(), |call| call == 10).reader(),
    )
    .await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let created = create_export(&app, &admin, json!({"format": "csv"})).await;
    let id = created["id"].as_str().unwrap();

    // First delivery: fails after uploading a part; the upload is aborted and
    // the job goes back to queued, saying why.
    assert_eq!(worker.deliver_once().await, 1);
    let retrying = job(&app, id).await;
    assert_eq!(retrying.status, ExportStatus::Queued);
    assert_eq!(retrying.attempts, 1);
    assert!(retrying.rows_written > 0, "it failed mid-way, after a part");
    assert_eq!(
        retrying.error.as_deref(),
        Some("the database could not be read; retrying")
    );
    assert_eq!(
        worker.open_uploads().await,
        0,
        "the multipart upload was aborted"
    );
    assert!(worker.objects(&app.acme).await.is_empty());

    // The redelivery completes it, from the start, once.
    assert_eq!(worker.drain().await, 1);
    let done = job(&app, id).await;
    assert_eq!(done.status, ExportStatus::Completed);
    assert_eq!(done.attempts, 2);
    assert_eq!(done.rows_written, 2_040);
    assert_eq!(done.error, None);
    let (_, bytes) = download(&app, &admin, id).await;
    assert_rows_match(
        &parse_file(ExportFormat::Csv, &bytes),
        &seeded,
        "retried csv",
    );
    assert_eq!(worker.objects(&app.acme).await.len(), 1);
    assert_eq!(worker.open_uploads().await, 0);
    assert_eq!(worker.queued_messages().await, 0);
}

#[tokio::test]
async fn a_malformed_message_lands_in_the_dead_letter_queue_and_marks_nothing() {
    let app = spawn_app().await;
    let worker = Worker::new(&app).await;
    seed(&app.store, &app.acme, 1, 5, 0).await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    // A queued job whose message is lost (it must stay untouched) and a real one.
    let untouched = create_export(&app, &admin, json!({"format": "csv"})).await;
    let untouched = untouched["id"].as_str().unwrap().to_owned();
    worker
        .sqs
        .purge_queue()
        .queue_url(&worker.queue_url)
        .send()
        .await
        .unwrap();
    let real = create_export(&app, &admin, json!({"format": "json"})).await;
    let real = real["id"].as_str().unwrap().to_owned();
    let poison = [
        "not json".to_owned(),
        json!({"org_id": app.acme.org.id, "job_id": untouched, "extra": true}).to_string(),
        json!({"org_id": "ORG", "job_id": untouched}).to_string(),
    ];
    for body in &poison {
        worker.send(body).await;
    }
    let before = job(&app, &untouched).await;

    // Each poison message is delivered three times (the queue's
    // maxReceiveCount), then SQS moves it to the dead-letter queue.
    worker.drain().await;
    assert_eq!(worker.queued_messages().await, 0);
    let mut parked = worker.dead_letters(&app).await;
    parked.sort();
    let mut expected = poison.to_vec();
    expected.sort();
    assert_eq!(parked, expected);
    assert_eq!(
        job(&app, &untouched).await,
        before,
        "the named job is untouched"
    );
    assert_eq!(job(&app, &real).await.status, ExportStatus::Completed);
}

#[tokio::test]
async fn a_job_that_keeps_failing_is_marked_failed_and_its_message_parked() {
    let app = spawn_app().await;
    seed(&app.store, &app.acme, 2, 5, 0).await;
    let worker =
        Worker::with_reader(&app, FlakyReader::new(app.store.clone(), |_| true).reader()).await;
    let viewer = signed_in(&app, &app.acme, UserRole::Viewer).await;
    let created = create_export(&app, &viewer, json!({"format": "ndjson"})).await;
    let id = created["id"].as_str().unwrap();

    worker.drain().await;
    let failed = job(&app, id).await;
    assert_eq!(failed.status, ExportStatus::Failed);
    assert_eq!(failed.attempts, 3);
    assert_eq!(
        failed.error.as_deref(),
        Some("the database could not be read (gave up after 3 attempts)")
    );
    assert!(failed.finished_at.is_some());
    assert_eq!(worker.dead_letters(&app).await.len(), 1);
    assert!(worker.objects(&app.acme).await.is_empty());
    assert_eq!(worker.open_uploads().await, 0);
    // The API shows the reason, never internals.
    let shown = app
        .send(
            Method::GET,
            &format!("/exports/orgs/me/{id}"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(shown.body["status"], "failed");
    assert!(!shown.body.to_string().contains("injected"));
    let download = app
        .send(
            Method::GET,
            &format!("/exports/orgs/me/{id}/download"),
            &viewer,
            None,
        )
        .await;
    assert_eq!(download.status, 409);
}

#[tokio::test]
async fn duplicate_deliveries_finish_a_job_once() {
    let app = spawn_app().await;
    let worker = Worker::new(&app).await;
    seed(&app.store, &app.acme, 2, 10, 0).await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let created = create_export(&app, &admin, json!({"format": "csv"})).await;
    let id = created["id"].as_str().unwrap();
    // SQS delivers at least once: the same message, twice.
    let body = json!({"org_id": app.acme.org.id, "job_id": id}).to_string();
    worker.send(&body).await;
    worker.drain().await;
    let done = job(&app, id).await;
    assert_eq!((done.status, done.attempts), (ExportStatus::Completed, 1));

    // A late duplicate changes nothing.
    worker.send(&body).await;
    assert_eq!(worker.drain().await, 1);
    assert_eq!(job(&app, id).await, done);
    assert_eq!(worker.objects(&app.acme).await.len(), 1);
    assert!(worker.dead_letters(&app).await.is_empty());

    // While an attempt holds a job, another delivery is turned away (and
    // retried later); once the lease has expired, it may take the job over.
    let other = create_export(&app, &admin, json!({"format": "json"})).await;
    let other = ExportId::parse(other["id"].as_str().unwrap()).unwrap();
    let org = app.acme.org.id;
    let now = OffsetDateTime::now_utc();
    let lease = now + time::Duration::minutes(15);
    assert!(matches!(
        app.store.claim_export_job(org, other, now, lease).await.unwrap(),
        ExportClaim::Claimed(job) if job.attempts == 1
    ));
    // The same claim again (the SDK retrying a call whose answer was lost)
    // finds its own claim: still attempt 1.
    assert!(matches!(
        app.store.claim_export_job(org, other, now, lease).await.unwrap(),
        ExportClaim::Claimed(job) if job.attempts == 1
    ));
    let duplicate = now + time::Duration::milliseconds(1);
    assert_eq!(
        app.store
            .claim_export_job(
                org,
                other,
                duplicate,
                duplicate + time::Duration::minutes(15)
            )
            .await
            .unwrap(),
        ExportClaim::Busy
    );
    let later = lease + time::Duration::seconds(1);
    assert!(matches!(
        app.store
            .claim_export_job(org, other, later, later + time::Duration::minutes(15))
            .await
            .unwrap(),
        ExportClaim::Claimed(job) if job.attempts == 2
    ));
    // The first attempt has lost it: it can neither report progress nor complete.
    let totals = Totals { rows: 1, bytes: 1 };
    assert!(
        !app.store
            .record_export_progress(org, other, 1, totals)
            .await
            .unwrap()
    );
    assert!(
        !app.store
            .complete_export_job(org, other, 1, totals, now)
            .await
            .unwrap()
    );
    assert!(
        app.store
            .complete_export_job(org, other, 2, totals, now)
            .await
            .unwrap()
    );
    assert!(
        !app.store
            .fail_export_job(org, other, "late", now)
            .await
            .unwrap()
    );
    assert_eq!(
        app.store
            .claim_export_job(org, ExportId::new(), now, lease)
            .await
            .unwrap(),
        ExportClaim::Missing
    );
}

fn delivery(org: OrgId, job: &str, receive_count: u32) -> SqsEvent {
    let mut message = SqsMessage::default();
    message.message_id = Some(format!("delivery-{receive_count}"));
    message.body = Some(json!({"org_id": org, "job_id": job}).to_string());
    message.attributes.insert(
        chatlogger::sqs_batch::RECEIVE_COUNT_ATTRIBUTE.to_owned(),
        receive_count.to_string(),
    );
    let mut event = SqsEvent::default();
    event.records = vec![message];
    event
}

#[tokio::test]
async fn a_worker_out_of_time_requeues_or_fails_its_job_never_leaving_it_running() {
    let app = spawn_app().await;
    seed(&app.store, &app.acme, 20, 3, 0).await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let created = create_export(&app, &admin, json!({"format": "csv"})).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let (_, exports) =
        crate::helpers::export_resources(&crate::helpers::aws().await, &app.table).await;
    let reader = FlakyReader::slow(app.store.clone(), |_| false, Duration::from_millis(150));
    let worker = ExportWorker::new(
        app.store.clone(),
        reader.clone().reader(),
        exports.bucket,
        exports.queue,
        3,
    );
    // 20 chats at 150 ms each would take 3 s; the invocation has 0.5 s
    // besides the time the worker keeps to put the job back.
    let deadline = || tokio::time::Instant::now() + STOP_MARGIN + Duration::from_millis(500);
    let answer = worker
        .handle_until(delivery(app.acme.org.id, &id, 1), deadline())
        .await;
    assert_eq!(answer.batch_item_failures.len(), 1, "SQS redelivers it");
    let requeued = job(&app, &id).await;
    assert_eq!(requeued.status, ExportStatus::Queued);
    assert_eq!(
        requeued.error.as_deref(),
        Some("the attempt ran out of time; retrying")
    );
    assert!(reader.calls.load(Ordering::SeqCst) < 20, "it stopped early");

    // On the queue's last delivery, the job fails for good.
    worker
        .handle_until(delivery(app.acme.org.id, &id, 3), deadline())
        .await;
    let failed = job(&app, &id).await;
    assert_eq!(failed.status, ExportStatus::Failed);
    assert!(
        failed
            .error
            .as_deref()
            .unwrap()
            .starts_with("the attempt ran out of time"),
        "{failed:?}"
    );
}

/// Messages of the export queue delayed for later (not yet visible).
async fn delayed_messages(queue_url: &str) -> u64 {
    let sqs = crate::helpers::aws().await.sqs();
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    attributes
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        })
        .map_or(0, |n| n.parse().unwrap())
}

/// One org never holds every export worker: while it runs its share
/// (`SLOTS_PER_ORG`, 2), its next job goes back on the queue, delayed, as a
/// new message (waiting is not an attempt), and another org's job runs at
/// once. The deferred job runs when it comes back.
#[tokio::test]
async fn an_org_runs_its_share_of_the_workers_and_its_next_job_waits_on_the_queue() {
    let app = spawn_app().await;
    seed(&app.store, &app.acme, 6, 2, 0).await;
    seed(&app.store, &app.globex, 6, 2, 0).await;
    let roomy = serde_json::from_value(json!({"concurrent_exports": 10})).unwrap();
    app.set_limits(app.acme.org.id, roomy).await;
    let acme_admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let globex_admin = signed_in(&app, &app.globex, UserRole::Admin).await;
    let mut acme_jobs = Vec::new();
    for _ in 0..3 {
        let created = create_export(&app, &acme_admin, json!({"format": "csv"})).await;
        acme_jobs.push(created["id"].as_str().unwrap().to_owned());
    }
    let globex_job = create_export(&app, &globex_admin, json!({"format": "csv"})).await;
    let globex_job = globex_job["id"].as_str().unwrap().to_owned();
    let (queue_url, exports) =
        crate::helpers::export_resources(&crate::helpers::aws().await, &app.table).await;
    let delayed_before = delayed_messages(&queue_url).await;
    // Slow enough that every delivery starts before any finishes.
    let reader = FlakyReader::slow(app.store.clone(), |_| false, Duration::from_millis(400));
    let worker = ExportWorker::new(
        app.store.clone(),
        reader.reader(),
        exports.bucket,
        exports.queue,
        3,
    );

    // Four deliveries at once, as four worker instances take them.
    let deliveries = acme_jobs
        .iter()
        .map(|id| (app.acme.org.id, id.as_str()))
        .chain([(app.globex.org.id, globex_job.as_str())])
        .map(|(org, id)| worker.handle(delivery(org, id, 1)));
    let answers = futures::future::join_all(deliveries).await;
    for answer in &answers {
        assert!(
            answer.batch_item_failures.is_empty(),
            "every message is done with"
        );
    }
    let status = |org: OrgId, id: &str| {
        let store = app.store.clone();
        let id = ExportId::parse(id).unwrap();
        async move { store.export_job(org, id).await.unwrap().unwrap() }
    };
    let mut waiting = Vec::new();
    for id in &acme_jobs {
        let job = status(app.acme.org.id, id).await;
        match job.status {
            ExportStatus::Completed => {}
            ExportStatus::Queued => {
                assert_eq!(job.attempts, 0, "waiting is not an attempt");
                waiting.push(id.clone());
            }
            other => panic!("acme's job {id} is {other:?}"),
        }
    }
    assert_eq!(waiting.len(), 1, "acme ran two at once; its third waits");
    assert_eq!(
        status(app.globex.org.id, &globex_job).await.status,
        ExportStatus::Completed,
        "another org's job ran at once"
    );
    assert_eq!(
        delayed_messages(&queue_url).await,
        delayed_before + 1,
        "the third is back on the queue, for later"
    );

    // When it comes back, a slot is free and it runs.
    let answer = worker
        .handle(delivery(app.acme.org.id, &waiting[0], 1))
        .await;
    assert!(answer.batch_item_failures.is_empty());
    assert_eq!(
        status(app.acme.org.id, &waiting[0]).await.status,
        ExportStatus::Completed
    );
}
