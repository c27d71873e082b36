//! `fluoro-bench traces`: spans/s over OTLP gRPC and over X-Ray UDP, trace-by-id latency,
//! GetTraceSummaries with an annotation filter over the hour, and GetServiceGraph over the hour.
//!
//! Data: `shared/bench/gen_spans.py N --format otlp` (one ExportTraceServiceRequest per line).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use serde_json::{Value, json};

use crate::Server;

#[derive(clap::Args)]
pub struct TracesArgs {
    /// OTLP/JSON lines from shared/bench/gen_spans.py --format otlp.
    #[arg(long)]
    input: PathBuf,
    /// Use at most this many request lines.
    #[arg(long, default_value_t = usize::MAX)]
    requests: usize,
    /// Concurrent gRPC clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Also send this many request lines' spans as X-Ray documents over UDP (0 = skip).
    #[arg(long, default_value_t = 200)]
    udp_requests: usize,
    /// Datagrams per second the UDP sender keeps to (UDP has no back-pressure).
    #[arg(long, default_value_t = 50_000)]
    udp_rate: u64,
    /// The fluoro binary [default: next to this one].
    #[arg(long)]
    fluoro: Option<PathBuf>,
    /// Keep the data directory here instead of a temporary one.
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
}

struct XrayClient {
    client: hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
    base: String,
}

impl XrayClient {
    async fn call(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let request = hyper::Request::post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(serde_json::to_vec(&body)?)))?;
        let response = self.client.request(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        anyhow::ensure!(status.is_success(), "{path} failed with {status}: {}", String::from_utf8_lossy(&bytes));
        Ok(serde_json::from_slice(&bytes)?)
    }
}

pub(crate) async fn metric(base: &str, name: &str) -> anyhow::Result<f64> {
    let client =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<Bytes>>();
    let response = client.get(format!("{base}/metrics").parse()?).await?;
    let text = String::from_utf8(response.into_body().collect().await?.to_bytes().to_vec())?;
    Ok(text.lines().filter(|l| l.starts_with(name)).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum())
}

