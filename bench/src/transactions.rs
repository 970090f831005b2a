//! `transactions`: one local DynamoDB transaction's latency against the
//! table's size, on the moto that `make bench` starts through
//! tools/moto_server.py. The transaction is ingest's own (the store's
//! `insert_message` with `ChatCheck::Verify`: a ConditionCheck on the chat
//! plus a conditional Put), committed and cancelled (a chat that does not
//! exist). Unpatched moto deep-copies the table per transaction, so its
//! latency grows with the table; the launcher's must not.

use std::time::Instant;

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, PutRequest, WriteRequest},
};
use chatlogger::{
    domain::{
        Chat, ChatId, Message, MessageContent, MessageId, MessageRole, Metadata, OrgId, Tags,
    },
    store::{ChatCheck, ChatStore, DynamoStore, Inserted, MessageInsert, MessageStore},
};
use time::OffsetDateTime;
use tokio::task::JoinSet;

use crate::{median_of, millis};

/// Items per `BatchWriteItem` (DynamoDB's maximum).
const BATCH: usize = 25;
/// `BatchWriteItem` requests in flight while filling.
const IN_FLIGHT: usize = 8;
/// Within this factor of each other, the latency is independent of size.
const TARGET_RATIO: f64 = 2.0;

pub async fn latency(sizes: &[usize], transactions: usize) {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "run through `make bench`, which starts moto"
    );
    let aws = chatlogger::aws::Aws::load(chatlogger::aws::Budget::interactive())
        .await
        .expect("the AWS settings are valid");
    let client = aws.dynamodb();
    let table = format!("bench-tx-{}", ulid::Ulid::new().to_string().to_lowercase());
    chatlogger_local::provision::create_table(&client, &table)
        .await
        .expect("create the bench table");
    let store = DynamoStore::new(client.clone(), table.clone());
    let org = OrgId::new();
    let chat = Chat {
        id: ChatId::new(),
        title: None,
        tags: Tags::default(),
        metadata: Metadata::default(),
        user_id: None,
        key_id: Some(chatlogger::domain::ApiKeyId::new()),
        created_at: OffsetDateTime::now_utc(),
    };
    store
        .insert_chat(org, &chat)
        .await
        .expect("insert the chat");

    let mut medians = Vec::new();
    for &size in sizes {
        let missing = size.saturating_sub(item_count(&client, &table).await);
        let started = Instant::now();
        fill(&client, &table, org, missing).await;
        let filled = started.elapsed();
        let items = item_count(&client, &table).await;
        // A few first, so connection set-up is not measured.
        for _ in 0..3 {
            insert(&store, org, chat.id).await;
        }
        let committed = median_of(transactions, || insert(&store, org, chat.id)).await;
        let cancelled = median_of(transactions, || async {
            let refused = store
                .insert_message(org, &message(ChatId::new()), ChatCheck::Verify)
                .await;
            assert!(
                matches!(refused, Ok(MessageInsert::NoSuchChat)),
                "{refused:?}"
            );
        })
        .await;
        println!(
            "transaction (ConditionCheck + Put, ingest's first message in a chat), {items} items in the table \
             (filled {missing} in {:.1} s): committed median {:.2} ms, cancelled median {:.2} ms ({transactions} each)",
            filled.as_secs_f64(),
            millis(committed),
            millis(cancelled),
        );
        medians.push((items, committed));
    }
    if let [(small, first), .., (large, last)] = medians[..] {
        let ratio = last.as_secs_f64() / first.as_secs_f64();
        println!(
            "transaction latency at {large} items is {ratio:.2}x that at {small} items (target <= {TARGET_RATIO}x): {}",
            if ratio <= TARGET_RATIO {
                "independent of table size"
            } else {
                "OVER TARGET: transactions slow down as the table grows"
            }
        );
    }
}

fn message(chat: ChatId) -> Message {
    Message {
        id: MessageId::new(),
        chat_id: chat,
        role: MessageRole::User,
        content: MessageContent::parse("How do I reset my password?").unwrap(),
        metadata: Metadata::default(),
        latency_ms: None,
        token_count: None,
        key_id: Some(chatlogger::domain::ApiKeyId::new()),
        created_at: OffsetDateTime::now_utc(),
    }
}

async fn insert(store: &DynamoStore, org: OrgId, chat: ChatId) {
    let inserted = store
        .insert_message(org, &message(chat), ChatCheck::Verify)
        .await
        .expect("the transaction commits");
    assert!(matches!(
        inserted,
        MessageInsert::Inserted(Inserted::Created(_))
    ));
}

async fn item_count(client: &Client, table: &str) -> usize {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("describe the bench table");
    described.table.and_then(|t| t.item_count).unwrap_or(0) as usize
}

/// Writes `count` message-sized items (100 per partition, like chats'
/// messages), `BATCH` per `BatchWriteItem`, `IN_FLIGHT` requests at a time.
async fn fill(client: &Client, table: &str, org: OrgId, count: usize) {
    // Each fill writes its own partitions.
    let run = ulid::Ulid::new().to_string();
    let mut in_flight = JoinSet::new();
    for start in (0..count).step_by(BATCH) {
        if in_flight.len() >= IN_FLIGHT {
            in_flight.join_next().await.unwrap().unwrap();
        }
        let requests: Vec<WriteRequest> = (start..count.min(start + BATCH))
            .map(|n| filler(org, &run, n))
            .collect();
        in_flight.spawn(write_batch(client.clone(), table.to_owned(), requests));
    }
    while let Some(done) = in_flight.join_next().await {
        done.unwrap();
    }
}

async fn write_batch(client: Client, table: String, mut requests: Vec<WriteRequest>) {
    while !requests.is_empty() {
        let output = client
            .batch_write_item()
            .request_items(&table, requests)
            .send()
            .await
            .expect("fill the bench table");
        requests = output
            .unprocessed_items
            .and_then(|mut unprocessed| unprocessed.remove(&table))
            .unwrap_or_default();
    }
}

fn filler(org: OrgId, run: &str, n: usize) -> WriteRequest {
    let s = |value: String| AttributeValue::S(value);
    let item = [
        ("pk", s(format!("ORG#{org}#CHAT#FILL{run}{:06}", n / 100))),
        ("sk", s(format!("MSG#{n:08}"))),
        ("kind", s("message".into())),
        ("role", s("assistant".into())),
        (
            "content",
            s("A typical assistant reply of a few sentences. ".repeat(4)),
        ),
        ("created_at", s("2026-11-22T10:00:00Z".into())),
        ("token_count", AttributeValue::N("120".into())),
        ("latency_ms", AttributeValue::N("850".into())),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect();
    let put = PutRequest::builder().set_item(Some(item)).build().unwrap();
    WriteRequest::builder().put_request(put).build()
}
