//! Alarm actions (spec metrics-alarms.md §3.10): which configured target an action ARN
//! reaches, the SNS-style and Lambda-style messages, and delivery over HTTP with retries.
//! Deliveries wait in a durable outbox (catalog documents) until they succeed or give up.

use std::time::Duration;

use fluoro_proto::alarms::StateValue;
use fluoro_proto::alarms::json_time;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::model::{Alarm, strings};

/// A `[[notify]]` table: where the actions naming `name` are delivered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyTarget {
    /// The SNS topic or Lambda function name the action ARNs use, or `*` for every topic.
    pub name: String,
    /// `http://…` URL the notification is POSTed to.
    pub url: String,
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
}

impl NotifyTarget {
    /// A target whose URL this build can deliver to.
    pub fn check(&self) -> Result<(), String> {
        let uri: hyper::Uri = self.url.parse().map_err(|e| format!("notify target {}: bad url: {e}", self.name))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(format!(
                "notify target {}: url must be http://host[:port]/path (deliver to an HTTPS endpoint through a local relay)",
                self.name
            ));
        }
        for (name, value) in &self.headers {
            hyper::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("notify target {}: bad header name {name:?}", self.name))?;
            hyper::header::HeaderValue::from_str(value)
                .map_err(|_| format!("notify target {}: bad value for header {name}", self.name))?;
        }
        Ok(())
    }
}

/// What an action ARN asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<'a> {
    Sns { topic: &'a str },
    Lambda { function: &'a str },
    Unsupported,
}

pub fn action(arn: &str) -> Action<'_> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "sns", _, _, topic] if !topic.is_empty() => Action::Sns { topic },
        ["arn", _, "lambda", _, _, "function", function, ..] if !function.is_empty() => Action::Lambda { function },
        _ => Action::Unsupported,
    }
}

/// One delivery waiting in the outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub alarm_name: String,
    pub alarm_type: String,
    pub action: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// The POST body.
    pub body: String,
    /// `Some(topic ARN)` for SNS deliveries (their headers name it).
    pub topic_arn: Option<String>,
    /// The alarm message inside the body (Action history's `publishedMessage`).
    pub message: String,
    /// When the state changed (Action history's `stateUpdateTimestamp`).
    pub transition_ms: i64,
    pub created_ms: i64,
    pub attempts: u32,
    pub next_ms: i64,
}

/// Region display names of SNS messages (Appendix A).
pub fn region_name(region: &str) -> &str {
    match region {
        "us-east-1" => "US East (N. Virginia)",
        "us-east-2" => "US East (Ohio)",
        "us-west-1" => "US West (N. California)",
        "us-west-2" => "US West (Oregon)",
        "ca-central-1" => "Canada (Central)",
        "sa-east-1" => "South America (Sao Paulo)",
        "eu-west-1" => "EU (Ireland)",
        "eu-west-2" => "EU (London)",
        "eu-west-3" => "EU (Paris)",
        "eu-central-1" => "EU (Frankfurt)",
        "eu-south-1" => "EU (Milan)",
        "eu-north-1" => "EU (Stockholm)",
        "ap-south-1" => "Asia Pacific (Mumbai)",
        "ap-northeast-1" => "Asia Pacific (Tokyo)",
        "ap-northeast-2" => "Asia Pacific (Seoul)",
        "ap-northeast-3" => "Asia Pacific (Osaka)",
        "ap-southeast-1" => "Asia Pacific (Singapore)",
        "ap-southeast-2" => "Asia Pacific (Sydney)",
        "ap-east-1" => "Asia Pacific (Hong Kong)",
        "af-south-1" => "Africa (Cape Town)",
        "me-south-1" => "Middle East (Bahrain)",
        other => other,
    }
}

/// `<NEW_STATE>: "<AlarmName>" in <Region>`, non-ASCII as `_`, at most 100 characters.
pub fn subject(alarm: &Alarm, region: &str) -> String {
    let text = format!("{}: \"{}\" in {}", alarm.state.value.as_str(), alarm.name, region_name(region));
    text.chars().map(|c| if c.is_ascii() { c } else { '_' }).take(100).collect()
}

