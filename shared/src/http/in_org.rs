//! `InOrg<N, Q>`: what most dashboard routes start with. A signed-in user
//! whose role meets `N`, the route's query string `Q`, and the org the
//! request acts on: the user's own, or for a superadmin the one `?org=`
//! names (see [`SignedIn::org_scope`]).
//!
//! ```ignore
//! async fn list_api_keys(
//!     InOrg { org, query, .. }: InOrg<need::ManageKeys, PageQuery>,
//! ) -> ...
//! ```

use axum::{
    extract::{FromRef, FromRequestParts},
    http::request::Parts,
};
use serde::de::DeserializeOwned;

use super::{ApiError, Dashboard, OrgQuery, PageQuery, QueryParams, SignedIn, signed_in::Need};
use crate::domain::{Org, OrgId};

/// A query string that may name the org to act on (`?org=`). A route's
/// query struct with an `org: Option<OrgId>` field gets it with
/// [`org_param!`](crate::org_param).
pub trait OrgParam {
    fn org(&self) -> Option<OrgId>;
}

/// Implements [`OrgParam`] for query structs with an `org: Option<OrgId>`
/// field: `chatlogger::org_param!(ChatListQuery);`.
#[macro_export]
macro_rules! org_param {
    ($($query:ty),+ $(,)?) => {$(
        impl $crate::http::OrgParam for $query {
            fn org(&self) -> Option<$crate::domain::OrgId> {
                self.org
            }
        }
    )+};
}

crate::org_param!(OrgQuery, PageQuery);

/// A signed-in request, its query string, and the org it acts on.
pub struct InOrg<N: Need, Q = OrgQuery> {
    pub signed_in: SignedIn<N>,
    /// The org the request acts on, checked: the user's own, or one a
    /// superadmin named that exists.
    pub org: OrgId,
    pub query: Q,
}

impl<N: Need, Q> InOrg<N, Q> {
    /// The org's item (its slug, name and limits). One read.
    pub async fn load_org(&self) -> Result<Org, ApiError> {
        self.signed_in.existing_org(self.org).await
    }
}

impl<S, N, Q> FromRequestParts<S> for InOrg<N, Q>
where
    S: Send + Sync,
    N: Need,
    Q: DeserializeOwned + OrgParam + Send,
    Dashboard: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // Signed in first: a stranger learns nothing from a 400 about the query.
        let signed_in = SignedIn::<N>::from_request_parts(parts, state).await?;
        let QueryParams(query) = QueryParams::<Q>::from_request_parts(parts, state).await?;
        let org = signed_in.org_scope(query.org()).await?;
        Ok(Self {
            signed_in,
            org,
            query,
        })
    }
}
