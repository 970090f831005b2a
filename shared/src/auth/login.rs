//! Checking a password, and slowing down whoever keeps getting it wrong.
//!
//! **Constant cost.** An unknown email, a disabled user and a wrong password
//! all cost one argon2id verification (against a dummy hash with the same
//! parameters when there is no user) and all answer the same 401.
//!
//! **Throttle.** Failures are counted per email address and per source
//! address in fixed windows of [`WINDOW`]: once an email has
//! [`MAX_FAILURES_PER_EMAIL`] failures in the current window, or a source
//! [`MAX_FAILURES_PER_SOURCE`], sign-in for it answers 429 with
//! `Retry-After` (the seconds left in the window) without checking the
//! password, until the window ends. The count is kept whether or not the
//! email exists, so a 429 reveals nothing about accounts. Fixed windows let
//! a patient attacker make at most twice the limit around a window edge:
//! 10 guesses per account per 15 minutes.

use std::{sync::LazyLock, time::Duration};

use time::OffsetDateTime;

use crate::{
    domain::{Email, OrgId, Password, PasswordHash, User},
    store::{LoginThrottleStore, StoreError, UserStore},
};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_FAILURES_PER_EMAIL: u32 = 5;
pub const MAX_FAILURES_PER_SOURCE: u32 = 50;

/// What a failed sign-in is told.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("too many failed sign-ins; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verified against when the email is unknown, so that costs the same.
static DUMMY_HASH: LazyLock<PasswordHash> = LazyLock::new(|| Password::generate().hash());

/// Runs argon2id off the async threads. `None` stands for "no such user".
pub async fn verify_password(hash: Option<PasswordHash>, password: String) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DUMMY_HASH.clone());
        // Any string is checked, even one `Password::parse` would refuse,
        // so a too-short guess costs the same as any other.
        let matches = hash.verify_raw(&password);
        known && matches
    })
    .await
    .unwrap_or(false)
}

/// The throttle window `now` falls in, and the seconds left in it.
pub fn window_at(now: OffsetDateTime) -> (u64, u64) {
    let seconds = now.unix_timestamp().max(0) as u64;
    let length = WINDOW.as_secs();
    (seconds / length, length - seconds % length)
}

fn throttle_keys(email: &str, source: &str) -> [String; 2] {
    [
        format!("email:{}", email.trim().to_lowercase()),
        format!("source:{source}"),
    ]
}

/// Signs in `email` with `password` from `source` (the client's address).
pub async fn sign_in(
    users: &dyn UserStore,
    throttle: &dyn LoginThrottleStore,
    email: &str,
    password: &str,
    source: &str,
) -> Result<(OrgId, User), LoginError> {
    let (window, retry_after_secs) = window_at(OffsetDateTime::now_utc());
    let keys = throttle_keys(email, source);
    let failures = throttle.login_failures(&keys, window).await?;
    if failures[0] >= MAX_FAILURES_PER_EMAIL || failures[1] >= MAX_FAILURES_PER_SOURCE {
        return Err(LoginError::Throttled { retry_after_secs });
    }
    let account = match Email::parse(email) {
        Ok(email) => users.user_by_email(&email).await?,
        Err(_) => None,
    };
    let hash = account
        .as_ref()
        .filter(|(_, user)| !user.disabled)
        .map(|(_, user)| user.password_hash.clone());
    if verify_password(hash, password.to_owned()).await {
        return Ok(account.expect("a verified password has an account"));
    }
    let window_end = OffsetDateTime::now_utc() + Duration::from_secs(retry_after_secs);
    throttle
        .record_login_failure(&keys, window, window_end)
        .await?;
    Err(LoginError::InvalidCredentials)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_fixed_and_count_down() {
        let start = OffsetDateTime::from_unix_timestamp(900 * 1000).unwrap();
        assert_eq!(window_at(start), (1000, 900));
        assert_eq!(window_at(start + Duration::from_secs(899)), (1000, 1));
        assert_eq!(window_at(start + Duration::from_secs(900)), (1001, 900));
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_one_does() {
        let real = Password::parse("correct horse battery").unwrap().hash();
        let params = |hash: &PasswordHash| hash.as_str().split('$').nth(3).unwrap().to_owned();
        assert_eq!(params(&DUMMY_HASH), params(&real));
    }

    #[tokio::test]
    async fn unknown_users_never_verify() {
        let password = Password::generate();
        assert!(!verify_password(None, password.expose().to_owned()).await);
        let hash = password.hash();
        assert!(verify_password(Some(hash.clone()), password.expose().to_owned()).await);
        assert!(!verify_password(Some(hash), "wrong".into()).await);
    }

    #[test]
    fn throttle_keys_ignore_case_and_spaces() {
        assert_eq!(
            throttle_keys(" Ada@Example.com", "1.2.3.4"),
            throttle_keys("ada@example.com", "1.2.3.4")
        );
    }
}
