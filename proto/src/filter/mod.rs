//! The CloudWatch Logs filter-pattern language (spec/logs.md §5): term patterns, standalone
//! regex, JSON patterns and space-delimited patterns. Parse once, then match many messages.
//!
//! ```
//! use fluoro_proto::filter::FilterPattern;
//! let p = FilterPattern::parse("ERROR -ARGUMENTS").unwrap();
//! assert!(p.matches("[ERROR 401] UNAUTHORIZED REQUEST"));
//! assert!(!p.matches("[ERROR 420] INVALID ARGUMENTS"));
//! ```

mod delimited;
mod json;
pub mod json_scan;
mod regex_value;
mod terms;
#[cfg(test)]
mod tests;

use crate::aws_error::AwsError;

pub use delimited::{DelimitedPattern, FieldRef, Tokens};
pub use json::{JsonPath, JsonPattern};
pub use regex_value::RegexValue;
pub use terms::TermPattern;

/// Longest filter pattern accepted, in characters.
pub const MAX_PATTERN_LEN: usize = 1024;
/// Most `%regex%` values one pattern may contain.
pub const MAX_REGEX_PER_PATTERN: usize = 2;

/// Why a pattern was refused. Rendered as `InvalidParameterException`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("Invalid filter pattern")]
    Invalid,
    #[error("Invalid character(s) in term '{0}'")]
    InvalidCharacters(String),
    #[error("Too many regular expressions in filter pattern: at most {MAX_REGEX_PER_PATTERN} are allowed")]
    TooManyRegex,
}

impl From<PatternError> for AwsError {
    fn from(err: PatternError) -> Self {
        AwsError::invalid_parameter(err.to_string())
    }
}

/// A parsed filter pattern.
#[derive(Debug, Clone)]
pub enum FilterPattern {
    MatchAll,
    Terms(TermPattern),
    Regex(RegexValue),
    Json(JsonPattern),
    Delimited(DelimitedPattern),
}

/// Values a space-delimited match extracted, keyed `$name` or `$position`.
pub type ExtractedValues = Vec<(String, String)>;

impl FilterPattern {
    pub fn parse(source: &str) -> Result<Self, PatternError> {
        let trimmed = source.trim_matches(is_blank);
        let pattern = match trimmed.chars().next() {
            None => Self::MatchAll,
            Some('{') => Self::Json(JsonPattern::parse(trimmed)?),
            Some('[') => Self::Delimited(DelimitedPattern::parse(trimmed)?),
            Some('%') if trimmed.len() >= 2 && trimmed.ends_with('%') => {
                Self::Regex(RegexValue::parse(&trimmed[1..trimmed.len() - 1])?)
            }
            Some(_) => match TermPattern::parse(trimmed)? {
                Some(terms) => Self::Terms(terms),
                None => Self::MatchAll,
            },
        };
        if pattern.regex_count() > MAX_REGEX_PER_PATTERN {
            return Err(PatternError::TooManyRegex);
        }
        Ok(pattern)
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            Self::MatchAll => true,
            Self::Terms(terms) => terms.matches(message),
            Self::Regex(regex) => regex.is_match(message),
            Self::Json(json) => json.matches(message),
            Self::Delimited(delimited) => delimited.lookup(&Tokens::new(message), &[], &mut []),
        }
    }

    /// Matches and returns the extracted values (non-empty only for space-delimited patterns).
    pub fn extract(&self, message: &str) -> Option<ExtractedValues> {
        match self {
            Self::Delimited(delimited) => delimited.extract(message),
            other => other.matches(message).then(Vec::new),
        }
    }

    /// Literal substrings every matching message must contain: usable to prune with an index.
    pub fn required_literals(&self) -> Vec<&str> {
        match self {
            Self::Terms(terms) => terms.required_literals(),
            _ => Vec::new(),
        }
    }

    /// Number of `%regex%` values in the pattern.
    pub fn regex_count(&self) -> usize {
        match self {
            Self::Regex(_) => 1,
            Self::Json(json) => json.regex_count(),
            Self::Delimited(delimited) => delimited.regex_count(),
            Self::MatchAll | Self::Terms(_) => 0,
        }
    }
}

