//! GetMetricStatistics over raw samples and over rollups: the basic statistics stay exact, and
//! percentiles from the sketches stay within 1 %.

use std::sync::Arc;
use std::time::Duration;

use fluoro_proto::metrics::{KeyedSample, Sample, SeriesKey};
use fluoro_store::{LogStore, MetricBatch, Metrics, StoreConfig};
use serde_json::{Value, json};

use super::MetricsReadApi;

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

async fn statistics(api: &MetricsReadApi, start: i64, period: i64) -> Value {
    let input = json!({
        "Namespace": "App", "MetricName": "Latency", "StartTime": start as f64 / 1000.0,
        "EndTime": (start + 3_600_000) as f64 / 1000.0, "Period": period,
        "Statistics": ["SampleCount", "Sum", "Minimum", "Maximum"],
    });
    api.handle("GetMetricStatistics", &input, NOW).await.unwrap().unwrap()
}

async fn percentile(api: &MetricsReadApi, start: i64, stat: &str) -> f64 {
    let input = json!({
        "Namespace": "App", "MetricName": "Latency", "StartTime": start as f64 / 1000.0,
        "EndTime": (start + 3_600_000) as f64 / 1000.0, "Period": 3600, "ExtendedStatistics": [stat],
    });
    let out = api.handle("GetMetricStatistics", &input, NOW).await.unwrap().unwrap();
    out["Datapoints"][0]["ExtendedStatistics"][stat].as_f64().unwrap()
}

#[tokio::test]
async fn rollups_keep_basic_statistics_exact_and_percentiles_close() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = StoreConfig::new(dir.path());
    // Roll everything older than a minute, keep 5-minute rows for a day.
    config.metrics_raw_horizon = Duration::from_secs(60);
    config.metrics_five_minute_horizon = Duration::from_secs(86_400);
    let store = LogStore::open(config, Metrics::new()).unwrap();
    let key = Arc::new(SeriesKey::new("App", "Latency", vec![]));
    let start = NOW - 2 * DAY;
    let samples: Vec<KeyedSample> = (0..3600)
        .map(|i| {
            let v = (i % 997) as f64 * 1.5 + 1.0;
            KeyedSample { key: key.clone(), sample: Sample::value(key.id(), start + i * 1000, 2, 60, v, 1.0) }
        })
        .collect();
    store.append_metrics(MetricBatch { ingestion_time: NOW, samples }).await.unwrap();
    let api = MetricsReadApi::new(store.clone(), "000000000000");
    let exact = statistics(&api, start, 3600).await;
    let exact_p99 = percentile(&api, start, "p99").await;
    let exact_p50 = percentile(&api, start, "p50").await;
    store.flush().await.unwrap();
    assert_eq!(statistics(&api, start, 3600).await, exact, "flushed raw samples read the same");

    let changed = crate::cw_metrics::tests::maintain(&store).await;
    assert!(changed > 0);
    let tiers: Vec<String> = store.catalog().read(|s| s.metric_files.iter().map(|f| f.path.clone()).collect());
    assert_eq!(tiers.len(), 2, "{tiers:?}");
    assert!(tiers.iter().any(|p| p.starts_with("metrics/1h/")) && tiers.iter().any(|p| p.starts_with("metrics/5m/")));
    // Two days old: past the 5-minute horizon, so the 1-hour rows answer.
    let rolled = statistics(&api, start, 3600).await;
    assert_eq!(rolled, exact);
    for (stat, exact) in [("p99", exact_p99), ("p50", exact_p50)] {
        let approx = percentile(&api, start, stat).await;
        assert!((approx - exact).abs() <= exact * 0.01, "{stat}: exact {exact}, rolled {approx}");
    }
    // Sub-hour periods over data that old have no datapoints (the serving rule).
    assert_eq!(statistics(&api, start, 300).await["Datapoints"], json!([]));
    store.shutdown().await.unwrap();
}

pub(crate) async fn maintain(store: &LogStore) -> usize {
    fluoro_store::maintenance::run_once(store, NOW).await.unwrap()
}
