//! OTLP traces: `ExportTraceServiceRequest` over gRPC (`TraceService/Export`) and HTTP
//! (`POST /v1/traces`, protobuf or JSON), mapped to X-Ray documents (spec traces.md §8.3) and
//! stored like any segment. Spans that break the rules are rejected one by one
//! (`partialSuccess`); the rest are durable before the answer.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use fluoro_store::AppendError;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use serde_json::json;

use super::{HttpFailure, MAX_GRPC_BYTES, MAX_HTTP_BYTES, read_request, success};
use crate::xray::TracesWriteApi;

/// The outcome of one export: spans rejected and why.
#[derive(Debug, Default, PartialEq)]
pub struct Exported {
    pub rejected: i64,
    pub error: Option<String>,
}

pub struct OtlpTraces {
    api: Arc<TracesWriteApi>,
}

impl OtlpTraces {
    pub fn new(api: Arc<TracesWriteApi>) -> Arc<Self> {
        Arc::new(Self { api })
    }

    /// Converts, checks the time window, appends.
    pub async fn export(&self, request: &ExportTraceServiceRequest) -> Result<Exported, AppendError> {
        let converted = fluoro_proto::xray::otlp::convert(request);
        let mut rejected = converted.rejected as i64;
        let mut error = converted.error;
        let mut accepted = Vec::with_capacity(converted.documents.len());
        for doc in converted.documents {
            match self.api.check_window(&doc).and_then(|()| self.api.check_trace_size(&doc)) {
                Ok(()) => accepted.push(doc),
                Err(e) => {
                    rejected += 1;
                    error.get_or_insert(e.detail);
                }
            }
        }
        if rejected > 0 {
            let metrics = self.api.store().metrics();
            metrics.spans_rejected.with_label_values(&["otlp", "invalid_span"]).inc_by(rejected as u64);
        }
        self.api.append(accepted).await?;
        Ok(Exported { rejected, error })
    }

    fn response(exported: &Exported) -> (ExportTraceServiceResponse, serde_json::Value) {
        if exported.rejected == 0 {
            return (ExportTraceServiceResponse { partial_success: None }, json!({}));
        }
        let message = exported.error.clone().unwrap_or_default();
        let partial = ExportTracePartialSuccess { rejected_spans: exported.rejected, error_message: message.clone() };
        let body = json!({"partialSuccess": {"rejectedSpans": exported.rejected.to_string(), "errorMessage": message}});
        (ExportTraceServiceResponse { partial_success: Some(partial) }, body)
    }
}

/// `POST /v1/traces`.
pub async fn http_export(State(traces): State<Arc<OtlpTraces>>, headers: HeaderMap, body: Body) -> Response {
    let (encoding, bytes) = match read_request(&headers, body, MAX_HTTP_BYTES).await {
        Ok(ok) => ok,
        Err((encoding, failure)) => return failure.into_response(encoding),
    };
    let request = super::decode_export::<ExportTraceServiceRequest>(encoding, &bytes, &[&b"_spans\""[..], b"_id\""]);
    let request = match request {
        Ok(request) => request,
        Err(message) => {
            traces.api.store().metrics().spans_rejected.with_label_values(&["otlp", "undecodable"]).inc();
            return HttpFailure::bad_request(format!("undecodable ExportTraceServiceRequest: {message}"))
                .into_response(encoding);
        }
    };
    match traces.export(&request).await {
        Ok(exported) => {
            let (message, json) = OtlpTraces::response(&exported);
            success(encoding, &message, json)
        }
        Err(error) => HttpFailure::of_append(error).into_response(encoding),
    }
}

/// The OTLP/HTTP routes of traces (also mounted on the main port, like AWS's X-Ray endpoint).
pub fn http_routes(traces: Arc<OtlpTraces>) -> Router {
    Router::new().route("/v1/traces", post(http_export)).layer(DefaultBodyLimit::disable()).with_state(traces)
}

struct Grpc(Arc<OtlpTraces>);

#[tonic::async_trait]
impl TraceService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        match self.0.export(request.get_ref()).await {
            Ok(exported) => Ok(tonic::Response::new(OtlpTraces::response(&exported).0)),
            Err(error) => Err(super::grpc_status(error)),
        }
    }
}

/// The gRPC service (mounted with the others by `otlp::grpc_routes`).
pub fn grpc_service(traces: Arc<OtlpTraces>) -> TraceServiceServer<impl TraceService> {
    TraceServiceServer::new(Grpc(traces))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_GRPC_BYTES)
}
