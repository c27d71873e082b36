//! OTLP metrics → CloudWatch samples. The mapping (README "OTLP metrics"):
//!
//! - Namespace: resource attribute `aws.cloudwatch.namespace`, else `otel/<service.name>`
//!   (`otel/unknown_service` without one). MetricName: the OTLP metric name. Dimensions: the
//!   data point's attributes as text (at most 30; more rejects the point). Unit: the UCUM unit
//!   mapped to a CloudWatch unit where one matches (`s`, `ms`, `us`, `By`, `KBy`, `MBy`, `GBy`,
//!   `TBy`, `bit`, `%`, `{…}` → Count, `…/s` rates), else `None`.
//! - Gauge: one sample per point. Sum, delta: one sample per point. Sum, cumulative and
//!   monotonic: the increase since the stream's previous point (the first point of a stream
//!   starts it and stores nothing, unless its start time is within the same export interval;
//!   a drop is a reset: the new value is the increase). Non-monotonic cumulative sums are
//!   levels: stored as gauges.
//! - Histogram: each non-empty bucket becomes its count of one value — the bucket midpoint
//!   (the open ends reach to the recorded min/max) — so percentiles resolve to bucket precision;
//!   Sum/Average come from those values; the recorded min and max stand in for one value of
//!   the lowest and highest non-empty buckets (when they fall inside them), so Minimum and
//!   Maximum are exact. Cumulative histograms store the bucket increases.
//! - Exponential histogram: the same with the buckets' geometric midpoints; the zero bucket
//!   is 0.
//! - Summary: a statistic set (count, sum, min = quantile 0 or sum/count, max = quantile 1 or
//!   sum/count); its quantiles are not re-derivable and are dropped.
//!
//! Points older than 14 days or more than 2 hours ahead are rejected like PutMetricData's.

use std::collections::HashMap;
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use serde_json::Value;

use super::{KeyedSample, Sample, SeriesKey, UNIT_NONE, unit_index};
use crate::xray::otlp::attributes;

const MAX_DIMENSIONS: usize = 30;
const CUMULATIVE: i32 = 2;
/// A cumulative stream first seen this soon after its start counts from zero.
const FRESH_START_NS: u64 = 60_000_000_000;
/// Cumulative streams remembered; past this the memory starts over (each stream's next point
/// is a new baseline).
const MAX_STREAMS: usize = 1_000_000;

/// Previous points of cumulative streams (series + OTLP start time → last value or bucket
/// counts), to turn totals into increases.
#[derive(Debug, Default)]
pub struct CumulativeState {
    last: HashMap<(u64, u64), Vec<f64>>,
}

impl CumulativeState {
    /// The increase of `now` over the stream's previous point (element-wise), or `None` for the
    /// first point of a stream that did not just start.
    fn increase(&mut self, series: u64, start_ns: u64, time_ns: u64, now: Vec<f64>) -> Option<Vec<f64>> {
        if self.last.len() >= MAX_STREAMS && !self.last.contains_key(&(series, start_ns)) {
            self.last.clear();
        }
        let previous = self.last.insert((series, start_ns), now.clone());
        match previous {
            Some(prev) if prev.len() == now.len() && prev.iter().zip(&now).all(|(p, n)| n >= p) => {
                Some(now.iter().zip(&prev).map(|(n, p)| n - p).collect())
            }
            // A reset (or new bucket layout): everything since the reset.
            Some(_) => Some(now),
            None if start_ns > 0 && time_ns.saturating_sub(start_ns) <= FRESH_START_NS => Some(now),
            None => None,
        }
    }

    /// What to store of a point: cumulative values become increases, others pass through.
    fn delta(&mut self, cumulative: bool, series: u64, start_ns: u64, time_ns: u64, now: Vec<f64>) -> Option<Vec<f64>> {
        if cumulative { self.increase(series, start_ns, time_ns, now) } else { Some(now) }
    }
}

#[derive(Debug, Default)]
pub struct Converted {
    pub samples: Vec<KeyedSample>,
    pub rejected: i64,
    pub error: Option<String>,
}

