//! OTLP logs: `ExportLogsServiceRequest` over gRPC (`LogsService/Export`) and HTTP
//! (`POST /v1/logs`, protobuf or JSON), into log groups and streams
//! (`fluoro_proto::otlp_logs` documents the target rule and the stored document). Records go
//! through the same store path as PutLogEvents (metric filters, EMF, the trace column, live
//! tail); groups and streams are created on first use. Records outside the time window or
//! over the event size limit are rejected one by one (`partialSuccess`, with AWS's counts).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use fluoro_proto::logs::{EVENT_OVERHEAD_BYTES, MAX_BATCH_BYTES, MAX_BATCH_EVENTS};
use fluoro_proto::otlp_logs::{Target, convert};
use fluoro_store::{AppendError, CatalogError};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{LogsService, LogsServiceServer};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use serde_json::{Map, Value, json};

use super::{HttpFailure, MAX_GRPC_BYTES, MAX_HTTP_BYTES, decode_export, read_request, success};
use crate::cw_logs::LogsWriteApi;
use crate::cw_logs::put_log_events::classify;

/// Headers (HTTP) and metadata keys (gRPC) that name the target, as on CloudWatch's endpoint.
pub const GROUP_HEADER: &str = "x-aws-log-group";
pub const STREAM_HEADER: &str = "x-aws-log-stream";

/// Records rejected by one export, by reason.
#[derive(Debug, Default, PartialEq)]
pub struct Exported {
    pub too_old: usize,
    pub too_new: usize,
    pub expired: usize,
    pub too_large: usize,
    /// Records whose group or stream name is invalid, and the first reason.
    pub unroutable: usize,
    pub error: Option<String>,
}

impl Exported {
    pub fn rejected(&self) -> usize {
        self.too_old + self.too_new + self.expired + self.too_large + self.unroutable
    }

    /// `partialSuccess.errorMessage`: AWS's JSON counts, plus the reason of unroutable records.
    fn message(&self) -> String {
        let mut out = Map::new();
        for (key, count) in [
            ("tooOldLogEventCount", self.too_old),
            ("tooNewLogEventCount", self.too_new),
            ("expiredLogEventCount", self.expired),
            ("tooLargeLogEventCount", self.too_large),
            ("invalidTargetLogEventCount", self.unroutable),
        ] {
            if count > 0 {
                out.insert(key.into(), Value::from(count));
            }
        }
        if let Some(error) = &self.error {
            out.insert("error".into(), Value::from(error.clone()));
        }
        Value::Object(out).to_string()
    }
}

pub struct OtlpLogs {
    api: Arc<LogsWriteApi>,
}

impl OtlpLogs {
    pub fn new(api: Arc<LogsWriteApi>) -> Arc<Self> {
        Arc::new(Self { api })
    }

    /// Converts, routes, checks sizes and the time window, appends every stream's events.
    pub async fn export(
        &self,
        request: &ExportLogsServiceRequest,
        target: Target<'_>,
    ) -> Result<Exported, AppendError> {
        let converted = convert(request, target);
        let now = self.api.now();
        let mut exported = Exported { unroutable: converted.rejected, error: converted.error, ..Default::default() };
        // Per stream: its group, its events sorted by time, and the batches of accepted ones.
        let mut routed = Vec::new();
        for stream in converted.streams {
            let (group, stream_id) = match self.api.ensure_stream(&stream.group, &stream.stream) {
                Ok(found) => found,
                Err(CatalogError::Storage(detail)) => return Err(AppendError::Wal(detail)),
                Err(error) => {
                    // Deleted between creation and lookup: the client may retry.
                    exported.unroutable += stream.events.len();
                    exported.error.get_or_insert_with(|| error.to_string());
                    continue;
                }
            };
            let mut events: Vec<(i64, String)> = Vec::with_capacity(stream.events.len());
            for event in stream.events {
                if event.message.len() + EVENT_OVERHEAD_BYTES > MAX_BATCH_BYTES {
                    exported.too_large += 1;
                    continue;
                }
                events.push((event.timestamp_ms.unwrap_or(now), event.message));
            }
            events.sort_by_key(|e| e.0);
            let timestamps: Vec<i64> = events.iter().map(|e| e.0).collect();
            let classified = classify(&timestamps, now, group.retention_cutoff(now));
            let too_old = classified.too_old_end.unwrap_or(0);
            exported.too_old += too_old;
            exported.expired += classified.expired_end.map_or(0, |end| end - too_old);
            exported.too_new += classified.too_new_start.map_or(0, |start| events.len() - start);
            // Batches like PutLogEvents' (at most 10,000 events and 1 MiB), so one WAL frame
            // and one metric-filter pass stay bounded.
            let mut batches = Vec::new();
            let (mut start, mut bytes) = (classified.accepted.start, 0);
            for i in classified.accepted.clone() {
                let size = events[i].1.len() + EVENT_OVERHEAD_BYTES;
                if i > start && (i - start == MAX_BATCH_EVENTS || bytes + size > MAX_BATCH_BYTES) {
                    batches.push(start..i);
                    start = i;
                    bytes = 0;
                }
                bytes += size;
            }
            if start < classified.accepted.end {
                batches.push(start..classified.accepted.end);
            }
            routed.push((group, stream_id, events, batches));
        }
        let store = self.api.store();
        let window = exported.too_old + exported.too_new + exported.expired;
        let metrics = store.metrics();
        for (reason, count) in
            [("time_window", window), ("too_large", exported.too_large), ("invalid_target", exported.unroutable)]
        {
            if count > 0 {
                metrics.events_rejected.with_label_values(&[reason]).inc_by(count as u64);
            }
        }
        // Every batch is submitted before any is awaited, so they share WAL group commits.
        let pending = routed.iter().flat_map(|(group, stream_id, events, batches)| {
            batches.iter().map(move |range| {
                let events: Vec<(i64, &str)> = events[range.clone()].iter().map(|(t, m)| (*t, m.as_str())).collect();
                async move { self.api.store_events(group, *stream_id, &events, now).await }
            })
        });
        for result in futures::future::join_all(pending).await {
            result?;
        }
        Ok(exported)
    }

