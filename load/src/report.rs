//! The run's figures and its verdict against the targets.

use std::{
    collections::{HashMap, HashSet},
    fmt::Write as _,
    time::Duration,
};

use crate::{
    dashboard::Counted, dashboard::StoredMessage, freshness::Freshness, plugin::Acked,
    stats::Recorder,
};

/// What the read-back found, compared with what was acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReadBack {
    pub stored: usize,
    /// Acknowledged, but not stored.
    pub lost: usize,
    /// Extra copies: an id listed twice, or one message (plugin and
    /// sequence, in its content) stored under two ids.
    pub duplicated: usize,
    /// Stored although the plugin never got an answer for it (it gave up
    /// after a timeout): not lost, but the analytics will count it.
    pub stored_unacknowledged: usize,
}

/// Compares the acknowledged messages with the stored ones.
pub fn compare(acked: &[Acked], stored: &[StoredMessage]) -> ReadBack {
    let stored_ids: HashSet<&str> = stored.iter().map(|m| m.id.as_str()).collect();
    let acked_ids: HashSet<&str> = acked.iter().map(|m| m.id.as_str()).collect();
    let mut ids_by_content: HashMap<&str, HashSet<&str>> = HashMap::new();
    for message in stored {
        ids_by_content
            .entry(message.content.as_str())
            .or_default()
            .insert(message.id.as_str());
    }
    let same_message_other_id: usize = ids_by_content.values().map(|ids| ids.len() - 1).sum();
    ReadBack {
        stored: stored.len(),
        lost: acked_ids.difference(&stored_ids).count(),
        duplicated: (stored.len() - stored_ids.len()) + same_message_other_id,
        stored_unacknowledged: stored_ids.difference(&acked_ids).count(),
    }
}

/// The figures a run must meet.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub p99: Duration,
    pub analytics_lag: Duration,
    /// p99 of a message's wait for its summary: any org, and an org
    /// logging a message a second or more.
    pub freshness_p99: Duration,
    pub active_freshness_p99: Duration,
}

/// Everything a run measured.
pub struct Report {
    pub title: String,
    pub planned_messages: usize,
    pub acked_messages: usize,
    pub planned_chats: usize,
    pub chats: usize,
    /// From the first request to the last acknowledgement.
    pub ingest_time: Duration,
    pub requests: Recorder,
    pub blind_retries: u64,
    pub blind_retry_surprises: Vec<String>,
    pub refusals: Vec<String>,
    pub read_back: ReadBack,
    pub expected_analytics: Counted,
    /// Seconds from the last acknowledgement until the summary was exact,
    /// or what it still said when the poll gave up.
    pub analytics: Result<Duration, Counted>,
    /// The freshness probes (none unless asked for).
    pub freshness: Vec<Freshness>,
}

impl Report {
    pub fn messages_per_second(&self) -> f64 {
        self.acked_messages as f64 / self.ingest_time.as_secs_f64().max(1e-9)
    }

    /// Each target, met or missed, in the order printed.
    pub fn verdicts(&self, targets: &Targets) -> Vec<(String, bool)> {
        let latency = self.requests.latency();
        vec![
            (
                format!(
                    "every message acknowledged ({} of {})",
                    self.acked_messages, self.planned_messages
                ),
                self.acked_messages == self.planned_messages && self.chats == self.planned_chats,
            ),
            (
                format!("0 lost ({})", self.read_back.lost),
                self.read_back.lost == 0,
            ),
            (
                format!("0 duplicated ({})", self.read_back.duplicated),
                self.read_back.duplicated == 0,
            ),
            (
                format!("0 5xx ({})", self.requests.server_errors()),
                self.requests.server_errors() == 0,
            ),
            (
                format!(
                    "blind retries answered 200 ({} not)",
                    self.blind_retry_surprises.len()
                ),
                self.blind_retry_surprises.is_empty(),
            ),
            (
                format!(
                    "p99 <= {} ms ({} ms)",
                    targets.p99.as_millis(),
                    latency.p99.as_millis()
                ),
                latency.p99 <= targets.p99,
            ),
            (
                format!(
                    "analytics exact within {} s ({})",
                    targets.analytics_lag.as_secs(),
                    match &self.analytics {
                        Ok(lag) => format!("{:.1} s", lag.as_secs_f64()),
                        Err(_) => "not reached".into(),
                    }
                ),
                self.analytics
                    .as_ref()
                    .is_ok_and(|lag| *lag <= targets.analytics_lag),
            ),
        ]
        .into_iter()
        .chain(self.freshness.iter().map(|probe| {
            let bound = if probe.rate >= 1.0 {
                targets.active_freshness_p99
            } else {
                targets.freshness_p99
            };
            let p99 = probe.p(99.0);
            (
                format!(
                    "{} org's messages in its summary within {} s, p99 ({:.1} s; {} not counted)",
                    probe.name,
                    bound.as_secs(),
                    p99.as_secs_f64(),
                    probe.missing
                ),
                probe.missing == 0 && p99 <= bound,
            )
        }))
        .collect()
    }

