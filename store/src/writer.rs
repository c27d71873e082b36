//! The WAL writer thread: group commit. It drains every queued batch, assigns seqs, writes one
//! buffer, fsyncs once, then publishes the batches to the memtable and acknowledges them. This
//! is the durability point: nothing is acknowledged before its bytes are synced.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::RwLock;
use tokio::sync::{mpsc, oneshot};

use crate::catalog::{Catalog, EventStats};
use crate::memtable::{MemTable, MetricBatch, PreparedBatch, SpanBatch};
use crate::metrics::Metrics;
use crate::wal::{Wal, encode_frame, encode_metrics_frame, encode_spans_frame};

/// Most commands one group commit takes.
const MAX_GROUP: usize = 512;

pub(crate) enum Command {
    /// Log events, and the datapoints derived from them (committed right after them).
    Append {
        batch: PreparedBatch,
        derived: Option<MetricBatch>,
        ack: oneshot::Sender<Result<u64, String>>,
    },
    AppendSpans {
        batch: SpanBatch,
        ack: oneshot::Sender<Result<u64, String>>,
    },
    AppendMetrics {
        batch: MetricBatch,
        ack: oneshot::Sender<Result<u64, String>>,
    },
    /// Rotate the WAL and freeze the memtable; answers the frozen set's end seq, if any.
    Freeze {
        ack: oneshot::Sender<Option<u64>>,
    },
    /// Delete WAL segments entirely below this seq (their events are in Parquet now).
    Truncate(u64),
}

pub(crate) struct WriterState {
    pub wal: Wal,
    pub next_seq: u64,
    pub mem: Arc<RwLock<MemTable>>,
    pub catalog: Arc<Catalog>,
    pub metrics: Metrics,
    pub live: tokio::sync::broadcast::Sender<Arc<LiveEvents>>,
}

/// Log events just acknowledged, for live tail (`LogStore::subscribe_events`).
#[derive(Debug, Clone)]
pub struct LiveEvents {
    pub group_id: u64,
    pub stream_id: u64,
    pub ingestion_time: i64,
    pub first_seq: u64,
    pub timestamps: Vec<i64>,
    pub messages: datafusion::arrow::array::StringArray,
}

pub(crate) fn run(mut state: WriterState, mut commands: mpsc::Receiver<Command>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while let Some(first) = commands.blocking_recv() {
        group.push(first);
        while group.len() < MAX_GROUP {
            match commands.try_recv() {
                Ok(command) => group.push(command),
                Err(_) => break,
            }
        }
        let mut appends = Vec::new();
        for command in group.drain(..) {
            match command {
                Command::Append { batch, derived, ack } => {
                    appends.push((Pending::Logs(batch), ack));
                    if let Some(derived) = derived {
                        // Same group commit as the events; nobody waits on its own answer.
                        appends.push((Pending::Metrics(derived), oneshot::channel().0));
                    }
                }
                Command::AppendSpans { batch, ack } => appends.push((Pending::Spans(batch), ack)),
                Command::AppendMetrics { batch, ack } => appends.push((Pending::Metrics(batch), ack)),
                Command::Freeze { ack } => {
                    commit(&mut state, std::mem::take(&mut appends));
                    let _ = ack.send(freeze(&mut state));
                }
                Command::Truncate(seq) => {
                    if let Err(error) = state.wal.remove_below(seq) {
                        tracing::error!(%error, seq, "wal segments not removed");
                    }
                }
            }
        }
        commit(&mut state, appends);
    }
    tracing::debug!("wal writer stopped");
}

fn freeze(state: &mut WriterState) -> Option<u64> {
    if let Err(error) = state.wal.rotate(state.next_seq) {
        tracing::error!(%error, "wal rotation failed; flush postponed");
        return None;
    }
    state.mem.write().freeze(state.next_seq).map(|frozen| frozen.end_seq)
}

/// A queued append of either kind.
enum Pending {
    Logs(PreparedBatch),
    Spans(SpanBatch),
    Metrics(MetricBatch),
}

impl Pending {
    fn len(&self) -> usize {
        match self {
            Self::Logs(b) => b.len(),
            Self::Spans(b) => b.len(),
            Self::Metrics(b) => b.len(),
        }
    }

