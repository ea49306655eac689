//! MongoDB store: per-partition, per-type collections (DESIGN.md §3).
//!
//! Partition `P`, type `T`: current versions in `fhir.T` (default partition) or `payer.P.T`,
//! every version in the same name with `.history` appended. A payer's data is thus a set of
//! collections of its own that can be exported, moved to another shard or dropped alone.
//!
//! Documents:
//! - current: `{_id: id, v, t, m, res}` — `res` is the resource JSON as a string (exact decimals,
//!   no JSON↔BSON conversion on the read path), `null` for a deletion. Bodies over
//!   `COMPRESS_ABOVE` are kept LZ4-compressed in `rz` instead, so that resources up to the HTTP
//!   body limit fit MongoDB's 16 MiB document limit.
//! - history: `{_id: "id/v", id, v, t, m, res}`.
//!
//! Shard keys (see docs/mongodb.md): current `{_id: "hashed"}`, history `{id: "hashed"}`.
//!
//! A commit is one multi-document transaction (replica set or sharded cluster required).

use super::mongo_first_reads::FirstReads;
use super::mongo_keys;
use super::mongo_layout::HullLayout;
use super::mongo_lookups::{self, Batcher, IdRead, Lookup};
use super::mongo_search;
use super::mongo_sort_indexes::SortIndexes;
use super::mongo_windows::{self, FirstWindows};
use super::search_common;
use super::{
    Guard, HistoryCursor, HistoryQuery, HistoryScope, Match, Method, Store, StoreError,
    StoreResult, Version, Write,
};
use crate::fhir::search::query::{Cond, SortValue, StoreQuery};
use crate::partition::Partition;
use async_trait::async_trait;
use bytes::Bytes;
use mongodb::action::Action;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::UNKNOWN_TRANSACTION_COMMIT_RESULT;
use mongodb::error::{ErrorKind, WriteFailure, TRANSIENT_TRANSACTION_ERROR};
use mongodb::options::{ClientOptions, IndexOptions, ReadConcern, WriteConcern};
use mongodb::{Client, Collection, Database, IndexModel};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

pub struct MongoStore {
    client: Client,
    db: Database,
    /// Collections whose indexes this process has already ensured.
    ensured: Mutex<HashSet<String>>,
    /// The `containers_of` records this process has written, with the count written.
    noted: Mutex<HashMap<String, usize>>,
    /// Held while a collection and its indexes are being created, so that no transaction
    /// writes to a collection whose catalog is still changing (the server would abort it as a
    /// write conflict, over and over while the index builds run).
    creating: tokio::sync::Mutex<()>,
    /// Admits a bounded number of large commits at once: a multi-document transaction holds
    /// everything it writes in the server's cache until it commits, and many large ones at
    /// once fail for lack of cache (measured by Helios, see docs/mongodb.md).
    large_commits: tokio::sync::Semaphore,
    /// The permits of `large_commits`: a commit that holds them all runs alone.
    large_commit_permits: u32,
    /// Which collections' documents all carry the date hull keys.
    hulls: HullLayout,
    /// Which collections have had their first read in this process.
    first_reads: FirstReads,
    /// The first `_id` window of keyed pages, learned per query shape.
    first_windows: FirstWindows,
    /// Key look-ups of concurrent searches, read together.
    lookups: Batcher<Lookup>,
    /// Reads by id of concurrent requests, read together.
    id_reads: Batcher<IdRead>,
    /// The most matches of one collection a search in an order no index gives may read.
    sort_cap: u64,
    /// The parameters whose sort indexes collections get, and the indexes they have.
    sort_indexes: SortIndexes,
    /// Longest a search read may run on the server (`maxTimeMS`;
    /// `search_common::SEARCH_MAX_TIME`). SecantusDB enforces it on `count` and only at the
    /// end of an aggregation, not on `find`; MongoDB on all three.
    search_max_time: Duration,
}

/// A commit of more writes than this is "large" (see `MongoStore::large_commits`).
const LARGE_COMMIT: usize = 100;
/// Large commits admitted at once unless `FHIRD_MONGO_MAX_LARGE_COMMITS` says otherwise.
const DEFAULT_LARGE_COMMITS: u32 = 4;

const DUPLICATE_KEY: i32 = 11000;
/// Bodies larger than this are stored compressed.
const COMPRESS_ABOVE: usize = 1024 * 1024;
/// What one document may hold, leaving room for the other fields (MongoDB's limit is 16 MiB).
const MAX_STORED_BODY: usize = 16 * 1024 * 1024 - 64 * 1024;
const WRITE_CONFLICT: i32 = 112;
const TRANSACTION_TOO_LARGE_FOR_CACHE: i32 = 388;
/// NoSuchTransaction: the server dropped the transaction before the commit, as it does with
/// one open longer than `transactionLifetimeLimitSeconds` (60 s by default).
const NO_SUCH_TRANSACTION: i32 = 251;
/// MaxTimeMSExpired: a read ran past its `maxTimeMS`.
const MAX_TIME_EXPIRED: i32 = 50;
/// Retries of a commit that lost a write conflict (see `commit`).
const COMMIT_ATTEMPTS: u64 = 3;

/// Most matches of one collection a search in an order no index gives may read (a sweep of
/// their sort values, mongo_search::Sweep), unless `FHIRD_MONGO_MAX_SORTED` says otherwise;
/// past it the search is refused with `too-costly`. A million small projections take
/// seconds on MongoDB; SQLite, which sorts on disk in bounded memory, has no such limit.
pub const SORT_CAP: u64 = 1_000_000;

fn classify(e: mongodb::error::Error) -> StoreError {
    let code = match &*e.kind {
        ErrorKind::Write(WriteFailure::WriteError(w)) => Some(w.code),
        ErrorKind::Command(c) => Some(c.code),
        _ => None,
    };
    if matches!(code, Some(DUPLICATE_KEY) | Some(WRITE_CONFLICT)) {
        return StoreError::Conflict;
    }
    if code == Some(MAX_TIME_EXPIRED) {
        return search_common::ran_too_long();
    }
    if code == Some(TRANSACTION_TOO_LARGE_FOR_CACHE) {
        return StoreError::TransactionTooLarge(
            "it does not fit the storage engine's cache".into(),
        );
    }
    if code == Some(NO_SUCH_TRANSACTION) || reaped_on_secantus(&e) {
        return StoreError::TransactionTooLarge(
            "it took longer than the database lets a transaction live \
             (transactionLifetimeLimitSeconds, 60 s by default)"
                .into(),
        );
    }
    // The driver refuses a document over the server's 16 MiB before sending it (the body is
    // checked beforehand; this is the body with its index entries).
    if let ErrorKind::InvalidArgument { message, .. } = &*e.kind {
        if message.contains("document must be within") {
            return StoreError::TooLarge(format!(
                "with its search index entries it exceeds the database's document limit ({message})"
            ));
        }
    }
    if let ErrorKind::InsertMany(m) = &*e.kind {
        if m.write_errors
            .iter()
            .flatten()
            .any(|w| w.code == DUPLICATE_KEY || w.code == WRITE_CONFLICT)
        {
            return StoreError::Conflict;
        }
    }
    match &*e.kind {
        ErrorKind::Io(_)
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::DnsResolve { .. } => StoreError::Unavailable(e.to_string()),
        _ if e.contains_label(TRANSIENT_TRANSACTION_ERROR) => StoreError::Conflict,
        _ => StoreError::Other(e.to_string()),
    }
}

