//! Time, as the code reads it: through a [`Clock`], so that tests and the
//! benchmark's simulated time can set it. Production code gets
//! [`system()`]; nothing that decides by the time (cache lifetimes, commit
//! cadence, stamps) calls `OffsetDateTime::now_utc()` itself.

use std::sync::{Arc, Mutex};

use time::{Duration, OffsetDateTime};

pub trait Clock: Send + Sync {
    /// Now, in UTC.
    fn now(&self) -> OffsetDateTime;
}

/// How a clock is shared between the parts of a container.
pub type SharedClock = Arc<dyn Clock>;

/// The machine's clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// The machine's clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}

/// A clock that moves only when told to: tests and simulated time.
#[derive(Debug)]
pub struct ManualClock(Mutex<OffsetDateTime>);

impl ManualClock {
    pub fn new(at: OffsetDateTime) -> Self {
        Self(Mutex::new(at))
    }

    /// A manual clock, shared.
    pub fn shared(at: OffsetDateTime) -> Arc<Self> {
        Arc::new(Self::new(at))
    }

    pub fn set(&self, at: OffsetDateTime) {
        *self.lock() = at;
    }

    pub fn advance(&self, by: Duration) {
        let mut now = self.lock();
        *now += by;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, OffsetDateTime> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *self.lock()
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let clock = ManualClock::new(datetime!(2026-11-22 23:59:59 UTC));
        assert_eq!(clock.now(), datetime!(2026-11-22 23:59:59 UTC));
        clock.advance(Duration::seconds(2));
        assert_eq!(clock.now(), datetime!(2026-11-23 00:00:01 UTC));
        clock.set(datetime!(2026-01-01 00:00:00 UTC));
        assert_eq!(clock.now(), datetime!(2026-01-01 00:00:00 UTC));
        assert!(SystemClock.now() > datetime!(2026-01-01 00:00:00 UTC));
    }
}
