//! One Insights query from text to rows: snapshot the store, narrow the files with the term
//! index when the query requires literal words, plan, execute, count.

use std::sync::Arc;

use datafusion::common::Result;
use fluoro_store::{FileMeta, GroupMeta, LogStore, LogTable};

use super::ast::{BinOp, Command, Expr, ExprKind, Query};
use super::count::Counter;
use super::plan::{GroupScan, PlanInput, Planned};
use super::{QueryError, Row};

/// What to run.
#[derive(Debug, Clone)]
pub struct Request {
    pub account_id: String,
    pub groups: Vec<Arc<GroupMeta>>,
    /// Inclusive bounds in epoch ms.
    pub start_ms: i64,
    pub end_ms: i64,
    pub query: String,
    pub max_rows: usize,
    pub now_ms: i64,
}

/// Live statistics of a query (§1.2).
#[derive(Debug, Default)]
pub struct Progress {
    pub scanned: Arc<Counter>,
    pub matched: Arc<Counter>,
    /// Rows the term index let the scan skip (an estimate: whole skipped blocks).
    pub skipped_rows: std::sync::atomic::AtomicU64,
    pub groups: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Statistics {
    pub records_matched: f64,
    pub records_scanned: f64,
    pub estimated_records_skipped: f64,
    pub bytes_scanned: f64,
    pub log_groups_scanned: f64,
}

impl Progress {
    pub fn statistics(&self) -> Statistics {
        Statistics {
            records_matched: self.matched.rows() as f64,
            records_scanned: self.scanned.rows() as f64,
            estimated_records_skipped: self.skipped_rows.load(std::sync::atomic::Ordering::Relaxed) as f64,
            bytes_scanned: self.scanned.bytes() as f64,
            log_groups_scanned: self.groups as f64,
        }
    }
}

fn plan_input(store: &Arc<LogStore>, request: &Request, table: LogTable, progress: &Progress) -> PlanInput {
    PlanInput {
        groups: request
            .groups
            .iter()
            .map(|g| GroupScan {
                id: g.id,
                name: g.name.clone(),
                min_ts: g.retention_cutoff(request.now_ms).unwrap_or(i64::MIN),
            })
            .collect(),
        start_ms: request.start_ms,
        end_ms: request.end_ms,
        max_rows: request.max_rows,
        now_secs: request.now_ms.div_euclid(1000),
        account_id: request.account_id.clone(),
        table: Arc::new(table),
        catalog: store.catalog().clone(),
        scanned: progress.scanned.clone(),
        matched: progress.matched.clone(),
        trace_id: None,
    }
}

/// Parses and plans `request` against the current data: the errors StartQuery returns.
pub fn check(store: &Arc<LogStore>, request: &Request) -> Result<Query, QueryError> {
    let query = super::parser::parse(&request.query)?;
    let progress = Progress::default();
    let input = plan_input(store, request, LogTable::new(Default::default()), &progress);
    super::plan::plan(&request.query, &query, &input)?;
    Ok(query)
}

/// Runs `request`, handing rendered rows to `on_rows` as they are produced.
pub async fn run(
    store: &Arc<LogStore>,
    request: &Request,
    query: &Query,
    progress: &Progress,
    on_rows: impl FnMut(Vec<Row>) + Send,
) -> Result<()> {
    // Self-tracing (a no-op unless fluoro exports its own spans): one span per query run.
    use opentelemetry::trace::{Span, Status, Tracer};
    let tracer = opentelemetry::global::tracer("fluoro.insights");
    let mut span = tracer
        .span_builder("logs.insights.query")
        .with_kind(opentelemetry::trace::SpanKind::Internal)
        .with_attributes([
            opentelemetry::KeyValue::new("logs.query", request.query.chars().take(1000).collect::<String>()),
            opentelemetry::KeyValue::new("logs.groups", request.groups.len() as i64),
        ])
        .start(&tracer);
    // A damaged file is quarantined and the query runs again without it, unless rows were
    // handed over already (they would come twice).
    let emitted = std::sync::atomic::AtomicBool::new(false);
    let mut on_rows = on_rows;
    let mut sink = |rows: Vec<Row>| {
        emitted.store(true, std::sync::atomic::Ordering::Relaxed);
        on_rows(rows)
    };
    let (files, mut result) = run_query(store, request, query, progress, &mut sink).await;
    if let Err(error) = &result
        && store.quarantine_after_failure(&files, error).await
        && !emitted.load(std::sync::atomic::Ordering::Relaxed)
    {
        result = run_query(store, request, query, progress, &mut sink).await.1;
    }
    span.set_attribute(opentelemetry::KeyValue::new("logs.records_scanned", progress.scanned.rows() as i64));
    span.set_attribute(opentelemetry::KeyValue::new("logs.records_matched", progress.matched.rows() as i64));
    if let Err(error) = &result {
        span.set_status(Status::error(error.to_string()));
    }
    span.end();
    result
}

async fn run_query(
    store: &Arc<LogStore>,
    request: &Request,
    query: &Query,
    progress: &Progress,
    on_rows: &mut (dyn FnMut(Vec<Row>) + Send),
) -> (Vec<Arc<FileMeta>>, Result<()>) {
    let began = std::time::Instant::now();
    let group_id = match request.groups.as_slice() {
        [one] => Some(one.id),
        _ => None,
    };
    let mut snapshot = store.snapshot(group_id, request.start_ms, request.end_ms);
    let group_ids: Vec<u64> = request.groups.iter().map(|g| g.id).collect();
    snapshot.files.retain(|f| f.groups.iter().any(|(g, ..)| group_ids.contains(g)));
    let literals = required_literals(query);
    if !literals.is_empty() {
        let rows_before: u64 = snapshot.files.iter().map(|f| f.rows).sum();
        let refs: Vec<&str> = literals.iter().map(String::as_str).collect();
        store.narrow_by_index(&mut snapshot, &refs).await;
        let rows_after: u64 = snapshot
            .files
            .iter()
            .map(|f| match snapshot.selections.get(&f.id) {
                Some(ranges) => ranges.iter().map(|r| r.end - r.start).sum(),
                None => f.rows,
            })
            .sum();
        progress.skipped_rows.store(rows_before.saturating_sub(rows_after), std::sync::atomic::Ordering::Relaxed);
    }
    let trace_id = required_trace_id(query);
    if let Some(id) = &trace_id {
        store.narrow_to_trace(&mut snapshot, id).await;
    }
    let narrowed = began.elapsed();
    let read = snapshot.files.clone();
    let mut input = plan_input(store, request, LogTable::new(snapshot), progress);
    input.trace_id = trace_id;
    let planned: Planned = match super::plan::plan(&request.query, query, &input) {
        Ok(planned) => planned,
        Err(e) => return (read, Err(datafusion::error::DataFusionError::Plan(e.message))),
    };
    let planned_at = began.elapsed();
    let result = super::execute(&store.session_context(), planned, on_rows).await;
    tracing::debug!(
        files = read.len(),
        narrow_ms = narrowed.as_secs_f64() * 1e3,
        plan_ms = (planned_at - narrowed).as_secs_f64() * 1e3,
        execute_ms = (began.elapsed() - planned_at).as_secs_f64() * 1e3,
        "insights query ran"
    );
    (read, result)
}

/// The `filter` expressions every matching event passes before any command could change one
/// of `fields` (a `fields`/`display` or `parse` naming it, or anything else but `sort` and
/// `unmask`): what narrowing may rely on.
fn leading_filters<'q>(query: &'q Query, fields: &[&str]) -> Vec<&'q Expr> {
    let mut out = Vec::new();
    for command in &query.commands {
        match &command.node {
            Command::Filter(e) | Command::FilterIndex(e) => out.push(e),
            Command::Fields(items) | Command::Display(items) => {
                if items.iter().any(|i| fields.contains(&i.name().as_str())) {
                    break;
                }
            }
            Command::Parse { pattern, .. } => {
                let names = match pattern {
                    super::ast::ParsePattern::Glob { names, .. } => names.clone(),
                    super::ast::ParsePattern::Regex(re) => regex::Regex::new(re)
                        .map(|r| r.capture_names().flatten().map(str::to_owned).collect())
                        .unwrap_or_default(),
                };
                if names.iter().any(|n| fields.contains(&n.as_str())) {
                    break;
                }
            }
            Command::Sort(_) | Command::Unmask => {}
            _ => break,
        }
    }
    out
}

