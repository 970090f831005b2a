//! Organisation API keys, of two kinds: secret keys (`clk_`) for servers,
//! and publishable keys (`clp_`) for browser plugins, which may only log,
//! only from their allowed origins, at their own rate. A key is its prefix
//! followed by 32 random bytes in base64url (43 characters). Only its
//! SHA-256 is stored; the plaintext is shown once, when the key is created.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{
    ApiKeyId, MAX_CONTENT_BYTES, MAX_METADATA_BYTES, Message, Metadata, OrgId, Slug,
    ValidationError,
    limits::RateLimit,
    text::{bounded_int, single_line, string_newtype_serde},
};

/// Every secret key starts with this, so leaked keys are easy to recognise
/// (and to register with secret scanners).
pub const API_KEY_PREFIX: &str = "clk_";
/// Every publishable key starts with this.
pub const PUBLISHABLE_KEY_PREFIX: &str = "clp_";
const SECRET_BYTES: usize = 32;
const ENCODED_LEN: usize = 43; // base64url, no padding, of 32 bytes
/// How much of the key is kept in the clear to tell keys apart in a list.
const DISPLAY_PREFIX_LEN: usize = API_KEY_PREFIX.len() + 6;
/// Most origins one publishable key may allow.
pub const MAX_ALLOWED_ORIGINS: usize = 20;

/// What a key may be used for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ApiKeyKind {
    /// For servers: never sent by a browser (a request with an `Origin`
    /// header is refused).
    #[default]
    Secret,
    /// For browser plugins: logs chats and messages only, only from its
    /// allowed origins, at its own rate, within its restrictions.
    Publishable,
}

impl ApiKeyKind {
    pub fn prefix(self) -> &'static str {
        match self {
            Self::Secret => API_KEY_PREFIX,
            Self::Publishable => PUBLISHABLE_KEY_PREFIX,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Secret => "secret",
            Self::Publishable => "publishable",
        }
    }
}

/// A plaintext API key (secret or publishable). `Debug` redacts it; it has
/// no `Display`.
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
    /// A new key of `kind` from the OS random source.
    pub fn generate(kind: ApiKeyKind) -> Self {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).expect("the OS random source is available");
        Self(format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// Checks the shape only (prefix, length, alphabet); whether the key
    /// exists is the store's business.
    pub fn parse(raw: &str) -> Result<Self, MalformedApiKey> {
        let body = raw
            .strip_prefix(API_KEY_PREFIX)
            .or_else(|| raw.strip_prefix(PUBLISHABLE_KEY_PREFIX))
            .ok_or(MalformedApiKey)?;
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

    /// The kind its prefix names.
    pub fn kind(&self) -> ApiKeyKind {
        if self.0.starts_with(PUBLISHABLE_KEY_PREFIX) {
            ApiKeyKind::Publishable
        } else {
            ApiKeyKind::Secret
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

    /// The hash from its hex form (as items store it); `None` if it is not
    /// 64 hex digits.
    pub fn from_hex(text: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Self(bytes))
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

/// A browser origin a publishable key may be used from: `https://host` or
/// `http://host`, with an optional port, no path (lower-cased, as browsers
/// send it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, ToSchema)]
#[schema(value_type = String, example = "https://www.example.com")]
pub struct Origin(String);
string_newtype_serde!(Origin);

impl Origin {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let value = raw.trim().to_ascii_lowercase();
        let invalid = || {
            ValidationError::new(format!(
                "'{raw}' is not an origin like https://www.example.com"
            ))
        };
        let (scheme, authority) = value.split_once("://").ok_or_else(invalid)?;
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        let port_ok =
            port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok());
        if matches!(scheme, "https" | "http") && host_ok && port_ok {
            Ok(Self(value))
        } else {
            Err(invalid())
        }
    }
}

bounded_int!(
    /// The largest message content a restricted key may log, in bytes.
    MaxContentBytes, "max_content_bytes", 1, MAX_CONTENT_BYTES as u64
);
bounded_int!(
    /// The largest `metadata` (compact JSON) a restricted key may send, in bytes.
    MaxMetadataBytes, "max_metadata_bytes", 0, MAX_METADATA_BYTES as u64
);

/// What an admin sets on a key besides its label. Everything is optional:
/// a publishable key needs `allowed_origins`, the rest narrows a key below
/// the API's own limits. Not a request body itself (the key routes'
/// bodies refuse unknown fields): it is flattened into `ApiKey`, whose
/// schema must allow the other fields, and stored as is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKeySettings {
    /// Publishable keys only: the browser origins (1 to 20) it may be used
    /// from; requests from any other origin, or none, are refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<Origin>,
    /// The key's own rate, within its org's (default for publishable keys:
    /// 20 per second, burst 100; secret keys have only their org's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Messages logged with this key: content of at most this many bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_content_bytes: Option<MaxContentBytes>,
    /// Chats and messages logged with this key: `metadata` of at most this
    /// many bytes as compact JSON (0: no metadata).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_metadata_bytes: Option<MaxMetadataBytes>,
}

/// What `PATCH /orgs/me/apikeys/{key_id}` changes in a key's settings: each
/// setting sent replaces the key's (`null` removes it), each left out is
/// kept; an unknown one is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeySettingsPatch {
    /// Publishable keys: replaces the browser origins (1 to 20).
    #[serde(default, deserialize_with = "super::patch::present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub allowed_origins: Option<Option<Vec<Origin>>>,
    /// Replaces the key's own rate; `null` returns to its kind's default.
    #[serde(default, deserialize_with = "super::patch::present")]
    #[schema(value_type = Option<RateLimit>)]
    pub rate_limit: Option<Option<RateLimit>>,
    /// Replaces the largest content this key may log; `null` removes it.
    #[serde(default, deserialize_with = "super::patch::present")]
    #[schema(value_type = Option<u64>)]
    pub max_content_bytes: Option<Option<MaxContentBytes>>,
    /// Replaces the largest metadata this key may send; `null` removes it.
    #[serde(default, deserialize_with = "super::patch::present")]
    #[schema(value_type = Option<u64>)]
    pub max_metadata_bytes: Option<Option<MaxMetadataBytes>>,
}

