//! The signed-in user: `/users/me`.

use axum::{Json, extract::State, http::StatusCode};
use axum_extra::extract::cookie::CookieJar;
use chatlogger::{
    accounts::hash_password,
    auth::{Me, login::LoginError, sessions},
    domain::{DisplayName, Password, UserProfile},
    http::{AccountsState, ApiError, ClientIp, JsonBody, SignedIn, need, openapi::DashboardErrors},
    store::UserChanges,
};

use serde::Deserialize;
use utoipa::ToSchema;

/// Who is signed in, and their org.
#[utoipa::path(
    get,
    path = "/users/me",
    tag = "users",
    security(("session_cookie" = [])),
    responses((status = 200, description = "The signed-in user and org", body = Me), DashboardErrors)
)]
pub async fn get_me(signed_in: SignedIn<need::Anyone>) -> Result<Json<Me>, ApiError> {
    let org = signed_in.own_org().await?;
    Ok(Json(Me::new(&signed_in.user, org)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    /// 1-100 characters.
    pub display_name: DisplayName,
}

/// Change your display name.
#[utoipa::path(
    patch,
    path = "/users/me",
    tag = "users",
    request_body = UpdateMeRequest,
    security(("session_cookie" = [])),
    responses((status = 200, description = "The updated user", body = UserProfile), DashboardErrors)
)]
pub async fn update_me(
    State(state): State<AccountsState>,
    signed_in: SignedIn<need::Anyone>,
    JsonBody(request): JsonBody<UpdateMeRequest>,
) -> Result<Json<UserProfile>, ApiError> {
    let changes = UserChanges {
        display_name: Some(request.display_name),
        ..UserChanges::default()
    };
    let user = state
        .users
        .update_user(signed_in.org_id, signed_in.user.id, &changes)
        .await?
        .ok_or(ApiError::Unauthenticated)?;
    Ok(Json(UserProfile::from(&user)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    /// Your password now.
    pub current_password: String,
    /// 12-256 characters.
    #[schema(value_type = String, min_length = 12, max_length = 256)]
    pub new_password: Password,
}

/// Change your password. Needs the current one (wrong guesses count towards
/// the sign-in throttle). Every other session of yours ends at once; this
/// one continues with new cookies.
#[utoipa::path(
    post,
    path = "/users/me/password",
    tag = "users",
    request_body = ChangePasswordRequest,
    security(("session_cookie" = [])),
    responses(
        (status = 204, description = "Changed; other sessions ended, this one's cookies renewed"),
        (status = 429, description = "Too many wrong passwords; retry after Retry-After seconds", body = chatlogger::http::ErrorBody),
        DashboardErrors,
    )
)]
pub async fn change_password(
    State(state): State<AccountsState>,
    signed_in: SignedIn<need::Anyone>,
    ClientIp(source): ClientIp,
    jar: CookieJar,
    JsonBody(request): JsonBody<ChangePasswordRequest>,
) -> Result<(StatusCode, CookieJar), ApiError> {
    let user = &signed_in.user;
    let org = state.dashboard.existing_org(signed_in.org_id).await?;
    match state
        .confirm_password(&org, user, &request.current_password, &source)
        .await
    {
        Ok(()) => {}
        Err(LoginError::InvalidCredentials) => {
            return Err(ApiError::InvalidBody(
                "current_password is not your current password".into(),
            ));
        }
        Err(other) => return Err(other.into()),
    }
    let hash = hash_password(request.new_password).await?;
    let issued = sessions::renew(
        &state.dashboard.keys,
        signed_in.org_id,
        &signed_in.session,
        user.session_epoch + 1,
    );
    let changed = state
        .users
        .change_password(signed_in.org_id, user, &hash, &issued.session)
        .await?;
    if !changed {
        return Err(ApiError::Conflict(
            "your account or session changed meanwhile; sign in again".into(),
        ));
    }
    tracing::info!(user_id = %user.id, "password changed; other sessions ended");
    Ok((StatusCode::NO_CONTENT, issued.set_cookies(jar)))
}
