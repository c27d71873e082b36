//! CloudWatch errors: one value, rendered in the shape of whichever protocol the request used
//! (spec metrics-alarms.md §1.5.3, §1.6.3, §1.7.3, §1.8).

use std::fmt;

#[derive(Debug, Clone, PartialEq)]
pub struct CwError {
    /// The awsQuery code (also the `x-amzn-query-error` code).
    pub code: &'static str,
    /// The model's error shape, when the error is modeled (`__type` suffix).
    pub shape: Option<&'static str>,
    pub status: u16,
    pub message: String,
}

impl CwError {
    pub(crate) fn new(
        code: &'static str,
        shape: Option<&'static str>,
        status: u16,
        message: impl Into<String>,
    ) -> Self {
        Self { code, shape, status, message: message.into() }
    }

    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterValue", Some("InvalidParameterValueException"), 400, message)
    }

    /// `The value <v> for parameter <path> is invalid.`
    pub fn invalid_parameter(value: impl fmt::Display, path: impl fmt::Display) -> Self {
        Self::invalid_value(format!("The value {value} for parameter {path} is invalid."))
    }

    pub fn combination(message: impl Into<String>) -> Self {
        Self::new("InvalidParameterCombination", Some("InvalidParameterCombinationException"), 400, message)
    }

    pub fn missing(message: impl Into<String>) -> Self {
        Self::new("MissingParameter", Some("MissingRequiredParameterException"), 400, message)
    }

    pub fn validation(message: impl Into<String>) -> Self {
        Self::new("ValidationError", Some("ValidationException"), 400, message)
    }

    pub fn invalid_next_token() -> Self {
        Self::new("InvalidNextToken", Some("InvalidNextToken"), 400, "The NextToken is invalid.")
    }

    pub fn resource_not_found(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFound", Some("ResourceNotFound"), 404, message)
    }

    /// `InvalidFormat` (SetAlarmState's StateReasonData).
    pub fn invalid_format(message: impl Into<String>) -> Self {
        Self::new("InvalidFormat", Some("InvalidFormatFault"), 400, message)
    }

    /// `ResourceNotFoundException` (the tagging operations).
    pub fn resource_missing(message: impl Into<String>) -> Self {
        Self::new("ResourceNotFoundException", Some("ResourceNotFoundException"), 404, message)
    }

    pub fn limit_exceeded(message: impl Into<String>) -> Self {
        Self::new("LimitExceeded", Some("LimitExceededFault"), 400, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new("InternalServiceError", Some("InternalServiceFault"), 500, message)
    }

    /// The request reached a node that does not do this (a query-only node asked to ingest).
    pub fn service_unavailable(message: impl Into<String>) -> Self {
        Self::new("ServiceUnavailable", Some("ServiceUnavailableFault"), 503, message)
    }

    pub fn throttling() -> Self {
        Self::new("Throttling", None, 400, "Rate exceeded")
    }

    pub fn unknown_operation(message: impl Into<String>) -> Self {
        Self::new("InvalidAction", None, 400, message)
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("MalformedInput", None, 400, message)
    }

    pub fn too_large(size: usize, limit: usize) -> Self {
        Self::new("RequestEntityTooLarge", None, 413, format!("Request size {size} exceeded {limit} bytes"))
    }

    pub fn unsupported_encoding(encoding: &str) -> Self {
        Self::new("UnsupportedMediaType", None, 415, format!("Unsupported Content-Encoding {encoding:?}"))
    }

    pub fn not_implemented(operation: &str) -> Self {
        Self::new("NotImplemented", None, 501, format!("Operation {operation} is not supported by fluoro"))
    }

    /// `Sender` for 4xx, `Receiver` for 5xx.
    pub fn fault(&self) -> &'static str {
        if self.status >= 500 { "Receiver" } else { "Sender" }
    }

    /// The JSON/CBOR `__type`: the namespaced shape for modeled errors, else the bare code.
    pub fn type_name(&self) -> String {
        match self.shape {
            Some(shape) => format!("com.amazonaws.cloudwatch#{shape}"),
            None if self.code == "InvalidAction" => "UnknownOperationException".to_owned(),
            None if self.code == "MalformedInput" => "SerializationException".to_owned(),
            None => self.code.to_owned(),
        }
    }

    /// The message key of the JSON/CBOR body (the model's member casing).
    pub fn message_key(&self) -> &'static str {
        match self.shape {
            Some("InternalServiceFault") => "Message",
            _ => "message",
        }
    }
}

impl fmt::Display for CwError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for CwError {}
