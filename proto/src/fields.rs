//! Fields discovered in a log event's message, as Logs Insights sees them: JSON members
//! flattened to dotted names (insights.md §2.3) and the fields of Lambda's platform lines (§2.4,
//! logs.md §8). Values are text in their original form: a JSON number keeps its source text
//! (`1.50` stays `1.50`), a JSON string is unescaped, booleans are `true` / `false`.

use crate::json_cursor::Cursor;

/// At most this many fields are discovered per event (document order, depth-first).
pub const MAX_DISCOVERED_FIELDS: usize = 200;

/// Nesting deeper than this is not JSON we discover (protects the stack from hostile input).
const MAX_DEPTH: usize = 64;

/// One discovered leaf: the flattened name and the value's text form.
pub type Field = (String, String);

/// The flattened JSON fields of `message`: the whole message when it is a JSON object, else (for
/// Lambda log groups only) its first embedded `{…}` object. Anything else yields nothing.
pub fn discover_json(message: &str, lambda_group: bool) -> Vec<Field> {
    let trimmed = message.trim();
    if trimmed.starts_with('{') {
        return flatten_object(trimmed).unwrap_or_default();
    }
    if lambda_group
        && let Some(start) = message.find('{')
        && let Some(end) = balanced_end(&message[start..])
    {
        return flatten_object(&message[start..start + end]).unwrap_or_default();
    }
    Vec::new()
}

/// Flattens one JSON object document; `None` when `text` is not exactly one valid JSON object.
pub fn flatten_object(text: &str) -> Option<Vec<Field>> {
    let mut parser = Parser { cur: Cursor::new(text), fields: Vec::new(), depth: 0 };
    parser.cur.skip_ws();
    if parser.cur.peek() != Some(b'{') {
        return None;
    }
    let mut path = String::new();
    parser.value(&mut path)?;
    parser.cur.skip_ws();
    parser.cur.at_end().then_some(parser.fields)
}

/// The byte length of the balanced `{…}` at the start of `text` (strings respected).
fn balanced_end(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (i, b) in text.bytes().enumerate() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

struct Parser<'a> {
    cur: Cursor<'a>,
    fields: Vec<Field>,
    depth: usize,
}

impl Parser<'_> {
    fn emit(&mut self, path: &str, value: String) {
        if self.fields.len() < MAX_DISCOVERED_FIELDS && !path.is_empty() {
            let name = if path.starts_with('@') { format!("@{path}") } else { path.to_owned() };
            self.fields.push((name, value));
        }
    }

    /// Parses one value; leaves are emitted under `path`.
    fn value(&mut self, path: &mut String) -> Option<()> {
        self.cur.skip_ws();
        match self.cur.peek()? {
            b'{' | b'[' => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return None;
                }
                let result = if self.cur.peek() == Some(b'{') { self.object(path) } else { self.array(path) };
                self.depth -= 1;
                result
            }
            b'"' => {
                let s = self.cur.string()?.into_owned();
                self.emit(path, s);
                Some(())
            }
            b't' => self.literal("true", path, true),
            b'f' => self.literal("false", path, true),
            b'n' => self.literal("null", path, false),
            _ => {
                let number = self.cur.number()?.to_owned();
                self.emit(path, number);
                Some(())
            }
        }
    }

    fn literal(&mut self, word: &str, path: &str, emit: bool) -> Option<()> {
        self.cur.literal(word)?;
        if emit {
            self.emit(path, word.to_owned());
        }
        Some(())
    }

    fn object(&mut self, path: &mut String) -> Option<()> {
        self.cur.pos += 1;
        if self.cur.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.cur.skip_ws();
            let key = self.cur.string()?;
            self.cur.eat(b':')?;
            let restore = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&key);
            self.value(path)?;
            path.truncate(restore);
            if self.cur.eat(b',').is_none() {
                return self.cur.eat(b'}');
            }
        }
    }

    fn array(&mut self, path: &mut String) -> Option<()> {
        self.cur.pos += 1;
        if self.cur.eat(b']').is_some() {
            return Some(());
        }
        let mut index = 0usize;
        loop {
            let restore = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(&index.to_string());
            self.value(path)?;
            path.truncate(restore);
            index += 1;
            if self.cur.eat(b',').is_none() {
                return self.cur.eat(b']');
            }
        }
    }
}

