//! OTLP spans → X-Ray segment documents (spec traces.md §8.3), so OpenTelemetry traces share
//! the one span model: the same storage, summaries, filters and service graph. Based on the
//! OTel Collector X-Ray exporter, with the deviations the spec marks [fluoro].
//!
//! Every scalar span attribute and resource attribute (as `otel.resource.<key>`) stays
//! filterable through `annotation[<key>]`: they are kept in the document under
//! `OTEL_ATTRIBUTES`, which reads strip from the documents they return.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span, status};
use serde_json::{Map, Value, json};

use super::document::{SegmentDoc, sanitize_name};
use super::ids::{SegmentId, TraceId};

/// Internal document field holding the filterable attributes of an OTLP span.
pub const OTEL_ATTRIBUTES: &str = "fluoro_otel_attributes";

/// The result of converting one export request.
#[derive(Debug, Default)]
pub struct Converted {
    pub documents: Vec<SegmentDoc>,
    pub rejected: usize,
    /// The first rejection's reason (for `partialSuccess.errorMessage`).
    pub error: Option<String>,
}

pub(crate) fn any_to_json(value: &AnyValue) -> Value {
    match &value.value {
        Some(any_value::Value::StringValue(s)) => Value::from(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::from(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => serde_json::Number::from_f64(*d).map_or(Value::Null, Value::Number),
        Some(any_value::Value::ArrayValue(a)) => Value::Array(a.values.iter().map(any_to_json).collect()),
        Some(any_value::Value::KvlistValue(kv)) => Value::Object(
            kv.values.iter().map(|k| (k.key.clone(), k.value.as_ref().map_or(Value::Null, any_to_json))).collect(),
        ),
        Some(any_value::Value::BytesValue(b)) => Value::from(b.iter().map(|x| format!("{x:02x}")).collect::<String>()),
        // Dictionary references only appear in profiles.
        Some(any_value::Value::StringValueStrindex(_)) | None => Value::Null,
    }
}

/// Attributes as an ordered key → JSON map (later duplicates win).
pub(crate) fn attributes(list: &[KeyValue]) -> Map<String, Value> {
    list.iter().map(|kv| (kv.key.clone(), kv.value.as_ref().map_or(Value::Null, any_to_json))).collect()
}

struct Attrs<'a> {
    span: &'a Map<String, Value>,
    resource: &'a Map<String, Value>,
}

impl Attrs<'_> {
    fn str(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| match self.span.get(*k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    }

    fn res(&self, keys: &[&str]) -> Option<String> {
        keys.iter().find_map(|k| match self.resource.get(*k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        })
    }

    fn num(&self, keys: &[&str]) -> Option<i64> {
        keys.iter().find_map(|k| match self.span.get(*k) {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        })
    }

    fn bool(&self, key: &str) -> Option<bool> {
        self.span.get(key).and_then(Value::as_bool)
    }
}

const SQL_SYSTEMS: [&str; 11] =
    ["db2", "derby", "hive", "mariadb", "mssql", "mysql", "oracle", "postgresql", "sqlite", "teradata", "other_sql"];

/// Converts an export request; spans that break §8.2's rules are counted, not converted.
pub fn convert(request: &ExportTraceServiceRequest) -> Converted {
    let mut out = Converted::default();
    for resource_spans in &request.resource_spans {
        let resource = resource_spans.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
        for scope_spans in &resource_spans.scope_spans {
            for span in &scope_spans.spans {
                match convert_span(span, &resource) {
                    Ok(doc) => out.documents.push(doc),
                    Err(reason) => {
                        out.rejected += 1;
                        out.error.get_or_insert_with(|| reason.to_owned());
                    }
                }
            }
        }
    }
    out
}

fn convert_span(span: &Span, resource: &Map<String, Value>) -> Result<SegmentDoc, &'static str> {
    let trace_id = TraceId::from_bytes(&span.trace_id).ok_or("trace id must be 16 bytes, not all zero")?;
    let id = SegmentId::from_bytes(&span.span_id).ok_or("span id must be 8 bytes, not all zero")?;
    let parent = match span.parent_span_id.len() {
        0 => None,
        8 => SegmentId::from_bytes(&span.parent_span_id),
        _ => return Err("parent span id must be 8 bytes"),
    };
    let (start, end) = (span.start_time_unix_nano as i64, span.end_time_unix_nano as i64);
    if end < start - 1_000_000_000 {
        return Err("span ends more than 1 s before it starts");
    }
    let attrs_map = attributes(&span.attributes);
    let attrs = Attrs { span: &attrs_map, resource };
    let kind = span::SpanKind::try_from(span.kind).unwrap_or(span::SpanKind::Unspecified);
    let local_root = attrs.str(&["aws.span.kind"]).as_deref() == Some("LOCAL_ROOT");
    let remote_parent = span.flags & 0x300 == 0x300;
    let is_segment = parent.is_none()
        || kind == span::SpanKind::Server
        || local_root
        || (kind == span::SpanKind::Consumer && remote_parent);

    let mut doc = Map::new();
    doc.insert("trace_id".into(), Value::from(trace_id.to_xray()));
    doc.insert("id".into(), Value::from(id.to_string()));
    if let Some(parent) = parent {
        doc.insert("parent_id".into(), Value::from(parent.to_string()));
    }
    if !is_segment {
        doc.insert("type".into(), Value::from("subsegment"));
    }
    let name = span_name(span, &attrs, kind, is_segment);
    doc.insert("name".into(), Value::from(name.clone()));
    doc.insert("start_time".into(), json!(start as f64 / 1e9));
    let in_progress = attrs.bool("aws.xray.inprogress") == Some(true);
    if in_progress {
        doc.insert("in_progress".into(), Value::Bool(true));
    } else {
        doc.insert("end_time".into(), json!(end.max(start) as f64 / 1e9));
    }
    let aws_api = attrs.str(&["rpc.system"]).as_deref() == Some("aws-api") || attrs.str(&["aws.service"]).is_some();
    if !is_segment {
        let namespace = if aws_api {
            Some("aws")
        } else if kind == span::SpanKind::Client
            || (matches!(kind, span::SpanKind::Producer | span::SpanKind::Consumer)
                && attrs.str(&["aws.remote.service"]).is_some())
        {
            Some("remote")
        } else {
            None
        };
        if let Some(namespace) = namespace {
            doc.insert("namespace".into(), Value::from(namespace));
        }
    }

    // Flags from the HTTP status, else the span status (§8.3).
    let status_code = attrs.num(&["http.response.status_code", "http.status_code"]);
    let span_error = span.status.as_ref().is_some_and(|s| s.code == status::StatusCode::Error as i32);
    match status_code {
        Some(code) if (400..500).contains(&code) => {
            doc.insert("error".into(), Value::Bool(true));
            if code == 429 {
                doc.insert("throttle".into(), Value::Bool(true));
            }
        }
        Some(code) if (500..600).contains(&code) => {
            doc.insert("fault".into(), Value::Bool(true));
        }
        _ if span_error => {
            doc.insert("fault".into(), Value::Bool(true));
        }
        _ => {}
    }

    if let Some(http) = http_object(&attrs, kind, status_code) {
        doc.insert("http".into(), http);
    }
    let aws = aws_object(&attrs, is_segment);
    if !aws.is_empty() {
        doc.insert("aws".into(), Value::Object(aws));
    }
    if let Some(sql) = sql_object(span, &attrs) {
        doc.insert("sql".into(), sql);
    }
    if let Some(user) = attrs.str(&["enduser.id"]) {
        doc.insert("user".into(), Value::from(user));
    }
    if is_segment {
        if let Some(origin) = origin(&attrs) {
            doc.insert("origin".into(), Value::from(origin));
        }
        if let Some(version) = attrs.res(&["service.version", "container.image.tag"]) {
            doc.insert("service".into(), json!({"version": version}));
        }
    }
    if let Some(arn) =
        attrs.res(&["cloud.resource_id"]).or_else(|| attrs.str(&["cloud.resource_id", "aws.xray.resource_arn"]))
    {
        doc.insert("resource_arn".into(), Value::from(arn));
    }
    if let Some(cause) = cause(span, &attrs, kind) {
        doc.insert("cause".into(), cause);
    }
    if attrs.bool("aws.xray.traced") == Some(true) {
        doc.insert("traced".into(), Value::Bool(true));
    }
    if !span.links.is_empty() {
        let links: Vec<Value> = span
            .links
            .iter()
            .filter_map(|l| {
                let trace = TraceId::from_bytes(&l.trace_id)?;
                let id = SegmentId::from_bytes(&l.span_id)?;
                Some(
                    json!({"trace_id": trace.to_xray(), "id": id.to_string(), "attributes": attributes(&l.attributes)}),
                )
            })
            .collect();
        doc.insert("links".into(), Value::Array(links));
    }

    // Annotations: the keys the span names in `aws.xray.annotations` (ADOT's rule), sanitized.
    let mut annotations = Map::new();
    if let Some(Value::Array(keys)) = attrs_map.get("aws.xray.annotations") {
        for key in keys.iter().filter_map(Value::as_str) {
            if let Some(value @ (Value::String(_) | Value::Number(_) | Value::Bool(_))) = attrs_map.get(key) {
                annotations.insert(sanitize_annotation_key(key), value.clone());
            }
        }
    }
    if !annotations.is_empty() {
        doc.insert("annotations".into(), Value::Object(annotations));
    }
    // Metadata: every span attribute as sent; `aws.xray.metadata.<ns>` JSON strings as namespaces.
    let mut metadata = Map::new();
    let mut default = Map::new();
    for (key, value) in &attrs_map {
        if let Some(namespace) = key.strip_prefix("aws.xray.metadata.")
            && let Some(Ok(Value::Object(parsed))) = value.as_str().map(serde_json::from_str::<Value>)
        {
            if namespace == "default" {
                default.extend(parsed);
            } else {
                metadata.insert(namespace.to_owned(), Value::Object(parsed));
            }
            continue;
        }
        default.insert(key.clone(), value.clone());
    }
    if !default.is_empty() {
        metadata.insert("default".into(), Value::Object(default));
    }
    let kind_name = span::SpanKind::try_from(span.kind).map_or("SPAN_KIND_UNSPECIFIED", |k| k.as_str_name());
    metadata.insert("otel".into(), json!({"span_name": span.name, "kind": kind_name.trim_start_matches("SPAN_KIND_")}));
    if !metadata.is_empty() {
        doc.insert("metadata".into(), Value::Object(metadata));
    }
    // Everything scalar stays filterable by its original key.
    let mut filterable: Map<String, Value> = attrs_map
        .iter()
        .filter(|(_, v)| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    filterable.insert("otel.span.name".into(), Value::from(span.name.clone()));
    if is_segment {
        for (key, value) in resource {
            if matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)) {
                filterable.insert(format!("otel.resource.{key}"), value.clone());
            }
        }
    }
    if !filterable.is_empty() {
        doc.insert(OTEL_ATTRIBUTES.into(), Value::Object(filterable));
    }
    let json = serde_json::to_string(&Value::Object(doc)).expect("JSON values serialize");
    Ok(SegmentDoc {
        trace_id,
        id,
        parent_id: parent,
        independent: !is_segment,
        name,
        start_ns: (start / 1000) * 1000,
        end_ns: (!in_progress).then_some((end.max(start) / 1000) * 1000),
        json,
    })
}

