//! The table's stream as the aggregator reads it, with DynamoDB Streams'
//! `DescribeStream`, `GetShardIterator` and `GetRecords` (of which only
//! `GetRecords` is billed: one streams read unit per call, up to 1,000
//! records or 1 MB). The iterator a read ends with is kept per shard, so
//! the next read from there is one call.

use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard},
};

use async_trait::async_trait;
use aws_sdk_dynamodbstreams::{
    Client,
    operation::{get_records::GetRecordsError, get_shard_iterator::GetShardIteratorError},
    types::{Record, ShardIteratorType},
};
use time::OffsetDateTime;

use super::{from_sdk, stream::change_of};
use crate::{
    domain::analytics::{Sequence, ShardInfo},
    store::{ReadFrom, StoreError, StoreResult, StreamPage, StreamRecord, StreamSource},
};

/// Records one `GetRecords` asks for (DynamoDB's most).
pub const PAGE_RECORDS: usize = 1000;

pub struct DynamoStream {
    client: Client,
    stream_arn: String,
    /// Per shard: where the kept iterator reads from, and the iterator.
    iterators: Mutex<HashMap<String, (ReadFrom, String)>>,
}

impl DynamoStream {
    pub fn new(client: Client, stream_arn: impl Into<String>) -> Self {
        Self {
            client,
            stream_arn: stream_arn.into(),
            iterators: Mutex::default(),
        }
    }

    /// The latest stream of `table`, found with `DescribeTable`.
    pub async fn of_table(
        dynamodb: &aws_sdk_dynamodb::Client,
        client: Client,
        table: &str,
    ) -> StoreResult<Self> {
        let arn = dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(from_sdk)?
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| StoreError::failed(format!("the table {table} has no stream")))?;
        Ok(Self::new(client, arn))
    }

    /// The latest stream of `table`, with clients of `sdk` (its endpoint
    /// and timeouts).
    pub async fn of_table_with(sdk: &aws_config::SdkConfig, table: &str) -> StoreResult<Self> {
        Self::of_table(&aws_sdk_dynamodb::Client::new(sdk), Client::new(sdk), table).await
    }

    pub fn stream_arn(&self) -> &str {
        &self.stream_arn
    }

    fn iterators(&self) -> MutexGuard<'_, HashMap<String, (ReadFrom, String)>> {
        self.iterators
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn iterator(&self, shard: &str, from: &ReadFrom) -> StoreResult<String> {
        let request = self
            .client
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(shard);
        let request = match from {
            ReadFrom::Start => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            ReadFrom::At(sequence) => request
                .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
                .sequence_number(sequence.as_str()),
            ReadFrom::After(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence.as_str()),
        };
        match request.send().await {
            Ok(output) => output
                .shard_iterator
                .ok_or_else(|| StoreError::failed(format!("no iterator for shard {shard}"))),
            Err(error) => match error.as_service_error() {
                // The position is older than the stream's 24 hours: what
                // was there is gone. Read on from the oldest record, and say so.
                Some(GetShardIteratorError::TrimmedDataAccessException(_))
                    if *from != ReadFrom::Start =>
                {
                    tracing::error!(
                        shard,
                        from = ?from,
                        analytics_records_lost = 1,
                        "the stream no longer has this position (older than its retention): reading on from its oldest record"
                    );
                    Box::pin(self.iterator(shard, &ReadFrom::Start)).await
                }
                _ => Err(from_sdk(error)),
            },
        }
    }
}

#[async_trait]
impl StreamSource for DynamoStream {
    async fn shards(&self) -> StoreResult<Vec<ShardInfo>> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let output = self
                .client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.take())
                .send()
                .await
                .map_err(from_sdk)?;
            let Some(description) = output.stream_description else {
                break;
            };
            for shard in description.shards.unwrap_or_default() {
                if let Some(id) = shard.shard_id {
                    shards.push(ShardInfo {
                        id,
                        parent: shard.parent_shard_id,
                    });
                }
            }
            start = description.last_evaluated_shard_id;
            if start.is_none() {
                break;
            }
        }
        Ok(shards)
    }

    async fn read(&self, shard: &str, from: &ReadFrom) -> StoreResult<StreamPage> {
        let kept = self
            .iterators()
            .get(shard)
            .filter(|(at, _)| at == from)
            .map(|(_, iterator)| iterator.clone());
        let mut iterator = match kept {
            Some(iterator) => iterator,
            None => self.iterator(shard, from).await?,
        };
        let mut fresh = false;
        let output = loop {
            let result = self
                .client
                .get_records()
                .shard_iterator(&iterator)
                .limit(PAGE_RECORDS as i32)
                .send()
                .await;
            match result {
                Ok(output) => break output,
                // Iterators last 15 minutes: a kept one may have expired.
                Err(error)
                    if !fresh
                        && matches!(
                            error.as_service_error(),
                            Some(GetRecordsError::ExpiredIteratorException(_))
                        ) =>
                {
                    self.iterators().remove(shard);
                    iterator = self.iterator(shard, from).await?;
                    fresh = true;
                }
                Err(error) => {
                    self.iterators().remove(shard);
                    return Err(from_sdk(error));
                }
            }
        };
        let sdk_records = output.records.unwrap_or_default();
        let more = sdk_records.len() >= PAGE_RECORDS;
        let records: Vec<StreamRecord> = sdk_records.into_iter().filter_map(record).collect();
        let next_from = records
            .last()
            .map_or_else(|| from.clone(), |r| ReadFrom::After(r.sequence.clone()));
        let end_of_shard = output.next_shard_iterator.is_none();
        match output.next_shard_iterator {
            Some(next) => {
                self.iterators().insert(shard.to_owned(), (next_from, next));
            }
            None => {
                self.iterators().remove(shard);
            }
        }
        Ok(StreamPage {
            records,
            end_of_shard,
            more,
        })
    }
}

/// A record as the aggregator reads it (none: a record without a change).
fn record(record: Record) -> Option<StreamRecord> {
    let change = record.dynamodb?;
    let sequence = Sequence::new(change.sequence_number.clone()?);
    let at = change
        .approximate_creation_date_time
        .and_then(|at| at.to_millis().ok())
        .and_then(|ms| OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        // Unknown (never on AWS): treated as old, so committed at once.
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let old: serde_dynamo::Item = change.old_image.unwrap_or_default().into();
    let new: serde_dynamo::Item = change.new_image.unwrap_or_default().into();
    let change = change_of(change.sequence_number, &old, &new).map_err(|e| e.to_string());
    Some(StreamRecord {
        sequence,
        at,
        change,
    })
}
