//! Rate limiting of ingest, per org and per key, without a write per
//! request.
//!
//! Each container keeps a [`Meter`] per org and per key: a token bucket
//! (exact for the traffic this container sees) and its share of a shared
//! per-window count. Once an org has [`RateLimit::report_every`] units this
//! container has not reported (1% of the org's window quota, at least
//! [`REPORT_EVERY`](crate::domain::limits::REPORT_EVERY) = 20), the next request adds them to the org's usage
//! item for the current window (one `UpdateItem` for the org and its keys)
//! and reads back the totals, which close the window for this container
//! once they reach the quota. So limiting costs at most one write unit per
//! 20 units logged (0.05 per message; 1/60 at the default org rate), and
//! nothing when a report is not due.
//!
//! How exact: one container never admits more than the rate and burst.
//! Across containers the shared count lags by what each container has not
//! reported yet (under 1% of the quota, or 20 units, each) plus reports in
//! flight, so with `n` busy containers an org can exceed its window quota
//! by about `n`% (at least `20 n` units) per 10-second window before every
//! container sees the window closed; it is then refused until the window
//! ends. A key's own count rides on its org's reports, so it lags the same
//! way.

use std::{
    collections::HashMap,
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::Duration,
};

use lru::LruCache;

use crate::{
    cache::TtlCache,
    domain::{
        ApiKeyId, OrgId,
        limits::{Meter, OrgLimits, RateLimit, Verdict, window_of},
    },
    store::{OrgStore, StoreError, UsageStore},
};

/// How long a container uses an org's limits before reading them again:
/// the longest a changed limit takes to apply.
pub const ORG_LIMITS_TTL: Duration = Duration::from_secs(60);
/// Orgs whose meters and limits a container keeps (least recently used go).
const ORGS_TRACKED: usize = 4096;

/// Which limit a verdict is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Org,
    Key,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Org => "org",
            Self::Key => "key",
        }
    }
}

/// Who is logging: the key's org, the key, and the key's own rate (if any).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    pub org: OrgId,
    pub key: ApiKeyId,
    pub key_rate: Option<RateLimit>,
}

/// The limits that apply to a caller, and where the tightest one stands:
/// what the `RateLimit-Policy` and `RateLimit` headers say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateStatus {
    pub policies: Vec<(Scope, RateLimit)>,
    /// The limit closest to refusing.
    pub scope: Scope,
    pub remaining: u64,
    pub reset_secs: u64,
}

/// Over a limit: nothing may be written; retry after `retry_after_secs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimited {
    pub scope: Scope,
    pub retry_after_secs: u64,
    pub policies: Vec<(Scope, RateLimit)>,
}

#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    #[error("over the {} rate limit", .0.scope.as_str())]
    Limited(RateLimited),
    /// The org's limits could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

struct OrgMeters {
    org: Meter,
    keys: HashMap<ApiKeyId, Meter>,
}

type Clock = Arc<dyn Fn() -> f64 + Send + Sync>;

/// The rate limiter, built once per container.
#[derive(Clone)]
pub struct RateLimiter {
    usage: Arc<dyn UsageStore>,
    orgs: Arc<dyn OrgStore>,
    org_limits: Arc<TtlCache<OrgId, OrgLimits>>,
    meters: Arc<Mutex<LruCache<OrgId, OrgMeters>>>,
    clock: Clock,
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

impl RateLimiter {
    pub fn new<S: UsageStore + OrgStore + 'static>(store: Arc<S>) -> Self {
        Self::with_clock(store, Arc::new(unix_now))
    }

