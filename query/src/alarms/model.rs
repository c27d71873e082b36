//! What an alarm is (spec metrics-alarms.md §3.1, §3.2, §3.9.1): its stored form, the checks
//! of PutMetricAlarm and PutCompositeAlarm, the compiled form the evaluator runs, and how
//! DescribeAlarms and the history show it.

use std::collections::BTreeMap;
use std::sync::Arc;

use fluoro_proto::alarms::StateValue;
use fluoro_proto::alarms::composite::{Suppression, Suppressor};
use fluoro_proto::alarms::evaluate::{Comparison, Criteria, MissingData};
use fluoro_proto::alarms::json_time;
use fluoro_proto::alarms::rule::{AlarmRule, RuleError};
use fluoro_proto::cloudwatch::{CwError, as_f64};
use fluoro_proto::metrics::stats::Stat;
use fluoro_proto::metrics::{SeriesKey, unit_index, valid_period};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::cw_metrics::math::{ANOMALY_DETECTION_BAND, Expr};
use crate::cw_metrics::{check_queries, parse_expression};

pub const METRIC_ALARM: &str = "MetricAlarm";
pub const COMPOSITE_ALARM: &str = "CompositeAlarm";
pub const CREATION_REASON: &str = "Unchecked: Initial alarm creation";
const MAX_ACTIONS: usize = 5;
pub const MAX_TAGS: usize = 50;
/// An alarm may be a child of this many composites.
pub const MAX_PARENTS: usize = 150;

/// One alarm as stored: the configuration exactly as put (so DescribeAlarms echoes it), and
/// its state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Alarm {
    pub name: String,
    pub arn: String,
    pub composite: bool,
    /// The Put request's members without `AlarmName` and `Tags`.
    pub config: Map<String, Value>,
    pub configuration_updated_ms: i64,
    /// When the current configuration was put (warm-up counts from here).
    pub put_ms: i64,
    pub state: State,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub value: StateValue,
    pub reason: String,
    pub reason_data: Option<String>,
    pub updated_ms: i64,
    pub transitioned_ms: i64,
    /// Composite AlarmActions held by the ActionsSuppressor (§3.9.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held: Option<HeldActions>,
}

/// Held AlarmActions: why, and the state the transition left (their message tells of it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeldActions {
    pub by: String,
    pub until_ms: Option<i64>,
    pub old_state: StateValue,
    #[serde(default)]
    pub old_reason: String,
    #[serde(default)]
    pub old_reason_data: Option<String>,
    #[serde(default)]
    pub old_transitioned_ms: i64,
}

impl HeldActions {
    pub fn new(suppression: Suppression, old: &State) -> Self {
        let mut held = Self {
            by: String::new(),
            until_ms: None,
            old_state: old.value,
            old_reason: old.reason.clone(),
            old_reason_data: old.reason_data.clone(),
            old_transitioned_ms: old.transitioned_ms,
        };
        held.set(suppression);
        held
    }

    /// Held for another reason; the transition stays.
    pub fn set(&mut self, suppression: Suppression) {
        self.by = suppression.by().to_owned();
        self.until_ms = match suppression {
            Suppression::WaitPeriod { until_ms } | Suppression::ExtensionPeriod { until_ms } => Some(until_ms),
            Suppression::Alarm => None,
        };
    }

    /// The state the held transition left.
    pub fn old(&self) -> State {
        State {
            value: self.old_state,
            reason: self.old_reason.clone(),
            reason_data: self.old_reason_data.clone(),
            updated_ms: self.old_transitioned_ms,
            transitioned_ms: self.old_transitioned_ms,
            held: None,
        }
    }

    pub fn suppression(&self) -> Suppression {
        match (self.by.as_str(), self.until_ms) {
            ("WaitPeriod", Some(until_ms)) => Suppression::WaitPeriod { until_ms },
            ("ExtensionPeriod", Some(until_ms)) => Suppression::ExtensionPeriod { until_ms },
            _ => Suppression::Alarm,
        }
    }
}

