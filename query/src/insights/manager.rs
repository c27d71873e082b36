//! Background execution of Insights (and SQL) queries: at most `concurrency` run at once, the
//! rest wait as `Scheduled`; each has a timeout; StopQuery aborts the task, which drops the
//! DataFusion stream and frees its memory. Finished results stay readable for 7 days.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use parking_lot::Mutex;
use tokio::sync::Semaphore;

use super::Row;
use super::run::{Progress, Statistics};

/// How long finished queries stay readable.
pub const RESULTS_TTL_MS: i64 = 7 * 86_400_000;
/// At most this many queries may be Scheduled or Running (LimitExceededException above).
pub const MAX_ACTIVE: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Scheduled,
    Running,
    Complete,
    Failed,
    Cancelled,
    Timeout,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "Scheduled",
            Self::Running => "Running",
            Self::Complete => "Complete",
            Self::Failed => "Failed",
            Self::Cancelled => "Cancelled",
            Self::Timeout => "Timeout",
        }
    }

    pub fn is_active(self) -> bool {
        matches!(self, Self::Scheduled | Self::Running)
    }
}

/// What a query is, as DescribeQueries shows it.
#[derive(Debug, Clone)]
pub struct QueryInfo {
    pub id: String,
    pub query_string: String,
    pub language: String,
    pub log_group_names: Vec<String>,
    pub create_time: i64,
}

#[derive(Debug)]
struct Outcome {
    status: Status,
    rows: Vec<Row>,
    finished_at: Option<i64>,
    error: Option<String>,
}

#[derive(Debug)]
pub struct QueryEntry {
    pub info: QueryInfo,
    pub progress: Arc<Progress>,
    outcome: Mutex<Outcome>,
    abort: Mutex<Option<tokio::task::AbortHandle>>,
}

/// A consistent read of one query.
#[derive(Debug, Clone)]
pub struct QuerySnapshot {
    pub info: QueryInfo,
    pub status: Status,
    pub statistics: Statistics,
    pub rows: Vec<Row>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
}

impl QueryEntry {
    fn finish(&self, status: Status, error: Option<String>, now_ms: i64) {
        let mut outcome = self.outcome.lock();
        if outcome.status.is_active() {
            outcome.status = status;
            outcome.error = error;
            outcome.finished_at = Some(now_ms);
        }
    }

    pub fn snapshot(&self, rows: std::ops::Range<usize>) -> QuerySnapshot {
        let outcome = self.outcome.lock();
        let end = rows.end.min(outcome.rows.len());
        let start = rows.start.min(end);
        QuerySnapshot {
            info: self.info.clone(),
            status: outcome.status,
            statistics: self.progress.statistics(),
            rows: outcome.rows[start..end].to_vec(),
            duration_ms: outcome.finished_at.map(|t| t - self.info.create_time),
            error: outcome.error.clone(),
        }
    }

    pub fn row_count(&self) -> usize {
        self.outcome.lock().rows.len()
    }

    pub fn status(&self) -> Status {
        self.outcome.lock().status
    }
}

/// Where a running query hands its rows.
pub type RowSink = Box<dyn FnMut(Vec<Row>) + Send>;

/// The work of one query: given its progress counters and a row sink, the future that runs it.
pub type QueryWork = Box<dyn FnOnce(Arc<Progress>, RowSink) -> BoxFuture<'static, Result<(), String>> + Send>;

pub struct QueryManager {
    queries: Mutex<HashMap<String, Arc<QueryEntry>>>,
    permits: Arc<Semaphore>,
    timeout: Duration,
    clock: fluoro_proto::logs::Clock,
}

#[derive(Debug, PartialEq, Eq)]
pub enum StartError {
    TooManyQueries,
}

#[derive(Debug, PartialEq, Eq)]
pub enum StopError {
    NotFound,
    AlreadyFinished,
}

