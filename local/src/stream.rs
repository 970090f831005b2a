//! The local stand-in for Lambda's DynamoDB event source mapping: reads the
//! table's stream on moto and invokes the aggregator's handler with the same
//! `TimeWindowEvent`s Lambda sends, with the template's settings
//! ([`Mapping::TEMPLATE`]): tumbling windows aligned to the clock, batches of
//! at most `batch_size` records, the window's state carried from one
//! invocation to the next, a final invocation when the window has ended,
//! and failed invocations retried as they were, `max_retries` times, then
//! dropped like Lambda's on-failure destination would — every retry and
//! drop logged with its cause. [`StreamPoller::status`] reports how far
//! behind it is.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Duration,
};

use aws_config::SdkConfig;
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use chatlogger::{
    analytics::{handle_window, window_event},
    aws_lambda_events::event::dynamodb::{EventRecord, StreamRecord},
    sdk_error::error_chain,
    store::AggregatorStore,
};
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

pub type PollError = Box<dyn std::error::Error + Send + Sync>;

/// The event source mapping's settings, as template.yaml has them
/// (`tests/tests/api/routes.rs` keeps the two in agreement).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub window: Duration,
    pub batch_size: usize,
    /// How long records may wait to fill a batch.
    pub batching_window: Duration,
    pub max_retries: u32,
}

impl Mapping {
    pub const TEMPLATE: Mapping = Mapping {
        window: Duration::from_secs(15),
        batch_size: 100,
        batching_window: Duration::from_secs(1),
        max_retries: 10,
    };
}

const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// First wait before retrying a failed invocation; doubles up to 5 s.
const RETRY_DELAY: Duration = Duration::from_millis(100);

/// How the poller is doing: what the local stack's `/local/health` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PollerStatus {
    /// Records read from the stream but not yet handed to the aggregator.
    pub records_behind: usize,
    /// Age of the oldest of those, in seconds.
    pub seconds_behind: f64,
    pub invocations: u64,
    pub windows_closed: u64,
    pub retries: u64,
    /// Invocations given up after `max_retries` (their records are not counted).
    pub dropped_invocations: u64,
    /// The cause of the last failure, if any.
    pub last_error: Option<String>,
}

/// One shard: where its reader stands and its open window.
struct Shard {
    id: String,
    iterator: Option<String>,
    /// Read, not yet delivered, in order, with their window.
    pending: VecDeque<(DateTime<Utc>, EventRecord)>,
    window: Option<OpenWindow>,
}

struct OpenWindow {
    start: DateTime<Utc>,
    state: HashMap<String, String>,
}

/// A stream reader positioned at the start of the table's stream.
pub struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    mapping: Mapping,
    shards: BTreeMap<String, Shard>,
    status: Arc<Mutex<PollerStatus>>,
}

impl StreamPoller {
    /// Opens every shard of `table`'s latest stream at its oldest record.
    pub async fn open(sdk: &SdkConfig, table: &str) -> Result<Self, PollError> {
        let stream_arn = aws_sdk_dynamodb::Client::new(sdk)
            .describe_table()
            .table_name(table)
            .send()
            .await?
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or("the table has no stream")?;
        let client = aws_sdk_dynamodbstreams::Client::new(sdk);
        let mut poller = Self {
            client,
            stream_arn,
            mapping: Mapping::TEMPLATE,
            shards: BTreeMap::new(),
            status: Arc::default(),
        };
        poller.discover_shards().await?;
        Ok(poller)
    }

    /// Other settings than the template's (tests use short windows).
    pub fn with_mapping(mut self, mapping: Mapping) -> Self {
        self.mapping = mapping;
        self
    }

    /// A handle on the poller's status, for the local stack's health output.
    pub fn status(&self) -> Arc<Mutex<PollerStatus>> {
        self.status.clone()
    }

    /// Starts reading any shard not followed yet (a shard split adds some).
    async fn discover_shards(&mut self) -> Result<(), PollError> {
        let shards = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await?
            .stream_description
            .map(|d| d.shards.unwrap_or_default())
            .unwrap_or_default();
        for shard in shards {
            let Some(id) = shard.shard_id else { continue };
            if self.shards.contains_key(&id) {
                continue;
            }
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator;
            let reader = Shard {
                id: id.clone(),
                iterator,
                pending: VecDeque::new(),
                window: None,
            };
            self.shards.insert(id, reader);
        }
        Ok(())
    }

