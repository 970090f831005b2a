//! Rate limits and quotas: how fast one org or one API key may log, and how
//! many exports an org may run; and the per-container arithmetic that
//! enforces a rate ([`Meter`]: a token bucket, plus the share of a shared
//! per-window count that this container has not reported yet).
//!
//! A unit is one logged item: a chat or a message (a batch of 100 is 100).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::text::bounded_int;

/// The shared count's window, in seconds: a rate is enforced across
/// containers as at most `per_second * WINDOW_SECS + burst` units a window.
pub const WINDOW_SECS: u64 = 10;
/// A container adds what it admitted to the shared count once it has at
/// least this many unreported units: at most one write per this many units
/// (0.05 write units per message at 20).
pub const REPORT_EVERY: u64 = 20;
/// ...or, for larger quotas, once it has this share of the window quota
/// unreported: 1% (60 units for the default org rate), so the count lags
/// by at most 1% of the quota per container.
pub const REPORT_SHARE_OF_QUOTA: u64 = 100;
/// The most items one batch request may log; the default burst is at least
/// this, so a full batch fits in a fresh bucket.
pub const MAX_BATCH_ITEMS: u64 = 100;

bounded_int!(
    /// Sustained units per second.
    PerSecond, "per_second", 1, 10_000
);
bounded_int!(
    /// The most units that may arrive at once (the token bucket's size).
    Burst, "burst", 1, 100_000
);
bounded_int!(
    /// Exports an org may have queued or running at once.
    ConcurrentExports, "concurrent_exports", 1, 10
);
bounded_int!(
    /// Exports an org may start per UTC day.
    ExportsPerDay, "exports_per_day", 1, 1_000
);

/// A rate: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Units (chats and messages logged) per second, 1 to 10,000.
    pub per_second: PerSecond,
    /// The most units at once, 1 to 100,000; default twice `per_second`,
    /// and at least 100 so a full batch fits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<Burst>,
}

impl RateLimit {
    /// A rate from plain numbers (defaults and tests); out-of-range values
    /// are clamped.
    pub fn new(per_second: u64, burst: Option<u64>) -> Self {
        let clamp = |v: u64, min: u64, max: u64| i128::from(v.clamp(min, max));
        Self {
            per_second: PerSecond::parse(clamp(per_second, PerSecond::MIN, PerSecond::MAX))
                .expect("clamped"),
            burst: burst.map(|b| Burst::parse(clamp(b, Burst::MIN, Burst::MAX)).expect("clamped")),
        }
    }

    pub fn per_second(&self) -> u64 {
        self.per_second.get()
    }

    pub fn burst(&self) -> u64 {
        self.burst
            .map(Burst::get)
            .unwrap_or_else(|| (2 * self.per_second()).max(MAX_BATCH_ITEMS))
    }

    /// The most units one window of the shared count may hold.
    pub fn window_quota(&self) -> u64 {
        self.per_second() * WINDOW_SECS + self.burst()
    }

    /// How many unreported units a container holds before it reports them.
    pub fn report_every(&self) -> u64 {
        (self.window_quota() / REPORT_SHARE_OF_QUOTA).max(REPORT_EVERY)
    }

    /// For a key's own rate: the most units a container admits on its own
    /// count. A request that would leave more unreported reserves its units
    /// on the shared count first (a capped write that adds nothing past the
    /// quota). 1% of the window quota, at least 1: with `n` containers a
    /// key gets at most its quota plus `n` times this a window.
    pub fn key_allowance(&self) -> u64 {
        (self.window_quota() / REPORT_SHARE_OF_QUOTA).max(1)
    }
}

/// An org's rate when its settings name none.
pub const DEFAULT_ORG_RATE: (u64, u64) = (500, 1_000);
/// A publishable key's rate when its settings name none (a secret key has
/// no rate of its own: its org's applies).
pub const DEFAULT_PUBLISHABLE_RATE: (u64, u64) = (20, 100);
pub const DEFAULT_CONCURRENT_EXPORTS: u64 = 2;
pub const DEFAULT_EXPORTS_PER_DAY: u64 = 20;

/// An org's limits, set by its admins (`PATCH /orgs/me`); each left out
/// takes its default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrgLimits {
    /// Every key of the org together (default 500 per second, burst 1,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Exports queued or running at once, 1 to 10 (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrent_exports: Option<ConcurrentExports>,
    /// Exports started per UTC day, 1 to 1,000 (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exports_per_day: Option<ExportsPerDay>,
}

