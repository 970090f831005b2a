//! The DynamoDB requests every entity is built from: get, batch get, put if
//! new, conditional update and delete, one transaction path, query pages and
//! batch deletes. Expressions come from [`super::expr`] only.

use std::{collections::BTreeMap, time::Duration};

use aws_sdk_dynamodb::{
    operation::{
        delete_item::DeleteItemError, put_item::PutItemError,
        transact_write_items::TransactWriteItemsError, update_item::UpdateItemError,
    },
    types::{
        CancellationReason, ConditionCheck, Delete, DeleteRequest, KeysAndAttributes, Put,
        ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update as UpdateStep,
        WriteRequest,
    },
};

use super::{
    DynamoStore, Item, classified,
    expr::{Cond, Placeholders, Update, s},
    from_sdk, keys,
};
use crate::{
    sdk_error::SdkFailure,
    store::{Cursor, Page, PageRequest, Read, StoreError, StoreResult},
};

/// How many times unprocessed keys of a batch request are sent again.
const BATCH_ATTEMPTS: u32 = 6;
/// DynamoDB's limits on one `BatchGetItem` and one `BatchWriteItem`.
const MAX_BATCH_GET_KEYS: usize = 100;
pub(super) const MAX_BATCH_WRITE: usize = 25;
/// How many `Query` calls one filtered page may spend looking for matches
/// before it returns what it found, with a cursor.
const MAX_FILTERED_QUERIES: usize = 8;

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

/// One action of a transaction.
pub(super) enum Step {
    Put { item: Item, condition: Option<Cond> },
    Update { key: Item, update: Update },
    Delete { key: Item, condition: Option<Cond> },
    Check { key: Item, condition: Cond },
}

/// What a transaction did.
pub(super) enum Transaction {
    Committed,
    /// A step's condition did not hold, so nothing was written: the index of
    /// each such step, with the item it found (if any).
    Refused(Vec<(usize, Option<Item>)>),
}

impl Transaction {
    /// The stored item step `index` found, if its condition failed.
    pub fn refused_at(&self, index: usize) -> Option<Option<&Item>> {
        match self {
            Transaction::Committed => None,
            Transaction::Refused(failed) => failed
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, item)| item.as_ref()),
        }
    }
}

/// The sort keys a listing covers.
pub(super) enum SortKey {
    Prefix(String),
    /// From the first to the second, both included.
    Between(String, String),
}

impl SortKey {
    fn contains(&self, sort: &str) -> bool {
        match self {
            SortKey::Prefix(prefix) => sort.starts_with(prefix.as_str()),
            SortKey::Between(from, to) => from.as_str() <= sort && sort <= to.as_str(),
        }
    }

    fn condition(&self, attribute: &'static str) -> Cond {
        match self {
            SortKey::Prefix(prefix) => Cond::BeginsWith(attribute, s(prefix.clone())),
            SortKey::Between(from, to) => Cond::Between(attribute, s(from.clone()), s(to.clone())),
        }
    }
}

/// Which items a query walks, and so which cursors may continue it.
pub(super) struct Listing {
    pub index: Option<&'static str>,
    pub partition_attr: &'static str,
    pub partition: String,
    pub sort_attr: &'static str,
    pub sort: SortKey,
    /// Every attribute of a key of this listing (table and index keys).
    pub key_attrs: &'static [&'static str],
    /// Descending sort-key order (newest first, for ULID keys).
    pub newest_first: bool,
    /// Items the listing skips (a `FilterExpression`).
    pub filter: Option<Cond>,
    /// An index can only be read eventually consistent.
    pub read: Read,
    /// Read only the key attributes.
    pub keys_only: bool,
}

impl Listing {
    /// The items of one table partition whose sort key starts with `prefix`.
    pub fn partition(pk: String, prefix: impl Into<String>) -> Self {
        Self {
            index: None,
            partition_attr: keys::PK,
            partition: pk,
            sort_attr: keys::SK,
            sort: SortKey::Prefix(prefix.into()),
            key_attrs: &[keys::PK, keys::SK],
            newest_first: false,
            filter: None,
            read: Read::Consistent,
            keys_only: false,
        }
    }

