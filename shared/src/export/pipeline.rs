//! The streaming pipeline: pages of rows in from a [`RowSource`], bytes
//! out through a [`RowFormat`] into parts for a [`ByteSink`]. It holds one
//! page of rows and one part buffer at a time, so memory stays flat
//! whatever the export's size; on any failure the sink is aborted, so no
//! half-written file is left behind.

use async_trait::async_trait;

use super::{ExportError, ExportRow, RowFormat};
use crate::domain::export::Totals;

/// S3's smallest multipart part (every part but the last).
pub const MIN_PART_BYTES: usize = 5 * 1024 * 1024;
/// The part size the worker uploads: S3's minimum. A part is cut as soon
/// as a row takes the buffer to this size, so every part but the last is at
/// least S3's minimum and at most one row more.
pub const PART_BYTES: usize = MIN_PART_BYTES;

/// Where rows come from, a page at a time.
#[async_trait]
pub trait RowSource: Send {
    /// The next non-empty page, or `None` at the end.
    async fn next_page(&mut self) -> Result<Option<Vec<ExportRow>>, ExportError>;
}

/// Where the file's bytes go, a part at a time.
#[async_trait]
pub trait ByteSink: Send {
    /// A full part (at least the part size the pipeline was given).
    async fn write_part(&mut self, part: Vec<u8>) -> Result<(), ExportError>;
    /// The last part (possibly empty or small), and the file is done.
    async fn complete(&mut self, last: Vec<u8>) -> Result<(), ExportError>;
    /// Drops whatever was written; called on any failure.
    async fn abort(&mut self);
}

/// Told after every part, so a job can show its progress.
#[async_trait]
pub trait Progress: Send + Sync {
    async fn part_written(&self, totals: Totals) -> Result<(), ExportError>;
}

/// No progress reports (sync exports and benchmarks).
pub struct NoProgress;

#[async_trait]
impl Progress for NoProgress {
    async fn part_written(&self, _totals: Totals) -> Result<(), ExportError> {
        Ok(())
    }
}

/// Streams `source` through `format` into `sink` in parts of at least
/// `part_bytes` (the last may be smaller). Aborts the sink on failure.
pub async fn stream_export(
    source: &mut dyn RowSource,
    format: &mut dyn RowFormat,
    sink: &mut dyn ByteSink,
    part_bytes: usize,
    progress: &dyn Progress,
) -> Result<Totals, ExportError> {
    match write_all(source, format, sink, part_bytes, progress).await {
        Ok(totals) => Ok(totals),
        Err(error) => {
            sink.abort().await;
            Err(error)
        }
    }
}

async fn write_all(
    source: &mut dyn RowSource,
    format: &mut dyn RowFormat,
    sink: &mut dyn ByteSink,
    part_bytes: usize,
    progress: &dyn Progress,
) -> Result<Totals, ExportError> {
    // Room for the row that crosses the part size: most rows fit in 64 KiB;
    // a longer one (escaping can make a 32 KiB message several times that)
    // only costs the buffer one reallocation.
    let capacity = part_bytes + 64 * 1024;
    let mut buffer = Vec::with_capacity(capacity);
    let mut totals = Totals::default();
    format.begin(&mut buffer)?;
    while let Some(page) = source.next_page().await? {
        for row in &page {
            format.row(row, &mut buffer)?;
            totals.rows += 1;
            if buffer.len() >= part_bytes {
                totals.bytes += buffer.len() as u64;
                let part = std::mem::replace(&mut buffer, Vec::with_capacity(capacity));
                sink.write_part(part).await?;
                progress.part_written(totals).await?;
            }
        }
    }
    format.finish(&mut buffer)?;
    totals.bytes += buffer.len() as u64;
    sink.complete(buffer).await?;
    Ok(totals)
}

/// Keeps the file in memory, up to `max_bytes`: for sync exports (which
/// must fit in one response) and tests. Past the cap it fails with
/// [`ExportError::TooLarge`] instead of truncating.
pub struct MemorySink {
    pub bytes: Vec<u8>,
    max_bytes: usize,
    pub completed: bool,
    pub aborted: bool,
}

impl MemorySink {
    pub fn with_cap(max_bytes: usize) -> Self {
        Self {
            bytes: Vec::new(),
            max_bytes,
            completed: false,
            aborted: false,
        }
    }

    fn append(&mut self, part: Vec<u8>) -> Result<(), ExportError> {
        if self.bytes.len() + part.len() > self.max_bytes {
            return Err(ExportError::TooLarge {
                max_bytes: self.max_bytes,
            });
        }
        self.bytes.extend_from_slice(&part);
        Ok(())
    }
}

