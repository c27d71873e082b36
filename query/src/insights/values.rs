//! Value rules of the language that are not DataFusion's: numeric-looking strings (§5.2), the
//! natural sort order (§5.5), and how values render in results (§5.4).

use std::cmp::Ordering;

/// `^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$` after trimming, as a number.
pub fn numeric_looking(s: &str) -> Option<f64> {
    let t = s.trim();
    let b = t.as_bytes();
    let mut i = 0;
    if i < b.len() && matches!(b[i], b'+' | b'-') {
        i += 1;
    }
    let int_start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = i - int_start;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if int_digits == 0 && i == frac_start {
            return None;
        }
    } else if int_digits == 0 {
        return None;
    }
    if i < b.len() && matches!(b[i], b'e' | b'E') {
        i += 1;
        if i < b.len() && matches!(b[i], b'+' | b'-') {
            i += 1;
        }
        let exp_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == exp_start {
            return None;
        }
    }
    if i != b.len() {
        return None;
    }
    t.parse().ok()
}

/// A value as the comparator sees it.
#[derive(Debug, Clone, Copy)]
pub enum SortValue<'a> {
    /// A number with the length of its text (ties: shorter text first).
    Number(f64, usize),
    Text(&'a str),
}

impl<'a> SortValue<'a> {
    /// Text values that consist only of a number sort as numbers.
    pub fn of_text(s: &'a str) -> Self {
        match numeric_looking(s) {
            Some(n) if !s.starts_with(char::is_whitespace) && !s.ends_with(char::is_whitespace) => {
                Self::Number(n, s.len())
            }
            _ => Self::Text(s),
        }
    }

    /// A computed number; its text length (the sort tie-breaker) is that of its rendering.
    pub fn of_number(n: f64) -> Self {
        Self::Number(n, format_number(n).map_or(0, |s| s.len()))
    }
}

/// Comparison for `<`, `<=`, `>`, `>=`: numeric when both sides are numbers (no text-length
/// tie-breaking: `"500.0" >= 500`), else the natural order.
pub fn compare_cmp(a: SortValue, b: SortValue) -> Ordering {
    match (a, b) {
        (SortValue::Number(x, _), SortValue::Number(y, _)) => x.total_cmp(&y),
        _ => natural_cmp(a, b),
    }
}

/// The ascending natural order of §5.5 (nulls are the caller's: they go last).
pub fn natural_cmp(a: SortValue, b: SortValue) -> Ordering {
    match (a, b) {
        (SortValue::Number(x, lx), SortValue::Number(y, ly)) => x.total_cmp(&y).then(lx.cmp(&ly)),
        (SortValue::Text(_), SortValue::Number(..)) => Ordering::Less,
        (SortValue::Number(..), SortValue::Text(_)) => Ordering::Greater,
        (SortValue::Text(x), SortValue::Text(y)) => chunked_cmp(x, y),
    }
}

fn chunked_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(ca), Some(cb)) = (a.chars().next(), b.chars().next()) else {
            // A string that is a prefix of the other sorts first.
            return a.len().cmp(&b.len());
        };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            // Two runs of digits: the shorter first, then by value.
            let (ra, ta) = split_chunk(a);
            let (rb, tb) = split_chunk(b);
            let ord = ra.len().cmp(&rb.len()).then_with(|| ra.cmp(rb));
            if ord != Ordering::Equal {
                return ord;
            }
            (a, b) = (ta, tb);
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            (a, b) = (&a[ca.len_utf8()..], &b[cb.len_utf8()..]);
        }
    }
}

fn split_chunk(s: &str) -> (&str, &str) {
    let digits = s.as_bytes()[0].is_ascii_digit();
    let end = s.find(|c: char| c.is_ascii_digit() != digits).unwrap_or(s.len());
    s.split_at(end)
}

