//! The file formats, as a strategy: one [`RowFormat`] trait, one
//! implementation per format. A format turns rows into bytes appended to
//! the pipeline's part buffer; it keeps no rows itself, so memory does not
//! grow with the export.

use std::borrow::Cow;

use serde::Serialize;

use super::{ExportError, ExportRow};
use crate::domain::export::ExportFormat;

/// Writes an export file a row at a time.
pub trait RowFormat: Send {
    /// Whatever comes before the first row (CSV header, JSON `[`).
    fn begin(&mut self, out: &mut Vec<u8>) -> Result<(), ExportError>;
    fn row(&mut self, row: &ExportRow, out: &mut Vec<u8>) -> Result<(), ExportError>;
    /// Whatever comes after the last row (JSON `]`).
    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ExportError>;
}

impl ExportFormat {
    /// The strategy that writes this format.
    pub fn writer(self) -> Box<dyn RowFormat> {
        match self {
            Self::Csv => Box::new(CsvFormat::new()),
            Self::Json => Box::new(JsonFormat::default()),
            Self::Ndjson => Box::new(NdjsonFormat),
        }
    }
}

/// The CSV header, in column order.
pub const CSV_COLUMNS: [&str; 11] = [
    "chat_id",
    "chat_title",
    "tags",
    "message_id",
    "role",
    "content",
    "latency_ms",
    "token_count",
    "created_at",
    "metadata",
    // Last, so files read by column position before it was added still read.
    "key_id",
];

/// One message per row; tags and metadata are JSON text. Every cell is
/// quoted, not only those holding `,`, `"`, CR or LF: a spreadsheet that
/// splits on another separator (`;` in many locales, tab) would otherwise
/// cut `ok;=1+1;` into cells and evaluate the second. Quoted, the whole
/// field is one text cell whatever the separator. Cells that start like a
/// formula are also neutralised (see [`neutralise`]).
pub struct CsvFormat {
    builder: csv::WriterBuilder,
}

impl CsvFormat {
    pub fn new() -> Self {
        let mut builder = csv::WriterBuilder::new();
        builder
            .terminator(csv::Terminator::CRLF)
            .quote_style(csv::QuoteStyle::Always);
        Self { builder }
    }

    /// Writes one record onto `out`. The `csv` writer borrows `out` for just
    /// this record, so the bytes land in the part buffer without a copy.
    fn record<'a>(
        &self,
        cells: impl IntoIterator<Item = &'a str>,
        out: &mut Vec<u8>,
    ) -> Result<(), ExportError> {
        let cells: Vec<Cow<'a, str>> = cells.into_iter().map(neutralise).collect();
        let mut writer = self.builder.from_writer(out);
        writer
            .write_record(cells.iter().map(|cell| cell.as_bytes()))
            .and_then(|()| writer.flush().map_err(csv::Error::from))
            .map_err(|e| ExportError::Format(e.to_string()))
    }
}

impl Default for CsvFormat {
    fn default() -> Self {
        Self::new()
    }
}

impl RowFormat for CsvFormat {
    fn begin(&mut self, out: &mut Vec<u8>) -> Result<(), ExportError> {
        self.record(CSV_COLUMNS, out)
    }

    fn row(&mut self, row: &ExportRow, out: &mut Vec<u8>) -> Result<(), ExportError> {
        let message = &row.message;
        let chat = &row.chat;
        let tags = tags_json(chat);
        let latency = message
            .latency_ms
            .map(|l| l.get().to_string())
            .unwrap_or_default();
        let tokens = message
            .token_count
            .map(|t| t.get().to_string())
            .unwrap_or_default();
        let created_at = rfc3339(message.created_at)?;
        let metadata = message.metadata.to_json_text();
        let chat_id = chat.id.to_string();
        let message_id = message.id.to_string();
        let key_id = message.key_id.map(|k| k.to_string()).unwrap_or_default();
        self.record(
            [
                chat_id.as_str(),
                chat.title.as_ref().map(|t| t.as_str()).unwrap_or_default(),
                tags.as_str(),
                message_id.as_str(),
                message.role.as_str(),
                message.content.as_str(),
                latency.as_str(),
                tokens.as_str(),
                created_at.as_str(),
                metadata.as_str(),
                key_id.as_str(),
            ],
            out,
        )
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), ExportError> {
        Ok(())
    }
}

