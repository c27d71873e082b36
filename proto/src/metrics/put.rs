//! PutMetricData's semantic rules (spec metrics-alarms.md §2.2), after the model checks: the
//! whole request is valid or nothing is stored.

use std::sync::Arc;

use serde_json::Value;

use super::{KeyedSample, Sample, SeriesKey, UNIT_NONE, unit_index};
use crate::cloudwatch::{CwError, as_f64};

pub const MAX_DATUMS: usize = 1000;
pub const MAX_VALUES: usize = 150;
const MAX_MAGNITUDE: f64 = 2.348_542_582_773_833_2e108; // 2^360

/// Limits of PutMetricData that configuration may change.
#[derive(Debug, Clone, Copy)]
pub struct PutRules {
    pub allow_aws_namespaces: bool,
}

/// The samples of a valid PutMetricData input (canonical form), or the first rule broken.
pub fn samples_of(input: &Value, now_ms: i64, rules: PutRules) -> Result<Vec<KeyedSample>, CwError> {
    let namespace = input["Namespace"].as_str().unwrap_or_default();
    let mut datums: Vec<&Value> = input["MetricData"].as_array().map(|a| a.iter().collect()).unwrap_or_default();
    let entities = input["EntityMetricData"].as_array().map(Vec::as_slice).unwrap_or_default();
    for entity in entities {
        datums.extend(entity["MetricData"].as_array().into_iter().flatten());
    }
    if datums.is_empty() {
        return Err(CwError::missing("The parameter MetricData is required."));
    }
    if datums.len() > MAX_DATUMS {
        return Err(CwError::invalid_value(format!(
            "The collection MetricData must not have a size greater than {MAX_DATUMS}."
        )));
    }
    if entities.len() > 2 {
        return Err(CwError::invalid_value("The collection EntityMetricData must not have a size greater than 2."));
    }
    check_namespace(namespace, rules)?;
    let mut out = Vec::with_capacity(datums.len());
    for (i, datum) in datums.iter().enumerate() {
        datum_samples(namespace, datum, i + 1, now_ms, &mut out)?;
    }
    Ok(out)
}

fn check_namespace(namespace: &str, rules: PutRules) -> Result<(), CwError> {
    let bad = namespace.starts_with(':')
        || namespace.chars().any(char::is_control)
        || (!rules.allow_aws_namespaces && namespace.starts_with("AWS/"));
    if bad { Err(CwError::invalid_parameter(namespace, "Namespace")) } else { Ok(()) }
}

fn finite_in_range(v: f64) -> bool {
    v.is_finite() && v.abs() <= MAX_MAGNITUDE
}

fn render(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    }
}

