//! OTLP logs → CloudWatch Logs events (spec logs.md §4): the log group and stream of each
//! record, and the record as the JSON document the CloudWatch OTLP endpoint stores as the
//! event's message. Body, severity, attributes, resource attributes, scope, trace and span
//! ids stay separate members of that document, so Insights discovers them as fields
//! (`body`, `severityText`, `attributes.http.method`, `resource.attributes.service.name`,
//! `traceId`) and SQL reads them as columns; the trace id also fills the event's trace
//! column (`crate::correlation`).
//!
//! Group: the `x-aws-log-group` header, else the resource attribute `aws.log.group.names`
//! (first entry; a string may join several with `&`), else `/otel/<service.name>`.
//! Stream: the `x-aws-log-stream` header, else `aws.log.stream.names` (first entry), else
//! `service.instance.id`, else `host.name`, else [`DEFAULT_STREAM`].

use std::collections::HashMap;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use serde_json::{Map, Value};

use crate::names::{LogGroupName, LogStreamName};
use crate::xray::otlp::{any_to_json, attributes};

/// The stream of records whose resource names none.
pub const DEFAULT_STREAM: &str = "default";
/// The service name of resources without one (the OpenTelemetry SDKs' default).
const UNKNOWN_SERVICE: &str = "unknown_service";

/// The target a request names in its headers (HTTP) or metadata (gRPC).
#[derive(Debug, Default, Clone, Copy)]
pub struct Target<'a> {
    pub group: Option<&'a str>,
    pub stream: Option<&'a str>,
}

/// One record as a log event: its time (epoch ms; `None` = no time given: the server's) and
/// its JSON document.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub timestamp_ms: Option<i64>,
    pub message: String,
}

/// The events of one (group, stream), in request order.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamEvents {
    pub group: String,
    pub stream: String,
    pub events: Vec<Event>,
}

#[derive(Debug, Default, PartialEq)]
pub struct Converted {
    pub streams: Vec<StreamEvents>,
    /// Records refused here (an invalid group or stream name), and the first reason.
    pub rejected: usize,
    pub error: Option<String>,
}

/// Converts every record of `request`.
pub fn convert(request: &ExportLogsServiceRequest, target: Target<'_>) -> Converted {
    let mut out = Converted::default();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for resource_logs in &request.resource_logs {
        let resource = resource_logs.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        let records: usize = resource_logs.scope_logs.iter().map(|s| s.log_records.len()).sum();
        let (group, stream) = match (group_of(&resource, target), stream_of(&resource, target)) {
            (Ok(group), Ok(stream)) => (group, stream),
            (Err(error), _) | (_, Err(error)) => {
                out.rejected += records;
                out.error.get_or_insert(error);
                continue;
            }
        };
        let slot = *index.entry((group.clone(), stream.clone())).or_insert_with(|| {
            out.streams.push(StreamEvents { group, stream, events: Vec::new() });
            out.streams.len() - 1
        });
        let resource_doc = (!resource.is_empty()).then(|| {
            let mut doc = Map::new();
            doc.insert("attributes".into(), Value::Object(resource.clone()));
            Value::Object(doc)
        });
        for scope_logs in &resource_logs.scope_logs {
            let scope_doc = scope_logs.scope.as_ref().and_then(|scope| {
                let mut doc = Map::new();
                if !scope.name.is_empty() {
                    doc.insert("name".into(), Value::from(scope.name.clone()));
                }
                if !scope.version.is_empty() {
                    doc.insert("version".into(), Value::from(scope.version.clone()));
                }
                if !scope.attributes.is_empty() {
                    doc.insert("attributes".into(), Value::Object(attributes(&scope.attributes)));
                }
                (!doc.is_empty()).then_some(Value::Object(doc))
            });
            for record in &scope_logs.log_records {
                let event = Event {
                    timestamp_ms: record_time_ms(record),
                    message: document(record, resource_doc.as_ref(), scope_doc.as_ref()),
                };
                out.streams[slot].events.push(event);
            }
        }
    }
    out
}

