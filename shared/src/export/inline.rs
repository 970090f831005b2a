//! Inline exports: the whole file in one response (`POST /exports/orgs/me/sync`),
//! within a size cap and a read bound, never truncated.

use time::OffsetDateTime;

use super::{ExportError, ExportReader, MemorySink, NoProgress, StoreRowSource, stream_export};
use crate::{
    domain::{
        OrgId, UserId,
        export::{ExportFilters, ExportFormat},
    },
    store::ExportJobStore,
};

/// The largest inline export. A Lambda response carries at most 6 MB;
/// larger exports fail with [`ExportError::TooLarge`] and must be jobs.
pub const INLINE_EXPORT_MAX_BYTES: usize = 4 * 1024 * 1024;
/// The most chats and messages an inline export reads: a bound on what one
/// request costs (about 5 read units and a few seconds per 10,000 items),
/// whatever its filters let through. Larger exports are jobs.
pub const INLINE_EXPORT_MAX_READS: u64 = 20_000;
/// Inline exports one user may make a minute: each may read 20,000 items
/// (about 10 read units), so this bounds what one user costs; export jobs
/// count in the org's export quotas instead.
pub const INLINE_EXPORTS_PER_MINUTE: u32 = 10;

/// The file is checked against the cap every this many bytes, so an
/// oversized export stops early instead of being read to the end.
const PART_BYTES: usize = 256 * 1024;

/// Counts an inline export of `user` at `now`, or refuses it once they have
/// made [`INLINE_EXPORTS_PER_MINUTE`] this minute (one conditional write).
pub async fn admit_inline_export(
    jobs: &dyn ExportJobStore,
    org: OrgId,
    user: UserId,
    now: OffsetDateTime,
) -> Result<(), ExportError> {
    let seconds = now.unix_timestamp().max(0) as u64;
    let minute = seconds / 60;
    match jobs
        .count_inline_export(org, user, minute, INLINE_EXPORTS_PER_MINUTE)
        .await?
    {
        Some(_) => Ok(()),
        None => Err(ExportError::InlineQuota {
            limit: INLINE_EXPORTS_PER_MINUTE,
            retry_after_secs: (60 - seconds % 60).max(1),
        }),
    }
}

/// The file of an export of `org`'s chats in `format`, or
/// [`ExportError::TooLarge`] / [`ExportError::ReadsTooMuch`] past the bounds.
pub async fn export_inline(
    reader: ExportReader,
    org: OrgId,
    format: ExportFormat,
    filters: ExportFilters,
) -> Result<Vec<u8>, ExportError> {
    let mut source =
        StoreRowSource::new(reader, org, filters).with_read_limit(INLINE_EXPORT_MAX_READS);
    let mut sink = MemorySink::with_cap(INLINE_EXPORT_MAX_BYTES);
    let totals = stream_export(
        &mut source,
        &mut *format.writer(),
        &mut sink,
        PART_BYTES,
        &NoProgress,
    )
    .await?;
    tracing::info!(
        rows = totals.rows,
        bytes = totals.bytes,
        reads = source.reads(),
        format = format.as_str(),
        "inline export"
    );
    Ok(sink.bytes)
}
