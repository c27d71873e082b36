//! SigV4 on the AWS APIs of the HTTP port, when access keys are configured: every request is
//! verified (`fluoro_proto::sigv4`) before any protocol handler sees it, and a refusal comes
//! back in the request's own protocol (AWS JSON 1.1 for Logs, X-Ray rest-json, and the
//! CloudWatch protocols through `crate::cloudwatch::respond`).

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use fluoro_proto::cloudwatch::{self, CwError, Protocol};
use fluoro_proto::sigv4::{self, Failure};
use fluoro_proto::xray::XrayError;

use crate::http::AppState;

/// Reads and verifies the request; gives the body back when its signature holds.
pub async fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: Body,
) -> Result<Body, Response> {
    let bytes = axum::body::to_bytes(body, state.max_request_bytes).await.map_err(|_| {
        let message = format!("Request body too large or unreadable: the limit is {} bytes", state.max_request_bytes);
        refuse(uri, headers, ("SerializationException", "InvalidParameterValue", 413, message))
    })?;
    let pairs: Vec<(String, String)> = headers
        .iter()
        .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
        .chain(
            // HTTP/2 carries the host as :authority, which the header map does not hold.
            (!headers.contains_key(header::HOST))
                .then(|| uri.authority().map(|a| ("host".to_owned(), a.to_string())))
                .flatten(),
        )
        .collect();
    let request = sigv4::Request {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or_default(),
        headers: &pairs,
        body: &bytes,
    };
    let now = (state.clock)().div_euclid(1000);
    match sigv4::verify(&request, |id| state.access_keys.iter().find(|k| k.id == id), now) {
        Ok(_) => Ok(Body::from(bytes)),
        Err(failure) => {
            state.metrics.auth_failures.with_label_values(&[failure_label(&failure)]).inc();
            tracing::debug!(?failure, path = uri.path(), "request refused: authentication");
            Err(refuse(uri, headers, failure.describe()))
        }
    }
}

fn failure_label(failure: &Failure) -> &'static str {
    match failure {
        Failure::Missing => "missing",
        Failure::UnknownKey => "unknown_key",
        Failure::Invalid(_) => "invalid_signature",
    }
}

/// The refusal in the protocol the request speaks: (JSON code, awsQuery code, status, message).
fn refuse(
    uri: &Uri,
    headers: &HeaderMap,
    (code, query_code, status, message): (&'static str, &'static str, u16, String),
) -> Response {
    let request_id = uuid::Uuid::new_v4().to_string();
    let target = headers.get("x-amz-target").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let cw_error = || CwError { code: query_code, shape: None, status, message: message.clone() };
    let protocol = if cloudwatch::cbor_operation(uri.path()).is_some() {
        Some(Protocol::Cbor)
    } else if target.starts_with(cloudwatch::TARGET_PREFIX) {
        Some(Protocol::Json)
    } else if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"))
        || uri.query().is_some_and(|q| q.contains("Action="))
    {
        Some(Protocol::Query)
    } else {
        None
    };
    let body = match protocol {
        Some(protocol) => {
            let (content_type, body) = cloudwatch::encode_error(protocol, &cw_error(), &request_id);
            let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN), body).into_response();
            response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            response.headers_mut().insert("x-amzn-requestid", HeaderValue::from_str(&request_id).expect("ASCII"));
            return response;
        }
        // X-Ray (rest-json) and CloudWatch Logs (JSON 1.1) both read `__type`.
        None => XrayError::new(code, status, message).to_body(),
    };
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN), body).into_response();
    let headers = response.headers_mut();
    let content_type = if target.is_empty() { "application/json" } else { "application/x-amz-json-1.1" };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert("x-amzn-requestid", HeaderValue::from_str(&request_id).expect("uuid is ASCII"));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    response
}
