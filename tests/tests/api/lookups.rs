//! Ingest's cached lookups in simulated time: warm containers (each with
//! its own caches) on one manual clock against moto. A key grant or an
//! org's limits is cached for minutes, and a change to it (a revocation, a
//! new origin or rate, new org limits) still applies within 5 s, through
//! the change feed; a quiet container reads only the feed between lookups;
//! `last_used_at` is stamped once an hour per container. (That both stores
//! note the same changes in the feed is the storage contract's
//! `the_change_feed_notes_what_ingest_caches`.)

use axum::{
    body::Body,
    http::{HeaderMap, Request},
};
use chatlogger::{
    clock::{Clock, ManualClock},
    domain::{
        UserRole,
        ingest_changes::FEED_CAPACITY,
        limits::{OrgLimits, RateLimit},
    },
    lookups::CHANGES_APPLY_WITHIN,
    store::{ApiKeyStore, ChangeFeedStore, DynamoStore, OrgChanges, OrgStore, PageRequest},
};
use http_body_util::BodyExt;
use reqwest::Method;
use serde_json::{Value, json};
use time::{Duration, OffsetDateTime, macros::datetime};
use tower::ServiceExt;

use crate::{
    exports::signed_in,
    helpers::{TestApp, create_org_with_key, new_table, sdk_config, spawn_app},
    sdk_calls::{counted_store, ingest_container},
};

const NOON: OffsetDateTime = datetime!(2026-11-22 12:00:00 UTC);
const SHOP: &str = "https://shop.example.com";
const NEW_SHOP: &str = "https://new.example.com";

fn within_the_bound() -> Duration {
    Duration::try_from(CHANGES_APPLY_WITHIN).unwrap()
}

struct Answer {
    status: u16,
    body: Value,
    headers: HeaderMap,
}

impl Answer {
    fn policy(&self) -> &str {
        self.headers
            .get("ratelimit-policy")
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
    }
}

/// POSTs `body` to an ingest container with `key`, and an `Origin` if given.
async fn post(
    container: &axum::Router,
    uri: &str,
    key: &str,
    origin: Option<&str>,
    body: Value,
) -> Answer {
    let mut request = Request::post(uri)
        .header("content-type", "application/json")
        .header("x-organization-api-key", key);
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let request = request.body(Body::from(body.to_string())).unwrap();
    let response = container.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        body: serde_json::from_slice(&bytes).unwrap(),
        headers,
    }
}

fn message(text: &str) -> Value {
    json!({"role": "user", "content": text})
}

/// Creates a key through the dashboard API: its id and secret.
async fn create_key(
    app: &TestApp,
    admin: &crate::dashboard::Cookies,
    body: Value,
) -> (String, String) {
    let created = app
        .send(Method::POST, "/orgs/me/apikeys", admin, Some(&body))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let field = |name: &str| created.body[name].as_str().unwrap().to_owned();
    (field("id"), field("secret"))
}

