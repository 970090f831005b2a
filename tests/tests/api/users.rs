//! An org's user administration end to end (roles an admin may give,
//! addresses unique per org, paged listings), and the dashboard's answers
//! to bad input.

use chatlogger::domain::UserRole;
use reqwest::Method;
use serde_json::json;

use crate::{dashboard::PASSWORD, helpers::spawn_app};

#[tokio::test]
async fn admins_cannot_exceed_their_own_role_or_lock_themselves_out() {
    let app = spawn_app().await;
    let admin_user = app
        .create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    let root = app
        .create_user(&app.acme, "root@acme.example", UserRole::Superadmin)
        .await;
    let admin = app.login("admin@acme.example").await;
    let make_superadmin = app
        .send(
            Method::POST,
            "/orgs/me/users",
            &admin,
            Some(&json!({"email": "x@acme.example", "role": "superadmin", "password": PASSWORD})),
        )
        .await;
    assert_eq!(make_superadmin.status, 403);
    let demote_root = app
        .send(
            Method::PATCH,
            &format!("/orgs/me/users/{}", root.id),
            &admin,
            Some(&json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(demote_root.status, 403);
    let self_demote = app
        .send(
            Method::PATCH,
            &format!("/orgs/me/users/{}", admin_user.id),
            &admin,
            Some(&json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(self_demote.status, 409);
    let self_delete = app
        .send(
            Method::DELETE,
            &format!("/orgs/me/users/{}", admin_user.id),
            &admin,
            None,
        )
        .await;
    assert_eq!(self_delete.status, 409);
    let users = app.send(Method::GET, "/orgs/me/users", &admin, None).await;
    let roles: Vec<&str> = users.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles.len(), 2);
    assert!(roles.contains(&"superadmin") && roles.contains(&"admin"));
    assert!(!users.body.to_string().contains("password"));
}

/// An address is unique within an org. Another org's user with the same
/// address is another account: adding it answers exactly as for a new
/// address (so an admin learns nothing about other orgs' members), each
/// account signs in to its own org with its own password, and deleting one
/// leaves the other.
#[tokio::test]
async fn an_address_is_unique_in_its_org_and_reveals_nothing_about_others() {
    let app = spawn_app().await;
    app.create_user(&app.globex, "shared@example.com", UserRole::Admin)
        .await;
    app.create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    let admin = app.login("admin@acme.example").await;
    let acme_password = "acme's own password for this address";
    let create = |email: &'static str| {
        let (app, admin) = (&app, &admin);
        async move {
            let body = json!({"email": email, "role": "user", "password": acme_password});
            app.send(Method::POST, "/orgs/me/users", admin, Some(&body))
                .await
        }
    };
    let shape = |reply: &crate::dashboard::FullReply| {
        let mut fields: Vec<String> = reply.body.as_object().unwrap().keys().cloned().collect();
        fields.sort();
        (reply.status, fields)
    };
    let elsewhere = create("Shared@Example.com").await;
    let fresh = create("fresh@example.com").await;
    assert_eq!(elsewhere.status, 201, "{}", elsewhere.body);
    assert_eq!(shape(&elsewhere), shape(&fresh));
    assert_eq!(elsewhere.body["email"], "shared@example.com");

    // Each account signs in to its own org, with its own password only.
    let sign_in = |org: &'static str, password: &'static str| {
        let app = &app;
        async move {
            app.login_reply_in(&app.http, org, "shared@example.com", password)
                .await
        }
    };
    let globex = sign_in("globex", PASSWORD).await;
    assert_eq!(globex.status, 200, "{}", globex.body);
    assert_eq!(globex.body["org"]["slug"], "globex");
    assert_eq!(globex.body["user"]["role"], "admin");
    let acme = sign_in("acme", acme_password).await;
    assert_eq!(acme.status, 200, "{}", acme.body);
    assert_eq!(acme.body["org"]["slug"], "acme");
    assert_eq!(acme.body["user"]["role"], "user");
    assert_eq!(sign_in("acme", PASSWORD).await.status, 401);
    assert_eq!(sign_in("globex", acme_password).await.status, 401);

    // Deleting acme's account leaves globex's.
    let id = elsewhere.body["id"].as_str().unwrap();
    let deleted = app
        .send(
            Method::DELETE,
            &format!("/orgs/me/users/{id}"),
            &admin,
            None,
        )
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    assert_eq!(sign_in("acme", acme_password).await.status, 401);
    assert_eq!(sign_in("globex", PASSWORD).await.status, 200);

    // The org's own address is taken: 409, and nothing is written.
    let before = app.all_items().await.len();
    let taken = create("FRESH@example.com").await;
    assert_eq!(taken.status, 409);
    assert_eq!(taken.error_code(), "conflict");
    // Only the session's own bookkeeping may differ; no user or email item was written.
    let users_and_emails =
        |items: &[std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>]| {
            items
                .iter()
                .filter(|i| {
                    matches!(
                        i.get("kind")
                            .and_then(|k| k.as_s().ok())
                            .map(String::as_str),
                        Some("user" | "email")
                    )
                })
                .count()
        };
    let after = app.all_items().await;
    assert_eq!(after.len(), before);
    // globex's user, acme's admin and fresh@: a user and an email claim each.
    assert_eq!(users_and_emails(&after), 6);
}

#[tokio::test]
async fn listings_page_with_opaque_cursors_that_cannot_cross_orgs() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    app.create_user(&app.globex, "admin@globex.example", UserRole::Admin)
        .await;
    for n in 0..4 {
        app.create_user(&app.acme, &format!("u{n}@acme.example"), UserRole::Viewer)
            .await;
        app.create_user(
            &app.globex,
            &format!("u{n}@globex.example"),
            UserRole::Viewer,
        )
        .await;
    }
    let admin = app.login("admin@acme.example").await;
    let globex_admin = app.login("admin@globex.example").await;

    let pages = app.pages(&admin, "/orgs/me/users?limit=2").await;
    assert!(pages.iter().all(|items| items.len() <= 2));
    let mut seen: Vec<String> = pages
        .iter()
        .flatten()
        .map(|u| u["email"].as_str().unwrap().to_owned())
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5);
    assert!(seen.iter().all(|email| email.ends_with("@acme.example")));

    // A cursor from acme's listing does not work in globex's.
    let first = app
        .send(Method::GET, "/orgs/me/users?limit=1", &admin, None)
        .await;
    let cursor = first.body["next_cursor"].as_str().unwrap();
    let crossed = app
        .send(
            Method::GET,
            &format!("/orgs/me/users?limit=1&cursor={cursor}"),
            &globex_admin,
            None,
        )
        .await;
    assert_eq!(crossed.status, 400);
    assert_eq!(crossed.error_code(), "invalid_query");
    for bad in [
        "limit=0",
        "limit=101",
        "limit=x",
        "cursor=!!",
        "colour=red",
        "org=nope",
    ] {
        let reply = app
            .send(Method::GET, &format!("/orgs/me/users?{bad}"), &admin, None)
            .await;
        assert_eq!(reply.status, 400, "{bad}: {}", reply.body);
        assert_eq!(reply.error_code(), "invalid_query");
    }
}

