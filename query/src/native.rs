//! The native JSON API under `/api/` that the web UI speaks. This part: `POST /api/v1/sql`,
//! `GET /api/v1/traces/{id}/logs` (the logs of one trace, `crate::trace_logs`),
//! `GET /api/v1/logs/tail` (live tail, `crate::live_tail`) and
//! `POST /api/v1/logs/{Operation}`: the CloudWatch Logs read operations (`LOG_OPERATIONS`) with
//! their AWS JSON input and output, so the UI and boto3 share one implementation and one set of
//! validations; errors come back as `{"error", "code"}` with the operation's HTTP status.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use fluoro_proto::logs::Clock;
use fluoro_store::{GroupMeta, LogStore};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::insights::run::Progress;
use crate::sql::{SqlScope, execute, json_rows, prepare};

pub struct NativeApi {
    pub store: Arc<LogStore>,
    pub logs: Arc<crate::cw_logs::LogsReadApi>,
    pub region: String,
    pub account_id: String,
    pub clock: Clock,
    pub timeout: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SqlRequest {
    query: String,
    /// Epoch ms, inclusive; default: everything.
    start_time: Option<i64>,
    end_time: Option<i64>,
    /// Groups the `logs` table holds; default: all.
    log_group_names: Option<Vec<String>>,
    /// Row cap (default 10,000; at most 100,000).
    limit: Option<usize>,
}

pub fn router(api: Arc<NativeApi>) -> Router {
    Router::new()
        .route("/api/v1/sql", post(sql))
        .route("/api/v1/traces/{id}/logs", axum::routing::get(trace_logs))
        .route("/api/v1/logs/tail", axum::routing::get(tail))
        .route("/api/v1/logs/{operation}", post(logs_operation))
        .with_state(api)
}

/// The CloudWatch Logs operations the native API serves: reads, plus the saved queries the
/// query service keeps (`PutQueryDefinition`, `DeleteQueryDefinition`).
pub const LOG_OPERATIONS: &[&str] = &[
    "DescribeLogGroups",
    "DescribeLogStreams",
    "DescribeMetricFilters",
    "ListTagsForResource",
    "GetLogEvents",
    "FilterLogEvents",
    "GetLogRecord",
    "GetLogGroupFields",
    "StartQuery",
    "GetQueryResults",
    "StopQuery",
    "DescribeQueries",
    "PutQueryDefinition",
    "DescribeQueryDefinitions",
    "DeleteQueryDefinition",
];

/// `POST /api/v1/logs/{Operation}`.
async fn logs_operation(
    State(api): State<Arc<NativeApi>>,
    axum::extract::Path(operation): axum::extract::Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !LOG_OPERATIONS.contains(&operation.as_str()) {
        return unknown_operation("a log", &operation, LOG_OPERATIONS);
    }
    let ctx = fluoro_proto::aws_json::RequestContext { account_id: api.account_id.clone(), region: api.region.clone() };
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &body };
    match api.logs.handle(&ctx, &operation, body).await {
        Some(Ok(value)) => Json(value).into_response(),
        Some(Err(e)) => coded_error(e.code.http_status(), e.code.as_str(), e.message),
        None => unknown_operation("a log", &operation, LOG_OPERATIONS),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TraceLogsParams {
    /// Epoch ms; default: the trace's window (its documents ± 5 minutes).
    start_time: Option<i64>,
    end_time: Option<i64>,
    /// Event cap (default 1,000; at most 10,000).
    limit: Option<usize>,
}

/// `GET /api/v1/logs/tail`: live tail as server-sent events (`crate::live_tail::sse`).
async fn tail(State(api): State<Arc<NativeApi>>, query: axum::extract::RawQuery) -> Response {
    crate::live_tail::sse(api.store.clone(), query.0.as_deref().unwrap_or_default()).await
}

/// `GET /api/v1/traces/{id}/logs`: the id in X-Ray or 32-hex form.
async fn trace_logs(
    State(api): State<Arc<NativeApi>>,
    axum::extract::Path(id): axum::extract::Path<String>,
    params: Result<axum::extract::Query<TraceLogsParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let params = match params {
        Ok(axum::extract::Query(params)) => params,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let Some(trace_id) = fluoro_proto::xray::TraceId::parse_any(&id) else {
        return error(
            StatusCode::BAD_REQUEST,
            format!("{id:?} is not a trace id (1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx or 32 hex)"),
        );
    };
    let limit = params.limit.unwrap_or(1000);
    if limit == 0 || limit > 10_000 {
        return error(StatusCode::BAD_REQUEST, "limit must be between 1 and 10000");
    }
    let request = crate::trace_logs::TraceLogsRequest {
        trace_id,
        start_ms: params.start_time,
        end_ms: params.end_time,
        limit,
        now_ms: (api.clock)(),
    };
    match tokio::time::timeout(api.timeout, crate::trace_logs::logs_of_trace(&api.store, &request)).await {
        Err(_) => error(StatusCode::REQUEST_TIMEOUT, "The read ran longer than its timeout"),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "trace logs read failed");
            error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
        }
        Ok(Ok(logs)) => Json(logs.to_json(&trace_id)).into_response(),
    }
}

/// A native API error as the UI reads it: `{"error", "code"}` with the operation's status.
pub(crate) fn coded_error(status: u16, code: &str, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(json!({ "error": message.into(), "code": code }))).into_response()
}

