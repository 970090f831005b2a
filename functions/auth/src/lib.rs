//! Dashboard sign-in. Sessions live in cookies (see `chatlogger::auth`):
//!
//! | route | handler |
//! |---|---|
//! | `POST /auth/login` | [`login`] |
//! | `POST /auth/refresh` | [`refresh`] |
//! | `POST /auth/logout` | [`logout`] |

use axum::{Json, Router, extract::State, http::StatusCode};
use axum_extra::extract::cookie::CookieJar;
use chatlogger::{
    auth::{Me, cookies::clear_session, login, sessions},
    domain::{Email, Password, Slug},
    http::{AccountsState, ApiError, ClientIp, Dashboard, JsonBody, openapi::DashboardErrors},
};
use serde::Deserialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(tags((name = "auth", description = "Dashboard sign-in: session cookies")))]
struct AuthDoc;

fn api() -> OpenApiRouter<AccountsState> {
    OpenApiRouter::with_openapi(AuthDoc::openapi())
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

/// Every auth route, with the CSRF check, ready for `chatlogger::http::app`
/// (and the CORS layer: see `chatlogger::auth::run_lambda`).
pub fn router(state: AccountsState) -> Router {
    let dashboard = state.dashboard.clone();
    dashboard.protect(api().split_for_parts().0.with_state(state))
}

/// The OpenAPI paths of this function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}

/// The org, email and password of an account. Any strings within the
/// limits are checked; a wrong one of any gets the same answer. The same
/// address may belong to users of several orgs, each an account of its own.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// The org's slug (as in the dashboard's address and the ingest paths).
    /// At most 40 characters; case and surrounding spaces are ignored.
    #[schema(example = "acme")]
    pub org: String,
    /// At most 254 characters.
    pub email: String,
    /// At most 256 characters.
    pub password: String,
}

impl LoginRequest {
    fn check_lengths(&self) -> Result<(), ApiError> {
        if self.org.trim().chars().count() > Slug::MAX_LEN {
            return Err(ApiError::InvalidBody(format!(
                "org: at most {} characters",
                Slug::MAX_LEN
            )));
        }
        if self.email.chars().count() > Email::MAX_LEN {
            return Err(ApiError::InvalidBody(format!(
                "email: at most {} characters",
                Email::MAX_LEN
            )));
        }
        if self.password.chars().count() > Password::MAX_CHARS {
            return Err(ApiError::InvalidBody(format!(
                "password: at most {} characters",
                Password::MAX_CHARS
            )));
        }
        Ok(())
    }
}

/// Sign in. Sets the session cookie (`__Host-chatlogger_session`) and the
/// refresh cookie (`__Secure-chatlogger_refresh`, sent only to
/// `/auth/refresh`). Within a 15-minute window, after 5 failures for one
/// account from one address, 50 from one address, or 50 for one account
/// from everywhere (then only addresses new to that account get a check),
/// answers 429 until the window ends.
#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in; the cookies are set", body = Me),
        (status = 401, description = "Wrong organization, email or password (the same for each)", body = chatlogger::http::ErrorBody),
        (status = 429, description = "Too many failures; retry after Retry-After seconds", body = chatlogger::http::ErrorBody),
        DashboardErrors,
    )
)]
pub async fn login(
    State(state): State<AccountsState>,
    ClientIp(source): ClientIp,
    jar: CookieJar,
    JsonBody(request): JsonBody<LoginRequest>,
) -> Result<(CookieJar, Json<Me>), ApiError> {
    request.check_lengths()?;
    let account = login::Account {
        org: &request.org,
        email: &request.email,
    };
    let (org, user) = state
        .check_password(account, &request.password, &source)
        .await?;
    let dashboard = &state.dashboard;
    let issued = sessions::start(&*dashboard.sessions, &dashboard.keys, org.id, &user).await?;
    tracing::info!(org_id = %org.id, user_id = %user.id, "signed in");
    Ok((issued.set_cookies(jar), Json(Me::new(&user, org))))
}

/// Renew the session: a new access token and a new refresh token (the old
/// one stops working). Presenting an already-rotated refresh token revokes
/// the whole session.
#[utoipa::path(
    post,
    path = "/auth/refresh",
    tag = "auth",
    responses(
        (status = 204, description = "Renewed; the cookies are replaced"),
        DashboardErrors,
    )
)]
pub async fn refresh(
    State(state): State<AccountsState>,
    jar: CookieJar,
) -> Result<(StatusCode, CookieJar), ApiError> {
    let dashboard = &state.dashboard;
    let issued =
        sessions::refresh(&*dashboard.sessions, &*state.users, &dashboard.keys, &jar).await?;
    Ok((StatusCode::NO_CONTENT, issued.set_cookies(jar)))
}

/// Sign out: the session ends in the table, so its cookies stop working
/// everywhere at once, even if copied. Always answers 204 and clears the cookies.
#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    responses(
        (status = 204, description = "Signed out; the cookies are cleared"),
        DashboardErrors,
    )
)]
pub async fn logout(
    State(dashboard): State<Dashboard>,
    jar: CookieJar,
) -> Result<(StatusCode, CookieJar), ApiError> {
    sessions::end(&*dashboard.sessions, &dashboard.keys, &jar).await?;
    Ok((StatusCode::NO_CONTENT, clear_session(jar)))
}
