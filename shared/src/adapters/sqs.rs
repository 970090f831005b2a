//! The export queue on SQS ([`ExportQueue`]). Each message names its org
//! as its message group: on a standard queue that makes it an SQS fair
//! queue, so one org's backlog does not hold back other orgs' jobs (SQS
//! delivers the quieter groups' messages first).

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::error::DisplayErrorContext;

use crate::{
    domain::export::ExportMessage,
    export::{ExportError, queue::ExportQueue},
};

/// The export queue on SQS.
#[derive(Clone)]
pub struct SqsExportQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsExportQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

impl SqsExportQueue {
    async fn send(&self, message: &ExportMessage, delay: Duration) -> Result<(), ExportError> {
        let body = serde_json::to_string(message).expect("ids serialise");
        // SQS takes at most 15 minutes.
        let delay = delay.as_secs().min(900) as i32;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_group_id(message.org_id.to_string())
            .delay_seconds(delay)
            .send()
            .await
            .map_err(|e| ExportError::Queue(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}

#[async_trait]
impl ExportQueue for SqsExportQueue {
    async fn enqueue_after(
        &self,
        message: &ExportMessage,
        delay: Duration,
    ) -> Result<(), ExportError> {
        self.send(message, delay).await
    }
}
