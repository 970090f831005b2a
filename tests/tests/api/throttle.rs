//! The sign-in throttle end to end: per email and source, per email, per
//! source, and under concurrent attempts.
//!
//! Every test counts time by a clock set to the middle of a throttle window,
//! so none can straddle a window's edge wherever the wall clock falls.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use chatlogger::{
    auth::login::{
        self, LoginError, MAX_ATTEMPTS_PER_EMAIL, MAX_ATTEMPTS_PER_EMAIL_AND_SOURCE,
        MAX_ATTEMPTS_PER_SOURCE,
    },
    clock::{Clock, ManualClock},
    domain::{Email, OrgId, PasswordHash, Session, User, UserId, UserRole},
    store::{Claim, DynamoStore, Page, PageRequest, StoreResult, UserChanges, UserStore},
};
use serde_json::json;
use time::macros::datetime;

use crate::{
    dashboard::PASSWORD,
    helpers::{TestApp, spawn_app_with_clock},
};

/// Seven and a half minutes into a 15-minute throttle window.
fn mid_window() -> Arc<ManualClock> {
    let clock = ManualClock::shared(datetime!(2026-06-01 12:07:30 UTC));
    let (_, seconds_left) = login::window_at(clock.now());
    assert_eq!(seconds_left, login::WINDOW.as_secs() / 2);
    clock
}

async fn spawn_app() -> TestApp {
    spawn_app_with_clock(mid_window()).await
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
    async fn user_by_email(&self, org: OrgId, email: &Email) -> StoreResult<Option<User>> {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        self.inner.user_by_email(org, email).await
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
    let clock = mid_window();
    for _ in 0..40 {
        let (users, throttle, clock) = (users.clone(), app.store.clone(), clock.clone());
        attempts.spawn(async move {
            let account = login::Account {
                org: "acme",
                email: "ada@acme.example",
            };
            login::sign_in(
                &*throttle,
                &*users,
                &*throttle,
                account,
                "wrong password!!",
                "203.0.113.7",
                clock.now(),
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
        let request = app.http.post(&url).header("x-csrf-protection", "1").json(
            &json!({"org": "acme", "email": "bob@acme.example", "password": "wrong password!!"}),
        );
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
