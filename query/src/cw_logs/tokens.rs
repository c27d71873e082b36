//! Pagination tokens. Event tokens are `f/<56-digit position>/s` (GetLogEvents, as AWS shapes
//! them) or `<f|b>/<position>/<query fingerprint>` (FilterLogEvents: a token of another query
//! is refused). Describe tokens are `o/<offset>/<fingerprint>`.

use fluoro_proto::logs::EventKey;

/// 64-bit FNV-1a of `bytes`, continuing from `hash` (start with `FNV_OFFSET`).
pub(crate) fn fnv1a(mut hash: u64, bytes: impl IntoIterator<Item = u8>) -> u64 {
    for byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// 64-bit FNV-1a: a stable fingerprint of a query's parameters.
pub(crate) fn fingerprint(parts: &[&str]) -> String {
    let hash = parts.iter().fold(FNV_OFFSET, |hash, part| fnv1a(hash, part.bytes().chain([0xff])));
    format!("{hash:016x}")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Forward,
    Backward,
}

pub(crate) fn event_token(direction: Direction, key: EventKey, suffix: &str) -> String {
    let d = match direction {
        Direction::Forward => 'f',
        Direction::Backward => 'b',
    };
    format!("{d}/{}/{suffix}", key.to_event_id())
}

/// Parses an event token whose suffix must equal `suffix`.
pub(crate) fn parse_event_token(token: &str, suffix: &str) -> Option<(Direction, EventKey)> {
    let mut parts = token.splitn(3, '/');
    let direction = match parts.next()? {
        "f" => Direction::Forward,
        "b" => Direction::Backward,
        _ => return None,
    };
    let key = EventKey::from_event_id(parts.next()?)?;
    (parts.next()? == suffix).then_some((direction, key))
}

/// How long a FilterLogEvents token stays valid (AWS: 24 hours).
pub(crate) const FILTER_TOKEN_TTL_MS: i64 = 86_400_000;

/// A FilterLogEvents token: position, query fingerprint and issue time.
pub(crate) fn filter_token(direction: Direction, key: EventKey, fingerprint: &str, now_ms: i64) -> String {
    event_token(direction, key, &format!("{fingerprint}.{now_ms}"))
}

/// Parses a FilterLogEvents token of the query `fingerprint` issued in the last 24 hours.
pub(crate) fn parse_filter_token(token: &str, fingerprint: &str, now_ms: i64) -> Option<(Direction, EventKey)> {
    let suffix = token.rsplit('/').next()?;
    let (print, issued) = suffix.split_once('.')?;
    let issued: i64 = issued.parse().ok()?;
    if print != fingerprint || now_ms - issued > FILTER_TOKEN_TTL_MS || issued > now_ms + 60_000 {
        return None;
    }
    parse_event_token(token, suffix)
}

pub(crate) fn offset_token(offset: usize, fingerprint: &str) -> String {
    format!("o/{offset}/{fingerprint}")
}

pub(crate) fn parse_offset_token(token: &str, fingerprint: &str) -> Option<usize> {
    let rest = token.strip_prefix("o/")?;
    let (offset, print) = rest.split_once('/')?;
    (print == fingerprint).then_some(())?;
    offset.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let key = EventKey { timestamp: 1_714_564_800_000, seq: 7 };
        let token = event_token(Direction::Backward, key, "s");
        assert_eq!(parse_event_token(&token, "s"), Some((Direction::Backward, key)));
        assert_eq!(parse_event_token(&token, "other"), None);
        assert_eq!(parse_event_token("garbage", "s"), None);
        let print = fingerprint(&["a", "b"]);
        assert_ne!(print, fingerprint(&["ab", ""]));
        assert_eq!(parse_offset_token(&offset_token(50, &print), &print), Some(50));
        assert_eq!(parse_offset_token(&offset_token(50, &print), "x"), None);
        let token = filter_token(Direction::Forward, key, &print, 1_000);
        assert_eq!(parse_filter_token(&token, &print, 2_000), Some((Direction::Forward, key)));
        assert_eq!(parse_filter_token(&token, "other", 2_000), None);
        assert_eq!(parse_filter_token(&token, &print, 1_000 + FILTER_TOKEN_TTL_MS + 1), None, "expired");
    }
}
