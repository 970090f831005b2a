//! Checking a password, and holding back whoever keeps getting it wrong
//! without letting them lock the owner out.
//!
//! **An account is an org and an address.** Sign-in names the org (its
//! slug), the email and the password. The same address may be a user of
//! several orgs: those are separate accounts with their own passwords, so
//! an admin adding a user learns nothing about other orgs' members, and no
//! org can take an address away from another (an address unique across
//! the service did both: a 409 named addresses registered elsewhere).
//!
//! **Constant cost.** An unknown org, an unknown email, a disabled user and
//! a wrong password all cost one argon2id verification (against a dummy
//! hash with the same parameters when there is no user) and all answer the
//! same 401.
//!
//! **Throttle.** Every password check is *reserved* before it runs: an
//! atomic conditional increment of a counter that refuses once the counter
//! is at its limit, so parallel requests cannot all slip past a count read
//! earlier. A check that succeeds gives its reservations back; a failed one
//! keeps them, so the counters hold failures (and checks in flight). In
//! fixed windows of [`WINDOW`], three counters hold attempts back:
//!
//! - per (account, source address): [`MAX_ATTEMPTS_PER_EMAIL_AND_SOURCE`],
//!   the small limit a guesser meets;
//! - per source address, whatever the account: [`MAX_ATTEMPTS_PER_SOURCE`],
//!   so one address cannot spray many accounts;
//! - per account (org and email), across every address: [`MAX_ATTEMPTS_PER_EMAIL`], a much
//!   higher limit for guessers spread over many addresses. Once it is
//!   reached, an address that has **not** tried that email in the window
//!   still gets its check, so nobody can lock the owner out: their
//!   correct password from their own address signs in. A distributed
//!   guesser then needs a fresh address for every further guess.
//!
//! A refused attempt answers 429 with `Retry-After` (the seconds left in
//! the window) without checking the password. The counters do not depend
//! on the account existing, so a 429 reveals nothing about accounts. Fixed
//! windows let a patient guesser make at most twice a limit around a
//! window edge.

use std::{sync::LazyLock, time::Duration};

use time::OffsetDateTime;

use crate::{
    domain::{Email, Org, Password, PasswordHash, Slug, User},
    store::{LoginThrottleStore, OrgStore, StoreError, UserStore},
};

pub const WINDOW: Duration = Duration::from_secs(15 * 60);
pub const MAX_ATTEMPTS_PER_EMAIL_AND_SOURCE: u32 = 5;
pub const MAX_ATTEMPTS_PER_SOURCE: u32 = 50;
pub const MAX_ATTEMPTS_PER_EMAIL: u32 = 50;

/// What a failed sign-in is told.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong organization, email or password")]
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

/// The three counters one attempt reserves (see the module docs).
#[derive(Debug, PartialEq, Eq)]
struct ThrottleKeys {
    email_and_source: String,
    source: String,
    email: String,
}

impl ThrottleKeys {
    /// `org` is the slug and `email` the address as typed: the counters
    /// exist whether or not the account does.
    fn new(org: &str, email: &str, source: &str) -> Self {
        let account = format!(
            "{}\n{}",
            org.trim().to_lowercase(),
            email.trim().to_lowercase()
        );
        Self {
            email_and_source: format!("email+source:{account}\n{source}"),
            source: format!("source:{source}"),
            email: format!("email:{account}"),
        }
    }
}

/// The counters an attempt holds, to give back if its password is right.
struct Reservation<'a> {
    throttle: &'a dyn LoginThrottleStore,
    window: u64,
    held: Vec<String>,
}

