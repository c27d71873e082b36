//! Trace assembly (spec traces.md §2.12, §7.1–7.3): stored documents become one compiled
//! trace: an entity tree of segments, subsegments and inferred segments, the nodes of the
//! service graph they belong to, the calls between nodes, and the trace-level times.
//!
//! Everything a read needs is derived here once per trace: BatchGetTraces renders the compiled
//! documents, summaries and filter expressions read the entities and nodes, and the service
//! graph adds up the calls.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use super::ids::TraceId;
use super::rootcause::{self, RootCauses};

/// One stored document of a trace, in arrival order (`seq`).
#[derive(Debug, Clone)]
pub struct StoredDocument {
    pub seq: u64,
    pub json: String,
    /// The document's own times (from the stored row), for selections that need no compile.
    pub start_ns: i64,
    pub end_ns: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Segment,
    Subsegment,
    Inferred,
}

/// A segment, subsegment or inferred segment.
#[derive(Debug, Clone)]
pub struct Entity {
    pub kind: EntityKind,
    pub id: String,
    pub name: String,
    /// The document's own fields, without `subsegments`.
    pub doc: Map<String, Value>,
    pub start: f64,
    /// `None` while in progress.
    pub end: Option<f64>,
    pub error: bool,
    pub throttle: bool,
    pub fault: bool,
    /// `aws` or `remote` (`local` and other values are kept in `doc` only).
    pub namespace: Option<String>,
    /// The declared `parent_id`.
    pub parent_id: Option<String>,
    /// Containing entity: the segment or subsegment this subsegment is embedded in or attached
    /// under. `None` for segments, inferred segments and orphan subsegments.
    pub container: Option<usize>,
    /// Embedded subsegments in document order, then attached ones by (start, id).
    pub children: Vec<usize>,
    /// The segment (or inferred segment) whose node this entity belongs to.
    pub owner: Option<usize>,
    /// Service-graph node (segments, inferred segments, and subsegments through their owner).
    pub node: Option<usize>,
}

impl Entity {
    pub fn in_progress(&self) -> bool {
        self.end.is_none()
    }

    /// `end − start`, clamped at 0; in-progress entities last 0.
    pub fn duration(&self) -> f64 {
        self.end.map_or(0.0, |end| (end - self.start).max(0.0))
    }

    pub fn str_at(&self, path: &[&str]) -> Option<&str> {
        value_at(&self.doc, path).and_then(Value::as_str)
    }

    pub fn value_at(&self, path: &[&str]) -> Option<&Value> {
        value_at(&self.doc, path)
    }

    /// Outcome class of §2.5.
    pub fn outcome(&self) -> Outcome {
        if self.fault {
            Outcome::Fault
        } else if self.error {
            Outcome::Error { throttle: self.throttle }
        } else {
            Outcome::Ok
        }
    }

    /// `http.response.status` as a number.
    pub fn http_status(&self) -> Option<f64> {
        self.value_at(&["http", "response", "status"]).and_then(Value::as_f64)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Error { throttle: bool },
    Fault,
}

/// A node of the trace's graph, identified by (name, type, account).
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    pub node_type: Option<String>,
    pub account_id: Option<String>,
    pub inferred: bool,
    /// Produced the trace's root segment.
    pub root: bool,
    /// Its segments (real) or inferred segments.
    pub segments: Vec<usize>,
}

impl Node {
    pub fn key(&self) -> NodeKey {
        NodeKey { name: self.name.clone(), node_type: self.node_type.clone(), account_id: self.account_id.clone() }
    }

