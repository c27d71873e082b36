//! SQL over logs, on DataFusion: a table `logs` (every readable group, the group a column) and
//! a table function `log_group('<name>')` that names one group. Read-only: DDL, DML and
//! session statements are refused.
//!
//! Columns: `log_group`, `log_stream`, `timestamp` and `ingestion_time` (millisecond
//! timestamps, UTC), `message`; the trace the event belongs to as `trace_id` (32 hex),
//! `xray_trace_id` (`1-…-…`) and `span_id` (16 hex); and the OpenTelemetry fields of events
//! that came in over OTLP (their message is the record as JSON): `body` (text),
//! `severity_text`, `severity_number`, `attributes`, `resource_attributes` (JSON objects as
//! text) and `scope_name`. Computed columns cost nothing unless a query names them.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{Column, DataFusionError, Result, ScalarValue, plan_err};
use datafusion::logical_expr::{Expr, Extension, LogicalPlan, LogicalPlanBuilder, cast as cast_expr};
use datafusion::prelude::{SQLOptions, SessionContext, lit};
use fluoro_proto::logs::columns;
use fluoro_store::{GroupMeta, LogStore, LogTable};
use futures::StreamExt;

use crate::insights::Row;
use crate::insights::count::{CountNode, session_state};
use crate::insights::run::Progress;
use crate::insights::udf::{InsightsUdf, Op, span_text, trace_text};
use crate::insights::values::{format_number, format_timestamp};

/// What a SQL query may read.
#[derive(Debug, Clone)]
pub struct SqlScope {
    pub account_id: String,
    pub groups: Vec<Arc<GroupMeta>>,
    /// Inclusive bounds in epoch ms.
    pub start_ms: i64,
    pub end_ms: i64,
    pub now_ms: i64,
    pub max_rows: usize,
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

/// A member of an OTLP record's JSON message: its text (strings unquoted) or its JSON.
fn otel_member(path: &[&str], text: bool) -> Expr {
    let path: Vec<String> = path.iter().map(|s| (*s).to_owned()).collect();
    let json = InsightsUdf::call(
        "insights_json_get",
        format!("{path:?}"),
        Op::JsonGet(path),
        DataType::Utf8,
        vec![column(columns::MESSAGE)],
    );
    if text {
        InsightsUdf::call("insights_json_text", String::new(), Op::JsonText, DataType::Utf8, vec![json])
    } else {
        json
    }
}

/// The `logs` view over `groups`: time range and retention applied, names resolved.
fn logs_view(
    store: &Arc<LogStore>,
    scope: &SqlScope,
    groups: &[Arc<GroupMeta>],
    progress: &Progress,
) -> Result<Arc<dyn TableProvider>> {
    let mut snapshot = store.snapshot(None, scope.start_ms, scope.end_ms);
    let ids: Vec<u64> = groups.iter().map(|g| g.id).collect();
    snapshot.files.retain(|f| f.groups.iter().any(|(g, ..)| ids.contains(g)));
    let table: Arc<dyn TableProvider> = Arc::new(LogTable::new(snapshot));
    let ts = || column(columns::TIMESTAMP);
    let gid = || column(columns::GROUP_ID);
    let visible = groups
        .iter()
        .map(|g| {
            let from = g.retention_cutoff(scope.now_ms).unwrap_or(i64::MIN).max(scope.start_ms);
            gid().eq(lit(g.id)).and(ts().gt_eq(lit(from)))
        })
        .reduce(Expr::or)
        .unwrap_or(lit(false));
    let predicate = ts().gt_eq(lit(scope.start_ms)).and(ts().lt_eq(lit(scope.end_ms))).and(visible);
    let filtered = LogicalPlanBuilder::scan("logs", datafusion::datasource::provider_as_source(table), None)?
        .filter(predicate)?
        .build()?;
    let message_index = filtered.schema().index_of_column(&Column::new_unqualified(columns::MESSAGE))?;
    let counted = CountNode::new(filtered, progress.scanned.clone(), Some(message_index));
    let names: HashMap<u64, String> = groups.iter().map(|g| (g.id, g.name.clone())).collect();
    let plan = LogicalPlanBuilder::from(LogicalPlan::Extension(Extension { node: Arc::new(counted) }))
        .project(vec![
            InsightsUdf::call(
                "insights_log_name",
                format!("{names:?}"),
                Op::Lookup(Arc::new(names)),
                DataType::Utf8,
                vec![gid()],
            )
            .alias("log_group"),
            InsightsUdf::call(
                "insights_stream_name",
                format!("{:p}", Arc::as_ptr(store.catalog())),
                Op::StreamNames(crate::insights::udf::CatalogRef(store.catalog().clone())),
                DataType::Utf8,
                vec![gid(), column(columns::STREAM_ID)],
            )
            .alias("log_stream"),
            cast_expr(ts(), DataType::Timestamp(TimeUnit::Millisecond, None)).alias("timestamp"),
            cast_expr(column(columns::INGESTION_TIME), DataType::Timestamp(TimeUnit::Millisecond, None))
                .alias("ingestion_time"),
            column(columns::MESSAGE).alias("message"),
            trace_text(true).alias("xray_trace_id"),
            trace_text(false).alias("trace_id"),
            span_text().alias("span_id"),
            otel_member(&["body"], true).alias("body"),
            otel_member(&["severityText"], true).alias("severity_text"),
            cast_expr(otel_member(&["severityNumber"], true), DataType::Int64).alias("severity_number"),
            otel_member(&["attributes"], false).alias("attributes"),
            otel_member(&["resource", "attributes"], false).alias("resource_attributes"),
            otel_member(&["scope", "name"], true).alias("scope_name"),
        ])?
        .build()?;
    Ok(Arc::new(datafusion::catalog::view::ViewTable::new(plan, None)))
}

/// `log_group('<name>')`: the `logs` view narrowed to one group of the scope.
struct LogGroupFunction {
    store: Arc<LogStore>,
    scope: SqlScope,
    progress: Arc<Progress>,
}

impl std::fmt::Debug for LogGroupFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogGroupFunction").field("scope", &self.scope).finish()
    }
}

