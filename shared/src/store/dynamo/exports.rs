//! Exports on DynamoDB: reading an org's chats and messages page by page
//! (queries of the org's partitions, never scans), and export jobs under
//! `ORG#<org>` / `EXPORT#<ulid>`, whose every state change is one
//! conditional `UpdateItem`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure},
};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    chats::live_chat,
    dashboard::{Filter, Listing, key, page_of, rfc3339, s},
    from_item, from_sdk,
    items::{ChatItem, ExportJobItem, MessageItem},
    keys, to_item,
};
use crate::{
    domain::{Chat, ChatId, ExportId, Message, OrgId},
    export::{ExportJob, ExportStatus, Totals},
    store::{
        ExportClaim, ExportJobStore, ExportReadStore, Page, PageRequest, StoreError, StoreResult,
    },
};

/// How long a job item is kept (the table's TTL deletes it afterwards).
/// Matches the bucket's default expiry of export files.
pub const EXPORT_JOB_RETENTION: time::Duration = time::Duration::days(7);

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// What a conditional job update found.
enum Updated {
    Done(Item),
    /// The condition failed; the stored item, if there is one.
    Refused(Option<Item>),
}

/// A listing as the export reads it: eventually consistent, at half the
/// read cost (an export is a snapshot of a moving table anyway).
fn export_listing(mut listing: Listing<'_>) -> Listing<'_> {
    listing.consistent_read = false;
    listing
}

impl DynamoStore {
    /// A conditional update of one job.
    async fn update_job(
        &self,
        org: OrgId,
        id: ExportId,
        expression: &str,
        condition: &str,
        values: Item,
    ) -> StoreResult<Updated> {
        // DynamoDB refuses placeholder names that the expressions do not use.
        let mut names = HashMap::from([("#status".to_owned(), "status".to_owned())]);
        if expression.contains("#error") {
            names.insert("#error".to_owned(), "error".to_owned());
        }
        let result = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key(keys::org_pk(org), keys::export_sk(id))))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
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
}

impl DynamoStore {
    /// An update by the attempt that holds the job; false when it no longer does.
    async fn update_owned(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        expression: &str,
        mut values: Item,
    ) -> StoreResult<bool> {
        values.insert(":running".to_owned(), status(ExportStatus::Running));
        values.insert(":attempt".to_owned(), n(attempt));
        let updated = self
            .update_job(
                org,
                id,
                expression,
                "#status = :running AND attempts = :attempt",
                values,
            )
            .await?;
        Ok(matches!(updated, Updated::Done(_)))
    }
}

fn job_from(item: Item) -> StoreResult<ExportJob> {
    from_item::<ExportJobItem>(item).and_then(ExportJob::try_from)
}

fn values<const N: usize>(pairs: [(&str, AttributeValue); N]) -> Item {
    pairs
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect::<HashMap<_, _>>()
}

fn status(value: ExportStatus) -> AttributeValue {
    s(value.as_str())
}

#[async_trait]
impl ExportReadStore for DynamoStore {
    async fn export_chats(&self, org: OrgId, page: &PageRequest) -> StoreResult<Page<Chat>> {
        // Chats the dashboard deleted (tombstones) are not exported.
        let mut listing = export_listing(Listing::org_items(org, keys::CHAT_SK_PREFIX));
        listing.filter = Some(Filter::not_deleted());
        let (items, next) = self.query_page(&listing, page).await?;
        page_of(items, next, |item| {
            from_item::<ChatItem>(item).and_then(Chat::try_from)
        })
    }

    async fn export_chats_by_id(&self, org: OrgId, ids: &[ChatId]) -> StoreResult<Vec<Chat>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let item_keys = ids
            .iter()
            .map(|id| key(keys::org_pk(org), keys::chat_sk(*id)))
            .collect();
        let mut chats = self
            .get_many(item_keys)
            .await?
            .into_iter()
            .filter_map(|item| live_chat(item).transpose())
            .collect::<StoreResult<Vec<_>>>()?;
        chats.sort_by_key(|chat| chat.id);
        Ok(chats)
    }

    async fn export_messages(
        &self,
        org: OrgId,
        chat: ChatId,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        let listing = export_listing(Listing::partition(
            keys::messages_pk(org, chat),
            keys::MESSAGE_SK_PREFIX,
        ));
        let (items, next) = self.query_page(&listing, page).await?;
        page_of(items, next, |item| {
            from_item::<MessageItem>(item).and_then(Message::try_from)
        })
    }
}

