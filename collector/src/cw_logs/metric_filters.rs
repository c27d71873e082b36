//! PutMetricFilter, DeleteMetricFilter, TestMetricFilter (spec logs.md §3.11), and applying
//! the group's filters and Embedded Metric Format to stored events (§6, §9).

use std::collections::BTreeMap;
use std::sync::Arc;

use fluoro_proto::emf;
use fluoro_proto::filter::FilterPattern;
use fluoro_proto::metric_filter::{CompiledFilter, Event, MetricFilterDef};
use fluoro_proto::metrics::{KeyedSample, Sample, SeriesKey, UNIT_NONE};
use fluoro_proto::validation::Violations;
use fluoro_proto::{AwsError, ErrorCode, LogGroupName};
use fluoro_store::MetricBatch;
use serde::Deserialize;
use serde_json::{Value, json};

use super::groups::map_catalog_error;
use super::{LogsWriteApi, empty, group_not_found};

/// Folds samples of one series, minute, unit and value into one weighted sample (an exact
/// rewrite: a value with count n is n copies of it). A filter counting `ERROR` lines then
/// stores one row per minute, not one per line.
fn merge_equal_values(samples: Vec<KeyedSample>) -> Vec<KeyedSample> {
    let mut index: std::collections::HashMap<(u64, i64, u8, u16, u64), usize> = std::collections::HashMap::new();
    let mut out: Vec<KeyedSample> = Vec::with_capacity(samples.len());
    for keyed in samples {
        let s = &keyed.sample;
        if s.is_set {
            out.push(keyed);
            continue;
        }
        let key = (s.series, s.timestamp_ms, s.unit, s.resolution, s.min.to_bits());
        match index.get(&key) {
            Some(&i) => {
                let target = &mut out[i].sample;
                target.count += s.count;
                target.sum = target.min * target.count;
            }
            None => {
                index.insert(key, out.len());
                out.push(keyed);
            }
        }
    }
    out
}

