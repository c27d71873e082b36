//! The read half of the X-Ray API (rest-json, spec traces.md §5): trace retrieval, summaries
//! with filter expressions, trace and service graphs, time series, groups, and the
//! basic operations of §5.2.

mod groups;
mod load;

use std::sync::Arc;

use base64::Engine;
use fluoro_proto::logs::Clock;
use fluoro_proto::xray::filter::{Filter, Selector};
use fluoro_proto::xray::graph::{Graph, Stats, histogram_json, only_inferred};
use fluoro_proto::xray::{Trace, TraceId, XrayError};
use fluoro_store::LogStore;
use serde_json::{Map, Value, json};

use crate::cw_logs::tokens::{self, FNV_OFFSET, fnv1a};

pub use groups::GroupStore;

/// Most trace ids BatchGetTraces and GetTraceGraph accept, and traces per page.
const MAX_TRACE_IDS: usize = 100;
const TRACES_PER_PAGE: usize = 5;
const SUMMARIES_PER_PAGE: usize = 100;
const SERVICES_PER_PAGE: usize = 1000;
/// How long a NextToken stays valid.
const TOKEN_TTL_MS: i64 = 86_400_000;

/// Settings of the read side.
#[derive(Debug, Clone)]
pub struct TracesReadSettings {
    pub account_id: String,
    pub region: String,
    /// `traces.max_summary_range`, seconds.
    pub max_summary_range_secs: f64,
    /// The per-trace limits ingest enforces: a trace that reached them is `LimitExceeded`.
    pub max_trace_documents: usize,
    pub max_trace_bytes: usize,
}

pub struct TracesReadApi {
    store: Arc<LogStore>,
    clock: Clock,
    settings: TracesReadSettings,
    groups: GroupStore,
}

/// The X-Ray read operations of the native API: (operation name, REST path).
pub const NATIVE_OPERATIONS: &[(&str, &str)] = &[
    ("GetTraceSummaries", "/TraceSummaries"),
    ("BatchGetTraces", "/Traces"),
    ("GetTraceGraph", "/TraceGraph"),
    ("GetServiceGraph", "/ServiceGraph"),
    ("GetTimeSeriesServiceStatistics", "/TimeSeriesServiceStatistics"),
    ("GetGroups", "/Groups"),
    ("GetGroup", "/GetGroup"),
];

impl TracesReadApi {
    pub fn new(store: Arc<LogStore>, clock: Clock, settings: TracesReadSettings) -> Self {
        let groups = GroupStore::new(store.catalog().clone(), settings.account_id.clone(), settings.region.clone());
        Self { store, clock, settings, groups }
    }

    /// Runs the operation at `path` if it is one of this API's; `None` otherwise.
    pub async fn handle(&self, path: &str, body: &Value) -> Option<Result<Value, XrayError>> {
        let now = (self.clock)();
        Some(match path {
            "/Traces" => self.batch_get_traces(body, now).await,
            "/TraceSummaries" => self.get_trace_summaries(body, now).await,
            "/TraceGraph" => self.get_trace_graph(body, now).await,
            "/ServiceGraph" => self.get_service_graph(body, now).await,
            "/TimeSeriesServiceStatistics" => self.get_time_series(body, now).await,
            "/CreateGroup" => self.groups.create(body),
            "/GetGroup" => self.groups.get(body),
            "/Groups" => self.groups.list(body),
            "/UpdateGroup" => self.groups.update(body, now),
            "/DeleteGroup" => self.groups.delete(body),
            "/InsightSummaries" => insight_summaries(body),
            "/Insight" | "/InsightEvents" | "/InsightImpactGraph" => insight(body),
            "/EncryptionConfig" => Ok(self.groups.encryption_config()),
            "/PutEncryptionConfig" => self.groups.put_encryption_config(body),
            "/GetIndexingRules" => Ok(self.groups.indexing_rules()),
            "/UpdateIndexingRule" => self.groups.update_indexing_rule(body, now),
            "/GetTraceSegmentDestination" => Ok(self.groups.destination()),
            "/UpdateTraceSegmentDestination" => self.groups.update_destination(body),
            _ => return None,
        })
    }

