//! Starting an export: the org's quotas, the job, and its queue message.
//!
//! The quotas are checked twice. Before the job is written, so a request
//! over them writes nothing; and again after, counting with the new job in
//! place (a consistent read), because requests at the same moment may all
//! have passed the first check. A job that went over is taken back: of
//! racing requests, none that counted the others passes, so the quota
//! holds; at worst all of them are refused and retry. A job whose queue
//! message could not be sent is taken back too, or it would stay queued
//! forever.

use std::sync::Arc;

use time::OffsetDateTime;

use super::{ExportError, queue::ExportQueue};
use crate::{
    clock::{self, SharedClock},
    domain::{
        OrgId,
        export::{ExportJob, ExportMessage},
        limits::OrgLimits,
    },
    sdk_error::error_chain,
    store::{ExportJobStore, StoreError},
};

/// Which of the org's export quotas a new export would go over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ExportQuotaExceeded {
    /// The org has its limit of exports queued or running.
    #[error(
        "the org already has {active} exports queued or running, its limit of {limit}; wait for one to finish"
    )]
    Running { active: u64, limit: u64 },
    /// The org has started its limit of exports this UTC day.
    #[error("the org has started {today} exports today (UTC), its daily limit of {limit}")]
    Daily {
        today: u64,
        limit: u64,
        /// Seconds until the next UTC midnight (at least 1).
        retry_after_secs: u64,
    },
}

impl ExportQuotaExceeded {
    /// How long the caller should wait before asking again.
    pub fn retry_after_secs(&self) -> u64 {
        match self {
            Self::Running { .. } => 30,
            Self::Daily {
                retry_after_secs, ..
            } => *retry_after_secs,
        }
    }
}