    /// With another clock (Unix seconds): for tests.
    pub fn with_clock<S: UsageStore + OrgStore + 'static>(store: Arc<S>, clock: Clock) -> Self {
        Self {
            usage: store.clone(),
            orgs: store,
            org_limits: Arc::new(TtlCache::new(ORG_LIMITS_TTL, ORGS_TRACKED)),
            meters: Arc::new(Mutex::new(LruCache::new(
                NonZeroUsize::new(ORGS_TRACKED).expect("not zero"),
            ))),
            clock,
        }
    }

    /// The org's limits, read at most once per [`ORG_LIMITS_TTL`].
    pub async fn org_limits(&self, org: OrgId) -> Result<OrgLimits, StoreError> {
        if let Some(limits) = self.org_limits.get(&org) {
            return Ok(limits);
        }
        // An org that is gone has no keys either; defaults are harmless.
        let limits = self
            .orgs
            .org(org)
            .await?
            .map(|org| org.limits)
            .unwrap_or_default();
        self.org_limits.insert(org, limits);
        Ok(limits)
    }

    fn meters(&self) -> std::sync::MutexGuard<'_, LruCache<OrgId, OrgMeters>> {
        self.meters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits `units` for `caller`, or refuses them all. Reports the org's
    /// unreported units first when a report is due.
    pub async fn admit(&self, caller: &Caller, units: u64) -> Result<RateStatus, AdmitError> {
        let org_rate = self.org_limits(caller.org).await?.rate();
        self.report_if_due(caller.org, org_rate.report_every())
            .await;
        let now = (self.clock)();
        let mut policies = vec![(Scope::Org, org_rate)];
        policies.extend(caller.key_rate.map(|rate| (Scope::Key, rate)));

        let mut all = self.meters();
        let meters = all.get_or_insert_mut(caller.org, || OrgMeters {
            org: Meter::new(&org_rate, now),
            keys: HashMap::new(),
        });
        let mut verdicts = vec![(Scope::Org, meters.org.check(&org_rate, units, now))];
        if let Some(rate) = caller.key_rate {
            let meter = meters
                .keys
                .entry(caller.key)
                .or_insert_with(|| Meter::new(&rate, now));
            verdicts.push((Scope::Key, meter.check(&rate, units, now)));
        }
        // The longest wait, if any limit refuses; else the tightest limit.
        let refused = verdicts
            .iter()
            .filter_map(|(scope, verdict)| match verdict {
                Verdict::Denied { retry_after_secs } => Some((*scope, *retry_after_secs)),
                Verdict::Allowed { .. } => None,
            })
            .max_by_key(|(_, wait)| *wait);
        if let Some((scope, retry_after_secs)) = refused {
            return Err(AdmitError::Limited(RateLimited {
                scope,
                retry_after_secs,
                policies,
            }));
        }
        meters.org.take(units);
        if caller.key_rate.is_some()
            && let Some(meter) = meters.keys.get_mut(&caller.key)
        {
            meter.take(units);
        }
        let (scope, remaining, reset_secs) = verdicts
            .iter()
            .filter_map(|(scope, verdict)| match verdict {
                Verdict::Allowed {
                    remaining,
                    reset_secs,
                } => Some((*scope, *remaining, *reset_secs)),
                Verdict::Denied { .. } => None,
            })
            .min_by_key(|(_, remaining, _)| *remaining)
            .expect("the org's verdict is always there");
        Ok(RateStatus {
            policies,
            scope,
            remaining,
            reset_secs,
        })
    }

    /// Adds this container's unreported units to the shared count once the
    /// org has `due` of them. A failed report only delays the count (its
    /// units are kept for the next one); limiting never fails a request.
    async fn report_if_due(&self, org: OrgId, due: u64) {
        let (org_units, key_units) = {
            let mut all = self.meters();
            let Some(meters) = all.get_mut(&org) else {
                return;
            };
            if meters.org.unreported() < due {
                return;
            }
            let key_units: Vec<(ApiKeyId, u64)> = meters
                .keys
                .iter_mut()
                .map(|(key, meter)| (*key, meter.start_report()))
                .filter(|(_, units)| *units > 0)
                .collect();
            (meters.org.start_report(), key_units)
        };
        let window = window_of((self.clock)());
        let reported = self
            .usage
            .add_usage(org, window, org_units, &key_units)
            .await;
        let mut all = self.meters();
        let Some(meters) = all.get_mut(&org) else {
            return;
        };
        match reported {
            Ok(totals) => {
                meters.org.reported(window, totals.org);
                for (key, total) in totals.keys {
                    if let Some(meter) = meters.keys.get_mut(&key) {
                        meter.reported(window, total);
                    }
                }
            }
            Err(error) => {
                tracing::warn!(error = %crate::sdk_error::error_chain(&error), "could not report usage; limiting on this container's count for now");
                meters.org.report_failed(org_units);
                for (key, units) in key_units {
                    if let Some(meter) = meters.keys.get_mut(&key) {
                        meter.report_failed(units);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;
    use crate::{
        domain::{
            Org, OrgName, Slug,
            limits::{REPORT_EVERY, WINDOW_SECS},
        },
        store::{MemoryStore, OrgChanges},
    };

    /// A clock the test moves, in milliseconds from the start of a window.
    struct TestClock(AtomicU64);

    impl TestClock {
        fn at(&self) -> f64 {
            1_800_000_000.0 + self.0.load(Ordering::SeqCst) as f64 / 1000.0
        }
        fn advance(&self, millis: u64) {
            self.0.fetch_add(millis, Ordering::SeqCst);
        }
    }

    async fn org(store: &MemoryStore, rate: RateLimit) -> OrgId {
        let org = Org::new(
            Slug::parse("acme").unwrap(),
            OrgName::parse("Acme").unwrap(),
        );
        store.create_org(&org).await.unwrap();
        let changes = OrgChanges {
            limits: Some(OrgLimits {
                rate_limit: Some(rate),
                ..OrgLimits::default()
            }),
            ..OrgChanges::default()
        };
        store.update_org(org.id, &changes).await.unwrap();
        org.id
    }

    fn limiter(store: &Arc<MemoryStore>, clock: &Arc<TestClock>) -> RateLimiter {
        let clock = clock.clone();
        RateLimiter::with_clock(store.clone(), Arc::new(move || clock.at()))
    }

    #[tokio::test]
    async fn the_org_and_the_key_limit_and_say_which() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(TestClock(AtomicU64::new(0)));
        let org = org(&store, RateLimit::new(100, Some(100))).await;
        let limiter = limiter(&store, &clock);
        let caller = Caller {
            org,
            key: ApiKeyId::new(),
            key_rate: Some(RateLimit::new(1, Some(5))),
        };
        let status = limiter.admit(&caller, 3).await.unwrap();
        assert_eq!((status.scope, status.remaining), (Scope::Key, 2));
        assert_eq!(status.policies.len(), 2);
        let refused = limiter.admit(&caller, 3).await.unwrap_err();
        let AdmitError::Limited(refused) = refused else {
            panic!("{refused}")
        };
        assert_eq!((refused.scope, refused.retry_after_secs), (Scope::Key, 1));
        // Another key of the org has only the org's limit.
        let other = Caller {
            key: ApiKeyId::new(),
            key_rate: None,
            ..caller
        };
        let status = limiter.admit(&other, 90).await.unwrap();
        assert_eq!((status.scope, status.remaining), (Scope::Org, 7));
        assert!(limiter.admit(&other, 8).await.is_err());
    }

    #[tokio::test]
    async fn containers_share_a_window_through_reports_of_twenty() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(TestClock(AtomicU64::new(0)));
        // 2 a second and a burst of 50: 70 a window.
        let org = org(&store, RateLimit::new(2, Some(50))).await;
        let caller = Caller {
            org,
            key: ApiKeyId::new(),
            key_rate: None,
        };
        let (a, b) = (limiter(&store, &clock), limiter(&store, &clock));
        // Container b uses its whole burst; its reports tell the table.
        b.admit(&caller, 25).await.unwrap();
        b.admit(&caller, 25).await.unwrap();
        assert!(b.admit(&caller, 1).await.is_err(), "b's bucket is empty");
        clock.advance(1000);
        // Container a has not heard of b: it admits until its own report
        // (after 20 units) comes back with the window's total.
        let mut admitted = 0;
        let refused = loop {
            match a.admit(&caller, 1).await {
                Ok(_) => admitted += 1,
                Err(AdmitError::Limited(refused)) => break refused,
                Err(other) => panic!("{other}"),
            }
        };
        assert_eq!(admitted, REPORT_EVERY);
        assert_eq!((refused.scope, refused.retry_after_secs), (Scope::Org, 9));
        let total = store.add_usage(org, window_of(clock.at()), 0, &[]).await;
        assert_eq!(total.unwrap().org, 70, "50 from b and 20 from a");
        clock.advance(WINDOW_SECS * 1000);
        assert!(a.admit(&caller, 1).await.is_ok(), "a new window opens");
    }
}
