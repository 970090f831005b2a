//! `chatlogger-bench`, run by `make bench` (scripts/bench.sh):
//!
//! - `init BIN...`: starts each Lambda binary against a local Lambda runtime
//!   API (served here on loopback) and measures, per cold start, the time
//!   from process start to its first `GET /invocation/next` (init) and to
//!   its first response; median and p90 over `--runs` starts.
//! - `ingest`: the ingest router in-process with the in-memory store;
//!   per-request latency (p50/p99/max) and throughput for message logging.
//! - `exports`: the export pipeline per format at 100k and 1M rows, rows/s
//!   and peak RSS per run (see [`exports`]).
//! - `transactions`: one local (moto) DynamoDB transaction's latency at
//!   1,000 and 100,000 items in the table (see [`transactions`]).
//! - `cost`: $ per million messages, everything billed, for three tenant
//!   profiles, single and in batches of 100, at 1, 4 and 32 stream shards:
//!   a simulation through the real ingest and aggregator (see [`cost`];
//!   against moto).
//! - `chats-list`: the read units one dashboard chat listing of 100 chats
//!   bills, for chats of more than 4 MiB and for ordinary ones (see
//!   [`chats_list`]; against moto).

mod chats_list;
mod cost;
mod exports;
mod logs;
mod meter;
mod pricing;
mod readers;
mod report;
mod simulation;
mod traffic;
mod transactions;

use std::{
    path::PathBuf,
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{
    Router,
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, Request, StatusCode},
    routing::{get, post},
};
use chatlogger::{
    accounts,
    domain::{ApiKeyLabel, OrgName, Slug},
    store::MemoryStore,
};
use chatlogger_ingest::{IngestState, router};
mod analytics;

use clap::{Parser, Subcommand};
use http_body_util::BodyExt;
use serde_json::json;
use tokio::sync::mpsc;
use tower::ServiceExt;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cold-start timing of Lambda binaries against a local runtime API.
    Init {
        #[arg(long, default_value_t = 30)]
        runs: usize,
        /// The API Gateway event to invoke with.
        #[arg(long)]
        event: PathBuf,
        binaries: Vec<PathBuf>,
    },
    /// In-process ingest handler latency with the in-memory store.
    Ingest {
        #[arg(long, default_value_t = 20_000)]
        requests: usize,
    },
    /// Writes per org-day aggregate item per second for a hot org (in memory).
    HotOrg {
        #[arg(long, default_value_t = 1_000)]
        rate: usize,
        #[arg(long, default_value_t = 4)]
        shards: usize,
        #[arg(long, default_value_t = 60)]
        seconds: usize,
    },
    /// The analytics summary's DynamoDB reads for a range of days (moto).
    Summary {
        #[arg(long, default_value_t = 366)]
        days: i64,
    },
    /// CPU cost of one dashboard login (argon2id verify) next to one
    /// API-key verification (SHA-256 plus the cached lookup).
    Credentials {
        #[arg(long, default_value_t = 30)]
        logins: usize,
        #[arg(long, default_value_t = 100_000)]
        keys: usize,
    },
    /// Export pipeline throughput and peak RSS per format and size, each run
    /// in its own process.
    Exports {
        #[arg(long, value_delimiter = ',', default_values_t = [100_000, 1_000_000])]
        rows: Vec<usize>,
    },
    /// One local DynamoDB transaction's latency per table size (moto).
    Transactions {
        #[arg(long, value_delimiter = ',', default_values_t = [1_000, 100_000])]
        items: Vec<usize>,
        /// Transactions per median.
        #[arg(long, default_value_t = 40)]
        transactions: usize,
    },
    /// $ per million messages, everything billed, per profile, mode and
    /// shard count: a simulation against moto (writes target/bench/cost.json).
    Cost {
        /// The ingest function's memory (template.yaml's MemorySize).
        #[arg(long, default_value_t = 128)]
        memory_mb: u64,
        /// One DynamoDB round trip from Lambda, in milliseconds (assumed:
        /// moto's latency says nothing about DynamoDB's).
        #[arg(long, default_value_t = 6.0)]
        dynamodb_ms: f64,
        /// Simulated seconds billed, after the warm-up.
        #[arg(long, default_value_t = 300)]
        seconds: u64,
        /// Simulated seconds of traffic before the bill starts (at least
        /// the ingest caches' 5 minutes).
        #[arg(long, default_value_t = 300)]
        warmup: u64,
        #[arg(long, value_delimiter = ',', default_values_t = ["quiet".to_owned(), "typical".to_owned(), "busy".to_owned()])]
        profiles: Vec<String>,
        #[arg(long, value_delimiter = ',', default_values_t = ["single".to_owned(), "batch".to_owned()])]
        modes: Vec<String>,
        /// The simulation's random seed (phases, containers, contents).
        #[arg(long, default_value_t = 18)]
        seed: u64,
        /// moto servers to spread the simulations over, one at a time
        /// each (default: `AWS_ENDPOINT_URL`).
        #[arg(long, value_delimiter = ',')]
        endpoints: Vec<String>,
    },
    /// The read units one chat listing bills, metered (moto).
    ChatsList {
        /// Chats on the page (and of each kind).
        #[arg(long, default_value_t = 100)]
        chats: usize,
    },
    /// One export run (what `exports` starts per format and size).
    ExportRun {
        #[arg(long, value_parser = parse_format)]
        format: chatlogger::domain::export::ExportFormat,
        #[arg(long)]
        rows: usize,
    },
}

