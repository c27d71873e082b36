//! The catalog: log groups, streams, data files and WAL position, persisted in redb (one
//! transaction per change) and mirrored in memory. Startup reads it whole: no directory listing.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

const GROUPS: TableDefinition<u64, &[u8]> = TableDefinition::new("groups");
const STREAMS: TableDefinition<u64, &[u8]> = TableDefinition::new("streams");
const FILES: TableDefinition<u64, &[u8]> = TableDefinition::new("files");
/// Parquet files of trace documents (same `FileMeta`; ids share the files' id space).
const SPAN_FILES: TableDefinition<u64, &[u8]> = TableDefinition::new("span_files");
const METRIC_FILES: TableDefinition<u64, &[u8]> = TableDefinition::new("metric_files");
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
const GROUP_BYTES: TableDefinition<u64, &[u8]> = TableDefinition::new("group_bytes");
/// Small named documents of other subsystems (saved queries, ...): key `<kind>/<id>`.
const DOCS: TableDefinition<&str, &[u8]> = TableDefinition::new("docs");
const HOUR_MS: i64 = 3_600_000;
const NEXT_ID: &str = "next_id";
const FLUSHED_SEQ: &str = "flushed_seq";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GroupMeta {
    pub id: u64,
    pub name: String,
    pub creation_time: i64,
    pub retention_days: Option<i64>,
    pub kms_key_id: Option<String>,
    pub log_group_class: String,
    pub deletion_protection: bool,
    pub tags: BTreeMap<String, String>,
}

impl GroupMeta {
    /// Events with a timestamp below this are expired (retention), if any retention is set.
    pub fn retention_cutoff(&self, now_ms: i64) -> Option<i64> {
        self.retention_days.map(|days| now_ms - days * 86_400_000)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StreamMeta {
    pub id: u64,
    pub group_id: u64,
    pub name: String,
    pub creation_time: i64,
    pub first_event_timestamp: Option<i64>,
    pub last_event_timestamp: Option<i64>,
    pub last_ingestion_time: Option<i64>,
    /// UTF-8 bytes of all messages stored in the stream.
    pub stored_bytes: u64,
    /// One past the last seq whose statistics are included: WAL replay skips what is.
    pub applied_end: u64,
}

/// One Parquet data file in the object store.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileMeta {
    pub id: u64,
    /// Object store path, e.g. `logs/2026-11-21/00000000000000000042.parquet`.
    pub path: String,
    pub size_bytes: u64,
    pub rows: u64,
    pub min_timestamp: i64,
    pub max_timestamp: i64,
    pub max_seq: u64,
    /// Per group in the file: (group id, min timestamp, max timestamp, rows).
    pub groups: Vec<(u64, i64, i64, u64)>,
    /// Raw message bytes the file holds.
    pub message_bytes: u64,
    /// Rows of each row group, in order.
    #[serde(default)]
    pub row_groups: Vec<u64>,
    /// Object store path of the term index sidecar (log files) or the Bloom filter (trace
    /// files), if one was written.
    #[serde(default)]
    pub index_path: Option<String>,
    /// Trace files: the term index over the documents, if one was written.
    #[serde(default)]
    pub text_index_path: Option<String>,
    /// Log files: rows with a trace id, and the Bloom filter of those ids (written when there
    /// is at least one). Files written before the trace columns existed say 0.
    #[serde(default)]
    pub trace_rows: u64,
    #[serde(default)]
    pub trace_bloom_path: Option<String>,
}

impl FileMeta {
    /// Every object of the file: the Parquet file and its sidecars.
    pub fn objects(&self) -> impl Iterator<Item = &String> {
        std::iter::once(&self.path).chain(&self.index_path).chain(&self.text_index_path).chain(&self.trace_bloom_path)
    }
}

/// One document change of [`Catalog::write_docs`]: kind, id, new bytes (`None` deletes).
pub type DocChange<'a> = (&'a str, &'a str, Option<&'a [u8]>);

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("log group does not exist")]
    GroupNotFound,
    #[error("log stream does not exist")]
    StreamNotFound,
    #[error("log group already exists")]
    GroupExists,
    #[error("log stream already exists")]
    StreamExists,
    #[error("catalog storage: {0}")]
    Storage(String),
}

