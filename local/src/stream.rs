//! The local stand-in for Lambda's DynamoDB event source mapping: reads
//! the table's stream on moto and hands each batch, as the same
//! `aws_lambda_events` event type, to the aggregator's handler. Like
//! Lambda, it retries a batch from the record the handler reports failed.

use std::{collections::VecDeque, time::Duration};

use aws_config::SdkConfig;
use aws_lambda_events::event::dynamodb::{EventRecord, StreamRecord};
use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use chatlogger::{analytics::handle_stream_batch, store::AggregatorStore};

/// Records per handler call, as the template's `BatchSize`.
pub const BATCH_SIZE: i32 = 100;
const POLL_INTERVAL: Duration = Duration::from_millis(200);

/// A stream reader positioned at the start of the table's stream.
pub struct StreamPoller {
    client: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    /// Open shard iterators by shard id (moto has one shard).
    iterators: Vec<(String, Option<String>)>,
    /// Records read but not yet handled successfully.
    pending: VecDeque<EventRecord>,
}

pub type PollError = Box<dyn std::error::Error + Send + Sync>;

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
        let shards = client
            .describe_stream()
            .stream_arn(&stream_arn)
            .send()
            .await?
            .stream_description
            .map(|d| d.shards.unwrap_or_default())
            .unwrap_or_default();
        let mut iterators = Vec::new();
        for shard in shards {
            let Some(shard_id) = shard.shard_id else {
                continue;
            };
            let iterator = client
                .get_shard_iterator()
                .stream_arn(&stream_arn)
                .shard_id(&shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator;
            iterators.push((shard_id, iterator));
        }
        Ok(Self {
            client,
            stream_arn,
            iterators,
            pending: VecDeque::new(),
        })
    }

    /// Reads whatever the stream has for us now (at most a batch per shard).
    pub async fn fetch(&mut self) -> Result<(), PollError> {
        for (_, iterator) in &mut self.iterators {
            // The iterator is replaced only once its records are read: after
            // a failed read, the next poll reads from the same place.
            let Some(current) = iterator.clone() else {
                continue;
            };
            let output = self
                .client
                .get_records()
                .shard_iterator(current)
                .limit(BATCH_SIZE)
                .send()
                .await?;
            *iterator = output.next_shard_iterator;
            let records = output.records.unwrap_or_default();
            self.pending.extend(
                records
                    .into_iter()
                    .map(|r| event_record(r, &self.stream_arn)),
            );
        }
        Ok(())
    }

    /// Every record the stream has now, in order (for tests that deliver
    /// batches themselves).
    pub async fn read_all(&mut self) -> Result<Vec<EventRecord>, PollError> {
        loop {
            let before = self.pending.len();
            self.fetch().await?;
            if self.pending.len() == before {
                return Ok(self.pending.drain(..).collect());
            }
        }
    }

    /// Takes the next batch of read records (at most `BATCH_SIZE`).
    pub fn next_batch(&mut self) -> Vec<EventRecord> {
        let n = self.pending.len().min(BATCH_SIZE as usize);
        self.pending.drain(..n).collect()
    }

    /// Puts back the records from `sequence` on, for the next attempt.
    pub fn retry_from(&mut self, batch: Vec<EventRecord>, sequence: &str) {
        let from = batch
            .iter()
            .position(|r| r.change.sequence_number.as_deref() == Some(sequence))
            .unwrap_or(0);
        for record in batch.into_iter().skip(from).rev() {
            self.pending.push_front(record);
        }
    }

    /// Reads and aggregates until the stream has nothing more: one pass.
    pub async fn drain(&mut self, store: &dyn AggregatorStore) -> Result<(), PollError> {
        loop {
            self.fetch().await?;
            let batch = self.next_batch();
            if batch.is_empty() {
                return Ok(());
            }
            let response = handle_stream_batch(store, &batch).await;
            if let Some(failure) = response.batch_item_failures.first() {
                let sequence = failure.item_identifier.clone().unwrap_or_default();
                self.retry_from(batch, &sequence);
                return Err(format!("the aggregator stopped at record {sequence}").into());
            }
        }
    }

    /// Polls forever, as Lambda's event source mapping would.
    pub async fn run(mut self, store: &dyn AggregatorStore) {
        loop {
            if let Err(error) = self.drain(store).await {
                tracing::warn!(error = %chatlogger::sdk_error::error_chain(error.as_ref()), "stream poll failed; retrying");
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

/// An SDK stream record as Lambda delivers it.
fn event_record(record: Record, stream_arn: &str) -> EventRecord {
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
    if let Some(dynamodb) = record.dynamodb {
        change.sequence_number = dynamodb.sequence_number;
        change.size_bytes = dynamodb.size_bytes.unwrap_or_default();
        change.keys = dynamodb.keys.unwrap_or_default().into();
        change.new_image = dynamodb.new_image.unwrap_or_default().into();
        change.old_image = dynamodb.old_image.unwrap_or_default().into();
    }
    event.change = change;
    event
}
