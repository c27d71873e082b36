//! Settings of `fluoro serve`: command line, `FLUORO_*` environment variables and an optional
//! TOML file, resolved once (flag or env > file > default) into a validated `Settings`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;

/// Flags of `fluoro serve`; each also reads `FLUORO_<NAME>` from the environment.
#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// TOML configuration file (keys as the long flags, with underscores).
    #[arg(long, env = "FLUORO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory for the WAL, the catalog and data files [default: ./fluoro-data].
    #[arg(long, env = "FLUORO_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep the data files in this S3 (or S3-compatible) bucket instead of `<data_dir>/objects`;
    /// the WAL and the catalog stay in the data directory.
    #[arg(long, env = "FLUORO_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    /// Key prefix in the bucket [default: none].
    #[arg(long, env = "FLUORO_S3_PREFIX")]
    pub s3_prefix: Option<String>,
    /// An S3-compatible server's URL (MinIO, Ceph, …) [default: AWS's for the region].
    #[arg(long, env = "FLUORO_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// The bucket's region [default: the region setting].
    #[arg(long, env = "FLUORO_S3_REGION")]
    pub s3_region: Option<String>,
    /// AWS APIs, native API and web UI [default: 127.0.0.1:4566].
    #[arg(long, env = "FLUORO_HTTP_ADDR")]
    pub http_addr: Option<SocketAddr>,
    /// OTLP over gRPC [default: 127.0.0.1:4317].
    #[arg(long, env = "FLUORO_OTLP_GRPC_ADDR")]
    pub otlp_grpc_addr: Option<SocketAddr>,
    /// OTLP over HTTP [default: 127.0.0.1:4318].
    #[arg(long, env = "FLUORO_OTLP_HTTP_ADDR")]
    pub otlp_http_addr: Option<SocketAddr>,
    /// X-Ray daemon protocol, UDP segments and TCP sampling proxy [default: 127.0.0.1:2000].
    #[arg(long, env = "FLUORO_XRAY_ADDR")]
    pub xray_addr: Option<SocketAddr>,
    /// Account id used in ARNs [default: 000000000000].
    #[arg(long, env = "FLUORO_ACCOUNT_ID")]
    pub account_id: Option<String>,
    /// Region used in ARNs when a request is unsigned [default: us-east-1].
    #[arg(long, env = "FLUORO_REGION")]
    pub region: Option<String>,
    /// fsync the WAL before acknowledging [default: true].
    #[arg(long, env = "FLUORO_WAL_SYNC")]
    pub wal_sync: Option<bool>,
    /// Flush the memtable to Parquet at this many bytes [default: 67108864].
    #[arg(long, env = "FLUORO_FLUSH_BYTES")]
    pub flush_bytes: Option<usize>,
    /// ...or after this many seconds [default: 30].
    #[arg(long, env = "FLUORO_FLUSH_INTERVAL_SECS")]
    pub flush_interval_secs: Option<u64>,
    /// Unflushed bytes above which ingest answers ThrottlingException [default: 536870912].
    #[arg(long, env = "FLUORO_MAX_BUFFER_BYTES")]
    pub max_buffer_bytes: Option<usize>,
    /// Largest HTTP request body accepted [default: 8388608].
    #[arg(long, env = "FLUORO_MAX_REQUEST_BYTES")]
    pub max_request_bytes: Option<usize>,
    /// Seconds between retention/compaction passes [default: 60].
    #[arg(long, env = "FLUORO_MAINTENANCE_INTERVAL_SECS")]
    pub maintenance_interval_secs: Option<u64>,
    /// Seconds replaced data files stay for queries in flight before they are deleted
    /// [default: 120].
    #[arg(long, env = "FLUORO_FILE_DELETE_GRACE_SECS")]
    pub file_delete_grace_secs: Option<u64>,
    /// Insights/SQL queries executing at once; more wait as Scheduled [default: 4].
    #[arg(long, env = "FLUORO_QUERY_CONCURRENCY")]
    pub query_concurrency: Option<usize>,
    /// Seconds a query may run before it ends as Timeout [default: 3600].
    #[arg(long, env = "FLUORO_QUERY_TIMEOUT_SECS")]
    pub query_timeout_secs: Option<u64>,
    /// Days trace documents are kept [default: 30].
    #[arg(long, env = "FLUORO_TRACE_RETENTION_DAYS")]
    pub trace_retention_days: Option<u32>,
    /// Longest GetTraceSummaries time range, seconds [default: 86400].
    #[arg(long, env = "FLUORO_TRACE_MAX_SUMMARY_RANGE_SECS")]
    pub trace_max_summary_range_secs: Option<u64>,
    /// Export fluoro's own traces over OTLP/gRPC to this endpoint (e.g. http://127.0.0.1:4317);
    /// off when unset.
    #[arg(long, env = "FLUORO_SELF_TRACE_ENDPOINT")]
    pub self_trace_endpoint: Option<String>,
    /// Documents one trace may hold [default: 10000].
    #[arg(long, env = "FLUORO_TRACE_MAX_DOCUMENTS")]
    pub trace_max_documents: Option<u32>,
    /// Bytes of documents one trace may hold [default: 8388608].
    #[arg(long, env = "FLUORO_TRACE_MAX_BYTES")]
    pub trace_max_bytes: Option<u64>,
    /// Seconds without new documents before a service-map minute is rolled up [default: 60].
    #[arg(long, env = "FLUORO_TRACE_SETTLE_SECS")]
    pub trace_settle_secs: Option<u64>,
    /// Largest segment document accepted, bytes [default: 65536].
    #[arg(long, env = "FLUORO_TRACE_MAX_DOCUMENT_BYTES")]
    pub trace_max_document_bytes: Option<usize>,
    /// Metric series (namespace, name, dimension set) stored before new ones are refused
    /// [default: 1000000].
    #[arg(long, env = "FLUORO_METRICS_MAX_SERIES")]
    pub metrics_max_series: Option<usize>,
    /// Let PutMetricData write into `AWS/` namespaces [default: false].
    #[arg(long, env = "FLUORO_METRICS_ALLOW_AWS_NAMESPACES")]
    pub metrics_allow_aws_namespaces: Option<bool>,
    /// Days raw metric samples are kept before they become 5-minute and 1-hour rollups
    /// [default: 15].
    #[arg(long, env = "FLUORO_METRICS_RETENTION_MINUTE_DAYS")]
    pub metrics_retention_minute_days: Option<u32>,
    /// Days 5-minute rollups are kept [default: 63].
    #[arg(long, env = "FLUORO_METRICS_RETENTION_FIVE_MINUTE_DAYS")]
    pub metrics_retention_five_minute_days: Option<u32>,
    /// Days 1-hour rollups are kept [default: 455].
    #[arg(long, env = "FLUORO_METRICS_RETENTION_HOUR_DAYS")]
    pub metrics_retention_hour_days: Option<u32>,
    /// Memory all running queries may hold together for sorts, aggregations and joins; a query
    /// needing more fails with "Resources exhausted" [default: 1073741824].
    #[arg(long, env = "FLUORO_QUERY_MEMORY_BYTES")]
    pub query_memory_bytes: Option<usize>,
    /// PEM certificate chain: serve HTTPS on the HTTP and OTLP/HTTP ports and TLS on OTLP/gRPC
    /// (with --tls-key). The X-Ray daemon port stays plain, as the X-Ray SDKs expect.
    #[arg(long, env = "FLUORO_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, env = "FLUORO_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Connections served at once per TCP listener [default: 1024].
    #[arg(long, env = "FLUORO_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a client has for the TLS handshake and for each request's headers [default: 30].
    #[arg(long, env = "FLUORO_HEADER_TIMEOUT_SECS")]
    pub header_timeout_secs: Option<u64>,
    /// Seconds a request body may stall between reads [default: 60].
    #[arg(long, env = "FLUORO_BODY_TIMEOUT_SECS")]
    pub body_timeout_secs: Option<u64>,
    /// Seconds a connection may sit with no request and no traffic before it is closed
    /// [default: 120].
    #[arg(long, env = "FLUORO_IDLE_TIMEOUT_SECS")]
    pub idle_timeout_secs: Option<u64>,
    /// An access key `[ACCOUNT/]ID:SECRET` (repeatable; the environment variable takes a
    /// comma-separated list). With any set, every AWS request must carry a valid SigV4
    /// signature by one of them, OTLP requests and the native API its credentials, and each
    /// key acts in its 12-digit ACCOUNT (default: --account-id), an isolated tenant; with none,
    /// requests are not checked and everything is the default account's.
    #[arg(long = "access-key", env = "FLUORO_ACCESS_KEYS", value_delimiter = ',', hide_env_values = true)]
    pub access_keys: Vec<String>,
    /// The shared PostgreSQL metastore of a multi-node deployment
    /// (`postgres://user:password@host:port/database`): the catalog lives there instead of in
    /// the data directory, and the data files must be in a bucket (--s3-bucket). Needed by
    /// `fluoro collector` and `fluoro query`.
    #[arg(long, env = "FLUORO_METASTORE", hide_env_values = true)]
    pub metastore: Option<String>,
    /// This node's name in the metastore, stable across restarts [default: a random id kept in
    /// `<data_dir>/node-id`].
    #[arg(long, env = "FLUORO_NODE_ID")]
    pub node_id: Option<String>,
    /// Milliseconds between a node's catch-ups with the metastore [default: 500].
    #[arg(long, env = "FLUORO_CATALOG_REFRESH_MS")]
    pub catalog_refresh_ms: Option<u64>,
    /// A Ballista scheduler (`df://host:port`, started with `fluoro ballista-scheduler`) that
    /// runs large Insights and SQL queries on its executors; needs the data files in a bucket.
    #[arg(long, env = "FLUORO_BALLISTA")]
    pub ballista: Option<String>,
    /// Queries whose data files hold at least this many bytes go to the Ballista scheduler
    /// [default: 268435456].
    #[arg(long, env = "FLUORO_BALLISTA_MIN_BYTES")]
    pub ballista_min_bytes: Option<u64>,
}

