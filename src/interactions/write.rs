//! create, update and delete: version numbering and optimistic concurrency.
//!
//! Every write reads the current version, prepares the next one and commits it on the condition
//! that the current version is still the one it read. If another writer got in first, an
//! unconditional write starts again (so versions are never reused or skipped) and a write with
//! `If-Match` fails with 412.

use super::{store_error, Fhir, WRITE_ATTEMPTS};
use crate::fhir::instant;
use crate::fhir::outcome::{ErrorKind, FhirError, FhirResult};
use crate::fhir::resource::{check_id, check_resource_type, same_content, stamp, Resource};
use crate::fhir::search::{extract, params::Registry, IndexEntry};
use crate::partition::Partition;
use crate::store::{Method, StoreError, Version, Write};
use bytes::Bytes;
use serde_json::{Map, Value};

#[derive(Debug, Clone)]
pub struct Written {
    pub version: Version,
    /// The resource did not exist (or was deleted) before this write.
    pub created: bool,
}

fn precondition_failed(rt: &str, id: &str, want: u64, have: Option<&Version>) -> FhirError {
    let have = match have {
        None => "it does not exist".to_string(),
        Some(v) if v.is_deleted() => format!("it was deleted in version {}", v.version),
        Some(v) => format!("its current version is {}", v.version),
    };
    FhirError::new(
        ErrorKind::PreconditionFailed,
        format!("If-Match asked for version {want} of {rt}/{id}, but {have}"),
    )
}

/// A short, growing pause before retrying a write that lost a race, so that retries of
/// several writers do not collide again at once.
async fn backoff(attempt: usize) {
    let jitter = uuid::Uuid::new_v4().as_u128() as u64 % 1000;
    tokio::time::sleep(std::time::Duration::from_micros(
        500 * (attempt as u64 + 1) + jitter,
    ))
    .await;
}

/// The search index entries of a resource about to be written.
fn index_of(resource: &Resource) -> Vec<IndexEntry> {
    let value = Value::Object(resource.body.clone());
    extract::extract(Registry::r4(), &resource.resource_type, &value)
}

fn check_body_type(rt: &str, resource: &Resource) -> FhirResult<()> {
    if resource.resource_type != rt {
        return Err(FhirError::at(
            ErrorKind::Invalid,
            "resourceType",
            format!(
                "The body is a {} but the URL is for {rt}",
                resource.resource_type
            ),
        ));
    }
    Ok(())
}

impl Fhir {
    fn new_version(
        &self,
        rt: &str,
        id: &str,
        number: u64,
        method: Method,
        body: Option<&Resource>,
    ) -> Version {
        let t = instant::next_micros();
        let body = body.map(|r| Bytes::from(stamp(r, id, number, &instant::to_fhir_instant(t))));
        Version {
            resource_type: rt.to_string(),
            id: id.to_string(),
            version: number,
            last_updated: t,
            method,
            body,
        }
    }

    async fn commit_one(
        &self,
        p: &Partition,
        expected: Option<u64>,
        version: Version,
        index: Vec<IndexEntry>,
    ) -> Result<Version, StoreError> {
        self.store
            .commit(
                p,
                vec![Write {
                    expected,
                    version: version.clone(),
                    index,
                }],
            )
            .await
            .map(|()| version)
    }

