//! `fluoro`: parse the command line, open the store, build the frontends and read APIs, serve
//! every port, and shut down in order (listeners, then a final flush of the store).

mod auth;
mod cloudwatch;
mod config;
mod http;
mod serve;
mod telemetry;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fluoro_collector::cw_logs::LogsWriteApi;
use fluoro_collector::xray::TracesWriteApi;
use fluoro_proto::logs::system_clock;
use fluoro_query::cw_logs::LogsReadApi;
use fluoro_store::{LogStore, Metrics};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[derive(Parser)]
#[command(name = "fluoro", version, about = "Self-hosted X-Ray and CloudWatch compatible collector and query engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every role in one process on a local data directory.
    Serve(config::ServeArgs),
}

fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("FLUORO_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match std::env::var("FLUORO_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        _ => logs.init(),
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let settings = args.resolve()?;
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(serve(settings))
        }
    }
}

async fn serve(settings: config::Settings) -> anyhow::Result<()> {
    let tracer_provider = match &settings.self_trace_endpoint {
        Some(endpoint) => {
            tracing::info!(endpoint, "fluoro traces itself");
            Some(telemetry::init(endpoint, "fluoro").context("starting self-tracing")?)
        }
        None => None,
    };
    let metrics = Metrics::new();
    let store = LogStore::open(settings.store.clone(), metrics.clone())
        .with_context(|| format!("opening the store in {}", settings.store.data_dir.display()))?;
    // Truncated or missing data files (a crash, a full disk, a hand) are set aside before the
    // first query; damage inside a file is found when a read fails (store::quarantine).
    let quarantined = store.scrub().await;
    if quarantined > 0 {
        tracing::error!(quarantined, "damaged data files moved to quarantine/ at start-up");
    }
    let clock = system_clock();
    let traces_write = Arc::new(TracesWriteApi::new(
        store.clone(),
        clock.clone(),
        settings.traces.clone(),
        settings.region.clone(),
        settings.account_id.clone(),
    ));
    let traces_read = Arc::new(fluoro_query::xray::TracesReadApi::new(
        store.clone(),
        clock.clone(),
        fluoro_query::xray::TracesReadSettings {
            account_id: settings.account_id.clone(),
            region: settings.region.clone(),
            max_summary_range_secs: settings.trace_max_summary_range_secs,
            max_trace_documents: settings.traces.max_trace_documents as usize,
            max_trace_bytes: settings.traces.max_trace_bytes as usize,
        },
    ));
    let alarms = fluoro_query::alarms::Alarms::open(
        store.clone(),
        Arc::new(fluoro_query::cw_metrics::MetricsReadApi::new(store.clone(), settings.account_id.clone())),
        settings.alarms.clone(),
        clock.clone(),
    )
    .context("loading the alarms")?;
    let state = Arc::new(http::AppState {
        max_request_bytes: settings.max_request_bytes,
        logs_write: Arc::new(LogsWriteApi::new(store.clone(), clock.clone())),
        logs_read: Arc::new(LogsReadApi::new(store.clone(), clock.clone(), settings.queries)),
        traces_write: traces_write.clone(),
        traces_read: traces_read.clone(),
        metrics_write: fluoro_collector::cw_metrics::MetricsWriteApi::new(
            store.clone(),
            clock.clone(),
            settings.metrics,
        ),
        metrics_read: fluoro_query::cw_metrics::MetricsReadApi::new(store.clone(), settings.account_id.clone()),
        alarms: alarms.clone(),
        clock: clock.clone(),
        metrics,
        account_id: settings.account_id.clone(),
        region: settings.region.clone(),
        access_keys: settings.access_keys.clone(),
    });
    let native = fluoro_query::native::router(Arc::new(fluoro_query::native::NativeApi {
        store: store.clone(),
        logs: state.logs_read.clone(),
        region: settings.region.clone(),
        account_id: settings.account_id.clone(),
        clock: clock.clone(),
        timeout: settings.queries.timeout,
    }));
    let native = native.merge(fluoro_query::cw_metrics::native::routes(Arc::new(
        fluoro_query::cw_metrics::native::NativeMetrics {
            api: fluoro_query::cw_metrics::MetricsReadApi::new(store.clone(), settings.account_id.clone()),
            store: store.clone(),
            clock: clock.clone(),
        },
    )));
    let native = native.merge(fluoro_query::alarms::native_routes(alarms.clone()));
    let native = native.merge(fluoro_query::xray::TracesReadApi::native_routes(traces_read));
    // With access keys configured, the native API and so the UI need a session.
    let sessions = auth::Sessions::new(settings.access_keys.clone(), settings.tls.is_some());
    let native = auth::protect(native, sessions.clone()).merge(auth::session_routes(sessions));
    let cancel = CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();

    let otlp_traces = fluoro_collector::otlp::traces::OtlpTraces::new(traces_write.clone());
    let otlp_metrics = fluoro_collector::otlp::metrics::OtlpMetrics::new(store.clone(), clock.clone());
    let otlp_logs = fluoro_collector::otlp::logs::OtlpLogs::new(state.logs_write.clone());
    let otlp_http_routes = || {
        fluoro_collector::otlp::traces::http_routes(otlp_traces.clone())
            .merge(fluoro_collector::otlp::metrics::http_routes(otlp_metrics.clone()))
            .merge(fluoro_collector::otlp::logs::http_routes(otlp_logs.clone()))
    };
    let otlp_http = otlp_http_routes().merge(http::otlp_not_found());
    let otlp_grpc = fluoro_collector::otlp::grpc_routes(otlp_traces.clone(), otlp_metrics.clone(), otlp_logs.clone());
    let listeners = [
        (
            settings.http_addr,
            "http",
            http::router(state.clone(), native.merge(otlp_http_routes()))
                .layer(axum::middleware::from_fn(telemetry::trace_requests)),
        ),
        (settings.otlp_http_addr, "otlp-http", otlp_http),
        (settings.otlp_grpc_addr, "otlp-grpc", otlp_grpc),
        (settings.xray_addr, "xray-tcp", http::xray_router(state)),
    ];
    let tls = match &settings.tls {
        Some((cert, key)) => Some(serve::tls_acceptor(cert, key)?),
        None => None,
    };
    for (addr, name, router) in listeners {
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {name} on {addr}"))?;
        // The X-Ray daemon port stays plain HTTP: the X-Ray SDKs' sampling clients expect it.
        let tls = if name == "xray-tcp" { None } else { tls.clone() };
        tracing::info!(%addr, name, tls = tls.is_some(), "listening");
        tasks.spawn(serve::serve(listener, router, tls, settings.connections.clone(), cancel.clone()));
    }
    let xray_udp = tokio::net::UdpSocket::bind(settings.xray_addr).await.context("binding xray-udp")?;
    tasks.spawn(fluoro_collector::xray::udp::serve(xray_udp, traces_write, cancel.clone()));
    tasks.spawn(background(store.clone(), cancel.clone()));
    tasks.spawn(alarms.run(cancel.clone().cancelled_owned()));
    tasks.spawn(roll_service_map(store.clone(), settings.account_id.clone(), settings.trace_settle, cancel.clone()));
    let scheme = if settings.tls.is_some() { "https" } else { "http" };
    println!("fluoro listening on {scheme}://{}", settings.http_addr);

    shutdown_signal().await;
    tracing::info!("shutting down: closing listeners, then flushing");
    cancel.cancel();
    tasks.close();
    tasks.wait().await;
    if let Some(provider) = tracer_provider
        && let Err(error) = provider.shutdown()
    {
        tracing::warn!(%error, "self-tracing spans not all exported");
    }
    store.shutdown().await.context("final flush")?;
    tracing::info!("stopped");
    Ok(())
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
                    tracing::error!(%error, "service-map rollup failed; will retry");
                }
            }
        }
    }
}

/// Flushes when the memtable is due, and runs retention and compaction periodically.
async fn background(store: Arc<LogStore>, cancel: CancellationToken) {
    let mut flush_tick = tokio::time::interval(std::time::Duration::from_millis(250));
    let mut maintenance_tick = tokio::time::interval(store.config().maintenance_interval);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            _ = flush_tick.tick() => {
                if store.flush_due() && let Err(error) = store.flush().await {
                    tracing::error!(%error, "flush failed; will retry");
                }
            }
            _ = maintenance_tick.tick() => {
                let now = system_clock()();
                if let Err(error) = fluoro_store::maintenance::run_once(&store, now).await {
                    tracing::error!(%error, "maintenance failed; will retry");
                }
            }
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
