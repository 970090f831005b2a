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
