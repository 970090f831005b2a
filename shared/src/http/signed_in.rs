//! `SignedIn<N>`: the extractor every dashboard route starts with. The type
//! parameter is what the route needs (see [`need`]), so a route declares
//! who may call it in its handler's signature, in one place:
//!
//! ```ignore
//! async fn list_users(signed_in: SignedIn<need::ManageUsers>, ...) -> ...
//! ```
//!
//! On every request it verifies the access JWT, then reads the session and
//! the user in one strongly consistent `BatchGetItem`. So logout, a password
//! change, disabling or deleting a user end sessions at once, and a role
//! change applies on the next request: nothing is trusted from the token
//! but the ids it names.

use std::{marker::PhantomData, sync::Arc};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};
use axum_extra::extract::cookie::CookieJar;
use time::OffsetDateTime;

use super::{ApiError, Dashboard};
use crate::{
    auth::{
        Permission, Permissions,
        cookies::SESSION_COOKIE,
        permissions::{self, may_grant},
    },
    domain::{ChatScope, Org, OrgId, Session, User, UserRole},
    store::OrgStore,
};

/// What a route needs of the signed-in user's role, as a type (see [`need`]).
pub trait Need: Send + Sync + 'static {
    fn met_by(permissions: Permissions) -> bool;
}

/// Routes that show chats: whether the role sees all of the org's or only
/// its own.
pub trait ChatAccess: Need {
    /// The permission that widens the access to every chat of the org.
    const WHOLE_ORG: Permission;
}

/// What a route can need.
pub mod need {
    use super::{ChatAccess, Need, Permission, Permissions};

    macro_rules! need {
        ($(#[$doc:meta])* $name:ident: $($permission:ident)|+) => {
            $(#[$doc])*
            pub struct $name;
            impl Need for $name {
                fn met_by(permissions: Permissions) -> bool {
                    false $(|| permissions.has(Permission::$permission))+
                }
            }
        };
    }

    /// Anyone signed in (their own profile, their org's name).
    pub struct Anyone;
    impl Need for Anyone {
        fn met_by(_: Permissions) -> bool {
            true
        }
    }

    need!(
        /// Reading chats: all of the org's, or a `user`'s own.
        ReadChats: ReadAllChats | ReadOwnChats
    );
    need!(
        /// Editing chats: any of the org's (admins), or a `user`'s own.
        EditChats: EditAllChats | EditOwnChats
    );
    need!(DeleteChats: DeleteChats);
    need!(
        /// Org-wide figures.
        ReadAnalytics: ReadAnalytics
    );
    need!(
        /// Org-wide exports.
        Export: Export
    );
    need!(ManageKeys: ManageKeys);
    need!(ManageUsers: ManageUsers);
    need!(ManageOrg: ManageOrg);
    need!(
        /// Every org (the org directory, creating orgs).
        ManageAllOrgs: ManageAllOrgs
    );

    impl ChatAccess for ReadChats {
        const WHOLE_ORG: Permission = Permission::ReadAllChats;
    }
    impl ChatAccess for EditChats {
        const WHOLE_ORG: Permission = Permission::EditAllChats;
    }
}

/// A request from a signed-in user whose role meets `N`.
pub struct SignedIn<N: Need> {
    pub org_id: OrgId,
    pub user: User,
    pub session: Session,
    permissions: Permissions,
    orgs: Arc<dyn OrgStore>,
    need: PhantomData<N>,
}

impl<N: Need> SignedIn<N> {
    pub fn may(&self, permission: Permission) -> bool {
        self.permissions.has(permission)
    }

    /// The org a request acts on: the user's own, unless one who may manage
    /// every org (a superadmin) names another with `?org=`. Anyone else
    /// naming another org gets the same 404 whether it exists or not.
    pub async fn org_scope(&self, requested: Option<OrgId>) -> Result<OrgId, ApiError> {
        match requested {
            None => Ok(self.org_id),
            Some(org) if org == self.org_id => Ok(org),
            Some(org) if self.may(Permission::ManageAllOrgs) => match self.orgs.org(org).await? {
                Some(_) => Ok(org),
                None => Err(ApiError::NotFound("org")),
            },
            Some(_) => Err(ApiError::NotFound("org")),
        }
    }

    /// The signed-in user's own org. One read.
    pub async fn own_org(&self) -> Result<Org, ApiError> {
        self.existing_org(self.org_id).await
    }

    /// An org this request proved exists (its own, or one [`Self::org_scope`]
    /// checked).
    pub(super) async fn existing_org(&self, id: OrgId) -> Result<Org, ApiError> {
        super::dashboard::existing_org(&*self.orgs, id).await
    }

    /// Refuses (403) giving anyone `role` unless the signed-in user may
    /// (see [`permissions::may_grant`]).
    pub fn may_grant(&self, role: UserRole) -> Result<(), ApiError> {
        if may_grant(self.user.role, role) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// Refuses (403) changing `target` unless the signed-in user may manage
    /// them (see [`permissions::may_manage`]).
    pub fn may_manage(&self, target: &User) -> Result<(), ApiError> {
        if permissions::may_manage(&self.user, target) {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl<N: ChatAccess> SignedIn<N> {
    /// Which chats this request may see (or, for [`need::EditChats`], edit).
    pub fn chat_scope(&self) -> ChatScope {
        ChatScope::of(&self.user, N::WHOLE_ORG)
    }
}

impl<S, N> FromRequestParts<S> for SignedIn<N>
where
    S: Send + Sync,
    N: Need,
    Dashboard: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let dashboard = Dashboard::from_ref(state);
        let jar = CookieJar::from_headers(&parts.headers);
        let token = jar.get(SESSION_COOKIE).ok_or(ApiError::Unauthenticated)?;
        let claims = dashboard
            .keys
            .verify(token.value())
            .await
            .ok_or(ApiError::Unauthenticated)?;
        let (session, user) = dashboard
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
        let permissions = permissions::permissions(user.role);
        if !N::met_by(permissions) {
            return Err(ApiError::Forbidden);
        }
        Ok(Self {
            org_id: claims.org,
            user,
            session,
            permissions,
            orgs: dashboard.orgs,
            need: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_follow_the_permission_table() {
        use need::*;
        let meets =
            |role: UserRole, check: fn(Permissions) -> bool| check(permissions::permissions(role));
        for role in UserRole::ALL {
            assert!(meets(role, Anyone::met_by));
            assert!(meets(role, ReadChats::met_by));
        }
        assert!(!meets(UserRole::Viewer, EditChats::met_by));
        assert!(meets(UserRole::User, EditChats::met_by));
        assert!(!meets(UserRole::User, ReadAnalytics::met_by));
        assert!(!meets(UserRole::User, Export::met_by));
        assert!(!meets(UserRole::Admin, ManageAllOrgs::met_by));
        assert!(meets(UserRole::Superadmin, ManageAllOrgs::met_by));
    }
}
