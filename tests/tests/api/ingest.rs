//! The chat-plugin API over HTTP against DynamoDB on moto.

use aws_sdk_dynamodb::types::AttributeValue;
use chatlogger::{
    domain::{ChatId, MessageId},
    store::keys,
};
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_plugin_logs_a_chat_and_its_messages() {
    let app = spawn_app().await;
    let chat = app
        .create_chat(&app.acme, &json!({"title": " Refund ", "tags": ["billing", "vip", "billing"], "metadata": {"page": "/pricing", "score": 1.50}, "user_id": "visitor-42"}))
        .await;
    assert_eq!(chat.status, 201, "{}", chat.body);
    assert_eq!(chat.body["title"], "Refund");
    assert_eq!(chat.body["tags"], json!(["billing", "vip"]));
    assert_eq!(
        chat.body["metadata"],
        json!({"page": "/pricing", "score": 1.50})
    );
    assert_eq!(chat.body["user_id"], "visitor-42");
    let chat_id = chat.body["id"].as_str().unwrap().to_owned();
    ChatId::parse(&chat_id).expect("the server assigns a ULID");

    let message = app
        .create_message(&app.acme, &chat_id, &json!({"role": "assistant", "content": "  Sure!\n", "metadata": {"model": "m1"}, "latency_ms": 850, "token_count": 42}))
        .await;
    assert_eq!(message.status, 201, "{}", message.body);
    assert_eq!(message.body["chat_id"], chat_id.as_str());
    assert_eq!(message.body["role"], "assistant");
    assert_eq!(
        message.body["content"], "  Sure!\n",
        "content is stored verbatim"
    );
    assert_eq!(message.body["latency_ms"], 850);
    assert_eq!(message.body["token_count"], 42);
    let message_id = MessageId::parse(message.body["id"].as_str().unwrap()).unwrap();

    // Stored under the org's partitions, as docs/data-layout.md lays them out.
    let chat_id = ChatId::parse(&chat_id).unwrap();
    let chats = app.items_in(&keys::org_pk(app.acme.org.id)).await;
    assert!(
        chats
            .iter()
            .any(|item| item.get("sk") == Some(&AttributeValue::S(keys::chat_sk(chat_id))))
    );
    let messages = app
        .items_in(&keys::messages_pk(app.acme.org.id, chat_id))
        .await;
    assert_eq!(messages.len(), 1);
    assert_eq!(
        messages[0]["sk"],
        AttributeValue::S(keys::message_sk(message_id))
    );
    assert_eq!(messages[0]["kind"], AttributeValue::S("message".into()));
    assert_eq!(
        messages[0]["org_id"],
        AttributeValue::S(app.acme.org.id.to_string())
    );
}

#[tokio::test]
async fn every_item_of_an_org_is_under_a_partition_that_begins_with_the_org() {
    let app = spawn_app().await;
    let chat = app.create_chat(&app.acme, &json!({})).await;
    let chat_id = chat.body["id"].as_str().unwrap();
    app.create_message(
        &app.acme,
        chat_id,
        &json!({"role": "user", "content": "hi"}),
    )
    .await;

    let org_prefix = format!("ORG#{}", app.acme.org.id);
    for item in app.all_items().await {
        let AttributeValue::S(pk) = &item["pk"] else {
            panic!("pk is a string")
        };
        let global_lookup = ["SLUG#", "EMAIL#", "KEYHASH#"]
            .iter()
            .any(|p| pk.starts_with(p));
        let other_org = pk.starts_with(&format!("ORG#{}", app.globex.org.id));
        assert!(
            pk.starts_with(&org_prefix) || global_lookup || other_org,
            "unexpected partition {pk}"
        );
        if global_lookup {
            // Pointers only (and a key's grant: its type and settings, so
            // ingest needs one read): no tenant content.
            let fields: Vec<&str> = item.keys().map(String::as_str).collect();
            assert!(
                fields.iter().all(|f| [
                    "pk", "sk", "kind", "org_id", "org_slug", "user_id", "key_id", "revoked",
                    "key_type", "settings"
                ]
                .contains(f)),
                "{fields:?}"
            );
        }
    }
}

