//! The FHIR interactions (read, vread, create, update, delete, history, capabilities) over a
//! store. Knows FHIR rules and version policy; knows nothing of HTTP.

mod bundle;
mod chains;
mod conditional;
mod contained;
mod history;
mod read;
mod reindex;
mod search;
mod terminology;
mod write;

pub use bundle::Return;
pub use chains::CHAIN_CAP;
pub use conditional::Criteria;
pub use history::HistoryRequest;
pub use search::{SearchScope, INCLUDE_CAP};
pub use write::{EntryError, Op, Outcome, PatchBody, Target, WriteRequest};

use crate::fhir::outcome::{ErrorKind, FhirError, FhirResult};
use crate::fhir::{capability, payer, resource};
use crate::partition::Partition;
use crate::store::{Store, StoreError};
use serde_json::Value;
use std::sync::Arc;

/// How often an unconditional write is retried when another writer got in first.
const WRITE_ATTEMPTS: usize = 20;

#[derive(Debug, Clone)]
pub struct Limits {
    /// `_count` default and ceiling for history pages.
    pub default_count: usize,
    pub max_count: usize,
    /// Most resources one conditional delete removes (more: 412).
    pub max_conditional_delete: usize,
    /// Most entries in a batch or transaction Bundle (more: 413).
    pub max_bundle_entries: usize,
    /// Most resources a chain or `_has` criterion may go through when neither it nor the rest
    /// of the search matches at most `CHAIN_CAP` (more: 400).
    pub max_chain_sweep: usize,
    /// Whether `_content` is indexed and searchable. Off by default: its words outnumber the
    /// entries of all other parameters together (docs/search.md "Text search"), a cost every
    /// write would pay for a search few clients send.
    pub content_search: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            default_count: 20,
            max_count: 1000,
            max_conditional_delete: 1000,
            max_bundle_entries: 10_000,
            max_chain_sweep: 20_000,
            content_search: false,
        }
    }
}

pub struct Fhir {
    store: Arc<dyn Store>,
    /// Public root URL without a trailing slash; a partition's FHIR base is root + base path.
    root_url: String,
    limits: Limits,
}

fn store_error(e: StoreError) -> FhirError {
    match e {
        StoreError::Conflict => FhirError::new(
            ErrorKind::Conflict,
            "The resource was changed by another request at the same time; retry",
        ),
        StoreError::Unavailable(m) => FhirError::new(
            ErrorKind::Unavailable,
            format!("The database is unavailable, try again later ({m})"),
        ),
        StoreError::TransactionTooLarge(m) => FhirError::new(
            ErrorKind::TooLarge,
            format!("The database cannot commit this many changes in one transaction ({m}); split the Bundle into smaller ones"),
        ),
        StoreError::TooLarge(m) => FhirError::new(
            ErrorKind::TooLarge,
            format!("The resource is too large for this server's database: {m}"),
        ),
        StoreError::TooCostly(m) => {
            let mut e = FhirError::invalid(m);
            e.issues[0].code = "too-costly";
            e
        }
        StoreError::Other(m) => {
            // The message can hold a whole SQL statement (megabytes for a large query): the
            // log keeps it, the client gets its start.
            tracing::error!(error = %m, "database error");
            let mut end = m.len().min(300);
            while !m.is_char_boundary(end) {
                end -= 1;
            }
            let more = if end < m.len() { "…" } else { "" };
            FhirError::new(
                ErrorKind::Internal,
                format!("Database error: {}{more}", &m[..end]),
            )
        }
    }
}

/// The stored JSON of a version (an empty object for a deletion). Stored bodies were written
/// by this server, so a failure here is the server's fault (500).
fn stored_json(v: &crate::store::Version) -> FhirResult<Value> {
    serde_json::from_slice(v.body.as_deref().unwrap_or(b"{}")).map_err(|e| {
        FhirError::new(
            ErrorKind::Internal,
            format!("stored {}/{} is not JSON: {e}", v.resource_type, v.id),
        )
    })
}

impl Fhir {
    pub fn new(store: Arc<dyn Store>, root_url: &str, limits: Limits) -> Fhir {
        Fhir {
            store,
            root_url: root_url.trim_end_matches('/').to_string(),
            limits,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// How search parameters are parsed for a partition (its base decides which absolute
    /// references are local).
    fn parse_options<'a>(
        &self,
        base: &'a str,
        lenient: bool,
    ) -> crate::fhir::search::query::ParseOptions<'a> {
        crate::fhir::search::query::ParseOptions {
            base_url: base,
            default_count: self.limits.default_count,
            max_count: self.limits.max_count,
            lenient,
            content_search: self.limits.content_search,
        }
    }

    /// The FHIR base URL of a partition, e.g. `http://host/payer/PAY001/fhir`.
    pub fn base_url(&self, p: &Partition) -> String {
        format!("{}{}", self.root_url, p.base_path())
    }

    /// The payer partition `id`, which exists while the default partition holds a payer
    /// Organization with that id.
    pub async fn payer_partition(&self, id: &str) -> FhirResult<Partition> {
        let unknown = || FhirError::not_found(format!("There is no payer partition '{id}'"));
        if !resource::is_valid_id(id) {
            return Err(unknown());
        }
        let org = self
            .store
            .current(&Partition::Default, "Organization", id)
            .await
            .map_err(store_error)?;
        let is_payer = org
            .and_then(|v| v.body)
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .is_some_and(|o| payer::is_payer_organization(&o));
        if is_payer {
            Ok(Partition::Payer(id.to_string()))
        } else {
            Err(unknown())
        }
    }

    pub fn capabilities(&self, p: &Partition) -> Value {
        capability::capability_statement(&self.base_url(p), self.limits.content_search)
    }
}
