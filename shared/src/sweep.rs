//! Deleted chats leave nothing behind. A chat's delete marks it a tombstone
//! and purges its messages at once (a strongly consistent read, so nothing
//! written before the tombstone is missed). But a plugin container that
//! verified the chat shortly before may still log messages into it for up
//! to `ingest::KNOWN_CHAT_TTL` without checking (that is what keeps ingest
//! at one write per message). So the delete also leaves a sweep ticket, due
//! [`CHAT_SWEEP_DELAY`] later, and the sweeper (a scheduled Lambda; a
//! loop in the local stack) deletes whatever it then finds under the chat.
//! After that no write can land: every container's trust in the chat has
//! expired, and a fresh check refuses a tombstone.
//!
//! Why not on the tombstone's stream record: the aggregator sees that
//! record at once, while late messages can still arrive for a minute; and a
//! purge belongs to deleting, not to counting.

use std::time::Duration;

use serde::Serialize;
use time::OffsetDateTime;

use crate::store::{DeletedChatStore, StoreError};

/// Tickets read per query.
const PAGE: u16 = 100;
/// Sweeps per run at most, so a run stays well inside the Lambda's timeout;
/// the next run takes the rest.
pub const MAX_SWEEPS_PER_RUN: usize = 1_000;
/// How often the sweeper runs (the template's schedule says the same).
pub const SWEEP_INTERVAL: Duration = Duration::from_secs(5 * 60);

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Deleted chats swept (their tickets dropped).
    pub chats: usize,
    /// Messages found under them and deleted.
    pub messages: usize,
}

/// Some sweeps failed; their tickets stay for the next run.
#[derive(Debug, thiserror::Error)]
#[error("{failed} deleted-chat sweeps failed (they are retried next run); the first: {first}")]
pub struct SweepError {
    pub failed: usize,
    pub report: SweepReport,
    #[source]
    pub first: StoreError,
}

/// Sweeps every deleted chat whose ticket is due at `now`.
pub async fn sweep_deleted_chats(
    store: &dyn DeletedChatStore,
    now: OffsetDateTime,
) -> Result<SweepReport, SweepError> {
    let mut report = SweepReport::default();
    let mut failures: Vec<StoreError> = Vec::new();
    let fail = |report, mut failures: Vec<StoreError>| SweepError {
        failed: failures.len(),
        report,
        first: failures.remove(0),
    };
    while report.chats < MAX_SWEEPS_PER_RUN {
        let due = match store.due_chat_sweeps(now, PAGE).await {
            Ok(due) => due,
            Err(error) => {
                failures.push(error);
                break;
            }
        };
        if due.is_empty() {
            break;
        }
        for sweep in due {
            match store.sweep_deleted_chat(sweep).await {
                Ok(messages) => {
                    if messages > 0 {
                        tracing::info!(
                            org_id = %sweep.org,
                            chat_id = %sweep.chat,
                            messages,
                            "deleted messages logged after their chat's delete"
                        );
                    }
                    report.chats += 1;
                    report.messages += messages;
                }
                Err(error) => {
                    tracing::error!(org_id = %sweep.org, chat_id = %sweep.chat, error = ?error, "sweep failed");
                    failures.push(error);
                }
            }
        }
        // A failed ticket is still due: stop rather than meet it again.
        if !failures.is_empty() {
            break;
        }
    }
    if failures.is_empty() {
        Ok(report)
    } else {
        Err(fail(report, failures))
    }
}
