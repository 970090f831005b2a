//! Top end users and top tags in bounded space: a Misra-Gries summary.
//!
//! Exact per-user and per-tag counts would need an item (or an attribute)
//! per distinct value, which a tenant controls; instead each org-day keeps at
//! most [`CAPACITY`] counters. Adding a count to a full summary subtracts the
//! smallest needed amount from every counter (and drops those at zero), and
//! records it in [`TopK::error`]. So for every value `x`:
//!
//! `true(x) - error <= estimate(x) <= true(x)`, and `error <= N / (CAPACITY + 1)`,
//!
//! where `N` is the sum of the counts ever added. A value absent from the
//! summary has `true(x) <= error`. While a day has at most [`CAPACITY`]
//! distinct values nothing is ever subtracted, and the counts are exact.
//! Decrements (a deleted message, a removed tag) lower a present counter and
//! keep the bound. Summaries of several days add up (the union of their
//! counters) with the sum of their errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Counters kept per org-day: with 128-character end-user ids, the item
/// stays under 5 KB.
pub const CAPACITY: usize = 32;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopK {
    /// Value → estimated count (never above the true count).
    #[serde(rename = "c")]
    counts: BTreeMap<String, u64>,
    /// How far any estimate may be below the true count.
    #[serde(rename = "e", default)]
    error: u64,
    /// Every count ever added (the `N` of the bound).
    #[serde(rename = "n", default)]
    added: u64,
}

impl TopK {
    pub fn error(&self) -> u64 {
        self.error
    }

    pub fn added(&self) -> u64 {
        self.added
    }

    pub fn len(&self) -> usize {
        self.counts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.counts.is_empty()
    }

    pub fn estimate(&self, value: &str) -> u64 {
        self.counts.get(value).copied().unwrap_or(0)
    }

    /// Applies signed changes (a window's exact deltas), then shrinks back to
    /// [`CAPACITY`] counters.
    pub fn apply<'a>(&mut self, changes: impl IntoIterator<Item = (&'a String, &'a i64)>) {
        for (value, change) in changes {
            let magnitude = change.unsigned_abs();
            if *change > 0 {
                *self.counts.entry(value.clone()).or_default() += magnitude;
                self.added += magnitude;
            } else if let Some(count) = self.counts.get_mut(value) {
                // Absent values have a true count within `error`: nothing to lower.
                *count = count.saturating_sub(magnitude);
                if *count == 0 {
                    self.counts.remove(value);
                }
            }
        }
        self.shrink(CAPACITY);
    }

    /// Adds another summary (another day): the union of the counters, with
    /// the sum of the errors. Not shrunk: a range's union is small.
    pub fn merge(&mut self, other: &TopK) {
        for (value, count) in &other.counts {
            *self.counts.entry(value.clone()).or_default() += count;
        }
        self.error += other.error;
        self.added += other.added;
    }

    /// Subtracts the (capacity+1)-th largest count from every counter, until
    /// at most `capacity` remain.
    fn shrink(&mut self, capacity: usize) {
        while self.counts.len() > capacity {
            let mut counts: Vec<u64> = self.counts.values().copied().collect();
            counts.sort_unstable_by(|a, b| b.cmp(a));
            let cut = counts[capacity];
            // Counters at or below the cut reach zero and go.
            self.counts.retain(|_, count| {
                *count = count.saturating_sub(cut);
                *count > 0
            });
            self.error += cut;
        }
    }

    /// The `n` largest estimates, by count then value.
    pub fn top(&self, n: usize) -> Vec<(String, u64)> {
        let mut entries: Vec<(String, u64)> = self
            .counts
            .iter()
            .map(|(value, count)| (value.clone(), *count))
            .collect();
        entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        entries.truncate(n);
        entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream with a few heavy values and a long tail.
    fn stream(seed: u64, len: usize) -> Vec<String> {
        let mut state = seed;
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                match state % 10 {
                    0..=3 => format!("heavy-{}", (state >> 8) % 5),
                    _ => format!("tail-{}", state % 5_000),
                }
            })
            .collect()
    }

    fn check_bound(summary: &TopK, truth: &BTreeMap<String, u64>) {
        assert!(summary.error() <= summary.added() / (CAPACITY as u64 + 1));
        for (value, count) in truth {
            let estimate = summary.estimate(value);
            assert!(estimate <= *count, "{value}: {estimate} > {count}");
            assert!(
                estimate + summary.error() >= *count,
                "{value}: {estimate} + {} < {count}",
                summary.error()
            );
        }
    }

    #[test]
    fn estimates_stay_within_the_bound_through_windows_and_deletes() {
        let mut summary = TopK::default();
        let mut truth: BTreeMap<String, u64> = BTreeMap::new();
        for (n, window) in stream(7, 20_000).chunks(150).enumerate() {
            let mut delta: BTreeMap<String, i64> = BTreeMap::new();
            for value in window {
                *delta.entry(value.clone()).or_default() += 1;
                *truth.entry(value.clone()).or_default() += 1;
            }
            // Every fifth window deletes some of what was counted before.
            if n % 5 == 4 {
                for value in ["heavy-1", "tail-17"] {
                    if let Some(count) = truth.get_mut(value).filter(|c| **c > 0) {
                        *count -= 1;
                        *delta.entry(value.to_owned()).or_default() -= 1;
                    }
                }
            }
            summary.apply(&delta);
            assert!(summary.len() <= CAPACITY);
            check_bound(&summary, &truth);
        }
        // The heavy values are found, in the right order of magnitude.
        let top: Vec<String> = summary.top(5).into_iter().map(|(v, _)| v).collect();
        for heavy in (0..5).map(|i| format!("heavy-{i}")) {
            assert!(top.contains(&heavy), "{heavy} missing from {top:?}");
        }
    }

    #[test]
    fn shrinking_drops_every_counter_below_the_cut() {
        let mut summary = TopK::default();
        let changes: BTreeMap<String, i64> = (0..100)
            .map(|n| (format!("value-{n:03}"), 1 + n as i64))
            .collect();
        summary.apply(&changes);
        assert_eq!(summary.len(), CAPACITY);
        // The 33rd largest count (68) came off every counter.
        assert_eq!(summary.error(), 68);
        assert_eq!(summary.estimate("value-099"), 100 - 68);
        assert_eq!(summary.estimate("value-010"), 0);
    }

    #[test]
    fn few_distinct_values_are_counted_exactly_and_days_add_up() {
        let mut monday = TopK::default();
        monday.apply(&BTreeMap::from([
            ("ann".to_owned(), 3),
            ("bob".to_owned(), 1),
        ]));
        let mut tuesday = TopK::default();
        tuesday.apply(&BTreeMap::from([
            ("bob".to_owned(), 4),
            ("cy".to_owned(), 2),
        ]));
        tuesday.apply(&BTreeMap::from([("cy".to_owned(), -1)]));
        let mut range = TopK::default();
        range.merge(&monday);
        range.merge(&tuesday);
        assert_eq!(range.error(), 0);
        assert_eq!(
            range.top(10),
            [("bob".into(), 5), ("ann".into(), 3), ("cy".into(), 1)]
        );
    }
}
