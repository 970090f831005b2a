//! The local DynamoDB's transactions (moto, started through
//! tools/moto_server.py): a cancelled `TransactWriteItems` leaves no trace,
//! neither an item nor a stream record, and a stream reader that was open
//! before it goes on reading later changes, also while other requests
//! write concurrently. Unpatched moto fails all three tests: it replaces
//! the table on rollback, so the cancelled writes reach the old stream
//! shard, nothing later does, and concurrent writes are lost.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::{
    error::ProvideErrorMetadata,
    operation::transact_write_items::TransactWriteItemsError,
    types::{
        AttributeValue, ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure,
        TransactWriteItem, Update,
    },
};
use chatlogger::{
    aws::{Aws, Budget},
    domain::{MessageId, UserRole},
    store::keys,
};
use chatlogger_local::aggregator::LocalAggregator;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, TestOrg, new_table, scan, sdk_config, spawn_app},
    raw_stream::{RawRecord, RawStream},
};

type Item = HashMap<String, AttributeValue>;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: u64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn item(pk: &str, sk: &str, attributes: &[(&str, AttributeValue)]) -> Item {
    let mut item = Item::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))]);
    item.extend(attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    item
}

fn key_of(item: &Item) -> Item {
    Item::from([
        ("pk".to_owned(), item["pk"].clone()),
        ("sk".to_owned(), item["sk"].clone()),
    ])
}

/// A record's keys, new image and old image.
fn images(record: &RawRecord) -> (Item, Item, Item) {
    (record.1.clone(), record.2.clone(), record.3.clone())
}

struct Table {
    client: aws_sdk_dynamodb::Client,
    name: String,
}

impl Table {
    async fn put(&self, item: &Item) {
        self.client
            .put_item()
            .table_name(&self.name)
            .set_item(Some(item.clone()))
            .send()
            .await
            .unwrap();
    }

    /// Every item, in key order.
    async fn items(&self) -> Vec<Item> {
        let mut items = scan(&self.client, &self.name).await;
        items.sort_by_key(sort_key);
        items
    }

    /// The keys of the items under `gsi1pk`, through the index.
    async fn in_index(&self, gsi1pk: &str) -> Vec<String> {
        self.client
            .query()
            .table_name(&self.name)
            .index_name(keys::GSI1)
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", s(gsi1pk))
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
            .iter()
            .map(|i| i["sk"].as_s().unwrap().clone())
            .collect()
    }
}

fn put_new(item: &Item, table: &str) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item.clone()))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .unwrap();
    TransactWriteItem::builder().put(put).build()
}

