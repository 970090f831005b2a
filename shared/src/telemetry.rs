//! Logging. On Lambda: one JSON object per line (CloudWatch Logs Insights
//! parses it; the request span's fields are on every line), without ANSI
//! colours. Locally: compact, human-readable lines. The level comes from
//! `RUST_LOG` (default `info`).

use std::io::IsTerminal;

use tracing::Subscriber;
use tracing_subscriber::{EnvFilter, fmt, fmt::MakeWriter};

pub fn init() {
    // `set_global_default` fails only if a subscriber is already installed
    // (tests, or a second call), which is fine to ignore.
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        let _ = tracing::subscriber::set_global_default(lambda_subscriber(std::io::stdout));
    } else {
        let _ = fmt()
            .compact()
            .with_env_filter(env_filter())
            .with_target(false)
            .with_ansi(std::io::stdout().is_terminal())
            .try_init();
    }
}

/// The JSON subscriber used on Lambda, writing to `writer`.
pub fn lambda_subscriber<W>(writer: W) -> impl Subscriber + Send + Sync
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    fmt()
        .json()
        .with_env_filter(env_filter())
        .with_ansi(false)
        .with_target(false)
        .with_current_span(true)
        .with_span_list(false)
        .flatten_event(true)
        .with_writer(writer)
        .finish()
}

fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}
