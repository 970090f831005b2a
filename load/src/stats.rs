//! What the plugins saw: every request's latency and outcome.

use std::{collections::BTreeMap, time::Duration};

/// One request's outcome, as counted in the report.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Outcome {
    Status(u16),
    /// No answer within the request timeout.
    Timeout,
    /// The connection could not be made or broke before the answer.
    Transport,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(status) => write!(f, "{status}"),
            Self::Timeout => f.write_str("timeout"),
            Self::Transport => f.write_str("connection error"),
        }
    }
}

/// Latencies and outcome counts; each plugin keeps its own and the run
/// merges them at the end (no lock on the request path).
#[derive(Debug, Default)]
pub struct Recorder {
    latencies: Vec<Duration>,
    outcomes: BTreeMap<Outcome, u64>,
}

impl Recorder {
    pub fn record(&mut self, outcome: Outcome, latency: Duration) {
        self.latencies.push(latency);
        *self.outcomes.entry(outcome).or_default() += 1;
    }

    pub fn merge(&mut self, other: Recorder) {
        self.latencies.extend(other.latencies);
        for (outcome, count) in other.outcomes {
            *self.outcomes.entry(outcome).or_default() += count;
        }
    }

    pub fn requests(&self) -> usize {
        self.latencies.len()
    }

    pub fn outcomes(&self) -> &BTreeMap<Outcome, u64> {
        &self.outcomes
    }

    /// Answers with a 5xx status.
    pub fn server_errors(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|(outcome, _)| matches!(outcome, Outcome::Status(500..=599)))
            .map(|(_, count)| count)
            .sum()
    }

    /// Latency percentiles (nearest rank) over every request.
    pub fn latency(&self) -> Latency {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        Latency {
            p50: percentile(&sorted, 50.0),
            p95: percentile(&sorted, 95.0),
            p99: percentile(&sorted, 99.0),
            max: sorted.last().copied().unwrap_or_default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latency {
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    pub max: Duration,
}

/// The nearest-rank percentile of sorted values (zero when there are none).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: impl IntoIterator<Item = u64>) -> Vec<Duration> {
        values.into_iter().map(Duration::from_millis).collect()
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let sorted = ms(1..=100);
        assert_eq!(percentile(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(percentile(&sorted, 95.0), Duration::from_millis(95));
        assert_eq!(percentile(&sorted, 99.0), Duration::from_millis(99));
        assert_eq!(percentile(&ms([7]), 99.0), Duration::from_millis(7));
        assert_eq!(percentile(&[], 99.0), Duration::ZERO);
        // 3 values: p50 is the 2nd, p99 the 3rd.
        let three = ms([10, 20, 30]);
        assert_eq!(percentile(&three, 50.0), Duration::from_millis(20));
        assert_eq!(percentile(&three, 99.0), Duration::from_millis(30));
    }

    #[test]
    fn merged_recorders_count_outcomes_and_server_errors() {
        let mut a = Recorder::default();
        a.record(Outcome::Status(201), Duration::from_millis(5));
        a.record(Outcome::Status(503), Duration::from_millis(9));
        let mut b = Recorder::default();
        b.record(Outcome::Status(201), Duration::from_millis(7));
        b.record(Outcome::Status(500), Duration::from_millis(1));
        b.record(Outcome::Timeout, Duration::from_millis(100));
        a.merge(b);
        assert_eq!(a.requests(), 5);
        assert_eq!(a.server_errors(), 2);
        assert_eq!(a.outcomes()[&Outcome::Status(201)], 2);
        assert_eq!(a.latency().max, Duration::from_millis(100));
        assert_eq!(a.latency().p50, Duration::from_millis(7));
    }
}
