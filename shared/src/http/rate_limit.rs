//! The rate-limit header fields of the IETF draft "RateLimit header fields
//! for HTTP" (draft-ietf-httpapi-ratelimit-headers): every ingest response
//! says which limits apply (`RateLimit-Policy: "org";q=5100;w=10,
//! "key";q=300;w=10`: the window quota `q` of `w` seconds) and where the
//! tightest stands (`RateLimit: "key";r=12;t=7`: `r` units remain, the
//! window resets in `t` seconds). A 429 has them too, with `r=0` and
//! `Retry-After`.

use axum::{
    http::{HeaderName, HeaderValue},
    response::{IntoResponseParts, ResponseParts},
};

use crate::{
    domain::limits::{RateLimit, WINDOW_SECS},
    limits::{RateStatus, Scope},
};

pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
pub const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// `RateLimit-Policy`: each limit's window quota.
pub fn policy_header(policies: &[(Scope, RateLimit)]) -> HeaderValue {
    let text = policies
        .iter()
        .map(|(scope, rate)| {
            format!(
                "\"{}\";q={};w={WINDOW_SECS}",
                scope.as_str(),
                rate.window_quota()
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    HeaderValue::try_from(text).expect("names and numbers are valid header text")
}

/// `RateLimit`: what remains of one limit, and when it resets.
pub fn status_header(scope: Scope, remaining: u64, reset_secs: u64) -> HeaderValue {
    HeaderValue::try_from(format!(
        "\"{}\";r={remaining};t={reset_secs}",
        scope.as_str()
    ))
    .expect("names and numbers are valid header text")
}

/// The headers of an admitted request.
pub struct RateHeaders(pub RateStatus);

impl IntoResponseParts for RateHeaders {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut parts: ResponseParts) -> Result<ResponseParts, Self::Error> {
        let status = self.0;
        let headers = parts.headers_mut();
        headers.insert(RATELIMIT_POLICY, policy_header(&status.policies));
        headers.insert(
            RATELIMIT,
            status_header(status.scope, status.remaining, status.reset_secs),
        );
        Ok(parts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_follow_the_draft_syntax() {
        let policies = [
            (Scope::Org, RateLimit::new(500, Some(1000))),
            (Scope::Key, RateLimit::new(20, Some(100))),
        ];
        assert_eq!(
            policy_header(&policies),
            "\"org\";q=6000;w=10, \"key\";q=300;w=10"
        );
        assert_eq!(status_header(Scope::Key, 0, 7), "\"key\";r=0;t=7");
    }
}
