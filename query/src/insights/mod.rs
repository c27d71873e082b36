//! Logs Insights (insights.md): the language (parser, checks, planner onto DataFusion), its
//! execution with statistics, and the rendering of result rows.

pub mod ast;
pub(crate) mod count;
pub mod error;
pub mod manager;
pub mod parser;
pub(crate) mod pct;
pub mod plan;
pub mod pointer;
pub mod run;
pub mod udf;
pub mod values;

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type, Int64Type};
use datafusion::common::Result;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::SessionContext;
use futures::StreamExt;

pub use count::Counter;
pub use error::QueryError;
pub use plan::{GroupScan, Kind, PlanInput, Planned};

/// One result row: `(field, value)` pairs, null fields omitted.
pub type Row = Vec<(Arc<str>, String)>;

/// Parses and plans `src`.
pub fn compile(src: &str, input: &PlanInput) -> Result<Planned, QueryError> {
    let query = parser::parse(src)?;
    plan::plan(src, &query, input)
}

/// Runs a planned query, handing over rendered rows batch by batch.
pub async fn execute(ctx: &SessionContext, planned: Planned, mut on_rows: impl FnMut(Vec<Row>)) -> Result<()> {
    let state = count::session_state(ctx);
    let began = std::time::Instant::now();
    let mut stream = match crate::distributed::try_execute(&state, &planned.plan).await? {
        Some(stream) => stream,
        None => {
            let physical = state.create_physical_plan(&planned.plan).await?;
            tracing::debug!(physical_plan_ms = began.elapsed().as_secs_f64() * 1e3, "optimized and planned");
            execute_stream(physical, state.task_ctx())?
        }
    };
    let names: Vec<Arc<str>> = planned.columns.iter().map(|(name, _, _)| Arc::from(name.as_str())).collect();
    while let Some(batch) = stream.next().await {
        on_rows(render(&batch?, &names, &planned.columns)?);
    }
    Ok(())
}

/// Renders a result batch as §5.4 strings.
fn render(batch: &RecordBatch, names: &[Arc<str>], columns: &[(String, String, Kind)]) -> Result<Vec<Row>> {
    let rendered: Vec<Vec<Option<String>>> = columns
        .iter()
        .enumerate()
        .map(|(i, (_, _, kind))| render_column(batch.column(i), *kind))
        .collect::<Result<_>>()?;
    Ok((0..batch.num_rows())
        .map(|row| {
            rendered
                .iter()
                .enumerate()
                .filter_map(|(i, column)| column[row].clone().map(|value| (names[i].clone(), value)))
                .collect()
        })
        .collect())
}

fn render_column(array: &ArrayRef, kind: Kind) -> Result<Vec<Option<String>>> {
    Ok(match kind {
        Kind::Number => {
            let numbers = cast(array, &DataType::Float64)?;
            numbers.as_primitive::<Float64Type>().iter().map(|v| v.and_then(values::format_number)).collect()
        }
        Kind::Timestamp => {
            let ms = cast(array, &DataType::Int64)?;
            ms.as_primitive::<Int64Type>().iter().map(|v| v.map(values::format_timestamp)).collect()
        }
        Kind::Bool => {
            let flags = cast(array, &DataType::Boolean)?;
            flags.as_boolean().iter().map(|v| v.map(|b| if b { "1" } else { "0" }.to_owned())).collect()
        }
        Kind::Text | Kind::Json => {
            let text = cast(array, &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            (0..text.len())
                .map(|i| {
                    text.is_valid(i).then(|| {
                        let value = text.value(i);
                        if kind == Kind::Json { udf::json_text(value) } else { value.to_owned() }
                    })
                })
                .collect()
        }
    })
}
