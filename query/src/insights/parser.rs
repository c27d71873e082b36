//! Lexer and recursive-descent parser for the Logs Insights language (insights.md §3). The
//! lexer runs on demand because `/` is division in an expression but opens a regex after
//! `like`, `=~` and in `parse`.

use super::ast::*;
use super::error::QueryError;

/// Parses `query` into a syntax tree; semantic checks are the checker's.
pub fn parse(query: &str) -> Result<Query, QueryError> {
    let mut parser = Parser { src: query, pos: 0 };
    parser.query()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Str(String),
    Regex(String),
    Number(f64),
    Period(Period),
    Pipe,
    Comma,
    LParen,
    RParen,
    LBracket,
    RBracket,
    Colon,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Match,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Eof,
}

const RESERVED: &[&str] = &["and", "or", "not", "like", "in", "as", "by", "asc", "desc", "into"];

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == '@'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '.' | '$')
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Parser<'a> {
    // ---- lexing ----

    /// The offset of the next token: blanks and `#` comments skipped.
    fn skip_blanks(&self, mut pos: usize) -> usize {
        let bytes = self.src.as_bytes();
        while pos < bytes.len() {
            match bytes[pos] {
                b' ' | b'\t' | b'\n' | b'\r' => pos += 1,
                b'#' => {
                    while pos < bytes.len() && bytes[pos] != b'\n' {
                        pos += 1;
                    }
                }
                _ => break,
            }
        }
        pos
    }

    /// Lexes the token at the cursor; `regex` makes `/` open a regex literal.
    fn lex(&self, regex: bool) -> Result<(Tok, Span), QueryError> {
        let start = self.skip_blanks(self.pos);
        let rest = &self.src[start..];
        let Some(c) = rest.chars().next() else {
            return Ok((Tok::Eof, start..start));
        };
        let one = |tok: Tok| Ok((tok, start..start + 1));
        let two = |tok: Tok| Ok((tok, start..start + 2));
        match c {
            '|' => one(Tok::Pipe),
            ',' => one(Tok::Comma),
            '(' => one(Tok::LParen),
            ')' => one(Tok::RParen),
            '[' => one(Tok::LBracket),
            ']' => one(Tok::RBracket),
            ':' => one(Tok::Colon),
            '+' => one(Tok::Plus),
            '-' => one(Tok::Minus),
            '*' => one(Tok::Star),
            '%' => one(Tok::Percent),
            '^' => one(Tok::Caret),
            '=' if rest.starts_with("=~") => two(Tok::Match),
            '=' if rest.starts_with("==") => two(Tok::Eq),
            '=' => one(Tok::Eq),
            '!' if rest.starts_with("!=") => two(Tok::Ne),
            '<' if rest.starts_with("<=") => two(Tok::Le),
            '<' if rest.starts_with("<>") => two(Tok::Ne),
            '<' => one(Tok::Lt),
            '>' if rest.starts_with(">=") => two(Tok::Ge),
            '>' => one(Tok::Gt),
            '/' if regex => self.lex_regex(start),
            '/' => one(Tok::Slash),
            '"' | '\'' => self.lex_string(start, c),
            '`' => {
                let Some(end) = rest[1..].find('`') else {
                    return Err(self.error_at(start..self.src.len(), "Unterminated back-quoted name".into()));
                };
                Ok((Tok::Quoted(rest[1..1 + end].to_owned()), start..start + end + 2))
            }
            c if c.is_ascii_digit() || (c == '.' && rest[1..].starts_with(|d: char| d.is_ascii_digit())) => {
                self.lex_number(start)
            }
            c if is_ident_start(c) => {
                let len = rest.find(|c: char| !is_ident_continue(c)).unwrap_or(rest.len());
                Ok((Tok::Ident(rest[..len].to_owned()), start..start + len))
            }
            _ => Err(self.unexpected(start..start + c.len_utf8())),
        }
    }

    fn lex_string(&self, start: usize, quote: char) -> Result<(Tok, Span), QueryError> {
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, e @ ('\\' | '\'' | '"'))) => out.push(e),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                c if c == quote => return Ok((Tok::Str(out), start..start + 1 + i + 1)),
                c => out.push(c),
            }
        }
        Err(self.error_at(start..self.src.len(), "Unterminated string literal".into()))
    }

    fn lex_regex(&self, start: usize) -> Result<(Tok, Span), QueryError> {
        let mut out = String::new();
        let mut chars = self.src[start + 1..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, '/')) => out.push('/'),
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => break,
                },
                '/' => return Ok((Tok::Regex(out), start..start + 1 + i + 1)),
                c => out.push(c),
            }
        }
        Err(self.error_at(start..self.src.len(), "Unterminated regular expression".into()))
    }

    fn lex_number(&self, start: usize) -> Result<(Tok, Span), QueryError> {
        let bytes = self.src.as_bytes();
        let mut end = start;
        let digits = |mut i: usize| {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            i
        };
        end = digits(end);
        let integral = end;
        if end < bytes.len() && bytes[end] == b'.' {
            end = digits(end + 1);
        }
        if end < bytes.len() && matches!(bytes[end], b'e' | b'E') {
            let mut exp = end + 1;
            if exp < bytes.len() && matches!(bytes[exp], b'+' | b'-') {
                exp += 1;
            }
            if exp < bytes.len() && bytes[exp].is_ascii_digit() {
                end = digits(exp);
            }
        }
        // An integer directly followed by letters is a period (`5m`, `1h`).
        if end == integral && end < bytes.len() && bytes[end].is_ascii_alphabetic() {
            let unit_end = self.src[end..].find(|c: char| !c.is_ascii_alphabetic()).map_or(bytes.len(), |n| end + n);
            let unit = &self.src[end..unit_end];
            return match (PeriodUnit::parse(unit), self.src[start..end].parse::<i64>()) {
                (Some(unit), Ok(count)) => Ok((Tok::Period(Period { count, unit }), start..unit_end)),
                _ => Err(self.unexpected(start..unit_end)),
            };
        }
        if end < bytes.len() && is_ident_continue(bytes[end] as char) && bytes[end] != b'.' {
            let bad_end = self.src[end..].find(|c: char| !is_ident_continue(c)).map_or(bytes.len(), |n| end + n);
            return Err(self.unexpected(start..bad_end));
        }
        let text = &self.src[start..end];
        let value = text.parse::<f64>().map_err(|_| self.unexpected(start..end))?;
        Ok((Tok::Number(value), start..end))
    }

    fn peek(&self) -> Result<(Tok, Span), QueryError> {
        self.lex(false)
    }

    fn next(&mut self) -> Result<(Tok, Span), QueryError> {
        let (tok, span) = self.lex(false)?;
        self.pos = span.end;
        Ok((tok, span))
    }

    fn next_regex_ok(&mut self) -> Result<(Tok, Span), QueryError> {
        let (tok, span) = self.lex(true)?;
        self.pos = span.end;
        Ok((tok, span))
    }

    fn peek_keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Ok((Tok::Ident(w), _)) if w.eq_ignore_ascii_case(word))
    }

    fn eat_keyword(&mut self, word: &str) -> Result<bool, QueryError> {
        if self.peek_keyword(word) {
            self.next()?;
            return Ok(true);
        }
        Ok(false)
    }

    fn expect(&mut self, want: Tok) -> Result<Span, QueryError> {
        let (tok, span) = self.next()?;
        if tok == want { Ok(span) } else { Err(self.unexpected(span)) }
    }

    fn expect_keyword(&mut self, word: &str) -> Result<Span, QueryError> {
        let (tok, span) = self.next()?;
        match tok {
            Tok::Ident(w) if w.eq_ignore_ascii_case(word) => Ok(span),
            _ => Err(self.unexpected(span)),
        }
    }

    // ---- errors ----

    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = &self.src[..offset];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or_default().chars().count() + 1;
        (line, column)
    }

    fn error_at(&self, span: Span, message: String) -> QueryError {
        QueryError::malformed(self.src, span, message)
    }

    fn unexpected(&self, span: Span) -> QueryError {
        let (line, column) = self.line_col(span.start);
        let message = if span.start >= self.src.len() {
            format!("Unexpected end of query at line {line}, column {column}")
        } else {
            format!("Unexpected token '{}' at line {line}, column {column}", &self.src[span.clone()])
        };
        self.error_at(span, message)
    }

    // ---- grammar ----

    fn query(&mut self) -> Result<Query, QueryError> {
        let mut query = Query { source: None, commands: Vec::new() };
        if self.peek()?.0 == Tok::Eof {
            return Ok(query);
        }
        if self.peek_keyword("source") {
            query.source = Some(self.source()?);
            if self.peek()?.0 == Tok::Eof {
                return Ok(query);
            }
            self.expect(Tok::Pipe)?;
        }
        loop {
            query.commands.push(self.command()?);
            let (tok, span) = self.next()?;
            match tok {
                Tok::Eof => return Ok(query),
                Tok::Pipe => {}
                _ => return Err(self.unexpected(span)),
            }
        }
    }

    fn source(&mut self) -> Result<Source, QueryError> {
        self.next()?;
        if self.peek_keyword("logGroups") {
            self.next()?;
            self.expect(Tok::LParen)?;
            let mut prefixes = Vec::new();
            let mut class = None;
            while self.peek()?.0 != Tok::RParen {
                let (tok, span) = self.next()?;
                let Tok::Ident(key) = tok else { return Err(self.unexpected(span)) };
                self.expect(Tok::Colon)?;
                match key.to_ascii_lowercase().as_str() {
                    "nameprefix" => {
                        self.expect(Tok::LBracket)?;
                        loop {
                            let (tok, span) = self.next()?;
                            match tok {
                                Tok::Str(s) => prefixes.push(s),
                                Tok::RBracket if prefixes.is_empty() => break,
                                _ => return Err(self.unexpected(span)),
                            }
                            let (tok, span) = self.next()?;
                            match tok {
                                Tok::Comma => {}
                                Tok::RBracket => break,
                                _ => return Err(self.unexpected(span)),
                            }
                        }
                    }
                    "class" => match self.next()? {
                        (Tok::Str(s), _) => class = Some(s),
                        (_, span) => return Err(self.unexpected(span)),
                    },
                    "accountidentifiers" => {
                        self.expect(Tok::LBracket)?;
                        while !matches!(self.next()?.0, Tok::RBracket | Tok::Eof) {}
                    }
                    _ => return Err(self.unexpected(span)),
                }
                if self.peek()?.0 == Tok::Comma {
                    self.next()?;
                }
            }
            self.expect(Tok::RParen)?;
            return Ok(Source::Prefixes { prefixes, class });
        }
        let mut names = Vec::new();
        let (mut start_ms, mut end_ms) = (None, None);
        loop {
            match self.peek()? {
                (Tok::Str(s), _) => {
                    self.next()?;
                    names.push(s);
                }
                (Tok::Ident(word), _) if word.eq_ignore_ascii_case("start") || word.eq_ignore_ascii_case("end") => {
                    self.next()?;
                    self.expect(Tok::Eq)?;
                    let (tok, span) = self.next()?;
                    let Tok::Number(n) = tok else { return Err(self.unexpected(span)) };
                    if word.eq_ignore_ascii_case("start") {
                        start_ms = Some(n as i64);
                    } else {
                        end_ms = Some(n as i64);
                    }
                }
                (_, span) if names.is_empty() => return Err(self.unexpected(span)),
                _ => return Ok(Source::Groups { names, start_ms, end_ms }),
            }
        }
    }

    fn command(&mut self) -> Result<Spanned<Command>, QueryError> {
        let (tok, span) = self.next()?;
        let Tok::Ident(word) = tok else { return Err(self.unexpected(span)) };
        let start = span.start;
        let node = match word.to_ascii_lowercase().as_str() {
            "fields" => Command::Fields(self.named_exprs()?),
            "display" => Command::Display(self.named_exprs()?),
            "filter" => Command::Filter(self.expr()?),
            "filterindex" => Command::FilterIndex(self.expr()?),
            "stats" => {
                let items = self.named_exprs()?;
                let by = if self.eat_keyword("by")? { self.named_exprs()? } else { Vec::new() };
                Command::Stats { items, by }
            }
            "sort" => {
                let mut keys = Vec::new();
                loop {
                    let expr = self.expr()?;
                    let descending = if self.eat_keyword("desc")? {
                        true
                    } else {
                        self.eat_keyword("asc")?;
                        false
                    };
                    keys.push(SortKey { expr, descending });
                    if self.peek()?.0 != Tok::Comma {
                        break;
                    }
                    self.next()?;
                }
                Command::Sort(keys)
            }
            "limit" => {
                let (tok, span) = self.next()?;
                match tok {
                    Tok::Number(n) if n >= 1.0 && n.fract() == 0.0 => Command::Limit(n as u64),
                    Tok::Number(_) => {
                        return Err(self.error_at(span, "limit must be a positive integer".into()));
                    }
                    _ => return Err(self.unexpected(span)),
                }
            }
            "parse" => self.parse_command()?,
            "dedup" => {
                let mut fields = vec![self.field_ref()?];
                while self.peek()?.0 == Tok::Comma {
                    self.next()?;
                    fields.push(self.field_ref()?);
                }
                Command::Dedup(fields)
            }
            "unnest" => {
                let field = self.field_ref()?;
                self.expect_keyword("into")?;
                let into = self.ident()?;
                Command::Unnest { field, into }
            }
            "pattern" => Command::Pattern(self.expr()?),
            "diff" => match self.peek()? {
                (Tok::Ident(w), _) => {
                    self.next()?;
                    Command::Diff(Some(w))
                }
                _ => Command::Diff(None),
            },
            "unmask" => {
                if !matches!(self.peek()?.0, Tok::Pipe | Tok::Eof) {
                    self.expr()?;
                }
                Command::Unmask
            }
            "anomaly" | "lookup" | "join" | "addtotals" => {
                let (line, column) = self.line_col(start);
                return Err(self.error_at(
                    span,
                    format!("The {word} command is not supported by fluoro (line {line}, column {column})"),
                ));
            }
            _ => {
                let (line, column) = self.line_col(start);
                return Err(self.error_at(span, format!("Unknown command '{word}' at line {line}, column {column}")));
            }
        };
        Ok(Spanned { node, span: start..self.pos })
    }

    fn parse_command(&mut self) -> Result<Command, QueryError> {
        let source = match self.lex(true)?.0 {
            Tok::Str(_) | Tok::Regex(_) => {
                let at = self.skip_blanks(self.pos);
                Expr { kind: ExprKind::Field(FieldRef::simple("@message")), span: at..at }
            }
            _ => self.postfix()?,
        };
        let (tok, span) = self.next_regex_ok()?;
        let pattern = match tok {
            Tok::Str(glob) => {
                self.expect_keyword("as")?;
                let mut names = vec![self.ident()?];
                while self.peek()?.0 == Tok::Comma {
                    self.next()?;
                    names.push(self.ident()?);
                }
                let stars = glob.matches('*').count();
                if stars != names.len() {
                    return Err(self.error_at(
                        span,
                        format!(
                            "The parse pattern has {stars} wildcard(s) but {} field name(s) follow 'as'",
                            names.len()
                        ),
                    ));
                }
                ParsePattern::Glob { regex: glob_to_regex(&glob), glob, names }
            }
            Tok::Regex(regex) => {
                match regex::Regex::new(&regex) {
                    Err(error) => {
                        return Err(self.error_at(span, format!("Invalid regular expression: {error}")));
                    }
                    Ok(compiled) if compiled.capture_names().flatten().next().is_none() => {
                        return Err(self.error_at(span, "The parse regex must have at least one named group".into()));
                    }
                    Ok(_) => {}
                }
                ParsePattern::Regex(regex)
            }
            _ => return Err(self.unexpected(span)),
        };
        Ok(Command::Parse { source, pattern })
    }

    fn ident(&mut self) -> Result<String, QueryError> {
        let (tok, span) = self.next()?;
        match tok {
            Tok::Ident(name) if !RESERVED.contains(&name.to_ascii_lowercase().as_str()) => Ok(name),
            Tok::Quoted(name) => Ok(name),
            _ => Err(self.unexpected(span)),
        }
    }

    fn field_ref(&mut self) -> Result<FieldRef, QueryError> {
        let expr = self.postfix()?;
        match expr.kind {
            ExprKind::Field(field) => Ok(field),
            _ => Err(self.error_at(expr.span, "A field name is expected here".into())),
        }
    }

    fn named_exprs(&mut self) -> Result<Vec<NamedExpr>, QueryError> {
        let mut out = Vec::new();
        loop {
            let expr = self.expr()?;
            let text: String = self.src[expr.span.clone()].chars().filter(|c| !c.is_whitespace()).collect();
            let alias = if self.eat_keyword("as")? { Some(self.ident()?) } else { None };
            out.push(NamedExpr { expr, alias, text });
            if self.peek()?.0 != Tok::Comma {
                return Ok(out);
            }
            self.next()?;
        }
    }

    fn expr(&mut self) -> Result<Expr, QueryError> {
        self.or_expr()
    }

    fn binary(op: BinOp, left: Expr, right: Expr) -> Expr {
        let span = left.span.start..right.span.end;
        Expr { kind: ExprKind::Binary { op, left: Box::new(left), right: Box::new(right) }, span }
    }

    fn or_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.and_expr()?;
        while self.eat_keyword("or")? {
            let right = self.and_expr()?;
            left = Self::binary(BinOp::Or, left, right);
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.not_expr()?;
        while self.eat_keyword("and")? {
            let right = self.not_expr()?;
            left = Self::binary(BinOp::And, left, right);
        }
        Ok(left)
    }

    fn not_expr(&mut self) -> Result<Expr, QueryError> {
        if self.peek_keyword("not") {
            let (_, span) = self.next()?;
            let inner = self.not_expr()?;
            let span = span.start..inner.span.end;
            return Ok(Expr { kind: ExprKind::Not(Box::new(inner)), span });
        }
        self.cmp_expr()
    }

    fn cmp_expr(&mut self) -> Result<Expr, QueryError> {
        let left = self.add_expr()?;
        let (tok, _) = self.peek()?;
        let op = match tok {
            Tok::Eq => Some(BinOp::Eq),
            Tok::Ne => Some(BinOp::Ne),
            Tok::Lt => Some(BinOp::Lt),
            Tok::Le => Some(BinOp::Le),
            Tok::Gt => Some(BinOp::Gt),
            Tok::Ge => Some(BinOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.next()?;
            let right = self.add_expr()?;
            return Ok(Self::binary(op, left, right));
        }
        if tok == Tok::Match {
            self.next()?;
            let pattern = self.like_pattern(true)?;
            let span = left.span.start..pattern.span.end;
            return Ok(Expr {
                kind: ExprKind::Like { expr: Box::new(left), pattern: Box::new(pattern), negated: false },
                span,
            });
        }
        let saved = self.pos;
        let negated = self.eat_keyword("not")?;
        if self.eat_keyword("like")? {
            let pattern = self.like_pattern(false)?;
            let span = left.span.start..pattern.span.end;
            return Ok(Expr {
                kind: ExprKind::Like { expr: Box::new(left), pattern: Box::new(pattern), negated },
                span,
            });
        }
        if self.peek_keyword("in") {
            self.next()?;
            let list = self.primary()?;
            let span = left.span.start..list.span.end;
            let ExprKind::List(list) = list.kind else {
                return Err(self.error_at(list.span, "'in' expects a list such as [1, 2]".into()));
            };
            return Ok(Expr { kind: ExprKind::In { expr: Box::new(left), list, negated }, span });
        }
        if negated {
            self.pos = saved;
            let (_, span) = self.next()?;
            return Err(self.unexpected(span));
        }
        Ok(left)
    }

    fn like_pattern(&mut self, regex_only: bool) -> Result<Expr, QueryError> {
        let (tok, span) = self.next_regex_ok()?;
        let kind = match tok {
            Tok::Regex(re) => {
                if let Err(error) = regex::Regex::new(&re) {
                    return Err(self.error_at(span, format!("Invalid regular expression: {error}")));
                }
                ExprKind::Regex(re)
            }
            Tok::Str(s) if !regex_only => ExprKind::String(s),
            _ => return Err(self.unexpected(span)),
        };
        Ok(Expr { kind, span })
    }

    fn add_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.mul_expr()?;
        loop {
            let op = match self.peek()?.0 {
                Tok::Plus => BinOp::Add,
                Tok::Minus => BinOp::Sub,
                _ => return Ok(left),
            };
            self.next()?;
            let right = self.mul_expr()?;
            left = Self::binary(op, left, right);
        }
    }

    fn mul_expr(&mut self) -> Result<Expr, QueryError> {
        let mut left = self.pow_expr()?;
        loop {
            let op = match self.peek()?.0 {
                Tok::Star => BinOp::Mul,
                Tok::Slash => BinOp::Div,
                Tok::Percent => BinOp::Mod,
                _ => return Ok(left),
            };
            self.next()?;
            let right = self.pow_expr()?;
            left = Self::binary(op, left, right);
        }
    }

    fn pow_expr(&mut self) -> Result<Expr, QueryError> {
        let base = self.unary()?;
        if self.peek()?.0 == Tok::Caret {
            self.next()?;
            let exponent = self.pow_expr()?;
            return Ok(Self::binary(BinOp::Pow, base, exponent));
        }
        Ok(base)
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.peek()?.0 == Tok::Minus {
            let (_, span) = self.next()?;
            let inner = self.unary()?;
            let span = span.start..inner.span.end;
            return Ok(match inner.kind {
                ExprKind::Number { value, text } => {
                    Expr { kind: ExprKind::Number { value: -value, text: format!("-{text}") }, span }
                }
                kind => Expr { kind: ExprKind::Neg(Box::new(Expr { kind, span: inner.span })), span },
            });
        }
        self.postfix()
    }

    /// A primary followed by any `[n]` index suffixes on a field.
    fn postfix(&mut self) -> Result<Expr, QueryError> {
        let mut expr = self.primary()?;
        while let ExprKind::Field(field) = &mut expr.kind {
            // An index suffix must touch the name: `items[0]`, not `items [0]`.
            if !self.src[self.pos..].starts_with('[') {
                break;
            }
            self.next()?;
            let (tok, span) = self.next()?;
            let Tok::Number(n) = tok else { return Err(self.unexpected(span)) };
            if n < 0.0 || n.fract() != 0.0 {
                return Err(self.unexpected(span));
            }
            let mut end = self.expect(Tok::RBracket)?.end;
            let segment = (n as u64).to_string();
            field.name = format!("{}.{segment}", field.name);
            field.segments.push(segment);
            // `items[0].sku`: dotted members may follow an index.
            let rest = &self.src[end..];
            if let Some(member) = rest.strip_prefix('.') {
                let len = member.find(|c: char| !is_ident_continue(c)).unwrap_or(member.len());
                if len > 0 {
                    for segment in member[..len].split('.').filter(|s| !s.is_empty()) {
                        field.name = format!("{}.{segment}", field.name);
                        field.segments.push(segment.to_owned());
                    }
                    end += 1 + len;
                    self.pos = end;
                }
            }
            expr.span.end = end;
        }
        Ok(expr)
    }

    fn primary(&mut self) -> Result<Expr, QueryError> {
        let (tok, span) = self.next()?;
        let kind = match tok {
            Tok::Number(value) => ExprKind::Number { value, text: self.src[span.clone()].to_owned() },
            Tok::Str(s) => ExprKind::String(s),
            Tok::Period(p) => ExprKind::Period(p),
            Tok::LParen => {
                let inner = self.expr()?;
                let end = self.expect(Tok::RParen)?;
                return Ok(Expr { kind: inner.kind, span: span.start..end.end });
            }
            Tok::LBracket => {
                let mut items = Vec::new();
                if self.peek()?.0 != Tok::RBracket {
                    loop {
                        items.push(self.expr()?);
                        if self.peek()?.0 != Tok::Comma {
                            break;
                        }
                        self.next()?;
                    }
                }
                let end = self.expect(Tok::RBracket)?;
                return Ok(Expr { kind: ExprKind::List(items), span: span.start..end.end });
            }
            Tok::Quoted(name) => {
                let mut field = FieldRef::simple(&name);
                let mut end = span.end;
                // `` x.`odd.key` `` continues a dotted name.
                while self.src[end..].starts_with(".`") {
                    self.pos = end + 1;
                    let (Tok::Quoted(more), more_span) = self.next()? else { break };
                    field.name = format!("{}.{more}", field.name);
                    field.segments.push(more);
                    end = more_span.end;
                }
                return Ok(Expr { kind: ExprKind::Field(field), span: span.start..end });
            }
            Tok::Ident(name) => {
                if self.src[span.end..].starts_with('(') {
                    return self.call(name, span);
                }
                if RESERVED.contains(&name.to_ascii_lowercase().as_str()) {
                    return Err(self.unexpected(span));
                }
                let mut field = FieldRef {
                    name: name.trim_end_matches('.').to_owned(),
                    segments: name.split('.').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
                };
                let mut end = span.end;
                if name.ends_with('.') && self.src[end..].starts_with('`') {
                    let (Tok::Quoted(more), more_span) = self.next()? else {
                        unreachable!("a back-quote lexes as Quoted")
                    };
                    field.name = format!("{}.{more}", field.name);
                    field.segments.push(more);
                    end = more_span.end;
                } else if name.ends_with('.') {
                    return Err(self.unexpected(span));
                }
                return Ok(Expr { kind: ExprKind::Field(field), span: span.start..end });
            }
            _ => return Err(self.unexpected(span)),
        };
        Ok(Expr { kind, span })
    }

    fn call(&mut self, name: String, name_span: Span) -> Result<Expr, QueryError> {
        self.expect(Tok::LParen)?;
        let mut args = Vec::new();
        let mut star = false;
        match self.peek()?.0 {
            Tok::RParen => {}
            Tok::Star => {
                self.next()?;
                star = true;
            }
            _ => loop {
                args.push(self.expr()?);
                if self.peek()?.0 != Tok::Comma {
                    break;
                }
                self.next()?;
            },
        }
        let end = self.expect(Tok::RParen)?;
        Ok(Expr {
            kind: ExprKind::Call { name: name.to_ascii_lowercase(), args, star },
            span: name_span.start..end.end,
        })
    }
}

