//! WAL record framing and the payload codec.
//!
//! Segment file: `FLWAL001` (8 bytes), then records:
//! ```text
//! u32 LE  payload length (bytes)
//! u32 LE  CRC-32 (IEEE) of the payload
//! payload:
//!   u8      kind (1 = log events, 2 = trace documents, 3 = metric samples)
//! kind 1:
//!   u64 LE  group id
//!   u64 LE  stream id
//!   i64 LE  ingestion time (ms)
//!   u64 LE  seq of the first event (events are numbered first_seq, first_seq + 1, ...)
//!   u32 LE  event count n
//!   n × { i64 LE timestamp (ms), u32 LE message length, message bytes (UTF-8) }
//! kind 2:
//!   i64 LE  ingestion time (ms)
//!   u64 LE  seq of the first document
//!   u32 LE  document count n
//!   n × { 16 bytes trace id, u64 LE id, u64 LE parent id (0 = none), i64 LE start (ns),
//!         i64 LE end (ns, i64::MIN = in progress), u32 LE name length, name bytes,
//!         u32 LE document length, document bytes (UTF-8 JSON) }
//! kind 3:
//!   i64 LE  ingestion time (ms)
//!   u64 LE  seq of the first sample
//!   u32 LE  series count k
//!   k × { u64 LE series id, u32 LE key length, key bytes (JSON `SeriesKey`) }
//!   u32 LE  sample count n
//!   n × { u32 LE series index (into the k series), i64 LE timestamp (ms), u8 unit,
//!         u16 LE resolution, u8 is_set, f64 LE count, sum, min, max }
//! ```

use fluoro_proto::metrics::{KeyedSample, Sample, SeriesKey};

pub(crate) const SEGMENT_MAGIC: &[u8; 8] = b"FLWAL001";
pub(crate) const FRAME_HEADER_LEN: usize = 8;
/// No record is larger: a 1 MiB batch of 10,000 events encodes to about 1.2 MiB.
pub(crate) const MAX_PAYLOAD_LEN: usize = 8 << 20;
const KIND_LOG_EVENTS: u8 = 1;
const KIND_SPANS: u8 = 2;
const KIND_METRICS: u8 = 3;
const NO_END: i64 = i64::MIN;

/// A WAL record: log events or trace documents.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Logs(LogEventsRecord),
    Spans(SpansRecord),
    Metrics(MetricsRecord),
}

impl Record {
    #[cfg(test)]
    pub fn first_seq(&self) -> u64 {
        match self {
            Self::Logs(r) => r.first_seq,
            Self::Spans(r) => r.first_seq,
            Self::Metrics(r) => r.first_seq,
        }
    }

    pub fn last_seq(&self) -> u64 {
        match self {
            Self::Logs(r) => r.last_seq(),
            Self::Spans(r) => r.first_seq + r.rows.len() as u64 - 1,
            Self::Metrics(r) => r.first_seq + r.samples.len() as u64 - 1,
        }
    }
}

/// One stored trace document (a segment or an independent subsegment) as the WAL and the
/// memtable hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpanRow {
    pub trace_id: [u8; 16],
    pub id: u64,
    pub parent_id: Option<u64>,
    pub start_ns: i64,
    pub end_ns: Option<i64>,
    pub name: String,
    pub document: String,
}

impl From<fluoro_proto::xray::SegmentDoc> for SpanRow {
    fn from(doc: fluoro_proto::xray::SegmentDoc) -> Self {
        Self {
            trace_id: doc.trace_id.0,
            id: doc.id.0,
            parent_id: doc.parent_id.map(|p| p.0),
            start_ns: doc.start_ns,
            end_ns: doc.end_ns,
            name: doc.name,
            document: doc.json,
        }
    }
}

/// A batch of trace documents as the WAL stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpansRecord {
    pub ingestion_time: i64,
    pub first_seq: u64,
    pub rows: Vec<SpanRow>,
}