/// ADOT's annotation key rule: characters outside `[A-Za-z0-9.]` become `_`.
fn sanitize_annotation_key(key: &str) -> String {
    key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '.' { c } else { '_' }).collect()
}

fn span_name(span: &Span, attrs: &Attrs<'_>, kind: span::SpanKind, is_segment: bool) -> String {
    let strip = |s: String| s.trim_start_matches("AWS.SDK.").trim_start_matches("AWS::").to_owned();
    let db = || {
        let db = attrs.str(&["db.name", "db.namespace"])?;
        let host = attrs.str(&["db.connection_string"]).and_then(|c| {
            let c = c.trim_start_matches("jdbc:");
            let after = c.split("://").nth(1)?;
            Some(after.split(['/', ':', '?']).next()?.to_owned())
        });
        Some(match host {
            Some(h) if !h.is_empty() => format!("{db}@{h}"),
            _ => db,
        })
    };
    let candidates: Vec<Option<String>> = if is_segment {
        vec![
            attrs.str(&["aws.local.service"]),
            attrs.res(&["service.name"]),
            attrs.str(&["peer.service"]),
            attrs.str(&["aws.service"]),
            attrs.str(&["rpc.service"]),
            attrs.str(&["http.host", "server.address"]),
        ]
    } else if matches!(kind, span::SpanKind::Client | span::SpanKind::Producer | span::SpanKind::Consumer) {
        vec![
            attrs.str(&["aws.remote.service"]).map(strip),
            attrs.str(&["peer.service"]),
            attrs.str(&["aws.service"]),
            db(),
            attrs.str(&["rpc.service"]),
            attrs.str(&["http.host", "server.address"]),
            attrs.str(&["net.peer.name"]),
        ]
    } else {
        vec![]
    };
    let chosen = candidates.into_iter().flatten().map(|n| sanitize_name(&n)).find(|n| !n.is_empty());
    if let Some(name) = chosen {
        return name;
    }
    if is_segment {
        return "unknown_service".into();
    }
    let fallback = sanitize_name(&span.name);
    if fallback.is_empty() { "span".into() } else { fallback }
}

