//! Exports of an org's chats, of any size:
//!
//! - the job itself (format, filters, status) is a domain type:
//!   [`crate::domain::export`];
//! - [`format`]: the file formats, one [`RowFormat`] strategy each;
//! - [`pipeline`]: rows in from a [`RowSource`], parts out to a [`ByteSink`],
//!   with flat memory;
//! - [`source`]: the org's chats and messages from the store, page by page;
//! - [`files`]: where export files are kept, and their download links (a
//!   port; S3 in `crate::adapters::s3`);
//! - [`queue`]: the export queue (a port; SQS in `crate::adapters::sqs`);
//! - [`inline`]: an export answered in one response, within bounds;
//! - [`start`]: starting an export within the org's quotas;
//! - [`worker`]: what the export worker does with one queue message.

pub mod files;
pub mod format;
pub mod inline;
pub mod pipeline;
pub mod queue;
pub mod source;
pub mod start;
pub mod worker;

use std::sync::Arc;

pub use files::{DOWNLOAD_LINK_TTL, ExportFiles};
pub use format::{CSV_COLUMNS, CsvFormat, JsonFormat, NdjsonFormat, RowFormat, neutralise};
pub use pipeline::{
    ByteSink, CountingSink, MIN_PART_BYTES, MemorySink, NoProgress, PART_BYTES, Progress,
    RowSource, stream_export,
};
pub use source::{ExportReader, StoreRowSource};
pub use start::{ExportQuotaExceeded, ExportStarter, StartExportError};

use crate::{
    domain::{Chat, Message},
    store::StoreError,
};

/// One row of an export: a message and the chat it belongs to (shared by
/// all the chat's rows).
#[derive(Debug, Clone)]
pub struct ExportRow {
    pub chat: Arc<Chat>,
    pub message: Message,
}

/// What an export failed at. Messages are for logs; jobs and clients get
/// [`ExportError::public_reason`].
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("could not write a row: {0}")]
    Format(String),
    #[error("file storage failed: {0}")]
    Storage(String),
    #[error("the export queue failed: {0}")]
    Queue(String),
    #[error("the export is larger than {max_bytes} bytes")]
    TooLarge { max_bytes: usize },
    /// The user has made their limit of inline exports this minute.
    #[error(
        "you have made {limit} inline exports this minute, the most a minute; retry in {retry_after_secs} s, or start an export job"
    )]
    InlineQuota { limit: u32, retry_after_secs: u64 },
    /// The export would read more items than its reader allows.
    #[error("the export reads more than {max_items} chats and messages")]
    ReadsTooMuch { max_items: u64 },
    /// The attempt stopped before the worker's time ran out.
    #[error("the attempt ran out of time")]
    TimedOut,
    /// The job's lease ran out and a later attempt claimed it.
    #[error("another attempt took the job over")]
    Superseded,
}

impl ExportError {
    /// What a job's `error` says: enough to act on, no internals.
    pub fn public_reason(&self) -> &'static str {
        match self {
            Self::Store(StoreError::Transient(_)) => "the database was busy",
            Self::Store(StoreError::Corrupt(_)) => "a stored chat or message could not be read",
            Self::Store(_) => "the database could not be read",
            Self::Format(_) => "a row could not be written",
            Self::Storage(_) => "the file could not be stored",
            Self::Queue(_) => "the export queue failed",
            Self::TooLarge { .. } => "the export is too large",
            Self::ReadsTooMuch { .. } => "the export reads too much",
            Self::InlineQuota { .. } => "too many inline exports",
            Self::TimedOut => "the attempt ran out of time",
            Self::Superseded => "the attempt ran out of time",
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Rows for the format and pipeline tests.

    use async_trait::async_trait;
    use serde_json::json;
    use time::macros::datetime;

    use super::*;
    use crate::domain::{
        ChatId, ChatTitle, LatencyMs, MessageContent, MessageId, MessageRole, Metadata, Tag, Tags,
        TokenCount,
    };

    pub fn sample_rows() -> Vec<ExportRow> {
        let chat = Arc::new(Chat {
            id: ChatId::new(),
            title: Some(ChatTitle::parse("=HYPERLINK(\"http://evil\")").unwrap()),
            tags: Tags::parse(vec![
                Tag::parse("billing").unwrap(),
                Tag::parse("vip").unwrap(),
            ])
            .unwrap(),
            metadata: Metadata::default(),
            user_id: None,
            key_id: None,
            created_at: datetime!(2025-01-01 00:00 UTC),
        });
        let message = |content: &str, latency: Option<u64>, tokens: Option<u64>| Message {
            id: MessageId::new(),
            chat_id: chat.id,
            role: MessageRole::Assistant,
            content: MessageContent::parse(content).unwrap(),
            metadata: Metadata::parse(json!({"model": "gpt-4o", "n": 1.5})).unwrap(),
            latency_ms: latency.map(|l| LatencyMs::parse(l.into()).unwrap()),
            token_count: tokens.map(|t| TokenCount::parse(t.into()).unwrap()),
            key_id: None,
            created_at: datetime!(2025-01-02 03:04:05.5 UTC),
        };
        vec![
            ExportRow {
                chat: chat.clone(),
                message: Message {
                    key_id: Some(crate::domain::ApiKeyId::new()),
                    ..message("line one,\n\"quoted\" line two", Some(850), None)
                },
            },
            ExportRow {
                chat: chat.clone(),
                message: message("-1 is negative", None, Some(7)),
            },
        ]
    }

    /// `count` copies of a row, `page` at a time.
    pub struct VecSource {
        row: ExportRow,
        left: usize,
        page: usize,
    }

    impl VecSource {
        pub fn repeated(count: usize, page: usize) -> Self {
            Self {
                row: sample_rows().remove(0),
                left: count,
                page,
            }
        }
    }

    #[async_trait]
    impl RowSource for VecSource {
        async fn next_page(&mut self) -> Result<Option<Vec<ExportRow>>, ExportError> {
            if self.left == 0 {
                return Ok(None);
            }
            let n = self.left.min(self.page);
            self.left -= n;
            Ok(Some(vec![self.row.clone(); n]))
        }
    }
}
