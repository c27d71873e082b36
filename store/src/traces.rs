//! Reading trace documents back, grouped by trace: by trace id (Bloom filters choose the
//! files, the page index the pages) or by the start time of the documents.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, FixedSizeBinaryArray, RecordBatch};
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::logical_expr::{col, lit};
use datafusion::scalar::ScalarValue;
use fluoro_proto::xray::TraceId;
use fluoro_proto::xray::schema::columns;
use fluoro_proto::xray::trace::StoredDocument;

use crate::log_store::{LogStore, StoreError};
use crate::table::{LogSnapshot, LogTable};

/// Documents per trace.
pub type TraceDocuments = HashMap<TraceId, Vec<StoredDocument>>;

/// The (start, end) times in ns of each document, per trace: what selecting a page of traces
/// needs, without the documents.
pub type TraceTimes = HashMap<TraceId, Vec<(i64, Option<i64>)>>;

fn query_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Query(error.to_string())
}

impl LogStore {
    /// Every stored document of these traces, whatever their age.
    pub async fn trace_documents(&self, ids: &[TraceId]) -> Result<TraceDocuments, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let raw: Vec<[u8; 16]> = ids.iter().map(|id| id.0).collect();
        let mut snapshot = self.span_snapshot(i64::MIN, i64::MAX);
        self.narrow_by_trace_ids(&mut snapshot, &raw).await;
        let values: Vec<_> = raw.iter().map(|id| lit(ScalarValue::FixedSizeBinary(16, Some(id.to_vec())))).collect();
        self.read_documents(snapshot, col(columns::TRACE_ID).in_list(values, false)).await
    }

    /// Documents that start in `[min_ms, max_ms]` (epoch ms), grouped by trace.
    pub async fn trace_documents_in_window(&self, min_ms: i64, max_ms: i64) -> Result<TraceDocuments, StoreError> {
        let snapshot = self.span_snapshot(min_ms, max_ms);
        let (lo, hi) = (min_ms.saturating_mul(1_000_000), max_ms.saturating_mul(1_000_000));
        self.read_documents(snapshot, col(columns::START_NS).between(lit(lo), lit(hi))).await
    }

    /// The times of the documents that start in `[min_ms, max_ms]`, grouped by trace: three
    /// narrow columns instead of the document column, so choosing a page of many traces reads
    /// a fraction of the bytes.
    pub async fn trace_times_in_window(&self, min_ms: i64, max_ms: i64) -> Result<TraceTimes, StoreError> {
        let snapshot = self.span_snapshot(min_ms, max_ms);
        let (lo, hi) = (min_ms.saturating_mul(1_000_000), max_ms.saturating_mul(1_000_000));
        let batches = self
            .collect_checked(snapshot, LogTable::spans, |frame| {
                frame.filter(col(columns::START_NS).between(lit(lo), lit(hi)))?.select_columns(&[
                    columns::TRACE_ID,
                    columns::START_NS,
                    columns::END_NS,
                ])
            })
            .await
            .map_err(query_error)?;
        let mut out: TraceTimes = HashMap::new();
        for batch in batches {
            let missing = || query_error("trace time columns missing");
            let ids = batch.column(0).as_any().downcast_ref::<FixedSizeBinaryArray>().ok_or_else(missing)?;
            let starts = batch.column(1).as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            let ends = batch.column(2).as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            for row in 0..batch.num_rows() {
                let Ok(id) = <[u8; 16]>::try_from(ids.value(row)) else { continue };
                let end = (!ends.is_null(row)).then(|| ends.value(row));
                out.entry(TraceId(id)).or_default().push((starts.value(row), end));
            }
        }
        Ok(out)
    }

    /// The traces with a document starting in `[min_ms, max_ms]` that contain each of `texts`
    /// (each text in some document of the trace): a vectorized scan of the document column
    /// only, so a selective filter compiles few traces.
    pub async fn trace_ids_containing(
        &self,
        min_ms: i64,
        max_ms: i64,
        texts: &[String],
    ) -> Result<Vec<TraceId>, StoreError> {
        use datafusion::functions::string::expr_fn::contains;
        let (lo, hi) = (min_ms.saturating_mul(1_000_000), max_ms.saturating_mul(1_000_000));
        let mut result: Option<std::collections::HashSet<TraceId>> = None;
        for text in texts {
            let mut snapshot = self.span_snapshot(min_ms, max_ms);
            self.narrow_spans_by_text(&mut snapshot, &[text.as_str()]).await;
            let batches = self
                .collect_checked(snapshot, LogTable::spans, |frame| {
                    frame
                        .filter(col(columns::START_NS).between(lit(lo), lit(hi)))?
                        .filter(contains(col(columns::DOCUMENT), lit(text.as_str())))?
                        .select_columns(&[columns::TRACE_ID])
                })
                .await
                .map_err(query_error)?;
            let mut ids = std::collections::HashSet::new();
            for batch in batches {
                let column = batch.column(0).as_any().downcast_ref::<FixedSizeBinaryArray>();
                let column = column.ok_or_else(|| query_error("trace_id type"))?;
                for row in 0..batch.num_rows() {
                    if let Ok(id) = <[u8; 16]>::try_from(column.value(row)) {
                        ids.insert(TraceId(id));
                    }
                }
            }
            result = Some(match result {
                None => ids,
                Some(previous) => previous.intersection(&ids).copied().collect(),
            });
        }
        let ids: Vec<TraceId> = result.map(|ids| ids.into_iter().collect()).unwrap_or_default();
        tracing::debug!(traces = ids.len(), texts = texts.len(), "trace ids selected by text");
        Ok(ids)
    }

    /// (start ns, end ns, seq) of every trace document with a seq at or above `from_seq`.
    pub(crate) async fn span_times_from(&self, from_seq: u64) -> Result<Vec<(i64, Option<i64>, u64)>, StoreError> {
        use datafusion::arrow::datatypes::Int64Type;
        let mut snapshot = self.span_snapshot(i64::MIN, i64::MAX);
        snapshot.files.retain(|f| f.max_seq >= from_seq);
        let ctx = self.session_context();
        let frame = ctx.read_table(Arc::new(LogTable::spans(snapshot))).map_err(query_error)?;
        let frame = frame
            .filter(col(columns::SEQ).gt_eq(lit(from_seq)))
            .and_then(|f| f.select_columns(&[columns::START_NS, columns::END_NS, columns::SEQ]))
            .map_err(query_error)?;
        let mut out = Vec::new();
        for batch in frame.collect().await.map_err(query_error)? {
            let starts = batch.column(0).as_primitive::<Int64Type>();
            let ends = batch.column(1).as_primitive::<Int64Type>();
            let seqs = batch.column(2).as_primitive::<UInt64Type>();
            for row in 0..batch.num_rows() {
                let end = (!ends.is_null(row)).then(|| ends.value(row));
                out.push((starts.value(row), end, seqs.value(row)));
            }
        }
        Ok(out)
    }

    async fn read_documents(
        &self,
        snapshot: LogSnapshot,
        predicate: datafusion::logical_expr::Expr,
    ) -> Result<TraceDocuments, StoreError> {
        let batches = self
            .collect_checked(snapshot, LogTable::spans, |frame| {
                frame.filter(predicate.clone())?.select_columns(&[
                    columns::TRACE_ID,
                    columns::SEQ,
                    columns::DOCUMENT,
                    columns::START_NS,
                    columns::END_NS,
                ])
            })
            .await
            .map_err(query_error)?;
        group_rows(&batches)
    }
}

