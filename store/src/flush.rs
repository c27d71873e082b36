//! Turning frozen memtable batches into one Parquet file: sorted by (group, stream,
//! timestamp, seq), zstd, page statistics and page index, delta-encoded integers.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{Int64Type, UInt64Type};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use fluoro_proto::logs::{LOG_SCHEMA, columns};

use crate::catalog::FileMeta;

/// The Bloom filter of the trace ids of sorted log events.
fn trace_bloom(sorted: &RecordBatch) -> crate::bloom::TraceBloom {
    let ids = sorted.column_by_name(columns::TRACE_ID).expect("column").as_fixed_size_binary();
    let mut distinct: Vec<&[u8]> = ids.iter().flatten().collect();
    distinct.sort_unstable();
    distinct.dedup();
    let mut bloom = crate::bloom::TraceBloom::with_capacity(distinct.len());
    for id in distinct {
        bloom.insert(id.try_into().expect("16 bytes"));
    }
    bloom
}

/// Runs CPU-bound work (Parquet encoding and decoding, rollups) on tokio's blocking pool, off
/// the workers serving requests; a panic in it comes back as an I/O error.
pub(crate) async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|e| std::io::Error::other(e.to_string()))
}

/// A batch of log events read from a file written before the trace columns existed, with
/// them added (read from the messages, as at ingest).
pub(crate) fn with_link_columns(batch: RecordBatch) -> Result<RecordBatch, ParquetError> {
    if batch.schema().column_with_name(columns::TRACE_ID).is_some() {
        return Ok(batch);
    }
    let messages = batch.column_by_name(columns::MESSAGE).expect("column").as_string::<i32>();
    let (traces, spans) = crate::memtable::link_arrays(&crate::memtable::links_of(messages));
    let mut columns = batch.columns().to_vec();
    columns.push(std::sync::Arc::new(traces));
    columns.push(std::sync::Arc::new(spans));
    Ok(RecordBatch::try_new(LOG_SCHEMA.clone(), columns)?)
}

/// Sorts `batches` into canonical file order.
pub(crate) fn sort_batches(batches: &[RecordBatch]) -> Result<RecordBatch, ParquetError> {
    let all = concat_batches(&LOG_SCHEMA, batches)?;
    let sort_columns: Vec<SortColumn> = [columns::GROUP_ID, columns::STREAM_ID, columns::TIMESTAMP, columns::SEQ]
        .iter()
        .map(|name| SortColumn { values: all.column_by_name(name).expect("schema column").clone(), options: None })
        .collect();
    let indices = lexsort_to_indices(&sort_columns, None)?;
    Ok(take_record_batch(&all, &indices)?)
}

/// Encodes one sorted batch as a Parquet file; returns the bytes and the catalog entry (its
/// `id` and `path` are filled in by the caller).
pub(crate) fn encode_parquet(sorted: &RecordBatch, row_group_rows: usize) -> Result<(Vec<u8>, FileMeta), ParquetError> {
    let delta = |name: &str| ColumnPath::from(name);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Pages of at most four index blocks (1024 rows, about 200 KiB of messages): a search
        // that the term index narrows to a few blocks decompresses a few small pages, not
        // 1 MiB ones, while full scans keep most of the large-page speed.
        .set_write_batch_size(crate::index::BLOCK_ROWS)
        .set_data_page_row_count_limit(4 * crate::index::BLOCK_ROWS)
        .set_data_page_size_limit(256 * 1024)
        .set_column_dictionary_enabled(delta(columns::MESSAGE), false)
        .set_column_dictionary_enabled(delta(columns::TIMESTAMP), false)
        .set_column_encoding(delta(columns::TIMESTAMP), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(delta(columns::SEQ), false)
        .set_column_encoding(delta(columns::SEQ), Encoding::DELTA_BINARY_PACKED)
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, LOG_SCHEMA.clone(), Some(props))?;
    writer.write(sorted)?;
    let parquet_meta = writer.close()?;
    let mut meta = describe(sorted, bytes.len() as u64);
    meta.row_groups = parquet_meta.row_groups().iter().map(|rg| rg.num_rows() as u64).collect();
    Ok((bytes, meta))
}

