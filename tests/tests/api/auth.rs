//! Dashboard sign-in, sessions, the login throttle, CSRF, CORS, password
//! changes, user administration and API-key management, end to end.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use chatlogger::{
    auth::login::{
        self, LoginError, MAX_ATTEMPTS_PER_EMAIL, MAX_ATTEMPTS_PER_EMAIL_AND_SOURCE,
        MAX_ATTEMPTS_PER_SOURCE,
    },
    domain::{Email, OrgId, PasswordHash, Session, User, UserId, UserRole},
    lookups::CHANGES_APPLY_WITHIN,
    store::{Claim, DynamoStore, Page, PageRequest, StoreResult, UserChanges, UserStore},
};
use reqwest::Method;
use serde_json::json;

use crate::{
    dashboard::{Cookies, PASSWORD, full_reply},
    helpers::{DASHBOARD_ORIGIN, TestApp, spawn_app},
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
    for reply in [&wrong_password, &unknown_email, &malformed_email, &disabled] {
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

/// A [`UserStore`] that counts email lookups: sign-in looks the email up
/// once per password check, right before argon2 runs.
struct CountingUsers {
    inner: Arc<DynamoStore>,
    lookups: AtomicUsize,
}

#[async_trait::async_trait]
impl UserStore for CountingUsers {
    async fn create_user(&self, org: OrgId, user: &User) -> StoreResult<Claim> {
        self.inner.create_user(org, user).await
    }
    async fn user(&self, org: OrgId, id: UserId) -> StoreResult<Option<User>> {
        self.inner.user(org, id).await
    }
    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<(OrgId, User)>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.user_by_email(email).await
    }
    async fn list_users(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<User>> {
        self.inner.list_users(org, page).await
    }
    async fn update_user(
        &self,
        org: OrgId,
        id: UserId,
        changes: &UserChanges,
    ) -> StoreResult<Option<User>> {
        self.inner.update_user(org, id, changes).await
    }
    async fn delete_user(&self, org: OrgId, user: &User) -> StoreResult<bool> {
        self.inner.delete_user(org, user).await
    }
    async fn change_password(
        &self,
        org: OrgId,
        user: &User,
        hash: &PasswordHash,
        keep: &Session,
    ) -> StoreResult<bool> {
        self.inner.change_password(org, user, hash, keep).await
    }
}

#[tokio::test]
async fn forty_concurrent_wrong_passwords_get_at_most_five_password_checks() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::User)
        .await;
    let users = Arc::new(CountingUsers {
        inner: app.store.clone(),
        lookups: AtomicUsize::new(0),
    });
    let mut attempts = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let (users, throttle) = (users.clone(), app.store.clone());
        attempts.spawn(async move {
            login::sign_in(
                &*users,
                &*throttle,
                "ada@acme.example",
                "wrong password!!",
                "203.0.113.7",
            )
            .await
        });
    }
    let (mut refused, mut throttled) = (0, 0);
    for outcome in attempts.join_all().await {
        match outcome {
            Err(LoginError::InvalidCredentials) => refused += 1,
            Err(LoginError::Throttled { .. }) => throttled += 1,
            other => panic!("unexpected outcome: {other:?}"),
        }
    }
    let checks = users.lookups.load(Ordering::SeqCst);
    assert_eq!(
        checks, MAX_ATTEMPTS_PER_EMAIL_AND_SOURCE as usize,
        "password checks"
    );
    assert_eq!((refused, throttled), (5, 35));

    // The same race over HTTP: five 401s, the rest 429 without a check.
    let url = format!("{}/auth/login", app.base_url);
    let mut requests = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let request = app
            .http
            .post(&url)
            .header("x-csrf-protection", "1")
            .json(&json!({"email": "bob@acme.example", "password": "wrong password!!"}));
        requests.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let mut statuses = requests.join_all().await;
    statuses.sort();
    let expected: Vec<u16> = [vec![401; 5], vec![429; 35]].concat();
    assert_eq!(statuses, expected);
}