    /// The `ServiceId` shape.
    pub fn service_id(&self) -> Value {
        service_id(&self.name, self.node_type.as_deref(), self.account_id.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct NodeKey {
    pub name: String,
    pub node_type: Option<String>,
    pub account_id: Option<String>,
}

pub fn service_id(name: &str, node_type: Option<&str>, account_id: Option<&str>) -> Value {
    let mut id = Map::new();
    id.insert("Name".into(), Value::from(name));
    id.insert("Names".into(), Value::from(vec![name]));
    if let Some(account) = account_id {
        id.insert("AccountId".into(), Value::from(account));
    }
    if let Some(t) = node_type {
        id.insert("Type".into(), Value::from(t));
    }
    Value::Object(id)
}

/// One request from a caller node to a callee node (§7.3). `caller == None` is the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub caller: Option<usize>,
    pub callee: usize,
    /// The entity whose flags, duration and http describe the call.
    pub record: usize,
    /// The entity on the caller's side: the subsegment that made the call, or the calling
    /// segment (for client calls: none).
    pub caller_entity: Option<usize>,
    /// The name the caller used when it differs from the callee's (`Aliases`), with its type.
    pub alias: Option<(String, String)>,
}

/// A compiled trace.
#[derive(Debug, Clone)]
pub struct Trace {
    pub id: TraceId,
    pub revision: u64,
    pub entities: Vec<Entity>,
    /// Top-level entities: segments, inferred segments, orphan subsegments, ordered by
    /// (start, id): the `Segments` of BatchGetTraces.
    pub tops: Vec<usize>,
    pub root: Option<usize>,
    pub nodes: Vec<Node>,
    pub calls: Vec<Call>,
    pub start: f64,
    /// Latest end (or start of in-progress entities).
    pub end: f64,
    pub duration: f64,
    pub response_time: Option<f64>,
    pub partial: bool,
    /// Number and total size of the stored documents.
    pub documents: usize,
    pub bytes: usize,
    pub root_causes: RootCauses,
}

/// Rounds seconds to milliseconds (summary fields and filter comparisons, §1.4).
pub fn round_ms(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}

pub fn value_at<'a>(map: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut value = map.get(*first)?;
    for key in rest {
        value = value.as_object()?.get(*key)?;
    }
    Some(value)
}

struct Resolved {
    map: Map<String, Value>,
    complete: bool,
    independent: bool,
}

impl Trace {
    /// Assembles a trace from its stored documents (any order; `seq` decides replacement).
    /// `account_id` is the deployment account used for nodes without `aws.account_id`.
    /// Returns `None` when no document parses.
    pub fn compile(id: TraceId, mut docs: Vec<StoredDocument>, account_id: &str) -> Option<Trace> {
        docs.sort_by_key(|d| d.seq);
        let bytes = docs.iter().map(|d| d.json.len()).sum();
        let documents = docs.len();
        // §2.12 rule 1: per id, complete beats in progress, then the last arrival wins.
        let mut by_id: HashMap<String, usize> = HashMap::new();
        let mut resolved: Vec<Resolved> = Vec::new();
        let mut revision = 0;
        for doc in docs {
            let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&doc.json) else { continue };
            let Some(doc_id) = map.get("id").and_then(Value::as_str).map(str::to_owned) else { continue };
            let complete = map.get("end_time").is_some_and(|v| !v.is_null());
            let independent = map.get("type").and_then(Value::as_str) == Some("subsegment");
            match by_id.get(&doc_id) {
                Some(&at) if resolved[at].complete && !complete => {}
                Some(&at) => {
                    resolved[at] = Resolved { map, complete, independent };
                    revision += 1;
                }
                None => {
                    by_id.insert(doc_id, resolved.len());
                    resolved.push(Resolved { map, complete, independent });
                    revision += 1;
                }
            }
        }
        if resolved.is_empty() {
            return None;
        }
        let mut builder = Builder::default();
        let (segments, mut pending): (Vec<Resolved>, Vec<Resolved>) =
            resolved.into_iter().partition(|r| !r.independent);
        for segment in segments {
            builder.add_tree(segment.map, EntityKind::Segment, None, None);
        }
        // Attach independent subsegments under their parents; a parent may itself be attached
        // later, so repeat until nothing moves.
        loop {
            let before = pending.len();
            let mut still = Vec::new();
            for sub in pending {
                let parent =
                    sub.map.get("parent_id").and_then(Value::as_str).and_then(|p| builder.by_id.get(p).copied());
                match parent {
                    Some(parent) => builder.attach(sub.map, sub.complete, parent),
                    None => still.push(sub),
                }
            }
            pending = still;
            if pending.is_empty() || pending.len() == before {
                break;
            }
        }
        for orphan in pending {
            builder.add_tree(orphan.map, EntityKind::Subsegment, None, None);
        }
        builder.sort_attached();
        let mut trace = builder.finish(id, revision, bytes, account_id);
        trace.documents = documents;
        Some(trace)
    }

