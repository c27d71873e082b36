//! OTLP metrics: `ExportMetricsServiceRequest` over gRPC (`MetricsService/Export`) and HTTP
//! (`POST /v1/metrics`, protobuf or JSON), mapped to CloudWatch samples
//! (`fluoro_proto::metrics::otlp` documents the mapping) and stored like PutMetricData's.
//! Points that break the rules are rejected one by one (`partialSuccess`).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use fluoro_proto::logs::Clock;
use fluoro_proto::metrics::otlp::{CumulativeState, convert};
use fluoro_store::{AppendError, LogStore, MetricBatch};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use parking_lot::Mutex;
use serde_json::json;

use super::{HttpFailure, MAX_GRPC_BYTES, MAX_HTTP_BYTES, decode_export, read_request, success};

pub struct OtlpMetrics {
    store: Arc<LogStore>,
    clock: Clock,
    cumulative: Mutex<CumulativeState>,
}

/// Points rejected by one export, and the first reason.
#[derive(Debug, Default)]
pub struct Exported {
    pub rejected: i64,
    pub error: Option<String>,
}

impl OtlpMetrics {
    pub fn new(store: Arc<LogStore>, clock: Clock) -> Arc<Self> {
        Arc::new(Self { store, clock, cumulative: Mutex::new(CumulativeState::default()) })
    }

    pub async fn export(&self, request: &ExportMetricsServiceRequest) -> Result<Exported, AppendError> {
        let now = (self.clock)();
        let converted = convert(request, &mut self.cumulative.lock(), now);
        if converted.rejected > 0 {
            let metrics = self.store.metrics();
            metrics.otlp_points_rejected.inc_by(converted.rejected as u64);
        }
        if !converted.samples.is_empty() {
            self.store.append_metrics(MetricBatch { ingestion_time: now, samples: converted.samples }).await?;
        }
        Ok(Exported { rejected: converted.rejected, error: converted.error })
    }

    fn response(exported: &Exported) -> (ExportMetricsServiceResponse, serde_json::Value) {
        if exported.rejected == 0 {
            return (ExportMetricsServiceResponse { partial_success: None }, json!({}));
        }
        let message = exported.error.clone().unwrap_or_default();
        let partial =
            ExportMetricsPartialSuccess { rejected_data_points: exported.rejected, error_message: message.clone() };
        let body =
            json!({"partialSuccess": {"rejectedDataPoints": exported.rejected.to_string(), "errorMessage": message}});
        (ExportMetricsServiceResponse { partial_success: Some(partial) }, body)
    }
}

/// `POST /v1/metrics`.
pub async fn http_export(State(metrics): State<Arc<OtlpMetrics>>, headers: HeaderMap, body: Body) -> Response {
    let (encoding, bytes) = match read_request(&headers, body, MAX_HTTP_BYTES).await {
        Ok(ok) => ok,
        Err((encoding, failure)) => return failure.into_response(encoding),
    };
    let request = decode_export::<ExportMetricsServiceRequest>(encoding, &bytes, &[&b"_metrics\""[..]]);
    let request = match request {
        Ok(request) => request,
        Err(message) => {
            return HttpFailure::bad_request(format!("undecodable ExportMetricsServiceRequest: {message}"))
                .into_response(encoding);
        }
    };
    match metrics.export(&request).await {
        Ok(exported) => {
            let (message, json) = OtlpMetrics::response(&exported);
            success(encoding, &message, json)
        }
        Err(error) => HttpFailure::of_append(error).into_response(encoding),
    }
}

pub fn http_routes(metrics: Arc<OtlpMetrics>) -> Router {
    Router::new().route("/v1/metrics", post(http_export)).layer(DefaultBodyLimit::disable()).with_state(metrics)
}

struct Grpc(Arc<OtlpMetrics>);

#[tonic::async_trait]
impl MetricsService for Grpc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        match self.0.export(request.get_ref()).await {
            Ok(exported) => Ok(tonic::Response::new(OtlpMetrics::response(&exported).0)),
            Err(error) => Err(super::grpc_status(error)),
        }
    }
}

/// The gRPC service (mounted with the others by `otlp::grpc_routes`).
pub fn grpc_service(metrics: Arc<OtlpMetrics>) -> MetricsServiceServer<impl MetricsService> {
    MetricsServiceServer::new(Grpc(metrics))
        .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
        .send_compressed(tonic::codec::CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_GRPC_BYTES)
}