/// The transition a message tells of.
pub struct Transition<'a> {
    pub old_state: StateValue,
    pub old_reason: &'a str,
    pub old_reason_data: Option<&'a str>,
    pub old_timestamp_ms: i64,
    pub children: Vec<(String, StateValue, i64)>,
}

fn upper_statistic(statistic: &str) -> String {
    match statistic {
        "SampleCount" => "SAMPLE_COUNT".into(),
        other => other.to_ascii_uppercase(),
    }
}

/// Dimensions as alarm JSON writes them: `[{"value", "name"}]`.
pub(super) fn lower_dimensions(value: &Value) -> Value {
    json!(
        value
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| json!({"value": d["Value"], "name": d["Name"]}))
            .collect::<Vec<_>>()
    )
}

/// The alarm JSON of an SNS notification (§3.10), keys in AWS's order.
pub fn sns_message(alarm: &Alarm, transition: &Transition<'_>, account: &str, region: &str) -> String {
    let config = &alarm.config;
    let mut out = Map::new();
    out.insert("AlarmName".into(), json!(alarm.name));
    out.insert("AlarmDescription".into(), json!(alarm.description()));
    out.insert("AWSAccountId".into(), json!(account));
    if !alarm.composite {
        out.insert("AlarmConfigurationUpdatedTimestamp".into(), json!(json_time(alarm.configuration_updated_ms)));
    }
    out.insert("NewStateValue".into(), json!(alarm.state.value.as_str()));
    out.insert("NewStateReason".into(), json!(alarm.state.reason));
    out.insert("StateChangeTime".into(), json!(json_time(alarm.state.transitioned_ms)));
    out.insert("Region".into(), json!(region_name(region)));
    out.insert("AlarmArn".into(), json!(alarm.arn));
    out.insert("OldStateValue".into(), json!(transition.old_state.as_str()));
    if alarm.composite {
        out.insert("AlarmRule".into(), config.get("AlarmRule").cloned().unwrap_or(Value::Null));
        let children: Vec<Value> = transition
            .children
            .iter()
            .map(
                |(arn, state, at)| json!({"Arn": arn, "State": {"Value": state.as_str(), "Timestamp": json_time(*at)}}),
            )
            .collect();
        out.insert("TriggeringChildren".into(), json!(children));
        return Value::Object(out).to_string();
    }
    for key in ["OKActions", "AlarmActions", "InsufficientDataActions"] {
        out.insert(key.into(), json!(strings(config.get(key))));
    }
    let mut trigger = Map::new();
    let optional = |key: &str| config.get(key).cloned().unwrap_or(Value::Null);
    if config.contains_key("MetricName") {
        trigger.insert("MetricName".into(), optional("MetricName"));
        trigger.insert("Namespace".into(), optional("Namespace"));
        match (config.get("Statistic").and_then(Value::as_str), config.get("ExtendedStatistic")) {
            (Some(statistic), _) => {
                trigger.insert("StatisticType".into(), json!("Statistic"));
                trigger.insert("Statistic".into(), json!(upper_statistic(statistic)));
            }
            (None, extended) => {
                trigger.insert("StatisticType".into(), json!("ExtendedStatistic"));
                trigger.insert("ExtendedStatistic".into(), extended.cloned().unwrap_or(Value::Null));
            }
        }
        trigger.insert("Unit".into(), optional("Unit"));
        trigger.insert("Dimensions".into(), lower_dimensions(config.get("Dimensions").unwrap_or(&Value::Null)));
    }
    if let Some(period) = config.get("Period") {
        trigger.insert("Period".into(), period.clone());
    }
    trigger.insert("EvaluationPeriods".into(), optional("EvaluationPeriods"));
    if let Some(m) = config.get("DatapointsToAlarm") {
        trigger.insert("DatapointsToAlarm".into(), m.clone());
    }
    trigger.insert("ComparisonOperator".into(), optional("ComparisonOperator"));
    if let Some(t) = config.get("Threshold") {
        trigger.insert("Threshold".into(), json!(t.as_f64().unwrap_or_default()));
    }
    if let Some(id) = config.get("ThresholdMetricId") {
        trigger.insert("ThresholdMetricId".into(), id.clone());
    }
    let or_empty = |key: &str| config.get(key).cloned().unwrap_or_else(|| json!(""));
    trigger.insert("TreatMissingData".into(), or_empty("TreatMissingData"));
    trigger.insert("EvaluateLowSampleCountPercentile".into(), or_empty("EvaluateLowSampleCountPercentile"));
    if let Some(metrics) = config.get("Metrics").and_then(Value::as_array) {
        let metrics: Vec<Value> = metrics
            .iter()
            .map(|q| {
                let mut q = q.clone();
                if let Some(dims) = q.pointer("/MetricStat/Metric/Dimensions").cloned() {
                    q["MetricStat"]["Metric"]["Dimensions"] = lower_dimensions(&dims);
                }
                q
            })
            .collect();
        trigger.insert("Metrics".into(), json!(metrics));
    }
    out.insert("Trigger".into(), Value::Object(trigger));
    Value::Object(out).to_string()
}

