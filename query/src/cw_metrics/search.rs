//! `SEARCH('<search>', '<stat>'[, <period>])` (spec metrics-alarms.md §2.7.5): an optional
//! schema `{Namespace, Dim, …}` and terms (bare partial, "exact", Prop=value) with AND, OR,
//! NOT and parentheses, matched against the series registry.

use std::sync::Arc;

use fluoro_proto::metrics::SeriesKey;
use fluoro_proto::metrics::stats::Stat;
use fluoro_store::SeriesInfo;

use super::math::Expr;

const MAX_SERIES: usize = 500;

/// A series SEARCH found: identity, statistic, period.
pub type Found = (Arc<SeriesKey>, String, i64);

/// The series a SEARCH call names, each with its statistic and period.
pub fn resolve(
    args: &[Expr],
    query_period: Option<i64>,
    registry: &[SeriesInfo],
    active_since_ms: i64,
) -> Result<Vec<Found>, String> {
    let invalid = || "Invalid argument types for SEARCH".to_owned();
    let (Some(Expr::Text(search)), Some(Expr::Text(stat))) = (args.first(), args.get(1)) else {
        return Err(invalid());
    };
    if args.len() > 3 {
        return Err(invalid());
    }
    if Stat::parse(stat).is_none() {
        return Err(format!("Invalid statistic {stat} in SEARCH"));
    }
    let period = match args.get(2) {
        Some(Expr::Number(p)) => Some(*p as i64),
        Some(_) => return Err(invalid()),
        None => query_period,
    }
    .ok_or("SEARCH needs a period: give a third argument or the query's Period")?;
    if !fluoro_proto::metrics::valid_period(period) {
        return Err(format!("Invalid period {period} in SEARCH"));
    }
    let query = Query::parse(search)?;
    let mut out = Vec::new();
    for info in registry {
        if info.last_sample_ms < active_since_ms || !query.matches(&info.key) {
            continue;
        }
        if out.len() == MAX_SERIES {
            return Err("The collection MetricDataQueries must not have a size greater than 500.".to_owned());
        }
        out.push((info.key.clone(), stat.clone(), period));
    }
    Ok(out)
}

/// A SEARCH series' label: its dimension values, or the metric name without dimensions.
pub fn label(key: &SeriesKey) -> String {
    if key.dimensions.is_empty() {
        key.name.clone()
    } else {
        key.dimensions.iter().map(|(_, v)| v.as_str()).collect::<Vec<_>>().join(" ")
    }
}

#[derive(Debug)]
enum Term {
    Partial(String),
    Exact(String),
    Property(String, String, bool),
    Not(Box<Term>),
    And(Vec<Term>),
    Or(Vec<Term>),
}

#[derive(Debug)]
struct Query {
    schema: Option<(String, Vec<String>)>,
    term: Option<Term>,
}

impl Query {
    fn parse(text: &str) -> Result<Self, String> {
        let mut rest = text.trim();
        let mut schema = None;
        if let Some(inner) = rest.strip_prefix('{') {
            let close = inner.find('}').ok_or("Unterminated schema in SEARCH")?;
            let names: Vec<String> = split_schema(&inner[..close]);
            let Some((namespace, dims)) = names.split_first() else {
                return Err("An empty schema in SEARCH".to_owned());
            };
            schema = Some((namespace.clone(), dims.to_vec()));
            rest = inner[close + 1..].trim();
        }
        let tokens = tokenize(rest)?;
        let mut at = 0;
        let term = if tokens.is_empty() { None } else { Some(parse_or(&tokens, &mut at)?) };
        if at < tokens.len() {
            return Err(format!("Unexpected '{}' in SEARCH", tokens[at].text()));
        }
        Ok(Self { schema, term })
    }

    fn matches(&self, key: &SeriesKey) -> bool {
        if let Some((namespace, dims)) = &self.schema {
            let mut want: Vec<&str> = dims.iter().map(String::as_str).collect();
            want.sort_unstable();
            let have: Vec<&str> = key.dimensions.iter().map(|(n, _)| n.as_str()).collect();
            if &key.namespace != namespace || want != have {
                return false;
            }
        }
        self.term.as_ref().is_none_or(|t| t.matches(key))
    }
}

fn split_schema(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(std::mem::take(&mut current).trim().to_owned()),
            c => current.push(c),
        }
    }
    out.push(current.trim().to_owned());
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Quoted(String),
    Eq,
    Open,
    Close,
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Word(w) => w.clone(),
            Tok::Quoted(q) => format!("\"{q}\""),
            Tok::Eq => "=".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '=' => out.push(Tok::Eq),
            '(' => out.push(Tok::Open),
            ')' => out.push(Tok::Close),
            '"' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        None => return Err("Unterminated quote in SEARCH".to_owned()),
                        Some('"') => break,
                        Some(c) => s.push(c),
                    }
                }
                out.push(Tok::Quoted(s));
            }
            c => {
                let mut s = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_whitespace() || matches!(n, '=' | '(' | ')' | '"') {
                        break;
                    }
                    s.push(n);
                    chars.next();
                }
                out.push(Tok::Word(s));
            }
        }
    }
    Ok(out)
}

