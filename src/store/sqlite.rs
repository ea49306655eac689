//! Embedded store: one SQLite file in WAL mode.
//!
//! Every version lives once, in `resource_history`; `resource_current` points at the current
//! version of each resource, so a write stores the body once and a read is two primary-key
//! look-ups. A partition is a key column (DESIGN.md §3).
//!
//! SQLite admits one writer at a time, so all commits go to a single writer thread, which
//! folds whatever commits are waiting into one transaction (group commit); reads use a pool of
//! connections, which WAL lets run beside the writer.
//!
//! Durability: `synchronous=NORMAL` in WAL mode means a committed write survives the process
//! being killed at any point (the WAL is in the OS before `COMMIT` returns); only a power loss or
//! kernel crash can lose the last commits. `FHIRD_SQLITE_SYNC=full` trades speed for that too.

use super::search_common;
use super::sqlite_search;
use super::{
    Guard, HistoryQuery, HistoryScope, Match, Method, Store, StoreError, StoreResult, Version,
    Write,
};
use crate::fhir::search::query::StoreQuery;
use crate::partition::Partition;
use async_trait::async_trait;
use bytes::Bytes;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

// History is a rowid table so that versions (and their bodies) are appended in commit order
// rather than inserted at random places of a B-tree keyed by UUIDs; the lookup keys are small
// index entries. `resource_current.seq` is the rowid of the current version.
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS resource_history (
    seq       INTEGER PRIMARY KEY,
    partition TEXT NOT NULL,
    rtype     TEXT NOT NULL,
    id        TEXT NOT NULL,
    version   INTEGER NOT NULL,
    t         INTEGER NOT NULL,
    method    TEXT NOT NULL,
    body      BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS history_by_resource ON resource_history (partition, rtype, id, version);
CREATE INDEX IF NOT EXISTS history_by_time ON resource_history (partition, t, rtype, id, version);
CREATE INDEX IF NOT EXISTS history_by_type_time ON resource_history (partition, rtype, t, id, version);
-- The deletions alone: whether a current version is a deletion is then a look-up in a small
-- index, not a read of the version's history row (with its body) for every candidate. A store
-- written before it existed builds it once on opening (a scan of the history).
CREATE INDEX IF NOT EXISTS history_deletes ON resource_history (seq) WHERE method = 'DELETE';
CREATE TABLE IF NOT EXISTS resource_current (
    partition TEXT NOT NULL,
    rtype     TEXT NOT NULL,
    id        TEXT NOT NULL,
    version   INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    PRIMARY KEY (partition, rtype, id)
) WITHOUT ROWID;
-- Which types contain which, and at most how many (`Store::containers_of`): rows are added
-- and raised, never removed or lowered.
CREATE TABLE IF NOT EXISTS contained_types (
    partition TEXT NOT NULL,
    contained TEXT NOT NULL,
    container TEXT NOT NULL,
    most      INTEGER NOT NULL,
    PRIMARY KEY (partition, contained, container)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS write_guards (
    partition TEXT NOT NULL,
    key       TEXT NOT NULL,
    n         INTEGER NOT NULL,
    PRIMARY KEY (partition, key)
) WITHOUT ROWID;
";

pub struct SqliteStore {
    path: PathBuf,
    /// Commits go to one writer thread (SQLite has one writer anyway); `None` once closed.
    writer: Mutex<Option<mpsc::Sender<Job>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    checkpointer: Mutex<Option<(Arc<AtomicBool>, std::thread::JoinHandle<()>)>>,
    readers: Mutex<Vec<Connection>>,
    /// How long a search may run on the async worker that called it (see [`INLINE_BUDGET`]).
    inline_budget: Duration,
    /// Longest a search read may run (`search_common::SEARCH_MAX_TIME`).
    search_max_time: Duration,
    /// Searches that outlasted it.
    moved_off_worker: AtomicU64,
    /// Shapes ([`sqlite_search::shape`]) of searches that outlasted it, until when: searches
    /// of such a shape go off the worker at once rather than lose the budget's work again.
    long_shapes: Mutex<HashMap<u64, Instant>>,
    /// How long a shape stays there ([`LONG_SHAPE_MEMORY`]).
    long_shape_memory: Duration,
}

/// More shapes than this are forgotten all at once (they are only a hint).
const MAX_LONG_SHAPES: usize = 4096;

/// How long a shape that ran long skips the inline attempt. Not for ever: a search may have
/// been long only because its pages were not yet cached (the first token searches after a
/// start read the disk), and its shape then earns its inline runs back.
pub const LONG_SHAPE_MEMORY: Duration = Duration::from_secs(10);

/// How long a search or count may hold the async worker that called it before it is
/// interrupted and run again off the worker (`block_in_place`). Most take well under a
/// millisecond, and handing each one to another thread cost a sixth of the selective-search
/// throughput (perf on the 1M store: thread hand-offs and futex waits; 16.7k → 18.3–19.7k
/// searches/s inline, this 2-core machine). A longer search loses at most this much work.
pub const INLINE_BUDGET: Duration = Duration::from_millis(2);

/// SQLite virtual-machine steps between two looks at the clock during an inline search.
const PROGRESS_STEPS: i32 = 1000;

/// Work waiting for the writer thread: a `Store::commit` or a `Store::reindex`.
struct Job {
    partition: Partition,
    work: Work,
    /// `true` for a commit; for a reindex, whether the version was still current.
    done: oneshot::Sender<StoreResult<bool>>,
}

enum Work {
    Commit(Vec<Write>, Vec<Guard>),
    Reindex {
        resource_type: String,
        id: String,
        version: u64,
        index: Vec<crate::fhir::search::IndexEntry>,
    },
}

/// Most commits the writer folds into one SQLite transaction.
const GROUP_COMMIT_MAX: usize = 64;

fn other(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy) | Some(rusqlite::ErrorCode::DatabaseLocked) => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Other(e.to_string()),
    }
}

