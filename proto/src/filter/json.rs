//! JSON patterns: `{ $.a.b[0] = "x" && ($.n > 3 || $.c NOT EXISTS) }` (spec §5.3).

use super::json_scan::{Found, PathSet, Step, scan};
use super::{CompareOp, Literal, PatternError, is_blank};

/// A parsed `{ ... }` pattern: its conditions refer to the slots of its selectors.
#[derive(Debug, Clone)]
pub struct JsonPattern {
    expr: Expr,
    paths: PathSet,
    /// Slot i of `paths` is at i of its own scan.
    own_slots: Vec<usize>,
}

#[derive(Debug, Clone)]
enum Expr {
    Or(Vec<Expr>),
    And(Vec<Expr>),
    Compare(usize, CompareOp, Literal),
    IsNull(usize),
    IsBool(usize, bool),
    NotExists(usize),
}

type Selector = Vec<Step>;

impl JsonPattern {
    pub(super) fn parse(source: &str) -> Result<Self, PatternError> {
        let inner = source.strip_prefix('{').and_then(|s| s.strip_suffix('}')).ok_or(PatternError::Invalid)?;
        let mut parser = Parser { src: inner, pos: 0, paths: PathSet::default() };
        let expr = parser.or()?;
        parser.skip_blanks();
        if parser.pos != inner.len() {
            return Err(PatternError::Invalid);
        }
        let own_slots = (0..parser.paths.slots()).collect();
        Ok(Self { expr, paths: parser.paths, own_slots })
    }

    pub fn matches(&self, message: &str) -> bool {
        let trimmed = message.trim_matches(is_blank);
        trimmed.starts_with('{')
            && scan(trimmed, &self.paths).is_some_and(|found| self.matches_found(&found, &self.own_slots))
    }

    /// The selectors the pattern reads. A caller that needs more values from the same
    /// document adds its own to a copy (this pattern's slots keep their numbers) and scans
    /// once.
    pub fn paths(&self) -> &PathSet {
        &self.paths
    }

    /// Evaluates against a scan of other selectors that include `paths()`: `slots[i]` is
    /// where the scan keeps this pattern's slot `i`.
    pub fn matches_found(&self, found: &[Option<Found<'_>>], slots: &[usize]) -> bool {
        self.expr.eval(&|slot| found[slots[slot]].as_ref())
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
        let mut parser = Parser { src: source.trim_matches(is_blank), pos: 0, paths: PathSet::default() };
        let selector = parser.selector()?;
        if parser.pos != parser.src.len() {
            return Err(PatternError::Invalid);
        }
        Ok(Self(selector))
    }

    pub fn steps(&self) -> &[Step] {
        &self.0
    }
}

impl Expr {
    fn eval<'f>(&self, found: &dyn Fn(usize) -> Option<&'f Found<'f>>) -> bool {
        match self {
            Self::Or(items) => items.iter().any(|e| e.eval(found)),
            Self::And(items) => items.iter().all(|e| e.eval(found)),
            Self::IsNull(slot) => matches!(found(*slot), Some(Found::Null)),
            Self::IsBool(slot, want) => found(*slot) == Some(&Found::Bool(*want)),
            Self::NotExists(slot) => found(*slot).is_none(),
            Self::Compare(slot, op, literal) => found(*slot).is_some_and(|value| compare(value, *op, literal)),
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

fn compare(value: &Found<'_>, op: CompareOp, literal: &Literal) -> bool {
    if matches!(value, Found::Null | Found::Array | Found::Object) {
        return false;
    }
    let equal = || match literal {
        Literal::Any => true,
        Literal::Number(number, text) => match value {
            Found::Number(_) => value.as_f64() == Some(*number),
            Found::String(s) => s == text,
            _ => false,
        },
        Literal::Text(pattern) => value.scalar_text().is_some_and(|t| super::glob_match(pattern, &t)),
        Literal::Regex(regex) => matches!(value, Found::String(s) if regex.is_match(s)),
    };
    match op {
        CompareOp::Eq => equal(),
        CompareOp::Ne => !equal(),
        ordering => match (value.as_f64(), literal) {
            (Some(n), Literal::Number(number, _)) => ordering.compare_numbers(n, *number),
            _ => false,
        },
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// The selectors seen, each given a slot.
    paths: PathSet,
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
        let selector = self.paths.add(&selector);
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
