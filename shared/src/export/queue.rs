//! The export queue: the API puts one small message per job on it; the
//! export worker (SQS-triggered on Lambda, polled by the local server)
//! takes them off, and puts back, for later, the jobs of an org that holds
//! its share of the workers. SQS implements it (`crate::adapters::sqs`).

use std::time::Duration;

use async_trait::async_trait;

use super::ExportError;
use crate::domain::export::ExportMessage;

/// Where new jobs are announced.
#[async_trait]
pub trait ExportQueue: Send + Sync {
    /// The message, delivered no sooner than `delay` from now (a deferred
    /// job goes back this way).
    async fn enqueue_after(
        &self,
        message: &ExportMessage,
        delay: Duration,
    ) -> Result<(), ExportError>;

    /// The message, for delivery at once (a new job).
    async fn enqueue(&self, message: &ExportMessage) -> Result<(), ExportError> {
        self.enqueue_after(message, Duration::ZERO).await
    }
}
