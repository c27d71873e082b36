//! Acknowledged events not yet in Parquet: the active batches (being appended) and frozen
//! sets (being flushed). Queries read both; together with the catalog's files they are
//! exactly the acknowledged data.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{FixedSizeBinaryArray, Int64Array, RecordBatch, StringArray, UInt64Array};
use fluoro_proto::correlation::TraceLink;
use fluoro_proto::logs::LOG_SCHEMA;
use fluoro_proto::xray::schema::SPAN_SCHEMA;

use crate::wal::SpanRow;

/// A batch of events prepared by a frontend, before it has a seq.
#[derive(Debug, Clone)]
pub struct PreparedBatch {
    pub group_id: u64,
    pub stream_id: u64,
    pub ingestion_time: i64,
    /// Ascending event timestamps (PutLogEvents requires chronological order).
    pub timestamps: Vec<i64>,
    pub messages: StringArray,
    /// The trace each message names (`fluoro_proto::correlation::extract`), found by the
    /// frontend so the WAL writer thread does not.
    pub links: Vec<Option<TraceLink>>,
}

impl PreparedBatch {
    /// A batch whose trace links are read from its messages.
    pub fn new(
        group_id: u64,
        stream_id: u64,
        ingestion_time: i64,
        timestamps: Vec<i64>,
        messages: StringArray,
    ) -> Self {
        let links = links_of(&messages);
        Self { group_id, stream_id, ingestion_time, timestamps, messages, links }
    }

    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    pub fn message_bytes(&self) -> usize {
        self.messages.value_data().len()
    }
}

/// The trace each message names.
pub(crate) fn links_of(messages: &StringArray) -> Vec<Option<TraceLink>> {
    messages.iter().map(|m| m.and_then(fluoro_proto::correlation::extract)).collect()
}

/// The `trace_id` and `span_id` columns of rows with these trace links.
pub(crate) fn link_arrays(links: &[Option<TraceLink>]) -> (FixedSizeBinaryArray, UInt64Array) {
    use datafusion::arrow::buffer::{Buffer, NullBuffer};
    if links.iter().all(Option::is_none) {
        return (FixedSizeBinaryArray::new_null(16, links.len()), UInt64Array::new_null(links.len()));
    }
    let ids: Vec<u8> = links.iter().flat_map(|l| l.map_or([0; 16], |l| l.trace_id.0)).collect();
    let valid = NullBuffer::from_iter(links.iter().map(Option::is_some));
    let traces = FixedSizeBinaryArray::new(16, Buffer::from_vec(ids), Some(valid));
    let spans = UInt64Array::from_iter(links.iter().map(|l| l.and_then(|l| l.span_id)));
    (traces, spans)
}

/// Trace documents prepared by a frontend, before they have seqs.
#[derive(Debug, Clone)]
pub struct SpanBatch {
    pub ingestion_time: i64,
    pub rows: Vec<SpanRow>,
}

impl SpanBatch {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Document bytes (what the buffer limit and flush thresholds count).
    pub fn bytes(&self) -> usize {
        self.rows.iter().map(|r| r.document.len() + r.name.len()).sum()
    }
}

/// Metric samples prepared by a frontend, before they have seqs.
#[derive(Debug, Clone)]
pub struct MetricBatch {
    pub ingestion_time: i64,
    pub samples: Vec<fluoro_proto::metrics::KeyedSample>,
}

impl MetricBatch {
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// What the buffer limit counts: the in-memory row size.
    pub fn bytes(&self) -> usize {
        self.samples.len() * SAMPLE_ROW_BYTES
    }
}

/// Bytes of one sample row in memory and in the WAL (ids, timestamp, flags, four doubles).
pub const SAMPLE_ROW_BYTES: usize = 60;

/// Rows per sealed memtable chunk, and message bytes that seal a chunk early.
const CHUNK_ROWS: usize = 8192;
const CHUNK_BYTES: usize = 4 << 20;

/// Batches frozen for one flush: all events with seq below `end_seq` not yet in Parquet.
#[derive(Debug, Clone)]
pub(crate) struct Frozen {
    pub batches: Vec<RecordBatch>,
    pub span_batches: Vec<RecordBatch>,
    pub metric_batches: Vec<RecordBatch>,
    pub bytes: usize,
    pub end_seq: u64,
}

/// Rows being appended, column by column; sealed into a `RecordBatch` when full, so many small
/// requests cost one batch per few thousand rows, not one each.
#[derive(Debug, Default)]
struct OpenChunk {
    group_ids: Vec<u64>,
    stream_ids: Vec<u64>,
    timestamps: Vec<i64>,
    ingestion_times: Vec<i64>,
    seqs: Vec<u64>,
    offsets: Vec<i32>,
    values: Vec<u8>,
    links: Vec<Option<TraceLink>>,
}

impl OpenChunk {
    fn len(&self) -> usize {
        self.seqs.len()
    }

