//! The syntax tree of a Logs Insights query (insights.md §3). Spans are byte ranges into the
//! query string; errors turn them into character offsets.

use std::ops::Range;

pub type Span = Range<usize>;

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub source: Option<Source>,
    pub commands: Vec<Spanned<Command>>,
}

/// The optional leading `SOURCE` command (§4.14).
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `SOURCE logGroups(namePrefix: [...], class: '...')`; no prefix means every group.
    Prefixes { prefixes: Vec<String>, class: Option<String> },
    /// `SOURCE "<g1>" "<g2>" START=<ms> END=<ms>` (the form DescribeQueries echoes on AWS).
    Groups { names: Vec<String>, start_ms: Option<i64>, end_ms: Option<i64> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Fields(Vec<NamedExpr>),
    Display(Vec<NamedExpr>),
    Filter(Expr),
    /// `filterIndex`: the same as `filter` in fluoro (§4.13).
    FilterIndex(Expr),
    Stats {
        items: Vec<NamedExpr>,
        by: Vec<NamedExpr>,
    },
    Sort(Vec<SortKey>),
    Limit(u64),
    Parse {
        source: Expr,
        pattern: ParsePattern,
    },
    Dedup(Vec<FieldRef>),
    Unnest {
        field: FieldRef,
        into: String,
    },
    Pattern(Expr),
    Diff(Option<String>),
    /// No data is masked in fluoro: a no-op (§4.12).
    Unmask,
}

impl Command {
    pub fn name(&self) -> &'static str {
        match self {
            Self::Fields(_) => "fields",
            Self::Display(_) => "display",
            Self::Filter(_) => "filter",
            Self::FilterIndex(_) => "filterIndex",
            Self::Stats { .. } => "stats",
            Self::Sort(_) => "sort",
            Self::Limit(_) => "limit",
            Self::Parse { .. } => "parse",
            Self::Dedup(_) => "dedup",
            Self::Unnest { .. } => "unnest",
            Self::Pattern(_) => "pattern",
            Self::Diff(_) => "diff",
            Self::Unmask => "unmask",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParsePattern {
    /// A glob whose `*`s capture into `names`, with the regex it is equivalent to.
    Glob { glob: String, regex: String, names: Vec<String> },
    /// A regex with named groups.
    Regex(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    pub descending: bool,
}

/// `expr [as alias]`; `text` is the expression's source with whitespace removed, its column
/// name when there is no alias (§4.1).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedExpr {
    pub expr: Expr,
    pub alias: Option<String>,
    pub text: String,
}

impl NamedExpr {
    /// The output name: the alias, the field's own name, or the source text.
    pub fn name(&self) -> String {
        match (&self.alias, &self.expr.kind) {
            (Some(alias), _) => alias.clone(),
            (None, ExprKind::Field(field)) => field.name.clone(),
            (None, _) => self.text.clone(),
        }
    }
}

/// A field reference: `user.id`, `` `foo-bar` ``, `js.items[0]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRef {
    /// The flattened name (`user.id`, `js.items.0`).
    pub name: String,
    /// The path segments, for member access into a `jsonParse` value.
    pub segments: Vec<String>,
}

impl FieldRef {
    pub fn simple(name: &str) -> Self {
        Self { name: name.to_owned(), segments: vec![name.to_owned()] }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number {
        value: f64,
        text: String,
    },
    String(String),
    Regex(String),
    Period(Period),
    List(Vec<Expr>),
    Field(FieldRef),
    /// A function or aggregate call; `name` is lower-cased; `star` for `count(*)`.
    Call {
        name: String,
        args: Vec<Expr>,
        star: bool,
    },
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `like` and `=~`; `pattern` is a string (substring) or regex literal.
    Like {
        expr: Box<Expr>,
        pattern: Box<Expr>,
        negated: bool,
    },
    In {
        expr: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

/// A time period literal such as `5m` (§6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub count: i64,
    pub unit: PeriodUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeriodUnit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl PeriodUnit {
    pub fn parse(unit: &str) -> Option<Self> {
        Some(match unit {
            "ms" | "msec" | "msecs" => Self::Millisecond,
            "s" | "sec" | "secs" | "second" | "seconds" => Self::Second,
            "m" | "min" | "mins" | "minute" | "minutes" => Self::Minute,
            "h" | "hr" | "hrs" | "hour" | "hours" => Self::Hour,
            "d" | "day" | "days" => Self::Day,
            "w" | "week" | "weeks" => Self::Week,
            "mo" | "month" | "months" => Self::Month,
            "q" | "qtr" | "qtrs" | "quarter" | "quarters" => Self::Quarter,
            "y" | "yr" | "yrs" | "year" | "years" => Self::Year,
            _ => return None,
        })
    }

    /// Milliseconds per unit for the fixed-length units; `None` for calendar units.
    pub fn fixed_millis(self) -> Option<i64> {
        Some(match self {
            Self::Millisecond => 1,
            Self::Second => 1_000,
            Self::Minute => 60_000,
            Self::Hour => 3_600_000,
            Self::Day => 86_400_000,
            Self::Week => 7 * 86_400_000,
            Self::Month | Self::Quarter | Self::Year => return None,
        })
    }

    /// Months per unit for the calendar units.
    pub fn months(self) -> Option<i64> {
        match self {
            Self::Month => Some(1),
            Self::Quarter => Some(3),
            Self::Year => Some(12),
            _ => None,
        }
    }
}
