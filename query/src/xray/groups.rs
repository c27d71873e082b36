//! X-Ray groups (spec traces.md §5.7) and the small per-account settings of §5.8–5.9
//! (encryption config, indexing rule, trace segment destination), kept as catalog documents.

use std::sync::Arc;

use fluoro_proto::xray::XrayError;
use fluoro_proto::xray::filter::{Filter, GroupRef};
use fluoro_store::Catalog;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use fluoro_proto::xray::sampling::{GROUPS_DOC_KIND as GROUPS, TAGS_DOC_KIND, parse_tags};

const SETTINGS: &str = "xray-settings";
const MAX_GROUPS: usize = 25;
const DEFAULT: &str = "Default";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Group {
    pub name: String,
    pub arn: String,
    pub filter: Option<String>,
    pub insights_enabled: bool,
    pub notifications_enabled: bool,
    /// Times (epoch seconds) the filter expression changed after creation.
    #[serde(default)]
    pub filter_changes: Vec<f64>,
}

impl Group {
    pub fn to_api(&self) -> Value {
        let mut group = json!({
            "GroupName": self.name,
            "GroupARN": self.arn,
            "InsightsConfiguration": {
                "InsightsEnabled": self.insights_enabled,
                "NotificationsEnabled": self.notifications_enabled,
            },
        });
        if let Some(filter) = &self.filter {
            group["FilterExpression"] = Value::from(filter.clone());
        }
        group
    }

    /// Whether the filter changed after `start` (ContainsOldGroupVersions).
    pub fn changed_after(&self, start: f64) -> bool {
        self.filter_changes.iter().any(|t| *t > start)
    }
}

pub struct GroupStore {
    catalog: Arc<Catalog>,
    account_id: String,
    region: String,
}

fn storage(error: impl std::fmt::Display) -> XrayError {
    XrayError::internal(error)
}

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

impl GroupStore {
    pub fn new(catalog: Arc<Catalog>, account_id: String, region: String) -> Self {
        Self { catalog, account_id, region }
    }

    fn default_group(&self) -> Group {
        Group {
            name: DEFAULT.into(),
            arn: format!("arn:aws:xray:{}:{}:group/{DEFAULT}", self.region, self.account_id),
            filter: None,
            insights_enabled: false,
            notifications_enabled: false,
            filter_changes: Vec::new(),
        }
    }

