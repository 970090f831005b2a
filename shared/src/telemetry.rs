//! Logging. On Lambda: one JSON object per line (CloudWatch Logs Insights
//! parses it), without ANSI colours. Locally: compact, human-readable lines.
//! The level comes from `RUST_LOG` (default `info`).

use tracing_subscriber::{EnvFilter, fmt};

pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let on_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    // `try_init`: tests and the local server may call this more than once.
    let _ = if on_lambda {
        fmt()
            .json()
            .with_env_filter(filter)
            .with_ansi(false)
            .with_target(false)
            .with_current_span(true)
            .with_span_list(false)
            .flatten_event(true)
            .try_init()
    } else {
        fmt()
            .compact()
            .with_env_filter(filter)
            .with_target(false)
            .try_init()
    };
}
