//! Background upkeep: retention (drop what expired, deleted groups and streams) and compaction
//! (merge small files into fewer, larger ones). Both rewrite files and swap them in the catalog
//! in one transaction; queries already running keep reading the old objects, which are deleted
//! after a grace period.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::{Int64Type, UInt64Type};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use fluoro_proto::logs::columns;
use object_store::ObjectStoreExt;
use object_store::path::Path as ObjectPath;

use crate::catalog::FileMeta;
use crate::log_store::{LogStore, StoreError};

/// Most files merged in one compaction.
const MAX_MERGE: usize = 32;

/// What is alive right now: group ids with their retention cut-off, and stream ids.
struct Liveness {
    groups: HashMap<u64, Option<i64>>,
    streams: HashSet<u64>,
}

impl Liveness {
    fn of(store: &LogStore, now_ms: i64) -> Self {
        store.catalog().read(|state| Self {
            groups: state.groups.values().map(|g| (g.id, g.retention_cutoff(now_ms))).collect(),
            streams: state.streams.values().flat_map(|s| s.values().map(|s| s.id)).collect(),
        })
    }

    /// Whether a file section (group, max timestamp) is entirely dead.
    fn section_dead(&self, group: u64, max_ts: i64) -> bool {
        match self.groups.get(&group) {
            None => true,
            Some(cutoff) => cutoff.is_some_and(|c| max_ts < c),
        }
    }
}

/// One maintenance pass. Returns the number of files removed or rewritten.
pub async fn run_once(store: &LogStore, now_ms: i64) -> Result<usize, StoreError> {
    store.delete_doomed(store.config().file_delete_grace).await;
    let mut changed = maintain_traces(store, now_ms).await?;
    changed += maintain_metrics(store, now_ms).await?;
    let live = Liveness::of(store, now_ms);
    let files: Vec<Arc<FileMeta>> = store.catalog().read(|s| s.files.clone());

    // Files with nothing alive go at once, without reading them.
    let (dead, alive): (Vec<_>, Vec<_>) =
        files.into_iter().partition(|f| f.groups.iter().all(|(g, _, hi, _)| live.section_dead(*g, *hi)));
    changed += dead.len();
    if !dead.is_empty() {
        store.replace_files(&dead, None)?;
    }

    // Files with dead sections must be rewritten; small files should be merged. Small ones of
    // either kind go into one merged file, large ones with dead sections are rewritten alone.
    let config = store.config();
    let has_dead = |f: &FileMeta| f.groups.iter().any(|(g, _, hi, _)| live.section_dead(*g, *hi));
    let (mut small, large): (Vec<_>, Vec<_>) =
        alive.into_iter().partition(|f| f.size_bytes < config.compaction_target_bytes);
    for file in large.into_iter().filter(|f| has_dead(f)) {
        rewrite(store, &[file], &live, now_ms).await?;
        changed += 1;
    }
    if small.len() >= config.compaction_min_files || small.iter().any(|f| has_dead(f)) {
        small.sort_by_key(|f| f.max_seq);
        let mut chosen = Vec::new();
        let mut total = 0;
        for file in small.into_iter().take(MAX_MERGE) {
            if total + file.size_bytes > config.compaction_target_bytes * 2 && chosen.len() >= 2 {
                break;
            }
            total += file.size_bytes;
            chosen.push(file);
        }
        changed += chosen.len();
        rewrite(store, &chosen, &live, now_ms).await?;
    }
    Ok(changed)
}

/// Trace files: whole files past retention go; small files are merged (re-sorted by trace id,
/// which keeps trace-by-id reads to few files and pages).
async fn maintain_traces(store: &LogStore, now_ms: i64) -> Result<usize, StoreError> {
    let config = store.config();
    let cutoff = now_ms - config.trace_retention_days as i64 * 86_400_000;
    let files: Vec<Arc<FileMeta>> = store.catalog().read(|s| s.span_files.clone());
    let (expired, alive): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| f.max_timestamp < cutoff);
    let mut changed = expired.len();
    if !expired.is_empty() {
        store.remove_span_files(&expired)?;
    }
    let mut small: Vec<_> = alive.into_iter().filter(|f| f.size_bytes < config.compaction_target_bytes).collect();
    if small.len() < config.compaction_min_files {
        return Ok(changed);
    }
    let started = Instant::now();
    small.sort_by_key(|f| f.max_seq);
    small.truncate(MAX_MERGE);
    let batches = read_batches(store, &small).await?;
    let max_seq = small.iter().map(|f| f.max_seq).max().unwrap_or_default();
    let path = format!("traces/c{max_seq:020}-{}.parquet", uuid::Uuid::new_v4().simple());
    let merged = crate::flush::write_span_file(store.objects().as_ref(), batches, config.row_group_rows, path).await?;
    store.replace_span_files(&small, Some(merged))?;
    changed += small.len();
    store.metrics().compaction_seconds.observe(started.elapsed().as_secs_f64());
    tracing::info!(files = small.len(), "trace files merged");
    Ok(changed)
}

/// Which tier a metric file holds, by its path.
fn metric_tier(file: &FileMeta) -> u16 {
    if file.path.starts_with("metrics/5m/") {
        300
    } else if file.path.starts_with("metrics/1h/") {
        3600
    } else {
        0
    }
}

/// Reads `files` whole. Decoding runs on the blocking pool: a merge decodes up to
/// `MAX_MERGE` files, which must not hold up a runtime worker serving requests.
async fn read_batches(store: &LogStore, files: &[Arc<FileMeta>]) -> Result<Vec<RecordBatch>, StoreError> {
    let mut batches = Vec::new();
    for file in files {
        let bytes = store.objects().get(&ObjectPath::from(file.path.as_str())).await?.bytes().await?;
        let decoded = crate::flush::on_blocking_pool(move || -> Result<Vec<RecordBatch>, StoreError> {
            let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)?.build()?;
            let batches: Result<Vec<_>, _> = reader.collect();
            Ok(batches.map_err(datafusion::parquet::errors::ParquetError::from)?)
        })
        .await??;
        batches.extend(decoded);
    }
    Ok(batches)
}