fn parse_format(raw: &str) -> Result<chatlogger::domain::export::ExportFormat, String> {
    chatlogger::domain::export::ExportFormat::ALL
        .into_iter()
        .find(|f| f.as_str() == raw)
        .ok_or_else(|| format!("format must be csv, json or ndjson, not {raw}"))
}

#[tokio::main]
async fn main() {
    match Args::parse().command {
        Command::Credentials { logins, keys } => credentials(logins, keys).await,
        Command::Init {
            runs,
            event,
            binaries,
        } => {
            // Without its API key the event is answered 401 by the auth
            // extractor: the invocation runs routing, the extractor and the
            // JSON error path without needing AWS.
            let mut event: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&event).expect("read the event file"))
                    .expect("event is JSON");
            event["headers"]
                .as_object_mut()
                .map(|headers| headers.remove("x-organization-api-key"));
            let event = Bytes::from(event.to_string());
            let mut baseline = None;
            for binary in binaries {
                let median = init(&binary, runs, event.clone()).await;
                match baseline {
                    None => baseline = Some(median),
                    Some(base) => println!(
                        "      {} init is {:.2}x the first binary's (median start→first /next)",
                        binary.display(),
                        median.as_secs_f64() / base.as_secs_f64()
                    ),
                }
            }
        }
        Command::Ingest { requests } => ingest(requests).await,
        Command::HotOrg {
            rate,
            shards,
            seconds,
        } => analytics::hot_org(rate, shards, seconds).await,
        Command::Summary { days } => analytics::summary_reads(days).await,
        Command::ChatsList { chats } => chats_list::run(chats).await,
        Command::Exports { rows } => exports::compare(&rows),
        Command::ExportRun { format, rows } => exports::run(format, rows).await,
        Command::Transactions {
            items,
            transactions,
        } => transactions::latency(&items, transactions).await,
        Command::Cost {
            memory_mb,
            dynamodb_ms,
            seconds,
            warmup,
            profiles,
            modes,
            seed,
            endpoints,
        } => {
            cost::run(cost::CostArgs {
                memory_mb,
                dynamodb_ms,
                warmup_s: warmup,
                seconds,
                profiles,
                modes,
                seed,
                endpoints,
            })
            .await
        }
    }
}

/// What the fake runtime API saw, with when.
enum RuntimeCall {
    Next(Instant),
    Response(Instant),
}

#[derive(Clone)]
struct Runtime {
    event: Bytes,
    calls: mpsc::UnboundedSender<RuntimeCall>,
}

