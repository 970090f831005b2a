//! Starting, refreshing and ending sessions.
//!
//! Refresh rotates: each `POST /auth/refresh` replaces the refresh token
//! (compare-and-set on its stored hash) and remembers the old hash. When a
//! rotated-away token comes back, or two refreshes race with the same token,
//! that token has been copied: the whole session is revoked, so neither the
//! thief nor the user can continue it, and the user signs in again. A token
//! the session never issued changes nothing (so guessing cannot be used to
//! log someone out). The dashboard should therefore never send two
//! refreshes at once.
//!
//! **Revocation is for good.** Every session carries the user's session
//! epoch from when it was confirmed, and every request and refresh compares
//! it with the user's. These bump the epoch, so they end every session of
//! the user for good (re-enabling or promoting the user later revives none
//! of their old cookies or refresh tokens): a password change, disabling, a
//! role change that takes away any permission, and "sign out everywhere"
//! ([`change_user`], [`end_all`]). Deleting a user ends them too: a user
//! created again with the same address has a new id, which no old session
//! names.

use axum_extra::extract::cookie::CookieJar;
use time::OffsetDateTime;

use super::{
    JwtKeyring,
    cookies::{self, REFRESH_COOKIE, SESSION_COOKIE},
    permissions::permissions,
};
use crate::{
    domain::{OrgId, RefreshCheck, RefreshToken, Session, User},
    store::{SessionStore, StoreError, StoreResult, UserChanges, UserStore},
};

/// Why `POST /auth/refresh` issued nothing.
#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// No refresh token, an unknown or ended session, a copied token (the
    /// session is then revoked), or a user who may no longer sign in.
    #[error("the session cannot be refreshed")]
    Ended,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A session with freshly issued tokens, ready to be set as cookies.
pub struct Issued {
    pub session: Session,
    pub refresh: RefreshToken,
    pub access: String,
}

impl Issued {
    fn new(keys: &JwtKeyring, org: OrgId, session: Session, refresh: RefreshToken) -> Self {
        let access = keys.issue(org, session.user_id, session.id);
        Self {
            session,
            refresh,
            access,
        }
    }

    pub fn set_cookies(&self, jar: CookieJar) -> CookieJar {
        cookies::set_session(jar, self.access.clone(), &self.refresh, &self.session)
    }
}

/// Signs `user` in: stores a new session (one `PutItem`) and issues its tokens.
pub async fn start(
    store: &dyn SessionStore,
    keys: &JwtKeyring,
    org: OrgId,
    user: &User,
) -> StoreResult<Issued> {
    let (session, refresh) = Session::start(org, user.id, user.session_epoch);
    store.create_session(org, &session).await?;
    Ok(Issued::new(keys, org, session, refresh))
}

/// The same session moved to `epoch` with a new refresh token: what a
/// password change keeps while it ends every other session.
pub fn renew(keys: &JwtKeyring, org: OrgId, session: &Session, epoch: u32) -> Issued {
    let refresh = RefreshToken::generate(org, session.id);
    let renewed = Session {
        epoch,
        ..session.rotated_to(&refresh)
    };
    Issued::new(keys, org, renewed, refresh)
}

/// `POST /auth/refresh`: rotates the refresh token and issues a new access token.
pub async fn refresh(
    sessions: &dyn SessionStore,
    users: &dyn UserStore,
    keys: &JwtKeyring,
    jar: &CookieJar,
) -> Result<Issued, RefreshError> {
    let token = jar
        .get(REFRESH_COOKIE)
        .and_then(|cookie| RefreshToken::parse(cookie.value()))
        .ok_or(RefreshError::Ended)?;
    let org = token.org_id();
    let session = sessions
        .session(org, token.session_id())
        .await?
        .ok_or(RefreshError::Ended)?;
    match session.classify(&token) {
        RefreshCheck::Unknown => return Err(RefreshError::Ended),
        RefreshCheck::Reused => {
            tracing::warn!(session_id = %session.id, "refresh token reused: session revoked");
            sessions.revoke_session(org, session.id).await?;
            return Err(RefreshError::Ended);
        }
        RefreshCheck::Current => {}
    }
    let user = users
        .user(org, session.user_id)
        .await?
        .filter(|user| !user.disabled)
        .ok_or(RefreshError::Ended)?;
    if !session.is_live(user.id, user.session_epoch, OffsetDateTime::now_utc()) {
        return Err(RefreshError::Ended);
    }
    let next = RefreshToken::generate(org, session.id);
    if !sessions.rotate_refresh(org, &session, &next.hash()).await? {
        // Another request rotated this same token first: it was copied.
        tracing::warn!(session_id = %session.id, "refresh token raced: session revoked");
        sessions.revoke_session(org, session.id).await?;
        return Err(RefreshError::Ended);
    }
    Ok(Issued::new(keys, org, session.rotated_to(&next), next))
}

