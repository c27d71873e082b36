//! The catalog: log groups, streams, data files and WAL position, persisted in redb (one
//! transaction per change) and mirrored in memory. Startup reads it whole: no directory listing.
//!
//! In a multi-node deployment the same catalog lives in the shared PostgreSQL metastore
//! ([`crate::metastore`]) instead: every node mirrors it in memory and catches up with the
//! other nodes' changes through [`Catalog::refresh`].

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::metastore::{Metastore, RowOp};

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
    /// A STANDARD class group without retention, KMS key, deletion protection or tags: what
    /// CreateLogGroup makes with only a name, and what a first write to an unknown group makes.
    pub fn standard(name: impl Into<String>, creation_time: i64) -> Self {
        GroupMeta {
            id: 0,
            name: name.into(),
            creation_time,
            retention_days: None,
            kms_key_id: None,
            log_group_class: "STANDARD".into(),
            deletion_protection: false,
            tags: BTreeMap::new(),
        }
    }

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
    /// Another node changed the same rows first (shared metastore); nothing was written.
    #[error("catalog conflict: {0}")]
    Conflict(String),
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
    /// Streams per group id, by name (statistics summed over every node).
    pub streams: HashMap<u64, BTreeMap<String, StreamMeta>>,
    /// Stream id → (group id, name), for updates by id on the ingest path.
    stream_names: HashMap<u64, (u64, String)>,
    /// Streams whose statistics changed since they were last persisted.
    dirty_streams: std::collections::HashSet<u64>,
    /// Message bytes per group by hour of event time, for retention-aware `storedBytes`
    /// (this node's share, in a shared metastore).
    group_bytes: HashMap<u64, GroupBytes>,
    dirty_groups: std::collections::HashSet<u64>,
    /// Shared metastore only: this node's share of each stream's statistics (its `applied_end`
    /// is a seq of this node's WAL)...
    own_streams: HashMap<u64, StreamMeta>,
    /// ...and the other nodes' shares, by node, as they last persisted them.
    remote_streams: HashMap<u64, HashMap<String, StreamMeta>>,
    remote_group_bytes: HashMap<u64, HashMap<String, GroupBytes>>,
    /// Shared metastore only: document rows seen changing, per kind.
    doc_versions: HashMap<String, u64>,
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

/// The catalog's tables. The name-guard and per-node statistics tables exist only in a shared
/// metastore, where several nodes create names and count events concurrently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Groups,
    Streams,
    Files,
    SpanFiles,
    MetricFiles,
    Meta,
    GroupBytes,
    Docs,
    GroupNames,
    StreamNames,
    StreamStats,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Groups => "groups",
            Table::Streams => "streams",
            Table::Files => "files",
            Table::SpanFiles => "span_files",
            Table::MetricFiles => "metric_files",
            Table::Meta => "meta",
            Table::GroupBytes => "group_bytes",
            Table::Docs => "docs",
            Table::GroupNames => "group_names",
            Table::StreamNames => "stream_names",
            Table::StreamStats => "stream_stats",
        }
    }

    fn by_id(self) -> Result<TableDefinition<'static, u64, &'static [u8]>, CatalogError> {
        Ok(match self {
            Table::Groups => GROUPS,
            Table::Streams => STREAMS,
            Table::Files => FILES,
            Table::SpanFiles => SPAN_FILES,
            Table::MetricFiles => METRIC_FILES,
            Table::GroupBytes => GROUP_BYTES,
            other => return Err(CatalogError::Storage(format!("no embedded table {}", other.name()))),
        })
    }
}

#[derive(Debug, Clone)]
enum Key {
    Id(u64),
    Text(String),
}

impl Key {
    /// The key as text: ids zero-padded so that text order is numeric order.
    fn text(&self) -> String {
        match self {
            Key::Id(id) => format!("{id:020}"),
            Key::Text(text) => text.clone(),
        }
    }
}

/// One row operation of a catalog change.
#[derive(Debug)]
enum Op {
    Put(Table, Key, Vec<u8>),
    /// A put that fails the change if the row exists (shared metastore; the embedded catalog
    /// checks names in memory under its lock).
    Create(Table, Key, Vec<u8>),
    Delete(Table, Key),
    /// A delete that fails the change if the row is already gone (shared metastore).
    Take(Table, Key),
}

