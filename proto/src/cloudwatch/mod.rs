//! The CloudWatch (monitoring, 2010-08-01) wire layer: the embedded service model, the three
//! protocols (awsQuery, AWS JSON 1.0, Smithy RPC v2 CBOR) over one canonical form, model
//! constraint checks and the protocol-shaped errors. Operations live in the collector (writes)
//! and the query crate (reads); they see only canonical values.

pub mod codec;
pub mod error;
pub mod model;
pub mod number;
#[cfg(test)]
mod tests;

pub use codec::{Protocol, as_f64, float, iso_millis};
pub use error::CwError;
pub use model::MODEL;
pub use number::java_double;

use serde_json::Value;

/// `X-Amz-Target` prefix of AWS JSON 1.0 requests.
/// Operations this build answers; the rest of the model's answer 501 (spec §1.10).
pub const SERVED: &[&str] = &[
    "PutMetricData",
    "GetMetricStatistics",
    "GetMetricData",
    "ListMetrics",
    "PutMetricAlarm",
    "PutCompositeAlarm",
    "DescribeAlarms",
    "DescribeAlarmsForMetric",
    "DescribeAlarmHistory",
    "SetAlarmState",
    "DeleteAlarms",
    "EnableAlarmActions",
    "DisableAlarmActions",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

pub const TARGET_PREFIX: &str = "GraniteServiceVersion20100801.";
/// The CBOR path marker: `…/service/GraniteServiceVersion20100801/operation/{Op}`.
const CBOR_PATH_MARKER: &str = "/service/GraniteServiceVersion20100801/operation/";
pub const API_VERSION: &str = "2010-08-01";

/// The operation of an RPC v2 CBOR path (any prefix before the marker).
pub fn cbor_operation(path: &str) -> Option<&str> {
    let at = path.rfind(CBOR_PATH_MARKER)?;
    let op = &path[at + CBOR_PATH_MARKER.len()..];
    (!op.is_empty() && !op.contains('/')).then_some(op)
}

/// The parameters of a form-encoded body or query string.
pub fn parse_form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// Whether form parameters make an awsQuery CloudWatch request: an `Action`, and either
/// `Version=2010-08-01` or a SigV4 scope naming the `monitoring` service (§1.2).
pub fn is_query_request(params: &[(String, String)], authorization: Option<&str>) -> bool {
    let has = |key: &str| params.iter().any(|(k, _)| k == key);
    let version = params.iter().any(|(k, v)| k == "Version" && v == API_VERSION);
    let scope = authorization.is_some_and(|a| a.contains("/monitoring/aws4_request"));
    has("Action") && (version || scope)
}

pub fn query_action(params: &[(String, String)]) -> Option<&str> {
    params.iter().rev().find(|(k, _)| k == "Action").map(|(_, v)| v.as_str())
}

/// Decodes a request body into the operation's canonical input and checks the model's
/// constraints. `Err` for an unknown operation or bad input, in the shape of §1.8.
pub fn decode_request(protocol: Protocol, operation: &str, body: &[u8]) -> Result<Value, CwError> {
    let Some(op) = MODEL.operation(operation) else {
        return Err(CwError::unknown_operation(format!("Unknown operation {operation}")));
    };
    let empty = || Value::Object(Default::default());
    let input = match (&op.input, protocol) {
        (None, _) => empty(),
        (Some(shape), Protocol::Json) => codec::decode_json(shape, body)?,
        (Some(shape), Protocol::Cbor) => codec::decode_cbor(shape, body)?,
        (Some(shape), Protocol::Query) => codec::decode_query(shape, &parse_form(body))?,
    };
    if let Some(shape) = &op.input {
        codec::validate(shape, &input)?;
    }
    Ok(input)
}

/// A success response: content type (none for an empty CBOR body) and body.
pub fn encode_response(
    protocol: Protocol,
    operation: &str,
    output: &Value,
    request_id: &str,
) -> (Option<&'static str>, Vec<u8>) {
    let shape = MODEL.operation(operation).and_then(|op| op.output.as_deref());
    match protocol {
        Protocol::Json => (Some("application/x-amz-json-1.0"), codec::encode_json(shape, output)),
        Protocol::Cbor => {
            let body = codec::encode_cbor(shape, output);
            ((!body.is_empty()).then_some("application/cbor"), body)
        }
        Protocol::Query => (Some("text/xml"), codec::encode_xml(operation, shape, output, request_id).into_bytes()),
    }
}

/// An error response: content type and body (headers `x-amzn-query-error` etc. are the
/// caller's, from `CwError`).
pub fn encode_error(protocol: Protocol, error: &CwError, request_id: &str) -> (&'static str, Vec<u8>) {
    match protocol {
        Protocol::Json => ("application/x-amz-json-1.0", codec::encode_json_error(error)),
        Protocol::Cbor => ("application/cbor", codec::encode_cbor_error(error)),
        Protocol::Query => ("text/xml", codec::encode_xml_error(error, request_id).into_bytes()),
    }
}
