//! The term index: one Tantivy index per Parquet file, stored beside it in the object store
//! (`<file>.idx`). It answers "which rows may contain these words" so a scan reads only those
//! rows; when too many rows match, the caller scans instead.
//!
//! Documents are blocks of `BLOCK_ROWS` consecutive rows (one Tantivy doc each), holding
//! the letter runs of their messages. There are no stored fields: Parquet holds the
//! messages. A `block` fast field maps doc → block number.
//!
//! Only letters are indexed: ids, hashes, timestamps and numbers would fill the term
//! dictionary with unique terms (as large as the data, and slow to search), while their
//! letter runs are short and few. Digits in a literal are simply not used for pruning.
//!
//! Sidecar format: `FLIDX001`, u32 LE header length, header JSON (`IndexHeader`), then the
//! Tantivy files' bytes back to back.
//!
//! Soundness: filter patterns match substrings. A literal's letter runs each lie inside one
//! letter run of any message containing it, so a block is a candidate iff, for every run, some
//! term of the block contains the run (a `.*run.*` regex over the term dictionary). Tokens
//! Tantivy cannot index (longer than `MAX_TOKEN_LEN`) make their block always a candidate.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::datasource::physical_plan::parquet::{ParquetAccessPlan, RowGroupAccess};
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use fluoro_proto::logs::columns;
use serde::{Deserialize, Serialize};
use tantivy::collector::DocSetCollector;
use tantivy::directory::{Directory, RamDirectory};
use tantivy::indexer::NoMergePolicy;
use tantivy::query::{BooleanQuery, Occur, Query, RegexQuery};
use tantivy::schema::{FAST, Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions};
use tantivy::tokenizer::{MAX_TOKEN_LEN, RegexTokenizer, TextAnalyzer};
use tantivy::{Index, IndexWriter, TantivyDocument};

/// Rows per index document.
pub const BLOCK_ROWS: usize = 256;
const MAGIC: &[u8; 8] = b"FLIDX001";
const TOKENIZER: &str = "fluoro_words";
const MESSAGE: &str = "message";
const BLOCK: &str = "block";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("tantivy: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt index sidecar: {0}")]
    Corrupt(&'static str),
}

#[derive(Debug, Serialize, Deserialize)]
struct IndexHeader {
    block_rows: usize,
    blocks: usize,
    /// Blocks with a token too long to index: always candidates.
    unindexed_blocks: Vec<u64>,
    /// (file name, length) of each Tantivy file, in the order their bytes follow the header.
    files: Vec<(String, u64)>,
    /// CRC-32 of those bytes: checked before Tantivy reads them (it panics on some damage).
    /// Absent in sidecars written before it existed.
    #[serde(default)]
    crc32: Option<u32>,
}

/// The answer of one lookup: candidate row ranges, or `None` for "scan the whole file".
type Candidates = Option<Vec<Range<u64>>>;

/// An opened index of one data file.
pub struct FileIndex {
    reader: tantivy::IndexReader,
    message: Field,
    header: IndexHeader,
    /// Answers of earlier lookups (the file never changes): a repeated search skips the
    /// term-dictionary scans that `.*word.*` needs.
    memo: parking_lot::Mutex<std::collections::HashMap<Vec<String>, Candidates>>,
}

/// Letter runs of `text`, exactly as the index tokenizes it.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !c.is_alphabetic()).filter(|w| !w.is_empty())
}

fn schema() -> (Schema, Field, Field) {
    let mut builder = Schema::builder();
    let indexing = TextFieldIndexing::default().set_tokenizer(TOKENIZER).set_index_option(IndexRecordOption::Basic);
    let message = builder.add_text_field(MESSAGE, TextOptions::default().set_indexing_options(indexing));
    let block = builder.add_u64_field(BLOCK, FAST);
    (builder.build(), message, block)
}

fn register_tokenizer(index: &Index) {
    let letters = RegexTokenizer::new(r"\p{Alphabetic}+").expect("valid tokenizer regex");
    index.tokenizers().register(TOKENIZER, TextAnalyzer::from(letters));
}

/// Builds the sidecar for a sorted batch (the rows of one Parquet file, in file order).
pub fn build(sorted: &RecordBatch) -> Result<Vec<u8>, IndexError> {
    build_column(sorted, columns::MESSAGE)
}

