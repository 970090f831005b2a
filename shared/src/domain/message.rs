use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::{ApiKeyId, ChatId, MessageId, Metadata, ValidationError, text::bounded_int};

/// Largest message content, in bytes of UTF-8.
pub const MAX_CONTENT_BYTES: usize = 32 * 1024;
/// Longest latency accepted: one day, in milliseconds.
pub const MAX_LATENCY_MS: u64 = 86_400_000;
/// Largest token count accepted for one message.
pub const MAX_TOKEN_COUNT: u64 = 10_000_000;

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum MessageRole {
    User,
    Assistant,
    System,
    Tool,
}

impl MessageRole {
    pub const ALL: [MessageRole; 4] = [Self::User, Self::Assistant, Self::System, Self::Tool];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::System => "system",
            Self::Tool => "tool",
        }
    }
}

/// Message text: not blank, at most 32 KiB of UTF-8. Kept exactly as sent
/// (no trimming): it is the record of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, example = "How do I get a refund?")]
pub struct MessageContent(String);
super::text::string_newtype_serde!(MessageContent);

impl MessageContent {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Err(ValidationError::new("content must not be empty"));
        }
        if raw.len() > MAX_CONTENT_BYTES {
            return Err(ValidationError::new(format!(
                "content must be at most {MAX_CONTENT_BYTES} bytes (got {})",
                raw.len()
            )));
        }
        Ok(Self(raw.to_owned()))
    }
}

bounded_int!(
    /// How long the reply took, in milliseconds.
    LatencyMs, "latency_ms", 0, MAX_LATENCY_MS
);
bounded_int!(
    /// Tokens the message used.
    TokenCount, "token_count", 0, MAX_TOKEN_COUNT
);

/// One message of a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Message {
    pub id: MessageId,
    pub chat_id: ChatId,
    pub role: MessageRole,
    pub content: MessageContent,
    pub metadata: Metadata,
    pub latency_ms: Option<LatencyMs>,
    pub token_count: Option<TokenCount>,
    /// The API key that logged it; null for messages logged before keys
    /// were recorded.
    #[schema(value_type = Option<String>)]
    pub key_id: Option<ApiKeyId>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

impl Message {
    /// True when `other` was made from the same client request (all but the
    /// server's timestamp match). The key is not compared: a retry through
    /// another key of the org replays the stored message, which keeps the
    /// key that first logged it.
    pub fn same_request_as(&self, other: &Message) -> bool {
        self.id == other.id
            && self.chat_id == other.chat_id
            && self.role == other.role
            && self.content == other.content
            && self.metadata == other.metadata
            && self.latency_ms == other.latency_ms
            && self.token_count == other.token_count
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn content_must_not_be_blank_or_oversize() {
        assert!(MessageContent::parse("").is_err());
        assert!(MessageContent::parse(" \n\t").is_err());
        assert!(MessageContent::parse(&"x".repeat(MAX_CONTENT_BYTES)).is_ok());
        assert!(MessageContent::parse(&"x".repeat(MAX_CONTENT_BYTES + 1)).is_err());
        // Bytes, not characters: 'é' is two bytes.
        assert!(MessageContent::parse(&"é".repeat(MAX_CONTENT_BYTES / 2 + 1)).is_err());
    }

    #[test]
    fn content_is_kept_verbatim() {
        assert_eq!(MessageContent::parse("  hi\n").unwrap().as_str(), "  hi\n");
        // Unlike titles and tags, content keeps invisible characters.
        for c in crate::domain::text::tests::INVISIBLE {
            let raw = format!("a{c}b");
            assert_eq!(MessageContent::parse(&raw).unwrap().as_str(), raw);
        }
    }

    #[test]
    fn counts_reject_negative_fractional_and_huge_values() {
        let latency = |v| serde_json::from_value::<LatencyMs>(v).map_err(|e| e.to_string());
        assert_eq!(latency(json!(120)).unwrap().get(), 120);
        assert!(
            latency(json!(-1))
                .unwrap_err()
                .contains("latency_ms must be an integer from 0")
        );
        assert!(
            latency(json!(1.5))
                .unwrap_err()
                .contains("latency_ms must be an integer")
        );
        assert!(latency(json!(MAX_LATENCY_MS + 1)).is_err());
        let tokens = |v| serde_json::from_value::<TokenCount>(v).map_err(|e| e.to_string());
        assert!(tokens(json!(-3)).unwrap_err().contains("token_count"));
        assert!(tokens(json!("12")).is_err());
    }

    #[test]
    fn roles_are_a_closed_set() {
        let role = |v| serde_json::from_value::<MessageRole>(v).map_err(|e| e.to_string());
        for r in MessageRole::ALL {
            assert_eq!(role(json!(r.as_str())).unwrap(), r);
        }
        assert!(
            role(json!("robot"))
                .unwrap_err()
                .contains("expected one of")
        );
    }
}
