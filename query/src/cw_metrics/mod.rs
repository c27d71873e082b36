//! CloudWatch metric reads (spec metrics-alarms.md §2.4–§2.8): GetMetricStatistics,
//! GetMetricData with metric math, ListMetrics. Operations take and return the canonical form
//! of `fluoro_proto::cloudwatch`; the HTTP layer does the protocols.

pub mod fetch;
mod labels;
pub mod math;
pub mod native;
mod search;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use base64::Engine;
use fluoro_proto::cloudwatch::{CwError, as_f64};
use fluoro_proto::metrics::stats::{Bucket, Stat};
use fluoro_proto::metrics::{SeriesKey, grid_start, unit_index, unit_name, valid_period, with_thousands};
use fluoro_store::LogStore;
use serde_json::{Map, Value, json};

use self::fetch::SampleSet;
use self::math::{Expr, MValue, Ts};
use crate::cw_logs::tokens;

const HOUR_MS: i64 = 3_600_000;
/// 1-second data is served at sub-minute periods this long (AWS: 3 hours).
const HIGH_RESOLUTION_HORIZON_MS: i64 = 3 * HOUR_MS;
const DAY_MS: i64 = 86_400_000;
const MAX_STATISTICS_DATAPOINTS: i64 = 1440;
const MAX_QUERIES: usize = 500;
const DEFAULT_MAX_DATAPOINTS: i64 = 100_800;
const LIST_PAGE: usize = 500;
/// Metrics without a sample this long are not listed (AWS: 14 days).
const LIST_HORIZON_MS: i64 = 14 * DAY_MS;

pub struct MetricsReadApi {
    store: Arc<LogStore>,
    account_id: String,
}

impl MetricsReadApi {
    pub fn new(store: Arc<LogStore>, account_id: impl Into<String>) -> Self {
        Self { store, account_id: account_id.into() }
    }

    /// Runs `operation` if it is a metrics read; `None` otherwise.
    pub async fn handle(&self, operation: &str, input: &Value, now_ms: i64) -> Option<Result<Value, CwError>> {
        Some(match operation {
            "GetMetricStatistics" => self.get_metric_statistics(input, now_ms).await,
            "GetMetricData" => self.get_metric_data(input, now_ms).await,
            "ListMetrics" => self.list_metrics(input, now_ms),
            _ => return None,
        })
    }