    pub fn groups(&self) -> &GroupStore {
        &self.groups
    }

    fn account(&self) -> &str {
        &self.settings.account_id
    }

    /// Parses `TraceIds`: (valid ids in order, malformed ones).
    fn trace_ids(body: &Value) -> Result<(Vec<TraceId>, Vec<String>), XrayError> {
        let list = body.get("TraceIds").and_then(Value::as_array);
        let list = list.ok_or_else(|| XrayError::invalid_request("TraceIds is required (a list of trace ids)"))?;
        if list.len() > MAX_TRACE_IDS {
            return Err(XrayError::invalid_request(format!("TraceIds holds at most {MAX_TRACE_IDS} ids")));
        }
        let mut ids = Vec::new();
        let mut unprocessed = Vec::new();
        for item in list {
            let text = item.as_str().ok_or_else(|| XrayError::invalid_request("TraceIds must be strings"))?;
            match TraceId::parse_any(text) {
                Some(id) if !ids.contains(&id) => ids.push(id),
                Some(_) => {}
                None => unprocessed.push(text.to_owned()),
            }
        }
        Ok((ids, unprocessed))
    }

    async fn batch_get_traces(&self, body: &Value, now: i64) -> Result<Value, XrayError> {
        let (ids, unprocessed) = Self::trace_ids(body)?;
        let print = fingerprint(&ids.iter().map(TraceId::to_xray).collect::<Vec<_>>().join(","));
        let offset = read_token(body, &print, now)?;
        let traces = load::by_ids(&self.store, &ids, self.account()).await?;
        let found: Vec<&Trace> = ids.iter().filter_map(|id| traces.iter().find(|t| t.id == *id)).collect();
        let limited =
            |t: &Trace| t.documents >= self.settings.max_trace_documents || t.bytes >= self.settings.max_trace_bytes;
        let page: Vec<Value> = found.iter().skip(offset).take(TRACES_PER_PAGE).map(|t| t.to_api(limited(t))).collect();
        let mut out = json!({"Traces": page, "UnprocessedTraceIds": unprocessed});
        if offset + TRACES_PER_PAGE < found.len() {
            out["NextToken"] = Value::from(make_token(offset + TRACES_PER_PAGE, &print, now));
        }
        Ok(out)
    }

    async fn get_trace_graph(&self, body: &Value, now: i64) -> Result<Value, XrayError> {
        let (ids, _) = Self::trace_ids(body)?;
        let traces = load::by_ids(&self.store, &ids, self.account()).await?;
        let mut graph = Graph::default();
        for trace in &traces {
            graph.add_trace(trace, f64::MIN, f64::MAX);
        }
        let print = fingerprint(&ids.iter().map(TraceId::to_xray).collect::<Vec<_>>().join(","));
        page_services(graph.to_services(), body, &print, now, None)
    }

    fn time_range(body: &Value) -> Result<(f64, f64), XrayError> {
        let start = body.get("StartTime").and_then(epoch_seconds);
        let end = body.get("EndTime").and_then(epoch_seconds);
        let (Some(start), Some(end)) = (start, end) else {
            return Err(XrayError::invalid_request("StartTime and EndTime are required (epoch seconds)"));
        };
        if start >= end {
            return Err(XrayError::invalid_request("StartTime must be before EndTime"));
        }
        Ok((start, end))
    }

    /// The documents of the traces in the window holding every one of `texts`.
    async fn traces_containing(
        &self,
        lo_ms: i64,
        hi_ms: i64,
        texts: &[String],
    ) -> Result<fluoro_store::TraceDocuments, fluoro_store::StoreError> {
        match self.store.trace_ids_containing(lo_ms, hi_ms, texts).await? {
            ids if ids.is_empty() => Ok(Default::default()),
            ids => self.store.trace_documents(&ids).await,
        }
    }

