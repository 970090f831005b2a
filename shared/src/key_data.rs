//! Deleting what one API key logged in a time range
//! (`DELETE /orgs/me/apikeys/{key_id}/data`): a leaked key's writes found
//! and removed. Every chat and message records the key that logged it
//! (`key_id`), so the cleanup walks the org's chats once, oldest first:
//!
//! - a chat the key logged within the range is deleted whole, as a
//!   dashboard delete does (tombstone, purge, sweep ticket), with any
//!   message another key logged into it;
//! - in every other chat, the messages the key logged within the range are
//!   deleted (one query of the ids they can have, filtered on the key).
//!
//! A call checks at most [`MAX_CHATS_PER_CALL`] chats and answers a cursor
//! to go on from. Deleting again is harmless (what is gone stays gone), so
//! a call cut short can simply be repeated. Analytics follow: each deleted
//! message and chat is counted out by the aggregator, as for a dashboard
//! delete.
//!
//! Revoke the key first: writes it makes while the cleanup runs are not
//! caught.

use std::ops::Range;

use futures_util::{StreamExt, TryStreamExt, stream};
use time::OffsetDateTime;

use crate::{
    domain::{ApiKeyId, CLIENT_ID_SKEW, Chat, ChatId, OrgId},
    store::{ChatQuery, ChatStore, Cursor, MessageStore, PageRequest, Read, StoreError},
};

/// The most chat items one call reads, deleted chats (which the listing
/// skips, but DynamoDB reads and bills) included: at most as many message
/// queries, well inside an API Gateway request's 29 s.
pub const MAX_CHATS_PER_CALL: usize = 1_000;
/// Chats cleaned at once.
const PARALLEL_CHATS: usize = 10;
/// Chats read per listing query.
const CHATS_PER_PAGE: u16 = 100;

/// What a call deleted, and where the next one goes on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyDataDeleted {
    /// Chats the key logged in the range, deleted with all their messages.
    pub chats_deleted: u64,
    /// Messages the key logged in the range (in those chats or others).
    pub messages_deleted: u64,
    /// Chats checked by this call.
    pub chats_checked: u64,
    /// Set when chats remain to be checked: the next call's `cursor`.
    pub next: Option<Cursor>,
}

/// Deletes what `key` logged in `org` at times within `logged`, going on
/// from `cursor` (a previous call's [`KeyDataDeleted::next`]). `now` stamps
/// the deleted chats' tombstones.
pub async fn delete_key_data(
    chats: &dyn ChatStore,
    messages: &dyn MessageStore,
    org: OrgId,
    key: ApiKeyId,
    logged: Range<OffsetDateTime>,
    cursor: Option<Cursor>,
    now: OffsetDateTime,
) -> Result<KeyDataDeleted, StoreError> {
    // A chat made after the range cannot hold a message logged within it,
    // and a chat's id is within the skew a client id may have of its time.
    let last_chat = logged
        .end
        .checked_add(CLIENT_ID_SKEW)
        .map_or(ChatId::MAX, ChatId::last_at);
    let query = ChatQuery {
        last_id: Some(last_chat),
        newest_first: false,
        read: Read::Eventual,
        ..ChatQuery::default()
    };
    let mut report = KeyDataDeleted::default();
    let mut page = PageRequest {
        limit: CHATS_PER_PAGE,
        cursor,
    };
    let mut read_left = MAX_CHATS_PER_CALL as u32;
    loop {
        let (listed, read) = chats.list_chats(org, &query, &page, read_left).await?;
        read_left = read_left.saturating_sub(read);
        let cleaned: Vec<(bool, usize)> = stream::iter(listed.items)
            .map(|chat| clean_chat(chats, messages, org, key, chat, logged.clone(), now))
            .buffer_unordered(PARALLEL_CHATS)
            .try_collect()
            .await?;
        for (chat_deleted, messages) in cleaned {
            report.chats_checked += 1;
            report.chats_deleted += u64::from(chat_deleted);
            report.messages_deleted += messages as u64;
        }
        match listed.next_cursor {
            Some(next) if read_left > 0 => {
                page.cursor = Some(next);
            }
            next => {
                report.next = next;
                return Ok(report);
            }
        }
    }
}