/// The SNS HTTP body around `message`.
pub fn sns_body(id: &str, topic_arn: &str, subject: &str, message: &str, now_ms: i64) -> String {
    let time = chrono::DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    json!({
        "Type": "Notification",
        "MessageId": id,
        "TopicArn": topic_arn,
        "Subject": subject,
        "Message": message,
        "Timestamp": time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "SignatureVersion": "1",
        "Signature": "",
        "SigningCertURL": "",
        "UnsubscribeURL": "",
    })
    .to_string()
}

/// The Lambda alarm event (§3.10).
pub fn lambda_event(alarm: &Alarm, transition: &Transition<'_>, account: &str, region: &str) -> String {
    let state = &alarm.state;
    let mut current =
        json!({"value": state.value.as_str(), "reason": state.reason, "timestamp": json_time(state.transitioned_ms)});
    if let Some(data) = &state.reason_data {
        current["reasonData"] = json!(data);
    }
    if let Some(held) = &state.held {
        current["actionsSuppressedBy"] = json!(held.by);
        current["actionsSuppressedReason"] = json!(held.suppression().reason());
    }
    let mut previous = json!({
        "value": transition.old_state.as_str(),
        "reason": transition.old_reason,
        "timestamp": json_time(transition.old_timestamp_ms),
    });
    if let Some(data) = transition.old_reason_data {
        previous["reasonData"] = json!(data);
    }
    let config = &alarm.config;
    let mut configuration = Map::new();
    if let Some(description) = alarm.description() {
        configuration.insert("description".into(), json!(description));
    }
    if alarm.composite {
        configuration.insert("alarmRule".into(), config.get("AlarmRule").cloned().unwrap_or(Value::Null));
        for (key, name) in [
            ("ActionsSuppressor", "actionsSuppressor"),
            ("ActionsSuppressorWaitPeriod", "actionsSuppressorWaitPeriod"),
            ("ActionsSuppressorExtensionPeriod", "actionsSuppressorExtensionPeriod"),
        ] {
            if let Some(v) = config.get(key) {
                configuration.insert(name.into(), v.clone());
            }
        }
    } else {
        let metric_stat = |metric: &Value, period: &Value, stat: &Value| {
            let dimensions: Map<String, Value> = metric["Dimensions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|d| (d["Name"].as_str().unwrap_or_default().to_owned(), d["Value"].clone()))
                .collect();
            json!({"metric": {"namespace": metric["Namespace"], "name": metric["MetricName"], "dimensions": dimensions},
                   "period": period, "stat": stat})
        };
        let metrics: Vec<Value> = match config.get("Metrics").and_then(Value::as_array) {
            Some(queries) => queries
                .iter()
                .map(|q| {
                    let mut item = json!({"id": q["Id"]});
                    if let Some(stat) = q.get("MetricStat") {
                        item["metricStat"] = metric_stat(&stat["Metric"], &stat["Period"], &stat["Stat"]);
                    }
                    if let Some(expression) = q.get("Expression") {
                        item["expression"] = expression.clone();
                    }
                    if let Some(label) = q.get("Label") {
                        item["label"] = label.clone();
                    }
                    item["returnData"] = json!(q["ReturnData"].as_bool().unwrap_or(true));
                    item
                })
                .collect(),
            None => {
                let config_value = Value::Object(config.clone());
                let stat =
                    config.get("Statistic").or_else(|| config.get("ExtendedStatistic")).cloned().unwrap_or_default();
                vec![json!({
                    "id": uuid::Uuid::new_v4().to_string(),
                    "metricStat": metric_stat(&config_value, &config_value["Period"], &stat),
                    "returnData": true,
                })]
            }
        };
        configuration.insert("metrics".into(), json!(metrics));
    }
    json!({
        "source": "aws.cloudwatch",
        "alarmArn": alarm.arn,
        "accountId": account,
        "time": json_time(state.transitioned_ms),
        "region": region,
        "alarmData": {
            "alarmName": alarm.name,
            "state": current,
            "previousState": previous,
            "configuration": configuration,
        },
    })
    .to_string()
}

/// The wait before attempt `attempts + 1`: exponential from `initial`, capped at `max`, with
/// up to 20 % jitter either way (so many deliveries to one receiver spread out).
pub fn backoff(attempts: u32, initial: Duration, max: Duration) -> Duration {
    let base = initial.as_millis() as f64 * 2f64.powi(attempts.saturating_sub(1).min(30) as i32);
    let capped = base.min(max.as_millis() as f64);
    let jitter = 0.8 + 0.4 * rand::random::<f64>();
    Duration::from_millis((capped * jitter).max(1.0) as u64)
}

pub type HttpClient = Client<HttpConnector, Full<Bytes>>;

pub fn http_client() -> HttpClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector)
}

