//! `fluoro-bench ingest`: CloudWatch Logs ingest and search figures against a real server.
//!
//! Data comes from `shared/bench/gen_logs.py` (JSON lines); only `timestamp`, `log_group`,
//! `log_stream` and `message` are sent, as PutLogEvents would see them.

mod alarms;
mod client;
mod cluster;
mod metrics;
mod otlp_logs;
mod sigv4;
mod traces;

use std::collections::BTreeMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

use crate::client::AwsJsonClient;

#[derive(Parser)]
#[command(name = "fluoro-bench", about = "Benchmarks against a real fluoro server")]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Ingest log events through PutLogEvents, then search them.
    Ingest(IngestArgs),
    /// Ingest spans over OTLP gRPC and X-Ray UDP, then time the trace reads.
    Traces(traces::TracesArgs),
    /// Metric ingest (PutMetricData JSON/CBOR, OTLP), metric-filter cost, metric reads.
    Metrics(metrics::MetricsArgs),
    /// In-process: the cost per log line of the metrics benchmark's 10 metric filters.
    Filters(metrics::FiltersArgs),
    /// In-process: CPU per evaluation round of 10,000 alarms, and datapoint → webhook latency.
    Alarms(alarms::AlarmsArgs),
    /// OTLP log records/s over gRPC, then the latency of the logs of one trace.
    OtlpLogs(otlp_logs::OtlpLogsArgs),
    /// In-process: the cost per log line of finding the trace it names.
    Correlation(otlp_logs::CorrelationArgs),
    /// In-process: SigV4 verification per request, by body size.
    Sigv4(sigv4::SigV4Args),
    /// Ingest spread over running collectors, and freshness on a query node (bench/cluster.py
    /// starts them).
    Cluster(cluster::ClusterArgs),
}

#[derive(clap::Args)]
struct IngestArgs {
    /// JSON lines from shared/bench/gen_logs.py.
    #[arg(long)]
    input: PathBuf,
    /// Use at most this many events of the input.
    #[arg(long, default_value_t = usize::MAX)]
    events: usize,
    /// Concurrent HTTP clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// The fluoro binary [default: next to this one].
    #[arg(long)]
    fluoro: Option<PathBuf>,
    /// Send each log group's events to one stream (`all`), so batches are as large as the
    /// limits allow; by default each event goes to its own stream as generated (Lambda data
    /// has about two events per stream and request).
    #[arg(long)]
    one_stream_per_group: bool,
    /// Send the whole input this many times (duplicates are stored again, as in CloudWatch),
    /// for a longer sustained run.
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// Keep the server's data in this directory instead of a temporary one.
    #[arg(long)]
    keep_data: Option<PathBuf>,
    /// Extra arguments for `fluoro serve`.
    #[arg(long, allow_hyphen_values = true, num_args = 1..)]
    serve_args: Vec<String>,
}

struct Event {
    timestamp: i64,
    message: String,
}

/// Events per (log group, log stream), in timestamp order.
type Streams = BTreeMap<(String, String), Vec<Event>>;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Bench::Ingest(args) => tokio::runtime::Runtime::new()?.block_on(ingest(args)),
        Bench::Traces(args) => tokio::runtime::Runtime::new()?.block_on(traces::run(args)),
        Bench::Metrics(args) => tokio::runtime::Runtime::new()?.block_on(metrics::run(args)),
        Bench::Filters(args) => metrics::filters(args),
        Bench::Alarms(args) => alarms::run(args),
        Bench::OtlpLogs(args) => tokio::runtime::Runtime::new()?.block_on(otlp_logs::run(args)),
        Bench::Correlation(args) => otlp_logs::correlation(args),
        Bench::Sigv4(args) => sigv4::run(args),
        Bench::Cluster(args) => tokio::runtime::Runtime::new()?.block_on(cluster::run(args)),
    }
}