/// Builds the sidecar over any UTF-8 column (trace files index their documents).
pub fn build_column(sorted: &RecordBatch, column: &str) -> Result<Vec<u8>, IndexError> {
    let messages = sorted.column_by_name(column).expect("schema column").as_string::<i32>();
    let (schema, message, block) = schema();
    let directory = RamDirectory::create();
    let index = Index::create(directory.clone(), schema, tantivy::IndexSettings::default())?;
    register_tokenizer(&index);
    let mut writer: IndexWriter = index.writer_with_num_threads(1, 64 << 20)?;
    writer.set_merge_policy(Box::new(NoMergePolicy));
    let blocks = messages.len().div_ceil(BLOCK_ROWS);
    let mut unindexed_blocks = Vec::new();
    let mut text = String::new();
    for b in 0..blocks {
        text.clear();
        let rows = b * BLOCK_ROWS..((b + 1) * BLOCK_ROWS).min(messages.len());
        for row in rows {
            let value = messages.value(row);
            if words(value).any(|w| w.len() > MAX_TOKEN_LEN) {
                unindexed_blocks.push(b as u64);
            }
            text.push_str(value);
            text.push('\n');
        }
        let mut doc = TantivyDocument::default();
        doc.add_text(message, &text);
        doc.add_u64(block, b as u64);
        writer.add_document(doc)?;
    }
    writer.commit()?;
    writer.wait_merging_threads()?;

    let mut names: BTreeSet<PathBuf> = BTreeSet::from([PathBuf::from("meta.json")]);
    names.extend(index.directory().list_managed_files());
    let mut files = Vec::new();
    let mut body = Vec::new();
    for name in names {
        let Ok(handle) = directory.open_read(&name) else { continue };
        let bytes = handle.read_bytes()?;
        files.push((name.to_string_lossy().into_owned(), bytes.len() as u64));
        body.extend_from_slice(bytes.as_slice());
    }
    unindexed_blocks.dedup();
    let crc32 = Some(crc32fast::hash(&body));
    let header = serde_json::to_vec(&IndexHeader { block_rows: BLOCK_ROWS, blocks, unindexed_blocks, files, crc32 })
        .expect("header serializes");
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + header.len() + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&body);
    Ok(out)
}

impl FileIndex {
    /// Opens a sidecar's bytes.
    pub fn open(bytes: &[u8]) -> Result<Self, IndexError> {
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or(IndexError::Corrupt("magic"))?;
        let header_len =
            u32::from_le_bytes(rest.get(..4).ok_or(IndexError::Corrupt("header length"))?.try_into().expect("4 bytes"))
                as usize;
        let header_bytes = rest.get(4..4 + header_len).ok_or(IndexError::Corrupt("header"))?;
        let header: IndexHeader =
            serde_json::from_slice(header_bytes).map_err(|_| IndexError::Corrupt("header json"))?;
        let body = &rest[4 + header_len..];
        if header.crc32.is_some_and(|crc| crc != crc32fast::hash(body)) {
            return Err(IndexError::Corrupt("checksum"));
        }
        let directory = RamDirectory::create();
        let mut offset = 4 + header_len;
        for (name, len) in &header.files {
            let end = offset + *len as usize;
            let data = rest.get(offset..end).ok_or(IndexError::Corrupt("file bytes"))?;
            directory.atomic_write(Path::new(name), data)?;
            offset = end;
        }
        let index = Index::open(directory)?;
        // Each Tantivy file ends with a checksum: damage inside one is found here, not by a
        // search that silently misses rows.
        if !index.validate_checksum()?.is_empty() {
            return Err(IndexError::Corrupt("checksum"));
        }
        register_tokenizer(&index);
        let (_, message, _) = schema();
        let reader = index.reader()?;
        Ok(Self { reader, message, header, memo: Default::default() })
    }

    /// Row ranges that may contain every one of `literals`; `None` when the index cannot
    /// narrow the scan (no usable words, or more than `max_fraction` of the blocks match).
    pub fn candidate_rows(&self, literals: &[&str], total_rows: u64, max_fraction: f64) -> Option<Vec<Range<u64>>> {
        /// Distinct word sets remembered per file.
        const MEMO_ENTRIES: usize = 256;
        let runs: BTreeSet<&str> = literals.iter().flat_map(|l| words(l)).collect();
        if runs.is_empty() {
            return None;
        }
        let key: Vec<String> = runs.iter().map(|r| r.to_string()).collect();
        if let Some(known) = self.memo.lock().get(&key) {
            return known.clone();
        }
        let found = self.lookup(&runs, total_rows, max_fraction);
        let mut memo = self.memo.lock();
        if memo.len() >= MEMO_ENTRIES {
            memo.clear();
        }
        memo.insert(key, found.clone());
        found
    }

