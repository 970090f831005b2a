//! moto's stream read raw, every shard from its oldest record: what the
//! local DynamoDB's own tests check (items and records a cancelled
//! transaction must not leave), below the aggregator's reader.

use std::collections::{BTreeMap, HashMap};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;

type Item = HashMap<String, AttributeValue>;

/// A record: its event name, keys, new image and old image as SDK items.
pub type RawRecord = (String, Item, Item, Item);

pub struct RawStream {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    /// Per shard, where the next read goes on.
    iterators: BTreeMap<String, Option<String>>,
}

impl RawStream {
    /// Positioned at the oldest record of every shard of `table`'s stream.
    pub async fn open(sdk: &SdkConfig, table: &str) -> Self {
        let arn = aws_sdk_dynamodb::Client::new(sdk)
            .describe_table()
            .table_name(table)
            .send()
            .await
            .unwrap()
            .table
            .and_then(|t| t.latest_stream_arn)
            .expect("the table has a stream");
        let mut stream = Self {
            client: aws_sdk_dynamodbstreams::Client::new(sdk),
            arn,
            iterators: BTreeMap::new(),
        };
        stream.discover().await;
        stream
    }

    async fn discover(&mut self) {
        let shards = self
            .client
            .describe_stream()
            .stream_arn(&self.arn)
            .send()
            .await
            .unwrap()
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default();
        for shard in shards {
            let id = shard.shard_id.unwrap();
            if self.iterators.contains_key(&id) {
                continue;
            }
            let iterator = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.arn)
                .shard_id(&id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await
                .unwrap()
                .shard_iterator;
            self.iterators.insert(id, iterator);
        }
    }

    /// Every record not read yet.
    pub async fn read_all(&mut self) -> Vec<RawRecord> {
        self.discover().await;
        let mut records = Vec::new();
        for iterator in self.iterators.values_mut() {
            while let Some(current) = iterator.clone() {
                let output = self
                    .client
                    .get_records()
                    .shard_iterator(current)
                    .send()
                    .await
                    .unwrap();
                *iterator = output.next_shard_iterator;
                let page = output.records.unwrap_or_default();
                if page.is_empty() {
                    break;
                }
                for record in page {
                    let Some(change) = record.dynamodb else {
                        continue;
                    };
                    let item = |image: Option<HashMap<_, _>>| -> Item {
                        let image: serde_dynamo::Item = image.unwrap_or_default().into();
                        image.into()
                    };
                    records.push((
                        record
                            .event_name
                            .map(|n| n.as_str().to_owned())
                            .unwrap_or_default(),
                        item(change.keys),
                        item(change.new_image),
                        item(change.old_image),
                    ));
                }
            }
        }
        records
    }
}
