//! Embedded Metric Format (spec logs.md §9): log events that carry their own metrics.

use std::sync::{Arc, LazyLock};

use memchr::memmem::Finder;
use serde_json::Value;

use crate::metrics::{KeyedSample, Sample, SeriesKey, UNIT_NONE, unit_index};

/// Why a candidate document produced no datapoints (§9.3); the names of the `AWS/Logs`
/// metrics that count them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmfError {
    Parsing,
    Validation,
}

impl EmfError {
    pub fn metric_name(self) -> &'static str {
        match self {
            Self::Parsing => "EMFParsingErrors",
            Self::Validation => "EMFValidationErrors",
        }
    }
}

/// The JSON object of an EMF candidate: the message itself, or the object after a Lambda
/// text-format prefix (`<time>\t<request id>\t<level>\t{...}`).
fn candidate(message: &str) -> Option<&str> {
    // Every ingested event is checked: the searchers are built once.
    static AWS_KEY: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\"_aws\""));
    static TAB_BRACE: LazyLock<Finder<'static>> = LazyLock::new(|| Finder::new(b"\t{"));
    let trimmed = message.trim();
    if trimmed.starts_with('{') {
        return AWS_KEY.find(trimmed.as_bytes()).is_some().then_some(trimmed);
    }
    let at = TAB_BRACE.find(trimmed.as_bytes())?;
    let object = &trimmed[at + 1..];
    AWS_KEY.find(object.as_bytes()).is_some().then_some(object)
}

/// The datapoints of one log event: `None` when it is not an EMF candidate, `Some(Err)` for an
/// invalid document, else its samples (empty when every target is absent).
pub fn extract(message: &str, event_timestamp_ms: i64) -> Option<Result<Vec<KeyedSample>, EmfError>> {
    let text = candidate(message)?;
    let document: Value = match serde_json::from_str(text) {
        Ok(doc @ Value::Object(_)) => doc,
        // The text mentions `_aws` but is not a JSON object: a parsing error only when it
        // looked like one.
        _ => return Some(Err(EmfError::Parsing)),
    };
    let aws = document.get("_aws")?;
    Some(samples(&document, aws, event_timestamp_ms).ok_or(EmfError::Validation))
}