fn datum_samples(
    namespace: &str,
    datum: &Value,
    n: usize,
    now_ms: i64,
    out: &mut Vec<KeyedSample>,
) -> Result<(), CwError> {
    let path = format!("MetricData.member.{n}");
    let has = |member: &str| datum.get(member).is_some();
    let present: Vec<&str> = ["Value", "Values", "StatisticValues"].into_iter().filter(|m| has(m)).collect();
    match present.as_slice() {
        [] => {
            return Err(CwError::missing(format!(
                "At least one of the parameters {path}.Value, {path}.Values or {path}.StatisticValues must be specified."
            )));
        }
        [_] => {}
        [a, b, ..] => {
            return Err(CwError::combination(format!(
                "The parameters {path}.{a} and {path}.{b} are mutually exclusive and you have specified both."
            )));
        }
    }
    let values = datum["Values"].as_array();
    let counts = datum["Counts"].as_array();
    if counts.is_some() && values.is_none() {
        return Err(CwError::combination(format!("The parameter {path}.Counts requires {path}.Values.")));
    }
    if let (Some(values), Some(counts)) = (values, counts)
        && values.len() != counts.len()
    {
        return Err(CwError::invalid_value(format!(
            "The parameters {path}.Values and {path}.Counts must be of the same size."
        )));
    }
    if let Some(values) = values
        && values.len() > MAX_VALUES
    {
        return Err(CwError::invalid_value(format!(
            "The collection {path}.Values must not have a size greater than {MAX_VALUES}."
        )));
    }
    // Rule 10: every value finite and within ±2^360.
    let check_value = |v: &Value, at: String| -> Result<f64, CwError> {
        match as_f64(v) {
            Some(x) if finite_in_range(x) => Ok(x),
            _ => Err(CwError::invalid_parameter(render(v), at)),
        }
    };
    let value = datum.get("Value").map(|v| check_value(v, format!("{path}.Value"))).transpose()?;
    let mut weighted = Vec::new();
    if let Some(values) = values {
        for (i, v) in values.iter().enumerate() {
            weighted.push((check_value(v, format!("{path}.Values.member.{}", i + 1))?, 1.0));
        }
    }
    let set = match datum.get("StatisticValues") {
        None => None,
        Some(set) => {
            let field = |name: &str| check_value(&set[name], format!("{path}.StatisticValues.{name}"));
            Some((field("SampleCount")?, field("Sum")?, field("Minimum")?, field("Maximum")?))
        }
    };
    if let Some(counts) = counts {
        for (i, c) in counts.iter().enumerate() {
            match as_f64(c) {
                Some(x) if x.is_finite() && x >= 0.0 => weighted[i].1 = x,
                _ => {
                    return Err(CwError::invalid_parameter(render(c), format!("{path}.Counts.member.{}", i + 1)));
                }
            }
        }
    }
    if let Some((count, _, min, max)) = set {
        if count <= 0.0 {
            return Err(CwError::invalid_value(format!(
                "The parameter {path}.StatisticValues.SampleCount must be greater than 0."
            )));
        }
        if max < min {
            return Err(CwError::invalid_value(format!(
                "The parameter {path}.StatisticValues.Maximum must be greater than or equal to {path}.StatisticValues.Minimum."
            )));
        }
    }
    let timestamp_ms = match datum.get("Timestamp").and_then(as_f64) {
        Some(seconds) => (seconds * 1000.0).floor() as i64,
        None => now_ms,
    };
    if timestamp_ms < now_ms - super::MAX_AGE_MS {
        return Err(CwError::invalid_value(format!(
            "The parameter {path}.Timestamp must specify a time within the past two weeks."
        )));
    }
    if timestamp_ms > now_ms + super::MAX_FUTURE_MS {
        return Err(CwError::invalid_value(format!(
            "The parameter {path}.Timestamp must specify a time no more than two hours in the future."
        )));
    }
    let resolution = match datum.get("StorageResolution") {
        None => 60,
        Some(r) => match r.as_i64() {
            Some(1) => 1,
            Some(60) => 60,
            _ => {
                return Err(CwError::invalid_parameter(render(r), format!("{path}.StorageResolution")));
            }
        },
    };
    let mut dimensions: Vec<(String, String)> = Vec::new();
    for (i, dim) in datum["Dimensions"].as_array().into_iter().flatten().enumerate() {
        let name = dim["Name"].as_str().unwrap_or_default();
        let value = dim["Value"].as_str().unwrap_or_default();
        let at = format!("{path}.Dimensions.member.{}", i + 1);
        if !dimension_text_ok(name) || name.starts_with(':') {
            return Err(CwError::invalid_parameter(name, format!("{at}.Name")));
        }
        if !dimension_text_ok(value) {
            return Err(CwError::invalid_parameter(value, format!("{at}.Value")));
        }
        if dimensions.iter().any(|(n, _)| n == name) {
            return Err(CwError::invalid_value(format!(
                "The parameter {path}.Dimensions must not contain duplicate names."
            )));
        }
        dimensions.push((name.to_owned(), value.to_owned()));
    }
    let name = datum["MetricName"].as_str().unwrap_or_default();
    if name.chars().any(char::is_control) {
        return Err(CwError::invalid_parameter(name, format!("{path}.MetricName")));
    }
    let key = Arc::new(SeriesKey::new(namespace, name, dimensions));
    let series = key.id();
    let unit = datum["Unit"].as_str().and_then(unit_index).unwrap_or(UNIT_NONE);
    let mut push = |sample: Sample| out.push(KeyedSample { key: key.clone(), sample });
    if let Some(v) = value {
        push(Sample::value(series, timestamp_ms, unit, resolution, v, 1.0));
    }
    for (v, c) in weighted {
        if c > 0.0 {
            push(Sample::value(series, timestamp_ms, unit, resolution, v, c));
        }
    }
    if let Some((count, sum, min, max)) = set {
        let mut sample = Sample::value(series, timestamp_ms, unit, resolution, min, count);
        sample.sum = sum;
        sample.max = max;
        sample.is_set = true;
        push(sample);
    }
    Ok(())
}

