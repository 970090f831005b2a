//! Where export files are kept: the port the worker writes a file through
//! and the API hands out download links from. S3 implements it
//! (`crate::adapters::s3`).

use std::time::Duration;

use async_trait::async_trait;

use super::{ByteSink, ExportError};

/// How long a download link works: short, since anyone holding it can
/// fetch the file. The bound is 15 minutes.
pub const DOWNLOAD_LINK_TTL: Duration = Duration::from_secs(10 * 60);

/// The store of export files.
#[async_trait]
pub trait ExportFiles: Send + Sync {
    /// A sink writing the file `key`; a retry of the same key replaces it.
    fn sink(&self, key: String, content_type: &'static str) -> Box<dyn ByteSink>;

    /// A link to `key` that works for [`DOWNLOAD_LINK_TTL`] and saves the
    /// file as `file_name`.
    async fn download_link(
        &self,
        key: &str,
        file_name: &str,
        content_type: &str,
    ) -> Result<String, ExportError>;
}
