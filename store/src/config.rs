//! Store settings. Each limit is documented in README.md's configuration reference.

use std::path::PathBuf;
use std::time::Duration;

/// Where the data files (Parquet and index sidecars) live.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Objects {
    /// `<data_dir>/objects/` on the local disk.
    #[default]
    Local,
    /// A bucket of S3 or an S3-compatible server.
    S3(S3Objects),
}

/// An S3-compatible bucket and the key prefix the store's files go under.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Objects {
    pub bucket: String,
    /// Key prefix, without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// A server other than AWS's (path-style requests; `http://` allowed).
    pub endpoint: Option<String>,
    pub region: String,
    /// Static credentials; without them the usual `AWS_*` environment variables apply.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

impl S3Objects {
    /// The key prefix of the store's data files: `<prefix>/objects`.
    pub fn objects_prefix(&self) -> String {
        if self.prefix.is_empty() { "objects".to_owned() } else { format!("{}/objects", self.prefix) }
    }
}

impl std::fmt::Debug for S3Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Objects")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

impl Objects {
    /// The same storage for a store kept at `relative` under the configured one (another
    /// account's): a local store follows its data directory; a bucket gets a longer prefix.
    pub fn under(&self, relative: &str) -> Self {
        match self {
            Objects::Local => Objects::Local,
            Objects::S3(s3) => {
                let prefix =
                    [s3.prefix.as_str(), relative].iter().filter(|p| !p.is_empty()).copied().collect::<Vec<_>>();
                Objects::S3(S3Objects { prefix: prefix.join("/"), ..s3.clone() })
            }
        }
    }
}

/// A store's catalog in the shared metastore of a multi-node deployment.
#[derive(Debug, Clone)]
pub struct SharedCatalog {
    pub metastore: std::sync::Arc<crate::Metastore>,
    /// The account whose catalog this is.
    pub account: String,
    /// This node's name, stable across its restarts (it keys the node's WAL position).
    pub node: String,
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Root of the WAL, the catalog and (for the local object store) the data files.
    pub data_dir: PathBuf,
    /// Where the data files live.
    pub objects: Objects,
    /// The catalog in a shared metastore instead of `<data_dir>/catalog.redb`.
    pub shared_catalog: Option<SharedCatalog>,
    /// Whether this node ingests (`false` on a query-only node: appends are refused).
    pub accept_writes: bool,
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
    /// Data files that compaction or retention replaced are deleted this long after, so
    /// queries already reading them finish (`file_delete_grace_secs`).
    pub file_delete_grace: Duration,
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
            objects: Objects::Local,
            shared_catalog: None,
            accept_writes: true,
            wal_sync: true,
            flush_bytes: 64 << 20,
            flush_interval: Duration::from_secs(30),
            max_buffer_bytes: 512 << 20,
            query_memory_bytes: 1 << 30,
            row_group_rows: 128 * 1024,
            compaction_target_bytes: 128 << 20,
            compaction_min_files: 8,
            maintenance_interval: Duration::from_secs(60),
            file_delete_grace: Duration::from_secs(120),
            trace_retention_days: 30,
            max_series: 1_000_000,
            metrics_raw_horizon: Duration::from_secs(15 * 86_400),
            metrics_five_minute_horizon: Duration::from_secs(63 * 86_400),
            metrics_hour_horizon: Duration::from_secs(455 * 86_400),
        }
    }
}
