//! Reading metric samples: one DataFusion scan over the memtable and the sample files, pruned
//! by series id and time (files are sorted by series, so page statistics skip the rest).
//! Raw samples and rollup rows live side by side; each part of the time range is read from
//! one tier only: raw samples where they still exist, 5-minute rows up to their horizon,
//! 1-hour rows beyond it (rolling replaces raw files atomically, so no value counts twice).

use std::collections::HashMap;

use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::{col, lit};
use fluoro_proto::cloudwatch::CwError;
use fluoro_proto::metrics::Sample;
use fluoro_proto::metrics::sketch::Sketch;
use fluoro_proto::metrics::stats::Bucket;
use fluoro_store::{LogStore, LogTable};

/// One stored row: a raw sample, or a rollup row (resolution 300 or 3600) with its sketch.
#[derive(Debug, Clone)]
pub struct Row {
    pub sample: Sample,
    pub sketch: Option<Sketch>,
}

impl Row {
    pub fn add_to(&self, bucket: &mut Bucket) {
        if self.sample.resolution >= 300 {
            bucket.add_rollup(&self.sample, self.sketch.as_ref());
        } else {
            bucket.add(&self.sample);
        }
    }
}

/// Rows by series id.
#[derive(Debug, Default)]
pub struct SampleSet {
    by_series: HashMap<u64, Vec<Row>>,
}

impl SampleSet {
    pub fn of(&self, series: u64) -> &[Row] {
        self.by_series.get(&series).map(Vec::as_slice).unwrap_or_default()
    }
}

/// The rows of `series` with `start_ms <= timestamp < end_ms`, each from the tier that
/// serves its age.
pub async fn fetch(
    store: &LogStore,
    series: &[u64],
    start_ms: i64,
    end_ms: i64,
    now_ms: i64,
) -> Result<SampleSet, CwError> {
    let mut set = SampleSet::default();
    if series.is_empty() || start_ms >= end_ms {
        return Ok(set);
    }
    let snapshot = store.metric_snapshot(start_ms, end_ms - 1);
    if snapshot.batches.is_empty() && snapshot.files.is_empty() {
        return Ok(set);
    }
    let five_minute_since = now_ms - store.config().metrics_five_minute_horizon.as_millis() as i64;
    let internal = |e: datafusion::error::DataFusionError| CwError::internal(format!("metric read failed: {e}"));
    let ids: Vec<_> = series.iter().map(|id| lit(*id)).collect();
    // A damaged sample file is quarantined and the read runs again without it.
    let batches: Vec<RecordBatch> = store
        .collect_checked(snapshot, LogTable::samples, |frame| {
            frame.filter(
                col("series_id")
                    .in_list(ids.clone(), false)
                    .and(col("timestamp").gt_eq(lit(start_ms)))
                    .and(col("timestamp").lt(lit(end_ms))),
            )
        })
        .await
        .map_err(internal)?;
    for batch in &batches {
        for stored in fluoro_store::metric_rollup::rows(batch) {
            let timestamp_ms = stored.sample.timestamp_ms;
            // 5-minute rows up to their horizon, 1-hour rows only beyond it.
            let serves = match stored.sample.resolution {
                300 => timestamp_ms >= five_minute_since,
                3600 => timestamp_ms < five_minute_since,
                _ => true,
            };
            if serves {
                let row = Row { sample: stored.sample, sketch: stored.sketch };
                set.by_series.entry(row.sample.series).or_default().push(row);
            }
        }
    }
    Ok(set)
}
