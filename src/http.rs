//! The HTTP port: AWS JSON 1.1 dispatch on `X-Amz-Target` (every error rendered here, in the
//! AWS shape), `GET /metrics`, and the placeholder listeners for frontends not served yet.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use fluoro_collector::cw_logs::LogsWriteApi;
use fluoro_proto::aws_json::{RequestContext, region_from_authorization};
use fluoro_proto::{AwsError, ErrorCode};
use fluoro_query::cw_logs::LogsReadApi;
use fluoro_store::Metrics;

const LOGS_TARGET_PREFIX: &str = "Logs_20140328.";
const AMZ_JSON: &str = "application/x-amz-json-1.1";

pub struct AppState {
    pub max_request_bytes: usize,
    pub logs_write: LogsWriteApi,
    pub logs_read: LogsReadApi,
    pub metrics: Metrics,
    pub account_id: String,
    pub region: String,
}

/// The HTTP port: `native` (the `/api/` routes) plus metrics, health and the AWS protocols.
pub fn router(state: Arc<AppState>, native: Router) -> Router {
    let max_request_bytes = state.max_request_bytes;
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok" }))
        .fallback(aws_json)
        // The AWS handler enforces its own cap so an oversized body still gets an AWS error.
        .layer(DefaultBodyLimit::disable())
        .with_state(state)
        .merge(native.layer(DefaultBodyLimit::max(max_request_bytes)))
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

async fn aws_json(State(state): State<Arc<AppState>>, method: Method, headers: HeaderMap, body: Body) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = axum::body::to_bytes(body, state.max_request_bytes).await;
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let operation = target.strip_prefix(LOGS_TARGET_PREFIX);
    let label = operation.unwrap_or("unknown");
    state.metrics.api_requests.with_label_values(&[label]).inc();
    let result = match (operation, body) {
        _ if method != Method::POST => Err(AwsError::new(ErrorCode::UnknownOperation, "Only POST is supported")),
        (None, _) => Err(AwsError::new(ErrorCode::UnknownOperation, format!("Unknown operation target: '{target}'"))),
        (Some(_), Err(_)) => Err(AwsError::invalid_parameter(format!(
            "Request body too large or unreadable: the limit is {} bytes",
            state.max_request_bytes
        ))),
        (Some(_), Ok(_)) if !content_type_ok(&headers) => Err(AwsError::new(
            ErrorCode::Serialization,
            "Unsupported content type: expected application/x-amz-json-1.1",
        )),
        (Some(operation), Ok(body)) => {
            let region = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(region_from_authorization)
                .unwrap_or(&state.region);
            let ctx = RequestContext { account_id: state.account_id.clone(), region: region.to_owned() };
            match state.logs_write.handle(&ctx, operation, &body).await {
                Some(result) => result,
                None => match state.logs_read.handle(&ctx, operation, &body).await {
                    Some(result) => result,
                    None => Err(AwsError::new(
                        ErrorCode::UnknownOperation,
                        format!("Operation {operation} is not supported by fluoro"),
                    )),
                },
            }
        }
    };
    let (status, error_type, body) = match result {
        Ok(value) => (StatusCode::OK, None, serde_json::to_vec(&value).expect("JSON values serialize")),
        Err(error) => {
            state.metrics.api_errors.with_label_values(&[label, error.code.as_str()]).inc();
            tracing::debug!(operation = label, code = error.code.as_str(), message = %error.message, "request refused");
            let status = StatusCode::from_u16(error.code.http_status()).expect("valid status");
            (status, Some(error.code.as_str()), error.to_body())
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(AMZ_JSON));
    headers.insert("x-amzn-requestid", HeaderValue::from_str(&request_id).expect("uuid is ASCII"));
    if let Some(error_type) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
    }
    response
}

/// AWS JSON 1.1, plain JSON or no content type at all.
fn content_type_ok(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) {
        None => true,
        Some(value) => {
            let essence = value.split(';').next().unwrap_or_default().trim();
            essence == AMZ_JSON || essence == "application/x-amz-json-1.0" || essence == "application/json"
        }
    }
}

/// An HTTP listener for a frontend a later release fills: every request gets a clear 501.
pub fn not_yet_served_http(what: &'static str) -> Router {
    Router::new().fallback(move || async move {
        (StatusCode::NOT_IMPLEMENTED, format!("{what} is not yet served by this fluoro build\n"))
    })
}

/// A gRPC listener for a service not served yet: every call ends with status UNIMPLEMENTED.
pub fn not_yet_served_grpc(what: &'static str) -> Router {
    Router::new().fallback(move || async move {
        let mut response = StatusCode::OK.into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/grpc"));
        headers.insert("grpc-status", HeaderValue::from_static("12"));
        headers.insert(
            "grpc-message",
            HeaderValue::from_str(&format!("{what} is not yet served by this fluoro build").replace(' ', "%20"))
                .expect("ASCII"),
        );
        response
    })
}
