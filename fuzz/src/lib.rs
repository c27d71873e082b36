//! The fuzz targets: every parser and decoder that takes bytes from outside, each as a function
//! of arbitrary bytes that must return (no panic, no hang, bounded allocation) whatever it is
//! given. `fuzz_targets/` runs them under libFuzzer (`cargo fuzz run <name> --features
//! libfuzzer`); `tests/brief.rs` runs each over its seed corpus and mutations of it on the
//! stable toolchain, in the ordinary test suite.

use std::sync::{Arc, OnceLock};

use fluoro_collector::otlp::{Encoding, decode_export, gunzip};
use fluoro_proto::cloudwatch::{Protocol, decode_request};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

/// A target: arbitrary bytes in, nothing out.
pub type Target = fn(&[u8]);

/// Every target, by the name its libFuzzer binary and corpus directory carry.
pub const TARGETS: &[(&str, Target)] = &[
    ("filter_pattern", filter_pattern),
    ("insights", insights),
    ("sql", sql),
    ("xray_filter", xray_filter),
    ("alarm_rule", alarm_rule),
    ("metric_math", metric_math),
    ("segment_json", segment_json),
    ("udp_datagram", udp_datagram),
    ("otlp_protobuf", otlp_protobuf),
    ("otlp_json", otlp_json),
    ("aws_query", aws_query),
    ("cbor", cbor),
    ("wal", wal),
    ("emf", emf),
    ("gzip", gzip),
    ("lambda_report", lambda_report),
    ("sigv4", sigv4),
];

fn text(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// `pattern \n message \n metric value`: parse the filter pattern, match and extract from the
/// message, and evaluate it as a metric filter.
pub fn filter_pattern(data: &[u8]) {
    let text = text(data);
    let mut parts = text.splitn(3, '\n');
    let pattern = parts.next().unwrap_or_default();
    let message = parts.next().unwrap_or_default();
    let value = parts.next().unwrap_or("1");
    if let Ok(parsed) = fluoro_proto::filter::FilterPattern::parse(pattern) {
        parsed.matches(message);
        parsed.extract(message);
    }
    let def = fluoro_proto::metric_filter::MetricFilterDef {
        filter_name: "f".into(),
        filter_pattern: pattern.into(),
        log_group_name: "/g".into(),
        creation_time: 0,
        apply_on_transformed_logs: false,
        metric_name: "m".into(),
        metric_namespace: "n".into(),
        metric_value: value.into(),
        default_value: None,
        dimensions: Default::default(),
        unit: None,
    };
    if let Ok(compiled) = fluoro_proto::metric_filter::CompiledFilter::compile(def) {
        compiled.evaluate(message);
    }
}

/// A store with one log group, for the targets that plan against the catalog.
struct Fixture {
    runtime: tokio::runtime::Runtime,
    store: Arc<fluoro_store::LogStore>,
    group: Arc<fluoro_store::GroupMeta>,
    _dir: tempfile::TempDir,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let _guard = runtime.enter();
        let config = fluoro_store::StoreConfig::new(dir.path());
        let store = fluoro_store::LogStore::open(config, fluoro_store::Metrics::new()).expect("the store opens");
        let group = store
            .catalog()
            .create_group(fluoro_store::GroupMeta::standard("/fuzz/app", 0))
            .expect("the group is created");
        drop(_guard);
        Fixture { runtime, store, group, _dir: dir }
    })
}

/// A Logs Insights query: parsed, checked and planned (StartQuery's checks).
pub fn insights(data: &[u8]) {
    let f = fixture();
    let request = fluoro_query::insights::run::Request {
        account_id: "000000000000".into(),
        groups: vec![f.group.clone()],
        start_ms: 0,
        end_ms: 3_600_000,
        query: text(data).into_owned(),
        max_rows: 1000,
        now_ms: 3_600_000,
    };
    let _guard = f.runtime.enter();
    let _ = fluoro_query::insights::run::check(&f.store, &request);
}

/// A SQL query as `/api/v1/sql` and StartQuery (SQL) take it: parsed and planned.
pub fn sql(data: &[u8]) {
    let f = fixture();
    let scope = fluoro_query::sql::SqlScope {
        account_id: "000000000000".into(),
        groups: vec![f.group.clone()],
        start_ms: 0,
        end_ms: 3_600_000,
        now_ms: 3_600_000,
        max_rows: 1000,
    };
    let progress = Arc::new(fluoro_query::insights::run::Progress::default());
    let sql = text(data);
    let _ = f.runtime.block_on(fluoro_query::sql::prepare(&f.store, &scope, &sql, &progress));
}

pub fn xray_filter(data: &[u8]) {
    let _ = fluoro_proto::xray::filter::Filter::parse(&text(data));
}

pub fn alarm_rule(data: &[u8]) {
    let _ = fluoro_proto::alarms::rule::AlarmRule::parse(&text(data));
}

/// A GetMetricData expression: metric math and the Metrics Insights form.
pub fn metric_math(data: &[u8]) {
    let text = text(data);
    let _ = fluoro_query::cw_metrics::math::parse(&text);
    let _ = fluoro_query::cw_metrics::parse_expression(&text);
}

/// PutTraceSegments' documents (up to the default 64 KiB each).
pub fn segment_json(data: &[u8]) {
    let _ = fluoro_proto::xray::document::parse_documents(&text(data), 65_536);
}

