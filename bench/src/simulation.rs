//! One profile in one mode, in simulated time: the real ingest routers
//! (5 warm containers for single requests, 2 for batches, each with its own
//! caches, all on one manual clock) and three real aggregator readers (1,
//! 4 and 32 shards) against the production `DynamoStore` on moto, every
//! DynamoDB request metered.
//!
//! The timeline, from `T0`:
//! - before `T0`, unbilled: the orgs and their keys, the chats that began
//!   before the traffic, and an hour in which each container saw each org
//!   once, at a random time (so `last_used_at` stamps come due as they do
//!   in a steady state, not all in the first minutes);
//! - `T0` to `T0 + warm-up`, unbilled: traffic, until the 5-minute caches
//!   and the readers are in their steady state;
//! - the window, billed;
//! - then, unbilled: the readers flush, and every reader's summary of a
//!   sample of orgs must count exactly the messages and chats ingest
//!   acknowledged.
//!
//! Every 3 simulated seconds (the reader's round), moto's stream is moved
//! into the synthetic streams and each reader runs one round; every 900 s
//! of simulated time each reader hands over to a new one, and a window
//! shorter than that holds one hand-over.

use std::{sync::Arc, time::Instant};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use chatlogger::{
    accounts,
    analytics::ReaderConfig,
    clock::{Clock, ManualClock, SharedClock},
    domain::{
        ApiKeyLabel, Chat, ChatId, EndUserId, Metadata, OrgId, OrgName, Slug, Tag, Tags,
        analytics::{DayRange, Summary},
    },
    ingest::BATCH_PARALLELISM,
    store::{AnalyticsStore, ChatStore, DynamoStore, DynamoStream},
};
use chatlogger_ingest::IngestState;
use futures::{StreamExt, future::join_all, stream};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime};
use tower::ServiceExt;

use crate::{
    logs::LogBytes,
    meter::{Bill, Calls, ItemKind, Meter, NewItems, Payer, Sizes},
    readers::{Pump, ReaderStore, ReaderTally, ShardedReader},
    traffic::{ChatSpec, Mode, Profile, Request as PluginRequest, Traffic},
};

/// The shard counts every simulation runs side by side.
pub const SHARD_COUNTS: [usize; 3] = [1, 4, 32];
/// How long a production aggregator run reads before it hands over
/// (its 15-minute Lambda timeout).
pub const HANDOVER_EVERY: Duration = Duration::seconds(900);
/// Orgs whose summaries are checked against what ingest acknowledged.
const SAMPLE_ORGS: usize = 50;
/// Each container sees each org's key once in the hour before the traffic.
const KEY_HISTORY: Duration = Duration::hours(1);
/// API Gateway's request ids are 16 characters: the log line carries one.
const REQUEST_ID: &str = "JcE3-hEJoAMEVyA=";

/// The simulation's start: inside one UTC day, whatever the run's length.
pub fn t0() -> OffsetDateTime {
    time::macros::datetime!(2026-11-22 10:00 UTC)
}

#[derive(Debug, Clone, Copy)]
pub struct SimArgs {
    pub profile: Profile,
    pub mode: Mode,
    pub warmup: Duration,
    pub window: Duration,
    pub seed: u64,
}

/// What the ingest containers did while the bill was on.
#[derive(Debug, Clone, Default)]
pub struct IngestTally {
    /// HTTP requests: API Gateway's and Lambda's requests.
    pub requests: u64,
    /// Messages and chats acknowledged (201).
    pub messages: u64,
    pub chats: u64,
    /// Each request's handler CPU time (in process, this machine), summed.
    pub cpu_ms: f64,
    /// DynamoDB round trips each request waited for, one after another, summed.
    pub round_trips: u64,
    /// Each request's log bytes, summed.
    pub log_bytes: u64,
    /// The per-request pairs (CPU ms, round trips) for Lambda's duration.
    pub durations: Vec<(f64, u64)>,
}