/// A value of a Lambda platform field.
#[derive(Debug, Clone, PartialEq)]
pub enum LambdaValue {
    Text(String),
    Number(f64),
}

/// The Lambda fields Insights knows, with whether each is a number.
pub const LAMBDA_FIELDS: &[(&str, bool)] = &[
    ("@type", false),
    ("@requestId", false),
    ("@duration", true),
    ("@billedDuration", true),
    ("@memorySize", true),
    ("@maxMemoryUsed", true),
    ("@initDuration", true),
    ("@restoreDuration", true),
    ("@xrayTraceId", false),
    ("@xraySegmentId", false),
];

/// Whether `name` is one of [`LAMBDA_FIELDS`], and if so whether it is numeric.
pub fn lambda_field_is_number(name: &str) -> Option<bool> {
    LAMBDA_FIELDS.iter().find(|(n, _)| *n == name).map(|(_, number)| *number)
}

/// The Lambda platform fields of `message` (START / END / REPORT lines, and the request id of
/// Node.js and Python runtime lines); empty for anything else.
pub fn lambda_fields(message: &str) -> Vec<(&'static str, LambdaValue)> {
    let text = |s: &str| LambdaValue::Text(s.to_owned());
    let mut out = Vec::new();
    if let Some(rest) = message.strip_prefix("START RequestId: ") {
        out.push(("@type", text("START")));
        out.push(("@requestId", text(crate::lambda::request_id(rest))));
    } else if let Some(rest) = message.strip_prefix("END RequestId: ") {
        out.push(("@type", text("END")));
        out.push(("@requestId", text(crate::lambda::request_id(rest))));
    } else if let Some(rest) = message.strip_prefix("REPORT RequestId: ") {
        out.push(("@type", text("REPORT")));
        out.push(("@requestId", text(crate::lambda::request_id(rest))));
        for (key, value) in crate::lambda::report_parts(rest) {
            let number = |scale: f64| crate::lambda::leading_number(value).map(|v| LambdaValue::Number(v * scale));
            let (name, value) = match key {
                "Duration" => ("@duration", number(1.0)),
                "Billed Duration" => ("@billedDuration", number(1.0)),
                "Memory Size" => ("@memorySize", number(1_000_000.0)),
                "Max Memory Used" => ("@maxMemoryUsed", number(1_000_000.0)),
                "Init Duration" => ("@initDuration", number(1.0)),
                "Restore Duration" => ("@restoreDuration", number(1.0)),
                "XRAY TraceId" => ("@xrayTraceId", Some(text(value))),
                "SegmentId" => ("@xraySegmentId", Some(text(value))),
                _ => continue,
            };
            if let Some(value) = value {
                out.push((name, value));
            }
        }
    } else if let Some(id) = runtime_request_id(message) {
        out.push(("@requestId", text(id)));
    }
    out
}

/// Node.js `<ts>\t<uuid>\t<LEVEL>\t…` and Python `[<LEVEL>]\t<ts>\t<uuid>\t…` lines.
fn runtime_request_id(message: &str) -> Option<&str> {
    let mut parts = message.splitn(4, '\t');
    let first = parts.next()?;
    let second = parts.next()?;
    let third = parts.next()?;
    parts.next()?;
    let candidate = if first.starts_with('[') && first.ends_with(']') { third } else { second };
    looks_like_uuid(candidate).then_some(candidate)
}