#[async_trait]
impl ExportJobStore for DynamoStore {
    async fn create_export_job(&self, org: OrgId, job: &ExportJob) -> StoreResult<()> {
        let item = ExportJobItem::new(org, job, job.created_at + EXPORT_JOB_RETENTION)?;
        match self.put_if_new(to_item(&item)?).await? {
            None => Ok(()),
            Some(_) => Err(StoreError::Corrupt("export id collision".into())),
        }
    }

    async fn delete_queued_export_job(&self, org: OrgId, id: ExportId) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(key(keys::org_pk(org), keys::export_sk(id))))
            .condition_expression("#status = :queued")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", status(ExportStatus::Queued))
            .send()
            .await
            .map_err(from_sdk)?;
        Ok(())
    }

    async fn export_job(&self, org: OrgId, id: ExportId) -> StoreResult<Option<ExportJob>> {
        self.get(keys::org_pk(org), &keys::export_sk(id))
            .await?
            .map(job_from)
            .transpose()
    }

    async fn list_export_jobs(
        &self,
        org: OrgId,
        page: &PageRequest,
    ) -> StoreResult<Page<ExportJob>> {
        let mut listing = export_listing(Listing::org_items(org, keys::EXPORT_SK_PREFIX));
        listing.newest_first = true;
        let (items, next) = self.query_page(&listing, page).await?;
        page_of(items, next, job_from)
    }

    async fn claim_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<ExportClaim> {
        let updated = self
            .update_job(
                org,
                id,
                "SET #status = :running, lease_expires_at = :lease, \
                 started_at = if_not_exists(started_at, :now), \
                 rows_written = :zero, bytes_written = :zero ADD attempts :one",
                "attribute_exists(pk) AND (#status = :queued OR \
                 (#status = :running AND lease_expires_at < :epoch))",
                values([
                    (":running", status(ExportStatus::Running)),
                    (":queued", status(ExportStatus::Queued)),
                    (":lease", n(lease_until.unix_timestamp())),
                    (":epoch", n(now.unix_timestamp())),
                    (":now", rfc3339(now)?),
                    (":zero", n(0)),
                    (":one", n(1)),
                ]),
            )
            .await?;
        match updated {
            Updated::Done(item) => Ok(ExportClaim::Claimed(Box::new(job_from(item)?))),
            Updated::Refused(None) => Ok(ExportClaim::Missing),
            Updated::Refused(Some(item)) => {
                let job = job_from(item)?;
                Ok(match job.status {
                    ExportStatus::Completed | ExportStatus::Failed => {
                        ExportClaim::Finished(job.status)
                    }
                    ExportStatus::Queued | ExportStatus::Running => ExportClaim::Busy,
                })
            }
        }
    }

    async fn record_export_progress(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        totals: Totals,
    ) -> StoreResult<bool> {
        self.update_owned(
            org,
            id,
            attempt,
            "SET rows_written = :rows, bytes_written = :bytes",
            values([(":rows", n(totals.rows)), (":bytes", n(totals.bytes))]),
        )
        .await
    }

    async fn complete_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        totals: Totals,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        self.update_owned(
            org,
            id,
            attempt,
            "SET #status = :completed, rows_written = :rows, bytes_written = :bytes, \
             finished_at = :at REMOVE lease_expires_at, #error",
            values([
                (":completed", status(ExportStatus::Completed)),
                (":rows", n(totals.rows)),
                (":bytes", n(totals.bytes)),
                (":at", rfc3339(at)?),
            ]),
        )
        .await
    }

    async fn release_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        error: &str,
    ) -> StoreResult<bool> {
        self.update_owned(
            org,
            id,
            attempt,
            "SET #status = :queued, #error = :error REMOVE lease_expires_at",
            values([
                (":queued", status(ExportStatus::Queued)),
                (":error", s(error)),
            ]),
        )
        .await
    }

    async fn fail_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        reason: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let updated = self
            .update_job(
                org,
                id,
                "SET #status = :failed, #error = :error, finished_at = :at \
                 REMOVE lease_expires_at",
                "#status IN (:queued, :running)",
                values([
                    (":queued", status(ExportStatus::Queued)),
                    (":running", status(ExportStatus::Running)),
                    (":failed", status(ExportStatus::Failed)),
                    (":error", s(reason)),
                    (":at", rfc3339(at)?),
                ]),
            )
            .await?;
        Ok(matches!(updated, Updated::Done(_)))
    }
}
