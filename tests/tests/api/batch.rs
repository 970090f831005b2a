//! Batch ingest over HTTP: every item answered in order with the status its
//! own route would give it, a bad item writing nothing and harming no other,
//! a bad envelope refused whole, and chats created with their first messages.

use aws_sdk_dynamodb::types::AttributeValue;
use chatlogger::{
    domain::{ChatId, MessageId},
    store::keys,
};
use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

/// Each item's `status`, in order.
fn statuses(answer: &Value, list: &str) -> Vec<u64> {
    answer[list]
        .as_array()
        .unwrap_or_else(|| panic!("no {list}: {answer}"))
        .iter()
        .map(|item| item["status"].as_u64().unwrap())
        .collect()
}

async fn messages_of(
    app: &TestApp,
    chat: &str,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    app.items_in(&keys::messages_pk(
        app.acme.org.id,
        ChatId::parse(chat).unwrap(),
    ))
    .await
}

#[tokio::test]
async fn a_batch_answers_each_item_and_one_bad_item_harms_no_other() {
    let app = spawn_app().await;
    let key = app.acme.key.expose();
    let existing = app
        .create_chat(&app.acme, &json!({"title": "Existing"}))
        .await;
    let existing = existing.body["id"].as_str().unwrap().to_owned();
    let replayed =
        json!({"id": MessageId::new().to_string(), "role": "user", "content": "sent twice"});
    let taken = MessageId::new().to_string();
    for body in [
        replayed.clone(),
        json!({"id": taken, "role": "user", "content": "the original"}),
    ] {
        assert_eq!(
            app.create_message(&app.acme, &existing, &body).await.status,
            201
        );
    }
    let globex_chat = app.create_chat(&app.globex, &json!({})).await;
    let globex_chat = globex_chat.body["id"].as_str().unwrap().to_owned();
    let new_chat = ChatId::new().to_string();
    let before = app.tenant_items(&app.acme).await;

    let mut replay_item = replayed.clone();
    replay_item["chat_id"] = json!(existing);
    let batch = json!({
        "chats": [
            {"id": new_chat, "title": "Made by the batch"},
            {"id": existing, "title": "Not the existing chat's title"},
            {"title": "x".repeat(201)},
        ],
        "messages": [
            {"chat_id": new_chat, "role": "user", "content": "into the new chat"},
            {"chat_id": existing, "role": "assistant", "content": "new in an existing chat", "latency_ms": 90},
            replay_item,
            {"chat_id": existing, "id": taken, "role": "user", "content": "something else"},
            {"chat_id": ChatId::new().to_string(), "role": "user", "content": "no such chat"},
            {"chat_id": globex_chat, "role": "user", "content": "another org's chat"},
            {"chat_id": existing, "role": "user", "content": "   "},
            {"chat_id": existing, "role": "robot", "content": "bad role"},
            {"chat_id": existing, "role": "user", "content": "x", "colour": "red"},
            {"role": "user", "content": "no chat id"},
            "not an object",
        ],
    });
    let reply = app
        .plugin_post(&app.batch_url(&app.acme), key, None, &batch)
        .await;
    assert_eq!(reply.status, 207, "{}", reply.body);
    let answer = &reply.body;
    assert_eq!(statuses(answer, "chats"), [201, 409, 422]);
    assert_eq!(
        statuses(answer, "messages"),
        [201, 201, 200, 409, 404, 404, 422, 422, 422, 422, 422]
    );
    // Created and replayed items come back; refusals say why, like their routes.
    assert_eq!(answer["chats"][0]["item"]["id"], new_chat.as_str());
    assert_eq!(answer["chats"][1]["error"]["code"], "conflict");
    assert!(
        answer["chats"][2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("title must be at most 200 characters")
    );
    assert_eq!(answer["messages"][2]["item"]["id"], replayed["id"]);
    assert_eq!(answer["messages"][4]["error"]["message"], "chat not found");
    let reasons: Vec<&str> = answer["messages"].as_array().unwrap()[6..]
        .iter()
        .map(|item| item["error"]["message"].as_str().unwrap())
        .collect();
    assert!(
        reasons[0].contains("content must not be empty"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("role"), "{reasons:?}");
    assert!(reasons[2].contains("unknown field `colour`"), "{reasons:?}");
    assert!(reasons[3].contains("chat_id"), "{reasons:?}");
    assert!(reasons[4].contains("JSON object"), "{reasons:?}");
    assert!(reply.headers.contains_key("ratelimit-policy"));

    // Written: the new chat, its message, and one new message in the
    // existing chat. Nothing else, in either org.
    assert_eq!(app.tenant_items(&app.acme).await, before + 3);
    assert_eq!(messages_of(&app, &new_chat).await.len(), 1);
    let existing_messages = messages_of(&app, &existing).await;
    assert_eq!(existing_messages.len(), 3);
    let original = existing_messages
        .iter()
        .find(|m| m["id"] == AttributeValue::S(taken.clone()))
        .unwrap();
    assert_eq!(
        original["content"],
        AttributeValue::S("the original".into())
    );
    assert_eq!(app.tenant_items(&app.globex).await, 1);
}

#[tokio::test]
async fn a_batch_creates_chats_with_their_first_messages_and_replays_whole() {
    let app = spawn_app().await;
    let (first, second) = (ChatId::new().to_string(), ChatId::new().to_string());
    let messages: Vec<Value> = (0..6)
        .map(|i| {
            let chat = if i % 2 == 0 { &first } else { &second };
            json!({
                "chat_id": chat,
                "id": MessageId::new().to_string(),
                "role": if i % 2 == 0 { "user" } else { "assistant" },
                "content": format!("message {i}"),
                "token_count": i,
            })
        })
        .collect();
    let batch = json!({
        "chats": [
            {"id": first, "title": "First", "tags": ["batch"], "user_id": "visitor-1"},
            {"id": second, "metadata": {"page": "/help"}},
        ],
        "messages": messages,
    });
    let key = app.acme.key.expose();
    let reply = app
        .plugin_post(&app.batch_url(&app.acme), key, None, &batch)
        .await;
    assert_eq!(reply.status, 207, "{}", reply.body);
    assert_eq!(statuses(&reply.body, "chats"), [201, 201]);
    assert_eq!(statuses(&reply.body, "messages"), [201; 6]);
    assert_eq!(reply.body["chats"][0]["item"]["tags"], json!(["batch"]));
    assert_eq!(messages_of(&app, &first).await.len(), 3);
    assert_eq!(messages_of(&app, &second).await.len(), 3);

    // The same batch again (a client retry): every item replayed, nothing new.
    let before = app.tenant_items(&app.acme).await;
    let again = app
        .plugin_post(&app.batch_url(&app.acme), key, None, &batch)
        .await;
    assert_eq!(again.status, 207);
    assert_eq!(statuses(&again.body, "chats"), [200, 200]);
    assert_eq!(statuses(&again.body, "messages"), [200; 6]);
    for (list, count) in [("chats", 2), ("messages", 6)] {
        for i in 0..count {
            assert_eq!(again.body[list][i]["item"], reply.body[list][i]["item"]);
        }
    }
    assert_eq!(app.tenant_items(&app.acme).await, before);
}

#[tokio::test]
async fn a_bad_envelope_is_refused_whole_and_writes_nothing() {
    let app = spawn_app().await;
    let chat = app.create_chat(&app.acme, &json!({})).await;
    let chat = chat.body["id"].as_str().unwrap().to_owned();
    let message = |i: usize| json!({"chat_id": chat, "role": "user", "content": format!("m{i}")});
    let before = app.tenant_items(&app.acme).await;
    let url = app.batch_url(&app.acme);
    let key = app.acme.key.expose();

    let too_many: Vec<Value> = (0..101).map(message).collect();
    let big = "x".repeat(30_000);
    let too_big: Vec<Value> = (0..40)
        .map(|i| json!({"chat_id": chat, "role": "user", "content": format!("{i}{big}")}))
        .collect();
    for (body, status, code, says) in [
        (json!({}), 422, "invalid_body", "at least one"),
        (json!({"messages": []}), 422, "invalid_body", "at least one"),
        (
            json!({"messages": too_many}),
            422,
            "invalid_body",
            "at most 100",
        ),
        (
            json!({"messages": [message(1)], "extra": 1}),
            422,
            "invalid_body",
            "unknown field",
        ),
        (
            json!({"messages": {"0": message(1)}}),
            422,
            "invalid_body",
            "messages",
        ),
        (json!([message(1)]), 422, "invalid_body", "JSON object"),
        (
            json!({"messages": too_big}),
            413,
            "payload_too_large",
            "1048576",
        ),
    ] {
        let reply = app.plugin_post(&url, key, None, &body).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (status, code),
            "{}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }
    let malformed = app
        .post_raw(&url, key, "application/json", b"{\"messages\": [".to_vec())
        .await;
    assert_eq!(
        (malformed.status, malformed.error_code()),
        (400, "malformed_json")
    );
    let not_json = app.post_raw(&url, key, "text/plain", b"{}".to_vec()).await;
    assert_eq!(not_json.status, 415);
    let unauthenticated = app
        .post(&url, None, &json!({"messages": [message(1)]}))
        .await;
    assert_eq!(unauthenticated.status, 401);

    assert_eq!(app.tenant_items(&app.acme).await, before);
}
