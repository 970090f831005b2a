//! Dashboard sign-in end to end: login and its cookies, who is signed in
//! (`/users/me`), refresh-token rotation, logout, and the JWT secret.

use chatlogger::{domain::UserRole, store::UserStore};
use reqwest::Method;

use crate::{
    dashboard::{Cookies, PASSWORD},
    helpers::spawn_app,
};

#[tokio::test]
async fn login_sets_hardened_cookies_and_answers_who_signed_in() {
    let app = spawn_app().await;
    let user = app
        .create_user(&app.acme, "ada@acme.example", UserRole::Admin)
        .await;
    let reply = app.login_reply("  Ada@ACME.example ", PASSWORD).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["user"]["id"], user.id.to_string());
    assert_eq!(reply.body["user"]["role"], "admin");
    assert_eq!(reply.body["org"]["slug"], "acme");
    // What an admin may do (every role's answer is in roles.rs).
    assert_eq!(reply.body["permissions"].as_array().unwrap().len(), 10);
    assert_eq!(
        reply.body["grantable_roles"],
        serde_json::json!(["admin", "user", "viewer"])
    );
    assert!(
        !reply.body.to_string().contains("argon2"),
        "no password hash"
    );

    let session = reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Host-chatlogger_session="))
        .unwrap();
    let refresh = reply
        .set_cookies
        .iter()
        .find(|c| c.starts_with("__Secure-chatlogger_refresh="))
        .unwrap();
    for attribute in ["Secure", "HttpOnly", "SameSite=Strict", "Path=/;"] {
        assert!(
            format!("{session};").contains(attribute),
            "{session} lacks {attribute}"
        );
    }
    assert!(!session.contains("Domain"));
    for attribute in [
        "Secure",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/auth/refresh",
    ] {
        assert!(refresh.contains(attribute), "{refresh} lacks {attribute}");
    }
}

#[tokio::test]
async fn unknown_email_wrong_password_and_disabled_user_look_the_same() {
    let app = spawn_app().await;
    let user = app
        .create_user(&app.acme, "ada@acme.example", UserRole::User)
        .await;
    let wrong_password = app
        .login_reply("ada@acme.example", "not the password!")
        .await;
    let unknown_email = app.login_reply("nobody@acme.example", PASSWORD).await;
    let malformed_email = app.login_reply("not-an-email", PASSWORD).await;
    // The right address and password, with an org that is not hers.
    let unknown_org = app
        .login_reply_in(&app.http, "nope", "ada@acme.example", PASSWORD)
        .await;
    let other_org = app
        .login_reply_in(&app.http, "globex", "ada@acme.example", PASSWORD)
        .await;
    let malformed_org = app
        .login_reply_in(&app.http, "Not A Slug!", "ada@acme.example", PASSWORD)
        .await;
    app.store
        .update_user(
            app.acme.org.id,
            user.id,
            &chatlogger::store::UserChanges {
                disabled: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let disabled = app.login_reply("ada@acme.example", PASSWORD).await;
    for reply in [
        &wrong_password,
        &unknown_email,
        &malformed_email,
        &unknown_org,
        &other_org,
        &malformed_org,
        &disabled,
    ] {
        assert_eq!(reply.status, 401);
        assert_eq!(reply.body, wrong_password.body);
        assert!(reply.set_cookies.is_empty());
    }
    assert_eq!(wrong_password.error_code(), "invalid_credentials");
}

#[tokio::test]
async fn requests_without_a_live_session_are_refused() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::Admin)
        .await;
    let cookies = app.login("ada@acme.example").await;
    let session = cookies.session.clone().unwrap();
    let mut tampered = session.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    for session in [None, Some("garbage".to_owned()), Some(tampered)] {
        let cookies = Cookies {
            session,
            refresh: None,
        };
        let reply = app.send(Method::GET, "/users/me", &cookies, None).await;
        assert_eq!(reply.status, 401);
        assert_eq!(reply.error_code(), "unauthenticated");
    }
    let ok = app.send(Method::GET, "/users/me", &cookies, None).await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_ends_the_session() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::User)
        .await;
    let mut cookies = app.login("ada@acme.example").await;
    let first = cookies.clone();

    let renewed = app
        .send_keeping(Method::POST, "/auth/refresh", &mut cookies, None)
        .await;
    assert_eq!(renewed.status, 204);
    assert_ne!(cookies.refresh, first.refresh, "the refresh token rotated");
    assert_eq!(
        app.send(Method::GET, "/users/me", &cookies, None)
            .await
            .status,
        200
    );

    // The first refresh token again: someone copied it. The whole session ends.
    let replay = app.send(Method::POST, "/auth/refresh", &first, None).await;
    assert_eq!(replay.status, 401);
    assert_eq!(
        app.send(Method::GET, "/users/me", &cookies, None)
            .await
            .status,
        401
    );
    let current = app
        .send(Method::POST, "/auth/refresh", &cookies, None)
        .await;
    assert_eq!(current.status, 401, "the current refresh token died too");

    // A forged token for a live session changes nothing.
    let mut other = app.login("ada@acme.example").await;
    let forged = Cookies {
        session: None,
        refresh: other
            .refresh
            .as_ref()
            .map(|t| format!("{}{}", &t[..t.len() - 43], "A".repeat(43))),
    };
    assert_eq!(
        app.send(Method::POST, "/auth/refresh", &forged, None)
            .await
            .status,
        401
    );
    let still = app
        .send_keeping(Method::POST, "/auth/refresh", &mut other, None)
        .await;
    assert_eq!(still.status, 204);
}

#[tokio::test]
async fn logout_ends_the_session_even_when_its_cookies_are_replayed() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::Viewer)
        .await;
    let cookies = app.login("ada@acme.example").await;
    let other_session = app.login("ada@acme.example").await;

    let logout = app.send(Method::POST, "/auth/logout", &cookies, None).await;
    assert_eq!(logout.status, 204);
    assert!(
        logout
            .set_cookies
            .iter()
            .all(|c| c.contains("Max-Age=0") || c.contains("Expires=")),
        "{:?}",
        logout.set_cookies
    );
    for path in ["/users/me", "/orgs/me"] {
        assert_eq!(
            app.send(Method::GET, path, &cookies, None).await.status,
            401
        );
    }
    assert_eq!(
        app.send(Method::POST, "/auth/refresh", &cookies, None)
            .await
            .status,
        401
    );
    // Only that session ended.
    assert_eq!(
        app.send(Method::GET, "/users/me", &other_session, None)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_jwt_secret_is_required_and_has_no_default() {
    for variable in [
        chatlogger::auth::jwt::SECRET_VARIABLE,
        chatlogger::auth::jwt::SECRET_ID_VARIABLE,
    ] {
        assert!(
            std::env::var_os(variable).is_none(),
            "the test environment does not set {variable}"
        );
    }
    let sdk = crate::helpers::sdk_config().await;
    assert!(chatlogger::adapters::load_jwt_keyring(&sdk).await.is_err());
}
