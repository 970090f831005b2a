//! One error type for every route. Each variant maps to a status and a
//! stable `code`; the JSON body is `{"error": {"code", "message"}}`.
//! Internal and transient failures are logged with their cause chain and
//! answered with a generic message, so SDK errors never reach a client.
//!
//! Every use case's error becomes an `ApiError` here, in one place: what a
//! refused sign-in, a taken slug or a missing chat answers.

use axum::{
    Json,
    http::{HeaderValue, StatusCode, header::RETRY_AFTER},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    accounts::AccountError,
    auth::{login::LoginError, sessions::RefreshError},
    export::{ExportError, StartExportError},
    ingest::IngestError,
    limits::{AdmitError, RateLimited},
    sdk_error::error_chain,
    store::{Cause, StoreError},
};

/// What a throttled client is told to wait before retrying.
const RETRY_AFTER_SECONDS: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    MalformedJson(String),
    #[error("expected a JSON body with Content-Type: application/json")]
    UnsupportedMediaType,
    #[error("request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    InvalidBody(String),
    #[error("{0}")]
    InvalidPath(String),
    #[error("{0}")]
    InvalidQuery(String),
    #[error("missing or invalid API key")]
    Unauthorized,
    #[error("sign in first: the session is missing, expired or ended")]
    Unauthenticated,
    #[error("wrong email or password")]
    InvalidCredentials,
    #[error("your role does not allow this")]
    Forbidden,
    #[error(
        "state-changing requests need the header x-csrf-protection: 1 and must come from the dashboard"
    )]
    CsrfRejected,
    #[error("too many failed sign-ins; retry in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u64 },
    /// A browser request with a key that may not be used from its origin.
    #[error("{0}")]
    OriginNotAllowed(String),
    #[error(
        "over the {} rate limit: nothing was logged; retry in {} s",
        .0.scope.as_str(),
        .0.retry_after_secs
    )]
    RateLimited(RateLimited),
    #[error("{message}")]
    QuotaExceeded {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(String),
    #[error("no route for {method} {path}")]
    RouteNotFound { method: String, path: String },
    #[error("method not allowed for this path")]
    MethodNotAllowed,
    /// A dependency failed in a way worth retrying (throttling, a timeout):
    /// 503 with `Retry-After`. The cause is logged, never sent.
    #[error("the service is busy; retry in a moment")]
    Unavailable(Option<Cause>),
    #[error("internal error")]
    Internal(#[source] Cause),
    #[error(
        "the export is larger than {max_bytes} bytes, the most an inline export returns; use POST /exports/orgs/me for an export of any size"
    )]
    ExportTooLarge { max_bytes: usize },
    #[error(
        "the export reads more than {max_items} chats and messages, the most an inline export reads; narrow it (from, to, chat_ids) or use POST /exports/orgs/me"
    )]
    ExportReadsTooMuch { max_items: u64 },
}

