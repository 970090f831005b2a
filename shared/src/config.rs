//! Settings read from the environment once at start-up. The names match
//! `template.yaml` (Lambda environment) and `.env.local` (local stack).

/// A required setting is missing or empty.
#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} must be set")]
pub struct MissingSetting(pub &'static str);

/// Reads a required, non-empty environment variable.
pub fn required(name: &'static str) -> Result<String, MissingSetting> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .ok_or(MissingSetting(name))
}

/// The DynamoDB table every function uses.
pub fn table_name() -> Result<String, MissingSetting> {
    required("TABLE_NAME")
}

/// The table's stream, which the analytics aggregator reads.
pub fn stream_arn() -> Result<String, MissingSetting> {
    required("STREAM_ARN")
}
