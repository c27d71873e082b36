//! Reading trace documents out of the store and compiling them into traces: by trace id (Bloom
//! filters pick the files, the page index picks the pages) or by time window.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, FixedSizeBinaryArray, RecordBatch};
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::logical_expr::{col, lit};
use datafusion::scalar::ScalarValue;
use fluoro_proto::xray::schema::columns;
use fluoro_proto::xray::trace::StoredDocument;
use fluoro_proto::xray::{Trace, TraceId, XrayError};
use fluoro_store::{LogStore, LogTable};

/// How far around a summary window documents are read, so that traces crossing the window's
/// edges are compiled whole (traces longer than this are compiled from what lies inside).
pub const WINDOW_MARGIN_MS: i64 = 3_600_000;

fn internal(error: impl std::fmt::Display) -> XrayError {
    XrayError::internal(error)
}

/// Groups (trace id, seq, document) rows by trace.
fn group_rows(batches: &[RecordBatch]) -> Result<HashMap<TraceId, Vec<StoredDocument>>, XrayError> {
    let mut out: HashMap<TraceId, Vec<StoredDocument>> = HashMap::new();
    for batch in batches {
        let ids = batch.column_by_name(columns::TRACE_ID).ok_or_else(|| internal("trace_id missing"))?;
        let ids = ids.as_any().downcast_ref::<FixedSizeBinaryArray>().ok_or_else(|| internal("trace_id type"))?;
        let seqs =
            batch.column_by_name(columns::SEQ).ok_or_else(|| internal("seq missing"))?.as_primitive::<UInt64Type>();
        let docs =
            batch.column_by_name(columns::DOCUMENT).ok_or_else(|| internal("document missing"))?.as_string::<i32>();
        for row in 0..batch.num_rows() {
            let Ok(id) = <[u8; 16]>::try_from(ids.value(row)) else { continue };
            out.entry(TraceId(id))
                .or_default()
                .push(StoredDocument { seq: seqs.value(row), json: docs.value(row).to_owned() });
        }
    }
    Ok(out)
}

fn compile_all(groups: HashMap<TraceId, Vec<StoredDocument>>, account_id: &str) -> Vec<Trace> {
    groups.into_iter().filter_map(|(id, docs)| Trace::compile(id, docs, account_id)).collect()
}

/// The traces with these ids that exist (any age), compiled.
pub async fn by_ids(store: &Arc<LogStore>, ids: &[TraceId], account_id: &str) -> Result<Vec<Trace>, XrayError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let raw: Vec<[u8; 16]> = ids.iter().map(|id| id.0).collect();
    let mut snapshot = store.span_snapshot(i64::MIN, i64::MAX);
    store.narrow_by_trace_ids(&mut snapshot, &raw).await;
    let ctx = store.session_context();
    let frame = ctx.read_table(Arc::new(LogTable::spans(snapshot))).map_err(internal)?;
    let values: Vec<_> = raw.iter().map(|id| lit(ScalarValue::FixedSizeBinary(16, Some(id.to_vec())))).collect();
    let frame = frame
        .filter(col(columns::TRACE_ID).in_list(values, false))
        .and_then(|f| f.select_columns(&[columns::TRACE_ID, columns::SEQ, columns::DOCUMENT]))
        .map_err(internal)?;
    let batches = frame.collect().await.map_err(internal)?;
    Ok(compile_all(group_rows(&batches)?, account_id))
}

/// Every trace with a document starting in `[min_ms, max_ms]` (epoch ms), compiled from the
/// documents that start in that range.
pub async fn in_window(
    store: &Arc<LogStore>,
    min_ms: i64,
    max_ms: i64,
    account_id: &str,
) -> Result<Vec<Trace>, XrayError> {
    let snapshot = store.span_snapshot(min_ms, max_ms);
    let ctx = store.session_context();
    let frame = ctx.read_table(Arc::new(LogTable::spans(snapshot))).map_err(internal)?;
    let (lo, hi) = (min_ms.saturating_mul(1_000_000), max_ms.saturating_mul(1_000_000));
    let frame = frame
        .filter(col(columns::START_NS).between(lit(lo), lit(hi)))
        .and_then(|f| f.select_columns(&[columns::TRACE_ID, columns::SEQ, columns::DOCUMENT]))
        .map_err(internal)?;
    let batches = frame.collect().await.map_err(internal)?;
    Ok(compile_all(group_rows(&batches)?, account_id))
}
