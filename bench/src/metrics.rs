//! `fluoro-bench metrics`: datapoints/s through PutMetricData (AWS JSON 1.0 and RPC v2 CBOR)
//! and OTLP gRPC; log events/s into a group with 10 metric filters versus none; GetMetricData
//! for 100 series over 24 h at a 1-minute period; p99 over 1 M raw values.
//!
//! Data is synthetic and deterministic (a fixed-seed xorshift): 100 series (10 services × 10
//! hosts) of latency-like values, and log lines shaped like the logs benchmark's (JSON
//! application logs and access-log lines).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use serde_json::{Value, json};

use crate::Server;

#[derive(clap::Args)]
pub struct MetricsArgs {
    /// Datapoints per ingest run (each protocol).
    #[arg(long, default_value_t = 1_000_000)]
    datapoints: usize,
    /// Log events per metric-filter run (each of with and without filters).
    #[arg(long, default_value_t = 500_000)]
    log_events: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// The metric-filter runs, in order: how many filters each one's group has (0 or 10).
    /// The cost compares the best run with 0 against the best with 10.
    #[arg(long, value_delimiter = ',', default_value = "0,10,0,10")]
    filter_runs: Vec<usize>,
    /// Timed repetitions of each read.
    #[arg(long, default_value_t = 20)]
    reads: usize,
    /// The fluoro binary [default: next to this one].
    #[arg(long)]
    fluoro: Option<PathBuf>,
}

type HttpClient = hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A latency-like value: mostly 5–200 ms, a long tail to 5 s.
    fn latency(&mut self) -> f64 {
        let u = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        (5.0 + 195.0 * u * u + if u > 0.99 { 4800.0 * (u - 0.99) * 100.0 } else { 0.0 }).round()
    }
}

