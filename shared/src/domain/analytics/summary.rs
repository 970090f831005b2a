//! `GET /analytics/orgs/me/summary`: an org's figures over a range of UTC
//! days, folded from the per-day aggregate items (one query, O(days)
//! items; messages are never read).

use std::collections::BTreeMap;

use serde::Serialize;
use time::{Date, Duration};
use utoipa::ToSchema;

use super::{
    aggregate::{Counters, DAY_FORMAT, DayAggregate, TopKind, add_counters, counter},
    histogram,
    topk::TopK,
};
use crate::domain::{MessageRole, OrgId, ValidationError};

/// The range when the request names none: the last 30 days, today included.
pub const DEFAULT_RANGE_DAYS: u16 = 30;
/// The longest range one request may ask for.
pub const MAX_RANGE_DAYS: u16 = 366;
/// How many top users and top tags are listed.
pub const TOP_N: usize = 10;
/// Documented in the response, so a reader knows what a percentile means.
pub const LATENCY_RESOLUTION: &str = "Percentiles use the nearest rank over a fixed histogram: exact to 12 ms, then 8 buckets per doubling; each is reported as its bucket's upper bound (at most 9.1% above the true value, never below).";

time::serde::format_description!(iso_date, Date, DAY_FORMAT);

/// A validated range of UTC days, both ends included.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub from: Date,
    pub to: Date,
}

impl DayRange {
    /// From the query's `from` and `to` (`YYYY-MM-DD`, both optional):
    /// `to` defaults to today, `from` to 29 days before `to`.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        today: Date,
    ) -> Result<Self, ValidationError> {
        let to = match to {
            Some(raw) => parse_day(raw, "to")?,
            None => today,
        };
        let from = match from {
            Some(raw) => parse_day(raw, "from")?,
            None => to - Duration::days(i64::from(DEFAULT_RANGE_DAYS) - 1),
        };
        if from > to {
            return Err(ValidationError::new("from must not be after to"));
        }
        let days = (to - from).whole_days() + 1;
        if days > i64::from(MAX_RANGE_DAYS) {
            return Err(ValidationError::new(format!(
                "the range must be at most {MAX_RANGE_DAYS} days (got {days})"
            )));
        }
        Ok(Self { from, to })
    }

    /// Every day of the range, in order.
    pub fn days(&self) -> impl Iterator<Item = Date> + '_ {
        std::iter::successors(Some(self.from), |day| day.next_day())
            .take_while(|day| *day <= self.to)
    }
}