    fn response(exported: &Exported) -> (ExportLogsServiceResponse, Value) {
        let rejected = exported.rejected() as i64;
        if rejected == 0 {
            return (ExportLogsServiceResponse { partial_success: None }, json!({}));
        }
        let message = exported.message();
        let partial = ExportLogsPartialSuccess { rejected_log_records: rejected, error_message: message.clone() };
        let body = json!({"partialSuccess": {"rejectedLogRecords": rejected.to_string(), "errorMessage": message}});
        (ExportLogsServiceResponse { partial_success: Some(partial) }, body)
    }
}

/// `POST /v1/logs`.
pub async fn http_export(State(logs): State<Arc<OtlpLogs>>, headers: HeaderMap, body: Body) -> Response {
    let (encoding, bytes) = match read_request(&headers, body, MAX_HTTP_BYTES).await {
        Ok(ok) => ok,
        Err((encoding, failure)) => return failure.into_response(encoding),
    };
    let request = decode_export::<ExportLogsServiceRequest>(
        encoding,
        &bytes,
        &[&b"_logs\""[..], b"_records\"", b"_text\"", b"_number\"", b"_id\""],
    );
    let request = match request {
        Ok(request) => request,
        Err(message) => {
            logs.api.store().metrics().events_rejected.with_label_values(&["undecodable"]).inc();
            return HttpFailure::bad_request(format!("undecodable ExportLogsServiceRequest: {message}"))
                .into_response(encoding);
        }
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let target = Target { group: header(GROUP_HEADER), stream: header(STREAM_HEADER) };
    match logs.export(&request, target).await {
        Ok(exported) => {
            let (message, json) = OtlpLogs::response(&exported);
            success(encoding, &message, json)
        }
        Err(error) => HttpFailure::of_append(error).into_response(encoding),
    }
}

/// The OTLP/HTTP route of logs (also mounted on the main port, like CloudWatch's `/v1/logs`).
pub fn http_routes(logs: Arc<OtlpLogs>) -> Router {
    Router::new().route("/v1/logs", post(http_export)).layer(DefaultBodyLimit::disable()).with_state(logs)
}

struct Grpc(Arc<OtlpLogs>);

#[tonic::async_trait]
impl LogsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let metadata = request.metadata();
        let value = |name: &str| metadata.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
        let target = Target { group: value(GROUP_HEADER), stream: value(STREAM_HEADER) };
        match self.0.export(request.get_ref(), target).await {
            Ok(exported) => Ok(tonic::Response::new(OtlpLogs::response(&exported).0)),
            Err(error) => Err(super::grpc_status(error)),
        }
    }
}

/// The gRPC service (mounted with the others by `otlp::grpc_routes`).
pub fn grpc_service(logs: Arc<OtlpLogs>) -> LogsServiceServer<impl LogsService> {
    LogsServiceServer::new(Grpc(logs))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_GRPC_BYTES)
}
