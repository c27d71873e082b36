//! The X-Ray daemon's UDP protocol (spec traces.md §3.1): `{"format":"json","version":1}\n`
//! then one document per datagram. Nothing is answered; bad datagrams are dropped and counted.
//! Accepted documents are batched (1,000 documents or 200 ms) into one durable append.

use std::sync::Arc;
use std::time::Duration;

use fluoro_proto::xray::SegmentDoc;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::TracesWriteApi;

/// Read buffer: one datagram of up to 65,535 bytes fits; a larger one is truncated and dropped.
const BUFFER: usize = 65_536;
const BATCH_DOCUMENTS: usize = 1000;
const BATCH_WAIT: Duration = Duration::from_millis(200);

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drop {
    Header,
    Empty,
    Invalid(&'static str),
}

impl Drop {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Header => "header",
            Self::Empty => "missing_document",
            Self::Invalid(code) => code,
        }
    }
}

/// Splits and checks a datagram; the document is validated by `api`.
pub fn decode(api: &TracesWriteApi, datagram: &[u8]) -> Result<Vec<SegmentDoc>, Drop> {
    let split = datagram.iter().position(|b| *b == b'\n').ok_or(Drop::Header)?;
    let header: serde_json::Value = serde_json::from_slice(&datagram[..split]).map_err(|_| Drop::Header)?;
    let format_ok = header.get("format").and_then(|f| f.as_str()).is_some_and(|f| f.eq_ignore_ascii_case("json"));
    if !format_ok || header.get("version").and_then(|v| v.as_i64()) != Some(1) {
        return Err(Drop::Header);
    }
    let body = &datagram[split + 1..];
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Drop::Empty);
    }
    let text = std::str::from_utf8(body).map_err(|_| Drop::Invalid("InvalidSegment"))?;
    api.validate(text).map_err(|e| Drop::Invalid(e.code))
}

/// Receives datagrams until `stop` fires, then writes what is pending.
pub async fn serve(socket: UdpSocket, api: Arc<TracesWriteApi>, stop: CancellationToken) {
    let mut buffer = vec![0u8; BUFFER];
    let mut pending: Vec<SegmentDoc> = Vec::new();
    let mut deadline = tokio::time::Instant::now() + BATCH_WAIT;
    let metrics = api.store().metrics().clone();
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(deadline), if !pending.is_empty() => None,
            r = socket.recv_from(&mut buffer) => Some(r),
        };
        match received {
            Some(Ok((len, _))) => {
                metrics.udp_datagrams.inc();
                // A datagram that filled the buffer was truncated by the kernel.
                let result = if len >= BUFFER { Err(Drop::Invalid("truncated")) } else { decode(&api, &buffer[..len]) };
                match result {
                    Ok(docs) => {
                        if pending.is_empty() {
                            deadline = tokio::time::Instant::now() + BATCH_WAIT;
                        }
                        pending.extend(docs);
                    }
                    Err(drop) => metrics.spans_rejected.with_label_values(&["udp", drop.reason()]).inc(),
                }
                if pending.len() < BATCH_DOCUMENTS {
                    continue;
                }
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "x-ray udp receive failed");
                continue;
            }
            None => {}
        }
        write(&api, &mut pending).await;
    }
    write(&api, &mut pending).await;
    tracing::debug!("x-ray udp listener stopped");
}

async fn write(api: &TracesWriteApi, pending: &mut Vec<SegmentDoc>) {
    if pending.is_empty() {
        return;
    }
    let docs = std::mem::take(pending);
    let count = docs.len();
    if let Err(error) = api.append(docs).await {
        // UDP has no way to tell the sender; the drop is counted and logged.
        tracing::warn!(%error, count, "x-ray udp documents dropped");
        api.store().metrics().spans_rejected.with_label_values(&["udp", "store"]).inc_by(count as u64);
    }
}