#[tokio::test]
async fn a_revoked_key_is_refused_within_5_s_by_every_container_that_cached_it() {
    let app = spawn_app().await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let (key_id, key) = create_key(&app, &admin, json!({"label": "server"})).await;
    let clock = ManualClock::shared(NOON);
    let containers: Vec<_> = (0..3)
        .map(|_| ingest_container(app.store.clone(), clock.clone()))
        .collect();
    let chats = "/api/v1/orgs/acme/chats";
    let chat = post(&containers[0], chats, &key, None, json!({})).await;
    assert_eq!(chat.status, 201, "{}", chat.body);
    let messages = format!("{chats}/{}/messages", chat.body["id"].as_str().unwrap());
    // Every container caches the key and uses it for minutes.
    for minute in 0..4 {
        for container in &containers {
            let logged = post(container, &messages, &key, None, message("hi")).await;
            assert_eq!(logged.status, 201, "minute {minute}: {}", logged.body);
        }
        clock.advance(Duration::seconds(50));
    }

    let revoked = app
        .send(
            Method::DELETE,
            &format!("/orgs/me/apikeys/{key_id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    clock.advance(within_the_bound());
    let before = app.tenant_items(&app.acme).await;
    for container in &containers {
        let refused = post(container, &messages, &key, None, message("late")).await;
        assert_eq!(refused.status, 401, "{}", refused.body);
        assert_eq!(refused.body["error"]["code"], "unauthorized");
        // The org's other key is unaffected.
        let other = post(container, chats, app.acme.key.expose(), None, json!({})).await;
        assert_eq!(other.status, 201, "{}", other.body);
    }
    assert_eq!(
        app.tenant_items(&app.acme).await,
        before + containers.len(),
        "the refused messages wrote nothing"
    );
}

#[tokio::test]
async fn a_changed_origin_or_key_rate_applies_within_5_s() {
    let app = spawn_app().await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let (key_id, key) = create_key(
        &app,
        &admin,
        json!({"label": "widget", "type": "publishable", "allowed_origins": [SHOP]}),
    )
    .await;
    let clock = ManualClock::shared(NOON);
    let containers: Vec<_> = (0..2)
        .map(|_| ingest_container(app.store.clone(), clock.clone()))
        .collect();
    let chats = "/api/v1/orgs/acme/chats";
    for container in &containers {
        let logged = post(container, chats, &key, Some(SHOP), json!({})).await;
        assert_eq!(logged.status, 201, "{}", logged.body);
        assert!(
            logged.policy().contains("\"key\";q=300;w=10"),
            "{}",
            logged.policy()
        );
    }

    let changed = app
        .send(
            Method::PATCH,
            &format!("/orgs/me/apikeys/{key_id}"),
            &admin,
            Some(&json!({"settings": {"allowed_origins": [NEW_SHOP], "rate_limit": {"per_second": 3, "burst": 10}}})),
        )
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    clock.advance(within_the_bound());
    for container in &containers {
        let refused = post(container, chats, &key, Some(SHOP), json!({})).await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert_eq!(refused.body["error"]["code"], "origin_not_allowed");
        let logged = post(container, chats, &key, Some(NEW_SHOP), json!({})).await;
        assert_eq!(logged.status, 201, "{}", logged.body);
        assert!(
            logged.policy().contains("\"key\";q=40;w=10"),
            "{}",
            logged.policy()
        );
    }
}

#[tokio::test]
async fn an_org_limits_change_applies_within_5_s() {
    let app = spawn_app().await;
    let admin = signed_in(&app, &app.acme, UserRole::Admin).await;
    let operator = signed_in(&app, &app.acme, UserRole::Superadmin).await;
    let clock = ManualClock::shared(NOON);
    let containers: Vec<_> = (0..2)
        .map(|_| ingest_container(app.store.clone(), clock.clone()))
        .collect();
    let (chats, key) = ("/api/v1/orgs/acme/chats", app.acme.key.expose());
    for container in &containers {
        let logged = post(container, chats, key, None, json!({})).await;
        assert_eq!(logged.status, 201, "{}", logged.body);
        assert_eq!(logged.policy(), "\"org\";q=6000;w=10");
    }
    let raise = json!({"limits": {"rate_limit": {"per_second": 800, "burst": 2000}}});
    // The limits are the operator's: an org's own admin cannot raise them.
    let refused = app
        .send(Method::PATCH, "/orgs/me", &admin, Some(&raise))
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let org = app.store.org(app.acme.org.id).await.unwrap().unwrap();
    assert_eq!(org.limits, Default::default(), "nothing changed");
    let changed = app
        .send(Method::PATCH, "/orgs/me", &operator, Some(&raise))
        .await;
    assert_eq!(changed.status, 200, "{}", changed.body);
    clock.advance(within_the_bound());
    for container in &containers {
        let logged = post(container, chats, key, None, json!({})).await;
        assert_eq!(logged.status, 201, "{}", logged.body);
        assert_eq!(logged.policy(), "\"org\";q=10000;w=10");
    }
    // Another org's containers were told nothing about it.
    let globex = post(
        &containers[0],
        "/api/v1/orgs/globex/chats",
        app.globex.key.expose(),
        None,
        json!({}),
    )
    .await;
    assert_eq!(globex.policy(), "\"org\";q=6000;w=10");
}

#[tokio::test]
async fn a_quiet_orgs_container_reads_only_the_feed_between_lookups() {
    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    let setup = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
    let acme = create_org_with_key(&setup, "acme").await;
    let (store, log) = counted_store(&sdk, table);
    let clock = ManualClock::shared(NOON);
    let container = ingest_container(store, clock.clone());
    let (chats, key) = ("/api/v1/orgs/acme/chats", acme.key.expose());
    assert_eq!(
        post(&container, chats, key, None, json!({})).await.status,
        201
    );
    log.take();
    // A new chat every 50 s (so no chat check), for four minutes: the key
    // and the org's limits were read once; each request reads the feed
    // (4 s on) and puts.
    for n in 1..=5 {
        clock.advance(Duration::seconds(50));
        assert_eq!(
            post(&container, chats, key, None, json!({})).await.status,
            201
        );
        assert_eq!(
            log.take_keyed(),
            ["GetItem INGEST", "PutItem ORG"],
            "chat {n}"
        );
    }
    // Within 4 s of a read of the feed, a chat is its put alone.
    clock.advance(Duration::seconds(3));
    assert_eq!(
        post(&container, chats, key, None, json!({})).await.status,
        201
    );
    assert_eq!(log.take_keyed(), ["PutItem ORG"]);
}

#[tokio::test]
async fn a_feed_that_overflowed_makes_containers_forget_what_they_cached() {
    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    let setup = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
    let acme = create_org_with_key(&setup, "acme").await;
    let other = create_org_with_key(&setup, "other").await;
    let (store, log) = counted_store(&sdk, table);
    let clock = ManualClock::shared(NOON);
    let container = ingest_container(store, clock.clone());
    let key = acme.key.expose();
    let chat = post(&container, "/api/v1/orgs/acme/chats", key, None, json!({})).await;
    let messages = format!(
        "/api/v1/orgs/acme/chats/{}/messages",
        chat.body["id"].as_str().unwrap()
    );
    log.take();

    // More changes than the feed keeps, none of them about acme.
    for n in 0..=FEED_CAPACITY {
        let limits = OrgLimits {
            rate_limit: Some(RateLimit::new(100 + n as u64, None)),
            ..OrgLimits::default()
        };
        let changes = OrgChanges {
            limits: Some(limits),
            ..OrgChanges::default()
        };
        setup.update_org(other.org.id, &changes).await.unwrap();
    }
    let feed = setup.change_feed().await.unwrap();
    assert_eq!(feed.entries.len(), FEED_CAPACITY, "the feed stays bounded");
    assert_eq!(feed.seq, FEED_CAPACITY as u64 + 1);

    clock.advance(Duration::seconds(5));
    assert_eq!(
        post(&container, &messages, key, None, message("a"))
            .await
            .status,
        201
    );
    assert_eq!(
        log.take_keyed(),
        [
            "GetItem INGEST",
            "GetItem KEYHASH",
            "GetItem ORG",
            "PutItem ORG"
        ],
        "the container could not tell what changed: the key and limits are read again"
    );
    clock.advance(Duration::seconds(5));
    assert_eq!(
        post(&container, &messages, key, None, message("b"))
            .await
            .status,
        201
    );
    assert_eq!(
        log.take_keyed(),
        ["GetItem INGEST", "PutItem ORG"],
        "and cached again"
    );
}

#[tokio::test]
async fn last_used_at_is_stamped_once_an_hour_per_container() {
    let sdk = sdk_config().await;
    let table = new_table(&sdk).await;
    let setup = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
    let acme = create_org_with_key(&setup, "acme").await;
    let (store, log) = counted_store(&sdk, table);
    let clock = ManualClock::shared(NOON);
    let (a, b) = (
        ingest_container(store.clone(), clock.clone()),
        ingest_container(store, clock.clone()),
    );
    let key = acme.key.expose();
    let last_used = || async {
        let keys = setup
            .list_api_keys(acme.org.id, &PageRequest::default())
            .await
            .unwrap();
        keys.items[0].last_used_at
    };
    let stamps = |log: &crate::sdk_calls::OperationLog| {
        log.take_keyed()
            .iter()
            .filter(|call| *call == "UpdateItem ORG")
            .count()
    };
    let chats = "/api/v1/orgs/acme/chats";
    for container in [&a, &b] {
        assert_eq!(
            post(container, chats, key, None, json!({})).await.status,
            201
        );
    }
    assert_eq!(stamps(&log), 2, "each container stamps the key once");
    assert_eq!(last_used().await, Some(NOON));
    // A chat every five minutes in each container, for the rest of the hour.
    for _ in 0..11 {
        clock.advance(Duration::minutes(5));
        for container in [&a, &b] {
            assert_eq!(
                post(container, chats, key, None, json!({})).await.status,
                201
            );
        }
    }
    assert_eq!(stamps(&log), 0, "not again within the hour");
    assert_eq!(last_used().await, Some(NOON));
    clock.advance(Duration::minutes(5));
    assert_eq!(post(&a, chats, key, None, json!({})).await.status, 201);
    assert_eq!(stamps(&log), 1, "an hour on, once more");
    assert_eq!(last_used().await, Some(clock.now()));
}
