//! The metric alarm decision (spec metrics-alarms.md §3.3 steps 4–6) and the StateReason text
//! of its outcome (§3.4), as pure functions of the evaluation range's buckets: the evaluator
//! fetches the buckets, these decide.

use super::StateValue;
use crate::cloudwatch::java_double;

/// `ComparisonOperator`: four static ones, three against an anomaly band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    GreaterThanOrEqualToThreshold,
    GreaterThanThreshold,
    LessThanThreshold,
    LessThanOrEqualToThreshold,
    LessThanLowerOrGreaterThanUpperThreshold,
    LessThanLowerThreshold,
    GreaterThanUpperThreshold,
}

impl Comparison {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "GreaterThanOrEqualToThreshold" => Self::GreaterThanOrEqualToThreshold,
            "GreaterThanThreshold" => Self::GreaterThanThreshold,
            "LessThanThreshold" => Self::LessThanThreshold,
            "LessThanOrEqualToThreshold" => Self::LessThanOrEqualToThreshold,
            "LessThanLowerOrGreaterThanUpperThreshold" => Self::LessThanLowerOrGreaterThanUpperThreshold,
            "LessThanLowerThreshold" => Self::LessThanLowerThreshold,
            "GreaterThanUpperThreshold" => Self::GreaterThanUpperThreshold,
            _ => return None,
        })
    }

    /// Whether the operator compares against an anomaly band.
    pub fn is_band(self) -> bool {
        matches!(
            self,
            Self::LessThanLowerOrGreaterThanUpperThreshold
                | Self::LessThanLowerThreshold
                | Self::GreaterThanUpperThreshold
        )
    }

    /// Whether `value` breaches: against `threshold` (static operators) or `band` = (lower,
    /// upper) (band operators; no band never breaches).
    pub fn breaches(self, value: f64, threshold: f64, band: Option<(f64, f64)>) -> bool {
        match (self, band) {
            (Self::GreaterThanOrEqualToThreshold, _) => value >= threshold,
            (Self::GreaterThanThreshold, _) => value > threshold,
            (Self::LessThanThreshold, _) => value < threshold,
            (Self::LessThanOrEqualToThreshold, _) => value <= threshold,
            (Self::LessThanLowerOrGreaterThanUpperThreshold, Some((lo, up))) => value < lo || value > up,
            (Self::LessThanLowerThreshold, Some((lo, _))) => value < lo,
            (Self::GreaterThanUpperThreshold, Some((_, up))) => value > up,
            (_, None) => false,
        }
    }

    fn phrase(self) -> &'static str {
        match self {
            Self::GreaterThanOrEqualToThreshold => "greater than or equal to",
            Self::GreaterThanThreshold => "greater than",
            Self::LessThanThreshold => "less than",
            Self::LessThanOrEqualToThreshold => "less than or equal to",
            Self::LessThanLowerOrGreaterThanUpperThreshold
            | Self::LessThanLowerThreshold
            | Self::GreaterThanUpperThreshold => "",
        }
    }

    /// (uses the lower bound, uses the upper bound).
    fn band_sides(self) -> (bool, bool) {
        match self {
            Self::LessThanLowerOrGreaterThanUpperThreshold => (true, true),
            Self::LessThanLowerThreshold => (true, false),
            Self::GreaterThanUpperThreshold => (false, true),
            _ => (false, false),
        }
    }
}

/// `TreatMissingData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissingData {
    #[default]
    Missing,
    Ignore,
    Breaching,
    NotBreaching,
}

impl MissingData {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "missing" => Self::Missing,
            "ignore" => Self::Ignore,
            "breaching" => Self::Breaching,
            "notBreaching" => Self::NotBreaching,
            _ => return None,
        })
    }
}

/// One bucket of the evaluation range: its start, and its datapoint if it has one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    pub timestamp_ms: i64,
    pub point: Option<Point>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub value: f64,
    pub sample_count: f64,
    /// A percentile over too few samples, with `EvaluateLowSampleCountPercentile=ignore`.
    pub low_sample: bool,
    /// The anomaly band (lower, upper) at this datapoint (band alarms).
    pub band: Option<(f64, f64)>,
}

/// What decides a static-threshold alarm.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Criteria {
    /// N, EvaluationPeriods.
    pub evaluation_periods: usize,
    /// DatapointsToAlarm, when given (M = N otherwise).
    pub datapoints_to_alarm: Option<usize>,
    pub threshold: f64,
    pub comparison: Comparison,
    pub missing: MissingData,
}

