//! The evaluator end to end in process: the spec's timelines (§3.5) over a simulated clock and
//! a real store, history, the outbox and its deliveries, and restart.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use fluoro_proto::metrics::{KeyedSample, Sample, SeriesKey, unit_index};
use fluoro_store::{LogStore, MetricBatch, Metrics, StoreConfig};
use serde_json::{Value, json};

use super::notify::NotifyTarget;
use super::{AlarmSettings, Alarms};
use crate::cw_metrics::MetricsReadApi;

/// 2025-01-15 00:00 UTC.
const DAY: i64 = 1_736_899_200_000;

fn at(hh: i64, mm: i64, ss: i64) -> i64 {
    DAY + ((hh * 60 + mm) * 60 + ss) * 1000
}

struct Rig {
    _dir: tempfile::TempDir,
    store: Arc<LogStore>,
    clock: Arc<AtomicI64>,
    alarms: Arc<Alarms>,
    settings: AlarmSettings,
}

fn settings(targets: Vec<NotifyTarget>) -> AlarmSettings {
    let mut settings = AlarmSettings::new("000000000000", "us-east-1");
    settings.targets = targets;
    settings.retry_initial = Duration::from_millis(10);
    settings.retry_max = Duration::from_millis(50);
    settings
}

fn topic(name: &str) -> String {
    format!("arn:aws:sns:us-east-1:000000000000:{name}")
}

fn target(name: &str, url: &str) -> NotifyTarget {
    NotifyTarget { name: name.into(), url: url.into(), headers: Default::default() }
}

impl Rig {
    fn new(targets: Vec<NotifyTarget>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = LogStore::open(StoreConfig::new(dir.path()), Metrics::new()).unwrap();
        let clock = Arc::new(AtomicI64::new(at(12, 0, 0)));
        let settings = settings(targets);
        let alarms = Self::open(&store, &clock, &settings);
        Self { _dir: dir, store, clock, alarms, settings }
    }

    fn open(store: &Arc<LogStore>, clock: &Arc<AtomicI64>, settings: &AlarmSettings) -> Arc<Alarms> {
        let read = clock.clone();
        Alarms::open(
            store.clone(),
            Arc::new(MetricsReadApi::new(store.clone(), "000000000000")),
            settings.clone(),
            Arc::new(move || read.load(Ordering::SeqCst)),
        )
        .unwrap()
    }

    fn reopen(&mut self) {
        self.alarms = Self::open(&self.store, &self.clock, &self.settings);
    }

    fn set_time(&self, ms: i64) {
        self.clock.store(ms, Ordering::SeqCst);
    }

    /// One sample per value at the given times.
    async fn put(&self, name: &str, points: &[(i64, f64)]) {
        let key = Arc::new(SeriesKey::new("App", name, vec![]));
        let unit = unit_index("None").unwrap();
        let samples = points
            .iter()
            .map(|(t, v)| KeyedSample { key: key.clone(), sample: Sample::value(key.id(), *t, unit, 60, *v, 1.0) })
            .collect();
        self.store
            .append_metrics(MetricBatch { ingestion_time: *points.last().map(|(t, _)| t).unwrap(), samples })
            .await
            .unwrap();
    }

    async fn call(&self, op: &str, input: Value) -> Result<Value, fluoro_proto::cloudwatch::CwError> {
        self.alarms.handle(op, &input).await.expect("an alarm operation")
    }

    async fn tick(&self, ms: i64) {
        self.set_time(ms);
        self.alarms.tick(ms).await;
    }