async fn ingest(args: IngestArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let (streams, jsonl_bytes) = load(&args.input, args.events, args.one_stream_per_group)?;
    let events: usize = streams.values().map(Vec::len).sum();
    let raw_bytes: usize = streams.values().flatten().map(|e| e.message.len()).sum();
    let once = batch_bodies(&streams);
    let bodies: Vec<bytes::Bytes> = (0..args.repeat.max(1)).flat_map(|_| once.iter().cloned()).collect();
    let events = events * args.repeat.max(1);
    let raw_bytes = raw_bytes * args.repeat.max(1);
    let jsonl_bytes = jsonl_bytes * args.repeat.max(1);
    println!(
        "input: {events} events in {} streams, {:.1} MB of messages ({:.1} MB as JSON lines), {} batches; prepared in {:.1}s",
        streams.len(),
        mb(raw_bytes),
        mb(jsonl_bytes),
        bodies.len(),
        started.elapsed().as_secs_f64()
    );

    let temp_dir = tempfile::tempdir()?;
    let data_dir = data_dir(args.keep_data.clone(), &temp_dir)?;
    let fluoro = fluoro_binary(args.fluoro.clone())?;
    let mut server = Server::start(&fluoro, &data_dir, &args.serve_args).await?;
    let client = server.client.clone();
    let groups: std::collections::BTreeSet<&String> = streams.keys().map(|(g, _)| g).collect();
    for group in &groups {
        client.call("CreateLogGroup", json!({ "logGroupName": group })).await?;
    }
    for (group, stream) in streams.keys() {
        client.call("CreateLogStream", json!({ "logGroupName": group, "logStreamName": stream })).await?;
    }

    // Ingest with concurrent clients while sampling the server's RSS.
    let sampler = RssSampler::start(server.pid());
    let next = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicU64::new(0));
    let bodies = Arc::new(bodies);
    let ingest_started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, next, bodies, throttled) = (client.clone(), next.clone(), bodies.clone(), throttled.clone());
        tasks.push(tokio::spawn(put_batches(client, next, bodies, throttled)));
    }
    for task in tasks {
        task.await??;
    }
    let ingest_secs = ingest_started.elapsed().as_secs_f64();
    let rss = sampler.stop();
    let durable = !args.serve_args.windows(2).any(|w| w[0] == "--wal-sync" && w[1] == "false");
    println!(
        "\n## ingest ({} clients, {:.0} events per request, {})",
        args.clients,
        events as f64 / bodies.len() as f64,
        if durable { "durable: WAL fsync before every ack" } else { "NOT durable: --wal-sync false" }
    );
    println!("events/s          {:>12.0}", events as f64 / ingest_secs);
    println!("MB/s (messages)   {:>12.1}", mb(raw_bytes) / ingest_secs);
    println!("MB/s (JSON lines) {:>12.1}", mb(jsonl_bytes) / ingest_secs);
    println!("wall time         {ingest_secs:>11.2}s");
    println!("throttled retries {:>12}", throttled.load(Ordering::Relaxed));
    println!("server RSS        peak {:.0} MB; samples by quarter of the run: {}", rss.peak_mb, rss.quarters());

    // Time from acknowledgement to searchable.
    let (probe_group, probe_stream) = streams.keys().next().expect("at least one stream").clone();
    let mut searchable = Vec::new();
    for k in 0..5 {
        let token = format!("probe{k}x{}", std::process::id());
        let now = chrono::Utc::now().timestamp_millis();
        client
            .call(
                "PutLogEvents",
                json!({"logGroupName": probe_group, "logStreamName": probe_stream,
                       "logEvents": [{"timestamp": now, "message": format!("searchable {token}")}]}),
            )
            .await?;
        let acked = Instant::now();
        loop {
            let found = client
                .call("FilterLogEvents", json!({"logGroupName": probe_group, "filterPattern": token, "startTime": now}))
                .await?;
            if found["events"].as_array().is_some_and(|e| !e.is_empty()) {
                break;
            }
            if acked.elapsed() > Duration::from_secs(30) {
                bail!("probe not searchable after 30 s");
            }
        }
        searchable.push(acked.elapsed().as_secs_f64() * 1000.0);
    }
    println!("\n## ack → searchable (FilterLogEvents finds it on the first try if 0 polls were needed)");
    println!("ms per probe      {}", searchable.iter().map(|m| format!("{m:.1}")).collect::<Vec<_>>().join(" "));

    let groups: Vec<String> = groups.into_iter().cloned().collect();
    println!("\n## search, fresh data (memtable and any files flushed during ingest)");
    search_figures(&client, &groups).await?;

    // Final flush, then stored size.
    let stop_started = Instant::now();
    server.stop()?;
    println!("\n## storage (after SIGTERM's final flush, {:.1}s)", stop_started.elapsed().as_secs_f64());
    let stored = dir_size(&data_dir)?;
    let objects = dir_size(&data_dir.join("objects"))?;
    println!("stored bytes      {:>12.1} MB (data files {:.1} MB)", mb(stored as usize), mb(objects as usize));
    println!("stored ÷ messages {:>12.3}", stored as f64 / raw_bytes as f64);
    println!("stored ÷ JSON     {:>12.3}", stored as f64 / jsonl_bytes as f64);

    let server = Server::start(&fluoro, &data_dir, &args.serve_args).await?;
    println!("\n## search after restart (Parquet files)");
    search_figures(&server.client, &groups).await?;
    drop(server);
    Ok(())
}

