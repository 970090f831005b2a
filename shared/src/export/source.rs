//! The rows of an export, read from the store: the org's chats a page at a
//! time (or the chats named in `chat_ids`), and for each kept chat its
//! messages a page at a time. Only one page of each is held at once.
//!
//! `from` and `to` are sort-key ranges, not filters: message ids are ULIDs,
//! so a chat's messages of a time range are one `Query` range, and chats
//! made after `to` are not listed at all. A reader may be bounded by the
//! items it reads ([`StoreRowSource::with_read_limit`]), so an inline export
//! cannot make a request read the whole org. The items counted are those
//! the store reads, not those it returns: a chat listing reads (and
//! DynamoDB bills) the deleted chats it skips, and the export's own filters
//! skip chats only once they are read.

use std::{collections::VecDeque, sync::Arc};

use async_trait::async_trait;

use super::{ExportError, ExportRow, RowSource};
use crate::{
    domain::{Chat, OrgId, export::ExportFilters},
    store::{ChatQuery, ChatStore, Cursor, MessageStore, PageRequest, Read},
};

/// Chats read per query.
const CHAT_PAGE: u16 = 100;
/// Messages read per query (DynamoDB also stops each page at 1 MB).
const MESSAGE_PAGE: u16 = 500;

/// Where the chat listing stands.
enum Chats {
    /// More pages to read from this cursor (`None`: the first page).
    Listing(Option<Cursor>),
    /// The named chats, fetched once; or the listing is exhausted.
    Done,
    /// `chat_ids` given: not fetched yet.
    Named,
}

/// What an export reads: chats and their messages.
#[derive(Clone)]
pub struct ExportReader {
    pub chats: Arc<dyn ChatStore>,
    pub messages: Arc<dyn MessageStore>,
}

impl ExportReader {
    pub fn new<S: ChatStore + MessageStore + 'static>(store: Arc<S>) -> Self {
        Self {
            chats: store.clone(),
            messages: store,
        }
    }
}

/// An export is a snapshot of a moving table anyway: its reads may lag a
/// second, at half the cost of consistent ones.
const EXPORT_READ: Read = Read::Eventual;

/// Walks one org's chats and messages through an [`ExportReader`].
pub struct StoreRowSource {
    store: ExportReader,
    org: OrgId,
    filters: ExportFilters,
    chats: Chats,
    pending: VecDeque<Chat>,
    /// The chat being read, and the cursor of its next message page
    /// (`None` before the first page).
    current: Option<(Arc<Chat>, Option<Cursor>)>,
    /// Chat and message items read so far (those skipped included), and
    /// the most this source may read.
    reads: u64,
    max_reads: Option<u64>,
}

impl StoreRowSource {
    pub fn new(store: ExportReader, org: OrgId, filters: ExportFilters) -> Self {
        let chats = if filters.chat_ids.is_empty() {
            Chats::Listing(None)
        } else {
            Chats::Named
        };
        Self {
            store,
            org,
            filters,
            chats,
            pending: VecDeque::new(),
            current: None,
            reads: 0,
            max_reads: None,
        }
    }

    /// Fails with [`ExportError::ReadsTooMuch`] once it has read more than
    /// `max_items` chat and message items, deleted and filtered-out chats
    /// included.
    pub fn with_read_limit(mut self, max_items: u64) -> Self {
        self.max_reads = Some(max_items);
        self
    }

    /// Chat and message items read so far.
    pub fn reads(&self) -> u64 {
        self.reads
    }

    /// The most the next page may read: one item past the bound, so that
    /// reading it tells an export that needs more than the bound from one
    /// that ends exactly at it, and no page reads further.
    fn next_read(&self) -> u32 {
        self.max_reads.map_or(u32::MAX, |max| {
            let left = max.saturating_sub(self.reads).saturating_add(1);
            u32::try_from(left).unwrap_or(u32::MAX)
        })
    }

    fn count_reads(&mut self, items: u64) -> Result<(), ExportError> {
        self.reads += items;
        match self.max_reads {
            Some(max_items) if self.reads > max_items => {
                Err(ExportError::ReadsTooMuch { max_items })
            }
            _ => Ok(()),
        }
    }

    /// Fills `pending` with the next chats that pass the filters; false at the end.
    async fn next_chats(&mut self) -> Result<bool, ExportError> {
        loop {
            let found = match std::mem::replace(&mut self.chats, Chats::Done) {
                Chats::Done => return Ok(false),
                Chats::Named => {
                    let chats = self
                        .store
                        .chats
                        .chats_by_id(self.org, &self.filters.chat_ids)
                        .await?;
                    // A batch read reads (and bills) every key it is given:
                    // deleted and unknown chats too.
                    self.count_reads(self.filters.chat_ids.len() as u64)?;
                    chats
                }
                Chats::Listing(cursor) => {
                    let page = PageRequest {
                        limit: CHAT_PAGE,
                        cursor,
                    };
                    // Oldest first; tombstones are left out; chats made
                    // after `to` are not read.
                    let query = ChatQuery {
                        read: EXPORT_READ,
                        last_id: self.filters.last_chat_id(),
                        ..ChatQuery::default()
                    };
                    let (page, read) = self
                        .store
                        .chats
                        .list_chats(self.org, &query, &page, self.next_read())
                        .await?;
                    self.count_reads(u64::from(read))?;
                    if page.next_cursor.is_some() {
                        self.chats = Chats::Listing(page.next_cursor);
                    }
                    page.items
                }
            };
            self.pending.extend(
                found
                    .into_iter()
                    .filter(|chat| self.filters.keeps_chat(chat)),
            );
            if !self.pending.is_empty() {
                return Ok(true);
            }
        }
    }
}

