//! The Logs Insights query APIs (insights.md §1): StartQuery, GetQueryResults, StopQuery,
//! DescribeQueries, GetLogRecord, GetLogGroupFields, and the saved query definitions.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use fluoro_proto::aws_json::RequestContext;
use fluoro_proto::fields::{LambdaValue, discover_json, lambda_fields};
use fluoro_proto::logs::EventKey;
use fluoro_proto::validation::Violations;
use fluoro_proto::{AwsError, ErrorCode};
use fluoro_store::GroupMeta;
use futures::FutureExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::describe::paginate;
use super::tokens::fingerprint;
use super::{LogsReadApi, internal, invalid_token};
use crate::insights::ast::Source;
use crate::insights::manager::{StartError, Status, StopError};
use crate::insights::run::{Request, check, run};
use crate::insights::values::format_number;
use crate::insights::{Row, pointer};
use crate::sql::SqlScope;
use crate::{EventQuery, run_event_query};

const MAX_QUERY_CHARS: usize = 10_000;
const MAX_GROUPS: usize = 50;
const DEFAULT_ROWS: usize = 10_000;
const MAX_ROWS: i64 = 100_000;
const QUERY_DEFINITIONS: &str = "query-definitions";
const MAX_QUERY_DEFINITIONS: usize = 1_000;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StartQueryInput {
    query_language: Option<String>,
    log_group_name: Option<String>,
    log_group_names: Option<Vec<String>>,
    log_group_identifiers: Option<Vec<String>>,
    start_time: Option<i64>,
    end_time: Option<i64>,
    query_string: Option<String>,
    limit: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct QueryIdInput {
    query_id: Option<String>,
    next_token: Option<String>,
    max_items: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeQueriesInput {
    log_group_name: Option<String>,
    status: Option<String>,
    query_language: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetLogRecordInput {
    log_record_pointer: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GetLogGroupFieldsInput {
    log_group_name: Option<String>,
    log_group_identifier: Option<String>,
    time: Option<i64>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub(super) struct QueryParameter {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    default_value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PutQueryDefinitionInput {
    name: Option<String>,
    query_string: Option<String>,
    log_group_names: Option<Vec<String>>,
    query_definition_id: Option<String>,
    query_language: Option<String>,
    parameters: Option<Vec<QueryParameter>>,
    #[allow(dead_code)]
    client_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DescribeQueryDefinitionsInput {
    query_definition_name_prefix: Option<String>,
    query_language: Option<String>,
    max_results: Option<i64>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DeleteQueryDefinitionInput {
    query_definition_id: Option<String>,
}

#[derive(Deserialize, Serialize, Clone)]
#[serde(rename_all = "camelCase")]
struct QueryDefinition {
    query_definition_id: String,
    name: String,
    query_string: String,
    last_modified: i64,
    log_group_names: Vec<String>,
    query_language: String,
    #[serde(default)]
    parameters: Vec<QueryParameter>,
}

fn required<T>(value: Option<T>, name: &str) -> Result<T, AwsError> {
    value.ok_or_else(|| {
        AwsError::new(ErrorCode::Validation, format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"))
    })
}

fn language(value: Option<&str>) -> Result<&'static str, AwsError> {
    match value.unwrap_or("CWLI") {
        "CWLI" => Ok("CWLI"),
        "SQL" => Ok("SQL"),
        "PPL" => Ok("PPL"),
        other => {
            let mut v = Violations::new();
            v.push(other, "queryLanguage", "Member must satisfy enum value set: [CWLI, SQL, PPL]");
            v.finish().map(|_| "CWLI")
        }
    }
}

fn too_many_queries() -> AwsError {
    AwsError::new(ErrorCode::LimitExceeded, "Too many queries are running: at most 100 may be scheduled or running")
}

fn query_not_found() -> AwsError {
    AwsError::new(ErrorCode::ResourceNotFound, "The specified query does not exist.")
}

fn render_rows(rows: &[Row]) -> Value {
    Value::Array(
        rows.iter()
            .map(|row| {
                Value::Array(row.iter().map(|(field, value)| json!({"field": &**field, "value": value})).collect())
            })
            .collect(),
    )
}

impl LogsReadApi {
    fn resolve_groups(&self, ctx: &RequestContext, names: &[String]) -> Result<Vec<Arc<GroupMeta>>, AwsError> {
        let mut groups: Vec<Arc<GroupMeta>> = Vec::new();
        for name in names {
            let name = ctx.group_name_from_identifier(name)?;
            let group = self.store.catalog().group(name).ok_or_else(|| {
                AwsError::new(
                    ErrorCode::ResourceNotFound,
                    format!("Log group '{name}' does not exist for account ID '{}'", ctx.account_id),
                )
            })?;
            if !groups.iter().any(|g| g.id == group.id) {
                groups.push(group);
            }
        }
        Ok(groups)
    }

    pub(super) async fn start_query(&self, ctx: &RequestContext, input: StartQueryInput) -> Result<Value, AwsError> {
        let language = language(input.query_language.as_deref())?;
        let query_string = required(input.query_string, "queryString")?;
        let start_time = required(input.start_time, "startTime")?;
        let end_time = required(input.end_time, "endTime")?;
        let mut v = Violations::new();
        v.max_len("queryString", &query_string, MAX_QUERY_CHARS);
        if let Some(limit) = input.limit {
            v.range("limit", limit, 1, MAX_ROWS);
        }
        for (name, list) in
            [("logGroupNames", &input.log_group_names), ("logGroupIdentifiers", &input.log_group_identifiers)]
        {
            if let Some(list) = list
                && (list.is_empty() || list.len() > MAX_GROUPS)
            {
                let bound = if list.is_empty() { "greater than or equal to 1" } else { "less than or equal to 50" };
                v.push("[...]", name, &format!("Member must have length {bound}"));
            }
        }
        v.finish()?;
        if end_time < start_time {
            return Err(AwsError::invalid_parameter("endTime must be greater than or equal to startTime"));
        }
        if language == "PPL" {
            return Err(crate::insights::QueryError {
                message: "Query language PPL is not supported".into(),
                start_char: 0,
                end_char: 0,
            }
            .to_aws());
        }
        let selectors: Vec<Vec<String>> =
            [input.log_group_name.map(|n| vec![n]), input.log_group_names, input.log_group_identifiers]
                .into_iter()
                .flatten()
                .collect();
        if selectors.len() > 1 {
            return Err(AwsError::invalid_parameter(
                "Exactly one of logGroupName, logGroupNames and logGroupIdentifiers may be specified",
            ));
        }
        let max_rows = input.limit.map_or(DEFAULT_ROWS, |l| l as usize);
        let (mut start_ms, mut end_ms) =
            (start_time.saturating_mul(1000), end_time.saturating_mul(1000).saturating_add(999));
        if language == "SQL" {
            let groups = match selectors.first() {
                Some(names) => self.resolve_groups(ctx, names)?,
                None => self.store.catalog().read(|s| s.groups.values().cloned().collect()),
            };
            return self.start_sql(ctx, query_string, groups, start_ms, end_ms, max_rows).await;
        }
        let parsed = crate::insights::parser::parse(&query_string).map_err(|e| e.to_aws())?;
        let groups = match (&parsed.source, selectors.first()) {
            (Some(_), Some(_)) => {
                return Err(AwsError::invalid_parameter(
                    "A query that starts with SOURCE cannot also name log groups in the request",
                ));
            }
            (None, None) => {
                return Err(AwsError::invalid_parameter(
                    "Exactly one of logGroupName, logGroupNames and logGroupIdentifiers must be specified",
                ));
            }
            (None, Some(names)) => self.resolve_groups(ctx, names)?,
            (Some(Source::Groups { names, start_ms: s, end_ms: e }), None) => {
                if names.len() > MAX_GROUPS {
                    return Err(AwsError::invalid_parameter("A query can read at most 50 log groups"));
                }
                start_ms = s.unwrap_or(start_ms);
                end_ms = e.unwrap_or(end_ms);
                self.resolve_groups(ctx, names)?
            }
            (Some(Source::Prefixes { prefixes, class }), None) => {
                if prefixes.len() > 5 {
                    return Err(AwsError::invalid_parameter("SOURCE accepts at most 5 name prefixes"));
                }
                let groups: Vec<Arc<GroupMeta>> = self.store.catalog().read(|s| {
                    s.groups
                        .values()
                        .filter(|g| prefixes.is_empty() || prefixes.iter().any(|p| g.name.starts_with(p.as_str())))
                        .filter(|g| class.as_deref().is_none_or(|c| g.log_group_class == c))
                        .take(MAX_GROUPS + 1)
                        .cloned()
                        .collect()
                });
                if groups.len() > MAX_GROUPS {
                    return Err(AwsError::invalid_parameter("The SOURCE prefixes select more than 50 log groups"));
                }
                groups
            }
        };
        let request = Request {
            account_id: ctx.account_id.clone(),
            groups,
            start_ms,
            end_ms,
            query: query_string.clone(),
            max_rows,
            now_ms: self.now(),
        };
        let parsed = check(&self.store, &request).map_err(|e| e.to_aws())?;
        let store = self.store.clone();
        let names = request.groups.iter().map(|g| g.name.clone()).collect();
        let groups_scanned = request.groups.len();
        let id = self
            .queries
            .start(
                query_string,
                "CWLI".into(),
                names,
                groups_scanned,
                Box::new(move |progress, sink| {
                    async move { run(&store, &request, &parsed, &progress, sink).await.map_err(|e| e.to_string()) }
                        .boxed()
                }),
            )
            .map_err(|StartError::TooManyQueries| too_many_queries())?;
        Ok(json!({ "queryId": id }))
    }

    async fn start_sql(
        &self,
        ctx: &RequestContext,
        query_string: String,
        groups: Vec<Arc<GroupMeta>>,
        start_ms: i64,
        end_ms: i64,
        max_rows: usize,
    ) -> Result<Value, AwsError> {
        let scope =
            SqlScope { account_id: ctx.account_id.clone(), groups, start_ms, end_ms, now_ms: self.now(), max_rows };
        let progress = Arc::new(crate::insights::run::Progress { groups: scope.groups.len(), ..Default::default() });
        let frame = crate::sql::prepare(&self.store, &scope, &query_string, &progress).await.map_err(|e| {
            crate::insights::QueryError { message: e.message().to_string(), start_char: 0, end_char: 0 }.to_aws()
        })?;
        let names = scope.groups.iter().take(1).map(|g| g.name.clone()).collect();
        let store = self.store.clone();
        let id = self
            .queries
            .start_with_progress(
                query_string,
                "SQL".into(),
                names,
                progress,
                Box::new(move |progress, mut sink| {
                    async move {
                        let result = crate::sql::execute(frame, |batch| {
                            let rows = crate::sql::text_rows(batch)?;
                            progress.matched.rows.fetch_add(rows.len() as u64, std::sync::atomic::Ordering::Relaxed);
                            sink(rows);
                            Ok(())
                        })
                        .await;
                        match result {
                            Ok(()) => Ok(()),
                            Err(e) => Err(crate::sql::quarantine_after(&store, &scope, e).await.to_string()),
                        }
                    }
                    .boxed()
                }),
            )
            .map_err(|StartError::TooManyQueries| too_many_queries())?;
        Ok(json!({ "queryId": id }))
    }

    pub(super) fn get_query_results(&self, input: QueryIdInput) -> Result<Value, AwsError> {
        let id = required(input.query_id, "queryId")?;
        let mut v = Violations::new();
        if let Some(max) = input.max_items {
            v.range("maxItems", max, 1, MAX_ROWS);
        }
        v.finish()?;
        let entry = self.queries.get(&id).ok_or_else(query_not_found)?;
        let page = input.max_items.map_or(DEFAULT_ROWS, |m| m as usize);
        let print = fingerprint(&[&id]);
        let offset = match input.next_token.as_deref() {
            None => 0,
            Some(token) => super::tokens::parse_offset_token(token, &print).ok_or_else(invalid_token)?,
        };
        let snapshot = entry.snapshot(offset..offset.saturating_add(page));
        let total = entry.row_count();
        let mut out = json!({
            "queryLanguage": snapshot.info.language,
            "results": render_rows(&snapshot.rows),
            "statistics": {
                "recordsMatched": snapshot.statistics.records_matched,
                "recordsScanned": snapshot.statistics.records_scanned,
                "estimatedRecordsSkipped": snapshot.statistics.estimated_records_skipped,
                "bytesScanned": snapshot.statistics.bytes_scanned,
                "estimatedBytesSkipped": 0.0,
                "logGroupsScanned": snapshot.statistics.log_groups_scanned,
            },
            "status": snapshot.status.as_str(),
        });
        let end = offset + snapshot.rows.len();
        if snapshot.status == Status::Complete && end < total {
            out["nextToken"] = Value::from(super::tokens::offset_token(end, &print));
        }
        Ok(out)
    }

    pub(super) fn stop_query(&self, input: QueryIdInput) -> Result<Value, AwsError> {
        let id = required(input.query_id, "queryId")?;
        match self.queries.stop(&id) {
            Ok(()) => Ok(json!({"success": true})),
            Err(StopError::NotFound) => Err(query_not_found()),
            Err(StopError::AlreadyFinished) => {
                Err(AwsError::invalid_parameter("The query has already ended and cannot be stopped"))
            }
        }
    }

    pub(super) fn describe_queries(&self, input: DescribeQueriesInput) -> Result<Value, AwsError> {
        let mut v = Violations::new();
        if let Some(max) = input.max_results {
            v.range("maxResults", max, 1, 1000);
        }
        if let Some(status) = &input.status
            && !["Scheduled", "Running", "Complete", "Failed", "Cancelled", "Timeout", "Unknown"]
                .contains(&status.as_str())
        {
            v.push(status, "status", "Member must satisfy enum value set: [Scheduled, Running, Complete, Failed, Cancelled, Timeout, Unknown]");
        }
        v.finish()?;
        let language = input.query_language.as_deref().map(|l| language(Some(l))).transpose()?;
        let limit = input.max_results.map_or(1000, |m| m as usize);
        let queries: Vec<Value> = self
            .queries
            .list()
            .into_iter()
            .map(|q| q.snapshot(0..0))
            .filter(|q| input.status.as_deref().is_none_or(|s| q.status.as_str() == s))
            .filter(|q| language.is_none_or(|l| q.info.language == l))
            .filter(|q| {
                input
                    .log_group_name
                    .as_deref()
                    .is_none_or(|g| q.info.log_group_names.first().map(String::as_str) == Some(g))
            })
            .map(|q| {
                let mut item = json!({
                    "queryLanguage": q.info.language,
                    "queryId": q.info.id,
                    "queryString": q.info.query_string,
                    "status": q.status.as_str(),
                    "createTime": q.info.create_time,
                    "bytesScanned": q.statistics.bytes_scanned,
                });
                if let Some(group) = q.info.log_group_names.first() {
                    item["logGroupName"] = Value::from(group.clone());
                }
                if let Some(duration) = q.duration_ms {
                    item["queryDuration"] = Value::from(duration);
                }
                item
            })
            .collect();
        let print = fingerprint(&["DescribeQueries"]);
        let (page, next) = paginate(queries, input.next_token.as_deref(), limit, &print)?;
        let mut out = json!({ "queries": page });
        if let Some(next) = next {
            out["nextToken"] = Value::from(next);
        }
        Ok(out)
    }

    pub(super) async fn get_log_record(
        &self,
        ctx: &RequestContext,
        input: GetLogRecordInput,
    ) -> Result<Value, AwsError> {
        let text = required(input.log_record_pointer, "logRecordPointer")?;
        let ptr =
            pointer::decode(&text).ok_or_else(|| AwsError::invalid_parameter("The log record pointer is not valid"))?;
        let gone = || AwsError::new(ErrorCode::ResourceNotFound, "The log record does not exist");
        let group = self
            .store
            .catalog()
            .read(|s| s.groups.values().find(|g| g.id == ptr.group_id).cloned())
            .ok_or_else(gone)?;
        if group.retention_cutoff(self.now()).is_some_and(|cut| ptr.timestamp < cut) {
            return Err(gone());
        }
        let query = EventQuery {
            group_id: group.id,
            stream_ids: Some(vec![ptr.stream_id]),
            min_ts: ptr.timestamp,
            max_ts: ptr.timestamp,
            from: ptr.seq.checked_sub(1).map(|seq| EventKey { timestamp: ptr.timestamp, seq }),
            descending: false,
            pattern: None,
            limit: 1,
        };
        let events = run_event_query(&self.store, &query).await.map_err(internal)?;
        let event = events.into_iter().find(|e| e.key.seq == ptr.seq).ok_or_else(gone)?;
        let stream =
            self.store.catalog().stream_names(group.id, [ptr.stream_id]).remove(&ptr.stream_id).unwrap_or_default();
        let mut record: BTreeMap<String, String> = BTreeMap::new();
        for (name, value) in event_fields(&event.message, group.name.starts_with("/aws/lambda/")) {
            record.insert(name, value);
        }
        record.insert("@timestamp".into(), event.key.timestamp.to_string());
        record.insert("@ingestionTime".into(), event.ingestion_time.to_string());
        record.insert("@log".into(), format!("{}:{}", ctx.account_id, group.name));
        record.insert("@logStream".into(), stream);
        record.insert("@message".into(), event.message);
        Ok(json!({ "logRecord": record }))
    }

    pub(super) async fn get_log_group_fields(
        &self,
        ctx: &RequestContext,
        input: GetLogGroupFieldsInput,
    ) -> Result<Value, AwsError> {
        const WINDOW_MS: i64 = 8 * 60_000;
        const SAMPLE: usize = 10_000;
        let group = self.resolve_group(ctx, input.log_group_name.as_deref(), input.log_group_identifier.as_deref())?;
        let now = self.now();
        let (min_ts, max_ts) = match input.time {
            Some(t) => (t * 1000 - WINDOW_MS, t * 1000 + WINDOW_MS + 999),
            None => (now - 15 * 60_000, now),
        };
        let min_ts = group.retention_cutoff(now).map_or(min_ts, |cut| min_ts.max(cut));
        let query = EventQuery {
            group_id: group.id,
            stream_ids: None,
            min_ts,
            max_ts,
            from: None,
            descending: true,
            pattern: None,
            limit: SAMPLE,
        };
        let events = run_event_query(&self.store, &query).await.map_err(internal)?;
        let lambda = group.name.starts_with("/aws/lambda/");
        let mut counts: HashMap<String, usize> = HashMap::new();
        for event in &events {
            for (name, _) in event_fields(&event.message, lambda) {
                *counts.entry(name).or_default() += 1;
            }
        }
        let total = events.len();
        let mut fields: Vec<(String, u64)> = Vec::new();
        if total > 0 {
            for name in ["@timestamp", "@message", "@logStream", "@log", "@ingestionTime"] {
                fields.push((name.into(), 100));
            }
            for (name, count) in counts {
                fields.push((name, ((count * 100) as f64 / total as f64).round() as u64));
            }
        }
        fields.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(json!({
            "logGroupFields": fields.into_iter().map(|(name, percent)| json!({"name": name, "percent": percent})).collect::<Vec<_>>()
        }))
    }

    fn query_definitions(&self) -> Result<Vec<QueryDefinition>, AwsError> {
        let docs = self.store.catalog().docs(QUERY_DEFINITIONS).map_err(internal)?;
        Ok(docs.into_iter().filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok()).collect())
    }

    pub(super) fn put_query_definition(&self, input: PutQueryDefinitionInput) -> Result<Value, AwsError> {
        let name = required(input.name, "name")?;
        let query_string = required(input.query_string, "queryString")?;
        let mut v = Violations::new();
        v.min_len("name", &name, 1);
        v.max_len("name", &name, 255);
        v.min_len("queryString", &query_string, 1);
        v.max_len("queryString", &query_string, MAX_QUERY_CHARS);
        let parameters = input.parameters.unwrap_or_default();
        if parameters.len() > 20 {
            v.push("[...]", "parameters", "Member must have length less than or equal to 20");
        }
        v.finish()?;
        let language = language(input.query_language.as_deref())?;
        let existing = self.query_definitions()?;
        let id = match input.query_definition_id {
            Some(id) => {
                if !existing.iter().any(|d| d.query_definition_id == id) {
                    return Err(AwsError::new(ErrorCode::ResourceNotFound, "The query definition does not exist"));
                }
                id
            }
            None => {
                if existing.len() >= MAX_QUERY_DEFINITIONS {
                    return Err(AwsError::new(ErrorCode::LimitExceeded, "At most 1000 query definitions may exist"));
                }
                uuid::Uuid::new_v4().to_string()
            }
        };
        let definition = QueryDefinition {
            query_definition_id: id.clone(),
            name,
            query_string,
            last_modified: self.now(),
            log_group_names: input.log_group_names.unwrap_or_default(),
            query_language: language.into(),
            parameters,
        };
        let bytes = serde_json::to_vec(&definition).expect("definitions serialize");
        self.store.catalog().put_doc(QUERY_DEFINITIONS, &id, &bytes).map_err(internal)?;
        Ok(json!({ "queryDefinitionId": id }))
    }

    pub(super) fn describe_query_definitions(&self, input: DescribeQueryDefinitionsInput) -> Result<Value, AwsError> {
        let mut v = Violations::new();
        if let Some(max) = input.max_results {
            v.range("maxResults", max, 1, 1000);
        }
        v.finish()?;
        let language = input.query_language.as_deref().map(|l| language(Some(l))).transpose()?;
        let mut definitions: Vec<QueryDefinition> = self
            .query_definitions()?
            .into_iter()
            .filter(|d| input.query_definition_name_prefix.as_deref().is_none_or(|p| d.name.starts_with(p)))
            .filter(|d| language.is_none_or(|l| d.query_language == l))
            .collect();
        definitions.sort_by(|a, b| a.name.cmp(&b.name).then_with(|| a.query_definition_id.cmp(&b.query_definition_id)));
        let print =
            fingerprint(&["DescribeQueryDefinitions", input.query_definition_name_prefix.as_deref().unwrap_or("")]);
        let limit = input.max_results.map_or(1000, |m| m as usize);
        let (page, next) = paginate(definitions, input.next_token.as_deref(), limit, &print)?;
        let mut out = json!({ "queryDefinitions": page });
        if let Some(next) = next {
            out["nextToken"] = Value::from(next);
        }
        Ok(out)
    }

    pub(super) fn delete_query_definition(&self, input: DeleteQueryDefinitionInput) -> Result<Value, AwsError> {
        let id = required(input.query_definition_id, "queryDefinitionId")?;
        if self.store.catalog().delete_doc(QUERY_DEFINITIONS, &id).map_err(internal)? {
            Ok(json!({"success": true}))
        } else {
            Err(AwsError::new(ErrorCode::ResourceNotFound, "The query definition does not exist"))
        }
    }
}

/// Every discovered field of one event (Lambda fields first, then JSON), as text.
fn event_fields(message: &str, lambda_group: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = lambda_fields(message)
        .into_iter()
        .filter_map(|(name, value)| {
            let text = match value {
                LambdaValue::Text(t) => Some(t),
                LambdaValue::Number(n) => format_number(n),
            };
            text.map(|t| (name.to_owned(), t))
        })
        .collect();
    out.extend(discover_json(message, lambda_group));
    out
}
