//! Segment documents (spec traces.md §2): parsing, validation and normalization at ingest.
//!
//! A document is kept as JSON (unknown fields preserved) after normalization: ids lower-cased,
//! names stripped of disallowed characters, bad annotation values dropped, `end_time` winning
//! over `in_progress: true`, numeric `content_length` strings converted, `namespace: local`
//! removed. Validation failures carry the ErrorCode of §2.11.

use serde_json::{Map, Value};

use super::ids::{SegmentId, TraceId, seconds_to_ns};

/// `traces.max_document_bytes`' default.
pub const MAX_DOCUMENT_BYTES: usize = 65_536;
const MAX_NAME_CHARS: usize = 200;
const MAX_ANNOTATION_VALUE_CHARS: usize = 1000;
const MAX_ANNOTATION_KEY_CHARS: usize = 500;
/// Subsegment nesting beyond this is refused (a guard for the recursive validator).
const MAX_DEPTH: usize = 64;

/// One stored document: a segment or an independent subsegment, validated and normalized.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDoc {
    pub trace_id: TraceId,
    pub id: SegmentId,
    pub parent_id: Option<SegmentId>,
    /// `"type": "subsegment"` at the top level.
    pub independent: bool,
    pub name: String,
    pub start_ns: i64,
    /// `None` while in progress.
    pub end_ns: Option<i64>,
    /// The normalized document, compact JSON.
    pub json: String,
}

/// Why a document was refused (`UnprocessedTraceSegments` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentError {
    /// `InvalidSegment` or `InvalidTraceId`.
    pub code: &'static str,
    /// The document `id` if readable, else empty.
    pub id: String,
    pub detail: String,
}

impl DocumentError {
    fn segment(id: &str, detail: impl Into<String>) -> Self {
        Self { code: "InvalidSegment", id: id.to_owned(), detail: detail.into() }
    }

    pub fn message(&self) -> String {
        format!("Invalid segment. ErrorCode: {}: {}", self.code, self.detail)
    }
}

/// Parses one document text: an object (segment or independent subsegment) or an array of
/// independent subsegments. Any invalid part refuses the whole text.
pub fn parse_documents(text: &str, max_bytes: usize) -> Result<Vec<SegmentDoc>, DocumentError> {
    let value: Value = serde_json::from_str(text).map_err(|e| DocumentError::segment("", format!("not JSON: {e}")))?;
    let readable_id = |v: &Value| v.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    if text.len() > max_bytes {
        return Err(DocumentError::segment(
            &readable_id(&value),
            format!("document is {} bytes, the limit is {max_bytes}", text.len()),
        ));
    }
    match value {
        Value::Object(map) => Ok(vec![parse_top(map)?]),
        Value::Array(items) if !items.is_empty() => items
            .into_iter()
            .map(|item| match item {
                Value::Object(map) if map.get("type").and_then(Value::as_str) == Some("subsegment") => parse_top(map),
                other => Err(DocumentError::segment(
                    &readable_id(&other),
                    "array documents hold independent subsegments only",
                )),
            })
            .collect(),
        _ => Err(DocumentError::segment("", "a document is a JSON object or an array of subsegments")),
    }
}

fn parse_top(mut map: Map<String, Value>) -> Result<SegmentDoc, DocumentError> {
    let raw_id = map.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let trace_id = map
        .get("trace_id")
        .and_then(Value::as_str)
        .and_then(TraceId::parse_xray)
        .ok_or_else(|| DocumentError { code: "InvalidTraceId", id: raw_id.clone(), detail: "trace_id".into() })?;
    map.insert("trace_id".into(), Value::from(trace_id.to_xray()));
    let independent = match map.get("type") {
        None => false,
        Some(Value::String(t)) => t == "subsegment",
        Some(_) => return Err(DocumentError::segment(&raw_id, "type must be a string")),
    };
    let entity = normalize_entity(&mut map, 0)?;
    if independent && entity.parent_id.is_none() {
        return Err(DocumentError::segment(&raw_id, "an independent subsegment needs parent_id"));
    }
    let json = serde_json::to_string(&Value::Object(map)).expect("JSON values serialize");
    Ok(SegmentDoc {
        trace_id,
        id: entity.id,
        parent_id: entity.parent_id,
        independent,
        name: entity.name,
        start_ns: entity.start_ns,
        end_ns: entity.end_ns,
        json,
    })
}