#[tokio::test]
async fn bad_dashboard_input_gets_json_errors_and_writes_nothing() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    let admin = app.login("admin@acme.example").await;
    let before = app.all_items().await.len();
    let cases: Vec<(Method, &str, serde_json::Value, u16)> = vec![
        (Method::POST, "/orgs/me/apikeys", json!({"label": ""}), 422),
        (
            Method::POST,
            "/orgs/me/apikeys",
            json!({"label": "x", "extra": 1}),
            422,
        ),
        (Method::POST, "/orgs/me/apikeys", json!({}), 422),
        (
            Method::POST,
            "/orgs/me/users",
            json!({"email": "bad", "role": "user", "password": PASSWORD}),
            422,
        ),
        (
            Method::POST,
            "/orgs/me/users",
            json!({"email": "a@b.example", "role": "owner", "password": PASSWORD}),
            422,
        ),
        (
            Method::POST,
            "/orgs/me/users",
            json!({"email": "a@b.example", "role": "user", "password": "short"}),
            422,
        ),
        (Method::PATCH, "/orgs/me", json!({"name": ""}), 422),
        (Method::PATCH, "/orgs/me", json!({"settings": [1, 2]}), 422),
        (
            Method::PATCH,
            "/users/me",
            json!({"display_name": "x".repeat(101)}),
            422,
        ),
        (
            Method::PATCH,
            "/orgs/me/users/not-a-ulid",
            json!({"role": "user"}),
            400,
        ),
        (
            Method::DELETE,
            "/orgs/me/apikeys/not-a-ulid",
            serde_json::Value::Null,
            400,
        ),
        (
            Method::POST,
            "/auth/login",
            json!({"org": "acme", "email": "a".repeat(300), "password": "x"}),
            422,
        ),
        (
            Method::POST,
            "/auth/login",
            json!({"org": "a".repeat(41), "email": "a@b.example", "password": "x"}),
            422,
        ),
        (
            Method::POST,
            "/auth/login",
            json!({"org": "acme", "email": "a@b.example"}),
            422,
        ),
        (
            Method::POST,
            "/auth/login",
            json!({"email": "a@b.example", "password": "x"}),
            422,
        ),
    ];
    for (method, path, body, expected) in cases {
        let body = (!body.is_null()).then_some(&body);
        let reply = app.send(method.clone(), path, &admin, body).await;
        assert_eq!(reply.status, expected, "{method} {path}: {}", reply.body);
        assert!(reply.body["error"]["message"].is_string());
    }
    let not_json = app
        .http
        .post(format!("{}/auth/login", app.base_url))
        .header("x-csrf-protection", "1")
        .header("content-type", "text/plain")
        .body("email=a")
        .send()
        .await
        .unwrap();
    assert_eq!(not_json.status(), 415);
    assert_eq!(app.all_items().await.len(), before, "nothing was written");
}