    /// The items of one `gsi1` partition whose index sort key starts with `prefix`.
    pub fn gsi1(gsi1pk: String, prefix: impl Into<String>) -> Self {
        Self {
            index: Some(keys::GSI1),
            partition_attr: keys::GSI1_PK,
            sort_attr: keys::GSI1_SK,
            key_attrs: &[keys::PK, keys::SK, keys::GSI1_PK, keys::GSI1_SK],
            read: Read::Eventual,
            ..Self::partition(gsi1pk, prefix)
        }
    }

    /// The cursor as a start key, if it is a position in this listing.
    fn start_key(&self, cursor: &Cursor) -> StoreResult<Item> {
        let key = cursor.key();
        let fits = key.len() == self.key_attrs.len()
            && self.key_attrs.iter().all(|attr| key.contains_key(*attr))
            && key.get(self.partition_attr) == Some(&self.partition)
            && key
                .get(self.sort_attr)
                .is_some_and(|sort| self.sort.contains(sort));
        if !fits {
            return Err(StoreError::InvalidCursor);
        }
        Ok(key.iter().map(|(k, v)| (k.clone(), s(v.clone()))).collect())
    }
}

/// The cursor that continues a listing after `last` (a page's last key).
fn cursor_after(last: Item) -> Cursor {
    let key: BTreeMap<String, String> = last
        .into_iter()
        .filter_map(|(k, v)| v.as_s().ok().map(|v| (k, v.clone())))
        .collect();
    Cursor::from_key(key)
}

