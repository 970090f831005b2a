//! The storage contract: what every adapter of the ports must do alike,
//! written once as generic cases over the ports and run against both
//! stores, so that the in-memory store the unit tests and the benchmark
//! use behaves as DynamoDB does.
//!
//! - [`store_contract_tests!`](crate::store_contract_tests) makes one
//!   `#[tokio::test]` per case on a fresh store;
//! - this crate's unit tests run it against `MemoryStore` and
//!   `MemoryAggregates` (below, so `make check` runs it, fast), and
//!   `tests/tests/api/store_contract.rs` against
//!   [`DynamoStore`](super::DynamoStore) on moto, a table per case.
//!
//! The cases are the behaviour the use cases rely on: claims of ids and
//! unique names and their retries, tenant scoping, listings and their
//! cursors, deletes and tombstones, sessions and their epochs, the
//! sign-in throttle, API keys and the ingest change feed, export job
//! claims and quotas, usage counts, the aggregator's lease and its
//! conditional writes of a day, and the summary's read. Each case names the ports it uses and
//! gets a store whose clock stands at [`NOW`] (a
//! [`ManualClock`](crate::clock::ManualClock) it may move). Where DynamoDB itself differs from moto (a full last page may
//! come with a cursor on AWS), cases assert only what both do.
//!
//! Behind the `memory-store` feature, with the in-memory adapters.

pub mod accounts;
pub mod analytics;
pub mod chats;
pub mod exports;
pub mod sessions;

use std::future::Future;

use time::{Duration, OffsetDateTime, macros::datetime};

use super::{Page, PageRequest, StoreResult};
use crate::domain::{
    ApiKey, ApiKeyId, ApiKeyKind, ApiKeyLabel, ApiKeySecret, ApiKeySettings, Chat, ChatId, Email,
    ExportId, Message, MessageContent, MessageId, MessageRole, Metadata, Org, OrgId, OrgName,
    PasswordHash, RefreshTokenHash, SESSION_TTL, Session, SessionId, Slug, Tags, User, UserId,
    UserRole,
    export::{ExportFilters, ExportFormat, ExportJob, ExportStatus},
};

/// The time every case starts at: its store's clock.
pub const NOW: OffsetDateTime = datetime!(2026-11-22 12:00:00 UTC);

/// Makes one `#[tokio::test]` per contract case, grouped in a module per
/// part of the contract (`accounts::...`, `chats::...`), each on a store
/// of its own: `$new_store` and (for the aggregator's store and the
/// summary's read) `$new_aggregates` are `async fn(Arc<ManualClock>) -> S`
/// in the calling module, whose store stamps its own changes with that
/// clock.
#[macro_export]
macro_rules! store_contract_tests {
    ($new_store:ident, $new_aggregates:ident) => {
        $crate::__store_contract_cases! {
            accounts($new_store): [
                an_org_claims_its_slug,
                orgs_are_listed_oldest_first,
                an_org_update_changes_only_what_it_names,
                an_address_is_claimed_once_per_org,
                users_are_listed_per_org_oldest_first,
                a_user_update_can_end_their_sessions,
                deleting_a_user_frees_their_email,
                a_cursor_continues_only_its_own_listing,
                a_listing_goes_on_past_a_deleted_item,
                an_api_key_is_granted_by_its_hash,
                revoking_a_key_keeps_the_first_time,
                key_settings_reach_the_grant_and_labels_do_not,
                touching_a_key_stamps_its_last_use,
                api_keys_are_listed_per_org_revoked_ones_too,
                the_change_feed_notes_what_ingest_caches,
                usage_adds_up_per_org_window_and_key,
                a_capped_report_adds_nothing_past_its_cap,
                the_store_answers_a_ping,
            ],
            sessions($new_store): [
                a_session_is_read_with_its_user,
                a_refresh_token_rotates_once,
                a_revoked_session_cannot_rotate,
                a_password_change_keeps_one_session,
                a_password_change_needs_a_live_session,
                sign_in_attempts_stop_at_the_limit,
                releasing_an_unused_attempt_changes_nothing,
            ],
            chats($new_store): [
                a_chat_id_is_claimed_once,
                a_deleted_chats_id_stays_taken,
                another_orgs_chats_are_out_of_reach,
                chats_are_listed_newest_or_oldest_first,
                listings_skip_deleted_and_filtered_chats,
                listings_count_the_chats_they_read_skipped_ones_too,
                time_filters_compare_whole_seconds,
                a_chat_update_changes_only_what_it_names,
                deleting_a_chat_hides_it_and_its_messages,
                chats_by_id_are_the_live_ones_in_id_order,
                a_budgeted_listing_reads_one_chat_at_least,
                a_message_id_is_claimed_once,
                a_verified_message_needs_the_orgs_live_chat,
                messages_are_listed_oldest_first_within_a_range,
                a_keys_messages_in_a_range_are_deleted,
                activity_pages_walk_newest_first,
                a_deleted_chat_is_swept_once_due,
                sweeps_come_due_in_order_and_keep_their_first_time,
            ],
            exports($new_store): [
                an_export_is_claimed_by_one_attempt_at_a_time,
                only_the_attempt_holding_an_export_moves_it_on,
                a_released_export_is_claimed_again,
                a_failed_export_stays_failed,
                export_quotas_count_live_jobs_and_todays,
                only_a_queued_export_is_deleted,
                export_jobs_are_listed_newest_first_per_org,
                inline_exports_are_counted_per_user_and_minute,
                export_slots_are_held_one_job_each_until_freed,
            ],
            analytics($new_aggregates): [
                one_reader_holds_the_aggregator_lease,
                journals_are_kept_once_and_read_newest_first,
                a_day_takes_each_round_once,
                tops_are_written_on_the_generation_read,
                a_fold_ends_on_the_counters_it_read,
                a_parked_commit_is_replayed_once,
                parked_commits_are_listed_oldest_first,
                the_summary_reads_the_orgs_days_in_range,
            ],
        }
    };
}