/// One chat: the key's messages in the range, then the chat itself if the
/// key logged it in the range. Whether the chat was deleted, and how many
/// of the key's messages.
async fn clean_chat(
    chats: &dyn ChatStore,
    messages: &dyn MessageStore,
    org: OrgId,
    key: ApiKeyId,
    chat: Chat,
    logged: Range<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(bool, usize), StoreError> {
    let deleted = messages
        .delete_key_messages(org, chat.id, key, logged.clone())
        .await?;
    let keys_chat = chat.key_id == Some(key) && logged.contains(&chat.created_at);
    let chat_deleted = keys_chat && chats.delete_chat(org, chat.id, now).await?;
    if deleted > 0 || chat_deleted {
        tracing::info!(chat_id = %chat.id, key_id = %key, messages = deleted, chat_deleted, "deleted what a key logged");
    }
    Ok((chat_deleted, deleted))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use time::{Duration, macros::datetime};

    use super::*;
    use crate::{
        domain::{Message, MessageContent, MessageId, MessageRole, Metadata, Tags},
        store::{ChatCheck, MemoryStore},
    };

    const T0: OffsetDateTime = datetime!(2026-11-22 12:00:00 UTC);

    fn chat(n: i64, key: Option<ApiKeyId>) -> Chat {
        Chat {
            id: ChatId::at(T0 + Duration::seconds(n)),
            title: None,
            tags: Tags::default(),
            metadata: Metadata::default(),
            user_id: None,
            key_id: key,
            created_at: T0 + Duration::seconds(n),
        }
    }

    fn message(chat: ChatId, n: i64, key: Option<ApiKeyId>) -> Message {
        Message {
            id: MessageId::at(T0 + Duration::seconds(n)),
            chat_id: chat,
            role: MessageRole::User,
            content: MessageContent::parse("hi").unwrap(),
            metadata: Metadata::default(),
            latency_ms: None,
            token_count: None,
            key_id: key,
            created_at: T0 + Duration::seconds(n),
        }
    }

    async fn log(store: &MemoryStore, org: OrgId, chat: &Chat, messages: &[Message]) {
        store.insert_chat(org, chat).await.unwrap();
        for message in messages {
            store
                .insert_message(org, message, ChatCheck::Verify)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_keys_chats_go_whole_and_its_messages_elsewhere_one_by_one() {
        let store = MemoryStore::new();
        let (acme, other_org) = (OrgId::new(), OrgId::new());
        let (leaked, good) = (ApiKeyId::new(), ApiKeyId::new());
        // The key's chat, with a message another key logged into it.
        let planted = chat(10, Some(leaked));
        log(
            &store,
            acme,
            &planted,
            &[
                message(planted.id, 11, Some(leaked)),
                message(planted.id, 12, Some(good)),
            ],
        )
        .await;
        // A good chat the key wrote into, in and out of the range.
        let real = chat(0, Some(good));
        let real_messages = [
            message(real.id, 1, Some(good)),
            message(real.id, 13, Some(leaked)),
            message(real.id, 500, Some(leaked)),
        ];
        log(&store, acme, &real, &real_messages).await;
        // The key's chat from before the range stays.
        let earlier = chat(-100, Some(leaked));
        log(&store, acme, &earlier, &[]).await;
        // Another org's data is never touched, whatever its key says.
        log(
            &store,
            other_org,
            &planted,
            &[message(planted.id, 11, Some(leaked))],
        )
        .await;

        let range = T0..T0 + Duration::seconds(100);
        let report = delete_key_data(
            &store,
            &store,
            acme,
            leaked,
            range.clone(),
            None,
            T0 + Duration::hours(1),
        )
        .await
        .unwrap();
        assert_eq!(
            report,
            KeyDataDeleted {
                chats_deleted: 1,
                messages_deleted: 2,
                chats_checked: 3,
                next: None,
            }
        );
        assert!(store.chat(acme, planted.id).await.unwrap().is_none());
        assert!(store.chat(acme, earlier.id).await.unwrap().is_some());
        let left: Vec<MessageId> = store.messages_of(acme).iter().map(|m| m.id).collect();
        assert_eq!(left, [real_messages[0].id, real_messages[2].id]);
        assert_eq!(store.messages_of(other_org).len(), 1);
        assert!(store.chat(other_org, planted.id).await.unwrap().is_some());

        let again = delete_key_data(
            &store,
            &store,
            acme,
            leaked,
            range,
            None,
            T0 + Duration::hours(1),
        )
        .await
        .unwrap();
        assert_eq!((again.chats_deleted, again.messages_deleted), (0, 0));
    }

    #[tokio::test]
    async fn a_call_checks_a_bounded_number_of_chats_and_says_where_to_go_on() {
        let store = Arc::new(MemoryStore::new());
        let acme = OrgId::new();
        let leaked = ApiKeyId::new();
        let chats = MAX_CHATS_PER_CALL as i64 + 50;
        for n in 0..chats {
            let chat = chat(n, None);
            log(&store, acme, &chat, &[message(chat.id, n, Some(leaked))]).await;
        }
        let range = T0..T0 + Duration::hours(1);
        let now = T0 + Duration::hours(2);
        let first = delete_key_data(&*store, &*store, acme, leaked, range.clone(), None, now)
            .await
            .unwrap();
        assert_eq!(first.chats_checked, MAX_CHATS_PER_CALL as u64);
        assert_eq!(first.messages_deleted, MAX_CHATS_PER_CALL as u64);
        assert!(first.next.is_some());
        let rest = delete_key_data(&*store, &*store, acme, leaked, range, first.next, now)
            .await
            .unwrap();
        assert_eq!(rest.messages_deleted, 50);
        assert_eq!(rest.next, None);
        assert!(store.messages_of(acme).is_empty());
    }

    #[tokio::test]
    async fn deleted_chats_count_toward_a_calls_bound() {
        let store = MemoryStore::new();
        let acme = OrgId::new();
        let now = T0 + Duration::hours(2);
        for n in 0..MAX_CHATS_PER_CALL as i64 {
            let chat = chat(n, None);
            log(&store, acme, &chat, &[]).await;
            store.delete_chat(acme, chat.id, now).await.unwrap();
        }
        let live = chat(5_000, None);
        log(&store, acme, &live, &[]).await;
        let range = T0..T0 + Duration::hours(2);
        let first = delete_key_data(
            &store,
            &store,
            acme,
            ApiKeyId::new(),
            range.clone(),
            None,
            now,
        )
        .await
        .unwrap();
        assert_eq!(
            first.chats_checked, 0,
            "it read its bound's worth of tombstones"
        );
        assert!(first.next.is_some());
        let rest = delete_key_data(
            &store,
            &store,
            acme,
            ApiKeyId::new(),
            range,
            first.next,
            now,
        )
        .await
        .unwrap();
        assert_eq!((rest.chats_checked, rest.next), (1, None));
    }
}
