use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{
    ApiKeyId, ChatId, ValidationError,
    text::{single_line, string_newtype_serde, visible},
};

/// Most tags a chat may carry.
pub const MAX_TAGS: usize = 20;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Largest `metadata` object, as compact JSON, in bytes.
pub const MAX_METADATA_BYTES: usize = 8 * 1024;
/// Longest chat title, in characters.
pub const MAX_TITLE_CHARS: usize = 200;
/// Longest end-user id, in characters.
pub const MAX_END_USER_ID_CHARS: usize = 128;

/// A chat's title, 1..=200 characters.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, example = "Refund question")]
pub struct ChatTitle(String);
string_newtype_serde!(ChatTitle);

impl ChatTitle {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        single_line(raw, "title", MAX_TITLE_CHARS).map(Self)
    }
}

/// One tag, 1..=64 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, ToSchema)]
#[schema(value_type = String, example = "billing")]
pub struct Tag(String);
string_newtype_serde!(Tag);

impl Tag {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        single_line(raw, "each tag", MAX_TAG_CHARS).map(Self)
    }
}

/// A chat's tags: at most 20, duplicates dropped, order kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[schema(value_type = Vec<String>, example = json!(["billing", "vip"]))]
pub struct Tags(Vec<Tag>);

impl Tags {
    pub fn parse(raw: Vec<Tag>) -> Result<Self, ValidationError> {
        if raw.len() > MAX_TAGS {
            return Err(ValidationError::new(format!(
                "tags must have at most {MAX_TAGS} entries (got {})",
                raw.len()
            )));
        }
        let mut tags: Vec<Tag> = Vec::with_capacity(raw.len());
        for tag in raw {
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        Ok(Self(tags))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Tag> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> Deserialize<'de> for Tags {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(Vec::<Tag>::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Free-form JSON object attached by the client, at most 8 KiB as compact JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[schema(value_type = Object, example = json!({"page": "/pricing", "model": "gpt-4o"}))]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    pub fn parse(raw: Value) -> Result<Self, ValidationError> {
        let Value::Object(map) = raw else {
            return Err(ValidationError::new("metadata must be a JSON object"));
        };
        let size = serde_json::to_vec(&map)
            .map(|json| json.len())
            .unwrap_or(usize::MAX);
        if size > MAX_METADATA_BYTES {
            return Err(ValidationError::new(format!(
                "metadata must be at most {MAX_METADATA_BYTES} bytes as JSON (got {size})"
            )));
        }
        Ok(Self(map))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Compact JSON text: the stored form, which keeps numbers exactly as sent.
    pub fn to_json_text(&self) -> String {
        serde_json::to_string(&self.0).expect("a JSON map always serialises")
    }

    pub fn from_json_text(text: &str) -> Result<Self, ValidationError> {
        let value = serde_json::from_str(text)
            .map_err(|_| ValidationError::new("metadata must be a JSON object"))?;
        Self::parse(value)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::parse(Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// The chat plugin's own identifier for the person chatting (1..=128
/// printable characters, no spaces, nothing invisible).
#[derive(Debug, Clone, PartialEq, Eq, Hash, ToSchema)]
#[schema(value_type = String, example = "visitor-42")]
pub struct EndUserId(String);
string_newtype_serde!(EndUserId);

impl EndUserId {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = (1..=MAX_END_USER_ID_CHARS).contains(&raw.chars().count())
            && !raw.chars().any(|c| c.is_whitespace() || c.is_control());
        if !ok {
            return Err(ValidationError::new(
                "user_id must be 1-128 characters without spaces",
            ));
        }
        visible(raw, "user_id")?;
        Ok(Self(raw.to_owned()))
    }
}

/// How long after a chat's delete the messages still under it are swept
/// once more (see `store::DeletedChatStore`): longer than a plugin container
/// trusts a chat it has seen (`ingest::KNOWN_CHAT_TTL`, 60 s) plus the time a
/// write sent just before that may take to land (the SDK's timeouts and
/// retries).
pub const CHAT_SWEEP_DELAY: std::time::Duration = std::time::Duration::from_secs(3 * 60);

/// A logged conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Chat {
    pub id: ChatId,
    pub title: Option<ChatTitle>,
    pub tags: Tags,
    pub metadata: Metadata,
    pub user_id: Option<EndUserId>,
    /// The API key that logged it; null for chats logged before keys were
    /// recorded.
    #[schema(value_type = Option<String>)]
    pub key_id: Option<ApiKeyId>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl Chat {
    /// True when `other` was made from the same client request: everything
    /// but the server's timestamp (and the key, as for messages) matches.
    /// Decides replay (200) vs conflict (409).
    pub fn same_request_as(&self, other: &Chat) -> bool {
        self.id == other.id
            && self.title == other.title
            && self.tags == other.tags
            && self.metadata == other.metadata
            && self.user_id == other.user_id
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tags(raw: Value) -> Result<Tags, String> {
        serde_json::from_value(raw).map_err(|e| e.to_string())
    }

    #[test]
    fn tags_are_deduplicated_in_order() {
        let parsed = tags(json!(["b", "a", "b", " a "])).unwrap();
        let names: Vec<&str> = parsed.iter().map(Tag::as_str).collect();
        assert_eq!(names, ["b", "a"]);
    }

    #[test]
    fn titles_tags_and_end_user_ids_refuse_invisible_characters() {
        use crate::domain::text::tests::INVISIBLE;
        for c in INVISIBLE {
            let raw = format!("admin{c}x");
            assert!(
                ChatTitle::parse(&raw).is_err(),
                "title with U+{:04X}",
                c as u32
            );
            assert!(Tag::parse(&raw).is_err(), "tag with U+{:04X}", c as u32);
            assert!(
                EndUserId::parse(&raw).is_err(),
                "user_id with U+{:04X}",
                c as u32
            );
        }
        assert!(EndUserId::parse("visitor-42").is_ok());
    }

    #[test]
    fn tags_are_bounded_in_count_and_length() {
        let many: Vec<String> = (0..21).map(|i| format!("t{i}")).collect();
        assert!(tags(json!(many)).unwrap_err().contains("at most 20"));
        assert!(
            tags(json!(["x".repeat(65)]))
                .unwrap_err()
                .contains("at most 64")
        );
        assert!(tags(json!([""])).unwrap_err().contains("must not be empty"));
        assert!(tags(json!(["x".repeat(64)])).is_ok());
    }

    #[test]
    fn metadata_must_be_a_small_object() {
        assert!(Metadata::parse(json!([1])).is_err());
        assert!(Metadata::parse(json!("x")).is_err());
        let big = json!({"k": "x".repeat(MAX_METADATA_BYTES)});
        assert!(
            Metadata::parse(big)
                .unwrap_err()
                .0
                .contains("at most 8192 bytes")
        );
        let edge = json!({"k": "x".repeat(MAX_METADATA_BYTES - 8)}); // {"k":""} is 8 bytes
        assert!(Metadata::parse(edge).is_ok());
    }

    #[test]
    fn metadata_round_trips_through_its_stored_text_exactly() {
        let meta = Metadata::parse(
            json!({"n": 1.50, "big": 12345678901234567890u64, "nested": {"a": [true, null]}}),
        )
        .unwrap();
        assert_eq!(
            Metadata::from_json_text(&meta.to_json_text()).unwrap(),
            meta
        );
    }

    #[test]
    fn end_user_id_has_no_spaces() {
        assert!(EndUserId::parse("visitor-42").is_ok());
        assert!(EndUserId::parse("a b").is_err());
        assert!(EndUserId::parse("").is_err());
        assert!(EndUserId::parse(&"x".repeat(129)).is_err());
    }
}
