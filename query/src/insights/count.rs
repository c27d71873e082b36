//! A pass-through plan node that counts the rows (and optionally the message bytes) flowing
//! through it: `recordsScanned`/`bytesScanned` above the scan, `recordsMatched` before the
//! first stats/sort/limit. A logical extension node, so the optimizer neither drops it nor
//! moves filters across it, and a physical operator that adds to shared atomic counters (read
//! while the query runs, for partial statistics).

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DFSchemaRef, Result, internal_err};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::context::{QueryPlanner, SessionState};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{Expr, LogicalPlan, UserDefinedLogicalNode, UserDefinedLogicalNodeCore};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion::physical_planner::{DefaultPhysicalPlanner, ExtensionPlanner, PhysicalPlanner};
use futures::StreamExt;

/// Rows and bytes seen by one counting node.
#[derive(Debug, Default)]
pub struct Counter {
    pub rows: AtomicU64,
    pub bytes: AtomicU64,
}

impl Counter {
    pub fn rows(&self) -> u64 {
        self.rows.load(Ordering::Relaxed)
    }

    pub fn bytes(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }
}

#[derive(Debug, Clone)]
pub struct CountNode {
    input: LogicalPlan,
    counter: Arc<Counter>,
    /// The input column whose UTF-8 bytes are summed.
    bytes_column: Option<usize>,
}

impl CountNode {
    pub fn new(input: LogicalPlan, counter: Arc<Counter>, bytes_column: Option<usize>) -> Self {
        Self { input, counter, bytes_column }
    }

    fn id(&self) -> usize {
        Arc::as_ptr(&self.counter) as usize
    }

    /// For a plan run elsewhere: adds what the scan below a scan-counting node (one that sums
    /// message bytes) reads, from the files' own counts. A node counting matches adds nothing.
    pub(crate) fn count_scan(&self, rows: u64, bytes: u64) {
        if self.bytes_column.is_some() {
            self.counter.rows.fetch_add(rows, Ordering::Relaxed);
            self.counter.bytes.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}

impl PartialEq for CountNode {
    fn eq(&self, other: &Self) -> bool {
        self.id() == other.id() && self.input == other.input
    }
}

impl Eq for CountNode {}

impl PartialOrd for CountNode {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        self.id().partial_cmp(&other.id())
    }
}

impl Hash for CountNode {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id().hash(state);
        self.input.hash(state);
    }
}

impl UserDefinedLogicalNodeCore for CountNode {
    fn name(&self) -> &str {
        "InsightsCount"
    }

    fn inputs(&self) -> Vec<&LogicalPlan> {
        vec![&self.input]
    }

    fn schema(&self) -> &DFSchemaRef {
        self.input.schema()
    }

    fn expressions(&self) -> Vec<Expr> {
        Vec::new()
    }

    fn fmt_for_explain(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "InsightsCount: bytes_column={:?}", self.bytes_column)
    }

    fn with_exprs_and_inputs(&self, _exprs: Vec<Expr>, mut inputs: Vec<LogicalPlan>) -> Result<Self> {
        let Some(input) = inputs.pop() else { return internal_err!("InsightsCount needs one input") };
        // Projection push-down may have re-numbered the input's columns.
        let bytes_column = self.bytes_column.and_then(|i| {
            let name = self.input.schema().field(i).name();
            input.schema().index_of_column_by_name(None, name)
        });
        Ok(Self { input, counter: self.counter.clone(), bytes_column })
    }

    fn necessary_children_exprs(&self, output_columns: &[usize]) -> Option<Vec<Vec<usize>>> {
        let mut needed = output_columns.to_vec();
        if let Some(i) = self.bytes_column
            && !needed.contains(&i)
        {
            needed.push(i);
            needed.sort_unstable();
        }
        Some(vec![needed])
    }
}

