//! `LogStore`: the write path (append → WAL → memtable), flushing to Parquet through
//! `object_store`, consistent read snapshots, retention and compaction.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::prelude::SessionContext;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};
use parking_lot::{Mutex, RwLock};
use tokio::sync::{mpsc, oneshot};

use crate::catalog::{Catalog, CatalogError, FileMeta};
use crate::config::StoreConfig;
use crate::memtable::{MemTable, MetricBatch, PreparedBatch, SpanBatch};
use crate::metric_series::SeriesRegistry;
use crate::metrics::Metrics;
use crate::table::{FileLocation, LogSnapshot, OBJECT_STORE_URL};
use crate::wal::{self, Wal};
use crate::writer::{self, Command, WriterState};

/// Queued appends beyond which ingest is refused rather than queued.
const COMMAND_QUEUE: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("catalog: {0}")]
    Catalog(#[from] CatalogError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("object store: {0}")]
    Object(#[from] object_store::Error),
    #[error("parquet: {0}")]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error("the store is shutting down")]
    ShuttingDown,
    #[error("query: {0}")]
    Query(String),
}

/// Why an append was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    #[error("too much unflushed data: {buffered} bytes buffered, limit {limit}")]
    Throttled { buffered: usize, limit: usize },
    #[error("the store is shutting down")]
    ShuttingDown,
    #[error("{0}")]
    Wal(String),
    #[error("{new} new metric series would exceed the limit of {limit} series (metrics.max_series)")]
    TooManySeries { new: usize, limit: usize },
    #[error("this node serves queries only (fluoro query): send data to a collector")]
    NotACollector,
}

pub struct LogStore {
    config: StoreConfig,
    catalog: Arc<Catalog>,
    objects: Arc<dyn ObjectStore>,
    mem: Arc<RwLock<MemTable>>,
    commands: Mutex<Option<mpsc::Sender<Command>>>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    flush_lock: tokio::sync::Mutex<()>,
    /// Objects removed from the catalog, deleted once in-flight queries are done with them.
    doomed: Mutex<Vec<(Instant, String)>>,
    indexes: crate::index::IndexCache,
    service_map: crate::service_map::ServiceMap,
    series: SeriesRegistry,
    metric_filters: crate::metric_filters::MetricFilters,
    /// Bloom filters of trace-document files, by file id.
    blooms: parking_lot::RwLock<std::collections::HashMap<u64, Arc<crate::bloom::TraceBloom>>>,
    /// One DataFusion session for every read: its runtime caches Parquet footers and page
    /// indexes across queries.
    session: SessionContext,
    metrics: Metrics,
    live: tokio::sync::broadcast::Sender<Arc<crate::writer::LiveEvents>>,
}

/// Acknowledged-event batches a live-tail subscriber may fall behind by before it loses the
/// oldest.
const LIVE_BACKLOG: usize = 4096;

impl LogStore {
    /// Opens (or creates) the store in `config.data_dir`, replaying the WAL.
    pub fn open(config: StoreConfig, metrics: Metrics) -> Result<Arc<Self>, StoreError> {
        let objects: Arc<dyn ObjectStore> = match &config.objects {
            crate::config::Objects::Local => {
                let objects_dir = config.data_dir.join("objects");
                std::fs::create_dir_all(&objects_dir)?;
                Arc::new(LocalFileSystem::new_with_prefix(&objects_dir)?)
            }
            crate::config::Objects::S3(s3) => s3_store(s3)?,
        };
        Self::open_with_objects(config, metrics, objects)
    }

