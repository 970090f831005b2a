//! The single-table key layout (see DESIGN.md). Tenant items live under a
//! partition key that begins `ORG#<org>`; global lookups hold pointers only.

use crate::domain::{ApiKeyHash, ApiKeyId, ChatId, Email, MessageId, OrgId, Slug, UserId};

pub const PK: &str = "pk";
pub const SK: &str = "sk";

pub fn org_pk(org: OrgId) -> String {
    format!("ORG#{org}")
}
pub const ORG_SK: &str = "ORG";

pub fn slug_pk(slug: &Slug) -> String {
    format!("SLUG#{slug}")
}
pub const SLUG_SK: &str = "SLUG";

pub fn user_sk(user: UserId) -> String {
    format!("USER#{user}")
}

pub fn email_pk(email: &Email) -> String {
    format!("EMAIL#{email}")
}
pub const EMAIL_SK: &str = "EMAIL";

pub fn api_key_sk(key: ApiKeyId) -> String {
    format!("APIKEY#{key}")
}

pub fn key_hash_pk(hash: &ApiKeyHash) -> String {
    format!("KEYHASH#{}", hash.to_hex())
}
pub const KEY_HASH_SK: &str = "KEYHASH";

pub fn chat_sk(chat: ChatId) -> String {
    format!("CHAT#{chat}")
}

/// A chat's messages share one partition, sorted by (time-ordered) id.
pub fn messages_pk(org: OrgId, chat: ChatId) -> String {
    format!("ORG#{org}#CHAT#{chat}")
}

pub fn message_sk(message: MessageId) -> String {
    format!("MSG#{message}")
}
