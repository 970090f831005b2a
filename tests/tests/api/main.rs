//! chatlogger's end-to-end and integration tests.
//!
//! They talk to DynamoDB, S3 and SQS through the real AWS SDK against the
//! moto server that `make test` starts (found through `AWS_ENDPOINT_URL`);
//! every test gets its own table, so tests are isolated and run in parallel.
//! Without `AWS_ENDPOINT_URL` they fail, never skip.
//!
//! Checks that need no AWS (template, routes, events, layers) are in
//! `tests/drift/`, which `make check` runs without moto.

mod aggregator;
mod analytics;
mod batch;
mod chats;
mod chats_budget;
mod cli;
mod dashboard;
mod events;
mod faults;
mod feed;
mod helpers;
mod ingest;
mod ingest_input;
mod limits;
mod local_stack;
mod lookups;
mod publishable;
mod raw_stream;
mod roles;
mod sdk_calls;
mod secrets;
// The storage ports' contract, held by the DynamoDB adapter.
mod store_contract;
mod timeouts;
mod transactions;
// The dashboard's sign-in and administration.
mod csrf_cors;
mod keys;
mod sessions;
mod signin;
mod throttle;
mod users;
// Exports.
mod export_faults;
mod exports;