/// The two runtime API calls a function makes for one invocation.
fn runtime_api(runtime: Runtime) -> Router {
    async fn next(State(runtime): State<Runtime>) -> (HeaderMap, Bytes) {
        let _ = runtime.calls.send(RuntimeCall::Next(Instant::now()));
        let mut headers = HeaderMap::new();
        headers.insert(
            "lambda-runtime-aws-request-id",
            "bench-request".parse().unwrap(),
        );
        headers.insert(
            "lambda-runtime-deadline-ms",
            "4102444800000".parse().unwrap(),
        );
        headers.insert(
            "lambda-runtime-invoked-function-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:bench"
                .parse()
                .unwrap(),
        );
        headers.insert("content-type", "application/json".parse().unwrap());
        (headers, runtime.event.clone())
    }
    async fn response(State(runtime): State<Runtime>, _body: Bytes) -> StatusCode {
        let _ = runtime.calls.send(RuntimeCall::Response(Instant::now()));
        StatusCode::ACCEPTED
    }
    Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(response))
        .route(
            "/2018-06-01/runtime/init/error",
            post(|| async { StatusCode::ACCEPTED }),
        )
        .with_state(runtime)
}

/// Returns the median time from process start to the first `/next`.
async fn init(binary: &PathBuf, runs: usize, event: Bytes) -> Duration {
    let (calls, mut seen) = mpsc::unbounded_channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        axum::serve(listener, runtime_api(Runtime { event, calls }))
            .await
            .unwrap();
    });

    let (mut to_init, mut to_response) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = tokio::process::Command::new(binary)
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", &address)
            .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "bench")
            .env("AWS_SECRET_ACCESS_KEY", "bench")
            // Never contacted by the benchmark's event; loopback if it were.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("TABLE_NAME", "bench")
            .env("RUST_LOG", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start the binary");
        let (mut next_at, mut response_at) = (None, None);
        while response_at.is_none() {
            match tokio::time::timeout(Duration::from_secs(10), seen.recv()).await {
                Ok(Some(RuntimeCall::Next(at))) if next_at.is_none() => next_at = Some(at),
                Ok(Some(RuntimeCall::Next(_))) => {}
                Ok(Some(RuntimeCall::Response(at))) => response_at = Some(at),
                _ => panic!(
                    "{} did not complete an invocation within 10 s",
                    binary.display()
                ),
            }
        }
        to_init.push(next_at.unwrap() - started);
        to_response.push(response_at.unwrap() - started);
        child.kill().await.ok();
        // Drain the `next` call the function makes after answering.
        tokio::time::sleep(Duration::from_millis(20)).await;
        while seen.try_recv().is_ok() {}
    }
    server.abort();
    println!(
        "init  {:<40} start→first /next: median {:>7.2} ms  p90 {:>7.2} ms | start→first response: median {:>7.2} ms  p90 {:>7.2} ms  ({runs} cold starts)",
        binary.file_name().unwrap().to_string_lossy(),
        millis(percentile(&mut to_init, 0.5)),
        millis(percentile(&mut to_init, 0.9)),
        millis(percentile(&mut to_response, 0.5)),
        millis(percentile(&mut to_response, 0.9)),
    );
    percentile(&mut to_init, 0.5)
}

/// An org `bench` with a secret key, in memory, with a rate limit high
/// enough never to throttle a timing run.
async fn memory_org_with_key() -> (
    Arc<MemoryStore>,
    chatlogger::domain::Org,
    chatlogger::domain::ApiKeySecret,
) {
    let store = Arc::new(MemoryStore::new());
    let org = accounts::create_org(
        store.as_ref(),
        Slug::parse("bench").unwrap(),
        OrgName::parse("Bench").unwrap(),
    )
    .await
    .unwrap();
    let (_, key) =
        accounts::create_api_key(store.as_ref(), &org, ApiKeyLabel::parse("bench").unwrap())
            .await
            .unwrap();
    let unthrottled = chatlogger::store::OrgChanges {
        limits: Some(chatlogger::domain::limits::OrgLimits {
            rate_limit: Some(chatlogger::domain::limits::RateLimit::new(
                10_000,
                Some(100_000),
            )),
            ..Default::default()
        }),
        ..Default::default()
    };
    chatlogger::store::OrgStore::update_org(store.as_ref(), org.id, &unthrottled)
        .await
        .unwrap();
    (store, org, key)
}

