//! The AWS JSON 1.x error shape (`{"__type": ..., "message": ...}`) and the one place where an
//! error code becomes an HTTP status.

use serde_json::{Map, Value};

/// Error codes fluoro emits on its AWS-compatible APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidParameter,
    ResourceNotFound,
    ResourceAlreadyExists,
    LimitExceeded,
    Validation,
    InvalidOperation,
    TooManyTags,
    Throttling,
    Serialization,
    UnknownOperation,
    ServiceUnavailable,
    InternalServer,
    MalformedQuery,
    /// No signature where access keys are configured.
    MissingAuthenticationToken,
    /// A signature by an access key fluoro does not know.
    UnrecognizedClient,
    /// A signature that does not verify, or one outside the clock window.
    InvalidSignature,
}

impl ErrorCode {
    /// The bare `__type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidParameter => "InvalidParameterException",
            Self::ResourceNotFound => "ResourceNotFoundException",
            Self::ResourceAlreadyExists => "ResourceAlreadyExistsException",
            Self::LimitExceeded => "LimitExceededException",
            Self::Validation => "ValidationException",
            Self::InvalidOperation => "InvalidOperationException",
            Self::TooManyTags => "TooManyTagsException",
            Self::Throttling => "ThrottlingException",
            Self::Serialization => "SerializationException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::ServiceUnavailable => "ServiceUnavailableException",
            Self::InternalServer => "InternalServerException",
            Self::MalformedQuery => "MalformedQueryException",
            Self::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            Self::UnrecognizedClient => "UnrecognizedClientException",
            Self::InvalidSignature => "InvalidSignatureException",
        }
    }

    /// CloudWatch Logs answers client faults with 400 (403 for authentication) and server
    /// faults with 500.
    pub fn http_status(self) -> u16 {
        match self {
            Self::ServiceUnavailable | Self::InternalServer => 500,
            Self::MissingAuthenticationToken | Self::UnrecognizedClient | Self::InvalidSignature => 403,
            _ => 400,
        }
    }
}

/// An error as sent on the wire: code, message and any modeled extra members.
#[derive(Debug, Clone, PartialEq)]
pub struct AwsError {
    pub code: ErrorCode,
    pub message: String,
    pub extra: Map<String, Value>,
}

impl AwsError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), extra: Map::new() }
    }

    pub fn invalid_parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidParameter, message)
    }

    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    /// The JSON body: `{"__type": code, "message": ..., extra...}`.
    pub fn to_body(&self) -> Vec<u8> {
        let mut body = Map::new();
        body.insert("__type".into(), Value::from(self.code.as_str()));
        body.insert("message".into(), Value::from(self.message.clone()));
        for (key, value) in &self.extra {
            body.insert(key.clone(), value.clone());
        }
        serde_json::to_vec(&Value::Object(body)).expect("a JSON map always serializes")
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for AwsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_type_message_and_extras() {
        let err = AwsError::new(ErrorCode::TooManyTags, "too many").with_extra("resourceName", "arn");
        let body: Value = serde_json::from_slice(&err.to_body()).unwrap();
        assert_eq!(body["__type"], "TooManyTagsException");
        assert_eq!(body["message"], "too many");
        assert_eq!(body["resourceName"], "arn");
        assert_eq!(ErrorCode::InternalServer.http_status(), 500);
        assert_eq!(ErrorCode::ResourceNotFound.http_status(), 400);
    }
}
