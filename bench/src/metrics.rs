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
    let fluoro = match args.fluoro {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("fluoro"),
    };
    let temp = tempfile::tempdir()?;
    let data_dir = temp.path().join("data");
    std::fs::create_dir_all(&data_dir)?;
    let server = Server::start(&fluoro, &data_dir, &[]).await?;
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
    // run should not decide the comparison.
    let mut rates = [0.0f64; 2];
    for (round, (group, filters)) in
        [("/bench/plain", 0), ("/bench/filtered", 10), ("/bench/plain2", 0), ("/bench/filtered2", 10)]
            .into_iter()
            .enumerate()
    {
        logs.call("CreateLogGroup", json!({"logGroupName": group})).await?;
        let patterns = [
            ("errors", "ERROR", "1", json!({})),
            ("warnings", "WARN", "1", json!({})),
            ("json-latency", "{ $.latency_ms > 0 }", "$.latency_ms", json!({"Service": "$.service"})),
            ("json-errors", r#"{ $.level = "ERROR" }"#, "1", json!({})),
            ("5xx", "[ip, id, user, ts, request, status = 5*, bytes]", "1", json!({})),
            ("bytes", "[ip, id, user, ts, request, status, bytes]", "$bytes", json!({})),
            ("404", "[ip, id, user, ts, request, status = 404, bytes]", "1", json!({})),
            ("items", "items", "1", json!({})),
            ("curl", "curl", "1", json!({})),
            ("handled", "\"request handled\"", "1", json!({})),
        ];
        for (name, pattern, value, dims) in patterns.iter().take(filters) {
            let mut transformation = json!({"metricName": name, "metricNamespace": "Bench/Logs", "metricValue": value});
            if dims.as_object().is_some_and(|d| !d.is_empty()) {
                transformation["dimensions"] = dims.clone();
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
        let secs = send_all(&client, &base, LOGS, bodies, args.clients).await?;
        let rate = events as f64 / secs;
        println!("PutLogEvents, {filters:>2} metric filters: {events} events in {secs:.2}s = {rate:.0} events/s");
        rates[round % 2] = rates[round % 2].max(rate);
    }
    println!("metric filters cost: {:.1}% of ingest throughput", 100.0 * (1.0 - rates[1] / rates[0]));

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