    pub fn open_with_objects(
        config: StoreConfig,
        metrics: Metrics,
        objects: Arc<dyn ObjectStore>,
    ) -> Result<Arc<Self>, StoreError> {
        let wal_dir = config.data_dir.join("wal");
        std::fs::create_dir_all(&wal_dir)?;
        let catalog = Arc::new(match &config.shared_catalog {
            None => Catalog::open(&config.data_dir.join("catalog.redb"))?,
            Some(shared) => Catalog::open_shared(shared.metastore.clone(), &shared.account, &shared.node)?,
        });
        let flushed_seq = catalog.read(|s| s.flushed_seq);
        let mem = Arc::new(RwLock::new(MemTable::default()));
        let series = SeriesRegistry::load(&catalog)?;
        let metric_filters = crate::metric_filters::MetricFilters::load(&catalog)?;
        let (next_seq, segments) = recover(&wal_dir, flushed_seq, &catalog, &mem, &series, &metrics)?;
        let wal = Wal::open(&wal_dir, segments, next_seq, config.wal_sync)?;
        metrics.data_files.set(catalog.read(|s| s.files.len() + s.span_files.len() + s.metric_files.len()) as i64);

        let (sender, receiver) = mpsc::channel(COMMAND_QUEUE);
        let (live, _) = tokio::sync::broadcast::channel(LIVE_BACKLOG);
        let state = WriterState {
            wal,
            next_seq,
            mem: mem.clone(),
            catalog: catalog.clone(),
            metrics: metrics.clone(),
            live: live.clone(),
        };
        let writer =
            std::thread::Builder::new().name("fluoro-wal".into()).spawn(move || writer::run(state, receiver))?;
        let session = new_session(objects.clone(), config.query_memory_bytes);
        Ok(Arc::new(Self {
            config,
            catalog,
            objects: objects.clone(),
            mem,
            commands: Mutex::new(Some(sender)),
            writer: Mutex::new(Some(writer)),
            flush_lock: tokio::sync::Mutex::new(()),
            doomed: Mutex::new(Vec::new()),
            indexes: crate::index::IndexCache::default(),
            blooms: Default::default(),
            service_map: Default::default(),
            series,
            metric_filters,
            session,
            metrics,
            live,
        }))
    }

