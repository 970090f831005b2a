//! ULID identifiers: time-ordered, so sort keys built from them list newest
//! or oldest first without another index.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use ulid::Ulid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a valid ULID")]
pub struct InvalidId;

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
    fn new_ids_sort_by_creation_time() {
        let first = MessageId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(MessageId::new() > first);
    }
}