impl Criteria {
    fn n(&self) -> usize {
        self.evaluation_periods
    }

    fn m(&self) -> usize {
        self.datapoints_to_alarm.unwrap_or(self.evaluation_periods)
    }

    fn breaches(&self, point: &Point) -> bool {
        self.comparison.breaches(point.value, self.threshold, point.band)
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The new state; `None` keeps the current one (nothing recorded).
    pub state: Option<StateValue>,
    /// The datapoints that decided, newest first (`eval` of §3.3).
    pub evaluated: Vec<Bucket>,
    /// Missing slots counted as breaching or not (`breaching`/`notBreaching` only).
    pub filled: usize,
}

/// Decides from the range's buckets, newest first (§3.3 steps 5 and 6).
pub fn decide(buckets: &[Bucket], criteria: &Criteria) -> Decision {
    let (n, m) = (criteria.n(), criteria.m());
    let evaluated: Vec<Bucket> = buckets.iter().filter(|b| b.point.is_some()).take(n).copied().collect();
    let points = || evaluated.iter().filter_map(|b| b.point.as_ref());
    if points().any(|p| p.low_sample) {
        return Decision { state: None, evaluated, filled: 0 };
    }
    let r = evaluated.len();
    let b = points().filter(|p| criteria.breaches(p)).count();
    let alarm_or_ok = |breaching: usize| if breaching >= m { StateValue::Alarm } else { StateValue::Ok };
    let (state, filled) = if r >= n {
        (Some(alarm_or_ok(b)), 0)
    } else {
        let f = n - r;
        match criteria.missing {
            MissingData::Breaching => (Some(alarm_or_ok(b + f)), f),
            MissingData::NotBreaching => (Some(alarm_or_ok(b)), f),
            MissingData::Missing | MissingData::Ignore => {
                let state = if r == 0 {
                    StateValue::InsufficientData
                } else if b >= m {
                    StateValue::Alarm
                } else if points().any(|p| !criteria.breaches(p)) {
                    StateValue::Ok
                } else {
                    StateValue::InsufficientData
                };
                let keep = criteria.missing == MissingData::Ignore && state == StateValue::InsufficientData;
                ((!keep).then_some(state), 0)
            }
        }
    };
    Decision { state, evaluated, filled }
}

fn plural(count: usize, word: &str) -> String {
    if count == 1 { format!("{count} {word}") } else { format!("{count} {word}s") }
}

fn was(count: usize) -> &'static str {
    if count == 1 { "was" } else { "were" }
}

/// `<value> (<dd/MM/yy HH:mm:ss>)`, UTC.
fn datapoint_text(timestamp_ms: i64, value: f64) -> String {
    let time = chrono::DateTime::from_timestamp_millis(timestamp_ms).unwrap_or_default();
    format!("{} ({})", java_double(value), time.format("%d/%m/%y %H:%M:%S"))
}

