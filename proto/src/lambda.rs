//! Lambda without setup: the invocation a `REPORT` line (text format) or a `platform.report`
//! record (JSON format) describes, and the `AWS/Lambda` metrics fluoro derives from it for log
//! groups named `/aws/lambda/<function>`.
//!
//! Per invocation, with dimension `FunctionName`, at the report's timestamp: `Invocations` (1,
//! Count), `Duration` (Milliseconds; raw values, so every percentile is exact), `Errors` (1
//! when the report's status is `error` or `timeout`, else 0, Count: its Average is the error
//! rate), `MaxMemoryUsed` (Megabytes) and `InitDuration` (Milliseconds, cold starts only). The
//! collector adds `ConcurrentExecutions` (Count), which needs state across requests.

use std::sync::Arc;

use crate::metrics::{KeyedSample, Sample, SeriesKey, unit_index};

/// The prefix of Lambda's log groups.
pub const GROUP_PREFIX: &str = "/aws/lambda/";
pub const NAMESPACE: &str = "AWS/Lambda";

/// The function a log group belongs to, if it is a Lambda group.
pub fn function_name(group: &str) -> Option<&str> {
    group.strip_prefix(GROUP_PREFIX).filter(|f| !f.is_empty())
}

/// One invocation's report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub request_id: String,
    pub duration_ms: f64,
    pub billed_ms: Option<f64>,
    pub memory_mb: Option<f64>,
    pub max_memory_mb: Option<f64>,
    pub init_ms: Option<f64>,
    /// The report says the invocation failed (`Status: error` / `timeout`).
    pub error: bool,
}

/// The report `message` holds, if it is one.
pub fn report(message: &str) -> Option<Report> {
    if let Some(rest) = message.strip_prefix("REPORT RequestId: ") {
        return text_report(rest);
    }
    let trimmed = message.trim_start();
    if trimmed.starts_with('{') && message.contains("platform.report") {
        return json_report(trimmed);
    }
    None
}

/// The request id at the start of what follows `START|END|REPORT RequestId: `.
pub fn request_id(rest: &str) -> &str {
    rest.split([' ', '\t', '\n']).next().unwrap_or_default()
}

/// The `key: value` parts of a REPORT line after `REPORT RequestId: `, trimmed.
pub fn report_parts(rest: &str) -> impl Iterator<Item = (&str, &str)> {
    rest.split(['\t', '\n']).filter_map(|part| part.split_once(": ")).map(|(k, v)| (k.trim(), v.trim()))
}

/// The number a REPORT value starts with (`102.25 ms` → 102.25).
pub fn leading_number(value: &str) -> Option<f64> {
    value.split(' ').next()?.parse().ok()
}

fn text_report(rest: &str) -> Option<Report> {
    let request_id = request_id(rest).to_owned();
    let mut report = Report {
        request_id,
        duration_ms: f64::NAN,
        billed_ms: None,
        memory_mb: None,
        max_memory_mb: None,
        init_ms: None,
        error: false,
    };
    for (key, value) in report_parts(rest) {
        let number = || leading_number(value);
        match key {
            "Duration" => report.duration_ms = number()?,
            "Billed Duration" => report.billed_ms = number(),
            "Memory Size" => report.memory_mb = number(),
            "Max Memory Used" => report.max_memory_mb = number(),
            "Init Duration" => report.init_ms = number(),
            "Status" => report.error = matches!(value, "error" | "timeout"),
            _ => {}
        }
    }
    (!report.duration_ms.is_nan()).then_some(report)
}

fn json_report(text: &str) -> Option<Report> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    if value.get("type")?.as_str()? != "platform.report" {
        return None;
    }
    let record = value.get("record")?;
    let metrics = record.get("metrics")?;
    let number = |key: &str| metrics.get(key).and_then(serde_json::Value::as_f64);
    Some(Report {
        request_id: record.get("requestId").and_then(|r| r.as_str()).unwrap_or_default().to_owned(),
        duration_ms: number("durationMs")?,
        billed_ms: number("billedDurationMs"),
        memory_mb: number("memorySizeMB"),
        max_memory_mb: number("maxMemoryUsedMB"),
        init_ms: number("initDurationMs"),
        error: matches!(record.get("status").and_then(|s| s.as_str()), Some("error" | "timeout")),
    })
}

