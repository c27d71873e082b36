//! The listeners' routers: the front door that sends each request to its caller's account
//! (`Front`), and the AWS protocols' dispatch (CloudWatch Logs on `X-Amz-Target`, X-Ray on its
//! paths, CloudWatch in `crate::cloudwatch`), with every error rendered here in the AWS shape.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use fluoro_collector::cw_logs::LogsWriteApi;
use fluoro_collector::xray::TracesWriteApi;
use fluoro_proto::aws_json::{RequestContext, region_from_authorization};
use fluoro_proto::cloudwatch::{self, Protocol};
use fluoro_proto::xray::XrayError;
use fluoro_proto::{AwsError, ErrorCode};
use fluoro_query::cw_logs::LogsReadApi;
use fluoro_query::xray::TracesReadApi;
use fluoro_store::Metrics;

const LOGS_TARGET_PREFIX: &str = "Logs_20140328.";
const AMZ_JSON: &str = "application/x-amz-json-1.1";

pub struct AppState {
    pub max_request_bytes: usize,
    pub logs_write: Arc<LogsWriteApi>,
    pub logs_read: Arc<LogsReadApi>,
    pub traces_write: Arc<TracesWriteApi>,
    pub traces_read: Arc<TracesReadApi>,
    pub metrics_write: fluoro_collector::cw_metrics::MetricsWriteApi,
    pub metrics_read: fluoro_query::cw_metrics::MetricsReadApi,
    pub alarms: Arc<fluoro_query::alarms::Alarms>,
    pub clock: fluoro_proto::logs::Clock,
    pub metrics: Metrics,
    pub account_id: String,
    pub region: String,
}

/// What every listener stands on: the gate that names each caller's account, and the accounts.
pub struct Front {
    pub gate: Arc<crate::auth::Gate>,
    pub tenants: Arc<crate::tenants::Tenants>,
    pub metrics: Metrics,
}

/// Runs `request` through one tenant's routes, as if it had come to them first (the front
/// router's matched path and parameters would otherwise add to the tenant router's own).
async fn forward(router: &Router, request: Request) -> Response {
    use tower::ServiceExt;
    let (mut parts, body) = request.into_parts();
    parts.extensions = Default::default();
    match router.clone().oneshot(Request::from_parts(parts, body)).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// The HTTP port: metrics, health and sign-in for everyone; the native API (a session or key
/// names the account), OTLP/HTTP (a key names it) and the AWS protocols (the SigV4 signer's
/// key names it) for the caller's account; the UI's files for everyone.
pub fn router(front: Arc<Front>) -> Router {
    async fn native(State(front): State<Arc<Front>>, request: Request) -> Response {
        match front.gate.account_of(request.headers(), true) {
            Ok(account) => forward(&front.tenants.get(&account).native, request).await,
            Err(denied) => crate::auth::native_error(StatusCode::UNAUTHORIZED, "Unauthorized", denied.message()),
        }
    }
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health", get(|| async { "ok" }))
        .route("/api/{*rest}", any(native))
        .route("/v1/traces", any(otlp_http))
        .route("/v1/metrics", any(otlp_http))
        .route("/v1/logs", any(otlp_http))
        .fallback(aws_json)
        // The AWS handler enforces its own cap so an oversized body still gets an AWS error.
        .layer(DefaultBodyLimit::disable())
        .with_state(front.clone())
        .merge(crate::auth::session_routes(front.gate.clone()))
}

async fn metrics(State(front): State<Arc<Front>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], front.metrics.render())
}

/// OTLP/HTTP: the account a bearer or basic credential names (OTLP's `headers` setting).
async fn otlp_http(State(front): State<Arc<Front>>, request: Request) -> Response {
    match front.gate.account_of(request.headers(), false) {
        Ok(account) => forward(&front.tenants.get(&account).otlp_http, request).await,
        Err(denied) => {
            let encoding = fluoro_collector::otlp::Encoding::of(request.headers());
            fluoro_collector::otlp::HttpFailure::new(StatusCode::UNAUTHORIZED, 16, denied.message())
                .into_response(encoding)
        }
    }
}

/// The OTLP/HTTP port.
pub fn otlp_http_router(front: Arc<Front>) -> Router {
    Router::new().fallback(otlp_http).with_state(front)
}

