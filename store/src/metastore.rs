//! The shared metastore of a multi-node deployment: the catalog of every node and account in
//! one PostgreSQL database, plus leases that make one node at a time do a singleton job
//! (alarm evaluation, maintenance).
//!
//! Every catalog row lives in `fluoro_catalog (account, tbl, key) → value`. A change is one
//! transaction that first bumps the single `fluoro_version` counter: the row lock orders all
//! commits, so the version a row carries is its commit order and a node catches up with
//! `version > last seen` without ever missing a commit. A deleted row stays as a tombstone
//! (`value IS NULL`) so the deletion reaches every node the same way.
//!
//! The `postgres` client is synchronous and runs its own runtime, so one thread per process
//! owns the connection and callers hand it jobs; a broken connection is reopened on the next
//! job.

use std::sync::Arc;
use std::sync::mpsc;

use postgres::{Client, NoTls};

use crate::catalog::CatalogError;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS fluoro_catalog (
    account text NOT NULL,
    tbl text NOT NULL,
    key text COLLATE \"C\" NOT NULL,
    value bytea,
    version bigint NOT NULL,
    PRIMARY KEY (account, tbl, key)
);
CREATE INDEX IF NOT EXISTS fluoro_catalog_by_version ON fluoro_catalog (account, version);
CREATE TABLE IF NOT EXISTS fluoro_version (id int PRIMARY KEY, version bigint NOT NULL);
INSERT INTO fluoro_version VALUES (1, 0) ON CONFLICT DO NOTHING;
CREATE SEQUENCE IF NOT EXISTS fluoro_ids;
CREATE TABLE IF NOT EXISTS fluoro_leases (
    name text PRIMARY KEY,
    holder text NOT NULL,
    expires timestamptz NOT NULL
);
";

/// Serializes schema creation between nodes starting at once (any constant works).
const SCHEMA_LOCK: i64 = 0x666c_756f_726f;

type Job = Box<dyn FnOnce(&mut Option<Client>, &str) + Send>;

/// A handle on the PostgreSQL metastore; cheap to clone through `Arc`.
pub struct Metastore {
    jobs: parking_lot::Mutex<mpsc::Sender<Job>>,
}

impl std::fmt::Debug for Metastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metastore").finish_non_exhaustive()
    }
}

/// One row of a change feed: table, key, value (`None`: deleted), version.
pub type Row = (String, String, Option<Vec<u8>>, i64);