/// Whether `changes` must end every session of `user` (see the module
/// docs): disabling them, or a role that may not do everything their
/// current one may (admin to viewer, but also viewer to user, which loses
/// the org-wide reads).
pub fn ends_sessions(user: &User, changes: &UserChanges) -> bool {
    // Every disable ends sessions, even of a user read as disabled already:
    // an enable racing it may have landed since the read.
    let disabling = changes.disabled == Some(true);
    let losing_permissions = changes
        .role
        .is_some_and(|role| !permissions(role).includes(permissions(user.role)));
    changes.end_sessions || disabling || losing_permissions
}

/// Applies `changes` to `user` (as read just before), ending their sessions
/// in the same write where [`ends_sessions`] says so. `None` when the user
/// no longer exists.
pub async fn change_user<S: UserStore + ?Sized>(
    store: &S,
    org: OrgId,
    user: &User,
    changes: UserChanges,
) -> StoreResult<Option<User>> {
    let changes = UserChanges {
        end_sessions: ends_sessions(user, &changes),
        ..changes
    };
    let updated = store.update_user(org, user.id, &changes).await?;
    if changes.end_sessions && updated.is_some() {
        tracing::info!(target_user_id = %user.id, "every session of the user ended");
    }
    Ok(updated)
}

/// "Sign out everywhere": ends every session of `user` for good.
pub async fn end_all<S: UserStore + ?Sized>(
    store: &S,
    org: OrgId,
    user: &User,
) -> StoreResult<Option<User>> {
    let changes = UserChanges {
        end_sessions: true,
        ..UserChanges::default()
    };
    change_user(store, org, user, changes).await
}

/// `POST /auth/logout`: revokes the session named by the access cookie
/// (even an expired one) or by a refresh cookie this session issued.
pub async fn end(store: &dyn SessionStore, keys: &JwtKeyring, jar: &CookieJar) -> StoreResult<()> {
    let access = jar.get(SESSION_COOKIE).map(|cookie| cookie.value());
    let claims = match access {
        Some(token) => keys.verify_allowing_expiry(token).await,
        None => None,
    };
    if let Some(claims) = claims {
        return store.revoke_session(claims.org, claims.sid).await;
    }
    let Some(token) = jar
        .get(REFRESH_COOKIE)
        .and_then(|cookie| RefreshToken::parse(cookie.value()))
    else {
        return Ok(());
    };
    let session = store.session(token.org_id(), token.session_id()).await?;
    if session.is_some_and(|session| session.classify(&token) != RefreshCheck::Unknown) {
        store
            .revoke_session(token.org_id(), token.session_id())
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{DisplayName, Email, PasswordHash, UserRole};

    #[test]
    fn disabling_and_taking_permissions_away_end_sessions() {
        let user = |role| {
            User::new(
                Email::parse("a@b.example").unwrap(),
                role,
                PasswordHash::from_stored(String::new()),
            )
        };
        let role = |role| UserChanges {
            role: Some(role),
            ..UserChanges::default()
        };
        let admin = user(UserRole::Admin);
        assert!(ends_sessions(&admin, &role(UserRole::Viewer)));
        assert!(ends_sessions(&admin, &role(UserRole::User)));
        assert!(!ends_sessions(&admin, &role(UserRole::Admin)));
        assert!(!ends_sessions(&admin, &role(UserRole::Superadmin)));
        let viewer = user(UserRole::Viewer);
        assert!(
            ends_sessions(&viewer, &role(UserRole::User)),
            "loses org-wide reads"
        );
        assert!(!ends_sessions(&viewer, &role(UserRole::Admin)));
        let disable = UserChanges {
            disabled: Some(true),
            ..UserChanges::default()
        };
        assert!(ends_sessions(&viewer, &disable));
        let read_as_disabled = User {
            disabled: true,
            ..viewer.clone()
        };
        assert!(
            ends_sessions(&read_as_disabled, &disable),
            "a disable racing an enable still ends sessions"
        );
        let enable = UserChanges {
            disabled: Some(false),
            ..UserChanges::default()
        };
        assert!(!ends_sessions(&viewer, &enable));
        let rename = UserChanges {
            display_name: Some(DisplayName::parse("Ada").unwrap()),
            ..UserChanges::default()
        };
        assert!(!ends_sessions(&viewer, &rename));
    }
}
