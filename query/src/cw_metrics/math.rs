//! Metric math (spec metrics-alarms.md §2.7): the expression language of GetMetricData and
//! alarms, parsed into a tree and evaluated over sparse time series on the request's grid.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use fluoro_proto::metrics::SeriesKey;

/// Longest expression accepted (model limit).
pub const MAX_EXPRESSION_CHARS: usize = 2048;
const MAX_DEPTH: usize = 64;

/// A time series: sparse points (ms → value) on its period's grid.
#[derive(Debug, Clone, PartialEq)]
pub struct Ts {
    pub points: BTreeMap<i64, f64>,
    pub label: String,
    /// Seconds.
    pub period: i64,
    /// The metric behind the series, when it came from a MetricStat or SEARCH.
    pub metric: Option<(Arc<SeriesKey>, String)>,
}

impl Ts {
    fn derived(&self, points: BTreeMap<i64, f64>) -> Ts {
        Ts { points, label: self.label.clone(), period: self.period, metric: self.metric.clone() }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MValue {
    /// `None`: an aggregate of an empty series ("undefined": arithmetic with it has no points).
    Scalar(Option<f64>),
    Series(Ts),
    Array(Vec<Ts>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Number(f64),
    Text(String),
    Id(String),
    Keyword(String),
    Neg(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    Array(Vec<Expr>),
    /// A function call; `index` numbers the calls of one expression in source order.
    Call {
        name: String,
        args: Vec<Expr>,
        index: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    And,
    Or,
}

const KEYWORDS: [&str; 8] = ["REPEAT", "LINEAR", "AVG", "MIN", "MAX", "SUM", "ASC", "DESC"];
pub const UNSUPPORTED: [&str; 5] = ["SERVICE_QUOTA", "INSIGHT_RULE_METRIC", "DB_PERF_INSIGHTS", "LAMBDA", "SELECT"];
pub const ANOMALY_DETECTION_BAND: &str = "ANOMALY_DETECTION_BAND";
/// Days of history the anomaly model reads (spec §4.1).
pub const BAND_HISTORY_DAYS: i64 = 14;

// ---------------------------------------------------------------------------------------------
// Lexer and parser

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Text(String),
    Ident(String),
    Op(&'static str),
}

fn token_text(token: &Token) -> String {
    match token {
        Token::Number(n) => n.to_string(),
        Token::Text(s) => format!("\"{s}\""),
        Token::Ident(s) => s.clone(),
        Token::Op(o) => (*o).to_owned(),
    }
}

fn lex(text: &str) -> Result<Vec<(Token, usize)>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit)) {
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            if i < chars.len() && matches!(chars[i], 'e' | 'E') {
                let mut j = i + 1;
                if j < chars.len() && matches!(chars[j], '+' | '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let literal: String = chars[start..i].iter().collect();
            let value = literal.parse::<f64>().map_err(|_| unexpected(&literal, start))?;
            out.push((Token::Number(value), start));
            continue;
        }
        if c == '"' || c == '\'' {
            let mut value = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("Unterminated string at position {}", start + 1)),
                    Some('\\') if chars.get(i + 1).is_some() => {
                        value.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(q) if *q == c => {
                        i += 1;
                        break;
                    }
                    Some(other) => {
                        value.push(*other);
                        i += 1;
                    }
                }
            }
            out.push((Token::Text(value), start));
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push((Token::Ident(chars[start..i].iter().collect()), start));
            continue;
        }
        let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
        let op = match two.as_str() {
            "==" => Some("=="),
            "!=" => Some("!="),
            "<=" => Some("<="),
            ">=" => Some(">="),
            "&&" => Some("&&"),
            "||" => Some("||"),
            _ => None,
        };
        if let Some(op) = op {
            out.push((Token::Op(op), start));
            i += 2;
            continue;
        }
        let op = match c {
            '+' => "+",
            '-' => "-",
            '*' => "*",
            '/' => "/",
            '^' => "^",
            '<' => "<",
            '>' => ">",
            '(' => "(",
            ')' => ")",
            '[' => "[",
            ']' => "]",
            ',' => ",",
            _ => return Err(unexpected(&c.to_string(), start)),
        };
        out.push((Token::Op(op), start));
        i += 1;
    }
    Ok(out)
}

fn unexpected(token: &str, at: usize) -> String {
    format!("Unexpected token '{token}' at position {}", at + 1)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    at: usize,
    end: usize,
    calls: usize,
    depth: usize,
}

/// Parses an expression; the error is the detail of `Error in expression <Id>: <detail>`.
pub fn parse(text: &str) -> Result<Expr, String> {
    if text.chars().count() > MAX_EXPRESSION_CHARS {
        return Err(format!("The expression must not be longer than {MAX_EXPRESSION_CHARS} characters"));
    }
    if text.trim_start().get(..6).is_some_and(|s| s.eq_ignore_ascii_case("SELECT")) {
        return Err("SELECT is not supported by fluoro".to_owned());
    }
    let tokens = lex(text)?;
    let mut parser = Parser { tokens, at: 0, end: text.chars().count(), calls: 0, depth: 0 };
    let expr = parser.or()?;
    if let Some((token, at)) = parser.tokens.get(parser.at) {
        return Err(unexpected(&token_text(token), *at));
    }
    Ok(expr)
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at).map(|(t, _)| t)
    }

    fn peek_op(&self, op: &str) -> bool {
        matches!(self.peek(), Some(Token::Op(o)) if *o == op)
    }

    fn peek_word(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Ident(w)) if w == word)
    }

    fn error_here(&self) -> String {
        match self.tokens.get(self.at) {
            Some((token, at)) => unexpected(&token_text(token), *at),
            None => format!("Unexpected end of expression at position {}", self.end + 1),
        }
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.peek_op(op) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error_here())
        }
    }

    fn nest(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH { Err("The expression nests too deeply".to_owned()) } else { Ok(()) }
    }

    fn or(&mut self) -> Result<Expr, String> {
        self.nest()?;
        let mut left = self.and()?;
        while self.peek_op("||") || self.peek_word("OR") {
            self.at += 1;
            left = Expr::Binary(BinOp::Or, Box::new(left), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.cmp()?;
        while self.peek_op("&&") || self.peek_word("AND") {
            self.at += 1;
            left = Expr::Binary(BinOp::And, Box::new(left), Box::new(self.cmp()?));
        }
        Ok(left)
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let left = self.add()?;
        let op = match self.peek() {
            Some(Token::Op("==")) => BinOp::Eq,
            Some(Token::Op("!=")) => BinOp::Ne,
            Some(Token::Op("<")) => BinOp::Lt,
            Some(Token::Op("<=")) => BinOp::Le,
            Some(Token::Op(">")) => BinOp::Gt,
            Some(Token::Op(">=")) => BinOp::Ge,
            _ => return Ok(left),
        };
        self.at += 1;
        Ok(Expr::Binary(op, Box::new(left), Box::new(self.add()?)))
    }

    fn add(&mut self) -> Result<Expr, String> {
        let mut left = self.mul()?;
        loop {
            let op = match self.peek() {
                Some(Token::Op("+")) => BinOp::Add,
                Some(Token::Op("-")) => BinOp::Sub,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.mul()?));
        }
    }

    fn mul(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek() {
                Some(Token::Op("*")) => BinOp::Mul,
                Some(Token::Op("/")) => BinOp::Div,
                _ => return Ok(left),
            };
            self.at += 1;
            left = Expr::Binary(op, Box::new(left), Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek_op("-") {
            self.at += 1;
            self.nest()?;
            let inner = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Neg(Box::new(inner)));
        }
        self.pow()
    }

    fn pow(&mut self) -> Result<Expr, String> {
        let base = self.primary()?;
        if self.peek_op("^") {
            self.at += 1;
            self.nest()?;
            let exponent = self.unary()?;
            self.depth -= 1;
            return Ok(Expr::Binary(BinOp::Pow, Box::new(base), Box::new(exponent)));
        }
        Ok(base)
    }

    fn list(&mut self, close: &str) -> Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        if self.peek_op(close) {
            self.at += 1;
            return Ok(items);
        }
        loop {
            items.push(self.or()?);
            if self.peek_op(",") {
                self.at += 1;
                continue;
            }
            self.expect(close)?;
            return Ok(items);
        }
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some((token, _)) = self.tokens.get(self.at).cloned() else {
            return Err(self.error_here());
        };
        match token {
            Token::Number(n) => {
                self.at += 1;
                Ok(Expr::Number(n))
            }
            Token::Text(s) => {
                self.at += 1;
                Ok(Expr::Text(s))
            }
            Token::Op("(") => {
                self.at += 1;
                let inner = self.or()?;
                self.expect(")")?;
                Ok(inner)
            }
            Token::Op("[") => {
                self.at += 1;
                self.nest()?;
                let items = self.list("]")?;
                self.depth -= 1;
                Ok(Expr::Array(items))
            }
            Token::Ident(word) => {
                self.at += 1;
                if self.peek_op("(") && word.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
                    self.at += 1;
                    let index = self.calls;
                    self.calls += 1;
                    self.nest()?;
                    let args = self.list(")")?;
                    self.depth -= 1;
                    return Ok(Expr::Call { name: word, args, index });
                }
                if KEYWORDS.contains(&word.as_str()) {
                    return Ok(Expr::Keyword(word));
                }
                if word.starts_with(|c: char| c.is_ascii_lowercase()) {
                    return Ok(Expr::Id(word));
                }
                self.at -= 1;
                Err(self.error_here())
            }
            Token::Op(_) => Err(self.error_here()),
        }
    }
}

