//! Stored log events: the Arrow schema shared by the write and read paths, CloudWatch Logs
//! limits, and the rendering of event ids.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef};

use crate::aws_error::{AwsError, ErrorCode};

/// Server time in epoch milliseconds; injected so tests control "now".
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The wall clock.
pub fn system_clock() -> Clock {
    Arc::new(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64))
}

pub fn group_not_found() -> AwsError {
    AwsError::new(ErrorCode::ResourceNotFound, "The specified log group does not exist.")
}

pub fn stream_not_found() -> AwsError {
    AwsError::new(ErrorCode::ResourceNotFound, "The specified log stream does not exist.")
}

/// Column names of the log event schema.
pub mod columns {
    pub const GROUP_ID: &str = "group_id";
    pub const STREAM_ID: &str = "stream_id";
    pub const TIMESTAMP: &str = "timestamp";
    pub const INGESTION_TIME: &str = "ingestion_time";
    pub const SEQ: &str = "seq";
    pub const MESSAGE: &str = "message";
    pub const TRACE_ID: &str = "trace_id";
    pub const SPAN_ID: &str = "span_id";
}

/// One row per event. Groups and streams are numeric ids assigned by the catalog, so a deleted
/// and re-created group never sees its predecessor's data. `seq` is the global ingestion
/// sequence number: unique per event, increasing in acknowledgement order. `trace_id` (16
/// bytes) and `span_id` are the trace the message names (`crate::correlation::extract`), null
/// when it names none; files written before they existed read them as null.
pub static LOG_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(columns::GROUP_ID, DataType::UInt64, false),
        Field::new(columns::STREAM_ID, DataType::UInt64, false),
        Field::new(columns::TIMESTAMP, DataType::Int64, false),
        Field::new(columns::INGESTION_TIME, DataType::Int64, false),
        Field::new(columns::SEQ, DataType::UInt64, false),
        Field::new(columns::MESSAGE, DataType::Utf8, false),
        Field::new(columns::TRACE_ID, DataType::FixedSizeBinary(16), true),
        Field::new(columns::SPAN_ID, DataType::UInt64, true),
    ]))
});

/// Per-event overhead CloudWatch adds to the message size for batch limits.
pub const EVENT_OVERHEAD_BYTES: usize = 26;
/// Largest PutLogEvents batch and largest single event (message bytes + overhead).
pub const MAX_BATCH_BYTES: usize = 1_048_576;
pub const MAX_BATCH_EVENTS: usize = 10_000;
/// Accepted timestamp window relative to server time.
pub const MAX_AGE_MS: i64 = 14 * 86_400_000;
pub const MAX_FUTURE_MS: i64 = 2 * 3_600_000;
pub const MAX_BATCH_SPAN_MS: i64 = 86_400_000;
/// Retention settings PutRetentionPolicy accepts.
pub const RETENTION_DAYS: [i64; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

/// The canonical position of an event: `(timestamp, seq)`. Ingestion order breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventKey {
    pub timestamp: i64,
    pub seq: u64,
}

impl EventKey {
    /// 56 decimal digits: timestamp (20, offset so negatives sort too) then seq (36).
    pub fn to_event_id(self) -> String {
        let shifted = (self.timestamp as i128 - i64::MIN as i128) as u128;
        format!("{shifted:020}{:036}", self.seq)
    }

    pub fn from_event_id(id: &str) -> Option<Self> {
        if id.len() != 56 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let shifted: u128 = id[..20].parse().ok()?;
        let timestamp = i64::try_from(shifted as i128 + i64::MIN as i128).ok()?;
        let seq: u64 = id[20..].parse().ok()?;
        Some(Self { timestamp, seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_and_sort() {
        let keys = [
            EventKey { timestamp: -5, seq: 9 },
            EventKey { timestamp: 0, seq: 0 },
            EventKey { timestamp: 1_714_564_800_000, seq: 1 },
            EventKey { timestamp: 1_714_564_800_000, seq: 2 },
            EventKey { timestamp: i64::MAX, seq: u64::MAX },
        ];
        let ids: Vec<String> = keys.iter().map(|k| k.to_event_id()).collect();
        for (key, id) in keys.iter().zip(&ids) {
            assert_eq!(id.len(), 56);
            assert_eq!(EventKey::from_event_id(id), Some(*key));
        }
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(sorted, ids);
        assert_eq!(EventKey::from_event_id("12"), None);
    }
}
