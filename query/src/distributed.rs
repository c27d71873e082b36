//! Distributed execution on Apache DataFusion Ballista.
//!
//! A query node given a scheduler (`--ballista df://host:port`) sends every Insights or SQL
//! query whose files hold at least `--ballista-min-bytes` there; smaller ones run in-process.
//! The plan is the one the single-node path runs, serialized as DataFusion's protobuf; fluoro's
//! own parts travel through [`LogicalCodec`] and [`PhysicalCodec`]:
//! - the log table: its files, their index selections, its unflushed batches (Arrow IPC) and
//!   the bucket the files are in (a worker reads them from there, under the bucket's `s3://`
//!   URL, not through a store of its own);
//! - the Insights functions and the `pct` aggregate, by their parameters (a stream-name lookup
//!   as a snapshot of the names, since a worker has no catalog).
//!
//! The workers are `fluoro ballista-scheduler` and `fluoro ballista-executor`
//! ([`worker_codecs`], [`worker_runtime`]).
//!
//! Row counting for a query's statistics is a plan node that counts into the query node's
//! memory; a distributed plan leaves it out, and its `recordsScanned` and `bytesScanned` come
//! from the files' own counts instead (`recordsMatched` stays 0).

use std::any::Any;
use std::sync::{Arc, OnceLock};

use ballista::prelude::SessionContextExt;
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::source_as_provider;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::{SendableRecordBatchStream, SessionState, SessionStateBuilder, TaskContext};
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use fluoro_store::{FileLocation, FileMeta, LogSnapshot, LogTable};
use futures::StreamExt;

use crate::insights::count::CountNode;
use crate::insights::udf::InsightsUdf;

/// The scheduler a query node sends large queries to.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// `df://host:port`.
    pub scheduler: String,
    /// Queries whose files hold fewer bytes run in-process.
    pub min_bytes: u64,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();

/// Sets the process's scheduler (once, at start-up).
pub fn configure(cluster: Cluster) {
    if CLUSTER.set(cluster).is_err() {
        tracing::warn!("the Ballista scheduler was configured twice; the first setting stays");
    }
}

/// Runs `plan` (planned against `local`) on the cluster when one is configured, every table
/// it reads is in a bucket, and its files hold at least the configured bytes; `None` runs it
/// here. A cluster that fails the query before its first batch (scheduler unreachable, no
/// executor, a task failing) leaves it to this process too.
pub async fn try_execute(local: &SessionState, plan: &LogicalPlan) -> Result<Option<SendableRecordBatchStream>> {
    let Some(cluster) = CLUSTER.get() else { return Ok(None) };
    // Optimizing inlines the views, so every table the plan reads is a scan below.
    let optimized = local.optimize(plan)?;
    let Some(scans) = located_scans(&optimized)? else { return Ok(None) };
    if scans.file_bytes < cluster.min_bytes {
        return Ok(None);
    }
    let (plan, counters) = without_count_nodes(optimized)?;
    let began = std::time::Instant::now();
    match submit(cluster, local, plan).await {
        Ok(stream) => {
            for counter in counters {
                counter.count_scan(scans.rows, scans.message_bytes);
            }
            tracing::info!(
                bytes = scans.file_bytes,
                first_batch_ms = began.elapsed().as_secs_f64() * 1e3,
                "query sent to the Ballista cluster"
            );
            Ok(Some(stream))
        }
        Err(error) => {
            tracing::warn!(%error, scheduler = cluster.scheduler, "the Ballista cluster did not run the query: running it here");
            Ok(None)
        }
    }
}

/// Submits `plan` and waits for its first batch.
async fn submit(cluster: &Cluster, local: &SessionState, plan: LogicalPlan) -> Result<SendableRecordBatchStream> {
    let config = SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
        .with_target_partitions(local.config().target_partitions());
    let state = SessionStateBuilder::new().with_default_features().with_config(config).build();
    let ctx = SessionContext::remote_with_state(&cluster.scheduler, state).await?;
    let mut stream = ctx.execute_logical_plan(plan).await?.execute_stream().await?;
    let schema = stream.schema();
    let first = stream.next().await.transpose()?;
    let rest = futures::stream::iter(first.map(Ok)).chain(stream);
    Ok(Box::pin(RecordBatchStreamAdapter::new(schema, rest)))
}

