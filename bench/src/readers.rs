//! The cost bench's aggregators: moto's stream of the ingest table, moved
//! every round into synthetic streams of 1, 4 and 32 shards, each read by
//! its own production [`Reader`] with its own aggregates table and meter.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap, hash_map::DefaultHasher},
    hash::{Hash, Hasher},
    sync::Arc,
};

use async_trait::async_trait;
use chatlogger::{
    analytics::{CommitReport, Reader, ReaderConfig, RoundReport, Start},
    clock::SharedClock,
    domain::{
        ChatId, OrgId,
        analytics::{ChatState, DayState, DayTops, Journal, Orphan, Round, Tracked},
    },
    store::{
        AggregatorStore, DayWrite, DynamoStore, DynamoStream, EndFold, Lease, MemoryStream,
        ParkedDay, ReadFrom, StoreResult, StreamRecord, StreamSource, keys,
    },
};
use time::{Date, OffsetDateTime};

use crate::meter::Meter;

/// A reader's store: its own table for everything it keeps, and the
/// ingest table for the chats (and orphaned messages) it looks up, so that
/// three readers can run side by side on one ingest table.
pub struct ReaderStore {
    pub own: Arc<DynamoStore>,
    pub ingest: Arc<DynamoStore>,
}

#[async_trait]
impl AggregatorStore for ReaderStore {
    async fn lease(&self) -> StoreResult<Option<Lease>> {
        self.own.lease().await
    }
    async fn take_lease(&self, previous: Option<&Lease>, lease: &Lease) -> StoreResult<bool> {
        self.own.take_lease(previous, lease).await
    }
    async fn renew_lease(&self, lease: &Lease) -> StoreResult<bool> {
        self.own.renew_lease(lease).await
    }
    async fn release_lease(&self, lease: &Lease) -> StoreResult<()> {
        self.own.release_lease(lease).await
    }
    async fn save_journal(&self, journal: &Journal) -> StoreResult<()> {
        self.own.save_journal(journal).await
    }
    async fn journals(&self, limit: usize, before: Option<Round>) -> StoreResult<Vec<Journal>> {
        self.own.journals(limit, before).await
    }
    async fn chat_states(
        &self,
        chats: &BTreeSet<(OrgId, ChatId)>,
    ) -> StoreResult<BTreeMap<(OrgId, ChatId), ChatState>> {
        self.ingest.chat_states(chats).await
    }
    async fn days(&self, days: &[(OrgId, Date)]) -> StoreResult<BTreeMap<(OrgId, Date), DayState>> {
        self.own.days(days).await
    }
    async fn add_to_day(
        &self,
        org: OrgId,
        day: Date,
        round: Round,
        counters: &chatlogger::domain::analytics::Counters,
        changes: Option<&chatlogger::domain::analytics::TopChanges>,
    ) -> StoreResult<DayWrite> {
        self.own
            .add_to_day(org, day, round, counters, changes)
            .await
    }
    async fn write_tops(
        &self,
        org: OrgId,
        day: Date,
        tops: &DayTops,
        expected_generation: u64,
    ) -> StoreResult<bool> {
        self.own
            .write_tops(org, day, tops, expected_generation)
            .await
    }
    async fn end_fold(&self, org: OrgId, day: Date, end: &EndFold) -> StoreResult<DayWrite> {
        self.own.end_fold(org, day, end).await
    }
    async fn park(&self, parked: &ParkedDay) -> StoreResult<()> {
        self.own.park(parked).await
    }
    async fn parked(&self, limit: u16) -> StoreResult<Vec<ParkedDay>> {
        self.own.parked(limit).await
    }
    async fn replay(&self, parked: &ParkedDay) -> StoreResult<bool> {
        self.own.replay(parked).await
    }
    /// An orphan is a message of the ingest table.
    async fn delete_message(&self, orphan: &Orphan) -> StoreResult<()> {
        self.ingest.delete_message(orphan).await
    }
}

/// moto's stream of the ingest table, read on from where the last pump
/// stopped (unmetered: it stands in for DynamoDB Streams, whose reads the
/// synthetic streams count).
pub struct Pump {
    stream: DynamoStream,
    positions: BTreeMap<String, ReadFrom>,
    /// When each chat and message was written (by its id): a record's `at`.
    written: HashMap<String, OffsetDateTime>,
    /// Records of chats or messages whose write the pump did not see.
    pub unmatched: u64,
}