/// SecantusDB reports a transaction it reaped for its age as an internal error (code 1) with
/// this text where MongoDB answers NoSuchTransaction; seen with 6,000-entry Bundles that wrote
/// for more than 60 s. Without this it would reach the client as a 500.
fn reaped_on_secantus(e: &mongodb::error::Error) -> bool {
    matches!(&*e.kind, ErrorKind::Command(c)
        if c.code == 1 && c.message.contains("transaction already closed"))
}

/// Splits our `db=` query parameter off a MongoDB URI (the driver rejects options it does not
/// know) and falls back to the URI's default database, then `fhird`.
fn split_db(uri: &str) -> (String, Option<String>) {
    let Some((head, query)) = uri.split_once('?') else {
        return (uri.to_string(), None);
    };
    let mut db = None;
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("db=") {
            Some(name) => {
                db = Some(name.to_string());
                false
            }
            None => !kv.is_empty(),
        })
        .collect();
    let uri = if rest.is_empty() {
        head.to_string()
    } else {
        format!("{head}?{}", rest.join("&"))
    };
    (uri, db)
}

fn collection_name(partition: &Partition, resource_type: &str) -> String {
    match partition {
        Partition::Default => format!("fhir.{resource_type}"),
        Partition::Payer(id) => format!("payer.{id}.{resource_type}"),
    }
}

fn history_name(partition: &Partition, resource_type: &str) -> String {
    format!("{}.history", collection_name(partition, resource_type))
}

/// The write guards of a partition (see `Guard`): `{_id: key, n}`.
fn guards_name(partition: &Partition) -> String {
    // No resource type starts with `_`, so this never meets a resource collection.
    collection_name(partition, "_guards")
}

/// The partition's record of which types contain which (`Store::containers_of`):
/// `{_id: "{contained}|{container}", n: most}`.
fn containers_name(partition: &Partition) -> String {
    collection_name(partition, "_contained_types")
}

/// The partition's record of which of its collections carry the date hull keys
/// (`mongo_layout`).
fn layout_name(partition: &Partition) -> String {
    collection_name(partition, "_layout")
}

fn history_id(id: &str, version: u64) -> String {
    format!("{id}/{version}")
}

fn to_doc(v: &Version, with_id_fields: bool) -> StoreResult<Document> {
    let mut d = if with_id_fields {
        doc! {"_id": history_id(&v.id, v.version), "id": &v.id}
    } else {
        doc! {"_id": &v.id}
    };
    d.insert("v", v.version as i64);
    d.insert("t", v.last_updated);
    d.insert("m", v.method.as_str());
    match &v.body {
        None => {
            d.insert("res", Bson::Null);
        }
        Some(b) if b.len() > COMPRESS_ABOVE => {
            let packed = lz4_flex::compress_prepend_size(b);
            if packed.len() > MAX_STORED_BODY {
                return Err(StoreError::TooLarge(format!(
                    "{} bytes compress to {} bytes, more than a MongoDB document holds",
                    b.len(),
                    packed.len()
                )));
            }
            d.insert(
                "rz",
                Bson::Binary(mongodb::bson::Binary {
                    subtype: mongodb::bson::spec::BinarySubtype::Generic,
                    bytes: packed,
                }),
            );
        }
        Some(b) => {
            d.insert("res", Bson::String(String::from_utf8_lossy(b).into_owned()));
        }
    }
    Ok(d)
}

fn body_of(d: &Document) -> Option<Bytes> {
    if let Ok(s) = d.get_str("res") {
        return Some(Bytes::copy_from_slice(s.as_bytes()));
    }
    let packed = d.get_binary_generic("rz").ok()?;
    lz4_flex::decompress_size_prepended(packed)
        .ok()
        .map(Bytes::from)
}

fn from_doc(resource_type: &str, d: &Document) -> Option<Version> {
    let id = match d.get_str("id") {
        Ok(id) => id.to_string(),
        Err(_) => d.get_str("_id").ok()?.to_string(),
    };
    Some(Version {
        resource_type: resource_type.to_string(),
        id,
        version: d.get_i64("v").ok()? as u64,
        last_updated: d.get_i64("t").ok()?,
        method: Method::parse(d.get_str("m").ok()?)?,
        body: body_of(d),
    })
}

/// The filter for history entries of `resource_type` that sort after `cursor`
/// (order: t, type, id, v — all descending).
fn after_cursor(resource_type: &str, cursor: &HistoryCursor) -> Option<Document> {
    let same_instant = match resource_type.cmp(cursor.resource_type.as_str()) {
        std::cmp::Ordering::Less => Some(doc! {"t": cursor.last_updated}),
        std::cmp::Ordering::Greater => None,
        std::cmp::Ordering::Equal => Some(doc! {"t": cursor.last_updated, "$or": [
            {"id": {"$lt": &cursor.id}},
            {"id": &cursor.id, "v": {"$lt": cursor.version as i64}},
        ]}),
    };
    let earlier = doc! {"t": {"$lt": cursor.last_updated}};
    Some(match same_instant {
        Some(s) => doc! {"$or": [earlier, s]},
        None => earlier,
    })
}

/// A numeric setting from the environment; `None` when unset or not a number.
fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// The fields a search page reads of a document when no sort value is asked for: what
/// `examples/mongo_filter_rate.rs` projects to measure finds as fhird sends them.
pub fn page_projection(resource_type: &str) -> Document {
    mongo_search::page_fields(&[], resource_type)
}

impl MongoStore {
    pub async fn connect(uri: &str) -> anyhow::Result<MongoStore> {
        let (uri, db_name) = split_db(uri);
        let mut options = ClientOptions::parse(&uri).await?;
        // A request should fail fast with 503 when the database is down, not hang for 30 s.
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        options
            .connect_timeout
            .get_or_insert(Duration::from_secs(5));
        let db_name = db_name
            .or_else(|| options.default_database.clone())
            .unwrap_or_else(|| "fhird".to_string());
        let client = Client::with_options(options)?;
        let db = client.database(&db_name);
        db.run_command(doc! {"ping": 1}).await?;
        let large_commit_permits = env_number("FHIRD_MONGO_MAX_LARGE_COMMITS")
            .filter(|&n: &u32| n > 0)
            .unwrap_or(DEFAULT_LARGE_COMMITS);
        let batches = env_number("FHIRD_MONGO_LOOKUP_BATCHES").unwrap_or(mongo_lookups::RUNNING);
        Ok(MongoStore {
            client,
            db,
            ensured: Mutex::new(HashSet::new()),
            noted: Mutex::new(HashMap::new()),
            large_commits: tokio::sync::Semaphore::new(large_commit_permits as usize),
            large_commit_permits,
            creating: tokio::sync::Mutex::new(()),
            hulls: HullLayout::default(),
            first_reads: FirstReads::default(),
            first_windows: FirstWindows::default(),
            lookups: Batcher::new(batches),
            id_reads: Batcher::new(batches),
            sort_cap: env_number("FHIRD_MONGO_MAX_SORTED")
                .filter(|&n: &u64| n > 0)
                .unwrap_or(SORT_CAP),
            search_max_time: search_common::SEARCH_MAX_TIME,
            sort_indexes: SortIndexes::from_env()?,
        })
    }