/// The StateReason of a decision that changed the state to `state` (§3.4).
pub fn reason(decision: &Decision, state: StateValue, criteria: &Criteria) -> String {
    let n = criteria.n();
    let r = decision.evaluated.len();
    if state == StateValue::InsufficientData {
        let unknown = n - r;
        return format!("Insufficient Data: {} {} unknown.", plural(unknown, "datapoint"), was(unknown));
    }
    let want_breaching = state == StateValue::Alarm;
    let points: Vec<(i64, Point)> = decision
        .evaluated
        .iter()
        .filter_map(|b| b.point.map(|p| (b.timestamp_ms, p)))
        .filter(|(_, p)| criteria.breaches(p) == want_breaching)
        .collect();
    let matching: Vec<String> = points.iter().map(|(t, p)| datapoint_text(*t, p.value)).collect();
    let k = matching.len();
    let not = if want_breaching { "" } else { "not " };
    let comparison = criteria.comparison;
    let compared = if comparison.is_band() {
        let bounds = |side: fn(&(f64, f64)) -> f64| {
            points.iter().filter_map(|(_, p)| p.band.as_ref().map(side)).map(java_double).collect::<Vec<_>>().join(", ")
        };
        let lower = format!("less than the lower thresholds [{}]", bounds(|b| b.0));
        let upper = format!("greater than the upper thresholds [{}]", bounds(|b| b.1));
        match comparison.band_sides() {
            (true, true) => format!("{not}{lower} or {upper}"),
            (true, false) => format!("{not}{lower}"),
            _ => format!("{not}{upper}"),
        }
    } else {
        format!("{not}{} the threshold ({})", comparison.phrase(), java_double(criteria.threshold))
    };
    let head = match (k, criteria.datapoints_to_alarm) {
        (1.., Some(_)) => {
            format!("{k} out of the last {n} datapoints [{}] {} {compared}", matching.join(", "), was(k))
        }
        (1.., None) => format!("{} [{}] {} {compared}", plural(k, "datapoint"), matching.join(", "), was(k)),
        (0, _) if r >= 1 => format!("{} {} received for {}", plural(r, "datapoint"), was(r), plural(n, "period")),
        (0, _) => format!("no datapoints were received for {}", plural(n, "period")),
    };
    let f = decision.filled;
    let fill = if f >= 1 {
        let kind = if criteria.missing == MissingData::Breaching { "Breaching" } else { "NonBreaching" };
        format!(" and {} missing {} {} treated as [{kind}]", f, if f == 1 { "datapoint" } else { "datapoints" }, was(f))
    } else {
        String::new()
    };
    let minimum = match criteria.datapoints_to_alarm {
        Some(m) if want_breaching => format!(" (minimum {} for OK -> ALARM transition)", plural(m, "datapoint")),
        Some(m) => format!(" (minimum {} for ALARM -> OK transition)", plural(n - m + 1, "datapoint")),
        None => String::new(),
    };
    let prefix = if comparison.is_band() { "Thresholds Crossed" } else { "Threshold Crossed" };
    format!("{prefix}: {head}{fill}{minimum}.")
}

/// What the alarm reads, for StateReasonData.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source<'a> {
    /// One metric: its `Statistic` or `ExtendedStatistic`, and `Unit` when the alarm sets one.
    Metric { statistic: &'a str, extended: bool, unit: Option<&'a str> },
    /// A metric-math alarm.
    Math,
}

/// Longest StateReasonData.
pub const MAX_REASON_DATA: usize = 4000;

/// `yyyy-MM-dd'T'HH:mm:ss.SSS+0000`, the timestamps of alarm JSON.
pub fn json_time(timestamp_ms: i64) -> String {
    let time = chrono::DateTime::from_timestamp_millis(timestamp_ms).unwrap_or_default();
    format!("{}+0000", time.format("%Y-%m-%dT%H:%M:%S%.3f"))
}

fn json_string(text: &str) -> String {
    serde_json::to_string(text).expect("strings serialize")
}

