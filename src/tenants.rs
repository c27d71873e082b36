//! Accounts as isolated tenants. Each account has a whole stack of its own: a store (WAL,
//! catalog, Parquet files, index) in its own directory, and the write and read APIs, alarms
//! and background tasks over that store. Nothing is shared between accounts but the process,
//! the listeners and the `/metrics` registry, so no query, however written, can reach another
//! account's data: the front door (`crate::auth`, `crate::http`) picks the tenant from the
//! caller's credentials, and a tenant's code only ever holds its own store.
//!
//! The default account (`account_id`) lives at the data directory's root, where a single-account
//! fluoro has always kept its data; every other account lives under `accounts/<id>/`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use fluoro_collector::cw_logs::LogsWriteApi;
use fluoro_collector::xray::TracesWriteApi;
use fluoro_proto::logs::{Clock, system_clock};
use fluoro_query::cw_logs::LogsReadApi;
use fluoro_store::{LogStore, Metrics};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Settings;
use crate::http::AppState;

/// One account's stack.
pub struct Tenant {
    pub account_id: String,
    pub store: Arc<LogStore>,
    /// The AWS APIs (CloudWatch Logs, CloudWatch, X-Ray).
    pub state: Arc<AppState>,
    /// The native `/api/` routes behind the UI (the caller is checked before them).
    pub native: Router,
    /// OTLP/HTTP ingest, with a 404 for other paths.
    pub otlp_http: Router,
    /// OTLP/gRPC ingest.
    pub otlp_grpc: Router,
    alarms: Arc<fluoro_query::alarms::Alarms>,
    settle: std::time::Duration,
    /// Set in a multi-node deployment: how often to catch up with the metastore.
    refresh: Option<std::time::Duration>,
}

/// Where an account's store lives.
pub fn data_dir(settings: &Settings, account_id: &str) -> PathBuf {
    let root = &settings.store.data_dir;
    if account_id == settings.account_id { root.clone() } else { root.join("accounts").join(account_id) }
}