fn looks_like_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(fields: &[Field]) -> Vec<(&str, &str)> {
        fields.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }

    #[test]
    fn flattens_nested_objects_and_arrays() {
        let fields = discover_json(
            r#" {"a":{"b":1.50,"c":[{"d":"x"},[true,null]]},"@k":"v","e":{},"f":[],"s":"q\"\u00e9\ud83d\ude00"} "#,
            false,
        );
        assert_eq!(
            names(&fields),
            vec![("a.b", "1.50"), ("a.c.0.d", "x"), ("a.c.1.0", "true"), ("@@k", "v"), ("s", "q\"é😀")]
        );
    }

    #[test]
    fn invalid_json_discovers_nothing() {
        for bad in [r#"{"a":1"#, r#"{"a":01}"#, r#"{"a":1} x"#, r#"{"a":tru}"#, r#"{"a":"\x"}"#, "[1]", "{'a':1}"] {
            assert!(discover_json(bad, false).is_empty(), "{bad}");
        }
        let deep = "{\"a\":".repeat(100) + "1" + &"}".repeat(100);
        assert!(discover_json(&deep, false).is_empty());
    }

    #[test]
    fn caps_the_number_of_fields() {
        let doc = format!("{{{}}}", (0..300).map(|i| format!("\"k{i}\":{i}")).collect::<Vec<_>>().join(","));
        let fields = discover_json(&doc, false);
        assert_eq!(fields.len(), MAX_DISCOVERED_FIELDS);
        assert_eq!(fields[199].0, "k199");
    }

    #[test]
    fn lambda_groups_discover_an_embedded_object() {
        let msg = "2024-05-01T12:00:00.100Z\tid\tINFO\tgot {\"order\":{\"id\":7,\"s\":\"}\"}} done";
        assert!(discover_json(msg, false).is_empty());
        assert_eq!(names(&discover_json(msg, true)), vec![("order.id", "7"), ("order.s", "}")]);
    }

    #[test]
    fn report_lines() {
        let msg = "REPORT RequestId: 11111111-aaaa-bbbb-cccc-000000000001\tDuration: 150.25 ms\tBilled Duration: 151 ms\tMemory Size: 128 MB\tMax Memory Used: 70 MB\tInit Duration: 210.50 ms\t\nXRAY TraceId: 1-6632301f-0123456789abcdef01234567\tSegmentId: 0aa1b2c3d4e5f607\tSampled: true\t\n";
        let fields = lambda_fields(msg);
        let get = |n: &str| fields.iter().find(|(k, _)| *k == n).map(|(_, v)| v.clone());
        assert_eq!(get("@type"), Some(LambdaValue::Text("REPORT".into())));
        assert_eq!(get("@requestId"), Some(LambdaValue::Text("11111111-aaaa-bbbb-cccc-000000000001".into())));
        assert_eq!(get("@duration"), Some(LambdaValue::Number(150.25)));
        assert_eq!(get("@billedDuration"), Some(LambdaValue::Number(151.0)));
        assert_eq!(get("@memorySize"), Some(LambdaValue::Number(128_000_000.0)));
        assert_eq!(get("@maxMemoryUsed"), Some(LambdaValue::Number(70_000_000.0)));
        assert_eq!(get("@initDuration"), Some(LambdaValue::Number(210.5)));
        assert_eq!(get("@xrayTraceId"), Some(LambdaValue::Text("1-6632301f-0123456789abcdef01234567".into())));
        assert_eq!(get("@xraySegmentId"), Some(LambdaValue::Text("0aa1b2c3d4e5f607".into())));
    }

    #[test]
    fn start_end_and_runtime_lines() {
        let start = lambda_fields("START RequestId: 11111111-aaaa-bbbb-cccc-000000000001 Version: $LATEST\n");
        assert_eq!(start[0], ("@type", LambdaValue::Text("START".into())));
        assert_eq!(start[1], ("@requestId", LambdaValue::Text("11111111-aaaa-bbbb-cccc-000000000001".into())));
        let end = lambda_fields("END RequestId: 11111111-aaaa-bbbb-cccc-000000000001\n");
        assert_eq!(end[1].1, LambdaValue::Text("11111111-aaaa-bbbb-cccc-000000000001".into()));
        let node = lambda_fields("2024-05-01T12:00:00.100Z\t11111111-aaaa-bbbb-cccc-000000000001\tINFO\tcharging\n");
        assert_eq!(node, vec![("@requestId", LambdaValue::Text("11111111-aaaa-bbbb-cccc-000000000001".into()))]);
        let py = lambda_fields("[ERROR]\t2024-05-01T12:00:00.100Z\t11111111-aaaa-bbbb-cccc-000000000001\tboom");
        assert_eq!(py.len(), 1);
        assert!(lambda_fields("plain text").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,200}") {
            let _ = discover_json(&s, true);
            let _ = lambda_fields(&s);
        }

        #[test]
        fn never_panics_on_json_like_input(s in "[{}\\[\\]\":,a-c0-9.eE+\\- \\\\u]{0,80}") {
            let _ = discover_json(&s, true);
        }
    }
}
