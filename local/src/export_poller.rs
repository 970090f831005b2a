//! The local stand-in for Lambda's SQS event source: polls the export queue,
//! hands each batch to the export worker's handler as the same `SqsEvent`
//! Lambda would, then deletes the messages that succeeded and makes the
//! failed ones visible again after `retry_delay`. The queue's redrive policy
//! (moto implements it, as SQS does) moves a message to the dead-letter
//! queue once it has been received `maxReceiveCount` times.

use std::{collections::HashSet, time::Duration};

use aws_config::timeout::TimeoutConfig;
use aws_sdk_sqs::{
    Client,
    types::{Message, MessageSystemAttributeName},
};
use chatlogger::{
    aws_lambda_events::event::sqs::{SqsEvent, SqsMessage},
    export::worker::ExportWorker,
    sdk_error::error_chain,
    sqs_batch::RECEIVE_COUNT_ATTRIBUTE,
};

/// Most messages one receive returns (SQS's maximum).
const BATCH: i32 = 10;

/// How long a receive hides its messages. A receive whose answer is lost
/// (a reset connection) would otherwise hide them for the queue's whole
/// visibility timeout (90 minutes, as on AWS), leaving their jobs queued
/// all that time. This poller handles one batch at a time, and a message
/// that shows up again while its job runs meets the job's lease, so a short
/// value never runs a job twice.
const RECEIVE_VISIBILITY: Duration = Duration::from_secs(30);

pub struct ExportPoller {
    sqs: Client,
    queue_url: String,
    worker: ExportWorker,
    /// How long a failed message stays hidden before its next delivery. On
    /// AWS that is the queue's visibility timeout; locally, short, so
    /// retries show up while you watch.
    retry_delay: Duration,
}

#[derive(Debug, thiserror::Error)]
#[error("export queue: {0}")]
pub struct PollError(String);

fn poll_error(error: impl std::error::Error + 'static) -> PollError {
    PollError(error_chain(&error))
}

impl ExportPoller {
    pub fn new(
        sqs: Client,
        queue_url: String,
        worker: ExportWorker,
        retry_delay: Duration,
    ) -> Self {
        Self {
            sqs,
            queue_url,
            worker,
            retry_delay,
        }
    }

    /// One receive (waiting up to `wait` for messages) and its batch;
    /// returns how many messages were handled.
    pub async fn poll_once(&self, wait: Duration) -> Result<usize, PollError> {
        let wait = wait.min(Duration::from_secs(20));
        let mut receive = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(BATCH)
            .visibility_timeout(i32::try_from(RECEIVE_VISIBILITY.as_secs()).unwrap_or(30))
            .wait_time_seconds(i32::try_from(wait.as_secs()).unwrap_or(20))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .customize();
        if let Some(timeouts) = long_poll_timeouts(self.sqs.config().timeout_config(), wait) {
            receive =
                receive.config_override(aws_sdk_sqs::Config::builder().timeout_config(timeouts));
        }
        let received = receive.send().await.map_err(poll_error)?;
        let messages = received.messages.unwrap_or_default();
        if messages.is_empty() {
            return Ok(0);
        }
        let mut event = SqsEvent::default();
        event.records = messages.iter().map(lambda_record).collect();
        let response = self.worker.handle(event).await;
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|failure| failure.item_identifier.as_str())
            .collect();
        // Every message is settled even if another one's call fails: a
        // failed message left alone stays hidden for the queue's whole
        // visibility timeout.
        let mut first_error = None;
        for message in &messages {
            let (Some(id), Some(receipt)) = (&message.message_id, &message.receipt_handle) else {
                continue;
            };
            let settled = if failed.contains(id.as_str()) {
                self.sqs
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(i32::try_from(self.retry_delay.as_secs()).unwrap_or(0))
                    .send()
                    .await
                    .map(drop)
                    .map_err(poll_error)
            } else {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map(drop)
                    .map_err(poll_error)
            };
            if let Err(error) = settled {
                first_error.get_or_insert(error);
            }
        }
        match first_error {
            Some(error) => Err(error),
            None => Ok(messages.len()),
        }
    }

    /// Polls until the process stops.
    pub async fn run(self) {
        loop {
            if let Err(error) = self.poll_once(Duration::from_secs(5)).await {
                tracing::warn!(error = %error, "export queue poll failed; retrying in 2 s");
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
    }
}

/// A long poll waits on purpose: its attempts (and the operation) get the
/// client's timeouts plus the wait.
fn long_poll_timeouts(client: Option<&TimeoutConfig>, wait: Duration) -> Option<TimeoutConfig> {
    let client = client?;
    let mut timeouts = client.to_builder();
    timeouts.set_operation_attempt_timeout(client.operation_attempt_timeout().map(|t| t + wait));
    timeouts.set_operation_timeout(client.operation_timeout().map(|t| t + wait));
    Some(timeouts.build())
}

/// A received message as Lambda's SQS event source presents it.
fn lambda_record(message: &Message) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id.clone();
    record.receipt_handle = message.receipt_handle.clone();
    record.body = message.body.clone();
    record.md5_of_body = message.md5_of_body.clone();
    record.event_source = Some("aws:sqs".to_owned());
    if let Some(count) = message
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
    {
        record
            .attributes
            .insert(RECEIVE_COUNT_ATTRIBUTE.to_owned(), count.clone());
    }
    record
}
