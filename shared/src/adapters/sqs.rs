//! The export queue on SQS ([`ExportQueue`]).

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

#[async_trait]
impl ExportQueue for SqsExportQueue {
    async fn enqueue(&self, message: &ExportMessage) -> Result<(), ExportError> {
        let body = serde_json::to_string(message).expect("ids serialise");
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| ExportError::Queue(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}
