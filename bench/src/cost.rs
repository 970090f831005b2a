//! `make bench` for what ingest costs: every DynamoDB request the ingest
//! function sends (through the production store, against moto), the
//! request and write units each one bills (sized by item, as DynamoDB sizes
//! them), the handler's own time (in process, in memory), the bytes of its
//! log line, and from those the dollars per million messages for single
//! requests and for batches of 100, with a cold and a warm chat cache.
//!
//! The prices are the inputs the README states (us-east-1, on-demand,
//! arm64). The analytics aggregator's writes are an input too
//! ([`AGGREGATOR_INPUT`]): they depend on how busy an org is, not on
//! ingest, and the aggregator's own bench (`chatlogger-bench aggregator`)
//! measures them.

use std::{
    collections::BTreeMap,
    io::Write,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use aws_sdk_dynamodb::{
    operation::{
        get_item::{GetItemInput, GetItemOutput},
        put_item::PutItemInput,
        update_item::UpdateItemOutput,
    },
    types::AttributeValue,
};
use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{
            Intercept,
            context::{
                AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextRef,
            },
        },
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use chatlogger::{
    accounts,
    domain::{Chat, ChatId, Metadata, OrgName, Slug, Tags, limits::OrgLimits},
    ingest::BATCH_PARALLELISM,
    store::{ChatStore, DynamoStore},
};
use chatlogger_ingest::{IngestState, router};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

/// Prices, us-east-1 (the README's "Cost and consistency" states them).
const API_GATEWAY_PER_MILLION_REQUESTS: f64 = 1.00; // HTTP API, first 300 M a month
const LAMBDA_PER_MILLION_REQUESTS: f64 = 0.20;
const LAMBDA_ARM_PER_GB_SECOND: f64 = 0.000_013_333_4;
const DYNAMODB_PER_MILLION_WRU: f64 = 0.625; // on-demand
const DYNAMODB_PER_MILLION_RRU: f64 = 0.125;
const DYNAMODB_STORAGE_PER_GB_MONTH: f64 = 0.25;
/// DynamoDB stores 100 bytes of index overhead with every item.
const DYNAMODB_ITEM_OVERHEAD: u64 = 100;
const CLOUDWATCH_LOGS_PER_GB: f64 = 0.50;
/// CloudWatch counts 26 bytes of overhead per log event (in its batch
/// limits; the bench shows the cost with and without it).
const LOG_EVENT_OVERHEAD: u64 = 26;
/// Lambda gives a function one vCPU at 1,769 MB, and CPU in proportion below.
const MB_PER_VCPU: f64 = 1769.0;

/// The analytics aggregator's write units per message: the one figure this
/// bench does not measure. `chatlogger-bench aggregator` measures 0.047 to
/// 0.06 for an org logging 10 messages/s (0.6 at 1/s, 0.006 at 100/s);
/// pass `--aggregator-wru` for another rate.
pub const AGGREGATOR_INPUT: f64 = 0.06;

pub struct CostArgs {
    pub memory_mb: u64,
    pub dynamodb_ms: f64,
    pub containers: usize,
    pub aggregator_wru: f64,
}

/// Billed units of what the SDK sent, by operation.
#[derive(Debug, Default, Clone)]
struct Bill {
    requests: BTreeMap<&'static str, u64>,
    wru: f64,
    rru: f64,
    /// The largest item put, in bytes as DynamoDB counts them.
    largest_put: u64,
}

impl Bill {
    fn count(&self, operation: &str) -> u64 {
        self.requests.get(operation).copied().unwrap_or_default()
    }
}

/// Whether a `GetItem` was strongly consistent, from its input to its output.
#[derive(Debug, Clone, Copy)]
struct Consistent(bool);

impl Storable for Consistent {
    type Storer = StoreReplace<Self>;
}

/// Counts every request and the units it bills: writes by the written
/// item's size (1 per KB), reads by the returned item's (1 per 4 KB, half
/// when eventually consistent; a miss bills the minimum).
#[derive(Debug, Clone, Default)]
struct Meter(Arc<Mutex<Bill>>);

impl Meter {
    fn take(&self) -> Bill {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "Meter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input();
        let mut bill = self.0.lock().unwrap();
        if let Some(put) = input.downcast_ref::<PutItemInput>() {
            *bill.requests.entry("PutItem").or_default() += 1;
            let size = item_size(put.item().unwrap_or(&Default::default()));
            bill.wru += write_units(size);
            bill.largest_put = bill.largest_put.max(size);
        } else if let Some(get) = input.downcast_ref::<GetItemInput>() {
            *bill.requests.entry("GetItem").or_default() += 1;
            let consistent = get.consistent_read().unwrap_or(false);
            config.interceptor_state().store_put(Consistent(consistent));
        } else if input
            .downcast_ref::<aws_sdk_dynamodb::operation::update_item::UpdateItemInput>()
            .is_some()
        {
            *bill.requests.entry("UpdateItem").or_default() += 1;
        } else {
            *bill.requests.entry("other").or_default() += 1;
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Ok(output) = context.output_or_error() else {
            return Ok(());
        };
        let mut bill = self.0.lock().unwrap();
        if let Some(get) = output.downcast_ref::<GetItemOutput>() {
            let consistent = config.load::<Consistent>().is_some_and(|c| c.0);
            let size = get.item().map(item_size).unwrap_or(0);
            let units = size.div_ceil(4096).max(1) as f64;
            bill.rru += if consistent { units } else { units / 2.0 };
        } else if let Some(update) = output.downcast_ref::<UpdateItemOutput>() {
            // The item as it is now: what the update is billed on.
            bill.wru += write_units(update.attributes().map(item_size).unwrap_or(0));
        }
        Ok(())
    }
}

fn write_units(size: u64) -> f64 {
    size.div_ceil(1024).max(1) as f64
}

/// An item's size as DynamoDB counts it: each attribute's name and value
/// (strings by their UTF-8 bytes, numbers about one byte per two digits
/// plus one, lists and maps 3 bytes plus 1 per element).
fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> u64 {
    item.iter()
        .map(|(name, value)| name.len() as u64 + value_size(value))
        .sum()
}

fn value_size(value: &AttributeValue) -> u64 {
    match value {
        AttributeValue::S(text) => text.len() as u64,
        AttributeValue::N(number) => {
            let digits = number.chars().filter(char::is_ascii_digit).count() as u64;
            digits.div_ceil(2) + 1
        }
        AttributeValue::B(bytes) => bytes.as_ref().len() as u64,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<u64>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() as u64 + value_size(v))
                .sum::<u64>()
        }
        AttributeValue::Ss(set) => set.iter().map(|s| s.len() as u64).sum(),
        _ => 0,
    }
}

