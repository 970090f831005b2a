//! Every sample event in `events/` goes through lambda_http's API Gateway
//! conversion into its function's router, as on Lambda.

use std::{path::Path, sync::Arc};

use axum::Router;
use chatlogger::{
    domain::{ApiKey, ApiKeyLabel, ApiKeySecret, Org, OrgName, Slug},
    http,
    store::{ApiKeyStore, MemoryStore, OrgStore},
};
use chatlogger_ingest::IngestState;
use http_body_util::BodyExt;
use tower::ServiceExt;

/// The sample key written in the event files.
const SAMPLE_KEY: &str = "clk_EXAMPLEexampleEXAMPLEexampleEXAMPLEexample1";

/// Each event file and the status it must produce, in order (the message
/// event needs the chat the chat event creates).
const EVENTS: &[(&str, u16)] = &[
    ("ingest-create-chat.json", 201),
    ("ingest-create-message.json", 201),
    ("ingest-health.json", 200),
    ("docs-openapi.json", 200),
];

async fn function_router(file: &str, ingest: &IngestState) -> Router {
    match file.split('-').next().unwrap() {
        "ingest" => http::app(chatlogger_ingest::router(ingest.clone())),
        "docs" => http::app(chatlogger_docs::router()),
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
    let mut listed: Vec<String> = EVENTS.iter().map(|(name, _)| (*name).to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed, "every event file is exercised here");

    let store = Arc::new(MemoryStore::new());
    let org = Org::new(
        Slug::parse("demo").unwrap(),
        OrgName::parse("Demo").unwrap(),
    );
    store.create_org(&org).await.unwrap();
    let (key, _) = ApiKey::generate(ApiKeyLabel::parse("events").unwrap());
    store
        .create_api_key(&org, &key, &ApiKeySecret::parse(SAMPLE_KEY).unwrap().hash())
        .await
        .unwrap();
    let ingest = IngestState::new(store.clone());

    for (file, expected) in EVENTS {
        let json = std::fs::read_to_string(events_dir.join(file)).unwrap();
        let request =
            lambda_http::request::from_str(&json).unwrap_or_else(|e| panic!("{file}: {e}"));
        let response = function_router(file, &ingest)
            .await
            .oneshot(request)
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(
            status,
            *expected,
            "{file}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    assert_eq!(store.chats_of(org.id).len(), 1);
    assert_eq!(store.messages_of(org.id).len(), 1);
}
