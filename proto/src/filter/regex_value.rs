//! `%regex%` values: the allowed character set, then the `regex` crate.

use super::PatternError;

/// A compiled `%...%` regular expression (search semantics).
#[derive(Debug, Clone)]
pub struct RegexValue {
    regex: regex::Regex,
}

impl RegexValue {
    /// Parses the text between the `%` delimiters.
    pub fn parse(body: &str) -> Result<Self, PatternError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || ":_#=@/;,- ^$?[]{}|\\*+.".contains(c);
        if body.is_empty() || !body.chars().all(allowed) {
            return Err(PatternError::InvalidCharacters(format!("%{body}%")));
        }
        let regex = regex::Regex::new(body).map_err(|_| PatternError::Invalid)?;
        Ok(Self { regex })
    }

    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}
