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
    let text = document(datagram)?;
    api.validate(text).map_err(|e| Drop::Invalid(e.code))
}

/// The document of a datagram: after a `{"format":"json","version":1}` header line.
pub fn document(datagram: &[u8]) -> Result<&str, Drop> {
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
    std::str::from_utf8(body).map_err(|_| Drop::Invalid("InvalidSegment"))
}

/// Socket receive buffer asked for: bursts wait in the kernel instead of being dropped (the
/// kernel caps it at `net.core.rmem_max`).
const RECEIVE_BUFFER: usize = 8 << 20;
/// Datagrams received but not yet decoded.
const QUEUE: usize = 16_384;

/// Receives datagrams until `stop` fires, then writes what is pending. One task only drains the
/// socket; decoding and appending run in another, so bursts are not lost to a slow parse.
pub async fn serve(socket: UdpSocket, api: Arc<TracesWriteApi>, stop: CancellationToken) {
    if let Err(error) = socket2::SockRef::from(&socket).set_recv_buffer_size(RECEIVE_BUFFER) {
        tracing::debug!(%error, "x-ray udp receive buffer left at its default");
    }
    let metrics = api.store().metrics().clone();
    let (sender, receiver) = tokio::sync::mpsc::channel::<Vec<u8>>(QUEUE);
    let worker = tokio::spawn(process(api, receiver));
    let mut buffer = vec![0u8; BUFFER];
    loop {
        let received = tokio::select! {
            _ = stop.cancelled() => break,
            r = socket.recv_from(&mut buffer) => r,
        };
        match received {
            Ok((len, _)) => {
                metrics.udp_datagrams.inc();
                // A datagram that filled the buffer was truncated by the kernel.
                if len >= BUFFER {
                    metrics.spans_rejected.with_label_values(&["udp", "truncated"]).inc();
                    continue;
                }
                if sender.try_send(buffer[..len].to_vec()).is_err() {
                    metrics.spans_rejected.with_label_values(&["udp", "overload"]).inc();
                }
            }
            Err(error) => tracing::warn!(%error, "x-ray udp receive failed"),
        }
    }
    drop(sender);
    let _ = worker.await;
    tracing::debug!("x-ray udp listener stopped");
}

/// Decodes queued datagrams and appends them in batches (1,000 documents or 200 ms).
async fn process(api: Arc<TracesWriteApi>, mut receiver: tokio::sync::mpsc::Receiver<Vec<u8>>) {
    let metrics = api.store().metrics().clone();
    let mut pending: Vec<SegmentDoc> = Vec::new();
    let mut deadline = tokio::time::Instant::now() + BATCH_WAIT;
    loop {
        let received = tokio::select! {
            _ = tokio::time::sleep_until(deadline), if !pending.is_empty() => None,
            r = receiver.recv() => match r {
                Some(datagram) => Some(datagram),
                None => break,
            },
        };
        if let Some(datagram) = received {
            match decode(&api, &datagram) {
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
        write(&api, &mut pending).await;
    }
    write(&api, &mut pending).await;
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
