//! The store end to end in one process: append, snapshot, flush, restart, retention, compaction.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::UInt64Type;
use fluoro_store::{GroupMeta, LogStore, LogTable, Metrics, PreparedBatch, StoreConfig};

const NOW: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

fn group(name: &str) -> GroupMeta {
    GroupMeta::standard(name, NOW)
}

fn config(dir: &std::path::Path) -> StoreConfig {
    let mut config = StoreConfig::new(dir);
    config.compaction_min_files = 3;
    config
}

fn batch(group_id: u64, stream_id: u64, timestamps: &[i64], prefix: &str) -> PreparedBatch {
    PreparedBatch::new(
        group_id,
        stream_id,
        NOW,
        timestamps.to_vec(),
        (0..timestamps.len()).map(|i| Some(format!("{prefix} {i}"))).collect(),
    )
}

/// A store in `dir` with one group `/g` and one stream `s`; returns their ids too.
fn open_with_stream(config: StoreConfig) -> (Arc<LogStore>, u64, u64) {
    let store = LogStore::open(config, Metrics::new()).unwrap();
    let g = store.catalog().create_group(group("/g")).unwrap();
    let s = store.catalog().create_stream("/g", "s", NOW).unwrap();
    (store, g.id, s.id)
}

/// The `seq` column of `batches`, ascending.
fn sorted_seqs(batches: &[RecordBatch]) -> Vec<u64> {
    let mut seqs: Vec<u64> = batches
        .iter()
        .flat_map(|b| b.column_by_name("seq").unwrap().as_primitive::<UInt64Type>().values().to_vec())
        .collect();
    seqs.sort_unstable();
    seqs
}

/// Every seq visible to a full-table query.
async fn visible_seqs(store: &LogStore) -> Vec<u64> {
    let ctx = store.session_context();
    let table = ctx.read_table(Arc::new(LogTable::new(store.snapshot(None, i64::MIN, i64::MAX)))).unwrap();
    let batches: Vec<RecordBatch> = table.collect().await.unwrap();
    sorted_seqs(&batches)
}