/// Flags of `fluoro ballista-scheduler` and `fluoro ballista-executor`: the bucket (as for
/// `fluoro serve`, from the flags or the `[s3]` table of the same TOML file) and the memory.
#[derive(Debug, Args, Default)]
pub struct WorkerArgs {
    /// TOML configuration file: its `[s3]` table and `query_memory_bytes` are read.
    #[arg(long, env = "FLUORO_CONFIG")]
    pub config: Option<PathBuf>,
    #[arg(long, env = "FLUORO_S3_BUCKET")]
    pub s3_bucket: Option<String>,
    #[arg(long, env = "FLUORO_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    #[arg(long, env = "FLUORO_S3_REGION")]
    pub s3_region: Option<String>,
    /// Memory the running tasks may hold for sorts, aggregations and joins [default: 1 GiB].
    #[arg(long, env = "FLUORO_QUERY_MEMORY_BYTES")]
    pub query_memory_bytes: Option<usize>,
}

/// What a Ballista worker reads and may hold.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    pub s3: fluoro_store::S3Objects,
    pub memory_bytes: usize,
}

impl WorkerArgs {
    pub fn resolve(self) -> anyhow::Result<WorkerSettings> {
        let file = read_file(self.config.as_deref())?;
        let region = file.region.clone().unwrap_or_else(|| "us-east-1".into());
        let s3 =
            s3_objects(file.s3.unwrap_or_default(), self.s3_bucket, None, self.s3_endpoint, self.s3_region, &region)?
                .context("a Ballista worker reads the data files from a bucket: set --s3-bucket")?;
        let memory_bytes = self.query_memory_bytes.or(file.query_memory_bytes).unwrap_or(1 << 30).max(1 << 20);
        Ok(WorkerSettings { s3, memory_bytes })
    }
}

