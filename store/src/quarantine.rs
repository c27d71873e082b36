//! Damaged files: a data file whose object is missing, has the wrong size or does not decode,
//! and an index sidecar that does not open, are moved under `quarantine/` in the object store,
//! dropped from the catalog, counted in `fluoro_files_quarantined_total` and logged. Reads go
//! on without them: a missing index means a scan, a missing data file means its rows are gone
//! (they were damaged already), and nothing else stops serving.
//!
//! Checks run at start-up (every file's size: truncation is the common damage) and after a
//! read fails with a storage error (every file the read touched, decoded in full); the read is
//! then retried once (`LogStore::read_retrying`).

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::error::DataFusionError;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::catalog::FileMeta;
use crate::log_store::LogStore;

/// Which catalog table a data file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Logs,
    Traces,
    Metrics,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::Logs => "logs",
            Kind::Traces => "traces",
            Kind::Metrics => "metrics",
        }
    }
}

/// Whether `error` comes from reading stored files (rather than from the query itself).
fn is_storage_error(error: &DataFusionError) -> bool {
    use datafusion::arrow::error::ArrowError;
    match error {
        DataFusionError::ParquetError(_) | DataFusionError::ObjectStore(_) | DataFusionError::IoError(_) => true,
        DataFusionError::ArrowError(inner, _) => {
            matches!(**inner, ArrowError::IoError(..) | ArrowError::ExternalError(_) | ArrowError::ParquetError(_))
        }
        DataFusionError::Context(_, inner) | DataFusionError::Diagnostic(_, inner) => is_storage_error(inner),
        DataFusionError::Shared(inner) => is_storage_error(inner),
        DataFusionError::Collection(errors) => errors.iter().any(is_storage_error),
        DataFusionError::External(inner) => {
            inner.downcast_ref::<DataFusionError>().is_some_and(is_storage_error)
                || inner.is::<object_store::Error>()
                || inner.is::<datafusion::parquet::errors::ParquetError>()
                || inner.is::<std::io::Error>()
        }
        _ => false,
    }
}

/// Reads the whole object and decodes every row: `Err` names what is wrong.
async fn check(objects: &Arc<dyn ObjectStore>, file: &FileMeta) -> Result<(), String> {
    let path = ObjectPath::from(file.path.as_str());
    let bytes: Bytes = match objects.get(&path).await {
        Ok(got) => got.bytes().await.map_err(|e| format!("unreadable: {e}"))?,
        Err(e) => return Err(format!("unreadable: {e}")),
    };
    if bytes.len() as u64 != file.size_bytes {
        return Err(format!("{} bytes where the catalog says {}", bytes.len(), file.size_bytes));
    }
    let rows = file.rows;
    tokio::task::spawn_blocking(move || {
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes).and_then(|b| b.build());
        let mut seen = 0u64;
        for batch in reader.map_err(|e| e.to_string())? {
            seen += batch.map_err(|e| e.to_string())?.num_rows() as u64;
        }
        if seen != rows {
            return Err(format!("{seen} rows where the catalog says {rows}"));
        }
        Ok(())
    })
    .await
    .map_err(|e| e.to_string())?
}

impl LogStore {
    /// Checks every data file of the catalog against the object store's listing (one LIST, not
    /// a request per file): a missing object or one of another size is quarantined. Objects no
    /// catalog entry names (a flush cut short by a crash, files replaced just before a
    /// restart) are deleted once older than `file_delete_grace`. Returns how many files were
    /// quarantined.
    pub async fn scrub(&self) -> usize {
        use futures::TryStreamExt;
        let listing: Vec<object_store::ObjectMeta> = match self.objects().list(None).try_collect().await {
            Ok(listing) => listing,
            Err(error) => {
                tracing::warn!(%error, "data files not checked: the object store did not list");
                return 0;
            }
        };
        let files: Vec<Arc<FileMeta>> = self
            .catalog()
            .read(|state| state.files.iter().chain(&state.span_files).chain(&state.metric_files).cloned().collect());
        let sizes: std::collections::HashMap<String, u64> =
            listing.iter().map(|o| (o.location.to_string(), o.size)).collect();
        let mut quarantined = 0;
        for file in &files {
            let reason = match sizes.get(&file.path) {
                None => "its object is missing".to_owned(),
                Some(&size) if size != file.size_bytes => {
                    format!("{size} bytes where the catalog says {}", file.size_bytes)
                }
                Some(_) => continue,
            };
            quarantined += usize::from(self.quarantine_file(file, &reason).await);
        }
        let named: std::collections::HashSet<&str> =
            files.iter().flat_map(|f| f.objects()).map(String::as_str).collect();
        let grace = chrono::Duration::from_std(self.config().file_delete_grace).unwrap_or(chrono::Duration::MAX);
        let cutoff = chrono::Utc::now() - grace;
        let orphans: Vec<String> = listing
            .iter()
            .map(|o| (o.location.to_string(), o.last_modified))
            .filter(|(path, modified)| {
                !path.starts_with("quarantine/") && !named.contains(path.as_str()) && *modified < cutoff
            })
            .map(|(path, _)| path)
            .collect();
        if !orphans.is_empty() {
            tracing::info!(count = orphans.len(), "deleting data files no catalog entry names");
            self.delete_objects(orphans).await;
        }
        quarantined
    }

