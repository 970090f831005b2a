//! Dashboard authentication and authorisation, shared by the auth, accounts
//! and API-key functions:
//!
//! - [`jwt`]: the short-lived access token (HS256 pinned; `exp`, `iss`, `aud` checked);
//! - [`cookies`]: how the access and refresh tokens travel, and why;
//! - [`sessions`]: starting, refreshing (rotation with reuse detection) and ending sessions;
//! - [`login`]: password checks in constant cost, and the failed-login throttle;
//! - [`signed_in`]: the [`SignedIn`] extractor, where each route declares its minimum role;
//! - [`browser`]: CSRF and CORS for cookie-authenticated routes.

pub mod browser;
pub mod cookies;
pub mod jwt;
pub mod login;
pub mod sessions;
pub mod signed_in;

use std::sync::Arc;

use axum::extract::FromRef;
pub use browser::{BrowserPolicy, CSRF_HEADER};
pub use jwt::JwtKeys;
pub use signed_in::{ChatScope, MinRole, SignedIn, min};

use crate::store::{DashboardStore, SessionStore};

/// What the [`SignedIn`] extractor needs from a function's state.
#[derive(Clone)]
pub struct AuthState {
    pub keys: Arc<JwtKeys>,
    pub sessions: Arc<dyn SessionStore>,
}

/// Who is signed in: `POST /auth/login` and `GET /users/me` answer this.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Me {
    pub user: crate::domain::UserProfile,
    pub org: crate::domain::Org,
}

/// A dashboard start-up setting is missing or invalid.
#[derive(Debug, thiserror::Error)]
pub enum DashboardConfigError {
    #[error(transparent)]
    Jwt(#[from] jwt::JwtConfigError),
    #[error(transparent)]
    Origins(#[from] browser::InvalidOrigin),
}

/// The state of every dashboard function (auth, accounts, API keys), built
/// once per container.
#[derive(Clone)]
pub struct DashboardState {
    pub store: Arc<dyn DashboardStore>,
    pub auth: AuthState,
    pub browser: BrowserPolicy,
}

impl DashboardState {
    pub fn new<S: DashboardStore + 'static>(
        store: Arc<S>,
        keys: JwtKeys,
        browser: BrowserPolicy,
    ) -> Self {
        Self {
            store: store.clone(),
            auth: AuthState {
                keys: Arc::new(keys),
                sessions: store,
            },
            browser,
        }
    }

    /// Reads the JWT secret and the dashboard origins from the environment;
    /// fails (and the function refuses to start) without a valid secret.
    pub fn from_env<S: DashboardStore + 'static>(
        store: Arc<S>,
    ) -> Result<Self, DashboardConfigError> {
        Ok(Self::new(
            store,
            JwtKeys::from_env()?,
            BrowserPolicy::from_env()?,
        ))
    }

    /// An org the request already proved exists (the signed-in user's, or
    /// one `org_scope` checked): its absence means the table is corrupt.
    pub async fn existing_org(
        &self,
        id: crate::domain::OrgId,
    ) -> Result<crate::domain::Org, crate::http::ApiError> {
        self.store.org(id).await?.ok_or_else(|| {
            crate::http::ApiError::internal(crate::store::StoreError::Corrupt(format!(
                "org {id} is referenced but missing"
            )))
        })
    }

    /// A function's routes with the CSRF check applied (CORS wraps the
    /// finished service: see [`BrowserPolicy::cors`]).
    pub fn serve(&self, routes: axum::Router<Self>) -> axum::Router {
        self.browser.protect(routes.with_state(self.clone()))
    }
}

/// The `main` of every dashboard Lambda: tracing, then the state once per
/// container (refusing to start without a valid `JWT_SECRET`), then serve
/// the function's routes with the common layers and CORS.
pub async fn run_lambda(
    router: fn(DashboardState) -> axum::Router,
) -> Result<(), lambda_http::Error> {
    crate::telemetry::init();
    let sdk = crate::aws::load_sdk_config().await;
    let store = Arc::new(crate::store::DynamoStore::new(
        crate::aws::dynamodb(&sdk),
        crate::config::table_name()?,
    ));
    let state = DashboardState::from_env(store)?;
    let cors = state.browser.cors();
    lambda_http::run(crate::http::app(router(state)).layer(cors)).await
}

impl FromRef<DashboardState> for AuthState {
    fn from_ref(state: &DashboardState) -> Self {
        state.auth.clone()
    }
}