/// One ingest client: sends the next unsent PutLogEvents body until none is left, retrying a
/// throttled one after 20 ms (counted in `throttled`).
async fn put_batches(
    client: AwsJsonClient,
    next: Arc<AtomicUsize>,
    bodies: Arc<Vec<bytes::Bytes>>,
    throttled: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(body) = bodies.get(i) else { return Ok(()) };
        loop {
            match client.call_raw("PutLogEvents", body.clone()).await? {
                (200, _) => break,
                (_, reply) if reply.contains("ThrottlingException") => {
                    throttled.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (status, reply) => bail!("PutLogEvents failed with {status}: {reply}"),
            }
        }
    }
}

/// FilterLogEvents latencies: the rare term over every group, and the common term.
async fn search_figures(client: &AwsJsonClient, groups: &[String]) -> anyhow::Result<()> {
    let since = chrono::Utc::now().timestamp_millis() - 13 * 86_400_000;
    for (label, pattern, limit, descending) in [
        ("rare `DeadlockDetected`, 100 newest", "DeadlockDetected", 100, true),
        ("common `ERROR`, 100 newest", "ERROR", 100, true),
        ("common `ERROR`, first 10,000 page", "ERROR", 10_000, false),
    ] {
        let mut runs = Vec::new();
        let mut matched = 0;
        for _ in 0..3 {
            let t = Instant::now();
            matched = 0;
            for group in groups {
                let reply = client
                    .call(
                        "FilterLogEvents",
                        json!({"logGroupName": group, "filterPattern": pattern, "limit": limit,
                               "startFromHead": !descending, "startTime": since}),
                    )
                    .await?;
                matched += reply["events"].as_array().map_or(0, Vec::len);
            }
            runs.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        runs.sort_by(f64::total_cmp);
        println!(
            "{label:<40} {} groups: {matched:>6} events, best {:>8.1} ms, median {:>8.1} ms",
            groups.len(),
            runs[0],
            runs[1]
        );
    }
    Ok(())
}

fn load(path: &Path, limit: usize, one_stream_per_group: bool) -> anyhow::Result<(Streams, usize)> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut streams = Streams::new();
    let mut bytes = 0;
    for line in std::io::BufReader::new(file).lines().take(limit) {
        let line = line?;
        bytes += line.len() + 1;
        let v: Value = serde_json::from_str(&line)?;
        let ts = v["timestamp"].as_str().context("timestamp")?;
        let timestamp = chrono::DateTime::parse_from_rfc3339(ts)?.timestamp_millis();
        let group = v["log_group"].as_str().context("log_group")?.to_owned();
        let stream = if one_stream_per_group { "all" } else { v["log_stream"].as_str().context("log_stream")? };
        let key = (group, stream.to_owned());
        let message = v["message"].as_str().context("message")?.to_owned();
        streams.entry(key).or_default().push(Event { timestamp, message });
    }
    for events in streams.values_mut() {
        events.sort_by_key(|e| e.timestamp);
    }
    Ok((streams, bytes))
}