/// A simulation's outcome.
pub struct RunResult {
    pub args: SimArgs,
    pub ingest: IngestTally,
    pub ingest_bill: Bill,
    /// Per shard count: the reader's bill, `GetRecords` calls and tally.
    pub readers: Vec<(usize, Bill, u64, ReaderTally)>,
    /// Bytes stored per message (messages, chats, their index entries,
    /// aggregates), DynamoDB's 100 bytes of overhead per item included.
    pub stored_bytes_per_message: f64,
    pub checked_orgs: usize,
    pub wall: std::time::Duration,
}

struct OrgSetup {
    id: OrgId,
    slug: String,
    key: String,
}

/// Per org: messages and chats acknowledged since `T0`.
#[derive(Debug, Clone, Copy, Default)]
struct Acknowledged {
    messages: u64,
    chats: u64,
}

/// The thread's CPU time so far (Linux), in milliseconds: a request's
/// handler time, measured in process while moto runs elsewhere.
fn thread_cpu_ms() -> f64 {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let nanos: f64 = text
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("/proc/thread-self/schedstat gives the thread's CPU time");
    nanos / 1e6
}

async fn send(app: &Router, uri: &str, key: &str, body: &Value) -> (StatusCode, Value) {
    let request = Request::post(uri)
        .header("content-type", "application/json")
        .header("x-organization-api-key", key)
        .header("x-request-id", REQUEST_ID)
        .body(Body::from(body.to_string()))
        .expect("a request");
    let response = app.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

struct Simulation {
    args: SimArgs,
    sdk: aws_config::SdkConfig,
    plain: aws_sdk_dynamodb::Client,
    clock: Arc<ManualClock>,
    logs: LogBytes,
    rng: fastrand::Rng,
    orgs: Vec<OrgSetup>,
    acknowledged: Vec<Acknowledged>,
    containers: Vec<Router>,
    ingest_meter: Meter,
    pump: Pump,
    readers: Vec<ShardedReader>,
    tables: Vec<String>,
    ingest_table: String,
    billing: bool,
    tally: IngestTally,
    next_handover: OffsetDateTime,
    started: Instant,
}

/// Runs one profile in one mode: see the module's doc.
pub async fn run(sdk: &aws_config::SdkConfig, args: SimArgs, logs: &LogBytes) -> RunResult {
    let started = Instant::now();
    let sdk = sdk.clone();
    let plain = aws_sdk_dynamodb::Client::new(&sdk);
    let sizes = Arc::new(Sizes::default());
    let setup_meter = Meter::new(Payer::Nobody, sizes.clone());
    let ingest_meter = Meter::new(Payer::Ingest, sizes.clone());
    let name = |what: &str| {
        format!(
            "cost-{}-{}-{what}-{}",
            args.profile.name,
            args.mode.name(),
            ulid::Ulid::new().to_string().to_lowercase()
        )
    };
    let ingest_table = name("ingest");
    chatlogger_local::provision::create_table(&plain, &ingest_table)
        .await
        .expect("create the ingest table");
    let clock = ManualClock::shared(t0() - KEY_HISTORY - Duration::minutes(1));
    let shared_clock: SharedClock = clock.clone();
    let setup = Arc::new(
        DynamoStore::new(setup_meter.client(&sdk), ingest_table.clone())
            .with_clock(shared_clock.clone()),
    );
    let mut rng = fastrand::Rng::with_seed(args.seed);

    let end = t0() + args.warmup + args.window;
    let traffic = Traffic::new(args.profile, args.mode, rng.u64(..), t0(), end);
    eprintln!(
        "  {} {}: setting up {} orgs, {} chats begun before the traffic",
        args.profile.name,
        args.mode.name(),
        args.profile.orgs,
        traffic.history_chats.len()
    );
    let orgs = create_orgs(&setup, args.profile).await;
    create_history_chats(&setup, &orgs, &traffic.history_chats).await;

    let store = Arc::new(
        DynamoStore::new(ingest_meter.client(&sdk), ingest_table.clone())
            .with_clock(shared_clock.clone()),
    );
    let containers: Vec<Router> = (0..args.mode.containers())
        .map(|_| {
            chatlogger::http::app(chatlogger_ingest::router(IngestState::with_clock(
                store.clone(),
                shared_clock.clone(),
            )))
        })
        .collect();

    let mut simulation = Simulation {
        args,
        sdk: sdk.clone(),
        plain: plain.clone(),
        clock: clock.clone(),
        logs: logs.clone(),
        rng,
        acknowledged: vec![Acknowledged::default(); orgs.len()],
        orgs,
        containers,
        ingest_meter,
        pump: Pump::after_now(
            DynamoStream::of_table_with(&sdk, &ingest_table)
                .await
                .expect("the ingest table's stream"),
        )
        .await,
        readers: Vec::new(),
        tables: vec![ingest_table.clone()],
        ingest_table: ingest_table.clone(),
        billing: false,
        tally: IngestTally::default(),
        next_handover: first_handover(&args),
        started,
    };
    simulation.key_history().await;
    // The stream from here on is the readers' input.
    simulation.pump.take(clock.now()).await;
    clock.set(t0());
    for shards in SHARD_COUNTS {
        let (reader, table) = simulation.start_reader(shards, &sizes, &name).await;
        simulation.readers.push(reader);
        simulation.tables.push(table);
    }

    eprintln!(
        "  {} {}: {} requests over {} s simulated ({} s warm-up)",
        args.profile.name,
        args.mode.name(),
        traffic.requests.len(),
        (args.warmup + args.window).whole_seconds(),
        args.warmup.whole_seconds()
    );
    let round_every = Duration::try_from(ReaderConfig::DEFAULT.round_every).expect("seconds");
    let mut next_round = t0() + round_every;
    for timed in traffic.requests {
        while next_round <= timed.at && next_round <= end {
            simulation.tick(next_round).await;
            next_round += round_every;
        }
        if timed.at >= end {
            break;
        }
        simulation.enter(timed.at);
        simulation.clock.set(timed.at);
        simulation.send(timed.request).await;
    }
    while next_round <= end {
        simulation.tick(next_round).await;
        next_round += round_every;
    }
    simulation.enter(end);
    let checked_orgs = simulation.check_exactness().await;

    let ingest_bill = simulation.ingest_meter.bill();
    let stored_bytes_per_message = simulation.stored_bytes_per_message(&ingest_bill, &sizes);
    let readers = simulation
        .readers
        .iter()
        .map(|r| (r.shards, r.meter.bill(), r.get_records, r.tally.clone()))
        .collect();
    for table in &simulation.tables {
        // moto keeps everything in memory: the next simulation needs it.
        let _ = plain.delete_table().table_name(table).send().await;
    }
    if simulation.pump.unmatched > 0 {
        eprintln!(
            "  note: {} stream records of chats or messages had no write time (given the round's)",
            simulation.pump.unmatched
        );
    }
    RunResult {
        args,
        ingest: simulation.tally,
        ingest_bill,
        readers,
        stored_bytes_per_message,
        checked_orgs,
        wall: started.elapsed(),
    }
}

/// Hand-overs come every 900 s; the first falls in the middle of the
/// window, so a window shorter than 900 s holds one.
fn first_handover(args: &SimArgs) -> OffsetDateTime {
    let mut at = t0() + args.warmup + args.window / 2;
    while at - HANDOVER_EVERY > t0() {
        at -= HANDOVER_EVERY;
    }
    at
}

async fn create_orgs(setup: &Arc<DynamoStore>, profile: Profile) -> Vec<OrgSetup> {
    stream::iter(0..profile.orgs)
        .map(|n| {
            let setup = setup.clone();
            async move {
                let slug = format!("{}-{n:04}", profile.name);
                let org = accounts::create_org(
                    setup.as_ref(),
                    Slug::parse(&slug).expect("a slug"),
                    OrgName::parse(&slug).expect("a name"),
                )
                .await
                .expect("create an org");
                let (_, key) = accounts::create_api_key(
                    setup.as_ref(),
                    &org,
                    ApiKeyLabel::parse("plugin").expect("a label"),
                )
                .await
                .expect("create a key");
                OrgSetup {
                    id: org.id,
                    slug,
                    key: key.expose().to_owned(),
                }
            }
        })
        .buffered(8)
        .collect()
        .await
}

fn chat_of(spec: &ChatSpec) -> Chat {
    Chat {
        id: ChatId::parse(&spec.id.to_string()).expect("a ULID"),
        title: None,
        tags: Tags::parse(
            spec.tags
                .iter()
                .map(|t| Tag::parse(t).expect("a tag"))
                .collect(),
        )
        .expect("two tags"),
        metadata: Metadata::default(),
        user_id: Some(EndUserId::parse(&spec.user).expect("an end-user id")),
        key_id: Some(chatlogger::domain::ApiKeyId::new()),
        created_at: spec.created_at,
    }
}

async fn create_history_chats(setup: &Arc<DynamoStore>, orgs: &[OrgSetup], chats: &[ChatSpec]) {
    stream::iter(chats)
        .for_each_concurrent(8, |spec| {
            let setup = setup.clone();
            let org = orgs[spec.org].id;
            async move {
                setup
                    .insert_chat(org, &chat_of(spec))
                    .await
                    .expect("create a chat begun before the traffic");
            }
        })
        .await;
}

impl Simulation {
    async fn start_reader(
        &self,
        shards: usize,
        sizes: &Arc<Sizes>,
        name: &impl Fn(&str) -> String,
    ) -> (ShardedReader, String) {
        let table = name(&format!("agg{shards}"));
        chatlogger_local::provision::create_table(&self.plain, &table)
            .await
            .expect("create an aggregates table");
        let meter = Meter::new(Payer::Reader, sizes.clone());
        let client = meter.client(&self.sdk);
        let store = Arc::new(ReaderStore {
            own: Arc::new(DynamoStore::new(client.clone(), table.clone())),
            ingest: Arc::new(DynamoStore::new(client, self.ingest_table.clone())),
        });
        let reader =
            ShardedReader::start(shards, store, meter, self.clock.clone(), self.next_handover)
                .await;
        (reader, table)
    }

    /// The hour before the traffic: each container sees each org's key
    /// once, at a random time, with a batch that logs nothing (its one item
    /// is refused): the key's grant is read and its `last_used_at` stamped
    /// as in a steady state.
    async fn key_history(&mut self) {
        let mut visits: Vec<(OffsetDateTime, usize, usize)> = Vec::new();
        for container in 0..self.containers.len() {
            for org in 0..self.orgs.len() {
                let offset = self.rng.i64(1..KEY_HISTORY.whole_milliseconds() as i64);
                visits.push((t0() - Duration::milliseconds(offset), container, org));
            }
        }
        visits.sort();
        let nothing = json!({"messages": [{"role": "user"}]});
        for (at, container, org) in visits {
            self.clock.set(at);
            let org = &self.orgs[org];
            let uri = format!("/api/v1/orgs/{}/batch", org.slug);
            let (status, answer) =
                send(&self.containers[container], &uri, &org.key, &nothing).await;
            assert_eq!(status, StatusCode::MULTI_STATUS, "{answer}");
        }
        self.ingest_meter.settle(&self.plain).await;
    }

    /// Switches the bill on at the window's start and off at its end.
    fn enter(&mut self, at: OffsetDateTime) {
        let window_start = t0() + self.args.warmup;
        let window_end = window_start + self.args.window;
        let billing = at >= window_start && at < window_end;
        if billing == self.billing {
            return;
        }
        self.billing = billing;
        if billing {
            self.ingest_meter.start();
            for reader in &mut self.readers {
                reader.bill_on(at);
            }
        } else {
            self.ingest_meter.stop();
            for reader in &mut self.readers {
                reader.bill_off();
            }
        }
    }

    async fn send(&mut self, request: PluginRequest) {
        let org_index = request.org();
        let container = self.rng.usize(0..self.containers.len());
        let now = self.clock.now();
        let (uri, body) = {
            let org = &self.orgs[org_index];
            match &request {
                PluginRequest::Chat(chat) => {
                    (format!("/api/v1/orgs/{}/chats", org.slug), chat.body())
                }
                PluginRequest::Message(message) => (
                    format!("/api/v1/orgs/{}/chats/{}/messages", org.slug, message.chat),
                    message.body(false),
                ),
                PluginRequest::Batch {
                    chats, messages, ..
                } => (
                    format!("/api/v1/orgs/{}/batch", org.slug),
                    json!({
                        "chats": chats.iter().map(ChatSpec::body).collect::<Vec<_>>(),
                        "messages": messages.iter().map(|m| m.body(true)).collect::<Vec<_>>(),
                    }),
                ),
            }
        };
        let key = self.orgs[org_index].key.clone();
        let calls_before = self.ingest_meter.calls();
        let logs_before = self.logs.bytes();
        let cpu_before = thread_cpu_ms();
        let (status, answer) = send(&self.containers[container], &uri, &key, &body).await;
        let cpu_ms = thread_cpu_ms() - cpu_before;
        let log_bytes = self.logs.bytes() - logs_before;
        let calls = self.ingest_meter.calls().since(calls_before);
        self.ingest_meter.settle(&self.plain).await;

        let (messages, chats) = match &request {
            PluginRequest::Chat(chat) => {
                assert_eq!(status, StatusCode::CREATED, "a chat: {answer}");
                self.pump.wrote(chat.id.to_string(), now);
                (0, 1)
            }
            PluginRequest::Message(message) => {
                assert_eq!(status, StatusCode::CREATED, "a message: {answer}");
                self.pump.wrote(message.id.to_string(), now);
                (1, 0)
            }
            PluginRequest::Batch {
                chats, messages, ..
            } => {
                assert_eq!(status, StatusCode::MULTI_STATUS, "a batch: {answer}");
                for (list, what) in [("chats", "chat"), ("messages", "message")] {
                    for item in answer[list].as_array().expect("a list of outcomes") {
                        assert_eq!(item["status"], 201, "a {what} of a batch: {item}");
                    }
                }
                for chat in chats {
                    self.pump.wrote(chat.id.to_string(), now);
                }
                for message in messages {
                    self.pump.wrote(message.id.to_string(), now);
                }
                (messages.len() as u64, chats.len() as u64)
            }
        };
        let acknowledged = &mut self.acknowledged[org_index];
        acknowledged.messages += messages;
        acknowledged.chats += chats;
        if self.billing {
            let round_trips = round_trips(calls);
            let tally = &mut self.tally;
            tally.requests += 1;
            tally.messages += messages;
            tally.chats += chats;
            tally.cpu_ms += cpu_ms;
            tally.round_trips += round_trips;
            tally.log_bytes += log_bytes;
            tally.durations.push((cpu_ms, round_trips));
        }
    }

    /// A reader round at `at`: the stream's new records into every
    /// synthetic stream, a hand-over when one is due, then a round of each
    /// reader side by side.
    async fn tick(&mut self, at: OffsetDateTime) {
        self.enter(at);
        self.clock.set(at);
        let simulated = (at - t0()).whole_seconds();
        if simulated % 60 == 0 {
            eprintln!(
                "    {} {}: {simulated} s of {} simulated ({:.0} s)",
                self.args.profile.name,
                self.args.mode.name(),
                (self.args.warmup + self.args.window).whole_seconds(),
                self.started.elapsed().as_secs_f64()
            );
        }
        let records = self.pump.take(at).await;
        for reader in &self.readers {
            reader.push(&records);
        }
        if at >= self.next_handover {
            let ends_at = self.next_handover + HANDOVER_EVERY;
            for reader in &mut self.readers {
                reader.hand_over(ends_at, self.billing, &self.logs).await;
            }
            self.next_handover = ends_at;
        }
        let billing = self.billing;
        let logs = self.logs.clone();
        join_all(self.readers.iter_mut().map(|r| r.round(billing, &logs))).await;
        for reader in &self.readers {
            reader.meter.settle(&self.plain).await;
        }
    }

    /// Flushes every reader, then checks that each one's summary of a
    /// sample of orgs counts what ingest acknowledged. Returns the orgs
    /// checked.
    async fn check_exactness(&mut self) -> usize {
        loop {
            let now = self.clock.now() + Duration::seconds(1);
            self.clock.set(now);
            let records = self.pump.take(now).await;
            for reader in &self.readers {
                reader.push(&records);
            }
            let mut read = records.len();
            for reader in &mut self.readers {
                read += reader.flush().await.records;
            }
            if read == 0 && self.readers.iter().all(|r| r.pending_orgs() == 0) {
                break;
            }
        }
        let day = t0().date();
        let range = DayRange { from: day, to: day };
        let step = (self.orgs.len() / SAMPLE_ORGS).max(1);
        let sample: Vec<usize> = (0..self.orgs.len()).step_by(step).collect();
        for &index in &sample {
            let org = &self.orgs[index];
            let expected = self.acknowledged[index];
            for reader in &self.readers {
                let aggregates = reader
                    .store
                    .own
                    .aggregates(org.id, range)
                    .await
                    .expect("read an org's aggregates");
                let summary = Summary::build(org.id, range, aggregates);
                assert_eq!(
                    (summary.totals.messages, summary.totals.chats),
                    (expected.messages, expected.chats),
                    "{} {} at {} shards: org {} counts (messages, chats) as acknowledged",
                    self.args.profile.name,
                    self.args.mode.name(),
                    reader.shards,
                    org.slug
                );
            }
        }
        sample.len()
    }

    /// Bytes stored per message: what the window wrote (messages, chats
    /// and their index entries) per message, and the aggregates, whose
    /// org-day items are shared by a day of the org's messages.
    fn stored_bytes_per_message(&self, bill: &Bill, sizes: &Sizes) -> f64 {
        const OVERHEAD: u64 = 100;
        let with_overhead = |items: NewItems| {
            (items.bytes
                + OVERHEAD * items.count
                + items.index_bytes
                + OVERHEAD * items.index_entries) as f64
        };
        let new = |kind| bill.new_items.get(&kind).copied().unwrap_or_default();
        let messages = new(ItemKind::Message);
        if messages.count == 0 {
            return 0.0;
        }
        let written =
            (with_overhead(messages) + with_overhead(new(ItemKind::Chat))) / messages.count as f64;
        // One production aggregator: the 4-shard reader's table, whose
        // org-days each gather a whole day of their org's messages.
        let aggregates = self
            .readers
            .iter()
            .find(|r| r.shards == 4)
            .map(|r| sizes.stored(r.store.own.table(), ItemKind::Aggregate))
            .unwrap_or_default();
        let org_day_messages = self.args.profile.rate * 86_400.0 * self.args.profile.orgs as f64;
        written + with_overhead(aggregates) / org_day_messages
    }
}

/// The DynamoDB round trips one request waits for, one after another:
/// lookups and reports one by one; a batch's chat puts, chat reads and
/// message puts each in waves of [`BATCH_PARALLELISM`].
fn round_trips(calls: Calls) -> u64 {
    let waves = |n: u64| n.div_ceil(BATCH_PARALLELISM as u64);
    calls.other + waves(calls.chat_puts) + waves(calls.chat_reads) + waves(calls.message_puts)
}
