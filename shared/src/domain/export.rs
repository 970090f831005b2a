//! An export job: what was asked for (format and filters), and how far the
//! worker got. The API creates it `queued`; the worker moves it to `running`,
//! then to `completed` exactly once, or to `failed` with a reason.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::domain::{ChatId, ExportId, MessageId, OrgId, Tags, UserId, ValidationError};

/// Most chats one export may name in `chat_ids`.
pub const MAX_EXPORT_CHAT_IDS: usize = 100;
/// How far a client-chosen chat id's time may run ahead of the server's
/// clock (ingest refuses more) and still have its chat exported with `to`.
pub const CHAT_CLOCK_SKEW: time::Duration = super::ids::CLIENT_ID_SKEW;

/// The file format: `csv`, `json` (one array) or `ndjson` (one JSON object
/// per line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// RFC 4180 CSV with a header row, one row per message.
    Csv,
    /// One JSON array of message objects.
    Json,
    /// One JSON message object per line.
    Ndjson,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 3] = [Self::Csv, Self::Json, Self::Ndjson];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Json => "json",
            Self::Ndjson => "ndjson",
        }
    }

    /// The file name extension (also the `format` value).
    pub fn extension(self) -> &'static str {
        self.as_str()
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Json => "application/json",
            Self::Ndjson => "application/x-ndjson",
        }
    }
}

/// The body of `POST /exports/orgs/me` (and `/sync`).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportRequest {
    pub format: ExportFormat,
    /// Only messages logged at or after this time (RFC 3339; the time in
    /// the message's id, to the millisecond).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    /// Only messages logged at or before this time (RFC 3339; the time in
    /// the message's id, to the millisecond).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub to: Option<OffsetDateTime>,
    /// Only chats carrying at least one of these tags (at most 20).
    #[serde(default)]
    pub tags: Tags,
    /// Only these chats (at most 100); unknown ids are skipped.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub chat_ids: Vec<ChatId>,
}

impl ExportRequest {
    /// The filters, once the fields agree with each other.
    pub fn filters(self) -> Result<(ExportFormat, ExportFilters), ValidationError> {
        if let (Some(from), Some(to)) = (self.from, self.to)
            && from > to
        {
            return Err(ValidationError::new("from must not be after to"));
        }
        if self.chat_ids.len() > MAX_EXPORT_CHAT_IDS {
            return Err(ValidationError::new(format!(
                "chat_ids must have at most {MAX_EXPORT_CHAT_IDS} entries (got {})",
                self.chat_ids.len()
            )));
        }
        let mut chat_ids = self.chat_ids;
        chat_ids.sort();
        chat_ids.dedup();
        let filters = ExportFilters {
            from: self.from,
            to: self.to,
            tags: self.tags,
            chat_ids,
        };
        Ok((self.format, filters))
    }
}

/// Which messages an export holds. Every filter given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExportFilters {
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub from: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub to: Option<OffsetDateTime>,
    #[serde(default, skip_serializing_if = "Tags::is_empty")]
    pub tags: Tags,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub chat_ids: Vec<ChatId>,
}

impl ExportFilters {
    /// Does the chat's own data pass? Messages are stored after their chat,
    /// so a chat created after `to` cannot hold a message before it.
    pub fn keeps_chat(&self, chat: &crate::domain::Chat) -> bool {
        let tagged =
            self.tags.is_empty() || chat.tags.iter().any(|t| self.tags.iter().any(|f| f == t));
        let early_enough = self.to.is_none_or(|to| chat.created_at <= to);
        tagged && early_enough
    }

    /// The message ids `from` and `to` select. Ids are ULIDs, so this is a
    /// range of sort keys: a store reads only the messages in it. The time
    /// of an id is when the server logged the message, unless the client
    /// chose the id (then it is the client's time).
    pub fn message_ids(&self) -> (MessageId, MessageId) {
        (
            self.from.map_or(MessageId::MIN, MessageId::first_at),
            self.to.map_or(MessageId::MAX, MessageId::last_at),
        )
    }

