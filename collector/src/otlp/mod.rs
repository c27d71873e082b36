//! OTLP ingest over gRPC and HTTP (spec traces.md §8.1–8.2). The transport rules (content
//! types, gzip, size limits, partial success, `google.rpc.Status` errors, backpressure with
//! Retry-After) live here; each signal converts its request and appends it to the store.

pub mod logs;
pub mod metrics;
pub mod traces;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use fluoro_store::AppendError;

/// `otlp.max_request_bytes` defaults: decompressed HTTP bodies and gRPC messages.
pub const MAX_HTTP_BYTES: usize = 64 << 20;
pub const MAX_GRPC_BYTES: usize = 16 << 20;
/// Seconds a throttled client is told to wait.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The wire encoding of an OTLP/HTTP request (and of its response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    /// The encoding a request's content type asks for (JSON when it names neither).
    pub fn of(headers: &HeaderMap) -> Self {
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
        match content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase().as_str() {
            "application/x-protobuf" | "application/protobuf" => Encoding::Protobuf,
            _ => Encoding::Json,
        }
    }
}

/// `google.rpc.Status`, the body of OTLP/HTTP errors.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

/// The gRPC status of a refused append (the same rules as `HttpFailure::of_append`).
pub fn grpc_status(error: AppendError) -> tonic::Status {
    match error {
        // RESOURCE_EXHAUSTED is retryable in OTLP only with RetryInfo (the OTLP specification's
        // "Failures" section); the exporters wait the given delay.
        AppendError::Throttled { .. } => {
            use tonic_types::{ErrorDetails, StatusExt};
            tonic::Status::with_error_details(
                tonic::Code::ResourceExhausted,
                "ingest is over capacity; retry later",
                ErrorDetails::with_retry_info(Some(std::time::Duration::from_secs(RETRY_AFTER_SECS))),
            )
        }
        error @ AppendError::TooManySeries { .. } => tonic::Status::failed_precondition(error.to_string()),
        error => tonic::Status::unavailable(error.to_string()),
    }
}

/// Why an OTLP/HTTP request failed, as the response it gets.
#[derive(Debug)]
pub struct HttpFailure {
    pub status: StatusCode,
    pub message: String,
    /// gRPC code in the `google.rpc.Status` body.
    pub code: i32,
}

impl HttpFailure {
    pub fn new(status: StatusCode, code: i32, message: impl Into<String>) -> Self {
        Self { status, message: message.into(), code }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, 3, message)
    }

    pub fn throttled() -> Self {
        Self::new(StatusCode::TOO_MANY_REQUESTS, 14, "ingest is over capacity; retry later")
    }

    /// A refused append: throttled and failing stores are retryable (429/503, UNAVAILABLE);
    /// the series limit is not (400, FAILED_PRECONDITION: waiting does not lift it).
    pub fn of_append(error: AppendError) -> Self {
        match error {
            AppendError::Throttled { .. } => Self::throttled(),
            error @ AppendError::TooManySeries { .. } => Self::new(StatusCode::BAD_REQUEST, 9, error.to_string()),
            error => Self::new(StatusCode::SERVICE_UNAVAILABLE, 14, error.to_string()),
        }
    }

    pub fn into_response(self, encoding: Encoding) -> Response {
        let status = RpcStatus { code: self.code, message: self.message };
        let mut response = match encoding {
            Encoding::Protobuf => {
                let body = prost::Message::encode_to_vec(&status);
                (self.status, [(header::CONTENT_TYPE, "application/x-protobuf")], body).into_response()
            }
            Encoding::Json => {
                let body = serde_json::json!({"code": status.code, "message": status.message}).to_string();
                (self.status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
        };
        if matches!(self.status, StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

/// Checks the content type and encoding, reads and decompresses the body within `limit`.
pub async fn read_request(
    headers: &HeaderMap,
    body: Body,
    limit: usize,
) -> Result<(Encoding, Bytes), (Encoding, HttpFailure)> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let encoding = match essence.as_str() {
        "application/json" => Encoding::Json,
        _ if Encoding::of(headers) == Encoding::Protobuf => Encoding::Protobuf,
        _ => {
            return Err((
                Encoding::Json,
                HttpFailure::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    3,
                    format!(
                        "unsupported content type {content_type:?}: use application/x-protobuf or application/json"
                    ),
                ),
            ));
        }
    };
    let compression = headers.get(header::CONTENT_ENCODING).and_then(|v| v.to_str().ok()).unwrap_or("identity");
    let gzip = match compression.trim().to_ascii_lowercase().as_str() {
        "gzip" => true,
        "identity" | "" => false,
        other => {
            return Err((
                encoding,
                HttpFailure::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    3,
                    format!("unsupported content encoding {other:?}"),
                ),
            ));
        }
    };
    let too_large =
        || HttpFailure::new(StatusCode::PAYLOAD_TOO_LARGE, 8, format!("the request is larger than {limit} bytes"));
    let raw = axum::body::to_bytes(body, limit).await.map_err(|_| (encoding, too_large()))?;
    if !gzip {
        return Ok((encoding, raw));
    }
    let bytes = gunzip(&raw, limit).map_err(|e| match e {
        GunzipError::TooLarge => (encoding, too_large()),
        GunzipError::Invalid(message) => (encoding, HttpFailure::bad_request(format!("invalid gzip body: {message}"))),
    })?;
    Ok((encoding, Bytes::from(bytes)))
}

/// Decodes an OTLP/HTTP export body. JSON with snake_case keys (any of `snake_needles`, or
/// the common `_unix_nano"`/`_value"`) or enum names is normalized first: unknown fields are
/// ignored, so such keys would otherwise decode as nothing.
pub fn decode_export<T>(encoding: Encoding, bytes: &[u8], snake_needles: &[&[u8]]) -> Result<T, String>
where
    T: prost::Message + Default + serde::de::DeserializeOwned,
{
    match encoding {
        Encoding::Protobuf => T::decode(bytes).map_err(|e| e.to_string()),
        Encoding::Json => {
            let common: [&[u8]; 2] = [b"_unix_nano\"", b"_value\""];
            let snake = snake_needles
                .iter()
                .chain(common.iter())
                .any(|needle| bytes.windows(needle.len()).any(|w| w == *needle));
            let direct = if snake { None } else { serde_json::from_slice::<T>(bytes).ok() };
            match direct {
                Some(request) => Ok(request),
                None => serde_json::from_slice::<serde_json::Value>(bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|v| serde_json::from_value(normalize_json(v)).map_err(|e| e.to_string())),
            }
        }
    }
}

/// Every OTLP gRPC service as one axum router (one fallback, so they share a listener).
pub fn grpc_routes(
    traces: std::sync::Arc<traces::OtlpTraces>,
    metrics: std::sync::Arc<metrics::OtlpMetrics>,
    logs: std::sync::Arc<logs::OtlpLogs>,
) -> axum::Router {
    tonic::service::Routes::new(traces::grpc_service(traces))
        .add_service(metrics::grpc_service(metrics))
        .add_service(logs::grpc_service(logs))
        .into_axum_router()
}

pub enum GunzipError {
    TooLarge,
    Invalid(String),
}

/// Decompresses at most `limit` bytes: a decompression bomb stops at the cap.
pub fn gunzip(data: &[u8], limit: usize) -> Result<Vec<u8>, GunzipError> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut decoder = flate2::read::MultiGzDecoder::new(data).take(limit as u64 + 1);
    decoder.read_to_end(&mut out).map_err(|e| GunzipError::Invalid(e.to_string()))?;
    if out.len() > limit {
        return Err(GunzipError::TooLarge);
    }
    Ok(out)
}