/// Groups (trace id, seq, document) rows by trace.
fn group_rows(batches: &[RecordBatch]) -> Result<TraceDocuments, StoreError> {
    let mut out: TraceDocuments = HashMap::new();
    for batch in batches {
        let missing = || query_error("trace document columns missing");
        let ids = batch.column_by_name(columns::TRACE_ID).ok_or_else(missing)?;
        let ids = ids.as_any().downcast_ref::<FixedSizeBinaryArray>().ok_or_else(missing)?;
        let seqs = batch.column_by_name(columns::SEQ).ok_or_else(missing)?.as_primitive::<UInt64Type>();
        let docs = batch.column_by_name(columns::DOCUMENT).ok_or_else(missing)?.as_string::<i32>();
        let starts = batch
            .column_by_name(columns::START_NS)
            .ok_or_else(missing)?
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let ends = batch
            .column_by_name(columns::END_NS)
            .ok_or_else(missing)?
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        for row in 0..batch.num_rows() {
            let Ok(id) = <[u8; 16]>::try_from(ids.value(row)) else { continue };
            out.entry(TraceId(id)).or_default().push(StoredDocument {
                seq: seqs.value(row),
                json: docs.value(row).to_owned(),
                start_ns: starts.value(row),
                end_ns: (!ends.is_null(row)).then(|| ends.value(row)),
            });
        }
    }
    Ok(out)
}