#[tokio::test]
async fn flush_restart_compact_and_expire() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(config(dir.path()), Metrics::new()).unwrap();
    let keep = store.catalog().create_group(group("/keep")).unwrap();
    let expire = store.catalog().create_group(group("/expire")).unwrap();
    let s1 = store.catalog().create_stream("/keep", "a", NOW).unwrap();
    let s2 = store.catalog().create_stream("/expire", "b", NOW).unwrap();

    // Three flushes → three files, each with both groups; the old group data is 10 days old.
    for round in 0..3 {
        store.append(batch(keep.id, s1.id, &[NOW - 1000, NOW], &format!("keep{round}"))).await.unwrap();
        store.append(batch(expire.id, s2.id, &[NOW - 10 * DAY], &format!("old{round}"))).await.unwrap();
        assert!(store.flush().await.unwrap());
    }
    store.append(batch(keep.id, s1.id, &[NOW], "unflushed")).await.unwrap();
    assert_eq!(visible_seqs(&store).await, (0..10).collect::<Vec<_>>());
    assert_eq!(store.catalog().read(|s| s.files.len()), 3);

    // Restart: the unflushed event comes back from the WAL, nothing twice.
    store.shutdown().await.unwrap();
    drop(store);
    let store = LogStore::open(config(dir.path()), Metrics::new()).unwrap();
    assert_eq!(visible_seqs(&store).await, (0..10).collect::<Vec<_>>());
    assert!(!store.flush().await.unwrap(), "shutdown flushed everything");
    assert_eq!(store.catalog().read(|s| s.files.len()), 4);

    // Retention of 7 days on /expire: its sections are dead; maintenance rewrites the files.
    store.catalog().update_group("/expire", |g| g.retention_days = Some(7)).unwrap();
    let changed = fluoro_store::maintenance::run_once(&store, NOW).await.unwrap();
    assert!(changed >= 3);
    let seqs = visible_seqs(&store).await;
    assert_eq!(seqs.len(), 7, "three expired events are gone: {seqs:?}");
    // Small files were merged: what is left is fewer files.
    let files = store.catalog().read(|s| s.files.len());
    assert!(files < 4, "compaction merged files, {files} left");

    // Deleting a group drops its rows in the next pass.
    store.catalog().delete_group("/keep").unwrap();
    fluoro_store::maintenance::run_once(&store, NOW).await.unwrap();
    assert_eq!(store.catalog().read(|s| s.files.len()), 0);
    assert!(visible_seqs(&store).await.is_empty());
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn throttles_when_buffer_is_full() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.max_buffer_bytes = 1000;
    let (store, g, s) = open_with_stream(config);
    let big = PreparedBatch::new(g, s, NOW, vec![NOW], [Some("x".repeat(900))].into_iter().collect());
    store.append(big.clone()).await.unwrap();
    let refused = store.append(big.clone()).await.unwrap_err();
    assert!(matches!(refused, fluoro_store::AppendError::Throttled { .. }), "{refused}");
    store.flush().await.unwrap();
    store.append(big).await.unwrap();
    assert_eq!(store.metrics().requests_throttled.get(), 1);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn term_index_narrows_scans_without_changing_results() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.row_group_rows = 1024;
    let (store, g, s) = open_with_stream(config);
    let mut messages: Vec<String> = (0..5000).map(|i| format!("INFO GET /api/v1/items/{i} 200")).collect();
    messages[10] = "ERROR DeadlockDetected tx=1".into();
    messages[4321] = "ERROR DeadlockDetected tx=2".into();
    let batch = PreparedBatch::new(
        g,
        s,
        NOW,
        (0..5000).map(|i| NOW - 5000 + i).collect(),
        messages.iter().map(|m| Some(m.as_str())).collect(),
    );
    store.append(batch).await.unwrap();
    store.flush().await.unwrap();
    let file = store.catalog().read(|s| s.files[0].clone());
    assert!(file.index_path.is_some());
    assert_eq!(file.row_groups, vec![1024, 1024, 1024, 1024, 904]);

    let count = |snapshot: fluoro_store::LogSnapshot, needle: &'static str| {
        let ctx = store.session_context();
        async move {
            let df = ctx.read_table(Arc::new(LogTable::new(snapshot))).unwrap();
            let df = df
                .filter(datafusion::prelude::col("message").like(datafusion::prelude::lit(format!("%{needle}%"))))
                .unwrap();
            df.count().await.unwrap()
        }
    };
    let mut narrowed = store.snapshot(Some(g), i64::MIN, i64::MAX);
    store.narrow_by_index(&mut narrowed, &["DeadlockDetected"]).await;
    assert_eq!(narrowed.selections.get(&file.id).map(Vec::len), Some(2), "two blocks selected");
    assert_eq!(count(narrowed, "DeadlockDetected").await, 2);
    assert_eq!(count(store.snapshot(Some(g), i64::MIN, i64::MAX), "DeadlockDetected").await, 2);

    let mut absent = store.snapshot(Some(g), i64::MIN, i64::MAX);
    store.narrow_by_index(&mut absent, &["NoSuchWord"]).await;
    assert!(absent.files.is_empty(), "no candidate rows: the file is skipped");

    let mut common = store.snapshot(Some(g), i64::MIN, i64::MAX);
    store.narrow_by_index(&mut common, &["INFO"]).await;
    assert!(common.selections.is_empty() && common.files.len() == 1, "common term: plain scan");
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_failed_flush_is_retried_without_new_data() {
    let dir = tempfile::tempdir().unwrap();
    let (store, g, s) = open_with_stream(config(dir.path()));
    store.append(batch(g, s, &[NOW, NOW], "x")).await.unwrap();
    // A plain file where the object store needs its `logs/` directory makes every put fail.
    let blocker = dir.path().join("objects").join("logs");
    std::fs::write(&blocker, b"in the way").unwrap();
    assert!(store.flush().await.is_err());
    assert_eq!(visible_seqs(&store).await, vec![0, 1], "still readable from memory");
    std::fs::remove_file(&blocker).unwrap();
    assert!(store.flush().await.unwrap(), "the frozen set is written on retry");
    assert_eq!(store.catalog().read(|s| s.files.len()), 1);
    assert_eq!(visible_seqs(&store).await, vec![0, 1]);
    store.shutdown().await.unwrap();
    drop(store);
    let store = LogStore::open(config(dir.path()), Metrics::new()).unwrap();
    assert_eq!(visible_seqs(&store).await, vec![0, 1], "nothing twice after restart");
    store.shutdown().await.unwrap();
}

