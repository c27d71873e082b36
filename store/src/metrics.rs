//! Self-observability: every internal metric fluoro exports, in one place, rendered as
//! Prometheus text at `GET /metrics`.

use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Handles to all metrics. Cheap to clone (each handle is an `Arc`). Counters are summed over
/// accounts; the gauges describe one account's store (label `account`, see `for_account`).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    gauges: [IntGaugeVec; 3],
    pub events_ingested: IntCounter,
    pub bytes_ingested: IntCounter,
    pub events_rejected: IntCounterVec,
    pub requests_throttled: IntCounter,
    pub wal_fsync_seconds: Histogram,
    pub wal_cut_bytes: IntCounter,
    pub flush_seconds: Histogram,
    pub flushed_bytes: IntCounter,
    pub compaction_seconds: Histogram,
    pub buffer_bytes: IntGauge,
    pub data_files: IntGauge,
    pub api_requests: IntCounterVec,
    pub api_errors: IntCounterVec,
    pub spans_ingested: IntCounter,
    pub samples_ingested: IntCounter,
    /// Datapoints metric filters and EMF produced but the store refused (events are kept).
    pub metric_samples_dropped: IntCounter,
    /// Invalid EMF documents, by `EMFParsingErrors` / `EMFValidationErrors`.
    pub emf_errors: IntCounterVec,
    pub otlp_points_rejected: IntCounter,
    /// Trace documents and spans refused, by source (`udp`, `api`, `otlp`) and reason.
    pub spans_rejected: IntCounterVec,
    pub udp_datagrams: IntCounter,
    pub rollup_minutes: IntCounter,
    pub rollup_dirty_minutes: IntGauge,
    /// Damaged data files and index sidecars moved to `quarantine/`, by kind.
    pub files_quarantined: IntCounterVec,
    /// AWS requests refused by SigV4 verification, by reason.
    pub auth_failures: IntCounterVec,
}

/// The account the gauges of `Metrics::new` describe (the default `account_id`).
const DEFAULT: &str = "000000000000";

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("fluoro".into()), None).expect("valid prefix");
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry.register(Box::new(c.clone())).expect("unique metric");
            c
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric");
            registry.register(Box::new(h.clone())).expect("unique metric");
            h
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), &["account"]).expect("valid metric");
            registry.register(Box::new(g.clone())).expect("unique metric");
            g
        };
        let gauges = [
            gauge("buffer_bytes", "Unflushed event bytes held in memory"),
            gauge("data_files", "Parquet data files in the catalog"),
            gauge("trace_rollup_dirty_minutes", "Service-map minutes waiting to be recomputed"),
        ];
        let [buffer_bytes, data_files, rollup_dirty_minutes] =
            gauges.each_ref().map(|g| g.with_label_values(&[DEFAULT]));
        let fast = vec![0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0];
        let slow = vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
        Self {
            events_ingested: counter("log_events_ingested_total", "Log events acknowledged"),
            bytes_ingested: counter("log_bytes_ingested_total", "Message bytes acknowledged"),
            events_rejected: counter_vec("log_events_rejected_total", "Log events refused, by reason", &["reason"]),
            requests_throttled: counter("requests_throttled_total", "Requests answered with ThrottlingException"),
            wal_fsync_seconds: histogram("wal_fsync_seconds", "WAL group-commit write and fsync latency", fast),
            wal_cut_bytes: counter("wal_cut_bytes_total", "Bytes of torn or corrupt WAL tails cut at recovery"),
            flush_seconds: histogram("flush_seconds", "Memtable to Parquet flush duration", slow.clone()),
            flushed_bytes: counter("flushed_bytes_total", "Parquet bytes written by flushes"),
            compaction_seconds: histogram("compaction_seconds", "Compaction run duration", slow),
            buffer_bytes,
            data_files,
            api_requests: counter_vec("api_requests_total", "AWS API requests, by operation", &["operation"]),
            api_errors: counter_vec(
                "api_errors_total",
                "AWS API errors, by operation and code",
                &["operation", "code"],
            ),
            spans_ingested: counter("trace_documents_ingested_total", "Trace documents (segments, spans) acknowledged"),
            samples_ingested: counter("metric_samples_ingested_total", "Metric samples acknowledged"),
            metric_samples_dropped: counter(
                "metric_samples_dropped_total",
                "Datapoints from metric filters and EMF the store refused",
            ),
            otlp_points_rejected: counter("otlp_metric_points_rejected_total", "OTLP metric data points refused"),
            emf_errors: counter_vec("emf_errors_total", "Invalid Embedded Metric Format documents", &["kind"]),
            spans_rejected: counter_vec(
                "trace_documents_rejected_total",
                "Trace documents and spans refused, by source and reason",
                &["source", "reason"],
            ),
            udp_datagrams: counter("xray_udp_datagrams_total", "Datagrams received on the X-Ray daemon port"),
            rollup_minutes: counter("trace_rollup_minutes_total", "Service-map minutes recomputed by the roller"),
            rollup_dirty_minutes,
            files_quarantined: counter_vec(
                "files_quarantined_total",
                "Damaged files moved to quarantine/, by kind (logs, traces, metrics, index)",
                &["kind"],
            ),
            auth_failures: counter_vec(
                "auth_failures_total",
                "AWS requests refused by signature verification, by reason",
                &["reason"],
            ),
            registry,
            gauges,
        }
    }

    /// The same metrics, with the gauges of `account`'s store (each account has its own).
    pub fn for_account(&self, account: &str) -> Self {
        let [buffer_bytes, data_files, rollup_dirty_minutes] =
            self.gauges.each_ref().map(|g| g.with_label_values(&[account]));
        Self { buffer_bytes, data_files, rollup_dirty_minutes, ..self.clone() }
    }

    /// Drops the gauges of `account` (the default account's, when another one is the default).
    pub fn forget_account(&self, account: &str) {
        for gauge in &self.gauges {
            let _ = gauge.remove_label_values(&[account]);
        }
    }

    /// Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut out).expect("text encoding");
        String::from_utf8(out).expect("prometheus text is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
