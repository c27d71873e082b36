//! Replaying the WAL at startup: every complete record is returned; a torn or corrupt tail is
//! cut off (the file is truncated at the first bad frame). Never panics on any bytes.

use std::fs::{self, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use super::record::{FrameError, Record, SEGMENT_MAGIC, decode_frame};

/// What replay found.
#[derive(Debug, Default)]
pub(crate) struct Replay {
    /// Records with at least one event at or above `from_seq`, in log order.
    pub records: Vec<Record>,
    /// Segments kept on disk: (first seq, path), ascending.
    pub segments: Vec<(u64, PathBuf)>,
    /// One past the highest seq seen (or `from_seq`).
    pub next_seq: u64,
    /// Bytes cut off torn or corrupt tails.
    pub cut_bytes: u64,
}

/// Reads every segment in `dir`; records entirely below `from_seq` (already flushed) are skipped.
pub(crate) fn replay(dir: &Path, from_seq: u64) -> io::Result<Replay> {
    let mut segments: Vec<(u64, PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let first_seq = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wal"))
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(first_seq) = first_seq {
            segments.push((first_seq, path));
        }
    }
    segments.sort();

    let mut replay = Replay { next_seq: from_seq, ..Replay::default() };
    for (first_seq, path) in segments {
        let bytes = fs::read(&path)?;
        if bytes.len() < SEGMENT_MAGIC.len() || &bytes[..SEGMENT_MAGIC.len()] != SEGMENT_MAGIC {
            tracing::warn!(path = %path.display(), "wal segment without a valid header removed");
            replay.cut_bytes += bytes.len() as u64;
            fs::remove_file(&path)?;
            continue;
        }
        let mut offset = SEGMENT_MAGIC.len();
        while offset < bytes.len() {
            match decode_frame(&bytes[offset..]) {
                Ok((record, len)) => {
                    offset += len;
                    replay.next_seq = replay.next_seq.max(record.last_seq() + 1);
                    if record.last_seq() >= from_seq {
                        replay.records.push(record);
                    }
                }
                Err(error) => {
                    let reason = match error {
                        FrameError::Torn => "torn write",
                        FrameError::Corrupt(reason) => reason,
                    };
                    tracing::warn!(path = %path.display(), offset, reason, "wal tail cut");
                    replay.cut_bytes += (bytes.len() - offset) as u64;
                    let file = OpenOptions::new().write(true).open(&path)?;
                    file.set_len(offset as u64)?;
                    file.sync_all()?;
                    break;
                }
            }
        }
        replay.next_seq = replay.next_seq.max(first_seq);
        replay.segments.push((first_seq, path));
    }
    Ok(replay)
}
