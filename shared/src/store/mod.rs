//! Storage: one port (trait) per entity in [`ports`], and two adapters:
//! [`DynamoStore`] (production and the local stack) and, with the
//! `memory-store` feature (and in this crate's unit tests), `MemoryStore`,
//! `MemoryAggregates` and `MemoryStream` (fast unit tests and the
//! benchmark). Release builds do not compile the in-memory adapters.
//!
//! What both adapters must do alike is written once, in `contract`
//! (same feature): generic cases over the ports, run against the memory
//! store by this crate's unit tests and against DynamoDB on moto by
//! `tests/tests/api/store_contract.rs`.
//!
//! Tenancy: every method that touches tenant data takes the [`OrgId`] first,
//! and the DynamoDB adapter builds every such key from it, so a call can only
//! reach that org's items. The global lookups (slug, email, key hash) return
//! pointers only.
//!
//! [`OrgId`]: crate::domain::OrgId

pub mod billing;
#[cfg(any(test, feature = "memory-store"))]
pub mod contract;
mod dynamo;
#[cfg(any(test, feature = "memory-store"))]
mod memory;
mod page;
mod ports;

pub use billing::{ReadUnits, item_size, value_size};
pub use dynamo::{
    CHAT_TOMBSTONE_TTL, DynamoStore, DynamoStream, PAGE_RECORDS, keys, largest_chat_item,
    largest_message_item, stream_change,
};
#[cfg(any(test, feature = "memory-store"))]
pub use memory::{MemoryAggregates, MemoryStore, MemoryStream};
pub use page::{Cursor, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest};
pub use ports::*;

/// A cause kept for the logs: the SDK error with its code, message and
/// (for transactions) cancellation reasons, and its source chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync>;

/// What a storage call failed at. Only storage failures: what a use case
/// makes of a refused condition (a taken slug, a missing chat) is in the
/// outcome the port returns. Messages are for logs, never for clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Worth retrying soon: DynamoDB throttled the request after the SDK's
    /// own retries, a concurrent transaction held an item, or the call timed
    /// out or lost its connection. The API answers 503 with `Retry-After`.
    #[error("the database is unavailable for now: {0}")]
    Transient(#[source] Cause),
    /// The call failed and retrying will not help (a validation error, a
    /// missing table, denied access). The API answers 500.
    #[error("the database call failed: {0}")]
    Failed(#[source] Cause),
    /// A stored item could not be read back as the type it should be.
    #[error("a stored item could not be read: {0}")]
    Corrupt(String),
    /// A pagination cursor that this listing did not produce: a position
    /// the store cannot resume from.
    #[error("the cursor does not belong to this listing")]
    InvalidCursor,
}

impl StoreError {
    pub fn transient(cause: impl Into<Cause>) -> Self {
        Self::Transient(cause.into())
    }

    pub fn failed(cause: impl Into<Cause>) -> Self {
        Self::Failed(cause.into())
    }

    /// The same failure, again, for each of several callers that shared one
    /// call (the items of a batch that waited on one read). The cause is
    /// kept as text.
    pub fn again(&self) -> Self {
        match self {
            Self::Transient(cause) => {
                Self::transient(crate::sdk_error::error_chain(cause.as_ref()))
            }
            Self::Failed(cause) => Self::failed(crate::sdk_error::error_chain(cause.as_ref())),
            Self::Corrupt(what) => Self::Corrupt(what.clone()),
            Self::InvalidCursor => Self::InvalidCursor,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// How fresh a read must be. Strongly consistent reads cost twice as much
/// and are the default; reads that may lag a second (exports, listings of a
/// moving table) say so.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Read {
    #[default]
    Consistent,
    Eventual,
}

/// The most one [`MessageStore::activity_page`] can bill for a `limit`:
/// every message read counts at its full size, so at most
/// [`largest_message_item`] bytes each, read eventually consistent.
pub fn message_page_cost() -> billing::PageCost {
    billing::PageCost {
        largest_item: largest_message_item(),
        read: Read::Eventual,
    }
}

/// The most one query of a chat listing can bill (see
/// [`ChatStore::list_chats_within`]).
pub fn chat_page_cost(read: Read) -> billing::PageCost {
    billing::PageCost {
        largest_item: largest_chat_item(),
        read,
    }
}

/// The outcome of an insert keyed by a client-chosen id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted<T> {
    /// Nothing had that id: the item was written.
    Created(T),
    /// An item with that id was already stored; here it is, unchanged.
    Existing(T),
}

/// The outcome of creating an item that claims a unique name (a slug, an
/// email address) along with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    Created,
    /// The name belongs to another item: nothing was written.
    Taken,
}

/// What inserting a chat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChatInsert {
    Inserted(Inserted<crate::domain::Chat>),
    /// The id belongs to a chat the dashboard deleted: nothing was written.
    Deleted,
}

/// What inserting a message found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageInsert {
    Inserted(Inserted<crate::domain::Message>),
    /// The org has no live chat with that id: nothing was written.
    NoSuchChat,
}

/// Whether an insert into a chat must prove the chat exists (a read first),
/// or the caller already knows it does (it created or verified it moments ago).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatCheck {
    Verify,
    KnownToExist,
}
