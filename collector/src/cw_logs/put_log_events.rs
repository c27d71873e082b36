//! PutLogEvents: the batch rules of spec/logs.md §3.7, in the order the spec gives them, then
//! one durable append.

use fluoro_proto::logs::{
    EVENT_OVERHEAD_BYTES, EventKey, MAX_AGE_MS, MAX_BATCH_BYTES, MAX_BATCH_EVENTS, MAX_BATCH_SPAN_MS, MAX_FUTURE_MS,
};
use fluoro_proto::validation::Violations;
use fluoro_proto::{AwsError, ErrorCode, LogGroupName, LogStreamName};
use fluoro_store::AppendError;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{LogsWriteApi, group_not_found, stream_not_found};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PutLogEventsInput {
    log_group_name: String,
    log_stream_name: String,
    log_events: Vec<InputLogEvent>,
}

#[derive(Deserialize)]
pub(super) struct InputLogEvent {
    timestamp: i64,
    message: String,
}

/// Which events of a batch are stored: `accepted` is a range of indices.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Classified {
    pub accepted: std::ops::Range<usize>,
    pub too_old_end: Option<usize>,
    pub expired_end: Option<usize>,
    pub too_new_start: Option<usize>,
}

/// Splits sorted timestamps into too old / expired / accepted / too new (spec §3.7 step 6).
pub(crate) fn classify(timestamps: &[i64], now: i64, retention_cutoff: Option<i64>) -> Classified {
    let too_old = timestamps.partition_point(|&t| t < now - MAX_AGE_MS);
    let expired = match retention_cutoff {
        Some(cutoff) => timestamps.partition_point(|&t| t < cutoff.max(now - MAX_AGE_MS)).max(too_old),
        None => too_old,
    };
    let too_new = timestamps.partition_point(|&t| t <= now + MAX_FUTURE_MS).max(expired);
    Classified {
        accepted: expired..too_new,
        too_old_end: (too_old > 0).then_some(too_old),
        expired_end: (retention_cutoff.is_some() && expired > too_old).then_some(expired),
        too_new_start: (too_new < timestamps.len()).then_some(too_new),
    }
}

impl LogsWriteApi {
    pub(super) async fn put_log_events(&self, input: PutLogEventsInput) -> Result<Value, AwsError> {
        let metrics = self.store.metrics();
        // 1. Shape.
        let mut v = Violations::new();
        if input.log_events.is_empty() || input.log_events.len() > MAX_BATCH_EVENTS {
            let constraint = if input.log_events.is_empty() {
                "Member must have length greater than or equal to 1".to_owned()
            } else {
                format!("Member must have length less than or equal to {MAX_BATCH_EVENTS}")
            };
            v.push("[...]", "logEvents", &constraint);
        }
        for (i, event) in input.log_events.iter().enumerate() {
            v.min_len(&format!("logEvents.{}.member.message", i + 1), &event.message, 1);
        }
        v.finish()?;
        let group_name = LogGroupName::parse(&input.log_group_name)?;
        let stream_name = LogStreamName::parse(&input.log_stream_name)?;
        // 2. Existence.
        let group = self.store.catalog().group(group_name.as_str()).ok_or_else(group_not_found)?;
        let stream = self.store.catalog().stream(group.id, stream_name.as_str()).ok_or_else(stream_not_found)?;
        // 3. Chronological order.
        if input.log_events.windows(2).any(|w| w[1].timestamp < w[0].timestamp) {
            return Err(AwsError::invalid_parameter(
                "Log events in a single PutLogEvents request must be in chronological order.",
            ));
        }
        // 4-5. Sizes.
        let mut total = 0;
        for event in &input.log_events {
            let size = event.message.len() + EVENT_OVERHEAD_BYTES;
            if size > MAX_BATCH_BYTES {
                return Err(AwsError::invalid_parameter(format!(
                    "Log event too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
                )));
            }
            total += size;
        }
        if total > MAX_BATCH_BYTES {
            return Err(AwsError::invalid_parameter(format!(
                "Upload too large: {total} bytes exceeds limit of {MAX_BATCH_BYTES}"
            )));
        }
        // 6. Time window.
        let now = self.now();
        let timestamps: Vec<i64> = input.log_events.iter().map(|e| e.timestamp).collect();
        let classified = classify(&timestamps, now, group.retention_cutoff(now));
        let accepted = &input.log_events[classified.accepted.clone()];
        // 7. Span of what remains.
        if let (Some(first), Some(last)) = (accepted.first(), accepted.last())
            && last.timestamp - first.timestamp > MAX_BATCH_SPAN_MS
        {
            return Err(AwsError::invalid_parameter(
                "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
            ));
        }
        let rejected = input.log_events.len() - accepted.len();
        if rejected > 0 {
            metrics.events_rejected.with_label_values(&["time_window"]).inc_by(rejected as u64);
        }
        // 8. Store.
        let mut seq = 0;
        if !accepted.is_empty() {
            // 9. Metric filters and EMF: their datapoints are committed with the events.
            let events: Vec<(i64, &str)> = accepted.iter().map(|e| (e.timestamp, e.message.as_str())).collect();
            seq = self.store_events(&group, stream.id, &events, now).await.map_err(|e| match e {
                AppendError::Throttled { .. } => AwsError::new(ErrorCode::Throttling, "Rate exceeded"),
                AppendError::ShuttingDown => {
                    AwsError::new(ErrorCode::ServiceUnavailable, "The service is shutting down.")
                }
                error @ AppendError::NotACollector => AwsError::new(ErrorCode::ServiceUnavailable, error.to_string()),
                other @ (AppendError::Wal(_) | AppendError::TooManySeries { .. }) => {
                    tracing::error!(%other, "append failed");
                    AwsError::new(ErrorCode::ServiceUnavailable, "The service cannot complete the request.")
                }
            })?;
        }
        let mut out = Map::new();
        out.insert("nextSequenceToken".into(), json!(EventKey { timestamp: now, seq }.to_event_id()));
        if rejected > 0 {
            let mut info = Map::new();
            if let Some(end) = classified.too_old_end {
                info.insert("tooOldLogEventEndIndex".into(), json!(end));
            }
            if let Some(end) = classified.expired_end {
                info.insert("expiredLogEventEndIndex".into(), json!(end));
            }
            if let Some(start) = classified.too_new_start {
                info.insert("tooNewLogEventStartIndex".into(), json!(start));
            }
            out.insert("rejectedLogEventsInfo".into(), Value::Object(info));
        }
        Ok(Value::Object(out))
    }
}