#[async_trait]
impl RowSource for StoreRowSource {
    async fn next_page(&mut self) -> Result<Option<Vec<ExportRow>>, ExportError> {
        loop {
            let Some((chat, cursor)) = self.current.take() else {
                if self.pending.is_empty() && !self.next_chats().await? {
                    return Ok(None);
                }
                let chat = self.pending.pop_front().expect("next_chats filled it");
                self.current = Some((Arc::new(chat), None));
                continue;
            };
            // A message listing has no filter: it returns every message it
            // reads, so its page limit bounds what it reads.
            let page = PageRequest {
                limit: u16::try_from(self.next_read())
                    .map_or(MESSAGE_PAGE, |n| n.min(MESSAGE_PAGE)),
                cursor,
            };
            let (first, last) = self.filters.message_ids();
            let page = self
                .store
                .messages
                .list_messages(self.org, chat.id, first..=last, &page, EXPORT_READ)
                .await?;
            self.count_reads(page.items.len() as u64)?;
            let rows: Vec<ExportRow> = page
                .items
                .into_iter()
                .map(|message| ExportRow {
                    chat: chat.clone(),
                    message,
                })
                .collect();
            if let Some(next) = page.next_cursor {
                self.current = Some((chat, Some(next)));
            }
            if !rows.is_empty() {
                return Ok(Some(rows));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::{
        domain::{
            ChatId, Message, MessageContent, MessageId, MessageRole, Metadata, Tags,
            export::ExportFilters,
        },
        store::{ChatCheck, MemoryStore, MessageStore},
    };

    /// One chat with a message an hour for `hours` hours, ending now.
    async fn store_with(hours: i64) -> (Arc<MemoryStore>, OrgId, OffsetDateTime) {
        let store = Arc::new(MemoryStore::new());
        let org = OrgId::new();
        let start = OffsetDateTime::now_utc() - Duration::hours(hours);
        let chat = Chat {
            id: ChatId::at(start),
            title: None,
            tags: Tags::default(),
            metadata: Metadata::default(),
            user_id: None,
            key_id: None,
            created_at: start,
        };
        store.insert_chat(org, &chat).await.unwrap();
        for hour in 0..hours {
            let at = start + Duration::hours(hour) + Duration::minutes(1);
            let message = Message {
                id: MessageId::at(at),
                chat_id: chat.id,
                role: MessageRole::User,
                content: MessageContent::parse(&format!("hour {hour}")).unwrap(),
                metadata: Metadata::default(),
                latency_ms: None,
                token_count: None,
                key_id: None,
                created_at: at,
            };
            store
                .insert_message(org, &message, ChatCheck::KnownToExist)
                .await
                .unwrap();
        }
        (store, org, start)
    }

    async fn drain(source: &mut StoreRowSource) -> Result<usize, ExportError> {
        let mut rows = 0;
        while let Some(page) = source.next_page().await? {
            rows += page.len();
        }
        Ok(rows)
    }

    #[tokio::test]
    async fn a_time_range_reads_only_its_messages() {
        let (store, org, start) = store_with(48).await;
        let filters = ExportFilters {
            from: Some(start + Duration::hours(10)),
            to: Some(start + Duration::hours(13)),
            ..ExportFilters::default()
        };
        let mut source = StoreRowSource::new(ExportReader::new(store), org, filters);
        assert_eq!(drain(&mut source).await.unwrap(), 3);
        assert_eq!(source.reads(), 1 + 3, "the chat and its three messages");
    }

    #[tokio::test]
    async fn a_bounded_reader_stops_past_its_bound() {
        let (store, org, _) = store_with(60).await;
        let reader = ExportReader::new(store);
        let mut bounded =
            StoreRowSource::new(reader.clone(), org, ExportFilters::default()).with_read_limit(50);
        assert!(matches!(
            drain(&mut bounded).await,
            Err(ExportError::ReadsTooMuch { max_items: 50 })
        ));
        let mut enough =
            StoreRowSource::new(reader, org, ExportFilters::default()).with_read_limit(61);
        assert_eq!(drain(&mut enough).await.unwrap(), 60);
    }

    /// DynamoDB reads (and bills) the deleted chats a listing skips: they
    /// count toward the bound, though the listing returns none of them.
    #[tokio::test]
    async fn deleted_chats_count_toward_the_bound() {
        let (store, org, start) = store_with(1).await;
        for n in 0..60 {
            let chat = Chat {
                id: ChatId::at(start + Duration::seconds(n + 1)),
                title: None,
                tags: Tags::default(),
                metadata: Metadata::default(),
                user_id: None,
                key_id: None,
                created_at: start,
            };
            store.insert_chat(org, &chat).await.unwrap();
            store.delete_chat(org, chat.id, start).await.unwrap();
        }
        let reader = ExportReader::new(store);
        let mut bounded =
            StoreRowSource::new(reader.clone(), org, ExportFilters::default()).with_read_limit(50);
        assert!(matches!(
            drain(&mut bounded).await,
            Err(ExportError::ReadsTooMuch { max_items: 50 })
        ));
        let mut enough =
            StoreRowSource::new(reader, org, ExportFilters::default()).with_read_limit(62);
        assert_eq!(drain(&mut enough).await.unwrap(), 1);
        assert_eq!(
            enough.reads(),
            61 + 1,
            "61 chats, 60 deleted, and a message"
        );
    }
}