    /// Every log event batch acknowledged from now on (any ingest path), for live tail. A
    /// receiver that falls more than a few thousand batches behind gets `Lagged`.
    pub fn subscribe_events(&self) -> tokio::sync::broadcast::Receiver<Arc<crate::writer::LiveEvents>> {
        self.live.subscribe()
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Where another process finds this store's data files: the bucket as an object store
    /// URL and the key prefix they sit under (`None` for a local data directory, which only this
    /// process reads).
    pub fn bucket(&self) -> Option<FileLocation> {
        match &self.config.objects {
            crate::config::Objects::S3(s3) => {
                Some(FileLocation { url: format!("s3://{}/", s3.bucket), prefix: s3.objects_prefix() })
            }
            crate::config::Objects::Local => None,
        }
    }

    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Appends a batch; resolves once it is durable and visible to queries. Returns the seq
    /// of its first event.
    pub async fn append(&self, batch: PreparedBatch) -> Result<u64, AppendError> {
        let bytes = batch.message_bytes();
        self.submit(bytes, |ack| Command::Append { batch, derived: None, ack }).await
    }

    /// Appends a batch of log events with the datapoints metric filters and EMF derived from
    /// them, in the same WAL commit: both become durable together, or neither is acknowledged.
    /// Datapoints that would add more series than `max_series` allows are dropped (and
    /// counted); the events are stored regardless.
    pub async fn append_with_metrics(&self, batch: PreparedBatch, derived: MetricBatch) -> Result<u64, AppendError> {
        if derived.samples.is_empty() {
            return self.append(batch).await;
        }
        let series = match self.series_within_limit(&derived) {
            Ok(series) => series,
            Err(error) => {
                self.metrics.metric_samples_dropped.inc_by(derived.samples.len() as u64);
                tracing::warn!(%error, "datapoints from log events dropped");
                return self.append(batch).await;
            }
        };
        let bytes = batch.message_bytes() + derived.bytes();
        let first_seq = self.submit(bytes, |ack| Command::Append { batch, derived: Some(derived), ack }).await?;
        self.series.observe(series);
        Ok(first_seq)
    }

    /// Appends trace documents, like `append`.
    pub async fn append_spans(&self, batch: SpanBatch) -> Result<u64, AppendError> {
        let bytes = batch.bytes();
        let rows: Vec<_> = batch.rows.iter().map(|r| (r.start_ns, r.end_ns)).collect();
        let first_seq = self.submit(bytes, |ack| Command::AppendSpans { batch, ack }).await?;
        self.service_map.touch(&rows, first_seq);
        Ok(first_seq)
    }

    /// Appends metric samples, like `append`; refused when they would add more series than
    /// `max_series` allows.
    pub async fn append_metrics(&self, batch: MetricBatch) -> Result<u64, AppendError> {
        let series = self.series_within_limit(&batch)?;
        let bytes = batch.bytes();
        let first_seq = self.submit(bytes, |ack| Command::AppendMetrics { batch, ack }).await?;
        self.series.observe(series);
        Ok(first_seq)
    }

    /// The series of a sample batch, unless they would take the registry past `max_series`.
    fn series_within_limit(&self, batch: &MetricBatch) -> Result<crate::metric_series::BatchSeries, AppendError> {
        let series = crate::metric_series::BatchSeries::of(&batch.samples);
        let new = self.series.unknown_series(&series);
        if new > 0 && self.series.len() + new > self.config.max_series {
            return Err(AppendError::TooManySeries { new, limit: self.config.max_series });
        }
        Ok(series)
    }

    /// A shared metastore: catches up with the other nodes' catalog changes and reloads the
    /// documents this store keeps in memory (metric filters, metric series) if they changed.
    /// Returns how many catalog rows changed.
    pub fn sync_shared(&self) -> Result<usize, StoreError> {
        let filters = self.catalog.doc_version(crate::metric_filters::MetricFilters::DOC_KIND);
        let series = self.catalog.doc_version(SeriesRegistry::DOC_KIND);
        let changed = self.catalog.refresh()?;
        if self.catalog.doc_version(crate::metric_filters::MetricFilters::DOC_KIND) != filters {
            self.metric_filters.reload(&self.catalog)?;
        }
        if self.catalog.doc_version(SeriesRegistry::DOC_KIND) != series {
            self.series.merge_stored(&self.catalog)?;
        }
        if changed > 0 {
            self.metrics
                .data_files
                .set(self.catalog.read(|s| s.files.len() + s.span_files.len() + s.metric_files.len()) as i64);
        }
        Ok(changed)
    }

    /// The metric filters of every log group.
    pub fn metric_filters(&self) -> &crate::metric_filters::MetricFilters {
        &self.metric_filters
    }

    /// Every metric series with a sample.
    pub fn metric_series(&self) -> &SeriesRegistry {
        &self.series
    }

    /// Metric samples that may lie in `[min_ms, max_ms]`: unflushed batches plus the files
    /// whose time range overlaps.
    pub fn metric_snapshot(&self, min_ms: i64, max_ms: i64) -> LogSnapshot {
        let mem = self.mem.read();
        let files = self.catalog.read(|state| {
            state
                .metric_files
                .iter()
                .filter(|file| file.min_timestamp <= max_ms && file.max_timestamp >= min_ms)
                .cloned()
                .collect()
        });
        LogSnapshot { batches: mem.metric_batches(), files, selections: Default::default(), bucket: self.bucket() }
    }

    pub(crate) fn service_map(&self) -> &crate::service_map::ServiceMap {
        &self.service_map
    }

    async fn submit(
        &self,
        bytes: usize,
        command: impl FnOnce(oneshot::Sender<Result<u64, String>>) -> Command,
    ) -> Result<u64, AppendError> {
        if !self.config.accept_writes {
            return Err(AppendError::NotACollector);
        }
        let buffered = self.mem.read().total_bytes();
        if buffered + bytes > self.config.max_buffer_bytes {
            self.metrics.requests_throttled.inc();
            return Err(AppendError::Throttled { buffered, limit: self.config.max_buffer_bytes });
        }
        let sender = self.commands.lock().clone().ok_or(AppendError::ShuttingDown)?;
        let (ack, done) = oneshot::channel();
        sender.try_send(command(ack)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                self.metrics.requests_throttled.inc();
                AppendError::Throttled { buffered, limit: self.config.max_buffer_bytes }
            }
            mpsc::error::TrySendError::Closed(_) => AppendError::ShuttingDown,
        })?;
        done.await.map_err(|_| AppendError::ShuttingDown)?.map_err(AppendError::Wal)
    }

    /// The events of `group_id` (all groups when `None`) that may lie in `[min_ts, max_ts]`:
    /// unflushed batches plus the files whose catalog statistics overlap.
    pub fn snapshot(&self, group_id: Option<u64>, min_ts: i64, max_ts: i64) -> LogSnapshot {
        let mem = self.mem.read();
        let files = self.catalog.read(|state| {
            state
                .files
                .iter()
                .filter(|file| match group_id {
                    None => file.min_timestamp <= max_ts && file.max_timestamp >= min_ts,
                    Some(id) => file.groups.iter().any(|(g, lo, hi, _)| *g == id && *lo <= max_ts && *hi >= min_ts),
                })
                .cloned()
                .collect()
        });
        // Memtable chunks mix groups; the group predicate of the query filters them.
        let batches = mem.batches();
        LogSnapshot { batches, files, selections: Default::default(), bucket: self.bucket() }
    }

    /// Trace documents that may lie in `[min_ms, max_ms]` (start to end, epoch ms): unflushed
    /// batches plus the trace files whose time range overlaps.
    pub fn span_snapshot(&self, min_ms: i64, max_ms: i64) -> LogSnapshot {
        let mem = self.mem.read();
        let files = self.catalog.read(|state| {
            state
                .span_files
                .iter()
                .filter(|file| file.min_timestamp <= max_ms && file.max_timestamp >= min_ms)
                .cloned()
                .collect()
        });
        LogSnapshot { batches: mem.span_batches(), files, selections: Default::default(), bucket: self.bucket() }
    }

    /// Drops the trace files whose Bloom filter rules out every one of `trace_ids`.
    pub async fn narrow_by_trace_ids(&self, snapshot: &mut LogSnapshot, trace_ids: &[[u8; 16]]) {
        self.narrow_by_bloom(snapshot, trace_ids, |f| f.index_path.as_deref()).await
    }

    /// The log events that may name `trace_id` within `[min_ts, max_ts]` (all groups): unflushed
    /// batches plus the files with trace ids whose Bloom filter may hold it. The caller
    /// filters on the `trace_id` column.
    pub async fn trace_log_snapshot(&self, trace_id: &[u8; 16], min_ts: i64, max_ts: i64) -> LogSnapshot {
        let mut snapshot = self.snapshot(None, min_ts, max_ts);
        self.narrow_to_trace(&mut snapshot, trace_id).await;
        snapshot
    }

    /// Drops the log files of `snapshot` that cannot hold an event naming `trace_id`.
    pub async fn narrow_to_trace(&self, snapshot: &mut LogSnapshot, trace_id: &[u8; 16]) {
        snapshot.files.retain(|f| f.trace_rows > 0);
        self.narrow_by_bloom(snapshot, &[*trace_id], |f| f.trace_bloom_path.as_deref()).await;
    }

    async fn narrow_by_bloom(
        &self,
        snapshot: &mut LogSnapshot,
        trace_ids: &[[u8; 16]],
        bloom_of: impl Fn(&FileMeta) -> Option<&str>,
    ) {
        let mut keep = Vec::with_capacity(snapshot.files.len());
        for file in std::mem::take(&mut snapshot.files) {
            match self.file_bloom(&file, bloom_of(&file)).await {
                Some(bloom) if !trace_ids.iter().any(|id| bloom.contains(id)) => {}
                _ => keep.push(file),
            }
        }
        snapshot.files = keep;
    }

    async fn file_bloom(&self, file: &FileMeta, path: Option<&str>) -> Option<Arc<crate::bloom::TraceBloom>> {
        if let Some(bloom) = self.blooms.read().get(&file.id) {
            return Some(bloom.clone());
        }
        let path = path?;
        let bytes = match self.objects.get(&ObjectPath::from(path)).await {
            Ok(got) => got.bytes().await.ok()?,
            Err(error) => {
                tracing::warn!(%error, path, "bloom filter unreadable; reading the file instead");
                return None;
            }
        };
        let Some(bloom) = crate::bloom::TraceBloom::from_bytes(&bytes) else {
            tracing::warn!(path, "bloom filter corrupt; reading the file instead");
            return None;
        };
        let bloom = Arc::new(bloom);
        let mut blooms = self.blooms.write();
        let live: std::collections::HashSet<u64> =
            self.catalog.read(|s| s.span_files.iter().chain(s.files.iter()).map(|f| f.id).collect());
        blooms.retain(|id, _| live.contains(id));
        blooms.insert(file.id, bloom.clone());
        Some(bloom)
    }

    /// Narrows `snapshot` to the rows that may contain every one of `literals`, using the
    /// files' term indexes: files without a candidate row are dropped, the others get a row
    /// selection. Files without an index, or where a literal is too common, are scanned whole.
    pub async fn narrow_by_index(&self, snapshot: &mut LogSnapshot, literals: &[&str]) {
        self.narrow_with(snapshot, literals, |f| f.index_path.as_deref()).await
    }

    /// The same for a snapshot of trace documents, through their files' document indexes.
    pub async fn narrow_spans_by_text(&self, snapshot: &mut LogSnapshot, literals: &[&str]) {
        self.narrow_with(snapshot, literals, |f| f.text_index_path.as_deref()).await
    }

    async fn narrow_with(
        &self,
        snapshot: &mut LogSnapshot,
        literals: &[&str],
        index_of: impl Fn(&FileMeta) -> Option<&str>,
    ) {
        /// Above this fraction of matching blocks a plain scan is cheaper.
        const MAX_FRACTION: f64 = 0.3;
        if literals.is_empty() {
            return;
        }
        let mut keep = Vec::with_capacity(snapshot.files.len());
        for file in std::mem::take(&mut snapshot.files) {
            let Some(index) = self.file_index(&file, index_of(&file)).await else {
                keep.push(file);
                continue;
            };
            match index.candidate_rows(literals, file.rows, MAX_FRACTION) {
                None => keep.push(file),
                Some(ranges) if ranges.is_empty() => {}
                Some(ranges) => {
                    snapshot.selections.insert(file.id, ranges);
                    keep.push(file);
                }
            }
        }
        snapshot.files = keep;
    }

    async fn file_index(&self, file: &FileMeta, path: Option<&str>) -> Option<Arc<crate::index::FileIndex>> {
        if let Some(index) = self.indexes.get(file.id) {
            return Some(index);
        }
        let path = path?;
        let bytes = match self.objects.get(&ObjectPath::from(path)).await {
            Ok(got) => got.bytes().await.ok()?,
            Err(error) => {
                tracing::warn!(%error, path, "term index unreadable; scanning instead");
                return None;
            }
        };
        // Tantivy can panic on damaged bytes the checksum does not cover (older sidecars): a
        // panic is damage too.
        let opened = tokio::task::spawn_blocking(move || crate::index::FileIndex::open(&bytes))
            .await
            .unwrap_or_else(|_| Err(crate::index::IndexError::Corrupt("the index reader panicked")));
        match opened {
            Ok(index) => {
                let index = Arc::new(index);
                self.indexes.insert(file.id, index.clone());
                Some(index)
            }
            Err(error) => {
                self.quarantine_index(file, path, &error.to_string()).await;
                None
            }
        }
    }

    /// The DataFusion session that reads this store's files (a cheap, shared handle).
    pub fn session_context(&self) -> SessionContext {
        self.session.clone()
    }

    /// Freezes the memtable and writes it as one Parquet file. Returns whether a file was written.
    pub async fn flush(&self) -> Result<bool, StoreError> {
        let _flushing = self.flush_lock.lock().await;
        let sender = self.commands.lock().clone().ok_or(StoreError::ShuttingDown)?;
        let (ack, frozen_end) = oneshot::channel();
        sender.send(Command::Freeze { ack }).await.map_err(|_| StoreError::ShuttingDown)?;
        let newly_frozen = frozen_end.await.map_err(|_| StoreError::ShuttingDown)?;
        // A failed earlier flush leaves its frozen set behind: it is written now, new data or not.
        let left_behind = self.mem.read().frozen.iter().map(|f| f.end_seq).max();
        let Some(end_seq) = newly_frozen.max(left_behind) else {
            return Ok(false);
        };
        // Every frozen set below end_seq is written (an earlier failed flush left its set too).
        let frozen: Vec<_> = self.mem.read().frozen.iter().filter(|f| f.end_seq <= end_seq).cloned().collect();
        let started = Instant::now();
        let batches: Vec<_> = frozen.iter().flat_map(|f| f.batches.iter().cloned()).collect();
        let span_batches: Vec<_> = frozen.iter().flat_map(|f| f.span_batches.iter().cloned()).collect();
        let metric_batches: Vec<_> = frozen.iter().flat_map(|f| f.metric_batches.iter().cloned()).collect();
        let unique = uuid::Uuid::new_v4().simple();
        let meta = if batches.is_empty() {
            None
        } else {
            let path = format!("logs/{end_seq:020}-{unique}.parquet");
            Some(crate::flush::write_file(self.objects.as_ref(), batches, self.config.row_group_rows, path).await?)
        };
        let span_meta = if span_batches.is_empty() {
            None
        } else {
            let path = format!("traces/{end_seq:020}-{unique}.parquet");
            let rows = self.config.row_group_rows;
            Some(crate::flush::write_span_file(self.objects.as_ref(), span_batches, rows, path).await?)
        };
        let metric_meta = if metric_batches.is_empty() {
            None
        } else {
            let path = format!("metrics/{end_seq:020}-{unique}.parquet");
            let rows = self.config.row_group_rows;
            Some(crate::flush::write_metric_file(self.objects.as_ref(), metric_batches, rows, path).await?)
        };
        // Series identities first: once the WAL is cut, the catalog is their only record.
        self.series.persist(&self.catalog)?;
        {
            // Readers take the memtable lock before the catalog's, so holding it here makes the
            // file's arrival and the frozen batches' departure one atomic step for them.
            let mut mem = self.mem.write();
            self.catalog.commit_flush(meta.clone(), span_meta.clone(), metric_meta.clone(), end_seq)?;
            for f in &frozen {
                mem.remove_frozen(f.end_seq);
            }
            self.metrics.buffer_bytes.set(mem.total_bytes() as i64);
        }
        let _ = sender.send(Command::Truncate(end_seq)).await;
        self.metrics.flush_seconds.observe(started.elapsed().as_secs_f64());
        for meta in meta.iter().chain(span_meta.iter()).chain(metric_meta.iter()) {
            self.metrics.flushed_bytes.inc_by(meta.size_bytes);
            tracing::info!(rows = meta.rows, bytes = meta.size_bytes, path = %meta.path, "memtable flushed");
        }
        self.update_file_gauge();
        Ok(true)
    }

    /// Whether the memtable is due for a flush (size or age).
    pub fn flush_due(&self) -> bool {
        let mem = self.mem.read();
        mem.active_bytes >= self.config.flush_bytes
            || mem.active_since.is_some_and(|t| t.elapsed() >= self.config.flush_interval)
            || !mem.frozen.is_empty()
    }

    /// Flushes everything and stops the WAL writer. Appends after this fail.
    pub async fn shutdown(&self) -> Result<(), StoreError> {
        let flushed = self.flush().await;
        self.catalog.compact();
        self.stop_writer().await;
        flushed.map(|_| ())
    }

    /// Stops the WAL writer without flushing, as a crash would leave the store: what is
    /// unflushed exists only in the WAL. For recovery tests.
    pub async fn stop_writer(&self) {
        self.commands.lock().take();
        let writer = self.writer.lock().take();
        if let Some(writer) = writer {
            let _ = tokio::task::spawn_blocking(move || writer.join()).await;
        }
    }

    /// Lists the top of the object store: an error when it cannot be reached (a bucket that
    /// does not exist, wrong credentials, a server that is down).
    pub async fn check_objects(&self) -> Result<(), StoreError> {
        self.objects.list_with_delimiter(None).await?;
        Ok(())
    }

    pub(crate) fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.objects
    }

    /// Schedules the deletion of objects no longer in the catalog.
    pub(crate) fn doom(&self, paths: impl IntoIterator<Item = String>) {
        let now = Instant::now();
        self.doomed.lock().extend(paths.into_iter().map(|p| (now, p)));
    }

    /// Deletes doomed objects older than `grace`.
    pub(crate) async fn delete_doomed(&self, grace: Duration) {
        let due: Vec<String> = {
            let mut doomed = self.doomed.lock();
            let (due, keep): (Vec<_>, Vec<_>) = doomed.drain(..).partition(|(t, _)| t.elapsed() >= grace);
            *doomed = keep;
            due.into_iter().map(|(_, p)| p).collect()
        };
        self.delete_objects(due).await;
    }

    /// Deletes objects; a failure is logged (the object stays, unnamed, until the next start's
    /// scrub deletes it).
    pub(crate) async fn delete_objects(&self, paths: Vec<String>) {
        for path in paths {
            if let Err(error) = self.objects.delete(&ObjectPath::from(path.as_str())).await {
                tracing::warn!(%error, path, "data file not deleted");
            }
        }
    }

    pub(crate) fn replace_files(&self, remove: &[Arc<FileMeta>], add: Option<FileMeta>) -> Result<(), StoreError> {
        let ids: Vec<u64> = remove.iter().map(|f| f.id).collect();
        self.catalog.replace_files(&ids, add, None)?;
        self.doom(remove.iter().flat_map(|f| f.objects().cloned()));
        self.update_file_gauge();
        Ok(())
    }

    /// Removes trace files (retention) and schedules their objects for deletion.
    pub(crate) fn remove_span_files(&self, remove: &[Arc<FileMeta>]) -> Result<(), StoreError> {
        self.replace_span_files(remove, None)
    }

    /// Swaps trace files (compaction, retention) in one catalog step.
    pub(crate) fn replace_metric_files(&self, remove: &[Arc<FileMeta>], add: Vec<FileMeta>) -> Result<(), StoreError> {
        let ids: Vec<u64> = remove.iter().map(|f| f.id).collect();
        self.catalog.replace_metric_files(&ids, add)?;
        self.doom(remove.iter().flat_map(|f| f.objects().cloned()));
        self.update_file_gauge();
        Ok(())
    }

    pub(crate) fn replace_span_files(&self, remove: &[Arc<FileMeta>], add: Option<FileMeta>) -> Result<(), StoreError> {
        let ids: Vec<u64> = remove.iter().map(|f| f.id).collect();
        self.catalog.replace_span_files(&ids, add)?;
        self.doom(remove.iter().flat_map(|f| f.objects().cloned()));
        self.update_file_gauge();
        Ok(())
    }

    pub(crate) fn indexes_forget(&self, file_id: u64) {
        self.indexes.remove(file_id);
    }

    pub(crate) fn update_file_gauge(&self) {
        self.metrics
            .data_files
            .set(self.catalog.read(|s| s.files.len() + s.span_files.len() + s.metric_files.len()) as i64);
    }
}

