//! Every sample event in `events/` goes through lambda_http's API Gateway
//! conversion into its function's router, as on Lambda, against a fresh
//! table on the local AWS.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use axum::Router;
use chatlogger::{
    accounts,
    auth::JwtKeys,
    domain::{ApiKey, ApiKeyLabel, ApiKeySecret, Email, OrgName, Password, Slug, UserRole},
    http::{self, BrowserPolicy, Dashboard},
    store::{ApiKeyStore, DynamoStore},
};
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::helpers::{TEST_JWT_SECRET, new_table, sdk_config};

/// The sample key and login written in the event files.
const SAMPLE_KEY: &str = "clk_EXAMPLEexampleEXAMPLEexampleEXAMPLEexample1";
const SAMPLE_EMAIL: &str = "admin@demo.example";
const SAMPLE_PASSWORD: &str = "correct horse battery staple";
const SESSION_PLACEHOLDER: &str = "PASTE_THE_SESSION_COOKIE_SET_BY_AUTH_LOGIN";
const KEY_PLACEHOLDER: &str = "PASTE_THE_KEY_ID_FROM_APIKEYS_CREATE";

/// Each event file and the status it must produce, in order (the message
/// event needs the chat the chat event creates; the dashboard events need
/// the session the login event starts; logout comes last).
const EVENTS: &[(&str, u16)] = &[
    ("ingest-create-chat.json", 201),
    ("ingest-create-message.json", 201),
    ("ingest-batch.json", 207),
    ("ingest-preflight-chats.json", 204),
    ("ingest-preflight-messages.json", 204),
    ("ingest-preflight-batch.json", 204),
    ("ingest-health.json", 200),
    ("docs-openapi.json", 200),
    ("web-app.json", 200),
    ("auth-login.json", 200),
    ("accounts-get-me.json", 200),
    ("apikeys-create.json", 201),
    ("apikeys-update.json", 200),
    ("apikeys-delete-data.json", 200),
    ("chats-list.json", 200),
    ("analytics-summary.json", 200),
    ("exports-create.json", 202),
    ("auth-logout.json", 204),
];

/// Sample records of the table's stream, as the aggregator reads them, in
/// order; `analytics::the_sample_stream_events_count_exactly` runs them.
pub const STREAM_EVENTS: &[&str] = &[
    "stream-chat-created.json",
    "stream-messages-logged.json",
    "stream-chat-deleted.json",
];

/// SQS events, run after the API events: the worker runs the export job
/// that `exports-create.json` queued.
const SQS_EVENTS: &[&str] = &["export-worker-job.json"];

/// The scheduled events (EventBridge) of the sweeper and the aggregator;
/// their handlers ignore the payload, so only `tests/drift/events.rs`
/// checks it is the event Lambda sends.
const SCHEDULED_EVENTS: &[&str] = &["sweeper-scheduled.json", "aggregator-scheduled.json"];
const ORG_PLACEHOLDER: &str = "PASTE_THE_ORG_ID";
const EXPORT_PLACEHOLDER: &str = "PASTE_THE_EXPORT_ID_FROM_EXPORTS_CREATE";