/// The session for Insights and SQL plans: the store's, with [`CountNode`]s planned and
/// without the leaf-projection push-down rules (they move `get_field` of our UDF structs
/// below the projection that makes them, and fail on the plans we build).
pub fn session_state(ctx: &datafusion::prelude::SessionContext) -> SessionState {
    let base = ctx.state();
    let rules = base
        .optimizers()
        .iter()
        .filter(|rule| !matches!(rule.name(), "extract_leaf_expressions" | "push_down_leaf_projections"))
        .cloned()
        .collect();
    // A state of its own (not `new_from_existing`, which would share the catalog: tables
    // registered by one SQL query must not be seen by, or collide with, another).
    SessionStateBuilder::new()
        .with_config(base.config().clone())
        .with_runtime_env(base.runtime_env().clone())
        .with_default_features()
        .with_query_planner(Arc::new(InsightsQueryPlanner))
        .with_optimizer_rules(rules)
        .build()
}

/// Plans [`CountNode`]s; everything else is DataFusion's.
#[derive(Debug)]
pub struct InsightsQueryPlanner;

#[async_trait]
impl QueryPlanner for InsightsQueryPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session_state: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        DefaultPhysicalPlanner::with_extension_planners(vec![Arc::new(CountPlanner)])
            .create_physical_plan(logical_plan, session_state)
            .await
    }
}

#[derive(Debug)]
struct CountPlanner;

#[async_trait]
impl ExtensionPlanner for CountPlanner {
    async fn plan_extension(
        &self,
        _planner: &dyn PhysicalPlanner,
        node: &dyn UserDefinedLogicalNode,
        _logical_inputs: &[&LogicalPlan],
        physical_inputs: &[Arc<dyn ExecutionPlan>],
        _session_state: &dyn Session,
        _planning_ctx: &PhysicalPlanningContext,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let Some(node) = node.as_any().downcast_ref::<CountNode>() else { return Ok(None) };
        let input = physical_inputs[0].clone();
        let bytes_column = match node.bytes_column {
            Some(i) => {
                let name = node.input.schema().field(i).name();
                Some(input.schema().index_of(name)?)
            }
            None => None,
        };
        Ok(Some(Arc::new(CountExec::new(input, node.counter.clone(), bytes_column))))
    }
}

#[derive(Debug)]
struct CountExec {
    input: Arc<dyn ExecutionPlan>,
    counter: Arc<Counter>,
    bytes_column: Option<usize>,
    properties: Arc<PlanProperties>,
}

impl CountExec {
    fn new(input: Arc<dyn ExecutionPlan>, counter: Arc<Counter>, bytes_column: Option<usize>) -> Self {
        let properties = input.properties().clone();
        Self { input, counter, bytes_column, properties }
    }
}

impl DisplayAs for CountExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "InsightsCountExec: bytes_column={:?}", self.bytes_column)
    }
}

impl ExecutionPlan for CountExec {
    fn name(&self) -> &'static str {
        "InsightsCountExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(input) = children.pop() else { return internal_err!("InsightsCountExec needs one child") };
        Ok(Arc::new(Self::new(input, self.counter.clone(), self.bytes_column)))
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        let stream = self.input.execute(partition, context)?;
        let counter = self.counter.clone();
        let bytes_column = self.bytes_column;
        let schema = stream.schema();
        let counted = stream.map(move |batch| {
            if let Ok(batch) = &batch {
                counter.rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                if let Some(i) = bytes_column {
                    counter.bytes.fetch_add(utf8_bytes(batch.column(i).as_ref()), Ordering::Relaxed);
                }
            }
            batch
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, counted)))
    }
}

/// The total UTF-8 length of the non-null values of a string column.
fn utf8_bytes(array: &dyn Array) -> u64 {
    match array.data_type() {
        DataType::Utf8 => {
            let strings = array.as_string::<i32>();
            if strings.null_count() == 0 {
                let offsets = strings.value_offsets();
                (offsets[offsets.len() - 1] - offsets[0]) as u64
            } else {
                strings.iter().flatten().map(|s| s.len() as u64).sum()
            }
        }
        DataType::LargeUtf8 => array.as_string::<i64>().iter().flatten().map(|s| s.len() as u64).sum(),
        DataType::Utf8View => array.as_string_view().iter().flatten().map(|s| s.len() as u64).sum(),
        _ => 0,
    }
}
