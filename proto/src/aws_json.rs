//! AWS JSON 1.1 request plumbing shared by every operation: decoding the input shape,
//! the caller's identity, and ARNs.

use serde::de::DeserializeOwned;

use crate::aws_error::{AwsError, ErrorCode};

/// Who is calling, as far as ARNs are concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub account_id: String,
    pub region: String,
}

impl RequestContext {
    /// `arn:aws:logs:<region>:<account>:log-group:<name>`.
    pub fn log_group_arn(&self, group: &str) -> String {
        format!("arn:aws:logs:{}:{}:log-group:{group}", self.region, self.account_id)
    }

    pub fn log_stream_arn(&self, group: &str, stream: &str) -> String {
        format!("{}:log-stream:{stream}", self.log_group_arn(group))
    }

    /// The group name an ARN (`...:log-group:<name>` with an optional `:*`) or bare name refers
    /// to. An ARN of another account or service is an unknown resource.
    pub fn group_name_from_identifier<'a>(&self, identifier: &'a str) -> Result<&'a str, AwsError> {
        if !identifier.starts_with("arn:") {
            return Ok(identifier);
        }
        let not_found = || AwsError::new(ErrorCode::ResourceNotFound, "The specified log group does not exist.");
        let mut parts = identifier.splitn(6, ':');
        let (_arn, _partition, service, _region, account, resource) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next(), parts.next());
        if service != Some("logs") || account != Some(self.account_id.as_str()) {
            return Err(not_found());
        }
        let name = resource.and_then(|r| r.strip_prefix("log-group:")).ok_or_else(not_found)?;
        Ok(name.strip_suffix(":*").unwrap_or(name))
    }
}

/// Region from a SigV4 `Authorization` header's credential scope
/// (`Credential=AKID/20240501/us-west-2/logs/aws4_request`).
pub fn region_from_authorization(header: &str) -> Option<&str> {
    let credential = header.split("Credential=").nth(1)?;
    let scope = credential.split([',', ' ']).next()?;
    let mut parts = scope.split('/');
    parts.nth(2).filter(|r| !r.is_empty())
}

/// Decodes an operation's input. An empty body counts as `{}`; anything that is not the right
/// JSON is a `SerializationException`.
pub fn parse_input<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) { b"{}".as_slice() } else { body };
    serde_json::from_slice(body).map_err(|e| {
        let message = match e.classify() {
            serde_json::error::Category::Data => format!("Unable to parse request: {e}"),
            _ => "Unable to parse request body as JSON".to_owned(),
        };
        // Missing required members are a validation failure, not a serialization one.
        if e.to_string().starts_with("missing field") {
            let member = e.to_string().split('`').nth(1).unwrap_or_default().to_owned();
            return AwsError::invalid_parameter(format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ));
        }
        AwsError::new(ErrorCode::Serialization, message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_regions() {
        let ctx = RequestContext { account_id: "000000000000".into(), region: "us-east-1".into() };
        assert_eq!(ctx.group_name_from_identifier("/a/b").unwrap(), "/a/b");
        let arn = ctx.log_group_arn("/a/b");
        assert_eq!(arn, "arn:aws:logs:us-east-1:000000000000:log-group:/a/b");
        assert_eq!(ctx.group_name_from_identifier(&arn).unwrap(), "/a/b");
        assert_eq!(ctx.group_name_from_identifier(&format!("{arn}:*")).unwrap(), "/a/b");
        assert!(ctx.group_name_from_identifier("arn:aws:logs:us-east-1:111111111111:log-group:x").is_err());
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20240501/eu-west-1/logs/aws4_request, SignedHeaders=host";
        assert_eq!(region_from_authorization(auth), Some("eu-west-1"));
        assert_eq!(region_from_authorization("Bearer x"), None);
    }

    #[test]
    fn input_errors() {
        #[derive(serde::Deserialize, Debug)]
        struct In {
            #[allow(dead_code)]
            name: String,
        }
        assert_eq!(parse_input::<In>(b"{").unwrap_err().code, ErrorCode::Serialization);
        assert_eq!(parse_input::<In>(br#"{"name": 5}"#).unwrap_err().code, ErrorCode::Serialization);
        assert_eq!(parse_input::<In>(b"{}").unwrap_err().code, ErrorCode::InvalidParameter);
        assert!(parse_input::<In>(br#"{"name":"x","unknown":1}"#).is_ok());
    }
}
