//! CreateLogGroup, DeleteLogGroup, CreateLogStream, DeleteLogStream, Put/DeleteRetentionPolicy.

use std::collections::BTreeMap;

use fluoro_proto::logs::RETENTION_DAYS;
use fluoro_proto::validation::Violations;
use fluoro_proto::{AwsError, ErrorCode, LogGroupName, LogStreamName};
use fluoro_store::{CatalogError, GroupMeta};
use serde::Deserialize;
use serde_json::Value;

use super::tags::validate_tags;
use super::{LogsWriteApi, empty, group_not_found, stream_not_found};

const GROUP_CLASSES: [&str; 4] = ["STANDARD", "INFREQUENT_ACCESS", "DELIVERY", "ESSENTIALS"];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct CreateLogGroupInput {
    log_group_name: String,
    kms_key_id: Option<String>,
    tags: Option<BTreeMap<String, String>>,
    log_group_class: Option<String>,
    deletion_protection_enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct GroupInput {
    log_group_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct StreamInput {
    log_group_name: String,
    log_stream_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PutRetentionPolicyInput {
    log_group_name: String,
    retention_in_days: i64,
}

pub(super) fn map_catalog_error(err: CatalogError) -> AwsError {
    match err {
        CatalogError::GroupNotFound => group_not_found(),
        CatalogError::StreamNotFound => stream_not_found(),
        CatalogError::GroupExists => {
            AwsError::new(ErrorCode::ResourceAlreadyExists, "The specified log group already exists")
        }
        CatalogError::StreamExists => {
            AwsError::new(ErrorCode::ResourceAlreadyExists, "The specified log stream already exists")
        }
        // Another node changed the same rows first; the client's retry sees the outcome.
        CatalogError::Conflict(detail) => {
            tracing::info!(detail, "catalog conflict");
            AwsError::new(ErrorCode::ServiceUnavailable, "A concurrent change won; retry the request.")
        }
        CatalogError::Storage(detail) => {
            tracing::error!(detail, "catalog failure");
            AwsError::new(ErrorCode::ServiceUnavailable, "The service cannot complete the request.")
        }
    }
}

impl LogsWriteApi {
    pub(super) fn create_log_group(&self, input: Result<CreateLogGroupInput, AwsError>) -> Result<Value, AwsError> {
        let input = input?;
        let name = LogGroupName::parse(&input.log_group_name)?;
        let mut v = Violations::new();
        if let Some(kms) = &input.kms_key_id {
            v.max_len("kmsKeyId", kms, 256);
        }
        if let Some(class) = &input.log_group_class
            && !GROUP_CLASSES.contains(&class.as_str())
        {
            v.push(
                class,
                "logGroupClass",
                &format!("Member must satisfy enum value set: [{}]", GROUP_CLASSES.join(", ")),
            );
        }
        v.finish()?;
        let tags = input.tags.unwrap_or_default();
        validate_tags(&tags)?;
        if tags.len() > 50 {
            return Err(AwsError::new(ErrorCode::TooManyTags, "A resource can have no more than 50 tags."));
        }
        let class = input.log_group_class.unwrap_or_else(|| "STANDARD".into());
        let group = GroupMeta {
            retention_days: (class == "DELIVERY").then_some(1),
            kms_key_id: input.kms_key_id,
            log_group_class: class,
            deletion_protection: input.deletion_protection_enabled.unwrap_or(false),
            tags,
            ..GroupMeta::standard(name.as_str(), self.now())
        };
        self.store.catalog().create_group(group).map_err(map_catalog_error)?;
        Ok(empty())
    }

    pub(super) fn delete_log_group(&self, input: Result<GroupInput, AwsError>) -> Result<Value, AwsError> {
        let input = input?;
        let name = LogGroupName::parse(&input.log_group_name)?;
        let group = self.store.catalog().group(name.as_str()).ok_or_else(group_not_found)?;
        if group.deletion_protection {
            return Err(AwsError::new(
                ErrorCode::Validation,
                format!("Log group {} has deletion protection enabled", group.name),
            ));
        }
        self.store.catalog().delete_group(name.as_str()).map_err(map_catalog_error)?;
        self.store.metric_filters().delete_group(self.store.catalog(), name.as_str()).map_err(map_catalog_error)?;
        Ok(empty())
    }

    pub(super) fn create_log_stream(&self, input: Result<StreamInput, AwsError>) -> Result<Value, AwsError> {
        let input = input?;
        let group = LogGroupName::parse(&input.log_group_name)?;
        let stream = LogStreamName::parse(&input.log_stream_name)?;
        self.store.catalog().create_stream(group.as_str(), stream.as_str(), self.now()).map_err(map_catalog_error)?;
        Ok(empty())
    }

    pub(super) fn delete_log_stream(&self, input: Result<StreamInput, AwsError>) -> Result<Value, AwsError> {
        let input = input?;
        let group = LogGroupName::parse(&input.log_group_name)?;
        let stream = LogStreamName::parse(&input.log_stream_name)?;
        self.store.catalog().delete_stream(group.as_str(), stream.as_str()).map_err(map_catalog_error)?;
        Ok(empty())
    }

    pub(super) fn put_retention_policy(
        &self,
        input: Result<PutRetentionPolicyInput, AwsError>,
    ) -> Result<Value, AwsError> {
        let input = input?;
        let name = LogGroupName::parse(&input.log_group_name)?;
        if !RETENTION_DAYS.contains(&input.retention_in_days) {
            let set: Vec<String> = RETENTION_DAYS.iter().map(i64::to_string).collect();
            let mut v = Violations::new();
            v.push(
                &input.retention_in_days.to_string(),
                "retentionInDays",
                &format!("Member must satisfy enum value set: [{}]", set.join(", ")),
            );
            v.finish()?;
        }
        self.store
            .catalog()
            .update_group(name.as_str(), |g| g.retention_days = Some(input.retention_in_days))
            .map_err(map_catalog_error)?;
        Ok(empty())
    }

    pub(super) fn delete_retention_policy(&self, input: Result<GroupInput, AwsError>) -> Result<Value, AwsError> {
        let input = input?;
        let name = LogGroupName::parse(&input.log_group_name)?;
        self.store.catalog().update_group(name.as_str(), |g| g.retention_days = None).map_err(map_catalog_error)?;
        Ok(empty())
    }
}
