//! Single-item and batch requests: get, batch get, put if new, conditional
//! update and delete, batch deletes. With [`super::transaction`] (the one
//! transaction path) and [`super::query`] (listings), these are every
//! DynamoDB request the entities are built from; expressions come from
//! [`super::expr`] only.

use std::{future::Future, time::Duration};

use aws_sdk_dynamodb::{
    operation::{
        delete_item::DeleteItemError, put_item::PutItemError, update_item::UpdateItemError,
    },
    types::{
        DeleteRequest, KeysAndAttributes, ReturnValue, ReturnValuesOnConditionCheckFailure,
        WriteRequest,
    },
};

use super::{
    DynamoStore, Item,
    expr::{Cond, Expressions, Update, number, number_of, s, with_condition},
    from_sdk, keys,
};
use crate::store::{Read, StoreError, StoreResult};

/// How many times a batch request is sent for what it left unprocessed.
const BATCH_ATTEMPTS: u32 = 6;
/// DynamoDB's limits on one `BatchGetItem` and one `BatchWriteItem`.
const MAX_BATCH_GET_KEYS: usize = 100;
const MAX_BATCH_WRITE: usize = 25;

/// An item's key.
pub(super) fn key(pk: String, sk: impl Into<String>) -> Item {
    Item::from([(keys::PK.to_owned(), s(pk)), (keys::SK.to_owned(), s(sk))])
}

/// What a conditional update found.
pub(super) enum Updated {
    /// Applied; the item as it is now.
    Done(Item),
    /// The condition did not hold; the stored item, if there is one.
    Refused(Option<Item>),
}

impl Updated {
    pub fn applied(self) -> Option<Item> {
        match self {
            Updated::Done(item) => Some(item),
            Updated::Refused(_) => None,
        }
    }
}

impl DynamoStore {
    pub(super) async fn get(&self, key: Item, read: Read) -> StoreResult<Option<Item>> {
        let output = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(key))
            .consistent_read(read == Read::Consistent)
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(output.item)
    }

    /// Several items, in `BatchGetItem`s of at most 100 keys. Missing items
    /// are left out; order is not kept.
    pub(super) async fn get_many(
        &self,
        item_keys: Vec<Item>,
        read: Read,
    ) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(item_keys.len());
        for chunk in item_keys.chunks(MAX_BATCH_GET_KEYS) {
            let batch = until_processed("BatchGetItem", chunk.to_vec(), |pending| async move {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(read == Read::Consistent)
                    .build()?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&*self.table, request)
                    .send()
                    .await
                    .map_err(from_sdk)?;
                let items = output
                    .responses
                    .and_then(|mut tables| tables.remove(&*self.table))
                    .unwrap_or_default();
                let unprocessed = output
                    .unprocessed_keys
                    .and_then(|mut tables| tables.remove(&*self.table))
                    .map(|unprocessed| unprocessed.keys)
                    .unwrap_or_default();
                Ok((items, unprocessed))
            })
            .await?;
            found.extend(batch);
        }
        Ok(found)
    }

    /// One conditional `PutItem`: writes `item` unless its key exists, in
    /// which case the stored item comes back (from the failed write itself,
    /// so no read is spent on idempotent retries). A stored item equal to
    /// `item` is this call's own write: the SDK retried an attempt whose
    /// answer was lost after the put took effect.
    pub(super) async fn put_if_new(&self, item: Item) -> StoreResult<Option<Item>> {
        let put = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item.clone()));
        let result = with_condition!(put, Expressions::condition(Some(&Cond::IsNew)))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let stored = failed.item().cloned().unwrap_or_default();
                    Ok((stored != item).then_some(stored))
                }
                _ => Err(from_sdk(error)),
            },
        }
    }

    /// One `PutItem` on `condition`: false when it did not hold.
    pub(super) async fn put_when(&self, item: Item, condition: Cond) -> StoreResult<bool> {
        let put = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item));
        let result = with_condition!(put, Expressions::condition(Some(&condition)))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(from_sdk(error)),
            },
        }
    }

    /// One `UpdateItem`, conditional when `update` says so.
    pub(super) async fn update(&self, key: Item, update: Update) -> StoreResult<Updated> {
        let (expression, expressions) = Expressions::update(&update);
        let request = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key));
        let result = with_condition!(request.update_expression(expression), expressions)
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Updated::Done(output.attributes.unwrap_or_default())),
            Err(error) => match error.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Updated::Refused(failed.item().cloned()))
                }
                _ => Err(from_sdk(error)),
            },
        }
    }

    /// Adds one to the number `counter` of the item at `key` (with `update`'s
    /// other changes) unless it is at `limit` already: one conditional
    /// `UpdateItem`, so racing callers cannot pass the limit. The count now,
    /// or `None` at the limit.
    pub(super) async fn count_up_to(
        &self,
        key: Item,
        counter: &'static str,
        limit: u32,
        update: Update,
    ) -> StoreResult<Option<u32>> {
        let update = update
            .increment(counter, 1)
            .when(Cond::Lacks(counter).or(Cond::Lt(counter, number(limit))));
        match self.update(key, update).await? {
            Updated::Done(item) => {
                let count = number_of(&item, counter)?
                    .and_then(|count| u32::try_from(count).ok())
                    .ok_or_else(|| StoreError::Corrupt(format!("counter {counter}")))?;
                Ok(Some(count))
            }
            Updated::Refused(_) => Ok(None),
        }
    }

    /// One `DeleteItem`; false when `condition` did not hold.
    pub(super) async fn delete(&self, key: Item, condition: Option<Cond>) -> StoreResult<bool> {
        let request = self
            .client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(key));
        let result = with_condition!(request, Expressions::condition(condition.as_ref()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(error) => match error.as_service_error() {
                Some(DeleteItemError::ConditionalCheckFailedException(_)) => Ok(false),
                _ => Err(from_sdk(error)),
            },
        }
    }

    /// Deletes items in `BatchWriteItem`s of 25.
    pub(super) async fn delete_all(&self, item_keys: Vec<Item>) -> StoreResult<()> {
        for chunk in item_keys.chunks(MAX_BATCH_WRITE) {
            let deletes = chunk
                .iter()
                .map(|item_key| {
                    let delete = DeleteRequest::builder()
                        .set_key(Some(item_key.clone()))
                        .build()?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<StoreResult<Vec<_>>>()?;
            until_processed("BatchWriteItem", deletes, |pending| async move {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&*self.table, pending)
                    .send()
                    .await
                    .map_err(from_sdk)?;
                let unprocessed = output
                    .unprocessed_items
                    .and_then(|mut tables| tables.remove(&*self.table))
                    .unwrap_or_default();
                Ok((Vec::new(), unprocessed))
            })
            .await?;
        }
        Ok(())
    }
}

/// Sends `pending` through `send` (one batch request, answering what it
/// returned and what it left unprocessed) until nothing is left, backing
/// off from 25 ms, at most [`BATCH_ATTEMPTS`] times.
async fn until_processed<T, F, Fut>(
    request: &str,
    mut pending: Vec<T>,
    send: F,
) -> StoreResult<Vec<Item>>
where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = StoreResult<(Vec<Item>, Vec<T>)>>,
{
    let mut returned = Vec::new();
    for attempt in 0..BATCH_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(25 << (attempt - 1))).await;
        }
        let (items, unprocessed) = send(pending).await?;
        returned.extend(items);
        if unprocessed.is_empty() {
            return Ok(returned);
        }
        pending = unprocessed;
    }
    Err(StoreError::transient(format!(
        "{request} left {} requests unprocessed after {BATCH_ATTEMPTS} attempts",
        pending.len()
    )))
}