async fn post(client: &HttpClient, url: &str, headers: &[(&str, &str)], body: Bytes) -> anyhow::Result<(u16, Bytes)> {
    let mut request = hyper::Request::post(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = client.request(request.body(Full::new(body))?).await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// Sends `bodies` with `clients` concurrent senders, retrying throttled ones; returns seconds.
async fn send_all(
    client: &HttpClient,
    url: &str,
    headers: &'static [(&'static str, &'static str)],
    bodies: Vec<Bytes>,
    clients: usize,
) -> anyhow::Result<f64> {
    let bodies = Arc::new(bodies);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (bodies, next, client, url) = (bodies.clone(), next.clone(), client.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(body) = bodies.get(i) else { return anyhow::Ok(()) };
                loop {
                    let (status, reply) = post(&client, &url, headers, body.clone()).await?;
                    match status {
                        200 => break,
                        400 | 429 | 503 if String::from_utf8_lossy(&reply).contains("hrottl") => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        _ => anyhow::bail!("request failed with {status}: {}", String::from_utf8_lossy(&reply)),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    Ok(started.elapsed().as_secs_f64())
}

fn series_dims(i: usize) -> Value {
    json!([{"Name": "Service", "Value": format!("svc-{}", i / 10)}, {"Name": "Host", "Value": format!("host-{}", i % 10)}])
}

/// PutMetricData inputs: 1,000 datums of 20 values each (20,000 datapoints per request).
fn put_inputs(datapoints: usize, namespace: &str, now_s: i64, rng: &mut Rng) -> Vec<Value> {
    let per_request = 20_000;
    (0..datapoints.div_ceil(per_request))
        .map(|r| {
            let data: Vec<Value> = (0..1000)
                .map(|d| {
                    let values: Vec<f64> = (0..20).map(|_| rng.latency()).collect();
                    json!({"MetricName": "Latency", "Dimensions": series_dims((r * 1000 + d) % 100),
                           "Timestamp": now_s - 60 * ((r as i64 * 7 + d as i64) % 1440), "Values": values,
                           "Unit": "Milliseconds"})
                })
                .collect();
            json!({"Namespace": namespace, "MetricData": data})
        })
        .collect()
}

fn otlp_requests(datapoints: usize, now_ns: u64, rng: &mut Rng) -> Vec<ExportMetricsServiceRequest> {
    let per_request = 5_000;
    let text = |s: String| Some(AnyValue { value: Some(any_value::Value::StringValue(s)) });
    (0..datapoints.div_ceil(per_request))
        .map(|r| {
            let points = (0..per_request)
                .map(|p| NumberDataPoint {
                    attributes: vec![KeyValue {
                        key: "host".into(),
                        value: text(format!("host-{}", p % 100)),
                        ..Default::default()
                    }],
                    time_unix_nano: now_ns - (((r * 13 + p) % 1440) as u64) * 60_000_000_000,
                    value: Some(number_data_point::Value::AsDouble(rng.latency())),
                    ..Default::default()
                })
                .collect();
            ExportMetricsServiceRequest {
                resource_metrics: vec![ResourceMetrics {
                    resource: Some(Resource {
                        attributes: vec![KeyValue {
                            key: "service.name".into(),
                            value: text("bench".into()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                    scope_metrics: vec![ScopeMetrics {
                        metrics: vec![Metric {
                            name: "queue.depth".into(),
                            data: Some(metric::Data::Gauge(Gauge { data_points: points })),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
            }
        })
        .collect()
}

fn log_line(i: usize, rng: &mut Rng) -> String {
    let level = ["INFO", "INFO", "INFO", "WARN", "ERROR"][(rng.next() % 5) as usize];
    if i.is_multiple_of(2) {
        format!(
            r#"{{"level":"{level}","service":"svc-{}","route":"/api/v1/items/{}","latency_ms":{},"msg":"request handled"}}"#,
            i % 10,
            rng.next() % 1000,
            rng.latency()
        )
    } else {
        format!(
            r#"10.0.{}.{} - - [22/Nov/2026:10:00:00 +0000] "GET /api/v1/items/{} HTTP/1.1" {} {} "-" "curl/8""#,
            rng.next() % 255,
            rng.next() % 255,
            rng.next() % 1000,
            [200, 200, 200, 404, 503][(rng.next() % 5) as usize],
            rng.next() % 20_000
        )
    }
}

/// (name, pattern, metric value, dimension name and source).
type BenchFilter = (&'static str, &'static str, &'static str, Option<(&'static str, &'static str)>);

/// The benchmark's 10 metric filters: two terms that match a fifth of the lines each, two
/// JSON patterns, three space-delimited ones (one takes every access line's byte count: a
/// value of high cardinality), three terms that match half or all of the lines.
pub const FILTERS: [BenchFilter; 10] = [
    ("errors", "ERROR", "1", None),
    ("warnings", "WARN", "1", None),
    ("json-latency", "{ $.latency_ms > 0 }", "$.latency_ms", Some(("Service", "$.service"))),
    ("json-errors", r#"{ $.level = "ERROR" }"#, "1", None),
    ("5xx", "[ip, id, user, ts, request, status = 5*, bytes]", "1", None),
    ("bytes", "[ip, id, user, ts, request, status, bytes, referrer, agent]", "$bytes", None),
    ("404", "[ip, id, user, ts, request, status = 404, bytes]", "1", None),
    ("items", "items", "1", None),
    ("curl", "curl", "1", None),
    ("handled", "\"request handled\"", "1", None),
];

#[derive(clap::Args)]
pub struct FiltersArgs {
    /// Log lines to evaluate.
    #[arg(long, default_value_t = 1_000_000)]
    lines: usize,
}

/// In-process: nanoseconds per log line to evaluate each of the 10 filters, and all of them
/// together (the work PutLogEvents adds per event before the datapoints are stored).
pub fn filters(args: FiltersArgs) -> anyhow::Result<()> {
    use fluoro_proto::metric_filter::{CompiledFilter, FilterPlan, MetricFilterDef};
    let mut rng = Rng(42);
    let lines: Vec<String> = (0..args.lines).map(|i| log_line(i, &mut rng)).collect();
    let compiled: Vec<CompiledFilter> = FILTERS
        .iter()
        .map(|(name, pattern, value, dims)| {
            CompiledFilter::compile(MetricFilterDef {
                filter_name: name.to_string(),
                filter_pattern: pattern.to_string(),
                log_group_name: "/bench".into(),
                creation_time: 0,
                apply_on_transformed_logs: false,
                metric_name: name.to_string(),
                metric_namespace: "Bench/Logs".into(),
                metric_value: value.to_string(),
                default_value: None,
                dimensions: dims.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                unit: None,
            })
            .map_err(anyhow::Error::msg)
        })
        .collect::<anyhow::Result<_>>()?;
    let per_line = |started: Instant| started.elapsed().as_secs_f64() * 1e9 / lines.len() as f64;
    for filter in &compiled {
        let plan = FilterPlan::new([filter]);
        let started = Instant::now();
        let matched = lines.iter().filter(|l| filter.evaluate_event(&plan.event(l), plan.slots(0)).is_some()).count();
        println!(
            "{:<14} {:>7.1} ns/line, {:>5.1} % of lines yield a datapoint",
            filter.def.filter_name,
            per_line(started),
            100.0 * matched as f64 / lines.len() as f64
        );
    }
    let plan = FilterPlan::new(&compiled);
    let started = Instant::now();
    let mut points = 0;
    for line in &lines {
        let event = plan.event(line);
        points +=
            compiled.iter().enumerate().filter(|(i, f)| f.evaluate_event(&event, plan.slots(*i)).is_some()).count();
    }
    println!("all 10 together {:>6.1} ns/line, {points} datapoints", per_line(started));
    // The same patterns as FilterLogEvents matches them (no values extracted).
    for (name, pattern, _, _) in FILTERS.iter().filter(|f| f.1.starts_with('[')) {
        let pattern = fluoro_proto::filter::FilterPattern::parse(pattern).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let started = Instant::now();
        let matched = lines.iter().filter(|l| pattern.matches(l)).count();
        println!("{name:<14} {:>7.1} ns/line as a FilterLogEvents pattern ({matched} lines match)", per_line(started));
    }
    Ok(())
}

/// Waits until the process has used under 5 % of a core for 1.5 s (at most 60 s); returns
/// the seconds until it was last busy.
async fn settle(pid: u32) -> f64 {
    let started = Instant::now();
    let mut last = crate::cpu_seconds(pid).unwrap_or(0.0);
    let mut busy_until = 0.0;
    let window = Duration::from_millis(300);
    while started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(window).await;
        let now = crate::cpu_seconds(pid).unwrap_or(0.0);
        if now - last >= 0.015 {
            busy_until = started.elapsed().as_secs_f64();
        } else if started.elapsed().as_secs_f64() - busy_until >= 1.5 {
            break;
        }
        last = now;
    }
    busy_until
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

async fn timed_reads<F, Fut>(reads: usize, mut call: F) -> anyhow::Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    call().await?; // warm
    let mut times = Vec::new();
    for _ in 0..reads {
        let started = Instant::now();
        call().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((percentile(&times, 0.5), percentile(&times, 0.99)))
}

pub async fn run(args: MetricsArgs) -> anyhow::Result<()> {
    let fluoro = crate::fluoro_binary(args.fluoro.clone())?;
    let temp = tempfile::tempdir()?;
    let data_dir = crate::data_dir(None, &temp)?;
    // Flushing each second (instead of every 30 s) lets what a run leaves in the memtable be
    // flushed and indexed before the next run, and be counted in its sustained rate.
    let server = Server::start(&fluoro, &data_dir, &["--flush-interval-secs".into(), "1".into()]).await?;
    let base = format!("http://127.0.0.1:{}/", server.http_port);
    let client: HttpClient = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build_http();
    let now_ms = chrono::Utc::now().timestamp_millis();
    let now_s = now_ms / 1000 / 60 * 60;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);

    // 1. PutMetricData, JSON 1.0 and CBOR.
    const JSON: &[(&str, &str)] = &[
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "GraniteServiceVersion20100801.PutMetricData"),
    ];
    const CBOR: &[(&str, &str)] = &[("content-type", "application/cbor"), ("smithy-protocol", "rpc-v2-cbor")];
    let inputs = put_inputs(args.datapoints, "Bench/Json", now_s, &mut rng);
    let bodies: Vec<Bytes> = inputs.iter().map(|i| Bytes::from(serde_json::to_vec(i).expect("json"))).collect();
    let wire = bodies.iter().map(Bytes::len).sum::<usize>();
    let secs = send_all(&client, &base, JSON, bodies, args.clients).await?;
    let points = inputs.len() * 20_000;
    println!(
        "PutMetricData JSON 1.0: {points} datapoints in {} requests ({:.1} MB) in {secs:.2}s = {:.0} datapoints/s",
        inputs.len(),
        wire as f64 / 1e6,
        points as f64 / secs
    );
    let inputs = put_inputs(args.datapoints, "Bench/Cbor", now_s, &mut rng);
    let bodies: Vec<Bytes> = inputs
        .iter()
        .map(|i| {
            let mut out = Vec::new();
            ciborium::into_writer(i, &mut out).expect("cbor");
            Bytes::from(out)
        })
        .collect();
    let wire = bodies.iter().map(Bytes::len).sum::<usize>();
    let url = format!("{base}service/GraniteServiceVersion20100801/operation/PutMetricData");
    let secs = send_all(&client, &url, CBOR, bodies, args.clients).await?;
    println!(
        "PutMetricData CBOR:     {points} datapoints in {} requests ({:.1} MB) in {secs:.2}s = {:.0} datapoints/s",
        inputs.len(),
        wire as f64 / 1e6,
        points as f64 / secs
    );

    // 2. OTLP gRPC gauges.
    let requests = otlp_requests(args.datapoints, now_ms as u64 * 1_000_000, &mut rng);
    let points: usize = requests.len() * 5_000;
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (requests, next) = (requests.clone(), next.clone());
        let endpoint = format!("http://127.0.0.1:{}", server.grpc_port);
        tasks.push(tokio::spawn(async move {
            let mut client = MetricsServiceClient::connect(endpoint).await?.max_encoding_message_size(64 << 20);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = requests.get(i) else { return anyhow::Ok(()) };
                loop {
                    match client.export(request.clone()).await {
                        Ok(_) => break,
                        Err(status) if status.code() == tonic::Code::Unavailable => {
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                        Err(status) => anyhow::bail!("export failed: {status}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("OTLP gRPC gauges:       {points} datapoints in {secs:.2}s = {:.0} datapoints/s", points as f64 / secs);

    // 3. Log events/s without and with 10 metric filters.
    let logs = crate::client::AwsJsonClient::new(server.http_port);
    // Two rounds of each, alternating, best rate of each: a flush or merge running during one
    // run should not decide the comparison. Two rates per run: acknowledged events/s while
    // sending, and sustained events/s until the server is idle again (flushes and indexing
    // of what was sent included: what ingest can keep up with).
    let mut rates = [[0.0f64; 2]; 2];
    for (round, &filters) in args.filter_runs.iter().enumerate() {
        anyhow::ensure!(filters == 0 || filters == FILTERS.len(), "--filter-runs takes 0 or {}", FILTERS.len());
        let group = &format!("/bench/filters-{filters}-{round}");
        logs.call("CreateLogGroup", json!({"logGroupName": group})).await?;
        for (name, pattern, value, dims) in FILTERS.iter().take(filters) {
            let mut transformation = json!({"metricName": name, "metricNamespace": "Bench/Logs", "metricValue": value});
            if let Some((dim, source)) = dims {
                transformation["dimensions"] = json!({ *dim: source });
            }
            logs.call(
                "PutMetricFilter",
                json!({"logGroupName": group, "filterName": name, "filterPattern": pattern,
                       "metricTransformations": [transformation]}),
            )
            .await?;
        }
        let streams = args.clients * 4;
        for s in 0..streams {
            logs.call("CreateLogStream", json!({"logGroupName": group, "logStreamName": format!("s{s}")})).await?;
        }
        let mut rng = Rng(42);
        let per_batch = 5_000;
        let bodies: Vec<Bytes> = (0..args.log_events.div_ceil(per_batch))
            .map(|b| {
                let events: Vec<Value> = (0..per_batch)
                    .map(|i| json!({"timestamp": now_ms - 60_000 + i as i64, "message": log_line(b * per_batch + i, &mut rng)}))
                    .collect();
                let body = json!({"logGroupName": group, "logStreamName": format!("s{}", b % streams), "logEvents": events});
                Bytes::from(serde_json::to_vec(&body).expect("json"))
            })
            .collect();
        let events = bodies.len() * per_batch;
        const LOGS: &[(&str, &str)] =
            &[("content-type", "application/x-amz-json-1.1"), ("x-amz-target", "Logs_20140328.PutLogEvents")];
        let cpu_before = crate::cpu_seconds(server.pid()).unwrap_or(f64::NAN);
        let secs = send_all(&client, &base, LOGS, bodies, args.clients).await?;
        let sent_cpu = crate::cpu_seconds(server.pid()).unwrap_or(f64::NAN) - cpu_before;
        // Background work (flushes, indexing) the run left behind is part of its cost: wait
        // until the server is idle before the next run starts.
        let busy = secs + settle(server.pid()).await;
        let cpu = crate::cpu_seconds(server.pid()).unwrap_or(f64::NAN) - cpu_before;
        let (rate, sustained) = (events as f64 / secs, events as f64 / busy);
        println!(
            "PutLogEvents, {filters:>2} metric filters: {events} events acknowledged in {secs:.2}s = {rate:.0} events/s, \
             done in {busy:.2}s = {sustained:.0} events/s; server CPU {:.2} µs/event while sending, {:.2} in all",
            sent_cpu * 1e6 / events as f64,
            cpu * 1e6 / events as f64
        );
        let kind = usize::from(filters > 0);
        rates[kind][0] = rates[kind][0].max(rate);
        rates[kind][1] = rates[kind][1].max(sustained);
    }
    println!(
        "metric filters cost: {:.1}% of acknowledged throughput, {:.1}% of sustained throughput",
        100.0 * (1.0 - rates[1][0] / rates[0][0]),
        100.0 * (1.0 - rates[1][1] / rates[0][1])
    );

    // 4. GetMetricData: 100 series over 24 h at 1 minute (the JSON run wrote them).
    let queries: Vec<Value> = (0..100)
        .map(|i| {
            json!({"Id": format!("m{i}"), "MetricStat": {"Metric": {"Namespace": "Bench/Json", "MetricName": "Latency",
                   "Dimensions": series_dims(i)}, "Period": 60, "Stat": "Average"}})
        })
        .collect();
    let body = Bytes::from(serde_json::to_vec(&json!({
        "StartTime": now_s - 86_400 + 60, "EndTime": now_s + 60, "MetricDataQueries": queries, "MaxDatapoints": 200_000,
    }))?);
    const GMD: &[(&str, &str)] = &[
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "GraniteServiceVersion20100801.GetMetricData"),
    ];
    let returned = Arc::new(AtomicUsize::new(0));
    let (p50, p99) = timed_reads(args.reads, || {
        let (client, base, body, returned) = (client.clone(), base.clone(), body.clone(), returned.clone());
        async move {
            let (status, reply) = post(&client, &base, GMD, body).await?;
            anyhow::ensure!(status == 200, "GetMetricData failed: {}", String::from_utf8_lossy(&reply));
            let out: Value = serde_json::from_slice(&reply)?;
            let points = out["MetricDataResults"]
                .as_array()
                .map_or(0, |r| r.iter().map(|x| x["Values"].as_array().map_or(0, Vec::len)).sum::<usize>());
            returned.store(points, Ordering::Relaxed);
            Ok(())
        }
    })
    .await?;
    let returned = returned.load(Ordering::Relaxed);
    println!("GetMetricData, 100 series × 24 h at 60 s ({returned} points): median {p50:.1} ms, p99 {p99:.1} ms");

    // 5. p99 over 1 M raw values in one minute of one series.
    let minute = now_s - 600;
    let mut rng = Rng(7);
    let inputs: Vec<Value> = (0..7)
        .map(|_| {
            let data: Vec<Value> = (0..1000)
                .map(|_| {
                    let values: Vec<f64> = (0..150).map(|_| rng.latency()).collect();
                    json!({"MetricName": "Big", "Timestamp": minute, "Values": values})
                })
                .collect();
            json!({"Namespace": "Bench/P99", "MetricData": data})
        })
        .collect();
    let bodies: Vec<Bytes> = inputs.iter().map(|i| Bytes::from(serde_json::to_vec(i).expect("json"))).collect();
    send_all(&client, &base, JSON, bodies, args.clients).await?;
    let body = Bytes::from(serde_json::to_vec(&json!({
        "Namespace": "Bench/P99", "MetricName": "Big", "StartTime": minute, "EndTime": minute + 60, "Period": 60,
        "ExtendedStatistics": ["p99"],
    }))?);
    const GMS: &[(&str, &str)] = &[
        ("content-type", "application/x-amz-json-1.0"),
        ("x-amz-target", "GraniteServiceVersion20100801.GetMetricStatistics"),
    ];
    let value = Arc::new(std::sync::Mutex::new(f64::NAN));
    let (p50, p99) = timed_reads(args.reads.min(10), || {
        let (client, base, body, value) = (client.clone(), base.clone(), body.clone(), value.clone());
        async move {
            let (status, reply) = post(&client, &base, GMS, body).await?;
            anyhow::ensure!(status == 200, "GetMetricStatistics failed: {}", String::from_utf8_lossy(&reply));
            let out: Value = serde_json::from_slice(&reply)?;
            *value.lock().expect("lock") =
                out["Datapoints"][0]["ExtendedStatistics"]["p99"].as_f64().unwrap_or(f64::NAN);
            Ok(())
        }
    })
    .await?;
    let value = *value.lock().expect("lock");
    println!("p99 over 1,050,000 raw values (= {value}): median {p50:.1} ms, p99 {p99:.1} ms");
    Ok(())
}
