//! What the export worker does with one queue message: claim the job, stream
//! its rows into the job's S3 object, and finish the job, exactly once.
//!
//! - Duplicate deliveries: the claim is a conditional update, so a finished
//!   job is left alone and a running one (lease still valid) is retried later.
//! - Retries: each attempt starts over and overwrites the same object key;
//!   a failed attempt aborts its multipart upload and puts the job back to
//!   `queued` with the reason, and the message is reported failed so SQS
//!   redelivers it. On the last delivery the queue allows, the job is marked
//!   `failed` instead, and the message goes on to the dead-letter queue.
//! - A body that is not an export message fails every delivery, so it ends in
//!   the dead-letter queue without touching any job.
//! - Time: an attempt stops [`STOP_MARGIN`] before the invocation's
//!   deadline, aborts its upload and re-queues (or fails) its job like any
//!   failed attempt, so a timeout never leaves a job `running`.
//! - Fairness: an org runs at most [`SLOTS_PER_ORG`] exports at once,
//!   fewer than the workers (the template reserves 5), so one org never
//!   holds every worker. A job of an org that holds all its slots goes
//!   back on the queue for [`DEFER_DELAY`] (a new message: waiting is not
//!   an attempt) and its worker takes the next message. The queue itself
//!   is fair too: messages are grouped by org (`crate::adapters::sqs`).

use std::{sync::Arc, time::Duration};

use tokio::time::Instant;

use async_trait::async_trait;
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};

use super::{
    ExportError, ExportFiles, ExportReader, PART_BYTES, Progress, StoreRowSource,
    queue::ExportQueue, stream_export,
};
use crate::{
    clock::{self, SharedClock},
    domain::{
        ExportId, OrgId,
        export::{ExportJob, ExportMessage, Totals},
    },
    sqs_batch::{QueuedMessage, process_batch},
    store::{ExportClaim, ExportJobStore, StoreError},
};

/// How long a claim holds a job: the worker's longest run (the Lambda
/// timeout). A job whose worker died is claimable again after it; the
/// queue's visibility timeout (6x) is longer, so the redelivery finds it so.
pub const JOB_LEASE: Duration = crate::aws::lambda_timeout::EXPORT_WORKER;
/// How long before its deadline an attempt stops: time to abort the upload
/// and put the job back (a few requests) before Lambda ends the invocation.
pub const STOP_MARGIN: Duration = Duration::from_secs(20);
/// Exports one org may run at once: fewer than the worker's reserved
/// concurrency (`tests/drift` checks the template), so other orgs always
/// find a worker.
pub const SLOTS_PER_ORG: u8 = 2;
/// How long a job waits, back on the queue, when its org runs
/// [`SLOTS_PER_ORG`] exports already.
pub const DEFER_DELAY: Duration = Duration::from_secs(60);