    /// The compiled document of a top-level entity: its fields plus its subsegments, recursively.
    pub fn compiled_document(&self, entity: usize) -> Value {
        let e = &self.entities[entity];
        let mut doc = e.doc.clone();
        doc.remove(super::otlp::OTEL_ATTRIBUTES);
        if e.kind == EntityKind::Subsegment && e.container.is_some() {
            for key in ["type", "trace_id", "parent_id"] {
                doc.remove(key);
            }
        }
        if !e.children.is_empty() {
            let children = e.children.iter().map(|&c| self.compiled_document(c)).collect();
            doc.insert("subsegments".into(), Value::Array(children));
        }
        Value::Object(doc)
    }

    /// The BatchGetTraces entry: `{Id, Duration, LimitExceeded, Segments: [{Id, Document}]}`.
    pub fn to_api(&self, limit_exceeded: bool) -> Value {
        let segments: Vec<Value> = self
            .tops
            .iter()
            .map(|&t| {
                let doc = self.compiled_document(t);
                serde_json::json!({"Id": self.entities[t].id, "Document": doc.to_string()})
            })
            .collect();
        serde_json::json!({
            "Id": self.id.to_xray(),
            "Duration": round_ms(self.duration),
            "LimitExceeded": limit_exceeded,
            "Segments": segments,
        })
    }

    /// Trace time for `TimeRangeType=TraceId` (§1.1).
    pub fn trace_time(&self) -> f64 {
        let epoch = self.id.epoch() as f64;
        if epoch >= self.start - 30.0 * 86_400.0 && epoch <= self.start + 300.0 { epoch } else { self.start.floor() }
    }

    pub fn root_entity(&self) -> Option<&Entity> {
        self.root.map(|r| &self.entities[r])
    }

    /// `entity` and every subsegment below it.
    pub fn collect_subtree(&self, entity: usize, out: &mut Vec<usize>) {
        out.push(entity);
        for &child in &self.entities[entity].children {
            self.collect_subtree(child, out);
        }
    }

    /// Real (non-inferred) entities.
    pub fn real_entities(&self) -> impl Iterator<Item = &Entity> {
        self.entities.iter().filter(|e| e.kind != EntityKind::Inferred)
    }

    /// Whether any entity carries an exception (`cause.exceptions` non-empty or a cause id).
    pub fn exceptions_of(&self, entity: usize) -> Vec<&Map<String, Value>> {
        let e = &self.entities[entity];
        match e.doc.get("cause") {
            Some(Value::Object(cause)) => cause
                .get("exceptions")
                .and_then(Value::as_array)
                .map(|list| list.iter().filter_map(Value::as_object).collect())
                .unwrap_or_default(),
            Some(Value::String(id)) => self.find_exception(id).into_iter().collect(),
            _ => Vec::new(),
        }
    }

    fn find_exception(&self, id: &str) -> Option<&Map<String, Value>> {
        self.entities.iter().find_map(|e| {
            let list = value_at(&e.doc, &["cause", "exceptions"])?.as_array()?;
            list.iter().filter_map(Value::as_object).find(|x| x.get("id").and_then(Value::as_str) == Some(id))
        })
    }
}

#[derive(Default)]
struct Builder {
    entities: Vec<Entity>,
    by_id: HashMap<String, usize>,
    /// Per entity: how many of its children were embedded (the rest were attached).
    embedded_children: Vec<usize>,
}

impl Builder {
    /// Adds an entity and its embedded subsegments; returns its index.
    fn add_tree(
        &mut self,
        mut map: Map<String, Value>,
        kind: EntityKind,
        container: Option<usize>,
        owner: Option<usize>,
    ) -> usize {
        let subsegments = match map.remove("subsegments") {
            Some(Value::Array(list)) => list,
            _ => Vec::new(),
        };
        let index = self.entities.len();
        let owner = match kind {
            EntityKind::Segment | EntityKind::Inferred => Some(index),
            EntityKind::Subsegment => owner,
        };
        let entity = entity_from(map, kind, container, owner);
        self.by_id.entry(entity.id.clone()).or_insert(index);
        self.entities.push(entity);
        self.embedded_children.push(0);
        for child in subsegments {
            if let Value::Object(child) = child {
                let c = self.add_tree(child, EntityKind::Subsegment, Some(index), owner);
                self.entities[index].children.push(c);
                self.embedded_children[index] += 1;
            }
        }
        index
    }

