//! The alarm operations of the CloudWatch API (spec metrics-alarms.md §3.1–§3.9). They take
//! and return the canonical form of `fluoro_proto::cloudwatch`; the HTTP layer does the
//! protocols.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

use base64::Engine;
use fluoro_proto::alarms::StateValue;
use fluoro_proto::alarms::rule::alarm_name;
use fluoro_proto::cloudwatch::{CwError, as_f64};
use fluoro_proto::metrics::SeriesKey;
use serde_json::{Map, Value, json};

use super::model::{
    self, Alarm, COMPOSITE_ALARM, CREATION_REASON, Compiled, MAX_PARENTS, MAX_TAGS, METRIC_ALARM, PeriodRule, State,
    seconds,
};
use super::{Alarms, Changes, Entry, HistoryItem, Inner};
use crate::cw_logs::tokens;

const DEFAULT_MAX_RECORDS: usize = 50;

fn text<'a>(input: &'a Value, key: &str) -> Option<&'a str> {
    input.get(key).and_then(Value::as_str)
}

fn list(input: &Value, key: &str) -> Vec<String> {
    model::strings(input.get(key))
}

/// The request without paging members, as a fingerprint tokens must match.
fn fingerprint(input: &Value) -> String {
    let mut copy = input.clone();
    if let Some(object) = copy.as_object_mut() {
        object.shift_remove("NextToken");
        object.shift_remove("MaxRecords");
    }
    tokens::fingerprint(&[&copy.to_string()])
}

fn make_token(last: &str, print: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json!({"l": last, "f": print}).to_string())
}

fn read_token(input: &Value, print: &str) -> Result<Option<String>, CwError> {
    let Some(token) = text(input, "NextToken") else { return Ok(None) };
    let parsed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .filter(|v| v["f"] == print)
        .and_then(|v| v["l"].as_str().map(str::to_owned));
    parsed.map(Some).ok_or_else(CwError::invalid_next_token)
}

/// A checked Put request.
struct Put {
    name: String,
    composite: bool,
    config: Map<String, Value>,
    compiled: Compiled,
    tags: BTreeMap<String, String>,
}

fn not_found(name: &str) -> CwError {
    CwError::resource_not_found(format!("Alarm {name} does not exist."))
}

impl Alarms {
    /// Runs `operation` if it is an alarm operation; `None` otherwise.
    pub async fn handle(&self, operation: &str, input: &Value) -> Option<Result<Value, CwError>> {
        let now_ms = self.now();
        Some(match operation {
            "PutMetricAlarm" => self.put_metric_alarm(input, now_ms).await,
            "PutCompositeAlarm" => self.put_composite_alarm(input, now_ms),
            "DescribeAlarms" => self.describe_alarms(input),
            "DescribeAlarmsForMetric" => Ok(self.describe_alarms_for_metric(input)),
            "DescribeAlarmHistory" => self.describe_alarm_history(input),
            "SetAlarmState" => self.set_alarm_state(input, now_ms),
            "DeleteAlarms" => self.delete_alarms(input, now_ms),
            "EnableAlarmActions" => self.set_actions_enabled(input, true, now_ms),
            "DisableAlarmActions" => self.set_actions_enabled(input, false, now_ms),
            "TagResource" => self.tag_resource(input),
            "UntagResource" => self.untag_resource(input),
            "ListTagsForResource" => self.list_tags(input),
            _ => return None,
        })
    }

    fn check_name(name: &str) -> Result<(), CwError> {
        if name.is_empty() || name.chars().any(char::is_control) {
            return Err(CwError::validation(format!(
                "The value {name:?} for parameter AlarmName is invalid: control characters are not allowed."
            )));
        }
        Ok(())
    }

