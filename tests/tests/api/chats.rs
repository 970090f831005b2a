//! The dashboard's chat routes against moto: listing order, filters and
//! cursors, reading messages, edits, deletes (with their messages), the
//! `user` role's own-chats scope, and other orgs' chats.

use chatlogger::domain::UserRole;
use reqwest::Method;
use serde_json::{Value, json};

use crate::{
    dashboard::Cookies,
    helpers::{TestApp, TestOrg, spawn_app},
};

async fn chat(app: &TestApp, org: &TestOrg, body: Value) -> String {
    let reply = app.create_chat(org, &body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

async fn message(app: &TestApp, org: &TestOrg, chat_id: &str, content: &str) -> String {
    let reply = app
        .create_message(org, chat_id, &json!({"role": "user", "content": content}))
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    reply.body["id"].as_str().unwrap().to_owned()
}

fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

async fn admin(app: &TestApp) -> Cookies {
    app.create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    app.login("admin@acme.example").await
}

/// The ids of every chat (or message) of a listing, and how many pages it took.
async fn all_pages(app: &TestApp, session: &Cookies, path: &str) -> (Vec<String>, usize) {
    let pages = app.pages(session, path).await;
    let ids = pages
        .iter()
        .flatten()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect();
    (ids, pages.len())
}

#[tokio::test]
async fn chats_list_newest_first_with_filters_and_cursors() {
    let app = spawn_app().await;
    let session = admin(&app).await;
    let mut created = Vec::new();
    for i in 0..7 {
        let tags = if i % 2 == 0 {
            json!(["even"])
        } else {
            json!(["odd"])
        };
        let user = format!("visitor-{}", i % 3);
        created.push(
            chat(
                &app,
                &app.acme,
                json!({"title": format!("chat {i}"), "tags": tags, "user_id": user}),
            )
            .await,
        );
    }
    chat(
        &app,
        &app.globex,
        json!({"title": "globex", "tags": ["even"]}),
    )
    .await;
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();

    let (all, pages) = all_pages(&app, &session, "/chats?limit=3").await;
    assert_eq!(
        all, newest_first,
        "every acme chat once, newest first, no globex"
    );
    assert_eq!(pages, 3);

    let (even, _) = all_pages(&app, &session, "/chats?tag=even&limit=2").await;
    let expected: Vec<String> = newest_first
        .iter()
        .filter(|id| created.iter().position(|c| c == *id).unwrap() % 2 == 0)
        .cloned()
        .collect();
    assert_eq!(even, expected);

    let (visitor, _) = all_pages(&app, &session, "/chats?user_id=visitor-1").await;
    assert_eq!(visitor, [created[4].clone(), created[1].clone()]);

    let (tagged_visitor, _) = all_pages(&app, &session, "/chats?user_id=visitor-0&tag=odd").await;
    assert_eq!(tagged_visitor, [created[3].clone()]);

    let future = app
        .send(
            Method::GET,
            "/chats?from=2999-01-01T00:00:00Z",
            &session,
            None,
        )
        .await;
    assert_eq!(ids(&future.body), Vec::<String>::new());
    let past = app
        .send(
            Method::GET,
            "/chats?from=2000-01-01T00:00:00Z&to=2999-01-01T00:00:00Z",
            &session,
            None,
        )
        .await;
    assert_eq!(ids(&past.body), newest_first);
    let before = app
        .send(
            Method::GET,
            "/chats?to=2000-01-01T00:00:00Z",
            &session,
            None,
        )
        .await;
    assert_eq!(ids(&before.body), Vec::<String>::new());

    // A cursor from one listing cannot continue another org's.
    let page = app
        .send(Method::GET, "/chats?limit=1", &session, None)
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    app.create_user(&app.acme, "root@acme.example", UserRole::Superadmin)
        .await;
    let root = app.login("root@acme.example").await;
    let foreign = app
        .send(
            Method::GET,
            &format!("/chats?org={}&cursor={cursor}", app.globex.org.id),
            &root,
            None,
        )
        .await;
    assert_eq!(
        (foreign.status, foreign.error_code().as_str()),
        (400, "invalid_query")
    );
}

#[tokio::test]
async fn bad_queries_and_bodies_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    let session = admin(&app).await;
    let id = chat(&app, &app.acme, json!({"title": "Keep me", "tags": ["a"]})).await;
    for query in [
        "/chats?from=yesterday",
        "/chats?to=2026-13-01T00:00:00Z",
        "/chats?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
        "/chats?tag=",
        "/chats?user_id=has%20space",
        "/chats?limit=0",
        "/chats?limit=101",
        "/chats?cursor=garbage",
        "/chats?colour=red",
    ] {
        let reply = app.send(Method::GET, query, &session, None).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "invalid_query"),
            "{query}"
        );
    }
    let before = app.all_items().await;
    let path = format!("/chats/{id}");
    for body in [
        json!({}),
        json!({"title": ""}),
        json!({"title": "x".repeat(201)}),
        json!({"tags": ["x".repeat(65)]}),
        json!({"tags": (0..21).map(|i| i.to_string()).collect::<Vec<_>>()}),
        json!({"metadata": [1, 2]}),
        json!({"metadata": {"k": "x".repeat(9000)}}),
        json!({"user_id": "someone-else"}),
        json!({"title": 5}),
        json!({"title": "Keep\u{202E}me"}),
        json!({"tags": ["a\u{200B}"]}),
    ] {
        let reply = app.send(Method::PATCH, &path, &session, Some(&body)).await;
        assert!(matches!(reply.status, 400 | 422), "{body}: {}", reply.body);
        assert!(reply.body["error"]["code"].is_string(), "{}", reply.body);
    }
    for bad in ["/chats/not-a-ulid", "/chats/not-a-ulid/messages"] {
        let reply = app.send(Method::GET, bad, &session, None).await;
        assert_eq!(
            (reply.status, reply.error_code().as_str()),
            (400, "invalid_path"),
            "{bad}"
        );
    }
    let reply = app
        .send(Method::DELETE, "/chats/not-a-ulid", &session, None)
        .await;
    assert_eq!(reply.status, 400);
    assert_eq!(app.all_items().await.len(), before.len());
    let unchanged = app.send(Method::GET, &path, &session, None).await;
    assert_eq!(
        (unchanged.body["title"].as_str(), &unchanged.body["tags"]),
        (Some("Keep me"), &json!(["a"]))
    );
}