/// The bucket, with the store's files under `<prefix>/objects/` (the layout of a local data
/// directory, so stores with nested prefixes never list each other's files).
fn s3_store(s3: &crate::config::S3Objects) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let bucket = s3_bucket(s3)?;
    Ok(Arc::new(object_store::prefix::PrefixStore::new(bucket, s3.objects_prefix().as_str())))
}

/// The whole bucket of `s3` (its prefix ignored): what a distributed-query worker reads files
/// of every account's store from.
pub fn s3_bucket(s3: &crate::config::S3Objects) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let mut builder =
        object_store::aws::AmazonS3Builder::from_env().with_bucket_name(&s3.bucket).with_region(&s3.region);
    if let Some(endpoint) = &s3.endpoint {
        builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
    }
    if let (Some(id), Some(secret)) = (&s3.access_key_id, &s3.secret_access_key) {
        builder = builder.with_access_key_id(id).with_secret_access_key(secret);
    }
    Ok(Arc::new(builder.build()?))
}

fn new_session(objects: Arc<dyn ObjectStore>, memory_bytes: usize) -> SessionContext {
    let runtime = datafusion::execution::runtime_env::RuntimeEnvBuilder::new()
        .with_memory_limit(memory_bytes, 1.0)
        .build_arc()
        .expect("a runtime with a memory pool");
    let ctx = SessionContext::new_with_config_rt(datafusion::prelude::SessionConfig::new(), runtime);
    let url = ObjectStoreUrl::parse(OBJECT_STORE_URL).expect("valid url");
    ctx.register_object_store(url.as_ref(), objects);
    ctx
}