impl TableFunctionImpl for LogGroupFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let [Expr::Literal(ScalarValue::Utf8(Some(name)), _)] = args.exprs() else {
            return plan_err!("log_group() takes one string: the log group name");
        };
        let Some(group) = self.scope.groups.iter().find(|g| &g.name == name) else {
            return plan_err!("Log group '{name}' does not exist for account ID '{}'", self.scope.account_id);
        };
        logs_view(&self.store, &self.scope, std::slice::from_ref(group), &self.progress)
    }
}

/// Plans `sql` (errors are the caller's MalformedQueryException) and returns the runnable frame.
pub async fn prepare(
    store: &Arc<LogStore>,
    scope: &SqlScope,
    sql: &str,
    progress: &Arc<Progress>,
) -> Result<datafusion::dataframe::DataFrame> {
    let state = session_state(&store.session_context());
    let ctx = SessionContext::new_with_state(state);
    ctx.register_table("logs", logs_view(store, scope, &scope.groups, progress)?)?;
    ctx.register_udtf(
        "log_group",
        Arc::new(LogGroupFunction { store: store.clone(), scope: scope.clone(), progress: progress.clone() }),
    );
    let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
    let frame = ctx.sql_with_options(sql, options).await?;
    frame.limit(0, Some(scope.max_rows))
}

/// Runs a prepared frame, calling `on_batch` with each result batch.
pub async fn execute(
    frame: datafusion::dataframe::DataFrame,
    mut on_batch: impl FnMut(&RecordBatch) -> Result<()>,
) -> Result<()> {
    let (state, plan) = frame.into_parts();
    let mut stream = match crate::distributed::try_execute(&state, &plan).await? {
        Some(stream) => stream,
        None => datafusion::dataframe::DataFrame::new(state, plan).execute_stream().await?,
    };
    while let Some(batch) = stream.next().await {
        on_batch(&batch?)?;
    }
    Ok(())
}