/// Dimension names and values: at least one non-whitespace character, no control characters.
fn dimension_text_ok(text: &str) -> bool {
    text.chars().any(|c| !c.is_whitespace()) && !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_736_942_400_000;
    const RULES: PutRules = PutRules { allow_aws_namespaces: false };

    fn error(datum: Value) -> String {
        samples_of(&json!({"Namespace": "N", "MetricData": [datum]}), NOW, RULES).unwrap_err().message
    }

    #[test]
    fn worked_example_samples() {
        let input = json!({"Namespace": "MyApp", "MetricData": [
            {"MetricName": "Latency", "Dimensions": [{"Name": "Stage", "Value": "prod"}, {"Name": "Service", "Value": "checkout"}],
             "Timestamp": 1736942400.0, "Values": [12.5, 30.0], "Counts": [3.0, 1.0], "Unit": "Milliseconds", "StorageResolution": 60},
            {"MetricName": "Errors", "Value": 1.0, "Unit": "Count"}]});
        let samples = samples_of(&input, NOW + 5_500, RULES).unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].key.dimensions[0].0, "Service");
        assert_eq!((samples[0].sample.min, samples[0].sample.count, samples[0].sample.sum), (12.5, 3.0, 37.5));
        assert_eq!(samples[2].sample.timestamp_ms, NOW, "floored to the minute");
        assert_eq!(samples[2].sample.unit, unit_index("Count").unwrap());
    }

    #[test]
    fn every_rule_in_order() {
        assert_eq!(
            samples_of(&json!({"Namespace": "N", "MetricData": []}), NOW, RULES).unwrap_err().message,
            "The parameter MetricData is required."
        );
        let many: Vec<Value> = (0..1001).map(|_| json!({"MetricName": "m", "Value": 1})).collect();
        assert_eq!(
            samples_of(&json!({"Namespace": "N", "MetricData": many}), NOW, RULES).unwrap_err().message,
            "The collection MetricData must not have a size greater than 1000."
        );
        assert_eq!(
            samples_of(&json!({"Namespace": "AWS/EC2", "MetricData": [{"MetricName": "m", "Value": 1}]}), NOW, RULES)
                .unwrap_err()
                .message,
            "The value AWS/EC2 for parameter Namespace is invalid."
        );
        assert_eq!(
            error(json!({"MetricName": "m"})),
            "At least one of the parameters MetricData.member.1.Value, MetricData.member.1.Values or MetricData.member.1.StatisticValues must be specified."
        );
        assert_eq!(
            error(
                json!({"MetricName": "m", "Value": 1, "StatisticValues": {"SampleCount": 1, "Sum": 1, "Minimum": 1, "Maximum": 1}})
            ),
            "The parameters MetricData.member.1.Value and MetricData.member.1.StatisticValues are mutually exclusive and you have specified both."
        );
        assert_eq!(
            error(json!({"MetricName": "m", "Values": [1, 2], "Counts": [1]})),
            "The parameters MetricData.member.1.Values and MetricData.member.1.Counts must be of the same size."
        );
        assert_eq!(
            error(json!({"MetricName": "m", "Value": "NaN"})),
            "The value NaN for parameter MetricData.member.1.Value is invalid."
        );
        assert_eq!(
            error(json!({"MetricName": "m", "Values": [1, 1e200]})),
            "The value 1e+200 for parameter MetricData.member.1.Values.member.2 is invalid."
        );
        assert_eq!(
            error(json!({"MetricName": "m", "Values": [1], "Counts": [-1]})),
            "The value -1 for parameter MetricData.member.1.Counts.member.1 is invalid."
        );
        assert_eq!(
            error(
                json!({"MetricName": "m", "StatisticValues": {"SampleCount": 0, "Sum": 1, "Minimum": 1, "Maximum": 1}})
            ),
            "The parameter MetricData.member.1.StatisticValues.SampleCount must be greater than 0."
        );
        assert_eq!(
            error(
                json!({"MetricName": "m", "StatisticValues": {"SampleCount": 2, "Sum": 1, "Minimum": 3, "Maximum": 1}})
            ),
            "The parameter MetricData.member.1.StatisticValues.Maximum must be greater than or equal to MetricData.member.1.StatisticValues.Minimum."
        );
        assert_eq!(
            error(json!({"MetricName": "m", "Value": 1, "Timestamp": (NOW - 15 * 86_400_000) / 1000})),
            "The parameter MetricData.member.1.Timestamp must specify a time within the past two weeks."
        );
        assert_eq!(
            error(json!({"MetricName": "m", "Value": 1, "Timestamp": (NOW + 3 * 3_600_000) / 1000})),
            "The parameter MetricData.member.1.Timestamp must specify a time no more than two hours in the future."
        );
        assert_eq!(
            error(json!({"MetricName": "m", "Value": 1, "StorageResolution": 5})),
            "The value 5 for parameter MetricData.member.1.StorageResolution is invalid."
        );
        assert_eq!(
            error(json!({"MetricName": "m", "Value": 1, "Dimensions": [{"Name": " ", "Value": "v"}]})),
            "The value   for parameter MetricData.member.1.Dimensions.member.1.Name is invalid."
        );
        assert_eq!(
            error(
                json!({"MetricName": "m", "Value": 1, "Dimensions": [{"Name": "a", "Value": "v"}, {"Name": "a", "Value": "w"}]})
            ),
            "The parameter MetricData.member.1.Dimensions must not contain duplicate names."
        );
    }

    #[test]
    fn zero_counts_are_skipped_and_sets_keep_their_fields() {
        let input = json!({"Namespace": "N", "MetricData": [
            {"MetricName": "m", "Values": [1, 2], "Counts": [0, 2]},
            {"MetricName": "m", "StatisticValues": {"SampleCount": 2, "Sum": 100, "Minimum": 40, "Maximum": 60}}]});
        let samples = samples_of(&input, NOW, RULES).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!((samples[0].sample.min, samples[0].sample.count), (2.0, 2.0));
        let set = samples[1].sample;
        assert!(set.is_set && !set.percentile_eligible());
        assert_eq!((set.count, set.sum, set.min, set.max), (2.0, 100.0, 40.0, 60.0));
    }
}
