//! Export jobs: one attempt holds a job at a time (by its lease), only
//! that attempt moves it on, finished jobs stay finished, retries of a
//! call find their own write, and the quotas count what they should.

use time::Duration;

use super::{NOW, at, every_page, export_job};
use crate::{
    clock::ManualClock,
    domain::{
        ExportId, OrgId, UserId,
        export::{ExportJob, ExportStatus, Totals},
    },
    store::{ExportClaim, ExportJobStore, ExportUsage},
};

/// The claimed job, or why there is none.
fn claimed(claim: ExportClaim) -> ExportJob {
    match claim {
        ExportClaim::Claimed(job) => *job,
        other => panic!("not claimed: {other:?}"),
    }
}

/// A queued job of `org`, stored.
async fn queued(store: &impl ExportJobStore, org: OrgId, n: i64) -> ExportJob {
    let job = export_job(n);
    store.create_export_job(org, &job).await.unwrap();
    job
}

/// A claim makes the job `running` for one attempt until its lease ends
/// (past its last second): another delivery meanwhile finds it busy, the
/// same claim retried finds its own, and after the lease a new attempt
/// takes it over. Another org, or a missing job, has nothing to claim.
pub async fn an_export_is_claimed_by_one_attempt_at_a_time(
    store: &impl ExportJobStore,
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let job = queued(store, acme, 0).await;
    let first = claimed(
        store
            .claim_export_job(acme, job.id, at(10), at(70))
            .await
            .unwrap(),
    );
    let running = ExportJob {
        status: ExportStatus::Running,
        attempts: 1,
        started_at: Some(at(10)),
        ..job.clone()
    };
    assert_eq!(first, running);
    assert_eq!(
        store.export_job(acme, job.id).await.unwrap(),
        Some(running.clone())
    );

    let busy = store
        .claim_export_job(acme, job.id, at(20), at(80))
        .await
        .unwrap();
    assert_eq!(busy, ExportClaim::Busy);
    let retried = store
        .claim_export_job(acme, job.id, at(10), at(70))
        .await
        .unwrap();
    assert_eq!(retried, ExportClaim::Claimed(Box::new(running.clone())));
    let at_its_end = store
        .claim_export_job(acme, job.id, at(70), at(130))
        .await
        .unwrap();
    assert_eq!(at_its_end, ExportClaim::Busy);
    let next = claimed(
        store
            .claim_export_job(acme, job.id, at(71), at(131))
            .await
            .unwrap(),
    );
    assert_eq!((next.attempts, next.started_at), (2, Some(at(10))));

    let elsewhere = store.claim_export_job(OrgId::new(), job.id, at(200), at(260));
    assert_eq!(elsewhere.await.unwrap(), ExportClaim::Missing);
    let missing = store.claim_export_job(acme, ExportId::new(), at(200), at(260));
    assert_eq!(missing.await.unwrap(), ExportClaim::Missing);
}

/// Only the attempt that holds the job records progress and completes
/// it; completing again is that call's retry (true), and a completed job
/// is finished for every later call.
pub async fn only_the_attempt_holding_an_export_moves_it_on(
    store: &impl ExportJobStore,
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let job = queued(store, acme, 0).await;
    store
        .claim_export_job(acme, job.id, at(0), at(60))
        .await
        .unwrap();
    store
        .claim_export_job(acme, job.id, at(61), at(121))
        .await
        .unwrap();
    let (some, all) = (
        Totals {
            rows: 5,
            bytes: 100,
        },
        Totals {
            rows: 9,
            bytes: 180,
        },
    );

    assert!(
        !store
            .record_export_progress(acme, job.id, 1, some)
            .await
            .unwrap()
    );
    assert!(
        store
            .record_export_progress(acme, job.id, 2, some)
            .await
            .unwrap()
    );
    let stored = store.export_job(acme, job.id).await.unwrap().unwrap();
    assert_eq!((stored.rows_written, stored.bytes_written), (5, 100));
    assert!(
        !store
            .complete_export_job(acme, job.id, 1, all, at(90))
            .await
            .unwrap()
    );
    assert!(
        store
            .complete_export_job(acme, job.id, 2, all, at(90))
            .await
            .unwrap()
    );
    assert!(
        store
            .complete_export_job(acme, job.id, 2, all, at(90))
            .await
            .unwrap()
    );
    let done = store.export_job(acme, job.id).await.unwrap().unwrap();
    let expected = (ExportStatus::Completed, 9, 180, Some(at(90)), None);
    let got = (
        done.status,
        done.rows_written,
        done.bytes_written,
        done.finished_at,
        done.error.clone(),
    );
    assert_eq!(got, expected);

    assert!(
        !store
            .record_export_progress(acme, job.id, 2, some)
            .await
            .unwrap()
    );
    assert!(
        !store
            .release_export_job(acme, job.id, 2, "late")
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_export_job(acme, job.id, "late", at(100))
            .await
            .unwrap()
    );
    let again = store
        .claim_export_job(acme, job.id, at(200), at(260))
        .await
        .unwrap();
    assert_eq!(again, ExportClaim::Finished(ExportStatus::Completed));
    assert_eq!(store.export_job(acme, job.id).await.unwrap(), Some(done));
}

