//! The aggregator's entry point for a DynamoDB stream event: the Lambda
//! and the local server's stream poller both call [`handle_stream_batch`].

use aws_lambda_events::event::{
    dynamodb::EventRecord,
    streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse},
};

use super::{FailedFrom, aggregate};
use crate::{
    sdk_error::error_chain,
    store::{AggregatorStore, stream_change},
};

/// Counts a batch of stream records and reports where it stopped, if it
/// did: Lambda then retries from that record (`ReportBatchItemFailures`),
/// bisecting and finally sending it to the on-failure destination if it
/// keeps failing. Everything before it is counted; counting it again later
/// is harmless.
pub async fn handle_stream_batch(
    store: &dyn AggregatorStore,
    records: &[EventRecord],
) -> DynamoDbEventResponse {
    let mut changes = Vec::with_capacity(records.len());
    let mut unreadable = None;
    for record in records {
        match stream_change(record) {
            Ok(Some(change)) => changes.push(change),
            Ok(None) => {}
            Err(error) => {
                tracing::error!(error = %error_chain(&error), event_id = %record.event_id, "unreadable stream record");
                unreadable = record.change.sequence_number.clone();
                break;
            }
        }
    }
    let failed = match aggregate(store, &changes).await {
        Ok(report) => {
            tracing::info!(
                records = records.len(),
                counted = report.counted,
                already_counted = report.already_counted,
                transactions = report.transactions,
                orphans_deleted = report.orphans_deleted,
                "stream batch aggregated"
            );
            unreadable
        }
        Err((report, FailedFrom(sequence))) => {
            tracing::warn!(counted = report.counted, failed_from = %sequence, "stream batch stopped; Lambda retries from the failed record");
            Some(sequence)
        }
    };
    let mut response = DynamoDbEventResponse::default();
    if let Some(sequence) = failed {
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence);
        response.batch_item_failures.push(failure);
    }
    response
}
