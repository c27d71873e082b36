//! fluoro's data model: names and ids, the CloudWatch Logs error shape, the filter-pattern
//! language, and the Arrow schema of stored log events. Pure code: no tokio, no sockets, no files.

pub mod alarms;
pub mod aws_error;
pub mod aws_json;
pub mod cloudwatch;
pub mod correlation;
pub mod emf;
pub mod eventstream;
pub mod fields;
pub mod filter;
mod json_cursor;
pub mod lambda;
pub mod logs;
pub mod metric_filter;
pub mod metrics;
pub mod names;
#[cfg(test)]
mod otlp_fixtures;
pub mod otlp_logs;
pub mod sigv4;
pub mod validation;
pub mod xray;

pub use aws_error::{AwsError, ErrorCode};
pub use names::{LogGroupName, LogStreamName};