fn describe(sorted: &RecordBatch, size_bytes: u64) -> FileMeta {
    let groups = sorted.column_by_name(columns::GROUP_ID).expect("column").as_primitive::<UInt64Type>();
    let timestamps = sorted.column_by_name(columns::TIMESTAMP).expect("column").as_primitive::<Int64Type>();
    let seqs = sorted.column_by_name(columns::SEQ).expect("column").as_primitive::<UInt64Type>();
    let mut per_group: BTreeMap<u64, (i64, i64, u64)> = BTreeMap::new();
    for row in 0..sorted.num_rows() {
        let ts = timestamps.value(row);
        let entry = per_group.entry(groups.value(row)).or_insert((ts, ts, 0));
        entry.0 = entry.0.min(ts);
        entry.1 = entry.1.max(ts);
        entry.2 += 1;
    }
    FileMeta {
        id: 0,
        path: String::new(),
        size_bytes,
        rows: sorted.num_rows() as u64,
        min_timestamp: per_group.values().map(|g| g.0).min().unwrap_or_default(),
        max_timestamp: per_group.values().map(|g| g.1).max().unwrap_or_default(),
        max_seq: seqs.iter().flatten().max().unwrap_or_default(),
        groups: per_group.into_iter().map(|(id, (min, max, rows))| (id, min, max, rows)).collect(),
        message_bytes: message_bytes(sorted) as u64,
        row_groups: Vec::new(),
        index_path: None,
        text_index_path: None,
        trace_rows: (sorted.num_rows()
            - sorted.column_by_name(columns::TRACE_ID).map_or(sorted.num_rows(), |c| c.null_count()))
            as u64,
        trace_bloom_path: None,
    }
}

/// Number of message bytes in `batch` (its value buffer, ignoring slicing).
pub(crate) fn message_bytes(batch: &RecordBatch) -> usize {
    let messages = batch.column_by_name(columns::MESSAGE).expect("column").as_string::<i32>();
    let offsets = messages.value_offsets();
    (offsets[messages.len()] - offsets[0]) as usize
}

/// Sorts `batches`, encodes them as Parquet plus a term index, and writes both to the object
/// store under `path` and `path.idx`. Returns the catalog entry (its `id` is set on commit).
pub(crate) async fn write_file(
    objects: &dyn object_store::ObjectStore,
    batches: Vec<RecordBatch>,
    row_group_rows: usize,
    path: String,
) -> Result<FileMeta, crate::log_store::StoreError> {
    use object_store::{ObjectStoreExt, PutPayload, path::Path as ObjectPath};
    let (bytes, index, bloom, mut meta) = on_blocking_pool(move || {
        let sorted = sort_batches(&batches)?;
        let (bytes, meta) = encode_parquet(&sorted, row_group_rows)?;
        // An index that cannot be built only costs speed: the file is scanned instead.
        let index =
            crate::index::build(&sorted).inspect_err(|error| tracing::warn!(%error, "term index not built")).ok();
        let bloom = (meta.trace_rows > 0).then(|| trace_bloom(&sorted).to_bytes());
        Ok::<_, ParquetError>((bytes, index, bloom, meta))
    })
    .await??;
    if let Some(bloom) = bloom {
        let bloom_path = format!("{path}.bloom");
        objects.put(&ObjectPath::from(bloom_path.as_str()), PutPayload::from(bloom)).await?;
        meta.trace_bloom_path = Some(bloom_path);
    }
    if let Some(index) = index {
        let index_path = format!("{path}.idx");
        objects.put(&ObjectPath::from(index_path.as_str()), PutPayload::from(index)).await?;
        meta.index_path = Some(index_path);
    }
    objects.put(&ObjectPath::from(path.as_str()), PutPayload::from(bytes)).await?;
    meta.path = path;
    Ok(meta)
}

/// Sorts trace documents by (trace id, seq), so one trace's rows are adjacent and the page
/// index narrows a trace-by-id read to a page or two.
fn sort_span_batches(batches: &[RecordBatch]) -> Result<RecordBatch, ParquetError> {
    use fluoro_proto::xray::schema::{SPAN_SCHEMA, columns as span_columns};
    let all = concat_batches(&SPAN_SCHEMA, batches)?;
    let sort_columns: Vec<SortColumn> = [span_columns::TRACE_ID, span_columns::SEQ]
        .iter()
        .map(|name| SortColumn { values: all.column_by_name(name).expect("schema column").clone(), options: None })
        .collect();
    let indices = lexsort_to_indices(&sort_columns, None)?;
    Ok(take_record_batch(&all, &indices)?)
}