/// Characters that make a spreadsheet read a cell as a formula (OWASP's
/// CSV-injection list). Such a cell gets a leading `'`, which spreadsheets
/// show as text and do not evaluate.
const FORMULA_TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Spreadsheets skip leading spaces and invisible characters before they
/// look for a formula, so the check does too: `  =1+1` and `\u{200B}=1+1`
/// are formulas as much as `=1+1`.
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    let start = cell.trim_start_matches(|c: char| {
        (c.is_whitespace() && !matches!(c, '\t' | '\r')) || crate::domain::text::is_invisible(c)
    });
    if start.starts_with(FORMULA_TRIGGERS) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

fn tags_json(chat: &crate::domain::Chat) -> String {
    let tags: Vec<&str> = chat.tags.iter().map(|t| t.as_str()).collect();
    serde_json::to_string(&tags).expect("strings serialise")
}

fn rfc3339(at: time::OffsetDateTime) -> Result<String, ExportError> {
    at.format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| ExportError::Format(e.to_string()))
}

/// A message as a JSON object (the JSON and NDJSON formats). Public for the
/// OpenAPI document of the inline export (`ExportedMessage`).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = ExportedMessage)]
pub struct JsonRow<'a> {
    chat_id: crate::domain::ChatId,
    chat_title: Option<&'a str>,
    tags: Vec<&'a str>,
    message_id: crate::domain::MessageId,
    #[schema(example = "user")]
    role: &'static str,
    content: &'a str,
    latency_ms: Option<u64>,
    token_count: Option<u64>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    created_at: time::OffsetDateTime,
    metadata: &'a crate::domain::Metadata,
    /// The API key that logged the message (null before keys were recorded).
    #[schema(value_type = Option<String>)]
    key_id: Option<crate::domain::ApiKeyId>,
}

impl<'a> From<&'a ExportRow> for JsonRow<'a> {
    fn from(row: &'a ExportRow) -> Self {
        let (chat, message) = (&row.chat, &row.message);
        Self {
            chat_id: chat.id,
            chat_title: chat.title.as_ref().map(|t| t.as_str()),
            tags: chat.tags.iter().map(|t| t.as_str()).collect(),
            message_id: message.id,
            role: message.role.as_str(),
            content: message.content.as_str(),
            latency_ms: message.latency_ms.map(|l| l.get()),
            token_count: message.token_count.map(|t| t.get()),
            created_at: message.created_at,
            metadata: &message.metadata,
            key_id: message.key_id,
        }
    }
}

fn write_json(row: &ExportRow, out: &mut Vec<u8>) -> Result<(), ExportError> {
    serde_json::to_writer(&mut *out, &JsonRow::from(row))
        .map_err(|e| ExportError::Format(e.to_string()))
}

/// One JSON array, one message object per line inside it.
#[derive(Default)]
pub struct JsonFormat {
    rows: u64,
}

impl RowFormat for JsonFormat {
    fn begin(&mut self, out: &mut Vec<u8>) -> Result<(), ExportError> {
        out.push(b'[');
        Ok(())
    }

    fn row(&mut self, row: &ExportRow, out: &mut Vec<u8>) -> Result<(), ExportError> {
        out.extend_from_slice(if self.rows == 0 { b"\n" } else { b",\n" });
        self.rows += 1;
        write_json(row, out)
    }

    fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), ExportError> {
        out.extend_from_slice(b"\n]\n");
        Ok(())
    }
}

/// Newline-delimited JSON: one message object per line.
pub struct NdjsonFormat;

impl RowFormat for NdjsonFormat {
    fn begin(&mut self, _out: &mut Vec<u8>) -> Result<(), ExportError> {
        Ok(())
    }

    fn row(&mut self, row: &ExportRow, out: &mut Vec<u8>) -> Result<(), ExportError> {
        write_json(row, out)?;
        out.push(b'\n');
        Ok(())
    }

    fn finish(&mut self, _out: &mut Vec<u8>) -> Result<(), ExportError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::export::tests::sample_rows;