fn span_rows(trace: u8, count: u64) -> fluoro_store::SpanBatch {
    let rows = (1..=count)
        .map(|i| fluoro_store::SpanRow {
            trace_id: [trace; 16],
            id: i,
            parent_id: (i > 1).then_some(1),
            start_ns: NOW * 1_000_000 + i as i64,
            end_ns: (i % 2 == 0).then_some(NOW * 1_000_000 + 1_000_000),
            name: format!("svc-{trace}"),
            document: format!(r#"{{"id":"{i:016x}"}}"#),
        })
        .collect();
    fluoro_store::SpanBatch { ingestion_time: NOW, rows }
}

/// (trace byte, id) of every visible trace document.
async fn visible_spans(store: &LogStore, trace_ids: Option<&[[u8; 16]]>) -> Vec<(u8, u64)> {
    let mut snapshot = store.span_snapshot(i64::MIN, i64::MAX);
    if let Some(ids) = trace_ids {
        store.narrow_by_trace_ids(&mut snapshot, ids).await;
    }
    let ctx = store.session_context();
    let table = ctx.read_table(Arc::new(LogTable::spans(snapshot))).unwrap();
    let mut out: Vec<(u8, u64)> = Vec::new();
    for batch in table.collect().await.unwrap() {
        let ids = batch.column_by_name("id").unwrap().as_primitive::<UInt64Type>();
        let traces = batch.column_by_name("trace_id").unwrap().as_fixed_size_binary();
        for row in 0..batch.num_rows() {
            out.push((traces.value(row)[0], ids.value(row)));
        }
    }
    out.sort_unstable();
    out
}

#[tokio::test]
async fn trace_documents_flush_replay_and_bloom_narrowing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, g, s) = open_with_stream(config(dir.path()));
    store.append_spans(span_rows(1, 3)).await.unwrap();
    store.append(batch(g, s, &[NOW], "log")).await.unwrap();
    assert_eq!(visible_spans(&store, None).await, [(1, 1), (1, 2), (1, 3)]);
    assert!(store.flush().await.unwrap());
    assert_eq!(store.catalog().read(|st| (st.files.len(), st.span_files.len())), (1, 1));
    store.append_spans(span_rows(2, 2)).await.unwrap();
    assert!(store.flush().await.unwrap());
    store.append_spans(span_rows(3, 1)).await.unwrap();
    assert_eq!(visible_spans(&store, None).await.len(), 6);
    // Only the file holding trace 2 survives its Bloom filter (the memtable is always read).
    let mut snapshot = store.span_snapshot(i64::MIN, i64::MAX);
    store.narrow_by_trace_ids(&mut snapshot, &[[2; 16]]).await;
    assert_eq!(snapshot.files.len(), 1);
    assert_eq!(visible_spans(&store, Some(&[[2; 16]])).await, [(2, 1), (2, 2), (3, 1)]);
    // Log reads never see trace files.
    assert_eq!(visible_seqs(&store).await.len(), 1);
    store.stop_writer().await;
    drop(store);

    // Unflushed documents come back from the WAL; flushed ones are not replayed twice.
    let store = LogStore::open(config(dir.path()), Metrics::new()).unwrap();
    assert_eq!(visible_spans(&store, None).await.len(), 6);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn trace_files_expire_and_merge() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(config(dir.path()), Metrics::new()).unwrap();
    for trace in 1..=3 {
        store.append_spans(span_rows(trace, 2)).await.unwrap();
        store.flush().await.unwrap();
    }
    assert_eq!(store.catalog().read(|st| st.span_files.len()), 3);
    fluoro_store::maintenance::run_once(&store, NOW).await.unwrap();
    assert_eq!(store.catalog().read(|st| st.span_files.len()), 1, "three small files merged");
    assert_eq!(visible_spans(&store, None).await.len(), 6);
    let mut snapshot = store.span_snapshot(i64::MIN, i64::MAX);
    store.narrow_by_trace_ids(&mut snapshot, &[[3; 16]]).await;
    assert_eq!(snapshot.files.len(), 1);
    store.narrow_by_trace_ids(&mut snapshot, &[[9; 16]]).await;
    assert!(snapshot.files.is_empty(), "trace 9 is in no file (fixed ids: no false-positive luck involved)");
    fluoro_store::maintenance::run_once(&store, NOW + 31 * DAY).await.unwrap();
    assert_eq!(store.catalog().read(|st| st.span_files.len()), 0, "past the 30-day retention");
    assert!(visible_spans(&store, None).await.is_empty());
}