/// Replays WAL records after `flushed_seq` into the memtable; returns the next seq and the
/// segments still on disk.
fn recover(
    wal_dir: &Path,
    flushed_seq: u64,
    catalog: &Catalog,
    mem: &RwLock<MemTable>,
    series: &SeriesRegistry,
    metrics: &Metrics,
) -> Result<(u64, Vec<(u64, std::path::PathBuf)>), StoreError> {
    let replay = wal::replay(wal_dir, flushed_seq)?;
    metrics.wal_cut_bytes.inc_by(replay.cut_bytes);
    let mut mem = mem.write();
    let mut events = 0;
    for record in replay.records {
        let record = match record {
            wal::Record::Logs(record) => record,
            wal::Record::Metrics(record) => {
                let skip = flushed_seq.saturating_sub(record.first_seq).min(record.samples.len() as u64) as usize;
                let batch =
                    MetricBatch { ingestion_time: record.ingestion_time, samples: record.samples[skip..].to_vec() };
                if !batch.is_empty() {
                    events += batch.len();
                    series.observe(crate::metric_series::BatchSeries::of(&batch.samples));
                    mem.insert_metrics(&batch, record.first_seq + skip as u64);
                }
                continue;
            }
            wal::Record::Spans(record) => {
                let skip = flushed_seq.saturating_sub(record.first_seq).min(record.rows.len() as u64) as usize;
                let batch = SpanBatch { ingestion_time: record.ingestion_time, rows: record.rows[skip..].to_vec() };
                if !batch.is_empty() {
                    events += batch.len();
                    mem.insert_spans(&batch, record.first_seq + skip as u64);
                }
                continue;
            }
        };
        let keep: Vec<(usize, &(i64, String))> =
            record.events.iter().enumerate().filter(|(i, _)| record.first_seq + *i as u64 >= flushed_seq).collect();
        let Some(&(first_index, _)) = keep.first() else { continue };
        let batch = PreparedBatch::new(
            record.group_id,
            record.stream_id,
            record.ingestion_time,
            keep.iter().map(|(_, (t, _))| *t).collect(),
            keep.iter().map(|(_, (_, m))| Some(m.as_str())).collect(),
        );
        events += batch.len();
        let first_seq = record.first_seq + first_index as u64;
        catalog.record_events(batch.group_id, batch.stream_id, &writer::stats_of(&batch, first_seq));
        mem.insert(&batch, first_seq);
    }
    metrics.buffer_bytes.set(mem.total_bytes() as i64);
    if events > 0 {
        tracing::info!(events, next_seq = replay.next_seq, "wal replayed");
    }
    Ok((replay.next_seq.max(flushed_seq), replay.segments))
}