    /// Attaches an independent subsegment under `parent`. If its id already exists (embedded
    /// copy), the complete copy wins, and between two complete copies the embedded one.
    fn attach(&mut self, map: Map<String, Value>, complete: bool, parent: usize) {
        let id = map.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
        if let Some(&existing) = self.by_id.get(&id) {
            let existing_complete = !self.entities[existing].in_progress();
            if existing_complete || !complete {
                return;
            }
            let (container, owner) = (self.entities[existing].container, self.entities[existing].owner);
            let mut replacement = entity_from(map, EntityKind::Subsegment, container, owner);
            replacement.children = std::mem::take(&mut self.entities[existing].children);
            replacement.node = self.entities[existing].node;
            self.entities[existing] = replacement;
            return;
        }
        let owner = self.entities[parent].owner;
        let child = self.add_tree(map, EntityKind::Subsegment, Some(parent), owner);
        self.entities[parent].children.push(child);
    }

    fn sort_attached(&mut self) {
        for i in 0..self.entities.len() {
            let embedded = self.embedded_children[i];
            let keep = embedded.min(self.entities[i].children.len());
            let mut attached = self.entities[i].children.split_off(keep);
            attached.sort_by(|&a, &b| {
                let (a, b) = (&self.entities[a], &self.entities[b]);
                a.start.total_cmp(&b.start).then_with(|| a.id.cmp(&b.id))
            });
            self.entities[i].children.extend(attached);
        }
    }

    fn finish(mut self, id: TraceId, revision: u64, bytes: usize, account_id: &str) -> Trace {
        let real_segment_parents: HashMap<String, usize> = self
            .entities
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == EntityKind::Segment)
            .filter_map(|(i, e)| Some((e.parent_id.clone()?, i)))
            .collect();
        // Root (§2.12 rule 5).
        let root = self
            .entities
            .iter()
            .enumerate()
            .filter(|(_, e)| e.kind == EntityKind::Segment)
            .filter(|(_, e)| e.parent_id.as_ref().is_none_or(|p| !self.by_id.contains_key(p)))
            .min_by(|(_, a), (_, b)| a.start.total_cmp(&b.start).then_with(|| a.id.cmp(&b.id)))
            .map(|(i, _)| i);

        // Nodes of real segments (§7.1).
        let mut nodes: Vec<Node> = Vec::new();
        let mut node_index: HashMap<NodeKey, usize> = HashMap::new();
        let mut intern = |nodes: &mut Vec<Node>, key: NodeKey, inferred: bool| -> usize {
            *node_index.entry(key.clone()).or_insert_with(|| {
                nodes.push(Node {
                    name: key.name,
                    node_type: key.node_type,
                    account_id: key.account_id,
                    inferred,
                    root: false,
                    segments: Vec::new(),
                });
                nodes.len() - 1
            })
        };
        for i in 0..self.entities.len() {
            if self.entities[i].kind != EntityKind::Segment {
                continue;
            }
            let e = &self.entities[i];
            let key = NodeKey {
                name: e.name.clone(),
                node_type: e.str_at(&["origin"]).map(str::to_owned),
                account_id: Some(e.str_at(&["aws", "account_id"]).unwrap_or(account_id).to_owned()),
            };
            let n = intern(&mut nodes, key, false);
            nodes[n].segments.push(i);
            if root == Some(i) {
                nodes[n].root = true;
            }
            self.entities[i].node = Some(n);
        }

