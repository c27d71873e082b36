//! Term patterns: `ERROR`, `"INTERNAL SERVER ERROR"`, `?ERROR ?WARN`, `ERROR -ARGUMENTS`.
//! Matching is case-sensitive substring search.

use memchr::memmem::Finder;

use super::{PatternError, is_blank, lex_quoted};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Required,
    Optional,
    Excluded,
}

#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    text: String,
}

/// A conjunction of required terms, with optional (`?`) and excluded (`-`) terms.
#[derive(Debug, Clone)]
pub struct TermPattern {
    required: Vec<Term>,
    optional: Vec<Term>,
    excluded: Vec<Term>,
}

/// A term and its substring searcher, built once (metric filters run every pattern on every
/// ingested event).
#[derive(Debug, Clone)]
struct Term {
    text: String,
    finder: Finder<'static>,
}

impl Term {
    fn new(text: String) -> Self {
        let finder = Finder::new(text.as_bytes()).into_owned();
        Self { text, finder }
    }

    fn is_in(&self, message: &str) -> bool {
        self.finder.find(message.as_bytes()).is_some()
    }
}

impl TermPattern {
    /// Parses a term pattern; `None` when it matches everything (only blank phrases).
    pub(super) fn parse(source: &str) -> Result<Option<Self>, PatternError> {
        let items = lex_items(source)?;
        let multi = items.len() > 1;
        let mut pattern = Self { required: Vec::new(), optional: Vec::new(), excluded: Vec::new() };
        for item in items {
            if multi && item.text.starts_with(['{', '[', '%']) {
                return Err(PatternError::Invalid);
            }
            // A blank phrase (`""`, `" "`) matches every event.
            let blank = item.text.chars().all(is_blank);
            match (item.kind, blank) {
                (Kind::Required, true) => {}
                (Kind::Required, false) => pattern.required.push(Term::new(item.text)),
                (Kind::Optional, _) => pattern.optional.push(Term::new(item.text)),
                (Kind::Excluded, true) => return Err(PatternError::Invalid),
                (Kind::Excluded, false) => pattern.excluded.push(Term::new(item.text)),
            }
        }
        // Mixed required and optional terms: the optional ones are ignored (spec §5.1 ⚠).
        if !pattern.required.is_empty() {
            pattern.optional.clear();
        }
        if pattern.optional.iter().any(|t| t.text.chars().all(is_blank)) {
            pattern.optional.clear();
        }
        let match_all = pattern.required.is_empty() && pattern.optional.is_empty() && pattern.excluded.is_empty();
        Ok((!match_all).then_some(pattern))
    }

    pub fn matches(&self, message: &str) -> bool {
        self.required.iter().all(|t| t.is_in(message))
            && !self.excluded.iter().any(|t| t.is_in(message))
            && (self.optional.is_empty() || self.optional.iter().any(|t| t.is_in(message)))
    }

    pub fn required_literals(&self) -> Vec<&str> {
        self.required.iter().map(|t| t.text.as_str()).collect()
    }
}

fn lex_items(source: &str) -> Result<Vec<Item>, PatternError> {
    let mut items = Vec::new();
    let mut rest = source;
    loop {
        rest = rest.trim_start_matches(is_blank);
        if rest.is_empty() {
            return Ok(items);
        }
        let (kind, body) = match rest.as_bytes()[0] {
            b'?' => (Kind::Optional, &rest[1..]),
            b'-' if rest.len() > 1 && !rest[1..].starts_with(is_blank) => (Kind::Excluded, &rest[1..]),
            _ => (Kind::Required, rest),
        };
        if body.starts_with('"') {
            let (text, len) = lex_quoted(body)?;
            items.push(Item { kind, text });
            rest = &body[len..];
        } else {
            let end = body.find(|c: char| is_blank(c) || c == '"').unwrap_or(body.len());
            if end == 0 {
                return Err(PatternError::Invalid);
            }
            items.push(Item { kind, text: body[..end].to_owned() });
            rest = &body[end..];
        }
    }
}
