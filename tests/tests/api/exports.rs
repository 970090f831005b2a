//! Exports end to end: chats ingested into the table, an export job created
//! through the API, the worker fed from the queue (as the local server feeds
//! it), the file downloaded through its presigned S3 link and compared field
//! by field with what was ingested. Plus who may export, bad input, and the
//! inline export's cap and read bound.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use aws_sdk_sqs::types::QueueAttributeName;
use chatlogger::{
    adapters::ExportBucket,
    aws::Aws,
    domain::{
        Chat, ChatId, ChatTitle, LatencyMs, Message, MessageContent, MessageId, MessageRole,
        Metadata, OrgId, Tag, Tags, TokenCount, UserRole,
        export::{ExportFilters, ExportFormat},
    },
    export::{
        CSV_COLUMNS, ExportError, ExportReader,
        inline::{InlineBounds, export_inline},
        worker::ExportWorker,
    },
    store::{ChatCheck, ChatStore, DynamoStore, ExportJobStore, MessageStore},
};
use chatlogger_local::export_poller::ExportPoller;
use reqwest::Method;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::{
    dashboard::{Cookies, SESSION_COOKIE},
    helpers::{
        TestApp, TestOrg, aws, export_resource_names, export_resources, new_table, sdk_config,
        spawn_app,
    },
};

/// What was ingested: each chat with its messages.
pub struct Seeded {
    pub chats: Vec<(Chat, Vec<Message>)>,
}

impl Seeded {
    pub fn message_count(&self) -> usize {
        self.chats.iter().map(|(_, m)| m.len()).sum()
    }

    /// Every message with its chat, by message id.
    pub fn by_message(&self) -> BTreeMap<String, (&Chat, &Message)> {
        self.chats
            .iter()
            .flat_map(|(chat, messages)| {
                messages.iter().map(move |m| (m.id.to_string(), (chat, m)))
            })
            .collect()
    }
}

/// Contents that exercise quoting, newlines and formula neutralisation.
const AWKWARD: [&str; 6] = [
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+1 and, a comma",
    "-negative \"quoted\" start",
    "@mention\nand a second line",
    "\ttabbed",
    "plain, \"quoted\"\r\nwith CRLF",
];

