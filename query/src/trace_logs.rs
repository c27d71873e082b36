//! The logs of one trace, across every log group (spec traces.md §8.5): the events whose
//! trace column holds the id, in the trace's time window (its documents' span ± 5 minutes;
//! everything when the trace is unknown). Files without trace ids, and those whose Bloom
//! filter rules the id out, are never opened; the memtable is filtered in memory.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, UInt64Type};
use datafusion::logical_expr::{col, lit};
use datafusion::scalar::ScalarValue;
use fluoro_proto::logs::{EventKey, columns};
use fluoro_proto::xray::TraceId;
use fluoro_store::{GroupMeta, LogStore, LogTable, StoreError};
use serde_json::{Value, json};

/// Margin around the trace's documents (spec traces.md §8.5).
pub const WINDOW_MARGIN_MS: i64 = 5 * 60_000;

/// What to read.
#[derive(Debug, Clone)]
pub struct TraceLogsRequest {
    pub trace_id: TraceId,
    /// Epoch ms bounds; default: the trace's window.
    pub start_ms: Option<i64>,
    pub end_ms: Option<i64>,
    pub limit: usize,
    pub now_ms: i64,
}

/// One stored log event as the native API shows it (trace logs, live tail).
#[derive(Debug, Clone, PartialEq)]
pub struct EventView {
    pub group: String,
    pub stream: String,
    pub timestamp: i64,
    pub ingestion_time: i64,
    pub key: EventKey,
    pub message: String,
    pub span_id: Option<u64>,
}