/// One row operation of a catalog change; see [`Metastore::commit`].
#[derive(Debug)]
pub enum RowOp {
    Put(&'static str, String, Vec<u8>),
    /// Fails the change with `CatalogError::Conflict` if a live row exists.
    Create(&'static str, String, Vec<u8>),
    Delete(&'static str, String),
    /// Fails the change with `CatalogError::Conflict` if no live row exists.
    Take(&'static str, String),
}

fn storage(error: postgres::Error) -> CatalogError {
    match std::error::Error::source(&error) {
        Some(cause) => CatalogError::Storage(format!("metastore: {error}: {cause}")),
        None => CatalogError::Storage(format!("metastore: {error}")),
    }
}

impl Metastore {
    /// Connects to `url` (`postgres://user:password@host:port/database`) and creates the
    /// schema if it is missing.
    /// The client runs its own runtime, so it connects on its own thread too: this may be
    /// called from async code.
    pub fn connect(url: &str) -> Result<Arc<Self>, CatalogError> {
        let (sender, receiver) = mpsc::channel::<Job>();
        let url = url.to_owned();
        std::thread::Builder::new()
            .name("fluoro-metastore".into())
            .spawn(move || {
                let mut client: Option<Client> = None;
                while let Ok(job) = receiver.recv() {
                    if client.as_ref().is_some_and(|c| c.is_closed()) {
                        client = None;
                    }
                    job(&mut client, &url);
                }
            })
            .map_err(|e| CatalogError::Storage(format!("metastore thread: {e}")))?;
        let metastore = Arc::new(Self { jobs: parking_lot::Mutex::new(sender) });
        metastore.run(|client| {
            let mut txn = client.transaction().map_err(storage)?;
            txn.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK]).map_err(storage)?;
            txn.batch_execute(SCHEMA).map_err(storage)?;
            txn.commit().map_err(storage)
        })?;
        Ok(metastore)
    }

    /// Runs `f` on the connection thread, reconnecting first if the connection was lost.
    pub fn run<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Client) -> Result<R, CatalogError> + Send + 'static,
    ) -> Result<R, CatalogError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move |client, url| {
            if client.is_none() {
                match Client::connect(url, NoTls) {
                    Ok(connected) => *client = Some(connected),
                    Err(error) => {
                        let _ = reply.send(Err(storage(error)));
                        return;
                    }
                }
            }
            let result = f(client.as_mut().expect("connected"));
            if client.as_ref().is_some_and(|c| c.is_closed()) {
                *client = None;
            }
            let _ = reply.send(result);
        });
        self.jobs.lock().send(job).map_err(|_| CatalogError::Storage("metastore thread stopped".into()))?;
        answer.recv().map_err(|_| CatalogError::Storage("metastore thread stopped".into()))?
    }

    /// Applies `ops` to `account`'s rows in one transaction; returns its version.
    pub fn commit(&self, account: &str, ops: Vec<RowOp>) -> Result<i64, CatalogError> {
        let account = account.to_owned();
        self.run(move |client| {
            let mut txn = client.transaction().map_err(storage)?;
            let version: i64 = txn
                .query_one("UPDATE fluoro_version SET version = version + 1 WHERE id = 1 RETURNING version", &[])
                .map_err(storage)?
                .get(0);
            let put = txn
                .prepare(
                    "INSERT INTO fluoro_catalog VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account, tbl, key) \
                     DO UPDATE SET value = excluded.value, version = excluded.version",
                )
                .map_err(storage)?;
            let create = txn
                .prepare(
                    "INSERT INTO fluoro_catalog VALUES ($1, $2, $3, $4, $5) ON CONFLICT (account, tbl, key) \
                     DO UPDATE SET value = excluded.value, version = excluded.version \
                     WHERE fluoro_catalog.value IS NULL",
                )
                .map_err(storage)?;
            let delete = txn
                .prepare(
                    "UPDATE fluoro_catalog SET value = NULL, version = $4 \
                     WHERE account = $1 AND tbl = $2 AND key = $3 AND value IS NOT NULL",
                )
                .map_err(storage)?;
            for op in &ops {
                match op {
                    RowOp::Put(table, key, value) => {
                        txn.execute(&put, &[&account, table, key, value, &version]).map_err(storage)?;
                    }
                    RowOp::Create(table, key, value) => {
                        if txn.execute(&create, &[&account, table, key, value, &version]).map_err(storage)? == 0 {
                            return Err(CatalogError::Conflict(format!("{table}/{key} exists")));
                        }
                    }
                    RowOp::Delete(table, key) => {
                        txn.execute(&delete, &[&account, table, key, &version]).map_err(storage)?;
                    }
                    RowOp::Take(table, key) => {
                        if txn.execute(&delete, &[&account, table, key, &version]).map_err(storage)? == 0 {
                            return Err(CatalogError::Conflict(format!("{table}/{key} is gone")));
                        }
                    }
                }
            }
            txn.commit().map_err(storage)?;
            Ok(version)
        })
    }

    /// `account`'s rows changed after version `after`, in commit order (tombstones included
    /// unless `after` is 0, a first load).
    pub fn changes(&self, account: &str, after: i64) -> Result<Vec<Row>, CatalogError> {
        let account = account.to_owned();
        self.run(move |client| {
            let rows = client
                .query(
                    "SELECT tbl, key, value, version FROM fluoro_catalog \
                     WHERE account = $1 AND version > $2 AND ($2 > 0 OR value IS NOT NULL) ORDER BY version",
                    &[&account, &after],
                )
                .map_err(storage)?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1), row.get(2), row.get(3))).collect())
        })
    }

    /// Live rows of `table` with keys in `[from, to)` (byte order; `to = None`: no end).
    pub fn range(
        &self,
        account: &str,
        table: &'static str,
        from: String,
        to: Option<String>,
    ) -> Result<Vec<(String, Vec<u8>)>, CatalogError> {
        let account = account.to_owned();
        self.run(move |client| {
            let rows = match to {
                Some(to) => client.query(
                    "SELECT key, value FROM fluoro_catalog WHERE account = $1 AND tbl = $2 AND key >= $3 \
                     AND key < $4 AND value IS NOT NULL ORDER BY key",
                    &[&account, &table, &from, &to],
                ),
                None => client.query(
                    "SELECT key, value FROM fluoro_catalog WHERE account = $1 AND tbl = $2 AND key >= $3 \
                     AND value IS NOT NULL ORDER BY key",
                    &[&account, &table, &from],
                ),
            }
            .map_err(storage)?;
            Ok(rows.iter().map(|row| (row.get(0), row.get(1))).collect())
        })
    }

    /// `count` fresh ids, unique across every node (not necessarily contiguous).
    pub fn take_ids(&self, count: usize) -> Result<Vec<u64>, CatalogError> {
        if count == 0 {
            return Ok(Vec::new());
        }
        let count = count as i64;
        self.run(move |client| {
            let rows = client
                .query("SELECT nextval('fluoro_ids') FROM generate_series(1, $1::bigint)", &[&count])
                .map_err(storage)?;
            Ok(rows.iter().map(|row| row.get::<_, i64>(0) as u64).collect())
        })
    }

    /// Takes or renews lease `name` for `holder` for `ttl`; whether `holder` holds it now. A
    /// lease passes to another holder only once it has expired.
    pub fn lease(&self, name: &str, holder: &str, ttl: std::time::Duration) -> Result<bool, CatalogError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        let ttl_ms = ttl.as_millis() as f64;
        self.run(move |client| {
            let rows = client
                .query(
                    "INSERT INTO fluoro_leases VALUES ($1, $2, now() + $3 * interval '1 millisecond') \
                     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires = excluded.expires \
                     WHERE fluoro_leases.holder = excluded.holder OR fluoro_leases.expires < now() \
                     RETURNING holder",
                    &[&name, &holder, &ttl_ms],
                )
                .map_err(storage)?;
            Ok(!rows.is_empty())
        })
    }

    /// Gives lease `name` up if `holder` holds it (a clean shutdown), so another node takes
    /// over at once instead of after the lease expires.
    pub fn release(&self, name: &str, holder: &str) -> Result<(), CatalogError> {
        let (name, holder) = (name.to_owned(), holder.to_owned());
        self.run(move |client| {
            client
                .execute("DELETE FROM fluoro_leases WHERE name = $1 AND holder = $2", &[&name, &holder])
                .map_err(storage)?;
            Ok(())
        })
    }
}
