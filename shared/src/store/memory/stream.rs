//! A synthetic change stream: shards the caller fills, splits and closes,
//! read the way DynamoDB Streams is read (pages of at most
//! [`PAGE_RECORDS`], a closed shard's end reported with its last page).
//! The aggregator's tests and the cost benchmark route records to as many
//! shards as they like (by a hash of the item's key, as DynamoDB does),
//! split and close them. It counts reads, as DynamoDB bills them.

use std::{
    collections::BTreeMap,
    sync::{
        Mutex, MutexGuard,
        atomic::{AtomicU64, Ordering},
    },
};

use async_trait::async_trait;

use super::locked;
use crate::{
    domain::analytics::ShardInfo,
    store::{PAGE_RECORDS, ReadFrom, StoreResult, StreamPage, StreamRecord, StreamSource},
};

#[derive(Default)]
struct Shard {
    parent: Option<String>,
    records: Vec<StreamRecord>,
    closed: bool,
}

#[derive(Default)]
pub struct MemoryStream {
    shards: Mutex<BTreeMap<String, Shard>>,
    reads: AtomicU64,
}

impl MemoryStream {
    pub fn new() -> Self {
        Self::default()
    }

    fn shards(&self) -> MutexGuard<'_, BTreeMap<String, Shard>> {
        locked(&self.shards)
    }

    /// Opens a shard (a split's child names its parent).
    pub fn open(&self, shard: &str, parent: Option<&str>) {
        self.shards()
            .entry(shard.to_owned())
            .or_insert_with(|| Shard {
                parent: parent.map(str::to_owned),
                ..Shard::default()
            });
    }

    /// Appends a record to a shard (opened if new). Sequence numbers grow
    /// along a shard, as DynamoDB's do; the same record may come twice
    /// (delivered twice: the reader must take it once).
    pub fn push(&self, shard: &str, record: StreamRecord) {
        let mut shards = self.shards();
        let shard = shards.entry(shard.to_owned()).or_default();
        assert!(!shard.closed, "a closed shard takes no records");
        if let Some(last) = shard.records.last() {
            assert!(last.sequence <= record.sequence, "sequence numbers grow");
        }
        shard.records.push(record);
    }

    /// Closes a shard: once its records are read, readers learn its end.
    pub fn close(&self, shard: &str) {
        self.shards().entry(shard.to_owned()).or_default().closed = true;
    }

    /// `GetRecords` calls so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Records pushed so far, over every shard.
    pub fn len(&self) -> usize {
        self.shards().values().map(|s| s.records.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[async_trait]
impl StreamSource for MemoryStream {
    async fn shards(&self) -> StoreResult<Vec<ShardInfo>> {
        Ok(self
            .shards()
            .iter()
            .map(|(id, shard)| ShardInfo {
                id: id.clone(),
                parent: shard.parent.clone(),
            })
            .collect())
    }

    async fn read(&self, shard: &str, from: &ReadFrom) -> StoreResult<StreamPage> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        let shards = self.shards();
        let Some(shard) = shards.get(shard) else {
            return Ok(StreamPage::default());
        };
        let start = match from {
            ReadFrom::Start => 0,
            ReadFrom::At(sequence) => shard.records.partition_point(|r| r.sequence < *sequence),
            ReadFrom::After(sequence) => shard.records.partition_point(|r| r.sequence <= *sequence),
        };
        let end = (start + PAGE_RECORDS).min(shard.records.len());
        let records = shard.records[start..end].to_vec();
        Ok(StreamPage {
            more: end < shard.records.len(),
            end_of_shard: shard.closed && end == shard.records.len(),
            records,
        })
    }
}
