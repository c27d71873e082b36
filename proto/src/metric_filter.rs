//! Metric filters (spec logs.md §3.11, §5.5, §6): definitions, their checks, and turning a log
//! event into a datapoint.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::filter::{FilterPattern, JsonPath};
use crate::metrics::{KeyedSample, Sample, SeriesKey, UNIT_NONE, unit_index};

/// A stored metric filter, as DescribeMetricFilters shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricFilterDef {
    pub filter_name: String,
    pub filter_pattern: String,
    pub log_group_name: String,
    pub creation_time: i64,
    pub apply_on_transformed_logs: bool,
    pub metric_name: String,
    pub metric_namespace: String,
    pub metric_value: String,
    pub default_value: Option<f64>,
    pub dimensions: BTreeMap<String, String>,
    pub unit: Option<String>,
}

/// Where a value or dimension comes from.
#[derive(Debug, Clone)]
enum Reference {
    Literal(f64),
    Json(JsonPath),
    /// `$name` or `$3` of a space-delimited match.
    Field(String),
}

/// A filter ready to run on events.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    pub def: MetricFilterDef,
    pattern: FilterPattern,
    value: Reference,
    dimensions: Vec<(String, Reference)>,
    unit: u8,
    /// The `$field` references of value and dimensions, for `DelimitedPattern::lookup`.
    field_refs: Vec<String>,
}

fn reference(text: &str, pattern: &FilterPattern, what: &str) -> Result<Reference, String> {
    let text = text.trim();
    if let Ok(v) = text.parse::<f64>()
        && v.is_finite()
        && !text.starts_with('$')
    {
        return Ok(Reference::Literal(v));
    }
    if text.starts_with("$.") || text.starts_with("$[") {
        if !matches!(pattern, FilterPattern::Json(_)) {
            return Err(format!("Invalid {what}: {text} requires a JSON filter pattern"));
        }
        return JsonPath::parse(text).map(Reference::Json).map_err(|_| format!("Invalid {what}: {text}"));
    }
    if let Some(name) = text.strip_prefix('$')
        && !name.is_empty()
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
    {
        if !matches!(pattern, FilterPattern::Delimited(_)) {
            return Err(format!("Invalid {what}: {text} requires a space-delimited filter pattern"));
        }
        return Ok(Reference::Field(text.to_owned()));
    }
    Err(format!("Invalid {what}: {text}"))
}

impl CompiledFilter {
    /// Checks a definition (the InvalidParameterException messages of §3.11).
    pub fn compile(def: MetricFilterDef) -> Result<Self, String> {
        let pattern = FilterPattern::parse(&def.filter_pattern).map_err(|e| e.to_string())?;
        if def.default_value.is_some() && !def.dimensions.is_empty() {
            return Err("dimensions and defaultValue cannot be specified together".to_owned());
        }
        if !def.dimensions.is_empty() && !matches!(pattern, FilterPattern::Json(_) | FilterPattern::Delimited(_)) {
            return Err("The specified filter pattern does not support dimensions".to_owned());
        }
        if def.dimensions.len() > 3 {
            return Err("A metric transformation may have at most 3 dimensions".to_owned());
        }
        let value = reference(&def.metric_value, &pattern, "metricValue")?;
        let mut dimensions = Vec::new();
        for (name, target) in &def.dimensions {
            match reference(target, &pattern, "dimension")? {
                Reference::Literal(_) => return Err(format!("Invalid dimension value for {name}: {target}")),
                r => dimensions.push((name.clone(), r)),
            }
        }
        let unit = match &def.unit {
            None => UNIT_NONE,
            Some(u) => unit_index(u).ok_or_else(|| format!("Invalid unit {u}"))?,
        };
        let field_refs = std::iter::once(&value)
            .chain(dimensions.iter().map(|(_, r)| r))
            .filter_map(|r| match r {
                Reference::Field(name) => Some(name.clone()),
                _ => None,
            })
            .collect();
        Ok(Self { def, pattern, value, dimensions, unit, field_refs })
    }

    pub fn regex_count(&self) -> usize {
        self.pattern.regex_count()
    }

    /// The datapoint one event yields: (value, dimensions), or `None` (§5.5, §6).
    pub fn evaluate(&self, message: &str) -> Option<(f64, Vec<(String, String)>)> {
        self.evaluate_event(&Event::new(message))
    }

    /// `evaluate` for an event that several filters look at (its JSON is parsed once).
    pub fn evaluate_event(&self, event: &Event<'_>) -> Option<(f64, Vec<(String, String)>)> {
        let message = event.message;
        let document = match &self.pattern {
            FilterPattern::Json(_) => event.json(),
            _ => None,
        };
        let (matched, fields) = match (&self.pattern, document) {
            (FilterPattern::Json(json), Some(doc)) => (json.matches_value(doc), Vec::new()),
            (FilterPattern::Json(_), None) => (false, Vec::new()),
            (FilterPattern::Delimited(delimited), _) => match delimited.lookup(message, &self.field_refs) {
                Some(values) => (true, values),
                None => (false, Vec::new()),
            },
            (pattern, _) => (pattern.matches(message), Vec::new()),
        };
        if !matched {
            return self.def.default_value.map(|v| (v, Vec::new()));
        }
        let resolve_text = |r: &Reference| -> Option<String> {
            match r {
                Reference::Literal(v) => Some(v.to_string()),
                Reference::Json(path) => match path.lookup(document?)? {
                    Value::String(s) => Some(s.clone()),
                    Value::Number(n) => Some(n.to_string()),
                    Value::Bool(b) => Some(b.to_string()),
                    _ => None,
                },
                Reference::Field(name) => {
                    let at = self.field_refs.iter().position(|r| r == name)?;
                    fields.get(at).copied().flatten().map(str::to_owned)
                }
            }
        };
        let value = match &self.value {
            Reference::Literal(v) => *v,
            other => resolve_text(other)?.trim().parse::<f64>().ok().filter(|v| v.is_finite())?,
        };
        let mut dims = Vec::with_capacity(self.dimensions.len());
        for (name, r) in &self.dimensions {
            let text = resolve_text(r)?;
            if text.is_empty() || text.chars().count() > 1024 {
                return None;
            }
            dims.push((name.clone(), text));
        }
        Some((value, dims))
    }