fn open_connection(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    let sync = match std::env::var("FHIRD_SQLITE_SYNC").as_deref() {
        Ok("full") => "FULL",
        _ => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous={sync}; PRAGMA busy_timeout=10000;
         PRAGMA cache_size=-8192; PRAGMA temp_store=MEMORY; PRAGMA mmap_size=268435456;"
    ))?;
    Ok(conn)
}

/// A panic while a connection was in use cannot leave SQLite inconsistent (an open transaction
/// is rolled back when its guard drops), so a poisoned lock is taken over rather than failing
/// every later request.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// True on a worker of a multi-threaded runtime, where blocking work must be moved off the
/// worker (`block_in_place`) not to stall the runtime's other tasks.
fn on_worker() -> bool {
    matches!(
        tokio::runtime::Handle::try_current(),
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
    )
}

/// Runs blocking database work without stalling the async runtime's other tasks.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    if on_worker() {
        tokio::task::block_in_place(f)
    } else {
        f()
    }
}

const VERSION_COLUMNS: &str = "rtype, id, version, t, method, body";

/// A row of `VERSION_COLUMNS` (the search queries select the same first six columns).
pub(super) fn row_to_version(row: &rusqlite::Row<'_>) -> rusqlite::Result<Version> {
    let method: String = row.get(4)?;
    let body: Option<Vec<u8>> = row.get(5)?;
    Ok(Version {
        resource_type: row.get(0)?,
        id: row.get(1)?,
        version: row.get::<_, i64>(2)? as u64,
        last_updated: row.get(3)?,
        method: Method::parse(&method).unwrap_or(Method::Put),
        body: body.map(Bytes::from),
    })
}

