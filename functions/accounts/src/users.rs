//! An org's users, for its admins. An admin manages users whose role is at
//! most their own, and grants roles up to their own; nobody changes their
//! own role or status here (so an org cannot lose its last admin by
//! accident). Disabling, deleting, a role change that takes a permission
//! away, and "sign out everywhere" end every session of the user for good
//! (see `chatlogger::auth::sessions`); any other role change applies on their
//! next request.

use axum::{Json, extract::State, http::StatusCode};
use chatlogger::{
    accounts,
    auth::sessions,
    domain::{DisplayName, Email, OrgId, Password, User, UserId, UserProfile, UserRole},
    http::{
        AccountsState, ApiError, InOrg, JsonBody, OrgQuery, PageQuery, Paged, PathId, need,
        openapi::DashboardErrors,
    },
    store::UserChanges,
};

use serde::Deserialize;
use utoipa::ToSchema;

/// List the org's users, oldest first.
#[utoipa::path(
    get,
    path = "/orgs/me/users",
    tag = "users",
    params(PageQuery),
    security(("session_cookie" = [])),
    responses((status = 200, description = "A page of users", body = Paged<UserProfile>), DashboardErrors)
)]
pub async fn list_users(
    State(state): State<AccountsState>,
    InOrg { org, query, .. }: InOrg<need::ManageUsers, PageQuery>,
) -> Result<Json<Paged<UserProfile>>, ApiError> {
    let page = query.page()?;
    let users = state.users.list_users(org, &page).await?;
    Ok(Json(Paged::from_page(users, |user| {
        UserProfile::from(&user)
    })))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUserRequest {
    /// Unique across every org.
    pub email: Email,
    /// At most your own role.
    pub role: UserRole,
    /// Their first password, 12-256 characters; tell them to change it.
    #[schema(value_type = String, min_length = 12, max_length = 256)]
    pub password: Password,
    /// 1-100 characters.
    pub display_name: Option<DisplayName>,
}

/// Add a user to the org.
#[utoipa::path(
    post,
    path = "/orgs/me/users",
    tag = "users",
    params(OrgQuery),
    request_body = CreateUserRequest,
    security(("session_cookie" = [])),
    responses(
        (status = 201, description = "Created", body = UserProfile),
        (status = 409, description = "A user of this org already has that email address (other orgs' users do not count)", body = chatlogger::http::ErrorBody),
        DashboardErrors,
    )
)]
pub async fn create_user(
    State(state): State<AccountsState>,
    InOrg { org, signed_in, .. }: InOrg<need::ManageUsers>,
    JsonBody(request): JsonBody<CreateUserRequest>,
) -> Result<(StatusCode, Json<UserProfile>), ApiError> {
    signed_in.may_grant(request.role)?;
    let user = accounts::create_named_user(
        &*state.users,
        org,
        request.email,
        request.role,
        request.display_name,
        request.password,
    )
    .await?;
    tracing::info!(created_user_id = %user.id, role = %user.role, "user created");
    Ok((StatusCode::CREATED, Json(UserProfile::from(&user))))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    /// At most your own role. A role that takes any permission away ends
    /// their sessions.
    pub role: Option<UserRole>,
    /// True ends their sessions for good and blocks sign-in; false lets them
    /// sign in again (their old sessions stay ended).
    pub disabled: Option<bool>,
    /// 1-100 characters.
    pub display_name: Option<DisplayName>,
}

/// Change a user's role, status or name.
#[utoipa::path(
    patch,
    path = "/orgs/me/users/{user_id}",
    tag = "users",
    params(("user_id" = UserId, Path, description = "The user's id"), OrgQuery),
    request_body = UpdateUserRequest,
    security(("session_cookie" = [])),
    responses((status = 200, description = "The updated user", body = UserProfile), DashboardErrors)
)]
pub async fn update_user(
    State(state): State<AccountsState>,
    in_org: InOrg<need::ManageUsers>,
    PathId(user_id): PathId<UserId>,
    JsonBody(request): JsonBody<UpdateUserRequest>,
) -> Result<Json<UserProfile>, ApiError> {
    let (org, target) = managed_user(&state, &in_org, user_id).await?;
    if let Some(role) = request.role {
        in_org.signed_in.may_grant(role)?;
    }
    let changes = UserChanges {
        display_name: request.display_name,
        role: request.role,
        disabled: request.disabled,
        end_sessions: false,
    };
    let user = sessions::change_user(&*state.users, org, &target, changes)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    tracing::info!(target_user_id = %user.id, role = %user.role, disabled = user.disabled, "user updated");
    Ok(Json(UserProfile::from(&user)))
}

/// Sign a user out everywhere: every session of theirs ends for good (their
/// cookies and refresh tokens stop working at once); they may sign in again.
#[utoipa::path(
    delete,
    path = "/orgs/me/users/{user_id}/sessions",
    tag = "users",
    params(("user_id" = UserId, Path, description = "The user's id"), OrgQuery),
    security(("session_cookie" = [])),
    responses((status = 204, description = "Every session of the user ended"), DashboardErrors)
)]
pub async fn end_user_sessions(
    State(state): State<AccountsState>,
    in_org: InOrg<need::ManageUsers>,
    PathId(user_id): PathId<UserId>,
) -> Result<StatusCode, ApiError> {
    let (org, target) = managed_user(&state, &in_org, user_id).await?;
    sessions::end_all(&*state.users, org, &target)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Delete a user. Their sessions end at once and their email address is free again.
#[utoipa::path(
    delete,
    path = "/orgs/me/users/{user_id}",
    tag = "users",
    params(("user_id" = UserId, Path, description = "The user's id"), OrgQuery),
    security(("session_cookie" = [])),
    responses((status = 204, description = "Deleted"), DashboardErrors)
)]
pub async fn delete_user(
    State(state): State<AccountsState>,
    in_org: InOrg<need::ManageUsers>,
    PathId(user_id): PathId<UserId>,
) -> Result<StatusCode, ApiError> {
    let (org, target) = managed_user(&state, &in_org, user_id).await?;
    if !state.users.delete_user(org, &target).await? {
        return Err(ApiError::NotFound("user"));
    }
    tracing::info!(target_user_id = %target.id, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// The user named by the path (of the org the request acts on), if the
/// signed-in admin may manage them: the org and the user.
async fn managed_user(
    state: &AccountsState,
    InOrg { signed_in, org, .. }: &InOrg<need::ManageUsers>,
    id: UserId,
) -> Result<(OrgId, User), ApiError> {
    let org = *org;
    let target = state
        .users
        .user(org, id)
        .await?
        .ok_or(ApiError::NotFound("user"))?;
    if target.id == signed_in.user.id {
        return Err(ApiError::Conflict(
            "you cannot change your own role or status, or delete yourself; use /users/me".into(),
        ));
    }
    signed_in.may_manage(&target)?;
    Ok((org, target))
}