/// X-Ray documents as the collector stores them.
fn xray_batch(texts: &[String]) -> fluoro_store::SpanBatch {
    let rows = texts
        .iter()
        .flat_map(|t| fluoro_proto::xray::parse_documents(t, 65_536).unwrap())
        .map(fluoro_store::SpanRow::from)
        .collect();
    fluoro_store::SpanBatch { ingestion_time: NOW, rows }
}

/// A two-service trace (`api` calls `backend`) ending in minute `minute` (epoch minutes).
fn call_trace(n: u32, minute: i64, fault: bool) -> Vec<String> {
    let t = minute as f64 * 60.0 + 10.0;
    let trace = format!("1-{:08x}-{:024x}", (minute * 60) as u32, n);
    vec![
        format!(
            r#"{{"trace_id":"{trace}","id":"{n:08x}00000001","name":"api","start_time":{t},"end_time":{},"subsegments":[{{"id":"{n:08x}00000002","name":"backend","namespace":"remote","start_time":{},"end_time":{},"fault":{fault}}}]}}"#,
            t + 0.5,
            t + 0.1,
            t + 0.4
        ),
        format!(
            r#"{{"trace_id":"{trace}","id":"{n:08x}00000003","parent_id":"{n:08x}00000002","name":"backend","start_time":{},"end_time":{},"fault":{fault}}}"#,
            t + 0.15,
            t + 0.35
        ),
    ]
}

fn merged(view: &fluoro_store::MapView) -> fluoro_proto::xray::graph::Graph {
    let mut graph = fluoro_proto::xray::graph::Graph::default();
    for (_, g) in &view.rolled {
        graph.merge(g);
    }
    graph
}

#[tokio::test]
async fn service_map_rollups_follow_ingest_backfill_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(config(dir.path()), Metrics::new()).unwrap();
    let base = 30_000_000; // epoch minutes (year 2027)
    for (n, minute) in [(1, base), (2, base + 1), (3, base + 1), (4, base + 5)] {
        store.append_spans(xray_batch(&call_trace(n, minute, n == 3))).await.unwrap();
    }
    let (start, end) = ((base - 10) as f64 * 60.0, (base + 10) as f64 * 60.0);
    // Before the first pass everything is computed live.
    assert_eq!(store.service_map_view(start, end).unwrap().live, vec![(start, end)]);
    let rolled = store.roll_service_map("123456789012", std::time::Duration::ZERO, NOW).await.unwrap();
    assert!(rolled >= 4, "{rolled}");
    let view = store.service_map_view(start, end).unwrap();
    assert!(view.live.is_empty(), "{:?}", view.live);
    assert_eq!(view.rolled.iter().map(|(m, _)| *m - base).collect::<Vec<_>>(), [0, 1, 5]);
    let graph = merged(&view);
    let api = graph.nodes.keys().find(|k| k.name == "api").unwrap().clone();
    let backend = graph.nodes.keys().find(|k| k.name == "backend").unwrap().clone();
    let edge = &graph.edges[&(Some(api.clone()), backend.clone())];
    assert_eq!((edge.stats.total(), edge.stats.fault), (4, 1));
    assert_eq!(graph.nodes[&api].stats.total(), 4);

    // A backfilled trace dirties its minutes until the next pass.
    store.append_spans(xray_batch(&call_trace(5, base + 1, false))).await.unwrap();
    let view = store.service_map_view(start, end).unwrap();
    assert_eq!(view.live, vec![((base) as f64 * 60.0, (base + 3) as f64 * 60.0)]);
    store.roll_service_map("123456789012", std::time::Duration::ZERO, NOW).await.unwrap();
    let view = store.service_map_view(start, end).unwrap();
    assert!(view.live.is_empty());
    assert_eq!(merged(&view).nodes[&api].stats.total(), 5);

    // Crash with an unrolled document: the restart marks its minutes dirty again.
    store.append_spans(xray_batch(&call_trace(6, base + 5, false))).await.unwrap();
    store.stop_writer().await;
    drop(store);
    let store = LogStore::open(config(dir.path()), Metrics::new()).unwrap();
    // Recovered minutes are due at once, whatever the settle time.
    let rolled = store.roll_service_map("123456789012", std::time::Duration::from_secs(3600), NOW).await.unwrap();
    assert_eq!(rolled, 3, "minutes 4, 5 and 6 around trace 6");
    let view = store.service_map_view(start, end).unwrap();
    assert!(view.live.is_empty());
    assert_eq!(merged(&view).nodes[&api].stats.total(), 6);
    // Partial minutes at the window's edges are always computed.
    let view = store.service_map_view(start + 30.0, end - 30.0).unwrap();
    assert_eq!(view.live.len(), 2);
}

