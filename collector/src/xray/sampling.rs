//! Centralized sampling (spec traces.md §4): rule management, GetSamplingTargets with the
//! reservoir split of §4.4, statistic summaries, and tags of rules and groups. This is what the
//! X-Ray SDKs poll through the daemon's TCP port (rules every 5 minutes, targets every 10 s).

use std::collections::HashMap;
use std::sync::Arc;

use fluoro_proto::logs::Clock;
use fluoro_proto::xray::XrayError;
use fluoro_proto::xray::sampling::{
    DEFAULT_RULE, GROUPS_DOC_KIND, MAX_RULES, MAX_TAGS, RULES_DOC_KIND, TAGS_DOC_KIND, default_rule, distribute_quota,
    parse_tags, rule_arn, validate_rule,
};
use fluoro_store::Catalog;
use parking_lot::Mutex;
use serde_json::{Map, Value, json};

const META_DOC_KIND: &str = "xray-sampling-meta";
const RULES_PER_PAGE: usize = 100;
/// Clients that reported within this window share a rule's reservoir.
const ACTIVE_CLIENT_MS: i64 = 30_000;
const QUOTA_TTL_SECS: f64 = 300.0;
const TARGET_INTERVAL_SECS: i64 = 10;
const SUMMARY_WINDOW_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy)]
struct ClientStat {
    last_seen_ms: i64,
    rate: f64,
}

#[derive(Default)]
struct Statistics {
    clients: HashMap<(String, String), ClientStat>,
    /// (received ms, rule, requests, sampled, borrowed) over the last minute.
    window: Vec<(i64, String, i64, i64, i64)>,
}

pub struct SamplingApi {
    catalog: Arc<Catalog>,
    clock: Clock,
    region: String,
    account_id: String,
    statistics: Mutex<Statistics>,
}

