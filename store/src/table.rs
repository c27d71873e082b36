//! `LogTable`: the DataFusion `TableProvider` over one consistent snapshot of log events:
//! the unflushed memtable batches plus the Parquet files the catalog chose for the query.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::Session;
use datafusion::common::{DFSchema, Result};
use datafusion::datasource::TableType;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::physical_plan::parquet::CachedParquetFileReaderFactory;
use datafusion::datasource::physical_plan::{FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use fluoro_proto::logs::LOG_SCHEMA;

use crate::catalog::FileMeta;

/// The URL under which the store's object store is registered in DataFusion.
pub const OBJECT_STORE_URL: &str = "fluoro://data/";

/// Log events visible at one instant: nothing twice, nothing acknowledged missing.
#[derive(Debug, Clone, Default)]
pub struct LogSnapshot {
    pub batches: Vec<RecordBatch>,
    pub files: Vec<Arc<FileMeta>>,
    /// Per file id: the only row ranges that can match (from the term index).
    pub selections: HashMap<u64, Vec<Range<u64>>>,
    /// Where another process reads the files (a store in a bucket).
    pub bucket: Option<FileLocation>,
}

/// Where a table's files are read from when not through the store's own object store (a
/// distributed-query worker): an object store URL registered in the worker's runtime and the
/// key prefix the files' paths are relative to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileLocation {
    pub url: String,
    pub prefix: String,
}

/// A snapshot as a DataFusion table: log events, or (with `spans`) trace documents.
#[derive(Debug)]
pub struct LogTable {
    snapshot: LogSnapshot,
    schema: SchemaRef,
    location: Option<FileLocation>,
}

impl LogTable {
    pub fn new(snapshot: LogSnapshot) -> Self {
        Self { snapshot, schema: LOG_SCHEMA.clone(), location: None }
    }

    /// A snapshot of metric samples (`LogStore::metric_snapshot`).
    pub fn samples(snapshot: LogSnapshot) -> Self {
        Self { snapshot, schema: fluoro_proto::metrics::schema::SAMPLE_SCHEMA.clone(), location: None }
    }

    /// A snapshot of trace documents (`LogStore::span_snapshot`).
    pub fn spans(snapshot: LogSnapshot) -> Self {
        Self { snapshot, schema: fluoro_proto::xray::schema::SPAN_SCHEMA.clone(), location: None }
    }

    /// A snapshot with `schema` whose files are read from `location`.
    pub fn located(snapshot: LogSnapshot, schema: SchemaRef, location: FileLocation) -> Self {
        Self { snapshot, schema, location: Some(location) }
    }

    pub fn snapshot(&self) -> &LogSnapshot {
        &self.snapshot
    }
}

#[async_trait]
impl datafusion::catalog::TableProvider for LogTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> Result<Vec<TableProviderFilterPushDown>> {
        // Parquet prunes row groups and pages with them; rows are filtered again above.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let mut inputs: Vec<Arc<dyn ExecutionPlan>> = Vec::new();
        if !self.snapshot.batches.is_empty() {
            let partitions = vec![self.snapshot.batches.clone()];
            inputs.push(MemorySourceConfig::try_new_exec(&partitions, self.schema.clone(), projection.cloned())?);
        }
        if !self.snapshot.files.is_empty() {
            // Footers and page indexes are parsed once per file and kept in the runtime's
            // metadata cache (files never change: a path names one immutable object).
            let url = ObjectStoreUrl::parse(self.location.as_ref().map_or(OBJECT_STORE_URL, |l| l.url.as_str()))?;
            let runtime = state.runtime_env();
            let reader = CachedParquetFileReaderFactory::new(
                runtime.object_store(&url)?,
                runtime.cache_manager.get_file_metadata_cache(),
            );
            let mut source = ParquetSource::new(self.schema.clone())
                .with_enable_page_index(true)
                .with_parquet_file_reader_factory(Arc::new(reader));
            if let Some(predicate) = conjunction(filters.iter().cloned()) {
                let df_schema = DFSchema::try_from(self.schema.as_ref().clone())?;
                source = source.with_predicate(state.create_physical_expr(predicate, &df_schema)?);
            }
            let mut builder = FileScanConfigBuilder::new(url, Arc::new(source))
                .with_limit(limit)
                .with_projection_indices(projection.cloned())?;
            for file in &self.snapshot.files {
                let path = match &self.location {
                    Some(location) => format!("{}/{}", location.prefix, file.path),
                    None => file.path.clone(),
                };
                let mut partitioned = PartitionedFile::new(path, file.size_bytes);
                if let Some(ranges) = self.snapshot.selections.get(&file.id)
                    && !file.row_groups.is_empty()
                {
                    partitioned = partitioned.with_extension(crate::index::access_plan(ranges, &file.row_groups));
                }
                builder = builder.with_file(partitioned);
            }
            inputs.push(DataSourceExec::from_data_source(builder.build()));
        }
        if inputs.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }
        UnionExec::try_new(inputs)
    }
}
