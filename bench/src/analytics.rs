//! `make bench` for analytics:
//!
//! - `hot-org`: an org logging 1,000 messages/s on several shards, in
//!   memory through the production reader: commits (writes) per org-day
//!   item per second;
//! - `summary`: the summary's reads for a range of days whose aggregate items
//!   are as large as they get.
//!
//! What the aggregator costs per message, every request billed, is part of
//! `cost` (see [`crate::cost`]).

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chatlogger::{
    analytics::{Reader, ReaderConfig, Start},
    clock::{Clock, ManualClock},
    domain::{
        ChatId, MessageId, MessageRole, OrgId,
        analytics::{
            ChatState, DayRange, DayTops, MessageFacts, Sequence, StreamChange, Summary, TopK,
            Tracked, aggregate::counter, histogram,
        },
    },
    store::{
        AggregatorStore, AnalyticsStore, DynamoStore, MemoryAggregates, MemoryStream, StreamRecord,
        item_size, keys,
    },
};
use time::{Date, Duration, OffsetDateTime};

const DAY: &str = "2026-11-22";

fn require_moto() -> chatlogger::aws::Budget {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "run through `make bench`, which starts moto"
    );
    chatlogger::aws::Budget::interactive()
}

/// An org logging `rate` messages/s on `shards` shards for `seconds`, in
/// memory through the production reader (rounds every 3 s, the template's
/// cadence): how often each org-day aggregate item is written.
pub async fn hot_org(rate: usize, shards: usize, seconds: usize) {
    let store = Arc::new(MemoryAggregates::new());
    let stream = Arc::new(MemoryStream::new());
    let start = OffsetDateTime::parse(
        &format!("{DAY}T10:00:00Z"),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let clock = ManualClock::shared(start);
    let org = OrgId::new();
    let chats: Vec<ChatId> = (0..1_000).map(|_| ChatId::new()).collect();
    for (n, chat) in chats.iter().enumerate() {
        store.set_chat(
            org,
            *chat,
            ChatState {
                user_id: Some(format!("visitor-{n}")),
                deleted: false,
            },
        );
    }
    let config = ReaderConfig::DEFAULT;
    let Start::Reading(reader) = Reader::start(
        store.clone(),
        stream.clone(),
        clock.clone(),
        config,
        start + Duration::hours(1),
    )
    .await
    .unwrap() else {
        panic!("a fresh store has no lease")
    };
    let mut reader = *reader;
    let started = Instant::now();
    let mut sequence = 0u64;
    let mut commits = 0;
    let round_every = config.round_every.as_secs() as usize;
    for second in 0..seconds {
        for n in 0..rate {
            sequence += 1;
            let chat = chats[(second * rate + n) % chats.len()];
            let change = StreamChange {
                sequence: Sequence::new(format!("{}", 1_000_000_000 + sequence)),
                old: None,
                new: Some(Tracked::Message(MessageFacts {
                    org,
                    chat,
                    id: MessageId::new(),
                    role: MessageRole::User,
                    tokens: Some(100),
                    latency_ms: Some(800),
                    day: start.date(),
                })),
            };
            let record = StreamRecord {
                sequence: change.sequence.clone(),
                at: clock.now(),
                change: Ok(Some(change)),
            };
            stream.push(&format!("shard-{}", sequence as usize % shards), record);
        }
        clock.advance(Duration::SECOND);
        if second % round_every == round_every - 1 {
            commits += reader.round().await.unwrap().commits.committed;
        }
    }
    reader.flush().await.unwrap();
    let summary = Summary::build(
        org,
        DayRange::parse(
            Some(DAY),
            Some(DAY),
            Date::parse(DAY, counter_day()).unwrap(),
        )
        .unwrap(),
        store.aggregates(org),
    );
    assert_eq!(summary.totals.messages as usize, seconds * rate);
    println!(
        "hot org: {rate} messages/s on {shards} shards for {seconds} s ({} messages, {:.1} s in memory): {commits} commits, so {:.2} writes per second to the org-day's counters item (and at most as many to its tops), far under DynamoDB's 1,000 write units/s per partition; {} writes in all",
        summary.totals.messages,
        started.elapsed().as_secs_f64(),
        commits as f64 / seconds as f64,
        store.writes(),
    );
}

fn counter_day() -> &'static [time::format_description::BorrowedFormatItem<'static>] {
    chatlogger::domain::analytics::aggregate::DAY_FORMAT
}

