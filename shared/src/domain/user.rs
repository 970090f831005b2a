use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{
    PasswordHash, UserId, ValidationError,
    text::{single_line, string_newtype_serde},
};

/// A normalised (trimmed, lower-case) email address. The check is deliberately
/// shallow: one `@`, a non-empty local part, a dotted domain, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash, ToSchema)]
#[schema(value_type = String, format = Email, example = "ada@example.com")]
pub struct Email(String);
string_newtype_serde!(Email);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let value = raw.trim().to_lowercase();
        let invalid = || ValidationError::new("email must be a valid email address");
        if value.len() > Self::MAX_LEN || value.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(invalid());
        }
        // Two addresses that look alike must not be two accounts.
        super::text::visible(&value, "email")?;
        let (local, domain) = value.split_once('@').ok_or_else(invalid)?;
        let domain_ok = domain.contains('.')
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..");
        if local.is_empty() || local.len() > 64 || !domain_ok {
            return Err(invalid());
        }
        Ok(Self(value))
    }
}

/// Dashboard roles. They are not ranked: what each may do, and who may grant
/// which, is the permission table (`/users/me` answers the caller's
/// `permissions` and `grantable_roles`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum UserRole {
    /// Every org.
    Superadmin,
    /// Everything in their own org.
    Admin,
    /// Their own chats and themselves.
    User,
    /// Read-only access to their own org.
    Viewer,
}

impl UserRole {
    pub const ALL: [UserRole; 4] = [Self::Superadmin, Self::Admin, Self::User, Self::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Superadmin => "superadmin",
            Self::Admin => "admin",
            Self::User => "user",
            Self::Viewer => "viewer",
        }
    }
}

impl fmt::Display for UserRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserRole {
    type Err = ValidationError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == raw)
            .ok_or_else(|| {
                ValidationError::new("role must be one of: superadmin, admin, user, viewer")
            })
    }
}

/// A user's display name, 1..=100 characters.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(value_type = String)]
pub struct DisplayName(String);
string_newtype_serde!(DisplayName);

impl DisplayName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        single_line(raw, "display_name", 100).map(Self)
    }
}

/// A dashboard user of one org. The password hash never leaves the storage
/// layer in a response: [`User`] is not `Serialize`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub role: UserRole,
    pub display_name: Option<DisplayName>,
    pub password_hash: PasswordHash,
    pub disabled: bool,
    /// Bumped by a password change; sessions from an older epoch are over.
    pub session_epoch: u32,
    pub created_at: OffsetDateTime,
}

/// A user as the API shows them: everything but the password hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UserProfile {
    pub id: UserId,
    pub email: Email,
    pub role: UserRole,
    pub display_name: Option<DisplayName>,
    /// A disabled user cannot sign in, and their sessions have ended.
    pub disabled: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl From<&User> for UserProfile {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            role: user.role,
            display_name: user.display_name.clone(),
            disabled: user.disabled,
            created_at: user.created_at,
        }
    }
}

impl User {
    pub fn new(email: Email, role: UserRole, password_hash: PasswordHash) -> Self {
        Self {
            id: UserId::new(),
            email,
            role,
            display_name: None,
            password_hash,
            disabled: false,
            session_epoch: 0,
            created_at: OffsetDateTime::now_utc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_normalised() {
        assert_eq!(
            Email::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn email_rejects_malformed_addresses() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a b@example.com",
            "ada@@example.com",
            "ada@example..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn email_refuses_invisible_characters() {
        for c in crate::domain::text::tests::INVISIBLE {
            let raw = format!("ad{c}a@example.com");
            assert!(Email::parse(&raw).is_err(), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn roles_round_trip_through_text() {
        for role in UserRole::ALL {
            assert_eq!(role.as_str().parse::<UserRole>().unwrap(), role);
        }
        assert!("owner".parse::<UserRole>().is_err());
    }
}
