//! The registry of metric series: every identity with a sample, when it last had one, kept in
//! memory for ListMetrics and SEARCH and persisted in the catalog at each flush (the WAL
//! carries the identities of unflushed samples, so nothing is lost in between).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fluoro_proto::metrics::{KeyedSample, SeriesKey};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, CatalogError};

const DOC_KIND: &str = "metric-series";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SeriesInfo {
    pub key: Arc<SeriesKey>,
    /// Timestamp of the newest sample (ms).
    pub last_sample_ms: i64,
}

/// The distinct series of a batch of samples, each with its newest sample time.
#[derive(Debug, Default)]
pub struct BatchSeries(HashMap<u64, SeriesInfo>);

impl BatchSeries {
    pub fn of(samples: &[KeyedSample]) -> Self {
        let mut out: HashMap<u64, SeriesInfo> = HashMap::new();
        for s in samples {
            let ts = s.sample.timestamp_ms;
            out.entry(s.sample.series)
                .and_modify(|info| info.last_sample_ms = info.last_sample_ms.max(ts))
                .or_insert_with(|| SeriesInfo { key: s.key.clone(), last_sample_ms: ts });
        }
        Self(out)
    }
}

#[derive(Debug, Default)]
pub struct SeriesRegistry {
    series: RwLock<HashMap<u64, SeriesInfo>>,
    dirty: Mutex<HashSet<u64>>,
}

impl SeriesRegistry {
    pub fn load(catalog: &Catalog) -> Result<Self, CatalogError> {
        let registry = Self::default();
        {
            let mut series = registry.series.write();
            for (_, bytes) in catalog.docs(DOC_KIND)? {
                match serde_json::from_slice::<SeriesInfo>(&bytes) {
                    Ok(info) => {
                        series.insert(info.key.id(), info);
                    }
                    Err(error) => tracing::warn!(%error, "unreadable metric series entry skipped"),
                }
            }
        }
        Ok(registry)
    }

    /// Adds the series other nodes stored (a shared metastore), keeping the later last sample.
    pub fn merge_stored(&self, catalog: &Catalog) -> Result<(), CatalogError> {
        let stored = catalog.docs(DOC_KIND)?;
        let mut series = self.series.write();
        for (_, bytes) in stored {
            let Ok(info) = serde_json::from_slice::<SeriesInfo>(&bytes) else { continue };
            match series.get_mut(&info.key.id()) {
                Some(known) => known.last_sample_ms = known.last_sample_ms.max(info.last_sample_ms),
                None => {
                    series.insert(info.key.id(), info);
                }
            }
        }
        Ok(())
    }

    /// The document kind the series are stored under.
    pub const DOC_KIND: &'static str = DOC_KIND;

    pub fn len(&self) -> usize {
        self.series.read().len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.read().is_empty()
    }

    /// How many of a batch's series are not registered yet.
    pub fn unknown_series(&self, batch: &BatchSeries) -> usize {
        let series = self.series.read();
        batch.0.keys().filter(|id| !series.contains_key(id)).count()
    }

    /// Records the series of acknowledged samples.
    pub fn observe(&self, batch: BatchSeries) {
        let mut series = self.series.write();
        let mut dirty = self.dirty.lock();
        for (id, info) in batch.0 {
            match series.get_mut(&id) {
                Some(known) if known.last_sample_ms >= info.last_sample_ms => {}
                Some(known) => {
                    known.last_sample_ms = info.last_sample_ms;
                    dirty.insert(id);
                }
                None => {
                    series.insert(id, info);
                    dirty.insert(id);
                }
            }
        }
    }

    /// Every series, in (namespace, name, dimensions) order.
    pub fn all(&self) -> Vec<SeriesInfo> {
        let mut all: Vec<SeriesInfo> = self.series.read().values().cloned().collect();
        all.sort_by(|a, b| a.key.cmp(&b.key));
        all
    }

    /// Writes the entries changed since the last call.
    pub fn persist(&self, catalog: &Catalog) -> Result<(), CatalogError> {
        let ids: Vec<u64> = self.dirty.lock().drain().collect();
        if ids.is_empty() {
            return Ok(());
        }
        let docs: Vec<(String, Option<Vec<u8>>)> = {
            let series = self.series.read();
            ids.iter()
                .filter_map(|id| {
                    let info = serde_json::to_vec(series.get(id)?).ok()?;
                    Some((format!("{id:016x}"), Some(info)))
                })
                .collect()
        };
        if let Err(error) = catalog.put_docs(DOC_KIND, &docs) {
            self.dirty.lock().extend(ids);
            return Err(error);
        }
        Ok(())
    }
}
