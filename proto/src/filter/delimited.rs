//! Space-delimited patterns: `[ip, user, ..., status = 4*, bytes > 1000]` (spec §5.4).

use super::{CompareOp, ExtractedValues, Literal, PatternError, glob_match, is_blank, parse_number};

/// A parsed `[ ... ]` pattern.
#[derive(Debug, Clone)]
pub struct DelimitedPattern {
    slots: Vec<Slot>,
    has_ellipsis: bool,
}

/// Where a metric filter's `$name` or `$3` reads from (see `DelimitedPattern::field_ref`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldRef {
    /// The slot with that name.
    Named(usize),
    /// A 1-based token position, bound by an unnamed slot or an ellipsis.
    Position(usize),
    /// Nothing in this pattern.
    Unbound,
}

/// A message split into tokens, shared by every space-delimited pattern that looks at it.
#[derive(Debug)]
pub struct Tokens<'a> {
    message: &'a str,
    tokens: Vec<Token<'a>>,
}

impl<'a> Tokens<'a> {
    pub fn new(message: &'a str) -> Self {
        Self { message, tokens: tokenize(message) }
    }
}

#[derive(Debug, Clone)]
enum Slot {
    Ellipsis,
    Field { name: Option<String>, condition: Option<Vec<Vec<(CompareOp, Literal)>>> },
}

/// One token of a message, with where it started in the original text.
#[derive(Debug)]
struct Token<'a> {
    value: &'a str,
    start: usize,
}

impl DelimitedPattern {
    pub(super) fn parse(source: &str) -> Result<Self, PatternError> {
        let inner = source.strip_prefix('[').and_then(|s| s.strip_suffix(']')).ok_or(PatternError::Invalid)?;
        let slots = if inner.trim_matches(is_blank).is_empty() {
            Vec::new()
        } else {
            split_slots(inner).into_iter().map(parse_slot).collect::<Result<_, _>>()?
        };
        let has_ellipsis = slots.iter().any(|s| matches!(s, Slot::Ellipsis));
        Ok(Self { slots, has_ellipsis })
    }

    /// Matches `message` and returns the values bound to each slot.
    pub fn extract(&self, message: &str) -> Option<ExtractedValues> {
        let tokens = tokenize(message);
        if self.slots.is_empty() {
            return Some(tokens.iter().enumerate().map(|(i, t)| (format!("${}", i + 1), t.value.to_owned())).collect());
        }
        let bound = self.matched(message, &tokens)?;
        Some(self.values(&tokens, &bound))
    }