    async fn get_trace_summaries(&self, body: &Value, now: i64) -> Result<Value, XrayError> {
        let (start, end) = Self::time_range(body)?;
        if end - start > self.settings.max_summary_range_secs {
            return Err(XrayError::invalid_request(format!(
                "The time range is longer than the maximum of {} seconds",
                self.settings.max_summary_range_secs
            )));
        }
        let range_type = body.get("TimeRangeType").and_then(Value::as_str).unwrap_or("TraceId");
        if !matches!(range_type, "TraceId" | "Event" | "Service") {
            return Err(XrayError::invalid_request("TimeRangeType must be TraceId, Event or Service"));
        }
        let expression = body.get("FilterExpression").and_then(Value::as_str).unwrap_or_default();
        let filter = self.groups.parse_filter(expression)?;
        let sampling = body.get("Sampling").and_then(Value::as_bool).unwrap_or(false);
        let strategy = body.get("SamplingStrategy");
        let strategy_name = strategy.and_then(|s| s.get("Name")).and_then(Value::as_str).unwrap_or("FixedRate");
        let strategy_value = strategy.and_then(|s| s.get("Value")).and_then(Value::as_f64).unwrap_or(0.1);
        let print = fingerprint(&format!(
            "{start}|{end}|{range_type}|{expression}|{sampling}|{strategy_name}|{strategy_value}"
        ));
        let offset = read_token(body, &print, now)?;

        // PartialScan reads only the newest fraction of the range.
        let scan_start = if sampling && strategy_name == "PartialScan" {
            end - (end - start) * strategy_value.clamp(0.0, 1.0)
        } else {
            start
        };
        let margin = load::WINDOW_MARGIN_MS;
        let (window_lo, window_hi) = ((scan_start * 1000.0) as i64 - margin, (end * 1000.0) as i64 + margin);
        // A filter that requires texts (annotation values, users, URLs) first finds the traces
        // holding them with a scan of the document column, then reads only those traces.
        let required = filter.required_texts();
        let began = std::time::Instant::now();
        // `Service` ranges need segment ends, so every trace is compiled first; otherwise the
        // page is chosen from the documents' stored times and only its traces are read whole.
        let (times, mut documents) = if range_type == "Service" {
            let documents = if required.is_empty() {
                self.store.trace_documents_in_window(window_lo, window_hi).await
            } else {
                self.traces_containing(window_lo, window_hi, &required).await
            }
            .map_err(XrayError::internal)?;
            (None, documents)
        } else if required.is_empty() {
            let times = self.store.trace_times_in_window(window_lo, window_hi).await.map_err(XrayError::internal)?;
            (Some(times), Default::default())
        } else {
            let documents =
                self.traces_containing(window_lo, window_hi, &required).await.map_err(XrayError::internal)?;
            let times = documents
                .iter()
                .map(|(id, docs)| (*id, docs.iter().map(|d| (d.start_ns, d.end_ns)).collect()))
                .collect();
            (Some(times), documents)
        };
        let loaded = began.elapsed();
        let mut selected: Vec<(f64, Option<f64>, TraceId)> = Vec::new();
        let mut consider = |id: TraceId, selection: Option<(f64, Option<f64>)>| {
            let Some((time, matched)) = selection else { return };
            if sampling && strategy_name == "FixedRate" && !fixed_rate_keeps(&id, strategy_value) {
                return;
            }
            selected.push((time, matched, id));
        };
        match &times {
            Some(times) => {
                for (id, spans) in times {
                    consider(*id, row_selection_time(id, spans, range_type, scan_start, end));
                }
            }
            None => {
                for (id, docs) in &documents {
                    let trace = Trace::compile(*id, docs.clone(), self.account());
                    consider(*id, trace.and_then(|trace| selection_time(&trace, range_type, scan_start, end)));
                }
            }
        }
        // Newest first; ties by id so pages are stable.
        selected.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.2.cmp(&b.2)));
        let processed_page: Vec<&(f64, Option<f64>, TraceId)> =
            selected.iter().skip(offset).take(SUMMARIES_PER_PAGE).collect();
        let missing: Vec<TraceId> =
            processed_page.iter().map(|(_, _, id)| *id).filter(|id| !documents.contains_key(id)).collect();
        if !missing.is_empty() {
            documents.extend(self.store.trace_documents(&missing).await.map_err(XrayError::internal)?);
        }
        let mut summaries: Vec<Value> = Vec::new();
        for (_, matched, id) in &processed_page {
            let Some(docs) = documents.remove(id) else { continue };
            let Some(trace) = Trace::compile(*id, docs, self.account()) else { continue };
            if !only_inferred(&trace) && filter.matches(&trace) {
                summaries.push(trace.summary(*matched));
            }
        }
        tracing::debug!(
            selected = selected.len(),
            load_ms = loaded.as_millis() as u64,
            page_ms = (began.elapsed() - loaded).as_millis() as u64,
            "trace summaries read"
        );
        let approximate = processed_page.last().map_or(start, |(time, _, _)| *time);
        let mut out = json!({
            "TraceSummaries": summaries,
            "ApproximateTime": approximate,
            "TracesProcessedCount": processed_page.len(),
        });
        if offset + SUMMARIES_PER_PAGE < selected.len() {
            out["NextToken"] = Value::from(make_token(offset + SUMMARIES_PER_PAGE, &print, now));
        }
        Ok(out)
    }

    /// Traces of a graph window, filtered by the request's group.
    async fn graph_traces(&self, body: &Value, start: f64, end: f64) -> Result<(Vec<Trace>, bool), XrayError> {
        let group = self.groups.resolve_request_group(body)?;
        let margin = load::WINDOW_MARGIN_MS;
        let traces = load::in_window(
            &self.store,
            (start * 1000.0) as i64 - margin,
            (end * 1000.0) as i64 + margin,
            self.account(),
        )
        .await?;
        let Some(group) = group else {
            return Ok((traces, false));
        };
        let filter = self.groups.parse_filter(group.filter.as_deref().unwrap_or_default())?;
        let old_versions = group.changed_after(start);
        Ok((traces.into_iter().filter(|t| filter.matches(t)).collect(), old_versions))
    }

    async fn get_service_graph(&self, body: &Value, now: i64) -> Result<Value, XrayError> {
        let (start, end) = Self::time_range(body)?;
        let graph = if self.groups.resolve_request_group(body)?.is_some() {
            // Rollups are unfiltered: a group's graph is computed from its traces.
            let (traces, old_versions) = self.graph_traces(body, start, end).await?;
            let mut graph = Graph::default();
            for trace in &traces {
                graph.add_trace(trace, start, end);
            }
            (graph, old_versions)
        } else {
            (self.rolled_graph(start, end).await?, false)
        };
        let print = fingerprint(&format!("graph|{start}|{end}|{body}"));
        let mut out = page_services(graph.0.to_services(), body, &print, now, Some(graph.1))?;
        out["StartTime"] = Value::from(start);
        out["EndTime"] = Value::from(end);
        Ok(out)
    }

    /// `GET /api/v1/traces/service-map?startTime=&endTime=` (epoch seconds; default the last
    /// hour): the whole graph with each Lambda function one node (`Graph::with_lambda_merged`),
    /// in GetServiceGraph's `Services` shape.
    pub fn native_routes(api: Arc<Self>) -> axum::Router {
        async fn service_map(
            axum::extract::State(api): axum::extract::State<Arc<TracesReadApi>>,
            axum::extract::Query(params): axum::extract::Query<std::collections::HashMap<String, String>>,
        ) -> axum::response::Response {
            use axum::response::IntoResponse;
            let bad = |message: String| {
                (axum::http::StatusCode::BAD_REQUEST, axum::Json(serde_json::json!({ "error": message })))
                    .into_response()
            };
            let now = (api.clock)() as f64 / 1000.0;
            let number = |key: &str, default: f64| match params.get(key) {
                None => Ok(default),
                Some(text) => text.parse::<f64>().map_err(|_| format!("{key} must be epoch seconds")),
            };
            let (start, end) = match (number("startTime", now - 3600.0), number("endTime", now)) {
                (Ok(start), Ok(end)) if start < end => (start, end),
                (Err(e), _) | (_, Err(e)) => return bad(e),
                _ => return bad("startTime must be before endTime".into()),
            };
            match api.rolled_graph(start, end).await {
                Ok(graph) => axum::Json(serde_json::json!({
                    "startTime": start,
                    "endTime": end,
                    "services": graph.with_lambda_merged().to_services(),
                }))
                .into_response(),
                Err(e) => (
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(serde_json::json!({ "error": e.to_string() })),
                )
                    .into_response(),
            }
        }
        /// `POST /api/v1/xray/{Operation}`: the X-Ray read operations with their JSON input
        /// and output; errors as `{"error", "code"}` with the operation's HTTP status.
        async fn operation(
            axum::extract::State(api): axum::extract::State<Arc<TracesReadApi>>,
            axum::extract::Path(operation): axum::extract::Path<String>,
            body: axum::body::Bytes,
        ) -> axum::response::Response {
            use axum::response::IntoResponse;
            let Some((_, path)) = NATIVE_OPERATIONS.iter().find(|(name, _)| *name == operation) else {
                let names: Vec<&str> = NATIVE_OPERATIONS.iter().map(|(name, _)| *name).collect();
                return crate::native::unknown_operation("an X-Ray", &operation, &names);
            };
            let input = if body.iter().all(u8::is_ascii_whitespace) {
                Some(serde_json::json!({}))
            } else {
                serde_json::from_slice::<Value>(&body).ok().filter(Value::is_object)
            };
            let result = match input {
                None => Err(XrayError::invalid_request("The request body must be a JSON object")),
                Some(input) => api
                    .handle(path, &input)
                    .await
                    .unwrap_or_else(|| Err(XrayError::invalid_request(format!("{operation} is not served")))),
            };
            match result {
                Ok(value) => axum::Json(value).into_response(),
                Err(e) => crate::native::coded_error(e.status, e.code, e.message),
            }
        }
        axum::Router::new()
            .route("/api/v1/traces/service-map", axum::routing::get(service_map))
            .route("/api/v1/xray/{operation}", axum::routing::post(operation))
            .with_state(api)
    }

    /// The whole graph of `[start, end)`: per-minute rollups where they are clean, the rest
    /// computed from the documents.
    async fn rolled_graph(&self, start: f64, end: f64) -> Result<Graph, XrayError> {
        Ok(self.graph_parts(start, end).await?.window(start, end))
    }

    /// The rolled minutes of `[start, end)` and the traces of its live windows.
    async fn graph_parts(&self, start: f64, end: f64) -> Result<GraphParts, XrayError> {
        let view = self.store.service_map_view(start, end).map_err(XrayError::internal)?;
        // Live windows close together are computed from one read.
        let mut clusters: Vec<Vec<(f64, f64)>> = Vec::new();
        for window in &view.live {
            match clusters.last_mut() {
                Some(cluster) if window.0 - cluster.last().expect("non-empty").1 <= 1200.0 => cluster.push(*window),
                _ => clusters.push(vec![*window]),
            }
        }
        let mut live_traces = Vec::new();
        for cluster in clusters {
            let lo = cluster[0].0;
            let hi = cluster.last().expect("non-empty").1;
            let traces = load::in_window(
                &self.store,
                (lo * 1000.0) as i64 - 900_000,
                (hi * 1000.0) as i64 + 300_000,
                self.account(),
            )
            .await?;
            live_traces.extend(traces.into_iter().filter(|t| cluster.iter().any(|(a, b)| t.end >= *a && t.start < *b)));
        }
        Ok(GraphParts { rolled: view.rolled, live: view.live, traces: live_traces })
    }

    async fn get_time_series(&self, body: &Value, now: i64) -> Result<Value, XrayError> {
        let (start, end) = Self::time_range(body)?;
        let period = match body.get("Period") {
            None | Some(Value::Null) => 60,
            Some(v) => v.as_i64().ok_or_else(|| XrayError::invalid_request("Period must be an integer"))?,
        };
        if !(60..=3600).contains(&period) || period % 60 != 0 {
            return Err(XrayError::invalid_request("Period must be a multiple of 60 seconds, at most 3600"));
        }
        let selector = match body.get("EntitySelectorExpression").and_then(Value::as_str) {
            None => None,
            Some(text) if text.is_empty() || text.chars().count() > 500 => {
                return Err(XrayError::invalid_request("EntitySelectorExpression must hold 1 to 500 characters"));
            }
            Some(text) => Some(Filter::selector(text).map_err(|e| XrayError::invalid_request(e.to_string()))?),
        };
        if body.get("ForecastStatistics").and_then(Value::as_bool) == Some(true) {
            let id_selector = body
                .get("EntitySelectorExpression")
                .and_then(Value::as_str)
                .is_some_and(|t| t.trim_start().starts_with("id("));
            if !id_selector {
                return Err(XrayError::invalid_request("ForecastStatistics requires an id(...) entity selector"));
            }
        }
        // Without a group every bucket comes from the per-minute rollups (Period is a multiple
        // of 60); a group's series is computed from its traces.
        let grouped = self.groups.resolve_request_group(body)?.is_some();
        let (traces, old_versions) =
            if grouped { self.graph_traces(body, start, end).await? } else { (Vec::new(), false) };
        let parts = if grouped { None } else { Some(self.graph_parts(start, end).await?) };
        let period = period as f64;
        let first = (start / period).floor() * period;
        let mut buckets: Vec<Value> = Vec::new();
        let mut bucket_start = first;
        while bucket_start < end {
            let (lo, hi) = (bucket_start.max(start), (bucket_start + period).min(end));
            let graph = match &parts {
                None => {
                    let mut graph = Graph::default();
                    for trace in &traces {
                        graph.add_trace(trace, lo, hi);
                    }
                    graph
                }
                Some(parts) => parts.window(lo, hi),
            };
            if let Some(entry) = series_entry(&graph, selector.as_ref(), bucket_start) {
                buckets.push(entry);
            }
            bucket_start += period;
        }
        let print = fingerprint(&format!("series|{body}"));
        let offset = read_token(body, &print, now)?;
        let mut out = json!({
            "TimeSeriesServiceStatistics": buckets.iter().skip(offset).take(SERVICES_PER_PAGE).cloned().collect::<Vec<_>>(),
            "ContainsOldGroupVersions": old_versions,
        });
        if offset + SERVICES_PER_PAGE < buckets.len() {
            out["NextToken"] = Value::from(make_token(offset + SERVICES_PER_PAGE, &print, now));
        }
        Ok(out)
    }
}

