//! Persistence behind one trait, with an embedded SQLite backend and a MongoDB backend.
//!
//! The store knows nothing of HTTP, SMART or FHIR validation: it keeps versions of opaque JSON
//! documents per (partition, type, id) and answers history. Version numbering and conflict
//! policy live above it; the store only guarantees that a commit is atomic and that its
//! compare-and-set preconditions hold at commit time.

pub mod mongo;
mod mongo_first_reads;
mod mongo_keys;
mod mongo_layout;
mod mongo_lookups;
mod mongo_search;
mod mongo_sort_indexes;
mod mongo_windows;
mod search_common;
pub use search_common::merge_pages;
pub mod sqlite;
pub mod sqlite_search;

use crate::fhir::search::query::{Cond, SortValue, StoreFilter, StoreQuery};
use crate::fhir::search::IndexEntry;
use crate::partition::Partition;
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;

/// What kind of interaction produced a version (history bundles report it as `request.method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        match s {
            "POST" => Some(Method::Post),
            "PUT" => Some(Method::Put),
            "PATCH" => Some(Method::Patch),
            "DELETE" => Some(Method::Delete),
            _ => None,
        }
    }
}

/// One version of one resource.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    pub resource_type: String,
    pub id: String,
    pub version: u64,
    /// `meta.lastUpdated` in microseconds since the epoch.
    pub last_updated: i64,
    pub method: Method,
    /// The resource as stored (compact JSON with `meta` stamped); `None` for a deletion.
    pub body: Option<Bytes>,
}

impl Version {
    pub fn is_deleted(&self) -> bool {
        self.body.is_none()
    }
}

/// A new version to write, valid only if the resource's current version is still `expected`
/// (`None`: the resource must never have existed in this partition).
#[derive(Debug, Clone)]
pub struct Write {
    pub expected: Option<u64>,
    pub version: Version,
    /// The search index entries of the new version (empty for a deletion); they replace the
    /// resource's previous entries in the same atomic commit.
    pub index: Vec<IndexEntry>,
}

/// A compare-and-set counter committed together with writes. Writers that decide from a search
/// (a conditional create finding no match) read the counter before searching and commit only
/// if it is unchanged, bumping it: of two such writers with the same criteria one fails with
/// `Conflict`, searches again and finds what the other created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    pub key: String,
    /// The counter's value when it was read (0: never bumped).
    pub expected: u64,
}

/// One search result: the current version and its sort values (in `StoreQuery::sort` order),
/// from which the next page's cursor is made.
#[derive(Debug, Clone)]
pub struct Match {
    pub version: Version,
    pub sort: Vec<SortValue>,
}

#[derive(Debug, Clone, Copy)]
pub enum HistoryScope<'a> {
    System,
    Type(&'a str),
    Instance(&'a str, &'a str),
}

/// Position in a history listing: the last entry of the previous page. History is ordered
/// newest first by (last_updated, resource_type, id, version), all descending, so a cursor is
/// a stable keyset bound that stays right when new versions arrive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryCursor {
    pub last_updated: i64,
    pub resource_type: String,
    pub id: String,
    pub version: u64,
}

impl HistoryCursor {
    pub fn after(v: &Version) -> HistoryCursor {
        HistoryCursor {
            last_updated: v.last_updated,
            resource_type: v.resource_type.clone(),
            id: v.id.clone(),
            version: v.version,
        }
    }

    /// Opaque text for a paging link. FHIR ids and type names never contain `_`.
    pub fn encode(&self) -> String {
        format!(
            "{}_{}_{}_{}",
            self.last_updated, self.resource_type, self.version, self.id
        )
    }

    pub fn decode(s: &str) -> Option<HistoryCursor> {
        let mut parts = s.splitn(4, '_');
        let last_updated = parts.next()?.parse().ok()?;
        let resource_type = parts.next()?.to_string();
        let version = parts.next()?.parse().ok()?;
        let id = parts.next()?.to_string();
        Some(HistoryCursor {
            last_updated,
            resource_type,
            id,
            version,
        })
    }

    /// True when `v` sorts strictly after this cursor (i.e. belongs on a later page).
    pub fn is_before(&self, v: &Version) -> bool {
        (
            v.last_updated,
            v.resource_type.as_str(),
            v.id.as_str(),
            v.version,
        ) < (
            self.last_updated,
            self.resource_type.as_str(),
            self.id.as_str(),
            self.version,
        )
    }
}