pub async fn run(args: TracesArgs) -> anyhow::Result<()> {
    let fluoro = crate::fluoro_binary(args.fluoro.clone())?;
    let temp = tempfile::tempdir()?;
    let data_dir = crate::data_dir(args.data_dir.clone(), &temp)?;

    let server = Server::start(&fluoro, &data_dir, &["--trace-settle-secs".into(), "2".into()]).await?;
    let base = format!("http://127.0.0.1:{}", server.http_port);

    // OTLP gRPC ingest, streaming the input: clients take the next line, parse, send.
    #[derive(Default)]
    struct Seen {
        spans: usize,
        requests: usize,
        min_start: u64,
        max_start: u64,
        /// Every 10th root span's trace id (for the by-id reads).
        trace_ids: Vec<String>,
        roots: usize,
    }
    let file = std::fs::File::open(&args.input).with_context(|| format!("opening {}", args.input.display()))?;
    let lines =
        Arc::new(std::sync::Mutex::new(std::io::BufRead::lines(std::io::BufReader::new(file)).take(args.requests)));
    let seen = Arc::new(std::sync::Mutex::new(Seen { min_start: u64::MAX, ..Default::default() }));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (lines, seen) = (lines.clone(), seen.clone());
        let endpoint = format!("http://127.0.0.1:{}", server.grpc_port);
        tasks.push(tokio::spawn(async move {
            let mut client = TraceServiceClient::connect(endpoint).await?.max_encoding_message_size(64 << 20);
            loop {
                let Some(line) = lines.lock().expect("lock").next() else { return anyhow::Ok(()) };
                let request: ExportTraceServiceRequest = serde_json::from_str(&line?)?;
                {
                    let mut seen = seen.lock().expect("lock");
                    seen.requests += 1;
                    for span in request.resource_spans.iter().flat_map(|r| &r.scope_spans).flat_map(|s| &s.spans) {
                        seen.spans += 1;
                        seen.min_start = seen.min_start.min(span.start_time_unix_nano);
                        seen.max_start = seen.max_start.max(span.start_time_unix_nano);
                        if span.parent_span_id.is_empty() {
                            seen.roots += 1;
                            if seen.roots % 10 == 0 {
                                let hex: String = span.trace_id.iter().map(|b| format!("{b:02x}")).collect();
                                seen.trace_ids.push(format!("1-{}-{}", &hex[..8], &hex[8..]));
                            }
                        }
                    }
                }
                loop {
                    match client.export(request.clone()).await {
                        Ok(_) => break,
                        Err(status) if status.code() == tonic::Code::Unavailable => {
                            tokio::time::sleep(Duration::from_millis(50)).await;
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
    let seen = std::mem::take(&mut *seen.lock().expect("lock"));
    let (spans, min_start, max_start, trace_ids) = (seen.spans, seen.min_start, seen.max_start, seen.trace_ids);
    println!(
        "OTLP gRPC ingest: {} requests, {spans} spans, {} traces in {elapsed:.2} s = {:.0} spans/s ({} clients, parsing the JSON input included)",
        seen.requests,
        seen.roots,
        spans as f64 / elapsed,
        args.clients
    );

    // X-Ray UDP ingest: the same spans as X-Ray documents, one datagram each.
    if args.udp_requests > 0 {
        let mut datagrams = Vec::new();
        let file = std::fs::File::open(&args.input)?;
        for line in std::io::BufRead::lines(std::io::BufReader::new(file)).take(args.udp_requests) {
            let request: ExportTraceServiceRequest = serde_json::from_str(&line?)?;
            for doc in fluoro_proto::xray::otlp::convert(&request).documents {
                // A copy under another trace id, so it does not merge with the gRPC data.
                let id = doc.trace_id.to_xray();
                let other = format!("{}f{}", &id[..11], &id[12..]);
                let json = doc.json.replace(&id, &other);
                datagrams.push(format!("{{\"format\":\"json\",\"version\":1}}\n{json}").into_bytes());
            }
        }
        let before = metric(&base, "fluoro_trace_documents_ingested_total").await?;
        let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
        let target = ("127.0.0.1", server.xray_port);
        let started = Instant::now();
        for (i, datagram) in datagrams.iter().enumerate() {
            socket.send_to(datagram, target)?;
            if i % 256 == 255 {
                let due = Duration::from_secs_f64((i + 1) as f64 / args.udp_rate as f64);
                if let Some(wait) = due.checked_sub(started.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        let sent_secs = started.elapsed().as_secs_f64();
        let mut accepted = 0.0;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = metric(&base, "fluoro_trace_documents_ingested_total").await? - before;
            if now == accepted && now > 0.0 {
                break;
            }
            accepted = now;
        }
        let elapsed = started.elapsed().as_secs_f64() - 0.1;
        println!(
            "X-Ray UDP ingest: {} datagrams sent in {sent_secs:.2} s, {accepted:.0} stored ({:.1} % dropped by the kernel), {:.0} spans/s",
            datagrams.len(),
            100.0 * (1.0 - accepted / datagrams.len() as f64),
            accepted / elapsed
        );
    }

    let xray = XrayClient {
        client: hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
        base: base.clone(),
    };
    // Trace by id, no time range.
    let mut times = Vec::new();
    for i in 0..200 {
        let id = &trace_ids[(i * 7919) % trace_ids.len()];
        let started = Instant::now();
        let out = xray.call("/Traces", json!({"TraceIds": [id]})).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(out["Traces"].as_array().is_some_and(|t| t.len() == 1), "trace {id} not found");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "BatchGetTraces, one id, no time range: median {:.2} ms, p99 {:.2} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );

    // Wait for the service map to settle and roll.
    let start_s = (min_start / 1_000_000_000) as f64;
    let hour = (start_s, start_s + 3600.0);
    let waited = Instant::now();
    for _ in 0..1200 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if metric(&base, "fluoro_trace_rollup_dirty_minutes").await? == 0.0
            && metric(&base, "fluoro_trace_rollup_minutes_total").await? > 0.0
        {
            break;
        }
    }
    println!("service map rolled up {:.0} s after ingest ended", waited.elapsed().as_secs_f64());
    let mut times = Vec::new();
    for _ in 0..20 {
        let started = Instant::now();
        let out = xray.call("/ServiceGraph", json!({"StartTime": hour.0, "EndTime": hour.1})).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(out["Services"].as_array().is_some_and(|s| s.len() > 5), "graph too small: {out}");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "GetServiceGraph over the hour: median {:.2} ms, p99 {:.2} ms",
        percentile(&times, 0.5),
        percentile(&times, 0.99)
    );

    let filter = "annotation[http.route] = \"/api/v1/checkout\" AND responsetime > 0.2";
    let mut times = Vec::new();
    let mut found = 0;
    for _ in 0..3 {
        let started = Instant::now();
        let out = xray
            .call("/TraceSummaries", json!({"StartTime": hour.0, "EndTime": hour.1, "FilterExpression": filter}))
            .await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        found = out["TraceSummaries"].as_array().map_or(0, Vec::len);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "GetTraceSummaries over the hour, {filter:?}: first page {found} summaries, median {:.0} ms",
        percentile(&times, 0.5)
    );
    println!("(span timestamps {} .. {})", min_start / 1_000_000_000, max_start / 1_000_000_000);
    drop(server);
    Ok(())
}
