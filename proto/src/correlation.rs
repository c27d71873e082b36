//! Trace ↔ log correlation (spec traces.md §8.5): the trace (and span) a log event belongs to,
//! found in its text. A pure function of the message, so the write path, WAL replay and the
//! rewrite of files written before the trace columns existed all agree.
//!
//! Order (the first match wins): the top-level JSON fields `xrayTraceId`, `xray_trace_id`,
//! `traceId`, `trace_id`, `AWSTraceHeader` (header syntax, `Root`), Lambda's JSON platform
//! records (`record.tracing.value`); then the message patterns: Lambda's REPORT line
//! (`XRAY TraceId: … SegmentId: …`), a trace header `Root=1-…`, a W3C `traceparent`
//! (`00-<32 hex>-<16 hex>-<2 hex>`), a bare X-Ray id.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use crate::json_cursor::Cursor;
use crate::xray::ids::{SegmentId, TraceId};

/// The trace a log event belongs to, and its span (segment) when the text names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TraceLink {
    pub trace_id: TraceId,
    pub span_id: Option<u64>,
}

impl TraceLink {
    fn new(trace_id: TraceId, span_id: Option<u64>) -> Self {
        Self { trace_id, span_id }
    }
}

/// JSON keys that name a trace, in precedence order.
const TRACE_KEYS: [&str; 5] = ["xrayTraceId", "xray_trace_id", "traceId", "trace_id", "AWSTraceHeader"];
/// JSON keys that name the span, read when the trace came from JSON.
const SPAN_KEYS: [&str; 2] = ["spanId", "span_id"];
/// Nesting beyond which a JSON value is not walked (the event then only gets the text rules).
const MAX_DEPTH: usize = 64;

/// Searchers built once (building one per call costs more than most searches).
static RAC: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"rac"));
static REPORT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"XRAY TraceId: "));
static ROOT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"Root="));
static TRACEPARENT: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"00-"));
static XRAY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"1-"));

/// The trace `message` belongs to, if it names one.
pub fn extract(message: &str) -> Option<TraceLink> {
    let trimmed = message.trim_start_matches([' ', '\t', '\n', '\r']);
    if trimmed.starts_with('{')
        && RAC.find(trimmed.as_bytes()).is_some()
        && let Some(link) = from_json(trimmed)
    {
        return Some(link);
    }
    from_text(message)
}

