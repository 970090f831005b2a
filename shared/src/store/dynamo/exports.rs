//! Export jobs: `ORG#<org>` / `EXPORT#<ulid>`, expired by the table's TTL.
//! Every state change after creation is one conditional `UpdateItem` on the
//! job's status (and attempt number).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{
    DynamoStore, Item,
    expr::{Cond, Update, number, rfc3339, s},
    from_item, keys,
    query::{Listing, SortKey, page_of},
    requests::{Updated, key},
    to_item,
};
use crate::{
    domain::{
        ExportId, OrgId, UserId,
        export::{ExportFormat, ExportJob, ExportStatus, Totals},
    },
    store::{
        ExportClaim, ExportJobStore, ExportUsage, Page, PageRequest, Read, StoreError, StoreResult,
    },
};

/// How long a job item is kept (the table's TTL deletes it afterwards).
/// Matches the bucket's default expiry of export files.
pub const EXPORT_JOB_RETENTION: time::Duration = time::Duration::days(7);

/// An export job. Filters are JSON text (like metadata). `lease_expires_at`
/// and `expires_at` are epoch seconds: the first so a condition can compare
/// it with a number, the second because it is the table's TTL attribute.
/// One of an org's export-worker slots: `ORG#<org>` / `EXPORTSLOT#<n>`,
/// held by `job` until `until` (epoch seconds).
#[derive(Serialize)]
struct ExportSlotItem {
    pk: String,
    sk: String,
    kind: String,
    job: ExportId,
    until: i64,
    expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct ExportJobItem {
    pk: String,
    sk: String,
    kind: String,
    id: ExportId,
    format: ExportFormat,
    filters: String,
    status: ExportStatus,
    rows_written: u64,
    bytes_written: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    attempts: u32,
    requested_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    started_at: Option<OffsetDateTime>,
    #[serde(
        with = "time::serde::rfc3339::option",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    finished_at: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease_expires_at: Option<i64>,
    expires_at: i64,
}

impl ExportJobItem {
    fn new(org: OrgId, job: &ExportJob) -> StoreResult<Self> {
        Ok(Self {
            pk: keys::org_pk(org),
            sk: keys::export_sk(job.id),
            kind: "export".into(),
            id: job.id,
            format: job.format,
            filters: serde_json::to_string(&job.filters)
                .map_err(|e| StoreError::Corrupt(e.to_string()))?,
            status: job.status,
            rows_written: job.rows_written,
            bytes_written: job.bytes_written,
            error: job.error.clone(),
            attempts: job.attempts,
            requested_by: job.requested_by,
            created_at: job.created_at,
            started_at: job.started_at,
            finished_at: job.finished_at,
            lease_expires_at: None,
            expires_at: (job.created_at + EXPORT_JOB_RETENTION).unix_timestamp(),
        })
    }
}

impl TryFrom<ExportJobItem> for ExportJob {
    type Error = StoreError;

