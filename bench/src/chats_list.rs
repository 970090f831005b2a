//! `make bench` for the dashboard's chat listing: what one `GET
//! /chats?limit=100` page reads, against moto, through the production
//! store and the function the chats router calls
//! (`chatlogger::chats::list_chats`), metered by an SDK interceptor that
//! sizes every item each query read as DynamoDB bills it
//! (`chatlogger_local::read_meter`: per page, rounded up to 4 KB, half
//! when eventually consistent), not by moto's `ConsumedCapacity`.
//!
//! Two pages: 100 chats of more than 4 MiB each, of the largest messages
//! ingest takes (the budget's worst case), and 100 ordinary chats of 20
//! messages of about 1 KB.

use std::time::Instant;

use chatlogger::{
    chats::{LISTING_READ_BUDGET, list_chats},
    domain::{
        Chat, ChatId, LatencyMs, MAX_CONTENT_BYTES, MAX_METADATA_BYTES, Message, MessageContent,
        MessageId, MessageRole, Metadata, OrgId, Tags, TokenCount,
    },
    store::{
        ChatCheck, ChatQuery, ChatStore, DynamoStore, MessageStore, PageRequest, keys,
        largest_message_item,
    },
};
use chatlogger_local::{
    bulk::{Item, message_copy, put_all},
    read_meter::ReadMeter,
};
use serde_json::json;
use time::{Duration, OffsetDateTime};

const MIB: u64 = 1024 * 1024;

/// One page's chats: how many, and their messages.
struct Chats {
    name: &'static str,
    chats: usize,
    messages: u64,
    content: usize,
    metadata: Metadata,
}

pub async fn run(chats: usize) {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "run through `make bench`, which starts moto"
    );
    let aws = chatlogger::aws::Aws::load_with(chatlogger::aws::Budget::interactive(), None).await;
    let meter = ReadMeter::default();
    let client = meter.client(aws.sdk());
    let largest = largest_message_item();
    let pages = [
        Chats {
            name: "of the largest messages",
            chats,
            // More than 4 MiB each.
            messages: (4 * MIB).div_ceil(largest) + 1,
            content: MAX_CONTENT_BYTES,
            metadata: Metadata::parse(json!({"k": "x".repeat(MAX_METADATA_BYTES - 8)}))
                .expect("metadata at its limit"),
        },
        Chats {
            name: "ordinary",
            chats,
            messages: 20,
            content: 800,
            metadata: Metadata::parse(json!({"model": "gpt-4o", "page": "/pricing"}))
                .expect("metadata"),
        },
    ];
    for page in pages {
        // A table each: moto's queries take time in proportion to the table.
        let table = format!(
            "bench-chats-{}",
            ulid::Ulid::new().to_string().to_lowercase()
        );
        chatlogger_local::provision::create_table(&client, &table)
            .await
            .expect("create the bench table");
        let store = DynamoStore::new(client.clone(), table.clone());
        let org = OrgId::new();
        let started = Instant::now();
        let (ids, item_bytes) = write_chats(&store, &client, &table, org, &page).await;
        let wrote = started.elapsed();
        meter.take();
        let started = Instant::now();
        let query = ChatQuery {
            newest_first: true,
            ..ChatQuery::default()
        };
        let request = PageRequest {
            limit: 100,
            cursor: None,
        };
        let listing = list_chats(&store, &store, org, &query, &request)
            .await
            .expect("list the chats");
        let elapsed = started.elapsed();
        let reading = meter.take();
        assert_eq!(reading.unknown, 0, "the meter sized every item read");
        assert_eq!(
            listing.page.items.len(),
            ids.len(),
            "one page lists them all"
        );
        let counts: Vec<u64> = listing
            .page
            .items
            .iter()
            .map(|(_, activity)| activity.message_count)
            .collect();
        let exact = listing
            .page
            .items
            .iter()
            .filter(|(_, activity)| activity.message_count_exact)
            .count();
        let newest_right =
            listing.page.items.iter().all(|(_, activity)| {
                activity.last_message_at == Some(logged_at(page.messages - 1))
            });
        println!(
            "chats list, {} chats {} ({} messages of {} bytes, {:.2} MiB a chat): {} read units billed of a budget of {} ({} queries; DynamoDB's own figure {}); counts exact for {exact} of {} chats{}; last activity {}; {:.0} ms on moto (writing them: {:.0} s)",
            page.chats,
            page.name,
            page.messages,
            item_bytes,
            (page.messages * item_bytes) as f64 / MIB as f64,
            reading.read,
            LISTING_READ_BUDGET,
            reading.requests,
            listing.read,
            page.chats,
            if exact < page.chats {
                format!(
                    ", lower bounds of {} to {} for the rest",
                    counts.iter().min().unwrap_or(&0),
                    counts.iter().max().unwrap_or(&0)
                )
            } else {
                String::new()
            },
            if newest_right { "exact" } else { "WRONG" },
            elapsed.as_secs_f64() * 1000.0,
            wrote.as_secs_f64(),
        );
        assert!(
            reading.read <= LISTING_READ_BUDGET,
            "the listing went over its budget"
        );
        assert!(
            newest_right,
            "every chat's last activity is its newest message's"
        );
    }
}

