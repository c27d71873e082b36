//! CloudWatch metric writes: PutMetricData (spec metrics-alarms.md §2.2) in whichever protocol
//! the request came, already decoded to the canonical form.

use std::sync::Arc;

use fluoro_proto::cloudwatch::CwError;
use fluoro_proto::logs::Clock;
use fluoro_proto::metrics::put::{PutRules, samples_of};
use fluoro_store::{AppendError, LogStore, MetricBatch};
use serde_json::{Value, json};

pub struct MetricsWriteApi {
    store: Arc<LogStore>,
    clock: Clock,
    rules: PutRules,
}

impl MetricsWriteApi {
    pub fn new(store: Arc<LogStore>, clock: Clock, rules: PutRules) -> Self {
        Self { store, clock, rules }
    }

    /// Runs `operation` if it is a metrics write; `None` otherwise.
    pub async fn handle(&self, operation: &str, input: &Value) -> Option<Result<Value, CwError>> {
        match operation {
            "PutMetricData" => Some(self.put_metric_data(input).await),
            _ => None,
        }
    }

    async fn put_metric_data(&self, input: &Value) -> Result<Value, CwError> {
        let now = (self.clock)();
        let samples = samples_of(input, now, self.rules)?;
        self.store.append_metrics(MetricBatch { ingestion_time: now, samples }).await.map_err(append_error)?;
        Ok(json!({}))
    }
}

pub fn append_error(error: AppendError) -> CwError {
    match error {
        AppendError::Throttled { .. } => CwError::throttling(),
        AppendError::TooManySeries { .. } => CwError::limit_exceeded(error.to_string()),
        AppendError::NotACollector => CwError::service_unavailable(error.to_string()),
        other => {
            tracing::error!(%other, "metric append failed");
            CwError::internal("The service cannot complete the request.")
        }
    }
}