    /// Reads whatever the stream has now, for every shard.
    async fn fetch(&mut self) -> Result<(), PollError> {
        self.discover_shards().await?;
        for shard in self.shards.values_mut() {
            // The iterator is replaced only once its records are read: after
            // a failed read, the next poll reads from the same place.
            while let Some(current) = shard.iterator.clone() {
                let output = self
                    .client
                    .get_records()
                    .shard_iterator(current)
                    .limit(1000)
                    .send()
                    .await?;
                shard.iterator = output.next_shard_iterator;
                let records = output.records.unwrap_or_default();
                if records.is_empty() {
                    break;
                }
                for record in records {
                    let (at, event) = event_record(record, &self.stream_arn);
                    shard.pending.push_back((at, event));
                }
            }
        }
        self.report_lag();
        Ok(())
    }

    fn report_lag(&self) {
        let oldest = self
            .shards
            .values()
            .filter_map(|s| s.pending.front().map(|(at, _)| *at))
            .min();
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.records_behind = self.shards.values().map(|s| s.pending.len()).sum();
        status.seconds_behind = oldest.map_or(0.0, |at| {
            (Utc::now() - at).num_milliseconds().max(0) as f64 / 1000.0
        });
    }

    /// Delivers everything read, closing windows whose time has passed;
    /// with `close_all`, every open window is closed too (tests and the
    /// benchmark, which do not wait for the clock).
    async fn deliver(&mut self, store: &dyn AggregatorStore, close_all: bool) {
        let mapping = self.mapping;
        let status = self.status.clone();
        let shard_ids: Vec<String> = self.shards.keys().cloned().collect();
        for id in shard_ids {
            let shard = self.shards.get_mut(&id).expect("listed above");
            while let Some((at, _)) = shard.pending.front() {
                let mut start = window_start(*at, mapping.window);
                match &shard.window {
                    // A record stamped before the open window (clocks are
                    // approximate) belongs to it.
                    Some(open) if open.start > start => start = open.start,
                    // A record of a later window: the open one is over.
                    Some(open) if open.start < start => {
                        close_window(shard, store, mapping, &status).await;
                        continue;
                    }
                    Some(_) => {}
                    None => {
                        shard.window = Some(OpenWindow {
                            start,
                            state: HashMap::new(),
                        });
                    }
                }
                let batch: Vec<EventRecord> = take_batch(shard, start, mapping);
                invoke(shard, store, mapping, &status, batch, false).await;
            }
            let expired = shard.window.as_ref().is_some_and(|open| {
                open.start + to_delta(mapping.window) + to_delta(mapping.batching_window)
                    <= Utc::now()
            });
            if close_all || expired {
                close_window(shard, store, mapping, &status).await;
            }
        }
        self.report_lag();
    }

    /// Every record the stream has now, in order, taken out of the poller
    /// (for tests that deliver windows themselves).
    pub async fn read_all(&mut self) -> Result<Vec<EventRecord>, PollError> {
        self.fetch().await?;
        let records = self
            .shards
            .values_mut()
            .flat_map(|shard| shard.pending.drain(..).map(|(_, record)| record))
            .collect();
        Ok(records)
    }

    /// Reads and aggregates until the stream has nothing more, closing every
    /// window: one pass.
    pub async fn drain(&mut self, store: &dyn AggregatorStore) -> Result<(), PollError> {
        self.fetch().await?;
        self.deliver(store, true).await;
        Ok(())
    }