/// A message's time: a second apart, `created_at` a quarter second after
/// the id's time (the server stamps it after the client chose the id).
fn at(n: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + n as i64).expect("a time")
}

fn logged_at(n: u64) -> OffsetDateTime {
    at(n) + Duration::milliseconds(250)
}

/// Writes the page's chats through the store, and their messages as copies
/// of one the store wrote (in `BatchWriteItem`s): the chats' ids, and the
/// size of a message item.
async fn write_chats(
    store: &DynamoStore,
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    org: OrgId,
    page: &Chats,
) -> (Vec<ChatId>, u64) {
    let mut ids = Vec::new();
    for n in 0..page.chats {
        let chat = Chat {
            id: ChatId::at(at(n as u64)),
            title: Some(chatlogger::domain::ChatTitle::parse("bench").expect("a title")),
            tags: Tags::default(),
            metadata: Metadata::default(),
            user_id: None,
            key_id: Some(chatlogger::domain::ApiKeyId::new()),
            created_at: at(n as u64),
        };
        store.insert_chat(org, &chat).await.expect("create a chat");
        ids.push(chat.id);
    }
    let template = Message {
        id: MessageId::at(at(0)),
        chat_id: ids[0],
        role: MessageRole::Assistant,
        content: MessageContent::parse(&"x".repeat(page.content)).expect("content"),
        metadata: page.metadata.clone(),
        latency_ms: Some(LatencyMs::parse(LatencyMs::MAX.into()).expect("latency")),
        token_count: Some(TokenCount::parse(TokenCount::MAX.into()).expect("tokens")),
        key_id: Some(chatlogger::domain::ApiKeyId::new()),
        created_at: logged_at(0),
    };
    store
        .insert_message(org, &template, ChatCheck::KnownToExist)
        .await
        .expect("log a message");
    let template: Item = client
        .get_item()
        .table_name(table)
        .key(keys::PK, keys_s(keys::messages_pk(org, ids[0])))
        .key(keys::SK, keys_s(keys::message_sk(template.id)))
        .send()
        .await
        .expect("read the message back")
        .item
        .expect("the message");
    let size = chatlogger::store::billing::item_size(&template);
    // 25 a request and a few hundred requests at a time, to bound memory.
    for chunk in ids.chunks(10) {
        let items: Vec<Item> = chunk
            .iter()
            .flat_map(|chat| {
                (0..page.messages).map(|n| {
                    message_copy(&template, org, *chat, MessageId::at(at(n)), logged_at(n))
                })
            })
            .collect();
        put_all(client, table, items).await.expect("write messages");
    }
    (ids, size)
}

fn keys_s(value: String) -> aws_sdk_dynamodb::types::AttributeValue {
    aws_sdk_dynamodb::types::AttributeValue::S(value)
}