impl<'a> Reservation<'a> {
    /// Reserves one password check, or says why not (the counters already
    /// taken are given back).
    async fn take(
        throttle: &'a dyn LoginThrottleStore,
        keys: ThrottleKeys,
        now: OffsetDateTime,
    ) -> Result<Self, LoginError> {
        let (window, retry_after_secs) = window_at(now);
        let expires_at = now + Duration::from_secs(retry_after_secs);
        let mut reservation = Self {
            throttle,
            window,
            held: Vec::new(),
        };
        let throttled = LoginError::Throttled { retry_after_secs };
        let reserve = |key: &str, limit| {
            let key = key.to_owned();
            async move {
                throttle
                    .reserve_login_attempt(&key, window, limit, expires_at)
                    .await
            }
        };

        let Some(tries_here) =
            reserve(&keys.email_and_source, MAX_ATTEMPTS_PER_EMAIL_AND_SOURCE).await?
        else {
            return Err(throttled);
        };
        reservation.held.push(keys.email_and_source);
        if reserve(&keys.source, MAX_ATTEMPTS_PER_SOURCE)
            .await?
            .is_none()
        {
            reservation.give_back().await;
            return Err(throttled);
        }
        reservation.held.push(keys.source);
        match reserve(&keys.email, MAX_ATTEMPTS_PER_EMAIL).await? {
            Some(_) => reservation.held.push(keys.email),
            // The email is under attack from many addresses; this address
            // has not tried it in this window, so it still gets its check.
            None if tries_here == 1 => {}
            None => {
                reservation.give_back().await;
                return Err(throttled);
            }
        }
        Ok(reservation)
    }

    /// Gives the counters back. Best effort: a failure here only leaves a
    /// counter one too high until its window ends, so it is logged, not
    /// returned.
    async fn give_back(self) {
        for key in &self.held {
            if let Err(error) = self.throttle.release_login_attempt(key, self.window).await {
                tracing::warn!(error = ?error, "could not give back a sign-in reservation");
            }
        }
    }
}

/// Who signs in: the org's slug and the email address, as typed.
#[derive(Debug, Clone, Copy)]
pub struct Account<'a> {
    pub org: &'a str,
    pub email: &'a str,
}

/// Signs in `account` with `password` from `source` (the client's address),
/// `now` placing it in a throttle window.
pub async fn sign_in(
    orgs: &dyn OrgStore,
    users: &dyn UserStore,
    throttle: &dyn LoginThrottleStore,
    account: Account<'_>,
    password: &str,
    source: &str,
    now: OffsetDateTime,
) -> Result<(Org, User), LoginError> {
    let keys = ThrottleKeys::new(account.org, account.email, source);
    let reservation = Reservation::take(throttle, keys, now).await?;
    let account = match (
        Slug::parse(&account.org.trim().to_lowercase()),
        Email::parse(account.email),
    ) {
        (Ok(slug), Ok(email)) => match orgs.org_by_slug(&slug).await? {
            Some(org) => users
                .user_by_email(org.id, &email)
                .await?
                .map(|user| (org, user)),
            None => None,
        },
        _ => None,
    };
    let hash = account.as_ref().and_then(|(_, user)| usable_hash(user));
    check(reservation, hash, password).await?;
    Ok(account.expect("a verified password has an account"))
}

/// Checks the password of a user already signed in (before a password
/// change): the same reservations and cost as [`sign_in`], without looking
/// the account up again.
pub async fn confirm_password(
    throttle: &dyn LoginThrottleStore,
    org: &Org,
    user: &User,
    password: &str,
    source: &str,
    now: OffsetDateTime,
) -> Result<(), LoginError> {
    let keys = ThrottleKeys::new(org.slug.as_str(), user.email.as_str(), source);
    let reservation = Reservation::take(throttle, keys, now).await?;
    check(reservation, usable_hash(user), password).await
}

/// The hash a password is checked against: none for a disabled user.
fn usable_hash(user: &User) -> Option<PasswordHash> {
    (!user.disabled).then(|| user.password_hash.clone())
}

/// One argon2id check under `reservation`: a right password gives the
/// reservation back, a failure keeps it (the counters are failure counts).
async fn check(
    reservation: Reservation<'_>,
    hash: Option<PasswordHash>,
    password: &str,
) -> Result<(), LoginError> {
    if verify_password(hash, password.to_owned()).await {
        reservation.give_back().await;
        return Ok(());
    }
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
            ThrottleKeys::new(" Acme", " Ada@Example.com", "1.2.3.4"),
            ThrottleKeys::new("acme", "ada@example.com", "1.2.3.4")
        );
        let keys = ThrottleKeys::new("acme", "ada@example.com", "1.2.3.4");
        assert_ne!(
            keys.email_and_source,
            ThrottleKeys::new("acme", "ada@example.com", "1.2.3.5").email_and_source
        );
        // The same address in another org is another account.
        let elsewhere = ThrottleKeys::new("globex", "ada@example.com", "1.2.3.4");
        assert_ne!(keys.email, elsewhere.email);
        assert_eq!(keys.source, elsewhere.source);
    }
}