impl Op {
    fn table(&self) -> Table {
        match self {
            Op::Put(table, ..) | Op::Create(table, ..) | Op::Delete(table, _) | Op::Take(table, _) => *table,
        }
    }
}

/// Applies `ops` in an embedded write transaction, opening each table once per run of
/// operations on it.
fn write_local(txn: &redb::WriteTransaction, ops: &[Op]) -> Result<(), CatalogError> {
    let mut start = 0;
    while start < ops.len() {
        let table = ops[start].table();
        let end = start + ops[start..].iter().take_while(|op| op.table() == table).count();
        match table {
            Table::Meta => {
                let mut meta = txn.open_table(META)?;
                for op in &ops[start..end] {
                    match op {
                        Op::Put(_, key, value) | Op::Create(_, key, value) => {
                            let value =
                                value.as_slice().try_into().map_err(|_| CatalogError::Storage("meta value".into()))?;
                            meta.insert(key.text().as_str(), u64::from_le_bytes(value))?;
                        }
                        Op::Delete(_, key) | Op::Take(_, key) => {
                            meta.remove(key.text().as_str())?;
                        }
                    }
                }
            }
            Table::Docs => {
                let mut docs = txn.open_table(DOCS)?;
                for op in &ops[start..end] {
                    match op {
                        Op::Put(_, key, value) | Op::Create(_, key, value) => {
                            docs.insert(key.text().as_str(), value.as_slice())?;
                        }
                        Op::Delete(_, key) | Op::Take(_, key) => {
                            docs.remove(key.text().as_str())?;
                        }
                    }
                }
            }
            table => {
                let mut rows = txn.open_table(table.by_id()?)?;
                for op in &ops[start..end] {
                    let id = |key: &Key| match key {
                        Key::Id(id) => Ok(*id),
                        Key::Text(text) => Err(CatalogError::Storage(format!("text key {text} in an id table"))),
                    };
                    match op {
                        Op::Put(_, key, value) | Op::Create(_, key, value) => {
                            rows.insert(id(key)?, value.as_slice())?;
                        }
                        Op::Delete(_, key) | Op::Take(_, key) => {
                            rows.remove(id(key)?)?;
                        }
                    }
                }
            }
        }
        start = end;
    }
    Ok(())
}

enum Backend {
    /// The single-node default: a redb file beside the WAL.
    Local(parking_lot::Mutex<Db>),
    /// Many nodes over one PostgreSQL metastore.
    Shared(Shared),
}

struct Shared {
    store: Arc<Metastore>,
    account: String,
    /// This node's name: keys its WAL position and its share of the statistics.
    node: String,
    /// The version of the last change applied to the in-memory state; the lock also
    /// serializes refreshes.
    seen: parking_lot::Mutex<i64>,
}

pub struct Catalog {
    backend: Backend,
    state: RwLock<CatalogState>,
}

fn node_key(id: u64, node: &str) -> Key {
    Key::Text(format!("{id:020}/{node}"))
}