#[tokio::test]
async fn trace_documents_have_a_term_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(config(dir.path()), Metrics::new()).unwrap();
    let base = 30_000_000;
    for n in 1..=3 {
        let mut docs = call_trace(n, base, false);
        if n == 2 {
            docs[0] = docs[0].replacen(r#""name":"api""#, r#""name":"api","annotations":{"tenant":"needlecorp"}"#, 1);
        }
        store.append_spans(xray_batch(&docs)).await.unwrap();
        store.flush().await.unwrap();
    }
    assert!(store.catalog().read(|s| s.span_files.iter().all(|f| f.text_index_path.is_some())));
    let mut snapshot = store.span_snapshot(i64::MIN, i64::MAX);
    store.narrow_spans_by_text(&mut snapshot, &["\"needlecorp\""]).await;
    assert_eq!(snapshot.files.len(), 1, "only the file holding the value is read");
    let (lo, hi) = ((base - 1) * 60_000, (base + 2) * 60_000);
    let ids = store.trace_ids_containing(lo, hi, &["\"needlecorp\"".to_owned()]).await.unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].to_xray(), format!("1-{:08x}-{:024x}", (base * 60) as u32, 2));
    assert!(store.trace_ids_containing(lo, hi, &["\"nowhere\"".to_owned()]).await.unwrap().is_empty());
}

fn metric_batch(name: &str, values: &[(i64, f64)]) -> fluoro_store::MetricBatch {
    use fluoro_proto::metrics::{KeyedSample, Sample, SeriesKey};
    let key = Arc::new(SeriesKey::new("App", name, vec![("Service".into(), "api".into())]));
    let samples = values
        .iter()
        .map(|(t, v)| KeyedSample { key: key.clone(), sample: Sample::value(key.id(), *t, 2, 60, *v, 1.0) })
        .collect();
    fluoro_store::MetricBatch { ingestion_time: NOW, samples }
}

async fn visible_samples(store: &LogStore) -> Vec<(u64, i64, i64)> {
    use datafusion::arrow::datatypes::{Float64Type, Int64Type};
    let ctx = store.session_context();
    let table = ctx.read_table(Arc::new(LogTable::samples(store.metric_snapshot(i64::MIN, i64::MAX)))).unwrap();
    let mut out = Vec::new();
    for batch in table.collect().await.unwrap() {
        let series = batch.column_by_name("series_id").unwrap().as_primitive::<UInt64Type>();
        let ts = batch.column_by_name("timestamp").unwrap().as_primitive::<Int64Type>();
        let min = batch.column_by_name("min").unwrap().as_primitive::<Float64Type>();
        for row in 0..batch.num_rows() {
            out.push((series.value(row), ts.value(row), min.value(row) as i64));
        }
    }
    out.sort_unstable();
    out
}