/// A window's graph in pieces: rolled minutes, and live windows with their traces.
struct GraphParts {
    rolled: Vec<(i64, Graph)>,
    live: Vec<(f64, f64)>,
    traces: Vec<Trace>,
}

impl GraphParts {
    /// The graph of `[lo, hi)` (minute-aligned, or the whole window).
    fn window(&self, lo: f64, hi: f64) -> Graph {
        let mut graph = Graph::default();
        for (minute, rolled) in &self.rolled {
            let at = *minute as f64 * 60.0;
            if at >= lo && at < hi {
                graph.merge(rolled);
            }
        }
        for (a, b) in &self.live {
            let (a, b) = (a.max(lo), b.min(hi));
            if a < b {
                for trace in &self.traces {
                    graph.add_trace(trace, a, b);
                }
            }
        }
        graph
    }
}

/// One `TimeSeriesServiceStatistics` element, or `None` when the bucket has no data.
fn series_entry(graph: &Graph, selector: Option<&Selector>, bucket: f64) -> Option<Value> {
    let mut stats = Stats::default();
    let mut found = false;
    let service = matches!(selector, Some(Selector::Service(_)));
    match selector {
        Some(Selector::Service(node)) => {
            for (key, acc) in &graph.nodes {
                if node.matches(&key.name, key.node_type.as_deref(), key.account_id.as_deref()) {
                    stats.merge(&acc.stats);
                    found = true;
                }
            }
        }
        Some(Selector::Edge(from, to)) => {
            for ((caller, callee), acc) in &graph.edges {
                let caller_ok = caller
                    .as_ref()
                    .is_some_and(|c| from.matches(&c.name, c.node_type.as_deref(), c.account_id.as_deref()));
                if caller_ok && to.matches(&callee.name, callee.node_type.as_deref(), callee.account_id.as_deref()) {
                    stats.merge(&acc.stats);
                    found = true;
                }
            }
        }
        None => {
            for ((caller, _), acc) in &graph.edges {
                if caller.is_none() {
                    stats.merge(&acc.stats);
                    found = true;
                }
            }
        }
    }
    if !found || stats.total() == 0 {
        return None;
    }
    let mut entry = Map::new();
    entry.insert("Timestamp".into(), Value::from(bucket));
    let key = if service { "ServiceSummaryStatistics" } else { "EdgeSummaryStatistics" };
    entry.insert(key.into(), stats.summary_json());
    entry.insert("ResponseTimeHistogram".into(), histogram_json(&stats.response_times));
    Some(Value::Object(entry))
}

