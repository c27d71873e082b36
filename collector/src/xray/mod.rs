//! X-Ray ingest: `PutTraceSegments` and `PutTelemetryRecords` (rest-json), and the daemon's
//! UDP protocol (`udp`). Every accepted document becomes one `SpanRow` through
//! `LogStore::append_spans`: durable before the answer.

pub mod sampling;
pub mod udp;

use std::sync::Arc;

use fluoro_proto::logs::Clock;
use fluoro_proto::xray::{DocumentError, SegmentDoc, XrayError, parse_documents};
use fluoro_store::{AppendError, LogStore, SpanBatch, SpanRow};
use serde_json::{Value, json};

/// Most documents one PutTraceSegments call may carry.
pub const MAX_DOCUMENTS_PER_CALL: usize = 1000;
/// Documents may start at most this far in the future.
const MAX_FUTURE_MS: i64 = 3_600_000;

/// Ingest limits (`traces.*` settings).
#[derive(Debug, Clone)]
pub struct TraceLimits {
    pub max_document_bytes: usize,
    pub retention_days: u32,
    /// Documents and bytes one trace may hold (§2.10); beyond, documents are refused.
    pub max_trace_documents: u32,
    pub max_trace_bytes: u64,
}

impl Default for TraceLimits {
    fn default() -> Self {
        Self {
            max_document_bytes: fluoro_proto::xray::MAX_DOCUMENT_BYTES,
            retention_days: 30,
            max_trace_documents: 10_000,
            max_trace_bytes: 8 << 20,
        }
    }
}

/// Sizes of recently written traces, for the trace limits. Bounded: the oldest half is
/// forgotten when full (a trace that old is done growing in practice).
#[derive(Default)]
struct TraceSizes {
    sizes: std::collections::HashMap<[u8; 16], (u32, u64)>,
    order: std::collections::VecDeque<[u8; 16]>,
}

const TRACKED_TRACES: usize = 200_000;

impl TraceSizes {
    /// Accounts `docs` if the trace stays within the limits.
    fn admit(&mut self, trace: [u8; 16], bytes: u64, limits: &TraceLimits) -> bool {
        if !self.sizes.contains_key(&trace) {
            if self.order.len() >= TRACKED_TRACES {
                for old in self.order.drain(..TRACKED_TRACES / 2) {
                    self.sizes.remove(&old);
                }
            }
            self.order.push_back(trace);
        }
        let entry = self.sizes.entry(trace).or_default();
        if entry.0 >= limits.max_trace_documents || entry.1 + bytes > limits.max_trace_bytes {
            return false;
        }
        entry.0 += 1;
        entry.1 += bytes;
        true
    }
}

/// The write half of the X-Ray API.
pub struct TracesWriteApi {
    store: Arc<LogStore>,
    clock: Clock,
    limits: TraceLimits,
    sampling: sampling::SamplingApi,
    sizes: parking_lot::Mutex<TraceSizes>,
}

impl TracesWriteApi {
    pub fn new(store: Arc<LogStore>, clock: Clock, limits: TraceLimits, region: String, account_id: String) -> Self {
        let sampling = sampling::SamplingApi::new(store.catalog().clone(), clock.clone(), region, account_id);
        Self { store, clock, limits, sampling, sizes: Default::default() }
    }

    /// Runs the operation at `path` if it is one of this API's; `None` otherwise.
    pub async fn handle(&self, path: &str, body: &Value) -> Option<Result<Value, XrayError>> {
        Some(match path {
            "/TraceSegments" => self.put_trace_segments(body).await,
            "/TelemetryRecords" => self.put_telemetry_records(body),
            _ => return self.sampling.handle(path, body),
        })
    }

    /// Validates one document text: §2.11 plus the accept window of §2.10.
    pub fn validate(&self, text: &str) -> Result<Vec<SegmentDoc>, DocumentError> {
        let docs = parse_documents(text, self.limits.max_document_bytes)?;
        for doc in &docs {
            self.check_window(doc)?;
        }
        for doc in &docs {
            self.check_trace_size(doc)?;
        }
        Ok(docs)
    }