impl ApiKeySettingsPatch {
    /// `current` with this patch applied.
    pub fn apply_to(self, current: &ApiKeySettings) -> ApiKeySettings {
        use super::patch::patched;
        let origins =
            (!current.allowed_origins.is_empty()).then(|| current.allowed_origins.clone());
        ApiKeySettings {
            allowed_origins: patched(origins, self.allowed_origins).unwrap_or_default(),
            rate_limit: patched(current.rate_limit, self.rate_limit),
            max_content_bytes: patched(current.max_content_bytes, self.max_content_bytes),
            max_metadata_bytes: patched(current.max_metadata_bytes, self.max_metadata_bytes),
        }
    }
}

impl ApiKeySettings {
    /// Checks the settings suit a key of `kind`, and de-duplicates origins.
    pub fn for_kind(mut self, kind: ApiKeyKind) -> Result<Self, ValidationError> {
        let mut origins: Vec<Origin> = Vec::with_capacity(self.allowed_origins.len());
        for origin in self.allowed_origins {
            if !origins.contains(&origin) {
                origins.push(origin);
            }
        }
        self.allowed_origins = origins;
        match kind {
            ApiKeyKind::Publishable if self.allowed_origins.is_empty() => {
                Err(ValidationError::new(
                    "allowed_origins must name at least one origin for a publishable key",
                ))
            }
            ApiKeyKind::Publishable if self.allowed_origins.len() > MAX_ALLOWED_ORIGINS => {
                Err(ValidationError::new(format!(
                    "allowed_origins must have at most {MAX_ALLOWED_ORIGINS} entries"
                )))
            }
            ApiKeyKind::Secret if !self.allowed_origins.is_empty() => Err(ValidationError::new(
                "allowed_origins applies to publishable keys only: secret keys are refused from browsers",
            )),
            _ => Ok(self),
        }
    }

    pub fn allows_origin(&self, origin: &str) -> bool {
        self.allowed_origins
            .iter()
            .any(|allowed| allowed.as_str().eq_ignore_ascii_case(origin))
    }

    /// The key's own rate: its setting, or its kind's default.
    pub fn rate(&self, kind: ApiKeyKind) -> Option<RateLimit> {
        self.rate_limit.or(match kind {
            ApiKeyKind::Publishable => Some(RateLimit::new(
                super::limits::DEFAULT_PUBLISHABLE_RATE.0,
                Some(super::limits::DEFAULT_PUBLISHABLE_RATE.1),
            )),
            ApiKeyKind::Secret => None,
        })
    }

