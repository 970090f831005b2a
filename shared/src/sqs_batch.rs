//! One generic helper for SQS-triggered functions: it runs a per-message
//! async function over a batch, each message in its own tracing span, and
//! reports the messages that failed as `batchItemFailures` (the function's
//! event source needs `FunctionResponseTypes: [ReportBatchItemFailures]`).
//! SQS then deletes the rest and redelivers only those, until the queue's
//! `maxReceiveCount` moves them to the dead-letter queue.
//!
//! The per-message function knows nothing of Lambda: it gets a
//! [`QueuedMessage`]. The local server builds the same `SqsEvent` from
//! messages it receives itself and calls the same code.

use std::future::Future;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use tracing::Instrument;

/// The SQS attribute that counts deliveries of a message (1 on the first).
pub const RECEIVE_COUNT_ATTRIBUTE: &str = "ApproximateReceiveCount";

/// One message of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    pub id: String,
    pub body: String,
    /// How many times SQS has delivered it, this time included.
    pub receive_count: u32,
}

impl QueuedMessage {
    fn from_record(record: SqsMessage) -> Option<Self> {
        let receive_count = record
            .attributes
            .get(RECEIVE_COUNT_ATTRIBUTE)
            .and_then(|count| count.parse().ok())
            .unwrap_or(1);
        Some(Self {
            id: record.message_id?,
            body: record.body.unwrap_or_default(),
            receive_count,
        })
    }
}

/// Runs `handle` on every message of `event`, one after another (a batch
/// keeps its order, and a heavy handler its memory bound), and reports
/// the ones that failed.
pub async fn process_batch<F, Fut, E>(event: SqsEvent, handle: F) -> SqsBatchResponse
where
    F: Fn(QueuedMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut response = SqsBatchResponse::default();
    for record in event.records {
        let Some(message) = QueuedMessage::from_record(record) else {
            // Cannot be reported without an id; SQS always sends one.
            tracing::error!("an SQS record without a message id was skipped");
            continue;
        };
        // `org_id` is for the handler to fill in once it has read the body.
        let span = tracing::info_span!(
            "sqs_message",
            message_id = %message.id,
            receive_count = message.receive_count,
            org_id = tracing::field::Empty
        );
        let id = message.id.clone();
        let result = handle(message).instrument(span.clone()).await;
        match result {
            Ok(()) => span.in_scope(|| tracing::info!("message processed")),
            Err(error) => {
                span.in_scope(
                    || tracing::warn!(error = %error, "message failed; SQS will redeliver it"),
                );
                response.add_failure(id);
            }
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: Option<&str>, body: &str, count: Option<&str>) -> SqsMessage {
        let mut record = SqsMessage::default();
        record.message_id = id.map(str::to_owned);
        record.body = Some(body.to_owned());
        if let Some(count) = count {
            record
                .attributes
                .insert(RECEIVE_COUNT_ATTRIBUTE.to_owned(), count.to_owned());
        }
        record
    }

    #[tokio::test]
    async fn reports_exactly_the_failed_messages() {
        let mut event = SqsEvent::default();
        event.records = vec![
            record(Some("a"), "ok", Some("1")),
            record(Some("b"), "fail", Some("2")),
            record(None, "fail", None),
            record(Some("c"), "ok", None),
        ];
        let seen = std::sync::Mutex::new(Vec::new());
        let response = process_batch(event, |message| {
            seen.lock()
                .unwrap()
                .push((message.id.clone(), message.receive_count));
            async move {
                if message.body == "fail" {
                    Err("boom")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        let failed: Vec<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["b"]);
        assert_eq!(
            *seen.lock().unwrap(),
            [("a".into(), 1), ("b".into(), 2), ("c".into(), 1)]
        );
        let json = serde_json::to_value(&response).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "b"}]})
        );
    }
}
