//! One validating pass over a JSON document that keeps only the values a pattern refers to.
//!
//! JSON patterns and metric filters read a handful of `$.a.b[0]` selectors out of documents
//! that are mostly other members. Building a `serde_json::Value` for each event (every key
//! and string allocated, every member hashed into a map) cost ten times what the selectors
//! need. A `PathSet` is the selectors as a trie; `scan` walks the text once, checks that it
//! is one well-formed JSON object, and captures, borrowed from the text, the values at the
//! trie's slots. Semantics follow `serde_json::Value`: a later duplicate key replaces an
//! earlier one (its whole subtree), nesting deeper than 128 is refused, numbers keep their
//! text and are read as `f64` on demand.

use std::borrow::Cow;

use crate::json_cursor::Cursor;

/// One step of a selector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Selectors as a trie. Node 0 is the document.
#[derive(Debug, Clone)]
pub struct PathSet {
    nodes: Vec<Node>,
    /// The selector of each slot.
    selectors: Vec<Vec<Step>>,
}

#[derive(Debug, Clone, Default)]
struct Node {
    slot: Option<usize>,
    keys: Vec<(String, usize)>,
    indices: Vec<(usize, usize)>,
    /// The slots at and under this node (what a repeated key resets).
    subtree: Vec<usize>,
}

impl Default for PathSet {
    fn default() -> Self {
        Self { nodes: vec![Node::default()], selectors: Vec::new() }
    }
}

impl PathSet {
    /// The slot of `selector`, added if new. Slots number from 0 in the order first added.
    pub fn add(&mut self, selector: &[Step]) -> usize {
        let mut node = 0;
        for step in selector {
            let existing = match step {
                Step::Key(key) => self.nodes[node].keys.iter().find(|(k, _)| k == key).map(|(_, n)| *n),
                Step::Index(index) => self.nodes[node].indices.iter().find(|(i, _)| i == index).map(|(_, n)| *n),
            };
            node = match existing {
                Some(child) => child,
                None => {
                    let child = self.nodes.len();
                    self.nodes.push(Node::default());
                    match step {
                        Step::Key(key) => self.nodes[node].keys.push((key.clone(), child)),
                        Step::Index(index) => self.nodes[node].indices.push((*index, child)),
                    }
                    child
                }
            };
        }
        if let Some(slot) = self.nodes[node].slot {
            return slot;
        }
        let slot = self.selectors.len();
        self.selectors.push(selector.to_vec());
        self.nodes[node].slot = Some(slot);
        // Every node on the way down holds the new slot in its subtree.
        let mut at = 0;
        self.nodes[0].subtree.push(slot);
        for step in selector {
            at = match step {
                Step::Key(key) => self.nodes[at].keys.iter().find(|(k, _)| k == key).map(|(_, n)| *n),
                Step::Index(index) => self.nodes[at].indices.iter().find(|(i, _)| i == index).map(|(_, n)| *n),
            }
            .expect("the path was just added");
            self.nodes[at].subtree.push(slot);
        }
        slot
    }

    pub fn slots(&self) -> usize {
        self.selectors.len()
    }

    /// The selector of each slot, in slot order.
    pub fn selectors(&self) -> &[Vec<Step>] {
        &self.selectors
    }

    fn clear(&self, node: usize, found: &mut [Option<Found<'_>>]) {
        for &slot in &self.nodes[node].subtree {
            found[slot] = None;
        }
    }
}

/// A value found at a slot. Containers are captured only as their kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Found<'a> {
    Null,
    Bool(bool),
    /// The number as written (valid JSON number syntax).
    Number(&'a str),
    String(Cow<'a, str>),
    Array,
    Object,
}

impl Found<'_> {
    /// A number's value (`None` for other kinds, and for numbers beyond `f64`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(text) => text.parse::<f64>().ok().filter(|n| n.is_finite()),
            _ => None,
        }
    }

    /// The text `serde_json` prints for a scalar (string content, canonical number,
    /// `true`/`false`); `None` for null and containers.
    pub fn scalar_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Self::String(s) => Some(Cow::Borrowed(s.as_ref())),
            Self::Number(text) => Some(canonical_number(text)),
            Self::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Self::Null | Self::Array | Self::Object => None,
        }
    }
}