impl Pump {
    /// Starts after everything the stream holds now (set-up is not analytics' input).
    pub async fn after_now(stream: DynamoStream) -> Self {
        let mut pump = Self {
            stream,
            positions: BTreeMap::new(),
            written: HashMap::new(),
            unmatched: 0,
        };
        pump.take(OffsetDateTime::UNIX_EPOCH).await;
        pump.unmatched = 0;
        pump
    }

    /// A chat or message (by id) was written at `at`.
    pub fn wrote(&mut self, id: String, at: OffsetDateTime) {
        self.written.insert(id, at);
    }

    /// The records written since the last call, each at the simulated time
    /// it was written (`now` for items analytics do not follow).
    pub async fn take(&mut self, now: OffsetDateTime) -> Vec<StreamRecord> {
        let mut taken = Vec::new();
        let shards = self
            .stream
            .shards()
            .await
            .expect("list moto's stream shards");
        for shard in shards {
            let from = self
                .positions
                .entry(shard.id.clone())
                .or_insert(ReadFrom::Start);
            loop {
                let page = self
                    .stream
                    .read(&shard.id, from)
                    .await
                    .expect("read moto's stream");
                if let Some(last) = page.records.last() {
                    *from = ReadFrom::After(last.sequence.clone());
                }
                let more = page.more;
                taken.extend(page.records);
                if !more {
                    break;
                }
            }
        }
        for record in &mut taken {
            record.at = now;
            let tracked = record
                .change
                .as_ref()
                .ok()
                .and_then(|c| c.as_ref())
                .and_then(|c| c.new.as_ref().or(c.old.as_ref()));
            let id = match tracked {
                Some(Tracked::Message(message)) => message.id.to_string(),
                Some(Tracked::Chat(chat)) => chat.id.to_string(),
                None => continue,
            };
            match self.written.remove(&id) {
                Some(at) => record.at = at,
                None => self.unmatched += 1,
            }
        }
        taken
    }
}

/// What one reader did while the bill was on.
#[derive(Debug, Clone, Default)]
pub struct ReaderTally {
    pub rounds: u64,
    pub records: u64,
    pub commits: CommitReport,
    /// Seconds from each change's write to the commit that made it visible.
    pub waited: Vec<f64>,
    pub log_bytes: u64,
    pub handovers: u64,
    /// The bill from the window's start to its hand-over: the steady state
    /// without a hand-over's extra reads, to spread that extra over the
    /// production run's 900 s.
    pub before_handover: Option<HalfBill>,
}

/// A reader's bill over the first part of the window.
#[derive(Debug, Clone, Copy)]
pub struct HalfBill {
    pub units: crate::meter::Units,
    pub get_records: u64,
    pub seconds: f64,
}

/// One aggregator: a synthetic stream of `shards` shards, its reader, its
/// tables and meter.
pub struct ShardedReader {
    pub shards: usize,
    pub stream: Arc<MemoryStream>,
    shard_ids: Vec<String>,
    pub store: Arc<ReaderStore>,
    pub meter: Meter,
    reader: Option<Reader>,
    clock: SharedClock,
    pub tally: ReaderTally,
    /// `GetRecords` calls, and the time, when the bill was switched on.
    reads_at_start: u64,
    billed_from: Option<OffsetDateTime>,
    pub get_records: u64,
}

impl ShardedReader {
    /// Starts a reader (its first run) that means to hand over at `ends_at`.
    pub async fn start(
        shards: usize,
        store: Arc<ReaderStore>,
        meter: Meter,
        clock: SharedClock,
        ends_at: OffsetDateTime,
    ) -> Self {
        let stream = Arc::new(MemoryStream::new());
        let shard_ids: Vec<String> = (0..shards)
            .map(|n| format!("shardId-{n:020}-bench"))
            .collect();
        for id in &shard_ids {
            stream.open(id, None);
        }
        let mut sharded = Self {
            shards,
            stream,
            shard_ids,
            store,
            meter,
            reader: None,
            clock,
            tally: ReaderTally::default(),
            reads_at_start: 0,
            billed_from: None,
            get_records: 0,
        };
        sharded.reader = Some(sharded.new_run(ends_at).await);
        sharded
    }

