//! Ending dashboard sessions end to end: a password change, disabling,
//! deleting, role changes (session epochs) and "sign out everywhere".

use chatlogger::domain::UserRole;
use reqwest::Method;
use serde_json::json;

use crate::{
    dashboard::{Cookies, PASSWORD},
    helpers::{TestApp, spawn_app},
};

#[tokio::test]
async fn changing_the_password_ends_other_sessions_and_keeps_this_one() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::Viewer)
        .await;
    let mut here = app.login("ada@acme.example").await;
    let elsewhere = app.login("ada@acme.example").await;
    let new_password = "a brand new passphrase";

    let wrong = app
        .send(
            Method::POST,
            "/users/me/password",
            &here,
            Some(&json!({"current_password": "not it at all", "new_password": new_password})),
        )
        .await;
    assert_eq!(wrong.status, 422);
    let too_short = app
        .send(
            Method::POST,
            "/users/me/password",
            &here,
            Some(&json!({"current_password": PASSWORD, "new_password": "short"})),
        )
        .await;
    assert_eq!(too_short.status, 422);
    assert_eq!(
        app.send(Method::GET, "/users/me", &elsewhere, None)
            .await
            .status,
        200,
        "failed attempts change nothing"
    );

    let changed = app
        .send_keeping(
            Method::POST,
            "/users/me/password",
            &mut here,
            Some(&json!({"current_password": PASSWORD, "new_password": new_password})),
        )
        .await;
    assert_eq!(changed.status, 204, "{}", changed.body);
    assert_eq!(
        app.send(Method::GET, "/users/me", &here, None).await.status,
        200
    );
    assert_eq!(
        app.send(Method::GET, "/users/me", &elsewhere, None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.send(Method::POST, "/auth/refresh", &elsewhere, None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.login_reply("ada@acme.example", PASSWORD).await.status,
        401
    );
    assert_eq!(
        app.login_reply("ada@acme.example", new_password)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn disabling_deleting_and_role_changes_apply_to_live_sessions_at_once() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    let admin = app.login("admin@acme.example").await;
    let carol = app
        .create_user(&app.acme, "carol@acme.example", UserRole::Viewer)
        .await;
    let carol_session = app.login("carol@acme.example").await;
    let carol_path = format!("/orgs/me/users/{}", carol.id);

    // Promotion: the next request already has the new role.
    assert_eq!(
        app.send(Method::GET, "/orgs/me/users", &carol_session, None)
            .await
            .status,
        403
    );
    let promote = app
        .send(
            Method::PATCH,
            &carol_path,
            &admin,
            Some(&json!({"role": "admin"})),
        )
        .await;
    assert_eq!(promote.status, 200, "{}", promote.body);
    assert_eq!(
        app.send(Method::GET, "/orgs/me/users", &carol_session, None)
            .await
            .status,
        200
    );

    // Disabling ends the session at once; enabling lets her sign in again.
    let disable = app
        .send(
            Method::PATCH,
            &carol_path,
            &admin,
            Some(&json!({"role": "viewer", "disabled": true})),
        )
        .await;
    assert_eq!(disable.status, 200);
    assert_eq!(disable.body["disabled"], true);
    assert_eq!(
        app.send(Method::GET, "/users/me", &carol_session, None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.login_reply("carol@acme.example", PASSWORD).await.status,
        401
    );
    app.send(
        Method::PATCH,
        &carol_path,
        &admin,
        Some(&json!({"disabled": false})),
    )
    .await;
    let carol_again = app.login("carol@acme.example").await;

    // Deleting ends it too, and frees the address.
    let deleted = app.send(Method::DELETE, &carol_path, &admin, None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        app.send(Method::GET, "/users/me", &carol_again, None)
            .await
            .status,
        401
    );
    assert_eq!(
        app.send(Method::DELETE, &carol_path, &admin, None)
            .await
            .status,
        404
    );
    let recreate = app
        .send(
            Method::POST,
            "/orgs/me/users",
            &admin,
            Some(&json!({"email": "carol@acme.example", "role": "user", "password": PASSWORD})),
        )
        .await;
    assert_eq!(recreate.status, 201, "{}", recreate.body);
}

/// A session's access cookie and its refresh token, both tried: (status of
/// `GET /users/me`, status of `POST /auth/refresh`).
async fn session_status(app: &TestApp, cookies: &Cookies) -> (u16, u16) {
    let me = app.send(Method::GET, "/users/me", cookies, None).await;
    let refresh = app.send(Method::POST, "/auth/refresh", cookies, None).await;
    (me.status, refresh.status)
}

#[tokio::test]
async fn disabling_demoting_deleting_and_signing_out_everywhere_end_sessions_for_good() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    let admin = app.login("admin@acme.example").await;
    let carol = app
        .create_user(&app.acme, "carol@acme.example", UserRole::Viewer)
        .await;
    let carol_path = format!("/orgs/me/users/{}", carol.id);
    let patch = |body: serde_json::Value| {
        let (app, admin, path) = (&app, &admin, &carol_path);
        async move {
            let reply = app.send(Method::PATCH, path, admin, Some(&body)).await;
            assert_eq!(reply.status, 200, "{body}: {}", reply.body);
        }
    };

    // Disabled, then enabled again: the old cookie and refresh token stay dead.
    let before_disable = app.login("carol@acme.example").await;
    patch(json!({"disabled": true})).await;
    assert_eq!(session_status(&app, &before_disable).await, (401, 401));
    patch(json!({"disabled": false})).await;
    assert_eq!(
        session_status(&app, &before_disable).await,
        (401, 401),
        "re-enabling revives no session"
    );

    // A promotion keeps the session; a role that loses a permission ends it.
    let mut current = app.login("carol@acme.example").await;
    patch(json!({"role": "admin"})).await;
    assert_eq!(
        app.send(Method::GET, "/orgs/me/users", &current, None)
            .await
            .status,
        200,
        "promoted at once"
    );
    let refreshed = app
        .send_keeping(Method::POST, "/auth/refresh", &mut current, None)
        .await;
    assert_eq!(refreshed.status, 204);
    patch(json!({"role": "viewer"})).await;
    assert_eq!(session_status(&app, &current).await, (401, 401));
    patch(json!({"role": "admin"})).await;
    assert_eq!(session_status(&app, &current).await, (401, 401));

    // An admin's "sign out everywhere".
    let (one, two) = (
        app.login("carol@acme.example").await,
        app.login("carol@acme.example").await,
    );
    let signed_out = app
        .send(
            Method::DELETE,
            &format!("{carol_path}/sessions"),
            &admin,
            None,
        )
        .await;
    assert_eq!(signed_out.status, 204, "{}", signed_out.body);
    assert_eq!(session_status(&app, &one).await, (401, 401));
    assert_eq!(session_status(&app, &two).await, (401, 401));
    assert_eq!(
        app.send(Method::GET, "/users/me", &admin, None)
            .await
            .status,
        200,
        "only carol's sessions ended"
    );

    // Deleted, and created again with the same address: still dead.
    let before_delete = app.login("carol@acme.example").await;
    let deleted = app.send(Method::DELETE, &carol_path, &admin, None).await;
    assert_eq!(deleted.status, 204);
    app.create_user(&app.acme, "carol@acme.example", UserRole::Viewer)
        .await;
    assert_eq!(session_status(&app, &before_delete).await, (401, 401));
    app.login("carol@acme.example").await;
}