impl Expr {
    /// Ids the expression refers to by name.
    pub fn ids(&self, out: &mut Vec<String>) {
        match self {
            Expr::Id(id) => out.push(id.clone()),
            Expr::Neg(e) => e.ids(out),
            Expr::Binary(_, a, b) => {
                a.ids(out);
                b.ids(out);
            }
            Expr::Array(items) | Expr::Call { args: items, .. } => items.iter().for_each(|e| e.ids(out)),
            _ => {}
        }
    }

    /// Every call of the expression: (index, name, args).
    pub fn calls<'a>(&'a self, out: &mut Vec<(usize, &'a str, &'a [Expr])>) {
        match self {
            Expr::Call { name, args, index } => {
                out.push((*index, name, args));
                args.iter().for_each(|e| e.calls(out));
            }
            Expr::Neg(e) => e.calls(out),
            Expr::Binary(_, a, b) => {
                a.calls(out);
                b.calls(out);
            }
            Expr::Array(items) => items.iter().for_each(|e| e.calls(out)),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Evaluation

/// What an expression can see: the values of the other queries, the request's MetricStat ids
/// in order, resolved SEARCH calls, and the grid.
/// fluoro's anomaly model (spec §4.1): at each time of `grid`, the values at the same time of
/// day on each of the previous 14 days; expected = their median, spread = 1.4826 × their median
/// absolute deviation, floored at 1 % of |expected| and at 1e-9; (upper, lower) = expected ±
/// `width` × spread. Fewer than 3 such values: no band at that time.
pub fn anomaly_band(history: &Ts, grid: &[i64], width: f64) -> (BTreeMap<i64, f64>, BTreeMap<i64, f64>) {
    const DAY_MS: i64 = 86_400_000;
    let median = |values: &mut Vec<f64>| {
        values.sort_by(f64::total_cmp);
        let n = values.len();
        if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 }
    };
    let (mut upper, mut lower) = (BTreeMap::new(), BTreeMap::new());
    for &t in grid {
        let mut values: Vec<f64> =
            (1..=BAND_HISTORY_DAYS).filter_map(|d| history.points.get(&(t - d * DAY_MS)).copied()).collect();
        if values.len() < 3 {
            continue;
        }
        let expected = median(&mut values);
        let mut deviations: Vec<f64> = values.iter().map(|v| (v - expected).abs()).collect();
        let spread = (1.4826 * median(&mut deviations)).max(expected.abs() * 0.01).max(1e-9);
        upper.insert(t, expected + width * spread);
        lower.insert(t, expected - width * spread);
    }
    (upper, lower)
}

pub struct Env<'a> {
    pub values: &'a HashMap<String, MValue>,
    /// MetricStat query ids in request order (for `METRICS()`).
    pub metric_ids: &'a [String],
    /// SEARCH results by call index.
    pub searches: &'a HashMap<usize, Vec<Ts>>,
    pub start_ms: i64,
    pub end_ms: i64,
    pub now_ms: i64,
    /// The request's common period (seconds) for `TIME_SERIES`.
    pub default_period: i64,
    /// MetricStat series over the 14 days before the range too, for ANOMALY_DETECTION_BAND.
    pub histories: &'a HashMap<String, Ts>,
}

