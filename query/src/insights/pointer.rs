//! `@ptr`: an opaque, URL-safe pointer to one event (group id, stream id, sequence number and
//! timestamp, the last for pruning when the record is fetched by GetLogRecord).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pointer {
    pub group_id: u64,
    pub stream_id: u64,
    pub seq: u64,
    pub timestamp: i64,
}

pub fn encode(group_id: u64, stream_id: u64, seq: u64, timestamp: i64) -> String {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&group_id.to_be_bytes());
    bytes[8..16].copy_from_slice(&stream_id.to_be_bytes());
    bytes[16..24].copy_from_slice(&seq.to_be_bytes());
    bytes[24..].copy_from_slice(&timestamp.to_be_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn decode(text: &str) -> Option<Pointer> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    let bytes: [u8; 32] = bytes.try_into().ok()?;
    let word = |i: usize| u64::from_be_bytes(bytes[i..i + 8].try_into().expect("8 bytes"));
    Some(Pointer { group_id: word(0), stream_id: word(8), seq: word(16), timestamp: word(24) as i64 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let ptr = encode(3, 9, 123_456, 1714564805000);
        assert_eq!(decode(&ptr), Some(Pointer { group_id: 3, stream_id: 9, seq: 123_456, timestamp: 1714564805000 }));
        assert_eq!(decode("nope"), None);
        assert_eq!(decode(""), None);
    }
}
