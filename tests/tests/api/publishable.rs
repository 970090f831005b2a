//! Publishable keys for browser plugins: created by admins with their
//! allowed origins, accepted only from those origins (and answered with
//! CORS for them alone), never for reads, within their restrictions; and
//! secret keys refused from browsers.

use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    dashboard::Cookies,
    exports::signed_in,
    helpers::{DASHBOARD_ORIGIN, TestApp, spawn_app},
};
use chatlogger::domain::UserRole;

const SHOP: &str = "https://shop.example.com";
const EVIL: &str = "https://evil.example.net";

/// Creates a key through the dashboard API; its answer (with `secret`).
async fn create_key(app: &TestApp, admin: &Cookies, body: Value) -> Value {
    let reply = app
        .send(Method::POST, "/orgs/me/apikeys", admin, Some(&body))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body
}

#[tokio::test]
async fn a_publishable_key_logs_only_from_its_origins_and_reads_nothing() {
    let app = spawn_app().await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let created = create_key(
        &app,
        &admin,
        json!({"label": "shop widget", "type": "publishable", "allowed_origins": [SHOP], "max_content_bytes": 100}),
    )
    .await;
    assert_eq!(created["type"], "publishable");
    assert_eq!(created["allowed_origins"], json!([SHOP]));
    let key = created["secret"].as_str().unwrap().to_owned();
    assert!(key.starts_with("clp_"), "{key}");
    let url = app.batch_url(&app.acme);

    // The browser's preflight is answered for any origin: it carries no key.
    let preflight = app.preflight(&url, SHOP).await;
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.headers["access-control-allow-origin"], SHOP);
    assert_eq!(preflight.headers["access-control-allow-methods"], "POST");
    let allowed = preflight.headers["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("x-organization-api-key"), "{allowed}");
    assert!(
        !preflight
            .headers
            .contains_key("access-control-allow-credentials")
    );

    // From an allowed origin: logged, and shared with that origin only.
    let chat = app
        .plugin_post(
            &app.chats_url(&app.acme),
            &key,
            Some(SHOP),
            &json!({"title": "From the shop"}),
        )
        .await;
    assert_eq!(chat.status, 201, "{}", chat.body);
    assert_eq!(chat.headers["access-control-allow-origin"], SHOP);

    // A member's email as user_id would plant the chat in that member's
    // "own chats": refused from a publishable key (and nothing written); a
    // secret key, on a server, may send one.
    let before = app.tenant_items(&app.acme).await;
    let planted = app
        .plugin_post(
            &app.chats_url(&app.acme),
            &key,
            Some(SHOP),
            &json!({"user_id": "ada@acme.example"}),
        )
        .await;
    assert_eq!(planted.status, 422, "{}", planted.body);
    assert_eq!(app.tenant_items(&app.acme).await, before, "nothing written");
    let from_server = app
        .create_chat(&app.acme, &json!({"user_id": "ada@acme.example"}))
        .await;
    assert_eq!(from_server.status, 201, "{}", from_server.body);
    let exposed = chat.headers["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(
        exposed.contains("retry-after") && exposed.contains("ratelimit"),
        "{exposed}"
    );
    let chat_id = chat.body["id"].as_str().unwrap().to_owned();
    let batch =
        json!({"messages": [{"chat_id": chat_id, "role": "user", "content": "hi from the shop"}]});
    let logged = app.plugin_post(&url, &key, Some(SHOP), &batch).await;
    assert_eq!(logged.status, 207, "{}", logged.body);
    assert_eq!(logged.body["messages"][0]["status"], 201);
    let written = app.tenant_items(&app.acme).await;

    // From another origin, or from no browser at all: 403, nothing written,
    // and no CORS header, so the other page cannot even read the refusal.
    for origin in [Some(EVIL), None] {
        let refused = app.plugin_post(&url, &key, origin, &batch).await;
        assert_eq!(
            (refused.status, refused.error_code().as_str()),
            (403, "origin_not_allowed"),
            "{origin:?}"
        );
        assert!(!refused.headers.contains_key("access-control-allow-origin"));
    }
    // The key's restriction: content of at most 100 bytes.
    let long = json!({"role": "user", "content": "x".repeat(101)});
    let refused = app
        .plugin_post(
            &app.messages_url(&app.acme, &chat_id),
            &key,
            Some(SHOP),
            &long,
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 100 bytes")
    );
    // Its own org only.
    let other_org = app
        .plugin_post(&app.chats_url(&app.globex), &key, Some(SHOP), &json!({}))
        .await;
    assert_eq!(other_org.status, 401);
    assert_eq!(app.tenant_items(&app.acme).await, written);
    assert_eq!(app.tenant_items(&app.globex).await, 0);

    // No reads, no listing: nothing that reads data takes an API key.
    for path in [
        "/chats".to_owned(),
        format!("/chats/{chat_id}"),
        format!("/chats/{chat_id}/messages"),
        "/orgs/me/apikeys".to_owned(),
        "/analytics/orgs/me/summary".to_owned(),
        "/exports/orgs/me".to_owned(),
    ] {
        let reply = app
            .http
            .get(format!("{}{path}", app.base_url))
            .header("x-organization-api-key", &key)
            .header("origin", SHOP)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 401, "{path}");
        assert!(
            !reply.headers().contains_key("access-control-allow-origin"),
            "the dashboard's CORS does not answer a plugin origin: {path}"
        );
    }
    // The dashboard's own origin still gets the dashboard's CORS.
    let dashboard = app
        .http
        .request(Method::OPTIONS, format!("{}/chats", app.base_url))
        .header("origin", DASHBOARD_ORIGIN)
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert_eq!(
        dashboard.headers()["access-control-allow-origin"],
        DASHBOARD_ORIGIN
    );
}