    /// Runs `read`; when it fails with a storage error, checks the files it read (`files` of
    /// its snapshot, decoded in full), quarantines the damaged ones and, if there were any,
    /// runs it once more. Other errors, and a second failure, are returned as they are.
    pub async fn read_retrying<T, F, Fut>(&self, mut read: F) -> Result<T, DataFusionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = (Vec<Arc<FileMeta>>, Result<T, DataFusionError>)>,
    {
        let (files, result) = read().await;
        match result {
            Err(error) if self.quarantine_after_failure(&files, &error).await => read().await.1,
            other => other,
        }
    }

    /// After a read of `files` failed with `error`: when it is a storage error, checks the
    /// files in full and quarantines the damaged ones. True when some were quarantined (a
    /// retry can succeed).
    pub async fn quarantine_after_failure(&self, files: &[Arc<FileMeta>], error: &DataFusionError) -> bool {
        if !is_storage_error(error) {
            return false;
        }
        tracing::warn!(%error, files = files.len(), "a read of stored files failed; checking them");
        let mut quarantined = false;
        for file in files {
            if let Err(reason) = check(self.objects(), file).await {
                quarantined |= self.quarantine_file(file, &reason).await;
            }
        }
        quarantined
    }

    /// Drops `file` from the catalog and moves its objects under `quarantine/`.
    async fn quarantine_file(&self, file: &FileMeta, reason: &str) -> bool {
        let kind = self.catalog().read(|state| {
            let has = |list: &[Arc<FileMeta>]| list.iter().any(|f| f.id == file.id);
            if has(&state.files) {
                Some(Kind::Logs)
            } else if has(&state.span_files) {
                Some(Kind::Traces)
            } else if has(&state.metric_files) {
                Some(Kind::Metrics)
            } else {
                None
            }
        });
        // Already quarantined (or compacted away) by another reader.
        let Some(kind) = kind else { return false };
        let removed = match kind {
            Kind::Logs => self.catalog().replace_files(&[file.id], None, None).map(|_| ()),
            Kind::Traces => self.catalog().replace_span_files(&[file.id], None).map(|_| ()),
            Kind::Metrics => self.catalog().replace_metric_files(&[file.id], Vec::new()),
        };
        if let Err(error) = removed {
            tracing::error!(%error, path = file.path, "a damaged file could not be dropped from the catalog");
            return false;
        }
        self.indexes_forget(file.id);
        for path in file.objects() {
            self.move_to_quarantine(path).await;
        }
        self.metrics().files_quarantined.with_label_values(&[kind.label()]).inc();
        self.update_file_gauge();
        tracing::error!(
            path = file.path,
            reason,
            rows = file.rows,
            kind = kind.label(),
            "damaged data file quarantined"
        );
        true
    }

    /// An index sidecar that does not open: moved aside and dropped from its file's entry, so
    /// the file is scanned from now on instead of being retried.
    pub(crate) async fn quarantine_index(&self, file: &FileMeta, path: &str, reason: &str) {
        let mut fixed = file.clone();
        if fixed.index_path.as_deref() == Some(path) {
            fixed.index_path = None;
        }
        if fixed.text_index_path.as_deref() == Some(path) {
            fixed.text_index_path = None;
        }
        let is_log_file = self.catalog().read(|state| state.files.iter().any(|f| f.id == file.id));
        let replaced = if is_log_file {
            self.catalog().replace_files(&[file.id], Some(fixed), None).map(|_| ())
        } else {
            self.catalog().replace_span_files(&[file.id], Some(fixed)).map(|_| ())
        };
        if let Err(error) = replaced {
            tracing::error!(%error, path, "a damaged index could not be dropped from the catalog");
            return;
        }
        self.move_to_quarantine(path).await;
        self.metrics().files_quarantined.with_label_values(&["index"]).inc();
        tracing::error!(path, reason, "damaged term index quarantined; its file is scanned instead");
    }

    async fn move_to_quarantine(&self, path: &str) {
        let from = ObjectPath::from(path);
        let to = ObjectPath::from(format!("quarantine/{path}"));
        match self.objects().rename(&from, &to).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
            Err(error) => tracing::warn!(%error, path, "a damaged object could not be moved to quarantine/"),
        }
    }
}

impl LogStore {
    /// Collects `build` over `table(snapshot)` (`LogTable::new`, `::spans` or `::samples`); on
    /// a storage error, quarantines the snapshot's damaged files and collects once more
    /// without them.
    pub async fn collect_checked(
        &self,
        snapshot: crate::table::LogSnapshot,
        table: fn(crate::table::LogSnapshot) -> crate::table::LogTable,
        build: impl Fn(datafusion::dataframe::DataFrame) -> Result<datafusion::dataframe::DataFrame, DataFusionError>,
    ) -> Result<Vec<datafusion::arrow::array::RecordBatch>, DataFusionError> {
        let collect = |snapshot| async {
            let frame = self.session_context().read_table(Arc::new(table(snapshot)))?;
            build(frame)?.collect().await
        };
        let files = snapshot.files.clone();
        match collect(snapshot.clone()).await {
            Err(error) if self.quarantine_after_failure(&files, &error).await => {
                // Once more, without what was just set aside.
                let mut rest = snapshot;
                let present: std::collections::HashSet<u64> = self.catalog().read(|state| {
                    state.files.iter().chain(&state.span_files).chain(&state.metric_files).map(|f| f.id).collect()
                });
                rest.files.retain(|f| present.contains(&f.id));
                collect(rest).await
            }
            other => other,
        }
    }
}
