//! One compact JSON log line per request, in the Lambda format, with the
//! request id, route, org id, the key's id, status and duration, and never
//! a key or message content.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use axum::{body::Body, http::Request};
use chatlogger::{
    accounts,
    domain::{ApiKeyLabel, OrgName, Slug},
    store::MemoryStore,
    telemetry,
};
use chatlogger_ingest::{IngestState, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn each_request_logs_one_json_line_without_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let _guard =
        tracing::subscriber::set_default(telemetry::lambda_subscriber(move || writer.clone()));

    let store = Arc::new(MemoryStore::new());
    let org = accounts::create_org(
        store.as_ref(),
        Slug::parse("acme").unwrap(),
        OrgName::parse("Acme").unwrap(),
    )
    .await
    .unwrap();
    let (api_key, key) =
        accounts::create_api_key(store.as_ref(), &org, ApiKeyLabel::parse("k").unwrap())
            .await
            .unwrap();
    let app = chatlogger::http::app(router(IngestState::new(store)));

    let post = |uri: String, body: Value| {
        Request::post(uri)
            .header("content-type", "application/json")
            .header("x-organization-api-key", key.expose())
            .header("x-request-id", "req-123")
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let response = app
        .clone()
        .oneshot(post(
            "/api/v1/orgs/acme/chats".into(),
            json!({"title": "TOP-SECRET-TITLE"}),
        ))
        .await
        .unwrap();
    let chat: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let messages = format!(
        "/api/v1/orgs/acme/chats/{}/messages",
        chat["id"].as_str().unwrap()
    );
    let response = app
        .clone()
        .oneshot(post(
            messages,
            json!({"role": "user", "content": "TOP-SECRET-CONTENT"}),
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(
        response.headers()["x-request-id"],
        "req-123",
        "the request id is echoed"
    );
    // A path no route matches is logged too.
    let unmatched = Request::get("/nope").body(Body::empty()).unwrap();
    assert_eq!(app.oneshot(unmatched).await.unwrap().status(), 404);

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).expect("every line is JSON"))
        .collect();
    let requests: Vec<&Value> = lines
        .iter()
        .filter(|line| line.get("status").is_some())
        .collect();
    assert_eq!(requests.len(), 3, "one line per request: {text}");
    assert_eq!(lines.len(), 3, "and no other line: {text}");
    assert_eq!(requests[2]["status"], 404);
    assert_eq!(requests[2]["route"], "GET (no route)");
    let last = requests[1];
    assert_eq!(
        last["route"],
        "POST /api/v1/orgs/{slug}/chats/{chat_id}/messages"
    );
    assert_eq!(last["request_id"], "req-123");
    assert_eq!(last["org_id"], org.id.to_string());
    assert_eq!(
        last["key_id"],
        api_key.id.to_string(),
        "a leaked key's requests can be found"
    );
    assert_eq!(last["status"], 201);
    assert!(last["ms"].as_f64().unwrap() >= 0.0);
    assert!(
        last.get("level").is_none(),
        "INFO is Lambda's default level"
    );
    assert!(
        last.get("timestamp").is_none(),
        "CloudWatch Logs stamps every event; a timestamp in the line is paid twice"
    );
    // Compact: the longest route's line stays within 200 bytes with 26-
    // character org and key ids (192 with API Gateway's 16-character
    // request ids).
    let longest = text.lines().nth(1).unwrap();
    assert!(longest.len() <= 200, "{} bytes: {longest}", longest.len());

    for secret in [key.expose(), "TOP-SECRET-CONTENT", "TOP-SECRET-TITLE"] {
        assert!(!text.contains(secret), "the log contains {secret}: {text}");
    }
}