/// What the log tables of a plan read.
#[derive(Debug, Default)]
struct Scans {
    /// Bytes of the files.
    file_bytes: u64,
    /// Rows of the files and the unflushed batches.
    rows: u64,
    /// Message bytes of the files.
    message_bytes: u64,
}

/// What the plan's log tables read; `None` when a table is not a log table in a bucket (a
/// worker could not read it).
fn located_scans(plan: &LogicalPlan) -> Result<Option<Scans>> {
    let (mut scans, mut located) = (Scans::default(), true);
    plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let provider = source_as_provider(&scan.source)?;
            match (provider.as_ref() as &dyn Any).downcast_ref::<LogTable>() {
                Some(table) if table.snapshot().bucket.is_some() => {
                    let snapshot = table.snapshot();
                    scans.file_bytes += snapshot.files.iter().map(|f| f.size_bytes).sum::<u64>();
                    scans.message_bytes += snapshot.files.iter().map(|f| f.message_bytes).sum::<u64>();
                    scans.rows += snapshot.files.iter().map(|f| f.rows).sum::<u64>();
                    scans.rows += snapshot.batches.iter().map(|b| b.num_rows() as u64).sum::<u64>();
                }
                _ => {
                    located = false;
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(located.then_some(scans))
}

/// `plan` with its row-counting nodes replaced by their inputs (they count into this
/// process), and those nodes, to be credited with what the scans read once the cluster runs
/// the plan.
fn without_count_nodes(plan: LogicalPlan) -> Result<(LogicalPlan, Vec<CountNode>)> {
    let mut counters = Vec::new();
    let plan = plan
        .transform_up(|node| {
            if let LogicalPlan::Extension(Extension { node: ext }) = &node
                && let Some(count) = ext.as_any().downcast_ref::<CountNode>()
            {
                counters.push(count.clone());
                return Ok(Transformed::yes(ext.inputs()[0].clone()));
            }
            Ok(Transformed::no(node))
        })?
        .data;
    Ok((plan, counters))
}

/// What fluoro's own wire forms start with (Ballista's and DataFusion's never do).
const MAGIC: &[u8] = b"fluoro/1 ";

/// The wire form of a [`LogTable`] in a bucket.
#[derive(serde::Serialize, serde::Deserialize)]
struct TableWire {
    location: FileLocation,
    files: Vec<FileMeta>,
    /// Per file id: the row ranges that can match.
    selections: Vec<(u64, Vec<(u64, u64)>)>,
    /// Unflushed rows as one Arrow IPC stream (empty when none).
    batches: Vec<u8>,
}

fn internal(what: &str, e: impl std::fmt::Display) -> DataFusionError {
    DataFusionError::Internal(format!("{what}: {e}"))
}

fn encode_table(table: &LogTable, buf: &mut Vec<u8>) -> Result<()> {
    let snapshot = table.snapshot();
    let Some(location) = snapshot.bucket.clone() else {
        return Err(DataFusionError::NotImplemented(
            "a log table outside a bucket cannot be read by another process".to_owned(),
        ));
    };
    let mut batches = Vec::new();
    if let Some(first) = snapshot.batches.first() {
        let mut writer = StreamWriter::try_new(&mut batches, &first.schema())?;
        for batch in &snapshot.batches {
            writer.write(batch)?;
        }
        writer.finish()?;
    }
    let wire = TableWire {
        location,
        files: snapshot.files.iter().map(|f| (**f).clone()).collect(),
        selections: snapshot
            .selections
            .iter()
            .map(|(id, ranges)| (*id, ranges.iter().map(|r| (r.start, r.end)).collect()))
            .collect(),
        batches,
    };
    buf.extend_from_slice(MAGIC);
    serde_json::to_writer(buf, &wire).map_err(|e| internal("encoding a log table", e))
}

fn decode_table(bytes: &[u8], schema: SchemaRef) -> Result<Arc<dyn TableProvider>> {
    let wire: TableWire = serde_json::from_slice(bytes).map_err(|e| internal("decoding a log table", e))?;
    let batches = if wire.batches.is_empty() {
        Vec::new()
    } else {
        StreamReader::try_new(wire.batches.as_slice(), None)?.collect::<Result<Vec<RecordBatch>, _>>()?
    };
    let snapshot = LogSnapshot {
        batches,
        files: wire.files.into_iter().map(Arc::new).collect(),
        selections: wire
            .selections
            .into_iter()
            .map(|(id, r)| (id, r.into_iter().map(|(a, b)| a..b).collect()))
            .collect(),
        bucket: Some(wire.location.clone()),
    };
    Ok(Arc::new(LogTable::located(snapshot, schema, wire.location)))
}

fn encode_udf(udf: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
    if let Some(insights) = (udf.inner().as_ref() as &dyn Any).downcast_ref::<InsightsUdf>() {
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&insights.encode()?);
    }
    Ok(())
}

fn decode_udf(name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
    match buf.strip_prefix(MAGIC) {
        Some(bytes) => Ok(Arc::new(InsightsUdf::decode(bytes)?)),
        None => Err(DataFusionError::NotImplemented(format!("no codec for the function {name}"))),
    }
}

fn encode_udaf(udaf: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
    if let Some(bytes) = crate::insights::pct::encode(udaf) {
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&bytes);
    }
    Ok(())
}