    async fn alarm(&self, name: &str) -> Value {
        let out = self
            .call("DescribeAlarms", json!({"AlarmNames": [name], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"]}))
            .await
            .unwrap();
        let metric = out["MetricAlarms"].as_array().unwrap();
        let composite = out["CompositeAlarms"].as_array().unwrap();
        metric.iter().chain(composite).next().cloned().unwrap_or(Value::Null)
    }

    async fn state(&self, name: &str) -> (String, String) {
        let alarm = self.alarm(name).await;
        (alarm["StateValue"].as_str().unwrap().to_owned(), alarm["StateReason"].as_str().unwrap().to_owned())
    }

    async fn history(&self, name: &str, kind: &str) -> Vec<Value> {
        let out = self
            .call(
                "DescribeAlarmHistory",
                json!({"AlarmName": name, "HistoryItemType": kind, "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
                       "ScanBy": "TimestampAscending", "MaxRecords": 100}),
            )
            .await
            .unwrap();
        out["AlarmHistoryItems"].as_array().unwrap().clone()
    }

    /// The outbox's deliveries as (action, NewStateValue, OldStateValue).
    fn outbox(&self) -> Vec<(String, String, String)> {
        let inner = self.alarms.inner.lock();
        let mut out: Vec<(i64, String, String, String)> = inner
            .outbox
            .values()
            .map(|d| {
                let message: Value = serde_json::from_str(&d.message).unwrap();
                (
                    d.created_ms,
                    d.action.clone(),
                    message["NewStateValue"].as_str().unwrap_or_default().to_owned(),
                    message["OldStateValue"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        out.sort();
        out.into_iter().map(|(_, a, n, o)| (a, n, o)).collect()
    }

    fn clear_outbox(&self) {
        self.alarms.inner.lock().outbox.clear();
    }
}

fn metric_alarm(name: &str, extra: Value) -> Value {
    let mut input = json!({
        "AlarmName": name, "Namespace": "App", "MetricName": name, "Statistic": "Average", "Period": 60,
        "EvaluationPeriods": 1, "Threshold": 80.0, "ComparisonOperator": "GreaterThanThreshold",
    });
    for (k, v) in extra.as_object().unwrap() {
        input[k] = v.clone();
    }
    input
}

#[tokio::test]
async fn v1_new_alarm_settles_then_follows_the_data() {
    let rig = Rig::new(vec![target("ops", "http://127.0.0.1:9/")]);
    rig.put("Latency", &[(at(12, 0, 0), 50.0)]).await;
    rig.set_time(at(12, 1, 0));
    let input = metric_alarm("Latency", json!({"OKActions": [topic("ops")], "AlarmActions": [topic("ops")]}));
    rig.call("PutMetricAlarm", input).await.unwrap();
    // Evaluated at once: INSUFFICIENT_DATA → OK, and the OK action runs.
    assert_eq!(
        rig.state("Latency").await,
        (
            "OK".into(),
            "Threshold Crossed: 1 datapoint [50.0 (15/01/25 12:00:00)] was not greater than the threshold (80.0)."
                .into()
        )
    );
    assert_eq!(rig.outbox(), vec![(topic("ops"), "OK".into(), "INSUFFICIENT_DATA".into())]);
    rig.clear_outbox();

    rig.put("Latency", &[(at(12, 1, 0), 85.0)]).await;
    rig.tick(at(12, 1, 30)).await;
    assert_eq!(rig.state("Latency").await.0, "OK", "no new boundary, no evaluation");
    rig.tick(at(12, 2, 0)).await;
    let alarm = rig.alarm("Latency").await;
    assert_eq!(alarm["StateValue"], "ALARM");
    assert_eq!(
        alarm["StateReason"],
        "Threshold Crossed: 1 datapoint [85.0 (15/01/25 12:01:00)] was greater than the threshold (80.0)."
    );
    assert_eq!(
        alarm["StateReasonData"],
        r#"{"version":"1.0","queryDate":"2025-01-15T12:02:00.000+0000","startDate":"2025-01-15T12:01:00.000+0000","statistic":"Average","period":60,"recentDatapoints":[85.0],"threshold":80.0,"evaluatedDatapoints":[{"timestamp":"2025-01-15T12:01:00.000+0000","sampleCount":1.0,"value":85.0}]}"#
    );
    assert_eq!(alarm["StateTransitionedTimestamp"], json!(at(12, 2, 0) as f64 / 1000.0));
    assert_eq!(rig.outbox(), vec![(topic("ops"), "ALARM".into(), "OK".into())]);

    rig.put("Latency", &[(at(12, 2, 0), 70.0)]).await;
    rig.tick(at(12, 3, 0)).await;
    assert_eq!(
        rig.state("Latency").await,
        (
            "OK".into(),
            "Threshold Crossed: 1 datapoint [70.0 (15/01/25 12:02:00)] was not greater than the threshold (80.0)."
                .into()
        )
    );
    let updates = rig.history("Latency", "StateUpdate").await;
    let summaries: Vec<&str> = updates.iter().map(|i| i["HistorySummary"].as_str().unwrap()).collect();
    assert_eq!(
        summaries,
        [
            "Alarm updated from INSUFFICIENT_DATA to OK",
            "Alarm updated from OK to ALARM",
            "Alarm updated from ALARM to OK"
        ]
    );
    let data: Value = serde_json::from_str(updates[1]["HistoryData"].as_str().unwrap()).unwrap();
    assert_eq!(data["oldState"]["stateValue"], "OK");
    assert_eq!(data["newState"]["stateReasonData"]["recentDatapoints"], json!([85.0]));
    let config = rig.history("Latency", "ConfigurationUpdate").await;
    assert_eq!(config[0]["HistorySummary"], "Alarm \"Latency\" created");
}

#[tokio::test]
async fn v2_stale_data_keeps_counting_until_it_leaves_the_range() {
    let rig = Rig::new(vec![]);
    rig.put("Errors", &[(at(12, 0, 0), 90.0)]).await;
    rig.set_time(at(12, 0, 30));
    rig.call("PutMetricAlarm", metric_alarm("Errors", json!({}))).await.unwrap();
    assert_eq!(rig.state("Errors").await.0, "INSUFFICIENT_DATA", "the 12:00 bucket is not complete yet");
    rig.tick(at(12, 1, 0)).await;
    assert_eq!(rig.state("Errors").await.0, "ALARM");
    for minute in [2, 3] {
        rig.tick(at(12, minute, 0)).await;
        assert_eq!(rig.state("Errors").await.0, "ALARM", "12:0{minute}");
    }
    rig.tick(at(12, 4, 0)).await;
    assert_eq!(
        rig.state("Errors").await,
        ("INSUFFICIENT_DATA".into(), "Insufficient Data: 1 datapoint was unknown.".into())
    );
}

#[tokio::test]
async fn v3_sparse_counter_with_not_breaching_fill() {
    let rig = Rig::new(vec![]);
    rig.set_time(at(12, 0, 0));
    let input = metric_alarm(
        "Faults",
        json!({"Statistic": "Sum", "EvaluationPeriods": 5, "DatapointsToAlarm": 1, "Threshold": 0.0,
               "TreatMissingData": "notBreaching"}),
    );
    rig.call("PutMetricAlarm", input).await.unwrap();
    // No data at all: 5 missing slots treated as non-breaching.
    assert_eq!(rig.state("Faults").await.0, "OK");
    rig.put("Faults", &[(at(12, 6, 0), 3.0)]).await;
    rig.tick(at(12, 7, 0)).await;
    assert_eq!(
        rig.state("Faults").await.1,
        "Threshold Crossed: 1 out of the last 5 datapoints [3.0 (15/01/25 12:06:00)] was greater than the threshold (0.0) and 4 missing datapoints were treated as [NonBreaching] (minimum 1 datapoint for OK -> ALARM transition)."
    );
    for minute in 8..=13 {
        rig.tick(at(12, minute, 0)).await;
        assert_eq!(rig.state("Faults").await.0, "ALARM", "12:{minute}");
    }
    rig.tick(at(12, 14, 0)).await;
    assert_eq!(
        rig.state("Faults").await,
        (
            "OK".into(),
            "Threshold Crossed: no datapoints were received for 5 periods and 5 missing datapoints were treated as [NonBreaching] (minimum 5 datapoints for ALARM -> OK transition).".into()
        )
    );
}

#[tokio::test]
async fn v12_low_sample_percentiles_keep_the_state_when_ignored() {
    let rig = Rig::new(vec![]);
    let points: Vec<(i64, f64)> = (0..50).map(|i| (at(12, 0, 0) + i * 100, 150.0)).collect();
    rig.put("Latency", &points).await;
    rig.set_time(at(12, 0, 30));
    for (name, option) in [("ignored", Some("ignore")), ("evaluated", None)] {
        let mut input =
            metric_alarm(name, json!({"MetricName": "Latency", "ExtendedStatistic": "p99", "Threshold": 100.0}));
        input.as_object_mut().unwrap().shift_remove("Statistic");
        if let Some(option) = option {
            input["EvaluateLowSampleCountPercentile"] = json!(option);
        }
        rig.call("PutMetricAlarm", input).await.unwrap();
        rig.call("SetAlarmState", json!({"AlarmName": name, "StateValue": "OK", "StateReason": "start"}))
            .await
            .unwrap();
    }
    rig.tick(at(12, 1, 0)).await;
    assert_eq!(rig.state("ignored").await, ("OK".into(), "start".into()));
    let alarm = rig.alarm("evaluated").await;
    assert_eq!(
        alarm["StateReason"],
        "Threshold Crossed: 1 datapoint [150.0 (15/01/25 12:00:00)] was greater than the threshold (100.0)."
    );
    assert!(alarm["StateReasonData"].as_str().unwrap().contains(r#""extendedStatistic":"p99""#));
}

#[tokio::test]
async fn v13_set_alarm_state_then_the_next_tick_recomputes() {
    let rig = Rig::new(vec![target("ops", "http://127.0.0.1:9/")]);
    rig.put("Latency", &[(at(11, 59, 0), 70.0), (at(12, 0, 0), 70.0)]).await;
    rig.set_time(at(12, 0, 10));
    let input = metric_alarm("Latency", json!({"OKActions": [topic("ops")], "AlarmActions": [topic("ops")]}));
    rig.call("PutMetricAlarm", input).await.unwrap();
    assert_eq!(rig.state("Latency").await.0, "OK");
    rig.clear_outbox();
    rig.set_time(at(12, 0, 30));
    rig.call("SetAlarmState", json!({"AlarmName": "Latency", "StateValue": "ALARM", "StateReason": "testing"}))
        .await
        .unwrap();
    assert_eq!(rig.state("Latency").await, ("ALARM".into(), "testing".into()));
    assert_eq!(rig.outbox(), vec![(topic("ops"), "ALARM".into(), "OK".into())]);
    rig.tick(at(12, 1, 0)).await;
    assert_eq!(
        rig.state("Latency").await,
        (
            "OK".into(),
            "Threshold Crossed: 1 datapoint [70.0 (15/01/25 12:00:00)] was not greater than the threshold (80.0)."
                .into()
        )
    );
    assert_eq!(rig.outbox().len(), 2);
    let bad = rig
        .call(
            "SetAlarmState",
            json!({"AlarmName": "Latency", "StateValue": "OK", "StateReason": "x", "StateReasonData": "{"}),
        )
        .await
        .unwrap_err();
    assert_eq!((bad.code, bad.message.as_str()), ("InvalidFormat", "StateReasonData must be valid JSON."));
    let missing = rig
        .call("SetAlarmState", json!({"AlarmName": "nope", "StateValue": "OK", "StateReason": "x"}))
        .await
        .unwrap_err();
    assert_eq!((missing.code, missing.status), ("ResourceNotFound", 404));
}

#[tokio::test]
async fn v14_metric_math_alarm() {
    let rig = Rig::new(vec![]);
    rig.put("Errors", &[(at(12, 0, 0), 2.0), (at(12, 1, 0), 0.0), (at(12, 2, 0), 5.0)]).await;
    rig.put("Requests", &[(at(12, 0, 0), 100.0), (at(12, 1, 0), 0.0), (at(12, 2, 0), 50.0), (at(12, 3, 0), 40.0)])
        .await;
    let stat = |id: &str, name: &str| {
        json!({"Id": id, "ReturnData": false,
               "MetricStat": {"Metric": {"Namespace": "App", "MetricName": name}, "Period": 60, "Stat": "Sum"}})
    };
    let input = json!({
        "AlarmName": "error-rate", "EvaluationPeriods": 1, "Threshold": 5.0,
        "ComparisonOperator": "GreaterThanThreshold",
        "Metrics": [stat("m1", "Errors"), stat("m2", "Requests"), {"Id": "e1", "Expression": "100*m1/m2", "ReturnData": true}],
    });
    rig.set_time(at(12, 2, 0));
    rig.call("PutMetricAlarm", input).await.unwrap();
    assert_eq!(
        rig.state("error-rate").await,
        (
            "OK".into(),
            "Threshold Crossed: 1 datapoint [2.0 (15/01/25 12:00:00)] was not greater than the threshold (5.0).".into()
        )
    );
    rig.tick(at(12, 3, 0)).await;
    let alarm = rig.alarm("error-rate").await;
    assert_eq!(
        alarm["StateReason"],
        "Threshold Crossed: 1 datapoint [10.0 (15/01/25 12:02:00)] was greater than the threshold (5.0)."
    );
    let data = alarm["StateReasonData"].as_str().unwrap();
    assert!(!data.contains("statistic") && !data.contains("sampleCount"), "{data}");
    rig.tick(at(12, 4, 0)).await;
    assert_eq!(
        rig.state("error-rate").await.1,
        "Threshold Crossed: 1 datapoint [0.0 (15/01/25 12:03:00)] was not greater than the threshold (5.0)."
    );
    assert_eq!(alarm["Metrics"][2]["Expression"], "100*m1/m2", "Metrics echoed as given");
}

#[tokio::test]
async fn v16_composite_with_suppressor() {
    let rig = Rig::new(vec![target("topicA", "http://127.0.0.1:9/"), target("topicO", "http://127.0.0.1:9/")]);
    for (name, minute) in [("a", 58), ("b", 59), ("sup", 59)] {
        rig.set_time(at(11, 50, 0));
        let input = metric_alarm(name, json!({"TreatMissingData": "ignore"}));
        rig.call("PutMetricAlarm", input).await.unwrap();
        rig.set_time(at(11, minute, 0));
        rig.call("SetAlarmState", json!({"AlarmName": name, "StateValue": "OK", "StateReason": "start"}))
            .await
            .unwrap();
    }
    rig.set_time(at(12, 0, 0));
    let composite = json!({
        "AlarmName": "svc", "AlarmRule": "ALARM(a) AND NOT ALARM(b)",
        "AlarmActions": [topic("topicA")], "OKActions": [topic("topicO")],
        "ActionsSuppressor": "sup", "ActionsSuppressorWaitPeriod": 120, "ActionsSuppressorExtensionPeriod": 180,
    });
    rig.call("PutCompositeAlarm", composite).await.unwrap();
    assert_eq!(
        rig.state("svc").await,
        (
            "OK".into(),
            "arn:aws:cloudwatch:us-east-1:000000000000:alarm:b transitioned to OK at Wednesday 15 January, 2025 11:59:00 UTC".into()
        )
    );
    assert_eq!(rig.outbox(), vec![(topic("topicO"), "OK".into(), "INSUFFICIENT_DATA".into())]);
    rig.clear_outbox();

    rig.set_time(at(12, 3, 0));
    rig.call("SetAlarmState", json!({"AlarmName": "a", "StateValue": "ALARM", "StateReason": "x"})).await.unwrap();
    let svc = rig.alarm("svc").await;
    assert_eq!(svc["StateValue"], "ALARM");
    assert_eq!(
        svc["StateReason"],
        "arn:aws:cloudwatch:us-east-1:000000000000:alarm:a transitioned to ALARM at Wednesday 15 January, 2025 12:03:00 UTC"
    );
    assert_eq!(
        svc["StateReasonData"],
        r#"{"triggeringAlarms":[{"arn":"arn:aws:cloudwatch:us-east-1:000000000000:alarm:a","state":{"value":"ALARM","timestamp":"2025-01-15T12:03:00.000+0000"}}]}"#
    );
    assert_eq!(
        (svc["ActionsSuppressedBy"].as_str(), svc["ActionsSuppressedReason"].as_str()),
        (Some("WaitPeriod"), Some("Actions suppressed by WaitPeriod"))
    );
    assert!(rig.outbox().is_empty());

    rig.set_time(at(12, 4, 0));
    rig.call("SetAlarmState", json!({"AlarmName": "sup", "StateValue": "ALARM", "StateReason": "x"})).await.unwrap();
    assert_eq!(rig.alarm("svc").await["ActionsSuppressedBy"], "Alarm");
    rig.tick(at(12, 6, 0)).await;
    assert!(rig.outbox().is_empty(), "the suppressor holds past the wait period");
    rig.set_time(at(12, 10, 0));
    rig.call("SetAlarmState", json!({"AlarmName": "sup", "StateValue": "OK", "StateReason": "x"})).await.unwrap();
    assert_eq!(rig.alarm("svc").await["ActionsSuppressedBy"], "ExtensionPeriod");
    rig.tick(at(12, 12, 59)).await;
    assert!(rig.outbox().is_empty());
    rig.tick(at(12, 13, 0)).await;
    let svc = rig.alarm("svc").await;
    assert!(svc.get("ActionsSuppressedBy").is_none(), "{svc}");
    assert_eq!(svc["StateUpdatedTimestamp"], json!(at(12, 13, 0) as f64 / 1000.0));
    assert_eq!(rig.outbox(), vec![(topic("topicA"), "ALARM".into(), "OK".into())]);
    rig.clear_outbox();

    rig.set_time(at(12, 20, 0));
    rig.call("SetAlarmState", json!({"AlarmName": "b", "StateValue": "ALARM", "StateReason": "x"})).await.unwrap();
    let (state, reason) = rig.state("svc").await;
    assert_eq!(state, "OK");
    assert!(reason.starts_with("arn:aws:cloudwatch:us-east-1:000000000000:alarm:b transitioned to ALARM"), "{reason}");
    assert_eq!(rig.outbox(), vec![(topic("topicO"), "OK".into(), "ALARM".into())]);

    // The children cannot be deleted under the composite; the pair can.
    let refused = rig.call("DeleteAlarms", json!({"AlarmNames": ["a"]})).await.unwrap_err();
    assert_eq!(refused.message, "Cannot delete a as there are composite alarm(s) depending on it.");
    let children = rig.call("DescribeAlarms", json!({"ChildrenOfAlarmName": "svc"})).await.unwrap();
    let names: Vec<&str> =
        children["MetricAlarms"].as_array().unwrap().iter().map(|a| a["AlarmName"].as_str().unwrap()).collect();
    assert_eq!(names, ["a", "b"]);
    let parents = rig.call("DescribeAlarms", json!({"ParentsOfAlarmName": "a"})).await.unwrap();
    assert_eq!(
        parents["CompositeAlarms"],
        json!([{"AlarmName": "svc", "AlarmArn": "arn:aws:cloudwatch:us-east-1:000000000000:alarm:svc"}])
    );
    rig.call("DeleteAlarms", json!({"AlarmNames": ["svc", "a", "b", "sup"]})).await.unwrap();
    assert!(rig.outbox().is_empty(), "pending actions are dropped with their alarm");
}

#[tokio::test]
async fn composite_wave_stops_at_cycles_and_propagates_through_levels() {
    let rig = Rig::new(vec![]);
    rig.call("PutMetricAlarm", metric_alarm("m", json!({"TreatMissingData": "ignore"}))).await.unwrap();
    rig.call("PutCompositeAlarm", json!({"AlarmName": "c1", "AlarmRule": "ALARM(m)"})).await.unwrap();
    rig.call("PutCompositeAlarm", json!({"AlarmName": "c2", "AlarmRule": "ALARM(\"c1\") OR ALARM(m)"})).await.unwrap();
    // Make a cycle: c1 now also watches c2.
    rig.call("PutCompositeAlarm", json!({"AlarmName": "c1", "AlarmRule": "ALARM(m) OR ALARM(c2)"})).await.unwrap();
    rig.call("SetAlarmState", json!({"AlarmName": "m", "StateValue": "ALARM", "StateReason": "x"})).await.unwrap();
    assert_eq!(rig.state("c1").await.0, "ALARM");
    assert_eq!(rig.state("c2").await.0, "ALARM");
    let bad = rig
        .call("PutCompositeAlarm", json!({"AlarmName": "c3", "AlarmRule": "ALARM(zz) OR OK(yy)"}))
        .await
        .unwrap_err();
    assert_eq!(bad.message, "Could not save the composite alarm as alarms [zz, yy] in the alarm rule do not exist");
    let own = rig.call("PutCompositeAlarm", json!({"AlarmName": "c3", "AlarmRule": "ALARM(c3)"})).await.unwrap_err();
    assert_eq!(own.message, "AlarmRule cannot reference the alarm itself.");
    let kind = rig.call("PutMetricAlarm", metric_alarm("c1", json!({}))).await.unwrap_err();
    assert_eq!(kind.message, "An alarm named c1 already exists as a composite alarm.");
}

#[tokio::test]
async fn put_metric_alarm_checks() {
    let rig = Rig::new(vec![]);
    let cases = [
        (json!({"Period": 45}), "The value 45 for parameter Period is invalid."),
        (json!({"Period": 5}), "The value 5 for parameter Period is invalid."),
        (
            json!({"EvaluationPeriods": 2, "DatapointsToAlarm": 3}),
            "DatapointsToAlarm must be less than or equal to EvaluationPeriods.",
        ),
        (
            json!({"Period": 60, "EvaluationPeriods": 1441}),
            "The product of Period and EvaluationPeriods cannot exceed 86400 seconds.",
        ),
        (json!({"TreatMissingData": "sometimes"}), "The value sometimes for parameter TreatMissingData is invalid."),
        (json!({"ExtendedStatistic": "p99"}), "Exactly one of Statistic or ExtendedStatistic must be specified."),
        (json!({"Metrics": []}), "The parameter Metrics cannot be combined with Namespace."),
        (
            json!({"ThresholdMetricId": "ad1"}),
            "Threshold is required for static threshold alarms and ThresholdMetricId is not allowed.",
        ),
        (json!({"AlarmActions": ["sns-topic"]}), "Invalid arn syntax: sns-topic"),
        (
            json!({"EvaluateLowSampleCountPercentile": "maybe"}),
            "Option maybe is not supported. Supported options for parameter EvaluateLowSampleCountPercentile are evaluate and ignore.",
        ),
    ];
    for (extra, message) in cases {
        let error = rig.call("PutMetricAlarm", metric_alarm("x", extra.clone())).await.unwrap_err();
        assert_eq!(error.message, message, "{extra}");
    }
    let mut no_period = metric_alarm("x", json!({}));
    no_period.as_object_mut().unwrap().shift_remove("Period");
    assert_eq!(rig.call("PutMetricAlarm", no_period).await.unwrap_err().code, "MissingParameter");
    let two_returning = json!({
        "AlarmName": "x", "EvaluationPeriods": 1, "Threshold": 1.0, "ComparisonOperator": "GreaterThanThreshold",
        "Metrics": [{"Id": "a", "Expression": "TIME_SERIES(1)"}, {"Id": "b", "Expression": "TIME_SERIES(2)"}],
    });
    assert_eq!(
        rig.call("PutMetricAlarm", two_returning).await.unwrap_err().message,
        "Exactly one element of the metrics list should return data."
    );
    assert!(rig.call("DescribeAlarms", json!({})).await.unwrap()["MetricAlarms"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn describe_alarms_pages_and_filters() {
    let rig = Rig::new(vec![]);
    for i in 0..7 {
        let name = format!("api-{i}");
        let mut input = metric_alarm(&name, json!({"TreatMissingData": "ignore", "AlarmActions": [topic("t")]}));
        input["MetricName"] = json!("Latency");
        rig.call("PutMetricAlarm", input).await.unwrap();
    }
    rig.call("PutMetricAlarm", metric_alarm("other", json!({"TreatMissingData": "ignore"}))).await.unwrap();
    let mut seen = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"AlarmNamePrefix": "api-", "MaxRecords": 3});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let out = rig.call("DescribeAlarms", input).await.unwrap();
        seen.extend(
            out["MetricAlarms"].as_array().unwrap().iter().map(|a| a["AlarmName"].as_str().unwrap().to_owned()),
        );
        match out["NextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("api-{i}")).collect::<Vec<_>>());
    let bad =
        rig.call("DescribeAlarms", json!({"AlarmNamePrefix": "x", "NextToken": token.unwrap_or_default() + "x"})).await;
    assert_eq!(bad.unwrap_err().code, "InvalidNextToken");
    let by_action = rig.call("DescribeAlarms", json!({"ActionPrefix": "arn:aws:sns"})).await.unwrap();
    assert_eq!(by_action["MetricAlarms"].as_array().unwrap().len(), 7);
    let for_metric =
        rig.call("DescribeAlarmsForMetric", json!({"Namespace": "App", "MetricName": "Latency"})).await.unwrap();
    assert_eq!(for_metric["MetricAlarms"].as_array().unwrap().len(), 7);
    let both = rig.call("DescribeAlarms", json!({"AlarmNames": ["a"], "AlarmNamePrefix": "a"})).await.unwrap_err();
    assert_eq!(both.code, "InvalidParameterCombination");

    let arn = "arn:aws:cloudwatch:us-east-1:000000000000:alarm:other";
    rig.call(
        "TagResource",
        json!({"ResourceARN": arn, "Tags": [{"Key": "team", "Value": "a"}, {"Key": "env", "Value": "p"}]}),
    )
    .await
    .unwrap();
    rig.call("UntagResource", json!({"ResourceARN": arn, "TagKeys": ["team"]})).await.unwrap();
    let tags = rig.call("ListTagsForResource", json!({"ResourceARN": arn})).await.unwrap();
    assert_eq!(tags, json!({"Tags": [{"Key": "env", "Value": "p"}]}));
    let missing = rig.call("ListTagsForResource", json!({"ResourceARN": format!("{arn}x")})).await.unwrap_err();
    assert_eq!((missing.code, missing.status), ("ResourceNotFoundException", 404));

    rig.call("DisableAlarmActions", json!({"AlarmNames": ["other", "nope"]})).await.unwrap();
    assert_eq!(rig.alarm("other").await["ActionsEnabled"], false);
    let updates = rig.history("other", "ConfigurationUpdate").await;
    assert_eq!(updates.len(), 2);
    let data: Value = serde_json::from_str(updates[1]["HistoryData"].as_str().unwrap()).unwrap();
    assert_eq!(data["originalUpdatedFields"]["actionsEnabled"], true);
    assert_eq!(data["updatedAlarm"]["okactions"], json!([]));
}

/// A receiver that records POSTs and answers with the status in `status`.
async fn receiver(status: Arc<AtomicI64>) -> (String, Arc<parking_lot::Mutex<Vec<(axum::http::HeaderMap, String)>>>) {
    let got: Arc<parking_lot::Mutex<Vec<(axum::http::HeaderMap, String)>>> = Default::default();
    let sink = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let (sink, status) = (sink.clone(), status.clone());
            async move {
                let code = status.load(Ordering::SeqCst) as u16;
                if code == 200 {
                    sink.lock().push((headers, body));
                }
                axum::http::StatusCode::from_u16(code).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, got)
}

#[tokio::test]
async fn deliveries_retry_until_the_receiver_answers_and_survive_restart() {
    let status = Arc::new(AtomicI64::new(503));
    let (url, got) = receiver(status.clone()).await;
    let mut rig = Rig::new(vec![target("ops", &url)]);
    rig.set_time(at(12, 0, 0));
    let input = metric_alarm("Latency", json!({"TreatMissingData": "breaching", "AlarmActions": [topic("ops")]}));
    rig.call("PutMetricAlarm", input).await.unwrap();
    assert_eq!(rig.state("Latency").await.0, "ALARM");
    // Two failed attempts while the receiver answers 503.
    for _ in 0..2 {
        rig.alarms.deliver_due();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while rig.alarms.inner.lock().in_flight.len() == 1 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        rig.set_time(rig.clock.load(Ordering::SeqCst) + 1000);
    }
    let failed = rig.history("Latency", "Action").await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert_eq!(
        failed[0]["HistorySummary"],
        format!("Failed to execute action {}. Received error: \"endpoint answered HTTP 503\"", topic("ops"))
    );
    assert!(got.lock().is_empty());
    // A restart keeps the pending delivery; then the receiver is back.
    rig.reopen();
    assert_eq!(rig.alarms.pending_deliveries(), 1);
    status.store(200, Ordering::SeqCst);
    rig.alarms.deliver_due();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while rig.alarms.pending_deliveries() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(rig.alarms.pending_deliveries(), 0);
    let received = got.lock().clone();
    assert_eq!(received.len(), 1);
    let (headers, body) = &received[0];
    assert_eq!(headers["x-amz-sns-message-type"], "Notification");
    assert_eq!(headers["x-amz-sns-topic-arn"], topic("ops").as_str());
    let envelope: Value = serde_json::from_str(body).unwrap();
    assert_eq!(envelope["Subject"], "ALARM: \"Latency\" in US East (N. Virginia)");
    assert_eq!(headers["x-amz-sns-message-id"], envelope["MessageId"].as_str().unwrap());
    let message: Value = serde_json::from_str(envelope["Message"].as_str().unwrap()).unwrap();
    assert_eq!(message["NewStateValue"], "ALARM");
    assert_eq!(message["OldStateValue"], "INSUFFICIENT_DATA");
    assert_eq!(message["Trigger"]["Statistic"], "AVERAGE");
    assert_eq!(message["Trigger"]["TreatMissingData"], "breaching");
    let actions = rig.history("Latency", "Action").await;
    assert_eq!(actions.len(), 3);
    let data: Value = serde_json::from_str(actions[2]["HistoryData"].as_str().unwrap()).unwrap();
    assert_eq!(data["actionState"], "Succeeded");
    assert_eq!(data["stateUpdateTimestamp"], at(12, 0, 0));
    // The state survived too, and a restart re-sends nothing.
    rig.reopen();
    assert_eq!(rig.state("Latency").await.0, "ALARM");
    assert_eq!(rig.alarms.pending_deliveries(), 0);
    rig.tick(at(12, 1, 0)).await;
    assert_eq!(rig.alarms.pending_deliveries(), 0, "the same state is no transition");
}

#[tokio::test]
async fn unmapped_and_unsupported_actions_fail_in_history() {
    let rig = Rig::new(vec![]);
    let input = metric_alarm(
        "x",
        json!({"TreatMissingData": "breaching",
               "AlarmActions": [topic("nobody"), "arn:aws:automate:us-east-1:ec2:stop"]}),
    );
    rig.call("PutMetricAlarm", input).await.unwrap();
    let items = rig.history("x", "Action").await;
    let summaries: Vec<&str> = items.iter().map(|i| i["HistorySummary"].as_str().unwrap()).collect();
    assert_eq!(
        summaries,
        [
            format!("Failed to execute action {}. Received error: \"no target configured for topic\"", topic("nobody")),
            "Failed to execute action arn:aws:automate:us-east-1:ec2:stop. Received error: \"action type not supported by fluoro\"".to_owned(),
        ]
    );
}

#[tokio::test]
async fn v15_anomaly_band_alarm_and_the_band_in_get_metric_data() {
    let rig = Rig::new(vec![]);
    // 14 days of history at 12:00 and 12:01: median 170, spread 1.4826 × 10.
    let mut points = Vec::new();
    for d in 1..=14 {
        for minute in [0, 1] {
            points.push((at(12, minute, 0) - d * 86_400_000, 150.0 + (d % 5) as f64 * 10.0));
        }
    }
    points.push((at(12, 0, 0), 239.0));
    points.push((at(12, 1, 0), 150.0));
    rig.put("Traffic", &points).await;
    let metrics = json!([
        {"Id": "m1", "ReturnData": true,
         "MetricStat": {"Metric": {"Namespace": "App", "MetricName": "Traffic"}, "Period": 60, "Stat": "Average"}},
        {"Id": "ad1", "Expression": "ANOMALY_DETECTION_BAND(m1, 2)", "ReturnData": true},
    ]);
    let input = json!({
        "AlarmName": "traffic-band", "EvaluationPeriods": 1, "DatapointsToAlarm": 1,
        "ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold", "ThresholdMetricId": "ad1",
        "Metrics": metrics,
    });
    rig.set_time(at(12, 1, 0));
    rig.call("PutMetricAlarm", input.clone()).await.unwrap();
    let alarm = rig.alarm("traffic-band").await;
    assert_eq!(alarm["StateValue"], "ALARM");
    let reason = alarm["StateReason"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "Thresholds Crossed: 1 out of the last 1 datapoints [239.0 (15/01/25 12:00:00)] was less than the lower thresholds [140.3"
        ),
        "{reason}"
    );
    assert!(reason.contains("] or greater than the upper thresholds [199.6"), "{reason}");
    let data: Value = serde_json::from_str(alarm["StateReasonData"].as_str().unwrap()).unwrap();
    assert!(data.get("threshold").is_none() && data["recentUpperThresholds"].as_array().unwrap().len() == 1);
    rig.tick(at(12, 2, 0)).await;
    let (state, reason) = rig.state("traffic-band").await;
    assert_eq!(state, "OK");
    assert!(reason.contains("[150.0 (15/01/25 12:01:00)] was not less than the lower thresholds ["), "{reason}");

    // GetMetricData: the band as two results of its id, upper first.
    let api = MetricsReadApi::new(rig.store.clone(), "000000000000");
    let request = json!({"StartTime": at(12, 0, 0) as f64 / 1000.0, "EndTime": at(12, 2, 0) as f64 / 1000.0,
                         "MetricDataQueries": metrics, "ScanBy": "TimestampAscending"});
    let out = api.handle("GetMetricData", &request, at(12, 2, 0)).await.unwrap().unwrap();
    let results = out["MetricDataResults"].as_array().unwrap();
    let ids: Vec<(&str, &str)> =
        results.iter().map(|r| (r["Id"].as_str().unwrap(), r["Label"].as_str().unwrap())).collect();
    assert_eq!(ids, [("m1", "Traffic"), ("ad1", "Traffic (expected)"), ("ad1", "Traffic (expected)")]);
    let (upper, lower) = (results[1]["Values"][0].as_f64().unwrap(), results[2]["Values"][0].as_f64().unwrap());
    assert!((upper - (170.0 + 2.0 * 14.826)).abs() < 1e-9 && (lower - (170.0 - 2.0 * 14.826)).abs() < 1e-9);

    let mut wrong = input.clone();
    wrong["ThresholdMetricId"] = json!("m1");
    assert_eq!(
        rig.call("PutMetricAlarm", wrong).await.unwrap_err().message,
        "ThresholdMetricId m1 must refer to an ANOMALY_DETECTION_BAND expression with ReturnData set to true."
    );
    let mut three = input;
    three["Metrics"].as_array_mut().unwrap().push(json!({"Id": "e2", "Expression": "m1 * 2"}));
    assert_eq!(
        rig.call("PutMetricAlarm", three).await.unwrap_err().message,
        "Exactly two elements of the metrics list should return data."
    );
}