pub(crate) fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

/// `*` in `pattern` matches any run of characters; the match covers all of `text`.
pub(crate) fn glob_match(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// A comparison operator of JSON and space-delimited conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
}

impl CompareOp {
    /// Reads an operator at the start of `s`, returning it and its length.
    pub(crate) fn lex(s: &str) -> Option<(Self, usize)> {
        let two = s.get(..2);
        match two {
            Some("!=") => return Some((Self::Ne, 2)),
            Some(">=") => return Some((Self::Ge, 2)),
            Some("<=") => return Some((Self::Le, 2)),
            _ => {}
        }
        match s.chars().next()? {
            '=' => Some((Self::Eq, 1)),
            '>' => Some((Self::Gt, 1)),
            '<' => Some((Self::Lt, 1)),
            _ => None,
        }
    }

    pub(crate) fn compare_numbers(self, left: f64, right: f64) -> bool {
        match self {
            Self::Eq => left == right,
            Self::Ne => left != right,
            Self::Gt => left > right,
            Self::Lt => left < right,
            Self::Ge => left >= right,
            Self::Le => left <= right,
        }
    }
}

/// The literal on the right of a comparison.
#[derive(Debug, Clone)]
pub enum Literal {
    /// A NUMBER as written, with its value.
    Number(f64, String),
    /// Quoted or bare text; `*` is a wildcard.
    Text(String),
    /// `*` or `"*"` alone: any non-null scalar.
    Any,
    Regex(RegexValue),
}

impl Literal {
    /// Reads a value at the start of `s`; stops at a blank or any of `stops`. Returns the
    /// literal and the number of bytes consumed.
    pub(crate) fn lex(s: &str, stops: &[char]) -> Result<(Self, usize), PatternError> {
        let mut chars = s.char_indices();
        match chars.next() {
            None => Err(PatternError::Invalid),
            Some((_, '"')) => {
                let (text, len) = lex_quoted(s)?;
                let literal = if text == "*" { Self::Any } else { Self::Text(text) };
                Ok((literal, len))
            }
            Some((_, '%')) => {
                let end = s[1..].find('%').ok_or(PatternError::Invalid)? + 1;
                Ok((Self::Regex(RegexValue::parse(&s[1..end])?), end + 1))
            }
            Some(_) => {
                let end = s
                    .char_indices()
                    .find(|&(i, c)| {
                        is_blank(c) || stops.contains(&c) || s[i..].starts_with("&&") || s[i..].starts_with("||")
                    })
                    .map_or(s.len(), |(i, _)| i);
                if end == 0 {
                    return Err(PatternError::Invalid);
                }
                let word = &s[..end];
                Ok((Self::from_bare(word), end))
            }
        }
    }

    fn from_bare(word: &str) -> Self {
        if word == "*" {
            Self::Any
        } else if let Some(number) = parse_number(word) {
            Self::Number(number, word.to_owned())
        } else {
            Self::Text(word.to_owned())
        }
    }

    fn count_regex(&self) -> usize {
        usize::from(matches!(self, Self::Regex(_)))
    }
}

/// `NUMBER := [+-]? digits [ "." digits ] [ (e|E) [+-]? digits ]`.
pub(crate) fn parse_number(word: &str) -> Option<f64> {
    let bytes = word.as_bytes();
    let mut i = 0;
    if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < bytes.len() && bytes[*i].is_ascii_digit() {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return None;
    }
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        if !digits(&mut i) {
            return None;
        }
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        if !digits(&mut i) {
            return None;
        }
    }
    if i != bytes.len() {
        return None;
    }
    word.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// Reads `"..."` at the start of `s` (`\"` and `\\` escape); returns content and length.
pub(crate) fn lex_quoted(s: &str) -> Result<(String, usize), PatternError> {
    debug_assert!(s.starts_with('"'));
    let mut out = String::new();
    let mut chars = s.char_indices().skip(1);
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((out, i + 1)),
            '\\' => match chars.next() {
                Some((_, escaped @ ('"' | '\\'))) => out.push(escaped),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return Err(PatternError::Invalid),
            },
            other => out.push(other),
        }
    }
    Err(PatternError::Invalid)
}