fn read_file(path: Option<&std::path::Path>) -> anyhow::Result<FileConfig> {
    match path {
        None => Ok(FileConfig::default()),
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))
        }
    }
}

/// The bucket from the flags (first) and the `[s3]` table; `None` without a bucket.
fn s3_objects(
    file: S3File,
    bucket: Option<String>,
    prefix: Option<String>,
    endpoint: Option<String>,
    bucket_region: Option<String>,
    region: &str,
) -> anyhow::Result<Option<fluoro_store::S3Objects>> {
    let Some(bucket) = bucket.or(file.bucket) else { return Ok(None) };
    let (access_key_id, secret_access_key) = (file.access_key_id, file.secret_access_key);
    if access_key_id.is_some() != secret_access_key.is_some() {
        bail!("s3.access_key_id and s3.secret_access_key go together");
    }
    Ok(Some(fluoro_store::S3Objects {
        bucket,
        prefix: prefix.or(file.prefix).unwrap_or_default().trim_matches('/').to_owned(),
        endpoint: endpoint.or(file.endpoint),
        region: bucket_region.or(file.region).unwrap_or_else(|| region.to_owned()),
        access_key_id,
        secret_access_key,
    }))
}

/// What a process does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `fluoro serve`: everything.
    All,
    /// `fluoro collector`: ingest, WAL and flushes (and the AWS APIs on its HTTP port).
    Collector,
    /// `fluoro query`: the read APIs and the UI; ingest is refused.
    Query,
}