/// A released job is queued again, with why, for the next delivery to
/// claim at once (its lease is gone); the released attempt holds nothing.
pub async fn a_released_export_is_claimed_again(store: &impl ExportJobStore, _: &ManualClock) {
    let acme = OrgId::new();
    let job = queued(store, acme, 0).await;
    store
        .claim_export_job(acme, job.id, at(0), at(60))
        .await
        .unwrap();
    assert!(
        store
            .release_export_job(acme, job.id, 1, "S3 timed out")
            .await
            .unwrap()
    );
    assert!(
        store
            .release_export_job(acme, job.id, 1, "S3 timed out")
            .await
            .unwrap()
    );
    let released = store.export_job(acme, job.id).await.unwrap().unwrap();
    assert_eq!(released.status, ExportStatus::Queued);
    assert_eq!(released.error.as_deref(), Some("S3 timed out"));

    let next = claimed(
        store
            .claim_export_job(acme, job.id, at(5), at(65))
            .await
            .unwrap(),
    );
    assert_eq!((next.status, next.attempts), (ExportStatus::Running, 2));
    assert!(
        !store
            .release_export_job(acme, job.id, 1, "again")
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_export_progress(acme, job.id, 1, Totals::default())
            .await
            .unwrap()
    );
}

/// Failing ends a queued or running job for good, once.
pub async fn a_failed_export_stays_failed(store: &impl ExportJobStore, _: &ManualClock) {
    let acme = OrgId::new();
    let (waiting, running) = (queued(store, acme, 0).await, queued(store, acme, 1).await);
    store
        .claim_export_job(acme, running.id, at(0), at(60))
        .await
        .unwrap();
    for job in [&waiting, &running] {
        assert!(
            store
                .fail_export_job(acme, job.id, "too big", at(5))
                .await
                .unwrap()
        );
        assert!(
            !store
                .fail_export_job(acme, job.id, "again", at(6))
                .await
                .unwrap()
        );
        let failed = store.export_job(acme, job.id).await.unwrap().unwrap();
        let got = (failed.status, failed.error.as_deref(), failed.finished_at);
        assert_eq!(got, (ExportStatus::Failed, Some("too big"), Some(at(5))));
        let claim = store.claim_export_job(acme, job.id, at(100), at(160));
        assert_eq!(
            claim.await.unwrap(),
            ExportClaim::Finished(ExportStatus::Failed)
        );
    }
    assert!(
        !store
            .complete_export_job(acme, running.id, 1, Totals::default(), at(7))
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_export_job(acme, ExportId::new(), "none", at(8))
            .await
            .unwrap()
    );
    assert!(
        !store
            .fail_export_job(OrgId::new(), waiting.id, "none", at(8))
            .await
            .unwrap()
    );
}

/// The quotas at a time: jobs queued, or running on a live lease, are
/// active; jobs made since that UTC day began count toward the day's.
/// Jobs past their retention, and other orgs', count for nothing.
pub async fn export_quotas_count_live_jobs_and_todays(
    store: &impl ExportJobStore,
    _: &ManualClock,
) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let hour = 3600;
    // Today: queued; running (its lease live); running (its lease ended).
    queued(store, acme, -hour).await;
    let leased = queued(store, acme, -2 * hour).await;
    store
        .claim_export_job(acme, leased.id, at(-60), at(60))
        .await
        .unwrap();
    let lapsed = queued(store, acme, -3 * hour).await;
    store
        .claim_export_job(acme, lapsed.id, at(-120), at(-60))
        .await
        .unwrap();
    // Yesterday: completed; queued.
    let done = queued(store, acme, -13 * hour).await;
    store
        .claim_export_job(acme, done.id, at(-13 * hour), at(-12 * hour))
        .await
        .unwrap();
    let totals = Totals::default();
    store
        .complete_export_job(acme, done.id, 1, totals, at(-13 * hour))
        .await
        .unwrap();
    queued(store, acme, -20 * hour).await;
    // Older than a job is kept; another org's.
    queued(store, acme, -8 * 24 * hour).await;
    queued(store, globex, -hour).await;

    let usage = store.export_usage(acme, NOW).await.unwrap();
    assert_eq!(
        usage,
        ExportUsage {
            active: 3,
            today: 3
        }
    );
    let tomorrow = NOW + Duration::hours(12);
    let usage = store.export_usage(acme, tomorrow).await.unwrap();
    assert_eq!(
        usage,
        ExportUsage {
            active: 2,
            today: 0
        }
    );
}

