//! The export-worker Lambda: the worker once per container, then each SQS
//! batch through the shared partial-batch handler, told when the
//! invocation's time runs out (so a timeout never leaves a job running).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chatlogger::aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    chatlogger::telemetry::init();
    let worker = chatlogger_export_worker::worker_from_env().await?;
    let worker = &worker;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        // The context's deadline is wall-clock milliseconds; the worker
        // counts on the monotonic clock.
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as u64);
        let left = Duration::from_millis(event.context.deadline.saturating_sub(now_ms));
        let deadline = tokio::time::Instant::now() + left;
        Ok::<SqsBatchResponse, Error>(worker.handle_until(event.payload, deadline).await)
    }))
    .await
}
