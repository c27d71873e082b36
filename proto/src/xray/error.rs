//! The X-Ray rest-json error shape: HTTP status, `x-amzn-ErrorType`, and
//! `{"__type": code, "Message": text, extra...}`.

use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq)]
pub struct XrayError {
    pub code: &'static str,
    pub status: u16,
    pub message: String,
    pub extra: Map<String, Value>,
}

impl XrayError {
    pub fn new(code: &'static str, status: u16, message: impl Into<String>) -> Self {
        Self { code, status, message: message.into(), extra: Map::new() }
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        Self::new("InvalidRequestException", 400, message)
    }

    pub fn not_found(message: impl Into<String>, resource: &str) -> Self {
        Self::new("ResourceNotFoundException", 404, message).with_extra("ResourceName", resource)
    }

    pub fn throttled(message: impl Into<String>) -> Self {
        Self::new("ThrottledException", 429, message)
    }

    pub fn unknown_operation(path: &str) -> Self {
        Self::new("UnknownOperationException", 404, format!("No X-Ray operation at path {path}"))
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Self::new("InternalFailure", 500, format!("internal error: {message}"))
    }

    pub fn with_extra(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn to_body(&self) -> Vec<u8> {
        let mut body = Map::new();
        body.insert("__type".into(), Value::from(self.code));
        body.insert("Message".into(), Value::from(self.message.clone()));
        for (key, value) in &self.extra {
            body.insert(key.clone(), value.clone());
        }
        serde_json::to_vec(&Value::Object(body)).expect("a JSON map always serializes")
    }
}

impl std::fmt::Display for XrayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for XrayError {}