/// A node of a multi-node deployment.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub metastore_url: String,
    pub node_id: String,
    pub refresh: Duration,
}

/// The TOML file: the same keys as the flags.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    http_addr: Option<SocketAddr>,
    otlp_grpc_addr: Option<SocketAddr>,
    otlp_http_addr: Option<SocketAddr>,
    xray_addr: Option<SocketAddr>,
    account_id: Option<String>,
    region: Option<String>,
    wal_sync: Option<bool>,
    flush_bytes: Option<usize>,
    flush_interval_secs: Option<u64>,
    max_buffer_bytes: Option<usize>,
    max_request_bytes: Option<usize>,
    maintenance_interval_secs: Option<u64>,
    file_delete_grace_secs: Option<u64>,
    query_concurrency: Option<usize>,
    query_timeout_secs: Option<u64>,
    trace_retention_days: Option<u32>,
    trace_max_summary_range_secs: Option<u64>,
    trace_max_document_bytes: Option<usize>,
    trace_settle_secs: Option<u64>,
    self_trace_endpoint: Option<String>,
    trace_max_documents: Option<u32>,
    trace_max_bytes: Option<u64>,
    metrics_max_series: Option<usize>,
    metrics_allow_aws_namespaces: Option<bool>,
    metrics_retention_minute_days: Option<u32>,
    metrics_retention_five_minute_days: Option<u32>,
    metrics_retention_hour_days: Option<u32>,
    query_memory_bytes: Option<usize>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    max_connections: Option<usize>,
    header_timeout_secs: Option<u64>,
    body_timeout_secs: Option<u64>,
    idle_timeout_secs: Option<u64>,
    metastore: Option<String>,
    node_id: Option<String>,
    catalog_refresh_ms: Option<u64>,
    ballista: Option<String>,
    ballista_min_bytes: Option<u64>,
    /// `[[access_keys]]` with `id` and `secret`.
    #[serde(default)]
    access_keys: Vec<AccessKeyFile>,
    #[serde(default)]
    alarms: AlarmsFile,
    /// `[s3]`: the bucket the data files live in.
    s3: Option<S3File>,
    /// `[[notify]]`: where alarm actions are delivered.
    #[serde(default)]
    notify: Vec<fluoro_query::alarms::notify::NotifyTarget>,
}

/// The `[s3]` table: the flags' settings, and static credentials (else the `AWS_*`
/// environment variables apply).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct S3File {
    bucket: Option<String>,
    prefix: Option<String>,
    endpoint: Option<String>,
    region: Option<String>,
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
}