impl ApiError {
    pub fn internal(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(error))
    }

    pub fn internal_message(message: &str) -> Self {
        Self::Internal(message.into())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::MalformedJson(_) | Self::InvalidPath(_) | Self::InvalidQuery(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidBody(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized | Self::Unauthenticated | Self::InvalidCredentials => {
                StatusCode::UNAUTHORIZED
            }
            Self::Forbidden | Self::CsrfRejected | Self::OriginNotAllowed(_) => {
                StatusCode::FORBIDDEN
            }
            Self::TooManyRequests { .. } | Self::RateLimited(_) | Self::QuotaExceeded { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Self::NotFound(_) | Self::RouteNotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ExportTooLarge { .. } | Self::ExportReadsTooMuch { .. } => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::MalformedJson(_) => "malformed_json",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::InvalidBody(_) => "invalid_body",
            Self::InvalidPath(_) => "invalid_path",
            Self::InvalidQuery(_) => "invalid_query",
            Self::Unauthorized => "unauthorized",
            Self::Unauthenticated => "unauthenticated",
            Self::InvalidCredentials => "invalid_credentials",
            Self::Forbidden => "forbidden",
            Self::CsrfRejected => "csrf_rejected",
            Self::TooManyRequests { .. } => "too_many_requests",
            Self::OriginNotAllowed(_) => "origin_not_allowed",
            Self::RateLimited(_) => "rate_limited",
            Self::QuotaExceeded { .. } => "quota_exceeded",
            Self::NotFound(_) => "not_found",
            Self::Conflict(_) => "conflict",
            Self::RouteNotFound { .. } => "route_not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unavailable(_) => "unavailable",
            Self::Internal(_) => "internal",
            Self::ExportTooLarge { .. } | Self::ExportReadsTooMuch { .. } => "export_too_large",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Transient(cause) => Self::Unavailable(Some(cause)),
            StoreError::InvalidCursor => {
                Self::InvalidQuery("cursor is not a cursor of this listing".into())
            }
            other => Self::internal(other),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::SlugTaken(slug) => {
                Self::Conflict(format!("the slug '{slug}' is already taken"))
            }
            AccountError::EmailTaken(_) => {
                Self::Conflict("a user of this org already has that email address".into())
            }
            AccountError::OrgNotFound(_) => Self::NotFound("org"),
            AccountError::Hashing(error) => Self::internal(error),
            AccountError::Store(error) => error.into(),
        }
    }
}

impl From<LoginError> for ApiError {
    fn from(error: LoginError) -> Self {
        match error {
            LoginError::InvalidCredentials => Self::InvalidCredentials,
            LoginError::Throttled { retry_after_secs } => {
                Self::TooManyRequests { retry_after_secs }
            }
            LoginError::Store(error) => error.into(),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(error: RefreshError) -> Self {
        match error {
            RefreshError::Ended => Self::Unauthenticated,
            RefreshError::Store(error) => error.into(),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> Self {
        match error {
            IngestError::NoSuchChat => Self::NotFound("chat"),
            IngestError::ChatDeleted => {
                Self::Conflict("a chat with this id was deleted; use a new id".into())
            }
            IngestError::IdTaken(what) => Self::Conflict(format!(
                "a {what} with this id already exists with different content"
            )),
            IngestError::Store(error) => error.into(),
        }
    }
}

impl From<AdmitError> for ApiError {
    fn from(error: AdmitError) -> Self {
        match error {
            AdmitError::Limited(limited) => Self::RateLimited(limited),
            AdmitError::Store(error) => error.into(),
        }
    }
}

impl From<ExportError> for ApiError {
    fn from(error: ExportError) -> Self {
        match error {
            ExportError::TooLarge { max_bytes } => Self::ExportTooLarge { max_bytes },
            ExportError::ReadsTooMuch { max_items } => Self::ExportReadsTooMuch { max_items },
            quota @ ExportError::InlineQuota {
                retry_after_secs, ..
            } => Self::QuotaExceeded {
                message: quota.to_string(),
                retry_after_secs,
            },
            ExportError::Store(error) => error.into(),
            other => Self::internal(other),
        }
    }
}

impl From<StartExportError> for ApiError {
    fn from(error: StartExportError) -> Self {
        match error {
            StartExportError::Store(error) => error.into(),
            // The cause was logged where it happened.
            StartExportError::Queue(_) => Self::Unavailable(None),
            StartExportError::Quota(quota) => Self::QuotaExceeded {
                message: quota.to_string(),
                retry_after_secs: quota.retry_after_secs(),
            },
        }
    }
}

/// The error response body.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `malformed_json`, `unsupported_media_type`,
    /// `payload_too_large`, `invalid_body`, `invalid_path`, `invalid_query`,
    /// `unauthorized` (API key), `unauthenticated` (session),
    /// `invalid_credentials`, `forbidden`, `csrf_rejected`,
    /// `origin_not_allowed` (403: the key may not be used from this browser
    /// origin), `too_many_requests`, `rate_limited` and `quota_exceeded`
    /// (429, with `Retry-After`), `not_found`, `conflict`,
    /// `route_not_found`, `method_not_allowed`, `unavailable` (503, with
    /// `Retry-After`), `internal`, `export_too_large` (413: use the async
    /// export).
    pub code: String,
    /// For people; names the offending field where there is one.
    pub message: String,
}

impl ApiError {
    /// Logs what the client is not told: the cause of an internal or
    /// transient failure. Every answer of this error type calls it once.
    pub fn log(&self) {
        match self {
            Self::Internal(cause) => {
                tracing::error!(error = %error_chain(cause.as_ref()), "request failed");
            }
            Self::Unavailable(Some(cause)) => {
                tracing::warn!(error = %error_chain(cause.as_ref()), "request failed for now; the client may retry");
            }
            _ => {}
        }
    }

    /// What the client is told (and `log` has logged the rest).
    pub fn detail(&self) -> ErrorDetail {
        ErrorDetail {
            code: self.code().to_owned(),
            message: self.to_string(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let body = ErrorBody {
            error: self.detail(),
        };
        let mut response = (self.status(), Json(body)).into_response();
        match self {
            Self::Unavailable(_) => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECONDS));
            }
            Self::TooManyRequests { retry_after_secs }
            | Self::QuotaExceeded {
                retry_after_secs, ..
            } => {
                response
                    .headers_mut()
                    .insert(RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            Self::RateLimited(limited) => {
                let headers = response.headers_mut();
                headers.insert(RETRY_AFTER, HeaderValue::from(limited.retry_after_secs));
                headers.insert(
                    super::rate_limit::RATELIMIT_POLICY,
                    super::rate_limit::policy_header(&limited.policies),
                );
                headers.insert(
                    super::rate_limit::RATELIMIT,
                    super::rate_limit::status_header(limited.scope, 0, limited.retry_after_secs),
                );
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_a_503_with_retry_after_and_no_detail() {
        let response = ApiError::from(StoreError::transient("ThrottlingException")).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[RETRY_AFTER], "1");
    }

    #[test]
    fn store_failures_never_reach_the_client() {
        let cause = std::io::Error::other("dynamodb.us-east-1.amazonaws.com: connection reset");
        let error = ApiError::from(StoreError::failed(cause));
        assert_eq!(
            (error.status(), error.code()),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
        assert_eq!(error.to_string(), "internal error");
    }
}
