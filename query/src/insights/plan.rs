//! Insights query → DataFusion logical plan. Every field has a static kind (text, number,
//! boolean, timestamp, JSON) so the language's dynamic rules become typed DataFusion
//! expressions and a few vectorized UDFs; DataFusion does the scanning, filtering, grouping,
//! sorting and limiting.
//!
//! The plan, bottom up: the log table scan (time range and groups pushed into Parquet pruning),
//! a counting node for `recordsScanned`/`bytesScanned`, a projection of the system fields and
//! of every discovered field the query names (one JSON/Lambda parse per row), then one step per
//! command, a counting node for `recordsMatched` where §1.2 puts it, and the final order and cap.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::common::{Column, ScalarValue, UnnestOptions};
use datafusion::datasource::provider_as_source;
use datafusion::functions::core::expr_fn as core_fn;
use datafusion::functions::expr_fn as fns;
use datafusion::functions_aggregate::expr_fn as agg;
use datafusion::functions_aggregate::first_last::first_value_udaf;
use datafusion::functions_window::expr_fn::row_number;
use datafusion::logical_expr::{
    Expr, ExprFunctionExt, Extension, LogicalPlan, LogicalPlanBuilder, Operator, SortExpr, binary_expr, cast, when,
};
use datafusion::prelude::lit;
use fluoro_proto::logs::columns;
use fluoro_store::Catalog;

use super::ast::{self, BinOp, Command, ExprKind, FieldRef, NamedExpr, ParsePattern, Query, Span};
use super::count::{CountNode, Counter};
use super::error::QueryError;
use super::pct::pct_udaf;
use super::udf::{InsightsUdf, IpCheck, Op};

/// The static kind of a value column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Utf8: strings and discovered values in their original text.
    Text,
    /// Float64.
    Number,
    Bool,
    /// Int64 epoch milliseconds.
    Timestamp,
    /// Utf8 holding JSON text (`jsonParse` results and their members).
    Json,
}

#[derive(Debug, Clone)]
struct Typed {
    expr: Expr,
    kind: Kind,
}

impl Typed {
    fn new(expr: Expr, kind: Kind) -> Self {
        Self { expr, kind }
    }

    fn null() -> Self {
        Self::new(lit(ScalarValue::Utf8(None)), Kind::Text)
    }
}

/// A log group the query reads.
#[derive(Debug, Clone)]
pub struct GroupScan {
    pub id: u64,
    pub name: String,
    /// Events before this (retention) are invisible.
    pub min_ts: i64,
}

/// Everything the planner needs besides the query.
pub struct PlanInput {
    pub groups: Vec<GroupScan>,
    pub start_ms: i64,
    pub end_ms: i64,
    /// The cap on result rows (StartQuery `limit`, default 10,000).
    pub max_rows: usize,
    pub now_secs: i64,
    pub account_id: String,
    pub table: Arc<dyn TableProvider>,
    pub catalog: Arc<Catalog>,
    pub scanned: Arc<Counter>,
    pub matched: Arc<Counter>,
    /// The trace every matching event names (`run::required_trace_id`): a `trace_id`
    /// predicate the Parquet scan can use.
    pub trace_id: Option<[u8; 16]>,
}

/// A planned query: the plan and how to read its output.
#[derive(Debug)]
pub struct Planned {
    pub plan: LogicalPlan,
    /// Output fields in order: (field name, column name in the plan, kind).
    pub columns: Vec<(String, String, Kind)>,
}

/// Plans `query` (already parsed from `src`).
pub fn plan(src: &str, query: &Query, input: &PlanInput) -> Result<Planned, QueryError> {
    let mut planner = Planner { src, input, discovered: BTreeMap::new(), missed: false, next_id: 0 };
    let planned = planner.plan(query)?;
    if !planner.missed {
        return Ok(planned);
    }
    // Discovered fields are extracted in one pass at the bottom: plan again knowing all of them.
    planner.missed = false;
    planner.next_id = 0;
    let planned = planner.plan(query)?;
    debug_assert!(!planner.missed);
    Ok(planned)
}

fn column(name: &str) -> Expr {
    Expr::Column(Column::new_unqualified(name))
}

fn df_err(error: datafusion::error::DataFusionError) -> QueryError {
    QueryError { message: format!("Query could not be planned: {error}"), start_char: 0, end_char: 0 }
}

const HIDDEN_GID: &str = "#gid";
const HIDDEN_SID: &str = "#sid";
const HIDDEN_SEQ: &str = "#seq";
const HIDDEN_TS: &str = "#ts";
const HIDDEN_ING: &str = "#ing";

struct State {
    builder: LogicalPlanBuilder,
    /// Visible fields: name → kind.
    scope: Vec<(String, Kind)>,
    /// The current record order, over columns of the plan.
    order: Vec<SortExpr>,
    /// Columns of `fields` commands, in order of first appearance.
    output: Vec<String>,
    display: Option<Vec<String>>,
    aggregated: bool,
    stats: usize,
    counted: bool,
    after_dedup: bool,
    /// Names a command (re)defined: no longer the system or discovered field.
    user_defined: HashSet<String>,
}

impl State {
    fn kind_of(&self, name: &str) -> Option<Kind> {
        self.scope.iter().find(|(n, _)| n == name).map(|(_, k)| *k)
    }

    fn set(&mut self, name: &str, kind: Kind) {
        self.user_defined.insert(name.to_owned());
        match self.scope.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = kind,
            None => self.scope.push((name.to_owned(), kind)),
        }
    }
}

struct Planner<'a> {
    src: &'a str,
    input: &'a PlanInput,
    /// Discovered (JSON and Lambda) fields the query reads, with their Arrow type.
    discovered: BTreeMap<String, DataType>,
    /// A field was referenced that the base projection lacks: plan again.
    missed: bool,
    next_id: usize,
}

/// Where an expression is compiled, for the checks of §3.3.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Plain,
    /// `fields`, `display`, `stats … by`: `bin()` allowed.
    BinOk,
}

impl<'a> Planner<'a> {
    fn error(&self, span: Span, message: &str) -> QueryError {
        QueryError::semantic(self.src, span, message)
    }

    fn fresh(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("#{prefix}{}", self.next_id)
    }

    fn plan(&mut self, query: &Query) -> Result<Planned, QueryError> {
        let mut st = self.base()?;
        for command in &query.commands {
            if st.after_dedup && !matches!(command.node, Command::Limit(_)) {
                return Err(self.error(command.span.clone(), "Only limit can follow dedup"));
            }
            let counts_here = matches!(
                command.node,
                Command::Stats { .. } | Command::Sort(_) | Command::Dedup(_) | Command::Limit(_) | Command::Pattern(_)
            );
            if counts_here && !st.counted {
                self.count_matched(&mut st)?;
            }
            st = self.command(st, command)?;
        }
        if !st.counted {
            self.count_matched(&mut st)?;
        }
        self.finish(st)
    }

