//! The dashboard's chats on DynamoDB: listing (newest first, filtered, by
//! end user through `gsi1`), edits, soft delete with message purge, and a
//! chat's messages. Deleted chats are tombstones (`deleted_at`) that every
//! read here skips.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, WriteRequest};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item, LIVE_CHAT,
    dashboard::{Changes, Filter, Listing, key, page_of, rfc3339, s},
    from_item, from_sdk,
    items::{ChatItem, MessageItem},
    keys,
};
use crate::{
    domain::{Chat, ChatId, Message, OrgId},
    store::{ChatAdminStore, ChatChanges, ChatFilter, Page, PageRequest, StoreError, StoreResult},
};

/// How long a deleted chat stays as a tombstone: longer than the stream's
/// 24-hour retention, so the aggregator can attribute every removal.
pub const CHAT_TOMBSTONE_TTL: time::Duration = time::Duration::days(2);
/// DynamoDB's limit on the requests of one `BatchWriteItem`.
const MAX_BATCH_WRITE: usize = 25;
const BATCH_WRITE_ATTEMPTS: u32 = 6;

/// The chat, unless it is a tombstone.
pub(super) fn live_chat(item: Item) -> StoreResult<Option<Chat>> {
    let chat: ChatItem = from_item(item)?;
    if chat.deleted_at.is_some() {
        return Ok(None);
    }
    Chat::try_from(chat).map(Some)
}

fn chat_key(org: OrgId, id: ChatId) -> Item {
    key(keys::org_pk(org), keys::chat_sk(id))
}

/// Timestamps compared as stored text, at whole seconds: any stored time
/// within a second sorts after that second's `YYYY-MM-DDTHH:MM:SS` prefix.
fn second_prefix(at: OffsetDateTime) -> AttributeValue {
    let format = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let at = at.to_offset(time::UtcOffset::UTC);
    s(at.format(format).expect("a UTC time always formats"))
}

fn chat_filter(filter: &ChatFilter) -> Filter {
    let mut f = Filter::not_deleted();
    f.names.insert("#created".into(), "created_at".into());
    if let Some(from) = filter.from {
        f.clauses.push("#created >= :from".into());
        f.values.insert(":from".into(), second_prefix(from));
    }
    if let Some(to) = filter.to {
        f.clauses.push("#created < :to".into());
        f.values.insert(":to".into(), second_prefix(to));
    }
    if filter.from.is_none() && filter.to.is_none() {
        f.names.clear();
    }
    if let Some(tag) = &filter.tag {
        f.clauses.push("contains(tags, :tag)".into());
        f.values.insert(":tag".into(), s(tag.as_str()));
    }
    f
}

#[async_trait]
impl ChatAdminStore for DynamoStore {
    async fn chat(&self, org: OrgId, id: ChatId) -> StoreResult<Option<Chat>> {
        match self.get(keys::org_pk(org), &keys::chat_sk(id)).await? {
            Some(item) => live_chat(item),
            None => Ok(None),
        }
    }