    /// `POST [type]`: a new resource with a server-assigned id. An id in the body is ignored,
    /// as the specification requires.
    pub async fn create(&self, p: &Partition, rt: &str, resource: Resource) -> FhirResult<Written> {
        check_resource_type(rt)?;
        check_body_type(rt, &resource)?;
        let index = index_of(&resource);
        for attempt in 0..WRITE_ATTEMPTS {
            let id = uuid::Uuid::new_v4().to_string();
            let v = self.new_version(rt, &id, 1, Method::Post, Some(&resource));
            match self.commit_one(p, None, v, index.clone()).await {
                Ok(version) => {
                    return Ok(Written {
                        version,
                        created: true,
                    })
                }
                Err(StoreError::Conflict) => backoff(attempt).await,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(store_error(StoreError::Conflict))
    }

    /// `PUT [type]/[id]`: update, or create with the client's id.
    pub async fn update(
        &self,
        p: &Partition,
        rt: &str,
        id: &str,
        resource: Resource,
        if_match: Option<u64>,
    ) -> FhirResult<Written> {
        check_resource_type(rt)?;
        check_id(id)?;
        check_body_type(rt, &resource)?;
        match resource.id() {
            None => {
                return Err(FhirError::at(
                    ErrorKind::Invalid,
                    format!("{rt}.id"),
                    format!("An update must carry the id in the body too; expected \"{id}\""),
                ))
            }
            Some(body_id) if body_id != id => {
                return Err(FhirError::at(
                    ErrorKind::Invalid,
                    format!("{rt}.id"),
                    format!("The id in the body ({body_id}) differs from the id in the URL ({id})"),
                ))
            }
            Some(_) => {}
        }
        let index = index_of(&resource);
        for attempt in 0..WRITE_ATTEMPTS {
            let current = self.store.current(p, rt, id).await.map_err(store_error)?;
            if let Some(want) = if_match {
                if !matches!(&current, Some(c) if !c.is_deleted() && c.version == want) {
                    return Err(precondition_failed(rt, id, want, current.as_ref()));
                }
            }
            if let Some(c) = &current {
                if let Some(body) = &c.body {
                    let old: Map<String, Value> = serde_json::from_slice(body).unwrap_or_default();
                    if same_content(&old, &resource.body) {
                        return Ok(Written {
                            version: c.clone(),
                            created: false,
                        });
                    }
                }
            }
            let created = current.as_ref().is_none_or(Version::is_deleted);
            let number = current.as_ref().map_or(1, |c| c.version + 1);
            let v = self.new_version(rt, id, number, Method::Put, Some(&resource));
            match self
                .commit_one(p, current.map(|c| c.version), v, index.clone())
                .await
            {
                Ok(version) => return Ok(Written { version, created }),
                Err(StoreError::Conflict) if if_match.is_some() => {
                    return Err(FhirError::new(
                        ErrorKind::PreconditionFailed,
                        format!(
                            "{rt}/{id} was changed by another request after version {}",
                            if_match.unwrap_or_default()
                        ),
                    ))
                }
                Err(StoreError::Conflict) => backoff(attempt).await,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(store_error(StoreError::Conflict))
    }

    /// `DELETE [type]/[id]`: a logical delete (a new version that marks the resource deleted;
    /// history keeps every earlier version). Returns the deletion, or `None` when there was
    /// nothing to delete (the specification makes delete idempotent).
    pub async fn delete(
        &self,
        p: &Partition,
        rt: &str,
        id: &str,
        if_match: Option<u64>,
    ) -> FhirResult<Option<Version>> {
        check_resource_type(rt)?;
        check_id(id)?;
        for attempt in 0..WRITE_ATTEMPTS {
            let current = self.store.current(p, rt, id).await.map_err(store_error)?;
            if let Some(want) = if_match {
                if !matches!(&current, Some(c) if !c.is_deleted() && c.version == want) {
                    return Err(precondition_failed(rt, id, want, current.as_ref()));
                }
            }
            let Some(current) = current.filter(|c| !c.is_deleted()) else {
                return Ok(None);
            };
            let v = self.new_version(rt, id, current.version + 1, Method::Delete, None);
            match self
                .commit_one(p, Some(current.version), v, Vec::new())
                .await
            {
                Ok(version) => return Ok(Some(version)),
                Err(StoreError::Conflict) if if_match.is_some() => {
                    return Err(FhirError::new(
                        ErrorKind::PreconditionFailed,
                        format!("{rt}/{id} was changed by another request"),
                    ))
                }
                Err(StoreError::Conflict) => backoff(attempt).await,
                Err(e) => return Err(store_error(e)),
            }
        }
        Err(store_error(StoreError::Conflict))
    }
}