/// The OTLP/gRPC port: the account the `authorization` metadata names, else UNAUTHENTICATED.
pub fn otlp_grpc_router(front: Arc<Front>) -> Router {
    Router::new()
        .fallback(|State(front): State<Arc<Front>>, request: Request| async move {
            match front.gate.account_of(request.headers(), false) {
                Ok(account) => forward(&front.tenants.get(&account).otlp_grpc, request).await,
                Err(denied) => tonic::Status::unauthenticated(denied.message()).into_http::<Body>(),
            }
        })
        .with_state(front)
}

/// The X-Ray daemon's TCP port: the whole X-Ray REST API on any path. A SigV4-signed request
/// acts in its key's account; an unsigned one in the default account, and with access keys
/// configured only for what SDKs and daemons send unsigned (sampling and segments).
pub fn xray_router(front: Arc<Front>) -> Router {
    Router::new()
        .fallback(|State(front): State<Arc<Front>>, method: Method, uri: axum::http::Uri, headers: HeaderMap, body: Body| async move {
            let default = front.tenants.default();
            let signed = headers.contains_key(header::AUTHORIZATION) || uri.query().is_some_and(|q| q.contains("X-Amz-Signature="));
            if !front.gate.required() || (!signed && DAEMON_PATHS.contains(&uri.path())) {
                return xray(&default.state, &method, uri.path(), body).await;
            }
            match front.gate.authenticate(&method, &uri, &headers, body).await {
                Ok((body, account)) => xray(&front.tenants.get(&account).state, &method, uri.path(), body).await,
                Err(refusal) => refuse(&default.state, Api::Xray, &uri, &headers, refusal),
            }
        })
        .layer(DefaultBodyLimit::disable())
        .with_state(front)
}

/// What the X-Ray SDKs (sampling) and daemons (segments, telemetry) send to the daemon port
/// without a signature.
const DAEMON_PATHS: &[&str] = &["/GetSamplingRules", "/SamplingTargets", "/TraceSegments", "/TelemetryRecords"];

/// Every X-Ray operation path of the current model (spec traces.md §5.2).
const XRAY_PATHS: &[&str] = &[
    "/TraceSegments",
    "/TelemetryRecords",
    "/Traces",
    "/TraceSummaries",
    "/TraceGraph",
    "/ServiceGraph",
    "/TimeSeriesServiceStatistics",
    "/GetSamplingRules",
    "/SamplingTargets",
    "/SamplingStatisticSummaries",
    "/CreateSamplingRule",
    "/UpdateSamplingRule",
    "/DeleteSamplingRule",
    "/CreateGroup",
    "/GetGroup",
    "/Groups",
    "/UpdateGroup",
    "/DeleteGroup",
    "/InsightSummaries",
    "/Insight",
    "/InsightEvents",
    "/InsightImpactGraph",
    "/EncryptionConfig",
    "/PutEncryptionConfig",
    "/TagResource",
    "/UntagResource",
    "/ListTagsForResource",
    "/PutResourcePolicy",
    "/DeleteResourcePolicy",
    "/ListResourcePolicies",
    "/GetTraceSegmentDestination",
    "/UpdateTraceSegmentDestination",
    "/StartTraceRetrieval",
    "/ListRetrievedTraces",
    "/GetRetrievedTracesGraph",
    "/CancelTraceRetrieval",
    "/GetIndexingRules",
    "/UpdateIndexingRule",
];

fn xray_label(path: &str) -> String {
    if XRAY_PATHS.contains(&path) { format!("xray{path}") } else { "xray/unknown".to_owned() }
}

/// One X-Ray rest-json request: JSON body in, JSON out, errors with `x-amzn-ErrorType`.
async fn xray(state: &AppState, method: &Method, path: &str, body: Body) -> Response {
    let label = xray_label(path);
    state.metrics.api_requests.with_label_values(&[&label]).inc();
    let result = async {
        if !XRAY_PATHS.contains(&path) {
            return Err(XrayError::unknown_operation(path));
        }
        if method != Method::POST {
            return Err(XrayError::invalid_request("X-Ray operations are POST requests"));
        }
        let bytes = axum::body::to_bytes(body, state.max_request_bytes).await.map_err(|_| {
            XrayError::invalid_request(format!(
                "Request body too large: the limit is {} bytes",
                state.max_request_bytes
            ))
        })?;
        let input: serde_json::Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            serde_json::json!({})
        } else {
            serde_json::from_slice(&bytes)
                .map_err(|e| XrayError::invalid_request(format!("Malformed JSON body: {e}")))?
        };
        if !input.is_object() {
            return Err(XrayError::invalid_request("The request body must be a JSON object"));
        }
        if let Some(result) = state.traces_write.handle(path, &input).await {
            return result;
        }
        if let Some(result) = state.traces_read.handle(path, &input).await {
            return result;
        }
        Err(XrayError::invalid_request(format!("The operation at {path} is not supported by this fluoro build")))
    }
    .await;
    xray_response(state, &label, result)
}

