//! Proves the cost rule by recording every request the SDK puts on the
//! wire (its `X-Amz-Target` operation): one write per ingested message, a
//! read of the chat only in a container that has not seen it, the (cached)
//! API-key lookup and org limits, and one rate-limit report per 20 or more
//! messages.

use std::sync::{Arc, Mutex};

use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{Intercept, context::BeforeTransmitInterceptorContextRef},
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;
use axum::{body::Body, http::Request};
use chatlogger::store::DynamoStore;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{create_org_with_key, new_table, sdk_config};

/// Records the operation of every request sent to DynamoDB (retries included).
#[derive(Debug, Clone, Default)]
struct OperationLog(Arc<Mutex<Vec<String>>>);

impl OperationLog {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for OperationLog {
    fn name(&self) -> &'static str {
        "OperationLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // DynamoDB's JSON protocol names the operation in this header,
        // e.g. "DynamoDB_20120810.PutItem".
        let target = context
            .request()
            .headers()
            .get("x-amz-target")
            .unwrap_or("missing");
        let operation = target.rsplit('.').next().unwrap_or(target).to_owned();
        self.0.lock().unwrap().push(operation);
        Ok(())
    }
}

/// A store on `table` whose DynamoDB calls are recorded in the log.
fn counted_store(sdk: &aws_config::SdkConfig, table: String) -> (Arc<DynamoStore>, OperationLog) {
    let log = OperationLog::default();
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(log.clone())
            .build(),
    );
    (Arc::new(DynamoStore::new(counted, table)), log)
}

async fn call(app: &axum::Router, uri: &str, key: &str, body: Value) -> (u16, Value) {
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .header("x-organization-api-key", key)
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn ingesting_a_message_is_one_dynamodb_write() {
    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    let setup_store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
    let acme = create_org_with_key(&setup_store, "acme").await;
    let key = acme.key.expose();

    let (store, log) = counted_store(&sdk, table);
    let container = crate::helpers::local_app(store.clone()).await;

    // Creating a chat: the key lookup and the key's last-used stamp (first
    // use in this container; the stamp repeats at most every 5 minutes),
    // the org's limits (read once a minute), and one put.
    let (status, chat) = call(
        &container,
        "/api/v1/orgs/acme/chats",
        key,
        json!({"title": "t"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(log.take(), ["GetItem", "UpdateItem", "GetItem", "PutItem"]);
    let messages = format!(
        "/api/v1/orgs/acme/chats/{}/messages",
        chat["id"].as_str().unwrap()
    );

    // Each message: exactly one conditional PutItem, the key is cached.
    for i in 0..10 {
        let (status, _) = call(
            &container,
            &messages,
            key,
            json!({"role": "user", "content": format!("m{i}")}),
        )
        .await;
        assert_eq!(status, 201);
        assert_eq!(log.take(), ["PutItem"], "message {i}");
    }

    // A retry of a stored message: still one call (the failed conditional
    // put returns the stored item), no read.
    let body = json!({"id": chatlogger::domain::MessageId::new().to_string(), "role": "user", "content": "once"});
    assert_eq!(call(&container, &messages, key, body.clone()).await.0, 201);
    assert_eq!(log.take(), ["PutItem"]);
    assert_eq!(call(&container, &messages, key, body).await.0, 200);
    assert_eq!(log.take(), ["PutItem"]);

    // A fresh container that has not seen the chat: the key lookup, stamp
    // and org limits, then a read of the chat (eventually consistent, half
    // a unit) and the conditional put; after that, one PutItem again.
    let cold = crate::helpers::local_app(store).await;
    let (status, _) = call(
        &cold,
        &messages,
        key,
        json!({"role": "assistant", "content": "cold"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        log.take(),
        ["GetItem", "UpdateItem", "GetItem", "GetItem", "PutItem"]
    );
    let (status, _) = call(
        &cold,
        &messages,
        key,
        json!({"role": "assistant", "content": "warm"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(log.take(), ["PutItem"]);

    // A batch of 100: one PutItem each, in parallel, nothing else.
    let batch: Vec<Value> = (0..100)
        .map(|i| json!({"chat_id": chat["id"], "role": "user", "content": format!("b{i}")}))
        .collect();
    let batch_uri = "/api/v1/orgs/acme/batch";
    let (status, answer) = call(&container, batch_uri, key, json!({"messages": batch})).await;
    assert_eq!(status, 207, "{answer}");
    let operations = log.take();
    assert_eq!(operations.len(), 100, "{operations:?}");
    assert!(operations.iter().all(|op| op == "PutItem"));
    // The container has now admitted 113 units it has not reported: the
    // next request reports them, in one UpdateItem, before its put.
    let (status, _) = call(
        &container,
        &messages,
        key,
        json!({"role": "user", "content": "after the batch"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(log.take(), ["UpdateItem", "PutItem"]);
}

/// The analytics summary never reads messages: past the session check (one
/// `BatchGetItem`), a 90-day summary is one `Query` of the aggregates.
#[tokio::test]
async fn a_summary_is_one_query_of_aggregates() {
    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    let setup_store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
    let acme = create_org_with_key(&setup_store, "acme").await;
    chatlogger::accounts::create_user(
        &setup_store,
        &acme.org,
        chatlogger::domain::Email::parse("viewer@acme.example").unwrap(),
        chatlogger::domain::UserRole::Viewer,
        chatlogger::domain::Password::parse(crate::dashboard::PASSWORD).unwrap(),
    )
    .await
    .unwrap();

    let (store, log) = counted_store(&sdk, table);
    let app = crate::helpers::local_app(store).await;
    let login = Request::post("/auth/login")
        .header("content-type", "application/json")
        .header("x-csrf-protection", "1")
        .body(Body::from(
            json!({"email": "viewer@acme.example", "password": crate::dashboard::PASSWORD})
                .to_string(),
        ))
        .unwrap();
    let response = app.clone().oneshot(login).await.unwrap();
    assert_eq!(response.status(), 200);
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("__Host-chatlogger_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
        .unwrap();
    log.take();

    let summary = Request::get("/analytics/orgs/me/summary?from=2026-01-01&to=2026-03-31")
        .header("cookie", cookie)
        .body(Body::empty())
        .unwrap();
    let response = app.oneshot(summary).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(log.take(), ["BatchGetItem", "Query"]);
}

#[tokio::test]
async fn health_checks_the_table_at_most_once_per_ttl_per_container() {
    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    let (store, log) = counted_store(&sdk, table);
    let container = crate::helpers::local_app(store).await;
    // An unauthenticated loop, part of it concurrent: one table check.
    let mut concurrent = tokio::task::JoinSet::new();
    for _ in 0..10 {
        concurrent.spawn(health(container.clone()));
    }
    for body in concurrent.join_all().await {
        assert_eq!(body["status"], "ok");
    }
    for _ in 0..40 {
        assert_eq!(health(container.clone()).await["table"], true);
    }
    assert_eq!(log.take(), ["DescribeTable"]);
    // After the TTL, the next request checks again.
    tokio::time::sleep(chatlogger_ingest::health::HEALTH_CHECK_TTL).await;
    assert_eq!(health(container).await["table"], true);
    assert_eq!(log.take(), ["DescribeTable"]);
}

async fn health(container: axum::Router) -> Value {
    let request = Request::get("/health").body(Body::empty()).unwrap();
    let response = container.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}
