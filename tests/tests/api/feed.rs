//! Feeding the aggregator in tests: stream records routed to synthetic
//! shards by their item's partition key (as DynamoDB does), and readers
//! run against the real store on a clock the test sets.

use std::{
    collections::hash_map::DefaultHasher,
    hash::{Hash, Hasher},
    sync::Arc,
};

use chatlogger::{
    analytics::{Reader, ReaderConfig, RoundReport, Start},
    aws_lambda_events::event::dynamodb::EventRecord,
    clock::{Clock, ManualClock},
    domain::analytics::Tracked,
    store::{
        AggregatorStore, DynamoStream, MemoryStream, ReadFrom, StreamRecord, StreamSource,
        stream_change,
    },
};
use time::OffsetDateTime;

/// The template's reader with a one-second cadence and quick rounds, for
/// tests that wait for the summaries in real time.
pub fn quick_config() -> ReaderConfig {
    use std::time::Duration;
    ReaderConfig {
        cadence: chatlogger::domain::analytics::Cadence {
            quiet_after: Duration::from_secs(1),
            active_after: Duration::from_secs(1),
            ..chatlogger::domain::analytics::Cadence::DEFAULT
        },
        round_every: Duration::from_millis(200),
        ..ReaderConfig::DEFAULT
    }
}

/// A synthetic stream of `shards` shards, a manual clock, and the store.
pub struct Feed {
    pub stream: Arc<MemoryStream>,
    pub shards: Vec<String>,
    pub clock: Arc<ManualClock>,
    pub store: Arc<dyn AggregatorStore>,
}

impl Feed {
    pub fn new(store: Arc<dyn AggregatorStore>, shards: usize) -> Self {
        let stream = Arc::new(MemoryStream::new());
        let shards: Vec<String> = (0..shards)
            .map(|n| format!("shardId-{n:020}-test"))
            .collect();
        for shard in &shards {
            stream.open(shard, None);
        }
        Self {
            stream,
            shards,
            clock: ManualClock::shared(OffsetDateTime::now_utc()),
            store,
        }
    }

    /// The shard DynamoDB would put a record's item on: by its partition
    /// key (a chat's messages share one; chats share their org's).
    pub fn shard_of(&self, record: &StreamRecord) -> &str {
        let mut hasher = DefaultHasher::new();
        match record.change.as_ref().ok().and_then(|c| c.as_ref()) {
            Some(change) => match change.new.as_ref().or(change.old.as_ref()) {
                Some(Tracked::Message(m)) => (m.org, m.chat).hash(&mut hasher),
                Some(Tracked::Chat(c)) => c.org.hash(&mut hasher),
                None => {}
            },
            None => record.sequence.as_str().hash(&mut hasher),
        }
        &self.shards[(hasher.finish() % self.shards.len() as u64) as usize]
    }

    /// Splits shard `index`: it closes, and its records go on to two
    /// children (DynamoDB splits a partition the same way).
    pub fn split(&mut self, index: usize) -> [String; 2] {
        let parent = self.shards[index].clone();
        self.stream.close(&parent);
        let children = ["a", "b"].map(|child| format!("{parent}-{child}"));
        for child in &children {
            self.stream.open(child, Some(&parent));
        }
        self.shards[index] = children[0].clone();
        self.shards.push(children[1].clone());
        children
    }

    pub fn push(&self, record: StreamRecord) {
        let shard = self.shard_of(&record).to_owned();
        self.stream.push(&shard, record);
    }

    /// A Lambda-format stream record, as the reader would read it.
    pub fn push_event(&self, record: &EventRecord) {
        self.push(StreamRecord {
            sequence: chatlogger::domain::analytics::Sequence::new(
                record.change.sequence_number.clone().unwrap(),
            ),
            at: self.clock.now(),
            change: stream_change(record).map_err(|e| e.to_string()),
        });
    }

    /// A new reader; an earlier one that did not finish leaves its lease,
    /// which lapses as the clock passes it.
    pub async fn reader(&self) -> Reader {
        for _ in 0..3 {
            match Reader::start(
                self.store.clone(),
                self.stream.clone(),
                self.clock.clone(),
                ReaderConfig::DEFAULT,
                self.clock.now() + time::Duration::hours(1),
            )
            .await
            .unwrap()
            {
                Start::Reading(reader) => return *reader,
                Start::Held(lease) => self.clock.set(lease.expires_at + time::Duration::SECOND),
            }
        }
        panic!("the lease stays held")
    }

    /// Reads everything, commits every org, and ends the run.
    pub async fn drain(&self) -> RoundReport {
        let mut reader = self.reader().await;
        let mut total = RoundReport::default();
        loop {
            let report = reader.flush().await.unwrap();
            total.commits.add(&report.commits);
            total.records += report.records;
            if report.records == 0 {
                break;
            }
        }
        reader.finish().await.unwrap();
        total
    }
}

/// Every record moto's stream holds now, shard after shard, oldest first.
pub async fn stream_records(stream: &DynamoStream) -> Vec<StreamRecord> {
    let mut records = Vec::new();
    for shard in stream.shards().await.unwrap() {
        let mut from = ReadFrom::Start;
        loop {
            let page = stream.read(&shard.id, &from).await.unwrap();
            if let Some(last) = page.records.last() {
                from = ReadFrom::After(last.sequence.clone());
            }
            let done = page.records.is_empty() || page.end_of_shard;
            records.extend(page.records);
            if done {
                break;
            }
        }
    }
    records
}
