//! PutMetricFilter, DeleteMetricFilter, TestMetricFilter (spec logs.md §3.11), and applying
//! the group's filters and Embedded Metric Format to stored events (§6, §9).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;

use fluoro_proto::emf;
use fluoro_proto::filter::FilterPattern;
use fluoro_proto::metric_filter::{CompiledFilter, MetricFilterDef};
use fluoro_proto::metrics::{KeyedSample, Sample, SeriesKey, UNIT_NONE, floor_to_resolution, in_window};
use fluoro_proto::validation::Violations;
use fluoro_proto::{AwsError, ErrorCode, LogGroupName};
use fluoro_store::{MetricBatch, Series};
use rustc_hash::FxHashMap;
use serde::Deserialize;
use serde_json::{Value, json};

use super::groups::map_catalog_error;
use super::{LogsWriteApi, empty, group_not_found};

/// The datapoints of one PutLogEvents request, folded as they are produced: samples of one
/// series, minute, unit and value become one weighted sample (an exact rewrite: a value with
/// count n is n copies of it). A filter counting `ERROR` lines stores one row per minute, not
/// one per line.
#[derive(Default)]
struct Datapoints {
    samples: Vec<KeyedSample>,
    index: FxHashMap<(u64, i64, u8, u16, u64), usize>,
}

/// A filter's last datapoint in a request: (series, minute, value bits) and where it went
/// (the unit is the filter's, so it cannot differ).
/// Consecutive events mostly repeat it (a count of 1 per matching line), so most datapoints
/// are folded without a hash lookup.
type LastPoint = Option<((u64, i64, u64), usize)>;

impl Datapoints {
    /// Adds one datapoint of `value`; `key` is cloned only for a new sample.
    fn add_value(
        &mut self,
        last: &mut LastPoint,
        (key, id): (&Arc<SeriesKey>, u64),
        timestamp_ms: i64,
        unit: u8,
        value: f64,
    ) {
        let minute = floor_to_resolution(timestamp_ms, 60);
        let point = (id, minute, value.to_bits());
        if let Some((previous, at)) = *last
            && previous == point
        {
            self.fold(at, 1.0);
            return;
        }
        let at = self.add(Sample::value(id, minute, unit, 60, value, 1.0), || key.clone());
        *last = Some((point, at));
    }

    /// `count` more copies of the value of weighted sample `at`.
    fn fold(&mut self, at: usize, count: f64) {
        let target = &mut self.samples[at].sample;
        target.count += count;
        target.sum = target.min * target.count;
    }

    /// Adds a sample; returns where it was stored or folded.
    fn add(&mut self, sample: Sample, key: impl FnOnce() -> Arc<SeriesKey>) -> usize {
        if sample.is_set {
            self.samples.push(KeyedSample { key: key(), sample });
            return self.samples.len() - 1;
        }
        let index_key = (sample.series, sample.timestamp_ms, sample.unit, sample.resolution, sample.min.to_bits());
        match self.index.entry(index_key) {
            Entry::Occupied(at) => {
                let at = *at.get();
                self.fold(at, sample.count);
                at
            }
            Entry::Vacant(at) => {
                at.insert(self.samples.len());
                self.samples.push(KeyedSample { key: key(), sample });
                self.samples.len() - 1
            }
        }
    }
}

/// What metric filters and EMF derive from one PutLogEvents request.
pub(super) struct Derived {
    pub batch: MetricBatch,
    /// Invalid EMF documents, by the name of the metric that counts them.
    pub emf_errors: BTreeMap<&'static str, u64>,
}

/// Lambda execution environments seen lately, per function: each has a log stream of its own
/// and runs one invocation at a time, so the streams that reported within a minute estimate
/// the function's concurrency.
#[derive(Default)]
pub(crate) struct LambdaActivity {
    /// Function → stream id → timestamp of its newest REPORT.
    functions: FxHashMap<String, FxHashMap<u64, i64>>,
}

/// The span over which reporting streams count as concurrently executing.
const CONCURRENCY_WINDOW_MS: i64 = 60_000;

impl LambdaActivity {
    /// Records a report of `stream` at `timestamp`; returns the streams of the function that
    /// reported within the minute up to it.
    fn report(&mut self, function: &str, stream: u64, timestamp: i64) -> usize {
        let streams = match self.functions.get_mut(function) {
            Some(streams) => streams,
            None => self.functions.entry(function.to_owned()).or_default(),
        };
        let newest = streams.entry(stream).or_insert(timestamp);
        *newest = (*newest).max(timestamp);
        if streams.len() > 64 {
            // Environments idle for 15 minutes are gone (Lambda recycles them sooner).
            streams.retain(|_, t| *t >= timestamp - 15 * CONCURRENCY_WINDOW_MS);
        }
        streams.values().filter(|t| (timestamp - CONCURRENCY_WINDOW_MS..=timestamp).contains(*t)).count()
    }
}

