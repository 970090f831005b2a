//! Bad input: each case gets a 4xx JSON error with the expected code, and
//! nothing is written.

use serde_json::{Value, json};

use crate::helpers::{TestApp, spawn_app};

fn message(overrides: Value) -> Value {
    let mut body = json!({"role": "user", "content": "hello"});
    for (key, value) in overrides.as_object().unwrap() {
        if value.is_null() {
            body.as_object_mut().unwrap().remove(key);
        } else {
            body[key] = value.clone();
        }
    }
    body
}

/// Posts each `(case, body, text the message must contain)` and expects a
/// 422 `invalid_body` whose message mentions that text.
async fn assert_invalid_bodies(app: &TestApp, url: &str, cases: Vec<(&str, Value, &str)>) {
    for (case, body, needle) in cases {
        let reply = app.post(url, Some(app.acme.key.expose()), &body).await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (422, "invalid_body"),
            "{case}: {}",
            reply.body
        );
        let text = reply.body["error"]["message"].as_str().unwrap();
        assert!(
            text.contains(needle),
            "{case}: {text:?} should mention {needle:?}"
        );
    }
}

#[tokio::test]
async fn bad_message_bodies_are_refused_with_a_clear_error_and_no_write() {
    let app = spawn_app().await;
    let chat = app.create_chat(&app.acme, &json!({})).await;
    let url = app.messages_url(&app.acme, chat.body["id"].as_str().unwrap());
    let before = app.tenant_items(&app.acme).await;

    let oversize = "x".repeat(32 * 1024 + 1);
    let cases = vec![
        ("unknown role", message(json!({"role": "robot"})), "role"),
        (
            "missing role",
            message(json!({"role": null})),
            "missing field `role`",
        ),
        (
            "missing content",
            message(json!({"content": null})),
            "missing field `content`",
        ),
        (
            "empty content",
            message(json!({"content": ""})),
            "content must not be empty",
        ),
        (
            "blank content",
            message(json!({"content": " \n "})),
            "content must not be empty",
        ),
        (
            "oversize content",
            message(json!({"content": oversize})),
            "at most 32768 bytes",
        ),
        (
            "content not a string",
            message(json!({"content": 5})),
            "content",
        ),
        (
            "oversize metadata",
            message(json!({"metadata": {"k": "x".repeat(8 * 1024)}})),
            "at most 8192 bytes",
        ),
        (
            "metadata not an object",
            message(json!({"metadata": [1, 2]})),
            "metadata must be a JSON object",
        ),
        (
            "negative latency",
            message(json!({"latency_ms": -1})),
            "latency_ms must be an integer from 0",
        ),
        (
            "fractional latency",
            message(json!({"latency_ms": 1.5})),
            "latency_ms must be an integer",
        ),
        (
            "huge latency",
            message(json!({"latency_ms": 86_400_001u64})),
            "latency_ms",
        ),
        (
            "negative tokens",
            message(json!({"token_count": -3})),
            "token_count must be an integer from 0",
        ),
        ("bad client id", message(json!({"id": "not-a-ulid"})), "id"),
        // Ids of 1970 and of the year 10889: far from the server's clock.
        (
            "id from long ago",
            message(json!({"id": "00000000010000000000000000"})),
            "within an hour of the server's clock",
        ),
        (
            "id from the far future",
            message(json!({"id": "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"})),
            "within an hour of the server's clock",
        ),
        (
            "unknown field",
            message(json!({"contnet": "typo"})),
            "unknown field `contnet`",
        ),
        (
            "not an object",
            json!(["role", "user"]),
            "must be a JSON object",
        ),
    ];
    assert_invalid_bodies(&app, &url, cases).await;
    assert_eq!(
        app.tenant_items(&app.acme).await,
        before,
        "no bad message was written"
    );
}

