//! The DynamoDB adapter. Each method is one request to DynamoDB (multi-item
//! writes are one `TransactWriteItems`), and writes that claim an id or a
//! unique name are conditional, so retries and races cannot double-write.

mod analytics;
mod chats;
mod dashboard;
mod exports;
mod items;
pub mod keys;

pub use analytics::stream_change;
pub use chats::CHAT_TOMBSTONE_TTL;

use std::{collections::HashMap, sync::Arc};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::{ProvideErrorMetadata, SdkError},
    operation::{put_item::PutItemError, transact_write_items::TransactWriteItemsError},
    types::{
        AttributeValue, CancellationReason, ConditionCheck, Put,
        ReturnValuesOnConditionCheckFailure, TransactWriteItem,
    },
};
use serde::{Serialize, de::DeserializeOwned};

use self::items::{
    ApiKeyItem, ChatItem, EmailItem, KeyHashItem, MessageItem, OrgItem, SlugItem, UserItem,
};
use super::{
    ApiKeyStore, ChatCheck, ChatStore, HealthStore, Inserted, MessageStore, OrgStore, StoreError,
    StoreResult, UserStore,
};
use crate::domain::{
    ApiKey, ApiKeyGrant, ApiKeyHash, ApiKeyId, Chat, ChatId, Email, Message, Org, OrgId, Slug, User,
};

type Item = HashMap<String, AttributeValue>;

/// Only writes when no item has this key yet.
const IF_NEW: &str = "attribute_not_exists(pk)";
const IF_EXISTS: &str = "attribute_exists(pk)";
/// A chat the dashboard deleted is a tombstone with `deleted_at`.
const NOT_DELETED: &str = "attribute_not_exists(deleted_at)";
/// A chat that exists and is not a tombstone.
const LIVE_CHAT: &str = "attribute_exists(pk) AND attribute_not_exists(deleted_at)";
const CONDITIONAL_CHECK_FAILED: &str = "ConditionalCheckFailed";

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<Arc<str>>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    async fn get(&self, pk: String, sk: &str) -> StoreResult<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key(keys::PK, AttributeValue::S(pk))
            .key(keys::SK, AttributeValue::S(sk.to_owned()))
            .consistent_read(true)
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(output.item)
    }

    /// One conditional `PutItem`: writes `item` unless its key exists, in
    /// which case the stored item comes back (from the failed write itself,
    /// so no read is spent on idempotent retries).
    async fn put_if_new(&self, item: Item) -> StoreResult<Option<Item>> {
        let result = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression(IF_NEW)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(error) => match existing_item(&error) {
                Some(stored) => Ok(Some(stored)),
                None => Err(from_sdk(error)),
            },
        }
    }

    /// Like [`Self::put_if_new`], and fails with [`StoreError::ChatNotFound`]
    /// unless the org has the chat: still one request, a transaction of a
    /// condition check on the chat and the conditional put.
    async fn put_if_new_in_chat(
        &self,
        org: OrgId,
        chat: ChatId,
        item: Item,
    ) -> StoreResult<Option<Item>> {
        let chat_exists = ConditionCheck::builder()
            .table_name(&*self.table)
            .key(keys::PK, AttributeValue::S(keys::org_pk(org)))
            .key(keys::SK, AttributeValue::S(keys::chat_sk(chat)))
            // A deleted chat is a tombstone: it takes no more messages.
            .condition_expression(LIVE_CHAT)
            .build()
            .map_err(StoreError::unavailable)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .condition_check(chat_exists)
                    .build(),
            )
            .transact_items(self.put_new(item)?)
            .send()
            .await;
        let Err(error) = result else { return Ok(None) };
        let reasons = cancellation_reasons(&error).unwrap_or_default();
        if reasons.first().is_some_and(is_conditional_failure) {
            return Err(StoreError::ChatNotFound);
        }
        match reasons
            .get(1)
            .filter(|r| is_conditional_failure(r))
            .and_then(|r| r.item())
        {
            Some(stored) => Ok(Some(stored.clone())),
            None => Err(from_transaction(error)),
        }
    }

    /// A transaction step that puts `item` only if its key is new. When it
    /// is not, the cancellation reason carries the stored item.
    fn put_new(&self, item: Item) -> StoreResult<TransactWriteItem> {
        let put = Put::builder()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression(IF_NEW)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(StoreError::unavailable)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Writes every item or none; `on_conflict[i]` is the error when item `i` already existed.
    async fn create_all(
        &self,
        writes: Vec<TransactWriteItem>,
        on_conflict: &[fn() -> StoreError],
    ) -> StoreResult<()> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(writes))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                let conflict = cancellation_reasons(&error)
                    .and_then(|reasons| reasons.iter().position(is_conditional_failure))
                    .and_then(|index| on_conflict.get(index));
                if let Some(conflict) = conflict {
                    return Err(conflict());
                }
                Err(from_transaction(error))
            }
        }
    }
}

