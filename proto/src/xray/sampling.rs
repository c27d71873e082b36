//! Sampling rules (spec traces.md §4): validation of `SamplingRule` input, the reference
//! matcher of §4.2, and the reservoir quota distribution of §4.4.

use serde_json::{Map, Value, json};

use super::error::XrayError;

pub const DEFAULT_RULE: &str = "Default";
/// Custom rules per account.
pub const MAX_RULES: usize = 25;

/// Catalog document kinds shared by the write side (rules) and the read side (groups, tags).
pub const RULES_DOC_KIND: &str = "xray-sampling-rules";
pub const GROUPS_DOC_KIND: &str = "xray-groups";
pub const TAGS_DOC_KIND: &str = "xray-tags";
/// Tags per group or rule.
pub const MAX_TAGS: usize = 50;

/// The built-in default rule (§4.1).
pub fn default_rule(region: &str, account: &str) -> Map<String, Value> {
    let mut rule = json!({
        "RuleName": DEFAULT_RULE,
        "RuleARN": rule_arn(region, account, DEFAULT_RULE),
        "ResourceARN": "*",
        "Priority": 10000,
        "FixedRate": 0.05,
        "ReservoirSize": 1,
        "ServiceName": "*",
        "ServiceType": "*",
        "Host": "*",
        "HTTPMethod": "*",
        "URLPath": "*",
        "Version": 1,
        "Attributes": {},
    });
    std::mem::take(rule.as_object_mut().expect("an object"))
}

pub fn rule_arn(region: &str, account: &str, name: &str) -> String {
    format!("arn:aws:xray:{region}:{account}:sampling-rule/{name}")
}

/// String fields with their maximum lengths.
const STRING_FIELDS: [(&str, usize); 6] = [
    ("ResourceARN", 500),
    ("ServiceName", 64),
    ("ServiceType", 64),
    ("Host", 64),
    ("HTTPMethod", 10),
    ("URLPath", 128),
];

fn invalid(message: impl Into<String>) -> XrayError {
    XrayError::invalid_request(message)
}

/// Checks the fields present in `rule` (all required ones when `create`) and returns the
/// normalized rule (known fields only).
pub fn validate_rule(rule: &Map<String, Value>, create: bool) -> Result<Map<String, Value>, XrayError> {
    let mut out = Map::new();
    if let Some(name) = rule.get("RuleName") {
        let name = name.as_str().filter(|n| (1..=32).contains(&n.chars().count()));
        out.insert("RuleName".into(), Value::from(name.ok_or_else(|| invalid("RuleName must be 1 to 32 characters"))?));
    } else if create {
        return Err(invalid("RuleName is required"));
    }
    for (field, max) in STRING_FIELDS {
        match rule.get(field) {
            Some(Value::String(s)) if s.chars().count() <= max => {
                out.insert(field.into(), Value::from(s.clone()));
            }
            Some(_) => return Err(invalid(format!("{field} must be a string of at most {max} characters"))),
            None if create => return Err(invalid(format!("{field} is required"))),
            None => {}
        }
    }
    match rule.get("Priority") {
        Some(v) => {
            let p =
                v.as_i64().filter(|p| (1..=9999).contains(p)).ok_or_else(|| invalid("Priority must be 1 to 9999"))?;
            out.insert("Priority".into(), Value::from(p));
        }
        None if create => return Err(invalid("Priority is required")),
        None => {}
    }
    match rule.get("FixedRate") {
        Some(v) => {
            let r =
                v.as_f64().filter(|r| (0.0..=1.0).contains(r)).ok_or_else(|| invalid("FixedRate must be 0 to 1"))?;
            out.insert("FixedRate".into(), Value::from(r));
        }
        None if create => return Err(invalid("FixedRate is required")),
        None => {}
    }
    match rule.get("ReservoirSize") {
        Some(v) => {
            let r = v.as_i64().filter(|r| *r >= 0).ok_or_else(|| invalid("ReservoirSize must be an integer ≥ 0"))?;
            out.insert("ReservoirSize".into(), Value::from(r));
        }
        None if create => return Err(invalid("ReservoirSize is required")),
        None => {}
    }
    match rule.get("Version") {
        Some(v) if v.as_i64() == Some(1) => {
            out.insert("Version".into(), Value::from(1));
        }
        Some(_) => return Err(invalid("Version must be 1")),
        None if create => return Err(invalid("Version is required")),
        None => {}
    }
    if let Some(attributes) = rule.get("Attributes") {
        let map = attributes.as_object().ok_or_else(|| invalid("Attributes must be a map"))?;
        if map.len() > 5 {
            return Err(invalid("Attributes holds at most 5 entries"));
        }
        for (key, value) in map {
            let value_ok = value.as_str().is_some_and(|v| (1..=32).contains(&v.chars().count()));
            if !(1..=32).contains(&key.chars().count()) || !value_ok {
                return Err(invalid("Attribute keys and values must be 1 to 32 characters"));
            }
        }
        out.insert("Attributes".into(), attributes.clone());
    } else if create {
        out.insert("Attributes".into(), json!({}));
    }
    if let Some(boost) = rule.get("SamplingRateBoost") {
        let max_rate = boost.get("MaxRate").and_then(Value::as_f64).filter(|r| (0.0..=1.0).contains(r));
        let cooldown = boost.get("CooldownWindowMinutes").map_or(Some(1), Value::as_i64).filter(|c| *c >= 0);
        if max_rate.is_none() || cooldown.is_none() {
            return Err(invalid("SamplingRateBoost needs MaxRate 0 to 1 and CooldownWindowMinutes ≥ 0"));
        }
        out.insert("SamplingRateBoost".into(), boost.clone());
    }
    Ok(out)
}