    fn lookup(&self, runs: &BTreeSet<&str>, total_rows: u64, max_fraction: f64) -> Option<Vec<Range<u64>>> {
        let clauses: Vec<(Occur, Box<dyn Query>)> = runs
            .iter()
            .filter_map(|run| {
                let pattern = format!(".*{}.*", regex_syntax_escape(run));
                RegexQuery::from_pattern(&pattern, self.message)
                    .ok()
                    .map(|q| (Occur::Must, Box::new(q) as Box<dyn Query>))
            })
            .collect();
        if clauses.len() != runs.len() {
            return None;
        }
        let searcher = self.reader.searcher();
        let docs = searcher.search(&BooleanQuery::new(clauses), &DocSetCollector).ok()?;
        let mut blocks: BTreeSet<u64> = self.header.unindexed_blocks.iter().copied().collect();
        for address in docs {
            let segment = searcher.segment_reader(address.segment_ord);
            let column = segment.fast_fields().u64(BLOCK).ok()?;
            blocks.insert(column.first(address.doc_id)?);
        }
        if blocks.len() as f64 > self.header.blocks as f64 * max_fraction {
            return None;
        }
        let block_rows = self.header.block_rows as u64;
        let mut ranges: Vec<Range<u64>> = Vec::new();
        for b in blocks {
            let range = b * block_rows..((b + 1) * block_rows).min(total_rows);
            match ranges.last_mut() {
                Some(last) if last.end == range.start => last.end = range.end,
                _ => ranges.push(range),
            }
        }
        Some(ranges)
    }

    #[cfg(test)]
    fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }
}

/// Escapes regex metacharacters (words are letters only, so this is defensive).
fn regex_syntax_escape(word: &str) -> String {
    word.chars().flat_map(|c| if c.is_ascii_punctuation() { vec!['\\', c] } else { vec![c] }).collect()
}

/// Turns file-global row ranges into a Parquet access plan over row groups of `row_groups` rows.
pub fn access_plan(ranges: &[Range<u64>], row_groups: &[u64]) -> ParquetAccessPlan {
    let mut plan = Vec::with_capacity(row_groups.len());
    let mut group_start = 0u64;
    let mut ranges = ranges.iter().peekable();
    for &rows in row_groups {
        let group_end = group_start + rows;
        let mut selectors = Vec::new();
        let mut cursor = group_start;
        while let Some(range) = ranges.peek() {
            if range.start >= group_end {
                break;
            }
            let start = range.start.max(group_start);
            let end = range.end.min(group_end);
            if start > cursor {
                selectors.push(RowSelector::skip((start - cursor) as usize));
            }
            selectors.push(RowSelector::select((end - start) as usize));
            cursor = end;
            if range.end <= group_end {
                ranges.next();
            } else {
                break;
            }
        }
        let access = if selectors.is_empty() {
            RowGroupAccess::Skip
        } else {
            if cursor < group_end {
                selectors.push(RowSelector::skip((group_end - cursor) as usize));
            }
            RowGroupAccess::Selection(RowSelection::from(selectors))
        };
        plan.push(access);
        group_start = group_end;
    }
    ParquetAccessPlan::new(plan)
}

/// Opened indexes by file id, so queries don't re-read sidecars. Bounded by count.
#[derive(Default)]
pub struct IndexCache {
    entries: parking_lot::Mutex<std::collections::HashMap<u64, Arc<FileIndex>>>,
}

impl IndexCache {
    const CAPACITY: usize = 512;

    pub fn get(&self, file_id: u64) -> Option<Arc<FileIndex>> {
        self.entries.lock().get(&file_id).cloned()
    }

    pub fn insert(&self, file_id: u64, index: Arc<FileIndex>) {
        let mut entries = self.entries.lock();
        if entries.len() >= Self::CAPACITY {
            entries.clear();
        }
        entries.insert(file_id, index);
    }

    pub fn remove(&self, file_id: u64) {
        self.entries.lock().remove(&file_id);
    }
}

#[cfg(test)]
#[allow(clippy::single_range_in_vec_init)] // one expected row range is the common case here
mod tests {
    use super::*;
    use datafusion::arrow::array::StringArray;
    use fluoro_proto::logs::LOG_SCHEMA;

