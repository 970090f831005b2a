//! The single-table key layout (the README's "Data layout" table). Tenant
//! items live under a partition key that begins `ORG#<org>`; global lookups
//! hold pointers only.

use sha2::Digest;

use crate::domain::{
    ApiKeyHash, ApiKeyId, ChatId, Email, ExportId, MessageId, OrgId, SessionId, Slug, UserId,
    analytics::{AggregateKey, AggregatePart, Marker, aggregate::DAY_FORMAT},
};

pub const PK: &str = "pk";
pub const SK: &str = "sk";

pub fn org_pk(org: OrgId) -> String {
    format!("ORG#{org}")
}
pub const ORG_SK: &str = "ORG";

/// The org directory: a sparse global secondary index that only org items
/// are in, so the superadmin's org list is a query, not a scan.
pub const GSI1: &str = "gsi1";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const ORG_DIRECTORY_PK: &str = "ORGS";

pub const USER_SK_PREFIX: &str = "USER#";
pub const API_KEY_SK_PREFIX: &str = "APIKEY#";

pub fn slug_pk(slug: &Slug) -> String {
    format!("SLUG#{slug}")
}
pub const SLUG_SK: &str = "SLUG";

pub fn user_sk(user: UserId) -> String {
    format!("{USER_SK_PREFIX}{user}")
}

pub fn session_sk(session: SessionId) -> String {
    format!("SESSION#{session}")
}

/// Failed sign-ins are counted under a hash of what was tried (an email
/// address or a source address), so the table never holds typed-in text.
pub fn login_failures_pk(key: &str) -> String {
    format!(
        "LOGINFAIL#{}",
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    )
}

pub fn login_window_sk(window: u64) -> String {
    format!("WINDOW#{window}")
}

pub fn email_pk(email: &Email) -> String {
    format!("EMAIL#{email}")
}
pub const EMAIL_SK: &str = "EMAIL";

pub fn api_key_sk(key: ApiKeyId) -> String {
    format!("{API_KEY_SK_PREFIX}{key}")
}

pub fn key_hash_pk(hash: &ApiKeyHash) -> String {
    key_hash_pk_hex(&hash.to_hex())
}

/// The same, from the hex form the key's metadata item keeps.
pub fn key_hash_pk_hex(hash_hex: &str) -> String {
    format!("KEYHASH#{hash_hex}")
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

pub const CHAT_SK_PREFIX: &str = "CHAT#";
pub const MESSAGE_SK_PREFIX: &str = "MSG#";

/// Chats by end user, on the same sparse index as the org directory: a
/// chat with a `user_id` has `gsi1pk = ORG#<org>#ENDUSER#<user_id>`.
pub fn end_user_gsi1pk(org: OrgId, end_user: &str) -> String {
    format!("ORG#{org}#ENDUSER#{end_user}")
}

/// An org's per-day aggregates share one partition, sorted by day, so a
/// range of days is one `Query`.
pub fn stats_pk(org: OrgId) -> String {
    format!("ORG#{org}#STATS")
}

pub fn day_sk(day: time::Date) -> String {
    let day = day
        .format(DAY_FORMAT)
        .expect("a calendar date always formats");
    format!("DAY#{day}")
}

/// The sort key of an aggregate item: `DAY#<yyyy-mm-dd>` or
/// `DAY#<yyyy-mm-dd>#USERS#<bucket>`.
pub fn aggregate_sk(key: &AggregateKey) -> String {
    match key.part {
        AggregatePart::Day => day_sk(key.day),
        AggregatePart::Users(bucket) => format!("{}#USERS#{bucket}", day_sk(key.day)),
    }
}

/// The inverse of [`aggregate_sk`].
pub fn parse_aggregate_sk(org: OrgId, sk: &str) -> Option<AggregateKey> {
    let rest = sk.strip_prefix("DAY#")?;
    let (day, part) = match rest.split_once("#USERS#") {
        Some((day, bucket)) => (day, AggregatePart::Users(bucket.parse().ok()?)),
        None => (rest, AggregatePart::Day),
    };
    let day = time::Date::parse(day, DAY_FORMAT).ok()?;
    Some(AggregateKey { org, day, part })
}

/// Where an aggregator marker lives: next to the item whose change it marks.
pub fn marker_pk(marker: &Marker) -> String {
    match marker.chat {
        Some(chat) => messages_pk(marker.org, chat),
        None => org_pk(marker.org),
    }
}

/// The rate limiter's shared count of one org for one window (it expires).
pub fn usage_sk(window: u64) -> String {
    format!("USAGE#{window}")
}

/// A key's count within its org's usage item.
pub fn usage_key_attribute(key: ApiKeyId) -> String {
    format!("key#{key}")
}

pub const EXPORT_SK_PREFIX: &str = "EXPORT#";

pub fn export_sk(export: ExportId) -> String {
    format!("{EXPORT_SK_PREFIX}{export}")
}
