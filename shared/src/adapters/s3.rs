//! Export files on S3 ([`ExportFiles`]): the multipart-upload [`ByteSink`]
//! the worker streams into, and the presigned download links the API hands
//! out.

use async_trait::async_trait;
use aws_sdk_s3::{
    Client,
    error::DisplayErrorContext,
    presigning::PresigningConfig,
    primitives::ByteStream,
    types::{CompletedMultipartUpload, CompletedPart},
};

use crate::export::{ByteSink, DOWNLOAD_LINK_TTL, ExportError, ExportFiles};

/// The `Cache-Control` a download link makes S3 answer with.
pub const DOWNLOAD_CACHE_CONTROL: &str = "no-store, private";

fn storage(error: impl std::error::Error) -> ExportError {
    ExportError::Storage(DisplayErrorContext(error).to_string())
}

/// The bucket export files live in.
#[derive(Clone)]
pub struct ExportBucket {
    client: Client,
    bucket: String,
}

impl ExportBucket {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn name(&self) -> &str {
        &self.bucket
    }
}

#[async_trait]
impl ExportFiles for ExportBucket {
    /// A multipart upload of the object `key`. Nothing is sent until the
    /// first part.
    fn sink(&self, key: String, content_type: &'static str) -> Box<dyn ByteSink> {
        Box::new(MultipartSink {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key,
            content_type,
            upload_id: None,
            parts: Vec::new(),
        })
    }

    /// A presigned GET link for `key` that expires after
    /// [`DOWNLOAD_LINK_TTL`] and saves the file as `file_name`.
    async fn download_link(
        &self,
        key: &str,
        file_name: &str,
        content_type: &str,
    ) -> Result<String, ExportError> {
        let config = PresigningConfig::expires_in(DOWNLOAD_LINK_TTL).map_err(storage)?;
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .response_content_disposition(format!("attachment; filename=\"{file_name}\""))
            .response_content_type(content_type)
            // The file is one org's data: no browser or proxy may keep it.
            .response_cache_control(DOWNLOAD_CACHE_CONTROL)
            .presigned(config)
            .await
            .map_err(storage)?;
        Ok(request.uri().to_owned())
    }
}

/// Streams one object as a multipart upload: each full part is uploaded as
/// it comes, so only one part is ever in memory. A file that fits in one
/// part is one `PutObject`. The key is fixed by the job, so a retry
/// replaces the object rather than adding one.
struct MultipartSink {
    client: Client,
    bucket: String,
    key: String,
    content_type: &'static str,
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
}

impl MultipartSink {
    async fn upload_id(&mut self) -> Result<String, ExportError> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .content_type(self.content_type)
            .send()
            .await
            .map_err(storage)?;
        let id = created
            .upload_id
            .ok_or_else(|| ExportError::Storage("S3 returned no upload id".into()))?;
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    async fn upload_part(&mut self, part: Vec<u8>) -> Result<(), ExportError> {
        let upload_id = self.upload_id().await?;
        let number = i32::try_from(self.parts.len() + 1)
            .map_err(|_| ExportError::Storage("too many parts".into()))?;
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(storage)?;
        self.parts.push(
            CompletedPart::builder()
                .set_e_tag(uploaded.e_tag)
                .part_number(number)
                .build(),
        );
        Ok(())
    }
}

#[async_trait]
impl ByteSink for MultipartSink {
    async fn write_part(&mut self, part: Vec<u8>) -> Result<(), ExportError> {
        self.upload_part(part).await
    }

    async fn complete(&mut self, last: Vec<u8>) -> Result<(), ExportError> {
        let Some(upload_id) = self.upload_id.clone() else {
            // Small file: no multipart upload was started.
            self.client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.key)
                .content_type(self.content_type)
                .body(ByteStream::from(last))
                .send()
                .await
                .map_err(storage)?;
            return Ok(());
        };
        if !last.is_empty() {
            self.upload_part(last).await?;
        }
        let parts = CompletedMultipartUpload::builder()
            .set_parts(Some(std::mem::take(&mut self.parts)))
            .build();
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(parts)
            .send()
            .await
            .map_err(storage)?;
        self.upload_id = None;
        Ok(())
    }

    async fn abort(&mut self) {
        let Some(upload_id) = self.upload_id.take() else {
            return;
        };
        // If this fails too, the bucket's lifecycle rule aborts the upload
        // after a day; the job's failure is what matters to report.
        if let Err(error) = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.key)
            .upload_id(upload_id)
            .send()
            .await
        {
            tracing::warn!(error = %DisplayErrorContext(error), key = %self.key, "could not abort a multipart upload");
        }
    }
}