    async fn new_run(&self, ends_at: OffsetDateTime) -> Reader {
        let start = Reader::start(
            self.store.clone(),
            self.stream.clone(),
            self.clock.clone(),
            ReaderConfig::DEFAULT,
            ends_at,
        )
        .await
        .expect("start a reader");
        match start {
            Start::Reading(reader) => *reader,
            Start::Held(lease) => panic!("the lease is held by another reader: {lease:?}"),
        }
    }

    /// The shard DynamoDB would put a record on: by its item's partition
    /// key (a chat's messages share one; an org's chats share its own).
    fn shard_of(&self, record: &StreamRecord) -> &str {
        let mut hasher = DefaultHasher::new();
        let tracked = record
            .change
            .as_ref()
            .ok()
            .and_then(|c| c.as_ref())
            .and_then(|c| c.new.as_ref().or(c.old.as_ref()));
        match tracked {
            Some(Tracked::Message(m)) => keys::messages_pk(m.org, m.chat).hash(&mut hasher),
            Some(Tracked::Chat(c)) => keys::org_pk(c.org).hash(&mut hasher),
            // Items analytics do not follow: spread as their keys would be.
            None => record.sequence.as_str().hash(&mut hasher),
        }
        &self.shard_ids[(hasher.finish() % self.shard_ids.len() as u64) as usize]
    }

    pub fn push(&self, records: &[StreamRecord]) {
        for record in records {
            self.stream.push(self.shard_of(record), record.clone());
        }
    }

    pub fn bill_on(&mut self, at: OffsetDateTime) {
        self.meter.start();
        self.reads_at_start = self.stream.reads();
        self.billed_from = Some(at);
    }

    pub fn bill_off(&mut self) {
        self.meter.stop();
        self.get_records = self.stream.reads() - self.reads_at_start;
    }

    /// Ends the run and starts the next, as the scheduled aggregator
    /// hands over: a last journal and the lease let go, then a new reader
    /// reads on from that journal.
    pub async fn hand_over(
        &mut self,
        ends_at: OffsetDateTime,
        billed: bool,
        logs: &crate::logs::LogBytes,
    ) {
        let before = logs.bytes();
        if billed && self.tally.before_handover.is_none() {
            self.tally.before_handover = Some(HalfBill {
                units: self.meter.bill().units(crate::meter::Category::Analytics),
                get_records: self.stream.reads() - self.reads_at_start,
                seconds: self
                    .billed_from
                    .map_or(0.0, |from| (self.clock.now() - from).as_seconds_f64()),
            });
        }
        self.reader
            .take()
            .expect("a reader runs")
            .finish()
            .await
            .expect("the reader hands over");
        self.reader = Some(self.new_run(ends_at).await);
        if billed {
            self.tally.handovers += 1;
            self.tally.log_bytes += logs.bytes() - before;
        }
    }

    /// One round, tallied when `billed`.
    pub async fn round(&mut self, billed: bool, logs: &crate::logs::LogBytes) -> RoundReport {
        let reader = self.reader.as_mut().expect("a reader runs");
        let started = self.clock.now();
        let report = reader.round().await.expect("an aggregator round");
        // The production run's line per round, for its bytes.
        let before = logs.bytes();
        chatlogger::analytics::log_round(reader, &report, started);
        assert_eq!(report.unreadable, 0, "every record reads");
        assert_eq!(report.commits.parked, 0, "no commit is parked: {report:?}");
        if billed {
            self.tally.log_bytes += logs.bytes() - before;
            self.tally.rounds += 1;
            self.tally.records += report.records as u64;
            self.tally.commits.add(&report.commits);
            self.tally.waited.extend(&report.waited);
        }
        report
    }

    /// Commits everything read so far (after the bill: for the exactness check).
    pub async fn flush(&mut self) -> RoundReport {
        self.reader
            .as_mut()
            .expect("a reader runs")
            .flush()
            .await
            .expect("flush the reader")
    }

    pub fn pending_orgs(&self) -> usize {
        self.reader.as_ref().map_or(0, Reader::pending_orgs)
    }
}
