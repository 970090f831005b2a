//! Dashboard authentication and authorisation, free of HTTP glue (the
//! extractor, CSRF/CORS and the functions' shared state are in
//! [`crate::http`]):
//!
//! - [`jwt`]: the short-lived access token (HS256 pinned; `exp`, `iss`, `aud` checked;
//!   a `kid` naming the key, current and previous keys verify);
//! - [`keyring`]: where the keys come from (Secrets Manager at cold start, or
//!   the local stack's `JWT_SECRET`) and how a rotation reaches warm containers;
//! - [`cookies`]: how the access and refresh tokens travel, and why;
//! - [`sessions`]: starting, refreshing (rotation with reuse detection) and ending sessions;
//! - [`login`]: password checks in constant cost, and the failed-login throttle;
//! - [`permissions`]: what each role may do, and who may grant which role
//!   (pure rules, so they live in [`crate::domain::permissions`]; re-exported here).

pub mod cookies;
pub mod jwt;
pub mod keyring;
pub mod login;
pub mod sessions;

pub use crate::domain::permissions;

pub use jwt::JwtKeys;
pub use keyring::JwtKeyring;
pub use permissions::{Permission, Permissions};

/// Who is signed in: `POST /auth/login` and `GET /users/me` answer this.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub user: crate::domain::UserProfile,
    pub org: crate::domain::Org,
    /// What the user's role may do, so a dashboard need not know the rules.
    pub permissions: Vec<Permission>,
    /// The roles the user may give to others (and the roles of the users
    /// they may manage), from the one with the most permissions to the one
    /// with the fewest: the dashboard offers the last as the default.
    pub grantable_roles: Vec<crate::domain::UserRole>,
}

impl Me {
    pub fn new(user: &crate::domain::User, org: crate::domain::Org) -> Self {
        Self {
            user: crate::domain::UserProfile::from(user),
            org,
            permissions: permissions::permissions(user.role).list(),
            grantable_roles: permissions::grantable_roles(user.role),
        }
    }
}