/// The summary's reads for `days` days whose items are as large as they
/// get: every latency bucket, 32 end users of 128 characters, 32 tags of 64.
pub async fn summary_reads(days: i64) {
    let aws = chatlogger::aws::Aws::load_with(require_moto(), None).await;
    let client = aws.dynamodb();
    let table = format!("bench-sum-{}", ulid::Ulid::new().to_string().to_lowercase());
    chatlogger_local::provision::create_table(&client, &table)
        .await
        .expect("create the bench table");
    let store = DynamoStore::new(client.clone(), table.clone());
    let org = OrgId::new();
    let first = Date::from_calendar_date(2026, time::Month::January, 1).unwrap();
    let mut counters = BTreeMap::new();
    for role in chatlogger::domain::MessageRole::ALL {
        counters.insert(counter::role(role), 1_000_000);
        counters.insert(counter::role_tokens(role), 1_000_000_000);
    }
    for bucket in 0..histogram::bucket_count() as u16 {
        counters.insert(counter::latency_bucket(bucket), 1_000_000);
    }
    for name in [
        counter::MESSAGES,
        counter::CHATS,
        counter::TOKENS,
        counter::LATENCY_COUNT,
        counter::LATENCY_SUM_MS,
    ] {
        counters.insert(name.to_owned(), 1_000_000_000);
    }
    let top = |len: usize| {
        let mut top = TopK::default();
        let changes: BTreeMap<String, i64> = (0..40)
            .map(|n| (format!("{n:0>len$}"), 1_000_000 + n as i64))
            .collect();
        top.apply(&changes);
        top
    };
    let (users, tags) = (top(128), top(64));
    for day in 0..days {
        let day = first + Duration::days(day);
        store
            .add_to_day(org, day, 1, &counters, None)
            .await
            .expect("write a day's counters");
        let tops = DayTops {
            users: users.clone(),
            tags: tags.clone(),
            generation: 1,
            folded: 0,
            round: Some(1),
        };
        assert!(store.write_tops(org, day, &tops, 0).await.unwrap());
    }
    let range = DayRange {
        from: first,
        to: first + Duration::days(days - 1),
    };
    let started = Instant::now();
    let read = store.aggregates(org, range).await.unwrap();
    let elapsed = started.elapsed();
    // The same items, sized.
    let mut bytes = 0;
    let mut start = None;
    loop {
        let output = client
            .query()
            .table_name(&table)
            .key_condition_expression("pk = :p AND begins_with(sk, :d)")
            .expression_attribute_values(":p", AttributeValue::S(keys::stats_pk(org)))
            .expression_attribute_values(":d", AttributeValue::S("DAY#".into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        bytes += output.items().iter().map(item_size).sum::<u64>() as usize;
        start = output.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let summary = Summary::build(org, range, read.clone());
    assert_eq!(summary.top_users.len(), 10);
    println!(
        "summary, {days}-day range at the largest items (every latency bucket, 32 end users of 128 characters, 32 tags of 64): {} items, {:.0} KB read = {:.0} RCU eventually consistent (at most {:.1} KB a day); {:.0} ms on moto",
        read.len(),
        bytes as f64 / 1024.0,
        (bytes as f64 / 4096.0).ceil() * 0.5,
        bytes as f64 / 1024.0 / days as f64,
        elapsed.as_secs_f64() * 1000.0,
    );
}