    fn current_coll(&self, p: &Partition, rt: &str) -> Collection<Document> {
        self.db.collection(&collection_name(p, rt))
    }

    /// The current collection of `rt`, once it has had its first read in this process
    /// (`mongo_first_reads`).
    async fn readable(&self, p: &Partition, rt: &str) -> StoreResult<Collection<Document>> {
        let coll = self.current_coll(p, rt);
        self.first_reads
            .before_reading(&coll)
            .await
            .map_err(classify)?;
        Ok(coll)
    }

    /// A search read of `collection` failed with `e`: one that was refused as too costly
    /// (out of time) makes the collection's next read a first read again, in case the
    /// server forgot what the first read taught it (a restart).
    fn read_failed(&self, collection: &str, e: StoreError) -> StoreError {
        if matches!(e, StoreError::TooCostly(_)) {
            self.first_reads.forget(collection);
        }
        e
    }

    fn history_coll_named(&self, name: &str) -> Collection<Document> {
        self.db.collection(name)
    }

    /// Creates the indexes the first time this process writes a type in a partition (index
    /// builds cannot run inside a transaction, so this happens before it starts), and waits
    /// for the collection's first read: writes test versions and conditions with queries.
    /// The first read waits outside the lock, which the first writes of other types take.
    async fn ensure_indexes(&self, p: &Partition, rt: &str) -> StoreResult<()> {
        self.create_indexes_once(p, rt).await?;
        self.readable(p, rt).await.map(|_| ())
    }