/// Filters one group may have.
const MAX_FILTERS_PER_GROUP: usize = 100;
/// Patterns with a regex, across one group's filters.
const MAX_REGEX_FILTERS_PER_GROUP: usize = 5;

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

    /// The `AWS/Lambda` metrics of the REPORTs among `events` (`fluoro_proto::lambda`), with
    /// the `ConcurrentExecutions` estimate of [`LambdaActivity`].
    fn lambda_metrics(&self, function: &str, stream_id: u64, events: &[(i64, &str)], out: &mut Vec<KeyedSample>) {
        let count = fluoro_proto::metrics::unit_index("Count").expect("a CloudWatch unit");
        for &(timestamp, message) in events {
            let Some(report) = fluoro_proto::lambda::report(message) else { continue };
            out.extend(fluoro_proto::lambda::samples(function, timestamp, &report));
            let concurrent = self.lambda.lock().report(function, stream_id, timestamp);
            let key = fluoro_proto::lambda::series(function, "ConcurrentExecutions");
            let sample = Sample::value(key.id(), timestamp, count, 60, concurrent as f64, 1.0);
            out.push(KeyedSample { key, sample });
        }
    }

    /// The datapoints the metric filters of `group` and EMF derive from events about to be
    /// stored (they are committed with them), and the invalid EMF documents by kind.
    pub(super) fn derive_metrics(&self, group: &str, stream_id: u64, events: &[(i64, &str)], now: i64) -> Derived {
        let filters = self.store.metric_filters().group(group).unwrap_or_default();
        let mut points = Datapoints::default();
        let mut last: Vec<LastPoint> = vec![None; filters.filters.len()];
        // The one series of each filter without dimensions, and the series of the others by
        // dimension values, for this request: only a new set of values goes to the filter's
        // shared (locked) table and its per-hour cap.
        let fixed: Vec<Option<Series>> =
            filters.filters.iter().map(|f| if f.filter.has_dimensions() { None } else { f.series(&[], now) }).collect();
        let mut series: Vec<FxHashMap<Vec<Cow<'_, str>>, Option<Series>>> =
            vec![FxHashMap::default(); filters.filters.len()];
        let mut emf_errors: BTreeMap<&'static str, u64> = BTreeMap::new();
        for &(timestamp, message) in events {
            // Out-of-window datapoints are dropped on the logs side (metrics-alarms.md §5).
            if !in_window(timestamp, now) {
                continue;
            }
            let event = filters.plan.event(message);
            for (i, active) in filters.filters.iter().enumerate() {
                let Some(point) = active.filter.evaluate_event(&event, filters.plan.slots(i)) else { continue };
                let resolved = match &fixed[i] {
                    Some(fixed) => fixed,
                    None => match series[i].get(&point.dimension_values) {
                        Some(Some(resolved)) => resolved,
                        Some(None) => continue,
                        None => {
                            let resolved = active.series(&point.dimension_values, now);
                            match series[i].entry(point.dimension_values).or_insert(resolved) {
                                Some(resolved) => resolved,
                                None => continue,
                            }
                        }
                    },
                };
                let (key, id) = resolved;
                points.add_value(&mut last[i], (key, *id), timestamp, active.filter.unit(), point.value);
            }
            if let Some(extracted) = emf::extract(message, timestamp) {
                match extracted {
                    Ok(samples) => {
                        for KeyedSample { key, sample } in samples {
                            points.add(sample, || key);
                        }
                    }
                    Err(error) => *emf_errors.entry(error.metric_name()).or_default() += 1,
                }
            }
        }
        let mut samples = points.samples;
        if let Some(function) = fluoro_proto::lambda::function_name(group) {
            self.lambda_metrics(function, stream_id, events, &mut samples);
        }
        // EMF timestamps come from the documents: the same window applies to them.
        samples.retain(|s| in_window(s.sample.timestamp_ms, now));
        for (&name, &count) in &emf_errors {
            let key = Arc::new(SeriesKey::new("AWS/Logs", name, vec![("LogGroupName".to_owned(), group.to_owned())]));
            let sample = Sample::value(key.id(), now, UNIT_NONE, 60, count as f64, 1.0);
            samples.push(KeyedSample { key, sample });
        }
        Derived { batch: MetricBatch { ingestion_time: now, samples }, emf_errors }
    }
}