    /// Whether a chat's metadata is within the key's restrictions.
    pub fn check_metadata(&self, metadata: &Metadata) -> Result<(), ValidationError> {
        let Some(max) = self.max_metadata_bytes.map(MaxMetadataBytes::get) else {
            return Ok(());
        };
        let size = if metadata.is_empty() {
            0
        } else {
            metadata.to_json_text().len() as u64
        };
        if size > max {
            return Err(ValidationError::new(format!(
                "metadata must be at most {max} bytes as JSON with this API key (got {size})"
            )));
        }
        Ok(())
    }

    /// Whether a message is within the key's restrictions.
    pub fn check_message(&self, message: &Message) -> Result<(), ValidationError> {
        if let Some(max) = self.max_content_bytes.map(MaxContentBytes::get) {
            let size = message.content.as_str().len() as u64;
            if size > max {
                return Err(ValidationError::new(format!(
                    "content must be at most {max} bytes with this API key (got {size})"
                )));
            }
        }
        self.check_metadata(&message.metadata)
    }
}

/// An API key's metadata, as listed to admins. Never holds the key or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    /// `secret` (`clk_`, for servers) or `publishable` (`clp_`, for browsers).
    // `default` reads items stored before key types; the API always answers it.
    #[serde(rename = "type", default)]
    #[schema(required = true)]
    pub kind: ApiKeyKind,
    pub label: ApiKeyLabel,
    #[serde(flatten)]
    pub settings: ApiKeySettings,
    /// The key's first characters, to tell keys apart.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When ingest last accepted the key, to within an hour: each ingest
    /// container stamps it at most once an hour per key
    /// (`chatlogger::http::API_KEY_LAST_USED_RESOLUTION`).
    #[serde(with = "time::serde::rfc3339::option", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option", default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub revoked_at: Option<OffsetDateTime>,
}

impl ApiKey {
    /// A new secret key for `label`: the metadata to store and the key to
    /// show once.
    pub fn generate(label: ApiKeyLabel) -> (Self, ApiKeySecret) {
        Self::generate_with(label, ApiKeyKind::Secret, ApiKeySettings::default())
    }

    /// A new key of `kind` (`settings` already checked for it).
    pub fn generate_with(
        label: ApiKeyLabel,
        kind: ApiKeyKind,
        settings: ApiKeySettings,
    ) -> (Self, ApiKeySecret) {
        let secret = ApiKeySecret::generate(kind);
        let key = Self {
            id: ApiKeyId::new(),
            kind,
            label,
            settings,
            prefix: secret.display_prefix().to_owned(),
            created_at: OffsetDateTime::now_utc(),
            last_used_at: None,
            revoked_at: None,
        };
        (key, secret)
    }
}