#[derive(Debug, Clone)]
pub struct HistoryQuery {
    /// Only versions with `last_updated >= since`.
    pub since: Option<i64>,
    pub after: Option<HistoryCursor>,
    /// At most this many versions are returned.
    pub limit: usize,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A precondition of a commit no longer held: someone else wrote first.
    #[error("the resource was changed concurrently")]
    Conflict,
    /// The database cannot be reached or refused for a transient reason; retrying may work.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The resource is larger than the backend can hold.
    #[error("too large to store: {0}")]
    TooLarge(String),
    /// The query would make the database do more work than it is allowed (an in-memory sort
    /// of too many matches): the client must narrow it.
    #[error("too costly: {0}")]
    TooCostly(String),
    /// The commit as a whole is more than the database can hold in one transaction.
    #[error("transaction too large: {0}")]
    TransactionTooLarge(String),
    #[error("store failure: {0}")]
    Other(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[async_trait]
pub trait Store: Send + Sync {
    /// The current version (possibly a deletion) of a resource, if it ever existed.
    async fn current(
        &self,
        partition: &Partition,
        resource_type: &str,
        id: &str,
    ) -> StoreResult<Option<Version>>;

    async fn version(
        &self,
        partition: &Partition,
        resource_type: &str,
        id: &str,
        version: u64,
    ) -> StoreResult<Option<Version>>;

    /// Writes every version, each becoming its resource's current version and a history entry,
    /// all or nothing. Fails with `Conflict` if any `expected` no longer holds.
    async fn commit(&self, partition: &Partition, writes: Vec<Write>) -> StoreResult<()> {
        self.commit_guarded(partition, writes, Vec::new()).await
    }

    /// `commit`, also failing with `Conflict` unless every guard still has its `expected`
    /// value, and bumping each guard by one in the same atomic commit.
    async fn commit_guarded(
        &self,
        partition: &Partition,
        writes: Vec<Write>,
        guards: Vec<Guard>,
    ) -> StoreResult<()>;

    /// The current value of a guard (0 when it was never bumped).
    async fn guard(&self, partition: &Partition, key: &str) -> StoreResult<u64>;

    /// Versions newest first (see `HistoryCursor` for the order).
    async fn history(
        &self,
        partition: &Partition,
        scope: HistoryScope<'_>,
        query: &HistoryQuery,
    ) -> StoreResult<Vec<Version>>;

    /// The resource types of which a partition holds any version (deleted ones included).
    async fn resource_types(&self, partition: &Partition) -> StoreResult<Vec<String>>;

    /// Current, not deleted resources matching `query` in its order (see `StoreQuery`).
    async fn search(&self, partition: &Partition, query: &StoreQuery) -> StoreResult<Vec<Match>>;

    /// How many current, not deleted resources match `query` (its sort, cursor and limit are
    /// ignored).
    async fn count(&self, partition: &Partition, query: &StoreQuery) -> StoreResult<u64>;

    /// Whether some current resource of `resource_type` may satisfy one of `any` (ORed):
    /// `false` only when none does. The question a search asks before it adds a costlier
    /// alternative (a chain read inside contained resources): no order, no page, so a store
    /// may answer it from one index probe and err on the side of `true`.
    async fn may_match(
        &self,
        partition: &Partition,
        resource_type: &str,
        any: &[Cond],
    ) -> StoreResult<bool> {
        Ok(!self
            .search(partition, &first_of(resource_type, any))
            .await?
            .is_empty())
    }

    /// The types of which some resource contains resources of type `contained`, each with
    /// the most such resources one of them has held, sorted by type. A record kept with
    /// every commit and `reindex` from the index entries' `_contained` markers, never
    /// shrunk: a superset of what is stored now (resources written before the record existed
    /// appear after a `$reindex`).
    async fn containers_of(
        &self,
        partition: &Partition,
        contained: &str,
    ) -> StoreResult<Vec<(String, usize)>>;

    /// The current, not deleted versions of the given (type, id) pairs that exist, in any
    /// order (for `_include`).
    async fn read_many(
        &self,
        partition: &Partition,
        refs: &[(String, String)],
    ) -> StoreResult<Vec<Version>>;

    /// Replaces the index entries of a resource whose current version is still `version`
    /// (`$reindex`); `false` when it is not (it was written or deleted since).
    async fn reindex(
        &self,
        partition: &Partition,
        resource_type: &str,
        id: &str,
        version: u64,
        index: Vec<IndexEntry>,
    ) -> StoreResult<bool>;

    /// Called after `$reindex` rewrote every resource of a type (`Some`) or of the partition
    /// (`None`): a store may then rely on index fields that older builds did not write.
    async fn reindexed(
        &self,
        _partition: &Partition,
        _resource_type: Option<&str>,
    ) -> StoreResult<()> {
        Ok(())
    }

    /// Flushes and releases the database. Called once, at shutdown.
    async fn close(&self);
}

/// Opens the store a `--store` spec names: `sqlite:DIR` or a `mongodb://` / `mongodb+srv://` URI
/// (its `db` query parameter names the database, default `fhird`).
/// The query of `may_match` as a search: the first resource of `resource_type` satisfying
/// one of `any`.
pub(crate) fn first_of(resource_type: &str, any: &[Cond]) -> StoreQuery {
    let filter = StoreFilter {
        any: any.to_vec(),
        negate: false,
    };
    StoreQuery::of_type(resource_type, vec![filter], 1)
}

pub async fn open(spec: &str) -> anyhow::Result<Arc<dyn Store>> {
    if let Some(dir) = spec.strip_prefix("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(dir)?))
    } else if spec.starts_with("mongodb://") || spec.starts_with("mongodb+srv://") {
        Ok(Arc::new(mongo::MongoStore::connect(spec).await?))
    } else {
        anyhow::bail!("unknown store '{spec}': use sqlite:DIR or mongodb://HOST:PORT/?db=NAME")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trip() {
        let c = HistoryCursor {
            last_updated: 17,
            resource_type: "Patient".into(),
            id: "a-b.c".into(),
            version: 3,
        };
        assert_eq!(HistoryCursor::decode(&c.encode()), Some(c));
        assert_eq!(HistoryCursor::decode("x"), None);
    }
}
