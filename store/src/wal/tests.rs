//! WAL model tests: what was appended and synced comes back; any truncation or corruption of
//! the bytes yields a clean prefix of the records and never a panic.

use proptest::prelude::*;

use super::record::{LogEventsRecord, Record};
use super::*;

fn write_records(dir: &Path, batches: &[Vec<(i64, String)>]) -> Vec<Record> {
    let mut wal = Wal::open(dir, Vec::new(), 0, true).unwrap();
    let mut next_seq = 0;
    let mut written = Vec::new();
    for events in batches {
        let mut frame = Vec::new();
        encode_frame(&mut frame, 1, 2, 99, next_seq, events.iter().map(|(t, m)| (*t, m.as_bytes())));
        wal.append(&frame).unwrap();
        written.push(Record::Logs(LogEventsRecord {
            group_id: 1,
            stream_id: 2,
            ingestion_time: 99,
            first_seq: next_seq,
            events: events.clone(),
        }));
        next_seq += events.len() as u64;
    }
    wal.sync().unwrap();
    written
}

fn only_segment(dir: &Path) -> PathBuf {
    let mut paths: Vec<PathBuf> = fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    paths.sort();
    paths.remove(0)
}

fn batches() -> impl Strategy<Value = Vec<Vec<(i64, String)>>> {
    prop::collection::vec(prop::collection::vec((any::<i64>(), "[a-zé ]{1,40}"), 1..5), 1..12)
}

#[test]
fn rotate_and_remove() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = Wal::open(dir.path(), Vec::new(), 0, true).unwrap();
    let mut frame = Vec::new();
    encode_frame(&mut frame, 1, 1, 1, 0, [(1_i64, "a"), (2, "b")].into_iter());
    wal.append(&frame).unwrap();
    wal.rotate(2).unwrap();
    assert_eq!(wal.segment_count(), 2);
    wal.remove_below(1).unwrap();
    assert_eq!(wal.segment_count(), 2, "segment 0 still holds seq 1");
    wal.remove_below(2).unwrap();
    assert_eq!(wal.segment_count(), 1);
    let replay = replay(dir.path(), 2).unwrap();
    assert!(replay.records.is_empty());
    assert_eq!(replay.next_seq, 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn truncation_yields_a_prefix(batches in batches(), cut in any::<prop::sample::Index>()) {
        let dir = tempfile::tempdir().unwrap();
        let written = write_records(dir.path(), &batches);
        let path = only_segment(dir.path());
        let len = fs::metadata(&path).unwrap().len();
        let keep = cut.index(len as usize + 1) as u64;
        OpenOptions::new().write(true).open(&path).unwrap().set_len(keep).unwrap();
        let replay = replay(dir.path(), 0).unwrap();
        prop_assert!(replay.records.len() <= written.len());
        prop_assert_eq!(&replay.records[..], &written[..replay.records.len()]);
        // A second replay finds the same records and nothing more to cut.
        let again = super::replay(dir.path(), 0).unwrap();
        prop_assert_eq!(again.records, replay.records);
        prop_assert_eq!(again.cut_bytes, 0);
    }

    #[test]
    fn corruption_never_yields_a_wrong_record(batches in batches(), at in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let dir = tempfile::tempdir().unwrap();
        let written = write_records(dir.path(), &batches);
        let path = only_segment(dir.path());
        let mut bytes = fs::read(&path).unwrap();
        let at = at.index(bytes.len());
        bytes[at] ^= flip;
        fs::write(&path, &bytes).unwrap();
        let replay = replay(dir.path(), 0).unwrap();
        prop_assert_eq!(&replay.records[..], &written[..replay.records.len()]);
    }

    #[test]
    fn records_below_from_seq_are_skipped(batches in batches()) {
        let dir = tempfile::tempdir().unwrap();
        let written = write_records(dir.path(), &batches);
        let from = written[written.len() / 2].first_seq();
        let replay = replay(dir.path(), from).unwrap();
        let want: Vec<_> = written.iter().filter(|r| r.last_seq() >= from).cloned().collect();
        prop_assert_eq!(replay.records, want);
    }
}