/// The StateReasonData JSON of a decision that changed the state to `state` (§3.4): keys in
/// AWS's order, numbers in Java's style, evaluated then recent datapoints dropped past 4,000
/// characters.
pub fn reason_data(
    decision: &Decision,
    state: StateValue,
    criteria: &Criteria,
    range: &[Bucket],
    query_ms: i64,
    period_s: i64,
    source: Source<'_>,
) -> String {
    let sides = criteria.comparison.band_sides();
    let bounds = |p: &Point| match (p.band, sides) {
        (Some((lo, up)), (true, true)) => {
            format!(",\"lowerThreshold\":{},\"upperThreshold\":{}", java_double(lo), java_double(up))
        }
        (Some((lo, _)), (true, false)) => format!(",\"threshold\":{}", java_double(lo)),
        (Some((_, up)), (false, true)) => format!(",\"threshold\":{}", java_double(up)),
        _ => String::new(),
    };
    let item = |bucket: &Bucket| match (bucket.point, source) {
        (None, _) => format!("{{\"timestamp\":\"{}\"}}", json_time(bucket.timestamp_ms)),
        (Some(p), Source::Metric { .. }) => format!(
            "{{\"timestamp\":\"{}\",\"sampleCount\":{},\"value\":{}{}}}",
            json_time(bucket.timestamp_ms),
            java_double(p.sample_count),
            java_double(p.value),
            bounds(&p)
        ),
        (Some(p), Source::Math) => format!(
            "{{\"timestamp\":\"{}\",\"value\":{}{}}}",
            json_time(bucket.timestamp_ms),
            java_double(p.value),
            bounds(&p)
        ),
    };
    let evaluated = &decision.evaluated;
    let listed: Vec<String> = if state == StateValue::InsufficientData {
        range.iter().take(criteria.n()).map(item).collect()
    } else {
        let want_breaching = state == StateValue::Alarm;
        let matching: Vec<String> = evaluated
            .iter()
            .filter(|b| b.point.is_some_and(|p| criteria.breaches(&p) == want_breaching))
            .map(item)
            .collect();
        if matching.is_empty() { evaluated.iter().map(item).collect() } else { matching }
    };
    let recent: Vec<String> = evaluated.iter().rev().filter_map(|b| b.point.map(|p| java_double(p.value))).collect();
    let mut head = format!("{{\"version\":\"1.0\",\"queryDate\":\"{}\"", json_time(query_ms));
    if state != StateValue::InsufficientData
        && let Some(oldest) = evaluated.last()
    {
        head.push_str(&format!(",\"startDate\":\"{}\"", json_time(oldest.timestamp_ms)));
    }
    if let Source::Metric { statistic, extended, unit } = source {
        if let Some(unit) = unit {
            head.push_str(&format!(",\"unit\":{}", json_string(unit)));
        }
        let key = if extended { "extendedStatistic" } else { "statistic" };
        head.push_str(&format!(",\"{key}\":{}", json_string(statistic)));
    }
    head.push_str(&format!(",\"period\":{period_s}"));
    let threshold = if criteria.comparison.is_band() {
        let recent_bounds = |side: fn(&(f64, f64)) -> f64| {
            let values: Vec<String> = evaluated
                .iter()
                .rev()
                .filter_map(|b| b.point.and_then(|p| p.band))
                .map(|b| java_double(side(&b)))
                .collect();
            values.join(",")
        };
        let mut out = String::new();
        if sides.0 {
            out.push_str(&format!(",\"recentLowerThresholds\":[{}]", recent_bounds(|b| b.0)));
        }
        if sides.1 {
            out.push_str(&format!(",\"recentUpperThresholds\":[{}]", recent_bounds(|b| b.1)));
        }
        out
    } else {
        format!(",\"threshold\":{}", java_double(criteria.threshold))
    };
    let render = |recent: Option<&[String]>, listed: Option<&[String]>| {
        let mut out = head.clone();
        if let Some(recent) = recent {
            out.push_str(&format!(",\"recentDatapoints\":[{}]", recent.join(",")));
        }
        out.push_str(&threshold);
        if let Some(listed) = listed {
            out.push_str(&format!(",\"evaluatedDatapoints\":[{}]", listed.join(",")));
        }
        out.push('}');
        out
    };
    let full = render(Some(&recent), Some(&listed));
    if full.len() <= MAX_REASON_DATA {
        return full;
    }
    let without_evaluated = render(Some(&recent), None);
    if without_evaluated.len() <= MAX_REASON_DATA {
        return without_evaluated;
    }
    render(None, None)
}