struct Entity {
    id: SegmentId,
    parent_id: Option<SegmentId>,
    name: String,
    start_ns: i64,
    end_ns: Option<i64>,
}

/// Times beyond this (the year 2255) do not fit the i64 nanoseconds they are stored as.
const MAX_EPOCH_SECONDS: f64 = 9e9;

/// Validates and normalizes one segment or subsegment object in place, recursing into its
/// embedded subsegments.
fn normalize_entity(map: &mut Map<String, Value>, depth: usize) -> Result<Entity, DocumentError> {
    let raw_id = map.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
    let fail = |detail: &str| DocumentError::segment(&raw_id, detail);
    if depth > MAX_DEPTH {
        return Err(fail("subsegments nested too deeply"));
    }
    let id = SegmentId::parse(&raw_id).ok_or_else(|| fail("id must be 16 hex digits, not all zero"))?;
    map.insert("id".into(), Value::from(id.to_string()));
    let raw_name = map.get("name").and_then(Value::as_str).ok_or_else(|| fail("name is required"))?;
    let name = sanitize_name(raw_name);
    if name.is_empty() {
        return Err(fail("name is empty after removing disallowed characters"));
    }
    map.insert("name".into(), Value::from(name.clone()));
    let start = map.get("start_time").and_then(Value::as_f64).filter(|t| t.is_finite());
    let start = start.ok_or_else(|| fail("start_time must be a number"))?;
    if !(0.0..MAX_EPOCH_SECONDS).contains(&start) {
        return Err(fail("start_time must be epoch seconds between 0 and 9e9"));
    }
    let end = match map.get("end_time") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_f64().filter(|t| t.is_finite()).ok_or_else(|| fail("end_time must be a number"))?),
    };
    if end.is_some_and(|end| !(0.0..MAX_EPOCH_SECONDS).contains(&end)) {
        return Err(fail("end_time must be epoch seconds between 0 and 9e9"));
    }
    let in_progress = match map.get("in_progress") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(fail("in_progress must be a boolean")),
    };
    if end.is_none() && !in_progress {
        return Err(fail("end_time or in_progress: true is required"));
    }
    if end.is_some() && in_progress {
        map.insert("in_progress".into(), Value::Bool(false));
    }
    let parent_id = match map.get("parent_id") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let parent =
                v.as_str().and_then(SegmentId::parse).ok_or_else(|| fail("parent_id must be 16 hex digits"))?;
            map.insert("parent_id".into(), Value::from(parent.to_string()));
            Some(parent)
        }
    };
    if map.get("namespace").and_then(Value::as_str) == Some("local") {
        map.remove("namespace");
    }
    if let Some(cause) = map.get_mut("cause") {
        normalize_cause(cause).map_err(&fail)?;
    }
    if let Some(annotations) = map.get_mut("annotations") {
        normalize_annotations(annotations);
    }
    if let Some(Value::Object(http)) = map.get_mut("http")
        && let Some(Value::Object(response)) = http.get_mut("response")
        && let Some(Value::String(length)) = response.get("content_length")
    {
        let parsed = length.trim().parse::<i64>().ok();
        match parsed {
            Some(n) => response.insert("content_length".into(), Value::from(n)),
            None => response.remove("content_length"),
        };
    }
    match map.get_mut("subsegments") {
        None | Some(Value::Null) => {}
        Some(Value::Array(children)) => {
            for child in children {
                let Value::Object(child) = child else {
                    return Err(fail("subsegments must be objects"));
                };
                normalize_entity(child, depth + 1)?;
            }
        }
        Some(_) => return Err(fail("subsegments must be an array")),
    }
    Ok(Entity { id, parent_id, name, start_ns: seconds_to_ns(start), end_ns: end.map(seconds_to_ns) })
}