impl<E: Into<redb::Error>> From<E> for CatalogError {
    fn from(err: E) -> Self {
        Self::Storage(err.into().to_string())
    }
}

/// A consistent in-memory view of the catalog.
#[derive(Debug, Default, Clone)]
pub struct CatalogState {
    pub groups: BTreeMap<String, Arc<GroupMeta>>,
    /// Streams per group id, by name.
    pub streams: HashMap<u64, BTreeMap<String, StreamMeta>>,
    /// Stream id → (group id, name), for updates by id on the ingest path.
    stream_names: HashMap<u64, (u64, String)>,
    /// Streams whose statistics changed since they were last persisted.
    dirty_streams: std::collections::HashSet<u64>,
    /// Message bytes per group by hour of event time, for retention-aware `storedBytes`.
    group_bytes: HashMap<u64, GroupBytes>,
    dirty_groups: std::collections::HashSet<u64>,
    pub files: Vec<Arc<FileMeta>>,
    pub span_files: Vec<Arc<FileMeta>>,
    pub metric_files: Vec<Arc<FileMeta>>,
    pub next_id: u64,
    pub flushed_seq: u64,
}

/// The redb database, reopened after an I/O failure: redb refuses every later transaction
/// ("Previous I/O error occurred") until the database is closed and opened again, so a full
/// disk would otherwise stop flushes for good.
struct Db {
    inner: Option<Database>,
    path: std::path::PathBuf,
}

impl Db {
    fn database(&mut self) -> Result<&Database, CatalogError> {
        if self.inner.is_none() {
            self.inner = Some(Database::create(&self.path)?);
            tracing::info!(path = %self.path.display(), "catalog reopened after an I/O failure");
        }
        Ok(self.inner.as_ref().expect("just opened"))
    }

    fn begin_write(&mut self) -> Result<redb::WriteTransaction, CatalogError> {
        match self.database()?.begin_write() {
            Ok(txn) => Ok(txn),
            Err(error) => {
                let error: redb::Error = error.into();
                if !matches!(error, redb::Error::PreviousIo) {
                    return Err(error.into());
                }
                // Close first: the file is locked while the old handle lives.
                self.inner = None;
                Ok(self.database()?.begin_write()?)
            }
        }
    }

    fn begin_read(&mut self) -> Result<redb::ReadTransaction, CatalogError> {
        Ok(self.database()?.begin_read()?)
    }

    fn compact(&mut self) -> Result<bool, CatalogError> {
        self.database()?;
        Ok(self.inner.as_mut().expect("opened").compact()?)
    }
}

pub struct Catalog {
    db: parking_lot::Mutex<Db>,
    state: RwLock<CatalogState>,
}

impl Catalog {
    pub fn open(path: &Path) -> Result<Self, CatalogError> {
        let mut db = Database::create(path)?;
        // Many small transactions (one per created stream) leave free pages behind.
        if let Err(error) = db.compact() {
            tracing::warn!(%error, "catalog compaction skipped");
        }
        let txn = db.begin_write()?;
        {
            txn.open_table(GROUPS)?;
            txn.open_table(STREAMS)?;
            txn.open_table(FILES)?;
            txn.open_table(SPAN_FILES)?;
            txn.open_table(METRIC_FILES)?;
            txn.open_table(META)?;
            txn.open_table(GROUP_BYTES)?;
            txn.open_table(DOCS)?;
        }
        txn.commit()?;
        let mut state = CatalogState { next_id: 1, ..CatalogState::default() };
        let read = db.begin_read()?;
        for entry in read.open_table(GROUPS)?.iter()? {
            let group: GroupMeta = decode(entry?.1.value())?;
            state.groups.insert(group.name.clone(), Arc::new(group));
        }
        for entry in read.open_table(STREAMS)?.iter()? {
            let stream = decode_stream(entry?.1.value())?;
            state.stream_names.insert(stream.id, (stream.group_id, stream.name.clone()));
            state.streams.entry(stream.group_id).or_default().insert(stream.name.clone(), stream);
        }
        for entry in read.open_table(GROUP_BYTES)?.iter()? {
            let entry = entry?;
            state.group_bytes.insert(entry.0.value(), GroupBytes::decode(entry.1.value())?);
        }
        for entry in read.open_table(FILES)?.iter()? {
            state.files.push(Arc::new(decode(entry?.1.value())?));
        }
        for entry in read.open_table(SPAN_FILES)?.iter()? {
            state.span_files.push(Arc::new(decode(entry?.1.value())?));
        }
        for entry in read.open_table(METRIC_FILES)?.iter()? {
            state.metric_files.push(Arc::new(decode(entry?.1.value())?));
        }
        let meta = read.open_table(META)?;
        if let Some(next) = meta.get(NEXT_ID)? {
            state.next_id = next.value();
        }
        if let Some(flushed) = meta.get(FLUSHED_SEQ)? {
            state.flushed_seq = flushed.value();
        }
        drop(meta);
        drop(read);
        Ok(Self {
            db: parking_lot::Mutex::new(Db { inner: Some(db), path: path.to_owned() }),
            state: RwLock::new(state),
        })
    }