#[tokio::test]
async fn metric_samples_flush_replay_and_series_registry() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(config(dir.path()), Metrics::new()).unwrap();
    store.append_metrics(metric_batch("Latency", &[(NOW, 10.0), (NOW + 60_000, 20.0)])).await.unwrap();
    assert_eq!(visible_samples(&store).await.len(), 2);
    assert!(store.flush().await.unwrap());
    assert_eq!(store.catalog().read(|st| st.metric_files.len()), 1);
    store.append_metrics(metric_batch("Errors", &[(NOW, 1.0)])).await.unwrap();
    assert_eq!(visible_samples(&store).await.len(), 3);
    assert_eq!(store.metric_series().len(), 2);
    let latest = store.metric_series().all().into_iter().find(|s| s.key.name == "Latency").unwrap();
    assert_eq!(latest.last_sample_ms, NOW + 60_000);
    store.stop_writer().await;
    drop(store);

    // The flushed series comes from the catalog, the unflushed one from the WAL.
    let mut limited = config(dir.path());
    limited.max_series = 2;
    let store = LogStore::open(limited, Metrics::new()).unwrap();
    assert_eq!(visible_samples(&store).await.len(), 3);
    assert_eq!(store.metric_series().len(), 2);
    // A third series is over the limit; known series are still accepted.
    let refused = store.append_metrics(metric_batch("Third", &[(NOW, 1.0)])).await.unwrap_err();
    assert!(refused.to_string().contains("limit of 2 series"), "{refused}");
    store.append_metrics(metric_batch("Errors", &[(NOW + 1, 2.0)])).await.unwrap();
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn events_and_their_derived_samples_commit_together() {
    let dir = tempfile::tempdir().unwrap();
    let (store, g, s) = open_with_stream(config(dir.path()));
    let first = store
        .append_with_metrics(batch(g, s, &[NOW, NOW + 1], "ERROR"), metric_batch("Errors", &[(NOW, 1.0)]))
        .await
        .unwrap();
    // The events take the first seqs of the commit, the derived samples the next ones.
    assert_eq!(visible_seqs(&store).await, [first, first + 1]);
    assert_eq!(visible_samples(&store).await.len(), 1);
    store.stop_writer().await;
    drop(store);

    // Both come back from the WAL; past the series limit the samples are dropped, not the events.
    let mut limited = config(dir.path());
    limited.max_series = 1;
    let store = LogStore::open(limited, Metrics::new()).unwrap();
    assert_eq!(visible_seqs(&store).await.len(), 2);
    assert_eq!(visible_samples(&store).await.len(), 1);
    store.append_with_metrics(batch(g, s, &[NOW + 2], "WARN"), metric_batch("Warnings", &[(NOW, 1.0)])).await.unwrap();
    assert_eq!(visible_seqs(&store).await.len(), 3);
    assert_eq!(visible_samples(&store).await.len(), 1);
    assert_eq!(store.metrics().metric_samples_dropped.get(), 1);
    store.shutdown().await.unwrap();
}

/// Seqs of the rows of `snapshot` whose trace id is `trace` (hex), as a query filters them.
async fn seqs_of_trace(store: &LogStore, snapshot: fluoro_store::LogSnapshot, trace: &str) -> Vec<u64> {
    use datafusion::prelude::{col, lit};
    let id: Vec<u8> = (0..16).map(|i| u8::from_str_radix(&trace[2 * i..2 * i + 2], 16).unwrap()).collect();
    let ctx = store.session_context();
    let df = ctx.read_table(Arc::new(LogTable::new(snapshot))).unwrap();
    let filter = col("trace_id").eq(lit(datafusion::scalar::ScalarValue::FixedSizeBinary(16, Some(id))));
    let batches = df.filter(filter).unwrap().collect().await.unwrap();
    sorted_seqs(&batches)
}

#[tokio::test]
async fn trace_ids_are_columns_and_files_are_found_by_bloom() {
    let dir = tempfile::tempdir().unwrap();
    let (store, g, s) = open_with_stream(config(dir.path()));
    let a = "5759e988bd862e3fe1be46a994272793";
    let b = "5759e988bd862e3fe1be46a994272794";
    let messages = [
        "no trace here".to_owned(),
        format!(r#"{{"traceId":"{a}","spanId":"53995c3f42cd8ad8","body":"hello"}}"#),
        "another plain line".to_owned(),
        format!(
            "REPORT RequestId: r\tXRAY TraceId: 1-{}-{}\tSegmentId: 1111222233334444\tSampled: true",
            &b[..8],
            &b[8..]
        ),
    ];
    let batch = PreparedBatch::new(g, s, NOW, vec![NOW; 4], messages.iter().map(|m| Some(m.as_str())).collect());
    store.append(batch).await.unwrap();
    // In memory: the columns are there at once.
    assert_eq!(seqs_of_trace(&store, store.snapshot(None, i64::MIN, i64::MAX), a).await, vec![1]);
    assert_eq!(seqs_of_trace(&store, store.snapshot(None, i64::MIN, i64::MAX), b).await, vec![3]);
    store.flush().await.unwrap();
    store.append(batch_plain(g, s)).await.unwrap();
    store.flush().await.unwrap();
    let files = store.catalog().read(|s| s.files.clone());
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].trace_rows, 2);
    assert!(files[0].trace_bloom_path.is_some());
    assert_eq!((files[1].trace_rows, files[1].trace_bloom_path.is_some()), (0, false));
    let id = |hex: &str| -> [u8; 16] {
        (0..16).map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap()).collect::<Vec<_>>().try_into().unwrap()
    };
    let found = store.trace_log_snapshot(&id(a), i64::MIN, i64::MAX).await;
    assert_eq!(found.files.len(), 1, "only the file with trace ids, and its Bloom filter holds a");
    assert_eq!(seqs_of_trace(&store, found, a).await, vec![1]);
    let absent = store.trace_log_snapshot(&id("00000000000000000000000000000001"), i64::MIN, i64::MAX).await;
    assert!(absent.files.is_empty());
    // The span column: the REPORT line's segment id.
    let ctx = store.session_context();
    let df = ctx.read_table(Arc::new(LogTable::new(store.snapshot(None, i64::MIN, i64::MAX)))).unwrap();
    let batches = df.filter(datafusion::prelude::col("span_id").is_not_null()).unwrap().collect().await.unwrap();
    let mut spans: Vec<u64> = batches
        .iter()
        .flat_map(|b| b.column_by_name("span_id").unwrap().as_primitive::<UInt64Type>().values().to_vec())
        .collect();
    spans.sort_unstable();
    assert_eq!(spans, vec![0x1111222233334444, 0x53995c3f42cd8ad8]);
    store.shutdown().await.unwrap();
    drop(store);
    // After a restart (replayed from the WAL or read from files) nothing changes.
    let (store, _, _) = reopen(config(dir.path()));
    assert_eq!(seqs_of_trace(&store, store.snapshot(None, i64::MIN, i64::MAX), b).await, vec![3]);
    store.shutdown().await.unwrap();
}

