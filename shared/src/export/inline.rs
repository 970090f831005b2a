//! Inline exports: the whole file in one response (`POST /exports/orgs/me/sync`),
//! within a size cap and a read bound, never truncated.

use time::OffsetDateTime;

use super::{ExportError, ExportReader, MemorySink, NoProgress, StoreRowSource, stream_export};
use crate::{
    domain::{
        OrgId, UserId,
        export::{ExportFilters, ExportFormat},
    },
    store::ExportJobStore,
};

/// The largest inline export. A Lambda response carries at most 6 MB;
/// larger exports fail with [`ExportError::TooLarge`] and must be jobs.
pub const INLINE_EXPORT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// The most chat and message items an inline export reads: a bound on what
/// one request costs, whatever its filters let through. Counted as
/// DynamoDB reads them, so deleted chats and chats the filters skip count
/// too. Items of about 300 bytes make 6 MB, some 700 read units (read
/// eventually consistent) and a few seconds. Larger exports are jobs.
pub const INLINE_EXPORT_MAX_READS: u64 = 20_000;
/// Inline exports one user may make a minute: each may read 20,000 items
/// (some 700 read units), so this bounds what one user costs; export jobs
/// count in the org's export quotas instead.
pub const INLINE_EXPORTS_PER_MINUTE: u32 = 10;

/// What an inline export may answer and read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InlineBounds {
    /// The file's bytes.
    pub max_bytes: usize,
    /// Chat and message items read (see [`INLINE_EXPORT_MAX_READS`]).
    pub max_reads: u64,
}

impl InlineBounds {
    /// The bounds of `POST /exports/orgs/me/sync`.
    pub const SYNC: Self = Self {
        max_bytes: INLINE_EXPORT_MAX_BYTES,
        max_reads: INLINE_EXPORT_MAX_READS,
    };
}

/// The file is checked against the cap every this many bytes, so an
/// oversized export stops early instead of being read to the end.
const PART_BYTES: usize = 256 * 1024;

/// Counts an inline export of `user` at `now`, or refuses it once they have
/// made [`INLINE_EXPORTS_PER_MINUTE`] this minute (one conditional write).
pub async fn admit_inline_export(
    jobs: &dyn ExportJobStore,
    org: OrgId,
    user: UserId,
    now: OffsetDateTime,
) -> Result<(), ExportError> {
    let seconds = now.unix_timestamp().max(0) as u64;
    let minute = seconds / 60;
    match jobs
        .count_inline_export(org, user, minute, INLINE_EXPORTS_PER_MINUTE)
        .await?
    {
        Some(_) => Ok(()),
        None => Err(ExportError::InlineQuota {
            limit: INLINE_EXPORTS_PER_MINUTE,
            retry_after_secs: (60 - seconds % 60).max(1),
        }),
    }
}

/// The file of an export of `org`'s chats in `format`, or
/// [`ExportError::TooLarge`] / [`ExportError::ReadsTooMuch`] past `bounds`.
pub async fn export_inline(
    reader: ExportReader,
    org: OrgId,
    format: ExportFormat,
    filters: ExportFilters,
    bounds: InlineBounds,
) -> Result<Vec<u8>, ExportError> {
    let mut source = StoreRowSource::new(reader, org, filters).with_read_limit(bounds.max_reads);
    let mut sink = MemorySink::with_cap(bounds.max_bytes);
    let totals = stream_export(
        &mut source,
        &mut *format.writer(),
        &mut sink,
        PART_BYTES,
        &NoProgress,
    )
    .await?;
    tracing::info!(
        rows = totals.rows,
        bytes = totals.bytes,
        reads = source.reads(),
        format = format.as_str(),
        "inline export"
    );
    Ok(sink.bytes)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        domain::{
            Chat, ChatId, Message, MessageContent, MessageId, MessageRole, Metadata, Tag, Tags,
        },
        store::{ChatCheck, ChatStore, MemoryStore, MessageStore},
    };

    fn tagged(name: &str) -> Tags {
        Tags::parse(vec![Tag::parse(name).unwrap()]).unwrap()
    }

    /// An org of a `vip` chat with one message, 10 other chats and 10
    /// deleted ones: the `vip` chat and the deleted ones' ids.
    async fn org_of(store: &MemoryStore, org: OrgId) -> (ChatId, Vec<ChatId>) {
        let now = OffsetDateTime::now_utc();
        let mut deleted = Vec::new();
        for n in 0..21 {
            let chat = Chat {
                id: ChatId::new(),
                title: None,
                tags: if n == 0 {
                    tagged("vip")
                } else {
                    tagged("other")
                },
                metadata: Metadata::default(),
                user_id: None,
                key_id: None,
                created_at: now,
            };
            store.insert_chat(org, &chat).await.unwrap();
            if n > 10 {
                store.delete_chat(org, chat.id, now).await.unwrap();
                deleted.push(chat.id);
            }
        }
        let vip = store
            .list_chats(org, &Default::default(), &Default::default(), u32::MAX)
            .await
            .unwrap()
            .0
            .items
            .into_iter()
            .find(|chat| chat.tags == tagged("vip"))
            .unwrap();
        let message = Message {
            id: MessageId::new(),
            chat_id: vip.id,
            role: MessageRole::User,
            content: MessageContent::parse("the vip's message").unwrap(),
            metadata: Metadata::default(),
            latency_ms: None,
            token_count: None,
            key_id: None,
            created_at: now,
        };
        store
            .insert_message(org, &message, ChatCheck::KnownToExist)
            .await
            .unwrap();
        (vip.id, deleted)
    }

    fn reading(max_reads: u64) -> InlineBounds {
        InlineBounds {
            max_reads,
            ..InlineBounds::SYNC
        }
    }

    /// The read bound counts what the store read: the chats the `tags`
    /// filter skips, the deleted chats a listing skips and the deleted
    /// chats `chat_ids` names, though none of them is in the file.
    #[tokio::test]
    async fn skipped_and_deleted_chats_count_toward_the_read_bound() {
        let store = Arc::new(MemoryStore::new());
        let org = OrgId::new();
        let (vip, deleted) = org_of(&store, org).await;
        let reader = ExportReader::new(store);
        let export = |filters: ExportFilters, bounds| {
            export_inline(reader.clone(), org, ExportFormat::Csv, filters, bounds)
        };
        let vips = ExportFilters {
            tags: tagged("vip"),
            ..ExportFilters::default()
        };
        assert!(matches!(
            export(vips.clone(), reading(20)).await,
            Err(ExportError::ReadsTooMuch { max_items: 20 })
        ));
        let file = export(vips, reading(21 + 1)).await.unwrap();
        assert!(
            String::from_utf8(file)
                .unwrap()
                .contains("the vip's message")
        );

        let named = ExportFilters {
            chat_ids: [vec![vip], deleted].concat(),
            ..ExportFilters::default()
        };
        assert!(matches!(
            export(named.clone(), reading(10)).await,
            Err(ExportError::ReadsTooMuch { max_items: 10 })
        ));
        assert!(export(named, reading(11 + 1)).await.is_ok());
    }
}