/// Why an export did not start. Nothing of it is left behind.
#[derive(Debug, thiserror::Error)]
pub enum StartExportError {
    #[error(transparent)]
    Quota(#[from] ExportQuotaExceeded),
    /// The job could not be queued (the cause was logged); it was taken back.
    #[error("the export queue failed")]
    Queue(#[source] ExportError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The export-starting use case, built once per container: the job
/// store, the export queue and the clock the quotas' day is read from.
#[derive(Clone)]
pub struct ExportStarter {
    jobs: Arc<dyn ExportJobStore>,
    queue: Arc<dyn ExportQueue>,
    clock: SharedClock,
}

impl ExportStarter {
    /// On the system clock.
    pub fn new(jobs: Arc<dyn ExportJobStore>, queue: Arc<dyn ExportQueue>) -> Self {
        Self::with_clock(jobs, queue, clock::system())
    }

    pub fn with_clock(
        jobs: Arc<dyn ExportJobStore>,
        queue: Arc<dyn ExportQueue>,
        clock: SharedClock,
    ) -> Self {
        Self { jobs, queue, clock }
    }

    /// Stores `job` (new, `queued`) for `org` and queues it, within the
    /// org's `limits`; on any refusal or failure after the write, the job
    /// is deleted again (see the module's doc).
    pub async fn start(
        &self,
        org: OrgId,
        limits: &OrgLimits,
        job: &ExportJob,
    ) -> Result<(), StartExportError> {
        // Refuses over the quota without writing anything.
        self.check_quotas(org, limits, 0).await?;
        self.jobs.create_export_job(org, job).await?;
        if let Err(over) = self.check_quotas(org, limits, 1).await {
            self.jobs.delete_queued_export_job(org, job.id).await?;
            return Err(over);
        }
        let message = ExportMessage {
            org_id: org,
            job_id: job.id,
        };
        if let Err(error) = self.queue.enqueue(&message).await {
            tracing::error!(error = %error_chain(&error), export_id = %job.id, "could not queue an export");
            self.jobs.delete_queued_export_job(org, job.id).await?;
            return Err(StartExportError::Queue(error));
        }
        tracing::info!(export_id = %job.id, format = job.format.as_str(), "export queued");
        Ok(())
    }

    /// Refuses a new job over the org's quotas: at most `concurrent_exports`
    /// queued or running, at most `exports_per_day` started per UTC day.
    /// `own` is how many of the counted jobs are the new one itself (0 before
    /// it is written, 1 after).
    async fn check_quotas(
        &self,
        org: OrgId,
        limits: &OrgLimits,
        own: u64,
    ) -> Result<(), StartExportError> {
        let now = self.clock.now();
        let mut usage = self.jobs.export_usage(org, now).await?;
        usage.active = usage.active.saturating_sub(own);
        usage.today = usage.today.saturating_sub(own);
        let concurrent = limits.concurrent_exports();
        if usage.active >= concurrent {
            return Err(ExportQuotaExceeded::Running {
                active: usage.active,
                limit: concurrent,
            }
            .into());
        }
        let per_day = limits.exports_per_day();
        if usage.today >= per_day {
            return Err(ExportQuotaExceeded::Daily {
                today: usage.today,
                limit: per_day,
                retry_after_secs: until_midnight(now),
            }
            .into());
        }
        Ok(())
    }
}

/// Whole seconds from `now` to the next UTC midnight, at least 1.
fn until_midnight(now: OffsetDateTime) -> u64 {
    let midnight = (now + time::Duration::days(1)).replace_time(time::Time::MIDNIGHT);
    (midnight - now).whole_seconds().max(1) as u64
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use time::{Duration, macros::datetime};

    use super::*;
    use crate::{
        clock::ManualClock,
        domain::{
            ExportId, UserId,
            export::{ExportFilters, ExportFormat, ExportStatus},
            limits::{ConcurrentExports, ExportsPerDay},
        },
        store::{ExportClaim, ExportUsage, MemoryStore, Page, PageRequest, StoreResult},
    };

    const NOW: OffsetDateTime = datetime!(2026-03-10 18:00 UTC);

    /// A queue that keeps what it is sent, or fails every send.
    #[derive(Default)]
    struct TestQueue {
        sent: Mutex<Vec<ExportMessage>>,
        down: bool,
    }

    #[async_trait]
    impl ExportQueue for TestQueue {
        async fn enqueue_after(
            &self,
            message: &ExportMessage,
            delay: std::time::Duration,
        ) -> Result<(), ExportError> {
            assert!(delay.is_zero(), "a new job is for delivery at once");
            if self.down {
                return Err(ExportError::Queue("connection reset".into()));
            }
            self.sent.lock().unwrap().push(*message);
            Ok(())
        }
    }

    /// A job created at `at`, as a request at that time makes it.
    fn job_at(at: OffsetDateTime) -> ExportJob {
        ExportJob::new(
            ExportFormat::Csv,
            ExportFilters::default(),
            UserId::new(),
            at,
        )
    }

    fn limits(concurrent: u64, per_day: u64) -> OrgLimits {
        OrgLimits {
            concurrent_exports: Some(ConcurrentExports::parse(concurrent.into()).unwrap()),
            exports_per_day: Some(ExportsPerDay::parse(per_day.into()).unwrap()),
            ..OrgLimits::default()
        }
    }

    struct Setup {
        store: Arc<MemoryStore>,
        queue: Arc<TestQueue>,
        org: OrgId,
    }

    impl Setup {
        fn new(queue: TestQueue) -> Self {
            Self {
                store: Arc::new(MemoryStore::new()),
                queue: Arc::new(queue),
                org: OrgId::new(),
            }
        }

        fn starter_on(&self, jobs: Arc<dyn ExportJobStore>) -> ExportStarter {
            ExportStarter::with_clock(jobs, self.queue.clone(), ManualClock::shared(NOW))
        }

        fn starter(&self) -> ExportStarter {
            self.starter_on(self.store.clone())
        }

        async fn jobs(&self) -> Vec<ExportJob> {
            self.store
                .list_export_jobs(self.org, &PageRequest::default())
                .await
                .unwrap()
                .items
        }
    }

    #[tokio::test]
    async fn a_started_export_is_stored_queued_and_announced() {
        let setup = Setup::new(TestQueue::default());
        let job = job_at(NOW);
        setup
            .starter()
            .start(setup.org, &OrgLimits::default(), &job)
            .await
            .unwrap();
        let stored = setup.jobs().await;
        assert_eq!(stored.len(), 1);
        assert_eq!(
            (stored[0].id, stored[0].status),
            (job.id, ExportStatus::Queued)
        );
        let sent = setup.queue.sent.lock().unwrap().clone();
        assert_eq!(sent.len(), 1);
        assert_eq!((sent[0].org_id, sent[0].job_id), (setup.org, job.id));
    }

    #[tokio::test]
    async fn an_org_at_its_running_limit_is_refused_and_nothing_is_written() {
        let setup = Setup::new(TestQueue::default());
        let starter = setup.starter();
        for minutes in [1, 2] {
            let job = job_at(NOW - Duration::minutes(minutes));
            starter
                .start(setup.org, &limits(2, 20), &job)
                .await
                .unwrap();
        }
        let refused = starter
            .start(setup.org, &limits(2, 20), &job_at(NOW))
            .await
            .unwrap_err();
        let StartExportError::Quota(quota) = refused else {
            panic!("{refused:?}");
        };
        assert_eq!(
            quota,
            ExportQuotaExceeded::Running {
                active: 2,
                limit: 2
            }
        );
        assert_eq!(quota.retry_after_secs(), 30);
        assert_eq!(setup.jobs().await.len(), 2);
        assert_eq!(setup.queue.sent.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn finished_jobs_free_the_running_limit_but_count_for_the_day() {
        let setup = Setup::new(TestQueue::default());
        let starter = setup.starter();
        let earlier = job_at(NOW - Duration::hours(1));
        starter
            .start(setup.org, &limits(1, 2), &earlier)
            .await
            .unwrap();
        setup
            .store
            .fail_export_job(setup.org, earlier.id, "test", NOW)
            .await
            .unwrap();
        starter
            .start(setup.org, &limits(1, 2), &job_at(NOW))
            .await
            .unwrap();
        setup
            .store
            .fail_export_job(setup.org, setup.jobs().await[0].id, "test", NOW)
            .await
            .unwrap();
        let refused = starter
            .start(setup.org, &limits(1, 2), &job_at(NOW))
            .await
            .unwrap_err();
        let StartExportError::Quota(quota) = refused else {
            panic!("{refused:?}");
        };
        // 18:00 UTC: six hours to the day's end.
        assert_eq!(
            quota,
            ExportQuotaExceeded::Daily {
                today: 2,
                limit: 2,
                retry_after_secs: 6 * 3600
            }
        );
    }

    #[tokio::test]
    async fn yesterdays_exports_do_not_count_for_today() {
        let setup = Setup::new(TestQueue::default());
        let starter = setup.starter();
        let yesterday = job_at(NOW - Duration::days(1));
        setup
            .store
            .create_export_job(setup.org, &yesterday)
            .await
            .unwrap();
        setup
            .store
            .fail_export_job(setup.org, yesterday.id, "test", NOW)
            .await
            .unwrap();
        starter
            .start(setup.org, &limits(2, 1), &job_at(NOW))
            .await
            .unwrap();
    }

    /// A job store where another request writes its job while this one
    /// writes its own: both passed the first count.
    struct Racing {
        store: Arc<MemoryStore>,
        rival: ExportJob,
    }

    #[async_trait]
    impl ExportJobStore for Racing {
        async fn count_inline_export(
            &self,
            org: OrgId,
            user: crate::domain::UserId,
            minute: u64,
            limit: u32,
        ) -> StoreResult<Option<u32>> {
            self.store
                .count_inline_export(org, user, minute, limit)
                .await
        }
        async fn create_export_job(&self, org: OrgId, job: &ExportJob) -> StoreResult<()> {
            self.store.create_export_job(org, &self.rival).await?;
            self.store.create_export_job(org, job).await
        }
        async fn export_usage(&self, org: OrgId, now: OffsetDateTime) -> StoreResult<ExportUsage> {
            self.store.export_usage(org, now).await
        }
        async fn delete_queued_export_job(&self, org: OrgId, id: ExportId) -> StoreResult<()> {
            self.store.delete_queued_export_job(org, id).await
        }
        async fn export_job(&self, org: OrgId, id: ExportId) -> StoreResult<Option<ExportJob>> {
            self.store.export_job(org, id).await
        }
        async fn list_export_jobs(
            &self,
            org: OrgId,
            page: &PageRequest,
        ) -> StoreResult<Page<ExportJob>> {
            self.store.list_export_jobs(org, page).await
        }
        async fn claim_export_job(
            &self,
            _: OrgId,
            _: ExportId,
            _: OffsetDateTime,
            _: OffsetDateTime,
        ) -> StoreResult<ExportClaim> {
            unreachable!("starting an export claims nothing")
        }
        async fn take_export_slot(
            &self,
            _: OrgId,
            _: ExportId,
            _: u8,
            _: OffsetDateTime,
            _: OffsetDateTime,
        ) -> StoreResult<Option<u8>> {
            unreachable!("starting an export takes no worker slot")
        }
        async fn release_export_slot(&self, _: OrgId, _: u8, _: ExportId) -> StoreResult<()> {
            unreachable!("starting an export takes no worker slot")
        }
        async fn record_export_progress(
            &self,
            _: OrgId,
            _: ExportId,
            _: u32,
            _: crate::domain::export::Totals,
        ) -> StoreResult<bool> {
            unreachable!("starting an export records no progress")
        }
        async fn complete_export_job(
            &self,
            _: OrgId,
            _: ExportId,
            _: u32,
            _: crate::domain::export::Totals,
            _: OffsetDateTime,
        ) -> StoreResult<bool> {
            unreachable!("starting an export completes nothing")
        }
        async fn release_export_job(
            &self,
            _: OrgId,
            _: ExportId,
            _: u32,
            _: &str,
        ) -> StoreResult<bool> {
            unreachable!("starting an export releases nothing")
        }
        async fn fail_export_job(
            &self,
            _: OrgId,
            _: ExportId,
            _: &str,
            _: OffsetDateTime,
        ) -> StoreResult<bool> {
            unreachable!("starting an export fails nothing")
        }
    }

    #[tokio::test]
    async fn a_job_that_a_racing_request_pushed_over_the_limit_is_taken_back() {
        let setup = Setup::new(TestQueue::default());
        let rival = job_at(NOW - Duration::seconds(1));
        let racing = Arc::new(Racing {
            store: setup.store.clone(),
            rival: rival.clone(),
        });
        let refused = setup
            .starter_on(racing)
            .start(setup.org, &limits(1, 20), &job_at(NOW))
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused,
                StartExportError::Quota(ExportQuotaExceeded::Running {
                    active: 1,
                    limit: 1
                })
            ),
            "{refused:?}"
        );
        let left: Vec<ExportId> = setup.jobs().await.iter().map(|job| job.id).collect();
        assert_eq!(left, [rival.id], "only the rival's job stays");
        assert!(setup.queue.sent.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_job_that_could_not_be_queued_is_taken_back() {
        let setup = Setup::new(TestQueue {
            down: true,
            ..TestQueue::default()
        });
        let failed = setup
            .starter()
            .start(setup.org, &OrgLimits::default(), &job_at(NOW))
            .await
            .unwrap_err();
        assert!(matches!(failed, StartExportError::Queue(_)), "{failed:?}");
        assert!(setup.jobs().await.is_empty(), "no job stays queued forever");
    }
}
