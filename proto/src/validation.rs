//! AWS-style input validation messages:
//! `1 validation error detected: Value 'x' at 'limit' failed to satisfy constraint: ...`.

use crate::aws_error::{AwsError, ErrorCode};

/// Collects constraint violations of one request, then renders them as one error.
#[derive(Debug, Default)]
pub struct Violations {
    messages: Vec<String>,
}

impl Violations {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, value: &str, path: &str, constraint: &str) {
        self.messages.push(format!("Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"));
    }

    pub fn max_len(&mut self, path: &str, value: &str, max: usize) {
        if value.chars().count() > max {
            self.push(value, path, &format!("Member must have length less than or equal to {max}"));
        }
    }

    pub fn min_len(&mut self, path: &str, value: &str, min: usize) {
        if value.chars().count() < min {
            self.push(value, path, &format!("Member must have length greater than or equal to {min}"));
        }
    }

    pub fn range(&mut self, path: &str, value: i64, min: i64, max: i64) {
        if value < min {
            self.push(&value.to_string(), path, &format!("Member must have value greater than or equal to {min}"));
        } else if value > max {
            self.push(&value.to_string(), path, &format!("Member must have value less than or equal to {max}"));
        }
    }

    pub fn pattern(&mut self, path: &str, value: &str, pattern: &str) {
        self.push(value, path, &format!("Member must satisfy regular expression pattern: {pattern}"));
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// `Ok(())` when nothing was violated, else an `InvalidParameterException`.
    pub fn finish(self) -> Result<(), AwsError> {
        self.finish_as(ErrorCode::InvalidParameter)
    }

    pub fn finish_as(self, code: ErrorCode) -> Result<(), AwsError> {
        match self.messages.len() {
            0 => Ok(()),
            1 => Err(AwsError::new(code, format!("1 validation error detected: {}", self.messages[0]))),
            n => Err(AwsError::new(code, format!("{n} validation errors detected: {}", self.messages.join("; ")))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_and_many() {
        let mut v = Violations::new();
        v.range("limit", 10001, 1, 10000);
        let err = v.finish().unwrap_err();
        assert_eq!(
            err.message,
            "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: Member must have value less than or equal to 10000"
        );
        let mut v = Violations::new();
        v.range("limit", 0, 1, 50);
        v.max_len("logGroupName", &"a".repeat(3), 2);
        let err = v.finish().unwrap_err();
        assert!(err.message.starts_with("2 validation errors detected: Value '0' at 'limit'"));
        assert!(err.message.contains("; Value 'aaa' at 'logGroupName'"));
    }
}
