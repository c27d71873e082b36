//! Reading log events in canonical order `(timestamp, seq)` through DataFusion: group, stream,
//! time and position filters are pushed into the scan (Parquet statistics prune), the pattern
//! runs as a UDF, and sort + limit become a top-k.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, UInt64Type};
use datafusion::common::Result;
use datafusion::prelude::{Expr, col, lit};
use fluoro_proto::filter::FilterPattern;
use fluoro_proto::logs::{EventKey, columns};
use fluoro_store::{LogSnapshot, LogStore, LogTable};

use crate::pattern_udf::PatternUdf;

/// Which events to read.
#[derive(Debug, Clone)]
pub struct EventQuery {
    pub group_id: u64,
    /// `None` reads every stream of the group.
    pub stream_ids: Option<Vec<u64>>,
    /// Inclusive bounds on the event timestamp.
    pub min_ts: i64,
    pub max_ts: i64,
    /// Only events strictly after (ascending) or before (descending) this position.
    pub from: Option<EventKey>,
    pub descending: bool,
    /// The filter pattern, with its source text.
    pub pattern: Option<(String, Arc<FilterPattern>)>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub stream_id: u64,
    pub key: EventKey,
    pub ingestion_time: i64,
    pub message: String,
}

/// Runs `query`; events come back in the query's direction. A damaged file it reads is
/// quarantined and the query runs again without it.
pub async fn run_event_query(store: &LogStore, query: &EventQuery) -> Result<Vec<StoredEvent>> {
    if query.min_ts > query.max_ts || query.stream_ids.as_ref().is_some_and(Vec::is_empty) || query.limit == 0 {
        return Ok(Vec::new());
    }
    store
        .read_retrying(|| async {
            let mut snapshot = store.snapshot(Some(query.group_id), query.min_ts, query.max_ts);
            if let Some((_, pattern)) = &query.pattern {
                store.narrow_by_index(&mut snapshot, &pattern.required_literals()).await;
            }
            let files = snapshot.files.clone();
            (files, read_events(store, query, snapshot).await)
        })
        .await
}

async fn read_events(store: &LogStore, query: &EventQuery, snapshot: LogSnapshot) -> Result<Vec<StoredEvent>> {
    let ctx = store.session_context();
    let table = ctx.read_table(Arc::new(LogTable::new(snapshot)))?;
    let ts = || col(columns::TIMESTAMP);
    let seq = || col(columns::SEQ);
    let mut predicate = col(columns::GROUP_ID)
        .eq(lit(query.group_id))
        .and(ts().gt_eq(lit(query.min_ts)))
        .and(ts().lt_eq(lit(query.max_ts)));
    if let Some(ids) = &query.stream_ids {
        predicate = predicate.and(col(columns::STREAM_ID).in_list(ids.iter().map(|id| lit(*id)).collect(), false));
    }
    if let Some(key) = query.from {
        let beyond: fn(Expr, Expr) -> Expr = if query.descending { Expr::lt } else { Expr::gt };
        predicate = predicate
            .and(beyond(ts(), lit(key.timestamp)).or(ts().eq(lit(key.timestamp)).and(beyond(seq(), lit(key.seq)))));
    }
    if let Some((source, pattern)) = &query.pattern {
        predicate = predicate.and(PatternUdf::udf(source, pattern.clone()).call(vec![col(columns::MESSAGE)]));
    }
    let ascending = !query.descending;
    let batches = table
        .filter(predicate)?
        .sort(vec![ts().sort(ascending, false), seq().sort(ascending, false)])?
        .limit(0, Some(query.limit))?
        .select_columns(&[
            columns::STREAM_ID,
            columns::TIMESTAMP,
            columns::INGESTION_TIME,
            columns::SEQ,
            columns::MESSAGE,
        ])?
        .collect()
        .await?;
    Ok(batches.iter().flat_map(rows).collect())
}

fn rows(batch: &RecordBatch) -> Vec<StoredEvent> {
    let stream = batch.column(0).as_primitive::<UInt64Type>();
    let timestamp = batch.column(1).as_primitive::<Int64Type>();
    let ingestion = batch.column(2).as_primitive::<Int64Type>();
    let seq = batch.column(3).as_primitive::<UInt64Type>();
    let message = batch.column(4).as_string::<i32>();
    (0..batch.num_rows())
        .map(|i| StoredEvent {
            stream_id: stream.value(i),
            key: EventKey { timestamp: timestamp.value(i), seq: seq.value(i) },
            ingestion_time: ingestion.value(i),
            message: message.value(i).to_owned(),
        })
        .collect()
}
