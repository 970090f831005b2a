//! Logging. On Lambda: one compact JSON object per line ([`CompactJson`]),
//! which CloudWatch Logs Insights parses and Lambda filters by level.
//! Locally: compact, human-readable lines. The level comes from `RUST_LOG`
//! (default `info`).
//!
//! Logs are billed by the byte ($0.50 per GB ingested), and every request
//! writes one line (`chatlogger::http::request_log`), so the line is kept
//! short: flat fields, no span names, no timestamp (CloudWatch Logs stamps
//! every event it ingests, to the millisecond: `@timestamp`), and no
//! `level` on INFO lines (Lambda reads a missing level as INFO).

use std::{fmt, io::IsTerminal};

use serde_json::{Map, Value};
use tracing::{Event, Level, Subscriber, field::Field};
use tracing_subscriber::{
    EnvFilter,
    field::Visit,
    fmt::{
        FmtContext, FormatEvent, FormatFields, FormattedFields, MakeWriter,
        format::{JsonFields, Writer},
    },
    registry::LookupSpan,
};

pub fn init() {
    // `set_global_default` fails only if a subscriber is already installed
    // (tests, or a second call), which is fine to ignore.
    if std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some() {
        let _ = tracing::subscriber::set_global_default(lambda_subscriber(std::io::stdout));
    } else {
        let _ = tracing_subscriber::fmt()
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
    tracing_subscriber::fmt()
        .with_env_filter(env_filter())
        .with_ansi(false)
        .fmt_fields(JsonFields::new())
        .event_format(CompactJson)
        .with_writer(writer)
        .finish()
}

fn env_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"))
}

/// One flat JSON object per event: `level` (left out for INFO), `msg` (if
/// the event has a message), the event's fields, then the fields of the
/// spans it is in (innermost wins). No timestamp: CloudWatch Logs keeps
/// each event's own.
pub struct CompactJson;

impl<S, N> FormatEvent<S, N> for CompactJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let level = *event.metadata().level();
        if level != Level::INFO {
            line.insert("level".into(), Value::String(level.as_str().into()));
        }
        event.record(&mut FieldsInto(&mut line));
        // Span fields, outermost first so inner spans override; the
        // fields a span has not recorded yet are not there at all.
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    for (name, value) in fields {
                        line.entry(name).or_insert(value);
                    }
                }
            }
        }
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// Records an event's fields into a JSON object (`message` as `msg`).
struct FieldsInto<'a>(&'a mut Map<String, Value>);

impl FieldsInto<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = match field.name() {
            "message" => "msg",
            name => name,
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl Visit for FieldsInto<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, serde_json::json!(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
}