#[tokio::test]
async fn a_cancelled_transaction_writes_nothing_emits_nothing_and_the_stream_goes_on() {
    let sdk = sdk_config().await;
    let table = Table {
        client: aws_sdk_dynamodb::Client::new(&sdk),
        name: new_table(&sdk).await,
    };
    let mut reader = RawStream::open(&sdk, &table.name).await;

    // Three items the transaction reads, updates (nested values too, so a
    // shallow backup would not do) and deletes; one is in the index.
    let updated = item(
        "T#1",
        "UPDATED",
        &[
            ("count", n(1)),
            ("note", s("as it was")),
            (
                "nested",
                AttributeValue::M(HashMap::from([("depth".to_owned(), n(7))])),
            ),
            ("list", AttributeValue::L(vec![s("a")])),
            (keys::GSI1_PK, s("G#before")),
            (keys::GSI1_SK, s("UPDATED")),
        ],
    );
    let deleted = item("T#1", "DELETED", &[("note", s("keep me"))]);
    let checked = item("T#1", "CHECKED", &[("state", s("taken"))]);
    for existing in [&updated, &deleted, &checked] {
        table.put(existing).await;
    }
    assert_eq!(reader.read_all().await.len(), 3, "the set-up's INSERTs");
    let before = table.items().await;
    assert_eq!(before.len(), 3);

    // Five actions; the third fails its condition.
    let first = item(
        "T#1",
        "NEW",
        &[(keys::GSI1_PK, s("G#new")), (keys::GSI1_SK, s("NEW"))],
    );
    let fifth = item("T#2", "NEW", &[("note", s("another partition"))]);
    let update = Update::builder()
        .table_name(&table.name)
        .set_key(Some(key_of(&updated)))
        .update_expression(
            "SET #count = #count + :one, #nested.#depth = :eight, #list = list_append(#list, :more), gsi1pk = :moved REMOVE #note",
        )
        .expression_attribute_names("#count", "count")
        .expression_attribute_names("#nested", "nested")
        .expression_attribute_names("#depth", "depth")
        .expression_attribute_names("#list", "list")
        .expression_attribute_names("#note", "note")
        .expression_attribute_values(":one", n(1))
        .expression_attribute_values(":eight", n(8))
        .expression_attribute_values(":more", AttributeValue::L(vec![s("b")]))
        .expression_attribute_values(":moved", s("G#new"))
        .condition_expression("attribute_exists(pk)")
        .build()
        .unwrap();
    let check = ConditionCheck::builder()
        .table_name(&table.name)
        .set_key(Some(key_of(&checked)))
        .condition_expression("attribute_not_exists(pk)")
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .unwrap();
    let delete = Delete::builder()
        .table_name(&table.name)
        .set_key(Some(key_of(&deleted)))
        .condition_expression("attribute_exists(pk)")
        .build()
        .unwrap();
    let error = table
        .client
        .transact_write_items()
        .transact_items(put_new(&first, &table.name))
        .transact_items(TransactWriteItem::builder().update(update).build())
        .transact_items(TransactWriteItem::builder().condition_check(check).build())
        .transact_items(TransactWriteItem::builder().delete(delete).build())
        .transact_items(put_new(&fifth, &table.name))
        .send()
        .await
        .expect_err("the third action's condition fails");
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        panic!("not a cancellation: {error:?}");
    };
    let reasons = cancelled.cancellation_reasons();
    let codes: Vec<_> = reasons.iter().map(|r| r.code().unwrap_or("")).collect();
    assert_eq!(
        codes,
        ["None", "None", "ConditionalCheckFailed", "None", "None"]
    );
    assert_eq!(
        reasons[2].item(),
        Some(&checked),
        "ALL_OLD: the stored item"
    );

    // Nothing of the five was written: the update and the delete are undone
    // exactly, the puts are gone, the index says what it said.
    assert_eq!(table.items().await, before);
    assert_eq!(table.in_index("G#before").await, ["UPDATED"]);
    assert!(table.in_index("G#new").await.is_empty());
    assert!(
        reader.read_all().await.is_empty(),
        "a cancelled transaction emits no stream record"
    );

    // A transaction refused as a whole (two actions on one item: a
    // validation error, after the first was applied) is undone too.
    let twice = item("T#3", "TWICE", &[]);
    let error = table
        .client
        .transact_write_items()
        .transact_items(put_new(&twice, &table.name))
        .transact_items(put_new(&twice, &table.name))
        .send()
        .await
        .expect_err("two actions on one item");
    assert_eq!(error.code(), Some("ValidationException"), "{error:?}");
    assert_eq!(table.items().await, before);
    assert!(reader.read_all().await.is_empty());

    // The reader opened before goes on receiving changes, and the old
    // image shows the restored item.
    let later = item("T#1", "LATER", &[]);
    table.put(&later).await;
    table
        .client
        .update_item()
        .table_name(&table.name)
        .set_key(Some(key_of(&updated)))
        .update_expression("SET #count = #count + :one")
        .expression_attribute_names("#count", "count")
        .expression_attribute_values(":one", n(1))
        .send()
        .await
        .unwrap();
    let records = reader.read_all().await;
    let seen: Vec<_> = records
        .iter()
        .map(|r| {
            let (keys, new, old) = images(r);
            (r.0.clone(), keys, new, old)
        })
        .collect();
    let mut counted = updated.clone();
    counted.insert("count".to_owned(), n(2));
    assert_eq!(
        seen,
        [
            (
                "INSERT".to_owned(),
                key_of(&later),
                later.clone(),
                Item::new()
            ),
            (
                "MODIFY".to_owned(),
                key_of(&updated),
                counted,
                updated.clone()
            ),
        ]
    );
}