    async fn create_indexes_once(&self, p: &Partition, rt: &str) -> StoreResult<()> {
        let name = history_name(p, rt);
        if self
            .ensured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&name)
        {
            return Ok(());
        }
        let _creating = self.creating.lock().await;
        if self
            .ensured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&name)
        {
            return Ok(());
        }
        let history = self.history_coll_named(&name);
        history
            .create_indexes([
                IndexModel::builder()
                    .keys(doc! {"id": 1, "v": -1})
                    .options(IndexOptions::builder().unique(true).build())
                    .build(),
                IndexModel::builder()
                    .keys(doc! {"t": -1, "id": -1, "v": -1})
                    .build(),
            ])
            .await
            .map_err(classify)?;
        // The current collection must exist before a transaction inserts into it on servers
        // that cannot create collections inside transactions (MongoDB < 4.4 semantics).
        let current = collection_name(p, rt);
        if self.create_collection(&current).await? {
            // Every document this build writes carries its hull keys.
            self.hulls
                .mark(&self.db, &layout_name(p), &current)
                .await
                .map_err(classify)?;
        }
        let mut indexes = mongo_search::current_indexes();
        indexes.extend(self.sort_indexes.models(rt));
        self.current_coll(p, rt)
            .create_indexes(indexes)
            .await
            .map_err(classify)?;
        self.sort_indexes.changed(&current);
        self.ensured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name);
        Ok(())
    }

    async fn history_of_type(
        &self,
        p: &Partition,
        rt: &str,
        id: Option<&str>,
        query: &HistoryQuery,
    ) -> StoreResult<Vec<Version>> {
        let mut clauses = Vec::new();
        if let Some(id) = id {
            clauses.push(doc! {"id": id});
        }
        if let Some(since) = query.since {
            clauses.push(doc! {"t": {"$gte": since}});
        }
        if let Some(cursor) = &query.after {
            match after_cursor(rt, cursor) {
                Some(f) => clauses.push(f),
                None => return Ok(Vec::new()),
            }
        }
        let filter = mongo_search::and_all(clauses);
        let mut cursor = self
            .history_coll_named(&history_name(p, rt))
            .find(filter)
            .sort(doc! {"t": -1, "id": -1, "v": -1})
            .limit(query.limit as i64)
            .await
            .map_err(classify)?;
        let mut out = Vec::new();
        while cursor.advance().await.map_err(classify)? {
            let d = cursor.deserialize_current().map_err(classify)?;
            if let Some(v) = from_doc(rt, &d) {
                out.push(v);
            }
        }
        Ok(out)
    }

    async fn query_types(&self, p: &Partition, query: &StoreQuery) -> StoreResult<Vec<String>> {
        if query.resource_types.is_empty() {
            let mut types = self.types_in(p).await?;
            types.sort();
            Ok(types)
        } else {
            Ok(query.resource_types.clone())
        }
    }

    /// The `count` command, not `countDocuments` (an aggregation, 20-30x slower on
    /// SecantusDB). With a query it is exact on sharded clusters too (orphans are filtered);
    /// every filter here has one (`m` or a key). Never hinted: every filter leads with an
    /// equality or range on an indexed field (`k`, an entry array's `p`, `t`, `_id`) that any
    /// planner takes, and SecantusDB reads a hinted index whole (100k Observations,
    /// `value-quantity=gt100`: 1.4 s hinted, 0.25 s not; `_lastUpdated` of the last 147:
    /// 0.2 s, 2 ms).
    async fn count_command(&self, collection: &str, filter: Document) -> StoreResult<u64> {
        tracing::debug!(%collection, %filter, "mongodb count");
        let ms = i64::try_from(self.search_max_time.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        let cmd = doc! {"count": collection, "query": filter, "maxTimeMS": ms};
        let answer = self
            .db
            .run_command(cmd)
            .await
            .map_err(|e| self.read_failed(collection, classify(e)))?;
        match answer.get("n") {
            Some(Bson::Int32(v)) => Ok(u64::try_from(*v).unwrap_or(0)),
            Some(Bson::Int64(v)) => Ok(u64::try_from(*v).unwrap_or(0)),
            Some(Bson::Double(v)) => Ok(*v as u64),
            _ => Err(StoreError::Other(format!("count answered {answer}"))),
        }
    }

    /// Whether the current collection of `rt` has had its first read in this process, and
    /// how many first reads the process has made (`mongo_first_reads`; for tests).
    pub fn first_reads(&self, p: &Partition, rt: &str) -> (bool, u64) {
        let name = collection_name(p, rt);
        (self.first_reads.has_read(&name), self.first_reads.made())
    }

    /// How many searches were answered from a batch of concurrent key look-ups so far
    /// (mongo_lookups; for tests).
    pub fn batched_lookups(&self) -> u64 {
        self.lookups.batched()
    }

    /// How many reads by id were answered from a batch of concurrent reads so far
    /// (mongo_lookups; for tests).
    pub fn batched_reads(&self) -> u64 {
        self.id_reads.batched()
    }

    /// The documents of `coll` with these ids, with `fields`, read together with concurrent
    /// reads by id of the same collection (mongo_lookups).
    async fn by_ids(
        &self,
        coll: &Collection<Document>,
        fields: &Document,
        ids: Vec<String>,
    ) -> StoreResult<Vec<Document>> {
        // Reads by id share one lane per collection: their page size plays no part.
        self.id_reads
            .read(coll, fields, 1, self.search_max_time, IdRead(ids))
            .await
    }

    /// The store with another search time limit (`search_common::SEARCH_MAX_TIME`).
    pub fn with_search_max_time(mut self, limit: Duration) -> Self {
        self.search_max_time = limit;
        self
    }

    /// The most matches of one collection a search in an order no index gives may read.
    pub fn with_sort_cap(mut self, cap: u64) -> Self {
        self.sort_cap = cap;
        self
    }

    /// The parameters whose sort indexes the collections this store creates get
    /// (`Type:param,…`, as `FHIRD_MONGO_SORT_INDEXES`).
    pub fn with_sort_indexes(mut self, spec: &str) -> anyhow::Result<Self> {
        self.sort_indexes = SortIndexes::parse(spec).map_err(anyhow::Error::msg)?;
        Ok(self)
    }

    /// How a search reads the collection of `rt`, or `None` when nothing there can match.
    async fn plan(
        &self,
        partition: &Partition,
        query: &StoreQuery,
        keys: &[search_common::Key],
        rt: &str,
        now: i64,
    ) -> StoreResult<Option<mongo_search::SearchPlan>> {
        let coll = self.readable(partition, rt).await?;
        let hulls = self.hulls_ready(partition, coll.name()).await?;
        let indexes = if mongo_search::wants_sort_index(query) {
            self.sort_indexes.present(&coll).await.map_err(classify)?
        } else {
            Vec::new()
        };
        Ok(mongo_search::plan(query, keys, rt, now, hulls, &indexes))
    }

    /// The documents of one collection's page, read as `plan` says.
    async fn read_page(
        &self,
        coll: &Collection<Document>,
        plan: &mongo_search::SearchPlan,
        query: &StoreQuery,
        keys: &[search_common::Key],
        rt: &str,
        now: i64,
    ) -> StoreResult<Vec<Document>> {
        if let Some(w) = &plan.windowed {
            read_windows(coll, plan, w, &self.first_windows, self.search_max_time).await
        } else if let Some(u) = &plan.unindexed {
            match u {
                mongo_search::Unindexed::Sweep(sweep) => {
                    self.sweep(coll, plan, sweep, keys, rt).await
                }
                _ => read_sorted(coll, plan, u, self.search_max_time).await,
            }
        } else if let Some(windows) = mongo_search::time_windows(query, keys, now) {
            read_time_windows(coll, plan, windows, self.search_max_time).await
        } else if let Some(key) = &plan.lookup {
            let lookup = Lookup {
                filter: plan.filter.clone(),
                key: key.clone(),
            };
            self.lookups
                .read(coll, &plan.fields, plan.limit, self.search_max_time, lookup)
                .await
        } else if let Some(split) = &plan.prefix {
            let (filter, key) = split.probe();
            let probe = Lookup { filter, key };
            let probed =
                self.lookups
                    .read(coll, &plan.fields, plan.limit, self.search_max_time, probe);
            let (keyed, probed) =
                futures_util::future::try_join(self.page_of(coll, plan, &split.keyed), probed)
                    .await?;
            if probed.is_empty() {
                return Ok(keyed);
            }
            let marked = self.page_of(coll, plan, &split.marked).await?;
            Ok(merge_by_id(keyed, marked, plan.limit))
        } else {
            self.page_of(coll, plan, &plan.filter).await
        }
    }

    /// The first documents of `filter` in the plan's order, as many as its page holds.
    async fn page_of(
        &self,
        coll: &Collection<Document>,
        plan: &mongo_search::SearchPlan,
        filter: &Document,
    ) -> StoreResult<Vec<Document>> {
        find_page(
            coll,
            &plan.fields,
            filter.clone(),
            plan.sort.clone(),
            plan.limit,
            None,
            self.search_max_time,
        )
        .await
    }

    /// The page of a search in an order no index gives (mongo_search::Sweep): the sort values
    /// of every match, the first `limit` kept here (at most twice that many held at once), then
    /// their documents. Refused past `sort_cap` matches.
    async fn sweep(
        &self,
        coll: &Collection<Document>,
        plan: &mongo_search::SearchPlan,
        sweep: &mongo_search::Sweep,
        keys: &[search_common::Key],
        rt: &str,
    ) -> StoreResult<Vec<Document>> {
        let need = usize::try_from(plan.limit).unwrap_or(usize::MAX);
        let mut best = FirstN::new(need, keys);
        let read = |filter: Document| {
            tracing::debug!(collection = %coll.name(), filter = %filter, "mongodb sort sweep");
            coll.find(filter)
                .projection(sweep.fields.clone())
                .max_time(self.search_max_time)
                .optional(
                    plan.sort_hint.clone().map(mongodb::options::Hint::Keys),
                    |a, h| a.hint(h),
                )
        };
        let mut take = |d: Document, seen: &mut u64| -> StoreResult<()> {
            *seen += 1;
            if *seen > self.sort_cap {
                return Err(StoreError::TooCostly(format!(
                    "this search sorts more than {} matches of one resource type (only the \
                     default order and _lastUpdated have an index here); add criteria to \
                     narrow it",
                    self.sort_cap
                )));
            }
            if let Ok(id) = d.get_str("_id") {
                best.push(
                    mongo_search::match_sort_values(&d, keys, keys.len(), rt),
                    id.to_string(),
                );
            }
            Ok(())
        };
        // One query, or the whole collection window by window.
        let mut windows = sweep
            .whole
            .then(|| super::mongo_windows::Sweep::new(mongo_search::SWEEP_WINDOW));
        let mut filter = match &mut windows {
            Some(w) => w
                .next(0)
                .map(|w| mongo_search::in_window(&plan.filter, Some(&w))),
            None => Some(plan.filter.clone()),
        };
        let mut seen = 0u64;
        while let Some(f) = filter.take() {
            let before = seen;
            let mut cursor = read(f).await.map_err(classify)?;
            while cursor.advance().await.map_err(classify)? {
                take(cursor.deserialize_current().map_err(classify)?, &mut seen)?;
            }
            let found = usize::try_from(seen - before).unwrap_or(usize::MAX);
            filter = windows
                .as_mut()
                .and_then(|w| w.next(found))
                .map(|w| mongo_search::in_window(&plan.filter, Some(&w)));
        }
        let ids = best.into_ids();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        // A document changed since the sweep read it comes with its current sort values, by
        // which the caller orders the page.
        collect(
            coll.find(doc! {"_id": {"$in": ids}})
                .projection(plan.fields.clone())
                .await
                .map_err(classify)?,
        )
        .await
    }

    /// The query plans the server picks for a search, one explain document per command it
    /// sends (for tests that check every query shape is index-served).
    pub async fn explain_search(
        &self,
        partition: &Partition,
        query: &StoreQuery,
    ) -> StoreResult<Vec<Document>> {
        let backward = query.after.as_ref().is_some_and(|c| c.backward);
        let keys = search_common::order_keys(&query.sort, backward);
        let now = search_common::now_micros();
        let mut out = Vec::new();
        for rt in self.query_types(partition, query).await? {
            let Some(plan) = self.plan(partition, query, &keys, &rt, now).await? else {
                continue;
            };
            for command in plan.commands(&collection_name(partition, &rt)) {
                out.push(self.explain(command).await?);
            }
        }
        Ok(out)
    }

    /// The `count` commands' query plans of a count (for tests and diagnostics).
    pub async fn explain_count(
        &self,
        partition: &Partition,
        query: &StoreQuery,
    ) -> StoreResult<Vec<Document>> {
        let mut out = Vec::new();
        for (name, filter) in self.count_filters(partition, query).await? {
            out.push(self.explain(doc! {"count": name, "query": filter}).await?);
        }
        Ok(out)
    }

    /// The query plan the server picks for `command`.
    async fn explain(&self, command: Document) -> StoreResult<Document> {
        let cmd = doc! {"explain": command, "verbosity": "queryPlanner"};
        self.db.run_command(cmd).await.map_err(classify)
    }

    /// The collections and filters whose counts add up to a search's total (counted at once).
    /// With a leading key, the keyed documents and the marked ones are counted apart: `{k: key}`
    /// alone is a plain index range (SecantusDB: 28,116 matches in 289 ms, 800 ms through `$in`
    /// with the marker and the `$or`); a key whose range may be long is counted by halves of
    /// the id space (`mongo_windows::halves`).
    async fn count_filters(
        &self,
        partition: &Partition,
        query: &StoreQuery,
    ) -> StoreResult<Vec<(String, Document)>> {
        let now = search_common::now_micros();
        let mut out = Vec::new();
        for rt in self.query_types(partition, query).await? {
            let name = self.readable(partition, &rt).await?.name().to_string();
            let hulls = self.hulls_ready(partition, &name).await?;
            let filters = mongo_search::filters(query, &rt, now, hulls);
            if let Some(split) = filters.lead_split(mongo_search::Q::All) {
                if split.wide {
                    for half in mongo_windows::halves() {
                        out.push((name.clone(), split.keyed(Some(&half), false)));
                    }
                } else {
                    out.push((name.clone(), split.keyed(None, false)));
                }
                if let mongo_search::Q::Doc(m) = split.marker {
                    out.push((name, m));
                }
                continue;
            }
            // A top-level `$or` makes SecantusDB's `count` ~50x slower.
            if let Some(split) = filters.prefix_split(mongo_search::Q::All) {
                out.push((name.clone(), split.keyed));
                out.push((name, split.marked));
                continue;
            }
            match filters.all() {
                mongo_search::Q::Nothing => {}
                mongo_search::Q::All => out.push((name, Document::new())),
                mongo_search::Q::Doc(d) => out.push((name, d)),
            }
        }
        Ok(out)
    }

    /// The resource types that have a history collection in a partition.
    async fn types_in(&self, p: &Partition) -> StoreResult<Vec<String>> {
        let prefix = match p {
            Partition::Default => "fhir.".to_string(),
            Partition::Payer(id) => format!("payer.{id}."),
        };
        let names = self.db.list_collection_names().await.map_err(classify)?;
        Ok(names
            .into_iter()
            .filter_map(|n| {
                let rt = n.strip_prefix(&prefix)?.strip_suffix(".history")?;
                (!rt.contains('.')).then(|| rt.to_string())
            })
            .collect())
    }

    /// Creates a collection unless it exists (code 48, NamespaceExists); `true` when it did.
    async fn create_collection(&self, name: &str) -> StoreResult<bool> {
        match self.db.create_collection(name).await {
            Ok(()) => Ok(true),
            Err(e) if matches!(&*e.kind, ErrorKind::Command(c) if c.code == 48) => Ok(false),
            Err(e) => Err(classify(e)),
        }
    }

    /// Whether the date hull keys may narrow searches of a partition's collection `name`.
    async fn hulls_ready(&self, p: &Partition, name: &str) -> StoreResult<bool> {
        self.hulls
            .ready(&self.db, &layout_name(p), name)
            .await
            .map_err(classify)
    }

    /// Records that `rt` contains the types the index's `_contained` markers name, before
    /// the commit that writes it (outside its transaction, so that concurrent writers do
    /// not conflict on the record; a commit that then fails leaves a record that only costs
    /// a search a probe).
    async fn note_containers(
        &self,
        p: &Partition,
        rt: &str,
        index: &[crate::fhir::search::IndexEntry],
    ) -> StoreResult<()> {
        let name = containers_name(p);
        for (contained, most) in search_common::contained_types(index) {
            let id = format!("{contained}|{rt}");
            let key = format!("{name}/{id}");
            let noted = |m: &HashMap<String, usize>| m.get(&key).is_some_and(|n| *n >= most);
            if noted(&self.noted.lock().unwrap_or_else(|e| e.into_inner())) {
                continue;
            }
            self.db
                .collection::<Document>(&name)
                .update_one(doc! {"_id": &id}, doc! {"$max": {"n": most as i64}})
                .upsert(true)
                .await
                .map_err(classify)?;
            let mut m = self.noted.lock().unwrap_or_else(|e| e.into_inner());
            if !noted(&m) {
                m.insert(key, most);
            }
        }
        Ok(())
    }

    /// Creates a partition's guard collection the first time this process uses it (a
    /// transaction cannot create collections on every server).
    async fn ensure_guards(&self, p: &Partition) -> StoreResult<()> {
        let name = guards_name(p);
        if self
            .ensured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&name)
        {
            return Ok(());
        }
        let _creating = self.creating.lock().await;
        self.create_collection(&name).await?;
        self.ensured
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(name);
        Ok(())
    }

    /// Concurrent transactions that touch the same index keys (every resource shares
    /// entries such as `{p: "gender", c: "female"}` in `xt`) can abort each other with a transient
    /// write conflict on some servers. Preconditions are re-checked in every attempt, so
    /// retrying is safe: a real conflict fails again the same way.
    async fn commit_retrying(
        &self,
        p: &Partition,
        writes: &[Write],
        guards: &[Guard],
    ) -> StoreResult<()> {
        let mut attempt = 0;
        loop {
            match self.try_commit(p, writes, guards).await {
                Err(StoreError::Conflict) if attempt < COMMIT_ATTEMPTS => {
                    attempt += 1;
                    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0] % 8);
                    tokio::time::sleep(Duration::from_millis(attempt * 2 + jitter)).await;
                }
                result => return result,
            }
        }
    }

    async fn try_commit(
        &self,
        p: &Partition,
        writes: &[Write],
        guards: &[Guard],
    ) -> StoreResult<()> {
        let mut session = self.client.start_session().await.map_err(classify)?;
        session
            .start_transaction()
            .read_concern(ReadConcern::snapshot())
            .write_concern(WriteConcern::majority())
            .await
            .map_err(classify)?;
        let result = async {
            let guard_coll = self.db.collection::<Document>(&guards_name(p));
            for g in guards {
                if g.expected == 0 {
                    guard_coll
                        .insert_one(doc! {"_id": &g.key, "n": 1_i64})
                        .session(&mut session)
                        .await
                        .map_err(classify)?;
                } else {
                    let r = guard_coll
                        .update_one(
                            doc! {"_id": &g.key, "n": g.expected as i64},
                            doc! {"$set": {"n": g.expected as i64 + 1}},
                        )
                        .session(&mut session)
                        .await
                        .map_err(classify)?;
                    if r.matched_count != 1 {
                        return Err(StoreError::Conflict);
                    }
                }
            }
            // New resources and history entries go in one insert per type: a transaction of
            // thousands of resources is then a handful of round trips, not thousands.
            let mut inserts: Vec<(&str, Vec<Document>, Vec<Document>)> = Vec::new();
            for w in writes {
                let v = &w.version;
                let mut doc = to_doc(v, false)?;
                mongo_search::add_index_fields(&mut doc, &w.index);
                let slot = match inserts.iter().position(|(t, _, _)| *t == v.resource_type) {
                    Some(i) => i,
                    None => {
                        inserts.push((&v.resource_type, Vec::new(), Vec::new()));
                        inserts.len() - 1
                    }
                };
                match w.expected {
                    None => inserts[slot].1.push(doc),
                    Some(expected) => {
                        let r = self
                            .current_coll(p, &v.resource_type)
                            .replace_one(doc! {"_id": &v.id, "v": expected as i64}, doc)
                            .session(&mut session)
                            .await
                            .map_err(classify)?;
                        if r.matched_count != 1 {
                            return Err(StoreError::Conflict);
                        }
                    }
                }
                inserts[slot].2.push(to_doc(v, true)?);
            }
            for (rt, current, history) in inserts {
                if !current.is_empty() {
                    self.current_coll(p, rt)
                        .insert_many(current)
                        .session(&mut session)
                        .await
                        .map_err(classify)?;
                }
                self.history_coll_named(&history_name(p, rt))
                    .insert_many(history)
                    .session(&mut session)
                    .await
                    .map_err(classify)?;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let _ = session.abort_transaction().await;
            return Err(e);
        }
        loop {
            match session.commit_transaction().await {
                Ok(()) => return Ok(()),
                Err(e) if e.contains_label(UNKNOWN_TRANSACTION_COMMIT_RESULT) => continue,
                Err(e) => return Err(classify(e)),
            }
        }
    }
}

