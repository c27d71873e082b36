//! Composite alarm rules (spec metrics-alarms.md §3.9.2, §3.9.3): the `AlarmRule` grammar, its
//! limits, and evaluation over the children's states.
//!
//! ```
//! use fluoro_proto::alarms::rule::AlarmRule;
//! use fluoro_proto::alarms::StateValue;
//! let rule = AlarmRule::parse("(ALARM(a) OR ALARM(b)) AND NOT INSUFFICIENT_DATA(c)").unwrap();
//! assert_eq!(rule.children(), ["a", "b", "c"]);
//! let states = |name: &str| if name == "b" { StateValue::Alarm } else { StateValue::Ok };
//! assert!(rule.evaluate(&states));
//! ```

use super::StateValue;

/// Most distinct alarms one rule may reference.
pub const MAX_CHILDREN: usize = 100;
/// Most elements (state functions, `TRUE`/`FALSE`, parenthesised groups) one rule may have.
pub const MAX_ELEMENTS: usize = 500;
/// Longest rule, in characters.
pub const MAX_RULE_LEN: usize = 10_240;
/// Deepest nesting of `NOT` and parentheses the parser follows (keeps hostile input off the
/// stack; far beyond what 500 elements make useful).
const MAX_DEPTH: usize = 256;

/// A parsed rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    Const(bool),
    /// True when the referenced alarm is in this state.
    State(StateValue, String),
    Not(Box<Rule>),
    And(Vec<Rule>),
    Or(Vec<Rule>),
}

/// A rule with what its checks need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmRule {
    pub rule: Rule,
    /// Referenced alarm names (ARNs resolved to names), in rule order, once each.
    children: Vec<String>,
}

/// Why a rule was refused: the `ValidationError` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("AlarmRule must not contain leading or trailing whitespace or be null")]
    Whitespace,
    #[error("Invalid AlarmRule: {detail} at position {position}")]
    Syntax { detail: String, position: usize },
    #[error("AlarmRule can reference at most {MAX_CHILDREN} alarms and contain at most {MAX_ELEMENTS} elements.")]
    TooLarge,
}

impl AlarmRule {
    /// Parses and checks a rule. Alarm ARNs in references become alarm names.
    pub fn parse(source: &str) -> Result<Self, RuleError> {
        if source.is_empty() || source.trim() != source {
            return Err(RuleError::Whitespace);
        }
        let mut parser = Parser { src: source, pos: 0, elements: 0, depth: 0 };
        let rule = parser.or()?;
        parser.skip_blanks();
        if parser.pos != source.len() {
            return Err(parser.error("unexpected input"));
        }
        if parser.elements > MAX_ELEMENTS {
            return Err(RuleError::TooLarge);
        }
        let mut children = Vec::new();
        collect(&rule, &mut children);
        if children.len() > MAX_CHILDREN {
            return Err(RuleError::TooLarge);
        }
        Ok(Self { rule, children })
    }

    /// The referenced alarm names, in rule order, once each.
    pub fn children(&self) -> &[String] {
        &self.children
    }

    /// The rule's truth value given each child's state.
    pub fn evaluate(&self, state_of: &dyn Fn(&str) -> StateValue) -> bool {
        eval(&self.rule, state_of)
    }

    /// The children whose state function has `outcome` as its truth value, in rule order and
    /// once each: the alarms StateReasonData lists as triggering (§3.9.3).
    pub fn triggering(&self, state_of: &dyn Fn(&str) -> StateValue, outcome: bool) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        visit_states(&self.rule, &mut |state, name| {
            if (state_of(name) == state) == outcome && !out.contains(&name) {
                out.push(name);
            }
        });
        out
    }
}

fn eval(rule: &Rule, state_of: &dyn Fn(&str) -> StateValue) -> bool {
    match rule {
        Rule::Const(value) => *value,
        Rule::State(state, name) => state_of(name) == *state,
        Rule::Not(inner) => !eval(inner, state_of),
        Rule::And(items) => items.iter().all(|r| eval(r, state_of)),
        Rule::Or(items) => items.iter().any(|r| eval(r, state_of)),
    }
}

fn visit_states<'r>(rule: &'r Rule, f: &mut dyn FnMut(StateValue, &'r str)) {
    match rule {
        Rule::Const(_) => {}
        Rule::State(state, name) => f(*state, name),
        Rule::Not(inner) => visit_states(inner, f),
        Rule::And(items) | Rule::Or(items) => items.iter().for_each(|r| visit_states(r, f)),
    }
}

fn collect(rule: &Rule, out: &mut Vec<String>) {
    visit_states(rule, &mut |_, name| {
        if !out.iter().any(|n| n == name) {
            out.push(name.to_owned());
        }
    });
}