impl Env<'_> {
    /// The grid points of `period` within [StartTime, EndTime).
    fn grid(&self, period: i64) -> Vec<i64> {
        let step = period.max(1) * 1000;
        let mut t = fluoro_proto::metrics::grid_start(self.start_ms, period, self.now_ms);
        let mut out = Vec::new();
        while t < self.end_ms && out.len() < 1_000_000 {
            out.push(t);
            t += step;
        }
        out
    }
}

fn type_error(name: &str) -> String {
    format!("Invalid argument types for {name}")
}

const PERIOD_MISMATCH: &str = "all time series must have the same period";

pub fn eval(expr: &Expr, env: &Env<'_>) -> Result<MValue, String> {
    Ok(match expr {
        Expr::Number(n) => MValue::Scalar(Some(*n)),
        Expr::Text(_) | Expr::Keyword(_) => return Err(type_error("expression")),
        Expr::Id(id) => env.values.get(id).cloned().ok_or_else(|| format!("Unrecognized metric id {id}"))?,
        Expr::Neg(inner) => map_values(eval(inner, env)?, |v| Some(-v)),
        Expr::Binary(op, a, b) => binary(*op, eval(a, env)?, eval(b, env)?)?,
        Expr::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match eval(item, env)? {
                    MValue::Series(ts) => out.push(ts),
                    MValue::Array(series) => out.extend(series),
                    MValue::Scalar(_) => return Err(type_error("[]")),
                }
            }
            MValue::Array(out)
        }
        Expr::Call { name, args, index } => call(name, args, *index, env)?,
    })
}

fn apply(op: BinOp, a: f64, b: f64) -> Option<f64> {
    let truth = |x: bool| if x { 1.0 } else { 0.0 };
    let v = match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div => a / b,
        BinOp::Pow => a.powf(b),
        BinOp::Eq => truth(a == b),
        BinOp::Ne => truth(a != b),
        BinOp::Lt => truth(a < b),
        BinOp::Le => truth(a <= b),
        BinOp::Gt => truth(a > b),
        BinOp::Ge => truth(a >= b),
        BinOp::And => truth(a != 0.0 && b != 0.0),
        BinOp::Or => truth(a != 0.0 || b != 0.0),
    };
    v.is_finite().then_some(v)
}

fn series_scalar(op: BinOp, ts: &Ts, s: Option<f64>, scalar_left: bool) -> Ts {
    let Some(s) = s else { return ts.derived(BTreeMap::new()) };
    let points = ts
        .points
        .iter()
        .filter_map(|(t, v)| if scalar_left { apply(op, s, *v) } else { apply(op, *v, s) }.map(|r| (*t, r)))
        .collect();
    ts.derived(points)
}

fn series_series(op: BinOp, a: &Ts, b: &Ts) -> Result<Ts, String> {
    if a.period != b.period {
        return Err(PERIOD_MISMATCH.to_owned());
    }
    let mut points = BTreeMap::new();
    for t in a.points.keys().chain(b.points.keys()) {
        if points.contains_key(t) {
            continue;
        }
        let x = a.points.get(t).copied().unwrap_or(0.0);
        let y = b.points.get(t).copied().unwrap_or(0.0);
        if let Some(r) = apply(op, x, y) {
            points.insert(*t, r);
        }
    }
    Ok(a.derived(points))
}