    fn frame_bytes(&self) -> usize {
        match self {
            Self::Logs(b) => b.message_bytes() + 12 * b.len() + 64,
            Self::Spans(b) => b.bytes() + 56 * b.len() + 64,
            Self::Metrics(b) => b.bytes() + 64,
        }
    }
}

fn commit(state: &mut WriterState, appends: Vec<(Pending, oneshot::Sender<Result<u64, String>>)>) {
    if appends.is_empty() {
        return;
    }
    let started = Instant::now();
    let mut buffer = Vec::with_capacity(appends.iter().map(|(b, _)| b.frame_bytes()).sum());
    let mut seqs = Vec::with_capacity(appends.len());
    let mut next_seq = state.next_seq;
    for (pending, _) in &appends {
        seqs.push(next_seq);
        match pending {
            Pending::Logs(batch) => {
                let events =
                    batch.timestamps.iter().zip(batch.messages.iter()).map(|(t, m)| (*t, m.unwrap_or_default()));
                encode_frame(&mut buffer, batch.group_id, batch.stream_id, batch.ingestion_time, next_seq, events);
            }
            Pending::Spans(batch) => encode_spans_frame(&mut buffer, batch.ingestion_time, next_seq, &batch.rows),
            Pending::Metrics(batch) => {
                encode_metrics_frame(&mut buffer, batch.ingestion_time, next_seq, &batch.samples)
            }
        }
        next_seq += pending.len() as u64;
    }
    let written = state.wal.append_durably(&buffer);
    state.metrics.wal_fsync_seconds.observe(started.elapsed().as_secs_f64());
    if let Err(error) = written {
        tracing::error!(%error, "wal write failed; batches refused");
        for (_, ack) in appends {
            let _ = ack.send(Err(format!("write-ahead log failure: {error}")));
        }
        return;
    }
    state.next_seq = next_seq;
    {
        let mut mem = state.mem.write();
        for ((pending, _), first_seq) in appends.iter().zip(&seqs) {
            match pending {
                Pending::Logs(batch) => mem.insert(batch, *first_seq),
                Pending::Spans(batch) => mem.insert_spans(batch, *first_seq),
                Pending::Metrics(batch) => mem.insert_metrics(batch, *first_seq),
            }
        }
        state.metrics.buffer_bytes.set(mem.total_bytes() as i64);
    }
    let tailed = state.live.receiver_count() > 0;
    for ((pending, ack), first_seq) in appends.into_iter().zip(seqs) {
        match pending {
            Pending::Logs(batch) => {
                if tailed {
                    // No subscriber lagging behind can slow the writer: a full channel drops
                    // its oldest batches (the subscriber is told it lagged).
                    let _ = state.live.send(Arc::new(LiveEvents {
                        group_id: batch.group_id,
                        stream_id: batch.stream_id,
                        ingestion_time: batch.ingestion_time,
                        first_seq,
                        timestamps: batch.timestamps.clone(),
                        messages: batch.messages.clone(),
                    }));
                }
                state.catalog.record_events(batch.group_id, batch.stream_id, &stats_of(&batch, first_seq));
                state.metrics.events_ingested.inc_by(batch.len() as u64);
                state.metrics.bytes_ingested.inc_by(batch.message_bytes() as u64);
            }
            Pending::Spans(batch) => state.metrics.spans_ingested.inc_by(batch.len() as u64),
            Pending::Metrics(batch) => state.metrics.samples_ingested.inc_by(batch.len() as u64),
        }
        let _ = ack.send(Ok(first_seq));
    }
}

pub(crate) fn stats_of(batch: &PreparedBatch, first_seq: u64) -> EventStats {
    let mut bytes_by_hour: Vec<(i64, u64)> = Vec::new();
    for (timestamp, message) in batch.timestamps.iter().zip(batch.messages.iter()) {
        let hour = timestamp.div_euclid(3_600_000);
        let bytes = message.map_or(0, str::len) as u64;
        match bytes_by_hour.last_mut() {
            Some((h, b)) if *h == hour => *b += bytes,
            _ => bytes_by_hour.push((hour, bytes)),
        }
    }
    EventStats {
        first_seq,
        end_seq: first_seq + batch.len() as u64,
        min_ts: batch.timestamps.iter().copied().min().unwrap_or_default(),
        max_ts: batch.timestamps.iter().copied().max().unwrap_or_default(),
        ingestion_time: batch.ingestion_time,
        bytes: batch.message_bytes() as u64,
        bytes_by_hour,
    }
}