#[tokio::test]
async fn bad_chat_bodies_are_refused_with_a_clear_error_and_no_write() {
    let app = spawn_app().await;
    let many_tags: Vec<String> = (0..21).map(|i| format!("tag{i}")).collect();
    let cases = vec![
        ("too many tags", json!({"tags": many_tags}), "at most 20"),
        ("long tag", json!({"tags": ["x".repeat(65)]}), "at most 64"),
        ("empty tag", json!({"tags": [""]}), "must not be empty"),
        ("tags not a list", json!({"tags": "billing"}), "tags"),
        (
            "long title",
            json!({"title": "x".repeat(201)}),
            "title must be at most 200",
        ),
        (
            "blank title",
            json!({"title": "  "}),
            "title must not be empty",
        ),
        (
            "oversize metadata",
            json!({"metadata": {"k": "x".repeat(8 * 1024)}}),
            "at most 8192 bytes",
        ),
        ("user id with spaces", json!({"user_id": "a b"}), "user_id"),
        ("bad client id", json!({"id": "123"}), "id"),
        (
            "id pinned atop every list",
            json!({"id": "7ZZZZZZZZZZZZZZZZZZZZZZZZZ"}),
            "within an hour of the server's clock",
        ),
        (
            "id from long ago",
            json!({"id": "00000000010000000000000000"}),
            "within an hour of the server's clock",
        ),
        (
            "unknown field",
            json!({"titel": "typo"}),
            "unknown field `titel`",
        ),
    ];
    assert_invalid_bodies(&app, &app.chats_url(&app.acme), cases).await;
    assert_eq!(
        app.tenant_items(&app.acme).await,
        0,
        "no bad chat was written"
    );
}

#[tokio::test]
async fn titles_tags_and_user_ids_refuse_invisible_characters_but_content_keeps_them() {
    let app = spawn_app().await;
    // A right-to-left override (U+202E) makes "invoice<RLO>fdp.exe" read as "invoiceexe.pdf";
    // a zero-width space (U+200B) makes two tags that look alike, "vip" and "v<ZWSP>ip".
    let (rlo, zwsp, zwj) = ("\u{202E}", "\u{200B}", "\u{200D}");
    let cases = vec![
        (
            "bidi override in the title",
            json!({"title": format!("invoice{rlo}fdp.exe")}),
            "U+202E",
        ),
        (
            "zero-width space in a tag",
            json!({"tags": [format!("v{zwsp}ip")]}),
            "U+200B",
        ),
        (
            "zero-width joiner in the user id",
            json!({"user_id": format!("visitor{zwj}42")}),
            "U+200D",
        ),
        (
            "BOM in the user id",
            json!({"user_id": "\u{FEFF}visitor-42"}),
            "U+FEFF",
        ),
    ];
    assert_invalid_bodies(&app, &app.chats_url(&app.acme), cases).await;
    assert_eq!(app.tenant_items(&app.acme).await, 0, "nothing was written");

    let chat = app.create_chat(&app.acme, &json!({"title": "ok"})).await;
    let content = format!("quoted{rlo}text with a{zwsp}zero-width space");
    let message = app
        .create_message(
            &app.acme,
            chat.body["id"].as_str().unwrap(),
            &json!({"role": "user", "content": content}),
        )
        .await;
    assert_eq!(message.status, 201, "{}", message.body);
    assert_eq!(message.body["content"], content.as_str(), "stored verbatim");
}

#[tokio::test]
async fn malformed_json_wrong_content_type_oversize_body_and_bad_path_are_refused() {
    let app = spawn_app().await;
    let key = app.acme.key.expose();
    let chats = app.chats_url(&app.acme);

    let reply = app
        .post_raw(&chats, key, "application/json", b"{\"title\": ".to_vec())
        .await;
    assert_eq!((reply.status, reply.error_code()), (400, "malformed_json"));
    let reply = app
        .post_raw(&chats, key, "application/json", Vec::new())
        .await;
    assert_eq!((reply.status, reply.error_code()), (400, "malformed_json"));
    assert_eq!(reply.body["error"]["message"], "the request body is empty");
    let reply = app
        .post_raw(&chats, key, "text/plain", b"{}".to_vec())
        .await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (415, "unsupported_media_type")
    );
    let mut big = b"{\"title\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'x', 300 * 1024));
    big.extend(b"\"}");
    let reply = app.post_raw(&chats, key, "application/json", big).await;
    assert_eq!(
        (reply.status, reply.error_code()),
        (413, "payload_too_large")
    );
    // JSON with a charset parameter is fine.
    let reply = app
        .post_raw(
            &chats,
            key,
            "application/json; charset=utf-8",
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let chat_count = app.tenant_items(&app.acme).await;

    let reply = app
        .post(
            &app.messages_url(&app.acme, "not-a-ulid"),
            Some(key),
            &json!({"role": "user", "content": "x"}),
        )
        .await;
    assert_eq!((reply.status, reply.error_code()), (400, "invalid_path"));
    assert_eq!(reply.body["error"]["message"], "chat_id must be a ULID");
    assert_eq!(
        app.tenant_items(&app.acme).await,
        chat_count,
        "only the one valid chat was written"
    );
}