fn decode_udaf(name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
    match buf.strip_prefix(MAGIC) {
        Some(bytes) => Ok(Arc::new(crate::insights::pct::decode(bytes)?)),
        None => Err(DataFusionError::NotImplemented(format!("no codec for the aggregate {name}"))),
    }
}

/// The function methods of both codecs: fluoro's functions in their wire forms, every other
/// function by name (DataFusion looks those up in the worker's registry).
macro_rules! function_codec {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            decode_udf(name, buf)
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            encode_udf(node, buf)
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            decode_udaf(name, buf)
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            encode_udaf(node, buf)
        }
    };
}

/// Ballista's logical codec, plus the log table and fluoro's functions.
#[derive(Debug, Default)]
pub struct LogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.strip_prefix(MAGIC) {
            Some(bytes) => decode_table(bytes, schema),
            None => self.inner.try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match (node.as_ref() as &dyn Any).downcast_ref::<LogTable>() {
            Some(table) => encode_table(table, buf),
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn datafusion::datasource::file_format::FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn datafusion::datasource::file_format::FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    function_codec!();
}

/// Ballista's physical codec, plus fluoro's functions (the log table is a Parquet scan and
/// a memory scan by then, which DataFusion's protobuf carries).
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    function_codec!();
}

/// The codecs a scheduler and its executors plan and run fluoro's queries with.
pub fn worker_codecs() -> (Arc<dyn LogicalExtensionCodec>, Arc<dyn PhysicalExtensionCodec>) {
    (Arc::new(LogicalCodec::default()), Arc::new(PhysicalCodec::default()))
}

/// A worker's runtime: the bucket registered under its `s3://` URL, and a memory pool of
/// `memory_bytes` for sorts, aggregations and joins.
pub fn worker_runtime(s3: &fluoro_store::S3Objects, memory_bytes: usize) -> Result<Arc<RuntimeEnv>> {
    let runtime = RuntimeEnvBuilder::new().with_memory_limit(memory_bytes, 1.0).build_arc()?;
    let bucket = fluoro_store::s3_bucket(s3).map_err(|e| DataFusionError::External(Box::new(e)))?;
    let url = datafusion::execution::object_store::ObjectStoreUrl::parse(format!("s3://{}/", s3.bucket))?;
    runtime.register_object_store(url.as_ref(), bucket);
    Ok(runtime)
}
