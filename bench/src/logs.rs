//! Log bytes, as CloudWatch would ingest them: the simulation runs under
//! the production Lambda subscriber (`chatlogger::telemetry::lambda_subscriber`)
//! writing here, which counts every byte and shows warnings and errors.

use std::{
    io::Write,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

#[derive(Debug, Clone, Default)]
pub struct LogBytes(Arc<AtomicU64>);

impl LogBytes {
    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// The subscriber, as the default of the current thread until the
    /// guard is dropped.
    pub fn install(&self) -> tracing::subscriber::DefaultGuard {
        let writer = self.clone();
        tracing::subscriber::set_default(chatlogger::telemetry::lambda_subscriber(move || {
            writer.clone()
        }))
    }
}

impl Write for LogBytes {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(bytes.len() as u64, Ordering::SeqCst);
        // Not INFO (which the compact format leaves unlabelled): worth seeing.
        let text = String::from_utf8_lossy(bytes);
        if text.contains(r#""level":"#) {
            eprint!("log: {text}");
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