    async fn get_metric_statistics(&self, input: &Value, now_ms: i64) -> Result<Value, CwError> {
        let statistics: Vec<&str> = strings(&input["Statistics"]);
        let extended: Vec<&str> = strings(&input["ExtendedStatistics"]);
        if !statistics.is_empty() && !extended.is_empty() {
            return Err(CwError::combination(
                "The parameters Statistics and ExtendedStatistics are mutually exclusive and you have specified both.",
            ));
        }
        if statistics.is_empty() && extended.is_empty() {
            return Err(CwError::combination("Must specify either Statistics or ExtendedStatistics."));
        }
        let (start_ms, end_ms) = (millis(&input["StartTime"]), millis(&input["EndTime"]));
        if start_ms >= end_ms {
            return Err(CwError::invalid_value("The parameter StartTime must be less than the parameter EndTime."));
        }
        let period = input["Period"].as_i64().unwrap_or_default();
        if !valid_period(period) {
            return Err(CwError::invalid_value("The parameter Period must be a multiple of 60."));
        }
        let mut extended_stats = Vec::new();
        for name in &extended {
            match Stat::parse(name).filter(|s| !s.is_basic()) {
                Some(stat) => extended_stats.push((*name, stat)),
                None => {
                    return Err(CwError::invalid_value(format!(
                        "The value {name} for parameter ExtendedStatistics is not supported."
                    )));
                }
            }
        }
        let anchor = grid_start(start_ms, period, now_ms);
        let buckets = (end_ms - anchor + period * 1000 - 1) / (period * 1000);
        if buckets > MAX_STATISTICS_DATAPOINTS {
            return Err(CwError::combination(format!(
                "You have requested up to {} datapoints, which exceeds the limit of {}. You may reduce the datapoints requested by increasing Period, or decreasing the time range.",
                with_thousands(buckets as u64),
                with_thousands(MAX_STATISTICS_DATAPOINTS as u64)
            )));
        }
        let key = SeriesKey::new(
            input["Namespace"].as_str().unwrap_or_default(),
            input["MetricName"].as_str().unwrap_or_default(),
            dimensions(&input["Dimensions"]),
        );
        let unit = input["Unit"].as_str().and_then(unit_index);
        let samples = fetch::fetch(&self.store, &[key.id()], anchor, end_ms, now_ms).await?;
        let horizons = Horizons::of(&self.store);
        // (bucket start, unit) → bucket.
        let mut grid: BTreeMap<(i64, u8), Bucket> = BTreeMap::new();
        for row in samples.of(key.id()) {
            let sample = &row.sample;
            if unit.is_some_and(|u| u != sample.unit) {
                continue;
            }
            let Some(at) = bucket_of(sample.timestamp_ms, anchor, end_ms, period, now_ms, horizons) else { continue };
            row.add_to(grid.entry((at, sample.unit)).or_default());
        }
        let mut datapoints = Vec::new();
        // Ascending time, then unit name.
        let mut entries: Vec<_> = grid.into_iter().collect();
        entries.sort_by(|((t1, u1), _), ((t2, u2), _)| t1.cmp(t2).then(unit_name(*u1).cmp(unit_name(*u2))));
        for ((at, unit), mut bucket) in entries {
            let mut point = Map::new();
            point.insert("Timestamp".into(), seconds(at));
            for name in ["SampleCount", "Average", "Sum", "Minimum", "Maximum"] {
                if statistics.contains(&name)
                    && let Some(v) = bucket.value(&Stat::parse(name).expect("basic statistic"))
                {
                    point.insert(name.into(), json!(v));
                }
            }
            point.insert("Unit".into(), json!(unit_name(unit)));
            if !extended_stats.is_empty() {
                let mut values = Map::new();
                for (name, stat) in &extended_stats {
                    if let Some(v) = bucket.value(stat) {
                        values.insert((*name).to_owned(), json!(v));
                    }
                }
                if values.is_empty() {
                    continue;
                }
                point.insert("ExtendedStatistics".into(), Value::Object(values));
            }
            datapoints.push(Value::Object(point));
        }
        Ok(json!({"Label": key.name, "Datapoints": datapoints}))
    }

