//! Metric filters (spec logs.md §3.11, §5.5, §6): definitions, their checks, and turning a log
//! event into a datapoint.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::filter::json_scan::{Found, PathSet, scan};
use crate::filter::{FieldRef, FilterPattern, JsonPath, Tokens};
use crate::metrics::{SeriesKey, UNIT_NONE, unit_index};

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
    /// A slot of the filter's JSON scan.
    Json(usize),
    /// An index into `field_refs`: `$name` or `$3` of a space-delimited match.
    Field(usize),
}

/// A filter ready to run on events.
#[derive(Debug, Clone)]
pub struct CompiledFilter {
    pub def: MetricFilterDef,
    pattern: FilterPattern,
    value: Reference,
    dimensions: Vec<(String, Reference)>,
    unit: u8,
    /// JSON patterns: the pattern's selectors plus those of value and dimensions, read in one
    /// scan of the event.
    json_paths: PathSet,
    /// Space-delimited patterns: the `$field` references of value and dimensions.
    field_refs: Vec<FieldRef>,
}

/// The datapoint one event yields: its value and the values of the filter's dimensions, in
/// the order of `MetricFilterDef::dimensions`.
#[derive(Debug, Clone, PartialEq)]
pub struct Datapoint<'a> {
    pub value: f64,
    pub dimension_values: Vec<Cow<'a, str>>,
}

fn reference(
    text: &str,
    pattern: &FilterPattern,
    what: &str,
    json_paths: &mut PathSet,
    field_refs: &mut Vec<FieldRef>,
) -> Result<Reference, String> {
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
        let path = JsonPath::parse(text).map_err(|_| format!("Invalid {what}: {text}"))?;
        return Ok(Reference::Json(json_paths.add(path.steps())));
    }
    if let Some(name) = text.strip_prefix('$')
        && !name.is_empty()
        && name.chars().all(|c| c.is_alphanumeric() || c == '_')
    {
        let FilterPattern::Delimited(delimited) = pattern else {
            return Err(format!("Invalid {what}: {text} requires a space-delimited filter pattern"));
        };
        field_refs.push(delimited.field_ref(text));
        return Ok(Reference::Field(field_refs.len() - 1));
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
        let mut json_paths = match &pattern {
            FilterPattern::Json(json) => json.paths().clone(),
            _ => PathSet::default(),
        };
        let mut field_refs = Vec::new();
        let value = reference(&def.metric_value, &pattern, "metricValue", &mut json_paths, &mut field_refs)?;
        let mut dimensions = Vec::new();
        for (name, target) in &def.dimensions {
            match reference(target, &pattern, "dimension", &mut json_paths, &mut field_refs)? {
                Reference::Literal(_) => return Err(format!("Invalid dimension value for {name}: {target}")),
                r => dimensions.push((name.clone(), r)),
            }
        }
        let unit = match &def.unit {
            None => UNIT_NONE,
            Some(u) => unit_index(u).ok_or_else(|| format!("Invalid unit {u}"))?,
        };
        Ok(Self { def, pattern, value, dimensions, unit, json_paths, field_refs })
    }

    pub fn regex_count(&self) -> usize {
        self.pattern.regex_count()
    }

    pub fn has_dimensions(&self) -> bool {
        !self.dimensions.is_empty()
    }

    /// The unit of the filter's datapoints (an index into `metrics::UNITS`).
    pub fn unit(&self) -> u8 {
        self.unit
    }

    /// The datapoint one event yields: (value, dimensions), or `None` (§5.5, §6).
    pub fn evaluate(&self, message: &str) -> Option<(f64, Vec<(String, String)>)> {
        let plan = FilterPlan::new([self]);
        let event = plan.event(message);
        let point = self.evaluate_event(&event, plan.slots(0))?;
        let names = self.dimensions.iter().map(|(name, _)| name.clone());
        Some((point.value, names.zip(point.dimension_values.into_iter().map(Cow::into_owned)).collect()))
    }

    /// `evaluate` for an event several filters look at: its tokens are split once, and its
    /// JSON scanned once for the selectors of all of them (`FilterPlan`); `slots[i]` is where
    /// that scan keeps this filter's JSON slot `i`.
    pub fn evaluate_event<'a>(&self, event: &Event<'a, '_>, slots: &[usize]) -> Option<Datapoint<'a>> {
        let message = event.message;
        let mut fields: [Option<&str>; 4] = [None; 4];
        let (matched, found) = match &self.pattern {
            FilterPattern::Json(json) => match event.json() {
                Some(found) => (json.matches_found(found, slots), Some(found)),
                None => (false, None),
            },
            FilterPattern::Delimited(delimited) => {
                let out = &mut fields[..self.field_refs.len()];
                (delimited.lookup(event.tokens(), &self.field_refs, out), None)
            }
            pattern => (pattern.matches(message), None),
        };
        if !matched {
            return self.def.default_value.map(|value| Datapoint { value, dimension_values: Vec::new() });
        }
        let json_at = |slot: usize| found.and_then(|found| found[slots[slot]].as_ref());
        let number = |text: &str| text.trim().parse::<f64>().ok().filter(|v| v.is_finite());
        let value = match &self.value {
            Reference::Literal(v) => *v,
            Reference::Json(slot) => match json_at(*slot)? {
                Found::String(s) => number(s)?,
                other => other.as_f64()?,
            },
            Reference::Field(at) => number(fields[*at]?)?,
        };
        let mut dimension_values = Vec::with_capacity(self.dimensions.len());
        for (_, r) in &self.dimensions {
            let text: Cow<'a, str> = match r {
                Reference::Literal(_) => return None,
                Reference::Json(slot) => match json_at(*slot)? {
                    Found::String(s) => s.clone(),
                    other => Cow::Owned(other.scalar_text()?.into_owned()),
                },
                Reference::Field(at) => Cow::Borrowed(fields[*at]?),
            };
            if text.is_empty() || (text.len() > 1024 && text.chars().count() > 1024) {
                return None;
            }
            dimension_values.push(text);
        }
        Some(Datapoint { value, dimension_values })
    }

    /// The series identity of a datapoint with these dimension values.
    pub fn key(&self, dimension_values: &[Cow<'_, str>]) -> Arc<SeriesKey> {
        let dims = self.dimensions.iter().zip(dimension_values).map(|((n, _), v)| (n.clone(), v.to_string())).collect();
        Arc::new(SeriesKey::new(&self.def.metric_namespace, &self.def.metric_name, dims))
    }
}