fn parse_or(tokens: &[Tok], at: &mut usize) -> Result<Term, String> {
    let mut items = vec![parse_and(tokens, at)?];
    while matches!(tokens.get(*at), Some(Tok::Word(w)) if w == "OR") {
        *at += 1;
        items.push(parse_and(tokens, at)?);
    }
    Ok(if items.len() == 1 { items.pop().expect("one") } else { Term::Or(items) })
}

fn parse_and(tokens: &[Tok], at: &mut usize) -> Result<Term, String> {
    let mut items = vec![parse_unary(tokens, at)?];
    loop {
        match tokens.get(*at) {
            Some(Tok::Word(w)) if w == "AND" => *at += 1,
            Some(Tok::Word(w)) if w == "OR" => break,
            None | Some(Tok::Close) => break,
            _ => {}
        }
        items.push(parse_unary(tokens, at)?);
    }
    Ok(if items.len() == 1 { items.pop().expect("one") } else { Term::And(items) })
}

fn parse_unary(tokens: &[Tok], at: &mut usize) -> Result<Term, String> {
    match tokens.get(*at) {
        Some(Tok::Word(w)) if w == "NOT" => {
            *at += 1;
            Ok(Term::Not(Box::new(parse_unary(tokens, at)?)))
        }
        Some(Tok::Open) => {
            *at += 1;
            let inner = parse_or(tokens, at)?;
            if tokens.get(*at) != Some(&Tok::Close) {
                return Err("Missing ')' in SEARCH".to_owned());
            }
            *at += 1;
            Ok(inner)
        }
        Some(Tok::Word(w)) | Some(Tok::Quoted(w)) if tokens.get(*at + 1) == Some(&Tok::Eq) => {
            let property = w.clone();
            *at += 2;
            match tokens.get(*at) {
                Some(Tok::Word(v)) => {
                    *at += 1;
                    Ok(Term::Property(property, v.clone(), false))
                }
                Some(Tok::Quoted(v)) => {
                    *at += 1;
                    Ok(Term::Property(property, v.clone(), true))
                }
                _ => Err(format!("Missing value for {property} in SEARCH")),
            }
        }
        Some(Tok::Word(w)) => {
            *at += 1;
            Ok(Term::Partial(w.clone()))
        }
        Some(Tok::Quoted(q)) => {
            *at += 1;
            Ok(Term::Exact(q.clone()))
        }
        Some(other) => Err(format!("Unexpected '{}' in SEARCH", other.text())),
        None => Err("Unexpected end of SEARCH".to_owned()),
    }
}

impl Term {
    fn matches(&self, key: &SeriesKey) -> bool {
        let fields = || {
            [key.namespace.as_str(), key.name.as_str()]
                .into_iter()
                .chain(key.dimensions.iter().flat_map(|(n, v)| [n.as_str(), v.as_str()]))
        };
        let like = |have: &str, want: &str, exact: bool| {
            if exact { have == want } else { have.to_lowercase().contains(&want.to_lowercase()) }
        };
        match self {
            Term::Partial(p) => fields().any(|f| like(f, p, false)),
            Term::Exact(e) => fields().any(|f| f == e),
            Term::Property(property, value, exact) => match property.as_str() {
                "MetricName" => like(&key.name, value, *exact),
                "Namespace" => like(&key.namespace, value, *exact),
                "DimensionName" => key.dimensions.iter().any(|(n, _)| like(n, value, *exact)),
                dim => key.dimension(dim).is_some_and(|v| like(v, value, *exact)),
            },
            Term::Not(inner) => !inner.matches(key),
            Term::And(items) => items.iter().all(|t| t.matches(key)),
            Term::Or(items) => items.iter().any(|t| t.matches(key)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ns: &str, name: &str, dims: &[(&str, &str)]) -> SeriesKey {
        SeriesKey::new(ns, name, dims.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect())
    }

    #[test]
    fn schema_terms_and_operators() {
        let a = key("MyApp", "Latency", &[("Service", "checkout"), ("Stage", "prod")]);
        let b = key("MyApp", "Errors", &[("Service", "cart")]);
        let c = key("Other", "Latency", &[]);
        let q = |text: &str| Query::parse(text).unwrap();
        assert!(q("{MyApp,Service,Stage} Latency").matches(&a));
        assert!(!q("{MyApp,Service} Latency").matches(&a), "the dimension names must be exactly the schema's");
        assert!(q("{Other} Latency").matches(&c));
        assert!(q("MetricName=\"Latency\" Service=check").matches(&a));
        assert!(!q("MetricName=\"latency\"").matches(&a), "exact is case-sensitive");
        assert!(q("latency").matches(&a), "partial is case-insensitive");
        assert!(q("Errors OR Stage=prod").matches(&b) && q("Errors OR Stage=prod").matches(&a));
        assert!(!q("MyApp NOT Errors").matches(&b));
        assert!(q("(cart OR checkout) AND MyApp").matches(&b));
        assert!(q("\"checkout\"").matches(&a) && !q("\"check\"").matches(&a));
        assert_eq!(label(&a), "checkout prod");
        assert_eq!(label(&c), "Latency");
        assert!(Query::parse("(a").is_err());
    }
}