impl OrgLimits {
    pub fn rate(&self) -> RateLimit {
        self.rate_limit
            .unwrap_or_else(|| RateLimit::new(DEFAULT_ORG_RATE.0, Some(DEFAULT_ORG_RATE.1)))
    }

    pub fn concurrent_exports(&self) -> u64 {
        self.concurrent_exports
            .map_or(DEFAULT_CONCURRENT_EXPORTS, ConcurrentExports::get)
    }

    pub fn exports_per_day(&self) -> u64 {
        self.exports_per_day
            .map_or(DEFAULT_EXPORTS_PER_DAY, ExportsPerDay::get)
    }
}

/// What a meter says about some units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// They may go; `remaining` more could go now, and the window resets in
    /// `reset_secs`.
    Allowed { remaining: u64, reset_secs: u64 },
    /// Over the limit: retry in `retry_after_secs` (at least 1).
    Denied { retry_after_secs: u64 },
}

/// One subject's rate (an org's or a key's) as this container sees it: a
/// token bucket that holds this container to the rate exactly, and the
/// shared per-window count (last seen total, plus what this container
/// admitted since) that holds all containers to it approximately.
///
/// Times are Unix seconds, so every container agrees on the windows.
#[derive(Debug, Clone, PartialEq)]
pub struct Meter {
    tokens: f64,
    refilled_at: f64,
    window: u64,
    /// The shared count of `window` when this container last reported.
    shared: u64,
    /// Units admitted here and not yet added to the shared count.
    unreported: u64,
}

pub fn window_of(now: f64) -> u64 {
    (now.max(0.0) as u64) / WINDOW_SECS
}

/// Seconds until the window `now` falls in ends (at least 1).
pub fn secs_to_window_end(now: f64) -> u64 {
    let end = (window_of(now) + 1) * WINDOW_SECS;
    ((end as f64 - now).ceil() as u64).max(1)
}

impl Meter {
    /// A fresh meter: a full bucket, nothing counted.
    pub fn new(limit: &RateLimit, now: f64) -> Self {
        Self {
            tokens: limit.burst() as f64,
            refilled_at: now,
            window: window_of(now),
            shared: 0,
            unreported: 0,
        }
    }

    fn catch_up(&mut self, limit: &RateLimit, now: f64) {
        let elapsed = (now - self.refilled_at).max(0.0);
        self.tokens = (self.tokens + elapsed * limit.per_second() as f64).min(limit.burst() as f64);
        self.refilled_at = now.max(self.refilled_at);
        let window = window_of(now);
        if window != self.window {
            // Unreported units stay: they go into the next report, which
            // counts them in the window they are reported in.
            self.window = window;
            self.shared = 0;
        }
    }

    /// Whether `units` may go now; changes nothing but the clock.
    pub fn check(&mut self, limit: &RateLimit, units: u64, now: f64) -> Verdict {
        self.catch_up(limit, now);
        let counted = self.shared + self.unreported;
        let quota = limit.window_quota();
        if counted + units > quota {
            return Verdict::Denied {
                retry_after_secs: secs_to_window_end(now),
            };
        }
        if (units as f64) > self.tokens {
            let deficit = units as f64 - self.tokens;
            return Verdict::Denied {
                retry_after_secs: ((deficit / limit.per_second() as f64).ceil() as u64).max(1),
            };
        }
        Verdict::Allowed {
            remaining: ((self.tokens - units as f64).floor() as u64).min(quota - counted - units),
            reset_secs: secs_to_window_end(now),
        }
    }

    /// Counts `units` that [`Meter::check`] allowed.
    pub fn take(&mut self, units: u64) {
        self.tokens -= units as f64;
        self.unreported += units;
    }

    /// Counts `units` that [`Meter::check`] allowed and that are already in
    /// the shared count (reserved there).
    pub fn take_reserved(&mut self, units: u64) {
        self.tokens -= units as f64;
    }

    /// The shared count of the window `now` falls in, as read from the store
    /// (this container's unreported units not included).
    pub fn seen(&mut self, limit: &RateLimit, now: f64, total: u64) {
        self.catch_up(limit, now);
        self.shared = self.shared.max(total);
    }