    fn push(&mut self, batch: &PreparedBatch, first_seq: u64) {
        let n = batch.len();
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.group_ids.extend(std::iter::repeat_n(batch.group_id, n));
        self.stream_ids.extend(std::iter::repeat_n(batch.stream_id, n));
        self.timestamps.extend_from_slice(&batch.timestamps);
        self.ingestion_times.extend(std::iter::repeat_n(batch.ingestion_time, n));
        self.seqs.extend(first_seq..first_seq + n as u64);
        for message in batch.messages.iter() {
            self.values.extend_from_slice(message.unwrap_or_default().as_bytes());
            self.offsets.push(self.values.len() as i32);
        }
        self.links.extend_from_slice(&batch.links);
    }

    /// The rows so far as a batch (copies; the chunk stays open).
    fn to_batch(&self) -> RecordBatch {
        use datafusion::arrow::buffer::{Buffer, OffsetBuffer};
        let offsets = if self.offsets.is_empty() { vec![0] } else { self.offsets.clone() };
        let messages = StringArray::new(OffsetBuffer::new(offsets.into()), Buffer::from(self.values.as_slice()), None);
        let (traces, spans) = link_arrays(&self.links);
        RecordBatch::try_new(
            LOG_SCHEMA.clone(),
            vec![
                Arc::new(UInt64Array::from(self.group_ids.clone())),
                Arc::new(UInt64Array::from(self.stream_ids.clone())),
                Arc::new(Int64Array::from(self.timestamps.clone())),
                Arc::new(Int64Array::from(self.ingestion_times.clone())),
                Arc::new(UInt64Array::from(self.seqs.clone())),
                Arc::new(messages),
                Arc::new(traces),
                Arc::new(spans),
            ],
        )
        .expect("columns match LOG_SCHEMA")
    }
}

/// Trace documents being appended (same scheme as `OpenChunk`).
#[derive(Debug, Default)]
struct OpenSpans {
    rows: Vec<SpanRow>,
    ingestion_times: Vec<i64>,
    seqs: Vec<u64>,
    bytes: usize,
}

impl OpenSpans {
    fn to_batch(&self) -> RecordBatch {
        let trace_ids = FixedSizeBinaryArray::try_from_iter(self.rows.iter().map(|r| r.trace_id))
            .unwrap_or_else(|_| FixedSizeBinaryArray::new_null(16, 0));
        RecordBatch::try_new(
            SPAN_SCHEMA.clone(),
            vec![
                Arc::new(trace_ids),
                Arc::new(UInt64Array::from_iter_values(self.rows.iter().map(|r| r.id))),
                Arc::new(UInt64Array::from_iter(self.rows.iter().map(|r| r.parent_id))),
                Arc::new(Int64Array::from_iter_values(self.rows.iter().map(|r| r.start_ns))),
                Arc::new(Int64Array::from_iter(self.rows.iter().map(|r| r.end_ns))),
                Arc::new(Int64Array::from(self.ingestion_times.clone())),
                Arc::new(UInt64Array::from(self.seqs.clone())),
                Arc::new(StringArray::from_iter_values(self.rows.iter().map(|r| r.name.as_str()))),
                Arc::new(StringArray::from_iter_values(self.rows.iter().map(|r| r.document.as_str()))),
            ],
        )
        .expect("columns match SPAN_SCHEMA")
    }
}

/// Metric samples being appended, column by column.
#[derive(Debug, Default)]
struct OpenSamples {
    series: Vec<u64>,
    timestamps: Vec<i64>,
    seqs: Vec<u64>,
    units: Vec<u8>,
    resolutions: Vec<u16>,
    counts: Vec<f64>,
    sums: Vec<f64>,
    mins: Vec<f64>,
    maxs: Vec<f64>,
    sets: Vec<bool>,
}

impl OpenSamples {
    fn len(&self) -> usize {
        self.seqs.len()
    }

    fn push(&mut self, batch: &MetricBatch, first_seq: u64) {
        for (i, keyed) in batch.samples.iter().enumerate() {
            let s = &keyed.sample;
            self.series.push(s.series);
            self.timestamps.push(s.timestamp_ms);
            self.seqs.push(first_seq + i as u64);
            self.units.push(s.unit);
            self.resolutions.push(s.resolution);
            self.counts.push(s.count);
            self.sums.push(s.sum);
            self.mins.push(s.min);
            self.maxs.push(s.max);
            self.sets.push(s.is_set);
        }
    }

    fn to_batch(&self) -> RecordBatch {
        use datafusion::arrow::array::{BinaryArray, BooleanArray, Float64Array, UInt8Array, UInt16Array};
        RecordBatch::try_new(
            fluoro_proto::metrics::schema::SAMPLE_SCHEMA.clone(),
            vec![
                Arc::new(UInt64Array::from(self.series.clone())),
                Arc::new(Int64Array::from(self.timestamps.clone())),
                Arc::new(UInt64Array::from(self.seqs.clone())),
                Arc::new(UInt8Array::from(self.units.clone())),
                Arc::new(UInt16Array::from(self.resolutions.clone())),
                Arc::new(Float64Array::from(self.counts.clone())),
                Arc::new(Float64Array::from(self.sums.clone())),
                Arc::new(Float64Array::from(self.mins.clone())),
                Arc::new(Float64Array::from(self.maxs.clone())),
                Arc::new(BooleanArray::from(self.sets.clone())),
                Arc::new(BinaryArray::new_null(self.sets.len())),
            ],
        )
        .expect("columns match SAMPLE_SCHEMA")
    }
}