/// After `error` from a query of `scope`: when stored files are damaged, sets them aside
/// (`LogStore::quarantine_after_failure`) and says so in the error, so running the query again
/// answers from the rest.
pub async fn quarantine_after(
    store: &LogStore,
    scope: &SqlScope,
    error: datafusion::error::DataFusionError,
) -> datafusion::error::DataFusionError {
    let ids: Vec<u64> = scope.groups.iter().map(|g| g.id).collect();
    let mut files = store.snapshot(None, scope.start_ms, scope.end_ms).files;
    files.retain(|f| f.groups.iter().any(|(g, ..)| ids.contains(g)));
    if store.quarantine_after_failure(&files, &error).await {
        datafusion::error::DataFusionError::Execution(format!(
            "{error} (a damaged data file was quarantined; run the query again)"
        ))
    } else {
        error
    }
}

/// A batch as GetQueryResults rows (`{field, value}` strings, nulls omitted).
pub fn text_rows(batch: &RecordBatch) -> Result<Vec<Row>> {
    let schema = batch.schema();
    let names: Vec<Arc<str>> = schema.fields().iter().map(|f| Arc::from(f.name().as_str())).collect();
    let columns: Vec<Vec<Option<String>>> = batch.columns().iter().map(text_column).collect::<Result<_>>()?;
    Ok((0..batch.num_rows())
        .map(|row| {
            columns.iter().enumerate().filter_map(|(i, c)| c[row].clone().map(|v| (names[i].clone(), v))).collect()
        })
        .collect())
}

/// A batch as JSON rows: numbers stay numbers, timestamps are `YYYY-MM-DD HH:MM:SS.mmm`.
pub fn json_rows(batch: &RecordBatch) -> Result<Vec<Vec<serde_json::Value>>> {
    let columns: Vec<Vec<serde_json::Value>> = batch.columns().iter().map(json_column).collect::<Result<_>>()?;
    Ok((0..batch.num_rows()).map(|row| columns.iter().map(|c| c[row].clone()).collect()).collect())
}

fn text_column(array: &ArrayRef) -> Result<Vec<Option<String>>> {
    Ok(json_column(array)?
        .into_iter()
        .map(|v| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s),
            serde_json::Value::Number(n) => n.as_f64().and_then(format_number).or_else(|| Some(n.to_string())),
            other => Some(other.to_string()),
        })
        .collect())
}

fn json_column(array: &ArrayRef) -> Result<Vec<serde_json::Value>> {
    use serde_json::Value;
    let len = array.len();
    let data_type = array.data_type();
    Ok(match data_type {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => {
            let ints = cast(array, &DataType::Int64)?;
            ints.as_primitive::<Int64Type>().iter().map(|v| v.map_or(Value::Null, Value::from)).collect()
        }
        DataType::UInt64 => array
            .as_primitive::<datafusion::arrow::datatypes::UInt64Type>()
            .iter()
            .map(|v| v.map_or(Value::Null, Value::from))
            .collect(),
        DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => {
            let floats = cast(array, &DataType::Float64)?;
            floats
                .as_primitive::<Float64Type>()
                .iter()
                .map(|v| v.and_then(serde_json::Number::from_f64).map_or(Value::Null, Value::Number))
                .collect()
        }
        DataType::Boolean => array.as_boolean().iter().map(|v| v.map_or(Value::Null, Value::Bool)).collect(),
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
            let ms = cast(array, &DataType::Timestamp(TimeUnit::Millisecond, None))?;
            let ms = cast(&ms, &DataType::Int64)?;
            ms.as_primitive::<Int64Type>()
                .iter()
                .map(|v| v.map_or(Value::Null, |t| Value::from(format_timestamp(t))))
                .collect()
        }
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            let text = cast(array, &DataType::Utf8)?;
            text.as_string::<i32>().iter().map(|v| v.map_or(Value::Null, Value::from)).collect()
        }
        _ => {
            let formatter = ArrayFormatter::try_new(array.as_ref(), &FormatOptions::default())
                .map_err(|e| DataFusionError::ArrowError(Box::new(e), None))?;
            (0..len)
                .map(|i| if array.is_null(i) { Value::Null } else { Value::from(formatter.value(i).to_string()) })
                .collect()
        }
    })
}