/// PutLogEvents bodies: per stream, chronological, ≤ 10,000 events and ≤ 1 MiB; streams
/// interleaved so concurrent clients hit different streams.
fn batch_bodies(streams: &Streams) -> Vec<bytes::Bytes> {
    let mut per_stream: Vec<Vec<bytes::Bytes>> = Vec::new();
    for ((group, stream), events) in streams {
        let mut bodies = Vec::new();
        let mut batch: Vec<&Event> = Vec::new();
        let mut size = 0;
        let flush = |batch: &mut Vec<&Event>, bodies: &mut Vec<bytes::Bytes>| {
            if batch.is_empty() {
                return;
            }
            let events: Vec<Value> =
                batch.iter().map(|e| json!({"timestamp": e.timestamp, "message": e.message})).collect();
            let body = json!({"logGroupName": group, "logStreamName": stream, "logEvents": events});
            bodies.push(bytes::Bytes::from(serde_json::to_vec(&body).expect("json")));
            batch.clear();
        };
        for event in events {
            let event_size = event.message.len() + 26;
            if batch.len() == 10_000 || size + event_size > 1_048_576 {
                flush(&mut batch, &mut bodies);
                size = 0;
            }
            batch.push(event);
            size += event_size;
        }
        flush(&mut batch, &mut bodies);
        per_stream.push(bodies);
    }
    let mut out = Vec::new();
    let longest = per_stream.iter().map(Vec::len).max().unwrap_or(0);
    for i in 0..longest {
        out.extend(per_stream.iter().filter_map(|b| b.get(i).cloned()));
    }
    out
}

/// The fluoro binary to run: the one given, else the one next to this benchmark.
fn fluoro_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    Ok(match given {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("fluoro"),
    })
}

/// The server's data directory: the one given (kept after the run), else one inside `temp`.
fn data_dir(given: Option<PathBuf>, temp: &tempfile::TempDir) -> anyhow::Result<PathBuf> {
    let dir = given.unwrap_or_else(|| temp.path().join("data"));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

struct Server {
    child: Child,
    client: AwsJsonClient,
    http_port: u16,
    grpc_port: u16,
    xray_port: u16,
}

impl Server {
    async fn start(fluoro: &Path, data_dir: &Path, extra: &[String]) -> anyhow::Result<Self> {
        let port = |_| std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let (http, grpc, otlp_http) = (port(0)?, port(1)?, port(2)?);
        // X-Ray listens on TCP and UDP: find a port free for both.
        let xray = loop {
            let candidate = port(3)?;
            if std::net::UdpSocket::bind(("127.0.0.1", candidate)).is_ok() {
                break candidate;
            }
        };
        let log = std::fs::File::create(data_dir.with_extension("log"))?;
        let child = Command::new(fluoro)
            .args(["serve", "--data-dir"])
            .arg(data_dir)
            .args(["--http-addr", &format!("127.0.0.1:{http}")])
            .args(["--otlp-grpc-addr", &format!("127.0.0.1:{grpc}")])
            .args(["--otlp-http-addr", &format!("127.0.0.1:{otlp_http}")])
            .args(["--xray-addr", &format!("127.0.0.1:{xray}")])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", fluoro.display()))?;
        let client = AwsJsonClient::new(http);
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.call("DescribeLogGroups", json!({})).await.is_err() {
            if Instant::now() > deadline {
                bail!("fluoro did not start");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Self { child, client, http_port: http, grpc_port: grpc, xray_port: xray })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn stop(&mut self) -> anyhow::Result<()> {
        Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status()?;
        let status = self.child.wait()?;
        if !status.success() {
            bail!("fluoro exited with {status}");
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct RssSampler {
    stop: Arc<std::sync::atomic::AtomicBool>,
    handle: std::thread::JoinHandle<Vec<f64>>,
}

struct RssFigures {
    peak_mb: f64,
    samples: Vec<f64>,
}

impl RssFigures {
    fn quarters(&self) -> String {
        let n = self.samples.len().max(1);
        (1..=4)
            .map(|q| self.samples.get((q * n / 4).saturating_sub(1)).map_or("-".into(), |mb| format!("{mb:.0} MB")))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !flag.load(Ordering::Relaxed) {
                if let Some(kb) = status_kb(pid, "VmRSS:") {
                    samples.push(kb / 1024.0);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            if let Some(kb) = status_kb(pid, "VmHWM:") {
                samples.push(kb / 1024.0);
            }
            samples
        });
        Self { stop, handle }
    }

    fn stop(self) -> RssFigures {
        self.stop.store(true, Ordering::Relaxed);
        let mut samples = self.handle.join().unwrap_or_default();
        let peak_mb = samples.pop().unwrap_or(0.0);
        RssFigures { peak_mb, samples }
    }
}

fn status_kb(pid: u32, key: &str) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn dir_size(path: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(path)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() { dir_size(&entry.path())? } else { meta.len() };
    }
    Ok(total)
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// CPU seconds (user + system) the process has used, from `/proc/<pid>/stat` (Linux reports
/// them in clock ticks of 1/100 s).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are the 14th and 15th.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}
