//! Proves the cost rule by recording every request the SDK puts on the
//! wire (its `X-Amz-Target` operation, and the item it names): one write
//! per ingested message, a read of the chat only in a container that has
//! not seen it, the (cached) API-key lookup and org limits with the change
//! feed that keeps them right, and one rate-limit report per 20 or more
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
use chatlogger::{
    clock::{Clock, ManualClock, SharedClock},
    store::DynamoStore,
};
use chatlogger_ingest::IngestState;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::helpers::{create_org_with_key, new_table, sdk_config};

/// Records the operation of every request sent to DynamoDB (retries
/// included), with the first part of the partition key it names (`ORG`,
/// `KEYHASH`, `INGEST`...; none for batches and transactions).
#[derive(Debug, Clone, Default)]
pub(crate) struct OperationLog(Arc<Mutex<Vec<String>>>);

impl OperationLog {
    /// The operations since the last take.
    pub(crate) fn take(&self) -> Vec<String> {
        self.take_keyed()
            .into_iter()
            .map(|entry| entry.split(' ').next().unwrap_or_default().to_owned())
            .collect()
    }

    /// The same, each as `"GetItem KEYHASH"`: the operation and its item's kind.
    pub(crate) fn take_keyed(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The first part (up to `#`) of the partition key a single-item request names.
fn pk_kind(body: Option<&[u8]>) -> Option<String> {
    let body: Value = serde_json::from_slice(body?).ok()?;
    let pk = body
        .get("Key")
        .or_else(|| body.get("Item"))?
        .get("pk")?
        .get("S")?
        .as_str()?;
    Some(pk.split('#').next().unwrap_or(pk).to_owned())
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
        let call = match pk_kind(context.request().body().bytes()) {
            Some(pk) => format!("{operation} {pk}"),
            None => operation,
        };
        self.0.lock().unwrap().push(call);
        Ok(())
    }
}

/// A store on `table` whose DynamoDB calls are recorded in the log.
pub(crate) fn counted_store(
    sdk: &aws_config::SdkConfig,
    table: String,
) -> (Arc<DynamoStore>, OperationLog) {
    let log = OperationLog::default();
    let counted = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(log.clone())
            .build(),
    );
    (Arc::new(DynamoStore::new(counted, table)), log)
}

/// An ingest container on `clock`, as `main.rs` serves it.
pub(crate) fn ingest_container(store: Arc<DynamoStore>, clock: SharedClock) -> axum::Router {
    chatlogger::http::app(chatlogger_ingest::router(IngestState::with_clock(
        store, clock,
    )))
}

pub(crate) async fn call(app: &axum::Router, uri: &str, key: &str, body: Value) -> (u16, Value) {
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
    let clock = ManualClock::shared(time::macros::datetime!(2026-11-22 12:00:00 UTC));
    let container = ingest_container(store.clone(), clock.clone());

    // Creating a chat in a new container: the change feed (first read), the
    // key lookup and the key's last-used stamp (the stamp repeats at most
    // once an hour), the org's limits (cached for minutes), and one put.
    let (status, chat) = call(
        &container,
        "/api/v1/orgs/acme/chats",
        key,
        json!({"title": "t"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(
        log.take_keyed(),
        [
            "GetItem INGEST",
            "GetItem KEYHASH",
            "UpdateItem ORG",
            "GetItem ORG",
            "PutItem ORG"
        ]
    );
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
    // Its id is of the container's time (ingest refuses one an hour off).
    let id = chatlogger::domain::MessageId::at(clock.now());
    let body = json!({"id": id.to_string(), "role": "user", "content": "once"});
    assert_eq!(call(&container, &messages, key, body.clone()).await.0, 201);
    assert_eq!(log.take(), ["PutItem"]);
    // (A moment later: at the same instant the retry's item would be
    // byte for byte the stored one, which the store takes for its own
    // write retried by the SDK.)
    clock.advance(time::Duration::milliseconds(10));
    assert_eq!(call(&container, &messages, key, body).await.0, 200);
    assert_eq!(log.take(), ["PutItem"]);

    // A fresh container that has not seen the chat: the feed, the key
    // lookup, stamp and org limits, then a read of the chat (eventually
    // consistent, half a unit) and the conditional put; after that, one
    // PutItem again.
    let cold = ingest_container(store, clock.clone());
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
        [
            "GetItem",
            "GetItem",
            "UpdateItem",
            "GetItem",
            "GetItem",
            "PutItem"
        ]
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

    // Seconds later, the caches are checked against the change feed: one
    // read of it serves the key and the org's limits alike.
    clock.advance(time::Duration::seconds(5));
    let (status, _) = call(
        &container,
        &messages,
        key,
        json!({"role": "user", "content": "later"}),
    )
    .await;
    assert_eq!(status, 201);
    assert_eq!(log.take_keyed(), ["GetItem INGEST", "PutItem ORG"]);
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
            json!({"org": "acme", "email": "viewer@acme.example", "password": crate::dashboard::PASSWORD})
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
    let clock = ManualClock::shared(time::macros::datetime!(2026-11-22 12:00:00 UTC));
    let container = ingest_container(store, clock.clone());
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
    // After the TTL, requests answer from the last check at once and one
    // check runs behind them.
    clock.advance(time::Duration::try_from(chatlogger_ingest::health::HEALTH_CHECK_TTL).unwrap());
    for _ in 0..5 {
        assert_eq!(health(container.clone()).await["table"], true);
    }
    let mut calls = Vec::new();
    for _ in 0..200 {
        calls.extend(log.take());
        if !calls.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    calls.extend(log.take());
    assert_eq!(calls, ["DescribeTable"]);
}

async fn health(container: axum::Router) -> Value {
    let request = Request::get("/health").body(Body::empty()).unwrap();
    let response = container.oneshot(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap()
}