/// POSTs one delivery; `Err` carries what went wrong (for the Action history item).
pub async fn post(client: &HttpClient, delivery: &Delivery, timeout: Duration) -> Result<(), String> {
    let content_type = if delivery.topic_arn.is_some() { "text/plain; charset=UTF-8" } else { "application/json" };
    let mut request = hyper::Request::post(delivery.url.as_str()).header("content-type", content_type);
    if let Some(topic) = &delivery.topic_arn {
        request = request
            .header("x-amz-sns-message-type", "Notification")
            .header("x-amz-sns-message-id", delivery.id.as_str())
            .header("x-amz-sns-topic-arn", topic.as_str());
    }
    for (name, value) in &delivery.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let request = request.body(Full::new(Bytes::from(delivery.body.clone()))).map_err(|e| e.to_string())?;
    let response = tokio::time::timeout(timeout, client.request(request))
        .await
        .map_err(|_| format!("no response within {} s", timeout.as_secs()))?
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    // Drain the body so the connection can be reused.
    let _ = tokio::time::timeout(timeout, response.into_body().collect()).await;
    if status.is_success() { Ok(()) } else { Err(format!("endpoint answered HTTP {}", status.as_u16())) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_arns() {
        assert_eq!(action("arn:aws:sns:us-east-1:000000000000:oncall"), Action::Sns { topic: "oncall" });
        assert_eq!(
            action("arn:aws:lambda:us-east-1:000000000000:function:pager:prod"),
            Action::Lambda { function: "pager" }
        );
        assert_eq!(action("arn:aws:automate:us-east-1:ec2:stop"), Action::Unsupported);
    }

    #[test]
    fn backoff_grows_and_caps() {
        let (initial, max) = (Duration::from_millis(100), Duration::from_secs(2));
        for attempt in 1..20 {
            let wait = backoff(attempt, initial, max).as_millis() as f64;
            let expected = (100.0 * 2f64.powi(attempt as i32 - 1)).min(2000.0);
            assert!(wait >= expected * 0.8 - 1.0 && wait <= expected * 1.2 + 1.0, "{attempt}: {wait}");
        }
    }

    #[test]
    fn targets_must_be_plain_http() {
        let target = |url: &str| NotifyTarget { name: "t".into(), url: url.into(), headers: Default::default() };
        assert!(target("http://127.0.0.1:9000/hook").check().is_ok());
        assert!(target("https://hooks.example/x").check().is_err());
        assert!(target("not a url").check().is_err());
    }
}
