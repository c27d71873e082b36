//! `TraceSummary` (spec traces.md §5.4), derived from a compiled trace.

use serde_json::{Map, Value, json};

use super::trace::{EntityKind, Trace, round_ms};

/// `traces.max_indexed_annotations_per_trace`' default.
pub const MAX_INDEXED_ANNOTATIONS: usize = 50;

/// One annotation value of a trace and the node that carried it.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationValue<'a> {
    pub key: &'a str,
    pub value: &'a Value,
    pub entity: usize,
}

impl Trace {
    /// Every annotation of every real (sub)segment, limited to the first `max_keys` distinct
    /// keys in document order (the rest are not indexed).
    pub fn annotations(&self, max_keys: usize) -> Vec<AnnotationValue<'_>> {
        let mut keys: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for (i, e) in self.entities.iter().enumerate().filter(|(_, e)| e.kind != EntityKind::Inferred) {
            let Some(Value::Object(annotations)) = e.doc.get("annotations") else { continue };
            for (key, value) in annotations {
                if !keys.contains(&key.as_str()) {
                    if keys.len() >= max_keys {
                        continue;
                    }
                    keys.push(key);
                }
                out.push(AnnotationValue { key, value, entity: i });
            }
        }
        out
    }

    /// Distinct values of a string field over the real entities.
    fn distinct(&self, path: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for e in self.real_entities() {
            if let Some(v) = e.str_at(path)
                && !out.iter().any(|o| o == v)
            {
                out.push(v.to_owned());
            }
        }
        out
    }

    /// The availability zones of §2.4 (EC2 or ECS).
    pub fn availability_zones(&self) -> Vec<String> {
        let mut zones = self.distinct(&["aws", "ec2", "availability_zone"]);
        for zone in self.distinct(&["aws", "ecs", "availability_zone"]) {
            if !zones.contains(&zone) {
                zones.push(zone);
            }
        }
        zones
    }

    pub fn users(&self) -> Vec<String> {
        self.distinct(&["user"])
    }

    pub fn instance_ids(&self) -> Vec<String> {
        self.distinct(&["aws", "ec2", "instance_id"])
    }

    pub fn resource_arns(&self) -> Vec<String> {
        self.distinct(&["resource_arn"])
    }

    /// The `TraceSummary` JSON. `matched_event_time` only for `TimeRangeType=Event`.
    pub fn summary(&self, matched_event_time: Option<f64>) -> Value {
        let root = self.root_entity();
        let service_ids_of = |entities: &[usize]| -> Vec<Value> {
            let mut nodes: Vec<usize> = entities.iter().filter_map(|&e| self.entities[e].node).collect();
            nodes.sort_unstable();
            nodes.dedup();
            nodes.into_iter().map(|n| self.nodes[n].service_id()).collect()
        };
        let mut summary = Map::new();
        summary.insert("Id".into(), Value::from(self.id.to_xray()));
        summary.insert("StartTime".into(), Value::from(self.start));
        summary.insert("Duration".into(), Value::from(round_ms(self.duration)));
        if let Some(rt) = self.response_time {
            summary.insert("ResponseTime".into(), Value::from(round_ms(rt)));
        }
        summary.insert("HasFault".into(), Value::from(root.is_some_and(|r| r.fault)));
        summary.insert("HasError".into(), Value::from(root.is_some_and(|r| r.error)));
        summary.insert("HasThrottle".into(), Value::from(root.is_some_and(|r| r.throttle)));
        summary.insert("IsPartial".into(), Value::from(self.partial));
        let mut http = Map::new();
        if let Some(r) = root {
            for (field, path) in [
                ("HttpURL", &["http", "request", "url"][..]),
                ("HttpMethod", &["http", "request", "method"]),
                ("UserAgent", &["http", "request", "user_agent"]),
                ("ClientIp", &["http", "request", "client_ip"]),
            ] {
                if let Some(v) = r.str_at(path) {
                    http.insert(field.into(), Value::from(v));
                }
            }
            if let Some(status) = r.value_at(&["http", "response", "status"]).and_then(Value::as_i64) {
                http.insert("HttpStatus".into(), Value::from(status));
            }
        }
        summary.insert("Http".into(), Value::Object(http));

        let mut annotations: Map<String, Value> = Map::new();
        let all = self.annotations(MAX_INDEXED_ANNOTATIONS);
        let mut keys: Vec<&str> = all.iter().map(|a| a.key).collect();
        keys.dedup();
        for key in keys {
            if annotations.contains_key(key) {
                continue;
            }
            let mut values: Vec<(&Value, Vec<usize>)> = Vec::new();
            for a in all.iter().filter(|a| a.key == key) {
                match values.iter_mut().find(|(v, _)| *v == a.value) {
                    Some((_, entities)) => entities.push(a.entity),
                    None => values.push((a.value, vec![a.entity])),
                }
            }
            let entries: Vec<Value> = values
                .into_iter()
                .map(|(value, entities)| {
                    let annotation_value = match value {
                        Value::String(s) => json!({"StringValue": s}),
                        Value::Bool(b) => json!({"BooleanValue": b}),
                        other => json!({"NumberValue": other.as_f64().unwrap_or_default()}),
                    };
                    json!({"AnnotationValue": annotation_value, "ServiceIds": service_ids_of(&entities)})
                })
                .collect();
            annotations.insert(key.to_owned(), Value::Array(entries));
        }
        summary.insert("Annotations".into(), Value::Object(annotations));

        let users: Vec<Value> = self
            .users()
            .into_iter()
            .map(|user| {
                let entities: Vec<usize> = (0..self.entities.len())
                    .filter(|&i| self.entities[i].str_at(&["user"]) == Some(user.as_str()))
                    .collect();
                json!({"UserName": user, "ServiceIds": service_ids_of(&entities)})
            })
            .collect();
        summary.insert("Users".into(), Value::Array(users));
        summary.insert("ServiceIds".into(), Value::Array(self.nodes.iter().map(|n| n.service_id()).collect()));
        summary.insert(
            "ResourceARNs".into(),
            Value::Array(self.resource_arns().into_iter().map(|a| json!({"ARN": a})).collect()),
        );
        summary.insert(
            "InstanceIds".into(),
            Value::Array(self.instance_ids().into_iter().map(|i| json!({"Id": i})).collect()),
        );
        summary.insert(
            "AvailabilityZones".into(),
            Value::Array(self.availability_zones().into_iter().map(|z| json!({"Name": z})).collect()),
        );
        if let Some(node) = root.and_then(|r| r.node) {
            summary.insert("EntryPoint".into(), self.nodes[node].service_id());
        }
        let causes = &self.root_causes;
        summary.insert("FaultRootCauses".into(), causes.fault.iter().map(|c| c.to_api()).collect());
        summary.insert("ErrorRootCauses".into(), causes.error.iter().map(|c| c.to_api()).collect());
        summary.insert("ResponseTimeRootCauses".into(), causes.response_time.iter().map(|c| c.to_api()).collect());
        summary.insert("Revision".into(), Value::from(self.revision));
        if let Some(t) = matched_event_time {
            summary.insert("MatchedEventTime".into(), Value::from(t));
        }
        Value::Object(summary)
    }
}