    /// The per-trace limits of §2.10: a document that would take its trace past them is refused.
    pub fn check_trace_size(&self, doc: &SegmentDoc) -> Result<(), DocumentError> {
        if self.sizes.lock().admit(doc.trace_id.0, doc.json.len() as u64, &self.limits) {
            return Ok(());
        }
        Err(DocumentError {
            code: "InvalidSegment",
            id: doc.id.to_string(),
            detail: "trace size limit exceeded".into(),
        })
    }

    /// Documents start within retention and at most an hour ahead.
    pub fn check_window(&self, doc: &SegmentDoc) -> Result<(), DocumentError> {
        let now = (self.clock)();
        let oldest = now - self.limits.retention_days as i64 * 86_400_000;
        let start_ms = doc.start_ns.div_euclid(1_000_000);
        if start_ms < oldest || start_ms > now + MAX_FUTURE_MS {
            return Err(DocumentError {
                code: "InvalidSegment",
                id: doc.id.to_string(),
                detail: "start_time is outside the accepted window (retention to one hour ahead)".into(),
            });
        }
        Ok(())
    }

    /// Appends validated documents; durable when this returns `Ok`.
    pub async fn append(&self, docs: Vec<SegmentDoc>) -> Result<(), AppendError> {
        if docs.is_empty() {
            return Ok(());
        }
        let rows = docs.into_iter().map(SpanRow::from).collect();
        self.store.append_spans(SpanBatch { ingestion_time: (self.clock)(), rows }).await.map(|_| ())
    }

    pub fn store(&self) -> &Arc<LogStore> {
        &self.store
    }

    async fn put_trace_segments(&self, body: &Value) -> Result<Value, XrayError> {
        let Some(list) = body.get("TraceSegmentDocuments") else {
            return Err(XrayError::invalid_request("TraceSegmentDocuments is required"));
        };
        let Some(list) = list.as_array() else {
            return Err(XrayError::invalid_request("TraceSegmentDocuments must be a list of strings"));
        };
        if list.is_empty() || list.len() > MAX_DOCUMENTS_PER_CALL {
            return Err(XrayError::invalid_request(format!(
                "TraceSegmentDocuments must hold 1 to {MAX_DOCUMENTS_PER_CALL} documents"
            )));
        }
        let mut accepted = Vec::new();
        let mut unprocessed = Vec::new();
        for item in list {
            let Some(text) = item.as_str() else {
                return Err(XrayError::invalid_request("TraceSegmentDocuments must be a list of strings"));
            };
            match self.validate(text) {
                Ok(docs) => accepted.extend(docs),
                Err(error) => {
                    self.store.metrics().spans_rejected.with_label_values(&["api", error.code]).inc();
                    unprocessed.push(json!({"Id": error.id, "ErrorCode": error.code, "Message": error.message()}));
                }
            }
        }
        self.append(accepted).await.map_err(append_error)?;
        Ok(json!({ "UnprocessedTraceSegments": unprocessed }))
    }

    /// Daemon telemetry: validated, counted, not stored.
    fn put_telemetry_records(&self, body: &Value) -> Result<Value, XrayError> {
        let records = body.get("TelemetryRecords").and_then(Value::as_array);
        let Some(records) = records else {
            return Err(XrayError::invalid_request("TelemetryRecords is required"));
        };
        for record in records {
            if record.get("Timestamp").is_none() {
                return Err(XrayError::invalid_request("TelemetryRecords[].Timestamp is required"));
            }
        }
        Ok(json!({}))
    }
}

pub fn append_error(error: AppendError) -> XrayError {
    match error {
        AppendError::Throttled { .. } => XrayError::throttled("Too much unflushed data; retry later"),
        other => XrayError::new("ServiceUnavailableException", 503, other.to_string()),
    }
}
