//! Metric filters of every log group: definitions persisted in the catalog, compiled filters
//! in memory for the ingest path, and a per-filter cap on distinct dimension sets per hour
//! (spec logs.md §6: AWS disables a filter past 1,000; fluoro drops the excess datapoints and
//! warns).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use fluoro_proto::metric_filter::{CompiledFilter, Event, MetricFilterDef};
use fluoro_proto::metrics::{KeyedSample, SeriesKey};
use parking_lot::{Mutex, RwLock};

use crate::catalog::{Catalog, CatalogError};

const DOC_KIND: &str = "metric-filters";
/// Distinct dimension sets one filter may produce per hour.
pub const MAX_DIMENSION_SETS_PER_HOUR: usize = 1000;

pub struct ActiveFilter {
    pub filter: CompiledFilter,
    /// (hour, series ids seen in it).
    seen: Mutex<(i64, HashSet<u64>)>,
    /// Series identities and ids by dimension values (bounded by the per-hour cap).
    keys: Mutex<HashMap<Dimensions, (Arc<SeriesKey>, u64)>>,
}

type Dimensions = Vec<(String, String)>;

impl ActiveFilter {
    fn new(filter: CompiledFilter) -> Self {
        Self { filter, seen: Mutex::new((0, HashSet::new())), keys: Mutex::new(HashMap::new()) }
    }

    /// The sample of one event, unless the filter's dimension sets this hour are exhausted.
    pub fn sample(&self, event: &Event<'_>, timestamp_ms: i64, now_ms: i64) -> Option<KeyedSample> {
        let sample = self.filter.sample(event, timestamp_ms, |dims| {
            let mut keys = self.keys.lock();
            if keys.len() > 2 * MAX_DIMENSION_SETS_PER_HOUR {
                keys.clear();
            }
            keys.entry(dims)
                .or_insert_with_key(|dims| {
                    let key = self.filter.key(dims.clone());
                    let id = key.id();
                    (key, id)
                })
                .clone()
        })?;
        if sample.key.dimensions.is_empty() {
            return Some(sample);
        }
        let hour = now_ms.div_euclid(3_600_000);
        let mut seen = self.seen.lock();
        if seen.0 != hour {
            *seen = (hour, HashSet::new());
        }
        if seen.1.len() >= MAX_DIMENSION_SETS_PER_HOUR && !seen.1.contains(&sample.sample.series) {
            if seen.1.len() == MAX_DIMENSION_SETS_PER_HOUR {
                tracing::warn!(
                    filter = %self.filter.def.filter_name,
                    group = %self.filter.def.log_group_name,
                    "metric filter exceeded {MAX_DIMENSION_SETS_PER_HOUR} dimension sets this hour; datapoints dropped"
                );
                seen.1.insert(u64::MAX);
            }
            return None;
        }
        seen.1.insert(sample.sample.series);
        Some(sample)
    }
}

/// Filters by log group name, ordered by filter name.
#[derive(Default)]
pub struct MetricFilters {
    by_group: RwLock<HashMap<String, Vec<Arc<ActiveFilter>>>>,
}

fn doc_id(group: &str, filter: &str) -> String {
    format!("{group}\n{filter}")
}

impl MetricFilters {
    pub fn load(catalog: &Catalog) -> Result<Self, CatalogError> {
        let filters = Self::default();
        for (_, bytes) in catalog.docs(DOC_KIND)? {
            let compiled = serde_json::from_slice::<MetricFilterDef>(&bytes)
                .map_err(|e| e.to_string())
                .and_then(CompiledFilter::compile);
            match compiled {
                Ok(filter) => filters.insert(filter),
                Err(error) => tracing::warn!(%error, "stored metric filter skipped"),
            }
        }
        Ok(filters)
    }

    fn insert(&self, filter: CompiledFilter) {
        let mut by_group = self.by_group.write();
        let list = by_group.entry(filter.def.log_group_name.clone()).or_default();
        list.retain(|f| f.filter.def.filter_name != filter.def.filter_name);
        list.push(Arc::new(ActiveFilter::new(filter)));
        list.sort_by(|a, b| a.filter.def.filter_name.cmp(&b.filter.def.filter_name));
    }

    /// Creates or replaces a filter (durable before it applies).
    pub fn put(&self, catalog: &Catalog, filter: CompiledFilter) -> Result<(), CatalogError> {
        let bytes = serde_json::to_vec(&filter.def).expect("definitions serialize");
        catalog.put_doc(DOC_KIND, &doc_id(&filter.def.log_group_name, &filter.def.filter_name), &bytes)?;
        self.insert(filter);
        Ok(())
    }

    /// Deletes a filter; `false` when it did not exist.
    pub fn delete(&self, catalog: &Catalog, group: &str, name: &str) -> Result<bool, CatalogError> {
        let existed = catalog.delete_doc(DOC_KIND, &doc_id(group, name))?;
        if let Some(list) = self.by_group.write().get_mut(group) {
            list.retain(|f| f.filter.def.filter_name != name);
        }
        Ok(existed)
    }

    /// Drops every filter of a deleted group.
    pub fn delete_group(&self, catalog: &Catalog, group: &str) -> Result<(), CatalogError> {
        let names: Vec<String> = self.of_group(group).iter().map(|f| f.filter.def.filter_name.clone()).collect();
        for name in names {
            self.delete(catalog, group, &name)?;
        }
        self.by_group.write().remove(group);
        Ok(())
    }

    pub fn of_group(&self, group: &str) -> Vec<Arc<ActiveFilter>> {
        self.by_group.read().get(group).cloned().unwrap_or_default()
    }

    pub fn get(&self, group: &str, name: &str) -> Option<Arc<ActiveFilter>> {
        self.of_group(group).into_iter().find(|f| f.filter.def.filter_name == name)
    }

    pub fn count(&self, group: &str) -> usize {
        self.by_group.read().get(group).map_or(0, Vec::len)
    }

    /// Every filter, by (group, filter name).
    pub fn all(&self) -> Vec<Arc<ActiveFilter>> {
        let by_group = self.by_group.read();
        let mut groups: Vec<&String> = by_group.keys().collect();
        groups.sort();
        groups.into_iter().flat_map(|g| by_group[g].iter().cloned()).collect()
    }
}
