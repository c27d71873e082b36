//! The Arrow schema of stored metric samples (one row per `Sample`).

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef};

pub static SAMPLE_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("series_id", DataType::UInt64, false),
        Field::new("timestamp", DataType::Int64, false),
        Field::new("seq", DataType::UInt64, false),
        Field::new("unit", DataType::UInt8, false),
        Field::new("resolution", DataType::UInt16, false),
        Field::new("count", DataType::Float64, false),
        Field::new("sum", DataType::Float64, false),
        Field::new("min", DataType::Float64, false),
        Field::new("max", DataType::Float64, false),
        Field::new("is_set", DataType::Boolean, false),
        // Rollup rows only: the quantile sketch of their percentile-eligible values (null when
        // a statistic set made the bucket ineligible).
        Field::new("sketch", DataType::Binary, true),
    ]))
});
