//! The write-ahead log: numbered segment files of checksummed records (format in `record`).
//!
//! A segment is named after the seq of its first event (`00000000000000000042.wal`) and covers
//! every seq below the next segment's name. A new segment starts at every open and at every
//! memtable freeze, so a flushed Parquet file always replaces whole segments.

pub(crate) mod record;
mod recovery;

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub use record::SpanRow;
pub(crate) use record::{Record, encode_frame, encode_metrics_frame, encode_spans_frame};
pub(crate) use recovery::replay;

/// The open WAL: one segment being appended, older segments kept until flushed.
pub(crate) struct Wal {
    dir: PathBuf,
    current: File,
    /// Bytes of `current` that hold whole, written frames: where the next append starts.
    current_len: u64,
    /// An append failed and could not be cut back: the segment may end in a partial frame,
    /// so nothing more may follow it until the cut succeeds.
    torn: bool,
    current_first_seq: u64,
    /// Closed segments: (first seq, path), ascending.
    closed: Vec<(u64, PathBuf)>,
    sync: bool,
}

impl Wal {
    /// Starts a fresh segment at `next_seq` after recovery returned `closed`.
    pub(crate) fn open(dir: &Path, closed: Vec<(u64, PathBuf)>, next_seq: u64, sync: bool) -> io::Result<Self> {
        let current = create_segment(dir, next_seq)?;
        Ok(Self {
            dir: dir.to_owned(),
            current,
            current_len: record::SEGMENT_MAGIC.len() as u64,
            torn: false,
            current_first_seq: next_seq,
            closed,
            sync,
        })
    }

    /// Appends `frames` and makes them durable, or leaves the segment as it was: a failed
    /// write or sync (a full disk, an I/O error) is cut back off, so refused records never
    /// reappear at replay and a partial frame never sits before later acknowledged ones.
    pub(crate) fn append_durably(&mut self, frames: &[u8]) -> io::Result<()> {
        if self.torn {
            self.cut_back()?;
        }
        match self.append(frames).and_then(|()| self.sync()) {
            Ok(()) => {
                self.current_len += frames.len() as u64;
                Ok(())
            }
            Err(error) => {
                if self.cut_back().is_err() {
                    self.torn = true;
                }
                Err(error)
            }
        }
    }

    fn cut_back(&mut self) -> io::Result<()> {
        use std::io::Seek;
        self.current.set_len(self.current_len)?;
        self.current.seek(io::SeekFrom::Start(self.current_len))?;
        self.torn = false;
        Ok(())
    }

    fn append(&mut self, frames: &[u8]) -> io::Result<()> {
        self.current.write_all(frames)
    }

    /// Makes every appended byte durable (unless `sync` was relaxed in the config).
    fn sync(&mut self) -> io::Result<()> {
        if self.sync { self.current.sync_data() } else { Ok(()) }
    }

    /// Closes the current segment and starts one whose first event will be `next_seq`.
    pub(crate) fn rotate(&mut self, next_seq: u64) -> io::Result<()> {
        if next_seq == self.current_first_seq {
            return Ok(());
        }
        self.current.sync_all()?;
        let current = create_segment(&self.dir, next_seq)?;
        let old_first = std::mem::replace(&mut self.current_first_seq, next_seq);
        self.current = current;
        self.current_len = record::SEGMENT_MAGIC.len() as u64;
        self.torn = false;
        self.closed.push((old_first, segment_path(&self.dir, old_first)));
        Ok(())
    }

    /// Deletes closed segments whose events all have a seq below `seq`.
    pub(crate) fn remove_below(&mut self, seq: u64) -> io::Result<()> {
        let mut keep = Vec::new();
        let closed = std::mem::take(&mut self.closed);
        let ends: Vec<u64> = closed.iter().skip(1).map(|(first, _)| *first).chain([self.current_first_seq]).collect();
        for ((first, path), end) in closed.into_iter().zip(ends) {
            if end <= seq {
                fs::remove_file(&path)?;
            } else {
                keep.push((first, path));
            }
        }
        self.closed = keep;
        Ok(())
    }

    /// Number of segment files on disk, the open one included.
    #[cfg(test)]
    pub(crate) fn segment_count(&self) -> usize {
        self.closed.len() + 1
    }
}

fn segment_path(dir: &Path, first_seq: u64) -> PathBuf {
    dir.join(format!("{first_seq:020}.wal"))
}

fn create_segment(dir: &Path, first_seq: u64) -> io::Result<File> {
    let path = segment_path(dir, first_seq);
    let mut file = OpenOptions::new().create(true).write(true).truncate(true).open(&path)?;
    file.write_all(record::SEGMENT_MAGIC)?;
    file.sync_all()?;
    sync_dir(dir)?;
    Ok(file)
}

/// Makes a directory's entries (new or removed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests;