/// Encodes sorted trace documents as Parquet plus the Bloom filter of their trace ids.
pub(crate) fn encode_span_parquet(
    sorted: &RecordBatch,
    row_group_rows: usize,
) -> Result<(Vec<u8>, Vec<u8>, FileMeta), ParquetError> {
    use datafusion::arrow::array::FixedSizeBinaryArray;
    use fluoro_proto::xray::schema::{SPAN_SCHEMA, columns as span_columns};
    let column = |name: &str| ColumnPath::from(name);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_write_batch_size(256)
        .set_data_page_row_count_limit(1024)
        .set_column_dictionary_enabled(column(span_columns::DOCUMENT), false)
        .set_column_dictionary_enabled(column(span_columns::TRACE_ID), false)
        .set_column_dictionary_enabled(column(span_columns::SEQ), false)
        .set_column_encoding(column(span_columns::SEQ), Encoding::DELTA_BINARY_PACKED)
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, SPAN_SCHEMA.clone(), Some(props))?;
    writer.write(sorted)?;
    let parquet_meta = writer.close()?;

    let ids = sorted.column_by_name(span_columns::TRACE_ID).expect("column");
    let ids = ids.as_any().downcast_ref::<FixedSizeBinaryArray>().expect("fixed-size binary");
    let mut distinct = 0;
    for row in 0..ids.len() {
        if row == 0 || ids.value(row) != ids.value(row - 1) {
            distinct += 1;
        }
    }
    let mut bloom = crate::bloom::TraceBloom::with_capacity(distinct);
    for row in 0..ids.len() {
        bloom.insert(ids.value(row).try_into().expect("16 bytes"));
    }
    let starts = sorted.column_by_name(span_columns::START_NS).expect("column").as_primitive::<Int64Type>();
    let ends = sorted.column_by_name(span_columns::END_NS).expect("column").as_primitive::<Int64Type>();
    let seqs = sorted.column_by_name(span_columns::SEQ).expect("column").as_primitive::<UInt64Type>();
    let documents = sorted.column_by_name(span_columns::DOCUMENT).expect("column").as_string::<i32>();
    let offsets = documents.value_offsets();
    let min_ns = starts.iter().flatten().min().unwrap_or_default();
    let max_ns = starts.iter().chain(ends.iter()).flatten().max().unwrap_or_default();
    let meta = FileMeta {
        id: 0,
        path: String::new(),
        size_bytes: bytes.len() as u64,
        rows: sorted.num_rows() as u64,
        min_timestamp: min_ns.div_euclid(1_000_000),
        max_timestamp: max_ns.div_euclid(1_000_000),
        max_seq: seqs.iter().flatten().max().unwrap_or_default(),
        groups: Vec::new(),
        message_bytes: (offsets[documents.len()] - offsets[0]) as u64,
        row_groups: parquet_meta.row_groups().iter().map(|rg| rg.num_rows() as u64).collect(),
        index_path: None,
        text_index_path: None,
        trace_rows: 0,
        trace_bloom_path: None,
    };
    Ok((bytes, bloom.to_bytes(), meta))
}

