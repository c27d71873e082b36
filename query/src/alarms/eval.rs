//! Reading the evaluation range of metric alarms (spec metrics-alarms.md §3.3 steps 2–3) and
//! deciding them. Single-metric alarms due in one round share one scan; metric math runs per
//! alarm through the GetMetricData evaluator.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use fluoro_proto::alarms::StateValue;
use fluoro_proto::alarms::evaluate::{self, Bucket, Point};
use fluoro_proto::metrics::stats::{self, Stat};
use fluoro_store::LogStore;

use super::model::{Compiled, MetricPlan, Source};
use crate::cw_metrics::MetricsReadApi;
use crate::cw_metrics::fetch::{self, SampleSet};
use crate::cw_metrics::math::MValue;

/// A metric alarm to evaluate, with the configuration generation it was read at.
pub struct Due {
    pub name: String,
    pub generation: u64,
    pub compiled: Arc<Compiled>,
    /// E, the evaluation end.
    pub end_ms: i64,
}

/// A decided state change candidate.
pub struct Outcome {
    pub name: String,
    pub generation: u64,
    pub state: StateValue,
    pub reason: String,
    pub reason_data: Option<String>,
}

/// `[E − R·P, E)`, the evaluation range.
fn range(due: &Due) -> (i64, i64) {
    let plan = plan(due);
    (due.end_ms - plan.range_buckets() * plan.period_s * 1000, due.end_ms)
}

fn plan(due: &Due) -> &MetricPlan {
    match due.compiled.as_ref() {
        Compiled::Metric(plan) => plan,
        Compiled::Composite(_) => unreachable!("only metric alarms are due"),
    }
}

/// Evaluates `due` at `now_ms`; outcomes that keep the state are left out.
pub async fn evaluate(store: &LogStore, metrics: &MetricsReadApi, due: &[Due], now_ms: i64) -> Vec<Outcome> {
    let mut outcomes = Vec::new();
    // One read per evaluation range for all single-metric alarms sharing it (usually one for
    // the whole round), so a long-period alarm does not widen everybody's read.
    let mut ranges: BTreeMap<(i64, i64), HashSet<u64>> = BTreeMap::new();
    for item in due {
        if let Source::Single { key, .. } = &plan(item).source {
            ranges.entry(range(item)).or_default().insert(key.id());
        }
    }
    let mut sets: HashMap<(i64, i64), SampleSet> = HashMap::new();
    for ((start, end), ids) in ranges {
        let ids: Vec<u64> = ids.into_iter().collect();
        match fetch::fetch(store, &ids, start, end, now_ms).await {
            Ok(samples) => {
                sets.insert((start, end), samples);
            }
            Err(error) => {
                tracing::warn!(%error, "alarm evaluation read failed; the round is skipped");
                return outcomes;
            }
        }
    }
    for item in due {
        let plan = plan(item);
        let buckets = match &plan.source {
            Source::Single { .. } => match sets.get(&range(item)) {
                Some(samples) => single_buckets(samples, plan, item.end_ms),
                None => continue,
            },
            Source::Math { queries, return_id, band_id } => {
                let (start, end) = range(item);
                match metrics.evaluate_queries(queries, start, end, now_ms).await {
                    Ok(values) => {
                        let band = band_id.as_ref().map(|id| values.get(id));
                        math_buckets(values.get(return_id), band, plan, item.end_ms)
                    }
                    Err(error) => {
                        tracing::warn!(alarm = %item.name, %error, "alarm expression failed; treated as no data");
                        math_buckets(None, None, plan, item.end_ms)
                    }
                }
            }
        };
        if let Some(outcome) = decide(item, plan, &buckets, now_ms) {
            outcomes.push(outcome);
        }
    }
    outcomes
}

/// The decision and its texts.
fn decide(item: &Due, plan: &MetricPlan, buckets: &[Bucket], now_ms: i64) -> Option<Outcome> {
    let decision = evaluate::decide(buckets, &plan.criteria);
    let state = decision.state?;
    let reason = evaluate::reason(&decision, state, &plan.criteria);
    let source = match &plan.source {
        Source::Single { stat_name, extended, unit_name, .. } => {
            evaluate::Source::Metric { statistic: stat_name, extended: *extended, unit: unit_name.as_deref() }
        }
        Source::Math { .. } => evaluate::Source::Math,
    };
    let data = evaluate::reason_data(&decision, state, &plan.criteria, buckets, now_ms, plan.period_s, source);
    Some(Outcome { name: item.name.clone(), generation: item.generation, state, reason, reason_data: Some(data) })
}

/// The R buckets of a single-metric alarm, newest first.
pub fn single_buckets(samples: &SampleSet, plan: &MetricPlan, end_ms: i64) -> Vec<Bucket> {
    let Source::Single { key, stat, unit, low_sample_percentile, .. } = &plan.source else {
        return Vec::new();
    };
    let step = plan.period_s * 1000;
    let count = plan.range_buckets();
    let start = end_ms - count * step;
    let mut grid: Vec<stats::Bucket> = (0..count).map(|_| stats::Bucket::default()).collect();
    for row in samples.of(key.id()) {
        let ts = row.sample.timestamp_ms;
        if ts < start || ts >= end_ms || unit.is_some_and(|u| u != row.sample.unit) {
            continue;
        }
        row.add_to(&mut grid[((ts - start) / step) as usize]);
    }
    (0..count)
        .rev()
        .map(|i| {
            let bucket = &mut grid[i as usize];
            let timestamp_ms = start + i * step;
            let point = bucket.value(stat).map(|value| {
                let sample_count = bucket.value(&Stat::SampleCount).unwrap_or_default();
                let low_sample = low_sample_percentile.is_some_and(|x| evaluate::low_sample(x, sample_count));
                Point { value, sample_count, low_sample, band: None }
            });
            Bucket { timestamp_ms, point }
        })
        .collect()
}

/// The R buckets of a math alarm from its returned series, newest first. A band alarm
/// (`band`: the ANOMALY_DETECTION_BAND value, upper then lower) has a datapoint only where
/// the band has a value too.
fn math_buckets(value: Option<&MValue>, band: Option<Option<&MValue>>, plan: &MetricPlan, end_ms: i64) -> Vec<Bucket> {
    let step = plan.period_s * 1000;
    let count = plan.range_buckets();
    let start = end_ms - count * step;
    let points = match value {
        Some(MValue::Series(ts)) => Some(&ts.points),
        Some(MValue::Array(items)) if items.len() == 1 => Some(&items[0].points),
        _ => None,
    };
    (0..count)
        .rev()
        .map(|i| {
            let timestamp_ms = start + i * step;
            let bounds = match band {
                None => Some(None),
                Some(Some(MValue::Array(sides))) if sides.len() == 2 => {
                    match (sides[1].points.get(&timestamp_ms), sides[0].points.get(&timestamp_ms)) {
                        (Some(lo), Some(up)) => Some(Some((*lo, *up))),
                        _ => None,
                    }
                }
                Some(_) => None,
            };
            let point = points
                .and_then(|p| p.get(&timestamp_ms))
                .filter(|v| v.is_finite() && bounds.is_some())
                .map(|value| Point { value: *value, sample_count: 0.0, low_sample: false, band: bounds.flatten() });
            Bucket { timestamp_ms, point }
        })
        .collect()
}