/// The `[alarms]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct AlarmsFile {
    min_period_seconds: Option<i64>,
    evaluation_delay_seconds: Option<i64>,
    max_alarms: Option<usize>,
    history_retention_days: Option<u64>,
    retry_initial_ms: Option<u64>,
    retry_max_ms: Option<u64>,
    give_up_after_secs: Option<u64>,
    delivery_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub http_addr: SocketAddr,
    pub otlp_grpc_addr: SocketAddr,
    pub otlp_http_addr: SocketAddr,
    pub xray_addr: SocketAddr,
    pub account_id: String,
    pub region: String,
    pub max_request_bytes: usize,
    pub store: fluoro_store::StoreConfig,
    pub queries: fluoro_query::cw_logs::QueryLimits,
    pub traces: fluoro_collector::xray::TraceLimits,
    pub trace_max_summary_range_secs: f64,
    pub trace_settle: Duration,
    pub self_trace_endpoint: Option<String>,
    pub metrics: fluoro_proto::metrics::put::PutRules,
    pub alarms: fluoro_query::alarms::AlarmSettings,
    pub connections: crate::serve::ConnectionLimits,
    /// (certificate chain, private key) PEM files.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Keys whose SigV4 signatures the AWS APIs accept; empty: no verification.
    pub access_keys: Vec<fluoro_proto::sigv4::AccessKey>,
    pub role: Role,
    /// Set when the catalog is in a shared metastore.
    pub cluster: Option<Cluster>,
    /// Set when large queries run on a Ballista cluster.
    pub ballista: Option<fluoro_query::distributed::Cluster>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessKeyFile {
    id: String,
    secret: String,
    /// The key's account [default: `account_id`].
    account: Option<String>,
}