    /// Every group, `Default` included, sorted by name.
    pub fn all(&self) -> Vec<Group> {
        let mut groups: Vec<Group> = self
            .catalog
            .docs(GROUPS)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(_, bytes)| serde_json::from_slice(&bytes).ok())
            .collect();
        if !groups.iter().any(|g| g.name == DEFAULT) {
            groups.push(self.default_group());
        }
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        groups
    }

    fn save(&self, group: &Group) -> Result<(), XrayError> {
        let bytes = serde_json::to_vec(group).map_err(storage)?;
        self.catalog.put_doc(GROUPS, &group.name, &bytes).map_err(storage)
    }

    /// Parses a filter expression with `group.name`/`group.arn` resolved against the groups.
    pub fn parse_filter(&self, expression: &str) -> Result<Filter, XrayError> {
        parse_with(&self.all(), expression).map_err(|e| XrayError::invalid_request(e.to_string()))
    }

    /// The group named by `GroupName` or `GroupARN` in a request, if any.
    fn find(&self, body: &Value) -> Result<Option<Group>, XrayError> {
        let name = body.get("GroupName").and_then(Value::as_str);
        let arn = body.get("GroupARN").and_then(Value::as_str);
        if name.is_none() && arn.is_none() {
            return Ok(None);
        }
        let group = self.all().into_iter().find(|g| name.is_none_or(|n| g.name == n) && arn.is_none_or(|a| g.arn == a));
        group.map(Some).ok_or_else(|| XrayError::invalid_request("Group not found"))
    }

    /// The group of a graph request (absent or `Default` = no filtering).
    pub fn resolve_request_group(&self, body: &Value) -> Result<Option<Group>, XrayError> {
        Ok(self.find(body)?.filter(|g| g.filter.is_some()))
    }

    fn required(&self, body: &Value) -> Result<Group, XrayError> {
        self.find(body)?.ok_or_else(|| XrayError::invalid_request("GroupName or GroupARN is required"))
    }

    pub fn create(&self, body: &Value) -> Result<Value, XrayError> {
        let name = body.get("GroupName").and_then(Value::as_str).unwrap_or_default();
        if !valid_name(name) {
            return Err(XrayError::invalid_request("GroupName must be 1 to 32 letters, digits or '-'"));
        }
        let existing = self.all();
        if existing.iter().any(|g| g.name == name) {
            return Err(XrayError::invalid_request(format!("Group {name} already exists")));
        }
        if existing.iter().filter(|g| g.name != DEFAULT).count() >= MAX_GROUPS {
            return Err(XrayError::invalid_request(format!("An account holds at most {MAX_GROUPS} groups")));
        }
        let filter = body.get("FilterExpression").and_then(Value::as_str).filter(|f| !f.is_empty());
        if let Some(filter) = filter {
            self.parse_filter(filter)?;
        }
        let insights = body.get("InsightsConfiguration");
        let flag = |key: &str| insights.and_then(|i| i.get(key)).and_then(Value::as_bool).unwrap_or(false);
        let unique: String = uuid::Uuid::new_v4()
            .as_bytes()
            .iter()
            .chain(uuid::Uuid::new_v4().as_bytes())
            .take(26)
            .map(|b| b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"[(*b % 32) as usize] as char)
            .collect();
        let group = Group {
            name: name.to_owned(),
            arn: format!("arn:aws:xray:{}:{}:group/{name}/{unique}", self.region, self.account_id),
            filter: filter.map(str::to_owned),
            insights_enabled: flag("InsightsEnabled"),
            notifications_enabled: flag("NotificationsEnabled"),
            filter_changes: Vec::new(),
        };
        if let Some(tags) = body.get("Tags") {
            let tags = parse_tags(tags, &group.arn)?;
            if !tags.is_empty() {
                let bytes = Value::Object(tags).to_string();
                self.catalog.put_doc(TAGS_DOC_KIND, &group.arn, bytes.as_bytes()).map_err(storage)?;
            }
        }
        self.save(&group)?;
        Ok(json!({"Group": group.to_api()}))
    }

    pub fn get(&self, body: &Value) -> Result<Value, XrayError> {
        Ok(json!({"Group": self.required(body)?.to_api()}))
    }

    pub fn list(&self, body: &Value) -> Result<Value, XrayError> {
        if body.get("NextToken").and_then(Value::as_str).is_some_and(|t| !t.is_empty()) {
            return Err(XrayError::invalid_request("NextToken is invalid or expired"));
        }
        let groups: Vec<Value> = self.all().iter().map(Group::to_api).collect();
        Ok(json!({"Groups": groups}))
    }

    pub fn update(&self, body: &Value, now_ms: i64) -> Result<Value, XrayError> {
        let mut group = self.required(body)?;
        if let Some(filter) = body.get("FilterExpression").and_then(Value::as_str) {
            if group.name == DEFAULT {
                return Err(XrayError::invalid_request("Only InsightsConfiguration of the Default group can change"));
            }
            if filter.is_empty() {
                group.filter = None;
            } else {
                self.parse_filter(filter)?;
                // A group may not come to refer to itself, directly or through others.
                if self.would_cycle(&group.name, filter) {
                    return Err(XrayError::invalid_request("The filter expression refers to its own group"));
                }
                group.filter = Some(filter.to_owned());
            }
            group.filter_changes.push(now_ms as f64 / 1000.0);
        }
        if let Some(insights) = body.get("InsightsConfiguration") {
            if let Some(b) = insights.get("InsightsEnabled").and_then(Value::as_bool) {
                group.insights_enabled = b;
            }
            if let Some(b) = insights.get("NotificationsEnabled").and_then(Value::as_bool) {
                group.notifications_enabled = b;
            }
        }
        self.save(&group)?;
        Ok(json!({"Group": group.to_api()}))
    }

    fn would_cycle(&self, name: &str, filter: &str) -> bool {
        let mut groups = self.all();
        if let Some(g) = groups.iter_mut().find(|g| g.name == name) {
            g.filter = Some(filter.to_owned());
        }
        parse_with(&groups, &format!("group.name = \"{name}\"")).is_err()
    }

    pub fn delete(&self, body: &Value) -> Result<Value, XrayError> {
        let group = self.required(body)?;
        if group.name == DEFAULT {
            return Err(XrayError::invalid_request("The Default group cannot be deleted"));
        }
        self.catalog.delete_doc(GROUPS, &group.name).map_err(storage)?;
        self.catalog.delete_doc(TAGS_DOC_KIND, &group.arn).map_err(storage)?;
        Ok(json!({}))
    }

    fn setting(&self, key: &str) -> Option<Value> {
        self.catalog
            .docs(SETTINGS)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == key)
            .and_then(|(_, bytes)| serde_json::from_slice(&bytes).ok())
    }

    fn put_setting(&self, key: &str, value: &Value) -> Result<(), XrayError> {
        self.catalog.put_doc(SETTINGS, key, value.to_string().as_bytes()).map_err(storage)
    }

    pub fn encryption_config(&self) -> Value {
        let config = self.setting("encryption").unwrap_or_else(|| json!({"Type": "NONE", "Status": "ACTIVE"}));
        json!({"EncryptionConfig": config})
    }

    pub fn put_encryption_config(&self, body: &Value) -> Result<Value, XrayError> {
        let config = match body.get("Type").and_then(Value::as_str) {
            Some("NONE") => json!({"Type": "NONE", "Status": "ACTIVE"}),
            Some("KMS") => {
                let key = body.get("KeyId").and_then(Value::as_str).filter(|k| (1..=3000).contains(&k.len()));
                let key =
                    key.ok_or_else(|| XrayError::invalid_request("KeyId (1 to 3000 characters) is required for KMS"))?;
                json!({"Type": "KMS", "KeyId": key, "Status": "ACTIVE"})
            }
            _ => return Err(XrayError::invalid_request("Type must be NONE or KMS")),
        };
        self.put_setting("encryption", &config)?;
        Ok(json!({"EncryptionConfig": config}))
    }

    pub fn indexing_rules(&self) -> Value {
        let percentage = self.setting("indexing").and_then(|v| v.as_f64()).unwrap_or(100.0);
        json!({"IndexingRules": [indexing_rule(percentage)]})
    }

    pub fn update_indexing_rule(&self, body: &Value, now_ms: i64) -> Result<Value, XrayError> {
        let name = body.get("Name").and_then(Value::as_str).unwrap_or_default();
        if name != DEFAULT {
            return Err(XrayError::not_found(format!("Indexing rule {name} not found"), name));
        }
        let percentage = body
            .get("Rule")
            .and_then(|r| r.get("Probabilistic"))
            .and_then(|p| p.get("DesiredSamplingPercentage"))
            .and_then(Value::as_f64)
            .filter(|p| (0.0..=100.0).contains(p))
            .ok_or_else(|| {
                XrayError::invalid_request("Rule.Probabilistic.DesiredSamplingPercentage must be 0 to 100")
            })?;
        self.put_setting("indexing", &Value::from(percentage))?;
        let mut rule = indexing_rule(percentage);
        rule["ModifiedAt"] = Value::from(now_ms as f64 / 1000.0);
        Ok(json!({"IndexingRule": rule}))
    }

    pub fn destination(&self) -> Value {
        let destination = self.setting("destination").and_then(|v| v.as_str().map(str::to_owned));
        json!({"Destination": destination.unwrap_or_else(|| "XRay".into()), "Status": "ACTIVE"})
    }

    pub fn update_destination(&self, body: &Value) -> Result<Value, XrayError> {
        match body.get("Destination").and_then(Value::as_str) {
            None => {}
            Some("XRay") => self.put_setting("destination", &Value::from("XRay"))?,
            Some("CloudWatchLogs") => {
                return Err(XrayError::invalid_request(
                    "Destination CloudWatchLogs (spans mirrored to the aws/spans log group) is not supported by this fluoro build",
                ));
            }
            Some(_) => return Err(XrayError::invalid_request("Destination must be XRay or CloudWatchLogs")),
        }
        Ok(self.destination())
    }
}

/// Parses `expression` with `group.*` terms resolved against `groups`.
fn parse_with(groups: &[Group], expression: &str) -> Result<Filter, fluoro_proto::xray::filter::FilterError> {
    let resolve = |reference: GroupRef<'_>| {
        groups
            .iter()
            .find(|g| match reference {
                GroupRef::Name(n) => g.name == n,
                GroupRef::Arn(a) => g.arn == a,
            })
            .map(|g| (g.name.clone(), g.filter.clone()))
    };
    Filter::parse_with_groups(expression, &resolve)
}

fn indexing_rule(percentage: f64) -> Value {
    json!({
        "Name": DEFAULT,
        "Rule": {"Probabilistic": {"DesiredSamplingPercentage": percentage, "ActualSamplingPercentage": percentage}},
    })
}
