//! The three CloudWatch wire protocols over one canonical input/output form
//! (spec metrics-alarms.md §1.3–§1.7).
//!
//! Every request is decoded, by walking the operation's input shape, into a JSON object with
//! the model's member names: doubles are numbers (non-finite ones the strings `NaN`,
//! `Infinity`, `-Infinity`), integers are integers, timestamps are epoch seconds, and members
//! the shape does not know are dropped. Operations read that form and answer in the same
//! form; the encoders walk the output shape to write JSON, CBOR or XML.

use std::collections::BTreeMap;

use serde_json::{Map, Number, Value};

use super::error::CwError;
use super::model::{MODEL, Shape, ShapeKind};
use super::number::java_double;

/// Which protocol a request came in, and so which one the response goes out in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Query,
    Json,
    Cbor,
}

/// Most nesting a request may have (the deepest input shape has 6 levels).
const MAX_DEPTH: usize = 32;

// ---------------------------------------------------------------------------------------------
// Decoding

/// An AWS JSON 1.0 body (empty = no members).
pub fn decode_json(shape: &str, body: &[u8]) -> Result<Value, CwError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Object(Map::new()));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| CwError::serialization(format!("The request body is not valid JSON: {e}")))?;
    if !value.is_object() {
        return Err(CwError::serialization("The request body must be a JSON object"));
    }
    Ok(normalize(shape, value, &mut Vec::new())?.unwrap_or_else(|| Value::Object(Map::new())))
}

/// A Smithy RPC v2 CBOR body (empty = no members).
pub fn decode_cbor(shape: &str, body: &[u8]) -> Result<Value, CwError> {
    if body.is_empty() {
        return Ok(Value::Object(Map::new()));
    }
    let mut reader = body;
    let value: ciborium::Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, MAX_DEPTH)
        .map_err(|e| CwError::serialization(format!("The request body is not valid CBOR: {e}")))?;
    if !reader.is_empty() {
        return Err(CwError::serialization("Trailing bytes after the CBOR request body"));
    }
    let value = cbor_to_json(value)?;
    if !value.is_object() {
        return Err(CwError::serialization("The request body must be a CBOR map"));
    }
    Ok(normalize(shape, value, &mut Vec::new())?.unwrap_or_else(|| Value::Object(Map::new())))
}

fn cbor_to_json(value: ciborium::Value) -> Result<Value, CwError> {
    use ciborium::Value as C;
    Ok(match value {
        C::Null => Value::Null,
        C::Bool(b) => Value::Bool(b),
        C::Integer(i) => {
            let i = i128::from(i);
            match i64::try_from(i) {
                Ok(i) => Value::Number(i.into()),
                Err(_) => float(i as f64),
            }
        }
        C::Float(f) => float(f),
        C::Text(s) => Value::String(s),
        C::Bytes(b) => Value::String(String::from_utf8_lossy(&b).into_owned()),
        C::Array(items) => Value::Array(items.into_iter().map(cbor_to_json).collect::<Result<_, _>>()?),
        C::Map(entries) => {
            let mut map = Map::new();
            for (key, value) in entries {
                let C::Text(key) = key else {
                    return Err(CwError::serialization("CBOR map keys must be text strings"));
                };
                map.insert(key, cbor_to_json(value)?);
            }
            Value::Object(map)
        }
        // Tag 1 is an epoch-seconds timestamp; the shape walk reads the number inside.
        C::Tag(1, inner) => cbor_to_json(*inner)?,
        C::Tag(tag, _) => return Err(CwError::serialization(format!("Unsupported CBOR tag {tag}"))),
        _ => return Err(CwError::serialization("Unsupported CBOR value")),
    })
}

/// A double in canonical form: a number, or the text AWS uses for a non-finite value.
pub fn float(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".into()),
        None if f > 0.0 => Value::String("Infinity".into()),
        None => Value::String("-Infinity".into()),
    }
}

