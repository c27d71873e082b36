//! In-process alarm benchmark: the CPU an evaluation round of N alarms on N series costs, and
//! the latency from a breaching datapoint to its webhook delivery.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use fluoro_proto::metrics::{KeyedSample, Sample, SeriesKey, unit_index};
use fluoro_query::alarms::notify::NotifyTarget;
use fluoro_query::alarms::{AlarmSettings, Alarms};
use fluoro_query::cw_metrics::MetricsReadApi;
use fluoro_store::{LogStore, MetricBatch, Metrics, StoreConfig};
use serde_json::json;

#[derive(clap::Args)]
pub struct AlarmsArgs {
    /// Alarms, one per series.
    #[arg(long, default_value_t = 10_000)]
    alarms: usize,
    /// Evaluation rounds to time per scenario.
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Notification latency trials (each waits for a 10-second boundary).
    #[arg(long, default_value_t = 5)]
    trials: usize,
}

/// CPU time of the calling thread, ns (`/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

const MINUTE: i64 = 60_000;

fn series(i: usize) -> Arc<SeriesKey> {
    Arc::new(SeriesKey::new("Bench", "Requests", vec![("Service".into(), format!("svc-{i:05}"))]))
}

/// One sample per series at `at`; `value(i)` per series.
async fn put_minute(store: &LogStore, n: usize, at: i64, value: impl Fn(usize) -> f64) -> anyhow::Result<()> {
    let unit = unit_index("Count").expect("a unit");
    for chunk in (0..n).collect::<Vec<_>>().chunks(5_000) {
        let samples = chunk
            .iter()
            .map(|&i| {
                let key = series(i);
                let sample = Sample::value(key.id(), at, unit, 60, value(i), 1.0);
                KeyedSample { key, sample }
            })
            .collect();
        store.append_metrics(MetricBatch { ingestion_time: at, samples }).await?;
    }
    Ok(())
}

pub fn run(args: AlarmsArgs) -> anyhow::Result<()> {
    // One thread: the round's CPU is the thread's CPU.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    runtime.block_on(rounds(&args))?;
    tokio::runtime::Runtime::new()?.block_on(latency(&args))
}

async fn rounds(args: &AlarmsArgs) -> anyhow::Result<()> {
    let n = args.alarms;
    let dir = tempfile::tempdir()?;
    let store = LogStore::open(StoreConfig::new(dir.path()), Metrics::new())?;
    let start = (chrono::Utc::now().timestamp_millis() / MINUTE - 30) * MINUTE;
    let clock = Arc::new(AtomicI64::new(start));
    let read = clock.clone();
    let alarms = Alarms::open(
        store.clone(),
        Arc::new(MetricsReadApi::new(store.clone(), "000000000000")),
        AlarmSettings::new("000000000000", "us-east-1"),
        Arc::new(move || read.load(Ordering::SeqCst)),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Five minutes of history, below the threshold.
    for m in 0..5 {
        put_minute(&store, n, start + m * MINUTE, |i| (i % 50) as f64).await?;
    }
    let mut now = start + 5 * MINUTE;
    clock.store(now, Ordering::SeqCst);
    let began = Instant::now();
    for i in 0..n {
        let input = json!({
            "AlarmName": format!("alarm-{i:05}"), "Namespace": "Bench", "MetricName": "Requests",
            "Dimensions": [{"Name": "Service", "Value": format!("svc-{i:05}")}],
            "Statistic": "Sum", "Period": 60, "EvaluationPeriods": 1,
            "Threshold": 100.0, "ComparisonOperator": "GreaterThanThreshold",
            "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:unmapped"],
        });
        if let Some(Err(error)) = alarms.handle("PutMetricAlarm", &input).await {
            anyhow::bail!("PutMetricAlarm: {error}");
        }
    }
    let put = began.elapsed();
    println!("alarms: {n} metric alarms on {n} series (Sum, Period 60, 1 of 1), 5 minutes of history");
    println!("  PutMetricAlarm (each evaluated at once): {:.2} ms per alarm", put.as_secs_f64() * 1e3 / n as f64);
    println!("  {:<44} {:>10} {:>10} {:>12}", "round", "CPU ms", "wall ms", "transitions");
    for (scenario, flip) in [("steady (no transitions), memtable", false), ("half the alarms flip, memtable", true)] {
        for round in 0..args.rounds {
            let minute = now;
            // Flipping: every other round the even alarms breach, so half of them change state.
            let breach = flip && round % 2 == 0;
            put_minute(&store, n, minute, |i| if breach && i % 2 == 0 { 500.0 } else { (i % 50) as f64 }).await?;
            put_minute(&store, n, minute + 10_000, |i| if breach && i % 2 == 0 { 500.0 } else { 1.0 }).await?;
            now += MINUTE;
            clock.store(now, Ordering::SeqCst);
            let before_history = history_len(&alarms).await;
            let (cpu, wall) = (thread_cpu_ns(), Instant::now());
            alarms.tick(now).await;
            let (cpu, wall) = (thread_cpu_ns() - cpu, wall.elapsed());
            let transitions = history_len(&alarms).await - before_history;
            println!(
                "  {:<44} {:>10.1} {:>10.1} {:>12}",
                format!("{scenario} #{}", round + 1),
                cpu as f64 / 1e6,
                wall.as_secs_f64() * 1e3,
                transitions
            );
        }
    }
    store.flush().await?;
    for round in 0..args.rounds {
        put_minute(&store, n, now, |i| (i % 50) as f64).await?;
        store.flush().await?;
        now += MINUTE;
        clock.store(now, Ordering::SeqCst);
        let (cpu, wall) = (thread_cpu_ns(), Instant::now());
        alarms.tick(now).await;
        let (cpu, wall) = (thread_cpu_ns() - cpu, wall.elapsed());
        println!(
            "  {:<44} {:>10.1} {:>10.1} {:>12}",
            format!("steady, all data in Parquet #{}", round + 1),
            cpu as f64 / 1e6,
            wall.as_secs_f64() * 1e3,
            "-"
        );
    }
    store.shutdown().await?;
    Ok(())
}