/// Why a message was not processed; SQS will redeliver it.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("not an export message: {0}")]
    Malformed(String),
    #[error("another attempt is running export {0}")]
    Busy(ExportId),
    #[error("could not put export {job} back on the queue: {source}")]
    Defer {
        job: ExportId,
        #[source]
        source: ExportError,
    },
    #[error("export {job} attempt {attempt} failed: {source}")]
    Attempt {
        job: ExportId,
        attempt: u32,
        #[source]
        source: ExportError,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The export worker's state, built once per container.
#[derive(Clone)]
pub struct ExportWorker {
    jobs: Arc<dyn ExportJobStore>,
    reader: ExportReader,
    files: Arc<dyn ExportFiles>,
    /// Where a job waits while its org runs its share of the workers.
    queue: Arc<dyn ExportQueue>,
    /// The queue's `maxReceiveCount`: the delivery that may mark a job failed.
    max_receives: u32,
    /// The time of slots and claims, their leases and the jobs' end stamps
    /// (the quotas count running jobs by their lease).
    clock: SharedClock,
}

impl ExportWorker {
    /// On the system clock.
    pub fn new(
        jobs: Arc<dyn ExportJobStore>,
        reader: ExportReader,
        files: impl ExportFiles + 'static,
        queue: Arc<dyn ExportQueue>,
        max_receives: u32,
    ) -> Self {
        Self {
            jobs,
            reader,
            files: Arc::new(files),
            queue,
            max_receives,
            clock: clock::system(),
        }
    }

    /// The same worker on `clock` (tests: the API's clock, which stamps the jobs).
    pub fn with_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// A batch from the export queue, as the local server delivers it: with
    /// as long as a Lambda invocation would have ([`JOB_LEASE`]).
    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        self.handle_until(event, Instant::now() + JOB_LEASE).await
    }

    /// A batch from the export queue that must be done by `deadline` (the
    /// Lambda invocation's).
    pub async fn handle_until(&self, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
        process_batch(event, |message| self.process(message, deadline)).await
    }

    /// One queue message, to be done by `deadline`.
    pub async fn process(
        &self,
        message: QueuedMessage,
        deadline: Instant,
    ) -> Result<(), WorkerError> {
        let export: ExportMessage = serde_json::from_str(&message.body)
            .map_err(|e| WorkerError::Malformed(e.to_string()))?;
        let ExportMessage { org_id, job_id } = export;
        tracing::Span::current().record("org_id", tracing::field::display(org_id));
        let now = self.clock.now();
        let Some(slot) = self
            .jobs
            .take_export_slot(org_id, job_id, SLOTS_PER_ORG, now, now + JOB_LEASE)
            .await?
        else {
            self.queue
                .enqueue_after(&export, DEFER_DELAY)
                .await
                .map_err(|source| WorkerError::Defer {
                    job: job_id,
                    source,
                })?;
            tracing::info!(%job_id, slots = SLOTS_PER_ORG, delay_s = DEFER_DELAY.as_secs(), "export deferred: the org runs its share of the workers");
            return Ok(());
        };
        let outcome = self.claim_and_run(org_id, job_id, &message, deadline).await;
        if let Err(error) = self.jobs.release_export_slot(org_id, slot, job_id).await {
            tracing::warn!(%job_id, slot, error = %crate::sdk_error::error_chain(&error), "could not free the export slot: it frees itself when its lease ends");
        }
        outcome
    }

    /// Claims the job and runs the attempt, holding one of the org's slots.
    async fn claim_and_run(
        &self,
        org_id: OrgId,
        job_id: ExportId,
        message: &QueuedMessage,
        deadline: Instant,
    ) -> Result<(), WorkerError> {
        let now = self.clock.now();
        let job = match self
            .jobs
            .claim_export_job(org_id, job_id, now, now + JOB_LEASE)
            .await?
        {
            ExportClaim::Claimed(job) => job,
            ExportClaim::Finished(status) => {
                tracing::info!(%job_id, status = status.as_str(), "duplicate delivery of a finished export");
                return Ok(());
            }
            ExportClaim::Busy => return Err(WorkerError::Busy(job_id)),
            ExportClaim::Missing => {
                // Its creation was rolled back (the API could not confirm the
                // enqueue): nothing to do, and retrying would not change that.
                tracing::warn!(%job_id, "message for an export that does not exist");
                return Ok(());
            }
        };
        let attempt = job.attempts;
        tracing::info!(%job_id, attempt, format = job.format.as_str(), "export started");
        match self.run(org_id, &job, deadline).await {
            Ok(totals) => {
                let completed = self
                    .jobs
                    .complete_export_job(org_id, job_id, attempt, totals, self.clock.now())
                    .await?;
                if completed {
                    tracing::info!(%job_id, rows = totals.rows, bytes = totals.bytes, "export completed");
                } else {
                    tracing::warn!(%job_id, "a later attempt took the export over; it finishes it");
                }
                Ok(())
            }
            Err(error) => {
                self.after_failure(org_id, job_id, attempt, &error, message.receive_count)
                    .await?;
                Err(WorkerError::Attempt {
                    job: job_id,
                    attempt,
                    source: error,
                })
            }
        }
    }

    /// Streams the job's file, stopping [`STOP_MARGIN`] before `deadline`
    /// (the upload is then aborted, as after any failure).
    async fn run(
        &self,
        org: OrgId,
        job: &ExportJob,
        deadline: Instant,
    ) -> Result<Totals, ExportError> {
        let mut source = StoreRowSource::new(self.reader.clone(), org, job.filters.clone());
        let mut format = job.format.writer();
        let mut sink = self
            .files
            .sink(job.object_key(org), job.format.content_type());
        let progress = JobProgress {
            jobs: self.jobs.as_ref(),
            org,
            job: job.id,
            attempt: job.attempts,
        };
        let stop_at = deadline
            .checked_sub(STOP_MARGIN)
            .unwrap_or_else(Instant::now);
        let streamed = tokio::time::timeout_at(
            stop_at,
            stream_export(&mut source, &mut *format, &mut *sink, PART_BYTES, &progress),
        )
        .await;
        match streamed {
            Ok(result) => result,
            Err(_) => {
                // The pipeline was stopped mid-part: drop what it uploaded.
                sink.abort().await;
                Err(ExportError::TimedOut)
            }
        }
    }

    /// Puts the job back for the next delivery, or fails it on the last one.
    async fn after_failure(
        &self,
        org: OrgId,
        job: ExportId,
        attempt: u32,
        error: &ExportError,
        receive_count: u32,
    ) -> Result<(), StoreError> {
        let reason = error.public_reason();
        if receive_count >= self.max_receives {
            let reason = format!("{reason} (gave up after {receive_count} attempts)");
            self.jobs
                .fail_export_job(org, job, &reason, self.clock.now())
                .await?;
            tracing::error!(%job, error = %error, "export failed for good");
        } else {
            let reason = format!("{reason}; retrying");
            self.jobs
                .release_export_job(org, job, attempt, &reason)
                .await?;
        }
        Ok(())
    }
}

/// Records a job's progress after each uploaded part, and stops the attempt
/// if another one has taken the job over.
struct JobProgress<'a> {
    jobs: &'a dyn ExportJobStore,
    org: OrgId,
    job: ExportId,
    attempt: u32,
}

#[async_trait]
impl Progress for JobProgress<'_> {
    async fn part_written(&self, totals: Totals) -> Result<(), ExportError> {
        if self
            .jobs
            .record_export_progress(self.org, self.job, self.attempt, totals)
            .await?
        {
            Ok(())
        } else {
            Err(ExportError::Superseded)
        }
    }
}
