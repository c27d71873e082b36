//! The lexical layer shared by fluoro's single-pass JSON readers (Insights field discovery in
//! `fields.rs`, the selector scan of JSON patterns in `filter/json_scan.rs`): a cursor over
//! the text that reads strings (validated and unescaped, borrowed when there is no escape),
//! numbers (as their source text), literals and whitespace, per RFC 8259.

use std::borrow::Cow;

/// Bytes of a string read one by one before the rest is searched with SIMD.
const SHORT: usize = 16;

pub(crate) struct Cursor<'a> {
    pub text: &'a str,
    pub bytes: &'a [u8],
    pub pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(text: &'a str) -> Self {
        Self { text, bytes: text.as_bytes(), pos: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    pub fn at_end(&self) -> bool {
        self.pos == self.bytes.len()
    }

    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    /// Skips whitespace, then takes `byte` if it is next.
    pub fn eat(&mut self, byte: u8) -> Option<()> {
        self.skip_ws();
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// `true`, `false` or `null` at the cursor, if it is `word`.
    pub fn literal(&mut self, word: &str) -> Option<()> {
        self.bytes[self.pos..].starts_with(word.as_bytes()).then(|| self.pos += word.len())
    }

    /// A string at the cursor, unescaped.
    pub fn string(&mut self) -> Option<Cow<'a, str>> {
        if self.peek() != Some(b'"') {
            return None;
        }
        self.pos += 1;
        let start = self.pos;
        // Most strings have no escape and are short (keys, levels, names): step over the first
        // bytes one by one, and find the end of a longer one with SIMD, then check the bytes
        // passed for control characters in one vectorized pass.
        let rest = &self.bytes[self.pos..];
        let mut stop = 0;
        loop {
            match rest.get(stop) {
                None => return None,
                Some(b'"' | b'\\') => break,
                Some(0..0x20) => return None,
                Some(_) if stop == SHORT => {
                    let tail = &rest[SHORT..];
                    let end = memchr::memchr2(b'"', b'\\', tail)?;
                    if tail[..end].iter().fold(false, |control, &b| control | (b < 0x20)) {
                        return None;
                    }
                    stop = SHORT + end;
                    break;
                }
                Some(_) => stop += 1,
            }
        }
        self.pos += stop;
        if self.bytes[self.pos] == b'"' {
            self.pos += 1;
            return Some(Cow::Borrowed(&self.text[start..self.pos - 1]));
        }
        let mut out = String::from(&self.text[start..self.pos]);
        loop {
            match self.peek()? {
                b'"' => {
                    self.pos += 1;
                    return Some(Cow::Owned(out));
                }
                b'\\' => {
                    self.pos += 1;
                    let escape = self.peek()?;
                    self.pos += 1;
                    match escape {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let first = self.hex4()?;
                            let c = if (0xD800..0xDC00).contains(&first) {
                                // A leading surrogate must be followed by a trailing one.
                                if !self.bytes[self.pos..].starts_with(b"\\u") {
                                    return None;
                                }
                                self.pos += 2;
                                let second = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&second) {
                                    return None;
                                }
                                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))?
                            } else {
                                char::from_u32(first)? // a lone trailing surrogate is refused here
                            };
                            out.push(c);
                        }
                        _ => return None,
                    }
                }
                0..0x20 => return None,
                _ => {
                    // Copy up to the next quote or backslash at once.
                    let rest = &self.bytes[self.pos..];
                    let run = memchr::memchr2(b'"', b'\\', rest).unwrap_or(rest.len());
                    if rest[..run].iter().any(|&b| b < 0x20) {
                        return None;
                    }
                    out.push_str(&self.text[self.pos..self.pos + run]);
                    self.pos += run;
                }
            }
        }
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// A number at the cursor, as its source text:
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    pub fn number(&mut self) -> Option<&'a str> {
        let start = self.pos;
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek()? {
            b'0' => self.pos += 1,
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return None;
            }
            self.digits();
        }
        Some(&self.text[start..self.pos])
    }

    fn digits(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
    }
}