/// An X-Ray answer: the JSON value, or the error with `x-amzn-ErrorType`.
fn xray_response(state: &AppState, label: &str, result: Result<serde_json::Value, XrayError>) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let (status, error_type, body) = match result {
        Ok(value) => (StatusCode::OK, None, serde_json::to_vec(&value).expect("JSON values serialize")),
        Err(error) => {
            state.metrics.api_errors.with_label_values(&[label, error.code]).inc();
            tracing::debug!(operation = label, code = error.code, message = %error.message, "x-ray request refused");
            (StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST), Some(error.code), error.to_body())
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-amzn-requestid", HeaderValue::from_str(&request_id).expect("uuid is ASCII"));
    if let Some(error_type) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
        retry_after(headers, error_type);
    }
    response
}

async fn aws_json(
    State(front): State<Arc<Front>>,
    method: Method,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // The web UI: `/` and its content-hashed files, for GET requests no AWS protocol claims
    // (no X-Amz-Target, no awsQuery `Action`).
    if (method == Method::GET || method == Method::HEAD)
        && !headers.contains_key("x-amz-target")
        && !crate::cloudwatch::may_be_query(&method, &uri, &headers)
        && let Some(asset) = fluoro_ui::asset(uri.path())
    {
        return ui_asset(asset);
    }
    // Everything past this point is an AWS API: signed by a configured key, when there are
    // any, and served by that key's account.
    let api = Api::of(&method, &uri, &headers);
    let (state, body) = if front.gate.required() {
        match front.gate.authenticate(&method, &uri, &headers, body).await {
            Ok((body, account)) => (&front.tenants.get(&account).state, body),
            Err(refusal) => return refuse(&front.tenants.default().state, api, &uri, &headers, refusal),
        }
    } else {
        (&front.tenants.default().state, body)
    };
    match api {
        Api::Xray => xray(state, &method, uri.path(), body).await,
        Api::Cloudwatch(Protocol::Query, _) => crate::cloudwatch::serve_query(state, &uri, &headers, body).await,
        Api::Cloudwatch(protocol, op) => crate::cloudwatch::serve(state, protocol, op, &headers, body).await,
        Api::Logs => logs(state, &method, &headers, body).await,
    }
}

/// Which AWS API a request speaks: X-Ray is rest-json on its paths with no X-Amz-Target;
/// CloudWatch is the CBOR path, the JSON 1.0 target or an awsQuery form (spec §1.2; the
/// awsQuery operation is known once the body is read); the rest is CloudWatch Logs.
#[derive(Clone, Copy)]
enum Api<'a> {
    Xray,
    Cloudwatch(Protocol, &'a str),
    Logs,
}

impl<'a> Api<'a> {
    fn of(method: &Method, uri: &'a axum::http::Uri, headers: &'a HeaderMap) -> Self {
        let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok());
        if target.is_none() && XRAY_PATHS.contains(&uri.path()) {
            Api::Xray
        } else if let Some(op) = cloudwatch::cbor_operation(uri.path()) {
            Api::Cloudwatch(Protocol::Cbor, op)
        } else if let Some(op) = target.and_then(|t| t.strip_prefix(cloudwatch::TARGET_PREFIX)) {
            Api::Cloudwatch(Protocol::Json, op)
        } else if crate::cloudwatch::may_be_query(method, uri, headers) {
            Api::Cloudwatch(Protocol::Query, "")
        } else {
            Api::Logs
        }
    }
}