impl Converted {
    fn reject(&mut self, reason: impl Into<String>) {
        self.rejected += 1;
        self.error.get_or_insert_with(|| reason.into());
    }
}

/// UCUM → CloudWatch unit.
pub fn cloudwatch_unit(ucum: &str) -> u8 {
    let name = match ucum {
        "s" => "Seconds",
        "ms" => "Milliseconds",
        "us" => "Microseconds",
        "By" => "Bytes",
        "KBy" | "kBy" => "Kilobytes",
        "MBy" => "Megabytes",
        "GBy" => "Gigabytes",
        "TBy" => "Terabytes",
        "bit" => "Bits",
        "Kibit" | "kbit" => "Kilobits",
        "Mbit" => "Megabits",
        "Gbit" => "Gigabits",
        "%" => "Percent",
        "By/s" => "Bytes/Second",
        "KBy/s" | "kBy/s" => "Kilobytes/Second",
        "MBy/s" => "Megabytes/Second",
        "bit/s" => "Bits/Second",
        "1/s" => "Count/Second",
        u if u.starts_with('{') && u.ends_with("}/s") => "Count/Second",
        u if u.starts_with('{') && u.ends_with('}') => "Count",
        _ => "None",
    };
    unit_index(name).unwrap_or(UNIT_NONE)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn dimensions(list: &[KeyValue]) -> Option<Vec<(String, String)>> {
    let attrs = attributes(list);
    if attrs.len() > MAX_DIMENSIONS {
        return None;
    }
    Some(
        attrs
            .into_iter()
            .filter(|(k, _)| !k.is_empty())
            .filter_map(|(k, v)| text(&v).filter(|t| !t.trim().is_empty()).map(|t| (k, t.chars().take(1024).collect())))
            .collect(),
    )
}

struct Stream<'a> {
    namespace: &'a str,
    name: &'a str,
    unit: u8,
}

impl Stream<'_> {
    fn key(&self, attrs: &[KeyValue]) -> Option<Arc<SeriesKey>> {
        Some(Arc::new(SeriesKey::new(self.namespace, self.name, dimensions(attrs)?)))
    }
}

fn push_values(out: &mut Converted, key: &Arc<SeriesKey>, ts_ms: i64, unit: u8, values: &[(f64, f64)]) {
    for (v, c) in values {
        if *c > 0.0 && v.is_finite() {
            out.samples
                .push(KeyedSample { key: key.clone(), sample: Sample::value(key.id(), ts_ms, unit, 60, *v, *c) });
        }
    }
}

/// Representative values of explicit buckets: midpoints; the open ends reach to the recorded
/// min and max.
fn explicit_representatives(bounds: &[f64], min: Option<f64>, max: Option<f64>) -> Vec<f64> {
    let mut out = Vec::with_capacity(bounds.len() + 1);
    for i in 0..=bounds.len() {
        let v = match (i.checked_sub(1).map(|j| bounds[j]), bounds.get(i)) {
            (None, Some(hi)) => min.filter(|m| m <= hi).map_or(*hi, |m| (m + hi) / 2.0),
            (Some(lo), None) => max.filter(|m| *m > lo).map_or(lo, |m| (lo + m) / 2.0),
            (Some(lo), Some(hi)) => (lo + hi) / 2.0,
            (None, None) => min.or(max).unwrap_or(0.0),
        };
        out.push(v);
    }
    out
}

/// The recorded min and max replace one value of the lowest and highest non-empty buckets
/// when they fall inside them, so Minimum and Maximum come out exact.
fn pin_extremes(values: &mut Vec<(f64, f64)>, bounds: &[f64], min: Option<f64>, max: Option<f64>) {
    let inside = |i: usize, v: f64| {
        let lo = if i == 0 { f64::NEG_INFINITY } else { bounds[i - 1] };
        let hi = bounds.get(i).copied().unwrap_or(f64::INFINITY);
        (i == 0 || v > lo) && v <= hi
    };
    let non_empty: Vec<usize> = (0..values.len()).filter(|i| values[*i].1 > 0.0).collect();
    let (Some(&first), Some(&last)) = (non_empty.first(), non_empty.last()) else { return };
    let mut extra = Vec::new();
    if let Some(min) = min.filter(|m| inside(first, *m)) {
        values[first].1 -= 1.0;
        extra.push((min, 1.0));
    }
    if let Some(max) = max.filter(|m| inside(last, *m))
        && values[last].1 >= 1.0
    {
        values[last].1 -= 1.0;
        extra.push((max, 1.0));
    }
    values.extend(extra);
}

