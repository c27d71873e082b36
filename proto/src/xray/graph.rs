//! The service graph (spec traces.md §7): nodes and edges with summary statistics and
//! response-time histograms, added up over compiled traces. The accumulator is mergeable, so
//! per-minute rollups built at ingest and traces read at query time add up the same way.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::trace::{EntityKind, NodeKey, Outcome, Trace};

/// Counts and response times of a node's segments or an edge's calls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub ok: u64,
    pub error: u64,
    pub throttle: u64,
    pub fault: u64,
    pub total_response_time: f64,
    /// Histogram bucket (milliseconds of the rounded value) → count.
    pub response_times: BTreeMap<i64, u64>,
    /// Nodes only: segment durations (trace duration for root segments).
    pub durations: BTreeMap<i64, u64>,
    /// Earliest start / latest end of the items (epoch seconds).
    pub start: Option<f64>,
    pub end: Option<f64>,
}

impl Stats {
    fn span(&mut self, start: f64, end: f64) {
        self.start = Some(self.start.map_or(start, |s| s.min(start)));
        self.end = Some(self.end.map_or(end, |e| e.max(end)));
    }

    fn add(&mut self, outcome: Outcome, seconds: f64) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::Error { throttle } => {
                self.error += 1;
                if throttle {
                    self.throttle += 1;
                }
            }
            Outcome::Fault => self.fault += 1,
        }
        self.total_response_time += seconds;
        *self.response_times.entry(bucket(seconds)).or_default() += 1;
    }

    pub fn total(&self) -> u64 {
        self.ok + self.error + self.fault
    }

    pub fn merge(&mut self, other: &Stats) {
        self.ok += other.ok;
        self.error += other.error;
        self.throttle += other.throttle;
        self.fault += other.fault;
        self.total_response_time += other.total_response_time;
        for (k, v) in &other.response_times {
            *self.response_times.entry(*k).or_default() += v;
        }
        for (k, v) in &other.durations {
            *self.durations.entry(*k).or_default() += v;
        }
        if let (Some(s), Some(e)) = (other.start, other.end) {
            self.span(s, e);
        }
    }

    /// `ServiceStatistics` / `EdgeStatistics`.
    pub fn summary_json(&self) -> Value {
        json!({
            "OkCount": self.ok,
            "ErrorStatistics": {"ThrottleCount": self.throttle, "OtherCount": self.error - self.throttle, "TotalCount": self.error},
            "FaultStatistics": {"OtherCount": self.fault, "TotalCount": self.fault},
            "TotalCount": self.total(),
            "TotalResponseTime": (self.total_response_time * 1e6).round() / 1e6,
        })
    }
}

/// §7.4 bucketing: 3 decimals below 1 s, 2 below 10 s, 1 below 100 s, else whole seconds; kept
/// as milliseconds.
pub fn bucket(seconds: f64) -> i64 {
    let d = seconds.max(0.0);
    let step = if d < 1.0 {
        1.0
    } else if d < 10.0 {
        10.0
    } else if d < 100.0 {
        100.0
    } else {
        1000.0
    };
    ((d * 1000.0 / step).round() * step) as i64
}

