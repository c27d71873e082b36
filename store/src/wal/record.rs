//! WAL record framing and the payload codec.
//!
//! Segment file: `FLWAL001` (8 bytes), then records:
//! ```text
//! u32 LE  payload length (bytes)
//! u32 LE  CRC-32 (IEEE) of the payload
//! payload:
//!   u8      kind (1 = log events)
//!   u64 LE  group id
//!   u64 LE  stream id
//!   i64 LE  ingestion time (ms)
//!   u64 LE  seq of the first event (events are numbered first_seq, first_seq + 1, ...)
//!   u32 LE  event count n
//!   n × { i64 LE timestamp (ms), u32 LE message length, message bytes (UTF-8) }
//! ```

pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"FLWAL001";
pub(crate) const FRAME_HEADER_LEN: usize = 8;
/// No record is larger: a 1 MiB batch of 10,000 events encodes to about 1.2 MiB.
pub(crate) const MAX_PAYLOAD_LEN: usize = 8 << 20;
const KIND_LOG_EVENTS: u8 = 1;

/// A batch of log events as the WAL stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEventsRecord {
    pub group_id: u64,
    pub stream_id: u64,
    pub ingestion_time: i64,
    pub first_seq: u64,
    pub events: Vec<(i64, String)>,
}

impl LogEventsRecord {
    pub fn last_seq(&self) -> u64 {
        self.first_seq + self.events.len() as u64 - 1
    }
}

/// Appends one framed record to `out`.
pub(crate) fn encode_frame(
    out: &mut Vec<u8>,
    group_id: u64,
    stream_id: u64,
    ingestion_time: i64,
    first_seq: u64,
    events: impl ExactSizeIterator<Item = (i64, impl AsRef<[u8]>)>,
) {
    let frame_start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    let payload_start = out.len();
    out.push(KIND_LOG_EVENTS);
    out.extend_from_slice(&group_id.to_le_bytes());
    out.extend_from_slice(&stream_id.to_le_bytes());
    out.extend_from_slice(&ingestion_time.to_le_bytes());
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&(events.len() as u32).to_le_bytes());
    for (timestamp, message) in events {
        let message = message.as_ref();
        out.extend_from_slice(&timestamp.to_le_bytes());
        out.extend_from_slice(&(message.len() as u32).to_le_bytes());
        out.extend_from_slice(message);
    }
    let payload_len = (out.len() - payload_start) as u32;
    let crc = crc32fast::hash(&out[payload_start..]);
    out[frame_start..frame_start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[frame_start + 4..frame_start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Why the bytes at some offset are not a valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FrameError {
    /// The file ends inside the frame: a write that never completed.
    Torn,
    /// Length out of range, checksum mismatch or an undecodable payload.
    Corrupt(&'static str),
}

/// Decodes the frame at the start of `bytes`; returns the record and the frame's length.
pub(crate) fn decode_frame(bytes: &[u8]) -> Result<(LogEventsRecord, usize), FrameError> {
    if bytes.len() < FRAME_HEADER_LEN {
        return Err(FrameError::Torn);
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().expect("4 bytes")) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().expect("4 bytes"));
    if len == 0 || len > MAX_PAYLOAD_LEN {
        return Err(FrameError::Corrupt("payload length out of range"));
    }
    let Some(payload) = bytes.get(FRAME_HEADER_LEN..FRAME_HEADER_LEN + len) else {
        return Err(FrameError::Torn);
    };
    if crc32fast::hash(payload) != crc {
        return Err(FrameError::Corrupt("checksum mismatch"));
    }
    let record = decode_payload(payload).ok_or(FrameError::Corrupt("undecodable payload"))?;
    Ok((record, FRAME_HEADER_LEN + len))
}

fn decode_payload(payload: &[u8]) -> Option<LogEventsRecord> {
    let mut cursor = Cursor { bytes: payload };
    if cursor.take(1)?[0] != KIND_LOG_EVENTS {
        return None;
    }
    let group_id = cursor.u64()?;
    let stream_id = cursor.u64()?;
    let ingestion_time = cursor.u64()? as i64;
    let first_seq = cursor.u64()?;
    let count = cursor.u32()? as usize;
    if count == 0 || count > payload.len() {
        return None;
    }
    let mut events = Vec::with_capacity(count);
    for _ in 0..count {
        let timestamp = cursor.u64()? as i64;
        let len = cursor.u32()? as usize;
        let message = std::str::from_utf8(cursor.take(len)?).ok()?;
        events.push((timestamp, message.to_owned()));
    }
    cursor.bytes.is_empty().then_some(LogEventsRecord { group_id, stream_id, ingestion_time, first_seq, events })
}

struct Cursor<'a> {
    bytes: &'a [u8],
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.bytes.len() < n {
            return None;
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let mut out = Vec::new();
        let events = vec![(5_i64, "hello".to_owned()), (6, "wörld".to_owned())];
        encode_frame(&mut out, 1, 2, 3, 40, events.iter().map(|(t, m)| (*t, m.as_bytes())));
        let (record, len) = decode_frame(&out).unwrap();
        assert_eq!(len, out.len());
        assert_eq!(record, LogEventsRecord { group_id: 1, stream_id: 2, ingestion_time: 3, first_seq: 40, events });
        assert_eq!(record.last_seq(), 41);
        assert_eq!(decode_frame(&out[..out.len() - 1]), Err(FrameError::Torn));
        let mut flipped = out.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(decode_frame(&flipped), Err(FrameError::Corrupt("checksum mismatch")));
    }
}