#[derive(Debug, Default)]
pub(crate) struct MemTable {
    sealed: Vec<RecordBatch>,
    open: OpenChunk,
    spans_sealed: Vec<RecordBatch>,
    spans_open: OpenSpans,
    samples_sealed: Vec<RecordBatch>,
    samples_open: OpenSamples,
    pub active_bytes: usize,
    pub active_since: Option<Instant>,
    pub frozen: Vec<Frozen>,
}

impl MemTable {
    pub fn insert(&mut self, batch: &PreparedBatch, first_seq: u64) {
        self.open.push(batch, first_seq);
        self.active_bytes += batch.message_bytes();
        self.active_since.get_or_insert_with(Instant::now);
        if self.open.len() >= CHUNK_ROWS || self.open.values.len() >= CHUNK_BYTES {
            self.seal();
        }
    }

    pub fn insert_spans(&mut self, batch: &SpanBatch, first_seq: u64) {
        let bytes = batch.bytes();
        let open = &mut self.spans_open;
        open.rows.extend(batch.rows.iter().cloned());
        open.ingestion_times.extend(std::iter::repeat_n(batch.ingestion_time, batch.len()));
        open.seqs.extend(first_seq..first_seq + batch.len() as u64);
        open.bytes += bytes;
        self.active_bytes += bytes;
        self.active_since.get_or_insert_with(Instant::now);
        if open.rows.len() >= CHUNK_ROWS || open.bytes >= CHUNK_BYTES {
            self.seal();
        }
    }

    pub fn insert_metrics(&mut self, batch: &MetricBatch, first_seq: u64) {
        self.samples_open.push(batch, first_seq);
        self.active_bytes += batch.bytes();
        self.active_since.get_or_insert_with(Instant::now);
        if self.samples_open.len() >= 8 * CHUNK_ROWS {
            self.seal();
        }
    }

    fn seal(&mut self) {
        if self.samples_open.len() > 0 {
            self.samples_sealed.push(self.samples_open.to_batch());
            self.samples_open = OpenSamples::default();
        }
        if self.open.len() > 0 {
            self.sealed.push(self.open.to_batch());
            self.open = OpenChunk::default();
        }
        if !self.spans_open.rows.is_empty() {
            self.spans_sealed.push(self.spans_open.to_batch());
            self.spans_open = OpenSpans::default();
        }
    }

    /// Moves the active rows to a frozen set ending at `end_seq`.
    pub fn freeze(&mut self, end_seq: u64) -> Option<Frozen> {
        self.seal();
        if self.sealed.is_empty() && self.spans_sealed.is_empty() && self.samples_sealed.is_empty() {
            return None;
        }
        let frozen = Frozen {
            batches: std::mem::take(&mut self.sealed),
            span_batches: std::mem::take(&mut self.spans_sealed),
            metric_batches: std::mem::take(&mut self.samples_sealed),
            bytes: self.active_bytes,
            end_seq,
        };
        self.active_bytes = 0;
        self.active_since = None;
        self.frozen.push(frozen.clone());
        Some(frozen)
    }

    pub fn remove_frozen(&mut self, end_seq: u64) {
        self.frozen.retain(|f| f.end_seq != end_seq);
    }

    pub fn total_bytes(&self) -> usize {
        self.active_bytes + self.frozen.iter().map(|f| f.bytes).sum::<usize>()
    }

    /// Every unflushed row: frozen sets, sealed chunks, then a copy of the open chunk.
    pub fn batches(&self) -> Vec<RecordBatch> {
        let mut out: Vec<RecordBatch> =
            self.frozen.iter().flat_map(|f| f.batches.iter().cloned()).chain(self.sealed.iter().cloned()).collect();
        if self.open.len() > 0 {
            out.push(self.open.to_batch());
        }
        out
    }

    /// Every unflushed trace document, like `batches`.
    pub fn span_batches(&self) -> Vec<RecordBatch> {
        let mut out: Vec<RecordBatch> = self
            .frozen
            .iter()
            .flat_map(|f| f.span_batches.iter().cloned())
            .chain(self.spans_sealed.iter().cloned())
            .collect();
        if !self.spans_open.rows.is_empty() {
            out.push(self.spans_open.to_batch());
        }
        out
    }

    /// Every unflushed metric sample, like `batches`.
    pub fn metric_batches(&self) -> Vec<RecordBatch> {
        let mut out: Vec<RecordBatch> = self
            .frozen
            .iter()
            .flat_map(|f| f.metric_batches.iter().cloned())
            .chain(self.samples_sealed.iter().cloned())
            .collect();
        if self.samples_open.len() > 0 {
            out.push(self.samples_open.to_batch());
        }
        out
    }
}