impl SqliteStore {
    pub fn open(dir: &str) -> anyhow::Result<SqliteStore> {
        std::fs::create_dir_all(dir)?;
        let path = Path::new(dir).join("fhird.sqlite");
        let mut writer = open_connection(&path)?;
        writer.execute_batch(SCHEMA)?;
        sqlite_search::migrate(&writer)?;
        // Checkpoints run on a thread of their own (below). A write with its index entries
        // dirties many pages, so the writer's own automatic checkpoint at 1,000 pages fired
        // every few dozen commits and took a quarter of the writer's time (measured with
        // perf); it is kept only as a safety net for a WAL the background thread cannot keep
        // small. The WAL starts over whenever a checkpoint has caught up.
        // A larger cache keeps the index B-trees' inner pages in memory, so a commit does not
        // re-read them from the file.
        writer.execute_batch(
            "PRAGMA journal_size_limit=67108864; PRAGMA wal_autocheckpoint=16384;
             PRAGMA cache_size=-65536;",
        )?;
        let stop = Arc::new(AtomicBool::new(false));
        let checkpoint_conn = open_connection(&path)?;
        let checkpoint_stop = stop.clone();
        let checkpointer = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(&checkpoint_conn, &checkpoint_stop))?;
        let (tx, rx) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(&mut writer, rx))?;
        Ok(SqliteStore {
            path,
            writer: Mutex::new(Some(tx)),
            writer_thread: Mutex::new(Some(thread)),
            checkpointer: Mutex::new(Some((stop, checkpointer))),
            readers: Mutex::new(Vec::new()),
            inline_budget: INLINE_BUDGET,
            search_max_time: search_common::SEARCH_MAX_TIME,
            moved_off_worker: AtomicU64::new(0),
            long_shapes: Mutex::new(HashMap::new()),
            long_shape_memory: LONG_SHAPE_MEMORY,
        })
    }

    /// Hands work to the writer thread and waits for its result.
    async fn submit(&self, partition: &Partition, work: Work) -> StoreResult<bool> {
        let (done, result) = oneshot::channel();
        let job = Job {
            partition: partition.clone(),
            work,
            done,
        };
        let sent = match &*lock(&self.writer) {
            Some(w) => w.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        result
            .await
            .unwrap_or_else(|_| Err(StoreError::Other("the writer thread stopped".into())))
    }

    /// Runs `f` on a pooled read connection, on the calling thread. Point look-ups (`current`,
    /// `version`, `guard`) take microseconds and call this directly: handing them to another
    /// thread would cost more than the query.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> StoreResult<T> {
        let conn = lock(&self.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_connection(&self.path).map_err(other)?,
        };
        let result = f(&conn).map_err(other);
        lock(&self.readers).push(conn);
        result
    }

    /// The store with another [`INLINE_BUDGET`] (zero: every search is moved off the worker
    /// after its first steps, as a long one is).
    pub fn with_inline_budget(mut self, budget: Duration) -> SqliteStore {
        self.inline_budget = budget;
        self
    }

    /// The store with another [`LONG_SHAPE_MEMORY`].
    pub fn with_long_shape_memory(mut self, memory: Duration) -> SqliteStore {
        self.long_shape_memory = memory;
        self
    }

    /// The store with another search time limit (`search_common::SEARCH_MAX_TIME`).
    pub fn with_search_max_time(mut self, limit: Duration) -> SqliteStore {
        self.search_max_time = limit;
        self
    }

    /// How many searches outlasted the inline budget and were run again off the worker.
    pub fn searches_moved_off_worker(&self) -> u64 {
        self.moved_off_worker.load(Ordering::Relaxed)
    }

    /// A search, count or read of many resources in one read transaction (one snapshot for
    /// the planner's estimates, the page and a walk's fallback), run on the calling worker
    /// for up to `inline_budget`, then, if unfinished, interrupted and run again where
    /// blocking does not stall the runtime's other tasks; a shape that ran long before goes
    /// there at once.
    fn search_read<T>(
        &self,
        shape: u64,
        f: impl Fn(&Connection) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        let now = Instant::now();
        let limit = now + self.search_max_time;
        let known_long = lock(&self.long_shapes)
            .get(&shape)
            .is_some_and(|until| now < *until);
        let timed_out = std::cell::Cell::new(false);
        let last = |conn: &Connection| {
            let out = until(conn, limit, &f);
            timed_out.set(out.as_ref().is_err_and(interrupted));
            out
        };
        let out = if !on_worker() || known_long {
            blocking(|| self.with_reader(last))
        } else {
            self.with_reader(
                |conn| match until(conn, limit.min(now + self.inline_budget), &f) {
                    Err(e) if interrupted(&e) => {
                        self.remember_long(shape);
                        tokio::task::block_in_place(|| last(conn))
                    }
                    done => done,
                },
            )
        };
        if timed_out.get() {
            return Err(search_common::ran_too_long());
        }
        out
    }

    fn remember_long(&self, shape: u64) {
        self.moved_off_worker.fetch_add(1, Ordering::Relaxed);
        let mut long = lock(&self.long_shapes);
        if long.len() >= MAX_LONG_SHAPES {
            long.clear();
        }
        long.insert(shape, Instant::now() + self.long_shape_memory);
    }
}

