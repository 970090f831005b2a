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
//! Across containers the org's shared count lags by what each container has
//! not reported yet (under 1% of the quota, or 20 units, each) plus reports
//! in flight, so with `n` busy containers an org can exceed its window
//! quota by about `n`% (at least `20 n` units) per 10-second window before
//! every container sees the window closed; it is then refused until the
//! window ends.
//!
//! A key with its own rate (a publishable key's, or one an admin set) is
//! held tighter, since a copied publishable key is what abuse looks like:
//! before its first admission in a window a container reads the window's
//! counts (one `GetItem` per org, container and window), and a container
//! admits on its own count at most [`RateLimit::key_allowance`] units (1% of
//! the key's quota, at least 1). A request that would leave more unreported
//! reserves its units on the shared count with a capped write, which adds
//! nothing once the key's count would pass its quota. So with `n`
//! containers a key logs at most its quota plus `n` allowances a window (300
//! plus 3 per container for the publishable default), and refused units
//! are never counted, so the org's other keys keep their share.

use std::{
    collections::{BTreeMap, HashMap},
    num::NonZeroUsize,
    sync::{Arc, Mutex},
    time::Duration,
};

use lru::LruCache;

use crate::{
    clock::{self, SharedClock},
    domain::{
        ApiKeyId, OrgId,
        ingest_changes::IngestChange,
        limits::{Meter, OrgLimits, RateLimit, Verdict, secs_to_window_end, window_of},
    },
    lookups::{FeedWatch, FollowedCache},
    store::{ChangeFeedStore, OrgStore, StoreError, UsageAdded, UsageStore},
};

/// How long a container uses an org's limits before reading them again.
/// Not how long a change takes: the change feed evicts changed limits
/// within [`crate::lookups::CHANGES_APPLY_WITHIN`] (5 s).
pub const ORG_LIMITS_TTL: Duration = Duration::from_secs(5 * 60);
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
    /// The window whose shared counts this container has read (keys with
    /// their own rate read them before their first admission in a window).
    synced: Option<u64>,
    /// The keys' shared counts as read then, for key meters made later in
    /// that window.
    read_keys: BTreeMap<ApiKeyId, u64>,
}

impl OrgMeters {
    fn new(org_rate: &RateLimit, now: f64) -> Self {
        Self {
            org: Meter::new(org_rate, now),
            keys: HashMap::new(),
            synced: None,
            read_keys: BTreeMap::new(),
        }
    }

    /// The key's meter (made on first use), told the window's shared count
    /// if this container read it and has not told it yet.
    fn key(&mut self, key: ApiKeyId, rate: &RateLimit, now: f64) -> &mut Meter {
        let read = if self.synced == Some(window_of(now)) {
            self.read_keys.remove(&key)
        } else {
            None
        };
        let meter = self
            .keys
            .entry(key)
            .or_insert_with(|| Meter::new(rate, now));
        if let Some(total) = read {
            meter.seen(rate, now, total);
        }
        meter
    }
}

/// The rate limiter, built once per container.
#[derive(Clone)]
pub struct RateLimiter {
    usage: Arc<dyn UsageStore>,
    orgs: Arc<dyn OrgStore>,
    org_limits: Arc<FollowedCache<OrgId, OrgLimits>>,
    meters: Arc<Mutex<LruCache<OrgId, OrgMeters>>>,
    clock: SharedClock,
}

/// The org a feed entry names, if it names one.
fn org_named(change: &IngestChange) -> Option<OrgId> {
    match change {
        IngestChange::Org(org) => Some(*org),
        IngestChange::ApiKey(_) => None,
    }
}

