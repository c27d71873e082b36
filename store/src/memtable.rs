//! Acknowledged events not yet in Parquet: the active batches (being appended) and frozen
//! sets (being flushed). Queries read both; together with the catalog's files they are
//! exactly the acknowledged data.

use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray, UInt64Array};
use fluoro_proto::logs::LOG_SCHEMA;

/// A batch of events prepared by a frontend, before it has a seq.
#[derive(Debug, Clone)]
pub struct PreparedBatch {
    pub group_id: u64,
    pub stream_id: u64,
    pub ingestion_time: i64,
    /// Ascending event timestamps (PutLogEvents requires chronological order).
    pub timestamps: Vec<i64>,
    pub messages: StringArray,
}

impl PreparedBatch {
    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    pub fn message_bytes(&self) -> usize {
        self.messages.value_data().len()
    }

    /// The Arrow rows of this batch once its first event got `first_seq`.
    pub(crate) fn to_record_batch(&self, first_seq: u64) -> RecordBatch {
        let n = self.len();
        RecordBatch::try_new(
            LOG_SCHEMA.clone(),
            vec![
                Arc::new(UInt64Array::from_value(self.group_id, n)),
                Arc::new(UInt64Array::from_value(self.stream_id, n)),
                Arc::new(Int64Array::from(self.timestamps.clone())),
                Arc::new(Int64Array::from_value(self.ingestion_time, n)),
                Arc::new(UInt64Array::from_iter_values(first_seq..first_seq + n as u64)),
                Arc::new(self.messages.clone()),
            ],
        )
        .expect("columns match LOG_SCHEMA")
    }
}

/// Batches frozen for one flush: all events with seq below `end_seq` not yet in Parquet.
#[derive(Debug, Clone)]
pub(crate) struct Frozen {
    pub batches: Vec<RecordBatch>,
    pub bytes: usize,
    pub end_seq: u64,
}

#[derive(Debug, Default)]
pub(crate) struct MemTable {
    pub active: Vec<RecordBatch>,
    pub active_bytes: usize,
    pub active_since: Option<Instant>,
    pub frozen: Vec<Frozen>,
}

impl MemTable {
    pub fn insert(&mut self, batch: RecordBatch, bytes: usize) {
        self.active.push(batch);
        self.active_bytes += bytes;
        self.active_since.get_or_insert_with(Instant::now);
    }

    /// Moves the active batches to a frozen set ending at `end_seq`.
    pub fn freeze(&mut self, end_seq: u64) -> Option<Frozen> {
        if self.active.is_empty() {
            return None;
        }
        let frozen = Frozen { batches: std::mem::take(&mut self.active), bytes: self.active_bytes, end_seq };
        self.active_bytes = 0;
        self.active_since = None;
        self.frozen.push(frozen.clone());
        Some(frozen)
    }

    pub fn remove_frozen(&mut self, end_seq: u64) {
        self.frozen.retain(|f| f.end_seq != end_seq);
    }

    pub fn total_bytes(&self) -> usize {
        self.active_bytes + self.frozen.iter().map(|f| f.bytes).sum::<usize>()
    }

    /// Every unflushed batch, frozen first.
    pub fn batches(&self) -> Vec<RecordBatch> {
        self.frozen.iter().flat_map(|f| f.batches.iter().cloned()).chain(self.active.iter().cloned()).collect()
    }
}