fn binary(op: BinOp, a: MValue, b: MValue) -> Result<MValue, String> {
    use MValue::*;
    Ok(match (a, b) {
        (Scalar(x), Scalar(y)) => Scalar(x.zip(y).and_then(|(x, y)| apply(op, x, y))),
        (Series(ts), Scalar(s)) => Series(series_scalar(op, &ts, s, false)),
        (Scalar(s), Series(ts)) => Series(series_scalar(op, &ts, s, true)),
        (Series(a), Series(b)) => Series(series_series(op, &a, &b)?),
        (Array(items), Scalar(s)) => Array(items.iter().map(|ts| series_scalar(op, ts, s, false)).collect()),
        (Scalar(s), Array(items)) => Array(items.iter().map(|ts| series_scalar(op, ts, s, true)).collect()),
        (Array(items), Series(b)) => Array(items.iter().map(|ts| series_series(op, ts, &b)).collect::<Result<_, _>>()?),
        (Series(a), Array(items)) => Array(
            items
                .iter()
                .map(|ts| {
                    series_series(op, &a, ts).map(|mut r| {
                        r.label = ts.label.clone();
                        r.metric = ts.metric.clone();
                        r
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        (Array(_), Array(_)) => return Err("Arrays of time series cannot be combined with each other".to_owned()),
    })
}

fn map_values(value: MValue, f: impl Fn(f64) -> Option<f64>) -> MValue {
    let map_ts = |ts: &Ts| {
        ts.derived(ts.points.iter().filter_map(|(t, v)| f(*v).filter(|r| r.is_finite()).map(|r| (*t, r))).collect())
    };
    match value {
        MValue::Scalar(s) => MValue::Scalar(s.and_then(&f).filter(|r| r.is_finite())),
        MValue::Series(ts) => MValue::Series(map_ts(&ts)),
        MValue::Array(items) => MValue::Array(items.iter().map(map_ts).collect()),
    }
}

/// A per-series transformation applied to a TS or every element of a TS[].
fn map_series(name: &str, value: MValue, f: impl Fn(&Ts) -> Ts) -> Result<MValue, String> {
    match value {
        MValue::Series(ts) => Ok(MValue::Series(f(&ts))),
        MValue::Array(items) => Ok(MValue::Array(items.iter().map(f).collect())),
        MValue::Scalar(_) => Err(type_error(name)),
    }
}

fn aggregate(name: &str, values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let n = values.len() as f64;
    let sum: f64 = values.iter().sum();
    Some(match name {
        "AVG" => sum / n,
        "SUM" => sum,
        "MIN" => values.iter().copied().fold(f64::INFINITY, f64::min),
        "MAX" => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        "STDDEV" => {
            let mean = sum / n;
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt()
        }
        _ => return None,
    })
}

fn common_period(items: &[Ts]) -> Result<i64, String> {
    let period = items.first().map_or(60, |ts| ts.period);
    if items.iter().any(|ts| ts.period != period) {
        return Err(PERIOD_MISMATCH.to_owned());
    }
    Ok(period)
}

fn successive(ts: &Ts, f: impl Fn((i64, f64), (i64, f64)) -> Option<f64>) -> Ts {
    let mut points = BTreeMap::new();
    let mut previous: Option<(i64, f64)> = None;
    for (t, v) in &ts.points {
        if let Some(p) = previous
            && let Some(r) = f(p, (*t, *v)).filter(|r| r.is_finite())
        {
            points.insert(*t, r);
        }
        previous = Some((*t, *v));
    }
    ts.derived(points)
}

fn keyword(arg: &Expr) -> Option<&str> {
    match arg {
        Expr::Keyword(k) => Some(k),
        _ => None,
    }
}

fn call(name: &str, args: &[Expr], index: usize, env: &Env<'_>) -> Result<MValue, String> {
    if UNSUPPORTED.contains(&name) {
        return Err(format!("{name} is not supported by fluoro"));
    }
    let arity = |min: usize, max: usize| {
        if args.len() < min || args.len() > max { Err(type_error(name)) } else { Ok(()) }
    };
    let arg = |i: usize| eval(&args[i], env);
    Ok(match name {
        "ABS" | "CEIL" | "FLOOR" | "LOG" | "LOG10" => {
            arity(1, 1)?;
            let f: fn(f64) -> f64 = match name {
                "ABS" => f64::abs,
                "CEIL" => f64::ceil,
                "FLOOR" => f64::floor,
                "LOG" => f64::ln,
                _ => f64::log10,
            };
            map_values(arg(0)?, |v| Some(f(v)))
        }
        "AVG" | "SUM" | "MIN" | "MAX" | "STDDEV" => {
            arity(1, 1)?;
            match arg(0)? {
                MValue::Series(ts) => MValue::Scalar(aggregate(name, &ts.points.values().copied().collect::<Vec<_>>())),
                MValue::Array(items) => {
                    let period = common_period(&items)?;
                    let mut per_time: BTreeMap<i64, Vec<f64>> = BTreeMap::new();
                    for ts in &items {
                        for (t, v) in &ts.points {
                            per_time.entry(*t).or_default().push(*v);
                        }
                    }
                    let n = items.len() as f64;
                    let points = per_time
                        .into_iter()
                        .filter_map(|(t, values)| {
                            let value = match name {
                                // Missing counts as 0: AVG divides by the number of series.
                                "AVG" => Some(values.iter().sum::<f64>() / n),
                                "SUM" => Some(values.iter().sum()),
                                _ => aggregate(name, &values),
                            };
                            value.map(|v| (t, v))
                        })
                        .collect();
                    MValue::Series(Ts { points, label: String::new(), period, metric: None })
                }
                MValue::Scalar(_) => return Err(type_error(name)),
            }
        }
        "DATAPOINT_COUNT" => {
            arity(1, 1)?;
            match arg(0)? {
                MValue::Series(ts) => MValue::Scalar(Some(ts.points.len() as f64)),
                MValue::Array(items) => {
                    let period = common_period(&items)?;
                    let mut points: BTreeMap<i64, f64> = BTreeMap::new();
                    for ts in &items {
                        for t in ts.points.keys() {
                            *points.entry(*t).or_default() += 1.0;
                        }
                    }
                    MValue::Series(Ts { points, label: String::new(), period, metric: None })
                }
                MValue::Scalar(_) => return Err(type_error(name)),
            }
        }
        "DIFF" => {
            arity(1, 1)?;
            map_series(name, arg(0)?, |ts| successive(ts, |(_, a), (_, b)| Some(b - a)))?
        }
        "DIFF_TIME" => {
            arity(1, 1)?;
            map_series(name, arg(0)?, |ts| successive(ts, |(s, _), (t, _)| Some((t - s) as f64 / 1000.0)))?
        }
        "RATE" => {
            arity(1, 1)?;
            map_series(name, arg(0)?, |ts| successive(ts, |(s, a), (t, b)| Some((b - a) / ((t - s) as f64 / 1000.0))))?
        }
        "RUNNING_SUM" => {
            arity(1, 1)?;
            map_series(name, arg(0)?, |ts| {
                let mut total = 0.0;
                ts.derived(
                    ts.points
                        .iter()
                        .map(|(t, v)| {
                            total += v;
                            (*t, total)
                        })
                        .collect(),
                )
            })?
        }
        "FILL" => {
            arity(2, 2)?;
            let target = arg(0)?;
            let how = match keyword(&args[1]) {
                Some("REPEAT") => Fill::Repeat,
                Some("LINEAR") => Fill::Linear,
                Some(_) => return Err(type_error(name)),
                None => match arg(1)? {
                    MValue::Scalar(Some(v)) => Fill::Constant(v),
                    MValue::Scalar(None) => Fill::Nothing,
                    MValue::Series(ts) => Fill::Series(ts),
                    MValue::Array(_) => return Err(type_error(name)),
                },
            };
            map_series(name, target, |ts| fill(ts, &how, env))?
        }
        "FIRST" | "LAST" => {
            arity(1, 1)?;
            let MValue::Array(items) = arg(0)? else { return Err(type_error(name)) };
            let chosen = if name == "FIRST" { items.first() } else { items.last() };
            MValue::Series(chosen.cloned().unwrap_or(Ts {
                points: BTreeMap::new(),
                label: String::new(),
                period: env.default_period,
                metric: None,
            }))
        }
        "IF" => {
            arity(2, 3)?;
            let cond = arg(0)?;
            let a = arg(1)?;
            let b = if args.len() == 3 { Some(arg(2)?) } else { None };
            if_function(cond, a, b)?
        }
        "METRICS" => {
            arity(0, 1)?;
            let filter = match args.first() {
                None => None,
                Some(Expr::Text(s)) => Some(s.as_str()),
                Some(_) => return Err(type_error(name)),
            };
            let mut out = Vec::new();
            for id in env.metric_ids {
                if filter.is_none_or(|f| id.contains(f))
                    && let Some(MValue::Series(ts)) = env.values.get(id)
                {
                    out.push(ts.clone());
                }
            }
            MValue::Array(out)
        }
        "METRIC_COUNT" => {
            arity(1, 1)?;
            match arg(0)? {
                MValue::Array(items) => MValue::Scalar(Some(items.len() as f64)),
                _ => return Err(type_error(name)),
            }
        }
        "PERIOD" => {
            arity(1, 1)?;
            match arg(0)? {
                MValue::Series(ts) if ts.metric.is_some() => MValue::Scalar(Some(ts.period as f64)),
                MValue::Series(_) => return Err("PERIOD requires a time series from a metric".to_owned()),
                _ => return Err(type_error(name)),
            }
        }
        "REMOVE_EMPTY" => {
            arity(1, 1)?;
            match arg(0)? {
                MValue::Array(items) => MValue::Array(items.into_iter().filter(|ts| !ts.points.is_empty()).collect()),
                _ => return Err(type_error(name)),
            }
        }
        "SLICE" => {
            arity(2, 3)?;
            let MValue::Array(items) = arg(0)? else { return Err(type_error(name)) };
            let index = |i: usize| -> Result<usize, String> {
                match arg(i)? {
                    MValue::Scalar(Some(v)) if v >= 0.0 => Ok((v as usize).min(items.len())),
                    _ => Err(type_error(name)),
                }
            };
            let start = index(1)?;
            let end = if args.len() == 3 { index(2)? } else { items.len() };
            MValue::Array(if start < end { items[start..end].to_vec() } else { Vec::new() })
        }
        "SORT" => {
            arity(3, 4)?;
            let MValue::Array(mut items) = arg(0)? else { return Err(type_error(name)) };
            let by = keyword(&args[1])
                .filter(|k| matches!(*k, "AVG" | "MIN" | "MAX" | "SUM"))
                .ok_or_else(|| type_error(name))?;
            let descending = match keyword(&args[2]) {
                Some("ASC") => false,
                Some("DESC") => true,
                _ => return Err(type_error(name)),
            };
            let key = |ts: &Ts| aggregate(by, &ts.points.values().copied().collect::<Vec<_>>());
            items.sort_by(|a, b| match (key(a), key(b)) {
                (None, None) => std::cmp::Ordering::Equal,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (Some(_), None) => std::cmp::Ordering::Less,
                (Some(x), Some(y)) if descending => y.total_cmp(&x),
                (Some(x), Some(y)) => x.total_cmp(&y),
            });
            if args.len() == 4 {
                match arg(3)? {
                    MValue::Scalar(Some(v)) if v >= 0.0 => items.truncate(v as usize),
                    _ => return Err(type_error(name)),
                }
            }
            MValue::Array(items)
        }
        ANOMALY_DETECTION_BAND => {
            arity(1, 2)?;
            let Expr::Id(id) = &args[0] else {
                return Err(format!("{name} takes the id of a MetricStat query as its first argument"));
            };
            let history = env
                .histories
                .get(id)
                .ok_or_else(|| format!("{name} takes the id of a MetricStat query as its first argument"))?;
            let width = match args.get(1).map(|a| eval(a, env)).transpose()? {
                None => 2.0,
                Some(MValue::Scalar(Some(k))) if k >= 0.0 => k,
                Some(_) => return Err(format!("{name}: the band width must be a number of at least 0")),
            };
            let (upper, lower) = anomaly_band(history, &env.grid(history.period), width);
            let label = format!("{} (expected)", history.label);
            let make = |points| Ts { points, label: label.clone(), period: history.period, metric: None };
            MValue::Array(vec![make(upper), make(lower)])
        }
        "TIME_SERIES" => {
            arity(1, 1)?;
            let MValue::Scalar(value) = arg(0)? else { return Err(type_error(name)) };
            let period = env.default_period;
            let points = match value {
                Some(v) => env.grid(period).into_iter().map(|t| (t, v)).collect(),
                None => BTreeMap::new(),
            };
            MValue::Series(Ts { points, label: String::new(), period, metric: None })
        }
        "MINUTE" | "HOUR" | "DAY" | "DATE" | "MONTH" | "YEAR" | "EPOCH" => {
            arity(1, 1)?;
            let MValue::Series(ts) = arg(0)? else { return Err(type_error(name)) };
            use chrono::{Datelike, Timelike};
            let points = env
                .grid(ts.period)
                .into_iter()
                .filter_map(|t| {
                    let at = chrono::DateTime::from_timestamp_millis(t)?;
                    let v = match name {
                        "MINUTE" => at.minute() as f64,
                        "HOUR" => at.hour() as f64,
                        "DAY" => at.weekday().number_from_monday() as f64,
                        "DATE" => at.day() as f64,
                        "MONTH" => at.month() as f64,
                        "YEAR" => at.year() as f64,
                        _ => (t / 1000) as f64,
                    };
                    Some((t, v))
                })
                .collect();
            MValue::Series(Ts { points, label: ts.label.clone(), period: ts.period, metric: None })
        }
        "SEARCH" => MValue::Array(env.searches.get(&index).cloned().unwrap_or_default()),
        other => return Err(format!("Unrecognized function {other}")),
    })
}

enum Fill {
    Constant(f64),
    Series(Ts),
    Repeat,
    Linear,
    /// An undefined scalar: nothing to fill with.
    Nothing,
}

fn fill(ts: &Ts, how: &Fill, env: &Env<'_>) -> Ts {
    let real = &ts.points;
    let mut points = real.clone();
    if matches!(how, Fill::Nothing) || (real.is_empty() && matches!(how, Fill::Repeat | Fill::Linear)) {
        return ts.derived(points);
    }
    for t in env.grid(ts.period) {
        if real.contains_key(&t) {
            continue;
        }
        let before = real.range(..t).next_back().map(|(t, v)| (*t, *v));
        let after = real.range(t..).next().map(|(t, v)| (*t, *v));
        let value = match how {
            Fill::Constant(v) => Some(*v),
            Fill::Series(other) => other.points.get(&t).copied(),
            Fill::Repeat => before.or(after).map(|(_, v)| v),
            Fill::Linear => match (before, after) {
                (Some((t0, v0)), Some((t1, v1))) => Some(v0 + (v1 - v0) * (t - t0) as f64 / (t1 - t0) as f64),
                (Some((_, v)), None) | (None, Some((_, v))) => Some(v),
                (None, None) => None,
            },
            Fill::Nothing => None,
        };
        if let Some(v) = value {
            points.insert(t, v);
        }
    }
    ts.derived(points)
}

fn if_function(cond: MValue, a: MValue, b: Option<MValue>) -> Result<MValue, String> {
    let at = |value: &MValue, t: i64| -> Option<f64> {
        match value {
            MValue::Scalar(s) => *s,
            MValue::Series(ts) => ts.points.get(&t).copied(),
            MValue::Array(_) => None,
        }
    };
    if matches!(a, MValue::Array(_)) || matches!(b, Some(MValue::Array(_))) {
        return Err(type_error("IF"));
    }
    match cond {
        MValue::Series(c) => {
            let mut points = BTreeMap::new();
            for (t, v) in &c.points {
                if *v != 0.0 {
                    points.insert(*t, at(&a, *t).unwrap_or(0.0));
                } else if let Some(x) = b.as_ref().and_then(|b| at(b, *t)) {
                    points.insert(*t, x);
                }
            }
            let label = match &a {
                MValue::Series(ts) => ts.label.clone(),
                _ => c.label.clone(),
            };
            Ok(MValue::Series(Ts { points, label, period: c.period, metric: None }))
        }
        MValue::Scalar(s) => {
            let chosen = if s.is_some_and(|v| v != 0.0) { Some(a) } else { b };
            Ok(match chosen {
                Some(MValue::Series(ts)) => MValue::Series(ts),
                Some(MValue::Scalar(v)) => MValue::Scalar(v),
                _ => MValue::Series(Ts { points: BTreeMap::new(), label: String::new(), period: 60, metric: None }),
            })
        }
        MValue::Array(_) => Err(type_error("IF")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_736_942_400_000;

    fn ts(values: &[Option<f64>]) -> Ts {
        let points = values.iter().enumerate().filter_map(|(i, v)| v.map(|v| (T0 + i as i64 * 60_000, v))).collect();
        Ts { points, label: "s".into(), period: 60, metric: None }
    }

    fn run(expr: &str, vars: &[(&str, MValue)]) -> Result<MValue, String> {
        let values: HashMap<String, MValue> = vars.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
        let ids: Vec<String> = vars.iter().map(|(k, _)| k.to_string()).collect();
        let searches = HashMap::new();
        let no_histories = HashMap::new();
        let env = Env {
            values: &values,
            metric_ids: &ids,
            searches: &searches,
            start_ms: T0,
            end_ms: T0 + 5 * 60_000,
            now_ms: T0 + 10 * 60_000,
            default_period: 60,
            histories: &no_histories,
        };
        eval(&parse(expr)?, &env)
    }

    fn points(value: MValue) -> Vec<Option<f64>> {
        let MValue::Series(ts) = value else { panic!("not a series: {value:?}") };
        (0..5).map(|i| ts.points.get(&(T0 + i * 60_000)).copied()).collect()
    }

    #[test]
    fn spec_operator_examples() {
        let m1 = MValue::Series(ts(&[Some(30.0), Some(20.0), Some(0.0), Some(0.0)]));
        let m2 = MValue::Series(ts(&[Some(20.0), None, Some(20.0), None]));
        let vars = [("m1", m1), ("m2", m2)];
        assert_eq!(points(run("m1 < m2", &vars).unwrap())[..4], [Some(0.0), Some(0.0), Some(1.0), Some(0.0)]);
        assert_eq!(points(run("m1 >= 30", &vars).unwrap())[..4], [Some(1.0), Some(0.0), Some(0.0), Some(0.0)]);
        assert_eq!(
            points(run("m1 > 15 AND m2 > 15", &vars).unwrap())[..4],
            [Some(1.0), Some(0.0), Some(0.0), Some(0.0)]
        );
        assert_eq!(points(run("m1 / m2", &vars).unwrap())[..4], [Some(1.5), None, Some(0.0), None]);
        assert_eq!(points(run("-m1 + 2 * 3 ^ 2", &vars).unwrap())[0], Some(-12.0));
        assert_eq!(run("2 ^ 3 ^ 2", &[]).unwrap(), MValue::Scalar(Some(512.0)));
        assert_eq!(run("-2 ^ 2", &[]).unwrap(), MValue::Scalar(Some(-4.0)));
    }

    #[test]
    fn spec_if_examples() {
        let cond = MValue::Series(ts(&[Some(1.0), Some(1.0), Some(0.0), Some(0.0), None]));
        let a = MValue::Series(ts(&[Some(30.0), None, Some(0.0), Some(0.0), Some(30.0)]));
        let b = MValue::Series(ts(&[Some(0.0), Some(0.0), Some(20.0), None, Some(20.0)]));
        let vars = [("c", cond), ("a", a), ("b", b)];
        assert_eq!(points(run("IF(c, a, b)", &vars).unwrap()), [Some(30.0), Some(0.0), Some(20.0), None, None]);
        assert_eq!(points(run("IF(c, 5, b)", &vars).unwrap()), [Some(5.0), Some(5.0), Some(20.0), None, None]);
        assert_eq!(points(run("IF(c, a, 5)", &vars).unwrap()), [Some(30.0), Some(0.0), Some(5.0), Some(5.0), None]);
        assert_eq!(points(run("IF(c, a)", &vars).unwrap()), [Some(30.0), Some(0.0), None, None, None]);
    }

    #[test]
    fn functions_over_series_and_arrays() {
        let m1 = MValue::Series(ts(&[Some(1.0), None, Some(4.0), Some(8.0)]));
        let m2 = MValue::Series(ts(&[Some(3.0), Some(2.0), None, Some(0.0)]));
        let vars = [("m1", m1), ("m2", m2)];
        assert_eq!(points(run("DIFF(m1)", &vars).unwrap()), [None, None, Some(3.0), Some(4.0), None]);
        assert_eq!(points(run("RATE(m1)", &vars).unwrap())[2], Some(3.0 / 120.0));
        assert_eq!(points(run("DIFF_TIME(m1)", &vars).unwrap())[2], Some(120.0));
        assert_eq!(points(run("RUNNING_SUM(m1)", &vars).unwrap()), [Some(1.0), None, Some(5.0), Some(13.0), None]);
        assert_eq!(points(run("FILL(m1, 0)", &vars).unwrap()), [Some(1.0), Some(0.0), Some(4.0), Some(8.0), Some(0.0)]);
        assert_eq!(
            points(run("FILL(m1, REPEAT)", &vars).unwrap()),
            [Some(1.0), Some(1.0), Some(4.0), Some(8.0), Some(8.0)]
        );
        assert_eq!(
            points(run("FILL(m1, LINEAR)", &vars).unwrap()),
            [Some(1.0), Some(2.5), Some(4.0), Some(8.0), Some(8.0)]
        );
        assert_eq!(points(run("FILL(m1, m2)", &vars).unwrap())[1], Some(2.0));
        assert_eq!(run("AVG(m1)", &vars).unwrap(), MValue::Scalar(Some(13.0 / 3.0)));
        assert_eq!(run("MAX(m1) - MIN(m1)", &vars).unwrap(), MValue::Scalar(Some(7.0)));
        assert_eq!(run("STDDEV(m2)", &vars).unwrap(), MValue::Scalar(Some((14.0f64 / 9.0).sqrt())));
        // Arrays: AVG/SUM count missing as 0, MIN/MAX over present values.
        assert_eq!(points(run("SUM(METRICS())", &vars).unwrap()), [Some(4.0), Some(2.0), Some(4.0), Some(8.0), None]);
        assert_eq!(points(run("AVG([m1, m2])", &vars).unwrap()), [Some(2.0), Some(1.0), Some(2.0), Some(4.0), None]);
        assert_eq!(points(run("MIN(METRICS())", &vars).unwrap()), [Some(1.0), Some(2.0), Some(4.0), Some(0.0), None]);
        assert_eq!(run("METRIC_COUNT(METRICS(\"2\"))", &vars).unwrap(), MValue::Scalar(Some(1.0)));
        assert_eq!(
            points(run("DATAPOINT_COUNT(METRICS())", &vars).unwrap()),
            [Some(2.0), Some(1.0), Some(1.0), Some(2.0), None]
        );
        let MValue::Array(sorted) = run("SORT(METRICS(), MAX, DESC, 1)", &vars).unwrap() else { panic!() };
        assert_eq!(sorted.len(), 1);
        assert_eq!(sorted[0].points.values().copied().fold(0.0, f64::max), 8.0);
        let MValue::Array(sliced) = run("SLICE(METRICS(), 1)", &vars).unwrap() else { panic!() };
        assert_eq!(sliced.len(), 1);
        assert_eq!(points(run("FIRST(METRICS())", &vars).unwrap())[0], Some(1.0));
        assert_eq!(points(run("TIME_SERIES(7)", &vars).unwrap()), [Some(7.0); 5]);
        assert_eq!(points(run("DAY(m1)", &vars).unwrap())[0], Some(3.0), "2025-01-15 is a Wednesday");
        assert_eq!(points(run("HOUR(m1)", &vars).unwrap())[0], Some(12.0));
        assert_eq!(points(run("LOG10(m1 * 10)", &vars).unwrap())[0], Some(1.0));
        // An undefined scalar (aggregate of an empty series) yields no points.
        let empty = MValue::Series(ts(&[]));
        let vars = [("m1", vars[0].1.clone()), ("e", empty)];
        assert_eq!(points(run("m1 + AVG(e)", &vars).unwrap()), [None; 5]);
    }

    #[test]
    fn errors() {
        let m1 = MValue::Series(ts(&[Some(1.0)]));
        let vars = [("m1", m1)];
        assert_eq!(run("m1 +", &vars).unwrap_err(), "Unexpected end of expression at position 5");
        assert_eq!(run("m1 + )", &vars).unwrap_err(), "Unexpected token ')' at position 6");
        assert_eq!(run("m1 $ 2", &vars).unwrap_err(), "Unexpected token '$' at position 4");
        assert_eq!(run("m9 * 2", &vars).unwrap_err(), "Unrecognized metric id m9");
        assert_eq!(run("ABS()", &vars).unwrap_err(), "Invalid argument types for ABS");
        assert_eq!(run("SERVICE_QUOTA(m1)", &vars).unwrap_err(), "SERVICE_QUOTA is not supported by fluoro");
        assert_eq!(run("SELECT AVG(x) FROM y", &vars).unwrap_err(), "SELECT is not supported by fluoro");
        assert_eq!(run("NOPE(m1)", &vars).unwrap_err(), "Unrecognized function NOPE");
        assert!(run("METRICS() + METRICS()", &vars).is_err());
        assert!(run(&"(".repeat(500), &vars).is_err());
    }
}