impl QueryManager {
    pub fn new(concurrency: usize, timeout: Duration, clock: fluoro_proto::logs::Clock) -> Arc<Self> {
        Arc::new(Self {
            queries: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            timeout,
            clock,
        })
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    /// Registers a query and starts `work` in the background; returns its id.
    pub fn start(
        self: &Arc<Self>,
        query_string: String,
        language: String,
        log_group_names: Vec<String>,
        groups_scanned: usize,
        work: QueryWork,
    ) -> Result<String, StartError> {
        let progress = Arc::new(Progress { groups: groups_scanned, ..Progress::default() });
        self.start_with_progress(query_string, language, log_group_names, progress, work)
    }

    /// [`Self::start`] with counters the caller already wired into its plan.
    pub fn start_with_progress(
        self: &Arc<Self>,
        query_string: String,
        language: String,
        log_group_names: Vec<String>,
        progress: Arc<Progress>,
        work: QueryWork,
    ) -> Result<String, StartError> {
        let now = self.now();
        let id = uuid::Uuid::new_v4().to_string();
        let entry = Arc::new(QueryEntry {
            info: QueryInfo { id: id.clone(), query_string, language, log_group_names, create_time: now },
            progress,
            outcome: Mutex::new(Outcome {
                status: Status::Scheduled,
                rows: Vec::new(),
                finished_at: None,
                error: None,
            }),
            abort: Mutex::new(None),
        });
        {
            let mut queries = self.queries.lock();
            queries.retain(|_, q| q.outcome.lock().finished_at.is_none_or(|t| now - t < RESULTS_TTL_MS));
            if queries.values().filter(|q| q.status().is_active()).count() >= MAX_ACTIVE {
                return Err(StartError::TooManyQueries);
            }
            queries.insert(id.clone(), entry.clone());
        }
        let manager = self.clone();
        let task_entry = entry.clone();
        let handle = tokio::spawn(async move {
            let entry = task_entry;
            let Ok(_permit) = manager.permits.clone().acquire_owned().await else { return };
            {
                let mut outcome = entry.outcome.lock();
                if outcome.status != Status::Scheduled {
                    return;
                }
                outcome.status = Status::Running;
            }
            let sink_entry = entry.clone();
            let sink: RowSink = Box::new(move |rows: Vec<Row>| sink_entry.outcome.lock().rows.extend(rows));
            let result = tokio::time::timeout(manager.timeout, work(entry.progress.clone(), sink)).await;
            let now = manager.now();
            match result {
                Ok(Ok(())) => entry.finish(Status::Complete, None, now),
                Ok(Err(error)) => {
                    tracing::warn!(query_id = %entry.info.id, %error, "query failed");
                    entry.finish(Status::Failed, Some(error), now)
                }
                Err(_) => entry.finish(Status::Timeout, Some("The query ran longer than its timeout".into()), now),
            }
        });
        *entry.abort.lock() = Some(handle.abort_handle());
        Ok(id)
    }

    pub fn get(&self, id: &str) -> Option<Arc<QueryEntry>> {
        self.queries.lock().get(id).cloned()
    }

    /// Cancels a Scheduled or Running query.
    pub fn stop(&self, id: &str) -> Result<(), StopError> {
        let entry = self.get(id).ok_or(StopError::NotFound)?;
        {
            let mut outcome = entry.outcome.lock();
            if !outcome.status.is_active() {
                return Err(StopError::AlreadyFinished);
            }
            outcome.status = Status::Cancelled;
            outcome.finished_at = Some(self.now());
        }
        if let Some(abort) = entry.abort.lock().take() {
            abort.abort();
        }
        Ok(())
    }

    /// Every known query, newest first.
    pub fn list(&self) -> Vec<Arc<QueryEntry>> {
        let mut all: Vec<_> = self.queries.lock().values().cloned().collect();
        all.sort_by(|a, b| b.info.create_time.cmp(&a.info.create_time).then_with(|| b.info.id.cmp(&a.info.id)));
        all
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures::FutureExt;

    use super::*;

    /// Sets its flag when dropped: shows that a stopped query's work is freed.
    struct DropFlag(Arc<AtomicBool>);

    impl Drop for DropFlag {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn manager(concurrency: usize, timeout: Duration) -> Arc<QueryManager> {
        QueryManager::new(concurrency, timeout, Arc::new(|| 1_000))
    }

    /// Work that produces one row, then waits forever holding `flag`.
    fn endless(flag: Arc<AtomicBool>) -> QueryWork {
        Box::new(move |_progress, mut sink| {
            async move {
                let _guard = DropFlag(flag);
                sink(vec![vec![(Arc::from("n"), "1".to_owned())]]);
                futures::future::pending::<()>().await;
                Ok(())
            }
            .boxed()
        })
    }

    async fn wait_for(entry: &QueryEntry, status: Status) {
        for _ in 0..500 {
            if entry.status() == status {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("query never reached {status:?}: {:?}", entry.status());
    }

    #[tokio::test]
    async fn stopping_a_running_query_drops_its_work() {
        let queries = manager(1, Duration::from_secs(60));
        let dropped = Arc::new(AtomicBool::new(false));
        let id = queries.start("q".into(), "CWLI".into(), vec![], 1, endless(dropped.clone())).unwrap();
        let entry = queries.get(&id).unwrap();
        wait_for(&entry, Status::Running).await;
        assert_eq!(entry.snapshot(0..10).rows.len(), 1, "partial rows are visible while running");
        queries.stop(&id).unwrap();
        assert_eq!(entry.status(), Status::Cancelled);
        for _ in 0..500 {
            if dropped.load(Ordering::SeqCst) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        assert!(dropped.load(Ordering::SeqCst), "the aborted task dropped its future");
        assert_eq!(queries.stop(&id), Err(StopError::AlreadyFinished));
        assert_eq!(queries.stop("nope"), Err(StopError::NotFound));
    }

    #[tokio::test]
    async fn waiting_queries_are_scheduled_and_slow_ones_time_out() {
        let queries = manager(1, Duration::from_millis(50));
        let first = queries.start("a".into(), "CWLI".into(), vec![], 1, endless(Arc::default())).unwrap();
        let second = queries.start("b".into(), "CWLI".into(), vec![], 1, endless(Arc::default())).unwrap();
        let (first, second) = (queries.get(&first).unwrap(), queries.get(&second).unwrap());
        wait_for(&first, Status::Running).await;
        assert_eq!(second.status(), Status::Scheduled);
        wait_for(&first, Status::Timeout).await;
        wait_for(&second, Status::Running).await;
        wait_for(&second, Status::Timeout).await;
        assert_eq!(first.snapshot(0..10).rows.len(), 1, "a timed-out query keeps its partial rows");
    }

    #[tokio::test]
    async fn at_most_100_active_queries() {
        let queries = manager(1, Duration::from_secs(60));
        for i in 0..MAX_ACTIVE {
            queries.start(format!("q{i}"), "CWLI".into(), vec![], 1, endless(Arc::default())).unwrap();
        }
        let refused = queries.start("one more".into(), "CWLI".into(), vec![], 1, endless(Arc::default()));
        assert_eq!(refused, Err(StartError::TooManyQueries));
        assert_eq!(queries.list().len(), MAX_ACTIVE);
    }
}
