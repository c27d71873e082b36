//! CloudWatch Logs (AWS JSON 1.1, `Logs_20140328.*`): the operations that change state —
//! log groups, streams, retention, tags, and PutLogEvents.

mod groups;
mod metric_filters;
pub(crate) mod put_log_events;
mod tags;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use fluoro_proto::AwsError;
use fluoro_proto::aws_json::{RequestContext, parse_input};
use fluoro_proto::logs::Clock;
pub(crate) use fluoro_proto::logs::{group_not_found, stream_not_found};
use fluoro_store::{AppendError, CatalogError, GroupMeta, LogStore, PreparedBatch};
use serde_json::Value;

/// The write half of the CloudWatch Logs API.
pub struct LogsWriteApi {
    store: Arc<LogStore>,
    clock: Clock,
    lambda: parking_lot::Mutex<metric_filters::LambdaActivity>,
}

impl LogsWriteApi {
    pub fn new(store: Arc<LogStore>, clock: Clock) -> Self {
        Self { store, clock, lambda: Default::default() }
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

    pub fn now(&self) -> i64 {
        (self.clock)()
    }

    pub fn store(&self) -> &Arc<LogStore> {
        &self.store
    }

    /// The group and stream events from another ingest path go to, created when missing
    /// (spec logs.md §4: that path auto-creates, unlike PutLogEvents).
    pub fn ensure_stream(&self, group: &str, stream: &str) -> Result<(Arc<GroupMeta>, u64), CatalogError> {
        let catalog = self.store.catalog();
        let group = match catalog.group(group) {
            Some(found) => found,
            None => {
                let meta = GroupMeta::standard(group, self.now());
                match catalog.create_group(meta) {
                    Ok(created) => created,
                    Err(CatalogError::GroupExists) => catalog.group(group).ok_or(CatalogError::GroupNotFound)?,
                    Err(other) => return Err(other),
                }
            }
        };
        let stream_id = match catalog.stream(group.id, stream) {
            Some(found) => found.id,
            None => match catalog.create_stream(&group.name, stream, self.now()) {
                Ok(created) => created.id,
                Err(CatalogError::StreamExists) => {
                    catalog.stream(group.id, stream).ok_or(CatalogError::StreamNotFound)?.id
                }
                Err(other) => return Err(other),
            },
        };
        Ok((group, stream_id))
    }

    /// Stores accepted events of one stream (timestamps ascending, inside the time window)
    /// with the side effects every ingest path shares (spec logs.md §4): the datapoints of the
    /// group's metric filters and of EMF documents are committed in the same WAL commit.
    /// Returns the first event's seq.
    pub async fn store_events(
        &self,
        group: &GroupMeta,
        stream_id: u64,
        events: &[(i64, &str)],
        now: i64,
    ) -> Result<u64, AppendError> {
        let batch = PreparedBatch::new(
            group.id,
            stream_id,
            now,
            events.iter().map(|e| e.0).collect(),
            events.iter().map(|e| Some(e.1)).collect(),
        );
        let derived = self.derive_metrics(group.name.as_str(), stream_id, events, now);
        let seq = self.store.append_with_metrics(batch, derived.batch).await?;
        let metrics = self.store.metrics();
        for (name, count) in derived.emf_errors {
            metrics.emf_errors.with_label_values(&[name]).inc_by(count);
        }
        Ok(seq)
    }
}

/// The response of operations without an output shape.
fn empty() -> Value {
    Value::Object(serde_json::Map::new())
}
