//! Users and orgs for the dashboard.
//!
//! | route | handler | needs |
//! |---|---|---|
//! | `GET /users/me` | [`me::get_me`] | anyone signed in |
//! | `PATCH /users/me` | [`me::update_me`] | anyone signed in |
//! | `POST /users/me/password` | [`me::change_password`] | anyone signed in |
//! | `POST /orgs` | [`orgs::create_org`] | `ManageAllOrgs` (superadmin) |
//! | `GET /orgs` | [`orgs::list_orgs`] | `ManageAllOrgs` (superadmin) |
//! | `GET /orgs/me` | [`orgs::get_org`] | anyone signed in |
//! | `PATCH /orgs/me` | [`orgs::update_org`] | `ManageOrg` (admin) |
//! | `GET /orgs/me/users` | [`users::list_users`] | `ManageUsers` (admin) |
//! | `POST /orgs/me/users` | [`users::create_user`] | `ManageUsers` (admin) |
//! | `PATCH /orgs/me/users/{user_id}` | [`users::update_user`] | `ManageUsers` (admin) |
//! | `DELETE /orgs/me/users/{user_id}` | [`users::delete_user`] | `ManageUsers` (admin) |
//! | `DELETE /orgs/me/users/{user_id}/sessions` | [`users::end_user_sessions`] | `ManageUsers` (admin) |
//!
//! Every signed-in person manages their own profile and password, viewers
//! included ("read-only" is about org data). Superadmins may add
//! `?org=<org id>` to the `/orgs/me...` routes to act on another org.

pub mod me;
pub mod orgs;
pub mod users;

use axum::Router;
use chatlogger::http::AccountsState;
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

#[derive(OpenApi)]
#[openapi(tags(
    (name = "users", description = "The signed-in user, and an org's users (admins)"),
    (name = "orgs", description = "Org settings (admins) and the org directory (superadmins)")
))]
struct AccountsDoc;

fn api() -> OpenApiRouter<AccountsState> {
    OpenApiRouter::with_openapi(AccountsDoc::openapi())
        .routes(routes!(me::get_me, me::update_me))
        .routes(routes!(me::change_password))
        .routes(routes!(orgs::create_org, orgs::list_orgs))
        .routes(routes!(orgs::get_org, orgs::update_org))
        .routes(routes!(users::list_users, users::create_user))
        .routes(routes!(users::update_user, users::delete_user))
        .routes(routes!(users::end_user_sessions))
}

/// Every accounts route, with the CSRF check, ready for `chatlogger::http::app`
/// (and the CORS layer: see `chatlogger::auth::run_lambda`).
pub fn router(state: AccountsState) -> Router {
    let dashboard = state.dashboard.clone();
    dashboard.protect(api().split_for_parts().0.with_state(state))
}

/// The OpenAPI paths of this function.
pub fn openapi() -> utoipa::openapi::OpenApi {
    api().split_for_parts().1
}
