//! `fluoro ballista-scheduler` and `fluoro ballista-executor`: Apache DataFusion Ballista's
//! scheduler and executor, embedded with fluoro's plan codecs (the log table and the Insights
//! functions, `fluoro_query::distributed`) and the bucket the data files are in. A query node
//! started with `--ballista df://host:port` sends its large queries to the scheduler.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use ballista_core::extension::SessionConfigExt;
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use datafusion::execution::SessionStateBuilder;
use datafusion::prelude::SessionConfig;

use crate::config::{WorkerArgs, WorkerSettings};

#[derive(Debug, clap::Args)]
pub struct SchedulerArgs {
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// gRPC address executors and query nodes reach the scheduler on.
    #[arg(long, env = "FLUORO_BALLISTA_BIND", default_value = "127.0.0.1:50050")]
    pub bind: SocketAddr,
}

#[derive(Debug, clap::Args)]
pub struct ExecutorArgs {
    #[command(flatten)]
    pub worker: WorkerArgs,
    /// The scheduler's gRPC address.
    #[arg(long, env = "FLUORO_BALLISTA_SCHEDULER", default_value = "127.0.0.1:50050")]
    pub scheduler: SocketAddr,
    /// The address the executor listens on, and tells the scheduler.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind_host: String,
    /// Arrow Flight port: other executors and the query node fetch results here.
    #[arg(long, default_value_t = 50051)]
    pub flight_port: u16,
    /// gRPC port the scheduler hands tasks to.
    #[arg(long, default_value_t = 50052)]
    pub grpc_port: u16,
    /// Tasks run at once [default: the CPUs].
    #[arg(long)]
    pub concurrent_tasks: Option<usize>,
    /// Where shuffle files are kept [default: a temporary directory].
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

fn session_config() -> SessionConfig {
    let (logical, physical) = fluoro_query::distributed::worker_codecs();
    SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(logical)
        .with_ballista_physical_extension_codec(physical)
}

pub async fn scheduler(args: SchedulerArgs) -> anyhow::Result<()> {
    let settings: WorkerSettings = args.worker.resolve()?;
    let runtime = fluoro_query::distributed::worker_runtime(&settings.s3, settings.memory_bytes)?;
    let (logical, physical) = fluoro_query::distributed::worker_codecs();
    let config = SchedulerConfig {
        bind_host: args.bind.ip().to_string(),
        external_host: args.bind.ip().to_string(),
        bind_port: args.bind.port(),
        override_config_producer: Some(Arc::new(session_config)),
        override_session_builder: Some(Arc::new(move |config: SessionConfig| {
            let state = ballista_core::utils::default_session_builder(config)?;
            Ok(SessionStateBuilder::new_from_existing(state).with_runtime_env(runtime.clone()).build())
        })),
        override_logical_codec: Some(logical),
        override_physical_codec: Some(physical),
        ..Default::default()
    };
    let cluster = BallistaCluster::new_from_config(&config).await.context("starting the Ballista scheduler")?;
    println!("fluoro ballista-scheduler listening on {}", args.bind);
    ballista_scheduler::scheduler_process::start_server(cluster, args.bind, Arc::new(config))
        .await
        .context("running the Ballista scheduler")
}

pub async fn executor(args: ExecutorArgs) -> anyhow::Result<()> {
    let settings: WorkerSettings = args.worker.resolve()?;
    let runtime = fluoro_query::distributed::worker_runtime(&settings.s3, settings.memory_bytes)?;
    let (logical, physical) = fluoro_query::distributed::worker_codecs();
    let mut config = ExecutorProcessConfig {
        bind_host: args.bind_host.clone(),
        external_host: Some(args.bind_host.clone()),
        port: args.flight_port,
        grpc_port: args.grpc_port,
        scheduler_host: args.scheduler.ip().to_string(),
        scheduler_port: args.scheduler.port(),
        work_dir: args.work_dir.map(|dir| dir.display().to_string()),
        override_config_producer: Some(Arc::new(session_config)),
        override_runtime_producer: Some(Arc::new(move |_: &SessionConfig| Ok(runtime.clone()))),
        override_logical_codec: Some(logical),
        override_physical_codec: Some(physical),
        ..Default::default()
    };
    if let Some(tasks) = args.concurrent_tasks {
        config.vcores = tasks.max(1);
    }
    println!("fluoro ballista-executor on {}:{} (scheduler {})", args.bind_host, args.flight_port, args.scheduler);
    start_executor_process(Arc::new(config)).await.context("running the Ballista executor")
}
