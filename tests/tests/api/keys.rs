//! An org's API keys managed from the dashboard, end to end.

use chatlogger::{domain::UserRole, lookups::CHANGES_APPLY_WITHIN};
use reqwest::Method;
use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn api_keys_are_listed_without_secrets_and_revocation_reaches_ingest() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    let admin = app.login("admin@acme.example").await;
    let created = app
        .send(
            Method::POST,
            "/orgs/me/apikeys",
            &admin,
            Some(&json!({"label": "website widget"})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let secret = created.body["secret"].as_str().unwrap().to_owned();
    let key_id = created.body["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with(created.body["prefix"].as_str().unwrap()));

    // The new key works for ingest, which stamps last_used_at.
    let chat = app
        .post(&app.chats_url(&app.acme), Some(&secret), &json!({}))
        .await;
    assert_eq!(chat.status, 201);
    let listed = app
        .send(Method::GET, "/orgs/me/apikeys", &admin, None)
        .await;
    let text = listed.body.to_string();
    assert!(!text.contains(&secret[4..]), "the secret is never listed");
    assert!(!text.contains("hash"));
    let entry = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == key_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["label"], "website widget");
    assert!(entry["last_used_at"].is_string(), "{entry}");
    assert!(entry["revoked_at"].is_null());

    let revoked = app
        .send(
            Method::DELETE,
            &format!("/orgs/me/apikeys/{key_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(revoked.status, 200);
    let revoked_at = revoked.body["revoked_at"].clone();
    assert!(revoked_at.is_string());
    let again = app
        .send(
            Method::DELETE,
            &format!("/orgs/me/apikeys/{key_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(
        again.body["revoked_at"], revoked_at,
        "the first revocation time stays"
    );

    // The local server's ingest runs on the system clock.
    tokio::time::sleep(CHANGES_APPLY_WITHIN).await;
    let refused = app
        .post(&app.chats_url(&app.acme), Some(&secret), &json!({}))
        .await;
    assert_eq!(refused.status, 401, "revoked within the cache bound");
    // The other key of the org still works.
    let other = app.create_chat(&app.acme, &json!({})).await;
    assert_eq!(other.status, 201);
}

/// Chats and messages carry the key that logged them, and an admin deletes
/// what a leaked key logged in a time range: its chats whole, its messages
/// in other chats; nothing another key logged, nothing of another org. A
/// non-admin, or another org's admin, cannot.
#[tokio::test]
async fn a_leaked_keys_writes_are_traced_and_deleted() {
    let app = spawn_app().await;
    for (org, email, role) in [
        (&app.acme, "admin@acme.example", UserRole::Admin),
        (&app.acme, "viewer@acme.example", UserRole::Viewer),
        (&app.globex, "admin@globex.example", UserRole::Admin),
    ] {
        app.create_user(org, email, role).await;
    }
    let admin = app.login("admin@acme.example").await;
    let viewer = app.login("viewer@acme.example").await;
    let globex_admin = app.login("admin@globex.example").await;
    let created = app
        .send(
            Method::POST,
            "/orgs/me/apikeys",
            &admin,
            Some(&json!({"label": "leaked"})),
        )
        .await;
    let leaked = created.body["secret"].as_str().unwrap().to_owned();
    let key_id = created.body["id"].as_str().unwrap().to_owned();

    // A real conversation (the org's good key), which the leaked key writes into.
    let real = app.create_chat(&app.acme, &json!({})).await;
    let real_id = real.body["id"].as_str().unwrap().to_owned();
    let good_key = real.body["key_id"].as_str().unwrap().to_owned();
    assert_ne!(good_key, key_id);
    let planted = app
        .post(
            &app.chats_url(&app.acme),
            Some(&leaked),
            &json!({"title": "spam"}),
        )
        .await;
    assert_eq!(planted.body["key_id"], key_id.as_str(), "{}", planted.body);
    let planted_id = planted.body["id"].as_str().unwrap().to_owned();
    let good_message = app
        .create_message(
            &app.acme,
            &real_id,
            &json!({"role": "user", "content": "hi"}),
        )
        .await;
    assert_eq!(good_message.body["key_id"], good_key.as_str());
    for chat in [&real_id, &real_id, &planted_id] {
        let spam = app
            .post(
                &app.messages_url(&app.acme, chat),
                Some(&leaked),
                &json!({"role": "assistant", "content": "buy now"}),
            )
            .await;
        assert_eq!(spam.status, 201, "{}", spam.body);
        assert_eq!(spam.body["key_id"], key_id.as_str());
    }
    // Another org's data with the same content is never touched.
    let globex_chat = app.create_chat(&app.globex, &json!({})).await;
    let globex_chat = globex_chat.body["id"].as_str().unwrap().to_owned();
    app.create_message(
        &app.globex,
        &globex_chat,
        &json!({"role": "user", "content": "buy now"}),
    )
    .await;

    // The dashboard shows whose each message is.
    let messages_path = format!("/chats/{real_id}/messages");
    let listed = app.send(Method::GET, &messages_path, &admin, None).await;
    let keys: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(keys, [good_key.as_str(), &key_id, &key_id]);

    let data = format!("/orgs/me/apikeys/{key_id}/data");
    let items_before = app.tenant_items(&app.acme).await;
    let refused = app.send(Method::DELETE, &data, &viewer, None).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let elsewhere = app.send(Method::DELETE, &data, &globex_admin, None).await;
    assert_eq!(elsewhere.status, 404, "another org's key is not found");
    for bad in [
        "?from=yesterday",
        "?from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z",
        "?cursor=x",
        "?nope=1",
    ] {
        let answer = app
            .send(Method::DELETE, &format!("{data}{bad}"), &admin, None)
            .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.body);
        assert_eq!(answer.error_code(), "invalid_query", "{bad}");
    }
    let missing = app
        .send(
            Method::DELETE,
            &format!(
                "/orgs/me/apikeys/{}/data",
                chatlogger::domain::ApiKeyId::new()
            ),
            &admin,
            None,
        )
        .await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        app.tenant_items(&app.acme).await,
        items_before,
        "refused calls delete nothing"
    );

    app.send(
        Method::DELETE,
        &format!("/orgs/me/apikeys/{key_id}"),
        &admin,
        None,
    )
    .await;
    let deleted = app.send(Method::DELETE, &data, &admin, None).await;
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(
        deleted.body,
        json!({"chats_deleted": 1, "messages_deleted": 3, "chats_checked": 2, "next_cursor": null})
    );
    let listed = app.send(Method::GET, &messages_path, &admin, None).await;
    let left: Vec<&str> = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        left,
        [good_key.as_str()],
        "only the good key's message is left"
    );
    let gone = app
        .send(Method::GET, &format!("/chats/{planted_id}"), &admin, None)
        .await;
    assert_eq!(gone.status, 404);
    let globex_messages = app
        .send(
            Method::GET,
            &format!("/chats/{globex_chat}/messages"),
            &globex_admin,
            None,
        )
        .await;
    assert_eq!(globex_messages.body["items"].as_array().unwrap().len(), 1);

    let again = app.send(Method::DELETE, &data, &admin, None).await;
    assert_eq!(again.body["messages_deleted"], 0);
    assert_eq!(again.body["chats_deleted"], 0);
}
