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
pub mod metric_filters;
pub mod metric_rollup;
pub mod metric_series;
mod metrics;
mod service_map;
mod table;
mod traces;
mod wal;
mod writer;

pub use catalog::{Catalog, CatalogError, CatalogState, DocChange, EventStats, FileMeta, GroupMeta, StreamMeta};
pub use config::StoreConfig;
pub use log_store::{AppendError, LogStore, StoreError};
pub use memtable::{MetricBatch, PreparedBatch, SpanBatch};
pub use metric_filters::{ActiveFilter, GroupFilters, MetricFilters, Series};
pub use metric_series::{SeriesInfo, SeriesRegistry};
pub use metrics::Metrics;
pub use service_map::MapView;
pub use table::{LogSnapshot, LogTable, OBJECT_STORE_URL};
pub use traces::{TraceDocuments, TraceTimes};
pub use wal::SpanRow;
pub use writer::LiveEvents;