impl RateLimiter {
    /// A limiter on the system clock, following the feed on its own.
    pub fn new<S: UsageStore + OrgStore + ChangeFeedStore + 'static>(store: Arc<S>) -> Self {
        let watch = Arc::new(FeedWatch::new(store.clone(), clock::system()));
        Self::following(store, watch)
    }

    /// A limiter that follows the change feed through `watch` (shared with
    /// the container's other caches) and reads the time from its clock.
    pub fn following<S: UsageStore + OrgStore + 'static>(
        store: Arc<S>,
        watch: Arc<FeedWatch>,
    ) -> Self {
        let clock = watch.clock().clone();
        Self {
            usage: store.clone(),
            orgs: store,
            org_limits: Arc::new(FollowedCache::new(
                watch,
                ORG_LIMITS_TTL,
                ORGS_TRACKED,
                org_named,
            )),
            meters: Arc::new(Mutex::new(LruCache::new(
                NonZeroUsize::new(ORGS_TRACKED).expect("not zero"),
            ))),
            clock,
        }
    }

    /// Now, in Unix seconds: the meters' time.
    fn now(&self) -> f64 {
        self.clock.now().unix_timestamp_nanos() as f64 / 1e9
    }

    /// The org's limits: cached up to [`ORG_LIMITS_TTL`], and evicted by
    /// the change feed when they change.
    pub async fn org_limits(&self, org: OrgId) -> Result<OrgLimits, StoreError> {
        if let Some(limits) = self.org_limits.get(&org).await {
            return Ok(limits);
        }
        let started = self.org_limits.lookup_starts().await;
        // An org that is gone has no keys either; defaults are harmless.
        let limits = self
            .orgs
            .org(org)
            .await?
            .map(|org| org.limits)
            .unwrap_or_default();
        if let Some(started) = started {
            self.org_limits.insert(org, limits, &started);
        }
        Ok(limits)
    }

    fn meters(&self) -> std::sync::MutexGuard<'_, LruCache<OrgId, OrgMeters>> {
        self.meters
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Admits `units` for `caller`, or refuses them all. Reports the org's
    /// unreported units first when a report is due. A key with its own rate
    /// reads the window's shared counts before its first admission in a
    /// window, and reserves on the shared count what would leave more than
    /// [`RateLimit::key_allowance`] unreported.
    pub async fn admit(&self, caller: &Caller, units: u64) -> Result<RateStatus, AdmitError> {
        let org_rate = self.org_limits(caller.org).await?.rate();
        self.report_if_due(caller.org, org_rate.report_every())
            .await;
        if caller.key_rate.is_some() {
            self.read_window(caller.org, &org_rate).await;
        }
        let mut policies = vec![(Scope::Org, org_rate)];
        policies.extend(caller.key_rate.map(|rate| (Scope::Key, rate)));
        let refused = |scope, retry_after_secs, policies| {
            AdmitError::Limited(RateLimited {
                scope,
                retry_after_secs,
                policies,
            })
        };

        let now = self.now();
        let reserve = {
            let mut all = self.meters();
            let meters = all.get_or_insert_mut(caller.org, || OrgMeters::new(&org_rate, now));
            let mut verdicts = vec![(Scope::Org, meters.org.check(&org_rate, units, now))];
            if let Some(rate) = &caller.key_rate {
                let meter = meters.key(caller.key, rate, now);
                verdicts.push((Scope::Key, meter.check(rate, units, now)));
            }
            // The longest wait, if any limit refuses.
            if let Some((scope, wait)) = verdicts
                .iter()
                .filter_map(|(scope, verdict)| match verdict {
                    Verdict::Denied { retry_after_secs } => Some((*scope, *retry_after_secs)),
                    Verdict::Allowed { .. } => None,
                })
                .max_by_key(|(_, wait)| *wait)
            {
                return Err(refused(scope, wait, policies));
            }
            match &caller.key_rate {
                Some(rate)
                    if meters.keys.get(&caller.key).map_or(0, Meter::unreported) + units
                        > rate.key_allowance() =>
                {
                    // Handed to the reservation (given back if it fails).
                    let org_units = meters.org.start_report();
                    let key_units = meters
                        .keys
                        .get_mut(&caller.key)
                        .map_or(0, Meter::start_report);
                    Some((*rate, org_units, key_units))
                }
                _ => {
                    meters.org.take(units);
                    if let Some(meter) = meters.keys.get_mut(&caller.key) {
                        meter.take(units);
                    }
                    None
                }
            }
        };
        if let Some((rate, org_units, key_units)) = reserve
            && let Err(retry_after_secs) = self
                .reserve(caller, &rate, units, org_units, key_units, now)
                .await
        {
            return Err(refused(Scope::Key, retry_after_secs, policies));
        }
        Ok(self.status(caller, &org_rate, policies, now))
    }

    /// Adds `units` (with the org's and key's `unreported` ones) to the
    /// shared count unless the key's count would pass its quota; refused,
    /// nothing is added and the answer is the wait until the window ends.
    /// A failed write admits on this container's count, as a failed report
    /// does: limiting never fails a request.
    async fn reserve(
        &self,
        caller: &Caller,
        rate: &RateLimit,
        units: u64,
        org_unreported: u64,
        key_unreported: u64,
        now: f64,
    ) -> Result<(), u64> {
        let window = window_of(now);
        let added = self
            .usage
            .add_usage_within(
                caller.org,
                window,
                org_unreported + units,
                &[(caller.key, key_unreported + units)],
                caller.key,
                rate.window_quota(),
            )
            .await;
        let mut all = self.meters();
        let Some(meters) = all.get_mut(&caller.org) else {
            return Ok(());
        };
        let (org, key) = (&mut meters.org, meters.keys.get_mut(&caller.key));
        match added {
            Ok(UsageAdded::Added(totals)) => {
                org.reported(window, totals.org);
                org.take_reserved(units);
                if let Some(key) = key {
                    key.reported(window, totals.keys.get(&caller.key).copied().unwrap_or(0));
                    key.take_reserved(units);
                }
                Ok(())
            }
            Ok(UsageAdded::OverCap(totals)) => {
                org.report_failed(org_unreported);
                org.reported(window, totals.org);
                if let Some(key) = key {
                    key.report_failed(key_unreported);
                    key.seen(
                        rate,
                        now,
                        totals.keys.get(&caller.key).copied().unwrap_or(0),
                    );
                }
                Err(secs_to_window_end(now))
            }
            Err(error) => {
                tracing::warn!(error = %crate::sdk_error::error_chain(&error), "could not reserve a key's units; limiting on this container's count for now");
                org.report_failed(org_unreported);
                org.take(units);
                if let Some(key) = key {
                    key.report_failed(key_unreported);
                    key.take(units);
                }
                Ok(())
            }
        }
    }

    /// Reads the window's shared counts once per org and window, before the
    /// first admission a key with its own rate asks for (a cold container
    /// otherwise starts from zero). A failed read is not retried in the
    /// window: the reservations still hold the key to its quota.
    async fn read_window(&self, org: OrgId, org_rate: &RateLimit) {
        let window = window_of(self.now());
        if self
            .meters()
            .peek(&org)
            .is_some_and(|meters| meters.synced == Some(window))
        {
            return;
        }
        let read = self.usage.window_usage(org, window).await;
        let now = self.now();
        let mut all = self.meters();
        let meters = all.get_or_insert_mut(org, || OrgMeters::new(org_rate, now));
        meters.synced = Some(window);
        match read {
            Ok(usage) => {
                meters.org.seen(org_rate, now, usage.org);
                meters.read_keys = usage.keys;
            }
            Err(error) => {
                meters.read_keys.clear();
                tracing::warn!(error = %crate::sdk_error::error_chain(&error), "could not read the window's usage; limiting on this container's count for now");
            }
        }
    }

    /// Where the tightest limit stands after an admission.
    fn status(
        &self,
        caller: &Caller,
        org_rate: &RateLimit,
        policies: Vec<(Scope, RateLimit)>,
        now: f64,
    ) -> RateStatus {
        let mut all = self.meters();
        let meters = all.get_or_insert_mut(caller.org, || OrgMeters::new(org_rate, now));
        let mut standing = vec![(Scope::Org, meters.org.check(org_rate, 0, now))];
        if let Some(rate) = &caller.key_rate {
            standing.push((
                Scope::Key,
                meters.key(caller.key, rate, now).check(rate, 0, now),
            ));
        }
        let (scope, remaining, reset_secs) = standing
            .into_iter()
            .map(|(scope, verdict)| match verdict {
                Verdict::Allowed {
                    remaining,
                    reset_secs,
                } => (scope, remaining, reset_secs),
                // Just admitted: nothing more may go until the window ends.
                Verdict::Denied { retry_after_secs } => (scope, 0, retry_after_secs),
            })
            .min_by_key(|(_, remaining, _)| *remaining)
            .expect("the org's standing is always there");
        RateStatus {
            policies,
            scope,
            remaining,
            reset_secs,
        }
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
        let window = window_of(self.now());
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
    use super::*;
    use crate::{
        clock::{Clock, ManualClock},
        domain::{
            Org, OrgName, Slug,
            limits::{REPORT_EVERY, WINDOW_SECS},
        },
        store::{MemoryStore, OrgChanges},
    };

    /// A clock the test moves, starting at the start of a window.
    struct TestClock(Arc<ManualClock>);

    impl TestClock {
        fn new() -> Self {
            let start = time::OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
            Self(ManualClock::shared(start))
        }
        fn at(&self) -> f64 {
            self.0.now().unix_timestamp_nanos() as f64 / 1e9
        }
        fn advance(&self, millis: u64) {
            self.0.advance(time::Duration::milliseconds(millis as i64));
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

    fn limiter(store: &Arc<MemoryStore>, clock: &TestClock) -> RateLimiter {
        let watch = Arc::new(FeedWatch::new(store.clone(), clock.0.clone()));
        RateLimiter::following(store.clone(), watch)
    }

    #[tokio::test]
    async fn the_org_and_the_key_limit_and_say_which() {
        let store = Arc::new(MemoryStore::new());
        let clock = TestClock::new();
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
        let clock = TestClock::new();
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

    /// Counts the reads of org items and of usage windows.
    struct CountingOrgs {
        inner: MemoryStore,
        reads: std::sync::atomic::AtomicUsize,
        window_reads: std::sync::atomic::AtomicUsize,
    }

    #[async_trait::async_trait]
    impl OrgStore for CountingOrgs {
        async fn create_org(&self, org: &Org) -> crate::store::StoreResult<crate::store::Claim> {
            self.inner.create_org(org).await
        }
        async fn org(&self, id: OrgId) -> crate::store::StoreResult<Option<Org>> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.org(id).await
        }
        async fn org_by_slug(&self, slug: &Slug) -> crate::store::StoreResult<Option<Org>> {
            self.inner.org_by_slug(slug).await
        }
        async fn list_orgs(
            &self,
            page: &crate::store::PageRequest,
        ) -> crate::store::StoreResult<crate::store::Page<Org>> {
            self.inner.list_orgs(page).await
        }
        async fn update_org(
            &self,
            id: OrgId,
            changes: &OrgChanges,
        ) -> crate::store::StoreResult<Option<Org>> {
            self.inner.update_org(id, changes).await
        }
    }

    #[async_trait::async_trait]
    impl UsageStore for CountingOrgs {
        async fn add_usage(
            &self,
            org: OrgId,
            window: u64,
            org_units: u64,
            keys: &[(ApiKeyId, u64)],
        ) -> crate::store::StoreResult<crate::store::WindowUsage> {
            self.inner.add_usage(org, window, org_units, keys).await
        }
        async fn add_usage_within(
            &self,
            org: OrgId,
            window: u64,
            org_units: u64,
            keys: &[(ApiKeyId, u64)],
            capped: ApiKeyId,
            max: u64,
        ) -> crate::store::StoreResult<UsageAdded> {
            self.inner
                .add_usage_within(org, window, org_units, keys, capped, max)
                .await
        }
        async fn window_usage(
            &self,
            org: OrgId,
            window: u64,
        ) -> crate::store::StoreResult<crate::store::WindowUsage> {
            self.window_reads
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            self.inner.window_usage(org, window).await
        }
    }

    #[async_trait::async_trait]
    impl ChangeFeedStore for CountingOrgs {
        async fn change_feed(
            &self,
        ) -> crate::store::StoreResult<crate::domain::ingest_changes::ChangeFeed> {
            self.inner.change_feed().await
        }
    }

    #[tokio::test]
    async fn org_limits_are_read_once_in_minutes_and_a_change_applies_within_5_s() {
        let clock = TestClock::new();
        let store = Arc::new(CountingOrgs {
            inner: MemoryStore::with_clock(clock.0.clone()),
            reads: Default::default(),
            window_reads: Default::default(),
        });
        let org = org(&store.inner, RateLimit::new(100, Some(100))).await;
        let watch = Arc::new(FeedWatch::new(store.clone(), clock.0.clone()));
        let limiter = RateLimiter::following(store.clone(), watch);
        let reads = || store.reads.load(std::sync::atomic::Ordering::SeqCst);
        let rate = |limiter: &RateLimiter| {
            let limiter = limiter.clone();
            async move { limiter.org_limits(org).await.unwrap().rate().per_second() }
        };
        // A quiet org: a request every 50 s for four minutes, one read.
        for _ in 0..5 {
            assert_eq!(rate(&limiter).await, 100);
            clock.advance(50_000);
        }
        assert_eq!(reads(), 1);
        let changes = OrgChanges {
            limits: Some(OrgLimits {
                rate_limit: Some(RateLimit::new(7, Some(70))),
                ..OrgLimits::default()
            }),
            ..OrgChanges::default()
        };
        store.update_org(org, &changes).await.unwrap();
        clock.advance(5_000);
        assert_eq!(rate(&limiter).await, 7, "applied within 5 s");
        assert_eq!(reads(), 2);
        // A change of the org's name is nothing ingest reads.
        let renamed = OrgChanges {
            name: Some(OrgName::parse("Acme 2").unwrap()),
            ..OrgChanges::default()
        };
        store.update_org(org, &renamed).await.unwrap();
        clock.advance(5_000);
        assert_eq!(rate(&limiter).await, 7);
        assert_eq!(reads(), 2);
    }

    /// The leak an outside review found: 50 containers, each starting a
    /// window from zero with a full bucket, let a copied publishable key log
    /// thousands of items a window. Now the key gets at most twice its quota
    /// (quota plus 50 times its allowance), its org's other keys are never
    /// refused because of it, and each container reads a window's counts
    /// at most once.
    #[tokio::test]
    async fn fifty_containers_hold_a_key_near_its_quota_and_spare_the_orgs_other_keys() {
        let clock = TestClock::new();
        let store = Arc::new(CountingOrgs {
            inner: MemoryStore::with_clock(clock.0.clone()),
            reads: Default::default(),
            window_reads: Default::default(),
        });
        let org = org(&store.inner, RateLimit::new(500, Some(1_000))).await;
        // The publishable default: 20 a second, burst 100, 300 a window.
        let key_rate = RateLimit::new(20, Some(100));
        let leaked = Caller {
            org,
            key: ApiKeyId::new(),
            key_rate: Some(key_rate),
        };
        let other = Caller {
            org,
            key: ApiKeyId::new(),
            key_rate: None,
        };
        let containers: Vec<RateLimiter> = (0..50)
            .map(|_| {
                let watch = Arc::new(FeedWatch::new(store.clone(), clock.0.clone()));
                RateLimiter::following(store.clone(), watch)
            })
            .collect();
        let window_reads = || store.window_reads.load(std::sync::atomic::Ordering::SeqCst);
        for window in 0..3u64 {
            let reads_before = window_reads();
            let mut admitted = 0;
            // 20 rounds 400 ms apart, inside one window: every container
            // sends single messages and batches of 5 and 25.
            for round in 0..20 {
                for (n, container) in containers.iter().enumerate() {
                    let units = [1, 1, 5, 25][(round + n) % 4];
                    if container.admit(&leaked, units).await.is_ok() {
                        admitted += units;
                    }
                }
                clock.advance(400);
            }
            let quota = key_rate.window_quota();
            assert!(
                admitted <= 2 * quota,
                "window {window}: {admitted} admitted, quota {quota}"
            );
            assert!(admitted >= quota / 2, "the key is still served: {admitted}");
            assert!(
                window_reads() - reads_before <= 50,
                "one read per container"
            );
            for container in &containers {
                let status = container.admit(&other, 1).await;
                assert!(status.is_ok(), "another key of the org: {status:?}");
            }
            clock.advance(2_000); // the next window's start
        }
    }
}