fn storage(error: impl std::fmt::Display) -> XrayError {
    XrayError::internal(error)
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

impl SamplingApi {
    pub fn new(catalog: Arc<Catalog>, clock: Clock, region: String, account_id: String) -> Self {
        Self { catalog, clock, region, account_id, statistics: Mutex::new(Statistics::default()) }
    }

    pub fn handle(&self, path: &str, body: &Value) -> Option<Result<Value, XrayError>> {
        let now = (self.clock)();
        Some(match path {
            "/GetSamplingRules" => self.get_rules(body),
            "/SamplingTargets" => self.targets(body, now),
            "/SamplingStatisticSummaries" => Ok(self.summaries(now)),
            "/CreateSamplingRule" => self.create(body, now),
            "/UpdateSamplingRule" => self.update(body, now),
            "/DeleteSamplingRule" => self.delete(body, now),
            "/TagResource" => self.tag(body),
            "/UntagResource" => self.untag(body),
            "/ListTagsForResource" => self.list_tags(body),
            _ => return None,
        })
    }

    /// Every rule record (Default included): (rule, created, modified), by (Priority, RuleName).
    fn records(&self) -> Vec<(Map<String, Value>, f64, f64)> {
        let mut records: Vec<(Map<String, Value>, f64, f64)> = self
            .catalog
            .docs(RULES_DOC_KIND)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, bytes)| serde_json::from_slice::<Value>(&bytes).ok())
            .filter_map(|doc| {
                let rule = doc.get("rule")?.as_object()?.clone();
                Some((rule, doc.get("created")?.as_f64()?, doc.get("modified")?.as_f64()?))
            })
            .collect();
        if !records.iter().any(|(r, _, _)| r.get("RuleName").and_then(Value::as_str) == Some(DEFAULT_RULE)) {
            records.push((default_rule(&self.region, &self.account_id), 0.0, 0.0));
        }
        let key = |r: &Map<String, Value>| {
            (
                r.get("Priority").and_then(Value::as_i64).unwrap_or(10000),
                r.get("RuleName").and_then(Value::as_str).unwrap_or_default().to_owned(),
            )
        };
        records.sort_by_key(|(r, _, _)| key(r));
        records
    }

    fn save(&self, rule: &Map<String, Value>, created: f64, modified: f64) -> Result<(), XrayError> {
        let name = rule.get("RuleName").and_then(Value::as_str).unwrap_or_default();
        let doc = json!({"rule": rule, "created": created, "modified": modified});
        self.catalog.put_doc(RULES_DOC_KIND, name, doc.to_string().as_bytes()).map_err(storage)?;
        self.touch(modified)
    }

    fn touch(&self, when: f64) -> Result<(), XrayError> {
        self.catalog.put_doc(META_DOC_KIND, "last-modification", when.to_string().as_bytes()).map_err(storage)
    }

    fn last_modification(&self) -> f64 {
        let stored = self.catalog.docs(META_DOC_KIND).unwrap_or_default();
        stored
            .into_iter()
            .find(|(k, _)| k == "last-modification")
            .and_then(|(_, v)| String::from_utf8(v).ok()?.parse().ok())
            .unwrap_or(0.0)
    }

    fn record_json(rule: &Map<String, Value>, created: f64, modified: f64) -> Value {
        json!({"SamplingRule": rule, "CreatedAt": created, "ModifiedAt": modified})
    }

    fn get_rules(&self, body: &Value) -> Result<Value, XrayError> {
        let offset = match body.get("NextToken") {
            None | Some(Value::Null) => 0,
            Some(Value::String(t)) if t.is_empty() => 0,
            Some(Value::String(t)) => {
                t.parse::<usize>().map_err(|_| XrayError::invalid_request("NextToken is invalid"))?
            }
            Some(_) => return Err(XrayError::invalid_request("NextToken must be a string")),
        };
        let records = self.records();
        let page: Vec<Value> =
            records.iter().skip(offset).take(RULES_PER_PAGE).map(|(r, c, m)| Self::record_json(r, *c, *m)).collect();
        let mut out = json!({"SamplingRuleRecords": page});
        if offset + RULES_PER_PAGE < records.len() {
            out["NextToken"] = Value::from((offset + RULES_PER_PAGE).to_string());
        }
        Ok(out)
    }

    /// The record named by `RuleName` and/or `RuleARN` (both given must agree).
    fn find(&self, name: Option<&str>, arn: Option<&str>) -> Result<(Map<String, Value>, f64, f64), XrayError> {
        let by_arn = arn.map(|a| a.rsplit('/').next().unwrap_or_default().to_owned());
        let name = match (name, by_arn.as_deref()) {
            (Some(n), Some(a)) if n != a => return Err(XrayError::invalid_request("RuleName and RuleARN disagree")),
            (Some(n), _) => n.to_owned(),
            (None, Some(a)) => a.to_owned(),
            (None, None) => return Err(XrayError::invalid_request("RuleName or RuleARN is required")),
        };
        let record =
            self.records().into_iter().find(|(r, _, _)| r.get("RuleName").and_then(Value::as_str) == Some(&name));
        let record =
            record.ok_or_else(|| XrayError::invalid_request(format!("Sampling rule {name} does not exist")))?;
        if let Some(arn) = arn
            && record.0.get("RuleARN").and_then(Value::as_str) != Some(arn)
        {
            return Err(XrayError::invalid_request(format!("Sampling rule {arn} does not exist")));
        }
        Ok(record)
    }

    fn create(&self, body: &Value, now: i64) -> Result<Value, XrayError> {
        let input = body.get("SamplingRule").and_then(Value::as_object);
        let input = input.ok_or_else(|| XrayError::invalid_request("SamplingRule is required"))?;
        let mut rule = validate_rule(input, true)?;
        let name = rule["RuleName"].as_str().unwrap_or_default().to_owned();
        let records = self.records();
        if name == DEFAULT_RULE
            || records.iter().any(|(r, _, _)| r.get("RuleName").and_then(Value::as_str) == Some(&name))
        {
            return Err(XrayError::invalid_request(format!("A sampling rule named {name} already exists")));
        }
        if records.len() > MAX_RULES {
            return Err(XrayError::new(
                "RuleLimitExceededException",
                400,
                format!("An account holds at most {MAX_RULES} sampling rules besides Default"),
            ));
        }
        let arn = rule_arn(&self.region, &self.account_id, &name);
        rule.insert("RuleARN".into(), Value::from(arn.clone()));
        if let Some(tags) = body.get("Tags") {
            let tags = parse_tags(tags, &arn)?;
            self.save_tags(&arn, &tags)?;
        }
        let at = seconds(now);
        self.save(&rule, at, at)?;
        Ok(json!({"SamplingRuleRecord": Self::record_json(&rule, at, at)}))
    }

    fn update(&self, body: &Value, now: i64) -> Result<Value, XrayError> {
        let input = body.get("SamplingRuleUpdate").and_then(Value::as_object);
        let input = input.ok_or_else(|| XrayError::invalid_request("SamplingRuleUpdate is required"))?;
        let name = input.get("RuleName").and_then(Value::as_str);
        let arn = input.get("RuleARN").and_then(Value::as_str);
        let (mut rule, created, _) = self.find(name, arn)?;
        let mut changes = input.clone();
        changes.remove("RuleName");
        changes.remove("RuleARN");
        let changes = validate_rule(&changes, false)?;
        let is_default = rule.get("RuleName").and_then(Value::as_str) == Some(DEFAULT_RULE);
        for (key, value) in changes {
            if is_default && !matches!(key.as_str(), "FixedRate" | "ReservoirSize" | "SamplingRateBoost") {
                return Err(XrayError::invalid_request(format!("{key} of the Default rule cannot change")));
            }
            rule.insert(key, value);
        }
        let at = seconds(now);
        self.save(&rule, created, at)?;
        Ok(json!({"SamplingRuleRecord": Self::record_json(&rule, created, at)}))
    }

    fn delete(&self, body: &Value, now: i64) -> Result<Value, XrayError> {
        let name = body.get("RuleName").and_then(Value::as_str);
        let arn = body.get("RuleARN").and_then(Value::as_str);
        let (rule, created, modified) = self.find(name, arn)?;
        let name = rule.get("RuleName").and_then(Value::as_str).unwrap_or_default();
        if name == DEFAULT_RULE {
            return Err(XrayError::invalid_request("The Default rule cannot be deleted"));
        }
        self.catalog.delete_doc(RULES_DOC_KIND, name).map_err(storage)?;
        if let Some(arn) = rule.get("RuleARN").and_then(Value::as_str) {
            self.catalog.delete_doc(TAGS_DOC_KIND, arn).map_err(storage)?;
        }
        self.touch(seconds(now))?;
        Ok(json!({"SamplingRuleRecord": Self::record_json(&rule, created, modified)}))
    }

    fn targets(&self, body: &Value, now: i64) -> Result<Value, XrayError> {
        let documents = body.get("SamplingStatisticsDocuments").and_then(Value::as_array);
        let documents =
            documents.ok_or_else(|| XrayError::invalid_request("SamplingStatisticsDocuments is required"))?;
        if documents.len() > 25 {
            return Err(XrayError::invalid_request("SamplingStatisticsDocuments holds at most 25 documents"));
        }
        if let Some(boost) = body.get("SamplingBoostStatisticsDocuments")
            && boost.as_array().is_none_or(|b| b.len() > 25)
        {
            return Err(XrayError::invalid_request("SamplingBoostStatisticsDocuments holds at most 25 documents"));
        }
        let rules: HashMap<String, Map<String, Value>> = self
            .records()
            .into_iter()
            .filter_map(|(r, _, _)| Some((r.get("RuleName")?.as_str()?.to_owned(), r)))
            .collect();
        let mut targets = Vec::new();
        let mut unprocessed = Vec::new();
        let mut stats = self.statistics.lock();
        stats.clients.retain(|_, c| now - c.last_seen_ms < 10 * ACTIVE_CLIENT_MS);
        stats.window.retain(|(t, ..)| now - t < SUMMARY_WINDOW_MS);
        let mut processed: Vec<(String, String)> = Vec::new();
        for doc in documents {
            let rule_name = doc.get("RuleName").and_then(Value::as_str).unwrap_or_default().to_owned();
            let client = doc.get("ClientID").and_then(Value::as_str).unwrap_or_default().to_owned();
            let count = |key: &str| doc.get(key).map_or(Some(0), Value::as_i64).filter(|n| *n >= 0);
            let timestamp_ok = doc.get("Timestamp").is_some_and(|t| t.is_number() || t.is_string());
            let counts = (count("RequestCount"), count("SampledCount"), count("BorrowCount"));
            let valid_client = client.len() == 24 && client.bytes().all(|b| b.is_ascii_hexdigit());
            let (Some(requests), Some(sampled), Some(borrowed)) = counts else {
                unprocessed.push(json!({"RuleName": rule_name, "ErrorCode": "InvalidRequest", "Message": "Counts must be integers ≥ 0"}));
                continue;
            };
            if rule_name.is_empty() || !valid_client || !timestamp_ok {
                unprocessed.push(json!({"RuleName": rule_name, "ErrorCode": "InvalidRequest", "Message": "RuleName, a 24-hex ClientID and Timestamp are required"}));
                continue;
            }
            if !rules.contains_key(&rule_name) {
                unprocessed
                    .push(json!({"RuleName": rule_name, "ErrorCode": "ResourceNotFound", "Message": "Rule not found"}));
                continue;
            }
            let key = (rule_name.clone(), client.clone());
            let elapsed = stats.clients.get(&key).map_or(10.0, |c| ((now - c.last_seen_ms) as f64 / 1000.0).max(1.0));
            stats.clients.insert(key.clone(), ClientStat { last_seen_ms: now, rate: requests as f64 / elapsed });
            stats.window.push((now, rule_name.clone(), requests, sampled, borrowed));
            processed.push(key);
        }
        for (rule_name, client) in processed {
            let rule = &rules[&rule_name];
            let reservoir = rule.get("ReservoirSize").and_then(Value::as_u64).unwrap_or(0);
            let mut active: Vec<(&str, f64)> = stats
                .clients
                .iter()
                .filter(|((r, _), c)| *r == rule_name && now - c.last_seen_ms <= ACTIVE_CLIENT_MS)
                .map(|((_, id), c)| (id.as_str(), c.rate))
                .collect();
            active.sort_by(|a, b| a.0.cmp(b.0));
            let quotas = distribute_quota(reservoir, &active);
            let quota = active.iter().position(|(id, _)| *id == client).map_or(0, |i| quotas[i]);
            targets.push(json!({
                "RuleName": rule_name,
                "FixedRate": rule.get("FixedRate").cloned().unwrap_or(Value::from(0.05)),
                "ReservoirQuota": quota,
                "ReservoirQuotaTTL": seconds(now) + QUOTA_TTL_SECS,
                "Interval": TARGET_INTERVAL_SECS,
            }));
        }
        Ok(json!({
            "SamplingTargetDocuments": targets,
            "LastRuleModification": self.last_modification(),
            "UnprocessedStatistics": unprocessed,
        }))
    }

    fn summaries(&self, now: i64) -> Value {
        let stats = self.statistics.lock();
        let mut per_rule: Vec<(String, i64, i64, i64)> = Vec::new();
        for (t, rule, requests, sampled, borrowed) in &stats.window {
            if now - t >= SUMMARY_WINDOW_MS {
                continue;
            }
            match per_rule.iter_mut().find(|(r, ..)| r == rule) {
                Some(entry) => {
                    entry.1 += requests;
                    entry.2 += sampled;
                    entry.3 += borrowed;
                }
                None => per_rule.push((rule.clone(), *requests, *sampled, *borrowed)),
            }
        }
        let start = seconds(now - SUMMARY_WINDOW_MS);
        let summaries: Vec<Value> = per_rule
            .into_iter()
            .map(|(rule, requests, sampled, borrowed)| {
                json!({"RuleName": rule, "Timestamp": start, "RequestCount": requests, "SampledCount": sampled, "BorrowCount": borrowed})
            })
            .collect();
        json!({"SamplingStatisticSummaries": summaries})
    }

    /// Whether `arn` names a sampling rule or a group.
    fn resource_exists(&self, arn: &str) -> bool {
        if self.records().iter().any(|(r, _, _)| r.get("RuleARN").and_then(Value::as_str) == Some(arn)) {
            return true;
        }
        let default_group = format!("arn:aws:xray:{}:{}:group/Default", self.region, self.account_id);
        arn == default_group
            || self.catalog.docs(GROUPS_DOC_KIND).unwrap_or_default().iter().any(|(_, bytes)| {
                serde_json::from_slice::<Value>(bytes)
                    .ok()
                    .is_some_and(|g| g.get("arn").and_then(Value::as_str) == Some(arn))
            })
    }

    fn tags_of(&self, arn: &str) -> Map<String, Value> {
        let docs = self.catalog.docs(TAGS_DOC_KIND).unwrap_or_default();
        docs.into_iter()
            .find(|(k, _)| k == arn)
            .and_then(|(_, v)| serde_json::from_slice::<Value>(&v).ok()?.as_object().cloned())
            .unwrap_or_default()
    }

    fn save_tags(&self, arn: &str, tags: &Map<String, Value>) -> Result<(), XrayError> {
        if tags.is_empty() {
            return self.catalog.delete_doc(TAGS_DOC_KIND, arn).map(|_| ()).map_err(storage);
        }
        self.catalog.put_doc(TAGS_DOC_KIND, arn, Value::Object(tags.clone()).to_string().as_bytes()).map_err(storage)
    }

    fn resource(&self, body: &Value) -> Result<String, XrayError> {
        let arn = body.get("ResourceARN").and_then(Value::as_str).unwrap_or_default();
        if !self.resource_exists(arn) {
            return Err(XrayError::not_found(format!("Resource {arn} not found"), arn));
        }
        Ok(arn.to_owned())
    }

    fn tag(&self, body: &Value) -> Result<Value, XrayError> {
        let arn = self.resource(body)?;
        let new = parse_tags(body.get("Tags").unwrap_or(&Value::Null), &arn)?;
        let mut tags = self.tags_of(&arn);
        tags.extend(new);
        if tags.len() > MAX_TAGS {
            return Err(XrayError::new(
                "TooManyTagsException",
                400,
                format!("A resource holds at most {MAX_TAGS} tags"),
            )
            .with_extra("ResourceName", arn));
        }
        self.save_tags(&arn, &tags)?;
        Ok(json!({}))
    }

    fn untag(&self, body: &Value) -> Result<Value, XrayError> {
        let arn = self.resource(body)?;
        let keys = body.get("TagKeys").and_then(Value::as_array);
        let keys = keys.ok_or_else(|| XrayError::invalid_request("TagKeys is required"))?;
        let mut tags = self.tags_of(&arn);
        for key in keys {
            let key = key.as_str().ok_or_else(|| XrayError::invalid_request("TagKeys must be strings"))?;
            tags.remove(key);
        }
        self.save_tags(&arn, &tags)?;
        Ok(json!({}))
    }

    fn list_tags(&self, body: &Value) -> Result<Value, XrayError> {
        let arn = self.resource(body)?;
        let tags: Vec<Value> = self.tags_of(&arn).into_iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect();
        Ok(json!({"Tags": tags}))
    }
}