fn stream_guard(group_id: u64, name: &str) -> Key {
    Key::Text(format!("{group_id:020}/{name}"))
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
            backend: Backend::Local(parking_lot::Mutex::new(Db { inner: Some(db), path: path.to_owned() })),
            state: RwLock::new(state),
        })
    }

    /// Opens `account`'s catalog in the shared metastore as node `node` (which must be the
    /// same name across the node's restarts: it keys the node's WAL position).
    pub fn open_shared(store: Arc<Metastore>, account: &str, node: &str) -> Result<Self, CatalogError> {
        let catalog = Self {
            backend: Backend::Shared(Shared {
                store,
                account: account.to_owned(),
                node: node.to_owned(),
                seen: parking_lot::Mutex::new(0),
            }),
            state: RwLock::new(CatalogState { next_id: 1, ..CatalogState::default() }),
        };
        catalog.refresh()?;
        Ok(catalog)
    }

    fn shared(&self) -> Option<&Shared> {
        match &self.backend {
            Backend::Local(_) => None,
            Backend::Shared(shared) => Some(shared),
        }
    }

    /// Whether this catalog is one node's view of a shared metastore.
    pub fn is_shared(&self) -> bool {
        self.shared().is_some()
    }

    /// Commits `ops` in one transaction.
    fn commit(&self, ops: Vec<Op>) -> Result<(), CatalogError> {
        match &self.backend {
            Backend::Local(db) => {
                let txn = db.lock().begin_write()?;
                write_local(&txn, &ops)?;
                txn.commit()?;
            }
            Backend::Shared(shared) => {
                let rows = ops
                    .into_iter()
                    .map(|op| match op {
                        Op::Put(table, key, value) => RowOp::Put(table.name(), key.text(), value),
                        Op::Create(table, key, value) => RowOp::Create(table.name(), key.text(), value),
                        Op::Delete(table, key) => RowOp::Delete(table.name(), key.text()),
                        Op::Take(table, key) => RowOp::Take(table.name(), key.text()),
                    })
                    .collect();
                shared.store.commit(&shared.account, rows)?;
            }
        }
        Ok(())
    }

    /// Commits `ops` while the caller holds the state lock. When another node changed the
    /// same rows first (shared metastore), catches up and fails with `lost` (the error the
    /// caller's operation gives for that outcome, e.g. GroupExists).
    fn commit_locked<'a>(
        &'a self,
        state: parking_lot::RwLockWriteGuard<'a, CatalogState>,
        ops: Vec<Op>,
        lost: CatalogError,
    ) -> Result<parking_lot::RwLockWriteGuard<'a, CatalogState>, CatalogError> {
        match self.commit(ops) {
            Ok(()) => Ok(state),
            Err(CatalogError::Conflict(_)) => {
                drop(state);
                self.catch_up();
                Err(lost)
            }
            Err(error) => Err(error),
        }
    }

    /// `count` fresh ids; for the embedded catalog also the operation that persists the
    /// counter (to commit with the change that uses them).
    fn take_ids(&self, state: &CatalogState, count: usize) -> Result<(Vec<u64>, Option<Op>), CatalogError> {
        match &self.backend {
            Backend::Local(_) => {
                let ids: Vec<u64> = (state.next_id..state.next_id + count as u64).collect();
                let next = state.next_id + count as u64;
                Ok((
                    ids,
                    (count > 0).then(|| Op::Put(Table::Meta, Key::Text(NEXT_ID.into()), next.to_le_bytes().into())),
                ))
            }
            Backend::Shared(shared) => Ok((shared.store.take_ids(count)?, None)),
        }
    }

    /// Shared metastore: applies every change committed (by any node) since the last refresh;
    /// returns how many rows changed. The embedded catalog has nothing to catch up with.
    pub fn refresh(&self) -> Result<usize, CatalogError> {
        let Some(shared) = self.shared() else { return Ok(0) };
        let mut seen = shared.seen.lock();
        let first_load = *seen == 0;
        let rows = shared.store.changes(&shared.account, *seen)?;
        let Some(last) = rows.last().map(|row| row.3) else { return Ok(0) };
        let mut state = self.state.write();
        let mut touched = std::collections::HashSet::new();
        for (table, key, value, _) in &rows {
            apply_row(&mut state, &shared.node, first_load, table, key, value.as_deref(), &mut touched)?;
        }
        for stream in touched {
            merge_stream_stats(&mut state, stream);
        }
        *seen = last;
        Ok(rows.len())
    }

    /// How many changes to documents of `kind` a shared metastore's refreshes have brought
    /// (this node's own included): a subsystem that keeps documents in memory reloads them
    /// when this moves. Always 0 for the embedded catalog, where this node makes every change.
    pub fn doc_version(&self, kind: &str) -> u64 {
        self.state.read().doc_versions.get(kind).copied().unwrap_or(0)
    }

    /// Stores (replaces) document `id` of `kind`, durably.
    pub fn put_doc(&self, kind: &str, id: &str, bytes: &[u8]) -> Result<(), CatalogError> {
        self.write_docs(&[(kind, id, Some(bytes))])
    }

    /// Deletes document `id` of `kind`; whether it existed.
    pub fn delete_doc(&self, kind: &str, id: &str) -> Result<bool, CatalogError> {
        let key = format!("{kind}/{id}");
        match &self.backend {
            Backend::Local(db) => {
                let mut db = db.lock();
                let txn = db.begin_write()?;
                let existed = txn.open_table(DOCS)?.remove(key.as_str())?.is_some();
                txn.commit()?;
                Ok(existed)
            }
            Backend::Shared(shared) => {
                let end = format!("{key}\u{1}"); // the next key after `key` (text holds no NUL)
                let existed =
                    !shared.store.range(&shared.account, Table::Docs.name(), key.clone(), Some(end))?.is_empty();
                if existed {
                    shared.store.commit(&shared.account, vec![RowOp::Delete(Table::Docs.name(), key)])?;
                }
                Ok(existed)
            }
        }
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
        let ops = changes
            .iter()
            .map(|(kind, id, bytes)| {
                let key = Key::Text(format!("{kind}/{id}"));
                match bytes {
                    Some(bytes) => Op::Put(Table::Docs, key, bytes.to_vec()),
                    None => Op::Delete(Table::Docs, key),
                }
            })
            .collect();
        self.commit(ops)
    }

    /// Documents of `kind` with ids in `[from, to)` (byte order), as `(id, bytes)`.
    pub fn docs_range(&self, kind: &str, from: &str, to: &str) -> Result<Vec<(String, Vec<u8>)>, CatalogError> {
        self.docs_between(kind, from, Some(to))
    }

    /// Every document of `kind`, as `(id, bytes)` in id order.
    pub fn docs(&self, kind: &str) -> Result<Vec<(String, Vec<u8>)>, CatalogError> {
        self.docs_between(kind, "", None)
    }

    fn docs_between(&self, kind: &str, from: &str, to: Option<&str>) -> Result<Vec<(String, Vec<u8>)>, CatalogError> {
        let start = format!("{kind}/{from}");
        // '0' follows '/': the first key past every `kind/...`.
        let end = match to {
            Some(to) => format!("{kind}/{to}"),
            None => format!("{kind}0"),
        };
        let rows = match &self.backend {
            Backend::Local(db) => {
                let mut db = db.lock();
                let read = db.begin_read()?;
                let table = read.open_table(DOCS)?;
                let mut out = Vec::new();
                for entry in table.range(start.as_str()..end.as_str())? {
                    let (key, value) = entry?;
                    out.push((key.value().to_owned(), value.value().to_vec()));
                }
                out
            }
            Backend::Shared(shared) => shared.store.range(&shared.account, Table::Docs.name(), start, Some(end))?,
        };
        Ok(rows.into_iter().map(|(key, value)| (key[kind.len() + 1..].to_owned(), value)).collect())
    }

    /// Runs `f` on the current state under a read lock.
    pub fn read<R>(&self, f: impl FnOnce(&CatalogState) -> R) -> R {
        f(&self.state.read())
    }

    /// The group named `name`. In a shared metastore a miss first catches up with the other
    /// nodes, so a group created through another node a moment ago is found.
    pub fn group(&self, name: &str) -> Option<Arc<GroupMeta>> {
        let find = || self.state.read().groups.get(name).cloned();
        find().or_else(|| self.catch_up().then(find).flatten())
    }

    /// Shared metastore: refreshes; whether the state may have moved since the caller looked.
    /// A refresh that finds nothing new still counts: a concurrent caller may have applied
    /// the very change this one is looking for between its look and its refresh.
    fn catch_up(&self) -> bool {
        if self.shared().is_none() {
            return false;
        }
        match self.refresh() {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(%error, "catalog refresh failed");
                false
            }
        }
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

    /// The stream; like [`Catalog::group`], a miss in a shared metastore first catches up.
    pub fn stream(&self, group_id: u64, name: &str) -> Option<StreamMeta> {
        let find = || self.state.read().streams.get(&group_id)?.get(name).cloned();
        find().or_else(|| self.catch_up().then(find).flatten())
    }

    pub fn create_group(&self, mut group: GroupMeta) -> Result<Arc<GroupMeta>, CatalogError> {
        let state = self.state.write();
        if state.groups.contains_key(&group.name) {
            return Err(CatalogError::GroupExists);
        }
        let (ids, counter) = self.take_ids(&state, 1)?;
        group.id = ids[0];
        let mut ops: Vec<Op> = counter.into_iter().collect();
        if self.is_shared() {
            ops.push(Op::Create(Table::GroupNames, Key::Text(group.name.clone()), group.id.to_le_bytes().into()));
        }
        ops.push(Op::Put(Table::Groups, Key::Id(group.id), encode(&group)));
        let mut state = self.commit_locked(state, ops, CatalogError::GroupExists)?;
        if !self.is_shared() {
            state.next_id = group.id + 1;
        }
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
        let state = self.state.write();
        let mut group = GroupMeta::clone(state.groups.get(name).ok_or(CatalogError::GroupNotFound)?);
        change(&mut group);
        let mut ops = Vec::new();
        if self.is_shared() {
            // The group may have been deleted through another node: then nothing is written.
            ops.push(Op::Take(Table::Groups, Key::Id(group.id)));
        }
        ops.push(Op::Put(Table::Groups, Key::Id(group.id), encode(&group)));
        let mut state = self.commit_locked(state, ops, CatalogError::GroupNotFound)?;
        let group = Arc::new(group);
        state.groups.insert(group.name.clone(), group.clone());
        Ok(group)
    }

    /// Removes the group and its streams. Their data becomes unreachable at once.
    pub fn delete_group(&self, name: &str) -> Result<Arc<GroupMeta>, CatalogError> {
        // Streams created through other nodes must be seen to be deleted with the group.
        self.catch_up();
        let state = self.state.write();
        let group = state.groups.get(name).cloned().ok_or(CatalogError::GroupNotFound)?;
        let mut ops = Vec::new();
        let streams = state.streams.get(&group.id).into_iter().flat_map(|s| s.values());
        match self.shared() {
            None => {
                ops.push(Op::Delete(Table::Groups, Key::Id(group.id)));
                ops.push(Op::Delete(Table::GroupBytes, Key::Id(group.id)));
                ops.extend(streams.map(|stream| Op::Delete(Table::Streams, Key::Id(stream.id))));
            }
            Some(shared) => {
                ops.push(Op::Take(Table::GroupNames, Key::Text(group.name.clone())));
                ops.push(Op::Delete(Table::Groups, Key::Id(group.id)));
                ops.push(Op::Delete(Table::GroupBytes, node_key(group.id, &shared.node)));
                for stream in streams {
                    ops.push(Op::Delete(Table::StreamNames, stream_guard(group.id, &stream.name)));
                    ops.push(Op::Delete(Table::Streams, Key::Id(stream.id)));
                    ops.push(Op::Delete(Table::StreamStats, node_key(stream.id, &shared.node)));
                }
            }
        }
        let mut state = self.commit_locked(state, ops, CatalogError::GroupNotFound)?;
        forget_group(&mut state, &group);
        Ok(group)
    }

    pub fn create_stream(&self, group_name: &str, name: &str, now_ms: i64) -> Result<StreamMeta, CatalogError> {
        if self.is_shared() && !self.state.read().groups.contains_key(group_name) {
            self.catch_up();
        }
        let state = self.state.write();
        let group_id = state.groups.get(group_name).ok_or(CatalogError::GroupNotFound)?.id;
        if state.streams.get(&group_id).is_some_and(|s| s.contains_key(name)) {
            return Err(CatalogError::StreamExists);
        }
        let (ids, counter) = self.take_ids(&state, 1)?;
        let stream = StreamMeta {
            id: ids[0],
            group_id,
            name: name.to_owned(),
            creation_time: now_ms,
            first_event_timestamp: None,
            last_event_timestamp: None,
            last_ingestion_time: None,
            stored_bytes: 0,
            applied_end: 0,
        };
        let mut ops: Vec<Op> = counter.into_iter().collect();
        if self.is_shared() {
            ops.push(Op::Create(Table::StreamNames, stream_guard(group_id, name), stream.id.to_le_bytes().into()));
        }
        ops.push(Op::Put(Table::Streams, Key::Id(stream.id), encode_stream(&stream)));
        let mut state = self.commit_locked(state, ops, CatalogError::StreamExists)?;
        if !self.is_shared() {
            state.next_id = stream.id + 1;
        }
        state.stream_names.insert(stream.id, (group_id, name.to_owned()));
        state.streams.entry(group_id).or_default().insert(name.to_owned(), stream.clone());
        Ok(stream)
    }

    pub fn delete_stream(&self, group_name: &str, name: &str) -> Result<StreamMeta, CatalogError> {
        let state = self.state.write();
        let group_id = state.groups.get(group_name).ok_or(CatalogError::GroupNotFound)?.id;
        let stream =
            state.streams.get(&group_id).and_then(|s| s.get(name)).cloned().ok_or(CatalogError::StreamNotFound)?;
        let ops = match self.shared() {
            None => vec![Op::Delete(Table::Streams, Key::Id(stream.id))],
            Some(shared) => vec![
                Op::Take(Table::StreamNames, stream_guard(group_id, name)),
                Op::Delete(Table::Streams, Key::Id(stream.id)),
                Op::Delete(Table::StreamStats, node_key(stream.id, &shared.node)),
            ],
        };
        let mut state = self.commit_locked(state, ops, CatalogError::StreamNotFound)?;
        forget_stream(&mut state, stream.id);
        Ok(stream)
    }

    /// Returns free space left by many small transactions to the file system.
    pub fn compact(&self) {
        if let Backend::Local(db) = &self.backend
            && let Err(error) = db.lock().compact()
        {
            tracing::warn!(%error, "catalog compaction skipped");
        }
    }

    /// Updates a stream's event statistics in memory; they are persisted with the next flush
    /// (and rebuilt from the WAL after a crash).
    pub fn record_events(&self, group_id: u64, stream_id: u64, stats: &EventStats) {
        let shared = self.is_shared();
        let mut state = self.state.write();
        let state = &mut *state;
        let Some((owner, name)) = state.stream_names.get(&stream_id) else { return };
        debug_assert_eq!(*owner, group_id);
        let Some(stream) = state.streams.get_mut(owner).and_then(|s| s.get_mut(name)) else { return };
        // The WAL-position check is against this node's share: its seqs are its own WAL's.
        if shared {
            let own = state.own_streams.entry(stream_id).or_insert_with(|| StreamMeta {
                first_event_timestamp: None,
                last_event_timestamp: None,
                last_ingestion_time: None,
                stored_bytes: 0,
                applied_end: 0,
                ..stream.clone()
            });
            if stats.first_seq >= own.applied_end {
                add_stats(own, stats);
                own.applied_end = stats.end_seq;
                add_stats(stream, stats);
                state.dirty_streams.insert(stream_id);
            }
        } else if stats.first_seq >= stream.applied_end {
            add_stats(stream, stats);
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
        let remote = state.remote_group_bytes.get(&group_id).into_iter().flat_map(|nodes| nodes.values());
        state
            .group_bytes
            .get(&group_id)
            .into_iter()
            .chain(remote)
            .map(|group| match cutoff {
                None => group.by_hour.values().sum::<u64>(),
                Some(cutoff) => group.by_hour.range(cutoff.div_euclid(HOUR_MS)..).map(|(_, b)| b).sum(),
            })
            .sum()
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

    /// Applies one change; returns the added (log file, trace file). In a shared metastore a
    /// removed file must still be registered (another node may have removed it first): if
    /// one is not, nothing is written and the change fails with `Conflict`.
    fn apply(&self, change: FileChange) -> Result<AddedFiles, CatalogError> {
        let mut state = self.state.write();
        let FileChange { remove, mut add, remove_spans, mut add_span, remove_metrics, mut add_metrics, flushed_seq } =
            change;
        let count = add.iter().count() + add_span.iter().count() + add_metrics.len();
        let (ids, counter) = self.take_ids(&state, count)?;
        for (file, id) in add.iter_mut().chain(add_span.iter_mut()).chain(add_metrics.iter_mut()).zip(&ids) {
            file.id = *id;
        }
        let node = self.shared().map(|shared| shared.node.as_str());
        let mut ops: Vec<Op> = Vec::new();
        let single = |f: &Option<FileMeta>| f.iter().cloned().collect::<Vec<_>>();
        for (table, remove, add) in [
            (Table::Files, &remove, single(&add)),
            (Table::SpanFiles, &remove_spans, single(&add_span)),
            (Table::MetricFiles, &remove_metrics, add_metrics.clone()),
        ] {
            for id in remove {
                ops.push(match node {
                    None => Op::Delete(table, Key::Id(*id)),
                    Some(_) => Op::Take(table, Key::Id(*id)),
                });
            }
            for file in &add {
                ops.push(Op::Put(table, Key::Id(file.id), encode(file)));
            }
        }
        for id in &state.dirty_streams {
            match node {
                None => {
                    let stream =
                        state.stream_names.get(id).and_then(|(group, name)| state.streams.get(group)?.get(name));
                    if let Some(stream) = stream {
                        ops.push(Op::Put(Table::Streams, Key::Id(stream.id), encode_stream(stream)));
                    }
                }
                Some(node) => {
                    if let Some(own) = state.own_streams.get(id).filter(|_| state.stream_names.contains_key(id)) {
                        ops.push(Op::Put(Table::StreamStats, node_key(*id, node), encode_stream(own)));
                    }
                }
            }
        }
        for id in &state.dirty_groups {
            if let Some(bytes) = state.group_bytes.get(id) {
                let key = node.map_or(Key::Id(*id), |node| node_key(*id, node));
                ops.push(Op::Put(Table::GroupBytes, key, bytes.encode()));
            }
        }
        ops.extend(counter);
        if let Some(seq) = flushed_seq {
            let key = node.map_or_else(|| FLUSHED_SEQ.to_owned(), |node| format!("{FLUSHED_SEQ}/{node}"));
            ops.push(Op::Put(Table::Meta, Key::Text(key), seq.to_le_bytes().into()));
        }
        self.commit(ops)?;
        state.dirty_streams.clear();
        state.dirty_groups.clear();
        if node.is_none() {
            state.next_id += count as u64;
        }
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

fn add_stats(stream: &mut StreamMeta, stats: &EventStats) {
    stream.first_event_timestamp = Some(stream.first_event_timestamp.map_or(stats.min_ts, |t| t.min(stats.min_ts)));
    stream.last_event_timestamp = Some(stream.last_event_timestamp.map_or(stats.max_ts, |t| t.max(stats.max_ts)));
    stream.last_ingestion_time =
        Some(stream.last_ingestion_time.map_or(stats.ingestion_time, |t| t.max(stats.ingestion_time)));
    stream.stored_bytes += stats.bytes;
}

fn forget_group(state: &mut CatalogState, group: &GroupMeta) {
    if state.groups.get(&group.name).is_some_and(|g| g.id == group.id) {
        state.groups.remove(&group.name);
    }
    state.group_bytes.remove(&group.id);
    state.remote_group_bytes.remove(&group.id);
    state.dirty_groups.remove(&group.id);
    for stream in state.streams.remove(&group.id).into_iter().flat_map(|s| s.into_values()) {
        state.stream_names.remove(&stream.id);
        state.dirty_streams.remove(&stream.id);
        state.own_streams.remove(&stream.id);
        state.remote_streams.remove(&stream.id);
    }
}

fn forget_stream(state: &mut CatalogState, id: u64) {
    if let Some((group, name)) = state.stream_names.remove(&id)
        && let Some(streams) = state.streams.get_mut(&group)
    {
        streams.remove(&name);
    }
    state.dirty_streams.remove(&id);
    state.own_streams.remove(&id);
    state.remote_streams.remove(&id);
}

/// A stream's statistics: this node's share plus every other node's.
fn merge_stream_stats(state: &mut CatalogState, id: u64) {
    let Some((group, name)) = state.stream_names.get(&id) else { return };
    let Some(stream) = state.streams.get_mut(group).and_then(|s| s.get_mut(name)) else { return };
    stream.first_event_timestamp = None;
    stream.last_event_timestamp = None;
    stream.last_ingestion_time = None;
    stream.stored_bytes = 0;
    let remote = state.remote_streams.get(&id).into_iter().flat_map(|nodes| nodes.values());
    for share in state.own_streams.get(&id).into_iter().chain(remote) {
        let min = |a: Option<i64>, b: Option<i64>| a.into_iter().chain(b).min();
        let max = |a: Option<i64>, b: Option<i64>| a.into_iter().chain(b).max();
        stream.first_event_timestamp = min(stream.first_event_timestamp, share.first_event_timestamp);
        stream.last_event_timestamp = max(stream.last_event_timestamp, share.last_event_timestamp);
        stream.last_ingestion_time = max(stream.last_ingestion_time, share.last_ingestion_time);
        stream.stored_bytes += share.stored_bytes;
    }
}

/// Splits a `<id>/<node>` key.
fn split_node_key(key: &str) -> Option<(u64, &str)> {
    let (id, node) = key.split_once('/')?;
    Some((id.parse().ok()?, node))
}

fn parse_id(key: &str) -> Result<u64, CatalogError> {
    key.parse().map_err(|_| CatalogError::Storage(format!("bad catalog key {key}")))
}

/// One node's row of a per-node record (statistics shares): this node's own is read on the
/// first load only (memory is ahead of the metastore after that); another node's replaces or
/// removes that node's entry.
fn apply_share<T>(
    own: &mut HashMap<u64, T>,
    remote: &mut HashMap<u64, HashMap<String, T>>,
    (me, first_load): (&str, bool),
    (id, node): (u64, &str),
    share: Option<T>,
) {
    if node == me {
        if let (true, Some(share)) = (first_load, share) {
            own.insert(id, share);
        }
        return;
    }
    let nodes = remote.entry(id).or_default();
    match share {
        Some(share) => nodes.insert(node.to_owned(), share),
        None => nodes.remove(node),
    };
}

/// Applies one row of the shared metastore's change feed to the in-memory state. Rows this
/// node wrote itself are already applied (applying them again changes nothing); its own
/// statistics and WAL position are read only on the first load.
fn apply_row(
    state: &mut CatalogState,
    me: &str,
    first_load: bool,
    table: &str,
    key: &str,
    value: Option<&[u8]>,
    touched: &mut std::collections::HashSet<u64>,
) -> Result<(), CatalogError> {
    let files = |state: &mut CatalogState, which: fn(&mut CatalogState) -> &mut Vec<Arc<FileMeta>>| {
        let id = parse_id(key)?;
        let list = which(state);
        list.retain(|f| f.id != id);
        if let Some(value) = value {
            list.push(Arc::new(decode(value)?));
        }
        Ok::<_, CatalogError>(())
    };
    match table {
        "groups" => {
            let id = parse_id(key)?;
            match value {
                Some(value) => {
                    let group: GroupMeta = decode(value)?;
                    state.groups.insert(group.name.clone(), Arc::new(group));
                }
                None => {
                    if let Some(group) = state.groups.values().find(|g| g.id == id).cloned() {
                        forget_group(state, &group);
                    }
                }
            }
        }
        "streams" => {
            let id = parse_id(key)?;
            match value {
                Some(value) => {
                    if let std::collections::hash_map::Entry::Vacant(entry) = state.stream_names.entry(id) {
                        let stream = decode_stream(value)?;
                        entry.insert((stream.group_id, stream.name.clone()));
                        state.streams.entry(stream.group_id).or_default().insert(stream.name.clone(), stream);
                        touched.insert(id);
                    }
                }
                None => forget_stream(state, id),
            }
        }
        "files" => files(state, |s| &mut s.files)?,
        "span_files" => files(state, |s| &mut s.span_files)?,
        "metric_files" => files(state, |s| &mut s.metric_files)?,
        "stream_stats" => {
            let Some((id, node)) = split_node_key(key) else { return Ok(()) };
            let share = value.map(decode_stream).transpose()?;
            apply_share(&mut state.own_streams, &mut state.remote_streams, (me, first_load), (id, node), share);
            touched.insert(id);
        }
        "group_bytes" => {
            let Some((id, node)) = split_node_key(key) else { return Ok(()) };
            let bytes = value.map(GroupBytes::decode).transpose()?;
            apply_share(&mut state.group_bytes, &mut state.remote_group_bytes, (me, first_load), (id, node), bytes);
        }
        "docs" => {
            let kind = key.split_once('/').map_or(key, |(kind, _)| kind);
            *state.doc_versions.entry(kind.to_owned()).or_default() += 1;
        }
        "meta" => {
            if first_load
                && key.strip_prefix(FLUSHED_SEQ).and_then(|rest| rest.strip_prefix('/')) == Some(me)
                && let Some(value) = value.and_then(|v| <[u8; 8]>::try_from(v).ok())
            {
                state.flushed_seq = u64::from_le_bytes(value);
            }
        }
        _ => {}
    }
    Ok(())
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
        GroupMeta::standard(name, 1)
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
