//! The aggregator's entry point: one invocation of a shard's tumbling
//! window (`TimeWindowEvent`), as Lambda's event source mapping sends it on
//! AWS and the local stream poller sends it locally.
//!
//! Each invocation folds its new records into the window's state and hands
//! the state back; the window's final invocation commits it (see
//! [`super::aggregator`]). A state that grows past [`COMMIT_AT_BYTES`]
//! while records are folded in is committed there and then, so it never
//! nears Lambda's 1 MB; where that happens depends only on the records, so a
//! retried invocation makes the same commits (and finds their markers).
//! After a commit, the shard's checkpoint records the last record done, so a
//! record delivered again in a later window is dropped.
//!
//! When even parking fails (the table is unreachable) the invocation reports
//! its first record as failed and returns the state it was given: Lambda
//! retries it as it was, and what did commit is not counted twice.

use std::collections::{BTreeSet, HashMap};

use aws_lambda_events::event::{
    dynamodb::{EventRecord, TimeWindowEvent, TimeWindowEventResponse},
    streams::DynamoDbBatchItemFailure,
};

use super::aggregator::{CommitReport, commit_all};
use crate::{
    domain::analytics::{
        StreamChange, WindowState,
        window::{COMMIT_AT_BYTES, FOLD_CHUNK},
    },
    sdk_error::error_chain,
    store::{AggregatorStore, StoreError, stream_change},
};

/// One invocation of `shard`'s window as Lambda sends it: its records, the
/// state the previous invocation returned, and whether the window has
/// ended. (Lambda's event; the local stream poller, the tests and the
/// benchmark make them with this.)
pub fn window_event(
    shard: &str,
    state: HashMap<String, String>,
    records: Vec<EventRecord>,
    is_final: bool,
) -> TimeWindowEvent {
    let mut event = TimeWindowEvent::default();
    event.dynamo_db_event.records = records;
    event.time_window_properties.shard_id = Some(shard.to_owned());
    event.time_window_properties.state = state;
    event.time_window_properties.is_final_invoke_for_window = is_final;
    event
}

/// What one invocation did, for logs, tests and the benchmark.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowReport {
    /// New records folded into the window.
    pub folded: usize,
    /// Records seen before (re-deliveries), dropped.
    pub dropped: usize,
    pub commits: CommitReport,
    pub orphans_deleted: usize,
}

/// Handles one window invocation (see the module documentation).
pub async fn handle_window(
    store: &dyn AggregatorStore,
    event: &TimeWindowEvent,
) -> TimeWindowEventResponse {
    let properties = &event.time_window_properties;
    let records = &event.dynamo_db_event.records;
    let shard = properties.shard_id.as_deref().unwrap_or("unknown-shard");
    let state = match WindowState::from_lambda(&properties.state) {
        Ok(state) => state,
        Err(error) => {
            // Not ours to read (a mapping shared with another version):
            // start over; the markers keep a recount from double-counting.
            tracing::error!(shard, error = %error, "unreadable window state; starting the window over");
            WindowState::default()
        }
    };
    let finishing = properties.is_final_invoke_for_window || properties.is_window_terminated_early;
    match process(store, shard, state.clone(), records, finishing).await {
        Ok((next, report)) => {
            tracing::info!(
                shard,
                records = records.len(),
                folded = report.folded,
                dropped = report.dropped,
                committed = report.commits.committed,
                already_committed = report.commits.already_committed,
                parked = report.commits.parked,
                orphans_deleted = report.orphans_deleted,
                final_invoke = finishing,
                "window invocation"
            );
            respond(next, None)
        }
        Err(error) => {
            tracing::error!(shard, error = %error_chain(&error), "window invocation failed; Lambda retries it");
            let first = records
                .first()
                .and_then(|r| r.change.sequence_number.clone());
            respond(state, Some(first.unwrap_or_default()))
        }
    }
}

fn respond(state: WindowState, failed: Option<String>) -> TimeWindowEventResponse {
    let mut response = TimeWindowEventResponse::default();
    response.time_window_event_response_properties.state = state.to_lambda();
    if let Some(sequence) = failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence);
        response.batch_item_failures.push(failure);
    }
    response
}

/// The state after this invocation, and what it did.
pub async fn process(
    store: &dyn AggregatorStore,
    shard: &str,
    mut state: WindowState,
    records: &[EventRecord],
    finishing: bool,
) -> Result<(WindowState, WindowReport), StoreError> {
    let mut report = WindowReport::default();
    if state.last.is_none() {
        // A new window: records up to the shard's checkpoint are done.
        state.last = store.checkpoint(shard).await?;
    }
    if state.estimated_len() > COMMIT_AT_BYTES {
        commit(store, shard, &mut state, &mut report).await?;
    }
    let changes = readable(records);
    let unseen = state.unseen(&changes);
    report.dropped = changes.len() - unseen.len();
    report.folded = unseen.len();
    if !unseen.is_empty() {
        let chats: BTreeSet<_> = unseen.iter().filter_map(|c| c.message_chat()).collect();
        let owners = if chats.is_empty() {
            Default::default()
        } else {
            store.chat_states(&chats).await?
        };
        for chunk in unseen.chunks(FOLD_CHUNK) {
            state.fold(chunk, &owners);
            if state.estimated_len() > COMMIT_AT_BYTES {
                commit(store, shard, &mut state, &mut report).await?;
            }
        }
    }
    if finishing {
        commit(store, shard, &mut state, &mut report).await?;
        // The next invocation starts a new window with a fresh state.
        return Ok((WindowState::default(), report));
    }
    Ok((state, report))
}

/// Commits what the state holds, deletes its orphans, then moves the
/// shard's checkpoint.
async fn commit(
    store: &dyn AggregatorStore,
    shard: &str,
    state: &mut WindowState,
    report: &mut WindowReport,
) -> Result<(), StoreError> {
    let (commits, orphans) = state.take_commit(shard);
    if commits.is_empty() && orphans.is_empty() {
        return Ok(());
    }
    let done = commit_all(store, commits).await?;
    report.commits.committed += done.committed;
    report.commits.already_committed += done.already_committed;
    report.commits.parked += done.parked;
    // Only once the insert is counted, so its removal cannot come first.
    for orphan in &orphans {
        match store.delete_message(orphan).await {
            Ok(()) => {
                tracing::info!(message_id = %orphan.id, chat_id = %orphan.chat, "deleted a message logged after its chat was deleted");
                report.orphans_deleted += 1;
            }
            Err(error) => {
                tracing::error!(message_id = %orphan.id, chat_id = %orphan.chat, error = %error_chain(&error), "could not delete a message logged after its chat was deleted");
            }
        }
    }
    if let Some(last) = &state.last
        && let Err(error) = store.save_checkpoint(shard, last).await
    {
        // The markers still keep every commit single; only a record
        // delivered again in a later window would count twice.
        tracing::warn!(shard, error = %error_chain(&error), "could not move the shard's checkpoint");
    }
    Ok(())
}

/// The records' changes to chats and messages; an unreadable one is
/// logged (and counted by the template's metric filter) and skipped, as
/// it cannot be attributed to any org.
fn readable(records: &[EventRecord]) -> Vec<StreamChange> {
    records
        .iter()
        .filter_map(|record| match stream_change(record) {
            Ok(change) => change,
            Err(error) => {
                tracing::error!(
                    event_id = %record.event_id,
                    analytics_unreadable = 1,
                    error = %error_chain(&error),
                    "unreadable stream record skipped"
                );
                None
            }
        })
        .collect()
}