/// History items in the last day (each transition writes StateUpdate + one Action item).
async fn history_len(alarms: &Alarms) -> usize {
    let mut total = 0;
    let mut token: Option<String> = None;
    loop {
        let mut input = json!({"HistoryItemType": "StateUpdate", "MaxRecords": 100});
        if let Some(t) = &token {
            input["NextToken"] = json!(t);
        }
        let out = match alarms.handle("DescribeAlarmHistory", &input).await {
            Some(Ok(out)) => out,
            _ => return total,
        };
        total += out["AlarmHistoryItems"].as_array().map_or(0, Vec::len);
        match out["NextToken"].as_str() {
            Some(t) => token = Some(t.to_owned()),
            None => return total,
        }
    }
}

/// Datapoint → webhook latency on the real clock, with the alarm loop and a local receiver.
async fn latency(args: &AlarmsArgs) -> anyhow::Result<()> {
    let arrivals: Arc<parking_lot::Mutex<Vec<i64>>> = Default::default();
    let sink = arrivals.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let sink = sink.clone();
            async move {
                sink.lock().push(chrono::Utc::now().timestamp_millis());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let dir = tempfile::tempdir()?;
    let store = LogStore::open(StoreConfig::new(dir.path()), Metrics::new())?;
    let mut settings = AlarmSettings::new("000000000000", "us-east-1");
    settings.targets = vec![NotifyTarget { name: "bench".into(), url, headers: Default::default() }];
    let clock = fluoro_proto::logs::system_clock();
    let alarms = Alarms::open(
        store.clone(),
        Arc::new(MetricsReadApi::new(store.clone(), "000000000000")),
        settings,
        clock.clone(),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let runner = tokio::spawn(alarms.clone().run(async {
        let _ = stop_rx.await;
    }));
    println!("notification latency (Period 10, 1 of 1, real clock, local webhook):");
    println!("  {:<8} {:>22} {:>24}", "trial", "datapoint → delivery ms", "bucket close → delivery ms");
    let unit = unit_index("Count").expect("a unit");
    for trial in 0..args.trials {
        let name = format!("latency-{trial}");
        let key = Arc::new(SeriesKey::new("Bench", name.as_str(), vec![]));
        let input = json!({
            "AlarmName": name, "Namespace": "Bench", "MetricName": name, "Statistic": "Maximum",
            "Period": 10, "EvaluationPeriods": 1, "Threshold": 100.0, "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "ignore", "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:bench"],
        });
        if let Some(Err(error)) = alarms.handle("PutMetricAlarm", &input).await {
            anyhow::bail!("PutMetricAlarm: {error}");
        }
        let before = arrivals.lock().len();
        let at = clock();
        let sample = Sample::value(key.id(), at, unit, 1, 500.0, 1.0);
        store.append_metrics(MetricBatch { ingestion_time: at, samples: vec![KeyedSample { key, sample }] }).await?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while arrivals.lock().len() == before && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let Some(arrived) = arrivals.lock().get(before).copied() else {
            anyhow::bail!("no delivery within 30 s");
        };
        let closed = (at / 10_000 + 1) * 10_000;
        println!("  {:<8} {:>22} {:>24}", trial + 1, arrived - at, arrived - closed);
    }
    let _ = stop_tx.send(());
    runner.await?;
    store.shutdown().await?;
    Ok(())
}