impl ServeArgs {
    pub fn resolve(self, role: Role) -> anyhow::Result<Settings> {
        let file = read_file(self.config.as_deref())?;
        let addr = |s: &str| s.parse::<SocketAddr>().expect("valid default address");
        let data_dir = self.data_dir.or(file.data_dir).unwrap_or_else(|| PathBuf::from("fluoro-data"));
        let mut store = fluoro_store::StoreConfig::new(data_dir);
        if let Some(sync) = self.wal_sync.or(file.wal_sync) {
            store.wal_sync = sync;
        }
        if let Some(bytes) = self.flush_bytes.or(file.flush_bytes) {
            store.flush_bytes = bytes;
        }
        let metastore_url = self.metastore.or(file.metastore).filter(|url| !url.is_empty());
        match self.flush_interval_secs.or(file.flush_interval_secs) {
            Some(secs) => store.flush_interval = Duration::from_secs(secs),
            // Query nodes see data once it is flushed: a short interval keeps it fresh.
            None if metastore_url.is_some() => store.flush_interval = Duration::from_secs(2),
            None => {}
        }
        if let Some(bytes) = self.max_buffer_bytes.or(file.max_buffer_bytes) {
            store.max_buffer_bytes = bytes;
        }
        if let Some(bytes) = self.query_memory_bytes.or(file.query_memory_bytes) {
            store.query_memory_bytes = bytes.max(1 << 20);
        }
        if let Some(secs) = self.maintenance_interval_secs.or(file.maintenance_interval_secs) {
            store.maintenance_interval = Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = self.file_delete_grace_secs.or(file.file_delete_grace_secs) {
            store.file_delete_grace = Duration::from_secs(secs);
        }
        let retention_days = self.trace_retention_days.or(file.trace_retention_days).unwrap_or(30);
        if retention_days == 0 {
            bail!("trace_retention_days must be at least 1");
        }
        store.trace_retention_days = retention_days;
        store.max_series = self.metrics_max_series.or(file.metrics_max_series).unwrap_or(1_000_000).max(1);
        let days = |d: u32| Duration::from_secs(u64::from(d) * 86_400);
        let minute = self.metrics_retention_minute_days.or(file.metrics_retention_minute_days).unwrap_or(15);
        let five = self.metrics_retention_five_minute_days.or(file.metrics_retention_five_minute_days).unwrap_or(63);
        let hour = self.metrics_retention_hour_days.or(file.metrics_retention_hour_days).unwrap_or(455);
        if !(minute >= 1 && minute <= five && five <= hour) {
            bail!("metric retention days must satisfy 1 <= minute <= five_minute <= hour");
        }
        (store.metrics_raw_horizon, store.metrics_five_minute_horizon, store.metrics_hour_horizon) =
            (days(minute), days(five), days(hour));
        let traces = fluoro_collector::xray::TraceLimits {
            max_document_bytes: self.trace_max_document_bytes.or(file.trace_max_document_bytes).unwrap_or(65_536),
            retention_days,
            max_trace_documents: self.trace_max_documents.or(file.trace_max_documents).unwrap_or(10_000).max(1),
            max_trace_bytes: self.trace_max_bytes.or(file.trace_max_bytes).unwrap_or(8 << 20).max(1),
        };
        if store.max_buffer_bytes < 2 << 20 {
            bail!("max_buffer_bytes must be at least 2 MiB (one PutLogEvents batch is up to 1 MiB)");
        }
        let account_id = self.account_id.or(file.account_id).unwrap_or_else(|| "000000000000".into());
        check_account_id(&account_id)?;
        let region = self.region.or(file.region).unwrap_or_else(|| "us-east-1".into());
        let s3 = file.s3.unwrap_or_default();
        if let Some(s3) = s3_objects(s3, self.s3_bucket, self.s3_prefix, self.s3_endpoint, self.s3_region, &region)? {
            store.objects = fluoro_store::Objects::S3(s3);
        }
        let ballista = match self.ballista.or(file.ballista).filter(|url| !url.is_empty()) {
            None => None,
            Some(_) if store.objects == fluoro_store::Objects::Local => {
                bail!("distributed queries read the data files from a bucket: set --s3-bucket with --ballista")
            }
            Some(scheduler) => {
                if !scheduler.starts_with("df://") {
                    bail!("--ballista is the scheduler's df://host:port, got {scheduler:?}");
                }
                let min_bytes = self.ballista_min_bytes.or(file.ballista_min_bytes).unwrap_or(256 << 20);
                Some(fluoro_query::distributed::Cluster { scheduler, min_bytes })
            }
        };
        let cluster = match metastore_url {
            None if role != Role::All => bail!("fluoro collector and fluoro query need --metastore"),
            None => None,
            Some(_) if store.objects == fluoro_store::Objects::Local => {
                bail!("a metastore needs data files every node reaches: set --s3-bucket")
            }
            Some(metastore_url) => {
                let node_id = match self.node_id.or(file.node_id) {
                    Some(node_id) => node_id,
                    None => node_id(&store.data_dir)?,
                };
                if node_id.is_empty() || node_id.contains('/') {
                    bail!("a node id is not empty and has no '/', got {node_id:?}");
                }
                let refresh_ms = self.catalog_refresh_ms.or(file.catalog_refresh_ms).unwrap_or(500).max(10);
                Some(Cluster { metastore_url, node_id, refresh: Duration::from_millis(refresh_ms) })
            }
        };
        store.accept_writes = role != Role::Query;
        let mut alarms = fluoro_query::alarms::AlarmSettings::new(account_id.clone(), region.clone());
        let table = &file.alarms;
        if let Some(min) = table.min_period_seconds {
            if !matches!(min, 1 | 5 | 10) {
                bail!("alarms.min_period_seconds must be 1, 5 or 10");
            }
            alarms.min_period_s = min;
        }
        alarms.evaluation_delay_s = table.evaluation_delay_seconds.unwrap_or(0).max(0);
        alarms.max_alarms = table.max_alarms.unwrap_or(alarms.max_alarms).max(1);
        if let Some(days) = table.history_retention_days {
            alarms.history_retention = Duration::from_secs(days.max(1) * 86_400);
        }
        if let Some(ms) = table.retry_initial_ms {
            alarms.retry_initial = Duration::from_millis(ms.max(1));
        }
        if let Some(ms) = table.retry_max_ms {
            alarms.retry_max = Duration::from_millis(ms.max(1));
        }
        if let Some(secs) = table.give_up_after_secs {
            alarms.give_up_after = Duration::from_secs(secs.max(1));
        }
        if let Some(secs) = table.delivery_timeout_secs {
            alarms.delivery_timeout = Duration::from_secs(secs.max(1));
        }
        for target in &file.notify {
            target.check().map_err(anyhow::Error::msg)?;
        }
        alarms.targets = file.notify;
        let tls = match (self.tls_cert.or(file.tls_cert), self.tls_key.or(file.tls_key)) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => bail!("tls_cert and tls_key go together"),
        };
        let mut access_keys = Vec::new();
        for flag in &self.access_keys {
            let (id, secret) = flag.split_once(':').with_context(
                || "--access-key takes [ACCOUNT/]ID:SECRET (FLUORO_ACCESS_KEYS: a comma-separated list)",
            )?;
            // Key ids have no `/`, so one before the first `:` ends the account.
            let (account, id) = match id.split_once('/') {
                Some((account, id)) => (account.to_owned(), id),
                None => (account_id.clone(), id),
            };
            access_keys.push(fluoro_proto::sigv4::AccessKey {
                id: id.into(),
                secret: secret.into(),
                account_id: account,
            });
        }
        access_keys.extend(file.access_keys.into_iter().map(|k| fluoro_proto::sigv4::AccessKey {
            id: k.id,
            secret: k.secret,
            account_id: k.account.unwrap_or_else(|| account_id.clone()),
        }));
        for key in &access_keys {
            if key.id.is_empty() || key.secret.is_empty() {
                bail!("an access key needs an id and a secret");
            }
            check_account_id(&key.account_id).with_context(|| format!("access key {}", key.id))?;
            if access_keys.iter().filter(|k| k.id == key.id).count() > 1 {
                bail!("access key {} is configured twice", key.id);
            }
            // Guesses are not rate-limited: a secret's length is its defence.
            if key.secret.len() < MIN_SECRET_CHARS {
                tracing::warn!(
                    access_key_id = key.id,
                    "the secret is shorter than {MIN_SECRET_CHARS} characters; use a long random one (AWS's have 40)"
                );
            }
        }
        let defaults = crate::serve::ConnectionLimits::default();
        let secs = |flag: Option<u64>, file: Option<u64>, default: Duration| {
            flag.or(file).map(|s| Duration::from_secs(s.max(1))).unwrap_or(default)
        };
        let connections = crate::serve::ConnectionLimits {
            max_connections: self.max_connections.or(file.max_connections).unwrap_or(defaults.max_connections).max(1),
            header_timeout: secs(self.header_timeout_secs, file.header_timeout_secs, defaults.header_timeout),
            body_timeout: secs(self.body_timeout_secs, file.body_timeout_secs, defaults.body_timeout),
            idle_timeout: secs(self.idle_timeout_secs, file.idle_timeout_secs, defaults.idle_timeout),
        };
        Ok(Settings {
            http_addr: self.http_addr.or(file.http_addr).unwrap_or_else(|| addr("127.0.0.1:4566")),
            otlp_grpc_addr: self.otlp_grpc_addr.or(file.otlp_grpc_addr).unwrap_or_else(|| addr("127.0.0.1:4317")),
            otlp_http_addr: self.otlp_http_addr.or(file.otlp_http_addr).unwrap_or_else(|| addr("127.0.0.1:4318")),
            xray_addr: self.xray_addr.or(file.xray_addr).unwrap_or_else(|| addr("127.0.0.1:2000")),
            account_id,
            region,
            max_request_bytes: self.max_request_bytes.or(file.max_request_bytes).unwrap_or(8 << 20),
            store,
            queries: fluoro_query::cw_logs::QueryLimits {
                concurrency: self.query_concurrency.or(file.query_concurrency).unwrap_or(4).max(1),
                timeout: Duration::from_secs(
                    self.query_timeout_secs.or(file.query_timeout_secs).unwrap_or(3600).max(1),
                ),
            },
            traces,
            trace_max_summary_range_secs: self
                .trace_max_summary_range_secs
                .or(file.trace_max_summary_range_secs)
                .unwrap_or(86_400)
                .max(1) as f64,
            trace_settle: Duration::from_secs(self.trace_settle_secs.or(file.trace_settle_secs).unwrap_or(60)),
            self_trace_endpoint: self.self_trace_endpoint.or(file.self_trace_endpoint).filter(|e| !e.is_empty()),
            metrics: fluoro_proto::metrics::put::PutRules {
                allow_aws_namespaces: self
                    .metrics_allow_aws_namespaces
                    .or(file.metrics_allow_aws_namespaces)
                    .unwrap_or(false),
            },
            alarms,
            connections,
            tls,
            access_keys,
            role,
            cluster,
            ballista,
        })
    }
}