    fn render(format: ExportFormat, rows: &[ExportRow]) -> String {
        let mut writer = format.writer();
        let mut out = Vec::new();
        writer.begin(&mut out).unwrap();
        for row in rows {
            writer.row(row, &mut out).unwrap();
        }
        writer.finish(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn formula_cells_are_neutralised_and_others_kept() {
        for trigger in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralise(trigger), format!("'{trigger}"));
        }
        // Past leading spaces and invisible characters, as spreadsheets look.
        for hidden in [
            "  =1+1",
            "\u{200B}=1+1",
            " \u{FEFF}\u{3164}+1",
            "\u{00A0}@SUM(A1)",
        ] {
            assert_eq!(neutralise(hidden), format!("'{hidden}"));
        }
        for plain in ["hello", "", "1-2", "a=b", "'quoted", "  hello"] {
            assert_eq!(neutralise(plain), plain);
        }
    }

    #[test]
    fn csv_quotes_and_neutralises_every_cell() {
        let rows = sample_rows();
        let text = render(ExportFormat::Csv, &rows);
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(reader.headers().unwrap(), CSV_COLUMNS.as_slice());
        let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(records.len(), rows.len());
        let first = &records[0];
        assert_eq!(&first[0], rows[0].chat.id.to_string());
        assert_eq!(&first[1], "'=HYPERLINK(\"http://evil\")");
        assert_eq!(&first[2], r#"["billing","vip"]"#);
        assert_eq!(&first[5], "line one,\n\"quoted\" line two");
        assert_eq!(&first[6], "850");
        assert_eq!(&first[7], "");
        let metadata: Value = serde_json::from_str(&first[9]).unwrap();
        assert_eq!(metadata, json!({"model": "gpt-4o", "n": 1.5}));
        assert_eq!(&first[10], rows[0].message.key_id.unwrap().to_string());
        assert_eq!(
            &records[1][10], "",
            "a message logged before keys were recorded"
        );
        assert_eq!(&records[1][5], "'-1 is negative");
        assert_eq!(&records[1][1], "'=HYPERLINK(\"http://evil\")");
    }

    /// The raw CSV of one row whose message content is `content`.
    fn csv_line(content: &str) -> String {
        let mut row = sample_rows().remove(0);
        row.message.content = crate::domain::MessageContent::parse(content).unwrap();
        let text = render(ExportFormat::Csv, &[row]);
        text.split_once("\r\n").unwrap().1.to_owned()
    }

    #[test]
    fn every_csv_cell_is_quoted_so_other_separators_cannot_split_it() {
        // A `;`-splitting spreadsheet would make `=1+1` a cell of its own.
        let line = csv_line("ok;=1+1;");
        assert!(line.contains(r#","ok;=1+1;","#), "{line}");
        // Tab-separated readers likewise: the tab stays inside the quotes.
        let line = csv_line("a\t=cmd|' /C calc'!A0");
        assert!(line.contains("\"a\t=cmd|' /C calc'!A0\""), "{line}");
        // A leading `-` is neutralised and quoted.
        let line = csv_line("-2+3");
        assert!(line.contains(r#","'-2+3","#), "{line}");
        // Every field, empty ones and the header's too, is one quoted string.
        let text = render(ExportFormat::Csv, &sample_rows());
        let records: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(records.len(), 3);
        for record in records {
            assert!(record.starts_with('"') && record.ends_with('"'), "{record}");
        }
        assert!(text.starts_with(r#""chat_id","chat_title","tags","#));
        assert!(text.contains(r#","850","","#), "an empty cell is \"\"");
    }

    #[test]
    fn json_and_ndjson_parse_back_to_the_rows() {
        let rows = sample_rows();
        let array: Vec<Value> = serde_json::from_str(&render(ExportFormat::Json, &rows)).unwrap();
        let lines: Vec<Value> = render(ExportFormat::Ndjson, &rows)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(array, lines);
        assert_eq!(array.len(), 2);
        assert_eq!(array[0]["content"], "line one,\n\"quoted\" line two");
        assert_eq!(array[0]["tags"], json!(["billing", "vip"]));
        assert_eq!(array[0]["metadata"], json!({"model": "gpt-4o", "n": 1.5}));
        assert_eq!(array[1]["latency_ms"], Value::Null);
        assert_eq!(array[1]["token_count"], 7);
        assert_eq!(
            array[0]["key_id"],
            rows[0].message.key_id.unwrap().to_string()
        );
        assert_eq!(array[1]["key_id"], Value::Null);
        // An empty export is still a valid file.
        let empty: Vec<Value> = serde_json::from_str(&render(ExportFormat::Json, &[])).unwrap();
        assert!(empty.is_empty());
        assert_eq!(render(ExportFormat::Ndjson, &[]), "");
    }
}