/// Filters one group may have.
const MAX_FILTERS_PER_GROUP: usize = 100;
/// Patterns with a regex, across one group's filters.
const MAX_REGEX_FILTERS_PER_GROUP: usize = 5;
const PAST_MS: i64 = 14 * 86_400_000;
const FUTURE_MS: i64 = 2 * 3_600_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PutMetricFilterInput {
    log_group_name: String,
    filter_name: String,
    filter_pattern: String,
    metric_transformations: Vec<TransformationInput>,
    #[serde(default)]
    apply_on_transformed_logs: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransformationInput {
    metric_name: String,
    metric_namespace: String,
    metric_value: String,
    default_value: Option<f64>,
    #[serde(default)]
    dimensions: BTreeMap<String, String>,
    unit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeleteMetricFilterInput {
    log_group_name: String,
    filter_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TestMetricFilterInput {
    filter_pattern: String,
    log_event_messages: Vec<String>,
}

fn check_filter_name(v: &mut Violations, path: &str, name: &str) {
    v.min_len(path, name, 1);
    v.max_len(path, name, 512);
    if name.contains([':', '*']) {
        v.pattern(path, name, "[^:*]*");
    }
}

impl LogsWriteApi {
    pub(super) fn put_metric_filter(&self, input: PutMetricFilterInput) -> Result<Value, AwsError> {
        let mut v = Violations::new();
        check_filter_name(&mut v, "filterName", &input.filter_name);
        v.max_len("filterPattern", &input.filter_pattern, 1024);
        if input.metric_transformations.len() != 1 {
            let constraint = if input.metric_transformations.is_empty() {
                "Member must have length greater than or equal to 1"
            } else {
                "Member must have length less than or equal to 1"
            };
            v.push("[...]", "metricTransformations", constraint);
        }
        for (i, t) in input.metric_transformations.iter().enumerate() {
            let at = |m: &str| format!("metricTransformations.{}.member.{m}", i + 1);
            for (member, value) in [("metricName", &t.metric_name), ("metricNamespace", &t.metric_namespace)] {
                v.max_len(&at(member), value, 255);
                if value.contains([':', '*', '$']) {
                    v.pattern(&at(member), value, "[^:*$]*");
                }
            }
            v.max_len(&at("metricValue"), &t.metric_value, 100);
        }
        v.finish()?;
        let group = LogGroupName::parse(&input.log_group_name)?;
        if self.store.catalog().group(group.as_str()).is_none() {
            return Err(group_not_found());
        }
        let t = input.metric_transformations.into_iter().next().expect("exactly one transformation");
        let filters = self.store.metric_filters();
        let existing = filters.get(group.as_str(), &input.filter_name);
        let def = MetricFilterDef {
            filter_name: input.filter_name,
            filter_pattern: input.filter_pattern,
            log_group_name: group.as_str().to_owned(),
            // Replacing keeps the original creation time.
            creation_time: existing.as_ref().map_or_else(|| self.now(), |f| f.filter.def.creation_time),
            apply_on_transformed_logs: input.apply_on_transformed_logs,
            metric_name: t.metric_name,
            metric_namespace: t.metric_namespace,
            metric_value: t.metric_value,
            default_value: t.default_value,
            dimensions: t.dimensions,
            unit: t.unit,
        };
        let compiled = CompiledFilter::compile(def).map_err(AwsError::invalid_parameter)?;
        let others: Vec<_> = filters
            .of_group(group.as_str())
            .into_iter()
            .filter(|f| f.filter.def.filter_name != compiled.def.filter_name)
            .collect();
        if others.len() >= MAX_FILTERS_PER_GROUP {
            return Err(AwsError::new(ErrorCode::LimitExceeded, "Resource limit exceeded."));
        }
        if compiled.regex_count() > 0
            && others.iter().filter(|f| f.filter.regex_count() > 0).count() >= MAX_REGEX_FILTERS_PER_GROUP
        {
            return Err(AwsError::new(
                ErrorCode::LimitExceeded,
                format!("A log group may have at most {MAX_REGEX_FILTERS_PER_GROUP} filters with regular expressions"),
            ));
        }
        filters.put(self.store.catalog(), compiled).map_err(map_catalog_error)?;
        Ok(empty())
    }

    pub(super) fn delete_metric_filter(&self, input: DeleteMetricFilterInput) -> Result<Value, AwsError> {
        let mut v = Violations::new();
        check_filter_name(&mut v, "filterName", &input.filter_name);
        v.finish()?;
        let group = LogGroupName::parse(&input.log_group_name)?;
        if self.store.catalog().group(group.as_str()).is_none() {
            return Err(group_not_found());
        }
        let existed = self
            .store
            .metric_filters()
            .delete(self.store.catalog(), group.as_str(), &input.filter_name)
            .map_err(map_catalog_error)?;
        if !existed {
            return Err(AwsError::new(ErrorCode::ResourceNotFound, "The specified resource does not exist."));
        }
        Ok(empty())
    }

    pub(super) fn test_metric_filter(&self, input: TestMetricFilterInput) -> Result<Value, AwsError> {
        let mut v = Violations::new();
        v.max_len("filterPattern", &input.filter_pattern, 1024);
        if input.log_event_messages.is_empty() || input.log_event_messages.len() > 50 {
            v.push("[...]", "logEventMessages", "Member must have length between 1 and 50");
        }
        v.finish()?;
        let pattern = FilterPattern::parse(&input.filter_pattern)?;
        let matches: Vec<Value> = input
            .log_event_messages
            .iter()
            .enumerate()
            .filter_map(|(i, message)| {
                let values = pattern.extract(message)?;
                let extracted: serde_json::Map<String, Value> =
                    values.into_iter().map(|(k, v)| (k, Value::String(v))).collect();
                Some(json!({"eventNumber": i, "eventMessage": message, "extractedValues": extracted}))
            })
            .collect();
        Ok(json!({"matches": matches}))
    }

    /// The metric filters of `group` and EMF applied to stored events, in order; the
    /// datapoints go to the metrics store. Events are already acknowledged, so a refused
    /// append is logged and counted, not returned.
    pub(super) async fn produce_metrics(&self, group: &str, events: &[(i64, &str)]) {
        let now = self.now();
        let filters = self.store.metric_filters().of_group(group);
        let mut samples: Vec<KeyedSample> = Vec::new();
        let mut emf_errors: BTreeMap<&'static str, u64> = BTreeMap::new();
        for (timestamp, message) in events {
            let event = Event::new(message);
            for filter in &filters {
                samples.extend(filter.sample(&event, *timestamp, now));
            }
            if let Some(extracted) = emf::extract(message, *timestamp) {
                match extracted {
                    Ok(points) => samples.extend(points),
                    Err(error) => *emf_errors.entry(error.metric_name()).or_default() += 1,
                }
            }
        }
        // Out-of-window datapoints are dropped on the logs side (metrics-alarms.md §5).
        samples.retain(|s| s.sample.timestamp_ms >= now - PAST_MS && s.sample.timestamp_ms <= now + FUTURE_MS);
        let mut samples = merge_equal_values(samples);
        for (name, count) in emf_errors {
            let key = Arc::new(SeriesKey::new("AWS/Logs", name, vec![("LogGroupName".to_owned(), group.to_owned())]));
            let sample = Sample::value(key.id(), now, UNIT_NONE, 60, count as f64, 1.0);
            samples.push(KeyedSample { key, sample });
            self.store.metrics().emf_errors.with_label_values(&[name]).inc_by(count);
        }
        if samples.is_empty() {
            return;
        }
        let count = samples.len();
        if let Err(error) = self.store.append_metrics(MetricBatch { ingestion_time: now, samples }).await {
            self.store.metrics().metric_samples_dropped.inc_by(count as u64);
            tracing::warn!(%error, group, count, "datapoints from log events dropped");
        }
    }
}