/// 404 for an operation the native API does not serve, naming those it does.
pub(crate) fn unknown_operation(kind: &str, operation: &str, served: &[&str]) -> Response {
    let message = format!("{operation} is not {kind} operation of the native API (one of {})", served.join(", "));
    coded_error(404, "UnknownOperation", message)
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

async fn sql(State(api): State<Arc<NativeApi>>, body: axum::body::Bytes) -> Response {
    let request: SqlRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("Invalid request body: {e}")),
    };
    let limit = request.limit.unwrap_or(10_000);
    if limit == 0 || limit > 100_000 {
        return error(StatusCode::BAD_REQUEST, "limit must be between 1 and 100000");
    }
    let catalog = api.store.catalog();
    let groups: Vec<Arc<GroupMeta>> = match &request.log_group_names {
        None => catalog.read(|s| s.groups.values().cloned().collect()),
        Some(names) => {
            let mut groups = Vec::new();
            for name in names {
                match catalog.group(name) {
                    Some(group) => groups.push(group),
                    None => return error(StatusCode::NOT_FOUND, format!("Log group '{name}' does not exist")),
                }
            }
            groups
        }
    };
    let scope = SqlScope {
        account_id: api.account_id.clone(),
        groups,
        start_ms: request.start_time.unwrap_or(i64::MIN),
        end_ms: request.end_time.unwrap_or(i64::MAX),
        now_ms: (api.clock)(),
        max_rows: limit,
    };
    let progress = Arc::new(Progress::default());
    let frame = match prepare(&api.store, &scope, &request.query, &progress).await {
        Ok(frame) => frame,
        Err(e) => return error(StatusCode::BAD_REQUEST, e.message().to_string()),
    };
    let columns: Vec<String> = frame.schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut rows: Vec<Value> = Vec::new();
    let run = execute(frame, |batch| {
        for row in json_rows(batch)? {
            let object: Map<String, Value> = columns.iter().cloned().zip(row).collect();
            rows.push(Value::Object(object));
        }
        Ok(())
    });
    match tokio::time::timeout(api.timeout, run).await {
        Err(_) => error(StatusCode::REQUEST_TIMEOUT, "The query ran longer than its timeout"),
        Ok(Err(e)) => {
            error(StatusCode::BAD_REQUEST, crate::sql::quarantine_after(&api.store, &scope, e).await.to_string())
        }
        Ok(Ok(())) => Json(json!({
            "columns": columns,
            "rows": rows,
            "statistics": {
                "recordsScanned": progress.scanned.rows(),
                "bytesScanned": progress.scanned.bytes(),
            },
        }))
        .into_response(),
    }
}