/// `f` in one snapshot, interrupted at `deadline` (checked every `PROGRESS_STEPS` steps).
fn until<T>(
    conn: &Connection,
    deadline: Instant,
    f: impl Fn(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.progress_handler(PROGRESS_STEPS, Some(move || Instant::now() >= deadline));
    let out = in_snapshot(conn, f);
    conn.progress_handler(PROGRESS_STEPS, None::<fn() -> bool>);
    out
}

fn interrupted(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted)
}

fn in_snapshot<T>(
    conn: &Connection,
    f: impl Fn(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let tx = conn.unchecked_transaction()?;
    let out = f(&tx)?;
    tx.commit()?;
    Ok(out)
}

/// Copies committed WAL frames into the database file every so often, without blocking the
/// writer or readers (PASSIVE), so the WAL stays small.
fn checkpoint_loop(conn: &Connection, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!("WAL checkpoint failed: {e}");
        }
    }
}

/// The writer thread: takes every commit that is waiting (up to `GROUP_COMMIT_MAX`) and runs
/// them in one SQLite transaction, each inside a savepoint so that one failing commit does not
/// undo the others. Nobody is told "done" before the transaction has committed.
fn write_loop(conn: &mut Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP_COMMIT_MAX {
            match jobs.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let results = commit_group(conn, &batch);
        for (job, result) in batch.into_iter().zip(results) {
            let _ = job.done.send(result);
        }
    }
    if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);") {
        tracing::warn!("checkpoint at shutdown failed: {e}");
    }
}

fn commit_group(conn: &mut Connection, batch: &[Job]) -> Vec<StoreResult<bool>> {
    let mut tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let e = other(e);
            return batch.iter().map(|_| Err(e.clone())).collect();
        }
    };
    let mut results: Vec<StoreResult<bool>> = Vec::with_capacity(batch.len());
    for job in batch {
        let r = (|| {
            let sp = tx.savepoint().map_err(other)?;
            let done = match &job.work {
                Work::Commit(writes, guards) => {
                    bump_guards(&sp, &job.partition, guards)?;
                    apply(&sp, &job.partition, writes)?;
                    true
                }
                Work::Reindex {
                    resource_type,
                    id,
                    version,
                    index,
                } => reindex_one(&sp, &job.partition, resource_type, id, *version, index)?,
            };
            sp.commit().map_err(other)?;
            Ok(done)
        })();
        results.push(r);
    }
    if let Err(e) = tx.commit() {
        let e = other(e);
        return batch.iter().map(|_| Err(e.clone())).collect();
    }
    results
}

/// Checks each write's precondition and applies it; the caller owns the transaction.
/// Replaces the index entries of `version` if it is still the current version.
fn reindex_one(
    tx: &Connection,
    partition: &Partition,
    rt: &str,
    id: &str,
    version: u64,
    index: &[crate::fhir::search::IndexEntry],
) -> StoreResult<bool> {
    let seq: Option<i64> = tx
        .prepare_cached(
            "SELECT seq FROM resource_current
             WHERE partition = ?1 AND rtype = ?2 AND id = ?3 AND version = ?4",
        )
        .and_then(|mut q| {
            q.query_row(params![partition.key(), rt, id, version as i64], |r| {
                r.get(0)
            })
            .optional()
        })
        .map_err(other)?;
    let Some(seq) = seq else {
        return Ok(false);
    };
    sqlite_search::delete_entries(tx, seq).map_err(other)?;
    sqlite_search::write_entries(tx, partition.key(), rt, seq, index).map_err(other)?;
    note_containers(tx, partition, rt, index)?;
    Ok(true)
}

/// Records that `rt` contains the types the index's `_contained` markers name, and how many.
fn note_containers(
    tx: &Connection,
    partition: &Partition,
    rt: &str,
    index: &[crate::fhir::search::IndexEntry],
) -> StoreResult<()> {
    for (contained, most) in search_common::contained_types(index) {
        tx.prepare_cached(
            "INSERT INTO contained_types (partition, contained, container, most)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO UPDATE SET most = max(most, excluded.most)",
        )
        .and_then(|mut q| q.execute(params![partition.key(), contained, rt, most as i64]))
        .map_err(other)?;
    }
    Ok(())
}