#[tokio::test]
async fn an_attacker_is_held_back_but_cannot_lock_the_owner_out() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::User)
        .await;
    app.create_user(&app.acme, "bob@acme.example", UserRole::User)
        .await;
    let attacker = TestApp::client_from("127.0.0.2");
    for _ in 0..MAX_ATTEMPTS_PER_EMAIL_AND_SOURCE {
        let reply = app
            .login_reply_via(&attacker, "ada@acme.example", "wrong password!!")
            .await;
        assert_eq!(reply.status, 401);
    }
    // From the attacker's address, even the right password now waits.
    for password in ["wrong password!!", PASSWORD] {
        let held = app
            .login_reply_via(&attacker, "ada@acme.example", password)
            .await;
        assert_eq!(held.status, 429, "{}", held.body);
        assert_eq!(held.error_code(), "too_many_requests");
        let retry_after: u64 = held.headers["retry-after"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry_after), "{retry_after}");
        assert!(held.set_cookies.is_empty());
    }
    // The owner, from their own address, signs in; twice, since a right
    // password gives its reservation back.
    for _ in 0..2 {
        assert_eq!(
            app.login_reply("ada@acme.example", PASSWORD).await.status,
            200
        );
    }
    // Other accounts are unaffected, even from the attacker's address.
    assert_eq!(
        app.login_reply_via(&attacker, "bob@acme.example", PASSWORD)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_guesser_on_many_addresses_meets_the_per_email_limit_and_the_owner_still_gets_in() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::User)
        .await;
    let per_address = MAX_ATTEMPTS_PER_EMAIL_AND_SOURCE;
    let addresses = MAX_ATTEMPTS_PER_EMAIL / per_address;
    for n in 0..addresses {
        let attacker = TestApp::client_from(&format!("127.0.1.{}", n + 1));
        for _ in 0..per_address {
            let reply = app
                .login_reply_via(&attacker, "ada@acme.example", "wrong password!!")
                .await;
            assert_eq!(reply.status, 401);
        }
    }
    // The email's limit is reached: an address new to it gets one check...
    let fresh = TestApp::client_from("127.0.2.1");
    let first = app
        .login_reply_via(&fresh, "ada@acme.example", "wrong password!!")
        .await;
    assert_eq!(first.status, 401);
    // ...and after failing, no more, not even with the right password.
    let second = app
        .login_reply_via(&fresh, "ada@acme.example", PASSWORD)
        .await;
    assert_eq!(second.status, 429);
    // The owner's address has no failures: the right password gets in.
    assert_eq!(
        app.login_reply("ada@acme.example", PASSWORD).await.status,
        200
    );
}

#[tokio::test]
async fn repeated_failures_from_one_source_are_locked_out() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::User)
        .await;
    for n in 0..MAX_ATTEMPTS_PER_SOURCE {
        let reply = app
            .login_reply(&format!("guess{n}@acme.example"), "wrong password!!")
            .await;
        assert_eq!(reply.status, 401);
    }
    let locked = app.login_reply("ada@acme.example", PASSWORD).await;
    assert_eq!(locked.status, 429);
    assert!(locked.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn state_changing_requests_without_the_csrf_header_change_nothing() {
    let app = spawn_app().await;
    app.create_user(&app.acme, "ada@acme.example", UserRole::Admin)
        .await;
    let cookies = app.login("ada@acme.example").await;
    let session = cookies.session.clone().unwrap();
    let url = format!("{}/orgs/me/apikeys", app.base_url);
    let keys_before = app
        .send(Method::GET, "/orgs/me/apikeys", &cookies, None)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();

    let cookie = format!("__Host-chatlogger_session={session}");
    let without_header = app
        .http
        .post(&url)
        .header("cookie", &cookie)
        .json(&json!({"label": "csrf"}))
        .send()
        .await
        .unwrap();
    let cross_site = app
        .http
        .post(&url)
        .header("cookie", &cookie)
        .header("x-csrf-protection", "1")
        .header("sec-fetch-site", "cross-site")
        .json(&json!({"label": "csrf"}))
        .send()
        .await
        .unwrap();
    let login_without_header = app
        .http
        .post(format!("{}/auth/login", app.base_url))
        .json(&json!({"email": "ada@acme.example", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    for response in [without_header, cross_site, login_without_header] {
        let reply = full_reply(response).await;
        assert_eq!(reply.status, 403);
        assert_eq!(reply.error_code(), "csrf_rejected");
        assert!(reply.set_cookies.is_empty());
    }
    let keys_after = app
        .send(Method::GET, "/orgs/me/apikeys", &cookies, None)
        .await
        .body["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(keys_after, keys_before);
}

#[tokio::test]
async fn cors_admits_only_the_dashboard_origins_with_credentials() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        app.http
            .request(Method::OPTIONS, format!("{}/orgs/me/apikeys", app.base_url))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type,x-csrf-protection",
            )
            .send()
    };
    let allowed = preflight(DASHBOARD_ORIGIN).await.unwrap();
    assert!(allowed.status().is_success());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        DASHBOARD_ORIGIN
    );
    assert_eq!(
        allowed.headers()["access-control-allow-credentials"],
        "true"
    );
    let refused = preflight("https://evil.example").await.unwrap();
    assert!(
        !refused
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

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

#[tokio::test]
async fn email_addresses_are_unique_across_orgs() {
    let app = spawn_app().await;
    app.create_user(&app.globex, "taken@example.com", UserRole::User)
        .await;
    app.create_user(&app.acme, "admin@acme.example", UserRole::Admin)
        .await;
    let admin = app.login("admin@acme.example").await;
    let before = app.all_items().await.len();
    let taken = app
        .send(
            Method::POST,
            "/orgs/me/users",
            &admin,
            Some(&json!({"email": "Taken@Example.com", "role": "user", "password": PASSWORD})),
        )
        .await;
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
    assert_eq!(users_and_emails(&after), 4);
}

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
            json!({"email": "a".repeat(300), "password": "x"}),
            422,
        ),
        (
            Method::POST,
            "/auth/login",
            json!({"email": "a@b.example"}),
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
    assert!(chatlogger::auth::JwtKeyring::load(&sdk).await.is_err());
}