    /// Inserts or replaces an alarm's configuration; the history item of the change.
    fn store_config(&self, inner: &mut Inner, put: Put, now_ms: i64, changes: &mut Changes) {
        let Put { name, composite, config, compiled, tags } = put;
        let name = name.as_str();
        inner.generation += 1;
        let generation = inner.generation;
        let (alarm, item) = match inner.alarms.remove(name) {
            Some(old) => {
                let before = old.alarm.history_config();
                let mut alarm = old.alarm;
                alarm.config = config;
                alarm.configuration_updated_ms = now_ms;
                alarm.put_ms = now_ms;
                let after = alarm.history_config();
                let original: Map<String, Value> = before
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, v)| after.get(k.as_str()) != Some(*v) && !k.starts_with("state"))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                let data = json!({"version": "1.0", "type": "Update", "updatedAlarm": after, "originalUpdatedFields": original});
                (alarm, (format!("Alarm \"{name}\" updated"), data))
            }
            None => {
                let alarm = Alarm {
                    name: name.to_owned(),
                    arn: self.arn(name),
                    composite,
                    config,
                    configuration_updated_ms: now_ms,
                    put_ms: now_ms,
                    state: State {
                        value: StateValue::InsufficientData,
                        reason: CREATION_REASON.into(),
                        reason_data: None,
                        updated_ms: now_ms,
                        transitioned_ms: now_ms,
                        held: None,
                    },
                    tags,
                };
                let data = json!({"version": "1.0", "type": "Create", "createdAlarm": alarm.history_config()});
                (alarm, (format!("Alarm \"{name}\" created"), data))
            }
        };
        let alarm_type = alarm.kind().to_owned();
        inner.alarms.insert(name.to_owned(), Entry { alarm, compiled: Arc::new(compiled), generation });
        inner.evaluated.remove(name);
        inner.unlink(name);
        inner.link(name);
        changes.alarms.insert(name.to_owned());
        self.add_history(
            inner,
            HistoryItem::new(name, &alarm_type, now_ms, "ConfigurationUpdate", item.0, item.1.to_string()),
            changes,
        );
    }

    /// The kind check and the quota (§3.1).
    fn check_slot(&self, inner: &Inner, name: &str, composite: bool) -> Result<(), CwError> {
        match inner.alarms.get(name) {
            Some(entry) if entry.alarm.composite != composite => Err(CwError::validation(format!(
                "An alarm named {name} already exists as a {} alarm.",
                if entry.alarm.composite { "composite" } else { "metric" }
            ))),
            Some(_) => Ok(()),
            None if inner.alarms.len() >= self.settings.max_alarms => {
                Err(CwError::limit_exceeded("The quota for alarms for this customer has already been reached."))
            }
            None => Ok(()),
        }
    }

    async fn put_metric_alarm(&self, input: &Value, now_ms: i64) -> Result<Value, CwError> {
        let name = text(input, "AlarmName").unwrap_or_default().to_owned();
        Self::check_name(&name)?;
        let config = model::config_of(input);
        let compiled = model::compile_metric(&config, PeriodRule { min_period_s: self.settings.min_period_s }, now_ms)?;
        let tags = model::check_tags(&input["Tags"])?;
        {
            let mut inner = self.inner.lock();
            self.check_slot(&inner, &name, false)?;
            let mut changes = Changes::default();
            let put = Put { name: name.clone(), composite: false, config, compiled: Compiled::Metric(compiled), tags };
            self.store_config(&mut inner, put, now_ms, &mut changes);
            self.commit(&inner, changes)?;
        }
        self.evaluate_now(&name, now_ms).await;
        Ok(json!({}))
    }

    fn put_composite_alarm(&self, input: &Value, now_ms: i64) -> Result<Value, CwError> {
        let name = text(input, "AlarmName").unwrap_or_default().to_owned();
        Self::check_name(&name)?;
        let config = model::config_of(input);
        let plan = model::compile_composite(&name, &config)?;
        let tags = model::check_tags(&input["Tags"])?;
        let mut inner = self.inner.lock();
        self.check_slot(&inner, &name, true)?;
        let missing: Vec<&str> = plan
            .rule
            .children()
            .iter()
            .filter(|c| !inner.alarms.contains_key(c.as_str()))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(CwError::validation(format!(
                "Could not save the composite alarm as alarms [{}] in the alarm rule do not exist",
                missing.join(", ")
            )));
        }
        if let Some((suppressor, _)) = &plan.suppressor
            && (!inner.alarms.contains_key(suppressor) || *suppressor == name)
        {
            return Err(CwError::validation(format!(
                "ActionsSuppressor {} does not exist.",
                text(input, "ActionsSuppressor").unwrap_or_default()
            )));
        }
        for child in plan.rule.children() {
            let parents = inner.parents.get(child);
            if parents.is_some_and(|p| p.len() >= MAX_PARENTS && !p.contains(&name)) {
                return Err(CwError::limit_exceeded(format!(
                    "Alarm {child} is already referenced by {MAX_PARENTS} composite alarms."
                )));
            }
        }
        let mut changes = Changes::default();
        let put = Put { name: name.clone(), composite: true, config, compiled: Compiled::Composite(plan), tags };
        self.store_config(&mut inner, put, now_ms, &mut changes);
        if self.evaluate_composite(&mut inner, &name, None, now_ms, &mut changes) {
            self.propagate(&mut inner, VecDeque::from([name.clone()]), now_ms, &mut changes);
        }
        self.commit(&inner, changes)?;
        Ok(json!({}))
    }

    fn describe_alarms(&self, input: &Value) -> Result<Value, CwError> {
        let names = list(input, "AlarmNames");
        let prefix = text(input, "AlarmNamePrefix");
        if input.get("AlarmNames").is_some() && prefix.is_some() {
            return Err(CwError::combination(
                "The parameters AlarmNames and AlarmNamePrefix are mutually exclusive and you have specified both.",
            ));
        }
        let children_of = text(input, "ChildrenOfAlarmName");
        let parents_of = text(input, "ParentsOfAlarmName");
        if children_of.is_some() || parents_of.is_some() {
            let others = input.as_object().into_iter().flatten().any(|(k, _)| {
                !matches!(k.as_str(), "ChildrenOfAlarmName" | "ParentsOfAlarmName" | "MaxRecords" | "NextToken")
            });
            if others || (children_of.is_some() && parents_of.is_some()) {
                return Err(CwError::validation(
                    "ChildrenOfAlarmName and ParentsOfAlarmName cannot be combined with other parameters.",
                ));
            }
        }
        let types: Vec<String> = match input.get("AlarmTypes") {
            Some(_) => list(input, "AlarmTypes"),
            None => vec![METRIC_ALARM.to_owned()],
        };
        let state = text(input, "StateValue");
        let action_prefix = text(input, "ActionPrefix");
        let max = input["MaxRecords"].as_u64().map_or(DEFAULT_MAX_RECORDS, |m| m.clamp(1, 100) as usize);
        let print = fingerprint(input);
        let after = read_token(input, &print)?;
        let inner = self.inner.lock();
        // The names to consider, for the relation filters.
        let related: Option<BTreeSet<String>> = match (children_of, parents_of) {
            (Some(parent), _) => Some(match inner.alarms.get(parent).map(|e| e.compiled.as_ref()) {
                Some(Compiled::Composite(plan)) => plan.rule.children().iter().cloned().collect(),
                _ => BTreeSet::new(),
            }),
            (None, Some(child)) => Some(
                inner
                    .parents_of(child)
                    .into_iter()
                    .filter(|p| match inner.alarms.get(p).map(|e| e.compiled.as_ref()) {
                        Some(Compiled::Composite(plan)) => plan.rule.children().iter().any(|c| c == child),
                        _ => false,
                    })
                    .collect(),
            ),
            (None, None) => None,
        };
        let (mut metric, mut composite) = (Vec::new(), Vec::new());
        let mut last = None;
        let mut more = false;
        for (name, entry) in &inner.alarms {
            if after.as_deref().is_some_and(|a| name.as_str() <= a) {
                continue;
            }
            let alarm = &entry.alarm;
            let keep = match &related {
                Some(set) => set.contains(name),
                None => {
                    (input.get("AlarmNames").is_none() || names.contains(name))
                        && prefix.is_none_or(|p| name.starts_with(p))
                        && types.iter().any(|t| t == alarm.kind())
                        && state.is_none_or(|s| s == alarm.state.value.as_str())
                        && action_prefix.is_none_or(|p| alarm.all_actions().any(|a| a.starts_with(p)))
                }
            };
            if !keep {
                continue;
            }
            if metric.len() + composite.len() == max {
                more = true;
                break;
            }
            let shown = match (children_of, parents_of) {
                (Some(_), _) => json!({
                    "AlarmName": alarm.name,
                    "AlarmArn": alarm.arn,
                    "StateValue": alarm.state.value.as_str(),
                    "StateUpdatedTimestamp": seconds(alarm.state.updated_ms),
                }),
                (None, Some(_)) => json!({"AlarmName": alarm.name, "AlarmArn": alarm.arn}),
                (None, None) => alarm.describe(),
            };
            if alarm.composite {
                composite.push(shown)
            } else {
                metric.push(shown)
            }
            last = Some(name.clone());
        }
        let mut out = json!({"MetricAlarms": metric, "CompositeAlarms": composite});
        if types.iter().any(|t| t == "LogAlarm") {
            out["LogAlarms"] = json!([]);
        }
        if more && let Some(last) = last {
            out["NextToken"] = json!(make_token(&last, &print));
        }
        Ok(out)
    }

    fn describe_alarms_for_metric(&self, input: &Value) -> Value {
        let wanted = SeriesKey::new(
            text(input, "Namespace").unwrap_or_default(),
            text(input, "MetricName").unwrap_or_default(),
            crate::cw_metrics::dimensions(&input["Dimensions"]),
        );
        let inner = self.inner.lock();
        let alarms: Vec<Value> = inner
            .alarms
            .values()
            .filter(|entry| {
                let Compiled::Metric(plan) = entry.compiled.as_ref() else { return false };
                let model::Source::Single { key, .. } = &plan.source else { return false };
                let config = &entry.alarm.config;
                let same = |member: &str| input.get(member).is_none_or(|v| config.get(member) == Some(v));
                **key == wanted && same("Statistic") && same("ExtendedStatistic") && same("Period") && same("Unit")
            })
            .map(|entry| entry.alarm.describe())
            .collect();
        json!({"MetricAlarms": alarms})
    }

    fn describe_alarm_history(&self, input: &Value) -> Result<Value, CwError> {
        let name = text(input, "AlarmName");
        let types: Vec<String> = match input.get("AlarmTypes") {
            Some(_) => list(input, "AlarmTypes"),
            None => vec![METRIC_ALARM.to_owned()],
        };
        let item_type = text(input, "HistoryItemType");
        let start = input.get("StartDate").and_then(as_f64).map(|s| (s * 1000.0).round() as i64);
        let end = input.get("EndDate").and_then(as_f64).map(|s| (s * 1000.0).round() as i64);
        let ascending = text(input, "ScanBy") == Some("TimestampAscending");
        let max = input["MaxRecords"].as_u64().map_or(DEFAULT_MAX_RECORDS, |m| m.clamp(1, 100) as usize);
        let print = fingerprint(input);
        let after = read_token(input, &print)?;
        if input.get("AlarmContributorId").is_some() || item_type.is_some_and(|t| t.starts_with("AlarmContributor")) {
            return Ok(json!({"AlarmHistoryItems": []}));
        }
        let inner = self.inner.lock();
        let keep = |item: &HistoryItem| {
            name.is_none_or(|n| n == item.alarm_name)
                && types.contains(&item.alarm_type)
                && item_type.is_none_or(|t| t == item.item_type)
                && start.is_none_or(|s| item.timestamp_ms >= s)
                && end.is_none_or(|e| item.timestamp_ms <= e)
        };
        let iter: Box<dyn Iterator<Item = (&String, &HistoryItem)>> = match (&after, ascending) {
            (Some(a), true) => {
                Box::new(inner.history.range::<String, _>((std::ops::Bound::Excluded(a), std::ops::Bound::Unbounded)))
            }
            (Some(a), false) => Box::new(inner.history.range::<String, _>(..a).rev()),
            (None, true) => Box::new(inner.history.iter()),
            (None, false) => Box::new(inner.history.iter().rev()),
        };
        let mut items = Vec::new();
        let mut last = None;
        let mut more = false;
        for (key, item) in iter.filter(|(_, item)| keep(item)) {
            if items.len() == max {
                more = true;
                break;
            }
            items.push(json!({
                "AlarmName": item.alarm_name,
                "AlarmType": item.alarm_type,
                "Timestamp": seconds(item.timestamp_ms),
                "HistoryItemType": item.item_type,
                "HistorySummary": item.summary,
                "HistoryData": item.data,
            }));
            last = Some(key.clone());
        }
        let mut out = json!({"AlarmHistoryItems": items});
        if more && let Some(last) = last {
            out["NextToken"] = json!(make_token(&last, &print));
        }
        Ok(out)
    }

    fn set_alarm_state(&self, input: &Value, now_ms: i64) -> Result<Value, CwError> {
        let name = text(input, "AlarmName").unwrap_or_default();
        let value_text = text(input, "StateValue").unwrap_or_default();
        let value = StateValue::parse(value_text).ok_or_else(|| {
            CwError::validation(format!(
                "1 validation error detected: Value '{value_text}' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]"
            ))
        })?;
        let reason = text(input, "StateReason").unwrap_or_default().to_owned();
        let reason_data = text(input, "StateReasonData").map(str::to_owned);
        if let Some(data) = &reason_data
            && serde_json::from_str::<Value>(data).is_err()
        {
            return Err(CwError::invalid_format("StateReasonData must be valid JSON."));
        }
        let mut inner = self.inner.lock();
        let Some(entry) = inner.alarms.get_mut(name) else { return Err(not_found(name)) };
        let mut changes = Changes::default();
        if entry.alarm.state.value == value {
            let composite = entry.alarm.composite;
            let state = &mut entry.alarm.state;
            state.reason = reason;
            state.reason_data = reason_data;
            if composite {
                state.updated_ms = now_ms;
            }
            changes.alarms.insert(name.to_owned());
        } else {
            self.transition(&mut inner, name, value, reason, reason_data, now_ms, &mut changes);
            self.propagate(&mut inner, VecDeque::from([name.to_owned()]), now_ms, &mut changes);
        }
        self.commit(&inner, changes)?;
        Ok(json!({}))
    }

    fn delete_alarms(&self, input: &Value, now_ms: i64) -> Result<Value, CwError> {
        let names: BTreeSet<String> = list(input, "AlarmNames").into_iter().collect();
        let mut inner = self.inner.lock();
        let known: Vec<String> = names.iter().filter(|n| inner.alarms.contains_key(*n)).cloned().collect();
        if known.iter().filter(|n| inner.alarms[*n].alarm.composite).count() > 1 {
            return Err(CwError::validation("You can delete at most one composite alarm per DeleteAlarms request."));
        }
        let blocked: Vec<&str> = known
            .iter()
            .filter(|n| inner.parents_of(n).iter().any(|p| !names.contains(p)))
            .map(String::as_str)
            .collect();
        match blocked.as_slice() {
            [] => {}
            [one] => {
                return Err(CwError::validation(format!(
                    "Cannot delete {one} as there are composite alarm(s) depending on it."
                )));
            }
            many => {
                return Err(CwError::validation(format!(
                    "Cannot delete {} as there are composite alarm(s) depending on them.",
                    many.join(",")
                )));
            }
        }
        let mut changes = Changes::default();
        for name in known {
            let entry = inner.alarms.remove(&name).expect("known");
            inner.unlink(&name);
            inner.evaluated.remove(&name);
            let pending: Vec<String> =
                inner.outbox.values().filter(|d| d.alarm_name == name).map(|d| d.id.clone()).collect();
            for id in pending {
                inner.outbox.remove(&id);
                changes.outbox.insert(id);
            }
            changes.alarms.insert(name.clone());
            let data = json!({"version": "1.0", "type": "Delete", "deletedAlarm": entry.alarm.history_config()});
            self.add_history(
                &mut inner,
                HistoryItem::new(
                    &name,
                    entry.alarm.kind(),
                    now_ms,
                    "ConfigurationUpdate",
                    format!("Alarm \"{name}\" deleted"),
                    data.to_string(),
                ),
                &mut changes,
            );
        }
        self.commit(&inner, changes)?;
        Ok(json!({}))
    }

    fn set_actions_enabled(&self, input: &Value, enabled: bool, now_ms: i64) -> Result<Value, CwError> {
        let mut inner = self.inner.lock();
        let mut changes = Changes::default();
        for name in list(input, "AlarmNames") {
            let Some(entry) = inner.alarms.get_mut(&name) else { continue };
            if entry.alarm.actions_enabled() == enabled {
                continue;
            }
            let before = entry.alarm.history_config();
            entry.alarm.config.insert("ActionsEnabled".into(), json!(enabled));
            entry.alarm.configuration_updated_ms = now_ms;
            let after = entry.alarm.history_config();
            let alarm_type = entry.alarm.kind().to_owned();
            let original = json!({
                "actionsEnabled": before["actionsEnabled"],
                "alarmConfigurationUpdatedTimestamp": before["alarmConfigurationUpdatedTimestamp"],
            });
            changes.alarms.insert(name.clone());
            let data =
                json!({"version": "1.0", "type": "Update", "updatedAlarm": after, "originalUpdatedFields": original});
            self.add_history(
                &mut inner,
                HistoryItem::new(
                    &name,
                    &alarm_type,
                    now_ms,
                    "ConfigurationUpdate",
                    format!("Alarm \"{name}\" updated"),
                    data.to_string(),
                ),
                &mut changes,
            );
        }
        self.commit(&inner, changes)?;
        Ok(json!({}))
    }

    /// The alarm an ARN names, or `ResourceNotFoundException`.
    fn resource<'a>(inner: &'a mut Inner, arn: &str) -> Result<&'a mut Entry, CwError> {
        let name = alarm_name(arn);
        match inner.alarms.get_mut(name) {
            Some(entry) if entry.alarm.arn == arn => Ok(entry),
            _ => Err(CwError::resource_missing("The specified resource does not exist.")),
        }
    }

    fn tag_resource(&self, input: &Value) -> Result<Value, CwError> {
        let arn = text(input, "ResourceARN").unwrap_or_default();
        let tags = model::check_tags(&input["Tags"])?;
        let mut inner = self.inner.lock();
        let entry = Self::resource(&mut inner, arn)?;
        let mut merged = entry.alarm.tags.clone();
        merged.extend(tags);
        if merged.len() > MAX_TAGS {
            return Err(CwError::invalid_value("The number of tags exceeds the limit of 50."));
        }
        entry.alarm.tags = merged;
        let name = entry.alarm.name.clone();
        let mut changes = Changes::default();
        changes.alarms.insert(name);
        self.commit(&inner, changes)?;
        Ok(json!({}))
    }

    fn untag_resource(&self, input: &Value) -> Result<Value, CwError> {
        let arn = text(input, "ResourceARN").unwrap_or_default();
        let keys = list(input, "TagKeys");
        let mut inner = self.inner.lock();
        let entry = Self::resource(&mut inner, arn)?;
        for key in keys {
            entry.alarm.tags.remove(&key);
        }
        let name = entry.alarm.name.clone();
        let mut changes = Changes::default();
        changes.alarms.insert(name);
        self.commit(&inner, changes)?;
        Ok(json!({}))
    }

    fn list_tags(&self, input: &Value) -> Result<Value, CwError> {
        let arn = text(input, "ResourceARN").unwrap_or_default();
        let mut inner = self.inner.lock();
        let entry = Self::resource(&mut inner, arn)?;
        let tags: Vec<Value> = entry.alarm.tags.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect();
        Ok(json!({"Tags": tags}))
    }

    /// Alarms with their state for the native API, by name.
    pub fn list_native(&self) -> Vec<Value> {
        let inner = self.inner.lock();
        inner.alarms.values().map(|e| native_alarm(&e.alarm)).collect()
    }

    /// One alarm for the native API: its configuration and state, the datapoints that decided
    /// its last transition, and its newest history items.
    pub fn get_native(&self, name: &str) -> Option<Value> {
        let inner = self.inner.lock();
        let entry = inner.alarms.get(name)?;
        let mut out = native_alarm(&entry.alarm);
        out["configuration"] = entry.alarm.describe();
        let data: Option<Value> = entry.alarm.state.reason_data.as_deref().and_then(|d| serde_json::from_str(d).ok());
        out["decidingDatapoints"] =
            data.as_ref().and_then(|d| d.get("evaluatedDatapoints").cloned()).unwrap_or_else(|| json!([]));
        out["triggeringAlarms"] =
            data.as_ref().and_then(|d| d.get("triggeringAlarms").cloned()).unwrap_or_else(|| json!([]));
        let history: Vec<Value> = inner
            .history
            .values()
            .rev()
            .filter(|item| item.alarm_name == name)
            .take(100)
            .map(|item| {
                json!({
                    "timestamp": item.timestamp_ms,
                    "type": item.item_type,
                    "summary": item.summary,
                    "data": serde_json::from_str::<Value>(&item.data).unwrap_or(Value::Null),
                })
            })
            .collect();
        out["history"] = json!(history);
        Some(out)
    }
}

fn native_alarm(alarm: &Alarm) -> Value {
    let state = &alarm.state;
    json!({
        "name": alarm.name,
        "arn": alarm.arn,
        "type": if alarm.composite { COMPOSITE_ALARM } else { METRIC_ALARM },
        "description": alarm.description(),
        "state": state.value.as_str(),
        "reason": state.reason,
        "updated": state.updated_ms,
        "transitioned": state.transitioned_ms,
        "actionsEnabled": alarm.actions_enabled(),
        "actionsSuppressedBy": state.held.as_ref().map(|h| h.by.clone()),
        "metric": alarm.config.get("MetricName"),
        "namespace": alarm.config.get("Namespace"),
        "rule": alarm.config.get("AlarmRule"),
    })
}