fn http_object(attrs: &Attrs<'_>, kind: span::SpanKind, status: Option<i64>) -> Option<Value> {
    let mut request = Map::new();
    let method = match attrs.str(&["http.request.method"]).as_deref() {
        Some("_OTHER") => attrs.str(&["http.request.method_original"]),
        Some(m) => Some(m.to_owned()),
        None => attrs.str(&["http.method"]),
    };
    if let Some(method) = method {
        request.insert("method".into(), Value::from(method));
    }
    let url = attrs.str(&["url.full", "http.url"]).or_else(|| {
        let host = if kind == span::SpanKind::Server {
            attrs.str(&["server.address", "http.host", "http.server_name", "net.host.name", "host.name"])
        } else {
            attrs.str(&["server.address", "http.host", "net.peer.name", "net.peer.ip"])
        }?;
        let scheme = attrs.str(&["url.scheme", "http.scheme"]).unwrap_or_else(|| "http".into());
        let port = attrs.num(&["server.port", "net.host.port", "net.peer.port"]);
        let port = match (scheme.as_str(), port) {
            ("http", Some(80)) | ("https", Some(443)) | (_, None) => String::new(),
            (_, Some(p)) => format!(":{p}"),
        };
        let path = attrs.str(&["url.path", "http.target"]).unwrap_or_else(|| "/".into());
        let query = attrs.str(&["url.query"]).map(|q| format!("?{q}")).unwrap_or_default();
        Some(format!("{scheme}://{host}{port}{path}{query}"))
    });
    if let Some(url) = url {
        request.insert("url".into(), Value::from(url));
    }
    if let Some(agent) = attrs.str(&["user_agent.original", "http.user_agent"]) {
        request.insert("user_agent".into(), Value::from(agent));
    }
    if let Some(ip) = attrs.str(&["client.address", "http.client_ip"]) {
        request.insert("client_ip".into(), Value::from(ip));
        request.insert("x_forwarded_for".into(), Value::Bool(true));
    } else if let Some(ip) = attrs.str(&["network.peer.address", "net.sock.peer.addr", "net.peer.ip"])
        && ip.parse::<std::net::IpAddr>().is_ok()
    {
        request.insert("client_ip".into(), Value::from(ip));
    }
    if attrs.bool("aws.xray.x_forwarded_for") == Some(true) {
        request.insert("x_forwarded_for".into(), Value::Bool(true));
    }
    let mut response = Map::new();
    if let Some(status) = status {
        response.insert("status".into(), Value::from(status));
    }
    if let Some(length) = attrs.num(&["http.response.body.size", "http.response_content_length"]) {
        response.insert("content_length".into(), Value::from(length));
    }
    if request.is_empty() && response.is_empty() {
        return None;
    }
    let mut http = Map::new();
    if !request.is_empty() {
        http.insert("request".into(), Value::Object(request));
    }
    if !response.is_empty() {
        http.insert("response".into(), Value::Object(response));
    }
    Some(Value::Object(http))
}

