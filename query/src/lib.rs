//! The read path: query languages and read APIs over `fluoro_store` snapshots, executed by
//! DataFusion.

pub mod alarms;
pub mod cw_logs;
pub mod cw_metrics;
pub mod distributed;
mod events;
pub mod insights;
pub mod live_tail;
pub mod native;
mod pattern_udf;
pub mod sql;
pub mod trace_logs;
pub mod xray;

pub use events::{EventQuery, StoredEvent, run_event_query};