impl Tenant {
    /// Opens the account's store (replaying its WAL, setting damaged files aside) and builds
    /// its APIs.
    pub async fn open(
        settings: &Settings,
        account_id: &str,
        metrics: &Metrics,
        clock: Clock,
        metastore: Option<&Arc<fluoro_store::Metastore>>,
    ) -> anyhow::Result<Self> {
        let metrics = metrics.for_account(account_id);
        let mut store_config = settings.store.clone();
        if let (Some(metastore), Some(cluster)) = (metastore, &settings.cluster) {
            store_config.shared_catalog = Some(fluoro_store::SharedCatalog {
                metastore: metastore.clone(),
                account: account_id.to_owned(),
                node: cluster.node_id.clone(),
            });
        }
        store_config.data_dir = data_dir(settings, account_id);
        if account_id != settings.account_id {
            store_config.objects = settings.store.objects.under(&format!("accounts/{account_id}"));
        }
        let store = LogStore::open(store_config, metrics.clone()).with_context(|| {
            format!("opening account {account_id}'s store in {}", data_dir(settings, account_id).display())
        })?;
        // An unreachable bucket stops start-up rather than every flush.
        store
            .check_objects()
            .await
            .with_context(|| format!("reaching account {account_id}'s data files ({:?})", store.config().objects))?;
        // Truncated or missing data files (a crash, a full disk, a hand) are set aside before
        // the first query; damage inside a file is found when a read fails (store::quarantine).
        let quarantined = store.scrub().await;
        if quarantined > 0 {
            tracing::error!(account_id, quarantined, "damaged data files moved to quarantine/ at start-up");
        }
        let metrics_read = || fluoro_query::cw_metrics::MetricsReadApi::new(store.clone(), account_id.to_owned());
        let traces_write = Arc::new(TracesWriteApi::new(
            store.clone(),
            clock.clone(),
            settings.traces.clone(),
            settings.region.clone(),
            account_id.to_owned(),
        ));
        let traces_read = Arc::new(fluoro_query::xray::TracesReadApi::new(
            store.clone(),
            clock.clone(),
            fluoro_query::xray::TracesReadSettings {
                account_id: account_id.to_owned(),
                region: settings.region.clone(),
                max_summary_range_secs: settings.trace_max_summary_range_secs,
                max_trace_documents: settings.traces.max_trace_documents as usize,
                max_trace_bytes: settings.traces.max_trace_bytes as usize,
            },
        ));
        let mut alarm_settings = settings.alarms.clone();
        alarm_settings.account_id = account_id.to_owned();
        let alarms =
            fluoro_query::alarms::Alarms::open(store.clone(), Arc::new(metrics_read()), alarm_settings, clock.clone())
                .with_context(|| format!("loading account {account_id}'s alarms"))?;
        let logs_write = Arc::new(LogsWriteApi::new(store.clone(), clock.clone()));
        let logs_read = Arc::new(LogsReadApi::new(store.clone(), clock.clone(), settings.queries));
        let state = Arc::new(AppState {
            max_request_bytes: settings.max_request_bytes,
            logs_write: logs_write.clone(),
            logs_read: logs_read.clone(),
            traces_write: traces_write.clone(),
            traces_read: traces_read.clone(),
            metrics_write: fluoro_collector::cw_metrics::MetricsWriteApi::new(
                store.clone(),
                clock.clone(),
                settings.metrics,
            ),
            metrics_read: metrics_read(),
            alarms: alarms.clone(),
            clock: clock.clone(),
            metrics,
            account_id: account_id.to_owned(),
            region: settings.region.clone(),
        });
        let native = fluoro_query::native::router(Arc::new(fluoro_query::native::NativeApi {
            store: store.clone(),
            logs: logs_read,
            region: settings.region.clone(),
            account_id: account_id.to_owned(),
            clock: clock.clone(),
            timeout: settings.queries.timeout,
        }))
        .merge(fluoro_query::cw_metrics::native::routes(Arc::new(fluoro_query::cw_metrics::native::NativeMetrics {
            api: metrics_read(),
            store: store.clone(),
            clock: clock.clone(),
        })))
        .merge(fluoro_query::alarms::native_routes(alarms.clone()))
        .merge(fluoro_query::xray::TracesReadApi::native_routes(traces_read))
        .layer(DefaultBodyLimit::max(settings.max_request_bytes));
        let otlp_traces = fluoro_collector::otlp::traces::OtlpTraces::new(traces_write);
        let otlp_metrics = fluoro_collector::otlp::metrics::OtlpMetrics::new(store.clone(), clock.clone());
        let otlp_logs = fluoro_collector::otlp::logs::OtlpLogs::new(logs_write);
        let otlp_http = fluoro_collector::otlp::traces::http_routes(otlp_traces.clone())
            .merge(fluoro_collector::otlp::metrics::http_routes(otlp_metrics.clone()))
            .merge(fluoro_collector::otlp::logs::http_routes(otlp_logs.clone()))
            .merge(crate::http::otlp_not_found());
        let otlp_grpc = fluoro_collector::otlp::grpc_routes(otlp_traces, otlp_metrics, otlp_logs);
        Ok(Self {
            account_id: account_id.to_owned(),
            store,
            state,
            native,
            otlp_http,
            otlp_grpc,
            alarms,
            settle: settings.trace_settle,
            refresh: settings.cluster.as_ref().map(|cluster| cluster.refresh),
        })
    }

    /// The account's background work: flushes, retention and compaction, the service-map
    /// roller and the alarm evaluator.
    ///
    /// In a multi-node deployment a node also catches up with the metastore every `refresh`;
    /// retention and compaction run on the one node holding the account's maintenance lease,
    /// alarms on the one holding its alarm lease, and service maps are computed from the trace
    /// documents on each request (the minute rollups assume one writer).
    pub fn spawn(&self, tasks: &TaskTracker, cancel: &CancellationToken) {
        tasks.spawn(flush_when_due(self.store.clone(), cancel.clone()));
        tasks.spawn(maintain(self.store.clone(), cancel.clone()));
        tasks.spawn(self.alarms.clone().run(cancel.clone().cancelled_owned()));
        match self.refresh {
            None => {
                tasks.spawn(roll_service_map(self.store.clone(), self.account_id.clone(), self.settle, cancel.clone()));
            }
            Some(every) => {
                tasks.spawn(catch_up(self.store.clone(), every, cancel.clone()));
            }
        }
    }
}