/// What a plugin sends: a 500-byte message with empty metadata.
fn message(chat: &ChatId, i: usize) -> Value {
    let content: String = format!("{i:06} ")
        .chars()
        .chain("Thanks for reaching out! ".chars().cycle())
        .take(500)
        .collect();
    json!({
        "chat_id": chat.to_string(),
        "role": if i.is_multiple_of(2) { "user" } else { "assistant" },
        "content": content,
        "latency_ms": 850,
        "token_count": 120,
    })
}

/// Sends `body`; over the org's rate (the bench runs at the default org
/// limits), waits as `Retry-After` says and sends it again.
async fn send(app: &Router, uri: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    loop {
        let (status, answer, retry_after) = send_once(app, uri, key, body).await;
        match retry_after {
            Some(secs) if status == StatusCode::TOO_MANY_REQUESTS => {
                tokio::time::sleep(Duration::from_secs(secs)).await
            }
            _ => return (status, answer),
        }
    }
}

async fn send_once(
    app: &Router,
    uri: &str,
    key: &str,
    body: &Value,
) -> (StatusCode, Value, Option<u64>) {
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .header("x-organization-api-key", key)
        .header("x-request-id", "JcE3-hEJoAMEVyA=") // API Gateway's ids are 16 characters
        .body(Body::from(body.to_string()))
        .unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let answer = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (status, answer, retry_after)
}

