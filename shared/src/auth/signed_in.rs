//! `SignedIn<R>`: the extractor every dashboard route starts with. The type
//! parameter is the route's minimum role, so a route declares who may call
//! it in its handler's signature, in one place:
//!
//! ```ignore
//! async fn list_users(signed_in: SignedIn<min::Admin>, ...) -> ...
//! ```
//!
//! On every request it verifies the access JWT, then reads the session and
//! the user in one strongly consistent `BatchGetItem`. So logout, a password
//! change, disabling or deleting a user end sessions at once, and a role
//! change applies on the next request: nothing is trusted from the token
//! but the ids it names.

use std::marker::PhantomData;

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};
use axum_extra::extract::cookie::CookieJar;
use time::OffsetDateTime;

use super::{AuthState, cookies::SESSION_COOKIE};
use crate::{
    domain::{Chat, EndUserId, OrgId, Session, User, UserRole},
    http::ApiError,
    store::OrgAdminStore,
};

/// A route's minimum role, as a type (see [`min`]).
pub trait MinRole: Send + Sync + 'static {
    const ROLE: UserRole;
}

/// The minimum roles a route can require.
pub mod min {
    use super::{MinRole, UserRole};

    /// Anyone signed in: read-only access to their org, and themselves.
    pub struct Viewer;
    /// Members who work with chats (their own) and themselves.
    pub struct User;
    /// Everything in their own org.
    pub struct Admin;
    /// Every org.
    pub struct Superadmin;

    impl MinRole for Viewer {
        const ROLE: UserRole = UserRole::Viewer;
    }
    impl MinRole for User {
        const ROLE: UserRole = UserRole::User;
    }
    impl MinRole for Admin {
        const ROLE: UserRole = UserRole::Admin;
    }
    impl MinRole for Superadmin {
        const ROLE: UserRole = UserRole::Superadmin;
    }
}

/// A request from a signed-in user whose role is at least `R`.
pub struct SignedIn<R: MinRole> {
    pub org_id: OrgId,
    pub user: User,
    pub session: Session,
    role: PhantomData<R>,
}

impl<R: MinRole> SignedIn<R> {
    /// The org a request acts on: the user's own, unless a superadmin names
    /// another with `?org=`. Anyone else naming another org gets the same
    /// 404 whether it exists or not.
    pub async fn org_scope(
        &self,
        requested: Option<OrgId>,
        orgs: &dyn OrgAdminStore,
    ) -> Result<OrgId, ApiError> {
        match requested {
            None => Ok(self.org_id),
            Some(org) if org == self.org_id => Ok(org),
            Some(org) if self.user.role == UserRole::Superadmin => match orgs.org(org).await? {
                Some(_) => Ok(org),
                None => Err(ApiError::NotFound("org")),
            },
            Some(_) => Err(ApiError::NotFound("org")),
        }
    }
}

/// What a signed-in user may see of their org's chats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatScope {
    /// Viewers, admins and superadmins: every chat of the org.
    WholeOrg,
    /// A `user`: only the chats whose `user_id` is their email address
    /// (`None` when the address cannot be an end-user id: over 128
    /// characters; such a user owns no chats).
    OwnChats(Option<EndUserId>),
}

impl ChatScope {
    pub fn allows(&self, chat: &Chat) -> bool {
        match self {
            ChatScope::WholeOrg => true,
            ChatScope::OwnChats(own) => own.is_some() && chat.user_id == *own,
        }
    }
}

impl<R: MinRole> SignedIn<R> {
    /// Which chats this user may see (see [`ChatScope`]).
    pub fn chat_scope(&self) -> ChatScope {
        match self.user.role {
            UserRole::User => ChatScope::OwnChats(EndUserId::parse(self.user.email.as_str()).ok()),
            _ => ChatScope::WholeOrg,
        }
    }

    /// For routes that show the whole org (analytics): a `user`, who may
    /// only see their own chats, is refused.
    pub fn require_whole_org(&self) -> Result<(), ApiError> {
        match self.chat_scope() {
            ChatScope::WholeOrg => Ok(()),
            ChatScope::OwnChats(_) => Err(ApiError::Forbidden),
        }
    }
}

impl<S, R> FromRequestParts<S> for SignedIn<R>
where
    S: Send + Sync,
    R: MinRole,
    AuthState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let auth = AuthState::from_ref(state);
        let jar = CookieJar::from_headers(&parts.headers);
        let claims = jar
            .get(SESSION_COOKIE)
            .and_then(|cookie| auth.keys.verify(cookie.value()))
            .ok_or(ApiError::Unauthenticated)?;
        let (session, user) = auth
            .sessions
            .session_and_user(claims.org, claims.sid, claims.sub)
            .await?;
        let (Some(session), Some(user)) = (session, user) else {
            return Err(ApiError::Unauthenticated);
        };
        if user.disabled || !session.is_live(user.id, user.session_epoch, OffsetDateTime::now_utc())
        {
            return Err(ApiError::Unauthenticated);
        }
        let span = tracing::Span::current();
        span.record("org_id", tracing::field::display(claims.org));
        span.record("user_id", tracing::field::display(user.id));
        if user.role < R::ROLE {
            return Err(ApiError::Forbidden);
        }
        Ok(Self {
            org_id: claims.org,
            user,
            session,
            role: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use time::OffsetDateTime;

    use super::*;
    use crate::domain::{ChatId, Metadata, Tags};

    fn chat(user_id: Option<&str>) -> Chat {
        Chat {
            id: ChatId::new(),
            title: None,
            tags: Tags::default(),
            metadata: Metadata::default(),
            user_id: user_id.map(|u| EndUserId::parse(u).unwrap()),
            created_at: OffsetDateTime::now_utc(),
        }
    }

    #[test]
    fn a_users_scope_is_their_own_chats_only() {
        let own = ChatScope::OwnChats(Some(EndUserId::parse("ann@acme.example").unwrap()));
        assert!(own.allows(&chat(Some("ann@acme.example"))));
        assert!(!own.allows(&chat(Some("bob@acme.example"))));
        assert!(!own.allows(&chat(None)), "an anonymous chat is nobody's");
        let nobody = ChatScope::OwnChats(None);
        assert!(!nobody.allows(&chat(None)));
        assert!(ChatScope::WholeOrg.allows(&chat(None)));
    }
}
