//! ULID identifiers: time-ordered, so sort keys built from them list newest
//! or oldest first without another index.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use ulid::Ulid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid ULID")]
pub struct InvalidId;

/// How far the time in a client-chosen id may be from the server's clock.
/// Ids order chats and messages and place them in export time ranges, so a
/// client picking any time could pin a chat atop every dashboard (`7ZZZ…`),
/// put a message first in a transcript, or move data out of a range.
pub const CLIENT_ID_SKEW: time::Duration = time::Duration::hours(1);

/// Refuses a client-chosen id (`field`) whose time, `at`, is more than
/// [`CLIENT_ID_SKEW`] from `now`, naming the window allowed.
pub fn check_client_id_time(
    field: &str,
    at: time::OffsetDateTime,
    now: time::OffsetDateTime,
) -> Result<(), super::ValidationError> {
    let (earliest, latest) = (now - CLIENT_ID_SKEW, now + CLIENT_ID_SKEW);
    if (earliest..=latest).contains(&at) {
        return Ok(());
    }
    let text = |t: time::OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| t.to_string())
    };
    Err(super::ValidationError::new(format!(
        "{field} is a ULID of {}: a client-chosen id must carry a time within an hour of the \
         server's clock, from {} to {}",
        text(at),
        text(earliest),
        text(latest)
    )))
}

/// The ids a message logged (by the server's clock) within `logged` can
/// have: its own time's, unless the client chose it, and then at most
/// [`CLIENT_ID_SKEW`] away. So a time range of logging is a range of keys.
pub fn message_ids_logged_within(
    logged: &std::ops::Range<time::OffsetDateTime>,
) -> std::ops::RangeInclusive<MessageId> {
    // Checked: the ends come from a request, and may be years 0 or 9999.
    let first = logged
        .start
        .checked_sub(CLIENT_ID_SKEW)
        .map_or(MessageId::MIN, MessageId::first_at);
    let last = logged
        .end
        .checked_add(CLIENT_ID_SKEW)
        .map_or(MessageId::MAX, MessageId::last_at);
    first..=last
}

/// Milliseconds since the Unix epoch, within a ULID's 48 bits.
fn unix_millis(at: time::OffsetDateTime) -> u64 {
    let millis = at.unix_timestamp_nanos() / 1_000_000;
    u64::try_from(millis.clamp(0, (1 << 48) - 1)).expect("clamped")
}

macro_rules! ulid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Ulid, example = "01JD8Z3K4M5N6P7Q8R9S0T1V2W")]
        pub struct $name(Ulid);

        impl $name {
            /// The smallest and largest ids: the bounds of a range of them.
            pub const MIN: Self = Self(Ulid::nil());
            pub const MAX: Self = Self(Ulid::from_parts(u64::MAX, u128::MAX));

            /// A new id for the current time.
            pub fn new() -> Self {
                Self(Ulid::new())
            }

            /// The smallest id of the millisecond `at` falls in: every id made
            /// at or after `at` sorts at or after it.
            pub fn first_at(at: time::OffsetDateTime) -> Self {
                Self(Ulid::from_parts(unix_millis(at), 0))
            }

            /// The largest id of the millisecond `at` falls in: every id made
            /// at or before `at` sorts at or before it.
            pub fn last_at(at: time::OffsetDateTime) -> Self {
                Self(Ulid::from_parts(unix_millis(at), u128::MAX))
            }

            /// A new id for the time `at` (clients may choose ids for their own
            /// times; tests and seeds make data in the past).
            pub fn at(at: time::OffsetDateTime) -> Self {
                let random = Ulid::new().random();
                Self(Ulid::from_parts(unix_millis(at), random))
            }

            /// The time in the id, to the millisecond. A 48-bit ULID time
            /// runs to the year 10889; past 9999 (the last year kept here)
            /// it reads as the end of 9999.
            pub fn time(&self) -> time::OffsetDateTime {
                let nanos = i128::from(self.0.timestamp_ms()) * 1_000_000;
                time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
                    .unwrap_or_else(|_| time::PrimitiveDateTime::MAX.assume_utc())
            }

            /// Parses the 26-character Crockford base32 form (case-insensitive).
            pub fn parse(raw: &str) -> Result<Self, InvalidId> {
                Ulid::from_string(raw).map(Self).map_err(|_| InvalidId)
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(raw: &str) -> Result<Self, InvalidId> {
                Self::parse(raw)
            }
        }
    };
}

ulid_id!(
    /// An organisation: the tenant every piece of data belongs to.
    OrgId
);
ulid_id!(
    /// A dashboard user.
    UserId
);
ulid_id!(
    /// An API key's public id (not the secret).
    ApiKeyId
);
ulid_id!(
    /// A logged chat (conversation).
    ChatId
);
ulid_id!(
    /// One message of a chat.
    MessageId
);
ulid_id!(
    /// A dashboard sign-in: one browser's session, ended by logout.
    SessionId
);
ulid_id!(
    /// An export job of an org's chats.
    ExportId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively_and_prints_canonical_form() {
        let id = ChatId::parse("01jd8z3k4m5n6p7q8r9s0t1v2w").unwrap();
        assert_eq!(id.to_string(), "01JD8Z3K4M5N6P7Q8R9S0T1V2W");
    }

    #[test]
    fn rejects_non_ulids() {
        for raw in [
            "",
            "abc",
            "01JD8Z3K4M5N6P7Q8R9S0T1V2WX",
            "01JD8Z3K4M5N6P7Q8R9S0T1V2!",
        ] {
            assert_eq!(ChatId::parse(raw), Err(InvalidId), "{raw}");
        }
    }

    #[test]
    fn ids_bound_a_time_range_to_the_millisecond() {
        let at = time::macros::datetime!(2026-03-01 12:00:00.123456 UTC);
        let (first, last, made) = (
            MessageId::first_at(at),
            MessageId::last_at(at),
            MessageId::at(at),
        );
        assert!(first <= made && made <= last);
        assert_eq!(
            made.time(),
            time::macros::datetime!(2026-03-01 12:00:00.123 UTC)
        );
        let next = MessageId::at(at + time::Duration::milliseconds(1));
        assert!(next > last);
    }

    #[test]
    fn a_logging_range_covers_every_id_a_message_logged_in_it_can_have() {
        use time::{Duration, macros::datetime};
        let logged = datetime!(2026-03-01 12:00 UTC)..datetime!(2026-03-01 13:00 UTC);
        let ids = message_ids_logged_within(&logged);
        for at in [logged.start - CLIENT_ID_SKEW, logged.end + CLIENT_ID_SKEW] {
            assert!(ids.contains(&MessageId::at(at)), "{at}");
        }
        let too_early = logged.start - CLIENT_ID_SKEW - Duration::milliseconds(1);
        assert!(!ids.contains(&MessageId::at(too_early)));
        // Ends from a request may sit at the edges of time: no panic.
        let edges =
            time::PrimitiveDateTime::MIN.assume_utc()..time::PrimitiveDateTime::MAX.assume_utc();
        assert_eq!(
            message_ids_logged_within(&edges),
            MessageId::MIN..=MessageId::MAX
        );
    }

    #[test]
    fn new_ids_sort_by_creation_time() {
        let first = MessageId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(MessageId::new() > first);
    }
}