    /// The sample of one event, or `None`. `key_of` turns the dimensions into the series
    /// identity and its id (callers cache them: most filters produce few series).
    pub fn sample(
        &self,
        event: &Event<'_>,
        timestamp_ms: i64,
        key_of: impl FnOnce(Vec<(String, String)>) -> (Arc<SeriesKey>, u64),
    ) -> Option<KeyedSample> {
        let (value, dims) = self.evaluate_event(event)?;
        let (key, id) = key_of(dims);
        let sample = Sample::value(id, timestamp_ms, self.unit, 60, value, 1.0);
        Some(KeyedSample { key, sample })
    }

    /// The series identity of a datapoint with `dims`.
    pub fn key(&self, dims: Vec<(String, String)>) -> Arc<SeriesKey> {
        Arc::new(SeriesKey::new(&self.def.metric_namespace, &self.def.metric_name, dims))
    }
}

/// A log event as metric filters see it: the message, and its JSON document parsed at most
/// once for all of them.
pub struct Event<'a> {
    pub message: &'a str,
    json: std::cell::OnceCell<Option<Value>>,
}

impl<'a> Event<'a> {
    pub fn new(message: &'a str) -> Self {
        Self { message, json: std::cell::OnceCell::new() }
    }

    pub fn json(&self) -> Option<&Value> {
        self.json
            .get_or_init(|| {
                let trimmed = self.message.trim();
                if trimmed.starts_with('{') { serde_json::from_str::<Value>(trimmed).ok() } else { None }
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(pattern: &str, value: &str, default: Option<f64>, dims: &[(&str, &str)]) -> CompiledFilter {
        CompiledFilter::compile(MetricFilterDef {
            filter_name: "f".into(),
            filter_pattern: pattern.into(),
            log_group_name: "/g".into(),
            creation_time: 0,
            apply_on_transformed_logs: false,
            metric_name: "m".into(),
            metric_namespace: "ns".into(),
            metric_value: value.into(),
            default_value: default,
            dimensions: dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            unit: None,
        })
        .unwrap()
    }

    fn run(f: &CompiledFilter, events: &[&str]) -> Vec<(f64, Vec<(String, String)>)> {
        events.iter().filter_map(|e| f.evaluate(e)).collect()
    }

    const LINE_33: &str = r#"127.0.0.1 Prod frank [10/Oct/2000:13:25:15 -0700] "GET /index.html HTTP/1.0" 404 1534"#;

    #[test]
    fn spec_vectors_m1_to_m5() {
        let m1 = filter("ERROR", "1", Some(0.0), &[]);
        let values: Vec<f64> = run(&m1, &["ERROR a", "INFO b", "ERROR c"]).into_iter().map(|(v, _)| v).collect();
        assert_eq!(values, [1.0, 0.0, 1.0]);
        let m2 = filter("ERROR", "1", None, &[]);
        assert_eq!(run(&m2, &["ERROR a", "INFO b", "ERROR c"]).len(), 2);
        let m3 = filter("{ $.latency = * }", "$.latency", Some(0.0), &[]);
        let values: Vec<f64> = run(&m3, &[r#"{"latency":50,"requestType":"GET"}"#, "plain", r#"{"latency":"slow"}"#])
            .into_iter()
            .map(|(v, _)| v)
            .collect();
        assert_eq!(values, [50.0, 0.0]);
        let m4 = filter(
            "[ip, server, username, timestamp, request, status_code, bytes > 1000]",
            "$bytes",
            None,
            &[("server", "$server")],
        );
        assert_eq!(run(&m4, &[LINE_33]), [(1534.0, vec![("server".to_owned(), "Prod".to_owned())])]);
        let m5 = filter(
            r#"{ $.eventType = "*" && $.sourceIPAddress != 123.123.* }"#,
            "1",
            None,
            &[("eventType", "$.eventType")],
        );
        assert_eq!(
            run(&m5, &[r#"{"eventType":"UpdateTrail","sourceIPAddress":"111.111.111.111"}"#]),
            [(1.0, vec![("eventType".to_owned(), "UpdateTrail".to_owned())])]
        );
    }

    #[test]
    fn definition_checks() {
        let base = filter("ERROR", "1", None, &[]).def;
        let check = |f: &dyn Fn(&mut MetricFilterDef)| {
            let mut def = base.clone();
            f(&mut def);
            CompiledFilter::compile(def).err()
        };
        assert_eq!(
            check(&|d| d.dimensions = [("a".to_owned(), "$.a".to_owned())].into()).unwrap(),
            "The specified filter pattern does not support dimensions"
        );
        assert!(check(&|d| d.metric_value = "$.x".into()).unwrap().contains("requires a JSON filter pattern"));
        assert!(check(&|d| d.filter_pattern = "%(ERROR)%".into()).is_some());
        assert!(
            check(&|d| {
                d.filter_pattern = "{ $.a = 1 }".into();
                d.default_value = Some(0.0);
                d.dimensions = [("a".to_owned(), "$.a".to_owned())].into();
            })
            .unwrap()
            .contains("cannot be specified together")
        );
        assert!(check(&|d| d.unit = Some("Parsecs".into())).is_some());
    }
}