/// Every account's tenant, opened at start-up (the accounts are those the configuration names).
pub struct Tenants {
    by_account: HashMap<String, Arc<Tenant>>,
    default_account: String,
}

impl Tenants {
    pub async fn open(settings: &Settings, metrics: &Metrics) -> anyhow::Result<Self> {
        let clock = system_clock();
        let metastore = match &settings.cluster {
            None => None,
            Some(cluster) => {
                let metastore = fluoro_store::Metastore::connect(&cluster.metastore_url)
                    .context("connecting to the metastore (--metastore)")?;
                tracing::info!(node_id = cluster.node_id, role = ?settings.role, "node of a multi-node deployment");
                Some(metastore)
            }
        };
        let mut by_account = HashMap::new();
        for account_id in settings.accounts() {
            let tenant = Tenant::open(settings, &account_id, metrics, clock.clone(), metastore.as_ref()).await?;
            tracing::info!(account_id, data_dir = %tenant.store.config().data_dir.display(), "account opened");
            by_account.insert(account_id, Arc::new(tenant));
        }
        Ok(Self { by_account, default_account: settings.account_id.clone() })
    }

    /// The account's tenant. Every account a key names was opened at start-up, so an account
    /// the front door authenticated always has one.
    pub fn get(&self, account_id: &str) -> &Arc<Tenant> {
        self.by_account.get(account_id).expect("every configured account is opened at start-up")
    }

    pub fn default(&self) -> &Arc<Tenant> {
        self.get(&self.default_account)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Tenant>> {
        self.by_account.values()
    }
}

/// Recomputes settled service-map minutes every few seconds.
async fn roll_service_map(
    store: Arc<LogStore>,
    account_id: String,
    settle: std::time::Duration,
    cancel: CancellationToken,
) {
    let mut tick =
        tokio::time::interval(std::time::Duration::from_secs(5).min(settle.max(std::time::Duration::from_millis(500))));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {
                if let Err(error) = store.roll_service_map(&account_id, settle, system_clock()()).await {
                    tracing::error!(account_id, %error, "service-map rollup failed; will retry");
                }
            }
        }
    }
}

/// Catches up with the other nodes' catalog changes every `every`.
async fn catch_up(store: Arc<LogStore>, every: std::time::Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {
                let store = store.clone();
                match tokio::task::spawn_blocking(move || store.sync_shared()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::warn!(%error, "catching up with the metastore failed; will retry"),
                    Err(error) => tracing::error!(%error, "catalog refresh task failed"),
                }
            }
        }
    }
}

/// Whether this node runs the account's maintenance now: always on a single node; in a
/// multi-node deployment, while it holds the account's maintenance lease.
fn holds_maintenance_lease(store: &LogStore) -> bool {
    let Some(shared) = &store.config().shared_catalog else { return true };
    let ttl = store.config().maintenance_interval * 2 + std::time::Duration::from_secs(10);
    let lease = format!("maintenance/{}", shared.account);
    shared.metastore.lease(&lease, &shared.node, ttl).unwrap_or_else(|error| {
        tracing::warn!(%error, "maintenance lease not renewed");
        false
    })
}

/// Flushes when the memtable is due. A task of its own: a compaction that takes seconds
/// must not hold up flushes (in a cluster, query nodes see data only once it is flushed).
async fn flush_when_due(store: Arc<LogStore>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {
                if store.flush_due() && let Err(error) = store.flush().await {
                    tracing::error!(%error, "flush failed; will retry");
                }
            }
        }
    }
}

/// Runs retention and compaction every `maintenance_interval` (on the lease holder).
async fn maintain(store: Arc<LogStore>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(store.config().maintenance_interval);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = tick.tick() => {
                if !holds_maintenance_lease(&store) {
                    continue;
                }
                let now = system_clock()();
                if let Err(error) = fluoro_store::maintenance::run_once(&store, now).await {
                    tracing::error!(%error, "maintenance failed; will retry");
                }
            }
        }
    }
}