    fn try_from(item: ExportJobItem) -> Result<Self, StoreError> {
        let filters = serde_json::from_str(&item.filters)
            .map_err(|e| StoreError::Corrupt(format!("export {}: {e}", item.id)))?;
        Ok(Self {
            id: item.id,
            format: item.format,
            filters,
            status: item.status,
            rows_written: item.rows_written,
            bytes_written: item.bytes_written,
            error: item.error,
            attempts: item.attempts,
            requested_by: item.requested_by,
            created_at: item.created_at,
            started_at: item.started_at,
            finished_at: item.finished_at,
        })
    }
}

fn job_from(item: Item) -> StoreResult<ExportJob> {
    from_item::<ExportJobItem>(item).and_then(ExportJob::try_from)
}

fn job_key(org: OrgId, id: ExportId) -> Item {
    key(keys::org_pk(org), keys::export_sk(id))
}

fn status(value: ExportStatus) -> Cond {
    Cond::Eq("status", s(value.as_str()))
}

fn set_status(update: Update, value: ExportStatus) -> Update {
    update.set("status", s(value.as_str()))
}

impl DynamoStore {
    /// An update by the attempt that holds the job, leaving it `then`;
    /// false when the attempt no longer holds it. Refused, but the job is
    /// `then` at this attempt already: this call's own update, retried by
    /// the SDK after its answer was lost.
    async fn update_owned(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        then: ExportStatus,
        update: Update,
    ) -> StoreResult<bool> {
        let owned = status(ExportStatus::Running).and(Cond::Eq("attempts", number(attempt)));
        match self.update(job_key(org, id), update.when(owned)).await? {
            Updated::Done(_) => Ok(true),
            Updated::Refused(Some(item)) => {
                let job = job_from(item)?;
                Ok(job.status == then && job.attempts == attempt)
            }
            Updated::Refused(None) => Ok(false),
        }
    }
}

#[async_trait]
impl ExportJobStore for DynamoStore {
    async fn count_inline_export(
        &self,
        org: OrgId,
        user: UserId,
        minute: u64,
        limit: u32,
    ) -> StoreResult<Option<u32>> {
        let item = Update::default()
            .set("kind", s("inline_exports"))
            .set("expires_at", number((minute + 5) * 60));
        self.count_up_to(
            key(keys::org_pk(org), keys::inline_exports_sk(user, minute)),
            "count",
            limit,
            item,
        )
        .await
    }