    fn batch_of(messages: &[String]) -> RecordBatch {
        use datafusion::arrow::array::{FixedSizeBinaryArray, Int64Array, UInt64Array};
        let n = messages.len();
        RecordBatch::try_new(
            LOG_SCHEMA.clone(),
            vec![
                Arc::new(UInt64Array::from_value(1, n)),
                Arc::new(UInt64Array::from_value(1, n)),
                Arc::new(Int64Array::from_value(0, n)),
                Arc::new(Int64Array::from_value(0, n)),
                Arc::new(UInt64Array::from_iter_values(0..n as u64)),
                Arc::new(StringArray::from_iter_values(messages)),
                Arc::new(FixedSizeBinaryArray::new_null(16, n)),
                Arc::new(UInt64Array::new_null(n)),
            ],
        )
        .unwrap()
    }

    #[test]
    fn finds_the_blocks_holding_a_word_and_its_substrings() {
        let mut messages: Vec<String> = (0..2000).map(|i| format!("INFO request {i} ok")).collect();
        messages[700] = "ERROR DeadlockDetected in tx-42".into();
        messages[1999] = "WARN retry".into();
        let index = FileIndex::open(&build(&batch_of(&messages)).unwrap()).unwrap();
        assert_eq!(index.num_docs(), 8);
        let rows = |lits: &[&str]| index.candidate_rows(lits, 2000, 0.5);
        assert_eq!(rows(&["DeadlockDetected"]), Some(vec![512..768]));
        assert_eq!(rows(&["Deadlock"]), Some(vec![512..768]), "substring of a token");
        assert_eq!(rows(&["tx-42"]), Some(vec![512..768]), "literal with a separator");
        assert_eq!(rows(&["WARN", "retry"]), Some(vec![1792..2000]));
        assert_eq!(rows(&["nowhere"]), Some(vec![]));
        assert_eq!(rows(&["INFO"]), None, "too common: scan instead");
        assert_eq!(rows(&["--"]), None, "no words");
        assert_eq!(rows(&["42"]), None, "digits are not indexed");
        assert_eq!(rows(&["x42Deadlock"]), Some(vec![512..768]), "letters of a mixed literal prune");
    }

    #[test]
    fn access_plan_splits_ranges_by_row_group() {
        let plan = access_plan(&[5..10, 18..25], &[10, 10, 10]);
        let inner = plan.inner();
        assert!(matches!(inner[0], RowGroupAccess::Selection(_)));
        assert!(matches!(inner[1], RowGroupAccess::Selection(_)));
        assert!(matches!(inner[2], RowGroupAccess::Selection(_)));
        let plan = access_plan(&[0..10], &[10, 10]);
        assert!(matches!(plan.inner()[1], RowGroupAccess::Skip));
        assert!(plan.should_scan(0));
    }
}

#[cfg(test)]
mod damage_tests {
    use super::*;

    #[test]
    fn every_damaged_byte_of_the_tantivy_files_is_refused() {
        let messages: Vec<String> = (0..600).map(|i| format!("alpha bravo {i}")).collect();
        let batch = RecordBatch::try_new(
            fluoro_proto::logs::LOG_SCHEMA.clone(),
            vec![
                Arc::new(datafusion::arrow::array::UInt64Array::from_value(1, 600)),
                Arc::new(datafusion::arrow::array::UInt64Array::from_value(1, 600)),
                Arc::new(datafusion::arrow::array::Int64Array::from_value(0, 600)),
                Arc::new(datafusion::arrow::array::Int64Array::from_value(0, 600)),
                Arc::new(datafusion::arrow::array::UInt64Array::from_iter_values(0..600)),
                Arc::new(datafusion::arrow::array::StringArray::from_iter_values(&messages)),
                Arc::new(datafusion::arrow::array::FixedSizeBinaryArray::new_null(16, 600)),
                Arc::new(datafusion::arrow::array::UInt64Array::new_null(600)),
            ],
        )
        .unwrap();
        let bytes = build(&batch).unwrap();
        assert!(FileIndex::open(&bytes).is_ok());
        let header_len = u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize;
        let mut accepted = Vec::new();
        for at in 12 + header_len..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x5a;
            if FileIndex::open(&damaged).is_ok() {
                accepted.push(at - 12 - header_len);
            }
        }
        assert!(accepted.is_empty(), "damage accepted at offsets {accepted:?} of {}", bytes.len() - 12 - header_len);
    }
}