#[async_trait]
impl ByteSink for MemorySink {
    async fn write_part(&mut self, part: Vec<u8>) -> Result<(), ExportError> {
        self.append(part)
    }

    async fn complete(&mut self, last: Vec<u8>) -> Result<(), ExportError> {
        self.append(last)?;
        self.completed = true;
        Ok(())
    }

    async fn abort(&mut self) {
        self.bytes = Vec::new();
        self.aborted = true;
    }
}

/// Counts and discards: for benchmarks, where only the pipeline's own cost matters.
#[derive(Default)]
pub struct CountingSink {
    pub parts: u64,
    pub bytes: u64,
    pub smallest_part: Option<usize>,
}

#[async_trait]
impl ByteSink for CountingSink {
    async fn write_part(&mut self, part: Vec<u8>) -> Result<(), ExportError> {
        self.parts += 1;
        self.bytes += part.len() as u64;
        self.smallest_part = Some(self.smallest_part.map_or(part.len(), |s| s.min(part.len())));
        Ok(())
    }

    async fn complete(&mut self, last: Vec<u8>) -> Result<(), ExportError> {
        self.bytes += last.len() as u64;
        Ok(())
    }

    async fn abort(&mut self) {}
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{domain::export::ExportFormat, export::tests::VecSource};

    /// Records every part's size; fails on part `fail_at` if set.
    #[derive(Default)]
    struct RecordingSink {
        parts: Vec<usize>,
        last: Option<usize>,
        aborted: bool,
        fail_at: Option<usize>,
    }

    #[async_trait]
    impl ByteSink for RecordingSink {
        async fn write_part(&mut self, part: Vec<u8>) -> Result<(), ExportError> {
            if self.fail_at == Some(self.parts.len()) {
                return Err(ExportError::Storage("injected".into()));
            }
            self.parts.push(part.len());
            Ok(())
        }
        async fn complete(&mut self, last: Vec<u8>) -> Result<(), ExportError> {
            self.last = Some(last.len());
            Ok(())
        }
        async fn abort(&mut self) {
            self.aborted = true;
        }
    }

    /// `rows` copies of a row, 100 a page, through `format` into `sink`.
    async fn export(
        rows: usize,
        format: ExportFormat,
        sink: &mut dyn ByteSink,
        part_bytes: usize,
        progress: &dyn Progress,
    ) -> Result<Totals, ExportError> {
        let mut source = VecSource::repeated(rows, 100);
        stream_export(
            &mut source,
            &mut *format.writer(),
            sink,
            part_bytes,
            progress,
        )
        .await
    }

    #[derive(Default)]
    struct RecordedProgress(Mutex<Vec<Totals>>);

    #[async_trait]
    impl Progress for RecordedProgress {
        async fn part_written(&self, totals: Totals) -> Result<(), ExportError> {
            self.0.lock().unwrap().push(totals);
            Ok(())
        }
    }

    #[tokio::test]
    async fn parts_are_at_least_the_part_size_except_the_last() {
        let mut sink = RecordingSink::default();
        let progress = RecordedProgress::default();
        let part = 64 * 1024;
        let totals = export(3_000, ExportFormat::Ndjson, &mut sink, part, &progress)
            .await
            .unwrap();
        assert_eq!(totals.rows, 3_000);
        assert!(sink.parts.len() > 3, "{:?}", sink.parts);
        assert!(sink.parts.iter().all(|p| *p >= part));
        let written: usize = sink.parts.iter().sum::<usize>() + sink.last.unwrap();
        assert_eq!(written as u64, totals.bytes);
        let reported = progress.0.lock().unwrap();
        assert_eq!(reported.len(), sink.parts.len());
        assert!(reported.windows(2).all(|w| w[0].rows < w[1].rows));
        assert!(!sink.aborted);
    }

    #[tokio::test]
    async fn a_failure_aborts_the_sink() {
        let mut sink = RecordingSink {
            fail_at: Some(2),
            ..RecordingSink::default()
        };
        let result = export(3_000, ExportFormat::Csv, &mut sink, 64 * 1024, &NoProgress).await;
        assert!(matches!(result, Err(ExportError::Storage(_))));
        assert!(sink.aborted && sink.last.is_none());
    }

    #[tokio::test]
    async fn a_capped_memory_sink_refuses_rather_than_truncates() {
        let mut sink = MemorySink::with_cap(10_000);
        let result = export(1_000, ExportFormat::Json, &mut sink, 4 * 1024, &NoProgress).await;
        assert!(matches!(
            result,
            Err(ExportError::TooLarge { max_bytes: 10_000 })
        ));
        assert!(sink.aborted && sink.bytes.is_empty() && !sink.completed);
    }
}