impl Alarm {
    pub fn kind(&self) -> &'static str {
        if self.composite { COMPOSITE_ALARM } else { METRIC_ALARM }
    }

    pub fn actions_enabled(&self) -> bool {
        self.config.get("ActionsEnabled").and_then(Value::as_bool).unwrap_or(true)
    }

    pub fn actions(&self, state: StateValue) -> Vec<String> {
        let key = match state {
            StateValue::Ok => "OKActions",
            StateValue::Alarm => "AlarmActions",
            StateValue::InsufficientData => "InsufficientDataActions",
        };
        strings(self.config.get(key))
    }

    pub fn all_actions(&self) -> impl Iterator<Item = String> + '_ {
        [StateValue::Ok, StateValue::Alarm, StateValue::InsufficientData].into_iter().flat_map(|s| self.actions(s))
    }

    pub fn description(&self) -> Option<&str> {
        self.config.get("AlarmDescription").and_then(Value::as_str)
    }

    /// The alarm as DescribeAlarms shows it, members in the model's order.
    pub fn describe(&self) -> Value {
        let mut out = Map::new();
        let config = &self.config;
        let copy = |out: &mut Map<String, Value>, key: &str| {
            if let Some(v) = config.get(key).filter(|v| !v.is_null()) {
                out.insert(key.to_owned(), v.clone());
            }
        };
        let state = &self.state;
        let lists = |out: &mut Map<String, Value>| {
            for key in ["OKActions", "AlarmActions", "InsufficientDataActions"] {
                out.insert(key.into(), json!(strings(config.get(key))));
            }
        };
        if self.composite {
            out.insert("ActionsEnabled".into(), json!(self.actions_enabled()));
            out.insert("AlarmActions".into(), json!(strings(config.get("AlarmActions"))));
            out.insert("AlarmArn".into(), json!(self.arn));
            out.insert("AlarmConfigurationUpdatedTimestamp".into(), seconds(self.configuration_updated_ms));
            copy(&mut out, "AlarmDescription");
            out.insert("AlarmName".into(), json!(self.name));
            copy(&mut out, "AlarmRule");
            out.insert("InsufficientDataActions".into(), json!(strings(config.get("InsufficientDataActions"))));
            out.insert("OKActions".into(), json!(strings(config.get("OKActions"))));
            out.insert("StateReason".into(), json!(state.reason));
            if let Some(data) = &state.reason_data {
                out.insert("StateReasonData".into(), json!(data));
            }
            out.insert("StateUpdatedTimestamp".into(), seconds(state.updated_ms));
            out.insert("StateValue".into(), json!(state.value.as_str()));
            out.insert("StateTransitionedTimestamp".into(), seconds(state.transitioned_ms));
            if let Some(held) = &state.held {
                out.insert("ActionsSuppressedBy".into(), json!(held.by));
                out.insert("ActionsSuppressedReason".into(), json!(held.suppression().reason()));
            }
            copy(&mut out, "ActionsSuppressor");
            copy(&mut out, "ActionsSuppressorWaitPeriod");
            copy(&mut out, "ActionsSuppressorExtensionPeriod");
            copy(&mut out, "ActionConfiguration");
            return Value::Object(out);
        }
        out.insert("AlarmName".into(), json!(self.name));
        out.insert("AlarmArn".into(), json!(self.arn));
        copy(&mut out, "AlarmDescription");
        out.insert("AlarmConfigurationUpdatedTimestamp".into(), seconds(self.configuration_updated_ms));
        out.insert("ActionsEnabled".into(), json!(self.actions_enabled()));
        lists(&mut out);
        out.insert("StateValue".into(), json!(state.value.as_str()));
        out.insert("StateReason".into(), json!(state.reason));
        if let Some(data) = &state.reason_data {
            out.insert("StateReasonData".into(), json!(data));
        }
        out.insert("StateUpdatedTimestamp".into(), seconds(state.updated_ms));
        let single = config.contains_key("MetricName");
        for key in ["MetricName", "Namespace", "Statistic", "ExtendedStatistic"] {
            copy(&mut out, key);
        }
        if single {
            out.insert("Dimensions".into(), config.get("Dimensions").cloned().unwrap_or_else(|| json!([])));
        }
        for key in [
            "Period",
            "Unit",
            "EvaluationPeriods",
            "DatapointsToAlarm",
            "Threshold",
            "ComparisonOperator",
            "TreatMissingData",
            "EvaluateLowSampleCountPercentile",
            "Metrics",
            "ThresholdMetricId",
        ] {
            copy(&mut out, key);
        }
        out.insert("StateTransitionedTimestamp".into(), seconds(state.transitioned_ms));
        copy(&mut out, "EvaluationWindow");
        copy(&mut out, "WarmUpConfiguration");
        copy(&mut out, "ActionConfiguration");
        Value::Object(out)
    }

    /// The configuration as history items show it (§3.7): lowerCamelCase keys, `okactions`,
    /// timestamps as alarm JSON times, dimensions as `{"value","name"}`.
    pub fn history_config(&self) -> Value {
        let Value::Object(described) = self.describe() else { unreachable!("describe gives an object") };
        let mut out = Map::new();
        for (key, value) in described {
            if matches!(
                key.as_str(),
                "StateReason" | "StateReasonData" | "ActionsSuppressedBy" | "ActionsSuppressedReason"
            ) {
                continue;
            }
            let name = if key == "OKActions" { "okactions".to_owned() } else { lower_first(&key) };
            let value = if key.ends_with("Timestamp") {
                json!(json_time((as_f64(&value).unwrap_or_default() * 1000.0).round() as i64))
            } else if key == "Dimensions" {
                super::notify::lower_dimensions(&value)
            } else {
                value
            };
            out.insert(name, value);
        }
        Value::Object(out)
    }
}