#[async_trait]
impl Store for MongoStore {
    async fn current(
        &self,
        partition: &Partition,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Option<Version>> {
        // Without the search index fields, which are most of a document (a Patient's ~34 KB).
        let coll = self.readable(partition, resource_type).await?;
        let fields = page_projection(resource_type);
        let docs = self.by_ids(&coll, &fields, vec![id.to_string()]).await?;
        Ok(docs.first().and_then(|d| from_doc(resource_type, d)))
    }

    async fn version(
        &self,
        partition: &Partition,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> StoreResult<Option<Version>> {
        // A history document is the version alone: every field is wanted.
        let coll = self.history_coll_named(&history_name(partition, resource_type));
        let docs = self
            .by_ids(&coll, &Document::new(), vec![history_id(id, version)])
            .await?;
        Ok(docs.first().and_then(|d| from_doc(resource_type, d)))
    }

    async fn commit_guarded(
        &self,
        partition: &Partition,
        writes: Vec<Write>,
        guards: Vec<Guard>,
    ) -> StoreResult<()> {
        let mut types: Vec<&str> = writes
            .iter()
            .map(|w| w.version.resource_type.as_str())
            .collect();
        types.sort_unstable();
        types.dedup();
        for rt in types {
            self.ensure_indexes(partition, rt).await?;
        }
        if !guards.is_empty() {
            self.ensure_guards(partition).await?;
        }
        for w in &writes {
            self.note_containers(partition, &w.version.resource_type, &w.index)
                .await?;
        }
        let closing = |_| StoreError::Unavailable("the store is closing".into());
        if writes.len() <= LARGE_COMMIT {
            return self.commit_retrying(partition, &writes, &guards).await;
        }
        let admitted = self.large_commits.acquire().await.map_err(closing)?;
        match self.commit_retrying(partition, &writes, &guards).await {
            // Other large transactions in flight share the cache; alone, it may fit.
            Err(StoreError::TransactionTooLarge(_)) if self.large_commit_permits > 1 => {
                tracing::info!(
                    "a commit of {} writes failed beside other large ones; retrying it alone",
                    writes.len()
                );
                drop(admitted);
                let _alone = self
                    .large_commits
                    .acquire_many(self.large_commit_permits)
                    .await
                    .map_err(closing)?;
                self.commit_retrying(partition, &writes, &guards).await
            }
            result => result,
        }
    }

    async fn containers_of(
        &self,
        partition: &Partition,
        contained: &str,
    ) -> StoreResult<Vec<(String, usize)>> {
        // `}` follows `|`: the range holds exactly the ids that start with `{contained}|`.
        let mut found = self
            .db
            .collection::<Document>(&containers_name(partition))
            .find(doc! {"_id": {"$gt": format!("{contained}|"), "$lt": format!("{contained}}}")}})
            .sort(doc! {"_id": 1})
            .await
            .map_err(classify)?;
        let mut out = Vec::new();
        while found.advance().await.map_err(classify)? {
            let d = found.deserialize_current().map_err(classify)?;
            if let Some((_, container)) = d.get_str("_id").ok().and_then(|id| id.split_once('|')) {
                let most = d.get_i64("n").or_else(|_| d.get_i32("n").map(i64::from));
                out.push((container.to_string(), most.unwrap_or(1).max(1) as usize));
            }
        }
        Ok(out)
    }

    async fn guard(&self, partition: &Partition, key: &str) -> StoreResult<u64> {
        let d = self
            .db
            .collection::<Document>(&guards_name(partition))
            .find_one(doc! {"_id": key})
            .await
            .map_err(classify)?;
        Ok(d.and_then(|d| d.get_i64("n").ok()).unwrap_or(0) as u64)
    }

    async fn history(
        &self,
        partition: &Partition,
        scope: HistoryScope<'_>,
        query: &HistoryQuery,
    ) -> StoreResult<Vec<Version>> {
        match scope {
            HistoryScope::Instance(rt, id) => {
                self.history_of_type(partition, rt, Some(id), query).await
            }
            HistoryScope::Type(rt) => self.history_of_type(partition, rt, None, query).await,
            HistoryScope::System => {
                // Each type's newest `limit` entries, merged: the global newest `limit` are
                // among them.
                let mut all = Vec::new();
                for rt in self.types_in(partition).await? {
                    all.extend(self.history_of_type(partition, &rt, None, query).await?);
                }
                all.sort_by(|a, b| {
                    (b.last_updated, &b.resource_type, &b.id, b.version).cmp(&(
                        a.last_updated,
                        &a.resource_type,
                        &a.id,
                        a.version,
                    ))
                });
                all.truncate(query.limit);
                Ok(all)
            }
        }
    }

    async fn resource_types(&self, partition: &Partition) -> StoreResult<Vec<String>> {
        self.types_in(partition).await
    }

    async fn search(&self, partition: &Partition, query: &StoreQuery) -> StoreResult<Vec<Match>> {
        // `$limit: 0` is an error in MongoDB.
        if query.limit == 0 {
            return Ok(Vec::new());
        }
        let backward = query.after.as_ref().is_some_and(|c| c.backward);
        let keys = search_common::order_keys(&query.sort, backward);
        let now = search_common::now_micros();
        let mut pages = Vec::new();
        for rt in self.query_types(partition, query).await? {
            let coll = self.current_coll(partition, &rt);
            let Some(plan) = self.plan(partition, query, &keys, &rt, now).await? else {
                continue;
            };
            let docs = match self.read_page(&coll, &plan, query, &keys, &rt, now).await {
                // A hinted sort index an operator dropped since it was listed fails the
                // read: list the indexes again and read without it.
                Err(StoreError::Other(e))
                    if e.contains("hint") && mongo_search::wants_sort_index(query) =>
                {
                    self.sort_indexes.changed(coll.name());
                    match self.plan(partition, query, &keys, &rt, now).await? {
                        Some(plan) => self.read_page(&coll, &plan, query, &keys, &rt, now).await?,
                        None => continue,
                    }
                }
                Err(e) => return Err(self.read_failed(coll.name(), e)),
                Ok(docs) => docs,
            };
            let mut page = Vec::with_capacity(docs.len());
            for d in docs {
                let Some(version) = from_doc(&rt, &d) else {
                    continue;
                };
                let sort = mongo_search::match_sort_values(&d, &keys, query.sort.len(), &rt);
                page.push(Match { version, sort });
            }
            pages.push(page);
        }
        Ok(search_common::merge_pages(
            pages,
            &query.sort,
            backward,
            query.limit,
        ))
    }

    /// One probe of the match keys (`k`), with the overflow markers of the parameters: a
    /// document carrying a marker may hold the value too, so it counts as a possible match.
    /// (A search with a limit of one would read a wide key's range window by window.)
    async fn may_match(
        &self,
        partition: &Partition,
        resource_type: &str,
        any: &[Cond],
    ) -> StoreResult<bool> {
        let mut keys = Vec::new();
        for cond in any {
            let (Some((mongo_keys::KeyMatch::AnyOf(k), _)), Some(param)) =
                (mongo_keys::cond_match(cond), cond.param())
            else {
                // Not a key look-up: the general answer.
                let query = super::first_of(resource_type, any);
                return Ok(!self.search(partition, &query).await?.is_empty());
            };
            keys.extend(k);
            if !mongo_keys::always_keyed(resource_type, param) {
                keys.push(mongo_keys::overflow_marker(param));
            }
        }
        if keys.is_empty() {
            return Ok(false);
        }
        let coll = self.current_coll(partition, resource_type);
        let found = coll
            .find_one(doc! {mongo_keys::FIELD: {"$in": keys}})
            .projection(doc! {"_id": 1})
            .await
            .map_err(classify)?;
        Ok(found.is_some())
    }

    async fn count(&self, partition: &Partition, query: &StoreQuery) -> StoreResult<u64> {
        let counts = self
            .count_filters(partition, query)
            .await?
            .into_iter()
            .map(|(name, filter)| async move { self.count_command(&name, filter).await });
        Ok(futures_util::future::try_join_all(counts)
            .await?
            .into_iter()
            .sum())
    }

    async fn read_many(
        &self,
        partition: &Partition,
        refs: &[(String, String)],
    ) -> StoreResult<Vec<Version>> {
        let mut types: Vec<&str> = refs.iter().map(|(t, _)| t.as_str()).collect();
        types.sort_unstable();
        types.dedup();
        let mut out = Vec::new();
        for rt in types {
            let ids: Vec<String> = refs
                .iter()
                .filter(|(t, _)| t == rt)
                .map(|(_, id)| id.clone())
                .collect();
            let coll = self.readable(partition, rt).await?;
            let docs = self.by_ids(&coll, &page_projection(rt), ids).await?;
            out.extend(
                docs.iter()
                    .filter_map(|d| from_doc(rt, d))
                    .filter(|v| !v.is_deleted()),
            );
        }
        Ok(out)
    }

    async fn reindex(
        &self,
        partition: &Partition,
        resource_type: &str,
        id: &str,
        version: u64,
        index: Vec<crate::fhir::search::IndexEntry>,
    ) -> StoreResult<bool> {
        // A collection written by an older build may lack the indexes the queries now hint.
        self.ensure_indexes(partition, resource_type).await?;
        self.note_containers(partition, resource_type, &index)
            .await?;
        // The entry arrays and `so` are replaced whole, so entries of parameters that no
        // longer exist go. `ix`, the one entry array of builds before the per-kind arrays, is
        // dropped, so `$reindex` also brings such documents to the current layout.
        let mut fields = Document::new();
        mongo_search::add_index_fields(&mut fields, &index);
        let r = self
            .current_coll(partition, resource_type)
            .update_one(
                doc! {"_id": id, "v": version as i64},
                doc! {"$set": fields, "$unset": {"ix": ""}},
            )
            .await
            .map_err(classify)?;
        Ok(r.matched_count == 1)
    }

    async fn reindexed(
        &self,
        partition: &Partition,
        resource_type: Option<&str>,
    ) -> StoreResult<()> {
        let types = match resource_type {
            Some(t) => vec![t.to_string()],
            None => self.types_in(partition).await?,
        };
        for rt in types {
            self.hulls
                .mark(
                    &self.db,
                    &layout_name(partition),
                    &collection_name(partition, &rt),
                )
                .await
                .map_err(classify)?;
        }
        Ok(())
    }

    async fn close(&self) {
        self.client.clone().shutdown().await;
    }
}

/// A page the server sorts: its queries in order (values, then absences, or one), each for
/// what the page still lacks, the second only for a page left short.
async fn read_sorted(
    coll: &Collection<Document>,
    plan: &mongo_search::SearchPlan,
    order: &mongo_search::Unindexed,
    max_time: Duration,
) -> StoreResult<Vec<Document>> {
    let need = usize::try_from(plan.limit).unwrap_or(usize::MAX);
    let mut out = Vec::new();
    for (filter, sort) in order.parts(plan) {
        if out.len() >= need {
            break;
        }
        let left = i64::try_from(need - out.len()).unwrap_or(i64::MAX);
        out.extend(
            find_page(
                coll,
                &plan.fields,
                filter,
                sort,
                left,
                plan.sort_hint.clone(),
                max_time,
            )
            .await?,
        );
    }
    Ok(out)
}

/// A page in `_lastUpdated` order read window by window (`mongo_windows::TimeWindows`): the
/// first window holding a full page gives it, the last read has no bound.
async fn read_time_windows(
    coll: &Collection<Document>,
    plan: &mongo_search::SearchPlan,
    mut windows: super::mongo_windows::TimeWindows,
    max_time: Duration,
) -> StoreResult<Vec<Document>> {
    loop {
        let bound = windows.next();
        let filter = match &bound {
            Some(b) => mongo_search::and_all([plan.filter.clone(), b.clone()]),
            None => plan.filter.clone(),
        };
        let docs = find_page(
            coll,
            &plan.fields,
            filter,
            plan.sort.clone(),
            plan.limit,
            None,
            max_time,
        )
        .await?;
        if bound.is_none() || i64::try_from(docs.len()).unwrap_or(i64::MAX) >= plan.limit {
            return Ok(docs);
        }
    }
}

/// The first `limit` documents of `filter` in `sort` order, with `fields` (the plan's).
pub(super) async fn find_page(
    coll: &Collection<Document>,
    fields: &Document,
    filter: Document,
    sort: Document,
    limit: i64,
    hint: Option<Document>,
    max_time: Duration,
) -> StoreResult<Vec<Document>> {
    tracing::debug!(collection = %coll.name(), filter = %filter, sort = %sort, "mongodb search");
    let cursor = coll
        .find(filter)
        .sort(sort)
        .limit(limit)
        .projection(fields.clone())
        .max_time(max_time)
        .optional(hint.map(mongodb::options::Hint::Keys), |a, h| a.hint(h))
        .await
        .map_err(classify)?;
    collect(cursor).await
}

/// The first `n` of a stream of (sort values, id) in the order of `keys`, holding at most
/// twice `n` at a time.
struct FirstN<'a> {
    n: usize,
    keys: &'a [search_common::Key],
    held: Vec<(Vec<SortValue>, String)>,
}

impl<'a> FirstN<'a> {
    fn new(n: usize, keys: &'a [search_common::Key]) -> Self {
        FirstN {
            n,
            keys,
            held: Vec::new(),
        }
    }