/// OTLP/JSON as some senders write it, made decodable: snake_case field names become
/// lowerCamelCase and enum names (`SPAN_KIND_SERVER`, `STATUS_CODE_ERROR`, `SEVERITY_NUMBER_INFO`)
/// become their numbers (spec traces.md §8.2).
pub fn normalize_json(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    fn camel(key: &str) -> String {
        let mut out = String::with_capacity(key.len());
        let mut upper = false;
        for c in key.chars() {
            if c == '_' {
                upper = true;
            } else if upper {
                out.extend(c.to_uppercase());
                upper = false;
            } else {
                out.push(c);
            }
        }
        out
    }
    fn enum_number(key: &str, name: &str) -> Option<i64> {
        let name = name.to_ascii_uppercase();
        const SEVERITIES: [&str; 25] = [
            "UNSPECIFIED",
            "TRACE",
            "TRACE2",
            "TRACE3",
            "TRACE4",
            "DEBUG",
            "DEBUG2",
            "DEBUG3",
            "DEBUG4",
            "INFO",
            "INFO2",
            "INFO3",
            "INFO4",
            "WARN",
            "WARN2",
            "WARN3",
            "WARN4",
            "ERROR",
            "ERROR2",
            "ERROR3",
            "ERROR4",
            "FATAL",
            "FATAL2",
            "FATAL3",
            "FATAL4",
        ];
        let table: &[&str] = match key {
            "kind" => &["UNSPECIFIED", "INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"],
            "code" => &["UNSET", "OK", "ERROR"],
            "severityNumber" => &SEVERITIES,
            _ => return None,
        };
        let short = name
            .trim_start_matches("SPAN_KIND_")
            .trim_start_matches("STATUS_CODE_")
            .trim_start_matches("SEVERITY_NUMBER_");
        table.iter().position(|t| *t == short).map(|i| i as i64)
    }
    match value {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| {
                    let key = if key.contains('_') { camel(&key) } else { key };
                    let value = match &value {
                        Value::String(name) => enum_number(&key, name).map_or(value, Value::from),
                        _ => normalize_json(value),
                    };
                    (key, value)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize_json).collect()),
        other => other,
    }
}

/// An OTLP success response in the request's encoding (`json` is the JSON form of `message`:
/// OTLP/JSON writes 64-bit integers as strings and leaves out empty fields).
pub fn success<M: prost::Message>(encoding: Encoding, message: &M, json: serde_json::Value) -> Response {
    match encoding {
        Encoding::Protobuf => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], message.encode_to_vec())
                .into_response()
        }
        Encoding::Json => {
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], json.to_string()).into_response()
        }
    }
}
