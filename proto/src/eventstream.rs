//! The AWS event-stream binary framing (`application/vnd.amazon.eventstream`, spec logs.md
//! §7.3): prelude (total length, headers length, prelude CRC-32), string headers, payload,
//! message CRC-32; all integers big-endian.

/// One message with string-valued headers.
pub fn encode(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
    let mut encoded_headers = Vec::new();
    for (name, value) in headers {
        encoded_headers.push(name.len() as u8);
        encoded_headers.extend_from_slice(name.as_bytes());
        encoded_headers.push(7); // string
        encoded_headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        encoded_headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + encoded_headers.len() + payload.len() + 4;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&(total as u32).to_be_bytes());
    out.extend_from_slice(&(encoded_headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&out);
    out.extend_from_slice(&prelude_crc.to_be_bytes());
    out.extend_from_slice(&encoded_headers);
    out.extend_from_slice(payload);
    let message_crc = crc32fast::hash(&out);
    out.extend_from_slice(&message_crc.to_be_bytes());
    out
}

/// An event of `event_type` with a JSON payload.
pub fn event(event_type: &str, payload: &serde_json::Value) -> Vec<u8> {
    encode(
        &[(":message-type", "event"), (":event-type", event_type), (":content-type", "application/json")],
        payload.to_string().as_bytes(),
    )
}

/// An in-stream modeled exception.
pub fn exception(exception_type: &str, message: &str) -> Vec<u8> {
    encode(
        &[(":message-type", "exception"), (":exception-type", exception_type), (":content-type", "application/json")],
        serde_json::json!({ "message": message }).to_string().as_bytes(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout_and_checksums() {
        let frame = encode(&[(":event-type", "x")], b"{}");
        let total = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        let headers = u32::from_be_bytes(frame[4..8].try_into().unwrap()) as usize;
        assert_eq!(total, frame.len());
        assert_eq!(headers, 1 + 11 + 1 + 2 + 1);
        assert_eq!(u32::from_be_bytes(frame[8..12].try_into().unwrap()), crc32fast::hash(&frame[..8]));
        assert_eq!(&frame[12 + headers..total - 4], b"{}");
        assert_eq!(u32::from_be_bytes(frame[total - 4..].try_into().unwrap()), crc32fast::hash(&frame[..total - 4]));
    }
}