    async fn list_chats(
        &self,
        org: OrgId,
        filter: &ChatFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Chat>> {
        let mut listing = match &filter.user_id {
            Some(user) => Listing::gsi1(
                keys::end_user_gsi1pk(org, user.as_str()),
                keys::CHAT_SK_PREFIX,
            ),
            None => Listing::org_items(org, keys::CHAT_SK_PREFIX),
        };
        listing.newest_first = true;
        listing.filter = Some(chat_filter(filter));
        let (items, next) = self.query_page(&listing, page).await?;
        page_of(items, next, |item| {
            let chat: ChatItem = from_item(item)?;
            Chat::try_from(chat)
        })
    }

    async fn update_chat(
        &self,
        org: OrgId,
        id: ChatId,
        changes: &ChatChanges,
    ) -> StoreResult<Option<Chat>> {
        let mut update = bump_revision(Changes::default());
        match &changes.title {
            Some(Some(title)) => update = update.set("title", s(title.as_str())),
            Some(None) => update = update.remove("title"),
            None => {}
        }
        if let Some(tags) = &changes.tags {
            let list = tags.iter().map(|tag| s(tag.as_str())).collect();
            update = update.set("tags", AttributeValue::L(list));
        }
        if let Some(metadata) = &changes.metadata {
            update = update.set("metadata", s(metadata.to_json_text()));
        }
        match self.update(chat_key(org, id), update, LIVE_CHAT).await? {
            Some(item) => live_chat(item),
            None => Ok(None),
        }
    }

    async fn delete_chat(&self, org: OrgId, id: ChatId, at: OffsetDateTime) -> StoreResult<bool> {
        let tombstone = bump_revision(Changes::default())
            .clause("deleted_at = if_not_exists(deleted_at, :at)")
            .value(":at", rfc3339(at)?)
            .clause("expires_at = if_not_exists(expires_at, :expires)")
            .value(
                ":expires",
                AttributeValue::N((at + CHAT_TOMBSTONE_TTL).unix_timestamp().to_string()),
            )
            .remove(keys::GSI1_PK)
            .remove(keys::GSI1_SK);
        let condition = "attribute_exists(pk)";
        if self
            .update(chat_key(org, id), tombstone, condition)
            .await?
            .is_none()
        {
            return Ok(false);
        }
        self.purge_messages(org, id).await?;
        Ok(true)
    }

    async fn list_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        let listing = Listing::partition(keys::messages_pk(org, chat), keys::MESSAGE_SK_PREFIX);
        let (items, next) = self.query_page(&listing, page).await?;
        page_of(items, next, |item| {
            from_item::<MessageItem>(item).and_then(Message::try_from)
        })
    }
}

/// Every change to a chat bumps its revision (see `analytics::change`).
fn bump_revision(changes: Changes) -> Changes {
    changes
        .clause("#rev = if_not_exists(#rev, :zero) + :one")
        .name("#rev", "revision")
        .value(":zero", AttributeValue::N("0".into()))
        .value(":one", AttributeValue::N("1".into()))
}

impl DynamoStore {
    /// Deletes every message of a chat: key-only query pages, 25 deletes per
    /// `BatchWriteItem`.
    async fn purge_messages(&self, org: OrgId, chat: ChatId) -> StoreResult<()> {
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&*self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :s)")
                .expression_attribute_values(":p", s(keys::messages_pk(org, chat)))
                .expression_attribute_values(":s", s(keys::MESSAGE_SK_PREFIX))
                .projection_expression("pk, sk")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(from_sdk)?;
            for chunk in output.items().chunks(MAX_BATCH_WRITE) {
                self.delete_batch(chunk.to_vec()).await?;
            }
            start = output.last_evaluated_key;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    /// One `BatchWriteItem` of deletes, retrying unprocessed ones with backoff.
    async fn delete_batch(&self, item_keys: Vec<Item>) -> StoreResult<()> {
        let mut pending: Vec<WriteRequest> = item_keys
            .into_iter()
            .map(|item_key| {
                DeleteRequest::builder()
                    .set_key(Some(item_key))
                    .build()
                    .map(|delete| WriteRequest::builder().delete_request(delete).build())
                    .map_err(StoreError::unavailable)
            })
            .collect::<StoreResult<_>>()?;
        for attempt in 0..BATCH_WRITE_ATTEMPTS {
            let output = self
                .client
                .batch_write_item()
                .request_items(&*self.table, pending)
                .send()
                .await
                .map_err(from_sdk)?;
            pending = output
                .unprocessed_items
                .and_then(|mut tables| tables.remove(&*self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
        }
        Err(StoreError::Throttled)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_prefixes_bound_stored_timestamps() {
        let at = time::macros::datetime!(2026-11-22 10:00:05.25 UTC);
        let prefix = second_prefix(at);
        let prefix = prefix.as_s().unwrap();
        assert_eq!(prefix, "2026-11-22T10:00:05");
        // Stored times in that second sort after the prefix, earlier ones before.
        assert!("2026-11-22T10:00:05Z" > prefix.as_str());
        assert!("2026-11-22T10:00:05.000001Z" > prefix.as_str());
        assert!("2026-11-22T10:00:04.999Z" < prefix.as_str());
    }

    #[test]
    fn an_unfiltered_listing_still_skips_deleted_chats() {
        let filter = chat_filter(&ChatFilter::default());
        assert_eq!(filter.clauses, ["attribute_not_exists(deleted_at)"]);
        assert!(filter.names.is_empty() && filter.values.is_empty());
    }
}