    fn count_matched(&self, st: &mut State) -> Result<(), QueryError> {
        let plan = std::mem::replace(&mut st.builder, LogicalPlanBuilder::empty(false)).build().map_err(df_err)?;
        let node = CountNode::new(plan, self.input.matched.clone(), None);
        st.builder = LogicalPlanBuilder::from(LogicalPlan::Extension(Extension { node: Arc::new(node) }));
        st.counted = true;
        Ok(())
    }

    /// Scan → time/group filter → scanned counter → system and discovered fields.
    fn base(&mut self) -> Result<State, QueryError> {
        let input = self.input;
        let scan = LogicalPlanBuilder::scan("logs", provider_as_source(input.table.clone()), None).map_err(df_err)?;
        let ts = || column(columns::TIMESTAMP);
        let gid = || column(columns::GROUP_ID);
        let min_start = input.groups.iter().map(|g| g.min_ts.max(input.start_ms)).min().unwrap_or(input.start_ms);
        let mut predicate = ts()
            .gt_eq(lit(min_start))
            .and(ts().lt_eq(lit(input.end_ms)))
            .and(gid().in_list(input.groups.iter().map(|g| lit(g.id)).collect(), false));
        if let Some(id) = input.trace_id {
            let id = datafusion::common::ScalarValue::FixedSizeBinary(16, Some(id.to_vec()));
            predicate = predicate.and(column(columns::TRACE_ID).eq(lit(id)));
        }
        if input.groups.iter().any(|g| g.min_ts > input.start_ms) {
            let per_group = input
                .groups
                .iter()
                .map(|g| gid().eq(lit(g.id)).and(ts().gt_eq(lit(g.min_ts.max(input.start_ms)))))
                .reduce(Expr::or)
                .expect("at least one group");
            predicate = predicate.and(per_group);
        }
        let filtered = scan.filter(predicate).map_err(df_err)?.build().map_err(df_err)?;
        let message_index =
            filtered.schema().index_of_column(&Column::new_unqualified(columns::MESSAGE)).map_err(df_err)?;
        let counted = CountNode::new(filtered, input.scanned.clone(), Some(message_index));
        let builder = LogicalPlanBuilder::from(LogicalPlan::Extension(Extension { node: Arc::new(counted) }));

        let group_names: HashMap<u64, String> =
            input.groups.iter().map(|g| (g.id, format!("{}:{}", input.account_id, g.name))).collect();
        let lambda_groups: HashSet<u64> =
            input.groups.iter().filter(|g| g.name.starts_with("/aws/lambda/")).map(|g| g.id).collect();
        let mut exprs = vec![
            column(columns::GROUP_ID).alias(HIDDEN_GID),
            column(columns::STREAM_ID).alias(HIDDEN_SID),
            column(columns::SEQ).alias(HIDDEN_SEQ),
            column(columns::TIMESTAMP).alias(HIDDEN_TS),
            column(columns::INGESTION_TIME).alias(HIDDEN_ING),
            column(columns::TIMESTAMP).alias("@timestamp"),
            column(columns::INGESTION_TIME).alias("@ingestionTime"),
            column(columns::MESSAGE).alias("@message"),
            InsightsUdf::call(
                "insights_stream_name",
                format!("{:p}", Arc::as_ptr(&input.catalog)),
                Op::StreamNames(super::udf::CatalogRef(input.catalog.clone())),
                DataType::Utf8,
                vec![column(columns::GROUP_ID), column(columns::STREAM_ID)],
            )
            .alias("@logStream"),
            InsightsUdf::call(
                "insights_log_name",
                format!("{group_names:?}"),
                Op::Lookup(Arc::new(group_names)),
                DataType::Utf8,
                vec![column(columns::GROUP_ID)],
            )
            .alias("@log"),
            // The trace the event names (spec traces.md §8.5), for every event, not only
            // Lambda's REPORT lines: from the columns the write path filled.
            super::udf::trace_text(true).alias("@xrayTraceId"),
            super::udf::span_text().alias("@xraySegmentId"),
        ];
        let mut scope = vec![
            ("@timestamp".to_owned(), Kind::Timestamp),
            ("@ingestionTime".to_owned(), Kind::Timestamp),
            ("@message".to_owned(), Kind::Text),
            ("@logStream".to_owned(), Kind::Text),
            ("@log".to_owned(), Kind::Text),
            ("@xrayTraceId".to_owned(), Kind::Text),
            ("@xraySegmentId".to_owned(), Kind::Text),
        ];
        let discovered: Vec<(String, DataType)> = self.discovered.iter().map(|(n, t)| (n.clone(), t.clone())).collect();
        let mut builder = builder;
        if !discovered.is_empty() {
            exprs.push(
                InsightsUdf::call(
                    "insights_discover",
                    format!("{discovered:?} {lambda_groups:?}"),
                    Op::Discover { fields: discovered.clone(), lambda_groups: Arc::new(lambda_groups) },
                    DataType::Struct(
                        discovered
                            .iter()
                            .map(|(n, t)| datafusion::arrow::datatypes::Field::new(n, t.clone(), true))
                            .collect(),
                    ),
                    vec![column(columns::MESSAGE), column(columns::GROUP_ID)],
                )
                .alias("#disc"),
            );
            builder = builder.project(exprs).map_err(df_err)?;
            let mut unpacked: Vec<Expr> = scope.iter().map(|(n, _)| column(n)).collect();
            unpacked.extend([HIDDEN_GID, HIDDEN_SID, HIDDEN_SEQ, HIDDEN_TS, HIDDEN_ING].map(column));
            for (name, data_type) in &discovered {
                unpacked.push(core_fn::get_field(column("#disc"), name.as_str()).alias(name));
                scope.push((name.clone(), if *data_type == DataType::Float64 { Kind::Number } else { Kind::Text }));
            }
            builder = builder.project(unpacked).map_err(df_err)?;
        } else {
            builder = builder.project(exprs).map_err(df_err)?;
        }
        let desc = |name: &str| column(name).sort(false, false);
        Ok(State {
            builder,
            scope,
            order: vec![desc(HIDDEN_TS), desc(HIDDEN_ING), desc(HIDDEN_SEQ)],
            output: Vec::new(),
            display: None,
            aggregated: false,
            stats: 0,
            counted: false,
            after_dedup: false,
            user_defined: HashSet::new(),
        })
    }

    /// Every column of the current plan, to carry through a projection (minus `except`).
    fn carry(&self, st: &State, except: &[&str]) -> Vec<Expr> {
        st.builder
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .filter(|n| !except.contains(n))
            .map(column)
            .collect()
    }

    fn project_add(&self, mut st: State, added: Vec<(String, Expr)>) -> Result<State, QueryError> {
        let names: Vec<&str> = added.iter().map(|(n, _)| n.as_str()).collect();
        let mut exprs = self.carry(&st, &names);
        exprs.extend(added.iter().map(|(n, e)| e.clone().alias(n)));
        st.builder = st.builder.project(exprs).map_err(df_err)?;
        Ok(st)
    }

