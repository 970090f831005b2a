//! `make bench` for analytics: the aggregator's throughput and writes per
//! message (in memory, so the figure is the aggregator's own cost), and
//! the summary's DynamoDB reads for a 90-day range (against moto, through
//! the production store, with every request counted).

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Instant,
};

use aws_smithy_runtime_api::{
    box_error::BoxError,
    client::{
        interceptors::{Intercept, context::BeforeTransmitInterceptorContextRef},
        runtime_components::RuntimeComponents,
    },
};
use aws_smithy_types::config_bag::ConfigBag;
use chatlogger::{
    analytics::aggregate,
    domain::{
        ChatId, MessageId, MessageRole, OrgId,
        analytics::{
            AggregateKey, AggregatePart, ChatState, Counters, DayRange, Marker, MessageFacts,
            StreamChange, Summary, Tracked,
        },
    },
    store::{AggregatorStore, AnalyticsStore, DynamoStore, MemoryAggregates},
};
use time::{Date, Duration};

const END_USERS: usize = 200;
const CHATS: usize = 2_000;

/// `messages` synthetic message inserts for one org over `days` days.
fn workload(org: OrgId, chats: &[ChatId], messages: usize, days: i64) -> Vec<StreamChange> {
    let first = Date::from_calendar_date(2026, time::Month::January, 1).unwrap();
    (0..messages)
        .map(|i| StreamChange {
            sequence: (i + 1).to_string(),
            old: None,
            new: Some(Tracked::Message(MessageFacts {
                org,
                chat: chats[i % chats.len()],
                id: MessageId::new(),
                role: MessageRole::ALL[i % 4],
                tokens: Some((i % 700) as u64),
                latency_ms: Some((i * 37 % 4000) as u64),
                day: first + Duration::days(i as i64 * days / messages as i64),
            })),
        })
        .collect()
}

fn chats_with_owners(org: OrgId, store: &MemoryAggregates) -> Vec<ChatId> {
    (0..CHATS)
        .map(|i| {
            let chat = ChatId::new();
            let user_id = Some(format!("visitor-{}", i % END_USERS));
            store.set_chat(
                org,
                chat,
                ChatState {
                    user_id,
                    deleted: false,
                },
            );
            chat
        })
        .collect()
}

/// Messages per second through the aggregator, per batch size, and the
/// items its transactions write per message.
pub async fn aggregator(messages: usize) {
    println!(
        "aggregator, in memory: {messages} message inserts, {CHATS} chats, {END_USERS} end users, one org, 30 days"
    );
    for batch in [10, 100, 1000] {
        let store = MemoryAggregates::new();
        let org = OrgId::new();
        let chats = chats_with_owners(org, &store);
        let changes = workload(org, &chats, messages, 30);
        let (mut items, mut transactions) = (0, 0);
        let started = Instant::now();
        for chunk in changes.chunks(batch) {
            let report = aggregate(&store, chunk)
                .await
                .expect("in memory never fails");
            items += report.items_written;
            transactions += report.transactions;
        }
        let elapsed = started.elapsed();
        let totals: i64 = store
            .aggregates()
            .iter()
            .filter(|(key, _)| key.part == AggregatePart::Day)
            .map(|(_, counters)| counters["messages"])
            .sum();
        assert_eq!(totals, messages as i64, "every message counted once");
        let per_message = items as f64 / messages as f64;
        println!(
            "  batch {batch:>4}: {:>9.0} messages/s; {:.3} items written per message in {:.3} transactions ({:.2} WRU: transactional writes cost 2 each; ingest's own put is 1 more)",
            messages as f64 / elapsed.as_secs_f64(),
            per_message,
            transactions as f64 / messages as f64,
            2.0 * per_message,
        );
    }
}

/// Counts every request the SDK sends.
#[derive(Debug, Clone, Default)]
struct RequestCount(Arc<AtomicUsize>);

impl Intercept for RequestCount {
    fn name(&self) -> &'static str {
        "RequestCount"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _config: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// DynamoDB's item size: attribute names plus values (a number takes
/// about one byte per two digits, plus one).
fn item_size(key: &AggregateKey, counters: &Counters) -> usize {
    let sk = chatlogger::store::keys::aggregate_sk(key);
    let pk = chatlogger::store::keys::stats_pk(key.org);
    let fixed = "pk".len()
        + pk.len()
        + "sk".len()
        + sk.len()
        + "kind".len()
        + "stats".len()
        + "org_id".len()
        + 26;
    fixed
        + counters
            .iter()
            .map(|(name, value)| name.len() + 1 + value.to_string().len().div_ceil(2))
            .sum::<usize>()
}

/// The summary's reads for `days` days of realistic aggregates, on moto.
pub async fn summary_reads(days: i64, messages_per_day: usize) {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "run through `make bench`, which starts moto"
    );
    let aws = chatlogger::aws::Aws::load_with(chatlogger::aws::Budget::interactive(), None).await;
    let sdk = aws.sdk();
    let table = format!("bench-{}", ulid::Ulid::new().to_string().to_lowercase());
    chatlogger_local::provision::create_table(&aws_sdk_dynamodb::Client::new(sdk), &table)
        .await
        .expect("create the bench table");
    let requests = RequestCount::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(sdk)
            .interceptor(requests.clone())
            .build(),
    );
    let store = DynamoStore::new(client, table);

    // Fill the range through the real aggregator: chats with owners and tags.
    let org = OrgId::new();
    let memory = MemoryAggregates::new();
    let chats = chats_with_owners(org, &memory);
    let changes = workload(org, &chats, days as usize * messages_per_day, days);
    for chunk in changes.chunks(100) {
        aggregate(&memory, chunk).await.unwrap();
    }
    // Then write the resulting items to the table through the aggregator's
    // own transaction (99 items and a marker each: moto copies the whole
    // table per transaction, so fewer, larger ones keep this quick).
    let aggregates: Vec<(AggregateKey, Counters)> = memory.aggregates().into_iter().collect();
    for (n, chunk) in aggregates.chunks(99).enumerate() {
        let marker = Marker {
            org,
            chat: None,
            name: format!("SEEN#BENCH#{n}"),
        };
        let deltas: BTreeMap<AggregateKey, Counters> = chunk.iter().cloned().collect();
        store.apply_once(&[marker], &deltas).await.unwrap();
    }

    let first = Date::from_calendar_date(2026, time::Month::January, 1).unwrap();
    let range = DayRange {
        from: first,
        to: first + Duration::days(days - 1),
    };
    requests.0.store(0, Ordering::Relaxed);
    let started = Instant::now();
    let read = store.aggregates(org, range).await.unwrap();
    let elapsed = started.elapsed();
    let calls = requests.0.load(Ordering::Relaxed);
    let summary = Summary::build(org, range, read.clone());
    assert_eq!(summary.totals.messages, changes.len() as u64);
    let bytes: usize = read
        .iter()
        .map(|(key, counters)| item_size(key, counters))
        .sum();
    println!(
        "summary, {days}-day range ({messages_per_day} messages/day, {END_USERS} end users): {calls} Query request(s) reading {} items ({days} day items, the rest per-user buckets), ~{:.1} KB = ~{:.1} RCU (eventually consistent); {:.0} ms on moto",
        read.len(),
        bytes as f64 / 1024.0,
        (bytes.div_ceil(4096) as f64) * 0.5,
        elapsed.as_secs_f64() * 1000.0,
    );
}
