//! `fluoro-bench cluster`: ingest through PutLogEvents spread over running collectors, and
//! the time from a collector's acknowledgement to the event being found on a query node.
//! `bench/cluster.py` starts PostgreSQL, the S3-compatible server and the nodes.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::json;

use crate::client::AwsJsonClient;

#[derive(clap::Args)]
pub struct ClusterArgs {
    /// JSON lines from shared/bench/gen_logs.py.
    #[arg(long)]
    input: PathBuf,
    /// Use at most this many events of the input.
    #[arg(long, default_value_t = usize::MAX)]
    events: usize,
    /// HTTP ports of the collectors (comma-separated); requests go round-robin.
    #[arg(long, value_delimiter = ',', required = true)]
    collectors: Vec<u16>,
    /// HTTP port of the query node.
    #[arg(long)]
    query: u16,
    /// Concurrent HTTP clients per collector.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// Acknowledgement-to-visible probes.
    #[arg(long, default_value_t = 20)]
    probes: usize,
}

pub async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let (streams, _) = crate::load(&args.input, args.events, true)?;
    let events: usize = streams.values().map(Vec::len).sum();
    let raw_bytes: usize = streams.values().flatten().map(|e| e.message.len()).sum();
    let bodies = Arc::new(crate::batch_bodies(&streams));
    let collectors: Vec<AwsJsonClient> = args.collectors.iter().map(|port| AwsJsonClient::new(*port)).collect();
    let query = AwsJsonClient::new(args.query);
    let groups: std::collections::BTreeSet<&String> = streams.keys().map(|(g, _)| g).collect();
    for group in &groups {
        query.call("CreateLogGroup", json!({ "logGroupName": group })).await?;
    }
    for (group, stream) in streams.keys() {
        query.call("CreateLogStream", json!({ "logGroupName": group, "logStreamName": stream })).await?;
    }
    println!(
        "input: {events} events, {:.1} MB of messages, {} batches; {} collector(s) × {} clients",
        raw_bytes as f64 / 1e6,
        bodies.len(),
        collectors.len(),
        args.clients
    );

    let next = Arc::new(AtomicUsize::new(0));
    let throttled = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for collector in &collectors {
        for _ in 0..args.clients {
            let (client, next, bodies, throttled) =
                (collector.clone(), next.clone(), bodies.clone(), throttled.clone());
            tasks.push(tokio::spawn(crate::put_batches(client, next, bodies, throttled)));
        }
    }
    for task in tasks {
        task.await??;
    }
    let secs = started.elapsed().as_secs_f64();
    println!("\n## ingest over {} collector(s) (durable: WAL fsync before every ack)", collectors.len());
    println!("events/s          {:>12.0}", events as f64 / secs);
    println!("MB/s (messages)   {:>12.1}", raw_bytes as f64 / 1e6 / secs);
    println!("throttled retries {:>12}", throttled.load(Ordering::Relaxed));

    // Acknowledged on a collector → found by FilterLogEvents on the query node.
    let (group, stream) = streams.keys().next().expect("at least one stream").clone();
    let mut waits = Vec::new();
    for k in 0..args.probes {
        let token = format!("fresh{k}x{}", std::process::id());
        let now = chrono::Utc::now().timestamp_millis();
        let collector = &collectors[k % collectors.len()];
        collector
            .call(
                "PutLogEvents",
                json!({"logGroupName": group, "logStreamName": stream,
                       "logEvents": [{"timestamp": now, "message": format!("fresh {token}")}]}),
            )
            .await?;
        let acked = Instant::now();
        loop {
            let found = query
                .call("FilterLogEvents", json!({"logGroupName": group, "filterPattern": token, "startTime": now}))
                .await?;
            if found["events"].as_array().is_some_and(|e| !e.is_empty()) {
                break;
            }
            if acked.elapsed() > Duration::from_secs(60) {
                bail!("probe {token} not visible on the query node after 60 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        waits.push(acked.elapsed().as_secs_f64() * 1000.0);
        // Spread the probes over the flush cycle.
        tokio::time::sleep(Duration::from_millis(370)).await;
    }
    let in_order: Vec<String> = waits.iter().map(|w| format!("{w:.0}")).collect();
    waits.sort_by(f64::total_cmp);
    let at = |q: f64| waits[((waits.len() - 1) as f64 * q).round() as usize];
    println!("\n## freshness: acknowledged on a collector → found on the query node ({} probes)", waits.len());
    println!("p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms", at(0.5), at(0.95), at(1.0));
    println!("in order (ms): {}", in_order.join(" "));
    Ok(())
}
