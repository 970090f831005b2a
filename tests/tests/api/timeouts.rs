//! Every AWS call is bounded in time. Against an endpoint that accepts
//! connections and never answers, a request fails in bounded time with 503
//! `unavailable` (not 500, and not after Lambda's own timeout), and the
//! local stack's pollers log why, keep running, and catch up once the
//! endpoint answers again. Short timeouts keep these tests fast; the
//! production budgets are checked against `template.yaml`.

use std::{
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{body::Body, http::Request};
use chatlogger::{
    auth::JwtKeys,
    aws::{Aws, Budget, Timeouts},
    domain::{
        OrgId, SessionId, UserId, UserRole,
        analytics::{DayRange, Summary},
        export::ExportStatus,
    },
    export::{ExportReader, worker::ExportWorker},
    http::BrowserPolicy,
    store::{AnalyticsStore, DynamoStore, ExportJobStore},
};
use chatlogger_local::{aggregator::LocalAggregator, export_poller::ExportPoller};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream, tcp::OwnedReadHalf, tcp::OwnedWriteHalf},
};
use tower::ServiceExt;

use crate::{
    dashboard::SESSION_COOKIE,
    exports::{create_export, signed_in},
    helpers::{DASHBOARD_ORIGIN, TEST_JWT_SECRET, aws, export_resources, spawn_app},
};

/// A TCP endpoint that accepts connections and, while it hangs, never
/// answers; otherwise it relays to `upstream` (if any). What arrives while
/// it hangs is never passed on, so no late request reaches the upstream.
struct Blackhole {
    address: SocketAddr,
    hanging: Arc<AtomicBool>,
}

impl Blackhole {
    async fn start(upstream: Option<SocketAddr>, hanging: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let hanging = Arc::new(AtomicBool::new(hanging));
        let flag = hanging.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                tokio::spawn(connection(client, upstream, flag.clone()));
            }
        });
        Self { address, hanging }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn set_hanging(&self, hanging: bool) {
        self.hanging.store(hanging, Ordering::SeqCst);
    }
}

async fn connection(mut client: TcpStream, upstream: Option<SocketAddr>, hanging: Arc<AtomicBool>) {
    let server = match upstream {
        Some(upstream) => TcpStream::connect(upstream).await.ok(),
        None => None,
    };
    let Some(server) = server else {
        // Read whatever comes and never answer, until the client gives up.
        let mut buffer = [0; 4096];
        while matches!(client.read(&mut buffer).await, Ok(n) if n > 0) {}
        return;
    };
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    // Either direction ending (or hanging) ends the connection.
    tokio::select! {
        () = relay(client_read, server_write, &hanging) => {}
        () = relay(server_read, client_write, &hanging) => {}
    }
}

async fn relay(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, hanging: &AtomicBool) {
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if hanging.load(Ordering::SeqCst) {
            // Held unanswered until the client gives up, then dropped.
            while hanging.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            return;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// The local moto's address, from `AWS_ENDPOINT_URL`.
fn moto_address() -> SocketAddr {
    let url = std::env::var("AWS_ENDPOINT_URL").expect("make test sets AWS_ENDPOINT_URL");
    url.trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("AWS_ENDPOINT_URL is http://host:port")
}

/// Short timeouts for the tests: an operation of `operation`, in attempts of a quarter of it.
fn short_budget(operation: Duration) -> Budget {
    Budget {
        requests: Timeouts::within(operation),
        transfers: Timeouts::within(operation),
    }
}

/// An SDK configuration like the test moto's, but for `endpoint`.
async fn sdk_for(endpoint: &str, budget: Budget) -> aws_config::SdkConfig {
    let _ = aws().await; // asserts the moto environment is there
    let mut config = Aws::load_with(budget, None)
        .await
        .sdk()
        .to_builder()
        .endpoint_url(endpoint);
    // Set in code: clients then take it over AWS_ENDPOINT_URL.
    config.insert_origin("endpoint_url", aws_types::origin::Origin::shared_config());
    config.build()
}

/// Log lines written on this thread (the test's runtime runs every task on it).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let sink = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::WARN)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn find(&self, message: &str) -> Option<String> {
        self.lines().into_iter().find(|line| line.contains(message))
    }
}

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// One request through the merged routers; the status, the JSON body and
/// the `Retry-After` header, and how long it took.
async fn call(
    app: &axum::Router,
    request: Request<Body>,
) -> (u16, Value, Option<String>, Duration) {
    let started = Instant::now();
    let response = app.clone().oneshot(request).await.unwrap();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap(),
        retry_after,
        elapsed,
    )
}