/// A byte string whose lexicographic order is [`natural_cmp`]'s, for sorting in DataFusion.
pub fn natural_key(value: SortValue, out: &mut Vec<u8>) {
    match value {
        SortValue::Number(n, len) => {
            out.push(2);
            let bits = n.to_bits();
            let ordered = if bits >> 63 == 1 { !bits } else { bits | (1 << 63) };
            out.extend_from_slice(&ordered.to_be_bytes());
            out.extend_from_slice(&(len as u32).to_be_bytes());
        }
        SortValue::Text(s) => {
            out.push(1);
            let mut rest = s;
            while !rest.is_empty() {
                let (chunk, tail) = split_chunk(rest);
                if chunk.as_bytes()[0].is_ascii_digit() {
                    // Sorts against other characters as a digit does; among digit runs by length.
                    out.push(b'0');
                    out.extend_from_slice(&(chunk.len() as u32).to_be_bytes());
                    out.extend_from_slice(chunk.as_bytes());
                } else {
                    out.extend_from_slice(chunk.as_bytes());
                }
                rest = tail;
            }
        }
    }
}

/// A computed number as text: integral values without a fraction, others in the shortest
/// form that reads back the same; NaN and infinities have no rendering.
pub fn format_number(n: f64) -> Option<String> {
    if !n.is_finite() {
        return None;
    }
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        // Exact as an integer; much cheaper than `{:.0}`.
        return Some((n as i64).to_string());
    }
    if n.fract() == 0.0 && n.abs() < 1e21 {
        return Some(format!("{n:.0}"));
    }
    Some(format!("{n}"))
}

/// Epoch milliseconds as `YYYY-MM-DD HH:MM:SS.mmm` (UTC).
pub fn format_timestamp(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_looking_strings() {
        for (s, want) in [("200", Some(200.0)), (" -4.5 ", Some(-4.5)), (".5", Some(0.5)), ("1e3", Some(1000.0))] {
            assert_eq!(numeric_looking(s), want, "{s}");
        }
        for s in ["", ".", "1e", "abc", "1.2.3", "inf", "NaN", "0x10", "1 2", "+"] {
            assert_eq!(numeric_looking(s), None, "{s}");
        }
        assert_eq!(numeric_looking("5."), Some(5.0));
    }

    #[test]
    fn the_spec_comparator_vector() {
        let mut values = vec!["a10", "9", "B", "_x", "10", "a9", "!:", "5A", "111A", "0"];
        values.sort_by(|a, b| natural_cmp(SortValue::of_text(a), SortValue::of_text(b)));
        assert_eq!(values, vec!["!:", "5A", "111A", "B", "_x", "a9", "a10", "0", "9", "10"]);
        let mut keyed = vec!["a10", "9", "B", "_x", "10", "a9", "!:", "5A", "111A", "0"];
        keyed.sort_by_cached_key(|v| {
            let mut key = Vec::new();
            natural_key(SortValue::of_text(v), &mut key);
            key
        });
        assert_eq!(keyed, values);
    }

    proptest::proptest! {
        #[test]
        fn keys_order_like_the_comparator(a in "[a-c0-9 .!_-]{0,8}", b in "[a-c0-9 .!_-]{0,8}") {
            let (va, vb) = (SortValue::of_text(&a), SortValue::of_text(&b));
            let (mut ka, mut kb) = (Vec::new(), Vec::new());
            natural_key(va, &mut ka);
            natural_key(vb, &mut kb);
            let by_cmp = natural_cmp(va, vb);
            let by_key = ka.cmp(&kb);
            // Numbers equal in value and text length tie in the comparator only.
            if by_cmp != std::cmp::Ordering::Equal {
                proptest::prop_assert_eq!(by_cmp, by_key);
            }
        }
    }

    #[test]
    fn numbers_render_like_the_spec() {
        assert_eq!(format_number(2775.0).unwrap(), "2775");
        assert_eq!(format_number(462.5).unwrap(), "462.5");
        assert_eq!(format_number(7.0 / 6.0).unwrap(), "1.1666666666666667");
        assert_eq!(format_number(f64::NAN), None);
        assert_eq!(format_timestamp(1714564805000), "2024-05-01 12:00:05.000");
    }
}
