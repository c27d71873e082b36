//! Root-cause analysis (spec traces.md §5.5): fault, error and response-time root causes in
//! the AWS shapes, also read by `rootcause.*` filter terms.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::trace::{EntityKind, Trace, round_ms};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct RootCauses {
    pub fault: Vec<RootCause>,
    pub error: Vec<RootCause>,
    pub response_time: Option<RootCause>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RootCause {
    pub client_impacting: bool,
    pub services: Vec<CauseService>,
}

/// One run of the path: the entities of one node.
#[derive(Debug, Clone, PartialEq)]
pub struct CauseService {
    pub name: String,
    pub node_type: Option<String>,
    pub account_id: Option<String>,
    pub inferred: bool,
    pub entities: Vec<CauseEntity>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CauseEntity {
    pub name: String,
    pub exceptions: Vec<CauseException>,
    pub remote: bool,
    /// Response-time causes only.
    pub coverage: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CauseException {
    pub name: String,
    pub message: String,
    pub remote: bool,
}

impl CauseService {
    /// Any entity of the run is remote.
    pub fn remote(&self) -> bool {
        self.entities.iter().any(|e| e.remote)
    }
}

impl RootCause {
    fn key(&self) -> Vec<String> {
        self.services
            .iter()
            .flat_map(|s| std::iter::once(s.name.clone()).chain(s.entities.iter().map(|e| e.name.clone())))
            .collect()
    }

    /// `FaultRootCause` / `ErrorRootCause` / `ResponseTimeRootCause` JSON.
    pub fn to_api(&self) -> Value {
        let services: Vec<Value> = self
            .services
            .iter()
            .map(|s| {
                let path: Vec<Value> = s
                    .entities
                    .iter()
                    .map(|e| match e.coverage {
                        Some(coverage) => json!({"Name": e.name, "Coverage": coverage, "Remote": e.remote}),
                        None => {
                            let exceptions: Vec<Value> =
                                e.exceptions.iter().map(|x| json!({"Name": x.name, "Message": x.message})).collect();
                            json!({"Name": e.name, "Exceptions": exceptions, "Remote": e.remote})
                        }
                    })
                    .collect();
                let mut service =
                    json!({"Name": s.name, "Names": [s.name], "EntityPath": path, "Inferred": s.inferred});
                if let Some(t) = &s.node_type {
                    service["Type"] = Value::from(t.clone());
                }
                if let Some(a) = &s.account_id {
                    service["AccountId"] = Value::from(a.clone());
                }
                service
            })
            .collect();
        json!({"Services": services, "ClientImpacting": self.client_impacting})
    }
}

/// Parent of each entity in the root-cause tree: a subsegment's container, or the entity whose
/// id a segment's `parent_id` names.
fn parents(trace: &Trace) -> Vec<Option<usize>> {
    let by_id: HashMap<&str, usize> =
        trace.entities.iter().enumerate().map(|(i, e)| (e.id.as_str(), i)).rev().collect();
    trace
        .entities
        .iter()
        .map(|e| match e.kind {
            EntityKind::Subsegment if e.container.is_some() => e.container,
            _ => e.parent_id.as_deref().and_then(|p| by_id.get(p).copied()),
        })
        .collect()
}

pub(crate) fn analyze(trace: &Trace) -> RootCauses {
    let parents = parents(trace);
    let root_flag = |f: fn(&super::trace::Entity) -> bool| trace.root_entity().is_some_and(f);
    let fault = causes(trace, &parents, |e| e.fault, root_flag(|e| e.fault));
    let error = causes(trace, &parents, |e| e.error, root_flag(|e| e.error));
    RootCauses { fault, error, response_time: response_time_cause(trace, &parents) }
}

fn causes(
    trace: &Trace,
    parents: &[Option<usize>],
    flagged: fn(&super::trace::Entity) -> bool,
    client_impacting: bool,
) -> Vec<RootCause> {
    let n = trace.entities.len();
    let mut has_flagged_descendant = vec![false; n];
    for i in (0..n).filter(|&i| flagged(&trace.entities[i])) {
        let mut at = parents[i];
        let mut steps = 0;
        while let Some(p) = at {
            if has_flagged_descendant[p] || steps > n {
                break;
            }
            has_flagged_descendant[p] = true;
            at = parents[p];
            steps += 1;
        }
    }
    let mut out: Vec<RootCause> = Vec::new();
    for i in (0..n).filter(|&i| flagged(&trace.entities[i]) && !has_flagged_descendant[i]) {
        let cause = RootCause { client_impacting, services: runs(trace, &path_to(parents, i), None) };
        if !out.iter().any(|c| c.key() == cause.key()) {
            out.push(cause);
        }
    }
    out
}

fn path_to(parents: &[Option<usize>], entity: usize) -> Vec<usize> {
    let mut path = vec![entity];
    let mut at = parents[entity];
    while let Some(p) = at {
        if path.contains(&p) {
            break;
        }
        path.push(p);
        at = parents[p];
    }
    path.reverse();
    path
}

/// Cuts a path into runs, one per node.
fn runs(trace: &Trace, path: &[usize], coverage_of: Option<&dyn Fn(usize) -> f64>) -> Vec<CauseService> {
    let mut services: Vec<CauseService> = Vec::new();
    for (position, &i) in path.iter().enumerate() {
        let e = &trace.entities[i];
        if position == 0 || e.kind != EntityKind::Subsegment {
            let node = e.node.map(|n| &trace.nodes[n]);
            services.push(CauseService {
                name: node.map_or_else(|| e.name.clone(), |n| n.name.clone()),
                node_type: node.and_then(|n| n.node_type.clone()),
                account_id: node.and_then(|n| n.account_id.clone()),
                inferred: e.kind == EntityKind::Inferred,
                entities: Vec::new(),
            });
        }
        let exceptions: Vec<CauseException> = trace
            .exceptions_of(i)
            .into_iter()
            .map(|x| CauseException {
                name: x.get("type").and_then(Value::as_str).unwrap_or_default().to_owned(),
                message: x.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
                remote: x.get("remote").and_then(Value::as_bool).unwrap_or(false),
            })
            .collect();
        let remote = e.namespace.is_some() || e.kind == EntityKind::Inferred || exceptions.iter().any(|x| x.remote);
        let entity = CauseEntity {
            name: e.name.clone(),
            exceptions: if coverage_of.is_some() { Vec::new() } else { exceptions },
            remote,
            coverage: coverage_of.map(|f| f(i)),
        };
        services.last_mut().expect("a run was started").entities.push(entity);
    }
    services
}

fn response_time_cause(trace: &Trace, parents: &[Option<usize>]) -> Option<RootCause> {
    let root = trace.root?;
    let response_time = trace.response_time?;
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); trace.entities.len()];
    for (i, p) in parents.iter().enumerate() {
        if let Some(p) = p {
            children[*p].push(i);
        }
    }
    let mut path = vec![root];
    let mut at = root;
    while let Some(&next) = children[at].iter().max_by(|&&a, &&b| {
        trace.entities[a].duration().total_cmp(&trace.entities[b].duration()).then_with(|| b.cmp(&a))
    }) {
        if path.contains(&next) {
            break;
        }
        path.push(next);
        at = next;
    }
    let coverage = |i: usize| {
        if response_time > 0.0 { round_ms(trace.entities[i].duration() / response_time) } else { 0.0 }
    };
    Some(RootCause { client_impacting: true, services: runs(trace, &path, Some(&coverage)) })
}