/// `serde_json::Number`'s text for a JSON number: an integer that fits `u64` or `i64` as
/// written (serde_json reads `-0` as a float), everything else through `f64` formatting.
fn canonical_number(text: &str) -> Cow<'_, str> {
    let integer = !text.contains(['.', 'e', 'E']);
    if integer && (text.parse::<u64>().is_ok() || text.parse::<i64>().is_ok_and(|v| v != 0)) {
        return Cow::Borrowed(text);
    }
    match serde_json::from_str::<serde_json::Number>(text) {
        Ok(number) => Cow::Owned(number.to_string()),
        Err(_) => Cow::Borrowed(text),
    }
}

/// Deepest nesting accepted (serde_json's recursion limit).
const MAX_DEPTH: usize = 128;

/// Scans `text` (one JSON object, surrounding JSON whitespace allowed) and returns the values
/// at `paths`' slots, or `None` when `text` is not a well-formed JSON object.
pub fn scan<'a>(text: &'a str, paths: &PathSet) -> Option<Vec<Option<Found<'a>>>> {
    let mut scanner = Scanner { cur: Cursor::new(text), paths, depth: 0 };
    let mut found = vec![None; paths.slots()];
    scanner.cur.skip_ws();
    if scanner.cur.peek() != Some(b'{') {
        return None;
    }
    scanner.value(Some(0), &mut found)?;
    scanner.cur.skip_ws();
    scanner.cur.at_end().then_some(found)
}

struct Scanner<'a, 'p> {
    cur: Cursor<'a>,
    paths: &'p PathSet,
    depth: usize,
}

