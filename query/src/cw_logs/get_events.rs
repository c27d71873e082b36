//! GetLogEvents (one stream, both directions, stable tokens) and FilterLogEvents (many
//! streams, filter patterns).

use std::sync::Arc;

use fluoro_proto::AwsError;
use fluoro_proto::aws_json::RequestContext;
use fluoro_proto::filter::{FilterPattern, MAX_PATTERN_LEN};
use fluoro_proto::logs::{EVENT_OVERHEAD_BYTES, MAX_BATCH_BYTES};
use fluoro_proto::validation::Violations;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::tokens::{Direction, event_token, filter_token, fingerprint, parse_event_token, parse_filter_token};
use super::{LogsReadApi, internal, invalid_token, limit_or, stream_not_found};
use crate::events::{EventQuery, StoredEvent, run_event_query};

/// Most events one page holds.
const MAX_PAGE_EVENTS: i64 = 10_000;
/// FilterLogEvents only reads backwards from startTimes on or after 2024-01-01 (AWS rule).
const DESCENDING_MIN_START: i64 = 1_704_067_200_000;
const GET_TOKEN_SUFFIX: &str = "s";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetLogEventsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_name: String,
    start_time: Option<i64>,
    end_time: Option<i64>,
    limit: Option<i64>,
    start_from_head: Option<bool>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct FilterLogEventsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefix: Option<String>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    filter_pattern: Option<String>,
    limit: Option<i64>,
    next_token: Option<String>,
    start_from_head: Option<bool>,
}

/// Keeps events while the page stays within 1 MB (`message bytes + 26` each).
fn cap_page(events: &mut Vec<StoredEvent>) -> bool {
    let mut total = 0;
    let keep = events
        .iter()
        .position(|e| {
            total += e.message.len() + EVENT_OVERHEAD_BYTES;
            total > MAX_BATCH_BYTES
        })
        .unwrap_or(events.len());
    let capped = keep < events.len();
    events.truncate(keep.max(1).min(events.len()));
    capped
}

impl LogsReadApi {
    pub(super) async fn get_log_events(
        &self,
        ctx: &RequestContext,
        input: GetLogEventsInput,
    ) -> Result<Value, AwsError> {
        let group = self.resolve_group(ctx, input.log_group_name.as_deref(), input.log_group_identifier.as_deref())?;
        let limit = limit_or(input.limit, MAX_PAGE_EVENTS, MAX_PAGE_EVENTS as usize)?;
        let stream = self.store.catalog().stream(group.id, &input.log_stream_name).ok_or_else(stream_not_found)?;
        let token = match &input.next_token {
            None => None,
            Some(token) => Some(parse_event_token(token, GET_TOKEN_SUFFIX).ok_or_else(invalid_token)?),
        };
        let (direction, from) = match token {
            Some((direction, key)) => (direction, Some(key)),
            None if input.start_from_head.unwrap_or(false) => (Direction::Forward, None),
            None => (Direction::Backward, None),
        };
        let now = self.now();
        let min_ts = input.start_time.unwrap_or(i64::MIN).max(group.retention_cutoff(now).unwrap_or(i64::MIN));
        // endTime is exclusive here (unlike FilterLogEvents).
        let max_ts = input.end_time.map_or(i64::MAX, |t| t.saturating_sub(1));
        let query = EventQuery {
            group_id: group.id,
            stream_ids: Some(vec![stream.id]),
            min_ts,
            max_ts,
            from,
            descending: direction == Direction::Backward,
            pattern: None,
            limit,
        };
        let mut events = run_event_query(&self.store, &query).await.map_err(internal)?;
        cap_page(&mut events);
        if query.descending {
            events.reverse();
        }
        let (forward, backward) = match (events.first(), events.last()) {
            (Some(first), Some(last)) => (last.key, first.key),
            _ => {
                let at = from.unwrap_or_default();
                (at, at)
            }
        };
        let rendered: Vec<Value> = events
            .iter()
            .map(|e| json!({"timestamp": e.key.timestamp, "message": e.message, "ingestionTime": e.ingestion_time}))
            .collect();
        Ok(json!({
            "events": rendered,
            "nextForwardToken": event_token(Direction::Forward, forward, GET_TOKEN_SUFFIX),
            "nextBackwardToken": event_token(Direction::Backward, backward, GET_TOKEN_SUFFIX),
        }))
    }