async fn ingest(requests: usize) {
    let (store, org, key) = memory_org_with_key().await;
    let app = chatlogger::http::app(router(IngestState::new(store.clone())));
    let send = |uri: String, body: String| {
        let request = Request::post(uri)
            .header("content-type", "application/json")
            .header("x-organization-api-key", key.expose())
            .body(Body::from(body))
            .unwrap();
        app.clone().oneshot(request)
    };
    let response = send(
        "/api/v1/orgs/bench/chats".into(),
        json!({"title": "bench"}).to_string(),
    )
    .await
    .unwrap();
    let chat: serde_json::Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let uri = format!(
        "/api/v1/orgs/bench/chats/{}/messages",
        chat["id"].as_str().unwrap()
    );
    let body = json!({
        "role": "assistant",
        "content": "A typical assistant reply of a few sentences. ".repeat(8),
        "metadata": {"model": "gpt-4o", "temperature": 0.2},
        "latency_ms": 850,
        "token_count": 120
    })
    .to_string();

    let mut latencies = Vec::with_capacity(requests);
    let all = Instant::now();
    for _ in 0..requests {
        let started = Instant::now();
        let response = send(uri.clone(), body.clone()).await.unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        response.into_body().collect().await.unwrap();
        latencies.push(started.elapsed());
    }
    let elapsed = all.elapsed();
    assert_eq!(store.messages_of(org.id).len(), requests);
    println!(
        "ingest  POST message, in-process, in-memory store: {requests} requests, {:.0} req/s, p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
        requests as f64 / elapsed.as_secs_f64(),
        millis(percentile(&mut latencies, 0.5)),
        millis(percentile(&mut latencies, 0.99)),
        millis(percentile(&mut latencies, 1.0)),
    );
}

/// Median wall time of `runs` calls of `f`.
async fn median_of<F, Fut>(runs: usize, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        f().await;
        samples.push(started.elapsed());
    }
    percentile(&mut samples, 0.5)
}

async fn credentials(logins: usize, keys: usize) {
    use chatlogger::{
        auth::login::verify_password,
        domain::{ApiKey, ApiKeyLabel, Org, OrgName, Password, Slug},
        http::ApiKeyVerifier,
        store::{ApiKeyStore, MemoryStore, OrgStore},
    };
    let password = Password::parse("correct horse battery staple").unwrap();
    let hash = password.hash();
    let right = median_of(logins, || async {
        assert!(verify_password(Some(hash.clone()), password.expose().to_owned()).await);
    })
    .await;
    let wrong = median_of(logins, || async {
        assert!(!verify_password(Some(hash.clone()), "wrong password!!".into()).await);
    })
    .await;
    let unknown = median_of(logins, || async {
        assert!(!verify_password(None, password.expose().to_owned()).await);
    })
    .await;
    println!(
        "login password check (argon2id m=19456 t=2 p=1, median of {logins}): right {:.2} ms, wrong {:.2} ms, unknown email (dummy hash) {:.2} ms",
        millis(right),
        millis(wrong),
        millis(unknown)
    );

    let store = Arc::new(MemoryStore::new());
    let org = Org::new(
        Slug::parse("bench").unwrap(),
        OrgName::parse("Bench").unwrap(),
    );
    store.create_org(&org).await.unwrap();
    let (key, secret) = ApiKey::generate(ApiKeyLabel::parse("bench").unwrap());
    store
        .create_api_key(&org, &key, &secret.hash())
        .await
        .unwrap();
    let verifier = ApiKeyVerifier::new(store);
    verifier
        .verify(Some(secret.expose()), "bench", None)
        .await
        .unwrap();
    let started = Instant::now();
    for _ in 0..keys {
        verifier
            .verify(Some(secret.expose()), "bench", None)
            .await
            .unwrap();
    }
    let per_key = started.elapsed() / keys as u32;
    println!(
        "API-key verification (SHA-256 + cached grant, mean of {keys}): {:.2} us",
        per_key.as_secs_f64() * 1e6
    );
    println!(
        "one login costs about {:.0}x one key verification in CPU; DynamoDB per login: BatchGetItem (throttle) + 2 GetItem (email, user) + PutItem (session) + GetItem (org); per key: 1 GetItem per {} s per container, and per container 1 GetItem of the change feed per {} s (every key's)",
        right.as_secs_f64() / per_key.as_secs_f64(),
        chatlogger::http::API_KEY_CACHE_TTL.as_secs(),
        chatlogger::lookups::FEED_REFRESH.as_secs()
    );
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples[index]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