/// Converts one export; `now_ms` bounds the accepted time window.
pub fn convert(request: &ExportMetricsServiceRequest, state: &mut CumulativeState, now_ms: i64) -> Converted {
    let mut out = Converted::default();
    for rm in &request.resource_metrics {
        let resource = rm.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        let namespace = match resource.get("aws.cloudwatch.namespace").and_then(text) {
            Some(ns) if !ns.is_empty() => ns,
            _ => format!(
                "otel/{}",
                resource
                    .get("service.name")
                    .and_then(text)
                    .filter(|s| !s.is_empty())
                    .unwrap_or("unknown_service".into())
            ),
        };
        for sm in &rm.scope_metrics {
            for metric in &sm.metrics {
                if metric.name.is_empty() || metric.name.chars().count() > 255 {
                    out.reject(format!("invalid metric name {:?}", metric.name));
                    continue;
                }
                let stream = Stream { namespace: &namespace, name: &metric.name, unit: cloudwatch_unit(&metric.unit) };
                convert_metric(&stream, metric.data.as_ref(), state, now_ms, &mut out);
            }
        }
    }
    out
}

fn in_window(time_ns: u64, now_ms: i64) -> Option<i64> {
    let ms = (time_ns / 1_000_000) as i64;
    super::in_window(ms, now_ms).then_some(ms)
}