#[tokio::test]
async fn replayed_events_keep_their_trace_ids() {
    let dir = tempfile::tempdir().unwrap();
    let (store, g, s) = open_with_stream(config(dir.path()));
    let msg = "see 1-5759e988-bd862e3fe1be46a994272793 for details";
    store.append(PreparedBatch::new(g, s, NOW, vec![NOW], [Some(msg)].into_iter().collect())).await.unwrap();
    store.stop_writer().await; // no flush: the event is only in the WAL
    drop(store);
    let (store, _, _) = reopen(config(dir.path()));
    let snapshot = store.snapshot(None, i64::MIN, i64::MAX);
    assert!(snapshot.files.is_empty());
    assert_eq!(seqs_of_trace(&store, snapshot, "5759e988bd862e3fe1be46a994272793").await, vec![0]);
}

fn batch_plain(g: u64, s: u64) -> PreparedBatch {
    batch(g, s, &[NOW, NOW], "plain")
}

fn reopen(config: StoreConfig) -> (Arc<LogStore>, u64, u64) {
    let store = LogStore::open(config, Metrics::new()).unwrap();
    let g = store.catalog().group("/g").unwrap().id;
    let s = store.catalog().stream(g, "s").unwrap().id;
    (store, g, s)
}

/// Objects no catalog entry names (a flush cut short, files replaced just before a restart)
/// are deleted at start-up once older than the grace; named files and quarantine stay.
#[tokio::test]
async fn scrub_deletes_unnamed_objects_after_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.file_delete_grace = std::time::Duration::ZERO;
    let (store, g, s) = open_with_stream(config.clone());
    store.append(batch(g, s, &[NOW], "kept")).await.unwrap();
    store.flush().await.unwrap();
    store.shutdown().await.unwrap();
    drop(store);
    let objects = dir.path().join("objects");
    std::fs::write(objects.join("left-over.parquet"), b"half a flush").unwrap();
    std::fs::create_dir_all(objects.join("quarantine")).unwrap();
    std::fs::write(objects.join("quarantine/damaged.parquet"), b"evidence").unwrap();

    let store = LogStore::open(config.clone(), Metrics::new()).unwrap();
    assert_eq!(store.scrub().await, 0);
    assert!(!objects.join("left-over.parquet").exists());
    assert!(objects.join("quarantine/damaged.parquet").exists());
    assert_eq!(visible_seqs(&store).await.len(), 1);
    store.shutdown().await.unwrap();
    drop(store);

    // Within the grace, an unnamed object may be another writer's flush in progress: kept.
    std::fs::write(objects.join("in-flight.parquet"), b"being written").unwrap();
    config.file_delete_grace = std::time::Duration::from_secs(600);
    let store = LogStore::open(config, Metrics::new()).unwrap();
    store.scrub().await;
    assert!(objects.join("in-flight.parquet").exists());
    store.shutdown().await.unwrap();
}