fn samples(document: &Value, aws: &Value, event_timestamp_ms: i64) -> Option<Vec<KeyedSample>> {
    let aws = aws.as_object()?;
    let timestamp_ms = match aws.get("Timestamp") {
        None | Some(Value::Null) => event_timestamp_ms,
        Some(Value::Number(n)) => n.as_i64()?,
        Some(_) => return None,
    };
    let directives = aws.get("CloudWatchMetrics")?.as_array()?;
    let mut out = Vec::new();
    for directive in directives {
        let namespace = directive.get("Namespace")?.as_str()?;
        if namespace.is_empty() || namespace.chars().count() > 1024 {
            return None;
        }
        let dimension_sets = directive.get("Dimensions")?.as_array()?;
        let metrics = directive.get("Metrics")?.as_array()?;
        if metrics.len() > 100 {
            return None;
        }
        // Resolve every dimension set first: a bad one fails the whole document.
        let mut sets = Vec::with_capacity(dimension_sets.len());
        for set in dimension_sets {
            let keys = set.as_array()?;
            if keys.len() > 30 {
                return None;
            }
            let mut dims = Vec::with_capacity(keys.len());
            for key in keys {
                let key = key.as_str()?;
                if key.is_empty() || key.chars().count() > 250 {
                    return None;
                }
                let value = document.get(key)?.as_str()?;
                if value.chars().count() > 1024 {
                    return None;
                }
                dims.push((key.to_owned(), value.to_owned()));
            }
            sets.push(dims);
        }
        let mut definitions = Vec::with_capacity(metrics.len());
        for metric in metrics {
            let name = metric.get("Name")?.as_str()?;
            if name.is_empty() || name.chars().count() > 1024 {
                return None;
            }
            let unit = match metric.get("Unit") {
                None | Some(Value::Null) => UNIT_NONE,
                Some(u) => unit_index(u.as_str()?)?,
            };
            let resolution = match metric.get("StorageResolution") {
                None | Some(Value::Null) => 60,
                Some(r) => match r.as_i64()? {
                    1 => 1,
                    60 => 60,
                    _ => return None,
                },
            };
            let values: Vec<f64> = match document.get(name) {
                None | Some(Value::Null) => continue,
                Some(Value::Number(n)) => vec![n.as_f64()?],
                Some(Value::Array(items)) => {
                    if items.len() > 100 {
                        return None;
                    }
                    items.iter().map(Value::as_f64).collect::<Option<_>>()?
                }
                Some(_) => return None,
            };
            definitions.push((name, unit, resolution, values));
        }
        for dims in &sets {
            for (name, unit, resolution, values) in &definitions {
                let key = Arc::new(SeriesKey::new(namespace, *name, dims.clone()));
                for v in values {
                    let sample = Sample::value(key.id(), timestamp_ms, *unit, *resolution, *v, 1.0);
                    out.push(KeyedSample { key: key.clone(), sample });
                }
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    type Dims = Vec<(String, String)>;
    /// (namespace, name, dimensions, value, unit, resolution, timestamp)
    type Point = (String, String, Dims, f64, u8, u16, i64);

    fn points(message: &str, ts: i64) -> Vec<Point> {
        extract(message, ts)
            .unwrap()
            .unwrap()
            .into_iter()
            .map(|s| {
                (
                    s.key.namespace.clone(),
                    s.key.name.clone(),
                    s.key.dimensions.clone(),
                    s.sample.min,
                    s.sample.unit,
                    s.sample.resolution,
                    s.sample.timestamp_ms,
                )
            })
            .collect()
    }

    fn dims(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn spec_examples() {
        let ms = unit_index("Milliseconds").unwrap();
        let e1 = r#"{"_aws":{"Timestamp":1574109732004,"CloudWatchMetrics":[{"Namespace":"lambda-function-metrics","Dimensions":[["functionVersion"]],"Metrics":[{"Name":"time","Unit":"Milliseconds","StorageResolution":60}]}]},"functionVersion":"$LATEST","time":100,"requestId":"989ffbf8-9ace-4817-a57c-e4dd734019ee"}"#;
        assert_eq!(
            points(e1, 0),
            [(
                "lambda-function-metrics".into(),
                "time".into(),
                dims(&[("functionVersion", "$LATEST")]),
                100.0,
                ms,
                60,
                1574109720000 // floored to the minute
            )]
        );
        let e2 = r#"{"_aws":{"Timestamp":1714564800000,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["Service"],["Service","Operation"]],"Metrics":[{"Name":"Latency","Unit":"Milliseconds"},{"Name":"Errors","Unit":"Count"}]}]},"Service":"cart","Operation":"Add","Latency":42.5,"Errors":0}"#;
        let got: Vec<(String, Dims, f64)> = points(e2, 0).into_iter().map(|p| (p.1, p.2, p.3)).collect();
        assert_eq!(
            got,
            [
                ("Latency".into(), dims(&[("Service", "cart")]), 42.5),
                ("Errors".into(), dims(&[("Service", "cart")]), 0.0),
                ("Latency".into(), dims(&[("Operation", "Add"), ("Service", "cart")]), 42.5),
                ("Errors".into(), dims(&[("Operation", "Add"), ("Service", "cart")]), 0.0),
            ]
        );
        let e3 = r#"{"_aws":{"Timestamp":1714564801000,"CloudWatchMetrics":[{"Namespace":"Batch","Dimensions":[[]],"Metrics":[{"Name":"ItemMs","Unit":"Milliseconds","StorageResolution":1}]}]},"ItemMs":[10,20,20]}"#;
        let got = points(e3, 0);
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|p| p.2.is_empty() && p.5 == 1 && p.6 == 1714564801000));
        assert_eq!(got.iter().map(|p| p.3).sum::<f64>(), 50.0);
        let e4 = r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"A","Dimensions":[["Env"]],"Metrics":[{"Name":"Hits"},{"Name":"Misses"}]},{"Namespace":"B","Dimensions":[[]],"Metrics":[{"Name":"Hits","Unit":"Count"}]}]},"Env":"prod","Hits":3}"#;
        let got: Vec<(String, String, u8, i64)> =
            points(e4, 1714564802000).into_iter().map(|p| (p.0, p.1, p.4, p.6)).collect();
        assert_eq!(
            got,
            [
                ("A".into(), "Hits".into(), UNIT_NONE, 1714564800000),
                ("B".into(), "Hits".into(), unit_index("Count").unwrap(), 1714564800000)
            ]
        );
        let e5 = r#"{"_aws":{"Timestamp":1714564803000,"CloudWatchMetrics":[{"Namespace":"Shop","Dimensions":[["Service"]],"Metrics":[{"Name":"Latency"}]}]},"Service":42,"Latency":10}"#;
        assert_eq!(extract(e5, 0), Some(Err(EmfError::Validation)));
    }

    #[test]
    fn candidates_and_failures() {
        assert_eq!(extract("plain text", 0), None);
        assert_eq!(extract(r#"{"level":"info"}"#, 0), None);
        assert_eq!(extract(r#"{"_aws": "#, 0), Some(Err(EmfError::Parsing)));
        assert_eq!(extract(r#"{"_aws": 5}"#, 0), Some(Err(EmfError::Validation)));
        assert_eq!(extract(r#"{"_aws": {"CloudWatchMetrics": {}}}"#, 0), Some(Err(EmfError::Validation)));
        let lambda = "2024-05-01T12:00:00.000Z\tabc-123\tINFO\t{\"_aws\":{\"Timestamp\":1714564800000,\"CloudWatchMetrics\":[{\"Namespace\":\"L\",\"Dimensions\":[[]],\"Metrics\":[{\"Name\":\"x\"}]}]},\"x\":1}";
        assert_eq!(extract(lambda, 0).unwrap().unwrap().len(), 1);
        let bad_unit = r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"A","Dimensions":[[]],"Metrics":[{"Name":"x","Unit":"Parsecs"}]}]},"x":1}"#;
        assert_eq!(extract(bad_unit, 0), Some(Err(EmfError::Validation)));
        let bad_value =
            r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"A","Dimensions":[[]],"Metrics":[{"Name":"x"}]}]},"x":"1"}"#;
        assert_eq!(extract(bad_value, 0), Some(Err(EmfError::Validation)));
    }
}