/// One measured way of logging messages.
struct Scenario {
    name: &'static str,
    messages: u64,
    requests: u64,
    bill: Bill,
    /// DynamoDB round trips one request waits for, one after another.
    round_trips: f64,
    /// The handler's own time per request (in process, in memory).
    handler_ms: f64,
}

impl Scenario {
    fn per_message(&self, value: f64) -> f64 {
        value / self.messages as f64
    }

    /// The handler's CPU time slowed to the function's share of a vCPU,
    /// plus its DynamoDB round trips.
    fn lambda_ms(&self, args: &CostArgs) -> f64 {
        let cpu_share = (args.memory_mb as f64 / MB_PER_VCPU).min(1.0);
        self.handler_ms / cpu_share + self.round_trips * args.dynamodb_ms
    }

    /// Dollars per million messages: (API Gateway, Lambda, DynamoDB writes,
    /// DynamoDB reads).
    fn dollars(&self, args: &CostArgs) -> (f64, f64, f64, f64) {
        let requests_per_message = self.requests as f64 / self.messages as f64;
        let gb_seconds = args.memory_mb as f64 / 1024.0 * self.lambda_ms(args).ceil() / 1000.0;
        let lambda = requests_per_message
            * (LAMBDA_PER_MILLION_REQUESTS + gb_seconds * LAMBDA_ARM_PER_GB_SECOND * 1e6);
        (
            requests_per_message * API_GATEWAY_PER_MILLION_REQUESTS,
            lambda,
            self.per_message(self.bill.wru) * DYNAMODB_PER_MILLION_WRU,
            self.per_message(self.bill.rru) * DYNAMODB_PER_MILLION_RRU,
        )
    }
}

/// Lets each container report the units it admitted, as its next request
/// would: a batch whose only item is invalid logs nothing, but is admitted
/// (zero units), and a due report goes first.
async fn report_pending(fleet: &[Router], key: &str) {
    let nothing = json!({"messages": [{"role": "user"}]});
    for app in fleet {
        let (status, _) = send(app, "/api/v1/orgs/bench/batch", key, &nothing).await;
        assert_eq!(status, StatusCode::MULTI_STATUS);
    }
}

/// `containers` fresh ingest containers (their own caches and meters) on one table.
fn containers(store: &Arc<DynamoStore>, count: usize) -> Vec<Router> {
    (0..count)
        .map(|_| chatlogger::http::app(router(IngestState::new(store.clone()))))
        .collect()
}

/// Chats made directly in the store, so no container has seen them.
async fn chats(store: &dyn ChatStore, org: chatlogger::domain::OrgId, count: usize) -> Vec<ChatId> {
    let mut ids = Vec::with_capacity(count);
    for _ in 0..count {
        let chat = Chat {
            id: ChatId::new(),
            title: None,
            tags: Tags::default(),
            metadata: Metadata::default(),
            user_id: None,
            created_at: time::OffsetDateTime::now_utc(),
        };
        store.insert_chat(org, &chat).await.unwrap();
        ids.push(chat.id);
    }
    ids
}

