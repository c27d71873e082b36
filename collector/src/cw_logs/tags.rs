//! TagResource, UntagResource and the older TagLogGroup/UntagLogGroup, over one tag store.

use std::collections::BTreeMap;

use fluoro_proto::aws_json::RequestContext;
use fluoro_proto::validation::Violations;
use fluoro_proto::{AwsError, ErrorCode};
use serde::Deserialize;
use serde_json::Value;

use super::groups::map_catalog_error;
use super::{LogsWriteApi, empty};

const MAX_TAGS: usize = 50;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TagResourceInput {
    resource_arn: String,
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UntagResourceInput {
    resource_arn: String,
    tag_keys: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct TagLogGroupInput {
    log_group_name: String,
    tags: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct UntagLogGroupInput {
    log_group_name: String,
    tags: Vec<String>,
}

fn tag_char_ok(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

pub(super) fn validate_tags(tags: &BTreeMap<String, String>) -> Result<(), AwsError> {
    let mut v = Violations::new();
    for (key, value) in tags {
        v.min_len("tags.key", key, 1);
        v.max_len("tags.key", key, 128);
        v.max_len("tags.value", value, 256);
        if !key.chars().all(tag_char_ok) {
            v.pattern("tags.key", key, r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]+)$");
        }
        if !value.chars().all(tag_char_ok) {
            v.pattern("tags.value", value, r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$");
        }
    }
    v.finish()
}

impl LogsWriteApi {
    fn merge_tags(&self, group: &str, resource: &str, tags: BTreeMap<String, String>) -> Result<Value, AwsError> {
        validate_tags(&tags)?;
        let existing = self.store.catalog().group(group).ok_or_else(super::group_not_found)?;
        let mut merged = existing.tags.clone();
        merged.extend(tags);
        if merged.len() > MAX_TAGS {
            return Err(AwsError::new(ErrorCode::TooManyTags, "A resource can have no more than 50 tags.")
                .with_extra("resourceName", resource));
        }
        self.store.catalog().update_group(group, |g| g.tags = merged).map_err(map_catalog_error)?;
        Ok(empty())
    }

    fn remove_tags(&self, group: &str, keys: &[String]) -> Result<Value, AwsError> {
        self.store
            .catalog()
            .update_group(group, |g| {
                for key in keys {
                    g.tags.remove(key);
                }
            })
            .map_err(map_catalog_error)?;
        Ok(empty())
    }

    pub(super) fn tag_resource(
        &self,
        ctx: &RequestContext,
        input: Result<TagResourceInput, AwsError>,
    ) -> Result<Value, AwsError> {
        let input = input?;
        let group = ctx.group_name_from_identifier(&input.resource_arn)?;
        self.merge_tags(group, &input.resource_arn, input.tags)
    }

    pub(super) fn untag_resource(
        &self,
        ctx: &RequestContext,
        input: Result<UntagResourceInput, AwsError>,
    ) -> Result<Value, AwsError> {
        let input = input?;
        if input.tag_keys.len() > MAX_TAGS {
            let mut v = Violations::new();
            v.push("[...]", "tagKeys", "Member must have length less than or equal to 50");
            v.finish()?;
        }
        let group = ctx.group_name_from_identifier(&input.resource_arn)?;
        self.remove_tags(group, &input.tag_keys)
    }

    pub(super) fn tag_log_group(&self, input: Result<TagLogGroupInput, AwsError>) -> Result<Value, AwsError> {
        let input = input?;
        self.merge_tags(&input.log_group_name, &input.log_group_name, input.tags)
    }

    pub(super) fn untag_log_group(&self, input: Result<UntagLogGroupInput, AwsError>) -> Result<Value, AwsError> {
        let input = input?;
        self.remove_tags(&input.log_group_name, &input.tags)
    }
}