    pub(super) async fn filter_log_events(
        &self,
        ctx: &RequestContext,
        input: FilterLogEventsInput,
    ) -> Result<Value, AwsError> {
        let group = self.resolve_group(ctx, input.log_group_name.as_deref(), input.log_group_identifier.as_deref())?;
        if input.log_stream_names.is_some() && input.log_stream_name_prefix.is_some() {
            return Err(AwsError::invalid_parameter(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
            ));
        }
        let mut v = Violations::new();
        if let Some(names) = &input.log_stream_names {
            if names.is_empty() {
                v.push("[]", "logStreamNames", "Member must have length greater than or equal to 1");
            } else if names.len() > 100 {
                v.push("[...]", "logStreamNames", "Member must have length less than or equal to 100");
            }
        }
        let source = input.filter_pattern.clone().unwrap_or_default();
        v.max_len("filterPattern", &source, MAX_PATTERN_LEN);
        v.finish()?;
        let limit = limit_or(input.limit, MAX_PAGE_EVENTS, MAX_PAGE_EVENTS as usize)?;
        let descending = !input.start_from_head.unwrap_or(true);
        if descending && input.start_time.is_none_or(|t| t < DESCENDING_MIN_START) {
            return Err(AwsError::invalid_parameter(
                "startFromHead=false requires a startTime on or after 1704067200000.",
            ));
        }
        let pattern = Arc::new(FilterPattern::parse(&source)?);

        // Without a stream filter every stream of the group is read with no stream predicate.
        let all_streams = input.log_stream_names.is_none() && input.log_stream_name_prefix.is_none();
        let selected = (!all_streams).then(|| {
            self.store.catalog().select_streams(
                group.id,
                input.log_stream_names.as_deref(),
                input.log_stream_name_prefix.as_deref(),
            )
        });
        let mut sorted_names: Vec<&str> = input.log_stream_names.iter().flatten().map(String::as_str).collect();
        sorted_names.sort_unstable();
        let print = fingerprint(&[
            &group.id.to_string(),
            &sorted_names.join("\u{1}"),
            input.log_stream_name_prefix.as_deref().unwrap_or(""),
            &input.start_time.map(|t| t.to_string()).unwrap_or_default(),
            &input.end_time.map(|t| t.to_string()).unwrap_or_default(),
            &source,
            if descending { "d" } else { "a" },
        ]);
        let now = self.now();
        let from = match &input.next_token {
            None => None,
            Some(token) => Some(parse_filter_token(token, &print, now).ok_or_else(invalid_token)?.1),
        };
        let min_ts = input.start_time.unwrap_or(i64::MIN).max(group.retention_cutoff(now).unwrap_or(i64::MIN));
        let query = EventQuery {
            group_id: group.id,
            stream_ids: selected,
            min_ts,
            max_ts: input.end_time.unwrap_or(i64::MAX),
            from,
            descending,
            pattern: (!matches!(*pattern, FilterPattern::MatchAll)).then(|| (source.clone(), pattern.clone())),
            limit: limit + 1,
        };
        let mut events = run_event_query(&self.store, &query).await.map_err(internal)?;
        let more = events.len() > limit;
        events.truncate(limit);
        let last_read = events.last().map(|e| e.key);
        // Names of the returned events' streams; rows of streams deleted but not yet compacted
        // away have none and are dropped.
        let streams = self.store.catalog().stream_names(group.id, events.iter().map(|e| e.stream_id));
        events.retain(|e| streams.contains_key(&e.stream_id));
        let capped = cap_page(&mut events);
        let rendered: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "logStreamName": streams.get(&e.stream_id).map(String::as_str).unwrap_or_default(),
                    "timestamp": e.key.timestamp,
                    "message": e.message,
                    "ingestionTime": e.ingestion_time,
                    "eventId": e.key.to_event_id(),
                })
            })
            .collect();
        let mut out = Map::new();
        out.insert("events".into(), Value::Array(rendered));
        out.insert("searchedLogStreams".into(), json!([]));
        let resume_after = if capped { events.last().map(|e| e.key) } else { last_read };
        if (more || capped)
            && let Some(key) = resume_after
        {
            let direction = if descending { Direction::Backward } else { Direction::Forward };
            out.insert("nextToken".into(), json!(filter_token(direction, key, &print, now)));
        }
        Ok(Value::Object(out))
    }
}