#[tokio::test]
async fn every_sample_event_runs_through_its_function() {
    let events_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
    let mut on_disk: Vec<String> = std::fs::read_dir(&events_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = EVENTS
        .iter()
        .map(|(name, _)| *name)
        .chain(STREAM_EVENTS.iter().copied())
        .chain(SQS_EVENTS.iter().copied())
        .chain(SCHEDULED_EVENTS.iter().copied())
        .map(str::to_owned)
        .collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every event file is exercised here");

    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        table.clone(),
    ));
    let org = accounts::create_org(
        &*store,
        Slug::parse("demo").unwrap(),
        OrgName::parse("Demo").unwrap(),
    )
    .await
    .unwrap();
    let (key, _) = ApiKey::generate(ApiKeyLabel::parse("events").unwrap());
    store
        .create_api_key(&org, &key, &ApiKeySecret::parse(SAMPLE_KEY).unwrap().hash())
        .await
        .unwrap();
    accounts::create_user(
        &*store,
        &org,
        Email::parse(SAMPLE_EMAIL).unwrap(),
        UserRole::Admin,
        Password::parse(SAMPLE_PASSWORD).unwrap(),
    )
    .await
    .unwrap();
    // The samples' client-chosen ids are of November 2024, and ingest
    // refuses ids more than an hour from its clock: the stack's clock is set
    // to the first sample chat's time.
    let sample_time = chatlogger::domain::ChatId::parse("01JD8Z3K4M5N6P7Q8R9S0T1V2W")
        .unwrap()
        .time();
    let dashboard = Dashboard::new(
        store.clone(),
        JwtKeys::new(TEST_JWT_SECRET).unwrap(),
        BrowserPolicy::new("https://app.example.com").unwrap(),
    )
    .with_clock(chatlogger::clock::ManualClock::shared(sample_time));
    let (_, local_exports) =
        crate::helpers::export_resources(&crate::helpers::aws().await, &table).await;
    let bucket = local_exports.bucket.clone();
    let queue = local_exports.queue.clone();
    // Each event goes to its function's router, named by the file's prefix.
    let routers: BTreeMap<&str, Router> =
        chatlogger_local::function_routers(store.clone(), dashboard, local_exports)
            .into_iter()
            .map(|(binary, routes)| (binary, http::app(routes)))
            .collect();

    let mut session_cookie = None;
    let mut export_id = None;
    let mut key_id = None;
    for (file, expected) in EVENTS {
        let mut json = std::fs::read_to_string(events_dir.join(file)).unwrap();
        if json.contains(SESSION_PLACEHOLDER) {
            let cookie: &String = session_cookie.as_ref().expect("login runs first");
            json = json.replace(SESSION_PLACEHOLDER, cookie);
        }
        if json.contains(KEY_PLACEHOLDER) {
            let key: &String = key_id.as_ref().expect("apikeys-create runs first");
            json = json.replace(KEY_PLACEHOLDER, key);
        }
        let request =
            lambda_http::request::from_str(&json).unwrap_or_else(|e| panic!("{file}: {e}"));
        let function = file.split('-').next().unwrap();
        let router = routers
            .get(function)
            .unwrap_or_else(|| panic!("no function named {function} (event {file})"));
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status().as_u16();
        let preflight_origin = response
            .headers()
            .get("access-control-allow-origin")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if *file == "web-app.json" {
            // The page arrives through API Gateway's conversion with its policy.
            assert!(
                response.headers().contains_key("content-security-policy"),
                "{file}: no Content-Security-Policy"
            );
        }
        if *file == "auth-login.json" {
            session_cookie = response
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| v.strip_prefix("__Host-chatlogger_session="))
                .map(|v| v.split(';').next().unwrap().to_owned());
        }
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            status,
            *expected,
            "{file}: {}",
            String::from_utf8_lossy(&body)
        );
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        match *file {
            "exports-create.json" => export_id = answer["id"].as_str().map(str::to_owned),
            "apikeys-create.json" => key_id = answer["id"].as_str().map(str::to_owned),
            // Every item of the sample batch is logged.
            "ingest-batch.json" => {
                let statuses: Vec<&serde_json::Value> = answer["chats"]
                    .as_array()
                    .into_iter()
                    .chain(answer["messages"].as_array())
                    .flatten()
                    .map(|item| &item["status"])
                    .collect();
                assert_eq!(statuses, [201, 201, 201, 201], "{answer}");
            }
            // A preflight answers any origin; the POST checks the key's.
            name if name.starts_with("ingest-preflight-") => {
                assert_eq!(
                    preflight_origin.as_deref(),
                    Some("https://shop.example.com"),
                    "{file}"
                );
            }
            _ => {}
        }
    }

    let worker = chatlogger::export::worker::ExportWorker::new(
        store.clone(),
        chatlogger::export::ExportReader::new(store.clone()),
        bucket,
        queue,
        chatlogger_local::EXPORT_MAX_RECEIVE_COUNT,
    );
    let export_id = export_id.expect("exports-create ran");
    for file in SQS_EVENTS {
        let json = std::fs::read_to_string(events_dir.join(file))
            .unwrap()
            .replace(ORG_PLACEHOLDER, &org.id.to_string())
            .replace(EXPORT_PLACEHOLDER, &export_id);
        let event: chatlogger::aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_str(&json).unwrap_or_else(|e| panic!("{file}: {e}"));
        let response = worker.handle(event).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{file}: {response:?}"
        );
    }
    let job = chatlogger::store::ExportJobStore::export_job(
        &*store,
        org.id,
        chatlogger::domain::ExportId::parse(&export_id).unwrap(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(
        job.status,
        chatlogger::domain::export::ExportStatus::Completed
    );
}