        // Inferred segments (§7.2) for aws/remote subsegments nobody answered.
        let mut calls = Vec::new();
        let subsegments: Vec<usize> = (0..self.entities.len())
            .filter(|&i| {
                let e = &self.entities[i];
                e.kind == EntityKind::Subsegment
                    && matches!(e.namespace.as_deref(), Some("aws" | "remote"))
                    && !real_segment_parents.contains_key(&e.id)
            })
            .collect();
        for x in subsegments {
            let (segment_name, node_key) = inferred_naming(&self.entities[x], account_id);
            let inferred = inferred_segment(&self.entities[x], &id, &segment_name, node_key.node_type.as_deref());
            let index = self.add_tree(inferred, EntityKind::Inferred, None, None);
            let n = intern(&mut nodes, node_key, true);
            nodes[n].segments.push(index);
            self.entities[index].node = Some(n);
            if let Some(caller) = self.entities[x].owner.and_then(|o| self.entities[o].node) {
                calls.push(Call { caller: Some(caller), callee: n, record: x, caller_entity: Some(x), alias: None });
            }
        }
        // Subsegments take their owner's node.
        for i in 0..self.entities.len() {
            if self.entities[i].kind == EntityKind::Subsegment {
                self.entities[i].node = self.entities[i].owner.and_then(|o| self.entities[o].node);
            }
        }
        // Calls into real segments (§7.3).
        for s in 0..self.entities.len() {
            let e = &self.entities[s];
            if e.kind != EntityKind::Segment {
                continue;
            }
            let callee = e.node.expect("segments have nodes");
            if root == Some(s) {
                calls.push(Call { caller: None, callee, record: s, caller_entity: None, alias: None });
                continue;
            }
            let Some(&parent) = e.parent_id.as_ref().and_then(|p| self.by_id.get(p)) else { continue };
            let p = &self.entities[parent];
            let Some(caller) = p.node else { continue };
            match p.kind {
                EntityKind::Subsegment => {
                    let alias = (p.name != e.name).then(|| {
                        let t = match p.namespace.as_deref() {
                            Some("aws") => format!("AWS::{}", canonical_service(&p.name)),
                            _ => "remote".to_owned(),
                        };
                        (p.name.clone(), t)
                    });
                    calls.push(Call {
                        caller: Some(caller),
                        callee,
                        record: parent,
                        caller_entity: Some(parent),
                        alias,
                    });
                }
                _ => calls.push(Call {
                    caller: Some(caller),
                    callee,
                    record: s,
                    caller_entity: Some(parent),
                    alias: None,
                }),
            }
        }

        let mut tops: Vec<usize> = (0..self.entities.len()).filter(|&i| self.entities[i].container.is_none()).collect();
        tops.sort_by(|&a, &b| {
            let (a, b) = (&self.entities[a], &self.entities[b]);
            a.start.total_cmp(&b.start).then_with(|| a.id.cmp(&b.id))
        });
        let start = self.entities.iter().map(|e| e.start).fold(f64::INFINITY, f64::min);
        let end = self.entities.iter().map(|e| e.end.unwrap_or(e.start)).fold(f64::NEG_INFINITY, f64::max);
        let partial = self.entities.iter().any(|e| e.kind != EntityKind::Inferred && e.in_progress());
        let response_time = root.and_then(|r| self.entities[r].end.map(|end| (end - self.entities[r].start).max(0.0)));
        let mut trace = Trace {
            id,
            revision,
            entities: self.entities,
            tops,
            root,
            nodes,
            calls,
            start,
            end,
            duration: (end - start).max(0.0),
            response_time,
            partial,
            documents: 0,
            bytes,
            root_causes: RootCauses::default(),
        };
        trace.root_causes = rootcause::analyze(&trace);
        trace
    }
}

fn entity_from(map: Map<String, Value>, kind: EntityKind, container: Option<usize>, owner: Option<usize>) -> Entity {
    let flag = |key: &str| map.get(key).and_then(Value::as_bool).unwrap_or(false);
    let end = map.get("end_time").and_then(Value::as_f64);
    Entity {
        kind,
        id: map.get("id").and_then(Value::as_str).unwrap_or_default().to_owned(),
        name: map.get("name").and_then(Value::as_str).unwrap_or_default().to_owned(),
        start: map.get("start_time").and_then(Value::as_f64).unwrap_or_default(),
        end,
        error: flag("error"),
        throttle: flag("throttle"),
        fault: flag("fault"),
        namespace: map
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|n| matches!(*n, "aws" | "remote"))
            .map(str::to_owned),
        parent_id: map.get("parent_id").and_then(Value::as_str).map(str::to_owned),
        container,
        children: Vec::new(),
        owner,
        node: None,
        doc: map,
    }
}

