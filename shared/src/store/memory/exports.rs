//! Export jobs in memory, with the DynamoDB adapter's conditions: every
//! change after creation checks the job's status (and attempt number), a
//! job's lease is epoch seconds, and quotas count the jobs of the last
//! [`EXPORT_JOB_RETENTION`].

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{MemoryStore, Order, page_of};
use crate::{
    domain::{
        ExportId, OrgId, UserId,
        export::{ExportJob, ExportStatus, Totals},
    },
    store::{
        ExportClaim, ExportJobStore, ExportUsage, Page, PageRequest, StoreError, StoreResult,
        dynamo::EXPORT_JOB_RETENTION,
    },
};

/// A job as the table holds it: the job, its lease and which claim holds it.
#[derive(Debug, Clone)]
pub(super) struct StoredJob {
    job: ExportJob,
    /// Epoch seconds, as in the table.
    lease_expires_at: Option<i64>,
    claimed_at: Option<OffsetDateTime>,
}

impl StoredJob {
    /// The job is held by attempt `attempt`.
    fn owned_by(&self, attempt: u32) -> bool {
        self.job.status == ExportStatus::Running && self.job.attempts == attempt
    }
}

impl MemoryStore {
    /// An update by the attempt that holds the job, leaving it `then`; as
    /// DynamoDB's, a refused update whose job is `then` at this attempt
    /// already counts as done (a retry of this very update).
    fn update_owned(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        then: ExportStatus,
        update: impl FnOnce(&mut StoredJob),
    ) -> bool {
        let mut data = self.data();
        let Some(stored) = data.exports.get_mut(&(org, id)) else {
            return false;
        };
        if stored.owned_by(attempt) {
            update(stored);
            true
        } else {
            stored.job.status == then && stored.job.attempts == attempt
        }
    }
}

#[async_trait]
impl ExportJobStore for MemoryStore {
    async fn count_inline_export(
        &self,
        org: OrgId,
        user: UserId,
        minute: u64,
        limit: u32,
    ) -> StoreResult<Option<u32>> {
        let mut data = self.data();
        let count = data.inline_exports.entry((org, user, minute)).or_default();
        if *count >= limit {
            return Ok(None);
        }
        *count += 1;
        Ok(Some(*count))
    }

    async fn take_export_slot(
        &self,
        org: OrgId,
        job: ExportId,
        slots: u8,
        now: OffsetDateTime,
        until: OffsetDateTime,
    ) -> StoreResult<Option<u8>> {
        let mut data = self.data();
        // As DynamoDB compares them: whole epoch seconds.
        let free = |held: Option<&(ExportId, OffsetDateTime)>| {
            held.is_none_or(|(holder, lease)| {
                lease.unix_timestamp() < now.unix_timestamp() || *holder == job
            })
        };
        let Some(slot) = (0..slots).find(|slot| free(data.export_slots.get(&(org, *slot)))) else {
            return Ok(None);
        };
        data.export_slots.insert((org, slot), (job, until));
        Ok(Some(slot))
    }

    async fn release_export_slot(&self, org: OrgId, slot: u8, job: ExportId) -> StoreResult<()> {
        let mut data = self.data();
        if data
            .export_slots
            .get(&(org, slot))
            .is_some_and(|(holder, _)| *holder == job)
        {
            data.export_slots.remove(&(org, slot));
        }
        Ok(())
    }

    async fn create_export_job(&self, org: OrgId, job: &ExportJob) -> StoreResult<()> {
        let mut data = self.data();
        if data.exports.contains_key(&(org, job.id)) {
            return Err(StoreError::Corrupt(format!(
                "export id {} collided",
                job.id
            )));
        }
        data.exports.insert(
            (org, job.id),
            StoredJob {
                job: job.clone(),
                lease_expires_at: None,
                claimed_at: None,
            },
        );
        Ok(())
    }

    async fn export_usage(&self, org: OrgId, now: OffsetDateTime) -> StoreResult<ExportUsage> {
        let oldest = ExportId::first_at(now - EXPORT_JOB_RETENTION);
        let today = ExportId::first_at(now.replace_time(time::Time::MIDNIGHT));
        let data = self.data();
        let mut usage = ExportUsage::default();
        for stored in data
            .exports
            .range((org, oldest)..=(org, ExportId::MAX))
            .map(|(_, s)| s)
        {
            let leased = stored
                .lease_expires_at
                .is_some_and(|lease| lease > now.unix_timestamp());
            let active = match stored.job.status {
                ExportStatus::Queued => true,
                ExportStatus::Running => leased,
                ExportStatus::Completed | ExportStatus::Failed => false,
            };
            usage.active += u64::from(active);
            usage.today += u64::from(stored.job.id >= today);
        }
        Ok(usage)
    }