    fn command(&mut self, st: State, command: &ast::Spanned<Command>) -> Result<State, QueryError> {
        match &command.node {
            Command::Fields(items) => self.fields(st, items, false),
            Command::Display(items) => self.fields(st, items, true),
            Command::Filter(e) | Command::FilterIndex(e) => {
                let condition = self.expr(&st, e, Place::Plain)?;
                let condition = to_bool(condition);
                let mut st = st;
                st.builder = st.builder.filter(condition).map_err(df_err)?;
                Ok(st)
            }
            Command::Stats { items, by } => self.stats(st, items, by, command.span.clone()),
            Command::Sort(keys) => {
                let mut added = Vec::new();
                let mut order = Vec::new();
                for key in keys {
                    let typed = self.expr(&st, &key.expr, Place::Plain)?;
                    let name = self.fresh("s");
                    added.push((name.clone(), sort_key(typed)));
                    order.push(column(&name).sort(!key.descending, false));
                }
                let mut st = self.project_add(st, added)?;
                order.extend(std::mem::take(&mut st.order));
                st.order = order;
                st.builder = st.builder.sort(st.order.clone()).map_err(df_err)?;
                Ok(st)
            }
            Command::Limit(n) => {
                let mut st = st;
                let n = (*n as usize).min(self.input.max_rows.max(10_000));
                st.builder = sorted(st.builder, &st.order)?.limit(0, Some(n)).map_err(df_err)?;
                Ok(st)
            }
            Command::Parse { source, pattern } => self.parse(st, source, pattern),
            Command::Dedup(fields) => self.dedup(st, fields),
            Command::Unnest { field, into } => self.unnest(st, field, into, command.span.clone()),
            Command::Pattern(e) => self.pattern(st, e),
            Command::Unmask => Ok(st),
            Command::Diff(_) => Err(self.error(command.span.clone(), "The diff command is not supported by fluoro")),
        }
    }

    fn fields(&mut self, mut st: State, items: &[NamedExpr], display: bool) -> Result<State, QueryError> {
        let mut names = Vec::new();
        for item in items {
            let name = item.name();
            let is_same_field =
                matches!(&item.expr.kind, ExprKind::Field(f) if f.name == name) && st.kind_of(&name).is_some();
            if !is_same_field {
                let typed = self.expr(&st, &item.expr, Place::BinOk)?;
                st = self.project_add(st, vec![(name.clone(), typed.expr)])?;
                st.set(&name, typed.kind);
            }
            if !names.contains(&name) {
                names.push(name);
            }
        }
        if display {
            st.display = Some(names);
        } else {
            for name in names {
                if !st.output.contains(&name) {
                    st.output.push(name);
                }
            }
        }
        Ok(st)
    }

    fn parse(&mut self, st: State, source: &ast::Expr, pattern: &ParsePattern) -> Result<State, QueryError> {
        let text = to_text(self.expr(&st, source, Place::Plain)?);
        if let ParsePattern::Glob { glob, names, .. } = pattern {
            let struct_type = DataType::Struct(
                names.iter().map(|n| datafusion::arrow::datatypes::Field::new(n, DataType::Utf8, true)).collect(),
            );
            let call = InsightsUdf::call(
                "insights_glob",
                format!("{glob} {names:?}"),
                Op::Glob { glob: super::udf::GlobMatcher::new(glob), names: names.clone() },
                struct_type,
                vec![text.expr],
            );
            return self.captured(st, call, names);
        }
        let ParsePattern::Regex(regex_src) = pattern else { unreachable!("globs are handled above") };
        let compiled = regex::Regex::new(regex_src).map_err(|e| self.error(source.span.clone(), &e.to_string()))?;
        let mut names = Vec::new();
        let mut groups = Vec::new();
        for (i, name) in compiled.capture_names().enumerate() {
            if let Some(name) = name {
                names.push(name.to_owned());
                groups.push(i);
            }
        }
        let struct_type = DataType::Struct(
            names.iter().map(|n| datafusion::arrow::datatypes::Field::new(n, DataType::Utf8, true)).collect(),
        );
        let call = InsightsUdf::call(
            "insights_parse",
            format!("{regex_src} {names:?}"),
            Op::Parse { regex: compiled, names: names.clone(), groups },
            struct_type,
            vec![text.expr],
        );
        self.captured(st, call, &names)
    }

    /// Projects the struct of captures `call` and its members as fields named `names`.
    fn captured(&mut self, st: State, call: Expr, names: &[String]) -> Result<State, QueryError> {
        let captures = self.fresh("p");
        let mut st = self.project_add(st, vec![(captures.clone(), call)])?;
        let added = names.iter().map(|n| (n.clone(), core_fn::get_field(column(&captures), n.as_str()))).collect();
        st = self.project_add(st, added)?;
        for name in names {
            st.set(name, Kind::Text);
        }
        Ok(st)
    }

    fn dedup(&mut self, st: State, fields: &[FieldRef]) -> Result<State, QueryError> {
        let keys: Vec<Typed> = fields.iter().map(|f| self.field(&st, f)).collect();
        let any_null =
            keys.iter().map(|k| k.expr.clone().is_null()).reduce(Expr::or).expect("dedup names at least one field");
        let rank = self.fresh("rn");
        let window = row_number()
            .partition_by(keys.iter().map(|k| k.expr.clone()).collect())
            .order_by(st.order.clone())
            .build()
            .map_err(df_err)?
            .alias(&rank);
        let mut st = st;
        st.builder = st.builder.window(vec![window]).map_err(df_err)?;
        st.builder = st.builder.filter(column(&rank).eq(lit(1u64)).or(any_null)).map_err(df_err)?;
        st.after_dedup = true;
        Ok(st)
    }

