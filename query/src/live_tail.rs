//! Live tail (spec logs.md §3.13, §7): events acknowledged after a session starts, of the
//! selected groups (and streams), matching a filter pattern. Two transports over the store's
//! broadcast of acknowledged batches (`LogStore::subscribe_events`):
//! - `StartLiveTail`: AWS event-stream frames (`initial-response`, `sessionStart`, one
//!   `sessionUpdate` per second with at most 500 events, `sampled` beyond that or when the
//!   session fell behind, `SessionTimeoutException` after 3 hours);
//! - `GET /api/v1/logs/tail` for the UI: server-sent events, one `events` message per stored
//!   batch that has matches (no one-second batching), `lagged` when events were skipped.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use fluoro_proto::AwsError;
use fluoro_proto::aws_json::RequestContext;
use fluoro_proto::eventstream;
use fluoro_proto::filter::FilterPattern;
use fluoro_proto::logs::EventKey;
use fluoro_store::{LiveEvents, LogStore};

use crate::trace_logs::EventView;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

/// Limits of spec logs.md §10.
pub const MAX_GROUPS: usize = 10;
pub const MAX_STREAM_FILTERS: usize = 100;
pub const MAX_EVENTS_PER_UPDATE: usize = 500;
/// Events a slow session buffers between updates before dropping the oldest.
const MAX_BUFFERED: usize = 5000;
pub const SESSION_LIMIT: Duration = Duration::from_secs(3 * 3600);

#[derive(Debug, Clone)]
enum Streams {
    All,
    Names(Vec<String>),
    Prefixes(Vec<String>),
}

/// Which events a session wants.
pub struct Selector {
    /// Group id → the identifier the caller used (reported back with each event).
    groups: HashMap<u64, String>,
    streams: Streams,
    pattern: Option<FilterPattern>,
    store: Arc<LogStore>,
    /// Stream id → name, when it passes the stream filter.
    stream_names: HashMap<(u64, u64), Option<String>>,
}