/// Words every matching event's message must contain, from the leading filters:
/// `@message like "…"`, `@message like /plain/`, and Lambda's `@type = "REPORT"` (and START /
/// END).
pub fn required_literals(query: &Query) -> Vec<String> {
    let mut out = Vec::new();
    for e in leading_filters(query, &["@message", "@type"]) {
        conjunct_literals(e, &mut out);
    }
    out
}

/// The trace every matching event must name, from a leading `filter @xrayTraceId = "…"`
/// (X-Ray or 32-hex form): the Bloom filters of the files and the `trace_id` column then do
/// the work.
pub fn required_trace_id(query: &Query) -> Option<[u8; 16]> {
    fn conjunct(e: &Expr) -> Option<[u8; 16]> {
        let is_field = |e: &Expr| matches!(&e.kind, ExprKind::Field(f) if f.name == "@xrayTraceId");
        match &e.kind {
            ExprKind::Binary { op: BinOp::And, left, right } => conjunct(left).or_else(|| conjunct(right)),
            ExprKind::Binary { op: BinOp::Eq, left, right } => {
                let value = match (&left.kind, &right.kind) {
                    (_, ExprKind::String(s)) if is_field(left) => s,
                    (ExprKind::String(s), _) if is_field(right) => s,
                    _ => return None,
                };
                fluoro_proto::xray::ids::TraceId::parse_any(value).map(|id| id.0)
            }
            _ => None,
        }
    }
    leading_filters(query, &["@xrayTraceId"]).into_iter().find_map(conjunct)
}

fn conjunct_literals(e: &Expr, out: &mut Vec<String>) {
    let is_field = |e: &Expr, name: &str| matches!(&e.kind, ExprKind::Field(f) if f.name == name);
    match &e.kind {
        ExprKind::Binary { op: BinOp::And, left, right } => {
            conjunct_literals(left, out);
            conjunct_literals(right, out);
        }
        ExprKind::Like { expr, pattern, negated: false } if is_field(expr, "@message") => match &pattern.kind {
            ExprKind::String(s) => out.push(s.clone()),
            ExprKind::Regex(re) if super::plan::is_plain_regex(re) => out.push(re.clone()),
            _ => {}
        },
        ExprKind::Binary { op: BinOp::Eq, left, right } if is_field(left, "@type") => {
            if let ExprKind::String(s) = &right.kind
                && matches!(s.as_str(), "REPORT" | "START" | "END")
            {
                out.push(format!("{s} RequestId"));
            }
        }
        _ => {}
    }
}