    fn unnest(&mut self, st: State, field: &FieldRef, into: &str, span: Span) -> Result<State, QueryError> {
        let typed = self.field(&st, field);
        if typed.kind != Kind::Json {
            // A non-list value is a one-element list; null drops the record.
            let mut st = self.project_add(st, vec![(into.to_owned(), typed.expr.clone())])?;
            st.builder = st.builder.filter(column(into).is_not_null()).map_err(df_err)?;
            st.set(into, typed.kind);
            return Ok(st);
        }
        let list = self.fresh("u");
        let element = DataType::Struct(super::udf::json_list_fields());
        let call = InsightsUdf::call(
            "insights_json_list",
            String::new(),
            Op::JsonList,
            DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new_list_field(element, true))),
            vec![typed.expr],
        );
        let mut st = self.project_add(st, vec![(list.clone(), call)])?;
        st.builder = st
            .builder
            .unnest_column_with_options(Column::new_unqualified(&list), UnnestOptions::new().with_preserve_nulls(false))
            .map_err(|e| self.error(span, &format!("unnest failed: {e}")))?;
        // Elements of one record keep their list order.
        let position = self.fresh("ui");
        let mut st = self.project_add(
            st,
            vec![
                (into.to_owned(), core_fn::get_field(column(&list), "v")),
                (position.clone(), core_fn::get_field(column(&list), "i")),
            ],
        )?;
        st.order.push(column(&position).sort(true, false));
        st.set(into, Kind::Json);
        Ok(st)
    }

    fn pattern(&mut self, st: State, e: &ast::Expr) -> Result<State, QueryError> {
        let text = to_text(self.expr(&st, e, Place::Plain)?);
        let template =
            InsightsUdf::call("insights_pattern", String::new(), Op::PatternTemplate, DataType::Utf8, vec![text.expr]);
        let mut st = st;
        st.builder = st
            .builder
            .filter(template.clone().is_not_null())
            .map_err(df_err)?
            .aggregate(vec![template.alias("@pattern")], vec![agg::count(lit(1)).alias("#count")])
            .map_err(df_err)?;
        let total = Expr::from(datafusion::logical_expr::expr::WindowFunction::new(
            datafusion::logical_expr::expr::WindowFunctionDefinition::AggregateUDF(
                datafusion::functions_aggregate::sum::sum_udaf(),
            ),
            vec![column("#count")],
        ))
        .alias("#total");
        st.builder = st.builder.window(vec![total]).map_err(df_err)?;
        st.builder = st
            .builder
            .project(vec![
                column("@pattern"),
                cast(column("#count"), DataType::Float64).alias("@sampleCount"),
                (cast(column("#count"), DataType::Float64) / cast(column("#total"), DataType::Float64)).alias("@ratio"),
                InsightsUdf::call(
                    "insights_severity",
                    String::new(),
                    Op::Severity,
                    DataType::Utf8,
                    vec![column("@pattern")],
                )
                .alias("@severityLabel"),
            ])
            .map_err(df_err)?;
        let names = ["@pattern", "@sampleCount", "@ratio", "@severityLabel"];
        st.scope = vec![
            (names[0].into(), Kind::Text),
            (names[1].into(), Kind::Number),
            (names[2].into(), Kind::Number),
            (names[3].into(), Kind::Text),
        ];
        st.order = vec![column("@sampleCount").sort(false, false), column("@pattern").sort(true, false)];
        st.output = names.iter().map(|n| n.to_string()).collect();
        st.display = None;
        st.aggregated = true;
        st.stats += 1;
        Ok(st)
    }

    fn stats(&mut self, st: State, items: &[NamedExpr], by: &[NamedExpr], span: Span) -> Result<State, QueryError> {
        if st.stats >= 2 {
            return Err(self.error(span, "A query can have at most two stats commands"));
        }
        let mut group_exprs = Vec::new();
        let mut keys: Vec<(String, Kind, String)> = Vec::new();
        let mut bin_key = None;
        for (i, item) in by.iter().enumerate() {
            let typed = self.expr(&st, &item.expr, Place::BinOk)?;
            if contains_aggregate(&item.expr) {
                return Err(self.error(item.expr.span.clone(), "Aggregate functions are not allowed in stats by"));
            }
            let column_name = format!("#k{i}");
            if bin_key.is_none() && matches!(&item.expr.kind, ExprKind::Call { name, .. } if name == "bin") {
                bin_key = Some(column_name.clone());
            }
            group_exprs.push(typed.expr.alias(&column_name));
            keys.push((item.name(), typed.kind, column_name));
        }
        let mut aggregates: Vec<Expr> = Vec::new();
        let mut outputs: Vec<(String, Typed)> = Vec::new();
        for item in items {
            if !contains_aggregate(&item.expr) {
                return Err(self.error(item.expr.span.clone(), "Each stats item needs an aggregate function"));
            }
            let typed = self.stat_item(&st, &item.expr, &keys, &outputs, &mut aggregates)?;
            outputs.push((item.name(), typed));
        }
        if by.is_empty() {
            aggregates.push(agg::count(lit(1)).alias("#n"));
        }
        let mut st = st;
        st.builder = st.builder.aggregate(group_exprs, aggregates).map_err(df_err)?;
        if by.is_empty() {
            // Zero input records make zero rows, not one row of zeros.
            st.builder = st.builder.filter(column("#n").gt(lit(0i64))).map_err(df_err)?;
        }
        let mut exprs = Vec::new();
        let mut scope = Vec::new();
        let mut order = Vec::new();
        let mut seen = HashSet::new();
        for (i, (name, kind, column_name)) in keys.iter().enumerate() {
            let sort_name = format!("#o{i}");
            exprs.push(sort_key(Typed::new(column(column_name), *kind)).alias(&sort_name));
            order.push(column(&sort_name).sort(true, false));
            if seen.insert(name.clone()) {
                exprs.push(column(column_name).alias(name));
                scope.push((name.clone(), *kind));
            }
        }
        for (name, typed) in &outputs {
            if seen.insert(name.clone()) {
                exprs.push(typed.expr.clone().alias(name));
                scope.push((name.clone(), typed.kind));
            }
        }
        if let Some(bin) = &bin_key
            && seen.insert("@timestamp".to_owned())
        {
            exprs.push(column(bin).alias("@timestamp"));
            scope.push(("@timestamp".to_owned(), Kind::Timestamp));
        }
        st.builder = st.builder.project(exprs).map_err(df_err)?;
        st.output = keys.iter().map(|k| k.0.clone()).chain(outputs.iter().map(|o| o.0.clone())).fold(
            Vec::new(),
            |mut acc, n| {
                if !acc.contains(&n) {
                    acc.push(n);
                }
                acc
            },
        );
        st.scope = scope;
        st.order = order;
        st.display = None;
        st.aggregated = true;
        st.stats += 1;
        Ok(st)
    }

    /// A stats item: aggregate calls become columns of the aggregate node; the arithmetic
    /// around them, by-keys and earlier aliases are evaluated after it.
    fn stat_item(
        &mut self,
        st: &State,
        e: &ast::Expr,
        keys: &[(String, Kind, String)],
        earlier: &[(String, Typed)],
        aggregates: &mut Vec<Expr>,
    ) -> Result<Typed, QueryError> {
        match &e.kind {
            ExprKind::Call { name, args, star } if is_aggregate(name) => {
                self.aggregate(st, name, args, *star, e.span.clone(), aggregates)
            }
            ExprKind::Field(field) => {
                if let Some((_, kind, column_name)) = keys.iter().find(|k| k.0 == field.name) {
                    return Ok(Typed::new(column(column_name), *kind));
                }
                if let Some((_, typed)) = earlier.iter().rev().find(|(n, _)| *n == field.name) {
                    return Ok(typed.clone());
                }
                Err(self.error(
                    e.span.clone(),
                    &format!("'{}' must be inside an aggregate function or named in stats by", field.name),
                ))
            }
            ExprKind::Number { .. } | ExprKind::String(_) => self.expr(st, e, Place::Plain),
            ExprKind::Neg(inner) => {
                let inner = self.stat_item(st, inner, keys, earlier, aggregates)?;
                Ok(Typed::new(-to_num(inner), Kind::Number))
            }
            ExprKind::Binary { op, left, right } => {
                let l = self.stat_item(st, left, keys, earlier, aggregates)?;
                let r = self.stat_item(st, right, keys, earlier, aggregates)?;
                Ok(binary(*op, l, r))
            }
            ExprKind::Call { name, args, star } => {
                let mut typed_args = Vec::new();
                for arg in args {
                    typed_args.push(self.stat_item(st, arg, keys, earlier, aggregates)?);
                }
                self.scalar(st, name, args, typed_args, *star, e.span.clone(), Place::Plain)
            }
            _ => Err(self.error(e.span.clone(), "This expression is not allowed in stats")),
        }
    }

    fn aggregate(
        &mut self,
        st: &State,
        name: &str,
        args: &[ast::Expr],
        star: bool,
        span: Span,
        aggregates: &mut Vec<Expr>,
    ) -> Result<Typed, QueryError> {
        let arity = |n: usize| -> Result<(), QueryError> {
            if args.len() != n || star {
                return Err(self.error(span.clone(), &format!("{name}() takes {n} argument(s)")));
            }
            Ok(())
        };
        for arg in args {
            if contains_aggregate(arg) {
                return Err(self.error(arg.span.clone(), "Aggregate functions cannot be nested"));
            }
        }
        let push = |expr: Expr, kind: Kind, aggregates: &mut Vec<Expr>| {
            let column_name = format!("#a{}", aggregates.len());
            aggregates.push(expr.alias(&column_name));
            Typed::new(column(&column_name), kind)
        };
        let natural_first = |typed: Typed, ascending: bool| {
            let text = to_text(typed);
            first_value_udaf()
                .call(vec![text.expr.clone()])
                .order_by(vec![sort_key(text.clone()).sort(ascending, false)])
                .filter(text.expr.is_not_null())
                .build()
        };
        match name {
            "count" => {
                if star || args.is_empty() {
                    return Ok(push(cast(agg::count(lit(1)), DataType::Float64), Kind::Number, aggregates));
                }
                arity(1)?;
                let value = self.expr(st, &args[0], Place::Plain)?;
                Ok(push(cast(agg::count(value.expr), DataType::Float64), Kind::Number, aggregates))
            }
            "count_distinct" => {
                arity(1)?;
                let value = self.expr(st, &args[0], Place::Plain)?;
                Ok(push(cast(agg::count_distinct(value.expr), DataType::Float64), Kind::Number, aggregates))
            }
            "sum" | "avg" => {
                arity(1)?;
                let value = to_num(self.expr(st, &args[0], Place::Plain)?);
                let expr = if name == "sum" { agg::sum(value) } else { agg::avg(value) };
                Ok(push(expr, Kind::Number, aggregates))
            }
            "stddev" => {
                arity(1)?;
                let value = to_num(self.expr(st, &args[0], Place::Plain)?);
                let sd = push(agg::stddev(value.clone()), Kind::Number, aggregates);
                let n = push(agg::count(value), Kind::Number, aggregates);
                let expr = when(n.expr.eq(lit(1.0)), lit(0.0)).otherwise(sd.expr).map_err(df_err)?;
                Ok(Typed::new(expr, Kind::Number))
            }
            "pct" => {
                arity(2)?;
                let value = to_num(self.expr(st, &args[0], Place::Plain)?);
                let p = match &args[1].kind {
                    ExprKind::Number { value, .. } if (0.0..=100.0).contains(value) => *value,
                    _ => return Err(self.error(args[1].span.clone(), "pct() needs a percentile between 0 and 100")),
                };
                Ok(push(pct_udaf(p).call(vec![value]), Kind::Number, aggregates))
            }
            "min" | "max" | "sortsfirst" | "sortslast" => {
                arity(1)?;
                let value = self.expr(st, &args[0], Place::Plain)?;
                let first = matches!(name, "min" | "sortsfirst");
                match value.kind {
                    Kind::Number | Kind::Timestamp => {
                        let expr = if first { agg::min(value.expr) } else { agg::max(value.expr) };
                        Ok(push(expr, value.kind, aggregates))
                    }
                    Kind::Bool => {
                        let n = to_num(value);
                        Ok(push(if first { agg::min(n) } else { agg::max(n) }, Kind::Number, aggregates))
                    }
                    Kind::Text | Kind::Json => {
                        let expr = natural_first(value, first).map_err(df_err)?;
                        Ok(push(expr, Kind::Text, aggregates))
                    }
                }
            }
            "earliest" | "latest" => {
                arity(1)?;
                let value = self.expr(st, &args[0], Place::Plain)?;
                let kind = value.kind;
                let ascending = name == "earliest";
                let mut order = Vec::new();
                if st.aggregated {
                    let ts = self.field(st, &FieldRef::simple("@timestamp"));
                    order.push(ts.expr.sort(ascending, false));
                } else {
                    order.push(column(HIDDEN_TS).sort(ascending, false));
                    order.push(column(HIDDEN_ING).sort(false, false));
                    order.push(column(HIDDEN_SEQ).sort(false, false));
                }
                let expr = first_value_udaf()
                    .call(vec![value.expr.clone()])
                    .order_by(order)
                    .filter(value.expr.is_not_null())
                    .build()
                    .map_err(df_err)?;
                Ok(push(expr, kind, aggregates))
            }
            _ => Err(self.error(span, &format!("Unknown aggregate function '{name}'"))),
        }
    }

    /// Resolves a field: a column of the plan, a member of a JSON column, or a discovered field.
    fn field(&mut self, st: &State, field: &FieldRef) -> Typed {
        if let Some(kind) = st.kind_of(&field.name) {
            return Typed::new(column(&field.name), kind);
        }
        for split in (1..field.segments.len()).rev() {
            let prefix = field.segments[..split].join(".");
            if st.kind_of(&prefix) == Some(Kind::Json) {
                let path = field.segments[split..].to_vec();
                let call = InsightsUdf::call(
                    "insights_json_get",
                    format!("{path:?}"),
                    Op::JsonGet(path),
                    DataType::Utf8,
                    vec![column(&prefix)],
                );
                return Typed::new(call, Kind::Json);
            }
        }
        if field.name == "@ptr" && !st.aggregated {
            return Typed::new(pointer_expr(), Kind::Text);
        }
        if st.aggregated {
            return Typed::null();
        }
        let data_type = match fluoro_proto::fields::lambda_field_is_number(&field.name) {
            Some(true) => DataType::Float64,
            _ => DataType::Utf8,
        };
        if !self.discovered.contains_key(&field.name) {
            self.discovered.insert(field.name.clone(), data_type);
            self.missed = true;
        }
        Typed::null()
    }

    fn expr(&mut self, st: &State, e: &ast::Expr, place: Place) -> Result<Typed, QueryError> {
        Ok(match &e.kind {
            ExprKind::Number { value, .. } => Typed::new(lit(*value), Kind::Number),
            ExprKind::String(s) => Typed::new(lit(s.clone()), Kind::Text),
            ExprKind::Regex(_) => return Err(self.error(e.span.clone(), "A regular expression is not allowed here")),
            ExprKind::Period(_) => {
                return Err(
                    self.error(e.span.clone(), "A time period is only allowed in bin(), datefloor() and dateceil()")
                );
            }
            ExprKind::List(_) => return Err(self.error(e.span.clone(), "A list is only allowed after 'in'")),
            ExprKind::Field(field) => self.field(st, field),
            ExprKind::Call { name, args, star } => {
                if is_aggregate(name) {
                    return Err(self
                        .error(e.span.clone(), &format!("The aggregate function {name}() can only be used in stats")));
                }
                let mut typed = Vec::new();
                for arg in args {
                    // Periods are arguments of the date functions, checked there.
                    if matches!(arg.kind, ExprKind::Period(_)) {
                        typed.push(Typed::null());
                    } else {
                        typed.push(self.expr(st, arg, Place::Plain)?);
                    }
                }
                self.scalar(st, name, args, typed, *star, e.span.clone(), place)?
            }
            ExprKind::Neg(inner) => Typed::new(-to_num(self.expr(st, inner, place)?), Kind::Number),
            ExprKind::Not(inner) => Typed::new(!to_bool(self.expr(st, inner, Place::Plain)?), Kind::Bool),
            ExprKind::Binary { op, left, right } => {
                // `@type = "REPORT"` holds exactly when the message starts with the platform
                // keyword: a prefix test instead of parsing every message.
                if *op == BinOp::Eq
                    && let Some(prefix) = self.lambda_type_test(st, left, right)
                {
                    return Ok(Typed::new(fns::starts_with(column("@message"), lit(prefix)), Kind::Bool));
                }
                let l = self.expr(st, left, place)?;
                let r = self.expr(st, right, place)?;
                binary(*op, l, r)
            }
            ExprKind::Like { expr, pattern, negated } => {
                let text = to_text(self.expr(st, expr, Place::Plain)?);
                let matched = match &pattern.kind {
                    ExprKind::String(s) => {
                        let escaped = s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
                        Expr::Like(datafusion::logical_expr::expr::Like::new(
                            false,
                            Box::new(text.expr),
                            Box::new(lit(format!("%{escaped}%"))),
                            Some('\\'),
                            false,
                        ))
                    }
                    // A regex without metacharacters is a substring test: the `LIKE '%…%'`
                    // kernel (memmem) instead of the regex engine.
                    ExprKind::Regex(re) if is_plain_regex(re) => Expr::Like(datafusion::logical_expr::expr::Like::new(
                        false,
                        Box::new(text.expr),
                        Box::new(lit(format!("%{re}%"))),
                        Some('\\'),
                        false,
                    )),
                    ExprKind::Regex(re) => fns::regexp_like(text.expr, lit(re.clone()), None),
                    _ => return Err(self.error(pattern.span.clone(), "like expects a string or a regex")),
                };
                Typed::new(if *negated { !matched } else { matched }, Kind::Bool)
            }
            ExprKind::In { expr, list, negated } => {
                let value = self.expr(st, expr, Place::Plain)?;
                let mut any = None;
                for item in list {
                    let item = self.expr(st, item, Place::Plain)?;
                    let eq = binary(BinOp::Eq, value.clone(), item).expr;
                    any = Some(match any {
                        None => eq,
                        Some(prev) => Expr::or(prev, eq),
                    });
                }
                let any = any.unwrap_or(lit(false));
                // `not in` is false when the value is null.
                let expr = if *negated { value.expr.is_not_null().and(!any) } else { any };
                Typed::new(expr, Kind::Bool)
            }
        })
    }

    /// For `@type = "START" | "END" | "REPORT"` on the discovered Lambda field of an unchanged
    /// `@message`: the message prefix that is equivalent.
    fn lambda_type_test(&self, st: &State, left: &ast::Expr, right: &ast::Expr) -> Option<String> {
        let (ExprKind::Field(field), ExprKind::String(value)) = (&left.kind, &right.kind) else { return None };
        let discovered = field.name == "@type" && !st.user_defined.contains("@type");
        let original_message = !st.user_defined.contains("@message");
        (discovered && original_message && !st.aggregated && matches!(value.as_str(), "START" | "END" | "REPORT"))
            .then(|| format!("{value} RequestId: "))
    }

    #[allow(clippy::too_many_arguments)]
    fn scalar(
        &mut self,
        st: &State,
        name: &str,
        asts: &[ast::Expr],
        mut args: Vec<Typed>,
        star: bool,
        span: Span,
        place: Place,
    ) -> Result<Typed, QueryError> {
        let src = self.src;
        let n_args = args.len();
        let arity = |lo: usize, hi: usize| -> Result<(), QueryError> {
            if star || n_args < lo || n_args > hi {
                let wanted = if lo == hi {
                    lo.to_string()
                } else if hi == usize::MAX {
                    format!("at least {lo}")
                } else {
                    format!("{lo} to {hi}")
                };
                return Err(QueryError::semantic(src, span.clone(), &format!("{name}() takes {wanted} argument(s)")));
            }
            Ok(())
        };
        let period = |i: usize| -> Result<ast::Period, QueryError> {
            match asts.get(i).map(|a| &a.kind) {
                Some(ExprKind::Period(p)) if p.count > 0 => Ok(*p),
                _ => Err(QueryError::semantic(src, span.clone(), &format!("{name}() needs a time period such as 5m"))),
            }
        };
        let num = |t: Typed| Typed::new(to_num(t), Kind::Number);
        let text_fn = |f: fn(Expr) -> Expr, t: Typed| Typed::new(f(to_text(t).expr), Kind::Text);
        let udf_bool = |op: IpCheck, args: Vec<Expr>| {
            Typed::new(
                InsightsUdf::call("insights_ip", format!("{op:?}"), Op::Ip(op), DataType::Boolean, args),
                Kind::Bool,
            )
        };
        let round = |ts: Typed, p: ast::Period, ceil: bool| {
            let (millis, months) = match (p.unit.fixed_millis(), p.unit.months()) {
                (Some(ms), _) => (ms * p.count, 0),
                (None, Some(m)) => (0, m * p.count),
                (None, None) => unreachable!("every unit is fixed or calendar"),
            };
            let call = InsightsUdf::call(
                "insights_date_round",
                format!("{millis} {months} {ceil}"),
                Op::DateRound { millis, months, ceil },
                DataType::Int64,
                vec![to_int_ms(ts)],
            );
            Typed::new(call, Kind::Timestamp)
        };
        Ok(match name {
            "abs" | "ceil" | "floor" => {
                arity(1, 1)?;
                let x = to_num(args.remove(0));
                let f = match name {
                    "abs" => fns::abs(x),
                    "ceil" => fns::ceil(x),
                    _ => fns::floor(x),
                };
                Typed::new(f, Kind::Number)
            }
            "sqrt" | "log" => {
                arity(1, 1)?;
                let x = to_num(args.remove(0));
                let (valid, f) = if name == "sqrt" {
                    (x.clone().gt_eq(lit(0.0)), fns::sqrt(x))
                } else {
                    (x.clone().gt(lit(0.0)), fns::ln(x))
                };
                Typed::new(when(valid, f).end().map_err(df_err)?, Kind::Number)
            }
            "greatest" | "least" => {
                arity(1, usize::MAX)?;
                let xs: Vec<Expr> = args.into_iter().map(to_num).collect();
                Typed::new(if name == "greatest" { core_fn::greatest(xs) } else { core_fn::least(xs) }, Kind::Number)
            }
            "concat" => {
                arity(1, usize::MAX)?;
                let expr = args
                    .into_iter()
                    .map(|a| to_text(a).expr)
                    .reduce(|a, b| binary_expr(a, Operator::StringConcat, b))
                    .expect("arity checked");
                Typed::new(expr, Kind::Text)
            }
            "strlen" => {
                arity(1, 1)?;
                Typed::new(cast(fns::character_length(to_text(args.remove(0)).expr), DataType::Float64), Kind::Number)
            }
            "toupper" => {
                arity(1, 1)?;
                text_fn(fns::upper, args.remove(0))
            }
            "tolower" => {
                arity(1, 1)?;
                text_fn(fns::lower, args.remove(0))
            }
            "trim" | "ltrim" | "rtrim" => {
                arity(1, 2)?;
                let s = to_text(args.remove(0)).expr;
                let chars = if args.is_empty() { lit(" \t\n\r\u{b}\u{c}") } else { to_text(args.remove(0)).expr };
                let f = match name {
                    "trim" => fns::btrim(vec![s, chars]),
                    "ltrim" => fns::ltrim(vec![s, chars]),
                    _ => fns::rtrim(vec![s, chars]),
                };
                Typed::new(f, Kind::Text)
            }
            "substr" => {
                arity(2, 3)?;
                let s = to_text(args.remove(0)).expr;
                let start = cast(to_num(args.remove(0)), DataType::Int64) + lit(1i64);
                let f = if args.is_empty() {
                    fns::substr(s, start)
                } else {
                    fns::substring(s, start, cast(to_num(args.remove(0)), DataType::Int64))
                };
                Typed::new(f, Kind::Text)
            }
            "replace" => {
                arity(3, 3)?;
                let mut texts = args.into_iter().map(|a| to_text(a).expr);
                let (s, from, to) = (texts.next().unwrap(), texts.next().unwrap(), texts.next().unwrap());
                Typed::new(fns::replace(s, from, to), Kind::Text)
            }
            "strcontains" => {
                arity(2, 2)?;
                let s = to_text(args.remove(0)).expr;
                let needle = to_text(args.remove(0)).expr;
                Typed::new(fns::strpos(s, needle).gt(lit(0)), Kind::Bool)
            }
            "isempty" | "isblank" => {
                arity(1, 1)?;
                let s = to_text(args.remove(0)).expr;
                let content =
                    if name == "isblank" { fns::btrim(vec![s.clone(), lit(" \t\n\r\u{b}\u{c}")]) } else { s.clone() };
                Typed::new(s.is_null().or(content.eq(lit(""))), Kind::Bool)
            }
            "bin" => {
                if place != Place::BinOk {
                    return Err(self.error(span, "bin() is only allowed in stats ... by and in fields"));
                }
                arity(1, 1)?;
                let ts = self.field(st, &FieldRef::simple("@timestamp"));
                round(ts, period(0)?, false)
            }
            "datefloor" | "dateceil" => {
                arity(2, 2)?;
                let ts = args.remove(0);
                round(ts, period(1)?, name == "dateceil")
            }
            "frommillis" => {
                arity(1, 1)?;
                Typed::new(cast(to_num(args.remove(0)), DataType::Int64), Kind::Timestamp)
            }
            "tomillis" => {
                arity(1, 1)?;
                num(args.remove(0))
            }
            "now" => {
                arity(0, 0)?;
                Typed::new(lit(self.input.now_secs as f64), Kind::Number)
            }
            "isvalidip" | "isvalidipv4" | "isvalidipv6" => {
                arity(1, 1)?;
                let check = match name {
                    "isvalidip" => IpCheck::Any,
                    "isvalidipv4" => IpCheck::V4,
                    _ => IpCheck::V6,
                };
                udf_bool(check, vec![to_text(args.remove(0)).expr])
            }
            "isipinsubnet" | "isipv4insubnet" | "isipv6insubnet" => {
                arity(2, 2)?;
                let check = match name {
                    "isipinsubnet" => IpCheck::InSubnet,
                    "isipv4insubnet" => IpCheck::V4InSubnet,
                    _ => IpCheck::V6InSubnet,
                };
                let ip = to_text(args.remove(0)).expr;
                let cidr = to_text(args.remove(0)).expr;
                udf_bool(check, vec![ip, cidr])
            }
            "ispresent" => {
                arity(1, 1)?;
                Typed::new(args.remove(0).expr.is_not_null(), Kind::Bool)
            }
            "coalesce" => {
                arity(1, usize::MAX)?;
                let kind = args[0].kind;
                if args.iter().all(|a| a.kind == kind) {
                    Typed::new(core_fn::coalesce(args.into_iter().map(|a| a.expr).collect()), kind)
                } else {
                    Typed::new(core_fn::coalesce(args.into_iter().map(|a| to_text(a).expr).collect()), Kind::Text)
                }
            }
            "jsonparse" => {
                arity(1, 1)?;
                let s = to_text(args.remove(0)).expr;
                Typed::new(
                    InsightsUdf::call("insights_json_parse", String::new(), Op::JsonParse, DataType::Utf8, vec![s]),
                    Kind::Json,
                )
            }
            "jsonstringify" => {
                arity(1, 1)?;
                let value = args.remove(0);
                match value.kind {
                    Kind::Json => Typed::new(value.expr, Kind::Text),
                    _ => to_text(value),
                }
            }
            _ => return Err(self.error(span, &format!("Unknown function '{name}'"))),
        })
    }

    /// Final order and cap, then the output columns (and `@ptr`).
    fn finish(&mut self, st: State) -> Result<Planned, QueryError> {
        let mut names = st.display.clone().unwrap_or_else(|| st.output.clone());
        if names.is_empty() && !st.aggregated {
            names = vec!["@timestamp".to_owned(), "@message".to_owned()];
        }
        let State { builder, scope, order, aggregated, .. } = st;
        let kind_of = |name: &str| scope.iter().find(|(n, _)| n == name).map(|(_, k)| *k);
        let mut builder = sorted(builder, &order)?;
        builder = builder.limit(0, Some(self.input.max_rows)).map_err(df_err)?;
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let column_name = format!("#out{i}");
            let typed = match kind_of(name) {
                Some(kind) => Typed::new(column(name), kind),
                None => Typed::null(),
            };
            exprs.push(typed.expr.alias(&column_name));
            columns.push((name.clone(), column_name, typed.kind));
        }
        if !aggregated {
            exprs.push(pointer_expr().alias("#ptr"));
            columns.push(("@ptr".to_owned(), "#ptr".to_owned(), Kind::Text));
        }
        let plan = builder.project(exprs).map_err(df_err)?.build().map_err(df_err)?;
        Ok(Planned { plan, columns })
    }
}