#[tokio::test]
async fn messages_read_oldest_first_and_chats_can_be_edited() {
    let app = spawn_app().await;
    let session = admin(&app).await;
    let id = chat(
        &app,
        &app.acme,
        json!({"title": "Refunds", "tags": ["billing"], "metadata": {"page": "/a"}}),
    )
    .await;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(message(&app, &app.acme, &id, &format!("message {i}")).await);
    }
    let (read, pages) = all_pages(&app, &session, &format!("/chats/{id}/messages?limit=2")).await;
    assert_eq!((read, pages), (sent.clone(), 3));
    let first = app
        .send(
            Method::GET,
            &format!("/chats/{id}/messages?limit=1"),
            &session,
            None,
        )
        .await;
    assert_eq!(first.body["items"][0]["content"], "message 0");

    let patch =
        json!({"title": "Refund request", "tags": ["billing", "vip"], "metadata": {"page": "/b"}});
    let updated = app
        .send(
            Method::PATCH,
            &format!("/chats/{id}"),
            &session,
            Some(&patch),
        )
        .await;
    assert_eq!(updated.status, 200, "{}", updated.body);
    assert_eq!(updated.body["title"], "Refund request");
    assert_eq!(updated.body["tags"], json!(["billing", "vip"]));
    assert_eq!(updated.body["metadata"], json!({"page": "/b"}));
    let cleared = app
        .send(
            Method::PATCH,
            &format!("/chats/{id}"),
            &session,
            Some(&json!({"title": null})),
        )
        .await;
    assert_eq!(cleared.status, 200);
    assert!(
        cleared.body.get("title").is_none_or(Value::is_null),
        "{}",
        cleared.body
    );
    assert_eq!(
        cleared.body["tags"],
        json!(["billing", "vip"]),
        "untouched fields stay"
    );
    let read = app
        .send(Method::GET, &format!("/chats/{id}"), &session, None)
        .await;
    assert_eq!(read.body, cleared.body);
}