/// The cases of [`store_contract_tests!`](crate::store_contract_tests),
/// as tests.
#[doc(hidden)]
#[macro_export]
macro_rules! __store_contract_cases {
    ($($group:ident($new_store:ident): [$($case:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $group {
                $(
                    #[tokio::test]
                    async fn $case() {
                        let clock =
                            $crate::clock::ManualClock::shared($crate::store::contract::NOW);
                        let store = super::$new_store(clock.clone()).await;
                        $crate::store::contract::$group::$case(&store, &clock).await;
                    }
                )*
            }
        )*
    };
}

/// `NOW` moved by `seconds`.
fn at(seconds: i64) -> OffsetDateTime {
    NOW + Duration::seconds(seconds)
}

/// An org (not stored yet) with a slug of its own.
fn org(slug: &str) -> Org {
    Org {
        id: OrgId::new(),
        slug: Slug::parse(slug).unwrap(),
        name: OrgName::parse(slug).unwrap(),
        settings: Metadata::default(),
        limits: Default::default(),
        created_at: NOW,
    }
}

/// A user (not stored yet) whose id sorts at `n` seconds after [`NOW`].
fn user(email: &str, n: i64) -> User {
    User {
        id: UserId::at(at(n)),
        email: Email::parse(email).unwrap(),
        role: UserRole::Admin,
        display_name: None,
        password_hash: password_hash("first"),
        disabled: false,
        session_epoch: 0,
        created_at: at(n),
    }
}

/// A stored password hash (only its text matters to a store).
fn password_hash(tag: &str) -> PasswordHash {
    PasswordHash::from_stored(format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA${tag}"))
}

fn refresh_hash(tag: &str) -> RefreshTokenHash {
    RefreshTokenHash::from_stored(format!("{tag:0>64}"))
}

/// A session of `user` at `epoch`, not stored yet.
fn session(user: &User, epoch: u32) -> Session {
    Session {
        id: SessionId::new(),
        user_id: user.id,
        epoch,
        refresh_hash: refresh_hash("first"),
        previous_refresh_hashes: Vec::new(),
        revoked: false,
        created_at: NOW,
        expires_at: NOW + SESSION_TTL,
    }
}

/// A secret key (not stored yet) whose id sorts at `n` seconds after [`NOW`].
fn api_key(label: &str, n: i64) -> (ApiKey, ApiKeySecret) {
    let secret = ApiKeySecret::generate(ApiKeyKind::Secret);
    let key = ApiKey {
        id: ApiKeyId::at(at(n)),
        kind: ApiKeyKind::Secret,
        label: ApiKeyLabel::parse(label).unwrap(),
        settings: ApiKeySettings::default(),
        prefix: secret.display_prefix().to_owned(),
        created_at: at(n),
        last_used_at: None,
        revoked_at: None,
    };
    (key, secret)
}

/// A chat (not stored yet) created `n` seconds after [`NOW`].
fn chat(n: i64) -> Chat {
    Chat {
        id: ChatId::at(at(n)),
        title: None,
        tags: Tags::default(),
        metadata: Metadata::default(),
        user_id: None,
        key_id: None,
        created_at: at(n),
    }
}

/// A message of `chat` (not stored yet) logged `n` seconds after [`NOW`].
fn message(chat: ChatId, n: i64) -> Message {
    Message {
        id: MessageId::at(at(n)),
        chat_id: chat,
        role: MessageRole::User,
        content: MessageContent::parse(&format!("message {n}")).unwrap(),
        metadata: Metadata::default(),
        latency_ms: None,
        token_count: None,
        key_id: None,
        created_at: at(n),
    }
}

/// A queued export job (not stored yet) created `n` seconds after [`NOW`].
fn export_job(n: i64) -> ExportJob {
    ExportJob {
        id: ExportId::at(at(n)),
        format: ExportFormat::Csv,
        filters: ExportFilters::default(),
        status: ExportStatus::Queued,
        rows_written: 0,
        bytes_written: 0,
        error: None,
        attempts: 0,
        requested_by: UserId::at(NOW),
        created_at: at(n),
        started_at: None,
        finished_at: None,
    }
}

/// A first page of `limit` items.
fn first(limit: u16) -> PageRequest {
    PageRequest {
        limit,
        cursor: None,
    }
}

/// Every item of a listing, read `limit` at a time by following its
/// cursors; no page may hold more than `limit`. (On AWS a full last page
/// may still have a cursor, to an empty page; moto's and the memory
/// store's have none.)
async fn every_page<T, F, Fut>(limit: u16, mut list: F) -> Vec<T>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: Future<Output = StoreResult<Page<T>>>,
{
    let (mut items, mut page) = (Vec::new(), first(limit));
    for _ in 0..100 {
        let found = list(page.clone()).await.unwrap();
        assert!(
            found.items.len() <= usize::from(limit),
            "a page past its limit"
        );
        items.extend(found.items);
        match found.next_cursor {
            Some(cursor) => page.cursor = Some(cursor),
            None => return items,
        }
    }
    panic!("a listing that never ends");
}

/// The contract against the in-memory store (every case in `make check`).
#[cfg(test)]
mod memory {
    use std::sync::Arc;

    use crate::{
        clock::ManualClock,
        store::{MemoryAggregates, MemoryStore},
    };

    async fn new_store(clock: Arc<ManualClock>) -> MemoryStore {
        MemoryStore::with_clock(clock)
    }

    async fn new_aggregates(_: Arc<ManualClock>) -> MemoryAggregates {
        MemoryAggregates::new()
    }

    crate::store_contract_tests!(new_store, new_aggregates);

    /// Each group's file and its cases as the macro lists them: every
    /// `pub async fn` of the group is a case, and runs.
    #[test]
    fn every_case_is_in_the_macro() {
        let listed = include_str!("mod.rs")
            .split("$crate::__store_contract_cases! {")
            .nth(1)
            .and_then(|rest| rest.split("\n        }\n").next())
            .expect("the macro's list");
        let sources = [
            ("accounts", include_str!("accounts.rs")),
            ("sessions", include_str!("sessions.rs")),
            ("chats", include_str!("chats.rs")),
            ("exports", include_str!("exports.rs")),
            ("analytics", include_str!("analytics.rs")),
        ];
        for (group, source) in sources {
            let cases: Vec<&str> = source
                .split("pub async fn ")
                .skip(1)
                .map(|rest| rest.split(['(', '<']).next().unwrap())
                .collect();
            let in_macro: Vec<&str> = listed
                .split(&format!("{group}($"))
                .nth(1)
                .and_then(|rest| rest.split_once('[').map(|(_, rest)| rest))
                .and_then(|rest| rest.split(']').next())
                .unwrap_or_else(|| panic!("{group} is in the macro"))
                .split(',')
                .map(str::trim)
                .filter(|case| !case.is_empty())
                .collect();
            assert_eq!(cases, in_macro, "{group}: the file's cases and the macro's");
        }
    }
}