/// Metric files: raw samples past the raw horizon become 5-minute and 1-hour rollup files (one
/// catalog swap), rollups past their horizons go, and small raw files are merged.
async fn maintain_metrics(store: &LogStore, now_ms: i64) -> Result<usize, StoreError> {
    let config = store.config();
    let raw_cutoff = now_ms - config.metrics_raw_horizon.as_millis() as i64;
    let five_cutoff = now_ms - config.metrics_five_minute_horizon.as_millis() as i64;
    let hour_cutoff = now_ms - config.metrics_hour_horizon.as_millis() as i64;
    let files: Vec<Arc<FileMeta>> = store.catalog().read(|s| s.metric_files.clone());
    let expired: Vec<Arc<FileMeta>> = files
        .iter()
        .filter(|f| match metric_tier(f) {
            300 => f.max_timestamp < five_cutoff,
            3600 => f.max_timestamp < hour_cutoff,
            _ => false,
        })
        .cloned()
        .collect();
    let mut changed = expired.len();
    if !expired.is_empty() {
        store.replace_metric_files(&expired, Vec::new())?;
    }
    let raw: Vec<Arc<FileMeta>> = files.into_iter().filter(|f| metric_tier(f) == 0).collect();
    let (mut old, young): (Vec<_>, Vec<_>) = raw.into_iter().partition(|f| f.max_timestamp < raw_cutoff);
    if !old.is_empty() {
        let started = Instant::now();
        old.truncate(MAX_MERGE);
        let batches = read_batches(store, &old).await?;
        let max_seq = old.iter().map(|f| f.max_seq).max().unwrap_or_default();
        let unique = uuid::Uuid::new_v4().simple();
        let rows = config.row_group_rows;
        let (five, hour) = crate::flush::on_blocking_pool(move || {
            (crate::metric_rollup::roll_up(&batches, 300), crate::metric_rollup::roll_up(&batches, 3600))
        })
        .await?;
        let mut added = Vec::new();
        for (tier, batch) in [("5m", five), ("1h", hour)] {
            if batch.num_rows() > 0 {
                let path = format!("metrics/{tier}/{max_seq:020}-{unique}.parquet");
                added.push(crate::flush::write_metric_file(store.objects().as_ref(), vec![batch], rows, path).await?);
            }
        }
        store.replace_metric_files(&old, added)?;
        changed += old.len();
        store.metrics().compaction_seconds.observe(started.elapsed().as_secs_f64());
        tracing::info!(files = old.len(), "metric samples rolled up");
    }
    let mut small: Vec<_> = young.into_iter().filter(|f| f.size_bytes < config.compaction_target_bytes).collect();
    if small.len() >= config.compaction_min_files {
        small.sort_by_key(|f| f.max_seq);
        small.truncate(MAX_MERGE);
        let batches = read_batches(store, &small).await?;
        let max_seq = small.iter().map(|f| f.max_seq).max().unwrap_or_default();
        let path = format!("metrics/c{max_seq:020}-{}.parquet", uuid::Uuid::new_v4().simple());
        let merged =
            crate::flush::write_metric_file(store.objects().as_ref(), batches, config.row_group_rows, path).await?;
        store.replace_metric_files(&small, vec![merged])?;
        changed += small.len();
    }
    Ok(changed)
}

/// Reads `files`, keeps live rows, writes them as one file and swaps it in.
async fn rewrite(store: &LogStore, files: &[Arc<FileMeta>], live: &Liveness, now_ms: i64) -> Result<(), StoreError> {
    let started = Instant::now();
    let batches = read_batches(store, files)
        .await?
        .iter()
        .map(|batch| Ok(crate::flush::with_link_columns(keep_live_rows(batch, live)?)?))
        .collect::<Result<Vec<_>, StoreError>>()?;
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let replacement = if rows == 0 {
        None
    } else {
        let max_seq = files.iter().map(|f| f.max_seq).max().unwrap_or_default();
        let path = format!("logs/c{max_seq:020}-{}.parquet", uuid::Uuid::new_v4().simple());
        let meta =
            crate::flush::write_file(store.objects().as_ref(), batches, store.config().row_group_rows, path).await?;
        Some(meta)
    };
    store.replace_files(files, replacement)?;
    store.metrics().compaction_seconds.observe(started.elapsed().as_secs_f64());
    tracing::info!(files = files.len(), rows, now_ms, "files rewritten");
    Ok(())
}

fn keep_live_rows(batch: &RecordBatch, live: &Liveness) -> Result<RecordBatch, StoreError> {
    let groups = batch.column_by_name(columns::GROUP_ID).expect("column").as_primitive::<UInt64Type>();
    let streams = batch.column_by_name(columns::STREAM_ID).expect("column").as_primitive::<UInt64Type>();
    let timestamps = batch.column_by_name(columns::TIMESTAMP).expect("column").as_primitive::<Int64Type>();
    let keep: BooleanArray = (0..batch.num_rows())
        .map(|row| {
            let alive = match live.groups.get(&groups.value(row)) {
                None => false,
                Some(cutoff) => cutoff.is_none_or(|c| timestamps.value(row) >= c),
            };
            Some(alive && live.streams.contains(&streams.value(row)))
        })
        .collect();
    Ok(filter_record_batch(batch, &keep).map_err(datafusion::parquet::errors::ParquetError::from)?)
}
