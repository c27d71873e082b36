//! The storage format both the collector (writes) and the query side (reads) stand on:
//! write-ahead log, in-memory Arrow batches, Parquet files in an object store, and the catalog.
//!
//! ```text
//! append ─► WAL (fsync, group commit) ─► memtable (Arrow) ─► flush ─► Parquet in object_store
//!                                              │                          │
//!                          snapshot ◄──────────┴──────── catalog (redb) ◄─┘
//! ```

mod bloom;
mod catalog;
mod config;
mod flush;
pub mod index;
mod log_store;
pub mod maintenance;
mod memtable;
pub mod metastore;
pub mod metric_filters;
pub mod metric_rollup;
pub mod metric_series;
mod metrics;
mod quarantine;
mod service_map;
mod table;
mod traces;
mod wal;
mod writer;

pub use catalog::{Catalog, CatalogError, CatalogState, DocChange, EventStats, FileMeta, GroupMeta, StreamMeta};
pub use config::{Objects, S3Objects, SharedCatalog, StoreConfig};
pub use log_store::{AppendError, LogStore, StoreError, s3_bucket};
pub use memtable::{MetricBatch, PreparedBatch, SpanBatch};
pub use metastore::Metastore;
pub use metric_filters::{ActiveFilter, GroupFilters, MetricFilters, Series};
pub use metric_series::{SeriesInfo, SeriesRegistry};
pub use metrics::Metrics;
pub use service_map::MapView;
pub use table::{FileLocation, LogSnapshot, LogTable, OBJECT_STORE_URL};
pub use traces::{TraceDocuments, TraceTimes};
pub use wal::SpanRow;
pub use writer::LiveEvents;

/// Entry points for the fuzz targets (`fuzz/`): the WAL decoder on arbitrary bytes.
#[doc(hidden)]
pub mod fuzzing {
    use crate::wal::record::{SEGMENT_MAGIC, decode_frame, decode_payload};

    /// Decodes `bytes` as the WAL reader does: frame after frame from the start (after the
    /// segment header when present) until the first bad frame. Returns the records decoded.
    pub fn wal_frames(bytes: &[u8]) -> usize {
        let mut rest = bytes.strip_prefix(SEGMENT_MAGIC.as_slice()).unwrap_or(bytes);
        let mut records = 0;
        while let Ok((_, len)) = decode_frame(rest) {
            rest = &rest[len..];
            records += 1;
        }
        records
    }

    /// Decodes `bytes` as one frame's payload (past the checksum, which random bytes rarely
    /// pass): the record decoder itself.
    pub fn wal_payload(bytes: &[u8]) -> bool {
        decode_payload(bytes).is_some()
    }
}