/// A page of items converted to domain values.
pub(super) fn page_of<T>(
    (items, next_cursor): (Vec<Item>, Option<Cursor>),
    convert: impl Fn(Item) -> StoreResult<T>,
) -> StoreResult<Page<T>> {
    let items = items.into_iter().map(convert).collect::<StoreResult<_>>()?;
    Ok(Page { items, next_cursor })
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

    /// Several items, in `BatchGetItem`s of at most 100 keys, asking again
    /// for unprocessed keys. Missing items are left out; order is not kept.
    pub(super) async fn get_many(
        &self,
        item_keys: Vec<Item>,
        read: Read,
    ) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(item_keys.len());
        for chunk in item_keys.chunks(MAX_BATCH_GET_KEYS) {
            let mut pending = chunk.to_vec();
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == BATCH_ATTEMPTS {
                    return Err(StoreError::transient(format!(
                        "BatchGetItem left {} keys unprocessed after {BATCH_ATTEMPTS} attempts",
                        pending.len()
                    )));
                }
                backoff(attempt).await;
                attempt += 1;
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(read == Read::Consistent)
                    .build()
                    .map_err(StoreError::failed)?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&*self.table, request)
                    .send()
                    .await
                    .map_err(from_sdk)?;
                found.extend(
                    output
                        .responses
                        .and_then(|mut tables| tables.remove(&*self.table))
                        .unwrap_or_default(),
                );
                pending = output
                    .unprocessed_keys
                    .and_then(|mut tables| tables.remove(&*self.table))
                    .map(|unprocessed| unprocessed.keys)
                    .unwrap_or_default();
            }
        }
        Ok(found)
    }

    /// One conditional `PutItem`: writes `item` unless its key exists, in
    /// which case the stored item comes back (from the failed write itself,
    /// so no read is spent on idempotent retries).
    pub(super) async fn put_if_new(&self, item: Item) -> StoreResult<Option<Item>> {
        let mut p = Placeholders::default();
        let condition = Cond::IsNew.render(&mut p);
        let (names, values) = p.into_maps();
        let result = self
            .client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(None),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    Ok(Some(failed.item().cloned().unwrap_or_default()))
                }
                _ => Err(from_sdk(error)),
            },
        }
    }

    /// One `UpdateItem`, conditional when `update` says so.
    pub(super) async fn update(&self, key: Item, update: Update) -> StoreResult<Updated> {
        let mut p = Placeholders::default();
        let (expression, condition) = update.render(&mut p);
        let (names, values) = p.into_maps();
        let result = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key))
            .update_expression(expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
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

    /// One `DeleteItem`; false when `condition` did not hold.
    pub(super) async fn delete(&self, key: Item, condition: Option<Cond>) -> StoreResult<bool> {
        let mut p = Placeholders::default();
        let condition = condition.map(|c| c.render(&mut p));
        let (names, values) = p.into_maps();
        let result = self
            .client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(key))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
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

    /// Every step or none, in one `TransactWriteItems`. A refused condition
    /// is an outcome ([`Transaction::Refused`]); throttling and conflicts
    /// with other transactions are transient errors; any other cancellation
    /// is a failure whose cause lists every step's reason.
    pub(super) async fn transact(&self, steps: Vec<Step>) -> StoreResult<Transaction> {
        let items = steps
            .into_iter()
            .map(|step| self.transact_item(step))
            .collect::<StoreResult<Vec<_>>>()?;
        let Err(error) = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        else {
            return Ok(Transaction::Committed);
        };
        let reasons = match error.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) => {
                cancelled.cancellation_reasons().to_vec()
            }
            _ => return Err(from_sdk(error)),
        };
        let code = |r: &CancellationReason| r.code().unwrap_or("None").to_owned();
        let only_conditions = reasons
            .iter()
            .all(|r| matches!(code(r).as_str(), "None" | "ConditionalCheckFailed"));
        if only_conditions {
            let refused = reasons
                .iter()
                .enumerate()
                .filter(|(_, r)| code(r) == "ConditionalCheckFailed")
                .map(|(index, r)| (index, r.item().cloned()))
                .collect();
            return Ok(Transaction::Refused(refused));
        }
        let described: Vec<String> = reasons
            .iter()
            .map(|r| match r.message() {
                Some(message) => format!("{} ({message})", code(r)),
                None => code(r),
            })
            .collect();
        let mut failure = SdkFailure::with_detail(
            &error,
            Some(format!("cancellation reasons: [{}]", described.join(", "))),
        );
        // A transaction cancelled only for capacity or by a concurrent one
        // succeeds when tried again.
        failure.transient = reasons.iter().all(|r| {
            matches!(
                code(r).as_str(),
                "None"
                    | "ConditionalCheckFailed"
                    | "ThrottlingError"
                    | "ProvisionedThroughputExceeded"
                    | "TransactionConflict"
            )
        });
        Err(classified(failure))
    }

    fn transact_item(&self, step: Step) -> StoreResult<TransactWriteItem> {
        let mut p = Placeholders::default();
        let old = ReturnValuesOnConditionCheckFailure::AllOld;
        let builder = TransactWriteItem::builder();
        let item = match step {
            Step::Put { item, condition } => {
                let condition = condition.map(|c| c.render(&mut p));
                let (names, values) = p.into_maps();
                let put = Put::builder()
                    .table_name(&*self.table)
                    .set_item(Some(item))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .return_values_on_condition_check_failure(old)
                    .build();
                builder.put(put.map_err(StoreError::failed)?)
            }
            Step::Update { key, update } => {
                let (expression, condition) = update.render(&mut p);
                let (names, values) = p.into_maps();
                let update = UpdateStep::builder()
                    .table_name(&*self.table)
                    .set_key(Some(key))
                    .update_expression(expression)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .return_values_on_condition_check_failure(old)
                    .build();
                builder.update(update.map_err(StoreError::failed)?)
            }
            Step::Delete { key, condition } => {
                let condition = condition.map(|c| c.render(&mut p));
                let (names, values) = p.into_maps();
                let delete = Delete::builder()
                    .table_name(&*self.table)
                    .set_key(Some(key))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .return_values_on_condition_check_failure(old)
                    .build();
                builder.delete(delete.map_err(StoreError::failed)?)
            }
            Step::Check { key, condition } => {
                let condition = condition.render(&mut p);
                let (names, values) = p.into_maps();
                let check = ConditionCheck::builder()
                    .table_name(&*self.table)
                    .set_key(Some(key))
                    .condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build();
                builder.condition_check(check.map_err(StoreError::failed)?)
            }
        };
        Ok(item.build())
    }

    /// One page of a listing. With a filter, it queries on (each call
    /// reading at most what is still missing, so the cursor never skips a
    /// match) until the page is full, the listing ends, or
    /// [`MAX_FILTERED_QUERIES`] calls were spent.
    pub(super) async fn query_page(
        &self,
        listing: &Listing,
        page: &PageRequest,
    ) -> StoreResult<(Vec<Item>, Option<Cursor>)> {
        let mut start = page
            .cursor
            .as_ref()
            .map(|cursor| listing.start_key(cursor))
            .transpose()?;
        let mut items = Vec::new();
        for _ in 0..MAX_FILTERED_QUERIES {
            let missing = usize::from(page.limit) - items.len();
            let (found, next) = self.query(listing, start.take(), Some(missing)).await?;
            items.extend(found);
            start = next;
            if start.is_none() || items.len() >= usize::from(page.limit) {
                break;
            }
        }
        Ok((items, start.map(cursor_after)))
    }

    /// Every item of a listing (for bounded partitions: a range of days of
    /// aggregates, a chat's message keys).
    pub(super) async fn query_all(&self, listing: &Listing) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let (found, next) = self.query(listing, start, None).await?;
            items.extend(found);
            start = next;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// One `Query` call: its items and where the next one starts.
    async fn query(
        &self,
        listing: &Listing,
        start: Option<Item>,
        limit: Option<usize>,
    ) -> StoreResult<(Vec<Item>, Option<Item>)> {
        let mut p = Placeholders::default();
        let key_condition = Cond::Eq(listing.partition_attr, s(listing.partition.clone()))
            .and(listing.sort.condition(listing.sort_attr))
            .render(&mut p);
        let filter = listing.filter.as_ref().map(|f| f.render(&mut p));
        let projection = listing.keys_only.then(|| {
            let names: Vec<String> = listing.key_attrs.iter().map(|a| p.name(a)).collect();
            names.join(", ")
        });
        let (names, values) = p.into_maps();
        let output = self
            .client
            .query()
            .table_name(&*self.table)
            .set_index_name(listing.index.map(str::to_owned))
            .key_condition_expression(key_condition)
            .set_filter_expression(filter)
            .set_projection_expression(projection)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .set_exclusive_start_key(start)
            .scan_index_forward(!listing.newest_first)
            .set_limit(limit.map(|l| i32::try_from(l).unwrap_or(i32::MAX)))
            .consistent_read(listing.read == Read::Consistent)
            .send()
            .await
            .map_err(from_sdk)?;
        Ok((output.items.unwrap_or_default(), output.last_evaluated_key))
    }

    /// Deletes items in `BatchWriteItem`s of 25, retrying unprocessed ones
    /// with backoff.
    pub(super) async fn delete_all(&self, item_keys: Vec<Item>) -> StoreResult<()> {
        for chunk in item_keys.chunks(MAX_BATCH_WRITE) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|item_key| {
                    DeleteRequest::builder()
                        .set_key(Some(item_key.clone()))
                        .build()
                        .map(|delete| WriteRequest::builder().delete_request(delete).build())
                        .map_err(StoreError::failed)
                })
                .collect::<StoreResult<_>>()?;
            let mut attempt = 0;
            while !pending.is_empty() {
                if attempt == BATCH_ATTEMPTS {
                    return Err(StoreError::transient(format!(
                        "BatchWriteItem left {} deletes unprocessed after {BATCH_ATTEMPTS} attempts",
                        pending.len()
                    )));
                }
                backoff(attempt).await;
                attempt += 1;
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
            }
        }
        Ok(())
    }
}

/// Nothing before the first attempt, then 25 ms doubling.
async fn backoff(attempt: u32) {
    if attempt > 0 {
        tokio::time::sleep(Duration::from_millis(25 << (attempt - 1))).await;
    }
}
