//! The native metrics API for the UI's browser and charts:
//! - `GET /api/v1/metrics/namespaces` → `{"namespaces": [{"name", "metrics"}]}`
//! - `GET /api/v1/metrics?namespace=&name=&recent=true` → `{"metrics": [{"namespace", "name",
//!   "dimensions": {..}, "lastSampleTime"}]}`
//! - `POST /api/v1/metrics/query` with `{"start", "end" (epoch ms), "queries": [GetMetricData
//!   queries in their AWS JSON form]}` → `{"results": [{"id", "label", "points": [[ms, value]],
//!   "status"}]}`, ascending; errors as `{"error", "code"}` with HTTP 400.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use fluoro_proto::cloudwatch::{CwError, MODEL};
use fluoro_proto::logs::Clock;
use fluoro_store::LogStore;
use serde::Deserialize;
use serde_json::{Value, json};

use super::MetricsReadApi;

pub struct NativeMetrics {
    pub api: MetricsReadApi,
    pub store: Arc<LogStore>,
    pub clock: Clock,
}

pub fn routes(state: Arc<NativeMetrics>) -> axum::Router {
    axum::Router::new()
        .route("/api/v1/metrics/namespaces", axum::routing::get(namespaces))
        .route("/api/v1/metrics", axum::routing::get(list))
        .route("/api/v1/metrics/query", axum::routing::post(query))
        .with_state(state)
}

fn error(error: CwError) -> Response {
    crate::native::coded_error(error.status, error.code, error.message)
}

async fn namespaces(State(state): State<Arc<NativeMetrics>>) -> Response {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for info in state.store.metric_series().all() {
        *counts.entry(info.key.namespace.clone()).or_default() += 1;
    }
    let list: Vec<Value> =
        counts.into_iter().map(|(name, metrics)| json!({"name": name, "metrics": metrics})).collect();
    Json(json!({"namespaces": list})).into_response()
}

#[derive(Deserialize)]
struct ListParams {
    namespace: Option<String>,
    name: Option<String>,
    /// Only series with a sample in the last 3 hours.
    recent: Option<bool>,
    limit: Option<usize>,
}

async fn list(State(state): State<Arc<NativeMetrics>>, Query(params): Query<ListParams>) -> Response {
    let now = (state.clock)();
    let since = if params.recent == Some(true) { now - 3 * 3_600_000 } else { i64::MIN };
    let limit = params.limit.unwrap_or(1000).clamp(1, 10_000);
    let metrics: Vec<Value> = state
        .store
        .metric_series()
        .all()
        .into_iter()
        .filter(|info| {
            params.namespace.as_deref().is_none_or(|n| n == info.key.namespace)
                && params.name.as_deref().is_none_or(|n| n == info.key.name)
                && info.last_sample_ms >= since
        })
        .take(limit)
        .map(|info| {
            let dimensions: serde_json::Map<String, Value> =
                info.key.dimensions.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            json!({"namespace": info.key.namespace, "name": info.key.name, "dimensions": dimensions,
                   "lastSampleTime": info.last_sample_ms})
        })
        .collect();
    Json(json!({"metrics": metrics})).into_response()
}

#[derive(Deserialize)]
struct QueryRequest {
    start: i64,
    end: i64,
    queries: Value,
}

async fn query(State(state): State<Arc<NativeMetrics>>, body: axum::body::Bytes) -> Response {
    let request: QueryRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(CwError::serialization(format!("Invalid request body: {e}"))),
    };
    // The same checks and decoding as the AWS API: the queries in their AWS JSON form.
    let input = json!({
        "StartTime": request.start as f64 / 1000.0,
        "EndTime": request.end as f64 / 1000.0,
        "ScanBy": "TimestampAscending",
        "MetricDataQueries": request.queries,
    });
    let shape = MODEL.operation("GetMetricData").and_then(|op| op.input.clone()).expect("GetMetricData has input");
    let input = match fluoro_proto::cloudwatch::codec::decode_json(&shape, input.to_string().as_bytes())
        .and_then(|v| fluoro_proto::cloudwatch::codec::validate(&shape, &v).map(|()| v))
    {
        Ok(v) => v,
        Err(e) => return error(e),
    };
    let out = match state.api.handle("GetMetricData", &input, (state.clock)()).await {
        Some(Ok(out)) => out,
        Some(Err(e)) => return error(e),
        None => return error(CwError::internal("GetMetricData is not available")),
    };
    let results: Vec<Value> = out["MetricDataResults"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            let points: Vec<Value> = r["Timestamps"]
                .as_array()
                .into_iter()
                .flatten()
                .zip(r["Values"].as_array().into_iter().flatten())
                .map(|(t, v)| json!([(t.as_f64().unwrap_or_default() * 1000.0).round() as i64, v]))
                .collect();
            json!({"id": r["Id"], "label": r["Label"], "points": points, "status": r["StatusCode"]})
        })
        .collect();
    Json(json!({"results": results})).into_response()
}