/// The record's time: its own, else when it was observed.
fn record_time_ms(record: &LogRecord) -> Option<i64> {
    [record.time_unix_nano, record.observed_time_unix_nano]
        .into_iter()
        .find(|t| *t != 0)
        .map(|ns| (ns / 1_000_000).min(i64::MAX as u64) as i64)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The record as its JSON document (OTLP/JSON member names; empty members left out).
fn document(record: &LogRecord, resource: Option<&Value>, scope: Option<&Value>) -> String {
    let mut doc = Map::new();
    if let Some(resource) = resource {
        doc.insert("resource".into(), resource.clone());
    }
    if let Some(scope) = scope {
        doc.insert("scope".into(), scope.clone());
    }
    if record.time_unix_nano != 0 {
        doc.insert("timeUnixNano".into(), Value::from(record.time_unix_nano.to_string()));
    }
    if record.observed_time_unix_nano != 0 {
        doc.insert("observedTimeUnixNano".into(), Value::from(record.observed_time_unix_nano.to_string()));
    }
    if record.severity_number != 0 {
        doc.insert("severityNumber".into(), Value::from(record.severity_number));
    }
    if !record.severity_text.is_empty() {
        doc.insert("severityText".into(), Value::from(record.severity_text.clone()));
    }
    if let Some(body) = record.body.as_ref().filter(|b| b.value.is_some()) {
        doc.insert("body".into(), any_to_json(body));
    }
    if !record.attributes.is_empty() {
        doc.insert("attributes".into(), Value::Object(attributes(&record.attributes)));
    }
    if record.dropped_attributes_count != 0 {
        doc.insert("droppedAttributesCount".into(), Value::from(record.dropped_attributes_count));
    }
    if record.flags != 0 {
        doc.insert("flags".into(), Value::from(record.flags));
    }
    // Empty, all-zero or malformed ids mean "not correlated" (spec traces.md §8.5).
    if record.trace_id.len() == 16 && record.trace_id.iter().any(|b| *b != 0) {
        doc.insert("traceId".into(), Value::from(hex(&record.trace_id)));
        if record.span_id.len() == 8 && record.span_id.iter().any(|b| *b != 0) {
            doc.insert("spanId".into(), Value::from(hex(&record.span_id)));
        }
    }
    if !record.event_name.is_empty() {
        doc.insert("eventName".into(), Value::from(record.event_name.clone()));
    }
    Value::Object(doc).to_string()
}

/// The first entry of a names attribute: an array's first string, or a string's first
/// `&`-separated part.
fn first_name(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => s.split('&').map(str::trim).find(|s| !s.is_empty()).map(str::to_owned),
        Value::Array(items) => items.iter().filter_map(Value::as_str).find(|s| !s.is_empty()).map(str::to_owned),
        _ => None,
    }
}

fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The name the header or the names attribute gives (validated as is), else `derived` with
/// the characters `allowed` refuses replaced by `_` and cut to 512.
fn target_name(
    header: Option<&str>,
    attribute: Option<&Value>,
    derived: impl FnOnce() -> String,
    allowed: fn(char) -> bool,
    parse: fn(&str) -> Result<String, crate::AwsError>,
    what: &str,
) -> Result<String, String> {
    let name = match header.filter(|s| !s.is_empty()).map(str::to_owned).or_else(|| first_name(attribute)) {
        Some(named) => named,
        None => derived().chars().map(|c| if allowed(c) { c } else { '_' }).take(512).collect(),
    };
    parse(&name).map_err(|e| format!("{what} {name:?}: {}", e.message))
}

fn group_of(resource: &Map<String, Value>, target: Target<'_>) -> Result<String, String> {
    target_name(
        target.group,
        resource.get("aws.log.group.names"),
        || format!("/otel/{}", text(resource.get("service.name")).as_deref().unwrap_or(UNKNOWN_SERVICE)),
        |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#'),
        |n| LogGroupName::parse(n).map(|n| n.as_str().to_owned()),
        "log group",
    )
}

