//! The DynamoDB adapter: one table, every port.
//!
//! - the primitives every entity uses: [`requests`] (get, batch get, put if
//!   new, conditional update and delete, batch delete), [`transaction`] (the
//!   one transaction path) and [`query`] (listing pages with cursors);
//! - [`expr`]: the one expression builder (conditions, updates, filters);
//! - [`keys`]: the single-table key layout;
//! - one file per entity, each with its item type: [`orgs`], [`users`],
//!   [`api_keys`], [`sessions`] (and the sign-in throttle; the session item
//!   is in [`session_item`], which [`users`] writes too), [`chats`],
//!   [`messages`], [`exports`], [`analytics`] (aggregates), [`usage`] (the
//!   rate limiter's shared counts), [`change_feed`] (what ingest caches
//!   follow), [`stream`] (reading the table's stream records back into
//!   domain changes) and [`streams`] (reading the stream itself, for the
//!   aggregator).
//!
//! Each port method is one request to DynamoDB where it can be (multi-item
//! writes are one `TransactWriteItems`), and writes that claim an id or a
//! unique name are conditional, so retries and races cannot double-write.

mod analytics;
mod api_keys;
mod change_feed;
mod chats;
mod exports;
mod expr;
pub mod keys;
mod messages;
mod orgs;
mod query;
mod requests;
mod session_item;
mod sessions;
mod stream;
mod streams;
mod transaction;
mod usage;
mod users;

// What the in-memory store bills and keeps as DynamoDB does.
#[cfg(any(test, feature = "memory-store"))]
pub(super) use chats::chat_item_size;
pub use chats::{CHAT_TOMBSTONE_TTL, largest_chat_item};
#[cfg(any(test, feature = "memory-store"))]
pub(super) use exports::EXPORT_JOB_RETENTION;
pub use messages::largest_message_item;
#[cfg(any(test, feature = "memory-store"))]
pub(super) use messages::message_item_size;
pub use stream::stream_change;
pub use streams::{DynamoStream, PAGE_RECORDS};

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    types::AttributeValue,
};
use aws_smithy_runtime_api::http::Response;
use serde::{Serialize, de::DeserializeOwned};

use super::{HealthStore, StoreError, StoreResult};
use crate::{
    clock::{self, SharedClock},
    sdk_error::SdkFailure,
};

type Item = HashMap<String, AttributeValue>;

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
    /// The time of the changes this store stamps itself (a key's
    /// revocation, an entry of the ingest change feed).
    clock: SharedClock,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<Arc<str>>) -> Self {
        Self {
            client,
            table: table.into(),
            clock: clock::system(),
        }
    }

    /// The same store, stamping changes with `clock`'s time (tests and
    /// simulations).
    pub fn with_clock(self, clock: SharedClock) -> Self {
        Self { clock, ..self }
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// A failed call as a [`StoreError`]: transient failures (throttling,
/// conflicts, timeouts, lost connections, 5xx) can be retried (503 to a
/// client), anything else is a failure (500). The cause keeps the code,
/// message and request id for the logs.
fn from_sdk<E>(error: SdkError<E, Response>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    classified(SdkFailure::new(&error))
}

fn classified(failure: SdkFailure) -> StoreError {
    if failure.transient {
        StoreError::transient(failure)
    } else {
        StoreError::failed(failure)
    }
}

/// A request the SDK could not build (a required field missing): a bug here.
impl From<aws_sdk_dynamodb::error::BuildError> for StoreError {
    fn from(error: aws_sdk_dynamodb::error::BuildError) -> Self {
        StoreError::failed(error)
    }
}

fn to_item(value: &impl Serialize) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

#[async_trait]
impl HealthStore for DynamoStore {
    async fn ping(&self) -> StoreResult<()> {
        self.client
            .describe_table()
            .table_name(&*self.table)
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }
}
