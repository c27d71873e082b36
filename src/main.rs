//! `fluoro`: parse the command line, open every account's store and APIs (`tenants`), serve
//! every port through the front door (`auth`, `http`), and shut down in order (listeners,
//! then a final flush of each store).

mod auth;
mod ballista;
mod cloudwatch;
mod config;
mod http;
mod serve;
mod telemetry;
mod tenants;

use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use fluoro_proto::logs::system_clock;
use fluoro_store::Metrics;
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
    /// A collector of a multi-node deployment: ingest on every port, the WAL in the data
    /// directory, flushes to the bucket, the catalog in the metastore (--metastore,
    /// --s3-bucket).
    Collector(config::ServeArgs),
    /// A query node of a multi-node deployment: the AWS read APIs, the native API and the UI
    /// over the shared catalog and bucket; ingest is refused, and only the HTTP port listens.
    Query(config::ServeArgs),
    /// Apache DataFusion Ballista's scheduler, for query nodes' large queries (--ballista):
    /// it plans them into stages and hands the tasks to its executors.
    BallistaScheduler(ballista::SchedulerArgs),
    /// A Ballista executor: runs query stages over the data files in the bucket.
    BallistaExecutor(ballista::ExecutorArgs),
}

fn main() -> anyhow::Result<()> {
    let filter = EnvFilter::try_from_env("FLUORO_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match std::env::var("FLUORO_LOG_FORMAT").as_deref() {
        Ok("json") => logs.json().init(),
        _ => logs.init(),
    }
    let cli = Cli::parse();
    let (args, role) = match cli.command {
        Command::Serve(args) => (args, config::Role::All),
        Command::Collector(args) => (args, config::Role::Collector),
        Command::Query(args) => (args, config::Role::Query),
        Command::BallistaScheduler(args) => return runtime()?.block_on(ballista::scheduler(args)),
        Command::BallistaExecutor(args) => return runtime()?.block_on(ballista::executor(args)),
    };
    let settings = args.resolve(role)?;
    if let Some(cluster) = &settings.ballista {
        fluoro_query::distributed::configure(cluster.clone());
    }
    runtime()?.block_on(serve(settings))
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build()
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
    if settings.account_id != "000000000000" {
        metrics.forget_account("000000000000");
    }
    let tenants = Arc::new(tenants::Tenants::open(&settings, &metrics).await?);
    let gate = auth::Gate::new(&settings, metrics.clone(), system_clock());
    let front = Arc::new(http::Front { gate, tenants: tenants.clone(), metrics });
    let cancel = CancellationToken::new();
    let tasks = tokio_util::task::TaskTracker::new();
    let listeners = [
        (
            settings.http_addr,
            "http",
            http::router(front.clone()).layer(axum::middleware::from_fn(telemetry::trace_requests)),
        ),
        (settings.otlp_http_addr, "otlp-http", http::otlp_http_router(front.clone())),
        (settings.otlp_grpc_addr, "otlp-grpc", http::otlp_grpc_router(front.clone())),
        (settings.xray_addr, "xray-tcp", http::xray_router(front)),
    ];
    let tls = match &settings.tls {
        Some((cert, key)) => Some(serve::tls_acceptor(cert, key)?),
        None => None,
    };
    // A query node ingests nothing: only its HTTP port listens.
    let ingests = settings.role != config::Role::Query;
    for (addr, name, router) in listeners.into_iter().filter(|(_, name, _)| ingests || *name == "http") {
        let listener =
            tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {name} on {addr}"))?;
        // The X-Ray daemon port stays plain HTTP: the X-Ray SDKs' sampling clients expect it.
        let tls = if name == "xray-tcp" { None } else { tls.clone() };
        tracing::info!(%addr, name, tls = tls.is_some(), "listening");
        tasks.spawn(serve::serve(listener, router, tls, settings.connections.clone(), cancel.clone()));
    }
    // Daemon datagrams carry no credentials: they are the default account's.
    if ingests {
        let xray_udp = tokio::net::UdpSocket::bind(settings.xray_addr).await.context("binding xray-udp")?;
        tasks.spawn(fluoro_collector::xray::udp::serve(
            xray_udp,
            tenants.default().state.traces_write.clone(),
            cancel.clone(),
        ));
    }
    for tenant in tenants.iter() {
        tenant.spawn(&tasks, &cancel);
    }
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
    let mut failed = None;
    for tenant in tenants.iter() {
        if let Err(error) = tenant.store.shutdown().await {
            tracing::error!(account_id = tenant.account_id, %error, "final flush failed");
            failed = Some(error);
        }
    }
    if let Some(error) = failed {
        return Err(error).context("final flush");
    }
    tracing::info!("stopped");
    Ok(())
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