/// A glob (`*` captures) as a regex: literal parts escaped, each `*` lazy except a final one.
pub fn glob_to_regex(glob: &str) -> String {
    let parts: Vec<&str> = glob.split('*').collect();
    let mut out = String::from("(?s)");
    for (i, part) in parts.iter().enumerate() {
        out.push_str(&regex::escape(part));
        if i + 1 < parts.len() {
            // The last `*` is greedy only when it ends the glob.
            let last_and_final = i + 2 == parts.len() && parts[i + 1].is_empty();
            out.push_str(if last_and_final { "(.*)" } else { "(.*?)" });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(query: &str) -> QueryError {
        parse(query).expect_err(query)
    }

    fn location(query: &str) -> (usize, usize) {
        let e = error(query);
        (e.start_char, e.end_char)
    }

    #[test]
    fn unexpected_tokens_carry_line_column_and_offsets() {
        let e = error("filter latency >");
        assert_eq!(e.message, "Unexpected end of query at line 1, column 17");
        assert_eq!((e.start_char, e.end_char), (16, 16));
        let e = error("fields a,\n  b c");
        assert_eq!(e.message, "Unexpected token 'c' at line 2, column 5");
        assert_eq!((e.start_char, e.end_char), (14, 15));
        // Offsets count characters, not bytes.
        assert_eq!(location("fields \"é\" ) x"), (11, 12));
    }

    #[test]
    fn unknown_commands_are_located() {
        let e = error("fields @message | bogus x");
        assert_eq!(e.message, "Unknown command 'bogus' at line 1, column 19");
        assert_eq!((e.start_char, e.end_char), (18, 23));
        assert!(error("fields x | lookup t").message.contains("not supported"));
    }

    #[test]
    fn lexical_errors() {
        assert_eq!(error("filter x = \"abc").message, "Unterminated string literal");
        assert_eq!(error("filter x like /abc").message, "Unterminated regular expression");
        assert_eq!(location("fields `abc"), (7, 11));
        assert!(error("fields 5x").message.starts_with("Unexpected token '5x'"));
        assert!(error("filter x ! 3").message.starts_with("Unexpected token '!'"));
    }

    #[test]
    fn parse_command_errors() {
        let e = error("parse @message \"a * b *\" as one");
        assert!(e.message.contains("2 wildcard(s) but 1 field name(s)"), "{}", e.message);
        assert_eq!((e.start_char, e.end_char), (15, 24));
        assert!(error("parse @message /(x)/").message.contains("named group"));
        assert!(error("parse @message /(?<x>/").message.starts_with("Invalid regular expression"));
        assert!(error("limit 0").message.contains("positive integer"));
        assert!(error("limit 1.5").message.contains("positive integer"));
    }

    #[test]
    fn precedence_and_shapes() {
        let q = parse("filter a = 1 or b = 2 and not c like /x/ | stats count(*) as n by bin(5m)").unwrap();
        let Command::Filter(e) = &q.commands[0].node else { panic!() };
        let ExprKind::Binary { op: BinOp::Or, right, .. } = &e.kind else { panic!("or on top: {e:?}") };
        assert!(matches!(right.kind, ExprKind::Binary { op: BinOp::And, .. }));
        let Command::Stats { items, by } = &q.commands[1].node else { panic!() };
        assert_eq!(items[0].alias.as_deref(), Some("n"));
        assert_eq!(by[0].text, "bin(5m)");
        let q = parse("fields 2 ^ 3 ^ 2 as x, -4.5 as y, `odd name`, x.`a.b`, js.items[0].sku").unwrap();
        let Command::Fields(items) = &q.commands[0].node else { panic!() };
        let ExprKind::Binary { op: BinOp::Pow, right, .. } = &items[0].expr.kind else { panic!() };
        assert!(matches!(right.kind, ExprKind::Binary { op: BinOp::Pow, .. }), "right-associative");
        assert!(matches!(items[1].expr.kind, ExprKind::Number { value, .. } if value == -4.5));
        assert_eq!(items[2].name(), "odd name");
        assert!(matches!(&items[3].expr.kind, ExprKind::Field(f) if f.segments == ["x", "a.b"]));
        assert!(matches!(&items[4].expr.kind, ExprKind::Field(f) if f.name == "js.items.0.sku"));
    }

    #[test]
    fn keywords_and_commands_are_case_insensitive_with_comments() {
        let q =
            parse("FIELDS a # a comment | not a command\n| Filter a LIKE 'x' AND b IN [1, 2] | SORT a DESC | LIMIT 5")
                .unwrap();
        assert_eq!(q.commands.len(), 4);
        assert!(matches!(q.commands[3].node, Command::Limit(5)));
    }

    #[test]
    fn source_forms() {
        let q = parse("SOURCE logGroups(namePrefix: ['/aws/lambda/', '/app/'], class: 'STANDARD') | fields @message")
            .unwrap();
        assert_eq!(
            q.source,
            Some(Source::Prefixes {
                prefixes: vec!["/aws/lambda/".into(), "/app/".into()],
                class: Some("STANDARD".into())
            })
        );
        let q = parse("SOURCE \"/a\" \"/b\" START=1714564800000 END=1714565400999 | fields x").unwrap();
        assert_eq!(
            q.source,
            Some(Source::Groups {
                names: vec!["/a".into(), "/b".into()],
                start_ms: Some(1714564800000),
                end_ms: Some(1714565400999)
            })
        );
    }

    #[test]
    fn globs_become_regexes() {
        assert_eq!(glob_to_regex("[*] *"), "(?s)\\[(.*?)\\] (.*)");
        assert_eq!(glob_to_regex("a*b"), "(?s)a(.*?)b");
    }

    proptest::proptest! {
        #[test]
        fn never_panics(s in ".{0,120}") {
            if let Err(e) = parse(&s) {
                proptest::prop_assert!(e.start_char <= e.end_char && e.end_char <= s.chars().count());
            }
        }

        #[test]
        fn never_panics_on_query_like_text(
            s in "(fields|filter|stats|sort|parse|limit|dedup|unnest|\\||,|\\(|\\)|\\[|\\]|'|\"|/|`|=~|!=|<=|>=|[a-z@.]{1,4}|[0-9]{1,3}[a-z]{0,2}| |\n|#|\\\\|\\*|-|\\^|%)*"
        ) {
            let _ = parse(&s);
        }
    }
}