    pub fn render(&self, targets: &Targets) -> String {
        let mut out = String::new();
        let latency = self.requests.latency();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let statuses: Vec<String> = self
            .requests
            .outcomes()
            .iter()
            .map(|(outcome, count)| format!("{outcome}: {count}"))
            .collect();
        let _ = writeln!(out, "{}", self.title);
        let _ = writeln!(
            out,
            "  acknowledged     {} of {} messages, {} of {} chats",
            self.acked_messages, self.planned_messages, self.chats, self.planned_chats
        );
        let _ = writeln!(
            out,
            "  throughput       {:.1} messages/s ({} acknowledged in {:.1} s)",
            self.messages_per_second(),
            self.acked_messages,
            self.ingest_time.as_secs_f64()
        );
        let _ = writeln!(
            out,
            "  latency          p50 {:.1} ms, p95 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} requests)",
            ms(latency.p50),
            ms(latency.p95),
            ms(latency.p99),
            ms(latency.max),
            self.requests.requests()
        );
        let _ = writeln!(out, "  statuses         {}", statuses.join(", "));
        let _ = writeln!(
            out,
            "  blind retries    {} ({} not answered 200)",
            self.blind_retries,
            self.blind_retry_surprises.len()
        );
        let read_back = &self.read_back;
        let _ = writeln!(
            out,
            "  read back        {} stored; lost {}, duplicated {}, stored but never acknowledged {}",
            read_back.stored, read_back.lost, read_back.duplicated, read_back.stored_unacknowledged
        );
        match &self.analytics {
            Ok(lag) => {
                let _ = writeln!(
                    out,
                    "  analytics lag    {:.1} s after the last acknowledgement ({})",
                    lag.as_secs_f64(),
                    self.expected_analytics
                );
            }
            Err(last) => {
                let _ = writeln!(
                    out,
                    "  analytics lag    not exact: expected {}, the summary said {}",
                    self.expected_analytics, last
                );
            }
        }
        for probe in &self.freshness {
            let _ = writeln!(
                out,
                "  freshness        {} org ({} msg/s): p50 {:.1} s, p99 {:.1} s, max {:.1} s from acknowledgement to summary ({} messages)",
                probe.name,
                probe.rate,
                probe.p(50.0).as_secs_f64(),
                probe.p(99.0).as_secs_f64(),
                probe.p(100.0).as_secs_f64(),
                probe.waits.len()
            );
        }
        for detail in self
            .refusals
            .iter()
            .chain(&self.blind_retry_surprises)
            .take(10)
        {
            let _ = writeln!(out, "  ! {detail}");
        }
        let _ = writeln!(out, "targets:");
        for (target, met) in self.verdicts(targets) {
            let _ = writeln!(out, "  [{}] {target}", if met { "ok" } else { "MISSED" });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(id: &str, content: &str) -> StoredMessage {
        StoredMessage {
            id: id.into(),
            content: content.into(),
        }
    }

    fn acked(ids: &[&str]) -> Vec<Acked> {
        ids.iter()
            .map(|id| Acked::for_test(id, &format!("content of {id}")))
            .collect()
    }

    #[test]
    fn a_faithful_store_has_nothing_lost_or_duplicated() {
        let result = compare(
            &acked(&["a", "b"]),
            &[stored("a", "content of a"), stored("b", "content of b")],
        );
        assert_eq!(
            result,
            ReadBack {
                stored: 2,
                ..ReadBack::default()
            }
        );
    }

    #[test]
    fn missing_extra_and_repeated_messages_are_counted() {
        let result = compare(
            &acked(&["a", "b", "c"]),
            &[
                stored("a", "content of a"),
                stored("a", "content of a"),
                // b stored a second time under another id
                stored("b", "content of b"),
                stored("x", "content of b"),
                // never acknowledged, stored anyway
                stored("d", "content of d"),
            ],
        );
        assert_eq!(
            result,
            ReadBack {
                stored: 5,
                lost: 1,
                duplicated: 2,
                stored_unacknowledged: 2,
            }
        );
    }
}
