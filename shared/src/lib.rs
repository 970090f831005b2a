//! chatlogger's domain crate.
//!
//! Everything except the thin Lambda entry points lives here:
//! - [`domain`]: the types a request is parsed into (parse, don't validate),
//!   the export job and the pure analytics (what a change counts, the
//!   summary); no I/O;
//! - [`store`]: one storage port per entity, with the DynamoDB adapter and
//!   (with the `memory-store` feature, for tests and the benchmark; never
//!   in a release build) an in-memory one, held to the DynamoDB adapter's
//!   behaviour by one contract suite run against both;
//! - the use cases, on the ports: [`ingest`] (chat plugins), [`accounts`]
//!   (orgs, users, API keys), [`chats`] (the dashboard's chat listing,
//!   within its read budget), [`auth`] (sign-in, sessions, permissions),
//!   [`analytics`] (the stream aggregator), [`export`] (the export pipeline
//!   and worker), [`sweep`] (deleted chats' second purge), [`key_data`]
//!   (deleting what one API key logged), [`lookups`]
//!   (ingest's cached key grants and org limits, kept right by the change
//!   feed), [`limits`] (rate limiting ingest per org and per key, above
//!   `lookups`);
//! - [`adapters`]: S3, SQS and Secrets Manager behind the ports the use
//!   cases define (export files, the export queue, the JWT keys);
//! - [`http`]: the HTTP glue every function shares (error type and every use
//!   case's answer, JSON body extractor, API-key and session extractors,
//!   CSRF/CORS, request logging, route wrapping);
//! - [`startup`]: the `main` of every dashboard Lambda (clients, store,
//!   state, `lambda_http`), on top of `http`;
//! - [`aws`], [`config`], [`telemetry`], [`sdk_error`]: start-up, done once
//!   per container, and how AWS failures are described; [`clock`]: the time,
//!   as code reads it (tests and simulations set it).
//!
//! Dependencies point one way, down this list's layers (`domain` <- `store`
//! <- use cases <- `adapters` <- `http` <- `startup`); `tests/tests/drift/layers.rs` keeps it so.

pub mod accounts;
pub mod adapters;
pub mod analytics;
pub mod auth;
pub mod aws;
pub mod cache;
pub mod chats;
pub mod clock;
pub mod config;
pub mod domain;
pub mod export;
pub mod http;
pub mod ingest;
pub mod key_data;
pub mod limits;
pub mod lookups;
pub mod sdk_error;
pub mod sqs_batch;
pub mod startup;
pub mod store;
pub mod sweep;
pub mod telemetry;
/// The Lambda event types the stream- and SQS-triggered functions (and the
/// local server that imitates their triggers) use. Their handlers take these
/// types, so every crate names them through this re-export (none depends on
/// `aws_lambda_events` directly): one version, chosen here.
pub use aws_lambda_events;