/// Checks that every guard still has its expected value and bumps it.
fn bump_guards(tx: &Connection, partition: &Partition, guards: &[Guard]) -> StoreResult<()> {
    for g in guards {
        let n: Option<i64> = tx
            .prepare_cached("SELECT n FROM write_guards WHERE partition = ?1 AND key = ?2")
            .and_then(|mut q| {
                q.query_row(params![partition.key(), g.key], |r| r.get(0))
                    .optional()
            })
            .map_err(other)?;
        if n.unwrap_or(0) as u64 != g.expected {
            return Err(StoreError::Conflict);
        }
        tx.prepare_cached(
            "INSERT INTO write_guards (partition, key, n) VALUES (?1, ?2, ?3)
             ON CONFLICT (partition, key) DO UPDATE SET n = excluded.n",
        )
        .and_then(|mut q| q.execute(params![partition.key(), g.key, g.expected as i64 + 1]))
        .map_err(other)?;
    }
    Ok(())
}

fn apply(tx: &Connection, partition: &Partition, writes: &[Write]) -> StoreResult<()> {
    {
        let mut current = tx
            .prepare_cached(
                "SELECT version, seq FROM resource_current WHERE partition = ?1 AND rtype = ?2 AND id = ?3",
            )
            .map_err(other)?;
        let mut insert_history = tx
            .prepare_cached(
                "INSERT INTO resource_history (partition, rtype, id, version, t, method, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .map_err(other)?;
        let mut set_current = tx
            .prepare_cached(
                "INSERT INTO resource_current (partition, rtype, id, version, seq)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (partition, rtype, id)
                 DO UPDATE SET version = excluded.version, seq = excluded.seq",
            )
            .map_err(other)?;
        for w in writes {
            let v = &w.version;
            let found: Option<(i64, i64)> = current
                .query_row(params![partition.key(), v.resource_type, v.id], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(other)?;
            if found.map(|(n, _)| n as u64) != w.expected {
                return Err(StoreError::Conflict);
            }
            insert_history
                .execute(params![
                    partition.key(),
                    v.resource_type,
                    v.id,
                    v.version as i64,
                    v.last_updated,
                    v.method.as_str(),
                    v.body.as_deref()
                ])
                .map_err(other)?;
            let seq = tx.last_insert_rowid();
            set_current
                .execute(params![
                    partition.key(),
                    v.resource_type,
                    v.id,
                    v.version as i64,
                    seq
                ])
                .map_err(other)?;
            // The index follows the current version, inside the same savepoint.
            if let Some((_, old_seq)) = found {
                sqlite_search::delete_entries(tx, old_seq).map_err(other)?;
            }
            sqlite_search::write_entries(tx, partition.key(), &v.resource_type, seq, &w.index)
                .map_err(other)?;
            note_containers(tx, partition, &v.resource_type, &w.index)?;
        }
    }
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn current(
        &self,
        partition: &Partition,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Option<Version>> {
        self.with_reader(|c| {
            c.prepare_cached(
                "SELECT h.rtype, h.id, h.version, h.t, h.method, h.body
                 FROM resource_current c JOIN resource_history h ON h.seq = c.seq
                 WHERE c.partition = ?1 AND c.rtype = ?2 AND c.id = ?3",
            )?
            .query_row(params![partition.key(), resource_type, id], row_to_version)
            .optional()
        })
    }

    async fn version(
        &self,
        partition: &Partition,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> StoreResult<Option<Version>> {
        self.with_reader(|c| {
            c.prepare_cached(&format!(
                "SELECT {VERSION_COLUMNS} FROM resource_history
                 WHERE partition = ?1 AND rtype = ?2 AND id = ?3 AND version = ?4"
            ))?
            .query_row(
                params![partition.key(), resource_type, id, version as i64],
                row_to_version,
            )
            .optional()
        })
    }

    async fn commit_guarded(
        &self,
        partition: &Partition,
        writes: Vec<Write>,
        guards: Vec<Guard>,
    ) -> StoreResult<()> {
        self.submit(partition, Work::Commit(writes, guards))
            .await
            .map(|_| ())
    }

    async fn containers_of(
        &self,
        partition: &Partition,
        contained: &str,
    ) -> StoreResult<Vec<(String, usize)>> {
        self.with_reader(|c| {
            c.prepare_cached(
                "SELECT container, most FROM contained_types
                 WHERE partition = ?1 AND contained = ?2 ORDER BY container",
            )?
            .query_map(params![partition.key(), contained], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as usize))
            })?
            .collect()
        })
    }

    async fn guard(&self, partition: &Partition, key: &str) -> StoreResult<u64> {
        self.with_reader(|c| {
            c.prepare_cached("SELECT n FROM write_guards WHERE partition = ?1 AND key = ?2")?
                .query_row(params![partition.key(), key], |r| r.get::<_, i64>(0))
                .optional()
        })
        .map(|n| n.unwrap_or(0) as u64)
    }

    async fn history(
        &self,
        partition: &Partition,
        scope: HistoryScope<'_>,
        query: &HistoryQuery,
    ) -> StoreResult<Vec<Version>> {
        let (scope_sql, rtype, id) = match scope {
            HistoryScope::System => ("", None, None),
            HistoryScope::Type(t) => (" AND rtype = ?2", Some(t), None),
            HistoryScope::Instance(t, i) => (" AND rtype = ?2 AND id = ?3", Some(t), Some(i)),
        };
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM resource_history
             WHERE partition = ?1{scope_sql} AND t >= ?4
               AND (t, rtype, id, version) < (?5, ?6, ?7, ?8)
             ORDER BY t DESC, rtype DESC, id DESC, version DESC LIMIT ?9"
        );
        let (ct, crt, cid, cv) = match &query.after {
            Some(c) => (
                c.last_updated,
                c.resource_type.clone(),
                c.id.clone(),
                c.version as i64,
            ),
            // Past every real key: no resource type starts with '~'.
            None => (i64::MAX, "~".to_string(), String::new(), 0),
        };
        // A history page can be large; keep it off the async workers.
        blocking(|| {
            self.with_reader(|c| {
                let mut stmt = c.prepare_cached(&sql)?;
                let rows = stmt.query_map(
                    params![
                        partition.key(),
                        rtype.unwrap_or(""),
                        id.unwrap_or(""),
                        query.since.unwrap_or(i64::MIN),
                        ct,
                        crt,
                        cid,
                        cv,
                        query.limit as i64
                    ],
                    row_to_version,
                )?;
                rows.collect()
            })
        })
    }

    async fn resource_types(&self, partition: &Partition) -> StoreResult<Vec<String>> {
        self.with_reader(|c| sqlite_search::types_in(c, partition.key()))
    }

    async fn search(&self, partition: &Partition, query: &StoreQuery) -> StoreResult<Vec<Match>> {
        self.search_read(sqlite_search::shape(query), |c| {
            sqlite_search::search(c, partition.key(), query)
        })
    }

    async fn count(&self, partition: &Partition, query: &StoreQuery) -> StoreResult<u64> {
        // A count reads every match: its own shapes, apart from the pages'.
        self.search_read(!sqlite_search::shape(query), |c| {
            sqlite_search::count(c, partition.key(), query)
        })
    }

    async fn read_many(
        &self,
        partition: &Partition,
        refs: &[(String, String)],
    ) -> StoreResult<Vec<Version>> {
        // One shape per order of magnitude of the number of resources read.
        let shape = refs.len().max(1).ilog10() as u64;
        self.search_read(shape, |c| {
            sqlite_search::read_many(c, partition.key(), refs)
        })
    }

    async fn reindex(
        &self,
        partition: &Partition,
        resource_type: &str,
        id: &str,
        version: u64,
        index: Vec<crate::fhir::search::IndexEntry>,
    ) -> StoreResult<bool> {
        let work = Work::Reindex {
            resource_type: resource_type.to_string(),
            id: id.to_string(),
            version,
            index,
        };
        self.submit(partition, work).await
    }

    async fn close(&self) {
        // Dropping the sender ends the writer loop after the queued commits; it checkpoints
        // the WAL on its way out.
        lock(&self.writer).take();
        let checkpointer = lock(&self.checkpointer).take();
        if let Some((stop, t)) = checkpointer {
            stop.store(true, Ordering::Relaxed);
            blocking(|| {
                let _ = t.join();
            });
        }
        let thread = lock(&self.writer_thread).take();
        if let Some(t) = thread {
            blocking(|| {
                let _ = t.join();
            });
        }
        lock(&self.readers).clear();
    }
}