/// Error codes that mean "too busy, retry later" rather than "broken".
const THROTTLING_CODES: [&str; 4] = [
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "TransactionConflictException",
];
/// The same, as cancellation-reason codes inside a cancelled transaction.
const THROTTLING_REASONS: [&str; 3] = [
    "ProvisionedThroughputExceeded",
    "ThrottlingError",
    "TransactionConflict",
];

/// Classifies an SDK failure: throttling is [`StoreError::Throttled`] (the
/// API answers 503 with Retry-After), anything else is unavailable (500).
fn from_sdk<E>(error: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if error
        .code()
        .is_some_and(|code| THROTTLING_CODES.contains(&code))
    {
        StoreError::Throttled
    } else {
        StoreError::unavailable(error)
    }
}

/// Like [`from_sdk`], for a transaction: a cancellation whose reasons are
/// throttling or a conflicting transaction is [`StoreError::Throttled`].
fn from_transaction(error: SdkError<TransactWriteItemsError>) -> StoreError {
    let throttled = cancellation_reasons(&error).is_some_and(|reasons| {
        reasons
            .iter()
            .any(|r| r.code().is_some_and(|c| THROTTLING_REASONS.contains(&c)))
    });
    if throttled {
        StoreError::Throttled
    } else {
        from_sdk(error)
    }
}

fn to_item(value: &impl Serialize) -> StoreResult<Item> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn from_item<T: DeserializeOwned>(item: Item) -> StoreResult<T> {
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn cancellation_reasons(
    error: &SdkError<TransactWriteItemsError>,
) -> Option<&[CancellationReason]> {
    match error.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(cancelled) => {
            Some(cancelled.cancellation_reasons())
        }
        _ => None,
    }
}

fn is_conditional_failure(reason: &CancellationReason) -> bool {
    reason.code() == Some(CONDITIONAL_CHECK_FAILED)
}

/// The stored item when a conditional put failed because the key exists.
fn existing_item(error: &SdkError<PutItemError>) -> Option<Item> {
    match error.as_service_error()? {
        PutItemError::ConditionalCheckFailedException(failed) => failed.item().cloned(),
        _ => None,
    }
}

#[async_trait]
impl OrgStore for DynamoStore {
    async fn create_org(&self, org: &Org) -> StoreResult<()> {
        let writes = vec![
            self.put_new(to_item(&OrgItem::from(org))?)?,
            self.put_new(to_item(&SlugItem::new(org))?)?,
        ];
        self.create_all(
            writes,
            &[
                || StoreError::Corrupt("org id collision".into()),
                || StoreError::SlugTaken,
            ],
        )
        .await
    }

    async fn org_by_slug(&self, slug: &Slug) -> StoreResult<Option<Org>> {
        let Some(pointer) = self.get(keys::slug_pk(slug), keys::SLUG_SK).await? else {
            return Ok(None);
        };
        let pointer: SlugItem = from_item(pointer)?;
        let org = self.get(keys::org_pk(pointer.org_id), keys::ORG_SK).await?;
        org.map(|item| from_item::<OrgItem>(item).and_then(Org::try_from))
            .transpose()
    }
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn create_user(&self, org: OrgId, user: &User) -> StoreResult<()> {
        let writes = vec![
            self.put_new(to_item(&UserItem::new(org, user))?)?,
            self.put_new(to_item(&EmailItem::new(org, user))?)?,
        ];
        self.create_all(
            writes,
            &[
                || StoreError::Corrupt("user id collision".into()),
                || StoreError::EmailTaken,
            ],
        )
        .await
    }

    async fn user_by_email(&self, email: &Email) -> StoreResult<Option<(OrgId, User)>> {
        let Some(pointer) = self.get(keys::email_pk(email), keys::EMAIL_SK).await? else {
            return Ok(None);
        };
        let pointer: EmailItem = from_item(pointer)?;
        let user = self
            .get(
                keys::org_pk(pointer.org_id),
                &keys::user_sk(pointer.user_id),
            )
            .await?;
        Ok(user
            .map(from_item::<UserItem>)
            .transpose()?
            .map(|item| (pointer.org_id, User::from(item))))
    }
}

