//! `Exporter`: who may call the export routes. An export holds every chat
//! of the org, so it needs a role that reads the whole org: viewer, admin
//! or superadmin. The `user` role, which sees only its own chats, is
//! refused (403) although it ranks above viewer.

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};
use chatlogger::{
    auth::{AuthState, SignedIn, min},
    domain::{OrgId, UserId},
    http::ApiError,
};

use crate::ExportsState;

pub struct Exporter(SignedIn<min::Viewer>);

impl Exporter {
    pub fn user_id(&self) -> UserId {
        self.0.user.id
    }

    /// The org to export: the user's own, or (superadmins) the one named.
    pub async fn org_scope(
        &self,
        requested: Option<OrgId>,
        state: &ExportsState,
    ) -> Result<OrgId, ApiError> {
        self.0.org_scope(requested, &*state.dashboard.store).await
    }
}

impl<S> FromRequestParts<S> for Exporter
where
    S: Send + Sync,
    AuthState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let signed_in = SignedIn::<min::Viewer>::from_request_parts(parts, state).await?;
        signed_in.require_whole_org()?;
        Ok(Self(signed_in))
    }
}