/// Sorts and writes trace documents under `path`, with the Bloom filter at `path.bloom`.
pub(crate) async fn write_span_file(
    objects: &dyn object_store::ObjectStore,
    batches: Vec<RecordBatch>,
    row_group_rows: usize,
    path: String,
) -> Result<FileMeta, crate::log_store::StoreError> {
    use object_store::{ObjectStoreExt, PutPayload, path::Path as ObjectPath};
    let (bytes, bloom, text_index, mut meta) = on_blocking_pool(move || {
        let sorted = sort_span_batches(&batches)?;
        let (bytes, bloom, meta) = encode_span_parquet(&sorted, row_group_rows)?;
        // The documents' term index narrows attribute and annotation searches; without one
        // the file is scanned.
        let text_index = crate::index::build_column(&sorted, fluoro_proto::xray::schema::columns::DOCUMENT)
            .inspect_err(|error| tracing::warn!(%error, "trace term index not built"))
            .ok();
        Ok::<_, ParquetError>((bytes, bloom, text_index, meta))
    })
    .await??;
    let bloom_path = format!("{path}.bloom");
    objects.put(&ObjectPath::from(bloom_path.as_str()), PutPayload::from(bloom)).await?;
    if let Some(index) = text_index {
        let index_path = format!("{path}.idx");
        objects.put(&ObjectPath::from(index_path.as_str()), PutPayload::from(index)).await?;
        meta.text_index_path = Some(index_path);
    }
    objects.put(&ObjectPath::from(path.as_str()), PutPayload::from(bytes)).await?;
    meta.index_path = Some(bloom_path);
    meta.path = path;
    Ok(meta)
}

/// Sorts metric samples by (series, timestamp, seq), so one series' rows are adjacent and the
/// page index narrows a read of a few series to a few pages.
pub(crate) fn encode_metric_parquet(
    batches: &[RecordBatch],
    row_group_rows: usize,
) -> Result<(Vec<u8>, FileMeta), ParquetError> {
    use fluoro_proto::metrics::schema::SAMPLE_SCHEMA;
    let all = concat_batches(&SAMPLE_SCHEMA, batches)?;
    let sort_columns: Vec<SortColumn> = ["series_id", "timestamp", "seq"]
        .iter()
        .map(|name| SortColumn { values: all.column_by_name(name).expect("schema column").clone(), options: None })
        .collect();
    let indices = lexsort_to_indices(&sort_columns, None)?;
    let sorted = take_record_batch(&all, &indices)?;
    let column = |name: &str| ColumnPath::from(name);
    let props = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3)?))
        .set_max_row_group_row_count(Some(row_group_rows))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_write_batch_size(1024)
        .set_data_page_row_count_limit(8192)
        .set_column_dictionary_enabled(column("series_id"), false)
        .set_column_encoding(column("series_id"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(column("timestamp"), false)
        .set_column_encoding(column("timestamp"), Encoding::DELTA_BINARY_PACKED)
        .set_column_dictionary_enabled(column("seq"), false)
        .set_column_encoding(column("seq"), Encoding::DELTA_BINARY_PACKED)
        .build();
    let mut bytes = Vec::new();
    let mut writer = ArrowWriter::try_new(&mut bytes, SAMPLE_SCHEMA.clone(), Some(props))?;
    writer.write(&sorted)?;
    let parquet_meta = writer.close()?;
    let timestamps = sorted.column_by_name("timestamp").expect("column").as_primitive::<Int64Type>();
    let seqs = sorted.column_by_name("seq").expect("column").as_primitive::<UInt64Type>();
    let meta = FileMeta {
        id: 0,
        path: String::new(),
        size_bytes: bytes.len() as u64,
        rows: sorted.num_rows() as u64,
        min_timestamp: timestamps.iter().flatten().min().unwrap_or_default(),
        max_timestamp: timestamps.iter().flatten().max().unwrap_or_default(),
        max_seq: seqs.iter().flatten().max().unwrap_or_default(),
        groups: Vec::new(),
        message_bytes: 0,
        row_groups: parquet_meta.row_groups().iter().map(|rg| rg.num_rows() as u64).collect(),
        index_path: None,
        text_index_path: None,
        trace_rows: 0,
        trace_bloom_path: None,
    };
    Ok((bytes, meta))
}

/// Sorts and writes metric samples under `path`.
pub(crate) async fn write_metric_file(
    objects: &dyn object_store::ObjectStore,
    batches: Vec<RecordBatch>,
    row_group_rows: usize,
    path: String,
) -> Result<FileMeta, crate::log_store::StoreError> {
    use object_store::{ObjectStoreExt, PutPayload, path::Path as ObjectPath};
    let (bytes, mut meta) = on_blocking_pool(move || encode_metric_parquet(&batches, row_group_rows)).await??;
    objects.put(&ObjectPath::from(path.as_str()), PutPayload::from(bytes)).await?;
    meta.path = path;
    Ok(meta)
}