/// §2.2: Unicode letters, digits, whitespace and `_ . : / % & # = + \ - @`; at most 200 chars.
pub fn sanitize_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || "_.:/%&#=+\\-@".contains(*c))
        .take(MAX_NAME_CHARS)
        .collect()
}

fn normalize_cause(cause: &mut Value) -> Result<(), &'static str> {
    match cause {
        Value::String(id) => {
            let parsed = SegmentId::parse(id).ok_or("cause must be an object or an exception id")?;
            *id = parsed.to_string();
            Ok(())
        }
        Value::Object(map) => {
            match map.get_mut("exceptions") {
                None | Some(Value::Null) => {}
                Some(Value::Array(exceptions)) => {
                    for exception in exceptions {
                        let Value::Object(exception) = exception else {
                            return Err("cause.exceptions must be objects");
                        };
                        let id = exception.get("id").and_then(Value::as_str).and_then(SegmentId::parse);
                        let id = id.ok_or("an exception needs a 16-hex id")?;
                        exception.insert("id".into(), Value::from(id.to_string()));
                        if let Some(stack) = exception.get("stack")
                            && !(stack.is_array() || stack.is_null())
                        {
                            return Err("cause.exceptions[].stack must be an array");
                        }
                    }
                }
                Some(_) => return Err("cause.exceptions must be an array"),
            }
            if let Some(paths) = map.get("paths")
                && !(paths.is_array() || paths.is_null())
            {
                return Err("cause.paths must be an array");
            }
            Ok(())
        }
        _ => Err("cause must be an object or an exception id"),
    }
}

