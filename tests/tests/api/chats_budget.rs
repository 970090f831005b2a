//! One chat listing reads at most its budget (1,000 read units), whatever
//! its chats hold, metered as DynamoDB bills reads (not by moto's word):
//! short chats are still counted exactly, long ones say their count is a
//! lower bound, and every chat's last activity is its newest message's.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use chatlogger::{
    chats::{ChatActivity, LISTING_READ_BUDGET, list_chats},
    domain::{
        Chat, ChatId, LatencyMs, MAX_CONTENT_BYTES, MAX_METADATA_BYTES, Message, MessageContent,
        MessageId, MessageRole, Metadata, Tags, TokenCount, UserRole,
    },
    store::{
        ChatCheck, ChatQuery, ChatStore, DynamoStore, MessageStore, PageRequest,
        billing::item_size, keys, largest_message_item,
    },
};
use chatlogger_local::{
    bulk::{Item, message_copy, put_all},
    read_meter::ReadMeter,
};
use reqwest::Method;
use serde_json::json;
use time::{OffsetDateTime, format_description::well_known::Rfc3339};

use crate::helpers::{TestApp, sdk_config, spawn_app};

/// Messages of the long chats: more than 1 MB each, of the largest items.
const LONG: u64 = 26;
const SHORT: u64 = 3;

/// A message's time: ids and `created_at` (a quarter second later, as the
/// server stamps it after the client chose the id) a second apart.
fn at(n: u64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000 + n as i64).unwrap()
}

fn logged_at(n: u64) -> OffsetDateTime {
    at(n) + time::Duration::milliseconds(250)
}

