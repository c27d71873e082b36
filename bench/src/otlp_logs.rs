//! `fluoro-bench otlp-logs`: OTLP log records/s over gRPC, then the latency of "the logs of
//! this trace" (`GET /api/v1/traces/{id}/logs`) over everything ingested.
//!
//! Records are generated here, deterministically: JSON-application-log-like bodies from 8
//! services over one hour, every `--per-trace` consecutive records sharing a trace id (as the
//! log lines of one request do), trace ids whose first 8 hex digits are epoch seconds.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::Server;

#[derive(clap::Args)]
pub struct OtlpLogsArgs {
    /// Log records to send.
    #[arg(long, default_value_t = 10_000_000)]
    records: usize,
    /// Records per export request.
    #[arg(long, default_value_t = 2000)]
    batch: usize,
    /// Consecutive records of one trace.
    #[arg(long, default_value_t = 5)]
    per_trace: usize,
    /// Concurrent gRPC clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Trace-logs reads to time.
    #[arg(long, default_value_t = 200)]
    reads: usize,
    /// The fluoro binary [default: next to this one].
    #[arg(long)]
    fluoro: Option<PathBuf>,
    /// Keep the data directory here instead of a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

const SERVICES: usize = 8;
const ROUTES: [&str; 6] = ["/api/v1/items", "/api/v1/cart", "/api/v1/checkout", "/api/v2/search", "/health", "/login"];

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue { key: key.into(), value: Some(AnyValue { value: Some(value) }), ..Default::default() }
}

fn text(value: impl Into<String>) -> any_value::Value {
    any_value::Value::StringValue(value.into())
}

/// The trace id of trace `t`: epoch seconds of its time, then 12 pseudo-random bytes.
fn trace_id(t: u64, epoch_s: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&(epoch_s as u32).to_be_bytes());
    id[4..12].copy_from_slice(&splitmix(t).to_be_bytes());
    id[12..].copy_from_slice(&(splitmix(t ^ 0xabcd) as u32).to_be_bytes());
    id
}

struct Generator {
    start_ns: u64,
    span_ns: u64,
    records: usize,
    per_trace: usize,
}

impl Generator {
    fn time_ns(&self, i: usize) -> u64 {
        self.start_ns + self.span_ns * i as u64 / self.records as u64
    }