/// Writes `chats` chats of `per_chat` messages for `org` straight into the
/// table (what ingest writes), with `pad` bytes of padding per message.
pub async fn seed(
    store: &Arc<DynamoStore>,
    org: &TestOrg,
    chats: usize,
    per_chat: usize,
    pad: usize,
) -> Seeded {
    let tag_names = ["billing", "vip", "support"];
    let mut seeded = Vec::new();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..chats {
        let tags = vec![Tag::parse(tag_names[c % 3]).unwrap()];
        let created_at = OffsetDateTime::now_utc() - time::Duration::days(30);
        let chat = Chat {
            // Ids carry their time, as the server's own ids do.
            id: ChatId::at(created_at),
            title: Some(ChatTitle::parse(&format!("{} chat {c}, \"titled\"", org.slug())).unwrap()),
            tags: Tags::parse(tags).unwrap(),
            metadata: Metadata::default(),
            user_id: None,
            key_id: None,
            created_at,
        };
        store.insert_chat(org.org.id, &chat).await.unwrap();
        let mut messages = Vec::new();
        for m in 0..per_chat {
            let content = format!(
                "{} {} #{c}.{m} {}",
                AWKWARD[m % AWKWARD.len()],
                org.slug(),
                "x".repeat(pad)
            );
            // One message a day back from now, so time filters have something to cut.
            let created_at = OffsetDateTime::now_utc() - time::Duration::days((m % 20) as i64);
            messages.push(Message {
                id: MessageId::at(created_at),
                chat_id: chat.id,
                role: MessageRole::ALL[m % 4],
                content: MessageContent::parse(&content).unwrap(),
                metadata: Metadata::parse(
                    json!({"n": m, "price": 1.25, "nested": {"ok": m % 2 == 0}}),
                )
                .unwrap(),
                latency_ms: (m % 3 != 0).then(|| LatencyMs::parse(m as i128 * 10).unwrap()),
                token_count: (m % 5 != 0).then(|| TokenCount::parse(m as i128 + 1).unwrap()),
                // Some logged before keys were recorded.
                key_id: (m % 4 != 0).then_some(org.key_id),
                created_at,
            });
        }
        for message in &messages {
            let (store, org_id, message) = (store.clone(), org.org.id, message.clone());
            tasks.spawn(async move {
                store
                    .insert_message(org_id, &message, ChatCheck::KnownToExist)
                    .await
                    .unwrap();
            });
            if tasks.len() >= 16 {
                tasks.join_next().await.unwrap().unwrap();
            }
        }
        seeded.push((chat, messages));
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    Seeded { chats: seeded }
}

/// The export worker of a test app, on its clock, fed by the local
/// server's queue poller.
pub struct Worker {
    pub poller: ExportPoller,
    pub sqs: aws_sdk_sqs::Client,
    pub s3: aws_sdk_s3::Client,
    pub queue_url: String,
    pub bucket: String,
}

impl Worker {
    pub async fn new(app: &TestApp) -> Self {
        Self::with_reader(app, ExportReader::new(app.store.clone())).await
    }

    /// A worker reading through `reader` (to inject faults).
    pub async fn with_reader(app: &TestApp, reader: ExportReader) -> Self {
        Self::with(app, &aws().await, app.store.clone(), reader).await
    }

    /// A worker (and its queue poller) whose AWS calls go through
    /// `worker_aws`; the test's own look-ups go around it.
    pub async fn with(
        app: &TestApp,
        worker_aws: &Aws,
        jobs: Arc<dyn ExportJobStore>,
        reader: ExportReader,
    ) -> Self {
        let clean = aws().await;
        let (queue_url, exports) = export_resources(&clean, &app.table).await;
        let worker = ExportWorker::new(
            jobs,
            reader,
            ExportBucket::new(worker_aws.s3(), exports.bucket.name()),
            exports.queue,
            chatlogger_local::EXPORT_MAX_RECEIVE_COUNT,
        )
        .with_clock(app.clock.clone());
        Self {
            poller: ExportPoller::new(worker_aws.sqs(), queue_url.clone(), worker, Duration::ZERO),
            sqs: clean.sqs(),
            s3: clean.s3(),
            queue_url,
            bucket: exports.bucket.name().to_owned(),
        }
    }

    /// Delivers messages until one receive finds the queue empty; returns how many were handled.
    pub async fn drain(&self) -> usize {
        let mut handled = 0;
        loop {
            match self.poller.poll_once(Duration::ZERO).await.unwrap() {
                0 => return handled,
                n => handled += n,
            }
        }
    }

    /// Puts a message on the export queue, as the API (or anyone) would.
    pub async fn send(&self, body: &str) {
        self.sqs
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    /// One receive: at most one batch of deliveries.
    pub async fn deliver_once(&self) -> usize {
        self.poller.poll_once(Duration::ZERO).await.unwrap()
    }

    pub async fn dead_letters(&self, app: &TestApp) -> Vec<String> {
        let names = export_resource_names(&app.table);
        let url =
            chatlogger_local::provision::queue_url(&self.sqs, &names.export_dead_letter_queue)
                .await
                .unwrap();
        let received = self
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        received
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect()
    }

    pub async fn queued_messages(&self) -> usize {
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.queue_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        attributes
            .values()
            .map(|count| count.parse::<usize>().unwrap())
            .sum()
    }

    /// The keys of every export object of the org.
    pub async fn objects(&self, org: &TestOrg) -> Vec<String> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("exports/{}/", org.org.id))
            .send()
            .await
            .unwrap();
        listed
            .contents
            .unwrap_or_default()
            .into_iter()
            .filter_map(|o| o.key)
            .collect()
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub async fn open_uploads(&self) -> usize {
        self.s3
            .list_multipart_uploads()
            .bucket(&self.bucket)
            .send()
            .await
            .unwrap()
            .uploads
            .unwrap_or_default()
            .len()
    }
}

/// A client that does not follow redirects, to see the download's 302.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A dashboard request whose answer may not be JSON (files, redirects).
pub async fn raw(
    app: &TestApp,
    method: Method,
    path: &str,
    cookies: &Cookies,
    body: Option<&Value>,
) -> reqwest::Response {
    let mut request = no_redirects()
        .request(method, format!("{}{path}", app.base_url))
        .header("x-csrf-protection", "1");
    if let Some(session) = &cookies.session {
        request = request.header("cookie", format!("{SESSION_COOKIE}={session}"));
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    request.send().await.unwrap()
}

/// A signed-in user of `org` with `role`.
pub async fn signed_in(app: &TestApp, org: &TestOrg, role: UserRole) -> Cookies {
    let email = format!("{role}-{}@{}.example", ulid::Ulid::new(), org.slug()).to_lowercase();
    app.create_user(org, &email, role).await;
    app.login(&email).await
}

/// One exported message, as read back from a file: every column as JSON.
type Exported = BTreeMap<String, Value>;

/// Reads an export file back into rows keyed by column name. CSV cells are
/// turned back into the JSON the other formats hold: neutralised text
/// loses its leading `'`, tags and metadata are parsed, numbers are numbers.
pub fn parse_file(format: ExportFormat, bytes: &[u8]) -> Vec<Exported> {
    match format {
        ExportFormat::Json => serde_json::from_slice(bytes).unwrap(),
        ExportFormat::Ndjson => std::str::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect(),
        ExportFormat::Csv => {
            let mut reader = csv::Reader::from_reader(bytes);
            assert_eq!(reader.headers().unwrap(), CSV_COLUMNS.as_slice());
            reader
                .records()
                .map(|record| {
                    let record = record.unwrap();
                    CSV_COLUMNS
                        .iter()
                        .zip(record.iter())
                        .map(|(column, cell)| ((*column).to_owned(), csv_cell(column, cell)))
                        .collect()
                })
                .collect()
        }
    }
}

fn csv_cell(column: &str, cell: &str) -> Value {
    let unneutralised = match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(['=', '+', '-', '@', '\t', '\r']) => rest,
        _ => cell,
    };
    match column {
        "tags" | "metadata" => serde_json::from_str(cell).unwrap(),
        "latency_ms" | "token_count" if cell.is_empty() => Value::Null,
        "latency_ms" | "token_count" => json!(cell.parse::<u64>().unwrap()),
        "chat_title" | "key_id" if cell.is_empty() => Value::Null,
        _ => json!(unneutralised),
    }
}

/// The row an ingested message must export as.
pub fn expected_row(chat: &Chat, message: &Message) -> Exported {
    let row = json!({
        "chat_id": chat.id,
        "chat_title": chat.title.as_ref().map(|t| t.as_str()),
        "tags": chat.tags.iter().map(|t| t.as_str()).collect::<Vec<_>>(),
        "message_id": message.id,
        "role": message.role.as_str(),
        "content": message.content.as_str(),
        "latency_ms": message.latency_ms.map(|l| l.get()),
        "token_count": message.token_count.map(|t| t.get()),
        "metadata": message.metadata,
        "key_id": message.key_id,
    });
    serde_json::from_value(row).unwrap()
}

/// Compares a file's rows with what was ingested, field by field.
pub fn assert_rows_match(rows: &[Exported], seeded: &Seeded, what: &str) {
    let expected = seeded.by_message();
    assert_eq!(rows.len(), expected.len(), "{what}: row count");
    let mut seen = std::collections::BTreeSet::new();
    for row in rows {
        let id = row["message_id"].as_str().unwrap();
        assert!(seen.insert(id.to_owned()), "{what}: message {id} twice");
        let (chat, message) = expected
            .get(id)
            .unwrap_or_else(|| panic!("{what}: unexpected message {id}"));
        let mut without_time = row.clone();
        let created_at = without_time.remove("created_at").unwrap();
        let created_at = OffsetDateTime::parse(
            created_at.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(created_at, message.created_at, "{what}: {id} created_at");
        assert_eq!(without_time, expected_row(chat, message), "{what}: {id}");
    }
}

/// Creates an export through the API and returns its job.
pub async fn create_export(app: &TestApp, cookies: &Cookies, body: Value) -> Value {
    let reply = app
        .send(Method::POST, "/exports/orgs/me", cookies, Some(&body))
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    reply.body
}

/// Downloads a completed export through its presigned link.
pub async fn download(app: &TestApp, cookies: &Cookies, id: &str) -> (String, Vec<u8>) {
    let reply = raw(
        app,
        Method::GET,
        &format!("/exports/orgs/me/{id}/download"),
        cookies,
        None,
    )
    .await;
    assert_eq!(reply.status(), 302);
    let link = reply.headers()["location"].to_str().unwrap().to_owned();
    // S3 answers the file with `Cache-Control: no-store, private`.
    assert!(
        link.contains("response-cache-control=no-store%2C%20private"),
        "{link}"
    );
    let file = reqwest::get(&link).await.unwrap();
    assert_eq!(file.status(), 200, "{link}");
    (link, file.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn every_format_downloads_what_was_ingested_and_nothing_of_another_org() {
    let app = spawn_app().await;
    let worker = Worker::new(&app).await;
    // ~6.5 MB of CSV: more than one 5 MiB multipart part.
    let acme = seed(&app.store, &app.acme, 12, 170, 3_000).await;
    let globex = seed(&app.store, &app.globex, 2, 15, 10).await;
    assert_eq!(acme.message_count(), 2_040);
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;

    let mut ids = Vec::new();
    for format in ExportFormat::ALL {
        let job = create_export(&app, &admin, json!({"format": format.as_str()})).await;
        assert_eq!(job["status"], "queued");
        assert_eq!(job["format"], format.as_str());
        assert!(job["created_at"].is_string());
        let id = job["id"].as_str().unwrap().to_owned();

        // Not downloadable until the worker has run.
        let early = app
            .send(
                Method::GET,
                &format!("/exports/orgs/me/{id}/download"),
                &admin,
                None,
            )
            .await;
        assert_eq!((early.status, early.error_code()), (409, "conflict".into()));

        assert_eq!(worker.drain().await, 1);
        let done = app
            .send(Method::GET, &format!("/exports/orgs/me/{id}"), &admin, None)
            .await;
        assert_eq!(done.body["status"], "completed", "{}", done.body);
        assert_eq!(done.body["rows_written"], 2_040);
        assert_eq!(done.body["attempts"], 1);
        assert!(done.body["finished_at"].is_string());

        let (link, bytes) = download(&app, &admin, &id).await;
        assert_eq!(done.body["bytes_written"], bytes.len());
        if format == ExportFormat::Csv {
            assert!(
                bytes.len() > chatlogger::export::MIN_PART_BYTES,
                "multipart"
            );
        }
        let url = reqwest::Url::parse(&link).unwrap();
        let query: BTreeMap<_, _> = url.query_pairs().into_owned().collect();
        let expires: u64 = query["X-Amz-Expires"].parse().unwrap();
        assert!(expires <= 15 * 60, "link lives {expires} s");
        let file_name = format!(
            "chatlogger-acme-{}.{}",
            id.to_lowercase(),
            format.extension()
        );
        assert_eq!(
            query["response-content-disposition"],
            format!("attachment; filename=\"{file_name}\"")
        );

        let rows = parse_file(format, &bytes);
        assert_rows_match(&rows, &acme, format.as_str());
        let text = String::from_utf8(bytes).unwrap();
        for (chat, messages) in &globex.chats {
            assert!(!text.contains(&chat.id.to_string()));
            assert!(messages.iter().all(|m| !text.contains(&m.id.to_string())));
        }
        assert!(!text.contains("globex"), "{format:?} holds globex data");
        ids.push(id);
    }

    // One object per job, no upload left open.
    let mut objects = worker.objects(&app.acme).await;
    objects.sort();
    let mut expected: Vec<String> = ids
        .iter()
        .zip(ExportFormat::ALL)
        .map(|(id, f)| format!("exports/{}/{id}.{}", app.acme.org.id, f.extension()))
        .collect();
    expected.sort();
    assert_eq!(objects, expected);
    assert_eq!(worker.open_uploads().await, 0);
    assert!(worker.objects(&app.globex).await.is_empty());

    // The org's jobs, newest first, a page at a time.
    let page = app
        .send(Method::GET, "/exports/orgs/me?limit=2", &admin, None)
        .await;
    let listed: Vec<&str> = page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, [ids[2].as_str(), ids[1].as_str()]);
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let rest = app
        .send(
            Method::GET,
            &format!("/exports/orgs/me?limit=2&cursor={cursor}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(rest.body["items"][0]["id"], ids[0].as_str());
    assert!(rest.body.get("next_cursor").is_none());
    // Globex sees none of them.
    let globex_admin = signed_in(&app, &app.globex, UserRole::Admin).await;
    let theirs = app
        .send(Method::GET, "/exports/orgs/me", &globex_admin, None)
        .await;
    assert_eq!(theirs.body["items"], json!([]));
}

#[tokio::test]
async fn filters_pick_chats_by_id_and_tag_and_messages_by_time() {
    let app = spawn_app().await;
    let seeded = seed(&app.store, &app.acme, 6, 20, 0).await;
    let viewer = signed_in(&app, &app.acme, UserRole::Viewer).await;
    // A chat soft-deleted by the dashboard (it sets `deleted_at`) is left out.
    let deleted = &seeded.chats[5].0;
    app.dynamodb
        .update_item()
        .table_name(&app.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(chatlogger::store::keys::org_pk(
                app.acme.org.id,
            )),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S(chatlogger::store::keys::chat_sk(
                deleted.id,
            )),
        )
        .update_expression("SET deleted_at = :now")
        .expression_attribute_values(
            ":now",
            aws_sdk_dynamodb::types::AttributeValue::S("2026-01-01T00:00:00Z".into()),
        )
        .send()
        .await
        .unwrap();

    let export = |body: Value| {
        let app = &app;
        let viewer = &viewer;
        async move {
            let reply = raw(
                app,
                Method::POST,
                "/exports/orgs/me/sync",
                viewer,
                Some(&body),
            )
            .await;
            assert_eq!(reply.status(), 200);
            parse_file(ExportFormat::Ndjson, &reply.bytes().await.unwrap())
        }
    };
    let ids_of = |rows: Vec<Exported>| -> std::collections::BTreeSet<String> {
        rows.iter()
            .map(|r| r["message_id"].as_str().unwrap().to_owned())
            .collect()
    };
    let expect = |keep: &dyn Fn(&Chat, &Message) -> bool| -> std::collections::BTreeSet<String> {
        seeded
            .chats
            .iter()
            .filter(|(chat, _)| chat.id != deleted.id)
            .flat_map(|(chat, messages)| messages.iter().filter(move |m| keep(chat, m)))
            .map(|m| m.id.to_string())
            .collect()
    };

    let all = ids_of(export(json!({"format": "ndjson"})).await);
    assert_eq!(all, expect(&|_, _| true));
    assert_eq!(all.len(), 100);

    let picked = [
        seeded.chats[1].0.id,
        seeded.chats[4].0.id,
        deleted.id,
        ChatId::new(),
    ];
    let by_id = ids_of(export(json!({"format": "ndjson", "chat_ids": picked})).await);
    assert_eq!(by_id, expect(&|chat, _| picked[..2].contains(&chat.id)));

    let tagged = ids_of(export(json!({"format": "ndjson", "tags": ["vip", "support"]})).await);
    let has = |chat: &Chat, tag: &str| chat.tags.iter().any(|t| t.as_str() == tag);
    assert_eq!(
        tagged,
        expect(&|chat, _| has(chat, "vip") || has(chat, "support"))
    );

    let now = OffsetDateTime::now_utc();
    let (from, to) = (
        now - time::Duration::days(10) - time::Duration::hours(1),
        now - time::Duration::days(3) + time::Duration::hours(1),
    );
    let rfc = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };
    let windowed = ids_of(
        export(json!({"format": "ndjson", "from": rfc(from), "to": rfc(to), "tags": ["billing"]}))
            .await,
    );
    let expected =
        expect(&|chat, m| has(chat, "billing") && m.created_at >= from && m.created_at <= to);
    assert_eq!(windowed, expected);
    assert!(!expected.is_empty());
}

#[tokio::test]
async fn inline_exports_answer_the_file_or_413_never_a_truncated_one() {
    let app = spawn_app().await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let small = seed(&app.store, &app.acme, 2, 10, 10).await;
    // What an inline export may write: its user's count for the minute.
    let stored = || async {
        let items = app.all_items().await;
        items
            .into_iter()
            .filter(|item| {
                !matches!(item.get("kind"), Some(aws_sdk_dynamodb::types::AttributeValue::S(kind)) if kind == "inline_exports")
            })
            .count()
    };
    let before = stored().await;

    for format in ExportFormat::ALL {
        let reply = raw(
            &app,
            Method::POST,
            "/exports/orgs/me/sync",
            &admin,
            Some(&json!({"format": format.as_str()})),
        )
        .await;
        assert_eq!(reply.status(), 200);
        let headers = reply.headers().clone();
        assert_eq!(headers["content-type"], format.content_type());
        let disposition = headers["content-disposition"].to_str().unwrap();
        assert!(
            disposition.starts_with("attachment; filename=\"chatlogger-acme-")
                && disposition.ends_with(&format!(".{}\"", format.extension())),
            "{disposition}"
        );
        let rows = parse_file(format, &reply.bytes().await.unwrap());
        assert_rows_match(&rows, &small, format.as_str());
    }
    // Inline exports store no file and no job.
    assert_eq!(stored().await, before);

    // Over the cap (4 MiB): 413 with a pointer to the async export.
    seed(&app.store, &app.acme, 1, 150, 30_000).await;
    let reply = app
        .send(
            Method::POST,
            "/exports/orgs/me/sync",
            &admin,
            Some(&json!({"format": "csv"})),
        )
        .await;
    assert_eq!(reply.status, 413);
    assert_eq!(reply.error_code(), "export_too_large");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("POST /exports/orgs/me"),
        "{}",
        reply.body
    );
}

/// The read bound counts what DynamoDB read (each `Query`'s
/// `ScannedCount`), not what it returned: an org of one chat among 30
/// deleted ones reads 31 chats, though the listing returns one.
#[tokio::test]
async fn an_inline_exports_read_bound_counts_the_deleted_chats_it_reads() {
    let sdk = sdk_config().await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        new_table(&sdk).await,
    ));
    let org = OrgId::new();
    let now = OffsetDateTime::now_utc();
    let mut chats = Vec::new();
    for _ in 0..31 {
        let chat = Chat {
            id: ChatId::new(),
            title: None,
            tags: Tags::default(),
            metadata: Metadata::default(),
            user_id: None,
            key_id: None,
            created_at: now,
        };
        store.insert_chat(org, &chat).await.unwrap();
        chats.push(chat.id);
    }
    chats.sort();
    let (live, deleted) = chats.split_last().unwrap();
    for chat in deleted {
        store.delete_chat(org, *chat, now).await.unwrap();
    }
    for n in 0..2 {
        let message = Message {
            id: MessageId::new(),
            chat_id: *live,
            role: MessageRole::User,
            content: MessageContent::parse(&format!("message {n}")).unwrap(),
            metadata: Metadata::default(),
            latency_ms: None,
            token_count: None,
            key_id: None,
            created_at: now,
        };
        store
            .insert_message(org, &message, ChatCheck::KnownToExist)
            .await
            .unwrap();
    }
    let export = |max_reads| {
        let bounds = InlineBounds {
            max_reads,
            ..InlineBounds::SYNC
        };
        let reader = ExportReader::new(store.clone());
        export_inline(
            reader,
            org,
            ExportFormat::Csv,
            ExportFilters::default(),
            bounds,
        )
    };
    assert!(matches!(
        export(30).await,
        Err(ExportError::ReadsTooMuch { max_items: 30 })
    ));
    let file = export(31 + 2).await.unwrap();
    let rows = parse_file(ExportFormat::Csv, &file);
    assert_eq!(rows.len(), 2);
}

#[tokio::test]
async fn bad_input_is_refused_and_writes_or_queues_nothing() {
    let app = spawn_app().await;
    let worker = Worker::new(&app).await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let before = app.all_items().await.len();
    let many_ids: Vec<String> = (0..101).map(|_| ChatId::new().to_string()).collect();
    let many_tags: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
    for (body, code, mention) in [
        (json!({}), "invalid_body", "format"),
        (json!({"format": "xml"}), "invalid_body", "format"),
        (
            json!({"format": "csv", "extra": 1}),
            "invalid_body",
            "unknown field",
        ),
        (
            json!({"format": "csv", "from": "last week"}),
            "invalid_body",
            "from",
        ),
        (json!({"format": "csv", "to": 5}), "invalid_body", "to"),
        (
            json!({"format": "csv", "from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}),
            "invalid_body",
            "from must not be after to",
        ),
        (
            json!({"format": "csv", "chat_ids": many_ids}),
            "invalid_body",
            "at most 100",
        ),
        (
            json!({"format": "csv", "chat_ids": ["not-a-ulid"]}),
            "invalid_body",
            "chat_ids",
        ),
        (
            json!({"format": "csv", "tags": many_tags}),
            "invalid_body",
            "at most 20",
        ),
        (json!(["csv"]), "invalid_body", "JSON object"),
    ] {
        for path in ["/exports/orgs/me", "/exports/orgs/me/sync"] {
            let reply = app.send(Method::POST, path, &admin, Some(&body)).await;
            assert_eq!(reply.status, 422, "{path} {body}: {}", reply.body);
            assert_eq!(reply.error_code(), code, "{body}");
            let message = reply.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(mention), "{body}: {message}");
        }
    }
    for (path, status, code) in [
        ("/exports/orgs/me/nope", 400, "invalid_path"),
        ("/exports/orgs/me/nope/download", 400, "invalid_path"),
        ("/exports/orgs/me?limit=0", 400, "invalid_query"),
        ("/exports/orgs/me?cursor=garbage", 400, "invalid_query"),
        ("/exports/orgs/me?org=nope", 400, "invalid_query"),
        ("/exports/orgs/me?surprise=1", 400, "invalid_query"),
    ] {
        let reply = app.send(Method::GET, path, &admin, None).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (status, code.into()),
            "{path}"
        );
    }
    let missing = app
        .send(
            Method::GET,
            &format!("/exports/orgs/me/{}", ulid::Ulid::new()),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (404, "not_found".into())
    );
    // Not JSON at all.
    let reply = raw(&app, Method::POST, "/exports/orgs/me", &admin, None).await;
    assert_eq!(reply.status(), 415);

    assert_eq!(app.all_items().await.len(), before, "nothing was written");
    assert_eq!(worker.queued_messages().await, 0, "nothing was queued");
}

/// (route, expected own-org statuses, expected other-org statuses) for
/// superadmin, admin, user, viewer.
#[derive(Clone, Copy, Debug)]
enum Route {
    Create,
    List,
    Get,
    Download,
    Sync,
}

const TABLE: [(Route, [u16; 4], [u16; 4]); 5] = [
    (Route::Create, [202, 202, 403, 202], [202, 404, 403, 404]),
    (Route::List, [200, 200, 403, 200], [200, 404, 403, 404]),
    (Route::Get, [200, 200, 403, 200], [200, 404, 403, 404]),
    (Route::Download, [302, 302, 403, 302], [302, 404, 403, 404]),
    (Route::Sync, [200, 200, 403, 200], [200, 404, 403, 404]),
];

#[tokio::test]
async fn only_viewers_admins_and_superadmins_export_and_only_their_org() {
    let app = spawn_app().await;
    // Every role creates one here: more than the default export quotas
    // (`limits.rs` tests those).
    let roomy = serde_json::from_value(json!({"concurrent_exports": 10})).unwrap();
    for org in [&app.acme, &app.globex] {
        app.set_limits(org.org.id, roomy).await;
    }
    let worker = Worker::new(&app).await;
    seed(&app.store, &app.acme, 1, 3, 0).await;
    seed(&app.store, &app.globex, 1, 3, 0).await;
    let roles = [
        UserRole::Superadmin,
        UserRole::Admin,
        UserRole::User,
        UserRole::Viewer,
    ];
    let mut sessions = Vec::new();
    for role in roles {
        sessions.push(signed_in(&app, &app.acme, role).await);
    }
    // A completed job in each org to read and download.
    let mut done = Vec::new();
    for org in [&app.acme, &app.globex] {
        let admin = signed_in(&app, org, UserRole::Admin).await;
        let job = create_export(&app, &admin, json!({"format": "json"})).await;
        done.push(job["id"].as_str().unwrap().to_owned());
    }
    worker.drain().await;

    let mut failures = Vec::new();
    for (route, own, other) in TABLE {
        for (scope, expected) in [("own", own), ("other", other)] {
            let (job, q) = match scope {
                "own" => (&done[0], String::new()),
                _ => (&done[1], format!("?org={}", app.globex.org.id)),
            };
            let body = json!({"format": "csv"});
            let (method, path, body) = match route {
                Route::Create => (Method::POST, format!("/exports/orgs/me{q}"), Some(&body)),
                Route::List => (Method::GET, format!("/exports/orgs/me{q}"), None),
                Route::Get => (Method::GET, format!("/exports/orgs/me/{job}{q}"), None),
                Route::Download => (
                    Method::GET,
                    format!("/exports/orgs/me/{job}/download{q}"),
                    None,
                ),
                Route::Sync => (
                    Method::POST,
                    format!("/exports/orgs/me/sync{q}"),
                    Some(&body),
                ),
            };
            for (i, role) in roles.iter().enumerate() {
                let reply = raw(&app, method.clone(), &path, &sessions[i], body).await;
                let status = reply.status().as_u16();
                if status != expected[i] {
                    failures.push(format!(
                        "{route:?} {scope} as {role}: expected {}, got {status} {}",
                        expected[i],
                        reply.text().await.unwrap()
                    ));
                }
            }
            let signed_out = raw(&app, method.clone(), &path, &Cookies::default(), body).await;
            if signed_out.status() != 401 {
                failures.push(format!(
                    "{route:?} {scope} signed out: {}",
                    signed_out.status()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    // The user role is refused with the role error, not a missing-object one.
    let refused = app
        .send(Method::GET, "/exports/orgs/me", &sessions[2], None)
        .await;
    assert_eq!(refused.error_code(), "forbidden");
    // The queue got one message per accepted create, and the worker ran them all.
    worker.drain().await;
    assert_eq!(worker.queued_messages().await, 0);
}

#[tokio::test]
async fn another_orgs_export_is_indistinguishable_from_a_missing_one() {
    let app = spawn_app().await;
    let worker = Worker::new(&app).await;
    let globex_admin = signed_in(&app, &app.globex, UserRole::Admin).await;
    let theirs = create_export(&app, &globex_admin, json!({"format": "csv"})).await;
    let theirs = theirs["id"].as_str().unwrap();
    worker.drain().await;
    let missing = ulid::Ulid::new().to_string();
    for role in [UserRole::Admin, UserRole::Viewer] {
        let session = signed_in(&app, &app.acme, role).await;
        for suffix in ["", "/download"] {
            let foreign = app
                .send(
                    Method::GET,
                    &format!("/exports/orgs/me/{theirs}{suffix}"),
                    &session,
                    None,
                )
                .await;
            let absent = app
                .send(
                    Method::GET,
                    &format!("/exports/orgs/me/{missing}{suffix}"),
                    &session,
                    None,
                )
                .await;
            assert_eq!(foreign.status, 404, "{role} {suffix}");
            assert_eq!(foreign.body, absent.body, "{role} {suffix}");
        }
    }
}