/// `*` any sequence, `?` one character, the rest literal, case-insensitive (§4.2).
pub fn wildcard_match(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let v: Vec<char> = value.to_lowercase().chars().collect();
    let (mut pi, mut vi) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// What a sampling decision knows about a request.
#[derive(Debug, Clone, Default)]
pub struct SamplingRequest<'a> {
    pub service_name: Option<&'a str>,
    pub service_type: Option<&'a str>,
    pub host: Option<&'a str>,
    pub http_method: Option<&'a str>,
    pub url_path: Option<&'a str>,
    pub resource_arn: Option<&'a str>,
    pub attributes: &'a [(&'a str, &'a str)],
}

/// The reference matcher: every field matches; an unknown request value matches only `*`.
pub fn rule_matches(rule: &Map<String, Value>, request: &SamplingRequest<'_>) -> bool {
    let field = |name: &str, value: Option<&str>| {
        let pattern = rule.get(name).and_then(Value::as_str).unwrap_or("*");
        match value {
            None => pattern == "*",
            Some(v) => wildcard_match(pattern, v),
        }
    };
    field("ServiceName", request.service_name)
        && field("ServiceType", request.service_type)
        && field("Host", request.host)
        && field("HTTPMethod", request.http_method)
        && field("URLPath", request.url_path)
        && field("ResourceARN", request.resource_arn)
        && rule.get("Attributes").and_then(Value::as_object).is_none_or(|attributes| {
            attributes.iter().all(|(key, pattern)| {
                let pattern = pattern.as_str().unwrap_or_default();
                request.attributes.iter().any(|(k, v)| k == key && wildcard_match(pattern, v))
            })
        })
}

/// §4.4 step 3: splits `reservoir` among clients by their request rates. Input: (client id,
/// rate); output quotas in the same order, summing to `reservoir`.
pub fn distribute_quota(reservoir: u64, clients: &[(&str, f64)]) -> Vec<u64> {
    if clients.is_empty() {
        return Vec::new();
    }
    let total: f64 = clients.iter().map(|(_, r)| r.max(0.0)).sum();
    let weights: Vec<f64> = clients
        .iter()
        .map(|(_, r)| if total > 0.0 { r.max(0.0) / total } else { 1.0 / clients.len() as f64 })
        .collect();
    let exact: Vec<f64> = weights.iter().map(|w| reservoir as f64 * w).collect();
    let mut quotas: Vec<u64> = exact.iter().map(|e| e.floor() as u64).collect();
    let mut remaining = reservoir.saturating_sub(quotas.iter().sum());
    let mut order: Vec<usize> = (0..clients.len()).collect();
    order.sort_by(|&a, &b| {
        let fa = exact[a] - exact[a].floor();
        let fb = exact[b] - exact[b].floor();
        fb.total_cmp(&fa).then_with(|| clients[a].0.cmp(clients[b].0))
    });
    for i in order.into_iter().cycle() {
        if remaining == 0 {
            break;
        }
        quotas[i] += 1;
        remaining -= 1;
    }
    quotas
}