/// §5.4 selection time for `TraceId` and `Event` from the documents' stored (start, end) ns
/// alone.
fn row_selection_time(
    id: &TraceId,
    times: &[(i64, Option<i64>)],
    range_type: &str,
    start: f64,
    end: f64,
) -> Option<(f64, Option<f64>)> {
    let first = times.iter().map(|(s, _)| *s).min()? as f64 / 1e9;
    let last = times.iter().map(|(s, e)| e.unwrap_or(*s)).max()? as f64 / 1e9;
    if range_type == "Event" {
        if !(first < end && last >= start) {
            return None;
        }
        let matched = times
            .iter()
            .map(|(s, e)| e.unwrap_or(*s) as f64 / 1e9)
            .filter(|t| *t >= start && *t < end)
            .fold(None, |acc: Option<f64>, t| Some(acc.map_or(t, |a| a.max(t))))
            .unwrap_or(last.min(end));
        return Some((matched, Some(matched)));
    }
    let epoch = id.epoch() as f64;
    let time = if epoch >= first - 30.0 * 86_400.0 && epoch <= first + 300.0 { epoch } else { first.floor() };
    (time >= start && time < end).then_some((time, None))
}

/// §5.4 selection time of a trace, and `MatchedEventTime` for `Event`.
fn selection_time(trace: &Trace, range_type: &str, start: f64, end: f64) -> Option<(f64, Option<f64>)> {
    match range_type {
        "Event" => {
            if !(trace.start < end && trace.end >= start) {
                return None;
            }
            let matched = trace
                .real_entities()
                .filter(|e| e.kind != fluoro_proto::xray::trace::EntityKind::Subsegment || e.container.is_none())
                .map(|e| e.end.unwrap_or(e.start))
                .filter(|t| *t >= start && *t < end)
                .fold(None, |acc: Option<f64>, t| Some(acc.map_or(t, |a| a.max(t))));
            let matched = matched.unwrap_or(trace.end.min(end));
            Some((matched, Some(matched)))
        }
        "Service" => {
            let ends = trace
                .real_entities()
                .filter(|e| e.kind == fluoro_proto::xray::trace::EntityKind::Segment)
                .map(|e| e.end.unwrap_or(e.start))
                .filter(|t| *t >= start && *t < end)
                .fold(None, |acc: Option<f64>, t| Some(acc.map_or(t, |a| a.max(t))));
            ends.map(|t| (t, None))
        }
        _ => {
            let time = trace.trace_time();
            (time >= start && time < end).then_some((time, None))
        }
    }
}