/// What a key hash resolves to: the org it belongs to (with its slug, so the
/// ingest path can be checked without another read), whether it is revoked,
/// and what the key may do (its kind and settings): all in one read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyGrant {
    pub org_id: OrgId,
    pub org_slug: Slug,
    pub key_id: ApiKeyId,
    pub revoked: bool,
    pub kind: ApiKeyKind,
    pub settings: ApiKeySettings,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_have_prefix_and_256_bits() {
        let key = ApiKeySecret::generate(ApiKeyKind::Secret);
        assert!(key.expose().starts_with("clk_"));
        assert_eq!(key.expose().len(), 4 + 43);
        assert_eq!(ApiKeySecret::parse(key.expose()), Ok(key.clone()));
        assert_eq!(key.kind(), ApiKeyKind::Secret);
        assert_ne!(key, ApiKeySecret::generate(ApiKeyKind::Secret));
        let publishable = ApiKeySecret::generate(ApiKeyKind::Publishable);
        assert!(publishable.expose().starts_with("clp_"));
        let parsed = ApiKeySecret::parse(publishable.expose()).unwrap();
        assert_eq!(parsed.kind(), ApiKeyKind::Publishable);
    }

    #[test]
    fn parse_rejects_wrong_shapes() {
        let good = ApiKeySecret::generate(ApiKeyKind::Secret);
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
        let key = ApiKeySecret::generate(ApiKeyKind::Publishable);
        let printed = format!("{key:?}");
        assert!(printed.contains(key.display_prefix()));
        assert!(!printed.contains(&key.expose()[DISPLAY_PREFIX_LEN..]));
    }

    #[test]
    fn origins_are_plain_origins() {
        assert_eq!(
            Origin::parse(" HTTPS://Shop.Example.com:8443 ")
                .unwrap()
                .as_str(),
            "https://shop.example.com:8443"
        );
        assert!(Origin::parse("http://localhost:5173").is_ok());
        for bad in [
            "*",
            "shop.example.com",
            "https://*.example.com",
            "https://example.com/",
            "https://example.com/path",
            "ftp://example.com",
            "https://",
            "https://example.com:99999",
            "https://user@example.com",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn settings_suit_their_kind() {
        let origin = |o: &str| Origin::parse(o).unwrap();
        let publishable = ApiKeySettings {
            allowed_origins: vec![origin("https://a.example"), origin("https://a.example")],
            ..ApiKeySettings::default()
        };
        let checked = publishable
            .clone()
            .for_kind(ApiKeyKind::Publishable)
            .unwrap();
        assert_eq!(checked.allowed_origins.len(), 1, "duplicates dropped");
        assert!(checked.allows_origin("https://a.example"));
        assert!(!checked.allows_origin("https://b.example"));
        assert!(publishable.for_kind(ApiKeyKind::Secret).is_err());
        assert!(
            ApiKeySettings::default()
                .for_kind(ApiKeyKind::Publishable)
                .is_err()
        );
        assert_eq!(ApiKeySettings::default().rate(ApiKeyKind::Secret), None);
        assert_eq!(
            ApiKeySettings::default()
                .rate(ApiKeyKind::Publishable)
                .map(|r| r.per_second()),
            Some(20)
        );
    }

    #[test]
    fn restrictions_bound_content_and_metadata() {
        let settings: ApiKeySettings = serde_json::from_value(
            serde_json::json!({"max_content_bytes": 5, "max_metadata_bytes": 0}),
        )
        .unwrap();
        let message = |content: &str, metadata: serde_json::Value| Message {
            id: crate::domain::MessageId::new(),
            chat_id: crate::domain::ChatId::new(),
            role: crate::domain::MessageRole::User,
            content: crate::domain::MessageContent::parse(content).unwrap(),
            metadata: Metadata::parse(metadata).unwrap(),
            latency_ms: None,
            token_count: None,
            key_id: None,
            created_at: OffsetDateTime::now_utc(),
        };
        assert!(
            settings
                .check_message(&message("hello", serde_json::json!({})))
                .is_ok()
        );
        let long = settings
            .check_message(&message("hello!", serde_json::json!({})))
            .unwrap_err();
        assert!(long.0.contains("content must be at most 5 bytes"), "{long}");
        assert!(
            settings
                .check_message(&message("hi", serde_json::json!({"a": 1})))
                .is_err()
        );
        assert!(
            serde_json::from_value::<ApiKeySettings>(serde_json::json!({"max_content_bytes": 0}))
                .is_err()
        );
    }

    #[test]
    fn a_settings_patch_keeps_what_it_leaves_out_and_refuses_typos() {
        let current = ApiKeySettings {
            allowed_origins: vec![Origin::parse("https://shop.example.com").unwrap()],
            rate_limit: Some(RateLimit::new(5, None)),
            max_content_bytes: None,
            max_metadata_bytes: Some(MaxMetadataBytes::parse(100).unwrap()),
        };
        let patch: ApiKeySettingsPatch = serde_json::from_value(
            serde_json::json!({"rate_limit": null, "max_content_bytes": 10}),
        )
        .unwrap();
        let patched = patch.apply_to(&current);
        assert_eq!(patched.allowed_origins, current.allowed_origins, "kept");
        assert_eq!(patched.rate_limit, None, "removed");
        assert_eq!(
            patched.max_content_bytes.map(MaxContentBytes::get),
            Some(10)
        );
        assert_eq!(patched.max_metadata_bytes, current.max_metadata_bytes);
        assert_eq!(
            ApiKeySettingsPatch::default().apply_to(&current),
            current,
            "an empty patch changes nothing"
        );
        let typo = serde_json::from_value::<ApiKeySettingsPatch>(
            serde_json::json!({"rate_limt": {"per_second": 1}}),
        );
        assert!(typo.unwrap_err().to_string().contains("rate_limt"));
    }
}
