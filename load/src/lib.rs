//! `make load`: N concurrent chat plugins x M messages against a local
//! chatlogger stack, then a check that nothing was lost or duplicated and
//! that the analytics caught up.
//!
//! - [`target`] refuses anything but loopback addresses (the API and the
//!   local AWS endpoint alike);
//! - [`setup`] creates a fresh org with an admin and an API key through the
//!   same use cases as `chatlogger-admin`, so each run measures its own data;
//! - [`plugin`] is one plugin: its chat, then its messages with client ids,
//!   retrying failures with the same id and re-sending a share of the
//!   acknowledged ones blindly, every request bounded in time;
//! - [`dashboard`] signs in as the org's admin, pages the messages back and
//!   polls the analytics summary;
//! - [`freshness`] probes how long a message takes to reach the summary,
//!   for a quiet org and an active one, beside the load;
//! - [`stats`] and [`report`] turn it into figures and a pass/fail verdict.

pub mod dashboard;
pub mod freshness;
pub mod plugin;
pub mod report;
pub mod setup;
pub mod stats;
pub mod target;

/// Why a load run could not be carried out (a missed target is not an error:
/// it is in the report).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{0}")]
    NotLoopback(String),
    #[error("setting up the load org failed: {0}")]
    Setup(String),
    #[error("the dashboard API refused {what}: {detail}")]
    Dashboard { what: String, detail: String },
    #[error("request to {url} failed: {source}")]
    Http {
        url: String,
        #[source]
        source: reqwest::Error,
    },
}

impl LoadError {
    /// For `map_err` on a request to `url`.
    pub fn http(url: &reqwest::Url) -> impl FnOnce(reqwest::Error) -> Self + '_ {
        move |source| Self::Http {
            url: url.to_string(),
            source,
        }
    }
}