    /// The last chat id a listing needs: a chat whose id is more than
    /// [`CHAT_CLOCK_SKEW`] past `to` was made after it (its `created_at` is
    /// checked exactly by [`ExportFilters::keeps_chat`]).
    pub fn last_chat_id(&self) -> Option<ChatId> {
        self.to.map(|to| ChatId::last_at(to + CHAT_CLOCK_SKEW))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
        }
    }
}

/// An export job, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExportJob {
    pub id: ExportId,
    pub format: ExportFormat,
    pub filters: ExportFilters,
    pub status: ExportStatus,
    /// Messages written so far (all of them once `completed`).
    pub rows_written: u64,
    /// File bytes written so far.
    pub bytes_written: u64,
    /// Why the last attempt failed (set while retrying, and when `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Worker attempts so far.
    pub attempts: u32,
    pub requested_by: UserId,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<OffsetDateTime>,
    #[serde(
        default,
        with = "time::serde::rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
}

impl ExportJob {
    /// A job requested at `at` (by the caller's clock: the org's daily
    /// quota counts jobs by the day in their id).
    pub fn new(
        format: ExportFormat,
        filters: ExportFilters,
        requested_by: UserId,
        at: OffsetDateTime,
    ) -> Self {
        Self {
            id: ExportId::at(at),
            format,
            filters,
            status: ExportStatus::Queued,
            rows_written: 0,
            bytes_written: 0,
            error: None,
            attempts: 0,
            requested_by,
            created_at: at,
            started_at: None,
            finished_at: None,
        }
    }

    /// Where the file goes: fixed by the job, so a retry overwrites the
    /// object instead of leaving a second one. Under `exports/`, which the
    /// bucket's lifecycle rule expires.
    pub fn object_key(&self, org: OrgId) -> String {
        format!("exports/{org}/{}.{}", self.id, self.format.extension())
    }

    /// The name a download is saved under.
    pub fn file_name(&self, org_slug: &str) -> String {
        format!(
            "chatlogger-{org_slug}-{}.{}",
            self.id.to_string().to_lowercase(),
            self.format.extension()
        )
    }
}

/// The export queue's message body: which job to run. Nothing else, so a
/// message cannot carry stale or forged filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExportMessage {
    pub org_id: OrgId,
    pub job_id: ExportId,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(body: serde_json::Value) -> Result<(ExportFormat, ExportFilters), String> {
        serde_json::from_value::<ExportRequest>(body)
            .map_err(|e| e.to_string())?
            .filters()
            .map_err(|e| e.0)
    }

    #[test]
    fn requests_are_validated() {
        let (format, filters) = parse(json!({"format": "ndjson"})).unwrap();
        assert_eq!(
            (format, filters),
            (ExportFormat::Ndjson, ExportFilters::default())
        );
        assert!(parse(json!({"format": "xml"})).is_err());
        assert!(
            parse(json!({"format": "csv", "extra": 1}))
                .unwrap_err()
                .contains("unknown field")
        );
        assert!(parse(json!({"format": "csv", "from": "yesterday"})).is_err());
        assert!(
            parse(json!({"format": "csv", "from": "2025-02-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}))
                .unwrap_err()
                .contains("from must not be after to")
        );
        let ids: Vec<String> = (0..101).map(|_| ChatId::new().to_string()).collect();
        assert!(
            parse(json!({"format": "csv", "chat_ids": ids}))
                .unwrap_err()
                .contains("at most 100")
        );
        assert!(parse(json!({"format": "csv", "chat_ids": ["nope"]})).is_err());
        let id = ChatId::new().to_string();
        let (_, filters) = parse(json!({"format": "csv", "chat_ids": [id, id]})).unwrap();
        assert_eq!(filters.chat_ids.len(), 1);
    }

    #[test]
    fn object_keys_are_fixed_by_the_job() {
        let job = ExportJob::new(
            ExportFormat::Csv,
            ExportFilters::default(),
            UserId::new(),
            OffsetDateTime::now_utc(),
        );
        let org = OrgId::new();
        assert_eq!(job.object_key(org), job.object_key(org));
        assert!(job.object_key(org).starts_with(&format!("exports/{org}/")));
        assert!(job.file_name("acme").starts_with("chatlogger-acme-"));
        assert!(job.file_name("acme").ends_with(".csv"));
    }
}

/// Rows and bytes written so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub rows: u64,
    pub bytes: u64,
}
