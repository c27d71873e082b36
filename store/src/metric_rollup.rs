//! Rollups of metric samples (spec metrics-alarms.md §2.4.3): per (series, unit, 5-minute or
//! 1-hour bucket) one row with SampleCount, Sum, Minimum, Maximum and a quantile sketch of the
//! percentile-eligible values (none when a statistic set made the bucket ineligible).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, AsArray, BinaryBuilder, BooleanArray, Float64Array, Int64Array, RecordBatch, UInt8Array, UInt16Array,
    UInt64Array,
};
use datafusion::arrow::datatypes::{Float64Type, Int64Type, UInt8Type, UInt16Type, UInt64Type};
use fluoro_proto::metrics::Sample;
use fluoro_proto::metrics::schema::SAMPLE_SCHEMA;
use fluoro_proto::metrics::sketch::Sketch;

/// One stored row of `SAMPLE_SCHEMA`: a raw sample or a rollup row with its sketch.
#[derive(Debug, Clone)]
pub struct StoredRow {
    pub sample: Sample,
    pub seq: u64,
    pub sketch: Option<Sketch>,
}

/// The rows of a batch of `SAMPLE_SCHEMA`.
pub fn rows(batch: &RecordBatch) -> Vec<StoredRow> {
    let column = |name: &str| batch.column_by_name(name).expect("sample schema column");
    let ids = column("series_id").as_primitive::<UInt64Type>();
    let timestamps = column("timestamp").as_primitive::<Int64Type>();
    let seqs = column("seq").as_primitive::<UInt64Type>();
    let units = column("unit").as_primitive::<UInt8Type>();
    let resolutions = column("resolution").as_primitive::<UInt16Type>();
    let counts = column("count").as_primitive::<Float64Type>();
    let sums = column("sum").as_primitive::<Float64Type>();
    let mins = column("min").as_primitive::<Float64Type>();
    let maxs = column("max").as_primitive::<Float64Type>();
    let sets = column("is_set").as_boolean();
    let sketches = column("sketch").as_binary::<i32>();
    (0..batch.num_rows())
        .map(|row| StoredRow {
            sample: Sample {
                series: ids.value(row),
                timestamp_ms: timestamps.value(row),
                unit: units.value(row),
                resolution: resolutions.value(row),
                count: counts.value(row),
                sum: sums.value(row),
                min: mins.value(row),
                max: maxs.value(row),
                is_set: sets.value(row),
            },
            seq: seqs.value(row),
            sketch: (!sketches.is_null(row)).then(|| Sketch::from_bytes(sketches.value(row))).flatten(),
        })
        .collect()
}

struct Accumulator {
    count: f64,
    sum: f64,
    min: f64,
    max: f64,
    sketch: Option<Sketch>,
    max_seq: u64,
}

/// Rolls stored rows (raw samples or finer rollups) up to `step_s`-second rows.
pub fn roll_up(batches: &[RecordBatch], step_s: u16) -> RecordBatch {
    let step = i64::from(step_s) * 1000;
    let mut buckets: BTreeMap<(u64, i64, u8), Accumulator> = BTreeMap::new();
    for batch in batches {
        for StoredRow { sample, seq, sketch } in rows(batch) {
            if sample.count <= 0.0 {
                continue;
            }
            let key = (sample.series, sample.timestamp_ms.div_euclid(step) * step, sample.unit);
            let acc = buckets.entry(key).or_insert_with(|| Accumulator {
                count: 0.0,
                sum: 0.0,
                min: sample.min,
                max: sample.max,
                sketch: Some(Sketch::default()),
                max_seq: 0,
            });
            acc.count += sample.count;
            acc.sum += sample.sum;
            acc.min = acc.min.min(sample.min);
            acc.max = acc.max.max(sample.max);
            acc.max_seq = acc.max_seq.max(seq);
            let rolled = sample.resolution >= 300;
            let sketch_of_row = sketch;
            match (&mut acc.sketch, rolled) {
                (None, _) => {}
                (Some(sketch), true) => match &sketch_of_row {
                    Some(other) => sketch.merge(other),
                    None => acc.sketch = None,
                },
                (Some(sketch), false) if sample.percentile_eligible() => sketch.add(sample.min, sample.count),
                (Some(_), false) => acc.sketch = None,
            }
        }
    }
    let n = buckets.len();
    let mut sketches = BinaryBuilder::new();
    let (mut ids, mut timestamps, mut seqs, mut units) = (vec![], vec![], vec![], vec![]);
    let (mut counts, mut sums, mut mins, mut maxs) = (vec![], vec![], vec![], vec![]);
    for ((series, timestamp, unit), acc) in buckets {
        ids.push(series);
        timestamps.push(timestamp);
        seqs.push(acc.max_seq);
        units.push(unit);
        counts.push(acc.count);
        sums.push(acc.sum);
        mins.push(acc.min);
        maxs.push(acc.max);
        match acc.sketch {
            Some(sketch) => sketches.append_value(sketch.to_bytes()),
            None => sketches.append_null(),
        }
    }
    RecordBatch::try_new(
        SAMPLE_SCHEMA.clone(),
        vec![
            Arc::new(UInt64Array::from(ids)),
            Arc::new(Int64Array::from(timestamps)),
            Arc::new(UInt64Array::from(seqs)),
            Arc::new(UInt8Array::from(units)),
            Arc::new(UInt16Array::from(vec![step_s; n])),
            Arc::new(Float64Array::from(counts)),
            Arc::new(Float64Array::from(sums)),
            Arc::new(Float64Array::from(mins)),
            Arc::new(Float64Array::from(maxs)),
            Arc::new(BooleanArray::from(vec![true; n])),
            Arc::new(sketches.finish()),
        ],
    )
    .expect("columns match SAMPLE_SCHEMA")
}