/// Reads a canonical double (`float`'s inverse).
pub fn as_f64(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

fn mismatch(path: &[String], expected: &str) -> CwError {
    CwError::serialization(format!("Expected {expected} for {}", render_json_path(path)))
}

fn render_json_path(path: &[String]) -> String {
    if path.is_empty() { "the request".to_owned() } else { path.join(".") }
}

/// Walks a decoded JSON (or CBOR) value along `shape`: types checked, unknown members and
/// nulls dropped, scalars put in canonical form.
fn normalize(shape_name: &str, value: Value, path: &mut Vec<String>) -> Result<Option<Value>, CwError> {
    if value.is_null() {
        return Ok(None);
    }
    if path.len() > MAX_DEPTH {
        return Err(CwError::serialization("The request nests too deeply"));
    }
    let shape = MODEL.shape(shape_name);
    let out = match shape.kind {
        ShapeKind::Structure => {
            let Value::Object(mut object) = value else { return Err(mismatch(path, "an object")) };
            let mut out = Map::new();
            for (member, member_shape) in &shape.members {
                if let Some(v) = object.remove(member) {
                    path.push(member.clone());
                    let normalized = normalize(member_shape, v, path)?;
                    path.pop();
                    if let Some(v) = normalized {
                        out.insert(member.clone(), v);
                    }
                }
            }
            Value::Object(out)
        }
        ShapeKind::List => {
            let Value::Array(items) = value else { return Err(mismatch(path, "a list")) };
            let member = shape.member.as_deref().expect("lists have a member shape");
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.into_iter().enumerate() {
                path.push(i.to_string());
                let normalized = normalize(member, item, path)?;
                path.pop();
                out.extend(normalized);
            }
            Value::Array(out)
        }
        ShapeKind::Map => {
            let Value::Object(object) = value else { return Err(mismatch(path, "a map")) };
            let value_shape = shape.value.as_deref().expect("maps have a value shape");
            let mut out = Map::new();
            for (k, v) in object {
                path.push(k.clone());
                let normalized = normalize(value_shape, v, path)?;
                path.pop();
                if let Some(v) = normalized {
                    out.insert(k, v);
                }
            }
            Value::Object(out)
        }
        ShapeKind::String | ShapeKind::Blob => match value {
            Value::String(_) => value,
            _ => return Err(mismatch(path, "a string")),
        },
        ShapeKind::Boolean => match value {
            Value::Bool(_) => value,
            _ => return Err(mismatch(path, "a boolean")),
        },
        ShapeKind::Integer | ShapeKind::Long => match &value {
            Value::Number(n) if n.is_i64() || n.is_u64() => value,
            Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0 && f.abs() < 9.0e15) => {
                Value::Number((n.as_f64().expect("checked") as i64).into())
            }
            _ => return Err(mismatch(path, "an integer")),
        },
        ShapeKind::Double => match &value {
            Value::Number(n) => float(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(_) if as_f64(&value).is_some() => value,
            _ => return Err(mismatch(path, "a number")),
        },
        ShapeKind::Timestamp => match &value {
            Value::Number(n) => float(n.as_f64().unwrap_or(f64::NAN)),
            Value::String(s) => match parse_timestamp(s) {
                Some(seconds) => float(seconds),
                None => return Err(mismatch(path, "a timestamp")),
            },
            _ => return Err(mismatch(path, "a timestamp")),
        },
    };
    Ok(Some(out))
}

/// ISO 8601 (`2025-01-15T12:00:00Z`, fractions, offsets) or epoch seconds, as epoch seconds.
pub fn parse_timestamp(text: &str) -> Option<f64> {
    if let Ok(seconds) = text.parse::<f64>() {
        return seconds.is_finite().then_some(seconds);
    }
    let parsed = chrono::DateTime::parse_from_rfc3339(text)
        .ok()
        .or_else(|| chrono::DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z").ok())?;
    Some(parsed.timestamp() as f64 + f64::from(parsed.timestamp_subsec_nanos()) / 1e9)
}

/// The parameters of an awsQuery request, keyed by their dotted paths.
#[derive(Debug, Default)]
struct Node {
    value: Option<String>,
    children: BTreeMap<String, Node>,
}

/// Decodes awsQuery parameters (already split from the form) along `shape` (§1.5.1).
pub fn decode_query(shape: &str, params: &[(String, String)]) -> Result<Value, CwError> {
    let mut root = Node::default();
    for (key, value) in params {
        if key == "Action" || key == "Version" {
            continue;
        }
        let mut node = &mut root;
        for (depth, part) in key.split('.').enumerate() {
            if depth > MAX_DEPTH {
                break;
            }
            node = node.children.entry(part.to_owned()).or_default();
        }
        // A duplicate key keeps the last value.
        node.value = Some(value.clone());
    }
    let mut path = String::new();
    Ok(query_value(shape, &root, &mut path)?.unwrap_or_else(|| Value::Object(Map::new())))
}

/// The numbered children of a node (`member.N`, `entry.N`), in numeric order, with their keys.
fn indexed(node: &Node) -> Vec<(&str, &Node)> {
    let mut items: Vec<(u64, &str, &Node)> =
        node.children.iter().filter_map(|(k, child)| k.parse::<u64>().ok().map(|i| (i, k.as_str(), child))).collect();
    items.sort_by_key(|(i, _, _)| *i);
    items.into_iter().map(|(_, k, child)| (k, child)).collect()
}

fn query_value(shape_name: &str, node: &Node, path: &mut String) -> Result<Option<Value>, CwError> {
    let shape = MODEL.shape(shape_name);
    let scalar = |convert: &dyn Fn(&str) -> Option<Value>| -> Result<Option<Value>, CwError> {
        match &node.value {
            None => Ok(None),
            Some(text) => convert(text).map(Some).ok_or_else(|| CwError::invalid_parameter(text, &path)),
        }
    };
    Ok(match shape.kind {
        ShapeKind::Structure => {
            if node.children.is_empty() {
                return Ok(None);
            }
            let mut out = Map::new();
            for (member, member_shape) in &shape.members {
                if let Some(child) = node.children.get(member) {
                    let len = path.len();
                    if !path.is_empty() {
                        path.push('.');
                    }
                    path.push_str(member);
                    let value = query_value(member_shape, child, path)?;
                    path.truncate(len);
                    if let Some(value) = value {
                        out.insert(member.clone(), value);
                    }
                }
            }
            Some(Value::Object(out))
        }
        ShapeKind::List => {
            let member_shape = shape.member.as_deref().expect("lists have a member shape");
            match node.children.get("member") {
                None if node.value.is_some() => Some(Value::Array(Vec::new())),
                None => None,
                Some(members) => {
                    let mut out = Vec::new();
                    let len = path.len();
                    for (key, child) in indexed(members) {
                        path.push_str(".member.");
                        path.push_str(key);
                        let value = query_value(member_shape, child, path)?;
                        path.truncate(len);
                        out.extend(value);
                    }
                    Some(Value::Array(out))
                }
            }
        }
        ShapeKind::Map => {
            let key_shape = shape.key.as_deref().expect("maps have a key shape");
            let value_shape = shape.value.as_deref().expect("maps have a value shape");
            match node.children.get("entry") {
                None if node.value.is_some() => Some(Value::Object(Map::new())),
                None => None,
                Some(entries) => {
                    let mut out = Map::new();
                    let len = path.len();
                    for (_, entry) in indexed(entries) {
                        let key = entry.children.get("key").map(|k| query_value(key_shape, k, path)).transpose()?;
                        let value =
                            entry.children.get("value").map(|v| query_value(value_shape, v, path)).transpose()?;
                        path.truncate(len);
                        if let (Some(Some(Value::String(k))), Some(Some(v))) = (key, value) {
                            out.insert(k, v);
                        }
                    }
                    Some(Value::Object(out))
                }
            }
        }
        ShapeKind::String | ShapeKind::Blob => scalar(&|t| Some(Value::String(t.to_owned())))?,
        ShapeKind::Boolean => scalar(&|t| match t {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        })?,
        ShapeKind::Integer | ShapeKind::Long => {
            scalar(&|t| t.trim().parse::<i64>().ok().map(|i| Value::Number(i.into())))?
        }
        ShapeKind::Double => scalar(&|t| parse_double(t).map(float))?,
        ShapeKind::Timestamp => scalar(&|t| parse_timestamp(t).map(float))?,
    })
}

/// Decimal text as Python's `str(float)` writes it, including `NaN` and `±Infinity`.
fn parse_double(text: &str) -> Option<f64> {
    match text.trim() {
        "NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        t if t.chars().any(|c| c.is_ascii_alphabetic() && !matches!(c, 'e' | 'E')) => None,
        t => t.parse().ok(),
    }
}

// ---------------------------------------------------------------------------------------------
// Model constraints

/// Checks required members, lengths, ranges, enums and patterns; every violation is listed in
/// one `ValidationError` (§1.8).
pub fn validate(shape: &str, value: &Value) -> Result<(), CwError> {
    let mut violations = Vec::new();
    check(shape, Some(value), &mut String::new(), &mut violations);
    if violations.is_empty() {
        return Ok(());
    }
    let head = if violations.len() == 1 {
        "1 validation error detected: ".to_owned()
    } else {
        format!("{} validation errors detected: ", violations.len())
    };
    Err(CwError::validation(head + &violations.join("; ")))
}

fn lower_camel(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => format!("[{}]", items.iter().map(render).collect::<Vec<_>>().join(", ")),
        Value::Object(_) => "{...}".to_owned(),
        Value::Null => "null".to_owned(),
    }
}

static PATTERNS: std::sync::LazyLock<PatternCache> = std::sync::LazyLock::new(Default::default);

/// Compiled model patterns (`None`: the pattern uses syntax the regex crate lacks, and is not
/// checked).
#[derive(Default)]
struct PatternCache(std::sync::Mutex<std::collections::HashMap<String, Option<regex::Regex>>>);

impl PatternCache {
    fn matches(&self, pattern: &str, text: &str) -> bool {
        let mut cache = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let regex =
            cache.entry(pattern.to_owned()).or_insert_with(|| regex::Regex::new(&format!("^(?:{pattern})$")).ok());
        regex.as_ref().is_none_or(|r| r.is_match(text))
    }
}

fn check(shape_name: &str, value: Option<&Value>, path: &mut String, out: &mut Vec<String>) {
    let shape: &Shape = MODEL.shape(shape_name);
    let Some(value) = value else { return };
    let fail = |out: &mut Vec<String>, path: &str, constraint: String| {
        out.push(format!("Value '{}' at '{}' failed to satisfy constraint: {constraint}", render(value), path));
    };
    match shape.kind {
        ShapeKind::Structure => {
            let Value::Object(object) = value else { return };
            for (member, member_shape) in &shape.members {
                let len = path.len();
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(&lower_camel(member));
                match object.get(member) {
                    None if shape.required.contains(member) => out
                        .push(format!("Value null at '{path}' failed to satisfy constraint: Member must not be null")),
                    v => check(member_shape, v, path, out),
                }
                path.truncate(len);
            }
        }
        ShapeKind::List => {
            let Value::Array(items) = value else { return };
            if let Some(max) = shape.max
                && items.len() as f64 > max
            {
                fail(out, path, format!("Member must have length less than or equal to {max}"));
            }
            if let Some(min) = shape.min
                && (items.len() as f64) < min
            {
                fail(out, path, format!("Member must have length greater than or equal to {min}"));
            }
            let member = shape.member.as_deref().expect("lists have a member shape");
            if matches!(MODEL.shape(member).kind, ShapeKind::Structure | ShapeKind::List | ShapeKind::Map)
                || MODEL.shape(member).enum_values.is_some()
                || MODEL.shape(member).min.is_some()
                || MODEL.shape(member).max.is_some()
                || MODEL.shape(member).pattern.is_some()
            {
                for (i, item) in items.iter().enumerate() {
                    let len = path.len();
                    path.push_str(&format!(".{}.member", i + 1));
                    check(member, Some(item), path, out);
                    path.truncate(len);
                }
            }
        }
        ShapeKind::Map => {
            let Value::Object(object) = value else { return };
            if let Some(max) = shape.max
                && object.len() as f64 > max
            {
                fail(out, path, format!("Member must have length less than or equal to {max}"));
            }
            if let Some(min) = shape.min
                && (object.len() as f64) < min
            {
                fail(out, path, format!("Member must have length greater than or equal to {min}"));
            }
        }
        ShapeKind::String => {
            let Value::String(text) = value else { return };
            let chars = text.chars().count() as f64;
            if let Some(max) = shape.max
                && chars > max
            {
                fail(out, path, format!("Member must have length less than or equal to {max}"));
            }
            if let Some(min) = shape.min
                && chars < min
            {
                fail(out, path, format!("Member must have length greater than or equal to {min}"));
            }
            if let Some(values) = &shape.enum_values
                && !values.contains(text)
            {
                fail(out, path, format!("Member must satisfy enum value set: [{}]", values.join(", ")));
            }
            if let Some(pattern) = &shape.pattern
                && !PATTERNS.matches(pattern, text)
            {
                fail(out, path, format!("Member must satisfy regular expression pattern: {pattern}"));
            }
        }
        ShapeKind::Integer | ShapeKind::Long => {
            let Some(n) = value.as_f64() else { return };
            if let Some(min) = shape.min
                && n < min
            {
                fail(out, path, format!("Member must have value greater than or equal to {min}"));
            }
            if let Some(max) = shape.max
                && n > max
            {
                fail(out, path, format!("Member must have value less than or equal to {max}"));
            }
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding

/// An AWS JSON 1.0 response body: `{}` for operations without output.
pub fn encode_json(shape: Option<&str>, value: &Value) -> Vec<u8> {
    match shape {
        None => b"{}".to_vec(),
        Some(shape) => serde_json::to_vec(&json_out(shape, value)).expect("JSON values serialize"),
    }
}

fn json_out(shape_name: &str, value: &Value) -> Value {
    let shape = MODEL.shape(shape_name);
    match (shape.kind, value) {
        (ShapeKind::Structure, Value::Object(object)) => {
            let mut out = Map::new();
            for (member, v) in object {
                if let Some(member_shape) = shape.member(member).filter(|_| !v.is_null()) {
                    out.insert(member.clone(), json_out(member_shape, v));
                }
            }
            Value::Object(out)
        }
        (ShapeKind::List, Value::Array(items)) => {
            let member = shape.member.as_deref().expect("lists have a member shape");
            Value::Array(items.iter().map(|i| json_out(member, i)).collect())
        }
        (ShapeKind::Map, Value::Object(object)) => {
            let value_shape = shape.value.as_deref().expect("maps have a value shape");
            Value::Object(object.iter().map(|(k, v)| (k.clone(), json_out(value_shape, v))).collect())
        }
        (ShapeKind::Double | ShapeKind::Timestamp, Value::Number(n)) => {
            Number::from_f64(n.as_f64().unwrap_or_default()).map_or(Value::Null, Value::Number)
        }
        _ => value.clone(),
    }
}

/// A CBOR response body: empty for operations without output (§1.7.2).
pub fn encode_cbor(shape: Option<&str>, value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(shape) = shape {
        cbor_out(shape, value, &mut out);
    }
    out
}

fn cbor_head(out: &mut Vec<u8>, major: u8, n: u64) {
    let major = major << 5;
    match n {
        0..=23 => out.push(major | n as u8),
        24..=0xff => out.extend_from_slice(&[major | 24, n as u8]),
        0x100..=0xffff => {
            out.push(major | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        0x1_0000..=0xffff_ffff => {
            out.push(major | 26);
            out.extend_from_slice(&(n as u32).to_be_bytes());
        }
        _ => {
            out.push(major | 27);
            out.extend_from_slice(&n.to_be_bytes());
        }
    }
}

fn cbor_text(out: &mut Vec<u8>, text: &str) {
    cbor_head(out, 3, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

fn cbor_f64(out: &mut Vec<u8>, f: f64) {
    out.push(0xfb);
    out.extend_from_slice(&f.to_bits().to_be_bytes());
}

/// Writes `value` along `shape`: definite lengths, float64 doubles, tag-1 timestamps.
pub fn cbor_out(shape_name: &str, value: &Value, out: &mut Vec<u8>) {
    let shape = MODEL.shape(shape_name);
    match (shape.kind, value) {
        (ShapeKind::Structure, Value::Object(object)) => {
            // In the value's own order (operations build it in model order).
            let present: Vec<_> = object
                .iter()
                .filter(|(_, v)| !v.is_null())
                .filter_map(|(m, v)| shape.member(m).map(|s| (m, s, v)))
                .collect();
            cbor_head(out, 5, present.len() as u64);
            for (member, member_shape, v) in present {
                cbor_text(out, member);
                cbor_out(member_shape, v, out);
            }
        }
        (ShapeKind::List, Value::Array(items)) => {
            let member = shape.member.as_deref().expect("lists have a member shape");
            cbor_head(out, 4, items.len() as u64);
            for item in items {
                cbor_out(member, item, out);
            }
        }
        (ShapeKind::Map, Value::Object(object)) => {
            let value_shape = shape.value.as_deref().expect("maps have a value shape");
            cbor_head(out, 5, object.len() as u64);
            for (k, v) in object {
                cbor_text(out, k);
                cbor_out(value_shape, v, out);
            }
        }
        (ShapeKind::Timestamp, v) => {
            out.push(0xc1);
            cbor_f64(out, as_f64(v).unwrap_or_default());
        }
        (ShapeKind::Double, v) => cbor_f64(out, as_f64(v).unwrap_or_default()),
        (ShapeKind::Integer | ShapeKind::Long, Value::Number(n)) => match n.as_i64() {
            Some(i) if i < 0 => cbor_head(out, 1, (-1 - i) as u64),
            Some(i) => cbor_head(out, 0, i as u64),
            None => cbor_head(out, 0, n.as_u64().unwrap_or_default()),
        },
        (_, Value::Bool(b)) => out.push(if *b { 0xf5 } else { 0xf4 }),
        (_, Value::String(s)) => cbor_text(out, s),
        (_, Value::Number(n)) => cbor_f64(out, n.as_f64().unwrap_or_default()),
        _ => out.push(0xf6),
    }
}

/// An ISO 8601 UTC timestamp with milliseconds, as awsQuery responses carry them.
pub fn iso_millis(seconds: f64) -> String {
    let ms = (seconds * 1000.0).round() as i64;
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

pub fn xml_escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

/// An awsQuery response document (§1.5.2).
pub fn encode_xml(operation: &str, shape: Option<&str>, value: &Value, request_id: &str) -> String {
    let namespace = &MODEL.metadata.xml_namespace;
    let mut out = format!("<{operation}Response xmlns=\"{namespace}\">");
    if let Some(shape) = shape {
        if MODEL.shape(shape).members.is_empty() {
            out.push_str(&format!("<{operation}Result/>"));
        } else {
            out.push_str(&format!("<{operation}Result>"));
            xml_members(shape, value, &mut out);
            out.push_str(&format!("</{operation}Result>"));
        }
    }
    out.push_str(&format!(
        "<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{operation}Response>"
    ));
    out
}

fn xml_members(shape_name: &str, value: &Value, out: &mut String) {
    let shape = MODEL.shape(shape_name);
    let Value::Object(object) = value else { return };
    for (member, v) in object {
        if let Some(member_shape) = shape.member(member).filter(|_| !v.is_null()) {
            xml_element(member, member_shape, v, out);
        }
    }
}

fn xml_element(name: &str, shape_name: &str, value: &Value, out: &mut String) {
    let shape = MODEL.shape(shape_name);
    match (shape.kind, value) {
        (ShapeKind::List, Value::Array(items)) if items.is_empty() => out.push_str(&format!("<{name}/>")),
        (ShapeKind::List, Value::Array(items)) => {
            let member = shape.member.as_deref().expect("lists have a member shape");
            out.push_str(&format!("<{name}>"));
            for item in items {
                xml_element("member", member, item, out);
            }
            out.push_str(&format!("</{name}>"));
        }
        (ShapeKind::Map, Value::Object(object)) => {
            let value_shape = shape.value.as_deref().expect("maps have a value shape");
            out.push_str(&format!("<{name}>"));
            for (k, v) in object {
                out.push_str("<entry><key>");
                xml_escape(k, out);
                out.push_str("</key>");
                xml_element("value", value_shape, v, out);
                out.push_str("</entry>");
            }
            out.push_str(&format!("</{name}>"));
        }
        (ShapeKind::Structure, _) => {
            out.push_str(&format!("<{name}>"));
            xml_members(shape_name, value, out);
            out.push_str(&format!("</{name}>"));
        }
        (kind, v) => {
            out.push_str(&format!("<{name}>"));
            match (kind, v) {
                (ShapeKind::Timestamp, v) => out.push_str(&iso_millis(as_f64(v).unwrap_or_default())),
                (ShapeKind::Double, v) => out.push_str(&java_double(as_f64(v).unwrap_or_default())),
                (_, Value::String(s)) => xml_escape(s, out),
                (_, other) => out.push_str(&other.to_string()),
            }
            out.push_str(&format!("</{name}>"));
        }
    }
}

/// An awsQuery error document (§1.5.3).
pub fn encode_xml_error(error: &CwError, request_id: &str) -> String {
    let mut message = String::new();
    xml_escape(&error.message, &mut message);
    format!(
        "<ErrorResponse xmlns=\"{}\"><Error><Type>{}</Type><Code>{}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
        MODEL.metadata.xml_namespace,
        error.fault(),
        error.code,
    )
}

/// The JSON error body (§1.6.3).
pub fn encode_json_error(error: &CwError) -> Vec<u8> {
    let mut body = Map::new();
    body.insert("__type".into(), Value::String(error.type_name()));
    body.insert(error.message_key().into(), Value::String(error.message.clone()));
    serde_json::to_vec(&Value::Object(body)).expect("JSON values serialize")
}

/// The CBOR error body (§1.7.3).
pub fn encode_cbor_error(error: &CwError) -> Vec<u8> {
    let mut out = Vec::new();
    cbor_head(&mut out, 5, 2);
    cbor_text(&mut out, "__type");
    cbor_text(&mut out, &error.type_name());
    cbor_text(&mut out, error.message_key());
    cbor_text(&mut out, &error.message);
    out
}
