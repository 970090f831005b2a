//! chatlogger's domain crate.
//!
//! Everything except the thin Lambda entry points lives here:
//! - [`domain`]: the types a request is parsed into (parse, don't validate);
//! - [`store`]: storage ports (small traits per use) with the DynamoDB adapter
//!   and an in-memory one for fast unit tests;
//! - [`accounts`]: the use cases that create orgs, users and API keys (shared by
//!   the ops CLI, the local seed and, later, the dashboard routes);
//! - [`analytics`]: exact per-org analytics from stream-fed per-day aggregates;
//! - [`auth`]: dashboard sign-in, sessions, roles, CSRF and CORS;
//! - [`http`]: the HTTP glue every function shares (error type, JSON body
//!   extractor, API-key authentication, request logging, route wrapping);
//! - [`aws`], [`config`], [`telemetry`]: start-up, done once per container.

pub mod accounts;
pub mod analytics;
pub mod auth;
pub mod aws;
pub mod cache;
pub mod config;
pub mod domain;
pub mod http;
pub mod store;
pub mod telemetry;
// Exports: the export domain and pipeline, and the SQS batch helper.
pub mod export;
pub mod sqs_batch;
/// The Lambda event types the SQS-triggered functions (and the local
/// server that imitates their triggers) use.
pub use aws_lambda_events;