/// §2.7: scalar values only, strings cut at 1000 chars, keys non-empty, ≤ 500 chars, no control
/// characters. Anything else is dropped silently.
fn normalize_annotations(annotations: &mut Value) {
    let Value::Object(map) = annotations else {
        *annotations = Value::Object(Map::new());
        return;
    };
    map.retain(|key, value| {
        let key_ok =
            !key.is_empty() && key.chars().count() <= MAX_ANNOTATION_KEY_CHARS && !key.chars().any(char::is_control);
        key_ok && matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_))
    });
    for value in map.values_mut() {
        if let Value::String(text) = value
            && text.chars().count() > MAX_ANNOTATION_VALUE_CHARS
        {
            *text = text.chars().take(MAX_ANNOTATION_VALUE_CHARS).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A3: &str = r#"{"type":"subsegment","trace_id":"1-65a00010-8c2d4e6f1a3b5c7d9e0f1a2b","parent_id":"2a3b4c5d6e7f8091","id":"5d6e7f8091021324","name":"DynamoDB","namespace":"aws","start_time":1704984592.201,"end_time":1704984592.263,"in_progress":false,"http":{"response":{"status":200,"content_length":2}},"aws":{"operation":"PutItem","region":"us-east-1","request_id":"V2H1KQ0EXAMPLEREQUESTIDAAJG","table_name":"orders","resource_names":["orders"],"retries":0},"annotations":{"order_id":"A-1001","amount_cents":4599,"express":true},"metadata":{"default":{"item_size_bytes":312}}}"#;

    #[test]
    fn independent_subsegment_is_parsed() {
        let docs = parse_documents(A3, MAX_DOCUMENT_BYTES).unwrap();
        let doc = &docs[0];
        assert!(doc.independent);
        assert_eq!(doc.parent_id.unwrap().to_string(), "2a3b4c5d6e7f8091");
        assert_eq!(doc.start_ns, 1_704_984_592_201_000_000);
        assert_eq!(doc.end_ns, Some(1_704_984_592_263_000_000));
        let value: Value = serde_json::from_str(&doc.json).unwrap();
        assert_eq!(value["annotations"]["amount_cents"], 4599);
        assert_eq!(value["metadata"]["default"]["item_size_bytes"], 312);
    }

    #[test]
    fn validation_outcomes() {
        let err = |text: &str| parse_documents(text, MAX_DOCUMENT_BYTES).unwrap_err();
        assert_eq!(err("nope").code, "InvalidSegment");
        assert_eq!(err("nope").id, "");
        let bad_trace = err(r#"{"trace_id":"1-123","id":"53995c3f42cd8ad8","name":"a","start_time":1,"end_time":2}"#);
        assert_eq!((bad_trace.code, bad_trace.id.as_str()), ("InvalidTraceId", "53995c3f42cd8ad8"));
        let base = r#""trace_id":"1-58406520-a006649127e371903a2de979","id":"53995c3f42cd8ad8""#;
        for (body, detail) in [
            (format!(r#"{{{base},"name":"a","start_time":1}}"#), "end_time or in_progress"),
            (format!(r#"{{{base},"name":"?!","start_time":1,"end_time":2}}"#), "name is empty"),
            (format!(r#"{{{base},"name":"a","start_time":"1","end_time":2}}"#), "start_time"),
            // Found by the segment_json fuzz target: a time beyond i64 nanoseconds overflowed.
            (format!(r#"{{{base},"name":"a","start_time":17049845901,"end_time":2}}"#), "start_time must be epoch"),
            (format!(r#"{{{base},"name":"a","start_time":1,"end_time":-2}}"#), "end_time must be epoch"),
            (format!(r#"{{{base},"name":"a","start_time":1,"end_time":1e300}}"#), "end_time must be epoch"),
            (format!(r#"{{{base},"type":"subsegment","name":"a","start_time":1,"end_time":2}}"#), "parent_id"),
            (
                format!(
                    r#"{{{base},"name":"a","start_time":1,"end_time":2,"cause":{{"exceptions":[{{"message":"x"}}]}}}}"#
                ),
                "exception",
            ),
            (
                format!(
                    r#"{{{base},"name":"a","start_time":1,"end_time":2,"subsegments":[{{"id":"1","name":"b","start_time":1,"end_time":2}}]}}"#
                ),
                "id must be",
            ),
        ] {
            let e = err(&body);
            assert_eq!(e.code, "InvalidSegment", "{body}");
            assert!(e.detail.contains(detail), "{body}: {}", e.detail);
            assert!(e.message().starts_with("Invalid segment. ErrorCode: InvalidSegment"));
        }
        let big = format!(
            r#"{{{base},"name":"a","start_time":1,"end_time":2,"metadata":{{"x":{{"y":"{}"}}}}}}"#,
            "z".repeat(70_000)
        );
        assert_eq!(err(&big).id, "53995c3f42cd8ad8");
    }

    #[test]
    fn normalization() {
        let text = r#"{"trace_id":"1-58406520-A006649127e371903a2de979","id":"53995C3F42CD8AD8","name":"my?app*","start_time":1.480615200010E9,"end_time":1480615200.5,"in_progress":true,"namespace":"local","annotations":{"ok":"v","n":null,"o":{},"":1},"http":{"response":{"content_length":"12"}}}"#;
        let doc = parse_documents(text, MAX_DOCUMENT_BYTES).unwrap().remove(0);
        let v: Value = serde_json::from_str(&doc.json).unwrap();
        assert_eq!(v["trace_id"], "1-58406520-a006649127e371903a2de979");
        assert_eq!(v["id"], "53995c3f42cd8ad8");
        assert_eq!(v["name"], "myapp");
        assert_eq!(v["in_progress"], false);
        assert!(v.get("namespace").is_none());
        assert_eq!(v["annotations"], serde_json::json!({"ok": "v"}));
        assert_eq!(v["http"]["response"]["content_length"], 12);
        assert_eq!(doc.start_ns, 1_480_615_200_010_000_000);
        assert!(!doc.independent);
    }
}