pub async fn run(args: CostArgs) {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "run through `make bench`, which starts moto"
    );
    let aws = chatlogger::aws::Aws::load_with(chatlogger::aws::Budget::interactive(), None).await;
    let sdk = aws.sdk().clone();
    let table = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
    let plain = aws_sdk_dynamodb::Client::new(&sdk);
    chatlogger_local::provision::create_table(&plain, &table)
        .await
        .expect("create the bench table");
    let setup = DynamoStore::new(plain, table.clone());
    let org = accounts::create_org(
        &setup,
        Slug::parse("bench").unwrap(),
        OrgName::parse("Bench").unwrap(),
    )
    .await
    .unwrap();
    // The org has the default limits: the limiter reports as often as it
    // would for a real org (and the bench waits when it is throttled).
    let (_, key) = accounts::create_api_key(
        &setup,
        &org,
        chatlogger::domain::ApiKeyLabel::parse("bench").unwrap(),
    )
    .await
    .unwrap();
    let key = key.expose().to_owned();
    let meter = Meter::default();
    let metered = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .interceptor(meter.clone())
            .build(),
    );
    let store = Arc::new(DynamoStore::new(metered, table));
    let messages_uri = |chat: &ChatId| format!("/api/v1/orgs/bench/chats/{chat}/messages");
    let batch_uri = "/api/v1/orgs/bench/batch";
    let handler = handler_times().await;

    // Every container is warm (it has looked up the key and the org's
    // limits) before anything is counted: those reads recur once per 5 s
    // and per minute per container, whatever the traffic (see below).
    let body_of = |i: usize, chat: &ChatId| {
        let mut body = message(chat, i);
        body.as_object_mut().unwrap().remove("chat_id");
        body
    };
    let fleet = containers(&store, args.containers);
    let warm_chat = chats(&setup, org.id, 1).await[0];
    for app in &fleet {
        let (status, answer) = send(
            app,
            &messages_uri(&warm_chat),
            &key,
            &body_of(0, &warm_chat),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
    }
    let warmup = meter.take();

    let mut scenarios = Vec::new();

    // Single requests, warm: the container has seen the chat.
    let n = 400;
    for i in 0..n {
        let (status, _) = send(
            &fleet[0],
            &messages_uri(&warm_chat),
            &key,
            &body_of(i, &warm_chat),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let single_warm = meter.take();
    // Every message of the bench is the same size: its put is the message item.
    let message_item_bytes = single_warm.largest_put;
    scenarios.push(Scenario {
        name: "single, warm chat cache",
        messages: n as u64,
        requests: n as u64,
        bill: single_warm,
        round_trips: 1.0 + 1.0 / 20.0,
        handler_ms: handler.single_ms,
    });

    // Single requests, cold: every message reaches a container that has not
    // seen its chat (Lambda spreads a chat's messages over the containers).
    // 60 chats: each container logs enough to report its count as usual.
    let cold_chats = chats(&setup, org.id, 60).await;
    meter.take();
    let mut sent = 0;
    for chat in &cold_chats {
        for app in &fleet {
            let (status, _) = send(app, &messages_uri(chat), &key, &body_of(sent, chat)).await;
            assert_eq!(status, StatusCode::CREATED);
            sent += 1;
        }
    }
    scenarios.push(Scenario {
        name: "single, cold chat cache",
        messages: sent as u64,
        requests: sent as u64,
        bill: meter.take(),
        round_trips: 2.0 + 1.0 / 20.0,
        handler_ms: handler.single_ms,
    });

    // Batches of 100 (10 chats x 10 messages), warm and cold.
    let batch_chats = chats(&setup, org.id, 10 * (args.containers + 1)).await;
    let batch = |chats: &[ChatId], round: usize| {
        let messages: Vec<Value> = (0..100)
            .map(|i| message(&chats[i % chats.len()], round * 100 + i))
            .collect();
        json!({"messages": messages})
    };
    let known = &batch_chats[..10];
    let (status, _) = send(&fleet[0], batch_uri, &key, &batch(known, 0)).await;
    assert_eq!(status, StatusCode::MULTI_STATUS);
    meter.take();
    let rounds = 20;
    for round in 1..=rounds {
        let (status, answer) = send(&fleet[0], batch_uri, &key, &batch(known, round)).await;
        assert_eq!(status, StatusCode::MULTI_STATUS, "{answer}");
    }
    report_pending(&fleet[..1], &key).await;
    let puts_per_round = (100_f64 / BATCH_PARALLELISM as f64).ceil();
    scenarios.push(Scenario {
        name: "batch of 100 (10 chats), warm",
        messages: rounds as u64 * 100,
        requests: rounds as u64,
        bill: meter.take(),
        round_trips: puts_per_round + 1.0,
        handler_ms: handler.batch_ms,
    });
    report_pending(&fleet, &key).await;
    meter.take();
    for (c, app) in fleet.iter().enumerate() {
        let unseen = &batch_chats[10 * (c + 1)..10 * (c + 2)];
        let (status, answer) = send(app, batch_uri, &key, &batch(unseen, c)).await;
        assert_eq!(status, StatusCode::MULTI_STATUS, "{answer}");
    }
    report_pending(&fleet, &key).await;
    scenarios.push(Scenario {
        name: "batch of 100 (10 chats), cold",
        messages: args.containers as u64 * 100,
        requests: args.containers as u64,
        bill: meter.take(),
        round_trips: 1.0 + puts_per_round + 1.0,
        handler_ms: handler.batch_ms,
    });

    report(&args, &scenarios, &warmup, &handler, message_item_bytes);
}

struct HandlerTimes {
    single_ms: f64,
    batch_ms: f64,
    single_log_bytes: u64,
    batch_log_bytes: u64,
}

/// The handler's own time (p50, in process, in-memory store: no network),
/// and the bytes of its log line, for a single message and a batch of 100.
async fn handler_times() -> HandlerTimes {
    let (store, org, key) = crate::memory_org_with_key().await;
    let key = key.expose().to_owned();
    let chat = chats(store.as_ref(), org.id, 1).await[0];
    let app = chatlogger::http::app(router(IngestState::new(store.clone())));
    let uri = format!("/api/v1/orgs/bench/chats/{chat}/messages");
    let single = |i| {
        let mut body = message(&chat, i);
        body.as_object_mut().unwrap().remove("chat_id");
        body
    };
    let batch = |round: usize| {
        let messages: Vec<Value> = (0..100).map(|i| message(&chat, round * 100 + i)).collect();
        json!({"messages": messages})
    };
    // Warm up, then time.
    for i in 0..200 {
        send(&app, &uri, &key, &single(i)).await;
    }
    let mut singles = Vec::new();
    for i in 0..2_000 {
        let started = Instant::now();
        send(&app, &uri, &key, &single(1_000 + i)).await;
        singles.push(started.elapsed());
    }
    let mut batches = Vec::new();
    for round in 0..200 {
        let started = Instant::now();
        let (status, _) = send(&app, "/api/v1/orgs/bench/batch", &key, &batch(round)).await;
        assert_eq!(status, StatusCode::MULTI_STATUS);
        batches.push(started.elapsed());
    }

    // One request of each through the Lambda log format.
    let lines = Captured::default();
    let writer = lines.clone();
    {
        let _guard =
            tracing::subscriber::set_default(chatlogger::telemetry::lambda_subscriber(move || {
                writer.clone()
            }));
        send(&app, &uri, &key, &single(99_999)).await;
        send(&app, "/api/v1/orgs/bench/batch", &key, &batch(9_999)).await;
    }
    let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let sizes: Vec<u64> = text.lines().map(|line| line.len() as u64 + 1).collect();
    assert_eq!(sizes.len(), 2, "one line per request: {text}");

    HandlerTimes {
        single_ms: median_ms(&mut singles),
        batch_ms: median_ms(&mut batches),
        single_log_bytes: sizes[0],
        batch_log_bytes: sizes[1],
    }
}

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

fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

fn report(
    args: &CostArgs,
    scenarios: &[Scenario],
    warmup: &Bill,
    handler: &HandlerTimes,
    message_item_bytes: u64,
) {
    let content_room = 1024 - (message_item_bytes - 500);
    println!(
        "item size: a 500-byte message with empty metadata (latency and tokens set) is {} bytes stored: {} write unit; up to {} bytes of content stay within 1 KB (1 unit), then each further KB (or part) of item is one more unit",
        message_item_bytes,
        write_units(message_item_bytes),
        content_room
    );
    println!(
        "handler time (in process, in-memory store, p50): single message {:.3} ms, batch of 100 {:.3} ms",
        handler.single_ms, handler.batch_ms
    );
    println!(
        "log line (Lambda JSON format, 16-character request id, newline included): single {} bytes, batch {} bytes",
        handler.single_log_bytes, handler.batch_log_bytes
    );
    println!(
        "warm-up per container (key lookup, last-used stamp, org limits; then again every 5 s, 5 min and 60 s): {:?}, {:.1} WRU, {:.1} RRU",
        warmup.requests,
        warmup.wru / args.containers as f64,
        warmup.rru / args.containers as f64
    );
    println!(
        "{:<32} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>10}",
        "per message", "PutItem", "GetItem", "Update", "requests", "WRU", "RRU", "Lambda ms"
    );
    for s in scenarios {
        let calls: u64 = s.bill.requests.values().sum();
        println!(
            "{:<32} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>8.3} {:>8.3} {:>10.2}",
            s.name,
            s.per_message(s.bill.count("PutItem") as f64),
            s.per_message(s.bill.count("GetItem") as f64),
            s.per_message(s.bill.count("UpdateItem") as f64),
            s.per_message(calls as f64),
            s.per_message(s.bill.wru),
            s.per_message(s.bill.rru),
            s.lambda_ms(args),
        );
    }
    let aggregator = args.aggregator_wru * DYNAMODB_PER_MILLION_WRU;
    println!(
        "$ per million messages (prices: HTTP API ${API_GATEWAY_PER_MILLION_REQUESTS:.2}/M requests; Lambda arm64 ${LAMBDA_PER_MILLION_REQUESTS:.2}/M requests + ${LAMBDA_ARM_PER_GB_SECOND}/GB-s at {} MB, billed per ms, DynamoDB {} ms a round trip; DynamoDB on-demand ${DYNAMODB_PER_MILLION_WRU}/M WRU, ${DYNAMODB_PER_MILLION_RRU}/M RRU):",
        args.memory_mb, args.dynamodb_ms
    );
    println!(
        "  aggregator (input, not measured here: AGGREGATOR_INPUT = {} WRU per message, or --aggregator-wru) = ${aggregator:.3}",
        args.aggregator_wru
    );
    println!(
        "{:<32} {:>8} {:>8} {:>9} {:>8} {:>11} {:>8} | {:>7}",
        "", "API GW", "Lambda", "DDB write", "DDB read", "aggregator", "TOTAL", "logs"
    );
    let logs = |s: &Scenario, overhead: u64| {
        let line = if s.requests == s.messages {
            handler.single_log_bytes
        } else {
            handler.batch_log_bytes
        };
        s.requests as f64 / s.messages as f64
            * (line + overhead) as f64
            * CLOUDWATCH_LOGS_PER_GB
            * 1e6
            / 1e9
    };
    for s in scenarios {
        let (gateway, lambda, writes, reads) = s.dollars(args);
        let total = gateway + lambda + writes + reads + aggregator;
        let target = if s.requests == s.messages { 2.00 } else { 0.75 };
        println!(
            "{:<32} {:>8.3} {:>8.3} {:>9.3} {:>8.3} {:>11.3} {:>8.3} | {:>7.3}  (target <= ${target:.2})",
            s.name,
            gateway,
            lambda,
            writes,
            reads,
            aggregator,
            total,
            logs(s, 0)
        );
    }
    println!(
        "logs: the line's bytes at ${CLOUDWATCH_LOGS_PER_GB}/GB; if CloudWatch's {LOG_EVENT_OVERHEAD} bytes of per-event overhead are billed too: single ${:.3}, batch ${:.3} per million messages",
        logs(&scenarios[0], LOG_EVENT_OVERHEAD),
        logs(&scenarios[2], LOG_EVENT_OVERHEAD),
    );
    let storage_gb = (message_item_bytes + DYNAMODB_ITEM_OVERHEAD) as f64 * 1e6 / 1e9;
    println!(
        "storage: a million such messages are {storage_gb:.2} GB with DynamoDB's 100-byte item overhead: ${:.3} per month at ${DYNAMODB_STORAGE_PER_GB_MONTH}/GB-month (not in the totals)",
        storage_gb * DYNAMODB_STORAGE_PER_GB_MONTH
    );
    println!(
        "limiting: one UpdateItem per container per {} or more messages (1% of the org's window quota), so at most {:.3} WRU per message; measured above (Update column, with the default org rate: a report per {} units)",
        chatlogger::domain::limits::REPORT_EVERY,
        1.0 / chatlogger::domain::limits::REPORT_EVERY as f64,
        OrgLimits::default().rate().report_every(),
    );
}