fn aws_object(attrs: &Attrs<'_>, is_segment: bool) -> Map<String, Value> {
    let mut aws = Map::new();
    let mut put = |key: &str, value: Option<String>| {
        if let Some(v) = value {
            aws.insert(key.into(), Value::from(v));
        }
    };
    put(
        "operation",
        attrs.str(&["aws.operation", "rpc.method"]).filter(|_| {
            attrs.str(&["rpc.system"]).as_deref() == Some("aws-api")
                || attrs.str(&["aws.service", "aws.operation"]).is_some()
        }),
    );
    put("region", attrs.str(&["aws.region"]));
    let account =
        attrs.str(&["aws.account_id"]).or_else(|| if is_segment { attrs.res(&["cloud.account.id"]) } else { None });
    put("account_id", account);
    put("request_id", attrs.str(&["aws.request_id", "aws.requestId"]));
    put("queue_url", attrs.str(&["messaging.url", "aws.queue_url", "aws.queue.url", "aws.sqs.queue.url"]));
    put("bucket_name", attrs.str(&["aws.s3.bucket"]));
    match attrs.span.get("aws.dynamodb.table_names") {
        Some(Value::Array(names)) if names.len() == 1 => put("table_name", names[0].as_str().map(str::to_owned)),
        Some(Value::Array(names)) if names.len() > 1 => {
            aws.insert("table_names".into(), Value::Array(names.clone()));
        }
        _ => put("table_name", attrs.str(&["aws.table_name", "aws.table.name"])),
    }
    if is_segment {
        let platform = attrs.res(&["cloud.platform"]);
        if platform.as_deref() == Some("aws_ec2") || attrs.res(&["host.id"]).is_some() {
            let mut ec2 = Map::new();
            for (key, source) in [
                ("instance_id", "host.id"),
                ("availability_zone", "cloud.availability_zone"),
                ("instance_size", "host.type"),
                ("ami_id", "host.image.id"),
            ] {
                if let Some(v) = attrs.res(&[source]) {
                    ec2.insert(key.into(), Value::from(v));
                }
            }
            if !ec2.is_empty() {
                aws.insert("ec2".into(), Value::Object(ec2));
            }
        }
        if platform.as_deref() == Some("aws_ecs") {
            let mut ecs = Map::new();
            for (key, source) in [
                ("container", "container.name"),
                ("container_id", "container.id"),
                ("container_arn", "aws.ecs.container.arn"),
                ("cluster_arn", "aws.ecs.cluster.arn"),
                ("task_arn", "aws.ecs.task.arn"),
                ("task_family", "aws.ecs.task.family"),
                ("launch_type", "aws.ecs.launchtype"),
                ("availability_zone", "cloud.availability_zone"),
            ] {
                if let Some(v) = attrs.res(&[source]) {
                    ecs.insert(key.into(), Value::from(v));
                }
            }
            aws.insert("ecs".into(), Value::Object(ecs));
        }
        if platform.as_deref() == Some("aws_eks") {
            let mut eks = Map::new();
            for (key, source) in
                [("cluster_name", "k8s.cluster.name"), ("pod", "k8s.pod.name"), ("container_id", "container.id")]
            {
                if let Some(v) = attrs.res(&[source]) {
                    eks.insert(key.into(), Value::from(v));
                }
            }
            aws.insert("eks".into(), Value::Object(eks));
        }
        if let Some(sdk) = attrs.res(&["telemetry.sdk.name"]) {
            let language = attrs.res(&["telemetry.sdk.language"]).unwrap_or_default();
            let mut xray = json!({"sdk": format!("{sdk} for {language}")});
            if let Some(version) = attrs.res(&["telemetry.sdk.version"]) {
                xray["sdk_version"] = Value::from(version);
            }
            xray["auto_instrumentation"] = Value::Bool(attrs.res(&["telemetry.auto.version"]).is_some());
            aws.insert("xray".into(), xray);
        }
        let groups: Vec<Value> =
            match (attrs.resource.get("aws.log.group.arns"), attrs.resource.get("aws.log.group.names")) {
                (Some(arns), _) => split_list(arns)
                    .into_iter()
                    .map(|arn| json!({"arn": arn, "log_group": arn.split(':').nth(6).unwrap_or_default()}))
                    .collect(),
                (None, Some(names)) => split_list(names).into_iter().map(|name| json!({"log_group": name})).collect(),
                _ => Vec::new(),
            };
        if !groups.is_empty() {
            aws.insert("cloudwatch_logs".into(), Value::Array(groups));
        }
    }
    aws
}

