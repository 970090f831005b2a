//! What an aggregate item holds: named counters per org per day.
//!
//! Each org has, per UTC day, one day item (messages, chats, tokens, the
//! latency histogram, counts by role and by tag) and up to
//! [`USER_BUCKETS`] items of per-end-user message counts. Users are spread
//! over buckets by a hash of their id so one busy day cannot outgrow
//! DynamoDB's 400 KB item limit (each bucket fits about ten thousand users).
//!
//! A counter is a signed total that the aggregator only ever adds to, so
//! the per-day items of any range sum to the range's figures.

use std::collections::BTreeMap;

use sha2::Digest;
use time::Date;

use crate::domain::{MessageRole, OrgId};

/// How a day is written everywhere in analytics (aggregate keys, the
/// summary's query and response): `2026-01-31`.
pub const DAY_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// Per-end-user counts are spread over this many items per day.
pub const USER_BUCKETS: u8 = 8;

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

/// Which of a day's aggregate items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AggregatePart {
    Day,
    Users(u8),
}

/// One aggregate item: an org, a UTC day and a part.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AggregateKey {
    pub org: OrgId,
    pub day: Date,
    pub part: AggregatePart,
}

impl AggregateKey {
    pub fn day(org: OrgId, day: Date) -> Self {
        Self {
            org,
            day,
            part: AggregatePart::Day,
        }
    }

    /// The item holding `end_user`'s count on `day`.
    pub fn users(org: OrgId, day: Date, end_user: &str) -> Self {
        let bucket = sha2::Sha256::digest(end_user.as_bytes())[0] % USER_BUCKETS;
        Self {
            org,
            day,
            part: AggregatePart::Users(bucket),
        }
    }
}

/// The counter names, in one place: they are the aggregate items' attribute
/// names, readable in the table.
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
    pub const TAG_PREFIX: &str = "tag:";
    pub const USER_PREFIX: &str = "user:";

    pub fn role(role: MessageRole) -> String {
        format!("{ROLE_PREFIX}{}", role.as_str())
    }
    pub fn role_tokens(role: MessageRole) -> String {
        format!("{ROLE_TOKENS_PREFIX}{}", role.as_str())
    }
    pub fn latency_bucket(bucket: u16) -> String {
        format!("{LATENCY_BUCKET_PREFIX}{bucket}")
    }
    pub fn tag(tag: &str) -> String {
        format!("{TAG_PREFIX}{tag}")
    }
    pub fn user(end_user: &str) -> String {
        format!("{USER_PREFIX}{end_user}")
    }
}