/// An X-Ray daemon datagram: header line, then the document.
pub fn udp_datagram(data: &[u8]) {
    if let Ok(document) = fluoro_collector::xray::udp::document(data) {
        let _ = fluoro_proto::xray::document::parse_documents(document, 65_536);
    }
}

/// An OTLP export request: the first byte picks logs, traces or metrics; decoded, then
/// converted to events, segment documents and samples.
fn otlp(encoding: Encoding, data: &[u8]) {
    let Some((&kind, body)) = data.split_first() else { return };
    match kind % 3 {
        0 => {
            if let Ok(request) = decode_export::<ExportLogsServiceRequest>(encoding, body, &[]) {
                let target = fluoro_proto::otlp_logs::Target { group: None, stream: None };
                fluoro_proto::otlp_logs::convert(&request, target);
            }
        }
        1 => {
            if let Ok(request) = decode_export::<ExportTraceServiceRequest>(encoding, body, &[]) {
                fluoro_proto::xray::otlp::convert(&request);
            }
        }
        _ => {
            if let Ok(request) = decode_export::<ExportMetricsServiceRequest>(encoding, body, &[]) {
                let mut state = fluoro_proto::metrics::otlp::CumulativeState::default();
                fluoro_proto::metrics::otlp::convert(&request, &mut state, 3_600_000);
            }
        }
    }
}

pub fn otlp_protobuf(data: &[u8]) {
    otlp(Encoding::Protobuf, data);
}

pub fn otlp_json(data: &[u8]) {
    otlp(Encoding::Json, data);
}

fn cloudwatch(protocol: Protocol, data: &[u8]) {
    let Some((&pick, body)) = data.split_first() else { return };
    // Every operation fluoro serves; the first byte picks one.
    let served = fluoro_proto::cloudwatch::SERVED;
    let operation = served[pick as usize % served.len()];
    let _ = decode_request(protocol, operation, body);
}

/// An awsQuery (form-encoded) CloudWatch request body.
pub fn aws_query(data: &[u8]) {
    cloudwatch(Protocol::Query, data);
}

/// A CBOR (smithy-rpc-v2-cbor) CloudWatch request body.
pub fn cbor(data: &[u8]) {
    cloudwatch(Protocol::Cbor, data);
}

/// WAL bytes: the first byte picks the frame reader (a segment's frames) or the record decoder.
pub fn wal(data: &[u8]) {
    let Some((&pick, bytes)) = data.split_first() else { return };
    if pick % 2 == 0 {
        fluoro_store::fuzzing::wal_frames(bytes);
    } else {
        fluoro_store::fuzzing::wal_payload(bytes);
    }
}

/// An Embedded Metric Format log event.
pub fn emf(data: &[u8]) {
    let _ = fluoro_proto::emf::extract(&text(data), 0);
}

/// A gzip body (OTLP/HTTP `Content-Encoding: gzip`, PutMetricData): at most 1 MiB comes out,
/// however much the input claims.
pub fn gzip(data: &[u8]) {
    let _ = gunzip(data, 1 << 20);
}

/// A Lambda platform line (`REPORT RequestId: …`, text or JSON).
pub fn lambda_report(data: &[u8]) {
    let _ = fluoro_proto::lambda::report(&text(data));
}

/// The key the `sigv4` seeds are signed with, and the time they are checked at (the seeds'
/// `X-Amz-Date`, 2026-11-22T00:00:00Z), so mutations reach the signature comparison.
pub const SIGV4_KEY: (&str, &str) = ("AKIDFUZZ", "fuzz-secret");
pub const SIGV4_NOW: i64 = 1_795_305_600;

/// A request as SigV4 sees it: `METHOD PATH[?QUERY]`, `name: value` header lines, a blank
/// line, the body. Verified against `SIGV4_KEY`: the Authorization header's and the presigned
/// query's parsers, the canonical request and the signature.
pub fn sigv4(data: &[u8]) {
    let _ = sigv4_verify(data);
}

/// The `sigv4` target's work, with its verdict.
pub fn sigv4_verify(data: &[u8]) -> Result<(), fluoro_proto::sigv4::Failure> {
    let text = text(data);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or_default();
    let (method, target) = request_line.split_once(' ').unwrap_or((request_line, "/"));
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
        .collect();
    let key = fluoro_proto::sigv4::AccessKey {
        id: SIGV4_KEY.0.into(),
        secret: SIGV4_KEY.1.into(),
        account_id: "000000000000".into(),
    };
    let request = fluoro_proto::sigv4::Request { method, path, query, headers: &headers, body: body.as_bytes() };
    fluoro_proto::sigv4::verify(&request, |id| (id == key.id).then_some(&key), SIGV4_NOW).map(|_| ())
}

#[cfg(test)]
mod tests {
    /// The seeds are valid signatures at the target's clock, so mutations of them reach the
    /// signature comparison rather than stopping at the time window.
    #[test]
    fn sigv4_seeds_verify() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/sigv4");
        let mut seeds = 0;
        for entry in std::fs::read_dir(dir).expect("the sigv4 seed corpus") {
            let data = std::fs::read(entry.expect("a corpus entry").path()).expect("a corpus file");
            assert!(super::sigv4_verify(&data).is_ok(), "{}", String::from_utf8_lossy(&data));
            seeds += 1;
        }
        assert!(seeds >= 4);
    }
}