#[tokio::test]
async fn deleting_a_chat_removes_it_and_its_messages_for_good() {
    let app = spawn_app().await;
    let session = admin(&app).await;
    let doomed = chat(&app, &app.acme, json!({"user_id": "visitor-9"})).await;
    let kept = chat(&app, &app.acme, json!({})).await;
    for i in 0..30 {
        message(&app, &app.acme, &doomed, &format!("m{i}")).await;
    }
    message(&app, &app.acme, &kept, "stays").await;

    let reply = app
        .send(Method::DELETE, &format!("/chats/{doomed}"), &session, None)
        .await;
    assert_eq!(reply.status, 204, "{}", reply.body);
    let pk = chatlogger::store::keys::messages_pk(
        app.acme.org.id,
        chatlogger::domain::ChatId::parse(&doomed).unwrap(),
    );
    let left: Vec<_> = app
        .items_in(&pk)
        .await
        .into_iter()
        .filter(|item| item["sk"].as_s().unwrap().starts_with("MSG#"))
        .collect();
    assert!(left.is_empty(), "{} messages left", left.len());
    for path in [
        format!("/chats/{doomed}"),
        format!("/chats/{doomed}/messages"),
    ] {
        assert_eq!(
            app.send(Method::GET, &path, &session, None).await.status,
            404,
            "{path}"
        );
    }
    let patch = app
        .send(
            Method::PATCH,
            &format!("/chats/{doomed}"),
            &session,
            Some(&json!({"title": "x"})),
        )
        .await;
    assert_eq!(patch.status, 404);
    let (listed, _) = all_pages(&app, &session, "/chats").await;
    assert_eq!(listed, std::slice::from_ref(&kept));
    let (by_user, _) = all_pages(&app, &session, "/chats?user_id=visitor-9").await;
    assert!(by_user.is_empty());
    // The plugin can no longer log into it (once ingest's chat cache has expired;
    // a fresh server has an empty cache, and the aggregator removes stragglers).
    let fresh = crate::helpers::local_app(app.store.clone()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/api/v1/orgs/acme/chats/{doomed}/messages",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, fresh).await.unwrap() });
    let late = app
        .post(
            &url,
            Some(app.acme.key.expose()),
            &json!({"role": "user", "content": "late"}),
        )
        .await;
    assert_eq!(late.status, 404, "{}", late.body);
    // Its id cannot be logged again: a new chat needs a new id.
    let reused = app
        .create_chat(&app.acme, &json!({"id": doomed, "user_id": "visitor-9"}))
        .await;
    assert_eq!(
        (reused.status, reused.error_code()),
        (409, "conflict"),
        "{}",
        reused.body
    );
    // Deleting again is harmless; a chat that never existed is 404.
    assert_eq!(
        app.send(Method::DELETE, &format!("/chats/{doomed}"), &session, None)
            .await
            .status,
        204
    );
    let missing = ulid::Ulid::new();
    assert_eq!(
        app.send(Method::DELETE, &format!("/chats/{missing}"), &session, None)
            .await
            .status,
        404
    );
    assert_eq!(
        app.send(
            Method::GET,
            &format!("/chats/{kept}/messages"),
            &session,
            None
        )
        .await
        .body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

/// The messages stored under a chat (whatever its state).
async fn stored_messages(app: &TestApp, org: &TestOrg, chat_id: &str) -> usize {
    let pk = chatlogger::store::keys::messages_pk(
        org.org.id,
        chatlogger::domain::ChatId::parse(chat_id).unwrap(),
    );
    app.items_in(&pk)
        .await
        .iter()
        .filter(|item| item["sk"].as_s().unwrap().starts_with("MSG#"))
        .count()
}

#[tokio::test]
async fn messages_racing_a_delete_end_with_no_message_under_the_deleted_chat() {
    use chatlogger::{
        domain::CHAT_SWEEP_DELAY, ingest::KNOWN_CHAT_TTL, sweep::sweep_deleted_chats,
    };
    use time::OffsetDateTime;

    // The sweep waits past every container's trust in a chat, with a minute
    // of room for a write sent just before that expired.
    assert!(KNOWN_CHAT_TTL + std::time::Duration::from_secs(60) <= CHAT_SWEEP_DELAY);

    let app = spawn_app().await;
    let session = admin(&app).await;
    // Created through ingest, so this plugin container trusts the chat for
    // the next minute and logs into it without checking.
    let doomed = chat(&app, &app.acme, json!({})).await;
    let kept = chat(&app, &app.acme, json!({})).await;
    message(&app, &app.acme, &kept, "stays").await;

    let url = app.messages_url(&app.acme, &doomed);
    let key = app.acme.key.expose().to_owned();
    let mut racing = tokio::task::JoinSet::new();
    for i in 0..20 {
        let request = app
            .http
            .post(&url)
            .header("x-organization-api-key", &key)
            .json(&json!({"role": "user", "content": format!("racing {i}")}));
        racing.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let deleted = app
        .send(Method::DELETE, &format!("/chats/{doomed}"), &session, None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let statuses = racing.join_all().await;
    assert!(
        statuses.iter().all(|s| matches!(s, 201 | 404)),
        "{statuses:?}"
    );
    // After the delete's purge: still accepted by the trusting container.
    for i in 0..5 {
        message(&app, &app.acme, &doomed, &format!("late {i}")).await;
    }
    let deleted_at = OffsetDateTime::now_utc();
    let left = stored_messages(&app, &app.acme, &doomed).await;
    assert!(
        left >= 5,
        "the late messages landed under the tombstone: {left}"
    );

    // Not yet due: the chat is left alone until no container trusts it.
    let early = sweep_deleted_chats(&*app.store, deleted_at).await.unwrap();
    assert_eq!(early.chats, 0);
    // Due: everything under the deleted chat goes, nothing else does.
    let later = deleted_at + CHAT_SWEEP_DELAY + std::time::Duration::from_secs(1);
    let swept = sweep_deleted_chats(&*app.store, later).await.unwrap();
    assert_eq!((swept.chats, swept.messages), (1, left));
    assert_eq!(stored_messages(&app, &app.acme, &doomed).await, 0);
    assert_eq!(stored_messages(&app, &app.acme, &kept).await, 1);
    // The ticket is gone: the next run finds nothing.
    let again = sweep_deleted_chats(&*app.store, later).await.unwrap();
    assert_eq!(again.chats, 0);
}

#[tokio::test]
async fn a_user_sees_and_edits_only_their_own_chats() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ann@acme.example", UserRole::User)
        .await;
    let ann = app.login("ann@acme.example").await;
    let own = chat(
        &app,
        &app.acme,
        json!({"user_id": "ann@acme.example", "tags": ["t"]}),
    )
    .await;
    let other = chat(
        &app,
        &app.acme,
        json!({"user_id": "bob@acme.example", "tags": ["t"]}),
    )
    .await;
    let anonymous = chat(&app, &app.acme, json!({"tags": ["t"]})).await;
    message(&app, &app.acme, &other, "bob's secret").await;

    for query in ["/chats", "/chats?tag=t", "/chats?user_id=ann@acme.example"] {
        let (listed, _) = all_pages(&app, &ann, query).await;
        assert_eq!(listed, std::slice::from_ref(&own), "{query}");
    }
    let (asked_for_bob, _) = all_pages(&app, &ann, "/chats?user_id=bob@acme.example").await;
    assert!(asked_for_bob.is_empty());
    for id in [&other, &anonymous] {
        let missing = ulid::Ulid::new();
        for (method, path, absent) in [
            (
                Method::GET,
                format!("/chats/{id}"),
                format!("/chats/{missing}"),
            ),
            (
                Method::GET,
                format!("/chats/{id}/messages"),
                format!("/chats/{missing}/messages"),
            ),
            (
                Method::PATCH,
                format!("/chats/{id}"),
                format!("/chats/{missing}"),
            ),
        ] {
            let body = json!({"title": "mine now"});
            let body = (method == Method::PATCH).then_some(&body);
            let theirs = app.send(method.clone(), &path, &ann, body).await;
            let nothing = app.send(method.clone(), &absent, &ann, body).await;
            assert_eq!(
                (theirs.status, &theirs.body),
                (404, &nothing.body),
                "{method} {path}"
            );
        }
    }
    let edit = app
        .send(
            Method::PATCH,
            &format!("/chats/{own}"),
            &ann,
            Some(&json!({"title": "Mine"})),
        )
        .await;
    assert_eq!(edit.status, 200);
    assert_eq!(
        app.send(Method::DELETE, &format!("/chats/{own}"), &ann, None)
            .await
            .status,
        403
    );
    assert_eq!(
        app.send(Method::GET, "/analytics/orgs/me/summary", &ann, None)
            .await
            .status,
        403
    );
}

#[tokio::test]
async fn another_orgs_chats_are_indistinguishable_from_missing_ones() {
    let app = spawn_app().await;
    let session = admin(&app).await;
    let foreign = chat(
        &app,
        &app.globex,
        json!({"title": "Globex only", "tags": ["g"]}),
    )
    .await;
    message(&app, &app.globex, &foreign, "globex secret").await;
    let before = app
        .items_in(&chatlogger::store::keys::org_pk(app.globex.org.id))
        .await;
    let missing = ulid::Ulid::new();
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"title": "pwned"}))),
        (Method::DELETE, None),
    ] {
        let theirs = app
            .send(
                method.clone(),
                &format!("/chats/{foreign}"),
                &session,
                body.as_ref(),
            )
            .await;
        let nothing = app
            .send(
                method.clone(),
                &format!("/chats/{missing}"),
                &session,
                body.as_ref(),
            )
            .await;
        assert_eq!(
            (theirs.status, &theirs.body),
            (404, &nothing.body),
            "{method}"
        );
    }
    let messages = app
        .send(
            Method::GET,
            &format!("/chats/{foreign}/messages"),
            &session,
            None,
        )
        .await;
    assert_eq!(messages.status, 404);
    let naming = app
        .send(
            Method::GET,
            &format!("/chats?org={}", app.globex.org.id),
            &session,
            None,
        )
        .await;
    assert_eq!(naming.status, 404);
    let (listed, _) = all_pages(&app, &session, "/chats").await;
    assert!(!listed.contains(&foreign));
    assert_eq!(
        app.items_in(&chatlogger::store::keys::org_pk(app.globex.org.id))
            .await,
        before
    );
    let pk = chatlogger::store::keys::messages_pk(
        app.globex.org.id,
        chatlogger::domain::ChatId::parse(&foreign).unwrap(),
    );
    assert_eq!(
        app.items_in(&pk).await.len(),
        1,
        "globex's message is still there"
    );
}

