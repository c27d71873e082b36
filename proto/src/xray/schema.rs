//! The Arrow schema of stored trace documents: one row per segment or independent subsegment
//! as it arrived (an in-progress segment and its completed version are two rows; reads apply
//! the replacement rule of §2.12 by `seq`).

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef};

pub mod columns {
    pub const TRACE_ID: &str = "trace_id";
    pub const ID: &str = "id";
    pub const PARENT_ID: &str = "parent_id";
    pub const START_NS: &str = "start_ns";
    /// Null while in progress.
    pub const END_NS: &str = "end_ns";
    pub const INGESTION_TIME: &str = "ingestion_time";
    pub const SEQ: &str = "seq";
    pub const NAME: &str = "name";
    pub const DOCUMENT: &str = "document";
}

pub static SPAN_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(columns::TRACE_ID, DataType::FixedSizeBinary(16), false),
        Field::new(columns::ID, DataType::UInt64, false),
        Field::new(columns::PARENT_ID, DataType::UInt64, true),
        Field::new(columns::START_NS, DataType::Int64, false),
        Field::new(columns::END_NS, DataType::Int64, true),
        Field::new(columns::INGESTION_TIME, DataType::Int64, false),
        Field::new(columns::SEQ, DataType::UInt64, false),
        Field::new(columns::NAME, DataType::Utf8, false),
        Field::new(columns::DOCUMENT, DataType::Utf8, false),
    ]))
});