/// Whether a bucket's percentile rests on too few samples (§3.3 step 5): fewer than
/// 10/(1 − X/100) for X ≥ 50, fewer than 10/(X/100) below; p0 and p100 never are.
pub fn low_sample(percentile: f64, sample_count: f64) -> bool {
    if percentile <= 0.0 || percentile >= 100.0 {
        return false;
    }
    let needed = if percentile >= 50.0 { 10.0 / (1.0 - percentile / 100.0) } else { 10.0 / (percentile / 100.0) };
    // p99 needs 1,000: guard the division's rounding (10 / 0.01 = 999.9999…).
    sample_count < needed - 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2025-01-15 00:00 UTC.
    const DAY: i64 = 1_736_899_200_000;

    fn at(hh: i64, mm: i64) -> i64 {
        DAY + (hh * 60 + mm) * 60_000
    }

    /// Buckets from a row of the spec's tables: values oldest → newest, `-` missing, `0` = 10.0
    /// and `X` = 90.0 (T1/T2 encoding); the newest bucket starts one period before `e`.
    fn buckets(row: &str, e: i64, period_ms: i64) -> Vec<Bucket> {
        let cells: Vec<&str> = row.split_whitespace().collect();
        let len = cells.len() as i64;
        let mut out: Vec<Bucket> = cells
            .iter()
            .enumerate()
            .map(|(i, cell)| {
                let value = match *cell {
                    "-" => None,
                    "0" => Some(10.0),
                    "X" => Some(90.0),
                    other => Some(other.parse::<f64>().unwrap()),
                };
                let point = value.map(|value| Point { value, sample_count: 1.0, low_sample: false, band: None });
                Bucket { timestamp_ms: e - (len - i as i64) * period_ms, point }
            })
            .collect();
        out.reverse();
        out
    }

    fn criteria(n: usize, m: Option<usize>, threshold: f64, missing: MissingData) -> Criteria {
        Criteria {
            evaluation_periods: n,
            datapoints_to_alarm: m,
            threshold,
            comparison: Comparison::GreaterThanThreshold,
            missing,
        }
    }

    const ALL_TMD: [MissingData; 4] =
        [MissingData::Missing, MissingData::Ignore, MissingData::Breaching, MissingData::NotBreaching];

    #[test]
    fn aws_tables_t1_and_t2() {
        use StateValue::{Alarm, InsufficientData, Ok};
        type Row = (&'static str, [Option<StateValue>; 4]);
        let t1: [Row; 5] = [
            ("0 - X - X", [Some(Ok); 4]),
            ("0 - - - -", [Some(Ok); 4]),
            ("- - - - -", [Some(InsufficientData), None, Some(Alarm), Some(Ok)]),
            ("0 X X - X", [Some(Alarm); 4]),
            ("- - - - X", [Some(InsufficientData), None, Some(Alarm), Some(Ok)]),
        ];
        let t2: [Row; 5] = [
            ("0 - X - X", [Some(Alarm); 4]),
            ("0 0 X 0 X", [Some(Alarm); 4]),
            ("0 - X - -", [Some(Ok), Some(Ok), Some(Alarm), Some(Ok)]),
            ("- - - - 0", [Some(Ok), Some(Ok), Some(Alarm), Some(Ok)]),
            ("- - - - X", [Some(InsufficientData), None, Some(Alarm), Some(Ok)]),
        ];
        for (m, table) in [(None, t1), (Some(2), t2)] {
            for (row, want) in table {
                for (tmd, want) in ALL_TMD.iter().zip(want) {
                    let got = decide(&buckets(row, at(12, 5), 60_000), &criteria(3, m, 50.0, *tmd)).state;
                    assert_eq!(got, want, "M={m:?} {row} {tmd:?}");
                }
            }
        }
    }

    /// Runs rows of (E, buckets, expected StateReason or "" for no transition) from `start`.
    fn run(start: StateValue, criteria: Criteria, period_ms: i64, rows: &[(i64, &str, &str)]) {
        let mut state = start;
        for (e, row, want) in rows {
            let decision = decide(&buckets(row, *e, period_ms), &criteria);
            match decision.state.filter(|s| *s != state) {
                None => assert_eq!(*want, "", "at {e}: {row} stayed {state:?}"),
                Some(new) => {
                    assert_eq!(reason(&decision, new, &criteria), *want, "at {e}: {row}");
                    state = new;
                }
            }
        }
    }

    #[test]
    fn vectors_v1_to_v10() {
        use MissingData::*;
        let m = 60_000;
        run(
            StateValue::InsufficientData,
            criteria(1, None, 80.0, Missing),
            m,
            &[
                (
                    at(12, 1),
                    "- - 50.0",
                    "Threshold Crossed: 1 datapoint [50.0 (15/01/25 12:00:00)] was not greater than the threshold (80.0).",
                ),
                (
                    at(12, 2),
                    "- 50.0 85.0",
                    "Threshold Crossed: 1 datapoint [85.0 (15/01/25 12:01:00)] was greater than the threshold (80.0).",
                ),
                (
                    at(12, 3),
                    "50.0 85.0 70.0",
                    "Threshold Crossed: 1 datapoint [70.0 (15/01/25 12:02:00)] was not greater than the threshold (80.0).",
                ),
            ],
        );
        run(
            StateValue::Ok,
            criteria(1, None, 80.0, Missing),
            m,
            &[
                (
                    at(12, 1),
                    "- - 90.0",
                    "Threshold Crossed: 1 datapoint [90.0 (15/01/25 12:00:00)] was greater than the threshold (80.0).",
                ),
                (at(12, 2), "- 90.0 -", ""),
                (at(12, 3), "90.0 - -", ""),
                (at(12, 4), "- - -", "Insufficient Data: 1 datapoint was unknown."),
                (at(12, 5), "- - -", ""),
            ],
        );
        run(
            StateValue::Ok,
            criteria(5, Some(1), 0.0, NotBreaching),
            m,
            &[
                (
                    at(12, 7),
                    "- - - - - - 3.0",
                    "Threshold Crossed: 1 out of the last 5 datapoints [3.0 (15/01/25 12:06:00)] was greater than the threshold (0.0) and 4 missing datapoints were treated as [NonBreaching] (minimum 1 datapoint for OK -> ALARM transition).",
                ),
                (at(12, 8), "- - - - - 3.0 -", ""),
                (at(12, 13), "3.0 - - - - - -", ""),
                (
                    at(12, 14),
                    "- - - - - - -",
                    "Threshold Crossed: no datapoints were received for 5 periods and 5 missing datapoints were treated as [NonBreaching] (minimum 5 datapoints for ALARM -> OK transition).",
                ),
            ],
        );
        run(
            StateValue::Ok,
            criteria(5, Some(3), 80.0, Missing),
            m,
            &[
                (
                    at(12, 5),
                    "- - 81.0 79.0 85.0 60.0 90.0",
                    "Threshold Crossed: 3 out of the last 5 datapoints [90.0 (15/01/25 12:04:00), 85.0 (15/01/25 12:02:00), 81.0 (15/01/25 12:00:00)] were greater than the threshold (80.0) (minimum 3 datapoints for OK -> ALARM transition).",
                ),
                (
                    at(12, 6),
                    "- 81.0 79.0 85.0 60.0 90.0 70.0",
                    "Threshold Crossed: 3 out of the last 5 datapoints [70.0 (15/01/25 12:05:00), 60.0 (15/01/25 12:03:00), 79.0 (15/01/25 12:01:00)] were not greater than the threshold (80.0) (minimum 3 datapoints for ALARM -> OK transition).",
                ),
                (
                    at(12, 7),
                    "81.0 79.0 85.0 60.0 90.0 70.0 95.0",
                    "Threshold Crossed: 3 out of the last 5 datapoints [95.0 (15/01/25 12:06:00), 90.0 (15/01/25 12:04:00), 85.0 (15/01/25 12:02:00)] were greater than the threshold (80.0) (minimum 3 datapoints for OK -> ALARM transition).",
                ),
                (at(12, 8), "79.0 85.0 60.0 90.0 70.0 95.0 99.0", ""),
            ],
        );
        run(
            StateValue::Ok,
            criteria(2, None, 80.0, Breaching),
            m,
            &[
                (at(12, 2), "- - 10.0 20.0", ""),
                (at(12, 3), "- 10.0 20.0 -", ""),
                (at(12, 4), "10.0 20.0 - -", ""),
                (at(12, 5), "20.0 - - -", ""),
                (
                    at(12, 6),
                    "- - - -",
                    "Threshold Crossed: no datapoints were received for 2 periods and 2 missing datapoints were treated as [Breaching].",
                ),
            ],
        );
        run(
            StateValue::InsufficientData,
            criteria(1, None, 80.0, Ignore),
            m,
            &[
                (
                    at(12, 1),
                    "- - 95.0",
                    "Threshold Crossed: 1 datapoint [95.0 (15/01/25 12:00:00)] was greater than the threshold (80.0).",
                ),
                (at(12, 2), "- 95.0 -", ""),
                (at(12, 4), "- - -", ""),
            ],
        );
        let le = Criteria { comparison: Comparison::LessThanOrEqualToThreshold, ..criteria(1, None, 0.0, Missing) };
        run(
            StateValue::Ok,
            le,
            m,
            &[
                (
                    at(12, 1),
                    "- - 0.0",
                    "Threshold Crossed: 1 datapoint [0.0 (15/01/25 12:00:00)] was less than or equal to the threshold (0.0).",
                ),
                (
                    at(12, 2),
                    "- 0.0 0.5",
                    "Threshold Crossed: 1 datapoint [0.5 (15/01/25 12:01:00)] was not less than or equal to the threshold (0.0).",
                ),
            ],
        );
        let ge = Criteria { comparison: Comparison::GreaterThanOrEqualToThreshold, ..criteria(1, None, 80.0, Missing) };
        run(
            StateValue::Ok,
            ge,
            m,
            &[
                (
                    at(12, 1),
                    "- - 80.0",
                    "Threshold Crossed: 1 datapoint [80.0 (15/01/25 12:00:00)] was greater than or equal to the threshold (80.0).",
                ),
                (
                    at(12, 2),
                    "- 80.0 79.999",
                    "Threshold Crossed: 1 datapoint [79.999 (15/01/25 12:01:00)] was not greater than or equal to the threshold (80.0).",
                ),
            ],
        );
        run(
            StateValue::InsufficientData,
            criteria(3, Some(2), 80.0, Breaching),
            m,
            &[
                (
                    at(12, 1),
                    "- - - - 90.0",
                    "Threshold Crossed: 1 out of the last 3 datapoints [90.0 (15/01/25 12:00:00)] was greater than the threshold (80.0) and 2 missing datapoints were treated as [Breaching] (minimum 2 datapoints for OK -> ALARM transition).",
                ),
                (at(12, 2), "- - - 90.0 -", ""),
                (at(12, 3), "- - 90.0 - 95.0", ""),
                (at(12, 4), "- 90.0 - 95.0 10.0", ""),
                (
                    at(12, 5),
                    "90.0 - 95.0 10.0 15.0",
                    "Threshold Crossed: 2 out of the last 3 datapoints [15.0 (15/01/25 12:04:00), 10.0 (15/01/25 12:03:00)] were not greater than the threshold (80.0) (minimum 2 datapoints for ALARM -> OK transition).",
                ),
                (at(12, 6), "- 95.0 10.0 15.0 20.0", ""),
            ],
        );
        run(
            StateValue::Ok,
            criteria(3, None, 80.0, Missing),
            m,
            &[
                (at(12, 4), "- - - - 90.0", "Insufficient Data: 2 datapoints were unknown."),
                (at(12, 5), "- - - 90.0 -", ""),
            ],
        );
    }

    #[test]
    fn reason_data_v1_and_insufficient_data() {
        let c = criteria(1, None, 80.0, MissingData::Missing);
        let range = buckets("- 50.0 85.0", at(12, 2), 60_000);
        let decision = decide(&range, &c);
        let source = Source::Metric { statistic: "Average", extended: false, unit: None };
        assert_eq!(
            reason_data(&decision, StateValue::Alarm, &c, &range, at(12, 2), 60, source),
            r#"{"version":"1.0","queryDate":"2025-01-15T12:02:00.000+0000","startDate":"2025-01-15T12:01:00.000+0000","statistic":"Average","period":60,"recentDatapoints":[85.0],"threshold":80.0,"evaluatedDatapoints":[{"timestamp":"2025-01-15T12:01:00.000+0000","sampleCount":1.0,"value":85.0}]}"#
        );
        let c = criteria(2, None, 80.0, MissingData::Missing);
        let range = buckets("- - 90.0 -", at(12, 4), 60_000);
        let decision = decide(&range, &c);
        assert_eq!(decision.state, Some(StateValue::InsufficientData));
        let source = Source::Metric { statistic: "p99", extended: true, unit: Some("Milliseconds") };
        assert_eq!(
            reason_data(&decision, StateValue::InsufficientData, &c, &range, at(12, 4), 60, source),
            r#"{"version":"1.0","queryDate":"2025-01-15T12:04:00.000+0000","unit":"Milliseconds","extendedStatistic":"p99","period":60,"recentDatapoints":[90.0],"threshold":80.0,"evaluatedDatapoints":[{"timestamp":"2025-01-15T12:03:00.000+0000"},{"timestamp":"2025-01-15T12:02:00.000+0000","sampleCount":1.0,"value":90.0}]}"#
        );
        // Math alarms: no statistic, items without sampleCount; past 4,000 characters the
        // evaluated datapoints go first.
        let c = criteria(400, None, 0.0, MissingData::Missing);
        let row = vec!["1.5"; 402].join(" ");
        let range = buckets(&row, at(12, 0), 60_000);
        let decision = decide(&range, &c);
        let data = reason_data(&decision, StateValue::Alarm, &c, &range, at(12, 0), 60, Source::Math);
        assert!(data.len() <= MAX_REASON_DATA && !data.contains("evaluatedDatapoints"), "{}", data.len());
        assert!(data.contains("\"recentDatapoints\":[1.5,") && !data.contains("statistic"));
    }

    #[test]
    fn low_sample_counts() {
        assert!(low_sample(99.0, 999.0) && !low_sample(99.0, 1000.0));
        assert!(low_sample(50.0, 19.0) && !low_sample(50.0, 20.0));
        assert!(low_sample(10.0, 99.0) && !low_sample(10.0, 100.0));
        assert!(!low_sample(0.0, 1.0) && !low_sample(100.0, 1.0));
    }

    #[test]
    fn v11_high_resolution_and_v12_low_sample_percentile() {
        let s = 10_000;
        let twelve = at(12, 0);
        run(
            StateValue::InsufficientData,
            criteria(2, None, 80.0, MissingData::Missing),
            s,
            &[
                (twelve + 10_000, "- - - 85.0", ""),
                (
                    twelve + 20_000,
                    "- - 85.0 86.0",
                    "Threshold Crossed: 2 datapoints [86.0 (15/01/25 12:00:10), 85.0 (15/01/25 12:00:00)] were greater than the threshold (80.0).",
                ),
                (
                    twelve + 30_000,
                    "- 85.0 86.0 40.0",
                    "Threshold Crossed: 1 datapoint [40.0 (15/01/25 12:00:20)] was not greater than the threshold (80.0).",
                ),
            ],
        );
        let mut range = buckets("- - 150.0", at(12, 1), 60_000);
        let low = Point { value: 150.0, sample_count: 50.0, low_sample: true, band: None };
        range[0].point = Some(low);
        let c = criteria(1, None, 100.0, MissingData::Missing);
        assert_eq!(decide(&range, &c).state, None, "low-sample percentile keeps the state");
        range[0].point = Some(Point { low_sample: false, ..low });
        assert_eq!(decide(&range, &c).state, Some(StateValue::Alarm));
    }

    #[test]
    fn v15_anomaly_band() {
        let criteria = Criteria {
            evaluation_periods: 1,
            datapoints_to_alarm: Some(1),
            threshold: 0.0,
            comparison: Comparison::LessThanLowerOrGreaterThanUpperThreshold,
            missing: MissingData::Missing,
        };
        let banded = |value: f64, t: i64| Bucket {
            timestamp_ms: t,
            point: Some(Point { value, sample_count: 1.0, low_sample: false, band: Some((100.0, 225.5)) }),
        };
        let range = [banded(239.0, at(12, 0)), Bucket { timestamp_ms: at(11, 59), point: None }];
        let decision = decide(&range, &criteria);
        assert_eq!(decision.state, Some(StateValue::Alarm));
        assert_eq!(
            reason(&decision, StateValue::Alarm, &criteria),
            "Thresholds Crossed: 1 out of the last 1 datapoints [239.0 (15/01/25 12:00:00)] was less than the lower thresholds [100.0] or greater than the upper thresholds [225.5] (minimum 1 datapoint for OK -> ALARM transition)."
        );
        let data = reason_data(&decision, StateValue::Alarm, &criteria, &range, at(12, 1), 60, Source::Math);
        assert_eq!(
            data,
            r#"{"version":"1.0","queryDate":"2025-01-15T12:01:00.000+0000","startDate":"2025-01-15T12:00:00.000+0000","period":60,"recentDatapoints":[239.0],"recentLowerThresholds":[100.0],"recentUpperThresholds":[225.5],"evaluatedDatapoints":[{"timestamp":"2025-01-15T12:00:00.000+0000","value":239.0,"lowerThreshold":100.0,"upperThreshold":225.5}]}"#
        );
        let range = [banded(150.0, at(12, 1)), banded(239.0, at(12, 0))];
        let decision = decide(&range, &criteria);
        assert_eq!(
            reason(&decision, StateValue::Ok, &criteria),
            "Thresholds Crossed: 1 out of the last 1 datapoints [150.0 (15/01/25 12:01:00)] was not less than the lower thresholds [100.0] or greater than the upper thresholds [225.5] (minimum 1 datapoint for ALARM -> OK transition)."
        );
        // One-sided: the item carries "threshold", only the used side is listed.
        let upper = Criteria { comparison: Comparison::GreaterThanUpperThreshold, ..criteria };
        let range = [banded(239.0, at(12, 0))];
        let decision = decide(&range, &upper);
        let data = reason_data(&decision, StateValue::Alarm, &upper, &range, at(12, 1), 60, Source::Math);
        assert!(data.contains(r#""recentUpperThresholds":[225.5],"evaluatedDatapoints":[{"timestamp":"2025-01-15T12:00:00.000+0000","value":239.0,"threshold":225.5}]"#), "{data}");
        assert!(!data.contains("recentLowerThresholds"));
        // No band value: never breaching.
        assert!(!Comparison::GreaterThanUpperThreshold.breaches(1e9, 0.0, None));
    }
}