/// The largest message ingest takes, written through the production store:
/// the template of every message of the test.
async fn largest_message(store: &DynamoStore, app: &TestApp, chat: ChatId) -> Item {
    let metadata = Metadata::parse(json!({"k": "x".repeat(MAX_METADATA_BYTES - 8)})).unwrap();
    let message = Message {
        id: MessageId::at(at(0)),
        chat_id: chat,
        role: MessageRole::Assistant,
        content: MessageContent::parse(&"x".repeat(MAX_CONTENT_BYTES)).unwrap(),
        metadata,
        latency_ms: Some(LatencyMs::parse(LatencyMs::MAX.into()).unwrap()),
        token_count: Some(TokenCount::parse(TokenCount::MAX.into()).unwrap()),
        key_id: None,
        created_at: logged_at(0),
    };
    let org = app.acme.org.id;
    store
        .insert_message(org, &message, ChatCheck::KnownToExist)
        .await
        .unwrap();
    app.dynamodb
        .get_item()
        .table_name(&app.table)
        .key(keys::PK, AttributeValue::S(keys::messages_pk(org, chat)))
        .key(keys::SK, AttributeValue::S(keys::message_sk(message.id)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap()
}

/// `count` messages of `chat` like `template`, the `n`th at [`at`]`(n)`.
fn messages_like(template: &Item, app: &TestApp, chat: ChatId, count: u64) -> Vec<Item> {
    (0..count)
        .map(|n| {
            message_copy(
                template,
                app.acme.org.id,
                chat,
                MessageId::at(at(n)),
                logged_at(n),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_listing_of_long_chats_stays_within_its_read_budget_and_says_which_counts_are_lower_bounds()
 {
    let app = spawn_app().await;
    // The listing's store reads through a meter that also sees every write.
    let meter = ReadMeter::default();
    let client = meter.client(&sdk_config().await);
    let store = DynamoStore::new(client.clone(), app.table.clone());
    let org = app.acme.org.id;

    // 12 long chats of 26 of the largest messages (about 1.1 MB each: an
    // unbounded count would read 13 MB, some 1,700 units), 4 short chats
    // of 3, and an empty one; the newest listed first.
    let mut chats = Vec::new();
    for n in 0..17 {
        let chat = Chat {
            id: ChatId::at(at(n)),
            title: None,
            tags: Tags::default(),
            metadata: Metadata::default(),
            user_id: None,
            key_id: None,
            created_at: at(n),
        };
        store.insert_chat(org, &chat).await.unwrap();
        chats.push(chat.id);
    }
    let (long, short, empty) = (&chats[..12], &chats[12..16], chats[16]);
    let template = largest_message(&store, &app, long[0]).await;
    let size = item_size(&template);
    assert!(
        largest_message_item() - size < 100,
        "{size} bytes: as large as ingest takes ({})",
        largest_message_item()
    );
    let mut items = Vec::new();
    for (chats, count) in [(long, LONG), (short, SHORT)] {
        for chat in chats {
            items.extend(messages_like(&template, &app, *chat, count));
        }
    }
    put_all(&client, &app.table, items).await.unwrap();
    meter.take();

    let query = ChatQuery {
        newest_first: true,
        ..ChatQuery::default()
    };
    let page = PageRequest {
        limit: 100,
        cursor: None,
    };
    let listing = list_chats(&store, &store, org, &query, &page)
        .await
        .unwrap();
    let reading = meter.take();
    assert_eq!(reading.unknown, 0, "every item read was sized: {reading:?}");
    assert!(
        reading.read <= LISTING_READ_BUDGET,
        "read {} units of a budget of {LISTING_READ_BUDGET}",
        reading.read
    );
    assert_eq!(
        listing.read, reading.read,
        "what DynamoDB said each read billed is what the meter counted"
    );
    // The budget was what stopped it: most of it was spent.
    assert!(reading.read > LISTING_READ_BUDGET.share(2), "{reading:?}");
    eprintln!("a listing of 17 chats, 12 of 1.1 MB: {reading:?}");

    let activity: HashMap<ChatId, ChatActivity> = listing
        .page
        .items
        .iter()
        .map(|(chat, activity)| (chat.id, *activity))
        .collect();
    assert_eq!(activity.len(), 17);
    // A long chat is counted to its end (26) while the budget lasts, and
    // is a stated lower bound after that: 1,000 units pay for 7 at most.
    for chat in long {
        let got = activity[chat];
        assert!((1..=LONG).contains(&got.message_count), "{got:?}");
        assert_eq!(
            got.message_count_exact,
            got.message_count == LONG,
            "{got:?}"
        );
        assert_eq!(got.last_message_at, Some(logged_at(LONG - 1)));
    }
    let lower_bounds = long
        .iter()
        .filter(|chat| !activity[*chat].message_count_exact)
        .count();
    assert!(lower_bounds >= 5, "{lower_bounds} of 12");
    for chat in short {
        let got = activity[chat];
        assert!(got.message_count_exact, "{got:?}");
        assert_eq!(got.message_count, SHORT);
        assert_eq!(
            got.last_message_at,
            Some(logged_at(SHORT - 1)),
            "the newest message's own time, not its id's"
        );
    }
    assert_eq!(
        activity[&empty],
        ChatActivity {
            message_count: 0,
            message_count_exact: true,
            last_message_at: None,
        }
    );

    // The route says the same.
    app.create_user(&app.acme, "viewer@acme.example", UserRole::Viewer)
        .await;
    let session = app.login("viewer@acme.example").await;
    let reply = app
        .send(Method::GET, "/chats?limit=100", &session, None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let listed = reply.body["items"].as_array().unwrap();
    assert_eq!(listed.len(), 17);
    assert_eq!(listed[0]["id"], empty.to_string(), "newest first");
    assert_eq!(listed[0]["message_count"], 0);
    assert!(listed[0]["last_message_at"].is_null());
    for chat in &listed[1..5] {
        assert_eq!(chat["message_count"], SHORT, "{chat}");
        assert_eq!(chat["message_count_exact"], true, "{chat}");
    }
    for chat in &listed[5..] {
        let count = chat["message_count"].as_u64().unwrap();
        assert_eq!(chat["message_count_exact"], count == LONG, "{chat}");
        assert_eq!(
            chat["last_message_at"],
            logged_at(LONG - 1).format(&Rfc3339).unwrap()
        );
    }
}

/// The chats of a page are read within what the page gives them: a listing
/// of large chat items stops early, with a cursor, and goes on from it.
#[tokio::test]
async fn a_listing_of_large_chats_stops_within_its_share_and_goes_on_from_its_cursor() {
    let sdk = sdk_config().await;
    let table = crate::helpers::new_table(&sdk).await;
    let meter = ReadMeter::default();
    let store = DynamoStore::new(meter.client(&sdk), table);
    let org = chatlogger::domain::OrgId::new();
    let metadata = Metadata::parse(json!({"k": "x".repeat(MAX_METADATA_BYTES - 8)})).unwrap();
    let mut made = Vec::new();
    for n in 0..30 {
        let chat = Chat {
            id: ChatId::at(at(n)),
            title: None,
            tags: Tags::default(),
            metadata: metadata.clone(),
            user_id: None,
            key_id: None,
            created_at: at(n),
        };
        store.insert_chat(org, &chat).await.unwrap();
        made.push(chat.id);
    }
    made.reverse();
    meter.take();
    let query = ChatQuery {
        newest_first: true,
        ..ChatQuery::default()
    };
    // About ten 8 KB chats, read consistently.
    let budget = chatlogger::store::ReadUnits::whole(25);
    let (mut listed, mut cursor, mut pages) = (Vec::new(), None, 0);
    loop {
        let page = PageRequest {
            limit: 100,
            cursor: cursor.take(),
        };
        let (page, read) = store
            .list_chats_within(org, &query, &page, budget)
            .await
            .unwrap();
        let reading = meter.take();
        assert_eq!(reading.unknown, 0);
        assert_eq!(read, reading.read, "DynamoDB's figure is the meter's");
        assert!(read <= budget, "{read} of {budget}");
        listed.extend(page.items.iter().map(|chat| chat.id));
        pages += 1;
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(listed, made, "every chat once, newest first");
    assert!(pages >= 3, "{pages} pages");
}