fn stream_of(resource: &Map<String, Value>, target: Target<'_>) -> Result<String, String> {
    target_name(
        target.stream,
        resource.get("aws.log.stream.names"),
        || {
            text(resource.get("service.instance.id"))
                .or_else(|| text(resource.get("host.name")))
                .unwrap_or_else(|| DEFAULT_STREAM.to_owned())
        },
        |c| !matches!(c, ':' | '*'),
        |n| LogStreamName::parse(n).map(|n| n.as_str().to_owned()),
        "log stream",
    )
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, ArrayValue, InstrumentationScope, KeyValue, any_value};
    use opentelemetry_proto::tonic::logs::v1::{ResourceLogs, ScopeLogs};
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;
    use crate::otlp_fixtures::{kv, s};

    fn request(resource: Vec<KeyValue>, records: Vec<LogRecord>) -> ExportLogsServiceRequest {
        ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: Some(Resource { attributes: resource, ..Default::default() }),
                scope_logs: vec![ScopeLogs {
                    scope: Some(InstrumentationScope { name: "app.orders".into(), ..Default::default() }),
                    log_records: records,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn record(body: &str) -> LogRecord {
        LogRecord {
            time_unix_nano: 1_764_000_000_123_456_789,
            severity_number: 9,
            severity_text: "INFO".into(),
            body: Some(AnyValue { value: Some(s(body)) }),
            attributes: vec![kv("http.method", s("GET")), kv("retries", any_value::Value::IntValue(2))],
            trace_id: (1..=16).collect(),
            span_id: (1..=8).collect(),
            ..Default::default()
        }
    }

    #[test]
    fn record_document_and_default_target() {
        let converted = convert(
            &request(vec![kv("service.name", s("checkout api")), kv("host.name", s("web-1"))], vec![record("paid")]),
            Target::default(),
        );
        assert_eq!(converted.rejected, 0);
        let stream = &converted.streams[0];
        assert_eq!((stream.group.as_str(), stream.stream.as_str()), ("/otel/checkout_api", "web-1"));
        let event = &stream.events[0];
        assert_eq!(event.timestamp_ms, Some(1_764_000_000_123));
        assert_eq!(
            event.message,
            r#"{"resource":{"attributes":{"service.name":"checkout api","host.name":"web-1"}},"scope":{"name":"app.orders"},"timeUnixNano":"1764000000123456789","severityNumber":9,"severityText":"INFO","body":"paid","attributes":{"http.method":"GET","retries":2},"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708"}"#
        );
        let link = crate::correlation::extract(&event.message).unwrap();
        assert_eq!(link.trace_id.to_hex(), "0102030405060708090a0b0c0d0e0f10");
        assert_eq!(link.span_id, Some(0x0102030405060708));
    }

    #[test]
    fn targets_from_headers_and_attributes() {
        let names = vec![
            kv(
                "aws.log.group.names",
                any_value::Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(s("/app/a")) }] }),
            ),
            kv("aws.log.stream.names", s("s1&s2")),
            kv("service.instance.id", s("i-1")),
        ];
        let converted = convert(&request(names.clone(), vec![record("x")]), Target::default());
        assert_eq!((converted.streams[0].group.as_str(), converted.streams[0].stream.as_str()), ("/app/a", "s1"));
        let converted = convert(&request(names, vec![record("x")]), Target { group: Some("hdr"), stream: Some("st") });
        assert_eq!((converted.streams[0].group.as_str(), converted.streams[0].stream.as_str()), ("hdr", "st"));
        let converted =
            convert(&request(vec![kv("service.instance.id", s("a:b"))], vec![record("x")]), Target::default());
        assert_eq!(
            (converted.streams[0].group.as_str(), converted.streams[0].stream.as_str()),
            ("/otel/unknown_service", "a_b")
        );
        let converted = convert(&request(vec![], vec![record("x")]), Target::default());
        assert_eq!(converted.streams[0].stream, DEFAULT_STREAM);
    }

    #[test]
    fn invalid_names_reject_their_records() {
        let converted = convert(
            &request(vec![], vec![record("x"), record("y")]),
            Target { group: Some("bad group!"), stream: None },
        );
        assert_eq!(converted.rejected, 2);
        assert!(converted.streams.is_empty());
        assert!(converted.error.unwrap().contains("bad group!"));
    }

    #[test]
    fn uncorrelated_and_untimed_records() {
        let mut r = record("x");
        r.trace_id = vec![0; 16];
        r.time_unix_nano = 0;
        r.observed_time_unix_nano = 0;
        let converted = convert(&request(vec![], vec![r]), Target::default());
        let event = &converted.streams[0].events[0];
        assert_eq!(event.timestamp_ms, None);
        assert!(!event.message.contains("traceId"));
        assert_eq!(crate::correlation::extract(&event.message), None);
    }
}