/// An authentication refusal, through the protocol's own renderer.
fn refuse(
    state: &AppState,
    api: Api<'_>,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    refusal: crate::auth::Refusal,
) -> Response {
    use crate::auth::Refusal;
    let limit = state.max_request_bytes;
    match api {
        Api::Xray => {
            let label = xray_label(uri.path());
            state.metrics.api_requests.with_label_values(&[&label]).inc();
            let error = match refusal {
                Refusal::TooLarge => {
                    XrayError::invalid_request(format!("Request body too large: the limit is {limit} bytes"))
                }
                Refusal::Unauthenticated(failure) => failure.to_xray(),
            };
            xray_response(state, &label, Err(error))
        }
        Api::Cloudwatch(protocol, op) => {
            let error = match refusal {
                Refusal::TooLarge => fluoro_proto::cloudwatch::CwError::too_large(limit + 1, limit),
                Refusal::Unauthenticated(failure) => failure.to_cloudwatch(),
            };
            crate::cloudwatch::respond(state, protocol, op, Err(error), &uuid::Uuid::new_v4().to_string())
        }
        Api::Logs => {
            let label = logs_operation(headers).unwrap_or("unknown");
            state.metrics.api_requests.with_label_values(&[label]).inc();
            let error = match refusal {
                Refusal::TooLarge => AwsError::invalid_parameter(format!(
                    "Request body too large or unreadable: the limit is {limit} bytes"
                )),
                Refusal::Unauthenticated(failure) => failure.to_aws(),
            };
            logs_response(state, label, Err(error), &uuid::Uuid::new_v4().to_string())
        }
    }
}

fn logs_operation(headers: &HeaderMap) -> Option<&str> {
    headers.get("x-amz-target").and_then(|v| v.to_str().ok()).and_then(|t| t.strip_prefix(LOGS_TARGET_PREFIX))
}

/// One CloudWatch Logs (AWS JSON 1.1) request.
async fn logs(state: &AppState, method: &Method, headers: &HeaderMap, body: Body) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let body = axum::body::to_bytes(body, state.max_request_bytes).await;
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let operation = logs_operation(headers);
    let label = operation.unwrap_or("unknown");
    state.metrics.api_requests.with_label_values(&[label]).inc();
    // StartLiveTail answers with an event stream, not a JSON document.
    let mut live_tail_refused = None;
    if let (Some("StartLiveTail"), Ok(bytes)) = (operation, &body)
        && method == Method::POST
    {
        let ctx = RequestContext { account_id: state.account_id.clone(), region: state.region.clone() };
        match fluoro_query::live_tail::start_live_tail(state.logs_read.store(), &ctx, bytes) {
            Ok(mut response) => {
                let id = HeaderValue::from_str(&request_id).expect("uuid is ASCII");
                response.headers_mut().insert("x-amzn-requestid", id);
                return response;
            }
            Err(error) => live_tail_refused = Some(error),
        }
    }
    let result = match (operation, body) {
        _ if live_tail_refused.is_some() => Err(live_tail_refused.take().expect("checked")),
        _ if method != Method::POST => Err(AwsError::new(ErrorCode::UnknownOperation, "Only POST is supported")),
        (None, _) => Err(AwsError::new(ErrorCode::UnknownOperation, format!("Unknown operation target: '{target}'"))),
        (Some(_), Err(_)) => Err(AwsError::invalid_parameter(format!(
            "Request body too large or unreadable: the limit is {} bytes",
            state.max_request_bytes
        ))),
        (Some(_), Ok(_)) if !content_type_ok(headers) => Err(AwsError::new(
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
    logs_response(state, label, result, &request_id)
}

/// A CloudWatch Logs answer: the JSON value, or the error's `__type` document.
fn logs_response(
    state: &AppState,
    label: &str,
    result: Result<serde_json::Value, AwsError>,
    request_id: &str,
) -> Response {
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
    headers.insert("x-amzn-requestid", HeaderValue::from_str(request_id).expect("uuid is ASCII"));
    if let Some(error_type) = error_type {
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error_type));
        retry_after(headers, error_type);
    }
    response
}

/// Throttling errors of every AWS protocol tell the client when to come back.
pub fn retry_after(headers: &mut HeaderMap, error_code: &str) {
    if matches!(error_code, "ThrottlingException" | "ThrottledException" | "Throttling") {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(fluoro_collector::otlp::RETRY_AFTER_SECS));
    }
}

fn ui_asset(asset: fluoro_ui::Asset) -> Response {
    let cache = if asset.immutable { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut response = Body::from(asset.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
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

/// Any path of the OTLP/HTTP port that no signal serves: a 404 that says so.
pub fn otlp_not_found() -> Router {
    Router::new().fallback(|uri: axum::http::Uri| async move {
        (StatusCode::NOT_FOUND, format!("no OTLP endpoint at {}\n", uri.path()))
    })
}
