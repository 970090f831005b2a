//! The local stand-in for the aggregator's schedule: runs the same reader
//! (`chatlogger::analytics::Reader`) on moto's stream, with the template's
//! settings ([`ReaderConfig::DEFAULT`]), round after round. A run that
//! fails (moto restarted, a fault injected) is logged with its cause and a
//! new one starts from the last journal, as the next scheduled invocation
//! would on AWS. [`LocalAggregator::status`] reports how far behind it is.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use chatlogger::{
    analytics::{Reader, ReaderConfig, ReaderError, RoundReport, Start},
    aws::Aws,
    clock::{self, SharedClock},
    sdk_error::error_chain,
    store::{DynamoStore, DynamoStream, StoreError},
};
use serde::Serialize;
use time::OffsetDateTime;

/// Waits before a new run after a failed one.
const RESTART_DELAY: Duration = Duration::from_secs(2);

/// How the aggregator is doing: what the local stack's `/local/health` shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AggregatorStatus {
    pub runs: u64,
    pub rounds: u64,
    pub records: u64,
    pub org_commits: u64,
    /// Orgs with changes not committed yet, and the age of the oldest
    /// such change in seconds: how far the summaries are behind.
    pub pending_orgs: usize,
    pub seconds_behind: f64,
    /// The cause of the last failed run, if any.
    pub last_error: Option<String>,
}

pub struct LocalAggregator {
    store: Arc<DynamoStore>,
    stream: Arc<DynamoStream>,
    clock: SharedClock,
    config: ReaderConfig,
    status: Arc<Mutex<AggregatorStatus>>,
}

impl LocalAggregator {
    /// The aggregator of the store's table, reading its latest stream with
    /// `aws`'s clients.
    pub async fn open(aws: &Aws, store: Arc<DynamoStore>) -> Result<Self, StoreError> {
        let stream = DynamoStream::of_table_with(aws.sdk(), store.table()).await?;
        Ok(Self::new(store, stream))
    }

    pub fn new(store: Arc<DynamoStore>, stream: DynamoStream) -> Self {
        Self {
            store,
            stream: Arc::new(stream),
            clock: clock::system(),
            config: ReaderConfig::DEFAULT,
            status: Arc::default(),
        }
    }

    /// Other settings than the template's (tests use a shorter cadence).
    pub fn with_config(mut self, config: ReaderConfig) -> Self {
        self.config = config;
        self
    }

    pub fn status(&self) -> Arc<Mutex<AggregatorStatus>> {
        self.status.clone()
    }

    fn update(&self, change: impl FnOnce(&mut AggregatorStatus)) {
        change(&mut self.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    async fn start(&self, ends_at: OffsetDateTime) -> Result<Reader, ReaderError> {
        loop {
            match Reader::start(
                self.store.clone(),
                self.stream.clone(),
                self.clock.clone(),
                self.config,
                ends_at,
            )
            .await?
            {
                Start::Reading(reader) => {
                    self.update(|s| s.runs += 1);
                    return Ok(*reader);
                }
                // A reader of an earlier process left its lease: it lapses
                // within the lease's lifetime.
                Start::Held(lease) => {
                    tracing::info!(run = lease.run, expires_at = %lease.expires_at, "waiting for the aggregator's lease");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    fn record(&self, reader: &Reader, report: &RoundReport) {
        let now = self.clock.now();
        self.update(|s| {
            s.rounds += 1;
            s.records += report.records as u64;
            s.org_commits += report.commits.orgs as u64;
            s.pending_orgs = reader.pending_orgs();
            s.seconds_behind = reader
                .oldest_pending()
                .map_or(0.0, |at| (now - at).as_seconds_f64().max(0.0));
        });
    }

    /// Runs forever, as the schedule keeps a reader running on AWS.
    pub async fn run(self) {
        loop {
            let ends_at = self.clock.now() + time::Duration::days(365);
            let failure = match self.start(ends_at).await {
                Ok(mut reader) => loop {
                    let started = tokio::time::Instant::now();
                    match reader.round().await {
                        Ok(report) => self.record(&reader, &report),
                        Err(error) => {
                            reader.abandon().await;
                            break error;
                        }
                    }
                    tokio::time::sleep(self.config.round_every.saturating_sub(started.elapsed()))
                        .await;
                },
                Err(error) => error,
            };
            let cause = error_chain(&failure);
            tracing::warn!(error = %cause, "local aggregator run failed; starting a new one from the last journal");
            self.update(|s| s.last_error = Some(cause));
            tokio::time::sleep(RESTART_DELAY).await;
        }
    }

    /// Reads everything the stream has now and commits every org with
    /// changes, due or not, then ends the run (tests and benchmarks that do
    /// not wait for the cadence).
    pub async fn drain(&self) -> Result<RoundReport, ReaderError> {
        let mut reader = self
            .start(self.clock.now() + time::Duration::hours(1))
            .await?;
        let mut total = RoundReport::default();
        loop {
            let report = match reader.flush().await {
                Ok(report) => report,
                Err(error) => {
                    reader.abandon().await;
                    return Err(error);
                }
            };
            self.record(&reader, &report);
            total.records += report.records;
            total.unreadable += report.unreadable;
            total.commits.add(&report.commits);
            if report.records == 0 {
                break;
            }
        }
        reader.finish().await?;
        Ok(total)
    }
}