    fn push(&mut self, values: Vec<SortValue>, id: String) {
        self.held.push((values, id));
        if self.held.len() >= self.n.saturating_mul(2).max(64) {
            self.settle();
        }
    }

    fn settle(&mut self) {
        let keys = self.keys;
        self.held
            .sort_by(|a, b| search_common::compare_tuples(keys, &a.0, &b.0));
        self.held.truncate(self.n);
    }

    fn into_ids(mut self) -> Vec<String> {
        self.settle();
        self.held.into_iter().map(|(_, id)| id).collect()
    }
}

/// The first `limit` of two pages in ascending `_id` order, as one page in that order.
fn merge_by_id(mut a: Vec<Document>, b: Vec<Document>, limit: i64) -> Vec<Document> {
    if b.is_empty() {
        return a;
    }
    a.extend(b);
    // MongoDB compares strings by their UTF-8 bytes, as `str` does.
    a.sort_by(|x, y| x.get_str("_id").ok().cmp(&y.get_str("_id").ok()));
    a.dedup_by(|x, y| x.get_str("_id").ok() == y.get_str("_id").ok());
    a.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    a
}

/// Every document of a cursor.
async fn collect(mut cursor: mongodb::Cursor<Document>) -> StoreResult<Vec<Document>> {
    let mut out = Vec::new();
    while cursor.advance().await.map_err(classify)? {
        out.push(cursor.deserialize_current().map_err(classify)?);
    }
    Ok(out)
}

/// A page read in `_id` windows (mongo_windows) until it is full, and the documents that carry
/// the leading key's marker, read at the same time; the caller merges them in order.
async fn read_windows(
    coll: &Collection<Document>,
    plan: &mongo_search::SearchPlan,
    w: &mongo_search::Windowed,
    first_windows: &FirstWindows,
    max_time: Duration,
) -> StoreResult<Vec<Document>> {
    let need = usize::try_from(plan.limit).unwrap_or(usize::MAX);
    let shape = w.shape(coll.name());
    let find = |filter: Document, limit: usize| {
        tracing::debug!(collection = %coll.name(), filter = %filter, sort = %plan.sort, "mongodb search window");
        coll.find(filter)
            .sort(plan.sort.clone())
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .projection(plan.fields.clone())
            .max_time(max_time)
    };
    let windowed = async {
        let first = shape.as_deref().map(|s| first_windows.width(s));
        let mut windows = w.windows(need, first);
        let mut out = Vec::new();
        let mut last = 0;
        while let Some(window) = windows.next(last) {
            let cursor = find(w.filter_in(Some(&window)), need - out.len())
                .await
                .map_err(classify)?;
            let got = collect(cursor).await?;
            last = got.len();
            out.extend(got);
        }
        if let Some(s) = &shape {
            first_windows.learn(s, windows.first_filled());
        }
        Ok(out)
    };
    let marked = async {
        match w.marker() {
            Some(m) => collect(find(m.clone(), need).await.map_err(classify)?).await,
            None => Ok(Vec::new()),
        }
    };
    let (mut out, more) = tokio::try_join!(windowed, marked)?;
    out.extend(more);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_parameter_is_taken_off_the_uri() {
        assert_eq!(
            split_db("mongodb://h:1/?db=x"),
            ("mongodb://h:1/".to_string(), Some("x".to_string()))
        );
        assert_eq!(
            split_db("mongodb://h:1/?replicaSet=rs&db=x"),
            (
                "mongodb://h:1/?replicaSet=rs".to_string(),
                Some("x".to_string())
            )
        );
        assert_eq!(
            split_db("mongodb://h:1"),
            ("mongodb://h:1".to_string(), None)
        );
    }

    /// A transaction the server gave up on for its size or age is "too large" (retried alone,
    /// then 413 "split the Bundle"), not a 500; an ordinary server error stays one.
    #[test]
    fn transactions_dropped_by_the_server_are_too_large() {
        let command_error = |code: i32, message: &str| {
            let e: mongodb::error::CommandError = mongodb::bson::from_document(doc! {
                "code": code, "codeName": "X", "errmsg": message,
            })
            .unwrap();
            mongodb::error::Error::from(ErrorKind::Command(e))
        };
        for (code, message) in [
            (251, "Transaction with { txnNumber: 7 } has been aborted."),
            (1, "Internal(\"transaction already closed\")"),
            (388, "TransactionTooLargeForCache"),
        ] {
            assert!(
                matches!(
                    classify(command_error(code, message)),
                    StoreError::TransactionTooLarge(_)
                ),
                "{code} {message}"
            );
        }
        assert!(matches!(
            classify(command_error(1, "something else")),
            StoreError::Other(_)
        ));
    }

    #[test]
    fn collections_are_per_partition_and_type() {
        assert_eq!(collection_name(&Partition::Default, "Claim"), "fhir.Claim");
        assert_eq!(
            history_name(&Partition::Payer("PAY001".into()), "Claim"),
            "payer.PAY001.Claim.history"
        );
    }
}
