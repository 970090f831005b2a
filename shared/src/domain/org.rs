use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{
    Metadata, OrgId, ValidationError,
    limits::OrgLimits,
    text::{single_line, string_newtype_serde},
};

/// An org's URL name: 2..=40 of `a-z`, `0-9` and `-`, starting and ending
/// with a letter or digit. It appears in the ingest paths and never changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, ToSchema)]
#[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9-]{0,38}[a-z0-9]$", example = "acme")]
pub struct Slug(String);
string_newtype_serde!(Slug);

impl Slug {
    pub const MAX_LEN: usize = 40;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let bytes = raw.as_bytes();
        let allowed = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-';
        let edge_ok = |b: Option<&u8>| b.is_some_and(|b| *b != b'-');
        if !(2..=Self::MAX_LEN).contains(&bytes.len())
            || !bytes.iter().all(allowed)
            || !edge_ok(bytes.first())
            || !edge_ok(bytes.last())
        {
            return Err(ValidationError::new(
                "slug must be 2-40 characters of a-z, 0-9 and '-', starting and ending with a letter or digit",
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

/// An org's display name, 1..=100 characters.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, example = "Acme Inc.")]
pub struct OrgName(String);
string_newtype_serde!(OrgName);

impl OrgName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        single_line(raw, "name", 100).map(Self)
    }
}

/// An organisation (tenant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Org {
    pub id: OrgId,
    pub slug: Slug,
    pub name: OrgName,
    /// Free-form settings the dashboard keeps for the org (a JSON object of
    /// at most 8 KiB, replaced as a whole by `PATCH /orgs/me`).
    pub settings: Metadata,
    /// The org's rate limit and export quotas (defaults where unset).
    // `default` reads items stored before limits; the API always answers them.
    #[serde(default)]
    #[schema(required = true)]
    pub limits: OrgLimits,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl Org {
    pub fn new(slug: Slug, name: OrgName) -> Self {
        Self {
            id: OrgId::new(),
            slug,
            name,
            settings: Metadata::default(),
            limits: OrgLimits::default(),
            created_at: OffsetDateTime::now_utc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slug_accepts_lowercase_digits_and_inner_dashes() {
        for ok in ["ab", "acme", "acme-2", "a1", &"a".repeat(40)] {
            assert!(Slug::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn slug_rejects_everything_else() {
        for bad in [
            "",
            "a",
            "-acme",
            "acme-",
            "Acme",
            "ac me",
            "acme_1",
            "äcme",
            &"a".repeat(41),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn slugs_and_names_refuse_invisible_characters() {
        for c in crate::domain::text::tests::INVISIBLE {
            assert!(Slug::parse(&format!("ac{c}me")).is_err());
            assert!(OrgName::parse(&format!("Ac{c}me")).is_err());
        }
    }

    #[test]
    fn org_name_is_trimmed_and_bounded() {
        assert_eq!(OrgName::parse("  Acme ").unwrap().as_str(), "Acme");
        assert!(OrgName::parse("   ").is_err());
        assert!(OrgName::parse(&"x".repeat(101)).is_err());
        assert!(OrgName::parse("a\u{7}b").is_err());
    }
}