/// `Sampling` with `FixedRate v`: keep traces whose FNV-1a hash of the X-Ray id falls below v.
fn fixed_rate_keeps(id: &TraceId, rate: f64) -> bool {
    let hash = fnv1a(FNV_OFFSET, id.to_xray().bytes());
    (hash as f64 / 18_446_744_073_709_551_616.0) < rate
}

fn page_services(
    services: Vec<Value>,
    body: &Value,
    print: &str,
    now: i64,
    old_versions: Option<bool>,
) -> Result<Value, XrayError> {
    let offset = read_token(body, print, now)?;
    let total = services.len();
    let page: Vec<Value> = services.into_iter().skip(offset).take(SERVICES_PER_PAGE).collect();
    let mut out = json!({ "Services": page });
    if let Some(old) = old_versions {
        out["ContainsOldGroupVersions"] = Value::from(old);
    }
    if offset + SERVICES_PER_PAGE < total {
        out["NextToken"] = Value::from(make_token(offset + SERVICES_PER_PAGE, print, now));
    }
    Ok(out)
}

fn insight_summaries(body: &Value) -> Result<Value, XrayError> {
    if let Some(states) = body.get("States") {
        let ok = states
            .as_array()
            .is_some_and(|s| s.len() <= 1 && s.iter().all(|v| matches!(v.as_str(), Some("ACTIVE" | "CLOSED"))));
        if !ok {
            return Err(XrayError::invalid_request("States holds at most one of ACTIVE, CLOSED"));
        }
    }
    if let Some(max) = body.get("MaxResults")
        && !max.as_i64().is_some_and(|m| (1..=100).contains(&m))
    {
        return Err(XrayError::invalid_request("MaxResults must be between 1 and 100"));
    }
    Ok(json!({"InsightSummaries": []}))
}