#[tokio::test]
async fn listed_chats_carry_their_message_count_and_last_activity() {
    let app = spawn_app().await;
    let session = admin(&app).await;
    let empty = chat(&app, &app.acme, json!({"title": "Empty"})).await;
    let busy = chat(&app, &app.acme, json!({"title": "Busy"})).await;
    for i in 0..3 {
        message(&app, &app.acme, &busy, &format!("message {i}")).await;
    }
    let newest = app
        .send(
            Method::GET,
            &format!("/chats/{busy}/messages?limit=3"),
            &session,
            None,
        )
        .await;
    let newest_at = newest.body["items"][2]["created_at"].clone();
    // Another org's messages count for its own chats only.
    let theirs = chat(&app, &app.globex, json!({"title": "Theirs"})).await;
    message(&app, &app.globex, &theirs, "not acme's").await;

    let listed = app.send(Method::GET, "/chats", &session, None).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let by_id = |id: &str| {
        listed.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|item| item["id"] == id)
            .cloned()
            .unwrap()
    };
    let busy = by_id(&busy);
    assert_eq!(busy["message_count"], 3);
    assert_eq!(busy["message_count_exact"], true);
    assert_eq!(busy["last_message_at"], newest_at);
    assert_eq!(busy["title"], "Busy", "the chat's own fields stay");
    let empty = by_id(&empty);
    assert_eq!(empty["message_count"], 0);
    assert_eq!(empty["message_count_exact"], true);
    assert!(empty["last_message_at"].is_null(), "{empty}");
    assert_eq!(ids(&listed.body).len(), 2, "only acme's chats");
}
