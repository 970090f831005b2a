//! What every dashboard function shares: [`Dashboard`], the part of each
//! function's state that signs requests in (JWT keys, sessions, orgs) and
//! guards them in browsers (CSRF, CORS). The `main` of every dashboard
//! Lambda, which builds it, is `crate::startup::run_dashboard_lambda`.

use std::sync::Arc;

use aws_config::SdkConfig;
use axum::{
    Router,
    extract::FromRef,
    http::{HeaderValue, header::CACHE_CONTROL},
};
use tower_http::set_header::SetResponseHeaderLayer;

use super::{ApiError, BrowserPolicy, browser::InvalidOrigin};
use crate::{
    auth::{
        JwtKeyring,
        jwt::JwtConfigError,
        login::{self, Account, LoginError},
    },
    clock::{self, SharedClock},
    domain::{Org, OrgId, User},
    store::{LoginThrottleStore, OrgStore, SessionStore, StoreError, UserStore},
};

/// A dashboard start-up setting is missing or invalid.
#[derive(Debug, thiserror::Error)]
pub enum DashboardConfigError {
    #[error(transparent)]
    Jwt(#[from] JwtConfigError),
    #[error(transparent)]
    Origins(#[from] InvalidOrigin),
}

/// What [`super::SignedIn`] needs from a function's state, and the browser
/// rules of its routes. Built once per container.
#[derive(Clone)]
pub struct Dashboard {
    pub keys: Arc<JwtKeyring>,
    pub sessions: Arc<dyn SessionStore>,
    pub orgs: Arc<dyn OrgStore>,
    pub browser: BrowserPolicy,
    /// The time the sign-in throttle's windows are counted by.
    pub clock: SharedClock,
}

impl Dashboard {
    pub fn new<S>(store: Arc<S>, keys: impl Into<JwtKeyring>, browser: BrowserPolicy) -> Self
    where
        S: SessionStore + OrgStore + 'static,
    {
        Self {
            keys: Arc::new(keys.into()),
            sessions: store.clone(),
            orgs: store,
            browser,
            clock: clock::system(),
        }
    }

    /// The same, counting time by `clock` (tests place themselves in a
    /// throttle window instead of wherever the wall clock falls).
    pub fn with_clock(self, clock: SharedClock) -> Self {
        Self { clock, ..self }
    }

    /// Loads the JWT keys (from Secrets Manager on AWS: see
    /// [`crate::adapters::load_jwt_keyring`]) and reads the dashboard origins from the
    /// environment; fails (and the function refuses to start) without valid keys.
    pub async fn load<S>(store: Arc<S>, sdk: &SdkConfig) -> Result<Self, DashboardConfigError>
    where
        S: SessionStore + OrgStore + 'static,
    {
        let browser = BrowserPolicy::from_env()?;
        Ok(Self::new(
            store,
            crate::adapters::load_jwt_keyring(sdk).await?,
            browser,
        ))
    }

    /// An org the request already proved exists (the signed-in user's, or
    /// one `org_scope` checked): its absence means the table is corrupt.
    pub async fn existing_org(&self, id: OrgId) -> Result<Org, ApiError> {
        existing_org(&*self.orgs, id).await
    }

    /// A function's routes, with its state applied, the CSRF check (CORS
    /// wraps the finished service: see [`BrowserPolicy::cors`]) and
    /// `Cache-Control: no-store` on every response, refusals included:
    /// dashboard answers carry session cookies, new API keys, download
    /// links or a signed-in user's data, which no browser or shared cache
    /// may keep.
    pub fn protect(&self, routes: Router) -> Router {
        self.browser
            .protect(routes)
            .layer(SetResponseHeaderLayer::overriding(
                CACHE_CONTROL,
                HeaderValue::from_static("no-store"),
            ))
    }
}

/// The state of the functions that sign users in and manage their accounts
/// (auth, accounts): users and the sign-in throttle (a password change
/// checks the current password as sign-in does), besides the dashboard.
#[derive(Clone, FromRef)]
pub struct AccountsState {
    pub dashboard: Dashboard,
    pub users: Arc<dyn UserStore>,
    pub throttle: Arc<dyn LoginThrottleStore>,
}

impl AccountsState {
    pub fn new<S: UserStore + LoginThrottleStore + 'static>(
        store: Arc<S>,
        dashboard: Dashboard,
    ) -> Self {
        Self {
            dashboard,
            users: store.clone(),
            throttle: store,
        }
    }

    /// Sign-in's throttled, constant-cost password check (`auth::login`).
    pub async fn check_password(
        &self,
        account: Account<'_>,
        password: &str,
        source: &str,
    ) -> Result<(Org, User), LoginError> {
        let dashboard = &self.dashboard;
        login::sign_in(
            &*dashboard.orgs,
            &*self.users,
            &*self.throttle,
            account,
            password,
            source,
            dashboard.clock.now(),
        )
        .await
    }

    /// The same check for a signed-in user, before a password change.
    pub async fn confirm_password(
        &self,
        org: &Org,
        user: &User,
        password: &str,
        source: &str,
    ) -> Result<(), LoginError> {
        let now = self.dashboard.clock.now();
        login::confirm_password(&*self.throttle, org, user, password, source, now).await
    }
}

/// An org the request already proved exists: its absence means the table is
/// corrupt (a 500, logged), never a 404.
pub(super) async fn existing_org(orgs: &dyn OrgStore, id: OrgId) -> Result<Org, ApiError> {
    orgs.org(id).await?.ok_or_else(|| {
        ApiError::internal(StoreError::Corrupt(format!(
            "org {id} is referenced but missing"
        )))
    })
}