    async fn take_export_slot(
        &self,
        org: OrgId,
        job: ExportId,
        slots: u8,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Option<u8>> {
        for slot in 0..slots {
            let item = ExportSlotItem {
                pk: keys::org_pk(org),
                sk: keys::export_slot_sk(slot),
                kind: "export_slot".into(),
                job,
                until: until.unix_timestamp(),
                // Kept a day past its lease, then gone (TTL).
                expires_at: until.unix_timestamp() + 86_400,
            };
            let free = Cond::IsNew
                .or(Cond::Lt("until", number(now.unix_timestamp())))
                .or(Cond::Eq("job", s(job.to_string())));
            if self.put_when(to_item(&item)?, free).await? {
                return Ok(Some(slot));
            }
        }
        Ok(None)
    }

    async fn release_export_slot(&self, org: OrgId, slot: u8, job: ExportId) -> StoreResult<()> {
        let slot_key = key(keys::org_pk(org), keys::export_slot_sk(slot));
        // Not held by this job any more (its lease ended and another took
        // the slot): nothing to free.
        self.delete(slot_key, Some(Cond::Eq("job", s(job.to_string()))))
            .await?;
        Ok(())
    }

    async fn create_export_job(&self, org: OrgId, job: &ExportJob) -> StoreResult<()> {
        match self
            .put_if_new(to_item(&ExportJobItem::new(org, job)?)?)
            .await?
        {
            None => Ok(()),
            Some(_) => Err(StoreError::Corrupt(format!(
                "export id {} collided",
                job.id
            ))),
        }
    }

    async fn export_usage(&self, org: OrgId, now: OffsetDateTime) -> StoreResult<ExportUsage> {
        // Jobs older than their retention are gone (or about to be).
        let listing = Listing {
            sort: SortKey::Between(
                keys::export_sk(ExportId::first_at(now - EXPORT_JOB_RETENTION)),
                keys::export_sk(ExportId::MAX),
            ),
            ..Listing::partition(keys::org_pk(org), keys::EXPORT_SK_PREFIX)
        };
        let today = ExportId::first_at(now.replace_time(time::Time::MIDNIGHT));
        let mut usage = ExportUsage::default();
        for item in self.query_all(&listing).await? {
            let job: ExportJobItem = from_item(item)?;
            let leased = job
                .lease_expires_at
                .is_some_and(|lease| lease > now.unix_timestamp());
            let active = match job.status {
                ExportStatus::Queued => true,
                // A worker that died leaves its lease to run out; the
                // redelivery takes the job over (or fails it).
                ExportStatus::Running => leased,
                ExportStatus::Completed | ExportStatus::Failed => false,
            };
            usage.active += u64::from(active);
            usage.today += u64::from(job.id >= today);
        }
        Ok(usage)
    }

    async fn delete_queued_export_job(&self, org: OrgId, id: ExportId) -> StoreResult<()> {
        // A job that left `queued` meanwhile is the worker's: leave it.
        self.delete(job_key(org, id), Some(status(ExportStatus::Queued)))
            .await?;
        Ok(())
    }

    async fn export_job(&self, org: OrgId, id: ExportId) -> StoreResult<Option<ExportJob>> {
        self.get(job_key(org, id), Read::Consistent)
            .await?
            .map(job_from)
            .transpose()
    }

    async fn list_export_jobs(
        &self,
        org: OrgId,
        page: &PageRequest,
    ) -> StoreResult<Page<ExportJob>> {
        let listing = Listing {
            newest_first: true,
            read: Read::Eventual,
            ..Listing::partition(keys::org_pk(org), keys::EXPORT_SK_PREFIX)
        };
        page_of(self.query_page(&listing, page).await?, job_from)
    }

    async fn claim_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<ExportClaim> {
        // `claimed_at` (to the nanosecond) tells this claim from another
        // delivery's: when the SDK retries a claim whose answer was lost, the
        // retry is refused (the job is running now) but finds its own claim.
        let claimed_at = rfc3339(now)?;
        let claim = set_status(Update::default(), ExportStatus::Running)
            .set("claimed_at", claimed_at.clone())
            .set("lease_expires_at", number(lease_until.unix_timestamp()))
            .set_if_absent("started_at", rfc3339(now)?)
            .set("rows_written", number(0))
            .set("bytes_written", number(0))
            .add("attempts", number(1))
            .when(
                Cond::Exists.and(
                    status(ExportStatus::Queued).or(status(ExportStatus::Running)
                        .and(Cond::Lt("lease_expires_at", number(now.unix_timestamp())))),
                ),
            );
        match self.update(job_key(org, id), claim).await? {
            Updated::Done(item) => Ok(ExportClaim::Claimed(Box::new(job_from(item)?))),
            Updated::Refused(None) => Ok(ExportClaim::Missing),
            Updated::Refused(Some(item)) => {
                let ours = item.get("claimed_at") == Some(&claimed_at);
                let job = job_from(item)?;
                Ok(match job.status {
                    ExportStatus::Completed | ExportStatus::Failed => {
                        ExportClaim::Finished(job.status)
                    }
                    ExportStatus::Running if ours => ExportClaim::Claimed(Box::new(job)),
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
        let progress = Update::default()
            .set("rows_written", number(totals.rows))
            .set("bytes_written", number(totals.bytes));
        self.update_owned(org, id, attempt, ExportStatus::Running, progress)
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
        let complete = set_status(Update::default(), ExportStatus::Completed)
            .set("rows_written", number(totals.rows))
            .set("bytes_written", number(totals.bytes))
            .set("finished_at", rfc3339(at)?)
            .remove("lease_expires_at")
            .remove("error");
        self.update_owned(org, id, attempt, ExportStatus::Completed, complete)
            .await
    }

    async fn release_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        error: &str,
    ) -> StoreResult<bool> {
        let release = set_status(Update::default(), ExportStatus::Queued)
            .set("error", s(error))
            .remove("lease_expires_at");
        self.update_owned(org, id, attempt, ExportStatus::Queued, release)
            .await
    }

    async fn fail_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        reason: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let fail = set_status(Update::default(), ExportStatus::Failed)
            .set("error", s(reason))
            .set("finished_at", rfc3339(at)?)
            .remove("lease_expires_at")
            .when(Cond::In(
                "status",
                vec![
                    s(ExportStatus::Queued.as_str()),
                    s(ExportStatus::Running.as_str()),
                ],
            ));
        let updated = self.update(job_key(org, id), fail).await?;
        Ok(updated.applied().is_some())
    }
}
