//! DescribeLogGroups, DescribeLogStreams, ListTagsForResource, ListTagsLogGroup.

use fluoro_proto::aws_json::RequestContext;
use fluoro_proto::{AwsError, ErrorCode};
use fluoro_store::{GroupMeta, StreamMeta};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::tokens::{fingerprint, offset_token, parse_offset_token};
use super::{LogsReadApi, group_not_found, invalid_token, limit_or};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeLogGroupsInput {
    log_group_name_prefix: Option<String>,
    log_group_name_pattern: Option<String>,
    log_group_identifiers: Option<Vec<String>>,
    log_group_class: Option<String>,
    limit: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeMetricFiltersInput {
    log_group_name: Option<String>,
    filter_name_prefix: Option<String>,
    metric_name: Option<String>,
    metric_namespace: Option<String>,
    limit: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeLogStreamsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name_prefix: Option<String>,
    order_by: Option<String>,
    descending: Option<bool>,
    limit: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListTagsForResourceInput {
    resource_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct ListTagsLogGroupInput {
    log_group_name: String,
}

/// Returns one page of `items` after the offset in `token`, and the next token.
pub(super) fn paginate<T>(
    items: Vec<T>,
    token: Option<&str>,
    limit: usize,
    print: &str,
) -> Result<(Vec<T>, Option<String>), AwsError> {
    let offset = match token {
        None => 0,
        Some(token) => parse_offset_token(token, print).ok_or_else(invalid_token)?,
    };
    let total = items.len();
    let page: Vec<T> = items.into_iter().skip(offset).take(limit).collect();
    let end = offset + page.len();
    Ok((page, (end < total).then(|| offset_token(end, print))))
}

impl LogsReadApi {
    /// DescribeMetricFilters (spec logs.md §3.11): by group and name prefix, or by metric;
    /// ordered by group, then filter name.
    pub(super) fn describe_metric_filters(&self, input: DescribeMetricFiltersInput) -> Result<Value, AwsError> {
        let limit = limit_or(input.limit, 50, 50)?;
        if input.metric_name.is_some() != input.metric_namespace.is_some() {
            return Err(AwsError::invalid_parameter("metricName and metricNamespace must be specified together."));
        }
        let filters = match &input.log_group_name {
            Some(group) => {
                if self.store.catalog().group(group).is_none() {
                    return Err(group_not_found());
                }
                self.store.metric_filters().of_group(group)
            }
            None => self.store.metric_filters().all(),
        };
        let prefix = input.log_group_name.as_ref().and(input.filter_name_prefix.as_deref());
        let selected: Vec<_> = filters
            .into_iter()
            .filter(|f| {
                let def = &f.filter.def;
                prefix.is_none_or(|p| def.filter_name.starts_with(p))
                    && input.metric_name.as_deref().is_none_or(|m| m == def.metric_name)
                    && input.metric_namespace.as_deref().is_none_or(|n| n == def.metric_namespace)
            })
            .collect();
        let print = fingerprint(&[
            "metric-filters",
            input.log_group_name.as_deref().unwrap_or(""),
            prefix.unwrap_or(""),
            input.metric_name.as_deref().unwrap_or(""),
            input.metric_namespace.as_deref().unwrap_or(""),
        ]);
        let (page, next) = paginate(selected, input.next_token.as_deref(), limit, &print)?;
        let rendered: Vec<Value> = page
            .iter()
            .map(|f| {
                let def = &f.filter.def;
                let mut transformation = Map::new();
                transformation.insert("metricName".into(), json!(def.metric_name));
                transformation.insert("metricNamespace".into(), json!(def.metric_namespace));
                transformation.insert("metricValue".into(), json!(def.metric_value));
                if let Some(default) = def.default_value {
                    transformation.insert("defaultValue".into(), json!(default));
                }
                if !def.dimensions.is_empty() {
                    transformation.insert("dimensions".into(), json!(def.dimensions));
                }
                if let Some(unit) = &def.unit {
                    transformation.insert("unit".into(), json!(unit));
                }
                json!({
                    "filterName": def.filter_name,
                    "filterPattern": def.filter_pattern,
                    "metricTransformations": [transformation],
                    "creationTime": def.creation_time,
                    "logGroupName": def.log_group_name,
                    "applyOnTransformedLogs": def.apply_on_transformed_logs,
                })
            })
            .collect();
        let mut out = json!({"metricFilters": rendered});
        if let Some(token) = next {
            out["nextToken"] = json!(token);
        }
        Ok(out)
    }

    pub(super) fn describe_log_groups(
        &self,
        ctx: &RequestContext,
        input: Result<DescribeLogGroupsInput, AwsError>,
    ) -> Result<Value, AwsError> {
        let input = input?;
        if input.log_group_name_prefix.is_some() && input.log_group_name_pattern.is_some() {
            return Err(AwsError::invalid_parameter(
                "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
            ));
        }
        let limit = limit_or(input.limit, 50, 50)?;
        if let Some(ids) = &input.log_group_identifiers
            && (ids.is_empty() || ids.len() > 50)
        {
            let mut v = fluoro_proto::validation::Violations::new();
            let bound = if ids.is_empty() { "greater than or equal to 1" } else { "less than or equal to 50" };
            v.push("[...]", "logGroupIdentifiers", &format!("Member must have length {bound}"));
            v.finish()?;
        }
        let identifiers: Option<Vec<&str>> = match &input.log_group_identifiers {
            Some(ids) => Some(ids.iter().map(|id| ctx.group_name_from_identifier(id)).collect::<Result<_, _>>()?),
            None => None,
        };
        let by_pattern = input.log_group_name_pattern.is_some();
        let now = self.now();
        let catalog = self.store.catalog();
        let groups: Vec<GroupMeta> = catalog.read(|state| {
            state
                .groups
                .values()
                .filter(|g| input.log_group_name_prefix.as_ref().is_none_or(|p| g.name.starts_with(p.as_str())))
                .filter(|g| input.log_group_name_pattern.as_ref().is_none_or(|p| g.name.contains(p.as_str())))
                .filter(|g| identifiers.as_ref().is_none_or(|ids| ids.contains(&g.name.as_str())))
                .filter(|g| input.log_group_class.as_ref().is_none_or(|c| &g.log_group_class == c))
                .map(|g| GroupMeta::clone(g))
                .collect()
        });
        // Expired events do not count (retention applies at hour granularity).
        let stored: Vec<u64> = groups.iter().map(|g| catalog.stored_bytes(g.id, g.retention_cutoff(now))).collect();
        let print = fingerprint(&[
            "groups",
            input.log_group_name_prefix.as_deref().unwrap_or(""),
            input.log_group_name_pattern.as_deref().unwrap_or(""),
        ]);
        let items: Vec<(GroupMeta, u64)> = groups.into_iter().zip(stored).collect();
        let (page, next) = paginate(items, input.next_token.as_deref(), limit, &print)?;
        let rendered: Vec<Value> = page
            .iter()
            .map(|(group, stored_bytes)| {
                let arn = ctx.log_group_arn(&group.name);
                let mut out = Map::new();
                out.insert("logGroupName".into(), json!(group.name));
                out.insert("creationTime".into(), json!(group.creation_time));
                if !by_pattern && let Some(days) = group.retention_days {
                    out.insert("retentionInDays".into(), json!(days));
                }
                out.insert("metricFilterCount".into(), json!(self.store.metric_filters().count(&group.name)));
                out.insert("arn".into(), json!(format!("{arn}:*")));
                out.insert("logGroupArn".into(), json!(arn));
                if !by_pattern {
                    out.insert("storedBytes".into(), json!(stored_bytes));
                    if let Some(kms) = &group.kms_key_id {
                        out.insert("kmsKeyId".into(), json!(kms));
                    }
                    out.insert("deletionProtectionEnabled".into(), json!(group.deletion_protection));
                }
                out.insert("logGroupClass".into(), json!(group.log_group_class));
                Value::Object(out)
            })
            .collect();
        let mut out = Map::new();
        out.insert("logGroups".into(), Value::Array(rendered));
        if let Some(next) = next {
            out.insert("nextToken".into(), json!(next));
        }
        Ok(Value::Object(out))
    }

    pub(super) fn describe_log_streams(
        &self,
        ctx: &RequestContext,
        input: Result<DescribeLogStreamsInput, AwsError>,
    ) -> Result<Value, AwsError> {
        let input = input?;
        let group = self.resolve_group(ctx, input.log_group_name.as_deref(), input.log_group_identifier.as_deref())?;
        let by_time = match input.order_by.as_deref() {
            None | Some("LogStreamName") => false,
            Some("LastEventTime") => true,
            Some(other) => {
                let mut v = fluoro_proto::validation::Violations::new();
                v.push(other, "orderBy", "Member must satisfy enum value set: [LogStreamName, LastEventTime]");
                v.finish()?;
                unreachable!("a violation was pushed")
            }
        };
        if by_time && input.log_stream_name_prefix.is_some() {
            return Err(AwsError::invalid_parameter("Cannot order by LastEventTime with a logStreamNamePrefix."));
        }
        let limit = limit_or(input.limit, 50, 50)?;
        let mut streams: Vec<StreamMeta> = self.store.catalog().read(|state| {
            state
                .streams
                .get(&group.id)
                .into_iter()
                .flat_map(|s| s.values())
                .filter(|s| input.log_stream_name_prefix.as_ref().is_none_or(|p| s.name.starts_with(p.as_str())))
                .cloned()
                .collect()
        });
        if by_time {
            streams.sort_by(|a, b| {
                (a.last_event_timestamp.unwrap_or(0), &a.name).cmp(&(b.last_event_timestamp.unwrap_or(0), &b.name))
            });
        }
        let descending = input.descending.unwrap_or(false);
        if descending {
            streams.reverse();
        }
        let print = fingerprint(&[
            "streams",
            &group.id.to_string(),
            input.log_stream_name_prefix.as_deref().unwrap_or(""),
            if by_time { "t" } else { "n" },
            if descending { "d" } else { "a" },
        ]);
        let (page, next) = paginate(streams, input.next_token.as_deref(), limit, &print)?;
        let rendered: Vec<Value> = page
            .iter()
            .map(|s| {
                let mut out = Map::new();
                out.insert("logStreamName".into(), json!(s.name));
                out.insert("creationTime".into(), json!(s.creation_time));
                if let (Some(first), Some(last), Some(ingested)) =
                    (s.first_event_timestamp, s.last_event_timestamp, s.last_ingestion_time)
                {
                    out.insert("firstEventTimestamp".into(), json!(first));
                    out.insert("lastEventTimestamp".into(), json!(last));
                    out.insert("lastIngestionTime".into(), json!(ingested));
                    out.insert("uploadSequenceToken".into(), json!(format!("{:056}", s.stored_bytes)));
                }
                out.insert("arn".into(), json!(ctx.log_stream_arn(&group.name, &s.name)));
                out.insert("storedBytes".into(), json!(0));
                Value::Object(out)
            })
            .collect();
        let mut out = Map::new();
        out.insert("logStreams".into(), Value::Array(rendered));
        if let Some(next) = next {
            out.insert("nextToken".into(), json!(next));
        }
        Ok(Value::Object(out))
    }

    pub(super) fn list_tags_for_resource(
        &self,
        ctx: &RequestContext,
        input: Result<ListTagsForResourceInput, AwsError>,
    ) -> Result<Value, AwsError> {
        let input = input?;
        let name = ctx.group_name_from_identifier(&input.resource_arn)?;
        let group = self
            .store
            .catalog()
            .group(name)
            .ok_or_else(|| AwsError::new(ErrorCode::ResourceNotFound, "The specified log group does not exist."))?;
        Ok(json!({ "tags": group.tags }))
    }

    pub(super) fn list_tags_log_group(
        &self,
        input: Result<ListTagsLogGroupInput, AwsError>,
    ) -> Result<Value, AwsError> {
        let input = input?;
        let group = self.store.catalog().group(&input.log_group_name).ok_or_else(group_not_found)?;
        Ok(json!({ "tags": group.tags }))
    }
}