/// A regex that matches exactly its own text: letters, digits, blanks and a few punctuation
/// characters that are neither regex nor LIKE metacharacters.
pub(crate) fn is_plain_regex(re: &str) -> bool {
    !re.is_empty()
        && re.chars().all(|c| c.is_alphanumeric() || matches!(c, ' ' | ':' | '-' | '=' | ',' | ';' | '@' | '/'))
}

/// `builder` sorted by `order` (nothing to do for an empty order: one stats row).
fn sorted(builder: LogicalPlanBuilder, order: &[SortExpr]) -> Result<LogicalPlanBuilder, QueryError> {
    if order.is_empty() { Ok(builder) } else { builder.sort(order.to_vec()).map_err(df_err) }
}

fn pointer_expr() -> Expr {
    InsightsUdf::call(
        "insights_ptr",
        String::new(),
        Op::Pointer,
        DataType::Utf8,
        vec![column(HIDDEN_GID), column(HIDDEN_SID), column(HIDDEN_SEQ), column(HIDDEN_TS)],
    )
}

pub fn is_aggregate(name: &str) -> bool {
    matches!(
        name,
        "count"
            | "count_distinct"
            | "sum"
            | "avg"
            | "min"
            | "max"
            | "stddev"
            | "pct"
            | "earliest"
            | "latest"
            | "sortsfirst"
            | "sortslast"
    )
}