/// An alarm ARN (`arn:aws:cloudwatch:<region>:<account>:alarm:<name>`) names its alarm.
pub fn alarm_name(reference: &str) -> &str {
    let mut parts = reference.splitn(7, ':');
    match (parts.next(), parts.next(), parts.next(), parts.nth(2), parts.next()) {
        (Some("arn"), Some(_), Some("cloudwatch"), Some("alarm"), Some(name)) if !name.is_empty() => name,
        _ => reference,
    }
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    elements: usize,
    depth: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn error(&self, detail: &str) -> RuleError {
        RuleError::Syntax { detail: detail.to_owned(), position: self.src[..self.pos].chars().count() }
    }

    fn skip_blanks(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// Takes `keyword` if it is next as a whole word.
    fn keyword(&mut self, keyword: &str) -> bool {
        self.skip_blanks();
        let rest = self.rest();
        let whole = rest.starts_with(keyword)
            && !rest[keyword.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        if whole {
            self.pos += keyword.len();
        }
        whole
    }

    fn punct(&mut self, c: char) -> bool {
        self.skip_blanks();
        let found = self.rest().starts_with(c);
        if found {
            self.pos += c.len_utf8();
        }
        found
    }

    fn nested<T>(&mut self, inner: impl FnOnce(&mut Self) -> Result<T, RuleError>) -> Result<T, RuleError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("nesting too deep"));
        }
        let out = inner(self);
        self.depth -= 1;
        out
    }

    fn or(&mut self) -> Result<Rule, RuleError> {
        let mut items = vec![self.and()?];
        while self.keyword("OR") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one item") } else { Rule::Or(items) })
    }

    fn and(&mut self) -> Result<Rule, RuleError> {
        let mut items = vec![self.not()?];
        while self.keyword("AND") {
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 { items.pop().expect("one item") } else { Rule::And(items) })
    }

    fn not(&mut self) -> Result<Rule, RuleError> {
        if self.keyword("NOT") {
            return self.nested(|p| Ok(Rule::Not(Box::new(p.not()?))));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Rule, RuleError> {
        self.skip_blanks();
        if self.punct('(') {
            self.elements += 1;
            let inner = self.nested(Self::or)?;
            if !self.punct(')') {
                return Err(self.error("expected ')'"));
            }
            return Ok(inner);
        }
        for (word, value) in [("TRUE", true), ("FALSE", false)] {
            if self.keyword(word) {
                self.elements += 1;
                return Ok(Rule::Const(value));
            }
        }
        for (word, state) in
            [("ALARM", StateValue::Alarm), ("OK", StateValue::Ok), ("INSUFFICIENT_DATA", StateValue::InsufficientData)]
        {
            if self.keyword(word) {
                if !self.punct('(') {
                    return Err(self.error("expected '('"));
                }
                let reference = self.reference()?;
                if !self.punct(')') {
                    return Err(self.error("expected ')'"));
                }
                self.elements += 1;
                return Ok(Rule::State(state, alarm_name(&reference).to_owned()));
            }
        }
        if self.rest().is_empty() {
            return Err(self.error("unexpected end of rule"));
        }
        Err(self.error("expected ALARM, OK, INSUFFICIENT_DATA, TRUE, FALSE, NOT or '('"))
    }

    /// A quoted (`\"` and `\\` escape) or unquoted alarm reference.
    fn reference(&mut self) -> Result<String, RuleError> {
        self.skip_blanks();
        if self.rest().starts_with('"') {
            let (src, start) = (self.src, self.pos);
            let mut out = String::new();
            let mut chars = src[start..].char_indices().skip(1);
            while let Some((i, c)) = chars.next() {
                match c {
                    '"' if out.is_empty() => {
                        self.pos = start + i;
                        return Err(self.error("empty alarm name"));
                    }
                    '"' => {
                        self.pos = start + i + 1;
                        return Ok(out);
                    }
                    '\\' => match chars.next() {
                        Some((_, escaped @ ('"' | '\\'))) => out.push(escaped),
                        _ => {
                            self.pos = start + i;
                            return Err(self.error("invalid escape"));
                        }
                    },
                    other => out.push(other),
                }
            }
            self.pos = self.src.len();
            return Err(self.error("unterminated quoted alarm name"));
        }
        let rest = self.rest();
        let len = rest.find(['(', ')', '"']).unwrap_or(rest.len());
        let name = rest[..len].trim().to_owned();
        if name.is_empty() {
            return Err(self.error("expected an alarm name"));
        }
        self.pos += len;
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn state(name: &str) -> Rule {
        Rule::State(StateValue::Alarm, name.to_owned())
    }

    #[test]
    fn spec_parser_vectors() {
        let parse = |s: &str| AlarmRule::parse(s).map(|r| r.rule);
        assert_eq!(
            parse("ALARM(CPUUtilizationTooHigh) AND ALARM(DiskReadOpsTooHigh)"),
            Ok(Rule::And(vec![state("CPUUtilizationTooHigh"), state("DiskReadOpsTooHigh")]))
        );
        let rule = AlarmRule::parse(r#"ALARM("my alarm (prod)") OR OK(other)"#).unwrap();
        assert_eq!(rule.children(), ["my alarm (prod)", "other"]);
        assert_eq!(
            parse("(ALARM(a) OR ALARM(b)) AND NOT INSUFFICIENT_DATA(c)"),
            Ok(Rule::And(vec![
                Rule::Or(vec![state("a"), state("b")]),
                Rule::Not(Box::new(Rule::State(StateValue::InsufficientData, "c".into())))
            ]))
        );
        assert_eq!(
            parse("NOT ALARM(a) AND ALARM(b)"),
            Ok(Rule::And(vec![Rule::Not(Box::new(state("a"))), state("b")]))
        );
        assert_eq!(parse("TRUE"), Ok(Rule::Const(true)));
        for bad in ["alarm(a)", "ALARM(a) AND", "ALARM()", "ALARM(a", "ALARM(a) ALARM(b)", "NOT", "()", "ALARMS(a)"] {
            assert!(matches!(AlarmRule::parse(bad), Err(RuleError::Syntax { .. })), "{bad}");
        }
        assert_eq!(
            AlarmRule::parse("ALARM(a) AND").unwrap_err().to_string(),
            "Invalid AlarmRule: unexpected end of rule at position 12"
        );
        assert_eq!(AlarmRule::parse(" ALARM(a)"), Err(RuleError::Whitespace));
        assert_eq!(AlarmRule::parse(""), Err(RuleError::Whitespace));
    }

    #[test]
    fn references_quoting_arns_and_whitespace() {
        let rule = AlarmRule::parse("ALARM(\t spaced name \n)\nOR\tOK(\"a \\\"quoted\\\" \\\\ name\")").unwrap();
        assert_eq!(rule.children(), ["spaced name", r#"a "quoted" \ name"#]);
        let rule =
            AlarmRule::parse("ALARM(arn:aws:cloudwatch:us-east-1:000000000000:alarm:api-errors) OR ALARM(api-errors)")
                .unwrap();
        assert_eq!(rule.children(), ["api-errors"]);
        assert!(AlarmRule::parse(r#"ALARM("bad \n escape")"#).is_err());
        assert!(AlarmRule::parse(r#"ALARM("")"#).is_err());
    }

    #[test]
    fn limits() {
        let many: Vec<String> = (0..=MAX_CHILDREN).map(|i| format!("ALARM(a{i})")).collect();
        assert_eq!(AlarmRule::parse(&many.join(" OR ")), Err(RuleError::TooLarge));
        let repeated = vec!["ALARM(a)"; MAX_ELEMENTS + 1].join(" OR ");
        assert_eq!(AlarmRule::parse(&repeated), Err(RuleError::TooLarge));
        assert!(AlarmRule::parse(&vec!["ALARM(a)"; MAX_ELEMENTS].join(" OR ")).is_ok());
        let deep = format!("{}ALARM(a){}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(matches!(AlarmRule::parse(&deep), Err(RuleError::Syntax { .. })));
        assert!(AlarmRule::parse(&format!("{}ALARM(a)", "NOT ".repeat(10_000))).is_err());
    }

    #[test]
    fn evaluation_and_triggering_children() {
        let rule = AlarmRule::parse("ALARM(x) OR ALARM(y)").unwrap();
        let states = |name: &str| if name == "x" { StateValue::Alarm } else { StateValue::Ok };
        assert!(rule.evaluate(&states));
        assert_eq!(rule.triggering(&states, true), ["x"]);
        let all_ok = |_: &str| StateValue::Ok;
        assert!(!rule.evaluate(&all_ok));
        assert_eq!(rule.triggering(&all_ok, false), ["x", "y"]);
        let rule = AlarmRule::parse("NOT OK(a) AND (TRUE OR FALSE)").unwrap();
        assert!(rule.evaluate(&|_| StateValue::InsufficientData));
        assert!(!rule.evaluate(&|_| StateValue::Ok));
    }

    proptest! {
        #[test]
        fn never_panics(source in r#"[A-Z_()" \\a-c\t\n]{0,60}"#) {
            let _ = AlarmRule::parse(&source);
        }

        #[test]
        fn never_panics_on_any_text(source in ".{0,80}") {
            let _ = AlarmRule::parse(&source);
        }
    }
}