    async fn delete_queued_export_job(&self, org: OrgId, id: ExportId) -> StoreResult<()> {
        let mut data = self.data();
        if data
            .exports
            .get(&(org, id))
            .is_some_and(|stored| stored.job.status == ExportStatus::Queued)
        {
            data.exports.remove(&(org, id));
        }
        Ok(())
    }

    async fn export_job(&self, org: OrgId, id: ExportId) -> StoreResult<Option<ExportJob>> {
        Ok(self
            .data()
            .exports
            .get(&(org, id))
            .map(|stored| stored.job.clone()))
    }

    async fn list_export_jobs(
        &self,
        org: OrgId,
        page: &PageRequest,
    ) -> StoreResult<Page<ExportJob>> {
        let data = self.data();
        let newest_first = data
            .exports
            .range((org, ExportId::MIN)..=(org, ExportId::MAX))
            .rev()
            .map(|((_, id), stored)| (id.to_string(), stored.job.clone()));
        page_of(
            &format!("exports/{org}"),
            newest_first,
            Order::NewestFirst,
            page,
        )
    }

    async fn claim_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
    ) -> StoreResult<ExportClaim> {
        let mut data = self.data();
        let Some(stored) = data.exports.get_mut(&(org, id)) else {
            return Ok(ExportClaim::Missing);
        };
        let claimable = match stored.job.status {
            ExportStatus::Queued => true,
            ExportStatus::Running => stored
                .lease_expires_at
                .is_some_and(|lease| lease < now.unix_timestamp()),
            ExportStatus::Completed | ExportStatus::Failed => false,
        };
        if claimable {
            stored.job.status = ExportStatus::Running;
            stored.claimed_at = Some(now);
            stored.lease_expires_at = Some(lease_until.unix_timestamp());
            stored.job.started_at.get_or_insert(now);
            stored.job.rows_written = 0;
            stored.job.bytes_written = 0;
            stored.job.attempts += 1;
            return Ok(ExportClaim::Claimed(Box::new(stored.job.clone())));
        }
        let ours = stored.claimed_at == Some(now);
        Ok(match stored.job.status {
            ExportStatus::Completed | ExportStatus::Failed => {
                ExportClaim::Finished(stored.job.status)
            }
            ExportStatus::Running if ours => ExportClaim::Claimed(Box::new(stored.job.clone())),
            ExportStatus::Queued | ExportStatus::Running => ExportClaim::Busy,
        })
    }

    async fn record_export_progress(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        totals: Totals,
    ) -> StoreResult<bool> {
        Ok(
            self.update_owned(org, id, attempt, ExportStatus::Running, |stored| {
                stored.job.rows_written = totals.rows;
                stored.job.bytes_written = totals.bytes;
            }),
        )
    }

    async fn complete_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        totals: Totals,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        Ok(
            self.update_owned(org, id, attempt, ExportStatus::Completed, |stored| {
                stored.job.status = ExportStatus::Completed;
                stored.job.rows_written = totals.rows;
                stored.job.bytes_written = totals.bytes;
                stored.job.finished_at = Some(at);
                stored.job.error = None;
                stored.lease_expires_at = None;
            }),
        )
    }

    async fn release_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        attempt: u32,
        error: &str,
    ) -> StoreResult<bool> {
        Ok(
            self.update_owned(org, id, attempt, ExportStatus::Queued, |stored| {
                stored.job.status = ExportStatus::Queued;
                stored.job.error = Some(error.to_owned());
                stored.lease_expires_at = None;
            }),
        )
    }

    async fn fail_export_job(
        &self,
        org: OrgId,
        id: ExportId,
        reason: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        let mut data = self.data();
        match data.exports.get_mut(&(org, id)) {
            Some(stored)
                if matches!(
                    stored.job.status,
                    ExportStatus::Queued | ExportStatus::Running
                ) =>
            {
                stored.job.status = ExportStatus::Failed;
                stored.job.error = Some(reason.to_owned());
                stored.job.finished_at = Some(at);
                stored.lease_expires_at = None;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}