/// The JSON selectors of several filters merged, so that one scan of an event serves all of
/// them.
#[derive(Debug, Clone, Default)]
pub struct FilterPlan {
    paths: PathSet,
    /// Per filter, where its JSON slots are in the merged scan.
    slots: Vec<Vec<usize>>,
}

impl FilterPlan {
    pub fn new<'f>(filters: impl IntoIterator<Item = &'f CompiledFilter>) -> Self {
        let mut paths = PathSet::default();
        let slots = filters
            .into_iter()
            .map(|f| f.json_paths.selectors().iter().map(|selector| paths.add(selector)).collect())
            .collect();
        Self { paths, slots }
    }

    pub fn event<'a>(&self, message: &'a str) -> Event<'a, '_> {
        Event::new(message, &self.paths)
    }

    /// Where filter `i` (in the order given to `new`) finds its JSON slots.
    pub fn slots(&self, i: usize) -> &[usize] {
        &self.slots[i]
    }
}

/// A log event as metric filters see it: the message, its tokens split at most once for all
/// the space-delimited patterns, and its JSON scanned at most once for all the JSON ones.
pub struct Event<'a, 'p> {
    pub message: &'a str,
    paths: &'p PathSet,
    json: OnceCell<Option<Vec<Option<Found<'a>>>>>,
    tokens: OnceCell<Tokens<'a>>,
}

impl<'a, 'p> Event<'a, 'p> {
    /// An event whose JSON is scanned for `paths`.
    fn new(message: &'a str, paths: &'p PathSet) -> Self {
        Self { message, paths, json: OnceCell::new(), tokens: OnceCell::new() }
    }

    fn json(&self) -> Option<&[Option<Found<'a>>]> {
        self.json
            .get_or_init(|| {
                let trimmed = self.message.trim();
                if trimmed.starts_with('{') { scan(trimmed, self.paths) } else { None }
            })
            .as_deref()
    }

    fn tokens(&self) -> &Tokens<'a> {
        self.tokens.get_or_init(|| Tokens::new(self.message))
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