    async fn get_metric_data(&self, input: &Value, now_ms: i64) -> Result<Value, CwError> {
        let (start_ms, end_ms) = (millis(&input["StartTime"]), millis(&input["EndTime"]));
        if start_ms == end_ms {
            return Err(CwError::validation("The parameter StartTime must not equal parameter EndTime."));
        }
        if start_ms > end_ms {
            return Err(CwError::validation("The parameter EndTime must be greater than StartTime."));
        }
        let queries = input["MetricDataQueries"].as_array().map(Vec::as_slice).unwrap_or_default();
        if queries.len() > MAX_QUERIES {
            return Err(too_many_queries());
        }
        let plan = Plan::new(queries)?;
        let descending = input["ScanBy"].as_str() != Some("TimestampAscending");
        let timezone = input["LabelOptions"]["Timezone"].as_str().unwrap_or("+0000").to_owned();
        let offset_ok = timezone.len() == 5
            && matches!(&timezone[..1], "+" | "-")
            && timezone[1..].bytes().all(|b| b.is_ascii_digit())
            && timezone[1..3].parse::<u32>().is_ok_and(|h| h <= 14)
            && timezone[3..].parse::<u32>().is_ok_and(|m| m < 60);
        if !offset_ok {
            return Err(CwError::validation(format!(
                "The value {timezone} for parameter LabelOptions.Timezone is invalid: expected +HHMM or -HHMM."
            )));
        }
        let max_points = input["MaxDatapoints"].as_i64().filter(|m| *m > 0).unwrap_or(DEFAULT_MAX_DATAPOINTS) as usize;
        let print = request_fingerprint(input);
        let offset = match input["NextToken"].as_str() {
            None => 0,
            Some(token) => read_token(token, &print).ok_or_else(CwError::invalid_next_token)?,
        };

        let values = self.evaluate_plan(&plan, start_ms, end_ms, now_ms).await?;

        // Results in request order; arrays give one result per series.
        // (id, label, points, forbidden)
        let mut results: Vec<ResultSeries> = Vec::new();
        for query in queries {
            if query["ReturnData"].as_bool() == Some(false) {
                continue;
            }
            let id = query["Id"].as_str().unwrap_or_default().to_owned();
            let forbidden = query["AccountId"].as_str().is_some_and(|a| a != self.account_id);
            let given_label = query["Label"].as_str();
            let is_expression = query.get("Expression").is_some();
            let dynamic = given_label.filter(|l| l.contains("${"));
            match values.get(&id) {
                Some(MValue::Series(ts)) => {
                    let default = if is_expression {
                        id.clone()
                    } else {
                        ts.metric.as_ref().map_or_else(|| ts.label.clone(), |(key, _)| key.name.clone())
                    };
                    let label = match (dynamic, given_label) {
                        (Some(l), _) => labels::expand(l, &default, ts, &timezone),
                        (None, Some(l)) => l.to_owned(),
                        (None, None) => default,
                    };
                    results.push((id, label, ordered(ts, descending), forbidden));
                }
                Some(MValue::Array(items)) => {
                    let band = matches!(plan.expressions.get(&id), Some(Expr::Call { name, .. }) if name == math::ANOMALY_DETECTION_BAND);
                    for ts in items {
                        let label = match (dynamic, given_label) {
                            (None, Some(l)) if band => l.to_owned(),
                            (Some(l), _) => labels::expand(l, &ts.label, ts, &timezone),
                            (None, Some(l)) => format!("{l} {}", ts.label),
                            (None, None) => ts.label.clone(),
                        };
                        results.push((id.clone(), label, ordered(ts, descending), forbidden));
                    }
                }
                _ => {}
            }
        }
        // Paging over the concatenated points.
        let total: usize = results.iter().map(|r| r.2.len()).sum();
        let mut skip = offset;
        let mut budget = max_points;
        let mut out = Vec::new();
        for (id, label, points, forbidden) in results {
            let (status, timestamps, vals) = if forbidden {
                ("Forbidden", Vec::new(), Vec::new())
            } else {
                let from = skip.min(points.len());
                skip -= from;
                let take = budget.min(points.len() - from);
                budget -= take;
                let part = &points[from..from + take];
                // Cut here, or not reached yet: the next page has more of it.
                let status = if from + take < points.len() { "PartialData" } else { "Complete" };
                (
                    status,
                    part.iter().map(|(t, _)| seconds(*t)).collect::<Vec<_>>(),
                    part.iter().map(|(_, v)| json!(v)).collect::<Vec<_>>(),
                )
            };
            out.push(json!({"Id": id, "Label": label, "Timestamps": timestamps, "Values": vals, "StatusCode": status}));
        }
        let mut response = json!({"MetricDataResults": out, "Messages": []});
        let served = offset + max_points;
        if served < total {
            response["NextToken"] = json!(make_token(served, &print));
        }
        Ok(response)
    }

