//! Query-string parameters: `QueryParams<T>` is axum's `Query` with this
//! API's error (400 `invalid_query`, naming the parameter), and the
//! parameters list routes share.

use axum::{
    extract::{FromRequestParts, Query},
    http::request::Parts,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use utoipa::{IntoParams, ToSchema};

use super::ApiError;
use crate::{
    domain::OrgId,
    store::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest},
};

pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(value)| Self(value))
            .map_err(|rejection| {
                let detail = rejection.body_text();
                let detail = detail
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&detail);
                ApiError::InvalidQuery(format!("invalid query string: {detail}"))
            })
    }
}

/// `?org=`: the org a superadmin acts on (anyone else may only name their own).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OrgQuery {
    /// Superadmins only: act on this org instead of their own.
    #[param(value_type = Option<String>)]
    pub org: Option<OrgId>,
}

/// `?limit=&cursor=&org=` of list routes.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Items per page, 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u16>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Superadmins only: list this org instead of their own.
    #[param(value_type = Option<String>)]
    pub org: Option<OrgId>,
}

impl PageQuery {
    pub fn page(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_PAGE_SIZE);
        if !(1..=MAX_PAGE_SIZE).contains(&limit) {
            return Err(ApiError::InvalidQuery(format!(
                "limit must be 1-{MAX_PAGE_SIZE}"
            )));
        }
        let cursor = cursor_param(self.cursor.as_deref())?;
        Ok(PageRequest { limit, cursor })
    }
}

/// A `cursor` parameter: a `next_cursor` this API gave out, or 400.
pub fn cursor_param(raw: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    raw.map(|raw| {
        Cursor::decode(raw)
            .ok_or_else(|| ApiError::InvalidQuery("cursor is not a valid cursor".into()))
    })
    .transpose()
}

/// A time parameter named `name`: RFC 3339, or 400 saying so.
pub fn time_param(raw: Option<&str>, name: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|raw| {
        OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| {
            ApiError::InvalidQuery(format!(
                "{name} must be an RFC 3339 time like 2026-01-31T00:00:00Z"
            ))
        })
    })
    .transpose()
}

/// A page of a listing. Pass `next_cursor` back as `cursor` for the next
/// page; it is absent on the last one.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

impl<T> Paged<T> {
    pub fn from_page<U>(page: Page<U>, view: impl FnMut(U) -> T) -> Self {
        Self {
            next_cursor: page.next_cursor.as_ref().map(Cursor::encode),
            items: page.items.into_iter().map(view).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        let query = |limit| PageQuery {
            limit: Some(limit),
            ..PageQuery::default()
        };
        assert_eq!(query(1).page().unwrap().limit, 1);
        assert_eq!(query(100).page().unwrap().limit, 100);
        assert!(query(0).page().is_err());
        assert!(query(101).page().is_err());
        assert_eq!(PageQuery::default().page().unwrap().limit, 50);
    }
}