/// `[{Key, Value}]` → map, with §5.8's limits.
pub fn parse_tags(tags: &Value, arn: &str) -> Result<Map<String, Value>, XrayError> {
    let list = tags.as_array().ok_or_else(|| XrayError::invalid_request("Tags must be a list of {Key, Value}"))?;
    if list.len() > MAX_TAGS {
        return Err(XrayError::new("TooManyTagsException", 400, format!("A resource holds at most {MAX_TAGS} tags"))
            .with_extra("ResourceName", arn));
    }
    let mut out = Map::new();
    for tag in list {
        let key = tag.get("Key").and_then(Value::as_str).filter(|k| (1..=128).contains(&k.chars().count()));
        let value = tag.get("Value").and_then(Value::as_str).filter(|v| v.chars().count() <= 256);
        let (Some(key), Some(value)) = (key, value) else {
            return Err(XrayError::invalid_request("Tag keys are 1 to 128 characters, values at most 256"));
        };
        if key.starts_with("aws:") {
            return Err(XrayError::invalid_request("Tag keys starting with aws: are reserved"));
        }
        out.insert(key.to_owned(), Value::from(value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("", ""));
        assert!(!wildcard_match("", "x"));
        assert!(wildcard_match("/api/*", "/API/v1"));
        assert!(wildcard_match("GE?", "get"));
        assert!(!wildcard_match("GE?", "GETS"));
        assert!(wildcard_match("*.example.com", "api.example.com"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(!wildcard_match("a*b*c", "aXXbYY"));
    }

    #[test]
    fn matching_rules() {
        let mut rule = default_rule("us-east-1", "123456789012");
        rule.insert("ServiceName".into(), Value::from("orders-*"));
        rule.insert("Attributes".into(), json!({"tier": "gold"}));
        let attributes = [("tier", "GOLD")];
        let request = SamplingRequest {
            service_name: Some("orders-api"),
            http_method: Some("GET"),
            attributes: &attributes,
            ..Default::default()
        };
        assert!(rule_matches(&rule, &request));
        assert!(!rule_matches(&rule, &SamplingRequest { service_name: Some("billing"), ..request.clone() }));
        assert!(!rule_matches(&rule, &SamplingRequest { service_name: None, ..request.clone() }));
        assert!(!rule_matches(&rule, &SamplingRequest { attributes: &[], ..request }));
        assert!(rule_matches(&default_rule("r", "a"), &SamplingRequest::default()));
    }

    #[test]
    fn quotas_sum_to_the_reservoir() {
        assert_eq!(distribute_quota(10, &[("a", 1.0), ("b", 1.0)]), [5, 5]);
        assert_eq!(distribute_quota(1, &[("b", 1.0), ("a", 1.0)]), [0, 1], "ties go to the smaller client id");
        assert_eq!(distribute_quota(10, &[("a", 3.0), ("b", 1.0)]), [8, 2]);
        assert_eq!(distribute_quota(5, &[("a", 0.0), ("b", 0.0), ("c", 0.0)]).iter().sum::<u64>(), 5);
        assert_eq!(distribute_quota(0, &[("a", 1.0)]), [0]);
        assert!(distribute_quota(3, &[]).is_empty());
    }

    #[test]
    fn rule_validation() {
        let good = json!({"RuleName": "r1", "ResourceARN": "*", "Priority": 5, "FixedRate": 0.1, "ReservoirSize": 2,
            "ServiceName": "*", "ServiceType": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1});
        let good = good.as_object().unwrap();
        assert!(validate_rule(good, true).is_ok());
        for (key, bad) in [
            ("Priority", json!(0)),
            ("FixedRate", json!(1.5)),
            ("Version", json!(2)),
            ("HTTPMethod", json!("x".repeat(11))),
        ] {
            let mut rule = good.clone();
            rule.insert(key.into(), bad);
            assert!(validate_rule(&rule, true).is_err(), "{key}");
        }
        let mut missing = good.clone();
        missing.remove("URLPath");
        assert!(validate_rule(&missing, true).is_err());
        assert!(validate_rule(&missing, false).is_ok());
    }
}