/// SDK service names to the canonical names of §7.2.
pub fn canonical_service(name: &str) -> String {
    let known = [
        ("dynamodb", "DynamoDB"),
        ("s3", "S3"),
        ("sqs", "SQS"),
        ("sns", "SNS"),
        ("lambda", "Lambda"),
        ("kinesis", "Kinesis"),
        ("runtime.sagemaker", "SageMakerRuntime"),
        ("states", "StepFunctions"),
        ("events", "EventBridge"),
        ("secretsmanager", "SecretsManager"),
        ("ssm", "SSM"),
        ("sts", "STS"),
        ("apigateway", "APIGateway"),
    ];
    let lower = name.to_ascii_lowercase();
    known.iter().find(|(k, _)| *k == lower).map_or_else(|| name.to_owned(), |(_, v)| (*v).to_owned())
}

/// The inferred segment's name and the node of §7.2's table.
fn inferred_naming(x: &Entity, account_id: &str) -> (String, NodeKey) {
    let aws_str = |key: &str| x.str_at(&["aws", key]);
    if x.namespace.as_deref() == Some("aws") {
        let service = canonical_service(&x.name);
        let account = Some(aws_str("account_id").unwrap_or(account_id).to_owned());
        let node = |name: String, t: String| NodeKey { name, node_type: Some(t), account_id: account.clone() };
        let resource = match service.as_str() {
            "DynamoDB" => {
                let single = x.value_at(&["aws", "table_names"]).and_then(Value::as_array).filter(|l| l.len() == 1);
                let single = single.and_then(|l| l[0].as_str());
                match (aws_str("table_name"), single) {
                    (Some(t), None) | (None, Some(t)) => Some(node(t.to_owned(), "AWS::DynamoDB::Table".into())),
                    _ => None,
                }
            }
            "SQS" => aws_str("queue_url")
                .and_then(|url| url.trim_end_matches('/').rsplit('/').next())
                .filter(|q| !q.is_empty())
                .map(|q| node(q.to_owned(), "AWS::SQS::Queue".into())),
            "S3" => aws_str("bucket_name").map(|b| node(b.to_owned(), "AWS::S3::Bucket".into())),
            "Lambda" => aws_str("function_name").map(|f| node(f.to_owned(), "AWS::Lambda".into())),
            _ => None,
        };
        let key = resource.unwrap_or_else(|| node(service.clone(), format!("AWS::{service}")));
        return (service, key);
    }
    let node_type = if x.doc.contains_key("sql") { "Database::SQL" } else { "remote" };
    (x.name.clone(), NodeKey { name: x.name.clone(), node_type: Some(node_type.to_owned()), account_id: None })
}

fn inferred_segment(x: &Entity, trace: &TraceId, name: &str, origin: Option<&str>) -> Map<String, Value> {
    let digest = Sha256::digest(format!("inferred:{}:{}", trace.to_xray(), x.id).as_bytes());
    let id: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let mut doc = Map::new();
    doc.insert("id".into(), Value::from(id));
    doc.insert("name".into(), Value::from(name));
    doc.insert("trace_id".into(), Value::from(trace.to_xray()));
    doc.insert("start_time".into(), x.doc.get("start_time").cloned().unwrap_or(Value::from(x.start)));
    match x.doc.get("end_time") {
        Some(end) if !end.is_null() => doc.insert("end_time".into(), end.clone()),
        _ => doc.insert("in_progress".into(), Value::Bool(true)),
    };
    doc.insert("parent_id".into(), Value::from(x.id.clone()));
    doc.insert("inferred".into(), Value::Bool(true));
    if let Some(origin) = origin {
        doc.insert("origin".into(), Value::from(origin));
    }
    for key in ["http", "aws", "error", "throttle", "fault"] {
        if let Some(v) = x.doc.get(key) {
            doc.insert(key.into(), v.clone());
        }
    }
    doc
}