    /// Units admitted here and not reported yet.
    pub fn unreported(&self) -> u64 {
        self.unreported
    }

    /// Hands the unreported units to a report (they are not counted here
    /// while it is in flight; [`Meter::report_failed`] gives them back).
    pub fn start_report(&mut self) -> u64 {
        std::mem::take(&mut self.unreported)
    }

    /// The shared count after a report to `window` (this container's units included).
    pub fn reported(&mut self, window: u64, total: u64) {
        if window == self.window {
            self.shared = self.shared.max(total);
        }
    }

    pub fn report_failed(&mut self, units: u64) {
        self.unreported += units;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const T0: f64 = 1_800_000_000.0; // the start of a window

    #[test]
    fn limits_are_validated_and_default() {
        let limit: RateLimit = serde_json::from_value(json!({"per_second": 5})).unwrap();
        assert_eq!((limit.per_second(), limit.burst()), (5, 100));
        assert_eq!(limit.window_quota(), 5 * WINDOW_SECS + 100);
        assert_eq!(limit.report_every(), REPORT_EVERY);
        assert_eq!(OrgLimits::default().rate().report_every(), 60);
        let limit: RateLimit =
            serde_json::from_value(json!({"per_second": 300, "burst": 7})).unwrap();
        assert_eq!(limit.burst(), 7);
        for bad in [
            json!({"per_second": 0}),
            json!({"per_second": 10_001}),
            json!({"per_second": 1.5}),
            json!({"per_second": 1, "burst": 0}),
            json!({"per_second": 1, "extra": 1}),
        ] {
            assert!(
                serde_json::from_value::<RateLimit>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        let limits = OrgLimits::default();
        assert_eq!(limits.rate().per_second(), DEFAULT_ORG_RATE.0);
        assert_eq!(
            (limits.concurrent_exports(), limits.exports_per_day()),
            (2, 20)
        );
        let error = serde_json::from_value::<OrgLimits>(json!({"concurrent_exports": 11}))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("concurrent_exports must be an integer from 1 to 10"),
            "{error}"
        );
    }

    #[test]
    fn a_container_is_held_to_the_burst_then_the_rate() {
        let limit = RateLimit::new(10, Some(30));
        let mut meter = Meter::new(&limit, T0);
        assert!(matches!(
            meter.check(&limit, 30, T0),
            Verdict::Allowed { remaining: 0, .. }
        ));
        meter.take(30);
        assert_eq!(
            meter.check(&limit, 5, T0),
            Verdict::Denied {
                retry_after_secs: 1
            }
        );
        // Half a second refills five.
        assert!(matches!(
            meter.check(&limit, 5, T0 + 0.5),
            Verdict::Allowed { .. }
        ));
        assert_eq!(
            meter.check(&limit, 25, T0 + 0.5),
            Verdict::Denied {
                retry_after_secs: 2
            }
        );
    }

    #[test]
    fn the_shared_count_closes_the_window_for_every_container() {
        let limit = RateLimit::new(10, Some(30)); // 130 a window
        let mut meter = Meter::new(&limit, T0);
        meter.take(20);
        let sent = meter.start_report();
        assert_eq!((sent, meter.unreported()), (20, 0));
        // Other containers used 100 of this window.
        meter.reported(window_of(T0), 120);
        assert!(matches!(
            meter.check(&limit, 10, T0 + 1.0),
            Verdict::Allowed { remaining: 0, .. }
        ));
        assert_eq!(
            meter.check(&limit, 11, T0 + 1.0),
            Verdict::Denied {
                retry_after_secs: 9
            }
        );
        // The next window starts from zero.
        assert!(matches!(
            meter.check(&limit, 11, T0 + 10.0),
            Verdict::Allowed { .. }
        ));
    }

    #[test]
    fn a_failed_report_keeps_its_units_for_the_next_one() {
        let limit = RateLimit::new(10, None);
        let mut meter = Meter::new(&limit, T0);
        meter.take(25);
        let sent = meter.start_report();
        meter.report_failed(sent);
        assert_eq!(meter.unreported(), 25);
        // A late answer for an old window changes nothing.
        meter.reported(window_of(T0) - 1, 1_000);
        assert!(matches!(
            meter.check(&limit, 1, T0),
            Verdict::Allowed { .. }
        ));
    }
}
