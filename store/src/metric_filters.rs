//! Metric filters of every log group: definitions persisted in the catalog, compiled filters
//! in memory for the ingest path, and a per-filter cap on distinct dimension sets per hour
//! (spec logs.md §6: AWS disables a filter past 1,000; fluoro drops the excess datapoints and
//! warns).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

use fluoro_proto::metric_filter::{CompiledFilter, FilterPlan, MetricFilterDef};
use fluoro_proto::metrics::SeriesKey;
use parking_lot::{Mutex, RwLock};

use crate::catalog::{Catalog, CatalogError};

const DOC_KIND: &str = "metric-filters";
/// Distinct dimension sets one filter may produce per hour.
pub const MAX_DIMENSION_SETS_PER_HOUR: usize = 1000;

/// A series identity and its id.
pub type Series = (Arc<SeriesKey>, u64);

pub struct ActiveFilter {
    pub filter: CompiledFilter,
    /// (hour, series ids seen in it).
    seen: Mutex<(i64, HashSet<u64>)>,
    /// The one series of a filter without dimensions.
    series: OnceLock<Series>,
    /// Series identities and ids by dimension values (bounded by the per-hour cap).
    keys: Mutex<HashMap<Vec<String>, Series>>,
}

impl ActiveFilter {
    fn new(filter: CompiledFilter) -> Self {
        Self {
            filter,
            seen: Mutex::new((0, HashSet::new())),
            series: OnceLock::new(),
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The series of a datapoint with these dimension values, unless the filter's dimension
    /// sets this hour are exhausted.
    pub fn series(&self, values: &[Cow<'_, str>], now_ms: i64) -> Option<Series> {
        let new_key = || {
            let key = self.filter.key(values);
            let id = key.id();
            (key, id)
        };
        if values.is_empty() {
            return Some(self.series.get_or_init(new_key).clone());
        }
        let (key, id) = {
            let mut keys = self.keys.lock();
            if keys.len() > 2 * MAX_DIMENSION_SETS_PER_HOUR {
                keys.clear();
            }
            let lookup: Vec<String> = values.iter().map(|v| v.to_string()).collect();
            keys.entry(lookup).or_insert_with(new_key).clone()
        };
        let hour = now_ms.div_euclid(3_600_000);
        let mut seen = self.seen.lock();
        if seen.0 != hour {
            *seen = (hour, HashSet::new());
        }
        if seen.1.len() >= MAX_DIMENSION_SETS_PER_HOUR && !seen.1.contains(&id) {
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
        seen.1.insert(id);
        Some((key, id))
    }
}

/// One log group's filters, by name, and the plan that evaluates them together.
#[derive(Default)]
pub struct GroupFilters {
    pub filters: Vec<Arc<ActiveFilter>>,
    pub plan: FilterPlan,
}

impl GroupFilters {
    fn new(mut filters: Vec<Arc<ActiveFilter>>) -> Self {
        filters.sort_by(|a, b| a.filter.def.filter_name.cmp(&b.filter.def.filter_name));
        let plan = FilterPlan::new(filters.iter().map(|f| &f.filter));
        Self { filters, plan }
    }
}

/// Filters by log group name, ordered by filter name.
#[derive(Default)]
pub struct MetricFilters {
    by_group: RwLock<HashMap<String, Arc<GroupFilters>>>,
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

    /// Replaces the filters with those stored now (a shared metastore: another node changed
    /// them).
    pub fn reload(&self, catalog: &Catalog) -> Result<(), CatalogError> {
        let fresh = Self::load(catalog)?;
        *self.by_group.write() = fresh.by_group.into_inner();
        Ok(())
    }

    /// The document kind the filters are stored under.
    pub const DOC_KIND: &'static str = DOC_KIND;

    fn insert(&self, filter: CompiledFilter) {
        let mut by_group = self.by_group.write();
        let group = by_group.entry(filter.def.log_group_name.clone()).or_default();
        let mut list: Vec<Arc<ActiveFilter>> =
            group.filters.iter().filter(|f| f.filter.def.filter_name != filter.def.filter_name).cloned().collect();
        list.push(Arc::new(ActiveFilter::new(filter)));
        *group = Arc::new(GroupFilters::new(list));
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
        if let Some(filters) = self.by_group.write().get_mut(group) {
            let list = filters.filters.iter().filter(|f| f.filter.def.filter_name != name).cloned().collect();
            *filters = Arc::new(GroupFilters::new(list));
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
        self.by_group.read().get(group).map(|g| g.filters.clone()).unwrap_or_default()
    }

    /// A group's filters as the ingest path runs them (`None` without any).
    pub fn group(&self, group: &str) -> Option<Arc<GroupFilters>> {
        self.by_group.read().get(group).filter(|g| !g.filters.is_empty()).cloned()
    }

    pub fn get(&self, group: &str, name: &str) -> Option<Arc<ActiveFilter>> {
        self.of_group(group).into_iter().find(|f| f.filter.def.filter_name == name)
    }

    pub fn count(&self, group: &str) -> usize {
        self.by_group.read().get(group).map_or(0, |g| g.filters.len())
    }

    /// Every filter, by (group, filter name).
    pub fn all(&self) -> Vec<Arc<ActiveFilter>> {
        let by_group = self.by_group.read();
        let mut groups: Vec<&String> = by_group.keys().collect();
        groups.sort();
        groups.into_iter().flat_map(|g| by_group[g].filters.iter().cloned()).collect()
    }
}