#[tokio::test]
async fn secret_keys_are_refused_from_browsers_and_settings_are_checked() {
    let app = spawn_app().await;
    let key = app.acme.key.expose();
    let before = app.tenant_items(&app.acme).await;
    let refused = app
        .plugin_post(&app.chats_url(&app.acme), key, Some(SHOP), &json!({}))
        .await;
    assert_eq!(
        (refused.status, refused.error_code().as_str()),
        (403, "origin_not_allowed")
    );
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("publishable")
    );
    assert!(!refused.headers.contains_key("access-control-allow-origin"));
    assert_eq!(app.tenant_items(&app.acme).await, before);
    // Servers send no Origin: the same key works there.
    let server = app
        .plugin_post(&app.chats_url(&app.acme), key, None, &json!({}))
        .await;
    assert_eq!(server.status, 201);

    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    for (body, says) in [
        (
            json!({"label": "w", "type": "publishable"}),
            "at least one origin",
        ),
        (
            json!({"label": "w", "type": "publishable", "allowed_origins": ["https://*.example.com"]}),
            "not an origin",
        ),
        (
            json!({"label": "w", "allowed_origins": [SHOP]}),
            "publishable keys only",
        ),
        (json!({"label": "w", "type": "public"}), "type"),
        (
            json!({"label": "w", "rate_limit": {"per_second": 0}}),
            "per_second",
        ),
    ] {
        let reply = app
            .send(Method::POST, "/orgs/me/apikeys", &admin, Some(&body))
            .await;
        assert_eq!(reply.status, 422, "{body}: {}", reply.body);
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(says), "{message}");
    }

    // An admin changes a key's origins and rate; the listing shows them.
    let created = create_key(
        &app,
        &admin,
        json!({"label": "shop", "type": "publishable", "allowed_origins": [SHOP]}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let settings = json!({"settings": {"allowed_origins": [SHOP, "https://www.example.com"], "rate_limit": {"per_second": 5}}});
    let updated = app
        .send(
            Method::PATCH,
            &format!("/orgs/me/apikeys/{id}"),
            &admin,
            Some(&settings),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["rate_limit"], json!({"per_second": 5}));
    let listed = app
        .send(Method::GET, "/orgs/me/apikeys", &admin, None)
        .await;
    let listed = listed.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["id"] == created["id"])
        .unwrap()
        .clone();
    assert_eq!(listed["allowed_origins"].as_array().unwrap().len(), 2);
    assert!(listed.get("secret").is_none());
    let patch = |body: Value| {
        let app = &app;
        let admin = &admin;
        async move {
            app.send(
                Method::PATCH,
                &format!("/orgs/me/apikeys/{id}"),
                admin,
                Some(&body),
            )
            .await
        }
    };
    // A setting left out is kept; one sent replaces; null removes.
    let narrowed = patch(json!({"settings": {"max_content_bytes": 1000}})).await;
    assert_eq!(narrowed.status, 200, "{}", narrowed.body);
    assert_eq!(
        narrowed.body["allowed_origins"].as_array().unwrap().len(),
        2
    );
    assert_eq!(narrowed.body["rate_limit"], json!({"per_second": 5}));
    assert_eq!(narrowed.body["max_content_bytes"], 1000);
    let default_rate = patch(json!({"settings": {"rate_limit": null}})).await;
    assert_eq!(default_rate.status, 200, "{}", default_rate.body);
    assert!(default_rate.body.get("rate_limit").is_none());
    assert_eq!(default_rate.body["max_content_bytes"], 1000);
    // A typo is refused, not ignored, and changes nothing.
    let typo = patch(json!({"settings": {"rate_limt": {"per_second": 1}}})).await;
    assert_eq!(typo.status, 422, "{}", typo.body);
    let message = typo.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("rate_limt"), "{}", typo.body);
    for emptied in [
        json!({"allowed_origins": null}),
        json!({"allowed_origins": []}),
    ] {
        let emptied = patch(json!({ "settings": emptied })).await;
        assert_eq!(emptied.status, 422, "a publishable key keeps an origin");
    }
    let key_id = chatlogger::domain::ApiKeyId::parse(id).unwrap();
    let stored =
        chatlogger::store::ApiKeyStore::api_key(&*app.store, app.acme.org.id, key_id).await;
    let stored = stored.unwrap().unwrap();
    assert_eq!(stored.settings.allowed_origins.len(), 2);
    assert_eq!(
        stored.settings.max_content_bytes.map(|m| m.get()),
        Some(1000)
    );
}