fn convert_metric(
    stream: &Stream<'_>,
    data: Option<&metric::Data>,
    state: &mut CumulativeState,
    now_ms: i64,
    out: &mut Converted,
) {
    use metric::Data;
    let Some(data) = data else { return };
    macro_rules! point_prelude {
        ($point:expr) => {{
            let Some(key) = stream.key(&$point.attributes) else {
                out.reject(format!("metric {} has a point with more than {MAX_DIMENSIONS} attributes", stream.name));
                continue;
            };
            let Some(ts) = in_window($point.time_unix_nano, now_ms) else {
                out.reject(format!("metric {} has a point outside the accepted time window", stream.name));
                continue;
            };
            (key, ts)
        }};
    }
    let number = |v: &Option<number_data_point::Value>| match v {
        Some(number_data_point::Value::AsDouble(d)) => Some(*d),
        Some(number_data_point::Value::AsInt(i)) => Some(*i as f64),
        None => None,
    };
    match data {
        Data::Gauge(gauge) => {
            for point in &gauge.data_points {
                let (key, ts) = point_prelude!(point);
                if let Some(v) = number(&point.value) {
                    push_values(out, &key, ts, stream.unit, &[(v, 1.0)]);
                }
            }
        }
        Data::Sum(sum) => {
            for point in &sum.data_points {
                let (key, ts) = point_prelude!(point);
                let Some(v) = number(&point.value) else { continue };
                let cumulative = sum.aggregation_temporality == CUMULATIVE && sum.is_monotonic;
                let Some(value) =
                    state.delta(cumulative, key.id(), point.start_time_unix_nano, point.time_unix_nano, vec![v])
                else {
                    continue;
                };
                let value = value[0];
                push_values(out, &key, ts, stream.unit, &[(value, 1.0)]);
            }
        }
        Data::Histogram(histogram) => {
            for point in &histogram.data_points {
                let (key, ts) = point_prelude!(point);
                let counts: Vec<f64> = point.bucket_counts.iter().map(|c| *c as f64).collect();
                let cumulative = histogram.aggregation_temporality == CUMULATIVE;
                let Some(counts) =
                    state.delta(cumulative, key.id(), point.start_time_unix_nano, point.time_unix_nano, counts)
                else {
                    continue;
                };
                let representatives = explicit_representatives(&point.explicit_bounds, point.min, point.max);
                let mut values: Vec<(f64, f64)> = representatives.into_iter().zip(counts).collect();
                pin_extremes(&mut values, &point.explicit_bounds, point.min, point.max);
                push_values(out, &key, ts, stream.unit, &values);
            }
        }
        Data::ExponentialHistogram(histogram) => {
            for point in &histogram.data_points {
                let (key, ts) = point_prelude!(point);
                let base = 2f64.powf(2f64.powi(-point.scale));
                let mut layout = vec![(0.0, point.zero_count as f64)];
                for (sign, buckets) in [(1.0, &point.positive), (-1.0, &point.negative)] {
                    if let Some(b) = buckets {
                        for (i, count) in b.bucket_counts.iter().enumerate() {
                            let index = f64::from(b.offset) + i as f64;
                            // Bucket (base^index, base^(index+1)]: its geometric midpoint.
                            let mid = base.powf(index + 0.5);
                            layout.push((sign * mid, *count as f64));
                        }
                    }
                }
                let counts: Vec<f64> = layout.iter().map(|(_, c)| *c).collect();
                let cumulative = histogram.aggregation_temporality == CUMULATIVE;
                let Some(counts) =
                    state.delta(cumulative, key.id(), point.start_time_unix_nano, point.time_unix_nano, counts)
                else {
                    continue;
                };
                let values: Vec<(f64, f64)> = layout.iter().map(|(v, _)| *v).zip(counts).collect();
                push_values(out, &key, ts, stream.unit, &values);
            }
        }
        Data::Summary(summary) => {
            for point in &summary.data_points {
                let (key, ts) = point_prelude!(point);
                if point.count == 0 {
                    continue;
                }
                let count = point.count as f64;
                let mean = point.sum / count;
                let quantile = |q: f64| point.quantile_values.iter().find(|v| v.quantile == q).map(|v| v.value);
                let (min, max) = (quantile(0.0).unwrap_or(mean), quantile(1.0).unwrap_or(mean));
                if !(point.sum.is_finite() && min.is_finite() && max.is_finite()) {
                    out.reject(format!("metric {} has a non-finite summary", stream.name));
                    continue;
                }
                let mut sample = Sample::value(key.id(), ts, stream.unit, 60, min.min(max), count);
                sample.sum = point.sum;
                sample.max = max.max(min);
                sample.is_set = true;
                out.samples.push(KeyedSample { key, sample });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
    use opentelemetry_proto::tonic::metrics::v1::{
        AggregationTemporality, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
        ScopeMetrics, Sum, Summary, SummaryDataPoint, summary_data_point::ValueAtQuantile,
    };
    use opentelemetry_proto::tonic::resource::v1::Resource;

    use super::*;

    const NOW_MS: i64 = 1_800_000_000_000;
    const NOW_NS: u64 = NOW_MS as u64 * 1_000_000;

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(any_value::Value::StringValue(value.into())) }),
            ..Default::default()
        }
    }

    fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource { attributes: vec![kv("service.name", "checkout")], ..Default::default() }),
                scope_metrics: vec![ScopeMetrics { metrics, ..Default::default() }],
                ..Default::default()
            }],
        }
    }

    fn number(start: u64, time: u64, v: f64, attrs: Vec<KeyValue>) -> NumberDataPoint {
        NumberDataPoint {
            attributes: attrs,
            start_time_unix_nano: start,
            time_unix_nano: time,
            value: Some(number_data_point::Value::AsDouble(v)),
            ..Default::default()
        }
    }

    fn metric(name: &str, unit: &str, data: metric::Data) -> Metric {
        Metric { name: name.into(), unit: unit.into(), data: Some(data), ..Default::default() }
    }

    fn cumulative_sum(start: u64, time: u64, v: f64) -> Metric {
        metric(
            "requests",
            "{request}",
            metric::Data::Sum(Sum {
                data_points: vec![number(start, time, v, vec![kv("route", "/a")])],
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            }),
        )
    }

    #[test]
    fn gauges_and_cumulative_sums() {
        let mut state = CumulativeState::default();
        let gauge = metric(
            "queue_depth",
            "1",
            metric::Data::Gauge(Gauge { data_points: vec![number(0, NOW_NS, 7.0, vec![kv("queue", "q1")])] }),
        );
        let out = convert(&request(vec![gauge]), &mut state, NOW_MS);
        assert_eq!(out.samples.len(), 1);
        let key = &out.samples[0].key;
        assert_eq!((key.namespace.as_str(), key.name.as_str()), ("otel/checkout", "queue_depth"));
        assert_eq!(key.dimensions, [("queue".to_owned(), "q1".to_owned())]);
        assert_eq!(out.samples[0].sample.unit, UNIT_NONE);
        // A long-running counter: first point is the baseline; then increases; then a reset.
        let old_start = NOW_NS - 3_600_000_000_000;
        let out =
            convert(&request(vec![cumulative_sum(old_start, NOW_NS - 20_000_000_000, 100.0)]), &mut state, NOW_MS);
        assert!(out.samples.is_empty());
        let out =
            convert(&request(vec![cumulative_sum(old_start, NOW_NS - 10_000_000_000, 130.0)]), &mut state, NOW_MS);
        assert_eq!(out.samples[0].sample.sum, 30.0);
        assert_eq!(out.samples[0].sample.unit, unit_index("Count").unwrap());
        let out = convert(&request(vec![cumulative_sum(old_start, NOW_NS, 5.0)]), &mut state, NOW_MS);
        assert_eq!(out.samples[0].sample.sum, 5.0, "a drop is a reset");
        // A counter that just started counts from zero.
        let out = convert(&request(vec![cumulative_sum(NOW_NS - 5_000_000_000, NOW_NS, 3.0)]), &mut state, NOW_MS);
        assert_eq!(out.samples[0].sample.sum, 3.0);
    }

    #[test]
    fn histograms_summaries_and_rejections() {
        let mut state = CumulativeState::default();
        let histogram = metric(
            "latency",
            "ms",
            metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    time_unix_nano: NOW_NS,
                    count: 6,
                    sum: Some(1000.0),
                    bucket_counts: vec![1, 2, 0, 3],
                    explicit_bounds: vec![10.0, 100.0, 1000.0],
                    min: Some(4.0),
                    max: Some(2000.0),
                    ..Default::default()
                }],
                aggregation_temporality: AggregationTemporality::Delta as i32,
            }),
        );
        let summary = metric(
            "rpc",
            "s",
            metric::Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    time_unix_nano: NOW_NS,
                    count: 4,
                    sum: 2.0,
                    quantile_values: vec![
                        ValueAtQuantile { quantile: 0.0, value: 0.1 },
                        ValueAtQuantile { quantile: 1.0, value: 1.2 },
                    ],
                    ..Default::default()
                }],
            }),
        );
        let stale = metric(
            "stale",
            "",
            metric::Data::Gauge(Gauge { data_points: vec![number(0, NOW_NS - 15 * 86_400_000_000_000, 1.0, vec![])] }),
        );
        let out = convert(&request(vec![histogram, summary, stale]), &mut state, NOW_MS);
        let latency: Vec<(f64, f64)> =
            out.samples.iter().filter(|s| s.key.name == "latency").map(|s| (s.sample.min, s.sample.count)).collect();
        assert_eq!(latency, [(55.0, 2.0), (1500.0, 2.0), (4.0, 1.0), (2000.0, 1.0)]);
        let rpc = out.samples.iter().find(|s| s.key.name == "rpc").unwrap().sample;
        assert_eq!((rpc.count, rpc.sum, rpc.min, rpc.max, rpc.is_set), (4.0, 2.0, 0.1, 1.2, true));
        assert_eq!(rpc.unit, unit_index("Seconds").unwrap());
        assert_eq!(out.rejected, 1);
        assert!(out.error.unwrap().contains("stale"));
    }
}