/// Only a job still queued is deleted (one that never reached the
/// queue); a job a worker took is left to it, and so is another org's.
pub async fn only_a_queued_export_is_deleted(store: &impl ExportJobStore, _: &ManualClock) {
    let acme = OrgId::new();
    let (unsent, taken) = (queued(store, acme, 0).await, queued(store, acme, 1).await);
    store
        .claim_export_job(acme, taken.id, at(2), at(62))
        .await
        .unwrap();
    store
        .delete_queued_export_job(OrgId::new(), unsent.id)
        .await
        .unwrap();
    assert!(store.export_job(acme, unsent.id).await.unwrap().is_some());
    store
        .delete_queued_export_job(acme, unsent.id)
        .await
        .unwrap();
    store
        .delete_queued_export_job(acme, taken.id)
        .await
        .unwrap();
    store
        .delete_queued_export_job(acme, ExportId::new())
        .await
        .unwrap();
    assert_eq!(store.export_job(acme, unsent.id).await.unwrap(), None);
    assert!(store.export_job(acme, taken.id).await.unwrap().is_some());
}

/// An org's jobs, newest first, page by page; never another org's.
pub async fn export_jobs_are_listed_newest_first_per_org(
    store: &impl ExportJobStore,
    _: &ManualClock,
) {
    let acme = OrgId::new();
    let mut jobs = Vec::new();
    for n in 0..5 {
        jobs.insert(0, queued(store, acme, n).await);
    }
    queued(store, OrgId::new(), 2).await;
    let listed = every_page(2, |page| async move {
        store.list_export_jobs(acme, &page).await
    })
    .await;
    assert_eq!(listed, jobs);
}

/// Inline exports count per org, user and minute, up to the limit; one at
/// the limit writes nothing, and another user, org or minute starts at one.
pub async fn inline_exports_are_counted_per_user_and_minute(
    store: &impl ExportJobStore,
    _: &ManualClock,
) {
    let (org, other_org) = (OrgId::new(), OrgId::new());
    let (ada, bob) = (UserId::new(), UserId::new());
    for n in 1..=3 {
        assert_eq!(
            store.count_inline_export(org, ada, 100, 3).await.unwrap(),
            Some(n)
        );
    }
    assert_eq!(
        store.count_inline_export(org, ada, 100, 3).await.unwrap(),
        None
    );
    assert_eq!(
        store.count_inline_export(org, ada, 100, 3).await.unwrap(),
        None
    );
    assert_eq!(
        store.count_inline_export(org, bob, 100, 3).await.unwrap(),
        Some(1)
    );
    assert_eq!(
        store
            .count_inline_export(other_org, ada, 100, 3)
            .await
            .unwrap(),
        Some(1)
    );
    assert_eq!(
        store.count_inline_export(org, ada, 101, 3).await.unwrap(),
        Some(1)
    );
    // A higher limit later in the same minute counts on from what was kept.
    assert_eq!(
        store.count_inline_export(org, ada, 100, 4).await.unwrap(),
        Some(4)
    );
}

/// An org's export-worker slots: each held by one job at a time (a
/// redelivery of the holder takes its slot again), freed by their holder
/// or by the end of its lease, and counted per org.
pub async fn export_slots_are_held_one_job_each_until_freed(
    store: &impl ExportJobStore,
    _: &ManualClock,
) {
    let (acme, globex) = (OrgId::new(), OrgId::new());
    let [a, b, c, d] = [1, 2, 3, 4].map(|n| ExportId::at(at(n)));
    let lease = NOW + Duration::minutes(15);
    let take = |org, job, now| store.take_export_slot(org, job, 2, now, lease);
    let first = take(acme, a, NOW).await.unwrap().expect("a free slot");
    let second = take(acme, b, NOW).await.unwrap().expect("the other slot");
    assert_ne!(first, second);
    assert_eq!(take(acme, c, NOW).await.unwrap(), None, "both are held");
    assert_eq!(
        take(acme, a, NOW).await.unwrap(),
        Some(first),
        "a redelivery of the holder takes its own slot"
    );
    assert!(
        take(globex, c, NOW).await.unwrap().is_some(),
        "another org has slots of its own"
    );

    // Only the holder frees a slot.
    store.release_export_slot(acme, second, c).await.unwrap();
    assert_eq!(take(acme, c, NOW).await.unwrap(), None);
    store.release_export_slot(acme, second, b).await.unwrap();
    assert_eq!(take(acme, c, NOW).await.unwrap(), Some(second));

    // A holder that died frees its slot when its lease ends.
    assert_eq!(take(acme, d, lease).await.unwrap(), None, "not before");
    let later = lease + Duration::seconds(1);
    assert!(take(acme, d, later).await.unwrap().is_some());
}