impl EventView {
    pub fn to_json(&self) -> Value {
        let mut out = json!({
            "logGroupName": self.group,
            "logStreamName": self.stream,
            "timestamp": self.timestamp,
            "ingestionTime": self.ingestion_time,
            "eventId": self.key.to_event_id(),
            "message": self.message,
        });
        if let Some(span) = self.span_id {
            out["spanId"] = Value::from(format!("{span:016x}"));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TraceLogs {
    pub events: Vec<EventView>,
    /// The window searched.
    pub start_ms: i64,
    pub end_ms: i64,
    /// Whether the trace's documents were found (and gave the window).
    pub trace_found: bool,
    /// Log groups the trace's segments name (`aws.cloudwatch_logs[].log_group`).
    pub segment_groups: Vec<String>,
    /// More events matched than `limit`.
    pub truncated: bool,
}

impl TraceLogs {
    pub fn to_json(&self, trace_id: &TraceId) -> Value {
        let events: Vec<Value> = self.events.iter().map(EventView::to_json).collect();
        json!({
            "traceId": trace_id.to_xray(),
            "otelTraceId": trace_id.to_hex(),
            "startTime": self.start_ms,
            "endTime": self.end_ms,
            "traceFound": self.trace_found,
            "segmentLogGroups": self.segment_groups,
            "truncated": self.truncated,
            "events": events,
        })
    }
}

/// The trace's window from its documents, and the log groups they name.
async fn trace_window(store: &LogStore, id: &TraceId) -> Result<Option<(i64, i64, Vec<String>)>, StoreError> {
    let documents = store.trace_documents(std::slice::from_ref(id)).await?;
    let Some(docs) = documents.get(id).filter(|d| !d.is_empty()) else { return Ok(None) };
    let start_ns = docs.iter().map(|d| d.start_ns).min().unwrap_or_default();
    let end_ns = docs.iter().map(|d| d.end_ns.unwrap_or(d.start_ns)).max().unwrap_or(start_ns);
    let mut groups = BTreeSet::new();
    for doc in docs {
        let Ok(value) = serde_json::from_str::<Value>(&doc.json) else { continue };
        let Some(entries) = value.pointer("/aws/cloudwatch_logs").and_then(Value::as_array) else { continue };
        for entry in entries {
            if let Some(name) = entry.get("log_group").and_then(Value::as_str) {
                groups.insert(name.to_owned());
            }
        }
    }
    Ok(Some((start_ns.div_euclid(1_000_000), end_ns.div_euclid(1_000_000), groups.into_iter().collect())))
}

/// Reads the events of `request.trace_id`, oldest first.
pub async fn logs_of_trace(store: &Arc<LogStore>, request: &TraceLogsRequest) -> Result<TraceLogs, StoreError> {
    let window = trace_window(store, &request.trace_id).await?;
    let (found_start, found_end) = match &window {
        Some((start, end, _)) => (start - WINDOW_MARGIN_MS, end + WINDOW_MARGIN_MS),
        None => (i64::MIN, i64::MAX),
    };
    let start_ms = request.start_ms.unwrap_or(found_start);
    let end_ms = request.end_ms.unwrap_or(found_end);
    let groups: HashMap<u64, Arc<GroupMeta>> =
        store.catalog().read(|s| s.groups.values().map(|g| (g.id, g.clone())).collect());
    let id = request.trace_id.0;
    let snapshot = store.trace_log_snapshot(&id, start_ms, end_ms).await;
    let visible = groups
        .values()
        .map(|g| {
            let from = g.retention_cutoff(request.now_ms).unwrap_or(i64::MIN).max(start_ms);
            col(columns::GROUP_ID).eq(lit(g.id)).and(col(columns::TIMESTAMP).gt_eq(lit(from)))
        })
        .reduce(datafusion::logical_expr::Expr::or)
        .unwrap_or(lit(false));
    let predicate = col(columns::TRACE_ID)
        .eq(lit(ScalarValue::FixedSizeBinary(16, Some(id.to_vec()))))
        .and(col(columns::TIMESTAMP).between(lit(start_ms), lit(end_ms)))
        .and(visible);
    let query_error = |e: datafusion::error::DataFusionError| StoreError::Query(e.to_string());
    let frame = store
        .session_context()
        .read_table(Arc::new(LogTable::new(snapshot)))
        .and_then(|df| df.filter(predicate))
        .and_then(|df| df.sort(vec![col(columns::TIMESTAMP).sort(true, false), col(columns::SEQ).sort(true, false)]))
        .and_then(|df| df.limit(0, Some(request.limit + 1)))
        .map_err(query_error)?;
    let batches: Vec<RecordBatch> = frame.collect().await.map_err(query_error)?;
    let mut events = Vec::new();
    let mut names: HashMap<(u64, u64), String> = HashMap::new();
    for batch in &batches {
        let column =
            |name: &str| batch.column_by_name(name).ok_or_else(|| StoreError::Query(format!("{name} missing")));
        let gids = column(columns::GROUP_ID)?.as_primitive::<UInt64Type>().clone();
        let sids = column(columns::STREAM_ID)?.as_primitive::<UInt64Type>().clone();
        let timestamps = column(columns::TIMESTAMP)?.as_primitive::<Int64Type>().clone();
        let ingestion = column(columns::INGESTION_TIME)?.as_primitive::<Int64Type>().clone();
        let seqs = column(columns::SEQ)?.as_primitive::<UInt64Type>().clone();
        let messages = column(columns::MESSAGE)?.as_string::<i32>().clone();
        let spans = column(columns::SPAN_ID)?.as_primitive::<UInt64Type>().clone();
        for row in 0..batch.num_rows() {
            let (gid, sid) = (gids.value(row), sids.value(row));
            let Some(group) = groups.get(&gid) else { continue };
            let stream = names
                .entry((gid, sid))
                .or_insert_with(|| store.catalog().stream_names(gid, [sid]).remove(&sid).unwrap_or_default())
                .clone();
            events.push(EventView {
                group: group.name.clone(),
                stream,
                timestamp: timestamps.value(row),
                ingestion_time: ingestion.value(row),
                key: EventKey { timestamp: timestamps.value(row), seq: seqs.value(row) },
                message: messages.value(row).to_owned(),
                span_id: spans.is_valid(row).then(|| spans.value(row)),
            });
        }
    }
    let truncated = events.len() > request.limit;
    events.truncate(request.limit);
    Ok(TraceLogs {
        events,
        start_ms,
        end_ms,
        trace_found: window.is_some(),
        segment_groups: window.map(|w| w.2).unwrap_or_default(),
        truncated,
    })
}