    fn matched<'a>(&self, message: &'a str, tokens: &[Token<'a>]) -> Option<Vec<Binding<'a>>> {
        let mut bound = Vec::with_capacity(self.slots.len());
        let matched = if self.has_ellipsis {
            self.bind(0, 0, tokens, &mut bound)
        } else {
            self.bind_absorbing(message, tokens, &mut bound)
        };
        matched.then_some(bound)
    }

    /// Where a `$name` or `$3` reference reads from in a match of this pattern. Resolve once,
    /// then `lookup` for each message.
    pub fn field_ref(&self, wanted: &str) -> FieldRef {
        let name = wanted.strip_prefix('$').unwrap_or(wanted);
        if let Some(slot) = self.slots.iter().position(|s| matches!(s, Slot::Field { name: Some(n), .. } if n == name))
        {
            return FieldRef::Named(slot);
        }
        match name.parse::<usize>() {
            Ok(position) if position > 0 => FieldRef::Position(position),
            _ => FieldRef::Unbound,
        }
    }

    /// Matches a tokenized message and writes, without copying, the values of `refs` into
    /// `out` (`None` for one the match did not bind). Metric filters use this.
    pub fn lookup<'a>(&self, tokens: &Tokens<'a>, refs: &[FieldRef], out: &mut [Option<&'a str>]) -> bool {
        let list = &tokens.tokens;
        if self.slots.is_empty() {
            for (slot, r) in out.iter_mut().zip(refs) {
                *slot = match r {
                    FieldRef::Position(p) => list.get(p - 1).map(|t| t.value),
                    _ => None,
                };
            }
            return true;
        }
        if !self.has_ellipsis {
            // Slot i binds token i; the last slot takes the rest of the line.
            let n = self.slots.len();
            if list.len() < n {
                return false;
            }
            let value = |i: usize| {
                if i == n - 1 && list.len() > n {
                    tokens.message[list[i].start..].trim_end_matches(is_blank)
                } else {
                    list[i].value
                }
            };
            if !self.slots.iter().enumerate().all(|(i, slot)| slot_accepts(slot, value(i))) {
                return false;
            }
            for (slot, r) in out.iter_mut().zip(refs) {
                *slot = match *r {
                    FieldRef::Named(i) => Some(value(i)),
                    FieldRef::Position(p) if p <= n && matches!(self.slots[p - 1], Slot::Field { name: None, .. }) => {
                        Some(value(p - 1))
                    }
                    _ => None,
                };
            }
            return true;
        }
        let Some(bound) = self.matched(tokens.message, list) else { return false };
        for (slot, r) in out.iter_mut().zip(refs) {
            *slot = match *r {
                FieldRef::Named(i) => match bound[i] {
                    Binding::One(_, value) => Some(value),
                    Binding::Many(..) => None,
                },
                FieldRef::Position(p) => {
                    self.slots.iter().zip(&bound).find_map(|(slot, binding)| match (slot, binding) {
                        (Slot::Field { name: Some(_), .. }, _) => None,
                        (_, Binding::One(at, value)) => (*at + 1 == p).then_some(*value),
                        (_, Binding::Many(from, to)) => (p > *from && p <= *to).then(|| list[p - 1].value),
                    })
                }
                FieldRef::Unbound => None,
            };
        }
        true
    }

    pub(super) fn regex_count(&self) -> usize {
        self.slots
            .iter()
            .map(|slot| match slot {
                Slot::Field { condition: Some(ors), .. } => {
                    ors.iter().flatten().map(|(_, literal)| literal.count_regex()).sum()
                }
                _ => 0,
            })
            .sum()
    }

    /// Without `...`: slots bind left to right, the last one takes the rest of the line.
    fn bind_absorbing<'a>(&self, message: &'a str, tokens: &[Token<'a>], bound: &mut Vec<Binding<'a>>) -> bool {
        let n = self.slots.len();
        if tokens.len() < n {
            return false;
        }
        for (i, slot) in self.slots.iter().enumerate() {
            let value = if i == n - 1 && tokens.len() > n {
                message[tokens[i].start..].trim_end_matches(is_blank)
            } else {
                tokens[i].value
            };
            if !slot_accepts(slot, value) {
                return false;
            }
            bound.push(Binding::One(i, value));
        }
        true
    }

    /// With `...`: every token is bound; ellipses expand as little as possible.
    fn bind<'a>(&self, slot: usize, token: usize, tokens: &[Token<'a>], bound: &mut Vec<Binding<'a>>) -> bool {
        let Some(current) = self.slots.get(slot) else {
            return token == tokens.len();
        };
        match current {
            Slot::Ellipsis => {
                for take in 0..=tokens.len() - token {
                    bound.push(Binding::Many(token, token + take));
                    if self.bind(slot + 1, token + take, tokens, bound) {
                        return true;
                    }
                    bound.pop();
                }
                false
            }
            field => {
                let Some(t) = tokens.get(token) else { return false };
                if !slot_accepts(field, t.value) {
                    return false;
                }
                bound.push(Binding::One(token, t.value));
                if self.bind(slot + 1, token + 1, tokens, bound) {
                    return true;
                }
                bound.pop();
                false
            }
        }
    }

    fn values(&self, tokens: &[Token<'_>], bound: &[Binding<'_>]) -> ExtractedValues {
        let mut values = Vec::new();
        for (slot, binding) in self.slots.iter().zip(bound) {
            match (slot, binding) {
                (Slot::Field { name: Some(name), .. }, Binding::One(_, value)) => {
                    values.push((format!("${name}"), (*value).to_owned()));
                }
                (_, Binding::One(position, value)) => {
                    values.push((format!("${}", position + 1), (*value).to_owned()));
                }
                (_, Binding::Many(from, to)) => {
                    for (position, token) in tokens.iter().enumerate().take(*to).skip(*from) {
                        values.push((format!("${}", position + 1), token.value.to_owned()));
                    }
                }
            }
        }
        values
    }
}

/// What a slot bound: one token (its position and value) or a range of tokens.
#[derive(Debug)]
enum Binding<'a> {
    One(usize, &'a str),
    Many(usize, usize),
}

fn slot_accepts(slot: &Slot, value: &str) -> bool {
    match slot {
        Slot::Ellipsis | Slot::Field { condition: None, .. } => true,
        Slot::Field { condition: Some(ors), .. } => {
            ors.iter().any(|ands| ands.iter().all(|(op, literal)| compare(value, *op, literal)))
        }
    }
}

