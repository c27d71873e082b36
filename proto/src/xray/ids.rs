//! Trace and segment identifiers (spec traces.md §1). Stored in binary; the X-Ray text form
//! (`1-58406520-a006649127e371903a2de979`) and the W3C form (32 hex) are both derived.

use std::fmt;

/// A 128-bit trace id. The first 4 bytes are the X-Ray epoch field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(pub [u8; 16]);

impl TraceId {
    /// The exact X-Ray form documents must use: `1-` + 8 hex + `-` + 24 hex (either case).
    pub fn parse_xray(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != 35 || &b[..2] != b"1-" || b[10] != b'-' {
            return None;
        }
        let mut hex = [0u8; 32];
        hex[..8].copy_from_slice(&b[2..10]);
        hex[8..].copy_from_slice(&b[11..]);
        Self::from_hex_bytes(&hex)
    }

    /// The W3C / OTLP form: 32 hex, not all zero.
    pub fn parse_hex(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != 32 {
            return None;
        }
        Self::from_hex_bytes(b)
    }

    /// API inputs: the X-Ray form or the 32-hex form.
    pub fn parse_any(text: &str) -> Option<Self> {
        Self::parse_xray(text).or_else(|| Self::parse_hex(text))
    }

    /// The `Root=` value of a trace header, whose epoch may have lost its leading zeros.
    pub fn parse_header_root(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("1-")?;
        let (epoch, random) = rest.split_once('-')?;
        if epoch.is_empty() || epoch.len() > 8 || random.len() != 24 {
            return None;
        }
        Self::parse_xray(&format!("1-{epoch:0>8}-{random}"))
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let id: [u8; 16] = bytes.try_into().ok()?;
        (id != [0; 16]).then_some(Self(id))
    }

    fn from_hex_bytes(hex: &[u8]) -> Option<Self> {
        let mut id = [0u8; 16];
        for (i, pair) in hex.chunks_exact(2).enumerate() {
            id[i] = (hex_val(pair[0])? << 4) | hex_val(pair[1])?;
        }
        (id != [0; 16]).then_some(Self(id))
    }

    /// The epoch seconds of the X-Ray form's second field.
    pub fn epoch(&self) -> i64 {
        u32::from_be_bytes(self.0[..4].try_into().expect("4 bytes")) as i64
    }

    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(32);
        for byte in self.0 {
            push_hex(&mut out, byte);
        }
        out
    }

    pub fn to_xray(&self) -> String {
        let hex = self.to_hex();
        format!("1-{}-{}", &hex[..8], &hex[8..])
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_xray())
    }
}

/// A 64-bit segment, subsegment or exception id: 16 hex, not all zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SegmentId(pub u64);

impl SegmentId {
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        if b.len() != 16 {
            return None;
        }
        let mut value = 0u64;
        for &c in b {
            value = (value << 4) | hex_val(c)? as u64;
        }
        (value != 0).then_some(Self(value))
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let id: [u8; 8] = bytes.try_into().ok()?;
        let value = u64::from_be_bytes(id);
        (value != 0).then_some(Self(value))
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn push_hex(out: &mut String, byte: u8) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(DIGITS[(byte >> 4) as usize] as char);
    out.push(DIGITS[(byte & 15) as usize] as char);
}

/// Epoch seconds (any precision) to nanoseconds rounded to the microsecond (§1.4).
pub fn seconds_to_ns(seconds: f64) -> i64 {
    // `as` saturates: out-of-range times clamp instead of overflowing.
    ((seconds * 1e6).round() as i64).saturating_mul(1000)
}

/// Nanoseconds back to epoch seconds.
pub fn ns_to_seconds(ns: i64) -> f64 {
    ns as f64 / 1e9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_forms_round_trip() {
        let id = TraceId::parse_xray("1-58406520-A006649127e371903a2de979").unwrap();
        assert_eq!(id.to_xray(), "1-58406520-a006649127e371903a2de979");
        assert_eq!(id.to_hex(), "58406520a006649127e371903a2de979");
        assert_eq!(id.epoch(), 1480615200);
        assert_eq!(TraceId::parse_any("58406520a006649127e371903a2de979"), Some(id));
        assert_eq!(TraceId::parse_header_root("1-5840652-0a006649127e371903a2de97").unwrap().to_xray().len(), 35);
        for bad in [
            "2-58406520-a006649127e371903a2de979",
            "1-58406520a006649127e371903a2de979",
            "",
            "1-5840652g-a006649127e371903a2de979",
        ] {
            assert_eq!(TraceId::parse_xray(bad), None, "{bad}");
        }
        assert_eq!(TraceId::parse_hex(&"0".repeat(32)), None);
    }

    #[test]
    fn segment_ids() {
        assert_eq!(SegmentId::parse("53995C3F42CD8AD8").unwrap().to_string(), "53995c3f42cd8ad8");
        assert_eq!(SegmentId::parse("0000000000000000"), None);
        assert_eq!(SegmentId::parse("53995c3f42cd8ad"), None);
        assert_eq!(seconds_to_ns(1480615200.0104567), 1480615200010457000);
    }
}