    /// Polls forever, as Lambda's event source mapping would. A failed read
    /// is logged with its cause and tried again at the next poll.
    pub async fn run(mut self, store: &dyn AggregatorStore) {
        loop {
            if let Err(error) = self.fetch().await {
                let cause = error_chain(error.as_ref());
                tracing::warn!(error = %cause, "stream poll failed; retrying");
                self.status
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .last_error = Some(cause);
            }
            self.deliver(store, false).await;
            let status = self
                .status
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if status.seconds_behind > 30.0 {
                tracing::warn!(
                    records_behind = status.records_behind,
                    seconds_behind = status.seconds_behind,
                    "the stream poller is behind"
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// The pending records of the window starting at `start`, up to a batch.
fn take_batch(shard: &mut Shard, start: DateTime<Utc>, mapping: Mapping) -> Vec<EventRecord> {
    let mut batch = Vec::new();
    while batch.len() < mapping.batch_size {
        match shard.pending.front() {
            Some((at, _)) if window_start(*at, mapping.window) <= start => {
                batch.push(shard.pending.pop_front().expect("just seen").1);
            }
            _ => break,
        }
    }
    batch
}

/// The final invocation of the shard's open window.
async fn close_window(
    shard: &mut Shard,
    store: &dyn AggregatorStore,
    mapping: Mapping,
    status: &Mutex<PollerStatus>,
) {
    if shard.window.is_none() {
        return;
    }
    invoke(shard, store, mapping, status, Vec::new(), true).await;
    shard.window = None;
    status
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .windows_closed += 1;
}

/// One invocation, retried as it was while it reports a failure.
async fn invoke(
    shard: &mut Shard,
    store: &dyn AggregatorStore,
    mapping: Mapping,
    status: &Mutex<PollerStatus>,
    records: Vec<EventRecord>,
    is_final: bool,
) {
    let open = shard.window.as_mut().expect("an open window");
    let mut event = window_event(&shard.id, HashMap::new(), records, is_final);
    event.time_window_properties.window.start = open.start;
    event.time_window_properties.window.end = open.start + to_delta(mapping.window);
    let mut delay = RETRY_DELAY;
    for attempt in 0..=mapping.max_retries {
        event.time_window_properties.state = open.state.clone();
        let response = handle_window(store, &event).await;
        status.lock().unwrap_or_else(|p| p.into_inner()).invocations += 1;
        if response.batch_item_failures.is_empty() {
            open.state = response.time_window_event_response_properties.state;
            return;
        }
        let cause = format!(
            "the aggregator reported record {:?} failed (attempt {} of {}); see its log line above",
            response.batch_item_failures[0].item_identifier,
            attempt + 1,
            mapping.max_retries + 1
        );
        tracing::warn!(shard = %shard.id, error = %cause, "window invocation failed; retrying it as it was");
        {
            let mut status = status.lock().unwrap_or_else(|p| p.into_inner());
            status.retries += 1;
            status.last_error = Some(cause);
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
    tracing::error!(
        shard = %shard.id,
        records = event.dynamo_db_event.records.len(),
        "window invocation dropped after its retries, as Lambda's on-failure destination would take it"
    );
    status
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .dropped_invocations += 1;
}

/// The start of the tumbling window holding `at`: windows are aligned to
/// the clock, as Lambda's are.
fn window_start(at: DateTime<Utc>, window: Duration) -> DateTime<Utc> {
    let length = window.as_millis().max(1) as i64;
    let millis = at.timestamp_millis();
    DateTime::from_timestamp_millis(millis - millis.rem_euclid(length)).unwrap_or(at)
}

fn to_delta(duration: Duration) -> TimeDelta {
    TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX)
}

/// An SDK stream record as Lambda delivers it, and when it was written.
fn event_record(record: Record, stream_arn: &str) -> (DateTime<Utc>, EventRecord) {
    let mut event = EventRecord::default();
    event.event_id = record.event_id.unwrap_or_default();
    event.event_name = record
        .event_name
        .map(|name| name.as_str().to_owned())
        .unwrap_or_default();
    event.event_source = record.event_source;
    event.event_version = record.event_version;
    event.aws_region = record.aws_region.unwrap_or_default();
    event.event_source_arn = Some(stream_arn.to_owned());
    let mut change = StreamRecord::default();
    let mut at = Utc::now();
    if let Some(dynamodb) = record.dynamodb {
        if let Some(created) = dynamodb.approximate_creation_date_time {
            at = DateTime::from_timestamp_millis(created.to_millis().unwrap_or_default())
                .unwrap_or(at);
        }
        change.approximate_creation_date_time = at;
        change.sequence_number = dynamodb.sequence_number;
        change.size_bytes = dynamodb.size_bytes.unwrap_or_default();
        change.keys = dynamodb.keys.unwrap_or_default().into();
        change.new_image = dynamodb.new_image.unwrap_or_default().into();
        change.old_image = dynamodb.old_image.unwrap_or_default().into();
    }
    event.change = change;
    (at, event)
}
