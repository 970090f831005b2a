//! `chatlogger-bench exports`: the export pipeline (format strategy, part
//! buffer) streaming synthetic messages from an in-memory source to a
//! counting sink, per format, at 100k and 1M rows. Each (format, rows) run is
//! its own child process (`export-run`), so its peak RSS (`VmHWM`) is its
//! own: the proof that memory does not grow with the export's size.

use std::{process::Command, sync::Arc, time::Instant};

use async_trait::async_trait;
use chatlogger::{
    domain::{
        Chat, ChatId, ChatTitle, LatencyMs, Message, MessageContent, MessageId, MessageRole,
        Metadata, Tag, Tags, TokenCount, export::ExportFormat,
    },
    export::{
        CountingSink, ExportError, ExportRow, NoProgress, PART_BYTES, RowSource, stream_export,
    },
};
use serde_json::json;

/// Rows per page, like a DynamoDB query page of short messages.
const PAGE: usize = 500;
/// Messages per synthetic chat.
const PER_CHAT: usize = 50;

/// Generates `rows` messages on the fly; holds one page at a time, as the
/// DynamoDB source does.
struct SyntheticSource {
    left: usize,
    made: usize,
    chat: Arc<Chat>,
    contents: Vec<MessageContent>,
    metadata: Metadata,
}

impl SyntheticSource {
    fn new(rows: usize) -> Self {
        let contents = [
            "How do I get a refund for my last order? It arrived damaged, and the box was open.",
            "=SUM(A1:A9) looks like a formula, and \"quotes\", commas, and a\nsecond line.",
            "A typical assistant reply of a few sentences. It explains the refund policy, \
             links the form, and asks for the order number to speed things up.",
            "-1 starts with a minus; @here starts with an at sign.",
        ]
        .iter()
        .map(|c| MessageContent::parse(c).unwrap())
        .collect();
        Self {
            left: rows,
            made: 0,
            chat: Self::chat(),
            contents,
            metadata: Metadata::parse(json!({"model": "gpt-4o", "temperature": 0.2})).unwrap(),
        }
    }

    fn chat() -> Arc<Chat> {
        Arc::new(Chat {
            id: ChatId::new(),
            title: Some(ChatTitle::parse("Refund question, \"urgent\"").unwrap()),
            tags: Tags::parse(vec![
                Tag::parse("billing").unwrap(),
                Tag::parse("vip").unwrap(),
            ])
            .unwrap(),
            metadata: Metadata::default(),
            user_id: None,
            key_id: Some(chatlogger::domain::ApiKeyId::new()),
            created_at: time::OffsetDateTime::now_utc(),
        })
    }
}

#[async_trait]
impl RowSource for SyntheticSource {
    async fn next_page(&mut self) -> Result<Option<Vec<ExportRow>>, ExportError> {
        if self.left == 0 {
            return Ok(None);
        }
        let n = self.left.min(PAGE);
        self.left -= n;
        let mut page = Vec::with_capacity(n);
        for _ in 0..n {
            if self.made.is_multiple_of(PER_CHAT) {
                self.chat = Self::chat();
            }
            let i = self.made;
            self.made += 1;
            page.push(ExportRow {
                chat: self.chat.clone(),
                message: Message {
                    id: MessageId::new(),
                    chat_id: self.chat.id,
                    role: MessageRole::ALL[i % 4],
                    content: self.contents[i % self.contents.len()].clone(),
                    metadata: self.metadata.clone(),
                    latency_ms: Some(LatencyMs::parse((i % 5000) as i128).unwrap()),
                    token_count: Some(TokenCount::parse((i % 900) as i128).unwrap()),
                    key_id: Some(chatlogger::domain::ApiKeyId::new()),
                    created_at: time::OffsetDateTime::now_utc(),
                },
            });
        }
        Ok(Some(page))
    }
}

/// Peak resident set size of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("Linux /proc");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc/self/status")
}

/// One run, in this process: prints one JSON line for the parent.
pub async fn run(format: ExportFormat, rows: usize) {
    let mut source = SyntheticSource::new(rows);
    let mut sink = CountingSink::default();
    let started = Instant::now();
    let totals = stream_export(
        &mut source,
        &mut *format.writer(),
        &mut sink,
        PART_BYTES,
        &NoProgress,
    )
    .await
    .expect("in-memory export");
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(totals.rows, rows as u64);
    assert_eq!(totals.bytes, sink.bytes);
    assert!(sink.smallest_part.is_none_or(|p| p >= PART_BYTES));
    println!(
        "{}",
        json!({
            "rows": totals.rows,
            "bytes": totals.bytes,
            "parts": sink.parts + 1,
            "secs": secs,
            "peak_rss_kib": peak_rss_kib(),
        })
    );
}

/// Every format at each size, one child process per run.
pub fn compare(sizes: &[usize]) {
    let me = std::env::current_exe().expect("own path");
    println!(
        "exports  in-memory source -> format -> {} MiB parts -> counting sink, one process per run",
        PART_BYTES / (1024 * 1024)
    );
    for format in ExportFormat::ALL {
        let mut peaks = Vec::new();
        for &rows in sizes {
            let output = Command::new(&me)
                .args([
                    "export-run",
                    "--format",
                    format.as_str(),
                    "--rows",
                    &rows.to_string(),
                ])
                .output()
                .expect("run the export child");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let result: serde_json::Value =
                serde_json::from_slice(&output.stdout).expect("the child prints one JSON line");
            let secs = result["secs"].as_f64().unwrap();
            let peak = result["peak_rss_kib"].as_u64().unwrap();
            peaks.push(peak);
            println!(
                "exports  {:<6} {:>9} rows  {:>8.1} MB  {:>4} parts  {:>10.0} rows/s  {:>7.1} MB/s  peak RSS {:>6.1} MiB",
                format.as_str(),
                rows,
                result["bytes"].as_f64().unwrap() / 1e6,
                result["parts"],
                rows as f64 / secs,
                result["bytes"].as_f64().unwrap() / 1e6 / secs,
                peak as f64 / 1024.0,
            );
        }
        let (first, last) = (peaks[0] as f64, *peaks.last().unwrap() as f64);
        println!(
            "exports  {:<6} peak RSS at {} rows is {:.2}x the peak at {} rows",
            format.as_str(),
            sizes.last().unwrap(),
            last / first,
            sizes[0]
        );
    }
}