/// The top-level fields of a JSON object (nothing if it is not one).
fn from_json(text: &str) -> Option<TraceLink> {
    let mut cursor = Cursor::new(text);
    cursor.eat(b'{')?;
    let mut traces: [Option<Cow<'_, str>>; 5] = Default::default();
    let mut spans: [Option<Cow<'_, str>>; 2] = Default::default();
    let mut record: Option<&str> = None;
    cursor.skip_ws();
    if cursor.peek() == Some(b'}') {
        return None;
    }
    loop {
        cursor.skip_ws();
        let key = cursor.string()?;
        cursor.eat(b':')?;
        cursor.skip_ws();
        let start = cursor.pos;
        let trace_slot = TRACE_KEYS.iter().position(|k| *k == key);
        let span_slot = SPAN_KEYS.iter().position(|k| *k == key);
        if (trace_slot.is_some() || span_slot.is_some()) && cursor.peek() == Some(b'"') {
            let value = cursor.string()?;
            if let Some(i) = trace_slot {
                traces[i].get_or_insert(value);
            } else if let Some(i) = span_slot {
                spans[i].get_or_insert(value);
            }
        } else {
            skip_value(&mut cursor, 0)?;
            if key == "record" {
                record = Some(&text[start..cursor.pos]);
            }
        }
        if cursor.eat(b',').is_none() {
            break;
        }
    }
    for (i, value) in traces.iter().enumerate() {
        let Some(value) = value else { continue };
        let found = if TRACE_KEYS[i] == "AWSTraceHeader" {
            header_link(value)
        } else {
            let span = spans.iter().flatten().find_map(|s| SegmentId::parse(s)).map(|s| s.0);
            TraceId::parse_any(value).map(|id| TraceLink::new(id, span)).or_else(|| header_link(value))
        };
        if found.is_some() {
            return found;
        }
    }
    record.and_then(lambda_record)
}

/// Lambda's JSON platform records: `record.tracing{type, value: "Root=…;Parent=…", spanId}`.
fn lambda_record(text: &str) -> Option<TraceLink> {
    let record: serde_json::Value = serde_json::from_str(text).ok()?;
    let tracing = record.get("tracing")?;
    let mut link = header_link(tracing.get("value")?.as_str()?)?;
    if let Some(span) = tracing.get("spanId").and_then(|s| s.as_str()).and_then(SegmentId::parse) {
        link.span_id = Some(span.0);
    }
    Some(link)
}

/// A trace header (`Root=1-…;Parent=…;Sampled=…`): its root and parent.
fn header_link(header: &str) -> Option<TraceLink> {
    let mut root = None;
    let mut parent = None;
    for part in header.split(';') {
        let Some((key, value)) = part.trim().split_once('=') else { continue };
        match key.trim() {
            "Root" => root = TraceId::parse_header_root(value.trim()),
            "Parent" => parent = SegmentId::parse(value.trim()).map(|s| s.0),
            _ => {}
        }
    }
    Some(TraceLink::new(root?, parent))
}

/// Steps over one JSON value.
fn skip_value(cursor: &mut Cursor<'_>, depth: usize) -> Option<()> {
    if depth > MAX_DEPTH {
        return None;
    }
    cursor.skip_ws();
    match cursor.peek()? {
        b'"' => cursor.string().map(drop),
        b'{' => {
            cursor.pos += 1;
            if cursor.eat(b'}').is_some() {
                return Some(());
            }
            loop {
                cursor.skip_ws();
                cursor.string()?;
                cursor.eat(b':')?;
                skip_value(cursor, depth + 1)?;
                if cursor.eat(b',').is_none() {
                    return cursor.eat(b'}');
                }
            }
        }
        b'[' => {
            cursor.pos += 1;
            if cursor.eat(b']').is_some() {
                return Some(());
            }
            loop {
                skip_value(cursor, depth + 1)?;
                if cursor.eat(b',').is_none() {
                    return cursor.eat(b']');
                }
            }
        }
        b't' => cursor.literal("true"),
        b'f' => cursor.literal("false"),
        b'n' => cursor.literal("null"),
        _ => cursor.number().map(drop),
    }
}

fn is_lower_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_word(byte: Option<&u8>) -> bool {
    byte.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_')
}

/// `1-<8 hex>-<24 hex>` at the start of `bytes`.
fn xray_at(bytes: &[u8]) -> Option<TraceId> {
    let id = bytes.get(..35)?;
    if !(id.starts_with(b"1-") && id[10] == b'-' && is_lower_hex(&id[2..10]) && is_lower_hex(&id[11..])) {
        return None;
    }
    TraceId::parse_xray(std::str::from_utf8(id).ok()?)
}

fn segment_at(bytes: &[u8]) -> Option<u64> {
    let id = bytes.get(..16)?;
    if !is_lower_hex(id) {
        return None;
    }
    SegmentId::parse(std::str::from_utf8(id).ok()?).map(|s| s.0)
}

/// The message patterns, in order.
fn from_text(message: &str) -> Option<TraceLink> {
    let bytes = message.as_bytes();
    // Lambda's REPORT line.
    for at in REPORT.find_iter(bytes) {
        let rest = &bytes[at + REPORT.needle().len()..];
        if let Some(trace) = xray_at(rest) {
            let span = rest[35..].strip_prefix(b"\tSegmentId: ").and_then(segment_at);
            return Some(TraceLink::new(trace, span));
        }
    }
    // A trace header.
    for at in ROOT.find_iter(bytes) {
        let rest = &bytes[at + 5..];
        if let Some(trace) = xray_at(rest) {
            let tail = &message[at + 5 + 35..];
            let header_end = tail.find(|c: char| c.is_whitespace() || c == '"' || c == ',').unwrap_or(tail.len());
            let parent = tail[..header_end]
                .split(';')
                .find_map(|part| part.trim().strip_prefix("Parent="))
                .and_then(|p| segment_at(p.as_bytes()));
            return Some(TraceLink::new(trace, parent));
        }
    }
    // A W3C traceparent.
    for at in TRACEPARENT.find_iter(bytes) {
        let Some(rest) = bytes.get(at + 3..at + 3 + 52) else { break };
        if rest[32] == b'-'
            && rest[49] == b'-'
            && is_lower_hex(&rest[..32])
            && is_lower_hex(&rest[33..49])
            && is_lower_hex(&rest[50..52])
            && let Some(trace) = std::str::from_utf8(&rest[..32]).ok().and_then(TraceId::parse_hex)
        {
            let span = segment_at(&rest[33..49]);
            return Some(TraceLink::new(trace, span));
        }
    }
    // A bare X-Ray id.
    for at in XRAY.find_iter(bytes) {
        if at > 0 && is_word(bytes.get(at - 1)) {
            continue;
        }
        if let Some(trace) = xray_at(&bytes[at..])
            && !is_word(bytes.get(at + 35))
        {
            return Some(TraceLink::new(trace, None));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const XRAY: &str = "1-5759e988-bd862e3fe1be46a994272793";
    const HEX: &str = "5759e988bd862e3fe1be46a994272793";

    fn trace(message: &str) -> Option<(String, Option<String>)> {
        extract(message).map(|l| (l.trace_id.to_xray(), l.span_id.map(|s| format!("{s:016x}"))))
    }

    #[test]
    fn json_fields_in_precedence_order() {
        let other = "1-5759e988-000000000000000000000001";
        let msg = format!(r#"{{"traceId":"{HEX}","spanId":"53995c3f42cd8ad8","xrayTraceId":"{other}"}}"#);
        assert_eq!(trace(&msg), Some((other.into(), Some("53995c3f42cd8ad8".into()))));
        let msg = format!(r#"{{"level":"info","nested":{{"traceId":"x"}},"trace_id":"{HEX}"}}"#);
        assert_eq!(trace(&msg), Some((XRAY.into(), None)));
        let msg = format!(r#"{{"AWSTraceHeader":"Root={XRAY};Parent=53995c3f42cd8ad8;Sampled=1"}}"#);
        assert_eq!(trace(&msg), Some((XRAY.into(), Some("53995c3f42cd8ad8".into()))));
        // An invalid value falls through to the next key, then to the text.
        let msg = format!(r#"{{"traceId":"nope","msg":"see {XRAY}"}}"#);
        assert_eq!(trace(&msg), Some((XRAY.into(), None)));
    }

    #[test]
    fn lambda_platform_records() {
        let msg = format!(
            r#"{{"time":"2026-11-21T10:00:00.000Z","type":"platform.report","record":{{"requestId":"r","tracing":{{"type":"X-Amzn-Trace-Id","value":"Root={XRAY};Parent=53995c3f42cd8ad8;Sampled=1","spanId":"1111222233334444"}}}}}}"#
        );
        assert_eq!(trace(&msg), Some((XRAY.into(), Some("1111222233334444".into()))));
    }

    #[test]
    fn text_patterns() {
        let report = format!(
            "REPORT RequestId: 6f7f0961\tDuration: 2.00 ms\tXRAY TraceId: {XRAY}\tSegmentId: 53995c3f42cd8ad8\tSampled: true\n"
        );
        assert_eq!(trace(&report), Some((XRAY.into(), Some("53995c3f42cd8ad8".into()))));
        let header = format!("handling X-Amzn-Trace-Id: Root={XRAY};Parent=53995c3f42cd8ad8;Sampled=1 done");
        assert_eq!(trace(&header), Some((XRAY.into(), Some("53995c3f42cd8ad8".into()))));
        let w3c = format!("traceparent=00-{HEX}-53995c3f42cd8ad8-01 ok");
        assert_eq!(trace(&w3c), Some((XRAY.into(), Some("53995c3f42cd8ad8".into()))));
        assert_eq!(trace(&format!("error in {XRAY}.")), Some((XRAY.into(), None)));
    }

    #[test]
    fn no_trace() {
        for msg in [
            "plain text",
            "x1-5759e988-bd862e3fe1be46a994272793",
            "1-5759e988-bd862e3fe1be46a99427279",
            "1-5759e988-bd862e3fe1be46a9942727930",
            "1-5759E988-BD862E3FE1BE46A994272793",
            r#"{"traceId": 12}"#,
            "00-00000000000000000000000000000000-53995c3f42cd8ad8-01",
            "{",
        ] {
            assert_eq!(trace(msg), None, "{msg}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = extract(&s);
        }

        #[test]
        fn never_panics_on_json_like_input(s in "[{}\\[\\]\":,a-f0-9tr_ITRoace=;\\- ]{0,120}") {
            let _ = extract(&s);
        }
    }
}
