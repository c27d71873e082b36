//! Ingest frontends and the write path. Each frontend is named after the protocol it speaks;
//! all of them end in `fluoro_store::LogStore::append`.

pub mod cw_logs;
pub mod cw_metrics;
pub mod otlp;
pub mod xray;
