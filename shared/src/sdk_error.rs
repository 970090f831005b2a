//! AWS SDK failures, described for the logs and sorted into "retry soon"
//! and "broken". An `SdkError`'s own `Display` says only "service error";
//! what an operator needs is the service's error code and message, the
//! request id, or the transport failure underneath (a timeout, a reset
//! connection), which is what [`SdkFailure`] keeps.

use std::error::Error;

use aws_smithy_runtime_api::{client::result::SdkError, http::Response};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Service error codes that mean "too busy, retry later" rather than "broken".
const THROTTLING_CODES: [&str; 6] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "Throttling",
    "RequestLimitExceeded",
    "TransactionConflictException",
    "SlowDown",
];

/// One failed AWS call, as the logs should show it: `code: message
/// (request id ...)` for a service error, or the transport failure and its
/// causes. The original error is not kept: its text is all of it that
/// matters once it has been classified.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct SdkFailure {
    pub detail: String,
    /// Worth retrying soon: throttling, a server-side error, a timeout or a
    /// lost connection.
    pub transient: bool,
}

impl SdkFailure {
    pub fn new<E>(error: &SdkError<E, Response>) -> Self
    where
        E: ProvideErrorMetadata + Error + 'static,
    {
        Self::with_detail(error, None)
    }

    /// Like [`SdkFailure::new`], with more to say about a service error
    /// (a transaction's cancellation reasons).
    pub fn with_detail<E>(error: &SdkError<E, Response>, extra: Option<String>) -> Self
    where
        E: ProvideErrorMetadata + Error + 'static,
    {
        let (mut detail, transient) = match error {
            SdkError::ServiceError(service) => {
                let err = service.err();
                let code = err.code().unwrap_or("unknown error code");
                let status = service.raw().status().as_u16();
                let mut detail = format!("{code} (HTTP {status})");
                if let Some(message) = err.message() {
                    detail.push_str(": ");
                    detail.push_str(message);
                }
                let request_id = ["x-amzn-requestid", "x-amz-request-id"]
                    .iter()
                    .find_map(|name| service.raw().headers().get(*name));
                if let Some(id) = request_id {
                    detail.push_str(&format!(" [request id {id}]"));
                }
                (detail, status >= 500 || THROTTLING_CODES.contains(&code))
            }
            SdkError::TimeoutError(_) => (chain("the call timed out", error), true),
            SdkError::DispatchFailure(_) => (chain("the request could not be sent", error), true),
            SdkError::ResponseError(_) => (chain("the response could not be read", error), true),
            _ => (chain("the request could not be built", error), false),
        };
        if let Some(extra) = extra {
            detail.push_str("; ");
            detail.push_str(&extra);
        }
        Self { detail, transient }
    }
}

/// `what: cause: cause...`, from `error`'s sources.
fn chain(what: &str, error: &dyn Error) -> String {
    let mut text = what.to_owned();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Every error in `error`'s chain, `: `-separated: how a log line shows an
/// error whose `Display` is only its outermost layer.
pub fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        // Wrappers that print their source inline (`{0}`) would repeat it.
        if !text.ends_with(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::{body::SdkBody, error::ErrorMetadata};

    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("service error")]
    struct Service(ErrorMetadata);

    impl ProvideErrorMetadata for Service {
        fn meta(&self) -> &ErrorMetadata {
            &self.0
        }
    }

    fn service(code: &str, status: u16) -> SdkError<Service, Response> {
        let mut response = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        response.headers_mut().insert("x-amzn-requestid", "REQ123");
        SdkError::service_error(
            Service(ErrorMetadata::builder().code(code).message("why").build()),
            response,
        )
    }

    #[test]
    fn service_errors_keep_code_message_and_request_id() {
        let failure = SdkFailure::new(&service("ValidationException", 400));
        assert_eq!(
            failure.detail,
            "ValidationException (HTTP 400): why [request id REQ123]"
        );
        assert!(!failure.transient);
        assert!(SdkFailure::new(&service("ThrottlingException", 400)).transient);
        assert!(SdkFailure::new(&service("InternalServerError", 500)).transient);
    }

    #[test]
    fn transport_failures_are_transient_and_keep_their_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "connection reset");
        let error: SdkError<Service, Response> = SdkError::timeout_error(io);
        let failure = SdkFailure::new(&error);
        assert!(failure.transient);
        assert_eq!(failure.detail, "the call timed out: connection reset");
    }

    #[test]
    fn chains_do_not_repeat_inline_sources() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {0}")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::other("inner"));
        assert_eq!(error_chain(&error), "outer: inner");
    }
}