impl<'a> Scanner<'a, '_> {
    /// One value; `node` is the trie node it sits at, if any selector goes through it.
    fn value(&mut self, node: Option<usize>, found: &mut [Option<Found<'a>>]) -> Option<()> {
        let slot = node.and_then(|n| self.paths.nodes[n].slot);
        let value = match self.cur.peek()? {
            b'{' => {
                self.nested(|s| s.object(node, found))?;
                Found::Object
            }
            b'[' => {
                self.nested(|s| s.array(node, found))?;
                Found::Array
            }
            b'"' => Found::String(self.cur.string()?),
            b't' => self.cur.literal("true").map(|()| Found::Bool(true))?,
            b'f' => self.cur.literal("false").map(|()| Found::Bool(false))?,
            b'n' => self.cur.literal("null").map(|()| Found::Null)?,
            _ => {
                let text = self.cur.number()?;
                // Like serde_json, refuse a number beyond f64 (`1e400`, a 400-digit integer).
                if text.len() > 300 || text.contains(['e', 'E']) {
                    text.parse::<f64>().ok().filter(|n| n.is_finite())?;
                }
                Found::Number(text)
            }
        };
        if let Some(slot) = slot {
            found[slot] = Some(value);
        }
        Some(())
    }

    fn nested(&mut self, inner: impl FnOnce(&mut Self) -> Option<()>) -> Option<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        inner(self)?;
        self.depth -= 1;
        Some(())
    }

    fn object(&mut self, node: Option<usize>, found: &mut [Option<Found<'a>>]) -> Option<()> {
        self.cur.pos += 1;
        if self.cur.eat(b'}').is_some() {
            return Some(());
        }
        let keys = node.map_or(&[][..], |n| &self.paths.nodes[n].keys[..]);
        loop {
            self.cur.skip_ws();
            let key = self.cur.string()?;
            let child = keys.iter().find(|(k, _)| *k == key).map(|(_, c)| *c);
            if let Some(child) = child {
                // A repeated key replaces the earlier value and everything under it.
                self.paths.clear(child, found);
            }
            self.cur.eat(b':')?;
            self.cur.skip_ws();
            self.value(child, found)?;
            if self.cur.eat(b',').is_none() {
                return self.cur.eat(b'}');
            }
        }
    }

    fn array(&mut self, node: Option<usize>, found: &mut [Option<Found<'a>>]) -> Option<()> {
        self.cur.pos += 1;
        if self.cur.eat(b']').is_some() {
            return Some(());
        }
        let indices = node.map_or(&[][..], |n| &self.paths.nodes[n].indices[..]);
        let mut index = 0;
        loop {
            self.cur.skip_ws();
            let child = indices.iter().find(|(i, _)| *i == index).map(|(_, c)| *c);
            self.value(child, found)?;
            index += 1;
            if self.cur.eat(b',').is_none() {
                return self.cur.eat(b']');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::Value;

    fn keys(path: &[&str]) -> Vec<Step> {
        path.iter()
            .map(|p| match p.parse::<usize>() {
                Ok(i) => Step::Index(i),
                Err(_) => Step::Key((*p).to_owned()),
            })
            .collect()
    }

    /// What walking a parsed `serde_json::Value` gives for a selector.
    fn expected<'v>(document: &'v Value, selector: &[Step]) -> Option<&'v Value> {
        selector.iter().try_fold(document, |v, step| match step {
            Step::Key(k) => v.as_object()?.get(k),
            Step::Index(i) => v.as_array()?.get(*i),
        })
    }

    fn same(found: &Option<Found<'_>>, value: Option<&Value>) -> bool {
        match (found, value) {
            (None, None) => true,
            (Some(Found::Null), Some(Value::Null)) => true,
            (Some(Found::Bool(a)), Some(Value::Bool(b))) => a == b,
            (Some(f @ Found::Number(_)), Some(Value::Number(n))) => {
                // serde_json's default float parsing may miss correct rounding by an ulp;
                // `as_f64` rounds correctly.
                let close = match (f.as_f64(), n.as_f64()) {
                    (Some(a), Some(b)) => a == b || (a.to_bits() as i64 - b.to_bits() as i64).abs() <= 1,
                    (a, b) => a == b,
                };
                close && f.scalar_text().as_deref() == Some(n.to_string().as_str())
            }
            (Some(Found::String(a)), Some(Value::String(b))) => a == b,
            (Some(Found::Array), Some(Value::Array(_))) => true,
            (Some(Found::Object), Some(Value::Object(_))) => true,
            _ => false,
        }
    }

    fn check(text: &str, selectors: &[Vec<Step>]) {
        let mut paths = PathSet::default();
        let slots: Vec<usize> = selectors.iter().map(|s| paths.add(s)).collect();
        let parsed = serde_json::from_str::<Value>(text).ok().filter(Value::is_object);
        let scanned = scan(text, &paths);
        assert_eq!(scanned.is_some(), parsed.is_some(), "validity of {text:?}");
        if let (Some(found), Some(document)) = (scanned, parsed) {
            for (selector, slot) in selectors.iter().zip(slots) {
                let want = expected(&document, selector);
                assert!(same(&found[slot], want), "{text:?} at {selector:?}: {:?} vs {want:?}", found[slot]);
            }
        }
    }

    #[test]
    fn finds_what_serde_json_finds() {
        let selectors = vec![
            keys(&["a"]),
            keys(&["a", "b"]),
            keys(&["l", "1"]),
            keys(&["l", "0", "x"]),
            keys(&["s"]),
            keys(&["n"]),
        ];
        for text in [
            r#"{"a":1,"b":2}"#,
            r#" {"a":{"b":"x\"y\u00e9\ud83d\ude00"}} "#,
            r#"{"a":{"b":1},"a":{"c":2}}"#,
            r#"{"l":[{"x":true},null,3],"s":"\\n","n":-0.5e+3}"#,
            r#"{"n":12345678901234567890123}"#,
            r#"{"n":1.0}"#,
            r#"{"n":-0}"#,
            r#"{"n":1E400}"#,
            r#"{"a\u0062":1,"a":{"\u0062":[]}}"#,
            r#"{}"#,
            r#"{"a":1,}"#,
            r#"{"a":01}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"tab	here"}"#,
            r#"{"a":1} x"#,
            r#"{"a":[1,2"#,
            r#"[1]"#,
            r#"{"a":tru}"#,
            r#"{"s":"a string longer than sixteen bytes, \"quoted\" after them","a":{"b":"é long enough to pass the short path"}}"#,
            "{\"s\":\"a string longer than sixteen bytes\u{1}with a control character\"}",
            r#"{"s":"a string longer than sixteen bytes that never ends}"#,
            r#"{"a":.5}"#,
        ] {
            check(text, &selectors);
        }
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(200), "]".repeat(200));
        check(&deep, &selectors);
    }

    fn json_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            (-1e6f64..1e6).prop_map(Value::from),
            "[a-c\"\\\\é\n]{0,4}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-c]", inner), 0..4)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn agrees_with_serde_json(
            members in prop::collection::vec(("[a-c]", json_value()), 0..5),
            selectors in prop::collection::vec(prop::collection::vec(prop_oneof![
                "[a-c]".prop_map(Step::Key), (0usize..3).prop_map(Step::Index)], 1..4), 1..5),
            pretty in any::<bool>(),
        ) {
            let document = Value::Object(members.into_iter().collect());
            let text = if pretty { serde_json::to_string_pretty(&document) } else { serde_json::to_string(&document) };
            check(&text.unwrap(), &selectors);
        }
    }
}
