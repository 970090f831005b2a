//! The latency histogram behind the summary's percentiles.
//!
//! Buckets are fixed, so per-day histograms add up exactly: every latency
//! up to 12 ms has a bucket of its own, and above that there are eight
//! buckets per doubling, each at most 9.1% wide. A percentile is reported
//! as the upper bound of the bucket holding it: never below the true value,
//! and at most 9.1% above it.

use std::sync::LazyLock;

use crate::domain::MAX_LATENCY_MS;

/// Buckets per doubling of latency above the exact range.
pub const BUCKETS_PER_DOUBLING: u32 = 8;

/// The inclusive upper bound of each bucket, in milliseconds: bucket 0
/// holds 0 ms, and the last one reaches the largest latency accepted.
static UPPER_BOUNDS: LazyLock<Vec<u64>> = LazyLock::new(|| {
    let mut bounds = vec![0u64];
    let mut step = 1u32;
    while *bounds.last().expect("never empty") < MAX_LATENCY_MS {
        let previous = *bounds.last().expect("never empty");
        // 2^(step/8), rounded down; at least one more than the previous bound.
        let geometric = 2f64.powf(f64::from(step) / f64::from(BUCKETS_PER_DOUBLING)) as u64;
        bounds.push(geometric.max(previous + 1).min(MAX_LATENCY_MS));
        step += 1;
    }
    bounds
});

/// How many buckets there are.
pub fn bucket_count() -> usize {
    UPPER_BOUNDS.len()
}

/// The bucket a latency falls in (latencies above the accepted maximum,
/// which ingest refuses, fall in the last bucket).
pub fn bucket_of(latency_ms: u64) -> u16 {
    let index = UPPER_BOUNDS.partition_point(|&bound| bound < latency_ms);
    index.min(UPPER_BOUNDS.len() - 1) as u16
}

/// The largest latency in `bucket`, in milliseconds.
pub fn upper_bound(bucket: u16) -> u64 {
    let last = UPPER_BOUNDS.len() - 1;
    UPPER_BOUNDS[usize::from(bucket).min(last)]
}

/// The nearest-rank percentile (`percent` in 1..=100) of a histogram given
/// as (bucket, count) pairs in any order: the upper bound of the bucket
/// holding the ⌈percent/100 · n⌉-th smallest latency. `None` when empty.
pub fn percentile(counts: &[(u16, u64)], percent: u32) -> Option<u64> {
    let total: u64 = counts.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    let rank = (total * u64::from(percent)).div_ceil(100).max(1);
    let mut sorted = counts.to_vec();
    sorted.sort_unstable_by_key(|(bucket, _)| *bucket);
    let mut seen = 0;
    for (bucket, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some(upper_bound(bucket));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_latencies_are_exact_and_large_ones_within_nine_percent() {
        for ms in 0..=12 {
            assert_eq!(upper_bound(bucket_of(ms)), ms, "{ms} ms");
        }
        for ms in [13, 100, 999, 1_000, 12_345, 86_399_999, MAX_LATENCY_MS] {
            let upper = upper_bound(bucket_of(ms));
            assert!(upper >= ms, "{ms} ms → {upper}");
            assert!(
                (upper - ms) as f64 <= ms as f64 * 0.091,
                "{ms} ms → {upper}"
            );
        }
        assert_eq!(upper_bound(bucket_of(MAX_LATENCY_MS)), MAX_LATENCY_MS);
        assert!(bucket_count() < 256, "{} buckets", bucket_count());
    }

    #[test]
    fn buckets_are_contiguous_and_ordered() {
        let mut previous = bucket_of(0);
        for ms in 1..50_000 {
            let bucket = bucket_of(ms);
            assert!(bucket == previous || bucket == previous + 1, "{ms}");
            assert!(ms <= upper_bound(bucket));
            assert!(bucket == 0 || ms > upper_bound(bucket - 1));
            previous = bucket;
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        // Latencies 1..=100 ms: p50 is the 50th value, p95 the 95th, p99 the 99th.
        let mut counts = std::collections::BTreeMap::<u16, u64>::new();
        for ms in 1..=100 {
            *counts.entry(bucket_of(ms)).or_default() += 1;
        }
        let counts: Vec<_> = counts.into_iter().collect();
        assert_eq!(percentile(&counts, 50), Some(upper_bound(bucket_of(50))));
        assert_eq!(percentile(&counts, 95), Some(upper_bound(bucket_of(95))));
        assert_eq!(percentile(&counts, 100), Some(upper_bound(bucket_of(100))));
        assert_eq!(percentile(&[], 50), None);
        assert_eq!(percentile(&[(3, 1)], 99), Some(3));
    }
}