fn compare(token: &str, op: CompareOp, literal: &Literal) -> bool {
    let equal = || match literal {
        Literal::Any => true,
        Literal::Number(number, text) => match parse_number(token) {
            Some(n) => n == *number,
            None => token == text,
        },
        Literal::Text(pattern) => glob_match(pattern, token),
        Literal::Regex(regex) => regex.is_match(token),
    };
    match op {
        CompareOp::Eq => equal(),
        CompareOp::Ne => !equal(),
        ordering => match (parse_number(token), literal) {
            (Some(n), Literal::Number(number, _)) => ordering.compare_numbers(n, *number),
            _ => false,
        },
    }
}

/// Splits the inside of `[...]` on commas that are outside quotes and `%regex%`.
fn split_slots(inner: &str) -> Vec<&str> {
    let mut slots = Vec::new();
    let (mut in_quote, mut in_regex, mut escaped) = (false, false, false);
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quote => escaped = true,
            '"' if !in_regex => in_quote = !in_quote,
            '%' if !in_quote => in_regex = !in_regex,
            ',' if !in_quote && !in_regex => {
                slots.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    slots.push(&inner[start..]);
    slots
}

fn is_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn parse_slot(source: &str) -> Result<Slot, PatternError> {
    let source = source.trim_matches(is_blank);
    if source.is_empty() {
        return Ok(Slot::Field { name: None, condition: None });
    }
    if source == "..." {
        return Ok(Slot::Ellipsis);
    }
    let mut rest = source;
    let mut slot_name: Option<String> = None;
    let mut ors: Vec<Vec<(CompareOp, Literal)>> = vec![Vec::new()];
    loop {
        rest = rest.trim_start_matches(is_blank);
        let name_len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(rest.len());
        let name = &rest[..name_len];
        if !name.is_empty() {
            if !is_name(name) {
                return Err(PatternError::Invalid);
            }
            match &slot_name {
                Some(existing) if existing != name => return Err(PatternError::Invalid),
                _ => slot_name = Some(name.to_owned()),
            }
            rest = rest[name_len..].trim_start_matches(is_blank);
            if rest.is_empty() && ors.iter().all(Vec::is_empty) {
                return Ok(Slot::Field { name: slot_name, condition: None });
            }
        }
        let (op, len) = CompareOp::lex(rest).ok_or(PatternError::Invalid)?;
        rest = rest[len..].trim_start_matches(is_blank);
        let (literal, len) = Literal::lex(rest, &[])?;
        rest = rest[len..].trim_start_matches(is_blank);
        ors.last_mut().expect("at least one conjunction").push((op, literal));
        if rest.is_empty() {
            return Ok(Slot::Field { name: slot_name, condition: Some(ors) });
        } else if let Some(after) = rest.strip_prefix("&&") {
            rest = after;
        } else if let Some(after) = rest.strip_prefix("||") {
            ors.push(Vec::new());
            rest = after;
        } else {
            return Err(PatternError::Invalid);
        }
    }
}

/// Splits a message on blanks; `"..."` and `[...]` tokens keep their blanks, delimiters dropped.
fn tokenize(message: &str) -> Vec<Token<'_>> {
    let bytes = message.as_bytes();
    let blank = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r');
    let mut tokens = Vec::with_capacity(16);
    let mut i = 0;
    while i < bytes.len() {
        if blank(bytes[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let close = match bytes[i] {
            b'"' => Some(b'"'),
            b'[' => Some(b']'),
            _ => None,
        };
        // Blanks and delimiters are ASCII, so every cut below is on a char boundary.
        match close {
            Some(close) => match memchr::memchr(close, &bytes[i + 1..]) {
                Some(p) => {
                    let end = i + 1 + p;
                    tokens.push(Token { value: &message[i + 1..end], start });
                    i = end + 1;
                }
                None => {
                    tokens.push(Token { value: message[i + 1..].trim_end_matches(is_blank), start });
                    i = bytes.len();
                }
            },
            None => {
                // The next blank, found with SIMD: a `\r` is rare enough to look for apart.
                let rest = &bytes[i..];
                let stop = memchr::memchr3(b' ', b'\t', b'\n', rest).unwrap_or(rest.len());
                let stop = memchr::memchr(b'\r', &rest[..stop]).unwrap_or(stop);
                let end = i + stop;
                tokens.push(Token { value: &message[i..end], start });
                i = end;
            }
        }
    }
    tokens
}