fn lower_first(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_ascii_lowercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

pub fn strings(value: Option<&Value>) -> Vec<String> {
    value.and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// Epoch ms as a canonical timestamp.
pub fn seconds(ms: i64) -> Value {
    json!(ms as f64 / 1000.0)
}

/// What the evaluator runs for an alarm, compiled once per configuration.
#[derive(Debug)]
pub enum Compiled {
    Metric(MetricPlan),
    Composite(CompositePlan),
}

#[derive(Debug)]
pub struct MetricPlan {
    /// P, seconds.
    pub period_s: i64,
    pub criteria: Criteria,
    pub source: Source,
    /// Not evaluated before this time (WarmUpConfiguration).
    pub warm_until_ms: Option<i64>,
}

impl MetricPlan {
    /// R = N + 2 buckets (§3.3 step 2).
    pub fn range_buckets(&self) -> i64 {
        self.criteria.evaluation_periods as i64 + 2
    }
}

#[derive(Debug)]
pub enum Source {
    Single {
        key: Arc<SeriesKey>,
        stat: Stat,
        stat_name: String,
        extended: bool,
        unit: Option<u8>,
        unit_name: Option<String>,
        /// X of a `pX` statistic whose low-sample buckets keep the state.
        low_sample_percentile: Option<f64>,
    },
    Math {
        queries: Vec<Value>,
        /// The series the alarm watches.
        return_id: String,
        /// The ANOMALY_DETECTION_BAND query (ThresholdMetricId) of a band alarm.
        band_id: Option<String>,
    },
}

#[derive(Debug)]
pub struct CompositePlan {
    pub rule: AlarmRule,
    /// The ActionsSuppressor's name and periods.
    pub suppressor: Option<(String, Suppressor)>,
}

/// How alarm periods are checked (`alarms.min_period_seconds`).
#[derive(Debug, Clone, Copy)]
pub struct PeriodRule {
    pub min_period_s: i64,
}

impl PeriodRule {
    /// 10, 20, 30 and multiples of 60 always; 1 and 5 when the configured minimum allows.
    pub fn allows(self, period: i64) -> bool {
        let standard = matches!(period, 10 | 20 | 30) || (period > 0 && period % 60 == 0);
        standard || (valid_period(period) && period >= self.min_period_s)
    }
}

fn text<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

/// Checks an action list (§3.2, §3.9.1).
fn check_actions(input: &Value, composite: bool) -> Result<(), CwError> {
    for key in ["OKActions", "AlarmActions", "InsufficientDataActions"] {
        let actions = strings(input.get(key));
        if actions.len() > MAX_ACTIONS {
            return Err(CwError::validation(format!(
                "The collection {key} must not have a size greater than {MAX_ACTIONS}."
            )));
        }
        for arn in &actions {
            let parts: Vec<&str> = arn.splitn(4, ':').collect();
            if parts.len() < 4 || parts[0] != "arn" || parts[1].is_empty() || parts[2].is_empty() {
                return Err(CwError::invalid_value(format!("Invalid arn syntax: {arn}")));
            }
            if composite && matches!(parts[2], "automate" | "swf" | "autoscaling" | "ec2") {
                return Err(CwError::invalid_value(format!("The action {arn} is not supported for composite alarms.")));
            }
        }
    }
    Ok(())
}

/// Checks `Tags` (create only).
pub fn check_tags(tags: &Value) -> Result<BTreeMap<String, String>, CwError> {
    let mut out = BTreeMap::new();
    for tag in tags.as_array().into_iter().flatten() {
        let key = tag["Key"].as_str().unwrap_or_default();
        if key.starts_with("aws:") {
            return Err(CwError::invalid_value(format!("The tag key {key} uses the reserved prefix aws:.")));
        }
        out.insert(key.to_owned(), tag["Value"].as_str().unwrap_or_default().to_owned());
    }
    if out.len() > MAX_TAGS {
        return Err(CwError::invalid_value("The number of tags exceeds the limit of 50."));
    }
    Ok(out)
}

/// The stored configuration of a Put request: everything but the name and tags.
pub fn config_of(input: &Value) -> Map<String, Value> {
    let mut config = input.as_object().cloned().unwrap_or_default();
    config.shift_remove("AlarmName");
    config.shift_remove("Tags");
    config
}

const SINGLE_MEMBERS: [&str; 7] =
    ["Namespace", "MetricName", "Dimensions", "Period", "Unit", "Statistic", "ExtendedStatistic"];

/// PutMetricAlarm's semantic checks (§3.2), and the compiled alarm.
pub fn compile_metric(config: &Map<String, Value>, rule: PeriodRule, put_ms: i64) -> Result<MetricPlan, CwError> {
    let input = Value::Object(config.clone());
    let input = &input;
    check_actions(input, false)?;
    if input.get("EvaluationCriteria").is_some() || input.get("EvaluationInterval").is_some() {
        return Err(CwError::invalid_value("PromQL alarms are not supported by fluoro"));
    }
    if input["EvaluationWindow"].get("WallClockWindow").is_some() {
        return Err(CwError::invalid_value("WallClockWindow is not supported by fluoro"));
    }
    let metrics = input.get("Metrics").and_then(Value::as_array);
    let has_metric_name = input.get("MetricName").is_some();
    match (has_metric_name, metrics) {
        (false, None) => {
            return Err(CwError::combination("Exactly one of MetricName or Metrics must be specified."));
        }
        (_, Some(_)) => {
            if let Some(member) = SINGLE_MEMBERS.iter().find(|m| input.get(**m).is_some()) {
                return Err(CwError::combination(format!("The parameter Metrics cannot be combined with {member}.")));
            }
        }
        _ => {}
    }
    let n = input["EvaluationPeriods"].as_i64().unwrap_or_default();
    if n < 1 {
        return Err(CwError::invalid_value("The value for parameter EvaluationPeriods must be at least 1."));
    }
    let m = input["DatapointsToAlarm"].as_i64();
    let comparison_name = text(input, "ComparisonOperator").unwrap_or_default();
    let band = matches!(
        comparison_name,
        "LessThanLowerOrGreaterThanUpperThreshold" | "LessThanLowerThreshold" | "GreaterThanUpperThreshold"
    );
    let threshold = input.get("Threshold").and_then(as_f64);
    let threshold_metric_id = text(input, "ThresholdMetricId");
    if band {
        if threshold_metric_id.is_none() || threshold.is_some() {
            return Err(CwError::combination(
                "ThresholdMetricId is required for anomaly detection alarms and Threshold is not allowed.",
            ));
        }
    } else if threshold.is_none() || threshold_metric_id.is_some() {
        return Err(CwError::combination(
            "Threshold is required for static threshold alarms and ThresholdMetricId is not allowed.",
        ));
    }
    let missing = match text(input, "TreatMissingData") {
        None => MissingData::Missing,
        Some(v) => MissingData::parse(v).ok_or_else(|| {
            CwError::invalid_value(format!("The value {v} for parameter TreatMissingData is invalid."))
        })?,
    };
    let low_sample_ignore = match text(input, "EvaluateLowSampleCountPercentile") {
        None | Some("evaluate") => false,
        Some("ignore") => true,
        Some(other) => {
            return Err(CwError::validation(format!(
                "Option {other} is not supported. Supported options for parameter EvaluateLowSampleCountPercentile are evaluate and ignore."
            )));
        }
    };
    let (period_s, source) = match metrics {
        None => {
            let namespace =
                text(input, "Namespace").ok_or_else(|| CwError::missing("The parameter Namespace is required."))?;
            let period =
                input["Period"].as_i64().ok_or_else(|| CwError::missing("The parameter Period is required."))?;
            let (statistic, extended) = (text(input, "Statistic"), text(input, "ExtendedStatistic"));
            let (stat_name, is_extended) = match (statistic, extended) {
                (Some(s), None) => (s, false),
                (None, Some(e)) => (e, true),
                _ => {
                    return Err(CwError::combination(
                        "Exactly one of Statistic or ExtendedStatistic must be specified.",
                    ));
                }
            };
            let stat = Stat::parse(stat_name).filter(|s| s.is_basic() != is_extended).ok_or_else(|| {
                CwError::invalid_value(format!(
                    "The value {stat_name} for parameter ExtendedStatistic is not supported."
                ))
            })?;
            if !rule.allows(period) {
                return Err(CwError::invalid_value(format!("The value {period} for parameter Period is invalid.")));
            }
            let unit_name = text(input, "Unit").map(str::to_owned);
            let unit = unit_name.as_deref().and_then(unit_index);
            let key = Arc::new(SeriesKey::new(
                namespace,
                text(input, "MetricName").unwrap_or_default(),
                crate::cw_metrics::dimensions(&input["Dimensions"]),
            ));
            let low_sample_percentile = match stat {
                Stat::Percentile(x) if low_sample_ignore => Some(x),
                _ => None,
            };
            (
                period,
                Source::Single {
                    key,
                    stat,
                    stat_name: stat_name.to_owned(),
                    extended: is_extended,
                    unit,
                    unit_name,
                    low_sample_percentile,
                },
            )
        }
        Some(queries) => {
            check_queries(queries)?;
            let returning: Vec<&Value> = queries.iter().filter(|q| q["ReturnData"].as_bool() != Some(false)).collect();
            let band_id = match threshold_metric_id {
                Some(id) => {
                    let is_band = returning.iter().any(|q| {
                        q["Id"] == id
                            && matches!(q["Expression"].as_str().and_then(parse_expression),
                                Some(Expr::Call { name, .. }) if name == ANOMALY_DETECTION_BAND)
                    });
                    if !is_band {
                        return Err(CwError::invalid_value(format!(
                            "ThresholdMetricId {id} must refer to an ANOMALY_DETECTION_BAND expression with ReturnData set to true."
                        )));
                    }
                    if returning.len() != 2 {
                        return Err(CwError::validation(
                            "Exactly two elements of the metrics list should return data.",
                        ));
                    }
                    Some(id.to_owned())
                }
                None if returning.len() != 1 => {
                    return Err(CwError::validation("Exactly one element of the metrics list should return data."));
                }
                None => None,
            };
            let returning: Vec<&Value> =
                returning.into_iter().filter(|q| q["Id"].as_str() != band_id.as_deref()).collect();
            let mut periods = Vec::new();
            for query in queries {
                let id = query["Id"].as_str().unwrap_or_default();
                if let Some(stat) = query.get("MetricStat") {
                    let period = stat["Period"].as_i64().unwrap_or_default();
                    if !rule.allows(period) {
                        return Err(CwError::invalid_value(format!(
                            "The value {period} for parameter Period is invalid."
                        )));
                    }
                    periods.push(period);
                } else if let Some(expr) = query["Expression"].as_str().and_then(parse_expression) {
                    let mut calls = Vec::new();
                    expr.calls(&mut calls);
                    if let Some((_, name, _)) = calls.iter().find(|(_, name, _)| matches!(*name, "SEARCH" | "METRICS"))
                    {
                        return Err(CwError::validation(format!(
                            "Error in expression {id}: {name} is not supported in alarms."
                        )));
                    }
                    if matches!(expr, Expr::Text(_)) {
                        return Err(CwError::validation(format!(
                            "Error in expression {id}: The expression must return a single time series."
                        )));
                    }
                }
            }
            periods.dedup();
            if periods.len() > 1 {
                return Err(CwError::validation(
                    "Error in expression: all MetricStat queries of an alarm must have the same Period.",
                ));
            }
            let period = periods.first().copied().or_else(|| returning[0]["Period"].as_i64()).unwrap_or(60);
            let return_id = returning[0]["Id"].as_str().unwrap_or_default().to_owned();
            (period, Source::Math { queries: queries.clone(), return_id, band_id })
        }
    };
    let limit = if period_s < 3600 { 86_400 } else { 604_800 };
    if period_s * n > limit {
        return Err(CwError::invalid_value(format!(
            "The product of Period and EvaluationPeriods cannot exceed {limit} seconds."
        )));
    }
    if let Some(m) = m
        && (m > n || m < 1)
    {
        return Err(CwError::invalid_value("DatapointsToAlarm must be less than or equal to EvaluationPeriods."));
    }
    if band && !matches!(&source, Source::Math { band_id: Some(_), .. }) {
        return Err(CwError::invalid_value(format!(
            "ThresholdMetricId {} must refer to an ANOMALY_DETECTION_BAND expression with ReturnData set to true.",
            threshold_metric_id.unwrap_or_default()
        )));
    }
    let comparison = Comparison::parse(comparison_name).ok_or_else(|| {
        CwError::validation(format!("The value {comparison_name} for parameter ComparisonOperator is invalid."))
    })?;
    // AWS/DynamoDB alarms always ignore missing data (§3.3 step 7).
    let missing = if matches!(&source, Source::Single { key, .. } if key.namespace == "AWS/DynamoDB") {
        MissingData::Ignore
    } else {
        missing
    };
    let warm_until_ms = input["WarmUpConfiguration"]["WarmUpPeriodDurationInMinutes"]
        .as_i64()
        .filter(|_| input["WarmUpConfiguration"]["OnlyStartEvaluatingAfterWarmUpPeriodEnds"].as_bool() != Some(false))
        .map(|minutes| put_ms + minutes * 60_000);
    Ok(MetricPlan {
        period_s,
        criteria: Criteria {
            evaluation_periods: n as usize,
            datapoints_to_alarm: m.map(|m| m as usize),
            threshold: threshold.unwrap_or_default(),
            comparison,
            missing,
        },
        source,
        warm_until_ms,
    })
}

/// PutCompositeAlarm's checks that need no other alarm (§3.9.1), and the compiled rule.
pub fn compile_composite(name: &str, config: &Map<String, Value>) -> Result<CompositePlan, CwError> {
    let input = Value::Object(config.clone());
    check_actions(&input, true)?;
    let source = text(&input, "AlarmRule").unwrap_or_default();
    let rule = AlarmRule::parse(source).map_err(|e| match e {
        RuleError::Whitespace | RuleError::Syntax { .. } | RuleError::TooLarge => CwError::validation(e.to_string()),
    })?;
    if rule.children().iter().any(|child| child == name) {
        return Err(CwError::validation("AlarmRule cannot reference the alarm itself."));
    }
    let suppressor = text(&input, "ActionsSuppressor");
    let wait = input["ActionsSuppressorWaitPeriod"].as_i64();
    let extension = input["ActionsSuppressorExtensionPeriod"].as_i64();
    let suppressor = match (suppressor, wait, extension) {
        (None, None, None) => None,
        (None, _, _) => {
            return Err(CwError::validation(
                "ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod are only valid when ActionsSuppressor is set.",
            ));
        }
        (Some(s), Some(wait), Some(extension)) => {
            if wait < 0 || extension < 0 {
                return Err(CwError::validation(
                    "ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod must not be negative.",
                ));
            }
            let name = fluoro_proto::alarms::rule::alarm_name(s).to_owned();
            Some((name, Suppressor { wait_period_s: wait, extension_period_s: extension }))
        }
        (Some(_), _, _) => {
            return Err(CwError::validation(
                "ActionsSuppressorWaitPeriod and ActionsSuppressorExtensionPeriod are required when ActionsSuppressor is set.",
            ));
        }
    };
    Ok(CompositePlan { rule, suppressor })
}
