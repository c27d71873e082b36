//! Validated log group and log stream names. Names are user text (`/`, `#`, `$`, `[`, `]`
//! allowed) and never become file paths: the store keys data by numeric ids.

use crate::aws_error::AwsError;
use crate::validation::Violations;

/// Longest group or stream name CloudWatch Logs accepts.
pub const MAX_NAME_LEN: usize = 512;
const TOO_LONG: &str = "Invalid LogGroup or LogStream, both must have length less than or equal to 512.";
const GROUP_PATTERN: &str = r"[\.\-_/#A-Za-z0-9]+";
const STREAM_PATTERN: &str = "[^:*]*";

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogGroupName(String);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LogStreamName(String);

impl LogGroupName {
    /// Validates `name` as given in the member `path` of a request.
    pub fn parse_at(path: &str, name: &str) -> Result<Self, AwsError> {
        check_length(path, name)?;
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | '#');
        if !name.chars().all(allowed) {
            let mut v = Violations::new();
            v.pattern(path, name, GROUP_PATTERN);
            v.finish()?;
        }
        if name.starts_with("aws/") {
            return Err(AwsError::invalid_parameter("Log group names starting with 'aws/' are reserved"));
        }
        Ok(Self(name.to_owned()))
    }

    pub fn parse(name: &str) -> Result<Self, AwsError> {
        Self::parse_at("logGroupName", name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl LogStreamName {
    pub fn parse_at(path: &str, name: &str) -> Result<Self, AwsError> {
        check_length(path, name)?;
        if name.contains([':', '*']) {
            let mut v = Violations::new();
            v.pattern(path, name, STREAM_PATTERN);
            v.finish()?;
        }
        Ok(Self(name.to_owned()))
    }

    pub fn parse(name: &str) -> Result<Self, AwsError> {
        Self::parse_at("logStreamName", name)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_length(path: &str, name: &str) -> Result<(), AwsError> {
    if name.chars().count() > MAX_NAME_LEN {
        return Err(AwsError::invalid_parameter(TOO_LONG));
    }
    let mut v = Violations::new();
    v.min_len(path, name, 1);
    v.finish()
}

impl std::fmt::Display for LogGroupName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for LogStreamName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names() {
        assert!(LogGroupName::parse("/aws/lambda/checkout").is_ok());
        assert!(LogGroupName::parse("a.b-c_d/e#f").is_ok());
        assert!(LogGroupName::parse("aws/x").is_err());
        assert!(LogGroupName::parse("bad name").unwrap_err().message.contains("regular expression pattern"));
        assert_eq!(LogGroupName::parse(&"a".repeat(513)).unwrap_err().message, TOO_LONG);
        assert!(LogGroupName::parse("").is_err());
    }

    #[test]
    fn stream_names() {
        assert!(LogStreamName::parse("2026/11/21/[$LATEST]abc").is_ok());
        assert!(LogStreamName::parse("a:b").is_err());
        assert!(LogStreamName::parse("a*b").is_err());
        assert!(LogStreamName::parse(&"s".repeat(512)).is_ok());
    }
}