    /// Records `[from, to)` as one request, grouped by service.
    fn request(&self, from: usize, to: usize) -> ExportLogsServiceRequest {
        let mut by_service: Vec<Vec<LogRecord>> = vec![Vec::new(); SERVICES];
        for i in from..to {
            let t = (i / self.per_trace) as u64;
            let r = splitmix(i as u64);
            let time = self.time_ns(i);
            let first_of_trace = self.time_ns(t as usize * self.per_trace);
            let route = ROUTES[(r % ROUTES.len() as u64) as usize];
            let status = if r.is_multiple_of(97) {
                500
            } else if r.is_multiple_of(31) {
                404
            } else {
                200
            };
            let latency = 1 + r % 900;
            let (severity, number) = match status {
                500 => ("ERROR", 17),
                404 => ("WARN", 13),
                _ => ("INFO", 9),
            };
            by_service[(t % SERVICES as u64) as usize].push(LogRecord {
                time_unix_nano: time,
                severity_number: number,
                severity_text: severity.into(),
                body: Some(AnyValue {
                    value: Some(text(format!("handled GET {route} status={status} in {latency} ms"))),
                }),
                attributes: vec![
                    kv("http.route", text(route)),
                    kv("http.response.status_code", any_value::Value::IntValue(status)),
                    kv("duration_ms", any_value::Value::IntValue(latency as i64)),
                ],
                trace_id: trace_id(t, first_of_trace / 1_000_000_000).to_vec(),
                span_id: splitmix(i as u64 ^ 0x5151).to_be_bytes().to_vec(),
                ..Default::default()
            });
        }
        ExportLogsServiceRequest {
            resource_logs: by_service
                .into_iter()
                .enumerate()
                .filter(|(_, records)| !records.is_empty())
                .map(|(s, records)| ResourceLogs {
                    resource: Some(Resource {
                        attributes: vec![
                            kv("service.name", text(format!("svc-{s}"))),
                            kv("service.instance.id", text(format!("svc-{s}-1"))),
                        ],
                        ..Default::default()
                    }),
                    scope_logs: vec![ScopeLogs { log_records: records, ..Default::default() }],
                    ..Default::default()
                })
                .collect(),
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

pub async fn run(args: OtlpLogsArgs) -> anyhow::Result<()> {
    let fluoro = crate::fluoro_binary(args.fluoro.clone())?;
    let temp = tempfile::tempdir()?;
    let data_dir = crate::data_dir(args.data_dir.clone(), &temp)?;
    let server = Server::start(&fluoro, &data_dir, &[]).await?;
    let base = format!("http://127.0.0.1:{}", server.http_port);
    let now_ns = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_nanos() as u64;
    let hour_ns = 3_600_000_000_000;
    let generator = Arc::new(Generator {
        start_ns: now_ns - 2 * hour_ns,
        span_ns: hour_ns,
        records: args.records,
        per_trace: args.per_trace.max(1),
    });

    let endpoint = format!("http://127.0.0.1:{}", server.grpc_port);
    let next = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (generator, next, throttled, endpoint) =
            (generator.clone(), next.clone(), throttled.clone(), endpoint.clone());
        let (batch, records) = (args.batch, args.records);
        tasks.push(tokio::spawn(async move {
            let mut client = LogsServiceClient::connect(endpoint).await?.max_encoding_message_size(64 << 20);
            loop {
                let from = next.fetch_add(batch, Ordering::Relaxed);
                if from >= records {
                    return anyhow::Ok(());
                }
                let request = generator.request(from, (from + batch).min(records));
                loop {
                    match client.export(request.clone()).await {
                        Ok(response) => {
                            let rejected =
                                response.get_ref().partial_success.as_ref().map_or(0, |p| p.rejected_log_records);
                            anyhow::ensure!(rejected == 0, "{rejected} records rejected");
                            break;
                        }
                        Err(status) if status.code() == tonic::Code::Unavailable => {
                            throttled.fetch_add(1, Ordering::Relaxed);
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
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "OTLP gRPC logs ingest: {} records in {elapsed:.1} s = {:.0} records/s ({} clients, {} records per request, generation included; {} throttled retries)",
        args.records,
        args.records as f64 / elapsed,
        args.clients,
        args.batch,
        throttled.load(Ordering::Relaxed)
    );

    // Let the memtable flush, so the reads see mostly Parquet files (the steady state).
    tokio::time::sleep(Duration::from_secs(15)).await;
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let traces = args.records / generator.per_trace;
    let mut latencies = Vec::with_capacity(args.reads);
    let mut found = 0;
    for k in 0..args.reads {
        let t = splitmix(k as u64 ^ 0x77) % traces as u64;
        let first = generator.time_ns(t as usize * generator.per_trace);
        let hex: String = trace_id(t, first / 1_000_000_000).iter().map(|b| format!("{b:02x}")).collect();
        let url = format!("{base}/api/v1/traces/{hex}/logs");
        let began = Instant::now();
        let response = client.get(url.parse()?).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        latencies.push(began.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(status.is_success(), "{url}: {status}");
        let answer: serde_json::Value = serde_json::from_slice(&bytes)?;
        let events = answer["events"].as_array().map_or(0, Vec::len);
        anyhow::ensure!(events == generator.per_trace, "trace {hex}: {events} events");
        found += events;
    }
    latencies.sort_by(f64::total_cmp);
    let files = metric_files(&base).await.unwrap_or_default();
    println!(
        "logs of one trace over {} events ({files}): p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} reads, {found} events returned)",
        args.records,
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or_default(),
        args.reads,
    );
    drop(server);
    Ok(())
}

async fn metric_files(base: &str) -> anyhow::Result<String> {
    let value = crate::traces::metric(base, "fluoro_data_files").await?;
    Ok(format!("{value:.0} data files"))
}

#[derive(clap::Args)]
pub struct CorrelationArgs {
    /// JSON lines from shared/bench/gen_logs.py (only `message` is read).
    #[arg(long)]
    input: PathBuf,
    /// Use at most this many events.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
}

/// In-process: nanoseconds per event of `fluoro_proto::correlation::extract`, the trace lookup
/// every ingest path now runs on every message, over the logs benchmark's messages.
pub fn correlation(args: CorrelationArgs) -> anyhow::Result<()> {
    use std::io::BufRead;
    let file = std::fs::File::open(&args.input)?;
    let mut messages = Vec::with_capacity(args.events.min(10_000_000));
    for line in std::io::BufReader::new(file).lines().take(args.events) {
        let value: serde_json::Value = serde_json::from_str(&line?)?;
        messages.push(value["message"].as_str().unwrap_or_default().to_owned());
    }
    let bytes: usize = messages.iter().map(String::len).sum();
    let mut best = f64::MAX;
    let mut linked = 0;
    for _ in 0..5 {
        let started = Instant::now();
        linked = messages.iter().filter(|m| fluoro_proto::correlation::extract(m).is_some()).count();
        best = best.min(started.elapsed().as_secs_f64());
    }
    println!(
        "trace extraction: {:.0} ns per event over {} events ({:.0} bytes on average), {:.1} % of them name a trace (best of 5)",
        best * 1e9 / messages.len() as f64,
        messages.len(),
        bytes as f64 / messages.len() as f64,
        100.0 * linked as f64 / messages.len() as f64,
    );
    Ok(())
}