    /// Stores (replaces) document `id` of `kind`, durably.
    pub fn put_doc(&self, kind: &str, id: &str, bytes: &[u8]) -> Result<(), CatalogError> {
        let mut db = self.db.lock();
        let txn = db.begin_write()?;
        txn.open_table(DOCS)?.insert(format!("{kind}/{id}").as_str(), bytes)?;
        txn.commit()?;
        Ok(())
    }

    /// Deletes document `id` of `kind`; whether it existed.
    pub fn delete_doc(&self, kind: &str, id: &str) -> Result<bool, CatalogError> {
        let mut db = self.db.lock();
        let txn = db.begin_write()?;
        let existed = txn.open_table(DOCS)?.remove(format!("{kind}/{id}").as_str())?.is_some();
        txn.commit()?;
        Ok(existed)
    }

    /// Writes (`Some`) and deletes (`None`) documents of `kind` in one transaction.
    pub fn put_docs(&self, kind: &str, docs: &[(String, Option<Vec<u8>>)]) -> Result<(), CatalogError> {
        let changes: Vec<DocChange<'_>> =
            docs.iter().map(|(id, bytes)| (kind, id.as_str(), bytes.as_deref())).collect();
        self.write_docs(&changes)
    }

    /// Writes (`Some`) and deletes (`None`) documents of any kinds in one transaction: all of
    /// them are durable together, or none is.
    pub fn write_docs(&self, changes: &[DocChange<'_>]) -> Result<(), CatalogError> {
        let mut db = self.db.lock();
        let txn = db.begin_write()?;
        {
            let mut table = txn.open_table(DOCS)?;
            for (kind, id, bytes) in changes {
                let key = format!("{kind}/{id}");
                match bytes {
                    Some(bytes) => {
                        table.insert(key.as_str(), *bytes)?;
                    }
                    None => {
                        table.remove(key.as_str())?;
                    }
                }
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// Documents of `kind` with ids in `[from, to)` (byte order), as `(id, bytes)`.
    pub fn docs_range(&self, kind: &str, from: &str, to: &str) -> Result<Vec<(String, Vec<u8>)>, CatalogError> {
        let mut db = self.db.lock();
        let read = db.begin_read()?;
        let table = read.open_table(DOCS)?;
        let (start, end) = (format!("{kind}/{from}"), format!("{kind}/{to}"));
        let mut out = Vec::new();
        for entry in table.range(start.as_str()..end.as_str())? {
            let (key, value) = entry?;
            let id = key.value()[kind.len() + 1..].to_owned();
            out.push((id, value.value().to_vec()));
        }
        Ok(out)
    }

    /// Every document of `kind`, as `(id, bytes)` in id order.
    pub fn docs(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, CatalogError> {
        let mut db = self.db.lock();
        let read = db.begin_read()?;
        let table = read.open_table(DOCS)?;
        let prefix = format!("{kind}/");
        let mut out = Vec::new();
        for entry in table.range(prefix.as_str()..)? {
            let (key, value) = entry?;
            let Some(id) = key.value().strip_prefix(&prefix) else { break };
            out.push((id.to_owned(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// Runs `f` on the current state under a read lock.
    pub fn read<R>(&self, f: impl FnOnce(&CatalogState) -> R) -> R {
        f(&self.state.read())
    }

    pub fn group(&self, name: &str) -> Option<Arc<GroupMeta>> {
        self.state.read().groups.get(name).cloned()
    }

    /// Ids of the group's streams named in `names` (unknown names ignored) or starting with
    /// `prefix`.
    pub fn select_streams(&self, group_id: u64, names: Option<&[String]>, prefix: Option<&str>) -> Vec<u64> {
        let state = self.state.read();
        let Some(streams) = state.streams.get(&group_id) else { return Vec::new() };
        match (names, prefix) {
            (Some(names), _) => names.iter().filter_map(|n| streams.get(n)).map(|s| s.id).collect(),
            (None, Some(prefix)) => streams
                .range::<str, _>((std::ops::Bound::Included(prefix), std::ops::Bound::Unbounded))
                .take_while(|(name, _)| name.starts_with(prefix))
                .map(|(_, s)| s.id)
                .collect(),
            (None, None) => streams.values().map(|s| s.id).collect(),
        }
    }

    /// Names of the given stream ids that are live streams of `group_id`.
    pub fn stream_names(&self, group_id: u64, ids: impl IntoIterator<Item = u64>) -> HashMap<u64, String> {
        let state = self.state.read();
        ids.into_iter()
            .filter_map(|id| match state.stream_names.get(&id) {
                Some((owner, name)) if *owner == group_id => Some((id, name.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn stream(&self, group_id: u64, name: &str) -> Option<StreamMeta> {
        self.state.read().streams.get(&group_id)?.get(name).cloned()
    }

    pub fn create_group(&self, mut group: GroupMeta) -> Result<Arc<GroupMeta>, CatalogError> {
        let mut state = self.state.write();
        if state.groups.contains_key(&group.name) {
            return Err(CatalogError::GroupExists);
        }
        group.id = state.next_id;
        let txn = self.db.lock().begin_write()?;
        txn.open_table(GROUPS)?.insert(group.id, encode(&group).as_slice())?;
        txn.open_table(META)?.insert(NEXT_ID, group.id + 1)?;
        txn.commit()?;
        state.next_id = group.id + 1;
        let group = Arc::new(group);
        state.groups.insert(group.name.clone(), group.clone());
        Ok(group)
    }

    /// Applies `change` to the group named `name` and persists it.
    pub fn update_group(
        &self,
        name: &str,
        change: impl FnOnce(&mut GroupMeta),
    ) -> Result<Arc<GroupMeta>, CatalogError> {
        let mut state = self.state.write();
        let mut group = GroupMeta::clone(state.groups.get(name).ok_or(CatalogError::GroupNotFound)?);
        change(&mut group);
        let txn = self.db.lock().begin_write()?;
        txn.open_table(GROUPS)?.insert(group.id, encode(&group).as_slice())?;
        txn.commit()?;
        let group = Arc::new(group);
        state.groups.insert(group.name.clone(), group.clone());
        Ok(group)
    }

    /// Removes the group and its streams. Their data becomes unreachable at once.
    pub fn delete_group(&self, name: &str) -> Result<Arc<GroupMeta>, CatalogError> {
        let mut state = self.state.write();
        let group = state.groups.get(name).cloned().ok_or(CatalogError::GroupNotFound)?;
        let txn = self.db.lock().begin_write()?;
        {
            txn.open_table(GROUPS)?.remove(group.id)?;
            txn.open_table(GROUP_BYTES)?.remove(group.id)?;
            let mut streams = txn.open_table(STREAMS)?;
            for stream in state.streams.get(&group.id).into_iter().flat_map(|s| s.values()) {
                streams.remove(stream.id)?;
            }
        }
        txn.commit()?;
        state.groups.remove(name);
        state.group_bytes.remove(&group.id);
        state.dirty_groups.remove(&group.id);
        for stream in state.streams.remove(&group.id).into_iter().flat_map(|s| s.into_values()) {
            state.stream_names.remove(&stream.id);
            state.dirty_streams.remove(&stream.id);
        }
        Ok(group)
    }

    pub fn create_stream(&self, group_name: &str, name: &str, now_ms: i64) -> Result<StreamMeta, CatalogError> {
        let mut state = self.state.write();
        let group_id = state.groups.get(group_name).ok_or(CatalogError::GroupNotFound)?.id;
        if state.streams.get(&group_id).is_some_and(|s| s.contains_key(name)) {
            return Err(CatalogError::StreamExists);
        }
        let stream = StreamMeta {
            id: state.next_id,
            group_id,
            name: name.to_owned(),
            creation_time: now_ms,
            first_event_timestamp: None,
            last_event_timestamp: None,
            last_ingestion_time: None,
            stored_bytes: 0,
            applied_end: 0,
        };
        let txn = self.db.lock().begin_write()?;
        txn.open_table(STREAMS)?.insert(stream.id, encode_stream(&stream).as_slice())?;
        txn.open_table(META)?.insert(NEXT_ID, stream.id + 1)?;
        txn.commit()?;
        state.next_id = stream.id + 1;
        state.stream_names.insert(stream.id, (group_id, name.to_owned()));
        state.streams.entry(group_id).or_default().insert(name.to_owned(), stream.clone());
        Ok(stream)
    }

    pub fn delete_stream(&self, group_name: &str, name: &str) -> Result<StreamMeta, CatalogError> {
        let mut state = self.state.write();
        let group_id = state.groups.get(group_name).ok_or(CatalogError::GroupNotFound)?.id;
        let stream =
            state.streams.get(&group_id).and_then(|s| s.get(name)).cloned().ok_or(CatalogError::StreamNotFound)?;
        let txn = self.db.lock().begin_write()?;
        txn.open_table(STREAMS)?.remove(stream.id)?;
        txn.commit()?;
        if let Some(streams) = state.streams.get_mut(&group_id) {
            streams.remove(name);
        }
        state.stream_names.remove(&stream.id);
        state.dirty_streams.remove(&stream.id);
        Ok(stream)
    }

    /// Returns free space left by many small transactions to the file system.
    pub fn compact(&self) {
        if let Err(error) = self.db.lock().compact() {
            tracing::warn!(%error, "catalog compaction skipped");
        }
    }

    /// Updates a stream's event statistics in memory; they are persisted with the next flush
    /// (and rebuilt from the WAL after a crash).
    pub fn record_events(&self, group_id: u64, stream_id: u64, stats: &EventStats) {
        let mut state = self.state.write();
        let state = &mut *state;
        let Some((owner, name)) = state.stream_names.get(&stream_id) else { return };
        debug_assert_eq!(*owner, group_id);
        let Some(stream) = state.streams.get_mut(owner).and_then(|s| s.get_mut(name)) else { return };
        if stats.first_seq >= stream.applied_end {
            stream.first_event_timestamp =
                Some(stream.first_event_timestamp.map_or(stats.min_ts, |t| t.min(stats.min_ts)));
            stream.last_event_timestamp =
                Some(stream.last_event_timestamp.map_or(stats.max_ts, |t| t.max(stats.max_ts)));
            stream.last_ingestion_time = Some(stats.ingestion_time);
            stream.stored_bytes += stats.bytes;
            stream.applied_end = stats.end_seq;
            state.dirty_streams.insert(stream_id);
        }
        let group = state.group_bytes.entry(group_id).or_default();
        if stats.first_seq >= group.applied_end {
            for (hour, bytes) in &stats.bytes_by_hour {
                *group.by_hour.entry(*hour).or_default() += bytes;
            }
            group.applied_end = stats.end_seq;
            state.dirty_groups.insert(group_id);
        }
    }

    /// Message bytes of the group's events not older than `cutoff` (all when `None`), at hour
    /// granularity: the hour holding the cut-off counts whole.
    pub fn stored_bytes(&self, group_id: u64, cutoff: Option<i64>) -> u64 {
        let state = self.state.read();
        let Some(group) = state.group_bytes.get(&group_id) else { return 0 };
        match cutoff {
            None => group.by_hour.values().sum(),
            Some(cutoff) => group.by_hour.range(cutoff.div_euclid(HOUR_MS)..).map(|(_, b)| b).sum(),
        }
    }

    /// Registers the flushed files (log events, trace documents), the new flushed WAL position
    /// and all stream statistics in one transaction.
    pub fn commit_flush(
        &self,
        file: Option<FileMeta>,
        span_file: Option<FileMeta>,
        metric_file: Option<FileMeta>,
        flushed_seq: u64,
    ) -> Result<(), CatalogError> {
        self.apply(FileChange {
            add: file,
            add_span: span_file,
            add_metrics: metric_file.into_iter().collect(),
            flushed_seq: Some(flushed_seq),
            ..Default::default()
        })
        .map(|_| ())
    }

    /// The same for files of metric samples (rolling one raw file adds two rollup files).
    pub fn replace_metric_files(&self, remove: &[u64], add: Vec<FileMeta>) -> Result<(), CatalogError> {
        self.apply(FileChange { remove_metrics: remove.to_vec(), add_metrics: add, ..Default::default() }).map(|_| ())
    }

    /// Atomically removes `remove` and adds `add` (compaction, retention), optionally moving the
    /// flushed WAL position.
    pub fn replace_files(
        &self,
        remove: &[u64],
        add: Option<FileMeta>,
        flushed_seq: Option<u64>,
    ) -> Result<Option<Arc<FileMeta>>, CatalogError> {
        self.apply(FileChange { remove: remove.to_vec(), add, flushed_seq, ..Default::default() }).map(|(f, _)| f)
    }

    /// The same for files of trace documents.
    pub fn replace_span_files(
        &self,
        remove: &[u64],
        add: Option<FileMeta>,
    ) -> Result<Option<Arc<FileMeta>>, CatalogError> {
        self.apply(FileChange { remove_spans: remove.to_vec(), add_span: add, ..Default::default() }).map(|(_, f)| f)
    }

    /// Applies one change; returns the added (log file, trace file).
    fn apply(&self, change: FileChange) -> Result<AddedFiles, CatalogError> {
        let mut state = self.state.write();
        let FileChange { remove, mut add, remove_spans, mut add_span, remove_metrics, mut add_metrics, flushed_seq } =
            change;
        let mut next_id = state.next_id;
        for file in add.iter_mut().chain(add_span.iter_mut()).chain(add_metrics.iter_mut()) {
            file.id = next_id;
            next_id += 1;
        }
        let txn = self.db.lock().begin_write()?;
        {
            let single = |f: &Option<FileMeta>| f.iter().cloned().collect::<Vec<_>>();
            for (table, remove, add) in [
                (FILES, &remove, single(&add)),
                (SPAN_FILES, &remove_spans, single(&add_span)),
                (METRIC_FILES, &remove_metrics, add_metrics.clone()),
            ] {
                let mut files = txn.open_table(table)?;
                for id in remove {
                    files.remove(*id)?;
                }
                for file in &add {
                    files.insert(file.id, encode(file).as_slice())?;
                }
            }
            let mut streams = txn.open_table(STREAMS)?;
            for id in &state.dirty_streams {
                let stream = state.stream_names.get(id).and_then(|(group, name)| state.streams.get(group)?.get(name));
                if let Some(stream) = stream {
                    streams.insert(stream.id, encode_stream(stream).as_slice())?;
                }
            }
            let mut group_bytes = txn.open_table(GROUP_BYTES)?;
            for id in &state.dirty_groups {
                if let Some(bytes) = state.group_bytes.get(id) {
                    group_bytes.insert(*id, bytes.encode().as_slice())?;
                }
            }
            let mut meta = txn.open_table(META)?;
            if next_id != state.next_id {
                meta.insert(NEXT_ID, next_id)?;
            }
            if let Some(seq) = flushed_seq {
                meta.insert(FLUSHED_SEQ, seq)?;
            }
        }
        txn.commit()?;
        state.dirty_streams.clear();
        state.dirty_groups.clear();
        state.next_id = next_id;
        state.files.retain(|f| !remove.contains(&f.id));
        state.span_files.retain(|f| !remove_spans.contains(&f.id));
        state.metric_files.retain(|f| !remove_metrics.contains(&f.id));
        if let Some(seq) = flushed_seq {
            state.flushed_seq = seq;
        }
        let add = add.map(Arc::new);
        let add_span = add_span.map(Arc::new);
        state.files.extend(add.clone());
        state.span_files.extend(add_span.clone());
        state.metric_files.extend(add_metrics.into_iter().map(Arc::new));
        Ok((add, add_span))
    }
}

/// The files one change added: (log events, trace documents).
type AddedFiles = (Option<Arc<FileMeta>>, Option<Arc<FileMeta>>);

/// One catalog transaction over the file lists.
#[derive(Default)]
struct FileChange {
    remove: Vec<u64>,
    add: Option<FileMeta>,
    remove_spans: Vec<u64>,
    add_span: Option<FileMeta>,
    remove_metrics: Vec<u64>,
    add_metrics: Vec<FileMeta>,
    flushed_seq: Option<u64>,
}

/// Statistics of one accepted batch of events (seqs `first_seq..end_seq`).
#[derive(Debug, Clone)]
pub struct EventStats {
    pub first_seq: u64,
    pub end_seq: u64,
    pub min_ts: i64,
    pub max_ts: i64,
    pub ingestion_time: i64,
    pub bytes: u64,
    /// Message bytes by hour of event timestamp (`timestamp.div_euclid(3_600_000)`).
    pub bytes_by_hour: Vec<(i64, u64)>,
}

/// A group's message bytes by hour of event time.
#[derive(Debug, Clone, Default, PartialEq)]
struct GroupBytes {
    applied_end: u64,
    by_hour: BTreeMap<i64, u64>,
}

impl GroupBytes {
    /// Binary record: u64 applied end, then (i64 hour, u64 bytes) pairs, little-endian.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + 16 * self.by_hour.len());
        out.extend_from_slice(&self.applied_end.to_le_bytes());
        for (hour, bytes) in &self.by_hour {
            out.extend_from_slice(&hour.to_le_bytes());
            out.extend_from_slice(&bytes.to_le_bytes());
        }
        out
    }

    fn decode(bytes: &[u8]) -> Result<Self, CatalogError> {
        if bytes.len() < 8 || !(bytes.len() - 8).is_multiple_of(16) {
            return Err(CatalogError::Storage("undecodable group bytes record".into()));
        }
        let word = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let by_hour = (8..bytes.len()).step_by(16).map(|at| (word(at) as i64, word(at + 8))).collect();
        Ok(Self { applied_end: word(0), by_hour })
    }
}

/// Streams can number in the millions (one per Lambda execution environment), so their
/// records are fixed-width binary: version byte 1, then u64 id, u64 group id, i64 creation
/// time, i64 first / last event timestamp and last ingestion time (`i64::MIN` = none), u64
/// stored bytes, u64 applied end (all little-endian), then the UTF-8 name.
fn encode_stream(stream: &StreamMeta) -> Vec<u8> {
    let mut out = Vec::with_capacity(65 + stream.name.len());
    out.push(1);
    out.extend_from_slice(&stream.id.to_le_bytes());
    out.extend_from_slice(&stream.group_id.to_le_bytes());
    for value in [
        Some(stream.creation_time),
        stream.first_event_timestamp,
        stream.last_event_timestamp,
        stream.last_ingestion_time,
    ] {
        out.extend_from_slice(&value.unwrap_or(i64::MIN).to_le_bytes());
    }
    out.extend_from_slice(&stream.stored_bytes.to_le_bytes());
    out.extend_from_slice(&stream.applied_end.to_le_bytes());
    out.extend_from_slice(stream.name.as_bytes());
    out
}

fn decode_stream(bytes: &[u8]) -> Result<StreamMeta, CatalogError> {
    let corrupt = || CatalogError::Storage("undecodable stream record".into());
    if bytes.len() < 65 || bytes[0] != 1 {
        return Err(corrupt());
    }
    let word = |i: usize| u64::from_le_bytes(bytes[1 + 8 * i..9 + 8 * i].try_into().expect("8 bytes"));
    let optional = |i: usize| Some(word(i) as i64).filter(|v| *v != i64::MIN);
    Ok(StreamMeta {
        id: word(0),
        group_id: word(1),
        creation_time: word(2) as i64,
        first_event_timestamp: optional(3),
        last_event_timestamp: optional(4),
        last_ingestion_time: optional(5),
        stored_bytes: word(6),
        applied_end: word(7),
        name: String::from_utf8(bytes[65..].to_vec()).map_err(|_| corrupt())?,
    })
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("catalog records always serialize")
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, CatalogError> {
    serde_json::from_slice(bytes).map_err(|e| CatalogError::Storage(format!("undecodable catalog record: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(name: &str) -> GroupMeta {
        GroupMeta {
            id: 0,
            name: name.into(),
            creation_time: 1,
            retention_days: None,
            kms_key_id: None,
            log_group_class: "STANDARD".into(),
            deletion_protection: false,
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn stream_records_round_trip() {
        let stream = StreamMeta {
            id: 7,
            group_id: 3,
            name: "2026/11/21/[$LATEST]abc".into(),
            creation_time: -1,
            first_event_timestamp: None,
            last_event_timestamp: Some(5),
            last_ingestion_time: Some(6),
            stored_bytes: 99,
            applied_end: 12,
        };
        assert_eq!(decode_stream(&encode_stream(&stream)).unwrap(), stream);
        assert!(decode_stream(&[1, 2, 3]).is_err());
    }

    #[test]
    fn stream_selection_and_names() {
        let dir = tempfile::tempdir().unwrap();
        let catalog = Catalog::open(&dir.path().join("c.redb")).unwrap();
        let g = catalog.create_group(group("/g")).unwrap();
        let other = catalog.create_group(group("/other")).unwrap();
        let ids: Vec<u64> = ["a1", "a2", "b1"].iter().map(|n| catalog.create_stream("/g", n, 0).unwrap().id).collect();
        let foreign = catalog.create_stream("/other", "a3", 0).unwrap().id;
        assert_eq!(catalog.select_streams(g.id, None, Some("a")), vec![ids[0], ids[1]]);
        assert_eq!(catalog.select_streams(g.id, None, Some("c")), Vec::<u64>::new());
        let names = vec!["b1".to_owned(), "missing".to_owned()];
        assert_eq!(catalog.select_streams(g.id, Some(&names), None), vec![ids[2]]);
        assert_eq!(catalog.select_streams(g.id, None, None).len(), 3);
        let named = catalog.stream_names(g.id, [ids[0], foreign, 999]);
        assert_eq!(named.len(), 1, "streams of other groups and unknown ids have no name here");
        assert_eq!(named[&ids[0]], "a1");
        catalog.delete_stream("/g", "a1").unwrap();
        assert!(catalog.stream_names(g.id, [ids[0]]).is_empty());
        assert_eq!(catalog.stream_names(other.id, [foreign])[&foreign], "a3");
    }

    #[test]
    fn persists_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.redb");
        {
            let catalog = Catalog::open(&path).unwrap();
            let g = catalog.create_group(group("/a")).unwrap();
            assert!(matches!(catalog.create_group(group("/a")), Err(CatalogError::GroupExists)));
            catalog.create_group(group("/b")).unwrap();
            let s = catalog.create_stream("/a", "s1", 5).unwrap();
            catalog.update_group("/a", |g| g.retention_days = Some(7)).unwrap();
            let stats = EventStats {
                first_seq: 0,
                end_seq: 3,
                min_ts: 10,
                max_ts: 20,
                ingestion_time: 30,
                bytes: 4,
                bytes_by_hour: vec![(0, 4)],
            };
            catalog.record_events(g.id, s.id, &stats);
            catalog.record_events(g.id, s.id, &stats); // a replayed record counts once
            catalog.delete_group("/b").unwrap();
            let file = FileMeta {
                id: 0,
                path: "logs/x.parquet".into(),
                size_bytes: 1,
                rows: 1,
                min_timestamp: 10,
                max_timestamp: 20,
                max_seq: 3,
                groups: vec![(g.id, 10, 20, 1)],
                message_bytes: 4,
                row_groups: vec![1],
                index_path: None,
                text_index_path: None,
                trace_rows: 0,
                trace_bloom_path: None,
            };
            let span_file = FileMeta { path: "traces/x.parquet".into(), groups: Vec::new(), ..file.clone() };
            catalog.commit_flush(Some(file), Some(span_file), None, 4).unwrap();
        }
        let catalog = Catalog::open(&path).unwrap();
        let g = catalog.group("/a").unwrap();
        assert_eq!(g.retention_days, Some(7));
        assert!(catalog.group("/b").is_none());
        let s = catalog.stream(g.id, "s1").unwrap();
        assert_eq!((s.first_event_timestamp, s.last_event_timestamp, s.stored_bytes), (Some(10), Some(20), 4));
        assert_eq!(catalog.stored_bytes(g.id, None), 4);
        assert_eq!(catalog.stored_bytes(g.id, Some(2 * HOUR_MS)), 0, "the bytes' hour is before the cut-off");
        catalog.read(|state| {
            assert_eq!(state.span_files.len(), 1);
            assert_eq!(state.span_files[0].path, "traces/x.parquet");
            assert_ne!(state.span_files[0].id, state.files[0].id);
            assert_eq!(state.flushed_seq, 4);
            assert_eq!(state.files.len(), 1);
            assert!(state.next_id > s.id);
        });
    }
}