fn parse_day(raw: &str, field: &str) -> Result<Date, ValidationError> {
    Date::parse(raw, DAY_FORMAT)
        .map_err(|_| ValidationError::new(format!("{field} must be a date like 2026-01-31")))
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    pub org_id: OrgId,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub from: Date,
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub to: Date,
    pub totals: Totals,
    /// Every day of the range, zeros included.
    pub days: Vec<DayCounts>,
    pub messages_by_role: RoleCounts,
    pub tokens: TokenTotals,
    pub latency: LatencySummary,
    /// The end users with the most messages in the range (at most 10;
    /// ties by id). Counts may be below the true ones by at most
    /// `top_users_error_bound`.
    pub top_users: Vec<UserCount>,
    /// How far each of `top_users`' counts may be below its true count: 0
    /// (exact) while no day of the range had more than 32 end users; at
    /// most 1/33 of the range's messages in any case. An end user missing
    /// from the list has at most this many messages more than its last
    /// entry.
    pub top_users_error_bound: u64,
    /// The tags on the most chats created in the range (at most 10; ties by tag).
    pub top_tags: Vec<TagCount>,
    /// Like `top_users_error_bound`, for `top_tags`: 0 while no day had
    /// more than 32 tags; at most 1/33 of the range's tag uses.
    pub top_tags_error_bound: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Totals {
    pub messages: u64,
    pub chats: u64,
    pub tokens: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct DayCounts {
    #[serde(with = "iso_date")]
    #[schema(value_type = String, format = Date)]
    pub date: Date,
    pub messages: u64,
    pub chats: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct RoleCounts {
    pub user: u64,
    pub assistant: u64,
    pub system: u64,
    pub tool: u64,
}

impl RoleCounts {
    fn from_counters(counters: &Counters, name: fn(MessageRole) -> String) -> Self {
        let get = |role| count(counters, &name(role));
        Self {
            user: get(MessageRole::User),
            assistant: get(MessageRole::Assistant),
            system: get(MessageRole::System),
            tool: get(MessageRole::Tool),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TokenTotals {
    pub total: u64,
    pub by_role: RoleCounts,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LatencySummary {
    /// Messages that reported a latency.
    pub count: u64,
    pub average_ms: Option<f64>,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
    pub p99_ms: Option<u64>,
    pub resolution: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UserCount {
    pub user_id: String,
    pub messages: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct TagCount {
    pub tag: String,
    pub chats: u64,
}

fn count(counters: &Counters, name: &str) -> u64 {
    counters.get(name).copied().unwrap_or(0).max(0) as u64
}

impl Summary {
    /// Folds the range's aggregate items (any order) into the summary.
    pub fn build(
        org_id: OrgId,
        range: DayRange,
        aggregates: impl IntoIterator<Item = (Date, DayAggregate)>,
    ) -> Self {
        let mut per_day: BTreeMap<Date, Counters> = BTreeMap::new();
        let mut all = Counters::new();
        let (mut users, mut tags) = (TopK::default(), TopK::default());
        for (day, aggregate) in aggregates {
            if day < range.from || day > range.to {
                continue;
            }
            match aggregate {
                DayAggregate::Counters(counters) => {
                    add_counters(per_day.entry(day).or_default(), &counters);
                    add_counters(&mut all, &counters);
                }
                DayAggregate::Top(TopKind::Users, top) => users.merge(&top),
                DayAggregate::Top(TopKind::Tags, top) => tags.merge(&top),
            }
        }
        let days = range
            .days()
            .map(|date| {
                let day = per_day.get(&date);
                DayCounts {
                    date,
                    messages: day.map_or(0, |c| count(c, counter::MESSAGES)),
                    chats: day.map_or(0, |c| count(c, counter::CHATS)),
                }
            })
            .collect();
        let histogram: Vec<(u16, u64)> = all
            .iter()
            .filter_map(|(name, value)| {
                let bucket = name
                    .strip_prefix(counter::LATENCY_BUCKET_PREFIX)?
                    .parse()
                    .ok()?;
                Some((bucket, (*value).max(0) as u64))
            })
            .collect();
        let latency_count = count(&all, counter::LATENCY_COUNT);
        Self {
            org_id,
            from: range.from,
            to: range.to,
            totals: Totals {
                messages: count(&all, counter::MESSAGES),
                chats: count(&all, counter::CHATS),
                tokens: count(&all, counter::TOKENS),
            },
            days,
            messages_by_role: RoleCounts::from_counters(&all, counter::role),
            tokens: TokenTotals {
                total: count(&all, counter::TOKENS),
                by_role: RoleCounts::from_counters(&all, counter::role_tokens),
            },
            latency: LatencySummary {
                count: latency_count,
                average_ms: (latency_count > 0)
                    .then(|| count(&all, counter::LATENCY_SUM_MS) as f64 / latency_count as f64),
                p50_ms: histogram::percentile(&histogram, 50),
                p95_ms: histogram::percentile(&histogram, 95),
                p99_ms: histogram::percentile(&histogram, 99),
                resolution: LATENCY_RESOLUTION,
            },
            top_users: users
                .top(TOP_N)
                .into_iter()
                .map(|(user_id, messages)| UserCount { user_id, messages })
                .collect(),
            top_users_error_bound: users.error(),
            top_tags: tags
                .top(TOP_N)
                .into_iter()
                .map(|(tag, chats)| TagCount { tag, chats })
                .collect(),
            top_tags_error_bound: tags.error(),
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::date;

    use super::*;

    const TODAY: Date = date!(2026 - 11 - 22);

    #[test]
    fn the_range_defaults_to_the_last_thirty_days_and_is_bounded() {
        let range = DayRange::parse(None, None, TODAY).unwrap();
        assert_eq!((range.from, range.to), (date!(2026 - 10 - 24), TODAY));
        assert_eq!(range.days().count(), 30);
        let one = DayRange::parse(Some("2026-01-31"), Some("2026-01-31"), TODAY).unwrap();
        assert_eq!(one.days().collect::<Vec<_>>(), [date!(2026 - 01 - 31)]);
        assert!(DayRange::parse(Some("2026-02-01"), Some("2026-01-31"), TODAY).is_err());
        assert!(DayRange::parse(Some("2025-01-01"), Some("2026-01-31"), TODAY).is_err());
        assert!(DayRange::parse(Some("2025-02-01"), Some("2026-01-31"), TODAY).is_ok());
        for bad in [
            "2026-1-1",
            "yesterday",
            "2026-02-30",
            "2026-01-01T00:00:00Z",
            "",
        ] {
            assert!(DayRange::parse(Some(bad), None, TODAY).is_err(), "{bad}");
        }
    }

    #[test]
    fn aggregates_fold_into_days_totals_and_tops() {
        let org = OrgId::new();
        let range = DayRange::parse(Some("2026-11-20"), Some("2026-11-22"), TODAY).unwrap();
        let day = |d, pairs: &[(&str, i64)]| {
            let counters = pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            (d, DayAggregate::Counters(counters))
        };
        let top = |d, kind, pairs: &[(&str, i64)]| {
            let mut top = TopK::default();
            let changes: BTreeMap<String, i64> =
                pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            top.apply(&changes);
            (d, DayAggregate::Top(kind, top))
        };
        let summary = Summary::build(
            org,
            range,
            [
                day(
                    date!(2026 - 11 - 20),
                    &[("messages", 2), ("role:user", 2), ("chats", 1)],
                ),
                top(date!(2026 - 11 - 20), TopKind::Tags, &[("b", 1), ("a", 1)]),
                day(
                    date!(2026 - 11 - 22),
                    &[
                        ("messages", 1),
                        ("role:tool", 1),
                        ("tokens", 9),
                        ("role_tokens:tool", 9),
                        ("latency_count", 1),
                        ("latency_sum_ms", 40),
                        ("latency:40", 1),
                    ],
                ),
                // A day out of range: ignored.
                day(date!(2026 - 11 - 23), &[("messages", 7)]),
                top(date!(2026 - 11 - 20), TopKind::Users, &[("u1", 2)]),
            ],
        );
        assert_eq!(
            summary.totals,
            Totals {
                messages: 3,
                chats: 1,
                tokens: 9
            }
        );
        assert_eq!(
            summary.days.iter().map(|d| d.messages).collect::<Vec<_>>(),
            [2, 0, 1]
        );
        assert_eq!(summary.messages_by_role.user, 2);
        assert_eq!(summary.tokens.by_role.tool, 9);
        assert_eq!(summary.latency.average_ms, Some(40.0));
        assert_eq!(
            summary.top_users,
            [UserCount {
                user_id: "u1".into(),
                messages: 2
            }]
        );
        assert_eq!(summary.top_users_error_bound, 0);
        assert_eq!(
            summary
                .top_tags
                .iter()
                .map(|t| t.tag.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["from"], "2026-11-20");
        assert_eq!(json["days"][1]["date"], "2026-11-21");
    }
}