#[tokio::test]
async fn retries_with_a_client_id_are_idempotent_and_conflicts_are_409() {
    let app = spawn_app().await;
    let chat_id = ChatId::new().to_string();
    let body = json!({"id": chat_id, "title": "Retry me", "tags": ["a"]});

    let first = app.create_chat(&app.acme, &body).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let retry = app.create_chat(&app.acme, &body).await;
    assert_eq!(retry.status, 200, "a retry returns the stored chat");
    assert_eq!(retry.body, first.body, "including the original created_at");
    let changed = app
        .create_chat(
            &app.acme,
            &json!({"id": chat_id, "title": "Something else"}),
        )
        .await;
    assert_eq!((changed.status, changed.error_code()), (409, "conflict"));

    let message_id = MessageId::new().to_string();
    let message = json!({"id": message_id, "role": "user", "content": "hello", "latency_ms": 5});
    let first = app.create_message(&app.acme, &chat_id, &message).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let retry = app.create_message(&app.acme, &chat_id, &message).await;
    assert_eq!(retry.status, 200);
    assert_eq!(retry.body, first.body);
    let changed = app
        .create_message(
            &app.acme,
            &chat_id,
            &json!({"id": message_id, "role": "user", "content": "HELLO"}),
        )
        .await;
    assert_eq!((changed.status, changed.error_code()), (409, "conflict"));

    // Nothing was written twice or overwritten.
    let chat_id = ChatId::parse(&chat_id).unwrap();
    let messages = app
        .items_in(&keys::messages_pk(app.acme.org.id, chat_id))
        .await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["content"], AttributeValue::S("hello".into()));
    let chats = app.items_in(&keys::org_pk(app.acme.org.id)).await;
    let stored_chat = chats
        .iter()
        .find(|i| i["sk"] == AttributeValue::S(keys::chat_sk(chat_id)))
        .unwrap();
    assert_eq!(stored_chat["title"], AttributeValue::S("Retry me".into()));
}

#[tokio::test]
async fn a_chat_of_another_org_or_no_chat_at_all_is_404_and_nothing_is_written() {
    let app = spawn_app().await;
    let globex_chat = app
        .create_chat(&app.globex, &json!({"title": "Globex secret"}))
        .await;
    let globex_chat_id = globex_chat.body["id"].as_str().unwrap().to_owned();
    let before_acme = app.tenant_items(&app.acme).await;
    let before_globex = app.tenant_items(&app.globex).await;

    for chat_id in [globex_chat_id.clone(), ChatId::new().to_string()] {
        let reply = app
            .create_message(
                &app.acme,
                &chat_id,
                &json!({"role": "user", "content": "intrusion"}),
            )
            .await;
        assert_eq!(
            (reply.status, reply.error_code()),
            (404, "not_found"),
            "{}",
            reply.body
        );
        assert_eq!(reply.body["error"]["message"], "chat not found");
    }
    // Acme's key on Globex's path is refused before anything else.
    let reply = app
        .post(
            &app.messages_url(&app.globex, &globex_chat_id),
            Some(app.acme.key.expose()),
            &json!({"role": "user", "content": "x"}),
        )
        .await;
    assert_eq!(reply.status, 401);

    assert_eq!(app.tenant_items(&app.acme).await, before_acme);
    assert_eq!(app.tenant_items(&app.globex).await, before_globex);
}