fn contains_aggregate(e: &ast::Expr) -> bool {
    match &e.kind {
        ExprKind::Call { name, args, .. } => is_aggregate(name) || args.iter().any(contains_aggregate),
        ExprKind::Neg(inner) | ExprKind::Not(inner) => contains_aggregate(inner),
        ExprKind::Binary { left, right, .. } => contains_aggregate(left) || contains_aggregate(right),
        ExprKind::Like { expr, .. } => contains_aggregate(expr),
        ExprKind::In { expr, list, .. } => contains_aggregate(expr) || list.iter().any(contains_aggregate),
        ExprKind::List(items) => items.iter().any(contains_aggregate),
        _ => false,
    }
}

/// The text form of a value (§5.4 rendering, used by string functions and text comparison).
fn to_text(t: Typed) -> Typed {
    let expr = match t.kind {
        Kind::Text => t.expr,
        Kind::Json => {
            InsightsUdf::call("insights_json_text", String::new(), Op::JsonText, DataType::Utf8, vec![t.expr])
        }
        Kind::Number => {
            InsightsUdf::call("insights_format_number", String::new(), Op::FormatNumber, DataType::Utf8, vec![t.expr])
        }
        Kind::Timestamp => {
            InsightsUdf::call("insights_format_ts", String::new(), Op::FormatTimestamp, DataType::Utf8, vec![t.expr])
        }
        Kind::Bool => when(t.expr.clone().is_null(), lit(ScalarValue::Utf8(None)))
            .when(t.expr, lit("1"))
            .otherwise(lit("0"))
            .expect("a CASE with branches builds"),
    };
    Typed::new(expr, Kind::Text)
}