/// moto's server is threaded: a rollback must neither undo nor drop a
/// concurrent request's write (the launcher runs each DynamoDB request
/// under one lock), and the stream must carry every committed write once.
#[tokio::test]
async fn concurrent_writes_survive_cancelled_transactions() {
    const TASKS: usize = 4;
    const EACH: usize = 60;
    let sdk = sdk_config().await;
    let table = Table {
        client: aws_sdk_dynamodb::Client::new(&sdk),
        name: new_table(&sdk).await,
    };
    let taken = item("TAKEN", "TAKEN", &[]);
    table.put(&taken).await;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (client, name) = (table.client.clone(), table.name.clone());
        tasks.spawn(async move {
            for i in 0..EACH {
                let written = item(&format!("W#{task}"), &i.to_string(), &[]);
                let put = client.put_item().table_name(&name).set_item(Some(written));
                put.send().await.unwrap();
            }
        });
        let (client, name, taken) = (table.client.clone(), table.name.clone(), key_of(&taken));
        tasks.spawn(async move {
            for i in 0..EACH {
                let check = ConditionCheck::builder()
                    .table_name(&name)
                    .set_key(Some(taken.clone()))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .unwrap();
                let error = client
                    .transact_write_items()
                    .transact_items(put_new(
                        &item(&format!("X#{task}"), &i.to_string(), &[]),
                        &name,
                    ))
                    .transact_items(put_new(
                        &item(&format!("Y#{task}"), &i.to_string(), &[]),
                        &name,
                    ))
                    .transact_items(TransactWriteItem::builder().condition_check(check).build())
                    .send()
                    .await
                    .expect_err("the condition check fails");
                assert!(
                    error
                        .as_service_error()
                        .is_some_and(|e| e.is_transaction_canceled_exception())
                );
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    let written: Vec<String> = (0..TASKS)
        .flat_map(|task| (0..EACH).map(move |i| format!("W#{task}/{i}")))
        .chain(["TAKEN/TAKEN".to_owned()])
        .collect();
    let stored = table.items().await;
    assert_each_once("stored items", &written, stored.iter().map(key_text));
    let mut reader = RawStream::open(&sdk, &table.name).await;
    let records = reader.read_all().await;
    let inserts = records
        .iter()
        .map(|r| format!("{} {}", r.0, key_text(&images(r).0)));
    let expected: Vec<String> = written.iter().map(|k| format!("INSERT {k}")).collect();
    assert_each_once("stream records", &expected, inserts);
}

fn key_text(item: &Item) -> String {
    let (pk, sk) = sort_key(item);
    format!("{pk}/{sk}")
}

fn sort_key(item: &Item) -> (String, String) {
    let text = |name: &str| item[name].as_s().unwrap().clone();
    (text("pk"), text("sk"))
}

/// Every expected entry exactly once and nothing else, or a short list of
/// what is missing, repeated or unexpected.
fn assert_each_once(what: &str, expected: &[String], got: impl Iterator<Item = String>) {
    let mut counts = BTreeMap::<String, usize>::new();
    for entry in got {
        *counts.entry(entry).or_default() += 1;
    }
    let mut wrong: Vec<String> = expected
        .iter()
        .map(|entry| (entry, counts.remove(entry).unwrap_or(0)))
        .filter(|(_, count)| *count != 1)
        .map(|(entry, count)| format!("{entry} x{count}"))
        .collect();
    wrong.extend(
        counts
            .iter()
            .map(|(entry, count)| format!("{entry} x{count} (unexpected)")),
    );
    assert!(wrong.is_empty(), "{what}: {wrong:?}");
}

/// A viewer of `org`, signed in.
async fn viewer(app: &TestApp, org: &TestOrg) -> crate::dashboard::Cookies {
    let email = format!("viewer@{}.example", org.slug());
    app.create_user(org, &email, UserRole::Viewer).await;
    app.login(&email).await
}

async fn totals(app: &TestApp, org: &TestOrg) -> Value {
    let session = viewer(app, org).await;
    let reply = app
        .send(Method::GET, "/analytics/orgs/me/summary", &session, None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    json!({
        "totals": reply.body["totals"],
        "messages_by_role": reply.body["messages_by_role"],
        "top_tags": reply.body["top_tags"],
    })
}

/// The reproduction from the issue: another org's key posting to a chat it
/// does not own is refused by a cancelled transaction; the stream must
/// carry no trace of it and the aggregator go on counting later messages.
#[tokio::test]
async fn a_post_refused_by_a_cancelled_transaction_leaves_the_analytics_exact() {
    let app = spawn_app().await;
    let sdk = sdk_config().await;
    // Open before anything happens, as `make dev`'s aggregator is.
    let mut raw = RawStream::open(&sdk, &app.table).await;
    let aws = Aws::load_with(Budget::interactive(), None).await;
    let aggregator = LocalAggregator::open(&aws, app.store.clone())
        .await
        .unwrap();
    let acme_chat = app
        .create_chat(&app.acme, &json!({"tags": ["support"]}))
        .await;
    assert_eq!(acme_chat.status, 201, "{}", acme_chat.body);
    let acme_chat = acme_chat.body["id"].as_str().unwrap().to_owned();
    let globex_chat = app.create_chat(&app.globex, &json!({})).await;
    assert_eq!(globex_chat.status, 201, "{}", globex_chat.body);
    let globex_chat = globex_chat.body["id"].as_str().unwrap().to_owned();
    aggregator.drain().await.unwrap();

    // Globex's key, under globex's slug, to acme's chat: ingest has not seen
    // (globex, that chat), so it checks the chat in the transaction, which
    // is cancelled: 404.
    let stray = MessageId::new().to_string();
    let refused = app
        .create_message(
            &app.globex,
            &acme_chat,
            &json!({"id": stray, "role": "user", "content": "not my chat", "token_count": 99}),
        )
        .await;
    assert_eq!((refused.status, refused.error_code()), (404, "not_found"));

    for i in 0..3 {
        let body = json!({"role": "user", "content": format!("acme {i}"), "token_count": 10});
        let reply = app.create_message(&app.acme, &acme_chat, &body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }
    for i in 0..2 {
        let body = json!({"role": "assistant", "content": format!("globex {i}"), "token_count": 5});
        let reply = app.create_message(&app.globex, &globex_chat, &body).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
    }

    let records = raw.read_all().await;
    let stray_sk = format!("{}{stray}", keys::MESSAGE_SK_PREFIX);
    let message_inserts = records
        .iter()
        .filter(|r| {
            let (keys, _, _) = images(r);
            assert_ne!(keys["sk"], s(&stray_sk), "a record of the refused post");
            r.0 == "INSERT"
                && keys["sk"]
                    .as_s()
                    .is_ok_and(|sk| sk.starts_with(keys::MESSAGE_SK_PREFIX))
        })
        .count();
    assert_eq!(message_inserts, 5, "every later message reached the stream");
    aggregator.drain().await.unwrap();

    assert!(
        app.all_items()
            .await
            .iter()
            .all(|i| i["sk"] != s(&stray_sk)),
        "the refused post stored nothing"
    );
    let roles = |user: u64, assistant: u64| json!({"user": user, "assistant": assistant, "system": 0, "tool": 0});
    assert_eq!(
        totals(&app, &app.acme).await,
        json!({
            "totals": {"messages": 3, "chats": 1, "tokens": 30},
            "messages_by_role": roles(3, 0),
            "top_tags": [{"tag": "support", "chats": 1}],
        })
    );
    assert_eq!(
        totals(&app, &app.globex).await,
        json!({
            "totals": {"messages": 2, "chats": 1, "tokens": 10},
            "messages_by_role": roles(0, 2),
            "top_tags": [],
        })
    );
}
