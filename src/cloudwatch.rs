//! The CloudWatch protocols on the HTTP port (spec metrics-alarms.md §1): body limits and
//! decompression, decoding through `fluoro_proto::cloudwatch`, dispatch to the metric APIs,
//! and responses and errors in the protocol the request used.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use fluoro_collector::otlp::{GunzipError, gunzip};
use fluoro_proto::cloudwatch::{self, CwError, MODEL, Protocol};

use crate::http::AppState;

/// On-wire body limit (AWS: 1 MB per PutMetricData POST).
const MAX_WIRE_BYTES: usize = 1 << 20;
/// Decompressed body limit.
const MAX_DECOMPRESSED_BYTES: usize = 10 << 20;
/// PutMetricAlarm / PutCompositeAlarm payload quota.
const MAX_ALARM_BYTES: usize = 120 << 10;

/// A form POST (or a GET with a query string): possibly awsQuery, decided once it is read.
pub fn may_be_query(method: &Method, uri: &Uri, headers: &HeaderMap) -> bool {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/x-www-form-urlencoded"));
    (method == Method::POST && form) || (method == Method::GET && uri.query().is_some_and(|q| q.contains("Action=")))
}

/// Reads the body: the on-wire cap, then gzip within the decompressed cap.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, CwError> {
    let raw = axum::body::to_bytes(body, MAX_WIRE_BYTES)
        .await
        .map_err(|_| CwError::too_large(MAX_WIRE_BYTES + 1, MAX_WIRE_BYTES))?;
    let encoding = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
    match encoding.trim().to_ascii_lowercase().as_str() {
        "" | "identity" => Ok(raw),
        "gzip" => gunzip(&raw, MAX_DECOMPRESSED_BYTES).map(Bytes::from).map_err(|e| match e {
            GunzipError::TooLarge => CwError::too_large(MAX_DECOMPRESSED_BYTES + 1, MAX_DECOMPRESSED_BYTES),
            GunzipError::Invalid(message) => CwError::serialization(format!("Invalid gzip body: {message}")),
        }),
        other => Err(CwError::unsupported_encoding(other)),
    }
}

/// An awsQuery candidate: answered as CloudWatch when its parameters say so.
pub async fn serve_query(state: &AppState, uri: &Uri, headers: &HeaderMap, body: Body) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let bytes = match read_body(headers, body).await {
        Ok(bytes) => bytes,
        Err(error) => return respond(state, Protocol::Query, "unknown", Err(error), &request_id),
    };
    let bytes = match uri.query() {
        Some(query) if bytes.is_empty() => Bytes::from(query.as_bytes().to_vec()),
        _ => bytes,
    };
    let params = cloudwatch::parse_form(&bytes);
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    if !cloudwatch::is_query_request(&params, authorization) {
        let error = CwError::unknown_operation("The request has no CloudWatch Action and Version");
        return respond(state, Protocol::Query, "unknown", Err(error), &request_id);
    }
    let op = cloudwatch::query_action(&params).unwrap_or_default().to_owned();
    let result = dispatch(state, Protocol::Query, &op, &bytes).await;
    respond(state, Protocol::Query, &op, result, &request_id)
}

/// A JSON 1.0 or CBOR request.
pub async fn serve(state: &AppState, protocol: Protocol, op: &str, headers: &HeaderMap, body: Body) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let result = match read_body(headers, body).await {
        Ok(bytes) => dispatch(state, protocol, op, &bytes).await,
        Err(error) => Err(error),
    };
    respond(state, protocol, op, result, &request_id)
}

async fn dispatch(state: &AppState, protocol: Protocol, op: &str, body: &[u8]) -> Result<serde_json::Value, CwError> {
    if matches!(op, "PutMetricAlarm" | "PutCompositeAlarm") && body.len() > MAX_ALARM_BYTES {
        return Err(CwError::too_large(body.len(), MAX_ALARM_BYTES));
    }
    if op != "PutMetricData" && body.len() > MAX_WIRE_BYTES {
        return Err(CwError::too_large(body.len(), MAX_WIRE_BYTES));
    }
    if MODEL.operation(op).is_some() && !cloudwatch::SERVED.contains(&op) {
        return Err(CwError::not_implemented(op));
    }
    let input = cloudwatch::decode_request(protocol, op, body)?;
    if let Some(result) = state.metrics_write.handle(op, &input).await {
        return result;
    }
    if let Some(result) = state.metrics_read.handle(op, &input, (state.clock)()).await {
        return result;
    }
    if let Some(result) = state.alarms.handle(op, &input).await {
        return result;
    }
    Err(CwError::not_implemented(op))
}

pub fn respond(
    state: &AppState,
    protocol: Protocol,
    op: &str,
    result: Result<serde_json::Value, CwError>,
    request_id: &str,
) -> Response {
    let label = if MODEL.operation(op).is_some() { format!("cloudwatch/{op}") } else { "cloudwatch/unknown".into() };
    state.metrics.api_requests.with_label_values(&[&label]).inc();
    let (status, content_type, body, error) = match result {
        Ok(output) => {
            let (content_type, body) = cloudwatch::encode_response(protocol, op, &output, request_id);
            (StatusCode::OK, content_type, body, None)
        }
        Err(error) => {
            state.metrics.api_errors.with_label_values(&[&label, error.code]).inc();
            tracing::debug!(operation = op, code = error.code, message = %error.message, "cloudwatch request refused");
            let (content_type, body) = cloudwatch::encode_error(protocol, &error, request_id);
            let status = StatusCode::from_u16(error.status).unwrap_or(StatusCode::BAD_REQUEST);
            (status, Some(content_type), body, Some(error))
        }
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_TYPE);
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    headers.insert("x-amzn-requestid", HeaderValue::from_str(request_id).expect("uuid is ASCII"));
    if protocol == Protocol::Cbor {
        headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    }
    if let Some(error) = &error {
        crate::http::retry_after(headers, error.code);
    }
    if let Some(error) = error
        && protocol != Protocol::Query
    {
        let query_error = format!("{};{}", error.code, error.fault());
        headers.insert("x-amzn-query-error", HeaderValue::from_str(&query_error).expect("ASCII code"));
        headers.insert("x-amzn-errortype", HeaderValue::from_static(error.code));
    }
    response
}
