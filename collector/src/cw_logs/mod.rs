//! CloudWatch Logs (AWS JSON 1.1, `Logs_20140328.*`): the operations that change state —
//! log groups, streams, retention, tags, and PutLogEvents.

mod groups;
mod metric_filters;
mod put_log_events;
mod tags;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use fluoro_proto::AwsError;
use fluoro_proto::aws_json::{RequestContext, parse_input};
use fluoro_proto::logs::Clock;
pub(crate) use fluoro_proto::logs::{group_not_found, stream_not_found};
use fluoro_store::LogStore;
use serde_json::Value;

/// The write half of the CloudWatch Logs API.
pub struct LogsWriteApi {
    store: Arc<LogStore>,
    clock: Clock,
}

impl LogsWriteApi {
    pub fn new(store: Arc<LogStore>, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Runs `operation` if it is one of this API's; `None` otherwise.
    pub async fn handle(&self, ctx: &RequestContext, operation: &str, body: &[u8]) -> Option<Result<Value, AwsError>> {
        let result = match operation {
            "CreateLogGroup" => self.create_log_group(parse_input(body)),
            "DeleteLogGroup" => self.delete_log_group(parse_input(body)),
            "CreateLogStream" => self.create_log_stream(parse_input(body)),
            "DeleteLogStream" => self.delete_log_stream(parse_input(body)),
            "PutRetentionPolicy" => self.put_retention_policy(parse_input(body)),
            "DeleteRetentionPolicy" => self.delete_retention_policy(parse_input(body)),
            "TagResource" => self.tag_resource(ctx, parse_input(body)),
            "UntagResource" => self.untag_resource(ctx, parse_input(body)),
            "TagLogGroup" => self.tag_log_group(parse_input(body)),
            "UntagLogGroup" => self.untag_log_group(parse_input(body)),
            "PutMetricFilter" => parse_input(body).and_then(|input| self.put_metric_filter(input)),
            "DeleteMetricFilter" => parse_input(body).and_then(|input| self.delete_metric_filter(input)),
            "TestMetricFilter" => parse_input(body).and_then(|input| self.test_metric_filter(input)),
            "PutLogEvents" => match parse_input(body) {
                Ok(input) => self.put_log_events(input).await,
                Err(e) => Err(e),
            },
            _ => return None,
        };
        Some(result)
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// The response of operations without an output shape.
fn empty() -> Value {
    Value::Object(serde_json::Map::new())
}