/// The node id kept in `<data_dir>/node-id`, made up on first use.
fn node_id(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("node-id");
    match std::fs::read_to_string(&path) {
        Ok(id) => Ok(id.trim().to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
            let id = uuid::Uuid::new_v4().simple().to_string();
            std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
            Ok(id)
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", path.display())),
    }
}

/// Secrets shorter than this draw a start-up warning.
const MIN_SECRET_CHARS: usize = 16;

fn check_account_id(account_id: &str) -> anyhow::Result<()> {
    if account_id.len() != 12 || !account_id.bytes().all(|b| b.is_ascii_digit()) {
        bail!("an account id is 12 digits, got {account_id:?}");
    }
    Ok(())
}

impl Settings {
    /// Every account: the default one first, then those the access keys name.
    pub fn accounts(&self) -> Vec<String> {
        let mut accounts = vec![self.account_id.clone()];
        for key in &self.access_keys {
            if !accounts.contains(&key.account_id) {
                accounts.push(key.account_id.clone());
            }
        }
        accounts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_defaults_apply() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fluoro.toml");
        std::fs::write(&path, "data_dir = \"/tmp/x\"\nregion = \"eu-west-1\"\nflush_bytes = 1024\n").unwrap();
        let args = ServeArgs { config: Some(path.clone()), region: Some("ap-south-1".into()), ..Default::default() };
        let s = args.resolve(Role::All).unwrap();
        assert_eq!(s.region, "ap-south-1");
        assert_eq!(s.store.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(s.store.flush_bytes, 1024);
        assert_eq!(s.http_addr.port(), 4566);
        std::fs::write(&path, "bogus = 1\n").unwrap();
        assert!(ServeArgs { config: Some(path), ..Default::default() }.resolve(Role::All).is_err());
    }

    #[test]
    fn every_listener_defaults_to_loopback() {
        let s = ServeArgs::default().resolve(Role::All).unwrap();
        for addr in [s.http_addr, s.otlp_grpc_addr, s.otlp_http_addr, s.xray_addr] {
            assert!(addr.ip().is_loopback(), "{addr}");
        }
        assert!(s.access_keys.is_empty() && s.tls.is_none());
    }

    #[test]
    fn access_keys_come_from_flags_and_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fluoro.toml");
        let file = "[[access_keys]]\nid = \"AKIDFILE\"\nsecret = \"s:1\"\n\
                    [[access_keys]]\nid = \"AKIDOTHER\"\nsecret = \"x\"\naccount = \"222222222222\"\n";
        std::fs::write(&path, file).unwrap();
        let flags = vec!["AKIDFLAG:a:b".into(), "111111111111/AKIDTENANT:c/d".into()];
        let args = ServeArgs { config: Some(path), access_keys: flags, ..Default::default() };
        let settings = args.resolve(Role::All).unwrap();
        assert_eq!(
            settings.access_keys.iter().map(|k| (&*k.id, &*k.secret, &*k.account_id)).collect::<Vec<_>>(),
            [
                ("AKIDFLAG", "a:b", "000000000000"),
                ("AKIDTENANT", "c/d", "111111111111"),
                ("AKIDFILE", "s:1", "000000000000"),
                ("AKIDOTHER", "x", "222222222222"),
            ]
        );
        assert_eq!(settings.accounts(), ["000000000000", "111111111111", "222222222222"]);
        for bad in [&["no-secret"][..], &["12/AKID:s"], &["AKID:a", "AKID:b"]] {
            let args = ServeArgs { access_keys: bad.iter().map(|s| s.to_string()).collect(), ..Default::default() };
            assert!(args.resolve(Role::All).is_err(), "{bad:?}");
        }
    }
}
