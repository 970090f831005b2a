//! What the aggregates hold: per org, per UTC day, three items of bounded
//! size whatever a tenant sends:
//!
//! - the day's counters (messages, chats, tokens, the latency histogram,
//!   counts by role): a fixed set of names, none user-supplied;
//! - the day's top end users by messages, and top tags by chats: each a
//!   [`TopK`] summary of at most [`super::topk::CAPACITY`] values.
//!
//! A counter is a signed total that the aggregator only ever adds to, so
//! the per-day items of any range sum to the range's figures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use super::topk::TopK;
use crate::domain::MessageRole;

/// How a day is written everywhere in analytics (aggregate keys, the
/// summary's query and response): `2026-01-31`.
pub const DAY_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A day as analytics write it.
pub fn format_day(day: Date) -> String {
    day.format(DAY_FORMAT)
        .expect("a calendar date always formats")
}

pub fn parse_day(text: &str) -> Option<Date> {
    Date::parse(text, DAY_FORMAT).ok()
}

/// Counter name → total (or, in a delta, → change).
pub type Counters = BTreeMap<String, i64>;

/// Adds `delta` into `total`, dropping counters that become zero.
pub fn add_counters(total: &mut Counters, delta: &Counters) {
    for (name, change) in delta {
        let value = total.entry(name.clone()).or_default();
        *value += change;
        if *value == 0 {
            total.remove(name);
        }
    }
}

/// What changes on one org-day: its counters, and the exact per-user and
/// per-tag changes that the day's [`TopK`] summaries take in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DayDelta {
    #[serde(rename = "c", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub counters: Counters,
    /// End user → change in messages.
    #[serde(rename = "u", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub users: BTreeMap<String, i64>,
    /// Tag → change in chats.
    #[serde(rename = "t", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, i64>,
}

impl DayDelta {
    pub fn add(&mut self, other: &DayDelta) {
        add_counters(&mut self.counters, &other.counters);
        for (mine, theirs) in [
            (&mut self.users, &other.users),
            (&mut self.tags, &other.tags),
        ] {
            add_counters(mine, theirs);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.counters.is_empty() && self.users.is_empty() && self.tags.is_empty()
    }
}

/// One org's changes, by UTC day.
pub type OrgDelta = BTreeMap<Date, DayDelta>;

/// Which of a day's summaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TopKind {
    Users,
    Tags,
}

/// One stored aggregate item of an org-day, as the summary reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DayAggregate {
    Counters(Counters),
    Top(TopKind, TopK),
}

/// The counter names, in one place: they are the day items' attribute
/// names, readable in the table. None comes from user input.
pub mod counter {
    use super::MessageRole;

    pub const MESSAGES: &str = "messages";
    pub const CHATS: &str = "chats";
    pub const TOKENS: &str = "tokens";
    /// Messages that reported a latency, and the sum of those latencies.
    pub const LATENCY_COUNT: &str = "latency_count";
    pub const LATENCY_SUM_MS: &str = "latency_sum_ms";

    pub const ROLE_PREFIX: &str = "role:";
    pub const ROLE_TOKENS_PREFIX: &str = "role_tokens:";
    pub const LATENCY_BUCKET_PREFIX: &str = "latency:";

    pub fn role(role: MessageRole) -> String {
        format!("{ROLE_PREFIX}{}", role.as_str())
    }
    pub fn role_tokens(role: MessageRole) -> String {
        format!("{ROLE_TOKENS_PREFIX}{}", role.as_str())
    }
    pub fn latency_bucket(bucket: u16) -> String {
        format!("{LATENCY_BUCKET_PREFIX}{bucket}")
    }
}