#[tokio::test]
async fn a_database_that_never_answers_is_a_503_in_bounded_time() {
    let silent = Blackhole::start(None, true).await;
    let operation = Duration::from_millis(900);
    let sdk = sdk_for(&silent.url(), short_budget(operation)).await;
    let store = Arc::new(DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "never-answered",
    ));
    let exports = chatlogger_local::LocalExports {
        queue: Arc::new(chatlogger::adapters::SqsExportQueue::new(
            aws_sdk_sqs::Client::new(&sdk),
            "never-answered",
        )),
        bucket: chatlogger::adapters::ExportBucket::new(
            aws_sdk_s3::Client::new(&sdk),
            "never-answered",
        ),
    };
    let keys = JwtKeys::new(TEST_JWT_SECRET).unwrap();
    let session = keys.issue(OrgId::new(), UserId::new(), SessionId::new());
    let app = chatlogger_local::app(
        store,
        keys,
        BrowserPolicy::new(DASHBOARD_ORIGIN).unwrap(),
        exports,
    );
    let logs = Logs::default();
    let _capture = logs.capture();

    // A plugin's message (its key lookup hangs) and a dashboard page (its
    // session check hangs), at once.
    let ingest = Request::post("/api/v1/orgs/acme/chats")
        .header("content-type", "application/json")
        .header("x-organization-api-key", format!("clk_{}", "A".repeat(43)))
        .body(Body::from(json!({"title": "hello"}).to_string()))
        .unwrap();
    let dashboard = Request::get("/chats")
        .header("cookie", format!("{SESSION_COOKIE}={session}"))
        .body(Body::empty())
        .unwrap();
    let (ingest, dashboard) = tokio::join!(call(&app, ingest), call(&app, dashboard));
    for (route, (status, body, retry_after, elapsed)) in
        [("ingest", ingest), ("dashboard", dashboard)]
    {
        assert_eq!(status, 503, "{route}: {body}");
        assert_eq!(body["error"]["code"], "unavailable", "{route}");
        assert_eq!(retry_after.as_deref(), Some("1"), "{route}");
        // It waited for the database (at least one attempt timed out), and
        // gave up within about the operation timeout, well within a 10 s
        // Lambda. (The SDK's third attempt may time out just before the
        // operation timeout when its retry backoffs are short.)
        assert!(
            elapsed >= operation / 4 && elapsed < operation * 3,
            "{route} took {elapsed:?}"
        );
    }
    // The log says why, the client's answer does not.
    let logged = logs
        .find("request failed for now")
        .expect("the 503 is logged with its cause");
    assert!(logged.contains("the call timed out"), "{logged}");
}

/// Polls `check` every 100 ms until it holds or `limit` passes.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !check().await {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn the_pollers_log_a_hung_endpoint_keep_running_and_catch_up() {
    let app = spawn_app().await;
    let clean = aws().await;
    let relay = Blackhole::start(Some(moto_address()), false).await;
    let sdk = sdk_for(&relay.url(), short_budget(Duration::from_secs(2))).await;

    // The aggregator reads the stream, and the export poller the queue,
    // through the relay; it answers while they start.
    let stream = chatlogger::store::DynamoStream::of_table_with(&sdk, &app.table)
        .await
        .unwrap();
    let aggregator =
        LocalAggregator::new(app.store.clone(), stream).with_config(crate::feed::quick_config());
    let (queue_url, exports) = export_resources(&clean, &app.table).await;
    let worker = ExportWorker::new(
        app.store.clone(),
        ExportReader::new(app.store.clone()),
        exports.bucket,
        exports.queue,
        chatlogger_local::EXPORT_MAX_RECEIVE_COUNT,
    );
    let queue = ExportPoller::new(
        aws_sdk_sqs::Client::new(&sdk),
        queue_url,
        worker,
        Duration::from_secs(1),
    );
    relay.set_hanging(true);
    let logs = Logs::default();
    let _capture = logs.capture();
    tokio::spawn(aggregator.run());
    tokio::spawn(queue.run());

    // Work for both: a message to count and an export to run.
    let chat = app.create_chat(&app.acme, &json!({})).await;
    let chat_id = chat.body["id"].as_str().unwrap();
    let body = json!({"role": "user", "content": "while it hangs"});
    assert_eq!(
        app.create_message(&app.acme, chat_id, &body).await.status,
        201
    );
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let job = create_export(&app, &admin, json!({"format": "csv"})).await;
    let job = chatlogger::domain::ExportId::parse(job["id"].as_str().unwrap()).unwrap();

    // While the endpoint hangs, each poller logs why it failed and goes on.
    eventually(
        Duration::from_secs(20),
        "both pollers log the timeout",
        || {
            let logs = logs.clone();
            async move {
                ["aggregator run failed", "export queue poll failed"]
                    .iter()
                    .all(|message| logs.find(message).is_some())
            }
        },
    )
    .await;
    for message in ["aggregator run failed", "export queue poll failed"] {
        let line = logs.find(message).unwrap();
        assert!(line.contains("timed out"), "{line}");
    }
    let org = app.acme.org.id;
    let today = time::OffsetDateTime::now_utc().date();
    let range = DayRange::parse(None, None, today).unwrap();
    let messages_counted = |store: Arc<DynamoStore>| async move {
        let aggregates = store.aggregates(org, range).await.unwrap();
        Summary::build(org, range, aggregates).totals.messages
    };
    assert_eq!(messages_counted(app.store.clone()).await, 0);
    let status = |store: Arc<DynamoStore>| async move {
        store.export_job(org, job).await.unwrap().unwrap().status
    };
    assert_eq!(status(app.store.clone()).await, ExportStatus::Queued);

    // Once it answers again, both catch up.
    relay.set_hanging(false);
    eventually(Duration::from_secs(30), "the pollers catch up", || {
        let store = app.store.clone();
        async move {
            messages_counted(store.clone()).await == 1
                && status(store).await == ExportStatus::Completed
        }
    })
    .await;
}
