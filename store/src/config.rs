//! Store settings. Each limit is documented in README.md's configuration reference.

use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Root of the WAL, the catalog and (for the local object store) the data files.
    pub data_dir: PathBuf,
    /// fsync the WAL before acknowledging. Turning this off trades durability on power loss
    /// (not on process crash) for throughput.
    pub wal_sync: bool,
    /// Flush the memtable to Parquet once it holds this many message bytes...
    pub flush_bytes: usize,
    /// ...or once its oldest event has waited this long.
    pub flush_interval: Duration,
    /// Unflushed bytes (memtable plus frozen batches being flushed) above which ingest is
    /// refused with `ThrottlingException`.
    pub max_buffer_bytes: usize,
    /// Memory all running queries may hold for sorts, aggregations and joins together
    /// (DataFusion's memory pool); a query that needs more spills or fails with
    /// "Resources exhausted".
    pub query_memory_bytes: usize,
    /// Rows per Parquet row group.
    pub row_group_rows: usize,
    /// Compaction merges files smaller than this...
    pub compaction_target_bytes: u64,
    /// ...once at least this many of them exist.
    pub compaction_min_files: usize,
    /// How often retention and compaction run.
    pub maintenance_interval: Duration,
    /// Trace documents are deleted this many days after their end (`traces.retention_days`).
    pub trace_retention_days: u32,
    /// Metric series (namespace, name, dimension set) the store accepts before PutMetricData
    /// and other producers are refused (`metrics.max_series`).
    pub max_series: usize,
    /// Raw metric samples are rolled up into 5-minute and 1-hour rows once older than this
    /// (`metrics.retention.minute`, AWS: 15 days)...
    pub metrics_raw_horizon: Duration,
    /// ...5-minute rows are dropped after this (AWS: 63 days)...
    pub metrics_five_minute_horizon: Duration,
    /// ...and 1-hour rows after this (AWS: 455 days).
    pub metrics_hour_horizon: Duration,
}

impl StoreConfig {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            wal_sync: true,
            flush_bytes: 64 << 20,
            flush_interval: Duration::from_secs(30),
            max_buffer_bytes: 512 << 20,
            query_memory_bytes: 1 << 30,
            row_group_rows: 128 * 1024,
            compaction_target_bytes: 128 << 20,
            compaction_min_files: 8,
            maintenance_interval: Duration::from_secs(60),
            trace_retention_days: 30,
            max_series: 1_000_000,
            metrics_raw_horizon: Duration::from_secs(15 * 86_400),
            metrics_five_minute_horizon: Duration::from_secs(63 * 86_400),
            metrics_hour_horizon: Duration::from_secs(455 * 86_400),
        }
    }
}