/// Appends one framed record of trace documents to `out`.
pub(crate) fn encode_spans_frame(out: &mut Vec<u8>, ingestion_time: i64, first_seq: u64, rows: &[SpanRow]) {
    let frame_start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    let payload_start = out.len();
    out.push(KIND_SPANS);
    out.extend_from_slice(&ingestion_time.to_le_bytes());
    out.extend_from_slice(&first_seq.to_le_bytes());
    out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
    for row in rows {
        out.extend_from_slice(&row.trace_id);
        out.extend_from_slice(&row.id.to_le_bytes());
        out.extend_from_slice(&row.parent_id.unwrap_or(0).to_le_bytes());
        out.extend_from_slice(&row.start_ns.to_le_bytes());
        out.extend_from_slice(&row.end_ns.unwrap_or(NO_END).to_le_bytes());
        for text in [&row.name, &row.document] {
            out.extend_from_slice(&(text.len() as u32).to_le_bytes());
            out.extend_from_slice(text.as_bytes());
        }
    }
    let payload_len = (out.len() - payload_start) as u32;
    let crc = crc32fast::hash(&out[payload_start..]);
    out[frame_start..frame_start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[frame_start + 4..frame_start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Metric samples with the identities of their series, as the WAL stores them.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsRecord {
    pub ingestion_time: i64,
    pub first_seq: u64,
    pub samples: Vec<KeyedSample>,
}

/// Appends one framed record of metric samples to `out`.
pub(crate) fn encode_metrics_frame(out: &mut Vec<u8>, ingestion_time: i64, first_seq: u64, samples: &[KeyedSample]) {
    let frame_start = out.len();
    out.extend_from_slice(&[0; FRAME_HEADER_LEN]);
    let payload_start = out.len();
    out.push(KIND_METRICS);
    out.extend_from_slice(&ingestion_time.to_le_bytes());
    out.extend_from_slice(&first_seq.to_le_bytes());
    // Each distinct series once; samples refer to it by index.
    let mut index: std::collections::HashMap<u64, u32> = std::collections::HashMap::new();
    let mut series = Vec::new();
    for s in samples {
        index.entry(s.sample.series).or_insert_with(|| {
            series.push(&s.key);
            (series.len() - 1) as u32
        });
    }
    out.extend_from_slice(&(series.len() as u32).to_le_bytes());
    for key in series {
        let json = serde_json::to_vec(key.as_ref()).expect("series keys serialize");
        out.extend_from_slice(&key.id().to_le_bytes());
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&json);
    }
    out.extend_from_slice(&(samples.len() as u32).to_le_bytes());
    for s in samples {
        let x = &s.sample;
        out.extend_from_slice(&index[&x.series].to_le_bytes());
        out.extend_from_slice(&x.timestamp_ms.to_le_bytes());
        out.push(x.unit);
        out.extend_from_slice(&x.resolution.to_le_bytes());
        out.push(u8::from(x.is_set));
        for f in [x.count, x.sum, x.min, x.max] {
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
    let payload_len = (out.len() - payload_start) as u32;
    let crc = crc32fast::hash(&out[payload_start..]);
    out[frame_start..frame_start + 4].copy_from_slice(&payload_len.to_le_bytes());
    out[frame_start + 4..frame_start + 8].copy_from_slice(&crc.to_le_bytes());
}

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
pub(crate) fn decode_frame(bytes: &[u8]) -> Result<(Record, usize), FrameError> {
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

pub(crate) fn decode_payload(payload: &[u8]) -> Option<Record> {
    let mut cursor = Cursor { bytes: payload };
    match cursor.take(1)?[0] {
        KIND_LOG_EVENTS => decode_log_events(cursor).map(Record::Logs),
        KIND_SPANS => decode_spans(cursor).map(Record::Spans),
        KIND_METRICS => decode_metrics(cursor).map(Record::Metrics),
        _ => None,
    }
}

fn decode_spans(mut cursor: Cursor<'_>) -> Option<SpansRecord> {
    let ingestion_time = cursor.u64()? as i64;
    let first_seq = cursor.u64()?;
    let count = cursor.u32()? as usize;
    if count == 0 || count > cursor.bytes.len() {
        return None;
    }
    let mut rows = Vec::with_capacity(count);
    for _ in 0..count {
        let trace_id: [u8; 16] = cursor.take(16)?.try_into().ok()?;
        let id = cursor.u64()?;
        let parent_id = Some(cursor.u64()?).filter(|p| *p != 0);
        let start_ns = cursor.u64()? as i64;
        let end_ns = Some(cursor.u64()? as i64).filter(|e| *e != NO_END);
        let name_len = cursor.u32()? as usize;
        let name = std::str::from_utf8(cursor.take(name_len)?).ok()?.to_owned();
        let doc_len = cursor.u32()? as usize;
        let document = std::str::from_utf8(cursor.take(doc_len)?).ok()?.to_owned();
        rows.push(SpanRow { trace_id, id, parent_id, start_ns, end_ns, name, document });
    }
    cursor.bytes.is_empty().then_some(SpansRecord { ingestion_time, first_seq, rows })
}

fn decode_metrics(mut cursor: Cursor<'_>) -> Option<MetricsRecord> {
    let ingestion_time = cursor.u64()? as i64;
    let first_seq = cursor.u64()?;
    let series_count = cursor.u32()? as usize;
    if series_count > cursor.bytes.len() {
        return None;
    }
    let mut keys = Vec::with_capacity(series_count);
    for _ in 0..series_count {
        let id = cursor.u64()?;
        let len = cursor.u32()? as usize;
        let key: SeriesKey = serde_json::from_slice(cursor.take(len)?).ok()?;
        if key.id() != id {
            return None;
        }
        keys.push(std::sync::Arc::new(key));
    }
    let count = cursor.u32()? as usize;
    if count == 0 || count > cursor.bytes.len() {
        return None;
    }
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let key = keys.get(cursor.u32()? as usize)?.clone();
        let timestamp_ms = cursor.u64()? as i64;
        let flags = cursor.take(4)?;
        let mut f = [0.0; 4];
        for x in &mut f {
            *x = f64::from_bits(cursor.u64()?);
        }
        let sample = Sample {
            series: key.id(),
            timestamp_ms,
            unit: flags[0],
            resolution: u16::from_le_bytes([flags[1], flags[2]]),
            is_set: flags[3] != 0,
            count: f[0],
            sum: f[1],
            min: f[2],
            max: f[3],
        };
        samples.push(KeyedSample { key, sample });
    }
    cursor.bytes.is_empty().then_some(MetricsRecord { ingestion_time, first_seq, samples })
}

fn decode_log_events(mut cursor: Cursor<'_>) -> Option<LogEventsRecord> {
    let payload_len = cursor.bytes.len() + 1;
    let group_id = cursor.u64()?;
    let stream_id = cursor.u64()?;
    let ingestion_time = cursor.u64()? as i64;
    let first_seq = cursor.u64()?;
    let count = cursor.u32()? as usize;
    if count == 0 || count > payload_len {
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
        assert_eq!(
            record,
            Record::Logs(LogEventsRecord { group_id: 1, stream_id: 2, ingestion_time: 3, first_seq: 40, events })
        );
        assert_eq!(record.last_seq(), 41);
        assert_eq!(decode_frame(&out[..out.len() - 1]), Err(FrameError::Torn));
        let mut flipped = out.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(decode_frame(&flipped), Err(FrameError::Corrupt("checksum mismatch")));
    }

    #[test]
    fn metrics_frame_round_trip() {
        use fluoro_proto::metrics::{KeyedSample, Sample, SeriesKey};
        let a = std::sync::Arc::new(SeriesKey::new("N", "m", vec![("d".into(), "v".into())]));
        let b = std::sync::Arc::new(SeriesKey::new("N", "n", vec![]));
        let mut set = Sample::value(b.id(), 60_000, 3, 60, 1.0, 4.0);
        (set.sum, set.max, set.is_set) = (10.0, 5.0, true);
        let samples = vec![
            KeyedSample { key: a.clone(), sample: Sample::value(a.id(), 1_000, 2, 1, 12.5, 3.0) },
            KeyedSample { key: b.clone(), sample: set },
            KeyedSample { key: a.clone(), sample: Sample::value(a.id(), 2_000, 2, 1, -1.0, 1.0) },
        ];
        let mut bytes = Vec::new();
        encode_metrics_frame(&mut bytes, 7, 100, &samples);
        let (record, used) = decode_frame(&bytes).unwrap();
        assert_eq!(used, bytes.len());
        assert_eq!(record, Record::Metrics(MetricsRecord { ingestion_time: 7, first_seq: 100, samples }));
        assert_eq!(record.last_seq(), 102);
    }

    #[test]
    fn spans_frame_round_trip() {
        let rows = vec![
            SpanRow {
                trace_id: [7; 16],
                id: 9,
                parent_id: None,
                start_ns: 1,
                end_ns: None,
                name: "svc".into(),
                document: "{}".into(),
            },
            SpanRow {
                trace_id: [8; 16],
                id: 10,
                parent_id: Some(9),
                start_ns: -5,
                end_ns: Some(6),
                name: "db".into(),
                document: r#"{"a":"ü"}"#.into(),
            },
        ];
        let mut out = Vec::new();
        encode_spans_frame(&mut out, 3, 100, &rows);
        let (record, len) = decode_frame(&out).unwrap();
        assert_eq!(len, out.len());
        assert_eq!(record, Record::Spans(SpansRecord { ingestion_time: 3, first_seq: 100, rows }));
        assert_eq!(record.last_seq(), 101);
        for cut in 0..out.len() {
            assert!(decode_frame(&out[..cut]).is_err());
        }
    }
}