/// The series of one function's metric.
pub fn series(function: &str, name: &str) -> Arc<SeriesKey> {
    Arc::new(SeriesKey::new(NAMESPACE, name, vec![("FunctionName".to_owned(), function.to_owned())]))
}

/// The samples one report yields (everything but `ConcurrentExecutions`).
pub fn samples(function: &str, timestamp_ms: i64, report: &Report) -> Vec<KeyedSample> {
    let unit = |name: &str| unit_index(name).expect("a CloudWatch unit");
    let mut out = Vec::with_capacity(5);
    let mut push = |name: &str, unit: u8, value: f64| {
        let key = series(function, name);
        let sample = Sample::value(key.id(), timestamp_ms, unit, 60, value, 1.0);
        out.push(KeyedSample { key, sample });
    };
    push("Invocations", unit("Count"), 1.0);
    push("Duration", unit("Milliseconds"), report.duration_ms);
    push("Errors", unit("Count"), if report.error { 1.0 } else { 0.0 });
    if let Some(mb) = report.max_memory_mb {
        push("MaxMemoryUsed", unit("Megabytes"), mb);
    }
    if let Some(ms) = report.init_ms {
        push("InitDuration", unit("Milliseconds"), ms);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_reports() {
        let line = "REPORT RequestId: 6f7f0961-cd14-4f55-b3e2-aa7a2a5e3b11\tDuration: 102.25 ms\tBilled Duration: 103 ms\tMemory Size: 128 MB\tMax Memory Used: 71 MB\tInit Duration: 152.43 ms\tXRAY TraceId: 1-6632301f-0123456789abcdef01234567\tSegmentId: 53995c3f42cd8ad8\tSampled: true\t\n";
        let r = report(line).unwrap();
        assert_eq!(r.request_id, "6f7f0961-cd14-4f55-b3e2-aa7a2a5e3b11");
        assert_eq!(
            (r.duration_ms, r.billed_ms, r.memory_mb, r.max_memory_mb),
            (102.25, Some(103.0), Some(128.0), Some(71.0))
        );
        assert_eq!((r.init_ms, r.error), (Some(152.43), false));
        let failed = "REPORT RequestId: x\tDuration: 3000.00 ms\tBilled Duration: 3000 ms\tMemory Size: 128 MB\tMax Memory Used: 40 MB\tStatus: timeout";
        assert!(report(failed).unwrap().error);
        assert_eq!(report("START RequestId: x Version: $LATEST"), None);
        assert_eq!(report("REPORT RequestId: x"), None, "no duration, no report");
    }

    #[test]
    fn json_reports() {
        let line = r#"{"time":"2026-11-21T10:00:00.000Z","type":"platform.report","record":{"requestId":"r-1","metrics":{"durationMs":12.5,"billedDurationMs":13,"memorySizeMB":256,"maxMemoryUsedMB":80,"initDurationMs":200.1},"status":"error"}}"#;
        let r = report(line).unwrap();
        assert_eq!(
            (r.request_id.as_str(), r.duration_ms, r.max_memory_mb, r.init_ms, r.error),
            ("r-1", 12.5, Some(80.0), Some(200.1), true)
        );
        assert_eq!(report(r#"{"type":"platform.start","record":{"requestId":"r"}}"#), None);
    }

    #[test]
    fn samples_of_a_report() {
        let r = report("REPORT RequestId: x\tDuration: 2.50 ms\tBilled Duration: 3 ms\tMemory Size: 128 MB\tMax Memory Used: 64 MB\t").unwrap();
        let samples = samples("checkout", 1_764_000_061_234, &r);
        let names: Vec<&str> = samples.iter().map(|s| s.key.name.as_str()).collect();
        assert_eq!(names, ["Invocations", "Duration", "Errors", "MaxMemoryUsed"]);
        assert!(samples.iter().all(|s| s.key.dimensions == [("FunctionName".to_owned(), "checkout".to_owned())]));
        assert_eq!(samples[1].sample.min, 2.5);
        assert_eq!(samples[1].sample.timestamp_ms, 1_764_000_060_000);
        assert_eq!(function_name("/aws/lambda/checkout"), Some("checkout"));
        assert_eq!(function_name("/aws/lambdas"), None);
    }
}