/// A value as a number (§5.2): text must look numeric, timestamps are ms, booleans 1/0.
fn to_num(t: Typed) -> Expr {
    match t.kind {
        Kind::Number => t.expr,
        Kind::Bool | Kind::Timestamp => cast(t.expr, DataType::Float64),
        Kind::Text => InsightsUdf::call("insights_to_num", String::new(), Op::ToNum, DataType::Float64, vec![t.expr]),
        Kind::Json => to_num(to_text(t)),
    }
}

fn to_int_ms(t: Typed) -> Expr {
    match t.kind {
        Kind::Timestamp => t.expr,
        _ => cast(to_num(t), DataType::Int64),
    }
}

fn to_bool(t: Typed) -> Expr {
    match t.kind {
        Kind::Bool => t.expr,
        Kind::Number => t.expr.not_eq(lit(0.0)),
        Kind::Timestamp => t.expr.is_not_null(),
        Kind::Text | Kind::Json => {
            let text = t.expr;
            text.clone().is_not_null().and(text.not_eq(lit("")))
        }
    }
}

/// The expression to sort a value by: native for numbers and timestamps, the natural key
/// (§5.5) for text.
fn sort_key(t: Typed) -> Expr {
    match t.kind {
        Kind::Number | Kind::Timestamp => t.expr,
        Kind::Bool => cast(t.expr, DataType::Float64),
        Kind::Text | Kind::Json => InsightsUdf::call(
            "insights_natural_key",
            String::new(),
            Op::NaturalKey,
            DataType::Binary,
            vec![to_text(t).expr],
        ),
    }
}

