//! The single-table key layout (docs/data-layout.md). Tenant
//! items live under a partition key that begins `ORG#<org>`; global lookups
//! hold pointers only.

use sha2::Digest;

use time::Date;

use crate::domain::{
    ApiKeyHash, ApiKeyId, ChatId, Email, ExportId, MessageId, OrgId, SessionId, Slug, UserId,
    analytics::aggregate::{format_day, parse_day},
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

/// Sign-in attempts are counted under a hash of what was tried (an email
/// address, a source address, or both), so the table never holds typed-in text.
pub fn login_attempts_pk(key: &str) -> String {
    format!(
        "LOGIN#{}",
        hex::encode(sha2::Sha256::digest(key.as_bytes()))
    )
}

pub fn login_window_sk(window: u64) -> String {
    format!("WINDOW#{window}")
}

/// A user's claim on their address within their org (an address is
/// unique per org, not across the service: see `auth::login`).
pub fn email_sk(email: &Email) -> String {
    format!("EMAIL#{email}")
}

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

/// A day's counters: `DAY#<yyyy-mm-dd>`.
pub fn day_sk(day: Date) -> String {
    format!("DAY#{}", format_day(day))
}

/// A day's top end users and tags: `DAY#<yyyy-mm-dd>#TOP`.
pub fn tops_sk(day: Date) -> String {
    format!("{}#TOP", day_sk(day))
}

/// The day of a counters item's sort key.
pub fn parse_day_sk(sk: &str) -> Option<Date> {
    parse_day(sk.strip_prefix("DAY#")?)
}

/// The day of a tops item's sort key.
pub fn parse_tops_sk(sk: &str) -> Option<Date> {
    parse_day(sk.strip_prefix("DAY#")?.strip_suffix("#TOP")?)
}

/// The aggregator's own items (its lease and journals) share one partition.
pub const AGGREGATOR_PK: &str = "AGGREGATOR";
pub const LEASE_SK: &str = "LEASE";
pub const JOURNAL_SK_PREFIX: &str = "ROUND#";

/// A round's journal, sorted by round (zero-padded).
pub fn journal_sk(round: u64) -> String {
    format!("{JOURNAL_SK_PREFIX}{round:020}")
}

/// A parked day's commit, next to the org's aggregates.
pub fn parked_sk(day: Date, round: u64) -> String {
    format!("PARKED#{}#{round:020}", format_day(day))
}

/// A deleted chat's sweep ticket (see `store::DeletedChatStore`): next to
/// the org's chats, and on the sparse `gsi1` under one partition sorted by
/// when the sweep is due, so the sweeper finds every due ticket with one
/// query and never scans. The index entry holds pointers only.
pub fn chat_sweep_sk(chat: ChatId) -> String {
    format!("SWEEP#{chat}")
}
pub const CHAT_SWEEPS_GSI1PK: &str = "CHATSWEEPS";

/// `<due, epoch seconds, 12 digits>#<org>#<chat>`: sorts by due time.
pub fn chat_sweep_gsi1sk(due: i64, org: OrgId, chat: ChatId) -> String {
    format!("{}#{org}#{chat}", due_prefix(due))
}

/// The sort-key prefix of sweeps due at `due` (epoch seconds).
pub fn due_prefix(due: i64) -> String {
    format!("{:012}", due.max(0))
}

/// The ingest change feed (`store::ChangeFeedStore`): one global item
/// that holds key hashes and org ids only.
pub const CHANGE_FEED_PK: &str = "INGEST#CHANGES";
pub const CHANGE_FEED_SK: &str = "FEED";

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

/// A user's inline exports in one minute, under their org.
/// One of an org's export-worker slots (`crate::export::worker`).
pub fn export_slot_sk(slot: u8) -> String {
    format!("EXPORTSLOT#{slot}")
}

pub fn inline_exports_sk(user: UserId, minute: u64) -> String {
    format!("INLINE#{user}#{minute}")
}
