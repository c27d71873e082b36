//! The read path: query languages and read APIs over `fluoro_store` snapshots, executed by
//! DataFusion.

pub mod cw_logs;
mod events;
mod pattern_udf;

pub use events::{EventQuery, StoredEvent, run_event_query};
