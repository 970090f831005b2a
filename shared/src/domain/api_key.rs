//! Organisation API keys. A key is `clk_` followed by 32 random bytes in
//! base64url (43 characters). Only its SHA-256 is stored; the plaintext is
//! shown once, when the key is created.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{
    ApiKeyId, OrgId, Slug, ValidationError,
    text::{single_line, string_newtype_serde},
};

/// Every key starts with this, so leaked keys are easy to recognise (and to
/// register with secret scanners).
pub const API_KEY_PREFIX: &str = "clk_";
const SECRET_BYTES: usize = 32;
const ENCODED_LEN: usize = 43; // base64url, no padding, of 32 bytes
/// How much of the key is kept in the clear to tell keys apart in a list.
const DISPLAY_PREFIX_LEN: usize = API_KEY_PREFIX.len() + 6;

/// A plaintext API key. `Debug` redacts it; it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeySecret({}…)", self.display_prefix())
    }
}

/// The header value is not shaped like one of our keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("malformed API key")]
pub struct MalformedApiKey;

impl ApiKeySecret {
    /// A new key from the OS random source.
    pub fn generate() -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        Self(format!("{API_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Checks the shape only (prefix, length, alphabet); whether the key
    /// exists is the store's business.
    pub fn parse(raw: &str) -> Result<Self, MalformedApiKey> {
        let body = raw.strip_prefix(API_KEY_PREFIX).ok_or(MalformedApiKey)?;
        let well_formed = body.len() == ENCODED_LEN
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if well_formed {
            Ok(Self(raw.to_owned()))
        } else {
            Err(MalformedApiKey)
        }
    }

    pub fn hash(&self) -> ApiKeyHash {
        ApiKeyHash(Sha256::digest(self.0.as_bytes()).into())
    }

    /// The first characters, safe to show in lists and logs.
    pub fn display_prefix(&self) -> &str {
        &self.0[..DISPLAY_PREFIX_LEN]
    }

    /// The plaintext, to show the user once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// SHA-256 of a key: what is stored and looked up. A fast hash is right
/// here (unlike passwords): the input has 256 bits of entropy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ApiKeyHash([u8; 32]);

impl ApiKeyHash {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

/// A key's label, 1..=100 characters ("website widget", "support bot").
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, example = "website widget")]
pub struct ApiKeyLabel(String);
string_newtype_serde!(ApiKeyLabel);

impl ApiKeyLabel {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        single_line(raw, "label", 100).map(Self)
    }
}

/// An API key's metadata, as listed to admins. Never holds the key or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub label: ApiKeyLabel,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When ingest last accepted the key, to within
    /// [`crate::http::API_KEY_LAST_USED_RESOLUTION`].
    #[serde(with = "time::serde::rfc3339::option", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiKey {
    /// A new key for `label`: the metadata to store and the secret to show once.
    pub fn generate(label: ApiKeyLabel) -> (Self, ApiKeySecret) {
        let secret = ApiKeySecret::generate();
        let key = Self {
            id: ApiKeyId::new(),
            label,
            prefix: secret.display_prefix().to_owned(),
            created_at: OffsetDateTime::now_utc(),
            last_used_at: None,
            revoked_at: None,
        };
        (key, secret)
    }
}

/// What a key hash resolves to: the org it belongs to (with its slug, so the
/// ingest path can be checked without another read) and whether it is revoked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyGrant {
    pub org_id: OrgId,
    pub org_slug: Slug,
    pub key_id: ApiKeyId,
    pub revoked: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_prefix_and_256_bits() {
        let key = ApiKeySecret::generate();
        assert!(key.expose().starts_with("clk_"));
        assert_eq!(key.expose().len(), 4 + 43);
        assert_eq!(ApiKeySecret::parse(key.expose()), Ok(key.clone()));
        assert_ne!(key, ApiKeySecret::generate());
    }

    #[test]
    fn parse_rejects_wrong_shapes() {
        let good = ApiKeySecret::generate();
        let body = &good.expose()[4..];
        for bad in [
            String::new(),
            body.to_owned(),
            format!("sk_{body}"),
            format!("clk_{}", &body[1..]),
            format!("clk_{body}A"),
            format!("clk_{}!", &body[1..]),
        ] {
            assert_eq!(ApiKeySecret::parse(&bad), Err(MalformedApiKey), "{bad}");
        }
    }

    #[test]
    fn hash_is_sha256_hex() {
        let key = ApiKeySecret::parse(&format!("clk_{}", "A".repeat(43))).unwrap();
        let expected = hex::encode(Sha256::digest(key.expose().as_bytes()));
        assert_eq!(key.hash().to_hex(), expected);
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn debug_shows_only_the_prefix() {
        let key = ApiKeySecret::generate();
        let printed = format!("{key:?}");
        assert!(printed.contains(key.display_prefix()));
        assert!(!printed.contains(&key.expose()[DISPLAY_PREFIX_LEN..]));
    }
}
