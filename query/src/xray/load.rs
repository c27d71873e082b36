//! Compiled traces out of the store: by trace id or by time window.

use std::sync::Arc;

use fluoro_proto::xray::{Trace, TraceId, XrayError};
use fluoro_store::{LogStore, TraceDocuments};

/// How far around a summary window documents are read, so that traces crossing the window's
/// edges are compiled whole (traces longer than this are compiled from what lies inside).
pub const WINDOW_MARGIN_MS: i64 = 3_600_000;

fn compile_all(groups: TraceDocuments, account_id: &str) -> Vec<Trace> {
    groups.into_iter().filter_map(|(id, docs)| Trace::compile(id, docs, account_id)).collect()
}

/// The traces with these ids that exist (any age), compiled.
pub async fn by_ids(store: &Arc<LogStore>, ids: &[TraceId], account_id: &str) -> Result<Vec<Trace>, XrayError> {
    let docs = store.trace_documents(ids).await.map_err(XrayError::internal)?;
    Ok(compile_all(docs, account_id))
}

/// Every trace with a document starting in `[min_ms, max_ms]` (epoch ms), compiled from the
/// documents that start in that range.
pub async fn in_window(
    store: &Arc<LogStore>,
    min_ms: i64,
    max_ms: i64,
    account_id: &str,
) -> Result<Vec<Trace>, XrayError> {
    let docs = store.trace_documents_in_window(min_ms, max_ms).await.map_err(XrayError::internal)?;
    Ok(compile_all(docs, account_id))
}