fn split_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => s.split('&').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
        Value::Array(items) => items.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn sql_object(span: &Span, attrs: &Attrs<'_>) -> Option<Value> {
    let system = attrs.str(&["db.system", "db.system.name"])?;
    if !SQL_SYSTEMS.contains(&system.as_str()) {
        return None;
    }
    let mut sql = json!({"database_type": system, "url": span.name});
    if let Some(query) = attrs.str(&["db.statement", "db.query.text"]) {
        sql["sanitized_query"] = Value::from(query);
    }
    if let Some(user) = attrs.str(&["db.user"]) {
        sql["user"] = Value::from(user);
    }
    let base = attrs.str(&["db.connection_string"]).unwrap_or_else(|| "localhost".into());
    let db = attrs.str(&["db.name", "db.namespace"]).unwrap_or_default();
    sql["connection_string"] = Value::from(format!("{base}/{db}"));
    Some(sql)
}

fn origin(attrs: &Attrs<'_>) -> Option<&'static str> {
    if attrs.res(&["cloud.provider"]).is_some_and(|p| p != "aws") {
        return None;
    }
    Some(match attrs.res(&["cloud.platform"])?.as_str() {
        "aws_ec2" => "AWS::EC2::Instance",
        "aws_ecs" => match attrs.res(&["aws.ecs.launchtype"]).as_deref() {
            Some("ec2") => "AWS::ECS::EC2",
            Some("fargate") => "AWS::ECS::Fargate",
            _ => "AWS::ECS::Container",
        },
        "aws_eks" => "AWS::EKS::Container",
        "aws_elastic_beanstalk" => "AWS::ElasticBeanstalk::Environment",
        "aws_app_runner" => "AWS::AppRunner::Service",
        "aws_lambda" => "AWS::Lambda::Function",
        _ => return None,
    })
}

/// `exception` events become `cause.exceptions`; a failed span with only a message, one.
fn cause(span: &Span, attrs: &Attrs<'_>, kind: span::SpanKind) -> Option<Value> {
    let remote = matches!(kind, span::SpanKind::Client | span::SpanKind::Producer);
    let mut exceptions = Vec::new();
    for (n, event) in span.events.iter().filter(|e| e.name == "exception").enumerate() {
        let event_attrs = attributes(&event.attributes);
        let get = |k: &str| event_attrs.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
        let stack: Vec<Value> = get("exception.stacktrace")
            .lines()
            .skip(1)
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .take(100)
            .map(|line| json!({"label": line.trim_start_matches("at ")}))
            .collect();
        let id = SegmentId(u64::from_be_bytes(exception_id(&span.span_id, n)));
        let mut exception = json!({"id": id.to_string(), "type": get("exception.type"), "message": get("exception.message"), "remote": remote});
        if !stack.is_empty() {
            exception["stack"] = Value::Array(stack);
        }
        exceptions.push(exception);
    }
    let failed = span.status.as_ref().filter(|s| s.code == status::StatusCode::Error as i32);
    if exceptions.is_empty()
        && let Some(message) =
            failed.map(|s| s.message.clone()).filter(|m| !m.is_empty()).or_else(|| attrs.str(&["http.status_text"]))
    {
        let id = SegmentId(u64::from_be_bytes(exception_id(&span.span_id, 0)));
        exceptions.push(json!({"id": id.to_string(), "message": message, "remote": remote}));
    }
    (!exceptions.is_empty()).then(|| json!({"exceptions": exceptions}))
}

/// A stable, non-zero exception id derived from the span id and the event's position.
fn exception_id(span_id: &[u8], n: usize) -> [u8; 8] {
    let mut id = [0u8; 8];
    for (i, b) in span_id.iter().take(8).enumerate() {
        id[i] = b ^ (0x5a_u8.wrapping_add(n as u8).rotate_left(i as u32));
    }
    if id == [0; 8] {
        id[7] = 1;
    }
    id
}

#[cfg(test)]
mod tests {
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, InstrumentationScope};
    use opentelemetry_proto::tonic::resource::v1::Resource;
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Status, span::Event};

    use super::*;
    use crate::otlp_fixtures::{kv, s};

    fn request(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", s(service)),
                        kv("cloud.provider", s("aws")),
                        kv("cloud.platform", s("aws_ec2")),
                        kv("host.id", s("i-123")),
                    ],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    scope: Some(InstrumentationScope::default()),
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn span(id: u8, parent: Option<u8>, kind: span::SpanKind, attributes: Vec<KeyValue>) -> Span {
        Span {
            trace_id: vec![0x65, 0xa0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12],
            span_id: vec![0, 0, 0, 0, 0, 0, 0, id],
            parent_span_id: parent.map(|p| vec![0, 0, 0, 0, 0, 0, 0, p]).unwrap_or_default(),
            name: "GET /orders".into(),
            kind: kind as i32,
            start_time_unix_nano: 1_704_984_600_000_000_000,
            end_time_unix_nano: 1_704_984_600_250_000_000,
            attributes,
            ..Default::default()
        }
    }

    #[test]
    fn server_and_client_spans_become_a_segment_and_a_subsegment() {
        let server = span(
            1,
            None,
            span::SpanKind::Server,
            vec![
                kv("http.request.method", s("GET")),
                kv("url.full", s("http://a/orders")),
                kv("http.response.status_code", any_value::Value::IntValue(503)),
                kv("enduser.id", s("u-1")),
                kv("tenant", s("acme")),
                kv(
                    "aws.xray.annotations",
                    any_value::Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(s("tenant")) }] }),
                ),
            ],
        );
        let mut client = span(
            2,
            Some(1),
            span::SpanKind::Client,
            vec![kv("peer.service", s("inventory")), kv("http.response.status_code", any_value::Value::IntValue(429))],
        );
        client.events.push(Event {
            name: "exception".into(),
            attributes: vec![kv("exception.type", s("Timeout")), kv("exception.message", s("too slow"))],
            ..Default::default()
        });
        let dynamo = span(
            3,
            Some(1),
            span::SpanKind::Client,
            vec![
                kv("rpc.system", s("aws-api")),
                kv("rpc.service", s("DynamoDB")),
                kv("rpc.method", s("GetItem")),
                kv(
                    "aws.dynamodb.table_names",
                    any_value::Value::ArrayValue(ArrayValue { values: vec![AnyValue { value: Some(s("orders")) }] }),
                ),
            ],
        );
        let mut failed = span(4, Some(1), span::SpanKind::Internal, vec![]);
        failed.status = Some(Status { message: "boom".into(), code: status::StatusCode::Error as i32 });
        let converted = convert(&request("shop", vec![server, client, dynamo, failed]));
        assert_eq!(converted.rejected, 0);
        let docs: Vec<Value> = converted.documents.iter().map(|d| serde_json::from_str(&d.json).unwrap()).collect();
        assert_eq!(docs[0]["name"], "shop");
        assert_eq!(docs[0]["origin"], "AWS::EC2::Instance");
        assert_eq!(docs[0]["fault"], true);
        assert_eq!(docs[0]["user"], "u-1");
        assert_eq!(docs[0]["http"]["request"]["method"], "GET");
        assert_eq!(docs[0]["annotations"], json!({"tenant": "acme"}));
        assert_eq!(docs[0]["aws"]["ec2"]["instance_id"], "i-123");
        assert_eq!(docs[0][OTEL_ATTRIBUTES]["otel.resource.service.name"], "shop");
        assert!(docs[0].get("type").is_none());
        assert_eq!(docs[1]["type"], "subsegment");
        assert_eq!(docs[1]["namespace"], "remote");
        assert_eq!(docs[1]["name"], "inventory");
        assert_eq!((docs[1]["error"].clone(), docs[1]["throttle"].clone()), (json!(true), json!(true)));
        assert_eq!(docs[1]["cause"]["exceptions"][0]["type"], "Timeout");
        assert_eq!(docs[2]["namespace"], "aws");
        assert_eq!(docs[2]["name"], "DynamoDB");
        assert_eq!(docs[2]["aws"]["table_name"], "orders");
        assert_eq!(docs[2]["aws"]["operation"], "GetItem");
        assert!(docs[3].get("namespace").is_none());
        assert_eq!(docs[3]["fault"], true);
        assert_eq!(docs[3]["cause"]["exceptions"][0]["message"], "boom");
        // Every document passes the X-Ray validation.
        for d in &converted.documents {
            crate::xray::parse_documents(&d.json, crate::xray::MAX_DOCUMENT_BYTES).unwrap();
        }
    }

    #[test]
    fn bad_ids_are_rejected_and_counted() {
        let mut zero = span(1, None, span::SpanKind::Server, vec![]);
        zero.trace_id = vec![0; 16];
        let mut short = span(2, None, span::SpanKind::Server, vec![]);
        short.span_id = vec![1, 2];
        let mut backwards = span(3, None, span::SpanKind::Server, vec![]);
        backwards.end_time_unix_nano = backwards.start_time_unix_nano - 2_000_000_000;
        let converted =
            convert(&request("x", vec![zero, short, backwards, span(4, None, span::SpanKind::Server, vec![])]));
        assert_eq!((converted.rejected, converted.documents.len()), (3, 1));
        assert!(converted.error.unwrap().contains("trace id"));
    }
}