#[async_trait]
impl ApiKeyStore for DynamoStore {
    async fn create_api_key(&self, org: &Org, key: &ApiKey, hash: &ApiKeyHash) -> StoreResult<()> {
        let writes = vec![
            self.put_new(to_item(&ApiKeyItem::new(org.id, key, hash))?)?,
            self.put_new(to_item(&KeyHashItem::new(org, key, hash))?)?,
        ];
        let collision = || StoreError::Corrupt("API key collision".into());
        self.create_all(writes, &[collision, collision]).await
    }

    async fn api_key_grant(&self, hash: &ApiKeyHash) -> StoreResult<Option<ApiKeyGrant>> {
        let item = self.get(keys::key_hash_pk(hash), keys::KEY_HASH_SK).await?;
        Ok(item
            .map(from_item::<KeyHashItem>)
            .transpose()?
            .map(ApiKeyGrant::from))
    }

    async fn touch_api_key(
        &self,
        org: OrgId,
        key: ApiKeyId,
        at: time::OffsetDateTime,
    ) -> StoreResult<()> {
        dashboard::touch_api_key(self, org, key, at).await
    }
}

#[async_trait]
impl ChatStore for DynamoStore {
    async fn insert_chat(&self, org: OrgId, chat: &Chat) -> StoreResult<Inserted<Chat>> {
        match self.put_if_new(to_item(&ChatItem::new(org, chat))?).await? {
            None => Ok(Inserted::Created(chat.clone())),
            Some(item) => {
                let stored: ChatItem = from_item(item)?;
                if stored.deleted_at.is_some() {
                    return Err(StoreError::ChatDeleted);
                }
                Ok(Inserted::Existing(stored.try_into()?))
            }
        }
    }
}

#[async_trait]
impl MessageStore for DynamoStore {
    async fn insert_message(
        &self,
        org: OrgId,
        message: &Message,
        check: ChatCheck,
    ) -> StoreResult<Inserted<Message>> {
        let item = to_item(&MessageItem::new(org, message))?;
        let existing = match check {
            // The common case: one conditional PutItem.
            ChatCheck::KnownToExist => self.put_if_new(item).await?,
            // The first message this container sees for the chat.
            ChatCheck::Verify => self.put_if_new_in_chat(org, message.chat_id, item).await?,
        };
        match existing {
            None => Ok(Inserted::Created(message.clone())),
            Some(item) => Ok(Inserted::Existing(
                from_item::<MessageItem>(item)?.try_into()?,
            )),
        }
    }
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

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::{
        error::ErrorMetadata,
        operation::put_item::PutItemError,
        types::{
            CancellationReason, error::ProvisionedThroughputExceededException,
            error::TransactionCanceledException,
        },
    };
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn service_error<E>(error: E) -> SdkError<E, Response> {
        SdkError::service_error(
            error,
            Response::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn throttling_errors_are_classified_as_throttled() {
        let exceeded = PutItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder()
                .message("slow down")
                .meta(
                    ErrorMetadata::builder()
                        .code("ProvisionedThroughputExceededException")
                        .build(),
                )
                .build(),
        );
        assert!(matches!(
            from_sdk(service_error(exceeded)),
            StoreError::Throttled
        ));
        let throttling =
            PutItemError::generic(ErrorMetadata::builder().code("ThrottlingException").build());
        assert!(matches!(
            from_sdk(service_error(throttling)),
            StoreError::Throttled
        ));
        let other =
            PutItemError::generic(ErrorMetadata::builder().code("ValidationException").build());
        assert!(matches!(
            from_sdk(service_error(other)),
            StoreError::Unavailable(_)
        ));
    }

    #[test]
    fn throttled_transactions_are_classified_as_throttled() {
        let cancelled = |code: &str| {
            service_error(TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder()
                    .cancellation_reasons(CancellationReason::builder().code("None").build())
                    .cancellation_reasons(CancellationReason::builder().code(code).build())
                    .build(),
            ))
        };
        assert!(matches!(
            from_transaction(cancelled("ThrottlingError")),
            StoreError::Throttled
        ));
        assert!(matches!(
            from_transaction(cancelled("TransactionConflict")),
            StoreError::Throttled
        ));
        assert!(matches!(
            from_transaction(cancelled("ValidationError")),
            StoreError::Unavailable(_)
        ));
    }
}