    /// The values of every query of `plan` over `[start_ms, end_ms)`: MetricStats read in one
    /// fetch (with the series SEARCH calls name), then expressions in dependency order.
    async fn evaluate_plan(
        &self,
        plan: &Plan<'_>,
        start_ms: i64,
        end_ms: i64,
        now_ms: i64,
    ) -> Result<HashMap<String, MValue>, CwError> {
        // Resolve SEARCH calls, then fetch every series in one read.
        let registry = self.store.metric_series().all();
        // Expression id → SEARCH call index → the series it names.
        let mut searches: HashMap<String, HashMap<usize, Vec<search::Found>>> = HashMap::new();
        let mut series_count = plan.metric_stats().count();
        for (id, expr, query) in plan.expressions() {
            let mut calls = Vec::new();
            expr.calls(&mut calls);
            for (index, name, args) in calls {
                if name != "SEARCH" {
                    continue;
                }
                let found = search::resolve(args, query["Period"].as_i64(), &registry, now_ms - LIST_HORIZON_MS)
                    .map_err(|detail| expression_error(id, &detail))?;
                series_count += found.len();
                searches.entry(id.to_owned()).or_default().insert(index, found);
            }
        }
        if series_count > MAX_QUERIES {
            return Err(too_many_queries());
        }
        let mut wanted: HashSet<u64> = plan.metric_stats().map(|(_, stat)| stat.key.id()).collect();
        wanted.extend(searches.values().flat_map(|calls| calls.values().flatten().map(|(key, _, _)| key.id())));
        let smallest_period = plan
            .metric_stats()
            .map(|(_, s)| s.period)
            .chain(searches.values().flat_map(|c| c.values().flatten().map(|(_, _, p)| *p)))
            .min()
            .unwrap_or(60);
        let fetch_from = grid_start(start_ms, smallest_period, now_ms).min(start_ms);
        let wanted: Vec<u64> = wanted.into_iter().collect();
        let samples = fetch::fetch(&self.store, &wanted, fetch_from, end_ms, now_ms).await?;
        let horizons = Horizons::of(&self.store);

        let mut values: HashMap<String, MValue> = HashMap::new();
        let mut metric_ids = Vec::new();
        for (id, stat) in plan.metric_stats() {
            let mut ts =
                series(horizons, &samples, &stat.key, &stat.stat, stat.unit, stat.period, start_ms, end_ms, now_ms);
            ts.label = stat.label.clone();
            ts.metric = Some((stat.key.clone(), stat.stat_name.clone()));
            values.insert(id.to_owned(), MValue::Series(ts));
            metric_ids.push(id.to_owned());
        }
        let periods: HashSet<i64> = plan.metric_stats().map(|(_, s)| s.period).collect();
        let default_period = if periods.len() == 1 { *periods.iter().next().expect("one") } else { 60 };
        let mut resolved: HashMap<String, HashMap<usize, Vec<Ts>>> = HashMap::new();
        for (id, calls) in &searches {
            let mut by_index = HashMap::new();
            for (index, found) in calls {
                let list = found
                    .iter()
                    .map(|(key, stat_name, period)| {
                        let stat = Stat::parse(stat_name).expect("checked by resolve");
                        let mut ts = series(horizons, &samples, key, &stat, None, *period, start_ms, end_ms, now_ms);
                        ts.label = search::label(key);
                        ts.metric = Some((key.clone(), stat_name.clone()));
                        ts
                    })
                    .collect();
                by_index.insert(*index, list);
            }
            resolved.insert(id.clone(), by_index);
        }
        // ANOMALY_DETECTION_BAND reads its metric over the 14 days before the range too.
        let mut histories: HashMap<String, Ts> = HashMap::new();
        let band_ids: HashSet<String> = plan
            .expressions()
            .flat_map(|(_, expr, _)| {
                let mut calls = Vec::new();
                expr.calls(&mut calls);
                calls
                    .into_iter()
                    .filter(|(_, name, _)| *name == math::ANOMALY_DETECTION_BAND)
                    .filter_map(|(_, _, args)| match args.first() {
                        Some(Expr::Id(id)) => Some(id.clone()),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|id| plan.stats.contains_key(id.as_str()))
            .collect();
        if !band_ids.is_empty() {
            let from = start_ms - math::BAND_HISTORY_DAYS * DAY_MS;
            let ids: Vec<u64> = band_ids.iter().map(|id| plan.stats[id.as_str()].key.id()).collect();
            let history = fetch::fetch(&self.store, &ids, from, end_ms, now_ms).await?;
            for id in band_ids {
                let stat = &plan.stats[id.as_str()];
                let mut ts =
                    series(horizons, &history, &stat.key, &stat.stat, stat.unit, stat.period, from, end_ms, now_ms);
                ts.label = stat.label.clone();
                histories.insert(id, ts);
            }
        }
        let no_searches = HashMap::new();
        for id in plan.evaluation_order()? {
            let expr = &plan.expressions[&id];
            let env = math::Env {
                values: &values,
                metric_ids: &metric_ids,
                searches: resolved.get(&id).unwrap_or(&no_searches),
                start_ms,
                end_ms,
                now_ms,
                default_period,
                histories: &histories,
            };
            let value = math::eval(expr, &env).map_err(|detail| expression_error(&id, &detail))?;
            if matches!(value, MValue::Scalar(_)) {
                return Err(expression_error(
                    &id,
                    "The expression must return a time series or an array of time series",
                ));
            }
            values.insert(id, value);
        }

        Ok(values)
    }

    /// Metric math for alarms: checks `queries` as GetMetricData would, then evaluates them
    /// over `[start_ms, end_ms)`; the values by query id.
    pub async fn evaluate_queries(
        &self,
        queries: &[Value],
        start_ms: i64,
        end_ms: i64,
        now_ms: i64,
    ) -> Result<HashMap<String, MValue>, CwError> {
        let plan = Plan::new(queries)?;
        self.evaluate_plan(&plan, start_ms, end_ms, now_ms).await
    }

    fn list_metrics(&self, input: &Value, now_ms: i64) -> Result<Value, CwError> {
        let namespace = input["Namespace"].as_str();
        let name = input["MetricName"].as_str();
        let filters: Vec<(&str, Option<&str>)> = input["Dimensions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| (f["Name"].as_str().unwrap_or_default(), f["Value"].as_str()))
            .collect();
        let horizon = match input["RecentlyActive"].as_str() {
            Some("PT3H") => now_ms - 3 * HOUR_MS,
            _ => now_ms - LIST_HORIZON_MS,
        };
        if input["OwningAccount"].as_str().is_some_and(|a| a != self.account_id) {
            return Ok(json!({"Metrics": []}));
        }
        let after: Option<SeriesKey> = match input["NextToken"].as_str() {
            None => None,
            Some(token) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(token)
                    .ok()
                    .and_then(|b| serde_json::from_slice(&b).ok())
                    .ok_or_else(|| CwError::invalid_parameter(token, "NextToken"))?,
            ),
        };
        let mut metrics: Vec<Arc<SeriesKey>> = Vec::new();
        let mut next = None;
        for info in self.store.metric_series().all() {
            let key = &info.key;
            if info.last_sample_ms < horizon
                || namespace.is_some_and(|n| n != key.namespace)
                || name.is_some_and(|n| n != key.name)
                || !filters.iter().all(|(n, v)| key.dimension(n).is_some_and(|have| v.is_none_or(|v| v == have)))
                || after.as_ref().is_some_and(|a| key.as_ref() <= a)
            {
                continue;
            }
            if let Some(last) = metrics.last().filter(|_| metrics.len() == LIST_PAGE) {
                let last: &SeriesKey = last.as_ref();
                next = Some(
                    base64::engine::general_purpose::URL_SAFE_NO_PAD
                        .encode(serde_json::to_vec(last).expect("keys serialize")),
                );
                break;
            }
            metrics.push(key.clone());
        }
        let listed: Vec<Value> = metrics
            .iter()
            .map(|key| {
                json!({
                    "Namespace": key.namespace,
                    "MetricName": key.name,
                    "Dimensions": key.dimensions.iter().map(|(n, v)| json!({"Name": n, "Value": v})).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut response = json!({"Metrics": listed});
        if input["IncludeLinkedAccounts"].as_bool() == Some(true) {
            response["OwningAccounts"] = json!(vec![self.account_id.clone(); metrics.len()]);
        }
        if let Some(token) = next {
            response["NextToken"] = json!(token);
        }
        Ok(response)
    }
}

/// Checks metric-math queries without reading data: ids, MetricStats, expression syntax,
/// references and cycles (what PutMetricAlarm refuses up front).
pub fn check_queries(queries: &[Value]) -> Result<(), CwError> {
    let plan = Plan::new(queries)?;
    plan.evaluation_order().map(|_| ())
}

/// The expressions of `queries` by id, parsed (`None`: a MetricStat or a query that does not
/// parse).
pub fn parse_expression(text: &str) -> Option<Expr> {
    math::parse(text).ok()
}

type ResultSeries = (String, String, Vec<(i64, f64)>, bool);

fn too_many_queries() -> CwError {
    CwError::validation("The collection MetricDataQueries must not have a size greater than 500.")
}

fn expression_error(id: &str, detail: &str) -> CwError {
    CwError::validation(format!("Error in expression {id}: {detail}"))
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).collect()
}

pub(crate) fn dimensions(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (d["Name"].as_str().unwrap_or_default().to_owned(), d["Value"].as_str().unwrap_or_default().to_owned())
        })
        .collect()
}

/// A canonical timestamp (epoch seconds) in ms.
fn millis(value: &Value) -> i64 {
    as_f64(value).map_or(0, |s| (s * 1000.0).round() as i64)
}

/// Epoch ms as a canonical timestamp.
fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// The ages (ms) past which data exists only as 5-minute, then only as 1-hour rows.
#[derive(Debug, Clone, Copy)]
struct Horizons {
    raw: i64,
    five_minute: i64,
}

impl Horizons {
    fn of(store: &LogStore) -> Self {
        let config = store.config();
        Self {
            raw: config.metrics_raw_horizon.as_millis() as i64,
            five_minute: config.metrics_five_minute_horizon.as_millis() as i64,
        }
    }
}

/// The start of the bucket holding `ts`, or `None` when it is outside the grid or in a part
/// of the range the period may not read any more (§2.4.3's serving rule, on the configured
/// horizons).
fn bucket_of(ts: i64, anchor: i64, end_ms: i64, period: i64, now_ms: i64, horizons: Horizons) -> Option<i64> {
    if ts < anchor || ts >= end_ms {
        return None;
    }
    let step = period * 1000;
    let at = anchor + (ts - anchor) / step * step;
    let age = now_ms - at;
    let servable = (age <= HIGH_RESOLUTION_HORIZON_MS || period % 60 == 0)
        && (age <= horizons.raw || period % 300 == 0)
        && (age <= horizons.five_minute || period % 3600 == 0);
    servable.then_some(at)
}

/// One statistic of one series on its grid.
#[allow(clippy::too_many_arguments)]
fn series(
    horizons: Horizons,
    samples: &SampleSet,
    key: &SeriesKey,
    stat: &Stat,
    unit: Option<u8>,
    period: i64,
    start_ms: i64,
    end_ms: i64,
    now_ms: i64,
) -> Ts {
    let anchor = grid_start(start_ms, period, now_ms);
    let mut buckets: BTreeMap<i64, Bucket> = BTreeMap::new();
    for row in samples.of(key.id()) {
        if unit.is_some_and(|u| u != row.sample.unit) {
            continue;
        }
        if let Some(at) = bucket_of(row.sample.timestamp_ms, anchor, end_ms, period, now_ms, horizons) {
            row.add_to(buckets.entry(at).or_default());
        }
    }
    let points = buckets.into_iter().filter_map(|(t, mut b)| b.value(stat).map(|v| (t, v))).collect();
    Ts { points, label: key.name.clone(), period, metric: None }
}

fn ordered(ts: &Ts, descending: bool) -> Vec<(i64, f64)> {
    let mut points: Vec<(i64, f64)> = ts.points.iter().filter(|(_, v)| v.is_finite()).map(|(t, v)| (*t, *v)).collect();
    if descending {
        points.reverse();
    }
    points
}

/// A MetricStat query, checked.
struct MetricStat {
    key: Arc<SeriesKey>,
    stat: Stat,
    stat_name: String,
    unit: Option<u8>,
    period: i64,
    label: String,
}

/// The queries of one GetMetricData request, checked, with expressions parsed.
struct Plan<'a> {
    order: Vec<&'a str>,
    queries: HashMap<&'a str, &'a Value>,
    stats: HashMap<&'a str, MetricStat>,
    expressions: HashMap<String, Expr>,
}

impl<'a> Plan<'a> {
    fn new(queries: &'a [Value]) -> Result<Self, CwError> {
        let mut plan =
            Plan { order: Vec::new(), queries: HashMap::new(), stats: HashMap::new(), expressions: HashMap::new() };
        for (i, query) in queries.iter().enumerate() {
            let n = i + 1;
            let id = query["Id"].as_str().unwrap_or_default();
            let valid_id = id.starts_with(|c: char| c.is_ascii_lowercase())
                && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid_id {
                return Err(CwError::validation(format!(
                    "Invalid Id {id}: must start with a lowercase letter and contain only letters, numbers and underscores."
                )));
            }
            if plan.queries.insert(id, query).is_some() {
                return Err(CwError::validation(format!("Duplicate Id {id} in MetricDataQueries.")));
            }
            plan.order.push(id);
            match (query.get("MetricStat"), query["Expression"].as_str()) {
                (None, None) => {
                    return Err(CwError::validation(format!(
                        "The parameter MetricDataQueries.member.{n}.MetricStat is required."
                    )));
                }
                (Some(_), Some(_)) => {
                    return Err(CwError::validation(format!(
                        "MetricDataQueries.member.{n} must contain either MetricStat or Expression, not both."
                    )));
                }
                (Some(stat), None) => {
                    let period = stat["Period"].as_i64().unwrap_or_default();
                    if !valid_period(period) {
                        return Err(CwError::validation(format!(
                            "The value {period} for parameter MetricDataQueries.member.{n}.MetricStat.Period is invalid."
                        )));
                    }
                    let stat_name = stat["Stat"].as_str().unwrap_or_default();
                    let parsed = Stat::parse(stat_name).ok_or_else(|| {
                        CwError::validation(format!(
                            "The value {stat_name} for parameter MetricDataQueries.member.{n}.MetricStat.Stat is invalid."
                        ))
                    })?;
                    let metric = &stat["Metric"];
                    let key = Arc::new(SeriesKey::new(
                        metric["Namespace"].as_str().unwrap_or_default(),
                        metric["MetricName"].as_str().unwrap_or_default(),
                        dimensions(&metric["Dimensions"]),
                    ));
                    let label = query["Label"].as_str().map_or_else(|| key.name.clone(), str::to_owned);
                    plan.stats.insert(
                        id,
                        MetricStat {
                            key,
                            stat: parsed,
                            stat_name: stat_name.to_owned(),
                            unit: stat["Unit"].as_str().and_then(unit_index),
                            period,
                            label,
                        },
                    );
                }
                (None, Some(text)) => {
                    let expr = math::parse(text).map_err(|detail| expression_error(id, &detail))?;
                    plan.expressions.insert(id.to_owned(), expr);
                }
            }
        }
        Ok(plan)
    }

    fn metric_stats(&self) -> impl Iterator<Item = (&str, &MetricStat)> {
        self.order.iter().filter_map(|id| self.stats.get(id).map(|s| (*id, s)))
    }

    fn expressions(&self) -> impl Iterator<Item = (&str, &Expr, &Value)> {
        self.order.iter().filter_map(|id| self.expressions.get(*id).map(|e| (*id, e, self.queries[id])))
    }

    /// Expression ids so that each comes after the expressions it uses; a cycle is an error.
    fn evaluation_order(&self) -> Result<Vec<String>, CwError> {
        fn visit(
            plan: &Plan<'_>,
            id: &str,
            state: &mut HashMap<String, bool>,
            out: &mut Vec<String>,
        ) -> Result<(), CwError> {
            match state.get(id) {
                Some(true) => return Ok(()),
                Some(false) => return Err(expression_error(id, "Circular reference")),
                None => {}
            }
            let Some(expr) = plan.expressions.get(id) else { return Ok(()) };
            state.insert(id.to_owned(), false);
            let mut refs = Vec::new();
            expr.ids(&mut refs);
            for r in refs {
                if plan.expressions.contains_key(&r) {
                    visit(plan, &r, state, out).map_err(|e| {
                        if e.message.ends_with("Circular reference") {
                            expression_error(id, "Circular reference")
                        } else {
                            e
                        }
                    })?;
                }
            }
            state.insert(id.to_owned(), true);
            out.push(id.to_owned());
            Ok(())
        }
        let mut state = HashMap::new();
        let mut out = Vec::new();
        for id in &self.order {
            visit(self, id, &mut state, &mut out)?;
        }
        Ok(out)
    }
}

/// The request without its paging members, as a fingerprint tokens must match.
fn request_fingerprint(input: &Value) -> String {
    let mut copy = input.clone();
    if let Some(object) = copy.as_object_mut() {
        object.shift_remove("NextToken");
    }
    tokens::fingerprint(&[&copy.to_string()])
}

fn make_token(offset: usize, print: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"v": 1, "o": offset, "f": print}).to_string())
}

fn read_token(token: &str, print: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    let cursor: Value = serde_json::from_slice(&bytes).ok()?;
    (cursor["v"] == 1 && cursor["f"] == print).then_some(())?;
    cursor["o"].as_u64().map(|o| o as usize)
}
