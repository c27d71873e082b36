//! CloudWatch Logs (AWS JSON 1.1): the read operations — DescribeLogGroups,
//! DescribeLogStreams, ListTagsForResource, ListTagsLogGroup, GetLogEvents, FilterLogEvents,
//! and the Logs Insights query APIs.

mod describe;
mod get_events;
mod insights;
pub(crate) mod tokens;

use std::sync::Arc;

use fluoro_proto::aws_json::{RequestContext, parse_input};
use fluoro_proto::logs::Clock;
pub(crate) use fluoro_proto::logs::{group_not_found, stream_not_found};
use fluoro_proto::validation::Violations;
use fluoro_proto::{AwsError, ErrorCode};
use fluoro_store::{GroupMeta, LogStore};

use crate::insights::manager::QueryManager;
use serde_json::Value;

/// The read half of the CloudWatch Logs API.
pub struct LogsReadApi {
    store: Arc<LogStore>,
    clock: Clock,
    queries: Arc<QueryManager>,
}

/// Limits of background queries.
#[derive(Debug, Clone, Copy)]
pub struct QueryLimits {
    /// Queries executing at once; the others wait as `Scheduled`.
    pub concurrency: usize,
    pub timeout: std::time::Duration,
}

impl Default for QueryLimits {
    fn default() -> Self {
        Self { concurrency: 4, timeout: std::time::Duration::from_secs(3600) }
    }
}

impl LogsReadApi {
    pub fn store(&self) -> &Arc<LogStore> {
        &self.store
    }

    pub fn new(store: Arc<LogStore>, clock: Clock, limits: QueryLimits) -> Self {
        let queries = QueryManager::new(limits.concurrency, limits.timeout, clock.clone());
        Self { store, clock, queries }
    }

    /// Runs `operation` if it is one of this API's; `None` otherwise.
    pub async fn handle(&self, ctx: &RequestContext, operation: &str, body: &[u8]) -> Option<Result<Value, AwsError>> {
        let result = match operation {
            "DescribeLogGroups" => self.describe_log_groups(ctx, parse_input(body)),
            "DescribeLogStreams" => self.describe_log_streams(ctx, parse_input(body)),
            "DescribeMetricFilters" => parse_input(body).and_then(|input| self.describe_metric_filters(input)),
            "ListTagsForResource" => self.list_tags_for_resource(ctx, parse_input(body)),
            "ListTagsLogGroup" => self.list_tags_log_group(parse_input(body)),
            "GetLogEvents" => match parse_input(body) {
                Ok(input) => self.get_log_events(ctx, input).await,
                Err(e) => Err(e),
            },
            "FilterLogEvents" => match parse_input(body) {
                Ok(input) => self.filter_log_events(ctx, input).await,
                Err(e) => Err(e),
            },
            "StartQuery" => match parse_input(body) {
                Ok(input) => self.start_query(ctx, input).await,
                Err(e) => Err(e),
            },
            "GetQueryResults" => parse_input(body).and_then(|input| self.get_query_results(input)),
            "StopQuery" => parse_input(body).and_then(|input| self.stop_query(input)),
            "DescribeQueries" => parse_input(body).and_then(|input| self.describe_queries(input)),
            "GetLogRecord" => match parse_input(body) {
                Ok(input) => self.get_log_record(ctx, input).await,
                Err(e) => Err(e),
            },
            "GetLogGroupFields" => match parse_input(body) {
                Ok(input) => self.get_log_group_fields(ctx, input).await,
                Err(e) => Err(e),
            },
            "PutQueryDefinition" => parse_input(body).and_then(|input| self.put_query_definition(input)),
            "DescribeQueryDefinitions" => parse_input(body).and_then(|input| self.describe_query_definitions(input)),
            "DeleteQueryDefinition" => parse_input(body).and_then(|input| self.delete_query_definition(input)),
            _ => return None,
        };
        Some(result)
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Resolves exactly one of `logGroupName` / `logGroupIdentifier`.
    fn resolve_group(
        &self,
        ctx: &RequestContext,
        name: Option<&str>,
        identifier: Option<&str>,
    ) -> Result<Arc<GroupMeta>, AwsError> {
        let name = match (name, identifier) {
            (Some(_), Some(_)) => {
                return Err(AwsError::new(
                    ErrorCode::Validation,
                    "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
                ));
            }
            (None, None) => {
                return Err(AwsError::invalid_parameter(
                    "Either logGroupName or logGroupIdentifier must be specified.",
                ));
            }
            (Some(name), None) => name,
            (None, Some(identifier)) => ctx.group_name_from_identifier(identifier)?,
        };
        self.store.catalog().group(name).ok_or_else(group_not_found)
    }
}

pub(crate) fn invalid_token() -> AwsError {
    AwsError::invalid_parameter("The specified nextToken is invalid.")
}

/// Checks an optional `limit` against `1..=max` and returns it or `default`.
pub(crate) fn limit_or(limit: Option<i64>, max: i64, default: usize) -> Result<usize, AwsError> {
    match limit {
        None => Ok(default),
        Some(limit) => {
            let mut v = Violations::new();
            v.range("limit", limit, 1, max);
            v.finish()?;
            Ok(limit as usize)
        }
    }
}

pub(crate) fn internal(error: impl std::fmt::Display) -> AwsError {
    tracing::error!(%error, "query failed");
    AwsError::new(ErrorCode::ServiceUnavailable, "The service cannot complete the request.")
}
