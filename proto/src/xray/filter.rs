//! The X-Ray filter-expression language (spec traces.md §6): an on-demand lexer, a
//! recursive-descent parser with type checking per context, and an evaluator over compiled
//! traces. Errors name the 1-based character position.

use serde_json::Value;

use super::rootcause::{CauseService, RootCause};
use super::summary::MAX_INDEXED_ANNOTATIONS;
use super::trace::{Call, Entity, EntityKind, Node, Trace, round_ms};

const MAX_CHARS: usize = 2000;
const MAX_DEPTH: usize = 32;
const MAX_GROUP_DEPTH: usize = 5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    /// 1-based character position.
    pub position: usize,
    pub message: String,
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Invalid filter expression at position {}: {}", self.position, self.message)
    }
}

impl std::error::Error for FilterError {}

/// A parsed expression; `Filter::default()` (an empty expression) matches every trace.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Filter {
    expr: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Pred(Pred),
    /// An embedded group expression (`group.name = ...`); `None` = the group has no filter.
    Group(Option<Box<Expr>>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BoolKw {
    Ok,
    Error,
    Throttle,
    Fault,
    Partial,
    Inferred,
    Root,
    First,
    Last,
    Remote,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumKw {
    ResponseTime,
    Duration,
    HttpStatus,
    Index,
    Coverage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrKw {
    HttpUrl,
    HttpMethod,
    HttpUserAgent,
    HttpClientIp,
    User,
    Name,
    Type,
    Message,
    AvailabilityZone,
    InstanceId,
    ResourceArn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrOp {
    Eq,
    Ne,
    Contains,
    BeginsWith,
    EndsWith,
}

#[derive(Debug, Clone, PartialEq)]
enum AnnotationTest {
    Num(CmpOp, f64),
    Str(StrOp, String),
    Bool(bool, bool),
}

#[derive(Debug, Clone, PartialEq)]
enum ServiceRef {
    Name(String),
    Id { name: Option<String>, node_type: Option<String>, account_id: Option<String> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Fault,
    Error,
    ResponseTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Service,
    Entity,
    Exception,
}

#[derive(Debug, Clone, PartialEq)]
enum Pred {
    Bool(BoolKw, bool),
    Num(NumKw, CmpOp, f64),
    Str(StrKw, StrOp, String),
    StrSet(StrKw),
    Annotation(String, Option<AnnotationTest>),
    Service(Option<ServiceRef>, Option<Box<Expr>>),
    Edge(ServiceRef, ServiceRef, Option<Box<Expr>>),
    RootCause(Category, Level, Box<Expr>),
    RootCauseJson(Value),
}

/// Where a sub-expression is evaluated: decides which keywords are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Trace,
    Node,
    Edge,
    CauseService,
    CauseEntity,
    CauseException,
}

/// A group reference of `group.name` / `group.arn`: resolves to the group's own name and its
/// stored expression (`Some(None)` = group without a filter), or `None` when unknown.
pub type GroupResolver<'a> = &'a dyn Fn(GroupRef<'_>) -> Option<(String, Option<String>)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRef<'a> {
    Name(&'a str),
    Arn(&'a str),
}

impl Filter {
    /// Parses an expression without group references (`group.*` is refused).
    pub fn parse(text: &str) -> Result<Filter, FilterError> {
        Self::parse_with_groups(text, &|_| None)
    }

    pub fn parse_with_groups(text: &str, groups: GroupResolver<'_>) -> Result<Filter, FilterError> {
        Self::parse_nested(text, groups, &mut Vec::new())
    }

    fn parse_nested(text: &str, groups: GroupResolver<'_>, stack: &mut Vec<String>) -> Result<Filter, FilterError> {
        let chars: Vec<char> = text.chars().collect();
        if chars.len() > MAX_CHARS {
            return Err(FilterError {
                position: MAX_CHARS + 1,
                message: format!("the expression is longer than {MAX_CHARS} characters"),
            });
        }
        let mut parser = Parser { chars, pos: 0, depth: 0, groups, stack };
        parser.skip_ws();
        if parser.at_end() {
            return Ok(Filter { expr: None });
        }
        let expr = parser.expr(Scope::Trace)?;
        parser.skip_ws();
        if !parser.at_end() {
            return Err(parser.error("unexpected text after the expression"));
        }
        Ok(Filter { expr: Some(expr) })
    }

    pub fn is_empty(&self) -> bool {
        self.expr.is_none()
    }

    /// Texts every matching trace's documents must contain: the JSON encodings of the string
    /// values that top-level AND terms require by equality (annotations, `user`, HTTP method
    /// and URL). A cheap pre-filter on the stored documents before compiling a trace.
    pub fn required_texts(&self) -> Vec<String> {
        fn walk(expr: &Expr, out: &mut Vec<String>) {
            match expr {
                Expr::And(a, b) => {
                    walk(a, out);
                    walk(b, out);
                }
                Expr::Group(Some(inner)) => walk(inner, out),
                Expr::Pred(Pred::Annotation(_, Some(AnnotationTest::Str(StrOp::Eq, value))))
                | Expr::Pred(Pred::Str(
                    StrKw::User | StrKw::HttpMethod | StrKw::HttpUrl | StrKw::InstanceId | StrKw::ResourceArn,
                    StrOp::Eq,
                    value,
                )) => out.push(serde_json::to_string(value).expect("strings serialize")),
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Some(expr) = &self.expr {
            walk(expr, &mut out);
        }
        out
    }

    /// Whether the trace matches.
    pub fn matches(&self, trace: &Trace) -> bool {
        self.expr.as_ref().is_none_or(|e| eval(e, trace, &Ctx::Trace))
    }

    /// Evaluates a `service(...)`/`id(...)` or `edge(a, b)` entity selector (used by
    /// GetTimeSeriesServiceStatistics) and returns the matching nodes and calls of `trace`.
    pub fn selector(text: &str) -> Result<Selector, FilterError> {
        let filter = Self::parse(text)?;
        match filter.expr {
            Some(Expr::Pred(Pred::Service(Some(r), None))) => Ok(Selector::Service(r.into())),
            Some(Expr::Pred(Pred::Edge(a, b, None))) => Ok(Selector::Edge(a.into(), b.into())),
            _ => Err(FilterError {
                position: 1,
                message: "an entity selector is service(...), id(...) or edge(..., ...) without a block".into(),
            }),
        }
    }
}

/// An entity selector of GetTimeSeriesServiceStatistics.
#[derive(Debug, Clone, PartialEq)]
pub enum Selector {
    Service(NodeMatcher),
    Edge(NodeMatcher, NodeMatcher),
}

/// Matches nodes by name or by `id(name, type, account.id)`.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeMatcher(ServiceRef);

impl From<ServiceRef> for NodeMatcher {
    fn from(r: ServiceRef) -> Self {
        Self(r)
    }
}

impl NodeMatcher {
    pub fn matches(&self, name: &str, node_type: Option<&str>, account_id: Option<&str>) -> bool {
        ref_matches_parts(&self.0, name, node_type, account_id)
    }
}

struct Parser<'a, 'g> {
    chars: Vec<char>,
    pos: usize,
    depth: usize,
    groups: GroupResolver<'g>,
    stack: &'a mut Vec<String>,
}

impl Parser<'_, '_> {
    fn error(&self, message: impl Into<String>) -> FilterError {
        FilterError { position: self.pos + 1, message: message.into() }
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> FilterError {
        FilterError { position: pos + 1, message: message.into() }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), FilterError> {
        if self.eat(c) { Ok(()) } else { Err(self.error(format!("expected '{c}'"))) }
    }

    /// A word `[A-Za-z0-9_.]...` (and `:` `/` `@` `-` when `literal`), without consuming.
    fn word_len(&self, literal: bool) -> usize {
        let mut n = 0;
        while let Some(c) = self.peek_at(n) {
            let ok =
                c.is_ascii_alphanumeric() || c == '_' || c == '.' || (literal && matches!(c, ':' | '/' | '@' | '-'));
            if !ok {
                break;
            }
            n += 1;
        }
        n
    }

    fn peek_word(&self) -> String {
        let n = self.word_len(false);
        self.chars[self.pos..self.pos + n].iter().collect()
    }

    fn take_word(&mut self) -> String {
        let word = self.peek_word();
        self.pos += word.chars().count();
        word
    }

    /// Whether the next token is the (case-insensitive) word `w` standing alone.
    fn at_word(&mut self, w: &str) -> bool {
        self.skip_ws();
        self.peek_word().eq_ignore_ascii_case(w)
    }

    fn expr(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("expressions nest deeper than {MAX_DEPTH} levels")));
        }
        let mut left = self.and_expr(scope)?;
        while self.at_word("or") {
            self.take_word();
            let right = self.and_expr(scope)?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and_expr(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        let mut left = self.unary(scope)?;
        loop {
            self.skip_ws();
            if self.at_word("and") {
                self.take_word();
            } else if self.at_end() || matches!(self.peek(), Some(')' | '}')) || self.at_word("or") {
                break;
            }
            let right = self.unary(scope)?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        self.skip_ws();
        if self.peek() == Some('!') && self.peek_at(1) != Some('=') {
            self.pos += 1;
            return self.nested_unary(scope);
        }
        if self.at_word("not") {
            self.take_word();
            return self.nested_unary(scope);
        }
        if self.eat('(') {
            let inner = self.expr(scope)?;
            self.expect(')')?;
            return Ok(inner);
        }
        self.predicate(scope)
    }

    fn nested_unary(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("expressions nest deeper than {MAX_DEPTH} levels")));
        }
        let inner = self.unary(scope)?;
        self.depth -= 1;
        Ok(Expr::Not(Box::new(inner)))
    }

    fn predicate(&mut self, scope: Scope) -> Result<Expr, FilterError> {
        self.skip_ws();
        let start = self.pos;
        if self.at_end() {
            return Err(self.error("expected a condition"));
        }
        let word = self.take_word();
        if word.is_empty() {
            return Err(self.error(format!("unexpected character '{}'", self.peek().unwrap_or(' '))));
        }
        let lower = word.to_ascii_lowercase();
        if lower == "annotation" || lower.starts_with("annotation.") {
            // Re-read the key by the annotation rules.
            self.pos = start + "annotation".len();
            return self.annotation(scope, start);
        }
        let allowed = |ok: bool, p: &Self| {
            if ok { Ok(()) } else { Err(p.error_at(start, format!("'{word}' is not allowed here"))) }
        };
        let cause_scope = matches!(scope, Scope::CauseService | Scope::CauseEntity | Scope::CauseException);
        if let Some(kw) = bool_keyword(&lower) {
            let ok = match kw {
                BoolKw::First | BoolKw::Last | BoolKw::Remote => cause_scope,
                BoolKw::Inferred | BoolKw::Root => !matches!(scope, Scope::CauseEntity | Scope::CauseException),
                _ => !cause_scope,
            };
            allowed(ok, self)?;
            return self.bool_pred(kw);
        }
        if let Some(kw) = num_keyword(&lower) {
            let ok = match kw {
                NumKw::Index => cause_scope,
                NumKw::Coverage => scope == Scope::CauseEntity,
                _ => !cause_scope,
            };
            allowed(ok, self)?;
            let op = self.cmp_op()?;
            self.skip_ws();
            let at = self.pos;
            match self.literal()? {
                Literal::Num(n) => return Ok(Expr::Pred(Pred::Num(kw, op, n))),
                _ => return Err(self.error_at(at, format!("'{word}' compares with a number"))),
            }
        }
        if let Some(kw) = str_keyword(&lower) {
            let ok = match kw {
                StrKw::Name => true,
                StrKw::Type => scope != Scope::CauseEntity && scope != Scope::CauseException,
                StrKw::Message => !matches!(scope, Scope::CauseService | Scope::CauseEntity),
                _ => !cause_scope,
            };
            allowed(ok, self)?;
            return self.str_pred(kw, &word);
        }
        match lower.as_str() {
            "service" | "id" if scope == Scope::Trace => {
                let reference = if lower == "id" {
                    self.pos = start;
                    Some(self.service_ref()?)
                } else {
                    self.expect('(')?;
                    if self.eat(')') {
                        None
                    } else {
                        let r = self.service_ref()?;
                        self.expect(')')?;
                        Some(r)
                    }
                };
                let block = self.block(Scope::Node)?;
                Ok(Expr::Pred(Pred::Service(reference, block)))
            }
            "edge" if scope == Scope::Trace => {
                self.expect('(')?;
                let from = self.service_ref()?;
                self.expect(',')?;
                let to = self.service_ref()?;
                self.expect(')')?;
                let block = self.block(Scope::Edge)?;
                Ok(Expr::Pred(Pred::Edge(from, to, block)))
            }
            "group.name" | "group.arn" if scope == Scope::Trace => self.group(lower == "group.arn", start),
            "rootcause.json" if scope == Scope::Trace => {
                self.expect('=')?;
                self.expect('#')?;
                let json = self.json_value()?;
                if !json.is_array() {
                    return Err(self.error_at(start, "rootcause.json expects #[...]"));
                }
                Ok(Expr::Pred(Pred::RootCauseJson(json)))
            }
            _ if lower.starts_with("rootcause.") && scope == Scope::Trace => {
                let parts: Vec<&str> = lower.split('.').collect();
                let category = match parts.get(1) {
                    Some(&"fault") => Category::Fault,
                    Some(&"error") => Category::Error,
                    Some(&"responsetime") => Category::ResponseTime,
                    _ => return Err(self.error_at(start, format!("unknown root-cause keyword '{word}'"))),
                };
                let level = match parts.get(2) {
                    Some(&"service") => Level::Service,
                    Some(&"entity") => Level::Entity,
                    Some(&"exception") if category != Category::ResponseTime => Level::Exception,
                    _ => return Err(self.error_at(start, format!("unknown root-cause keyword '{word}'"))),
                };
                if parts.len() != 3 {
                    return Err(self.error_at(start, format!("unknown root-cause keyword '{word}'")));
                }
                let scope = match level {
                    Level::Service => Scope::CauseService,
                    Level::Entity => Scope::CauseEntity,
                    Level::Exception => Scope::CauseException,
                };
                let block = self.block(scope)?.ok_or_else(|| self.error(format!("'{word}' needs a {{...}} block")))?;
                Ok(Expr::Pred(Pred::RootCause(category, level, block)))
            }
            _ => Err(self.error_at(start, format!("unknown or misplaced keyword '{word}'"))),
        }
    }

    fn bool_pred(&mut self, kw: BoolKw) -> Result<Expr, FilterError> {
        self.skip_ws();
        let negate = match (self.peek(), self.peek_at(1)) {
            (Some('='), _) => {
                self.pos += 1;
                false
            }
            (Some('!'), Some('=')) => {
                self.pos += 2;
                true
            }
            _ => return Ok(Expr::Pred(Pred::Bool(kw, true))),
        };
        self.skip_ws();
        let at = self.pos;
        match self.literal()? {
            Literal::Bool(b) => Ok(Expr::Pred(Pred::Bool(kw, b != negate))),
            _ => Err(self.error_at(at, "a boolean keyword compares with true or false")),
        }
    }

    fn str_pred(&mut self, kw: StrKw, word: &str) -> Result<Expr, FilterError> {
        self.skip_ws();
        let at = self.pos;
        let Some(op) = self.str_op()? else {
            if self.cmp_op_ahead() {
                return Err(
                    self.error_at(at, format!("'{word}' is a string: use =, !=, CONTAINS, BEGINSWITH or ENDSWITH"))
                );
            }
            return Ok(Expr::Pred(Pred::StrSet(kw)));
        };
        self.skip_ws();
        let at = self.pos;
        match self.literal()? {
            Literal::Str(s) => {
                if op == StrOp::Contains && s.is_empty() {
                    return Ok(Expr::Pred(Pred::StrSet(kw)));
                }
                Ok(Expr::Pred(Pred::Str(kw, op, s)))
            }
            _ => Err(self.error_at(at, format!("'{word}' compares with a string"))),
        }
    }

    fn annotation(&mut self, _scope: Scope, start: usize) -> Result<Expr, FilterError> {
        let key = match self.peek() {
            Some('.') => {
                self.pos += 1;
                let mut n = 0;
                while let Some(c) = self.peek_at(n) {
                    let ok = if n == 0 {
                        c.is_ascii_alphanumeric() || c == '_'
                    } else {
                        c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | ':' | '-')
                    };
                    if !ok {
                        break;
                    }
                    n += 1;
                }
                let mut key: String = self.chars[self.pos..self.pos + n].iter().collect();
                while key.ends_with('.') {
                    key.pop();
                }
                self.pos += key.chars().count();
                if key.is_empty() {
                    return Err(self.error("expected an annotation key after 'annotation.'"));
                }
                key
            }
            Some('[') => {
                self.pos += 1;
                self.skip_ws();
                let key = if matches!(self.peek(), Some('"' | '\'')) {
                    let k = self.string()?;
                    self.skip_ws();
                    k
                } else {
                    let begin = self.pos;
                    while self.peek().is_some_and(|c| c != ']') {
                        self.pos += 1;
                    }
                    self.chars[begin..self.pos].iter().collect::<String>().trim().to_owned()
                };
                if self.peek() != Some(']') {
                    return Err(self.error("expected ']' after the annotation key"));
                }
                self.pos += 1;
                if key.is_empty() {
                    return Err(self.error_at(start, "empty annotation key"));
                }
                key
            }
            _ => return Err(self.error("expected 'annotation.<key>' or 'annotation[<key>]'")),
        };
        self.skip_ws();
        let op_at = self.pos;
        let op = self.any_op()?;
        let Some(op) = op else {
            return Ok(Expr::Pred(Pred::Annotation(key, None)));
        };
        self.skip_ws();
        let at = self.pos;
        let test = match (self.literal()?, op) {
            (Literal::Num(n), AnyOp::Cmp(op)) => AnnotationTest::Num(op, n),
            (Literal::Str(s), AnyOp::Cmp(CmpOp::Eq)) => AnnotationTest::Str(StrOp::Eq, s),
            (Literal::Str(s), AnyOp::Cmp(CmpOp::Ne)) => AnnotationTest::Str(StrOp::Ne, s),
            (Literal::Str(s), AnyOp::Str(op)) => AnnotationTest::Str(op, s),
            (Literal::Bool(b), AnyOp::Cmp(CmpOp::Eq)) => AnnotationTest::Bool(b, true),
            (Literal::Bool(b), AnyOp::Cmp(CmpOp::Ne)) => AnnotationTest::Bool(b, false),
            (Literal::Num(_), AnyOp::Str(_)) => {
                return Err(self.error_at(op_at, "string operators need a string value"));
            }
            _ => return Err(self.error_at(at, "this operator does not apply to that value")),
        };
        Ok(Expr::Pred(Pred::Annotation(key, Some(test))))
    }

    fn group(&mut self, by_arn: bool, start: usize) -> Result<Expr, FilterError> {
        self.expect('=')?;
        self.skip_ws();
        let name = match self.literal()? {
            Literal::Str(s) => s,
            _ => return Err(self.error_at(start, "group.name and group.arn compare with a string")),
        };
        let reference = if by_arn { GroupRef::Arn(&name) } else { GroupRef::Name(&name) };
        let Some((group, expression)) = (self.groups)(reference) else {
            return Err(self.error_at(start, format!("unknown group '{name}'")));
        };
        if self.stack.contains(&group) || self.stack.len() >= MAX_GROUP_DEPTH {
            return Err(self.error_at(start, format!("group '{group}' refers to itself or nests too deeply")));
        }
        let Some(expression) = expression else {
            return Ok(Expr::Group(None));
        };
        self.stack.push(group.clone());
        let nested = Filter::parse_nested(&expression, self.groups, self.stack);
        self.stack.pop();
        let nested = nested
            .map_err(|e| self.error_at(start, format!("group '{group}' has an invalid expression: {}", e.message)))?;
        Ok(Expr::Group(nested.expr.map(Box::new)))
    }

    fn block(&mut self, scope: Scope) -> Result<Option<Box<Expr>>, FilterError> {
        if !self.eat('{') {
            return Ok(None);
        }
        if self.eat('}') {
            return Ok(None);
        }
        let inner = self.expr(scope)?;
        self.expect('}')?;
        Ok(Some(Box::new(inner)))
    }

    fn service_ref(&mut self) -> Result<ServiceRef, FilterError> {
        self.skip_ws();
        if self.peek_word().eq_ignore_ascii_case("id") && {
            let save = self.pos;
            self.take_word();
            let open = self.eat('(');
            self.pos = save;
            open
        } {
            self.take_word();
            self.expect('(')?;
            let (mut name, mut node_type, mut account_id) = (None, None, None);
            loop {
                self.skip_ws();
                let at = self.pos;
                let key = self.take_word().to_ascii_lowercase();
                self.expect(':')?;
                self.skip_ws();
                let value = match self.literal()? {
                    Literal::Str(s) => s,
                    _ => return Err(self.error_at(at, "id() arguments are strings")),
                };
                match key.as_str() {
                    "name" => name = Some(value),
                    "type" => node_type = Some(value),
                    "account.id" => account_id = Some(value),
                    _ => return Err(self.error_at(at, "id() takes name:, type: and account.id:")),
                }
                if !self.eat(',') {
                    break;
                }
            }
            self.expect(')')?;
            return Ok(ServiceRef::Id { name, node_type, account_id });
        }
        let at = self.pos;
        match self.literal()? {
            Literal::Str(s) => Ok(ServiceRef::Name(s)),
            _ => Err(self.error_at(at, "expected a service name")),
        }
    }

    fn cmp_op_ahead(&self) -> bool {
        matches!(self.peek(), Some('<' | '>'))
    }

    fn cmp_op(&mut self) -> Result<CmpOp, FilterError> {
        self.skip_ws();
        let (op, len) = match (self.peek(), self.peek_at(1)) {
            (Some('!'), Some('=')) => (CmpOp::Ne, 2),
            (Some('<'), Some('=')) => (CmpOp::Le, 2),
            (Some('>'), Some('=')) => (CmpOp::Ge, 2),
            (Some('='), _) => (CmpOp::Eq, 1),
            (Some('<'), _) => (CmpOp::Lt, 1),
            (Some('>'), _) => (CmpOp::Gt, 1),
            _ => {
                let word = self.peek_word();
                let message = if str_op_word(&word).is_some() {
                    "numbers compare with =, !=, <, <=, >, >="
                } else {
                    "expected a comparison operator"
                };
                return Err(self.error(message));
            }
        };
        self.pos += len;
        Ok(op)
    }

    fn str_op(&mut self) -> Result<Option<StrOp>, FilterError> {
        self.skip_ws();
        match (self.peek(), self.peek_at(1)) {
            (Some('!'), Some('=')) => {
                self.pos += 2;
                Ok(Some(StrOp::Ne))
            }
            (Some('='), _) => {
                self.pos += 1;
                Ok(Some(StrOp::Eq))
            }
            _ => {
                let word = self.peek_word();
                match str_op_word(&word) {
                    Some(op) => {
                        self.pos += word.chars().count();
                        Ok(Some(op))
                    }
                    None => Ok(None),
                }
            }
        }
    }

    fn any_op(&mut self) -> Result<Option<AnyOp>, FilterError> {
        self.skip_ws();
        if matches!(self.peek(), Some('<' | '>' | '=')) || (self.peek() == Some('!') && self.peek_at(1) == Some('=')) {
            return Ok(Some(AnyOp::Cmp(self.cmp_op()?)));
        }
        let word = self.peek_word();
        Ok(str_op_word(&word).map(|op| {
            self.pos += word.chars().count();
            AnyOp::Str(op)
        }))
    }

    fn literal(&mut self) -> Result<Literal, FilterError> {
        self.skip_ws();
        match self.peek() {
            Some('"' | '\'') => Ok(Literal::Str(self.string()?)),
            Some(c) if c.is_ascii_digit() || c == '-' => {
                let begin = self.pos;
                if c == '-' {
                    self.pos += 1;
                }
                let digits = |p: &mut Self| {
                    let s = p.pos;
                    while p.peek().is_some_and(|c| c.is_ascii_digit()) {
                        p.pos += 1;
                    }
                    p.pos > s
                };
                if !digits(self) {
                    return Err(self.error_at(begin, "expected a number"));
                }
                if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                    digits(self);
                }
                if matches!(self.peek(), Some('e' | 'E')) {
                    let save = self.pos;
                    self.pos += 1;
                    if matches!(self.peek(), Some('+' | '-')) {
                        self.pos += 1;
                    }
                    if !digits(self) {
                        self.pos = save;
                    }
                }
                let text: String = self.chars[begin..self.pos].iter().collect();
                text.parse().map(Literal::Num).map_err(|_| self.error_at(begin, "expected a number"))
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let n = self.word_len(true);
                let word: String = self.chars[self.pos..self.pos + n].iter().collect();
                let lower = word.to_ascii_lowercase();
                if matches!(lower.as_str(), "and" | "or" | "not") {
                    return Err(self.error(format!("expected a value, found '{word}'")));
                }
                self.pos += n;
                Ok(match lower.as_str() {
                    "true" => Literal::Bool(true),
                    "false" => Literal::Bool(false),
                    _ => Literal::Str(word),
                })
            }
            _ => Err(self.error("expected a value")),
        }
    }

    fn string(&mut self) -> Result<String, FilterError> {
        let quote = self.peek().expect("called at a quote");
        let begin = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error_at(begin, "unterminated string")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') if quote == '"' => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        None => return Err(self.error_at(begin, "unterminated string")),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// A JSON value starting here; the JSON parser reports where it stopped.
    fn json_value(&mut self) -> Result<Value, FilterError> {
        self.skip_ws();
        let rest: String = self.chars[self.pos..].iter().collect();
        let mut stream = serde_json::Deserializer::from_str(&rest).into_iter::<Value>();
        match stream.next() {
            Some(Ok(value)) => {
                let used = rest[..stream.byte_offset()].chars().count();
                self.pos += used;
                Ok(value)
            }
            _ => Err(self.error("invalid JSON after '#'")),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum AnyOp {
    Cmp(CmpOp),
    Str(StrOp),
}

#[derive(Debug, Clone, PartialEq)]
enum Literal {
    Num(f64),
    Str(String),
    Bool(bool),
}

fn bool_keyword(word: &str) -> Option<BoolKw> {
    Some(match word {
        "ok" => BoolKw::Ok,
        "error" => BoolKw::Error,
        "throttle" => BoolKw::Throttle,
        "fault" => BoolKw::Fault,
        "partial" => BoolKw::Partial,
        "inferred" => BoolKw::Inferred,
        "root" => BoolKw::Root,
        "first" => BoolKw::First,
        "last" => BoolKw::Last,
        "remote" => BoolKw::Remote,
        _ => return None,
    })
}

fn num_keyword(word: &str) -> Option<NumKw> {
    Some(match word {
        "responsetime" => NumKw::ResponseTime,
        "duration" => NumKw::Duration,
        "http.status" => NumKw::HttpStatus,
        "index" => NumKw::Index,
        "coverage" => NumKw::Coverage,
        _ => return None,
    })
}

fn str_keyword(word: &str) -> Option<StrKw> {
    Some(match word {
        "http.url" => StrKw::HttpUrl,
        "http.method" => StrKw::HttpMethod,
        "http.useragent" => StrKw::HttpUserAgent,
        "http.clientip" => StrKw::HttpClientIp,
        "user" => StrKw::User,
        "name" => StrKw::Name,
        "type" => StrKw::Type,
        "message" => StrKw::Message,
        "availabilityzone" => StrKw::AvailabilityZone,
        "instance.id" => StrKw::InstanceId,
        "resource.arn" => StrKw::ResourceArn,
        _ => return None,
    })
}

fn str_op_word(word: &str) -> Option<StrOp> {
    match word.to_ascii_lowercase().as_str() {
        "contains" => Some(StrOp::Contains),
        "beginswith" => Some(StrOp::BeginsWith),
        "endswith" => Some(StrOp::EndsWith),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// Where an expression is evaluated.
enum Ctx<'t> {
    Trace,
    Node { node: usize, segment: usize },
    Edge(&'t Call),
    CauseService { cause: &'t RootCause, index: usize },
    CauseEntity { cause: &'t RootCause, index: usize },
    CauseException { cause: &'t RootCause, index: usize },
}

fn eval(expr: &Expr, trace: &Trace, ctx: &Ctx<'_>) -> bool {
    match expr {
        Expr::And(a, b) => eval(a, trace, ctx) && eval(b, trace, ctx),
        Expr::Or(a, b) => eval(a, trace, ctx) || eval(b, trace, ctx),
        Expr::Not(inner) => !eval(inner, trace, ctx),
        Expr::Group(inner) => inner.as_ref().is_none_or(|e| eval(e, trace, ctx)),
        Expr::Pred(pred) => eval_pred(pred, trace, ctx),
    }
}

fn cmp(op: CmpOp, a: f64, b: f64) -> bool {
    match op {
        CmpOp::Eq => a == b,
        CmpOp::Ne => a != b,
        CmpOp::Lt => a < b,
        CmpOp::Le => a <= b,
        CmpOp::Gt => a > b,
        CmpOp::Ge => a >= b,
    }
}

fn str_test(op: StrOp, value: &str, literal: &str) -> bool {
    match op {
        StrOp::Eq => value == literal,
        StrOp::Ne => value != literal,
        StrOp::Contains => value.contains(literal),
        StrOp::BeginsWith => value.starts_with(literal),
        StrOp::EndsWith => value.ends_with(literal),
    }
}

/// Multi-valued string semantics (§6.5 rule 3): existential, except `!=` which needs a value
/// and no equal value.
fn strs_test(op: StrOp, values: &[String], literal: &str) -> bool {
    match op {
        StrOp::Ne => !values.is_empty() && values.iter().all(|v| v != literal),
        _ => values.iter().any(|v| str_test(op, v, literal)),
    }
}

fn eval_pred(pred: &Pred, trace: &Trace, ctx: &Ctx<'_>) -> bool {
    match pred {
        Pred::Bool(kw, expect) => bool_value(*kw, trace, ctx) == Some(*expect),
        Pred::Num(kw, op, n) => num_value(*kw, trace, ctx).is_some_and(|v| cmp(*op, v, *n)),
        Pred::Str(kw, op, s) => strs_test(*op, &str_values(*kw, trace, ctx), s),
        Pred::StrSet(kw) => !str_values(*kw, trace, ctx).is_empty(),
        Pred::Annotation(key, test) => {
            let values = annotation_values(key, trace, ctx);
            match test {
                None => !values.is_empty(),
                Some(AnnotationTest::Num(op, n)) => {
                    let nums: Vec<f64> = values.iter().filter_map(|v| v.as_f64()).collect();
                    match op {
                        CmpOp::Ne => !nums.is_empty() && nums.iter().all(|v| v != n),
                        _ => nums.iter().any(|v| cmp(*op, *v, *n)),
                    }
                }
                Some(AnnotationTest::Str(op, s)) => {
                    let strs: Vec<String> = values.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect();
                    strs_test(*op, &strs, s)
                }
                Some(AnnotationTest::Bool(b, equal)) => {
                    let bools: Vec<bool> = values.iter().filter_map(|v| v.as_bool()).collect();
                    if *equal { bools.contains(b) } else { !bools.is_empty() && bools.iter().all(|v| v != b) }
                }
            }
        }
        Pred::Service(reference, block) => trace.nodes.iter().enumerate().any(|(n, node)| {
            reference.as_ref().is_none_or(|r| ref_matches(r, node))
                && match block {
                    None => true,
                    Some(block) => {
                        node.segments.iter().any(|&segment| eval(block, trace, &Ctx::Node { node: n, segment }))
                    }
                }
        }),
        Pred::Edge(from, to, block) => trace.calls.iter().any(|call| {
            call.caller.is_some_and(|c| ref_matches(from, &trace.nodes[c]))
                && ref_matches(to, &trace.nodes[call.callee])
                && block.as_ref().is_none_or(|b| eval(b, trace, &Ctx::Edge(call)))
        }),
        Pred::RootCause(category, level, block) => {
            let causes: Vec<&RootCause> = match category {
                Category::Fault => trace.root_causes.fault.iter().collect(),
                Category::Error => trace.root_causes.error.iter().collect(),
                Category::ResponseTime => trace.root_causes.response_time.iter().collect(),
            };
            causes.into_iter().any(|cause| {
                let count = match level {
                    Level::Service => cause.services.len(),
                    Level::Entity => cause.services.iter().map(|s| s.entities.len()).sum(),
                    Level::Exception => {
                        cause.services.iter().flat_map(|s| &s.entities).map(|e| e.exceptions.len()).sum()
                    }
                };
                (0..count).any(|index| {
                    let ctx = match level {
                        Level::Service => Ctx::CauseService { cause, index },
                        Level::Entity => Ctx::CauseEntity { cause, index },
                        Level::Exception => Ctx::CauseException { cause, index },
                    };
                    eval(block, trace, &ctx)
                })
            })
        }
        Pred::RootCauseJson(pattern) => {
            let causes = &trace.root_causes;
            let all: Vec<Value> = causes
                .fault
                .iter()
                .chain(&causes.error)
                .chain(causes.response_time.iter())
                .map(RootCause::to_api)
                .collect();
            let patterns = pattern.as_array().expect("checked at parse time");
            !patterns.is_empty() && patterns.iter().all(|p| all.iter().any(|c| json_contains(c, p)))
        }
    }
}

/// `rootcause.json` containment: present fields equal, arrays position by position with equal
/// length, absent fields are wildcards.
fn json_contains(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (Value::Object(v), Value::Object(p)) => {
            p.iter().all(|(k, pv)| v.get(k).is_some_and(|vv| json_contains(vv, pv)))
        }
        (Value::Array(v), Value::Array(p)) => v.len() == p.len() && v.iter().zip(p).all(|(a, b)| json_contains(a, b)),
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

fn ref_matches(reference: &ServiceRef, node: &Node) -> bool {
    ref_matches_parts(reference, &node.name, node.node_type.as_deref(), node.account_id.as_deref())
}

fn ref_matches_parts(reference: &ServiceRef, name: &str, node_type: Option<&str>, account: Option<&str>) -> bool {
    match reference {
        ServiceRef::Name(n) => n == name,
        ServiceRef::Id { name: n, node_type: t, account_id: a } => {
            n.as_ref().is_none_or(|n| n == name)
                && t.as_ref().is_none_or(|t| Some(t.as_str()) == node_type)
                && a.as_ref().is_none_or(|a| Some(a.as_str()) == account)
        }
    }
}

/// The entity whose own fields a node or edge context reads.
fn subject<'t>(trace: &'t Trace, ctx: &Ctx<'_>) -> Option<&'t Entity> {
    match ctx {
        Ctx::Trace => trace.root_entity(),
        Ctx::Node { segment, .. } => Some(&trace.entities[*segment]),
        Ctx::Edge(call) => Some(&trace.entities[call.record]),
        _ => None,
    }
}

fn flags_ok(e: &Entity) -> bool {
    !(e.error || e.fault || e.throttle)
}

/// The root cause services, flattened entities and exceptions, with their positions.
fn cause_entity(cause: &RootCause, index: usize) -> Option<(&CauseService, &super::rootcause::CauseEntity)> {
    cause.services.iter().flat_map(|s| s.entities.iter().map(move |e| (s, e))).nth(index)
}

fn cause_exception(cause: &RootCause, index: usize) -> Option<&super::rootcause::CauseException> {
    cause.services.iter().flat_map(|s| &s.entities).flat_map(|e| &e.exceptions).nth(index)
}

fn cause_len(cause: &RootCause, ctx: &Ctx<'_>) -> usize {
    match ctx {
        Ctx::CauseService { .. } => cause.services.len(),
        Ctx::CauseEntity { .. } => cause.services.iter().map(|s| s.entities.len()).sum(),
        _ => cause.services.iter().flat_map(|s| &s.entities).map(|e| e.exceptions.len()).sum(),
    }
}

fn bool_value(kw: BoolKw, trace: &Trace, ctx: &Ctx<'_>) -> Option<bool> {
    match ctx {
        Ctx::CauseService { cause, index }
        | Ctx::CauseEntity { cause, index }
        | Ctx::CauseException { cause, index } => {
            let (cause, index) = (*cause, *index);
            return match kw {
                BoolKw::First => Some(index == 0),
                BoolKw::Last => Some(index + 1 == cause_len(cause, ctx)),
                BoolKw::Root => Some(index == 0),
                BoolKw::Inferred => cause.services.get(index).map(|s| s.inferred),
                BoolKw::Remote => match ctx {
                    Ctx::CauseService { .. } => cause.services.get(index).map(CauseService::remote),
                    Ctx::CauseEntity { .. } => cause_entity(cause, index).map(|(_, e)| e.remote),
                    _ => cause_exception(cause, index).map(|x| x.remote),
                },
                _ => None,
            };
        }
        _ => {}
    }
    let e = subject(trace, ctx);
    match kw {
        BoolKw::Ok => Some(e.is_none_or(flags_ok)),
        BoolKw::Error => Some(e.is_some_and(|e| e.error)),
        BoolKw::Throttle => Some(e.is_some_and(|e| e.throttle)),
        BoolKw::Fault => Some(e.is_some_and(|e| e.fault)),
        BoolKw::Partial => Some(match ctx {
            Ctx::Trace => trace.partial,
            Ctx::Node { node, .. } => trace.nodes[*node].segments.iter().any(|&s| trace.entities[s].in_progress()),
            _ => e.is_some_and(Entity::in_progress),
        }),
        BoolKw::Inferred => Some(match ctx {
            Ctx::Trace => trace.entities.iter().any(|e| e.kind == EntityKind::Inferred),
            Ctx::Node { node, .. } => trace.nodes[*node].inferred,
            Ctx::Edge(call) => trace.nodes[call.callee].inferred,
            _ => false,
        }),
        BoolKw::Root => Some(match ctx {
            Ctx::Node { node, .. } => trace.nodes[*node].root,
            Ctx::Edge(call) => call.caller.is_some_and(|c| trace.nodes[c].root),
            _ => false,
        }),
        BoolKw::First | BoolKw::Last | BoolKw::Remote => None,
    }
}

fn num_value(kw: NumKw, trace: &Trace, ctx: &Ctx<'_>) -> Option<f64> {
    match (kw, ctx) {
        (
            NumKw::Index,
            Ctx::CauseService { index, .. } | Ctx::CauseEntity { index, .. } | Ctx::CauseException { index, .. },
        ) => Some(*index as f64),
        (NumKw::Coverage, Ctx::CauseEntity { cause, index }) => {
            cause_entity(cause, *index).and_then(|(_, e)| e.coverage)
        }
        (NumKw::Index | NumKw::Coverage, _) => None,
        (NumKw::ResponseTime, Ctx::Trace) => trace.response_time.map(round_ms),
        (NumKw::Duration, Ctx::Trace) => {
            let root_done = trace.root_entity().is_some_and(|r| !r.in_progress());
            root_done.then(|| round_ms(trace.duration))
        }
        (NumKw::ResponseTime | NumKw::Duration, _) => {
            subject(trace, ctx).and_then(|e| e.end.map(|end| round_ms((end - e.start).max(0.0))))
        }
        (NumKw::HttpStatus, _) => subject(trace, ctx).and_then(Entity::http_status),
    }
}

fn str_values(kw: StrKw, trace: &Trace, ctx: &Ctx<'_>) -> Vec<String> {
    let one = |v: Option<&str>| v.map(|s| vec![s.to_owned()]).unwrap_or_default();
    match ctx {
        Ctx::CauseService { cause, index } => {
            let service = cause.services.get(*index);
            return match kw {
                StrKw::Name => one(service.map(|s| s.name.as_str())),
                StrKw::Type => one(service.and_then(|s| s.node_type.as_deref())),
                _ => Vec::new(),
            };
        }
        Ctx::CauseEntity { cause, index } => {
            return match kw {
                StrKw::Name => one(cause_entity(cause, *index).map(|(_, e)| e.name.as_str())),
                _ => Vec::new(),
            };
        }
        Ctx::CauseException { cause, index } => {
            let exception = cause_exception(cause, *index);
            return match kw {
                StrKw::Name => one(exception.map(|x| x.name.as_str())),
                StrKw::Message => one(exception.map(|x| x.message.as_str())),
                _ => Vec::new(),
            };
        }
        _ => {}
    }
    let http_path: Option<&[&str]> = match kw {
        StrKw::HttpUrl => Some(&["http", "request", "url"]),
        StrKw::HttpMethod => Some(&["http", "request", "method"]),
        StrKw::HttpUserAgent => Some(&["http", "request", "user_agent"]),
        StrKw::HttpClientIp => Some(&["http", "request", "client_ip"]),
        _ => None,
    };
    if let Some(path) = http_path {
        return one(subject(trace, ctx).and_then(|e| e.str_at(path)));
    }
    // Entities whose own fields count: the whole trace, a node's segment (with its
    // subsegments for messages), or an edge's caller side.
    let entities: Vec<usize> = match ctx {
        Ctx::Trace => (0..trace.entities.len()).filter(|&i| trace.entities[i].kind != EntityKind::Inferred).collect(),
        Ctx::Node { segment, .. } => {
            let mut out = Vec::new();
            trace.collect_subtree(*segment, &mut out);
            out
        }
        Ctx::Edge(call) => call.caller_entity.into_iter().collect(),
        _ => Vec::new(),
    };
    let owner_of = |i: usize| trace.entities[i].owner.unwrap_or(i);
    let mut out: Vec<String> = Vec::new();
    let mut push = |v: &str| {
        if !out.iter().any(|o| o == v) {
            out.push(v.to_owned());
        }
    };
    match kw {
        StrKw::Name | StrKw::Type => {
            let nodes: Vec<usize> = match ctx {
                Ctx::Trace => (0..trace.nodes.len()).collect(),
                Ctx::Node { node, .. } => vec![*node],
                Ctx::Edge(call) => vec![call.callee],
                _ => Vec::new(),
            };
            for n in nodes {
                let node = &trace.nodes[n];
                match kw {
                    StrKw::Name => push(&node.name),
                    _ => {
                        if let Some(t) = &node.node_type {
                            push(t)
                        }
                    }
                }
            }
        }
        StrKw::Message => {
            let sources: Vec<usize> = match ctx {
                Ctx::Edge(call) => vec![call.record],
                _ => entities,
            };
            for i in sources {
                for x in trace.exceptions_of(i) {
                    if let Some(m) = x.get("message").and_then(Value::as_str) {
                        push(m);
                    }
                }
            }
        }
        StrKw::User | StrKw::AvailabilityZone | StrKw::InstanceId | StrKw::ResourceArn => {
            let paths: &[&[&str]] = match kw {
                StrKw::User => &[&["user"]],
                StrKw::AvailabilityZone => {
                    &[&["aws", "ec2", "availability_zone"], &["aws", "ecs", "availability_zone"]]
                }
                StrKw::InstanceId => &[&["aws", "ec2", "instance_id"]],
                _ => &[&["resource_arn"]],
            };
            // In node and edge contexts these are the segment's (the caller's) own fields.
            let sources: Vec<usize> = match ctx {
                Ctx::Trace => entities,
                Ctx::Node { segment, .. } => vec![*segment],
                _ => entities.into_iter().map(owner_of).collect(),
            };
            for i in sources {
                for path in paths {
                    if let Some(v) = trace.entities[i].str_at(path) {
                        push(v);
                    }
                }
            }
        }
        _ => {}
    }
    out
}

fn annotation_values<'t>(key: &str, trace: &'t Trace, ctx: &Ctx<'_>) -> Vec<&'t Value> {
    let indexed = trace.annotations(MAX_INDEXED_ANNOTATIONS);
    let allowed: Option<Vec<usize>> = match ctx {
        Ctx::Trace => None,
        Ctx::Node { segment, .. } => {
            let mut out = Vec::new();
            trace.collect_subtree(*segment, &mut out);
            Some(out)
        }
        Ctx::Edge(call) => Some(call.caller_entity.into_iter().collect()),
        _ => Some(Vec::new()),
    };
    let mut values: Vec<&Value> = indexed
        .into_iter()
        .filter(|a| a.key == key && allowed.as_ref().is_none_or(|set| set.contains(&a.entity)))
        .map(|a| a.value)
        .collect();
    // OTLP spans: every scalar attribute is filterable by its original key.
    for (i, entity) in trace.entities.iter().enumerate() {
        if allowed.as_ref().is_some_and(|set| !set.contains(&i)) {
            continue;
        }
        if let Some(value) = entity.value_at(&[super::otlp::OTEL_ATTRIBUTES, key]) {
            values.push(value);
        }
    }
    values
}