fn numeric(kind: Kind) -> bool {
    matches!(kind, Kind::Number | Kind::Bool | Kind::Timestamp)
}

fn binary(op: BinOp, l: Typed, r: Typed) -> Typed {
    let arithmetic = |f: fn(Expr, Expr) -> Expr, l: Typed, r: Typed| Typed::new(f(to_num(l), to_num(r)), Kind::Number);
    match op {
        BinOp::And => Typed::new(to_bool(l).and(to_bool(r)), Kind::Bool),
        BinOp::Or => Typed::new(to_bool(l).or(to_bool(r)), Kind::Bool),
        BinOp::Add => arithmetic(|a, b| a + b, l, r),
        BinOp::Sub => arithmetic(|a, b| a - b, l, r),
        BinOp::Mul => arithmetic(|a, b| a * b, l, r),
        BinOp::Div | BinOp::Mod => {
            let (a, b) = (to_num(l), to_num(r));
            let value = if op == BinOp::Div { a / b.clone() } else { a % b.clone() };
            // Division by zero is null, not infinity.
            Typed::new(when(b.not_eq(lit(0.0)), value).end().expect("a CASE with a branch builds"), Kind::Number)
        }
        BinOp::Pow => arithmetic(fns::power, l, r),
        BinOp::Eq | BinOp::Ne => {
            let eq = if numeric(l.kind) && numeric(r.kind)
                || matches!(l.kind, Kind::Number | Kind::Bool)
                || matches!(r.kind, Kind::Number | Kind::Bool)
            {
                to_num(l).eq(to_num(r))
            } else {
                to_text(l).expr.eq(to_text(r).expr)
            };
            if op == BinOp::Eq {
                Typed::new(eq, Kind::Bool)
            } else {
                // `!=` is false when either side is null, as `=` is.
                Typed::new(!eq, Kind::Bool)
            }
        }
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
            let (a, b) = if numeric(l.kind) && numeric(r.kind) {
                (to_num(l), to_num(r))
            } else {
                let side = |t: Typed| if numeric(t.kind) { to_num(t) } else { to_text(t).expr };
                let cmp = InsightsUdf::call(
                    "insights_compare",
                    String::new(),
                    Op::Compare,
                    DataType::Int8,
                    vec![side(l), side(r)],
                );
                (cmp, lit(0i8))
            };
            let expr = match op {
                BinOp::Lt => a.lt(b),
                BinOp::Le => a.lt_eq(b),
                BinOp::Gt => a.gt(b),
                _ => a.gt_eq(b),
            };
            Typed::new(expr, Kind::Bool)
        }
    }
}