#[tokio::test]
async fn every_api_key_failure_is_the_same_401() {
    let app = spawn_app().await;
    // A revoked key: flip the lookup item as revocation does.
    let revoked = crate::helpers::create_org_with_key(&app.store, "revoked-org").await;
    app.dynamodb
        .update_item()
        .table_name(&app.table)
        .key(
            "pk",
            AttributeValue::S(keys::key_hash_pk(&revoked.key.hash())),
        )
        .key("sk", AttributeValue::S(keys::KEY_HASH_SK.into()))
        .update_expression("SET revoked = :true")
        .expression_attribute_values(":true", AttributeValue::Bool(true))
        .send()
        .await
        .unwrap();
    let unknown =
        chatlogger::domain::ApiKeySecret::generate(chatlogger::domain::ApiKeyKind::Secret);

    let cases: Vec<(&str, String, Option<&str>)> = vec![
        ("missing key", app.chats_url(&app.acme), None),
        ("malformed key", app.chats_url(&app.acme), Some("not-a-key")),
        (
            "truncated key",
            app.chats_url(&app.acme),
            Some(&app.acme.key.expose()[..40]),
        ),
        (
            "unknown key",
            app.chats_url(&app.acme),
            Some(unknown.expose()),
        ),
        (
            "revoked key",
            app.chats_url(&revoked),
            Some(revoked.key.expose()),
        ),
        (
            "other org's key",
            app.chats_url(&app.acme),
            Some(app.globex.key.expose()),
        ),
        (
            "org that does not exist",
            format!("{}/api/v1/orgs/nope/chats", app.base_url),
            Some(app.acme.key.expose()),
        ),
    ];
    let mut bodies = Vec::new();
    for (case, url, key) in cases {
        let reply = app.post(&url, key, &json!({"title": "x"})).await;
        assert_eq!(reply.status, 401, "{case}: {}", reply.body);
        bodies.push(reply.body);
    }
    assert!(
        bodies.windows(2).all(|pair| pair[0] == pair[1]),
        "one generic answer: {bodies:?}"
    );
    assert_eq!(
        bodies[0],
        json!({"error": {"code": "unauthorized", "message": "missing or invalid API key"}})
    );
    assert_eq!(app.tenant_items(&app.acme).await, 0, "nothing was written");
    assert_eq!(app.tenant_items(&revoked).await, 0);
}

#[tokio::test]
async fn health_reports_version_and_whether_the_table_answers() {
    let app = spawn_app().await;
    let health = app.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(
        health.body,
        json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "table": true})
    );

    // The same route against a table that does not exist.
    let sdk = crate::helpers::sdk_config().await;
    let store = std::sync::Arc::new(chatlogger::store::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        "no-such-table",
    ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    let app = crate::helpers::local_app(store).await;
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let body: serde_json::Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    assert_eq!(body["status"], "degraded");
    assert_eq!(body["table"], false);
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let missing = app.get("/api/v1/nothing-here").await;
    assert_eq!(
        (missing.status, missing.error_code()),
        (404, "route_not_found")
    );
    let wrong_method = app
        .get(&format!("/api/v1/orgs/{}/chats", app.acme.slug()))
        .await;
    assert_eq!(
        (wrong_method.status, wrong_method.error_code()),
        (405, "method_not_allowed")
    );
}

#[tokio::test]
async fn the_openapi_document_is_served() {
    let app = spawn_app().await;
    let doc = app.get("/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
    for path in [
        "/api/v1/orgs/{slug}/chats",
        "/api/v1/orgs/{slug}/chats/{chat_id}/messages",
        "/api/v1/orgs/{slug}/batch",
        "/health",
        "/openapi.json",
    ] {
        assert!(
            doc.body["paths"].get(path).is_some(),
            "{path} missing from the document"
        );
    }
    assert!(doc.body["components"]["schemas"].get("ErrorBody").is_some());
    let responses =
        &doc.body["paths"]["/api/v1/orgs/{slug}/chats/{chat_id}/messages"]["post"]["responses"];
    for status in [
        "200", "201", "400", "401", "403", "404", "409", "413", "415", "422", "429", "503",
    ] {
        let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
        assert!(
            schema.is_string(),
            "{status} is documented with a body: {responses}"
        );
    }
    assert_eq!(
        responses["422"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
    assert_eq!(
        responses["201"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Message"
    );
    assert_eq!(
        doc.body["components"]["securitySchemes"]["org_api_key"]["name"],
        "x-organization-api-key"
    );
    // A batch message is one flat object: `chat_id` and a message's fields.
    let schemas = &doc.body["components"]["schemas"];
    let batch_message = &schemas["BatchMessage"]["allOf"];
    assert_eq!(
        batch_message[1]["$ref"],
        "#/components/schemas/CreateMessageRequest"
    );
    assert!(batch_message[0]["properties"].get("chat_id").is_some());
    assert!(schemas.get("CreateMessageRequest").is_some());
    let batch = &doc.body["paths"]["/api/v1/orgs/{slug}/batch"];
    assert!(batch["post"]["responses"].get("207").is_some());
    assert!(
        batch.get("options").is_some(),
        "the preflight is documented"
    );
}