fn insight(body: &Value) -> Result<Value, XrayError> {
    if body.get("InsightId").and_then(Value::as_str).is_none() {
        return Err(XrayError::invalid_request("InsightId is required"));
    }
    Err(XrayError::invalid_request("insight not found: fluoro generates no insights"))
}

/// Request timestamps: epoch seconds (number) or ISO-8601 text.
pub fn epoch_seconds(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => chrono::DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp_millis() as f64 / 1000.0),
        _ => None,
    }
}

fn fingerprint(text: &str) -> String {
    tokens::fingerprint(&[text])
}

/// NextToken: base64url of a versioned JSON cursor (offset, request fingerprint, issue time).
fn make_token(offset: usize, print: &str, now: i64) -> String {
    let cursor = json!({"v": 1, "o": offset, "f": print, "t": now});
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(cursor.to_string())
}

/// The offset of the request's NextToken (0 without one).
fn read_token(body: &Value, print: &str, now: i64) -> Result<usize, XrayError> {
    let Some(token) = body.get("NextToken").and_then(Value::as_str) else {
        return Ok(0);
    };
    let invalid = || XrayError::invalid_request("NextToken is invalid or expired");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let cursor: Value = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    let issued = cursor["t"].as_i64().ok_or_else(invalid)?;
    if cursor["v"] != 1 || cursor["f"] != print || now - issued > TOKEN_TTL_MS {
        return Err(invalid());
    }
    cursor["o"].as_u64().map(|o| o as usize).ok_or_else(invalid)
}
