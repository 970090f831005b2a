//! Every sample event in `events/` goes through lambda_http's API Gateway
//! conversion into its function's router, as on Lambda, against a fresh
//! table on the local AWS.

use std::{path::Path, sync::Arc};

use axum::Router;
use chatlogger::{
    accounts,
    auth::{BrowserPolicy, DashboardState, JwtKeys},
    domain::{ApiKey, ApiKeyLabel, ApiKeySecret, Email, OrgName, Password, Slug, UserRole},
    http,
    store::{ApiKeyStore, DynamoStore},
};
use chatlogger_ingest::IngestState;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::helpers::{TEST_JWT_SECRET, new_table, sdk_config};

/// The sample key and login written in the event files.
const SAMPLE_KEY: &str = "clk_EXAMPLEexampleEXAMPLEexampleEXAMPLEexample1";
const SAMPLE_EMAIL: &str = "admin@demo.example";
const SAMPLE_PASSWORD: &str = "correct horse battery staple";
const SESSION_PLACEHOLDER: &str = "PASTE_THE_SESSION_COOKIE_SET_BY_AUTH_LOGIN";

/// Each event file and the status it must produce, in order (the message
/// event needs the chat the chat event creates; the dashboard events need
/// the session the login event starts; logout comes last).
const EVENTS: &[(&str, u16)] = &[
    ("ingest-create-chat.json", 201),
    ("ingest-create-message.json", 201),
    ("ingest-health.json", 200),
    ("docs-openapi.json", 200),
    ("web-app.json", 200),
    ("auth-login.json", 200),
    ("accounts-get-me.json", 200),
    ("apikeys-create.json", 201),
    ("chats-list.json", 200),
    ("analytics-summary.json", 200),
    ("exports-create.json", 202),
    ("auth-logout.json", 204),
];

/// The DynamoDB stream events of the aggregator, in order; they are run by
/// `analytics::the_sample_stream_events_count_exactly`.
pub const STREAM_EVENTS: &[&str] = &[
    "aggregator-chat-created.json",
    "aggregator-messages-logged.json",
    "aggregator-chat-deleted.json",
];

/// SQS events, run after the API events: the worker runs the export job
/// that `exports-create.json` queued.
const SQS_EVENTS: &[&str] = &["export-worker-job.json"];
const ORG_PLACEHOLDER: &str = "PASTE_THE_ORG_ID";
const EXPORT_PLACEHOLDER: &str = "PASTE_THE_EXPORT_ID_FROM_EXPORTS_CREATE";

fn function_router(
    file: &str,
    ingest: &IngestState,
    dashboard: &DashboardState,
    exports: &chatlogger_exports::ExportsState,
) -> Router {
    match file.split('-').next().unwrap() {
        "exports" => http::app(chatlogger_exports::router(exports.clone())),
        "ingest" => http::app(chatlogger_ingest::router(ingest.clone())),
        "docs" => http::app(chatlogger_docs::router()),
        "web" => http::app(chatlogger_web::router()),
        "auth" => http::app(chatlogger_auth::router(dashboard.clone())),
        "accounts" => http::app(chatlogger_accounts::router(dashboard.clone())),
        "apikeys" => http::app(chatlogger_apikeys::router(dashboard.clone())),
        "chats" => http::app(chatlogger_chats::router(dashboard.clone())),
        "analytics" => http::app(chatlogger_analytics::router(dashboard.clone())),
        other => panic!("no function named {other} (event {file})"),
    }
}

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
    let ingest = IngestState::new(store.clone());
    let dashboard = DashboardState::new(
        store.clone(),
        JwtKeys::new(TEST_JWT_SECRET).unwrap(),
        BrowserPolicy::new("https://app.example.com").unwrap(),
    );

    let (_, local_exports) = crate::helpers::export_resources(&sdk, &table).await;
    let exports = chatlogger_exports::ExportsState::new(
        dashboard.clone(),
        store.clone(),
        local_exports.queue,
        local_exports.bucket.clone(),
    );

    let mut session_cookie = None;
    let mut export_id = None;
    for (file, expected) in EVENTS {
        let mut json = std::fs::read_to_string(events_dir.join(file)).unwrap();
        if json.contains(SESSION_PLACEHOLDER) {
            let cookie: &String = session_cookie.as_ref().expect("login runs first");
            json = json.replace(SESSION_PLACEHOLDER, cookie);
        }
        let request =
            lambda_http::request::from_str(&json).unwrap_or_else(|e| panic!("{file}: {e}"));
        let response = function_router(file, &ingest, &dashboard, &exports)
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
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
        if *file == "exports-create.json" {
            let job: serde_json::Value = serde_json::from_slice(&body).unwrap();
            export_id = job["id"].as_str().map(str::to_owned);
        }
    }

    let worker = chatlogger::export::worker::ExportWorker::new(
        store.clone(),
        store.clone(),
        local_exports.bucket,
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
    assert_eq!(job.status, chatlogger::export::ExportStatus::Completed);
}
