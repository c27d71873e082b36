//! Query compile errors: `MalformedQueryException` with the location of §3.4.

use fluoro_proto::{AwsError, ErrorCode};
use serde_json::json;

use super::ast::Span;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub message: String,
    /// 0-based character offsets into the query string, end exclusive.
    pub start_char: usize,
    pub end_char: usize,
}

impl QueryError {
    /// An error at the byte range `span` of `src`.
    pub fn malformed(src: &str, span: Span, message: String) -> Self {
        let start = span.start.min(src.len());
        let end = span.end.clamp(start, src.len());
        let start_char = src[..start].chars().count();
        let end_char = start_char + src[start..end].chars().count();
        Self { message, start_char, end_char }
    }

    /// The message with the line and column of `span` appended, for semantic errors.
    pub fn semantic(src: &str, span: Span, message: &str) -> Self {
        let start = span.start.min(src.len());
        let before = &src[..start];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
        Self::malformed(src, span, format!("{message} at line {line}, column {column}"))
    }

    pub fn to_aws(&self) -> AwsError {
        AwsError::new(ErrorCode::MalformedQuery, self.message.clone()).with_extra(
            "queryCompileError",
            json!({
                "location": {"startCharOffset": self.start_char, "endCharOffset": self.end_char},
                "message": self.message,
            }),
        )
    }
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for QueryError {}