impl Selector {
    /// The matching events of one acknowledged batch.
    pub fn select(&mut self, batch: &LiveEvents) -> Vec<EventView> {
        let Some(group) = self.groups.get(&batch.group_id) else { return Vec::new() };
        let key = (batch.group_id, batch.stream_id);
        let stream = match self.stream_names.get(&key) {
            Some(name) => name.clone(),
            None => {
                let name =
                    self.store.catalog().stream_names(batch.group_id, [batch.stream_id]).remove(&batch.stream_id);
                let passes = |n: &String| match &self.streams {
                    Streams::All => true,
                    Streams::Names(names) => names.contains(n),
                    Streams::Prefixes(prefixes) => prefixes.iter().any(|p| n.starts_with(p.as_str())),
                };
                let name = name.filter(passes);
                self.stream_names.insert(key, name.clone());
                name
            }
        };
        let Some(stream) = stream else { return Vec::new() };
        let mut out = Vec::new();
        for (i, (timestamp, message)) in batch.timestamps.iter().zip(batch.messages.iter()).enumerate() {
            let message = message.unwrap_or_default();
            if self.pattern.as_ref().is_some_and(|p| !p.matches(message)) {
                continue;
            }
            out.push(EventView {
                group: group.clone(),
                stream: stream.clone(),
                timestamp: *timestamp,
                ingestion_time: batch.ingestion_time,
                key: EventKey { timestamp: *timestamp, seq: batch.first_seq + i as u64 },
                message: message.to_owned(),
                span_id: None,
            });
        }
        out
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartLiveTailInput {
    log_group_identifiers: Vec<String>,
    log_stream_names: Option<Vec<String>>,
    log_stream_name_prefixes: Option<Vec<String>>,
    log_event_filter_pattern: Option<String>,
}

fn selector(
    store: &Arc<LogStore>,
    groups: HashMap<u64, String>,
    streams: Streams,
    pattern: Option<&str>,
) -> Result<Selector, AwsError> {
    let pattern = match pattern.map(str::trim).filter(|p| !p.is_empty()) {
        None => None,
        Some(p) => Some(FilterPattern::parse(p)?),
    };
    Ok(Selector { groups, streams, pattern, store: store.clone(), stream_names: HashMap::new() })
}

/// `StartLiveTail`: validates the request (errors are ordinary JSON responses), then answers
/// with the event stream.
pub fn start_live_tail(store: &Arc<LogStore>, ctx: &RequestContext, body: &[u8]) -> Result<Response, AwsError> {
    let input: StartLiveTailInput = fluoro_proto::aws_json::parse_input(body)?;
    let count = input.log_group_identifiers.len();
    if count == 0 || count > MAX_GROUPS {
        return Err(AwsError::invalid_parameter(format!(
            "logGroupIdentifiers must hold between 1 and {MAX_GROUPS} log groups"
        )));
    }
    let mut groups = HashMap::new();
    for identifier in &input.log_group_identifiers {
        if identifier.ends_with('*') {
            return Err(AwsError::invalid_parameter("logGroupIdentifiers must not end with '*'"));
        }
        let name = ctx.group_name_from_identifier(identifier)?;
        let group = store.catalog().group(name).ok_or_else(fluoro_proto::logs::group_not_found)?;
        groups.insert(group.id, identifier.clone());
    }
    let streams = match (input.log_stream_names, input.log_stream_name_prefixes) {
        (Some(_), Some(_)) => {
            return Err(AwsError::invalid_parameter(
                "logStreamNames and logStreamNamePrefixes are mutually exclusive parameters.",
            ));
        }
        (None, None) => Streams::All,
        (names, prefixes) => {
            if count != 1 {
                return Err(AwsError::invalid_parameter(
                    "logStreamNames and logStreamNamePrefixes are only allowed with exactly one log group.",
                ));
            }
            let list = names.as_ref().or(prefixes.as_ref()).expect("one of them");
            if list.is_empty() || list.len() > MAX_STREAM_FILTERS {
                return Err(AwsError::invalid_parameter(format!(
                    "Between 1 and {MAX_STREAM_FILTERS} log stream names or prefixes are allowed"
                )));
            }
            match names {
                Some(names) => Streams::Names(names),
                None => Streams::Prefixes(prefixes.unwrap_or_default()),
            }
        }
    };
    let mut session_start = json!({
        "requestId": uuid::Uuid::new_v4().to_string(),
        "sessionId": uuid::Uuid::new_v4().to_string(),
        "logGroupIdentifiers": input.log_group_identifiers,
    });
    match &streams {
        Streams::Names(n) => session_start["logStreamNames"] = json!(n),
        Streams::Prefixes(p) => session_start["logStreamNamePrefixes"] = json!(p),
        Streams::All => {}
    }
    if let Some(p) = &input.log_event_filter_pattern {
        session_start["logEventFilterPattern"] = json!(p);
    }
    let selector = selector(store, groups, streams, input.log_event_filter_pattern.as_deref())?;
    let receiver = store.subscribe_events();
    let opening =
        vec![eventstream::event("initial-response", &json!({})), eventstream::event("sessionStart", &session_start)];
    let session = Session {
        receiver,
        selector,
        opening,
        buffered: Vec::new(),
        sampled: false,
        deadline: tokio::time::Instant::now() + SESSION_LIMIT,
        next_update: tokio::time::Instant::now() + Duration::from_secs(1),
        done: false,
    };
    let frames = futures::stream::unfold(session, |mut session| async move {
        let frame = session.next_frame().await?;
        Some((Ok::<_, Infallible>(Bytes::from(frame)), session))
    });
    let mut response = Body::from_stream(frames).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    Ok(response)
}

/// One StartLiveTail session's state between frames.
struct Session {
    receiver: tokio::sync::broadcast::Receiver<Arc<LiveEvents>>,
    selector: Selector,
    opening: Vec<Vec<u8>>,
    buffered: Vec<EventView>,
    sampled: bool,
    deadline: tokio::time::Instant,
    next_update: tokio::time::Instant,
    done: bool,
}

impl Session {
    async fn next_frame(&mut self) -> Option<Vec<u8>> {
        if !self.opening.is_empty() {
            return Some(self.opening.remove(0));
        }
        if self.done {
            return None;
        }
        if tokio::time::Instant::now() >= self.deadline {
            self.done = true;
            return Some(eventstream::exception(
                "SessionTimeoutException",
                "The session has reached its maximum duration of 3 hours.",
            ));
        }
        // Gather until the next one-second update.
        let until = self.next_update.min(self.deadline);
        loop {
            tokio::select! {
                received = self.receiver.recv() => match received {
                    Ok(batch) => {
                        let events = self.selector.select(&batch);
                        self.buffered.extend(events);
                        if self.buffered.len() > MAX_BUFFERED {
                            let excess = self.buffered.len() - MAX_BUFFERED;
                            self.buffered.drain(..excess);
                            self.sampled = true;
                        }
                    }
                    Err(RecvError::Lagged(_)) => self.sampled = true,
                    Err(RecvError::Closed) => {
                        self.done = true;
                        return Some(eventstream::exception(
                            "SessionStreamingException",
                            "The service is shutting down.",
                        ));
                    }
                },
                _ = tokio::time::sleep_until(until) => break,
            }
        }
        self.next_update += Duration::from_secs(1);
        let mut events = std::mem::take(&mut self.buffered);
        let mut sampled = std::mem::take(&mut self.sampled);
        if events.len() > MAX_EVENTS_PER_UPDATE {
            // An even sample across the second, in order.
            let step = events.len() as f64 / MAX_EVENTS_PER_UPDATE as f64;
            events = (0..MAX_EVENTS_PER_UPDATE).map(|i| events[(i as f64 * step) as usize].clone()).collect();
            sampled = true;
        }
        let results: Vec<Value> = events
            .iter()
            .map(|e| {
                json!({
                    "logStreamName": e.stream,
                    "logGroupIdentifier": e.group,
                    "message": e.message,
                    "timestamp": e.timestamp,
                    "ingestionTime": e.ingestion_time,
                })
            })
            .collect();
        Some(eventstream::event(
            "sessionUpdate",
            &json!({"sessionMetadata": {"sampled": sampled}, "sessionResults": results}),
        ))
    }
}

/// `GET /api/v1/logs/tail?logGroupName=…&filterPattern=…` (server-sent events).
pub async fn sse(store: Arc<LogStore>, query: &str) -> Response {
    let bad = |status: axum::http::StatusCode, message: String| {
        (status, axum::Json(json!({ "error": message }))).into_response()
    };
    // `logGroupName` may repeat (`?logGroupName=a&logGroupName=b`).
    let mut names = Vec::new();
    let mut pattern = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match key.as_ref() {
            "logGroupName" => names.push(value.into_owned()),
            "filterPattern" => pattern = Some(value.into_owned()),
            other => return bad(axum::http::StatusCode::BAD_REQUEST, format!("Unknown parameter '{other}'")),
        }
    }
    if names.is_empty() || names.len() > MAX_GROUPS {
        return bad(
            axum::http::StatusCode::BAD_REQUEST,
            format!("name between 1 and {MAX_GROUPS} log groups with logGroupName"),
        );
    }
    let mut groups = HashMap::new();
    for name in &names {
        match store.catalog().group(name) {
            Some(group) => groups.insert(group.id, name.clone()),
            None => return bad(axum::http::StatusCode::NOT_FOUND, format!("Log group '{name}' does not exist")),
        };
    }
    let selector = match selector(&store, groups, Streams::All, pattern.as_deref()) {
        Ok(selector) => selector,
        Err(e) => return bad(axum::http::StatusCode::BAD_REQUEST, e.message),
    };
    let receiver = store.subscribe_events();
    let stream = futures::stream::unfold((receiver, selector), |(mut receiver, mut selector)| async move {
        loop {
            let event = match receiver.recv().await {
                Ok(batch) => {
                    let events = selector.select(&batch);
                    if events.is_empty() {
                        continue;
                    }
                    let events: Vec<Value> = events.iter().map(EventView::to_json).collect();
                    Event::default().event("events").data(Value::Array(events).to_string())
                }
                Err(RecvError::Lagged(skipped)) => {
                    Event::default().event("lagged").data(json!({ "skippedBatches": skipped }).to_string())
                }
                Err(RecvError::Closed) => return None,
            };
            return Some((Ok::<_, Infallible>(event), (receiver, selector)));
        }
    });
    // A comment every second: the stream is never idle long enough for the listener's idle
    // timeout (at least 1 s) or a proxy to close it.
    Sse::new(stream).keep_alive(KeepAlive::new().interval(std::time::Duration::from_secs(1))).into_response()
}