pub fn histogram_json(buckets: &BTreeMap<i64, u64>) -> Value {
    buckets.iter().filter(|(_, c)| **c > 0).map(|(v, c)| json!({"Value": *v as f64 / 1000.0, "Count": c})).collect()
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeAcc {
    pub inferred: bool,
    pub root: bool,
    pub stats: Stats,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct EdgeAcc {
    pub stats: Stats,
    /// (name, type) the caller used for the callee.
    pub aliases: Vec<(String, String)>,
}

/// Edge key: caller (`None` = the client of a root node) and callee.
pub type EdgeKey = (Option<NodeKey>, NodeKey);

/// The service graph of a set of traces within a window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    #[serde(with = "pairs")]
    pub nodes: HashMap<NodeKey, NodeAcc>,
    #[serde(with = "pairs")]
    pub edges: HashMap<EdgeKey, EdgeAcc>,
}

/// Maps with structured keys serialize as lists of pairs.
mod pairs {
    use std::collections::HashMap;
    use std::hash::Hash;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<K: Serialize, V: Serialize, S: Serializer>(map: &HashMap<K, V>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(map.iter())
    }

    pub fn deserialize<'de, K, V, D>(d: D) -> Result<HashMap<K, V>, D::Error>
    where
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

impl Graph {
    /// Adds the nodes and calls of `trace` whose items end (in-progress: start) in
    /// `[start, end)` (epoch seconds).
    pub fn add_trace(&mut self, trace: &Trace, start: f64, end: f64) {
        let in_window = |t: f64| t >= start && t < end;
        for node in &trace.nodes {
            let mut touched = false;
            let mut stats = Stats::default();
            for &s in &node.segments {
                let e = &trace.entities[s];
                let at = e.end.unwrap_or(e.start);
                if !in_window(at) {
                    continue;
                }
                touched = true;
                let Some(end_time) = e.end else { continue };
                let seconds = (end_time - e.start).max(0.0);
                stats.add(e.outcome(), seconds);
                stats.span(e.start, end_time);
                let duration = if trace.root == Some(s) { trace.duration } else { seconds };
                *stats.durations.entry(bucket(duration)).or_default() += 1;
            }
            if touched {
                let acc = self.nodes.entry(node.key()).or_default();
                acc.inferred |= node.inferred;
                acc.root |= node.root && node.segments.iter().any(|s| trace.root == Some(*s));
                acc.stats.merge(&stats);
            }
        }
        for call in &trace.calls {
            let record = &trace.entities[call.record];
            let at = record.end.unwrap_or(record.start);
            if !in_window(at) {
                continue;
            }
            for n in call.caller.into_iter().chain([call.callee]) {
                let node = &trace.nodes[n];
                self.nodes.entry(node.key()).or_default().inferred |= node.inferred;
            }
            let key = (call.caller.map(|c| trace.nodes[c].key()), trace.nodes[call.callee].key());
            let acc = self.edges.entry(key).or_default();
            if let Some(alias) = &call.alias
                && !acc.aliases.contains(alias)
            {
                acc.aliases.push(alias.clone());
            }
            if let Some(end_time) = record.end {
                let seconds = (end_time - record.start).max(0.0);
                acc.stats.add(record.outcome(), seconds);
                acc.stats.span(record.start, end_time);
            }
        }
    }

    pub fn merge(&mut self, other: &Graph) {
        for (key, node) in &other.nodes {
            let acc = self.nodes.entry(key.clone()).or_default();
            acc.inferred |= node.inferred;
            acc.root |= node.root;
            acc.stats.merge(&node.stats);
        }
        for (key, edge) in &other.edges {
            let acc = self.edges.entry(key.clone()).or_default();
            for alias in &edge.aliases {
                if !acc.aliases.contains(alias) {
                    acc.aliases.push(alias.clone());
                }
            }
            acc.stats.merge(&edge.stats);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The graph as a person reads it: each Lambda function one node. X-Ray's API keeps the
    /// service node (`AWS::Lambda`, the invocation as Lambda saw it) and the function node
    /// (`AWS::Lambda::Function`, the code's run) apart (spec traces.md §7.1); here they become
    /// the function node, with the service node's statistics (the whole invocation), the
    /// callers of the one and the callees of both, and no edge between them.
    pub fn with_lambda_merged(&self) -> Graph {
        const SERVICE: &str = "AWS::Lambda";
        const FUNCTION: &str = "AWS::Lambda::Function";
        let functions: HashMap<&str, &NodeKey> = self
            .nodes
            .keys()
            .filter(|k| k.node_type.as_deref() == Some(FUNCTION))
            .map(|k| (k.name.as_str(), k))
            .collect();
        let target = |key: &NodeKey| -> NodeKey {
            match functions.get(key.name.as_str()) {
                Some(function) if key.node_type.as_deref() == Some(SERVICE) => (*function).clone(),
                _ => key.clone(),
            }
        };
        let mut out = Graph::default();
        // Service nodes first, so a merged node takes their statistics.
        let mut nodes: Vec<(&NodeKey, &NodeAcc)> = self.nodes.iter().collect();
        nodes.sort_by_key(|(k, _)| k.node_type.as_deref() != Some(SERVICE));
        let mut taken: std::collections::HashSet<NodeKey> = Default::default();
        for (key, node) in nodes {
            let merged = target(key);
            let acc = out.nodes.entry(merged.clone()).or_default();
            acc.inferred |= node.inferred;
            acc.root |= node.root;
            if taken.insert(merged) {
                acc.stats = node.stats.clone();
            }
        }
        for ((caller, callee), edge) in &self.edges {
            let key = (caller.as_ref().map(target), target(callee));
            if key.0.as_ref() == Some(&key.1) {
                continue;
            }
            let acc = out.edges.entry(key).or_default();
            for alias in &edge.aliases {
                if !acc.aliases.contains(alias) {
                    acc.aliases.push(alias.clone());
                }
            }
            acc.stats.merge(&edge.stats);
        }
        out
    }

    /// The `Services` list: client nodes first, then by (name, type, account); edges point at
    /// `ReferenceId`s.
    pub fn to_services(&self) -> Vec<Value> {
        #[derive(PartialEq, Eq, PartialOrd, Ord, Clone)]
        struct Sorted {
            client: bool,
            key: NodeKey,
        }
        let mut entries: Vec<Sorted> = self.nodes.keys().map(|k| Sorted { client: false, key: k.clone() }).collect();
        for (caller, callee) in self.edges.keys() {
            if caller.is_none() {
                let client = NodeKey { name: callee.name.clone(), node_type: Some("client".into()), account_id: None };
                let entry = Sorted { client: true, key: client };
                if !entries.contains(&entry) {
                    entries.push(entry);
                }
            }
        }
        entries.sort_by(|a, b| b.client.cmp(&a.client).then_with(|| a.key.cmp(&b.key)));
        let reference: HashMap<(bool, &NodeKey), usize> =
            entries.iter().enumerate().map(|(i, e)| ((e.client, &e.key), i)).collect();
        let mut out = Vec::with_capacity(entries.len());
        for (id, entry) in entries.iter().enumerate() {
            let mut service = Map::new();
            service.insert("ReferenceId".into(), Value::from(id));
            service.insert("Name".into(), Value::from(entry.key.name.clone()));
            service.insert("Names".into(), Value::from(vec![entry.key.name.clone()]));
            if let Some(account) = &entry.key.account_id {
                service.insert("AccountId".into(), Value::from(account.clone()));
            }
            if let Some(t) = &entry.key.node_type {
                service.insert("Type".into(), Value::from(t.clone()));
            }
            let mut edges = Vec::new();
            let mut window = Stats::default();
            if entry.client {
                service.insert("State".into(), Value::from("unknown"));
                let target = NodeKey { name: entry.key.name.clone(), node_type: None, account_id: None };
                for ((caller, callee), edge) in &self.edges {
                    if caller.is_none() && callee.name == target.name {
                        edges.push(edge_json(reference[&(false, callee)], edge));
                        window.merge(&Stats { start: edge.stats.start, end: edge.stats.end, ..Default::default() });
                    }
                }
            } else {
                let node = &self.nodes[&entry.key];
                service.insert("State".into(), Value::from(if node.inferred { "unknown" } else { "active" }));
                if !node.inferred {
                    service.insert("Root".into(), Value::from(node.root));
                }
                for ((caller, callee), edge) in &self.edges {
                    if caller.as_ref() == Some(&entry.key) {
                        edges.push(edge_json(reference[&(false, callee)], edge));
                    }
                }
                window.merge(&Stats { start: node.stats.start, end: node.stats.end, ..Default::default() });
                service.insert("SummaryStatistics".into(), node.stats.summary_json());
                service.insert("DurationHistogram".into(), histogram_json(&node.stats.durations));
                service.insert("ResponseTimeHistogram".into(), histogram_json(&node.stats.response_times));
            }
            edges.sort_by_key(|e| e["ReferenceId"].as_u64());
            if let Some(s) = window.start {
                service.insert("StartTime".into(), Value::from(s));
            }
            if let Some(e) = window.end {
                service.insert("EndTime".into(), Value::from(e));
            }
            service.insert("Edges".into(), Value::Array(edges));
            out.push(Value::Object(service));
        }
        out
    }
}

fn edge_json(reference: usize, edge: &EdgeAcc) -> Value {
    let mut out = json!({
        "ReferenceId": reference,
        "SummaryStatistics": edge.stats.summary_json(),
        "ResponseTimeHistogram": histogram_json(&edge.stats.response_times),
        "Aliases": edge.aliases.iter().map(|(name, t)| json!({"Name": name, "Names": [name], "Type": t})).collect::<Vec<_>>(),
    });
    if let Some(s) = edge.stats.start {
        out["StartTime"] = Value::from(s);
    }
    if let Some(e) = edge.stats.end {
        out["EndTime"] = Value::from(e);
    }
    out
}

/// Whether a trace holds only inferred data (never listed in summaries).
pub fn only_inferred(trace: &Trace) -> bool {
    trace.entities.iter().all(|e| e.kind == EntityKind::Inferred)
}
