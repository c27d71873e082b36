//! JSON patterns: `{ $.a.b[0] = "x" && ($.n > 3 || $.c NOT EXISTS) }` (spec §5.3).

use serde_json::Value;

use super::{CompareOp, Literal, PatternError, is_blank};

/// A parsed `{ ... }` pattern.
#[derive(Debug, Clone)]
pub struct JsonPattern {
    expr: Expr,
}

#[derive(Debug, Clone)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Compare(Selector, CompareOp, Literal),
    IsNull(Selector),
    IsBool(Selector, bool),
    NotExists(Selector),
}

#[derive(Debug, Clone, PartialEq)]
enum Step {
    Key(String),
    Index(usize),
}

type Selector = Vec<Step>;

impl JsonPattern {
    pub(super) fn parse(source: &str) -> Result<Self, PatternError> {
        let inner = source.strip_prefix('{').and_then(|s| s.strip_suffix('}')).ok_or(PatternError::Invalid)?;
        let mut parser = Parser { src: inner, pos: 0 };
        let expr = parser.or()?;
        parser.skip_blanks();
        if parser.pos != inner.len() {
            return Err(PatternError::Invalid);
        }
        Ok(Self { expr })
    }

    pub fn matches(&self, message: &str) -> bool {
        let trimmed = message.trim_matches(is_blank);
        if !trimmed.starts_with('{') {
            return false;
        }
        match serde_json::from_str::<Value>(trimmed) {
            Ok(document @ Value::Object(_)) => self.matches_value(&document),
            _ => false,
        }
    }

    /// Evaluates against an already parsed JSON document.
    pub fn matches_value(&self, document: &Value) -> bool {
        self.expr.eval(document)
    }

    pub(super) fn regex_count(&self) -> usize {
        self.expr.regex_count()
    }
}

/// A `$.a.b[0]` selector on its own, as metric filters use them for values and dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath(Selector);

impl JsonPath {
    pub fn parse(source: &str) -> Result<Self, PatternError> {
        let mut parser = Parser { src: source.trim_matches(is_blank), pos: 0 };
        let selector = parser.selector()?;
        if parser.pos != parser.src.len() {
            return Err(PatternError::Invalid);
        }
        Ok(Self(selector))
    }

    pub fn lookup<'a>(&self, document: &'a Value) -> Option<&'a Value> {
        walk(document, &self.0)
    }
}

fn walk<'a>(document: &'a Value, selector: &Selector) -> Option<&'a Value> {
    selector.iter().try_fold(document, |value, step| match step {
        Step::Key(key) => value.as_object()?.get(key),
        Step::Index(index) => value.as_array()?.get(*index),
    })
}

/// The text form of a scalar used by `=` against text: string content or canonical number.
fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null | Value::Array(_) | Value::Object(_) => None,
    }
}

impl Expr {
    fn eval(&self, document: &Value) -> bool {
        match self {
            Self::Or(items) => items.iter().any(|e| e.eval(document)),
            Self::And(items) => items.iter().all(|e| e.eval(document)),
            Self::IsNull(selector) => matches!(walk(document, selector), Some(Value::Null)),
            Self::IsBool(selector, want) => walk(document, selector) == Some(&Value::Bool(*want)),
            Self::NotExists(selector) => walk(document, selector).is_none(),
            Self::Compare(selector, op, literal) => match walk(document, selector) {
                Some(value) => compare(value, *op, literal),
                None => false,
            },
        }
    }

    fn regex_count(&self) -> usize {
        match self {
            Self::Or(items) | Self::And(items) => items.iter().map(Self::regex_count).sum(),
            Self::Compare(_, _, literal) => literal.count_regex(),
            _ => 0,
        }
    }
}

fn compare(value: &Value, op: CompareOp, literal: &Literal) -> bool {
    if matches!(value, Value::Null | Value::Array(_) | Value::Object(_)) {
        return false;
    }
    let equal = || match literal {
        Literal::Any => true,
        Literal::Number(number, text) => match value {
            Value::Number(n) => n.as_f64() == Some(*number),
            Value::String(s) => s == text,
            _ => false,
        },
        Literal::Text(pattern) => scalar_text(value).is_some_and(|t| super::glob_match(pattern, &t)),
        Literal::Regex(regex) => value.as_str().is_some_and(|s| regex.is_match(s)),
    };
    match op {
        CompareOp::Eq => equal(),
        CompareOp::Ne => !equal(),
        ordering => match (value, literal) {
            (Value::Number(n), Literal::Number(number, _)) => {
                n.as_f64().is_some_and(|n| ordering.compare_numbers(n, *number))
            }
            _ => false,
        },
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn skip_blanks(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start_matches(is_blank).len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_blanks();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn or(&mut self) -> Result<Expr, PatternError> {
        let mut items = vec![self.and()?];
        while self.eat("||") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one item") } else { Expr::Or(items) })
    }

    fn and(&mut self) -> Result<Expr, PatternError> {
        let mut items = vec![self.unary()?];
        while self.eat("&&") {
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one item") } else { Expr::And(items) })
    }

    fn unary(&mut self) -> Result<Expr, PatternError> {
        if self.eat("(") {
            let expr = self.or()?;
            if !self.eat(")") {
                return Err(PatternError::Invalid);
            }
            return Ok(expr);
        }
        self.condition()
    }

    fn condition(&mut self) -> Result<Expr, PatternError> {
        self.skip_blanks();
        let selector = self.selector()?;
        self.skip_blanks();
        if let Some((op, len)) = CompareOp::lex(self.rest()) {
            self.pos += len;
            self.skip_blanks();
            let (literal, len) = Literal::lex(self.rest(), &[')'])?;
            self.pos += len;
            return Ok(Expr::Compare(selector, op, literal));
        }
        let keyword = self.word().to_ascii_uppercase();
        match keyword.as_str() {
            "IS" => match self.word().to_ascii_uppercase().as_str() {
                "NULL" => Ok(Expr::IsNull(selector)),
                "TRUE" => Ok(Expr::IsBool(selector, true)),
                "FALSE" => Ok(Expr::IsBool(selector, false)),
                _ => Err(PatternError::Invalid),
            },
            "NOT" if self.word().eq_ignore_ascii_case("EXISTS") => Ok(Expr::NotExists(selector)),
            _ => Err(PatternError::Invalid),
        }
    }

    fn word(&mut self) -> &str {
        self.skip_blanks();
        let start = self.pos;
        let len = self.rest().find(|c: char| !c.is_ascii_alphabetic()).unwrap_or(self.rest().len());
        self.pos += len;
        &self.src[start..self.pos]
    }

    fn selector(&mut self) -> Result<Selector, PatternError> {
        if !self.rest().starts_with('$') {
            return Err(PatternError::Invalid);
        }
        self.pos += 1;
        let mut steps = Vec::new();
        loop {
            let rest = self.rest();
            if let Some(after) = rest.strip_prefix('.') {
                let len = after.find(|c: char| is_blank(c) || ".[]=!<>&|(){}".contains(c)).unwrap_or(after.len());
                if len == 0 {
                    return Err(PatternError::Invalid);
                }
                steps.push(Step::Key(after[..len].to_owned()));
                self.pos += 1 + len;
            } else if let Some(after) = rest.strip_prefix('[') {
                let close = after.find(']').ok_or(PatternError::Invalid)?;
                let index = after[..close].parse::<usize>().map_err(|_| PatternError::Invalid)?;
                steps.push(Step::Index(index));
                self.pos += close + 2;
            } else {
                break;
            }
        }
        if steps.is_empty() {
            return Err(PatternError::Invalid);
        }
        Ok(steps)
    }
}
