//! Writes: create, update, patch and delete, plain or conditional, one at a time or as the
//! entries of a transaction — all through one engine, so a single `PUT` and a transaction
//! entry follow the same rules.
//!
//! A set of writes is decided against the current state (ids assigned, conditions searched,
//! `If-Match` checked, references rewritten) and committed in one atomic store commit whose
//! preconditions say "the resources are still at the versions I read". If another writer got
//! in first the whole set is decided again, so versions are never reused or skipped and a
//! stale `If-Match` turns into 412. Conditional creates also hold a write guard keyed by their
//! criteria (see `store::Guard`), so two racing creates with the same criteria make one
//! resource.

use super::conditional::Criteria;
use super::{store_error, Fhir, WRITE_ATTEMPTS};
use crate::fhir::instant;
use crate::fhir::outcome::{ErrorKind, FhirError, FhirResult};
use crate::fhir::references;
use crate::fhir::resource::{check_id, same_content, stamp, validate_value, Resource};
use crate::fhir::search::{extract, params::Registry};
use crate::partition::Partition;
use crate::store::{Guard, Method, StoreError, Version, Write};
use bytes::Bytes;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// Which resource a write is about.
#[derive(Debug)]
pub enum Target {
    Id(String),
    /// The one (or, for delete, every) resource these criteria match.
    Criteria(Criteria),
}

/// A patch document, by media type.
#[derive(Debug, Clone)]
pub enum PatchBody {
    /// `application/json-patch+json` (RFC 6902).
    Json(Bytes),
    /// A FHIRPath Patch `Parameters` resource.
    FhirPath(Value),
    /// `application/merge-patch+json` (RFC 7386; not FHIR, but what some clients send).
    Merge(Bytes),
}

#[derive(Debug)]
pub enum Op {
    Create {
        resource: Resource,
        if_none_exist: Option<Criteria>,
    },
    Update {
        target: Target,
        resource: Resource,
        if_match: Option<u64>,
    },
    Patch {
        target: Target,
        patch: PatchBody,
        if_match: Option<u64>,
    },
    Delete {
        target: Target,
        if_match: Option<u64>,
    },
}

#[derive(Debug)]
pub struct WriteRequest {
    pub resource_type: String,
    /// The Bundle entry's `fullUrl`: references to it are rewritten to the resource's id.
    pub full_url: Option<String>,
    pub op: Op,
}

/// What a write did.
#[derive(Debug, Clone)]
pub enum Outcome {
    Created(Version),
    Updated(Version),
    /// An update or patch that changed nothing: no new version.
    Unchanged(Version),
    /// A conditional create found this resource and created nothing.
    Existing(Version),
    /// The deletions made (none when there was nothing to delete).
    Deleted(Vec<Version>),
}

/// A failed write set: the request (Bundle entry) that failed, when one did, and why.
#[derive(Debug)]
pub struct EntryError {
    pub index: Option<usize>,
    pub error: FhirError,
}

/// Another writer changed what a write set was decided on before it committed.
struct LostRace;

/// What one request will do, decided against the current state.
enum Plan {
    Put {
        id: String,
        current: Option<Version>,
        body: Map<String, Value>,
        method: Method,
    },
    Delete(Vec<Version>),
    Existing(Version),
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

fn check_if_match(
    rt: &str,
    id: &str,
    if_match: Option<u64>,
    current: Option<&Version>,
) -> FhirResult<()> {
    match if_match {
        Some(want) if !matches!(current, Some(c) if !c.is_deleted() && c.version == want) => {
            Err(precondition_failed(rt, id, want, current))
        }
        _ => Ok(()),
    }
}

/// A short, growing pause before deciding a write set again, so that writers that collided
/// do not collide again at once.
async fn backoff(attempt: usize) {
    let jitter = uuid::Uuid::new_v4().as_u128() as u64 % 1000;
    tokio::time::sleep(std::time::Duration::from_micros(
        500 * (attempt as u64 + 1) + jitter,
    ))
    .await;
}

fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn check_update_id(rt: &str, url_id: &str, resource: &Resource) -> FhirResult<()> {
    match resource.id() {
        None => Err(FhirError::at(
            ErrorKind::Invalid,
            format!("{rt}.id"),
            format!("An update must carry the id in the body too; expected \"{url_id}\""),
        )),
        Some(body_id) if body_id != url_id => Err(FhirError::at(
            ErrorKind::Invalid,
            format!("{rt}.id"),
            format!("The id in the body ({body_id}) differs from the id in the URL ({url_id})"),
        )),
        Some(_) => Ok(()),
    }
}

/// Processing order of a transaction (http.html#trules): deletes, creates, updates and
/// patches.
fn phase(op: &Op) -> u8 {
    match op {
        Op::Delete { .. } => 0,
        Op::Create { .. } => 1,
        Op::Update { .. } | Op::Patch { .. } => 2,
    }
}

fn parsed_body(v: &Version) -> FhirResult<Map<String, Value>> {
    match super::stored_json(v)? {
        Value::Object(m) => Ok(m),
        _ => Err(FhirError::new(
            ErrorKind::Internal,
            format!("stored {}/{} is not an object", v.resource_type, v.id),
        )),
    }
}

impl Fhir {
    /// Performs every request, all or nothing, and reports what each did (in request order).
    pub async fn write_all(
        &self,
        p: &Partition,
        requests: &[WriteRequest],
    ) -> Result<Vec<Outcome>, EntryError> {
        for attempt in 0..WRITE_ATTEMPTS {
            match self.try_write_all(p, requests).await? {
                Ok(outcomes) => return Ok(outcomes),
                Err(LostRace) => backoff(attempt).await,
            }
        }
        Err(EntryError {
            index: None,
            error: store_error(StoreError::Conflict),
        })
    }

    /// One write, for the single-resource interactions.
    pub async fn write_one(&self, p: &Partition, request: WriteRequest) -> FhirResult<Outcome> {
        let mut out = self
            .write_all(p, std::slice::from_ref(&request))
            .await
            .map_err(|e| e.error)?;
        Ok(out.remove(0))
    }

    async fn try_write_all(
        &self,
        p: &Partition,
        requests: &[WriteRequest],
    ) -> Result<Result<Vec<Outcome>, LostRace>, EntryError> {
        let at = |index: usize| {
            move |error: FhirError| EntryError {
                index: Some(index),
                error,
            }
        };
        let base = self.base_url(p);
        let mut order: Vec<usize> = (0..requests.len()).collect();
        order.sort_by_key(|&i| phase(&requests[i].op));

        let mut plans: Vec<Option<Plan>> = (0..requests.len()).map(|_| None).collect();
        let mut guards: Vec<Guard> = Vec::new();
        for &i in &order {
            let before = guards.len();
            let plan = self
                .plan(p, &requests[i], &mut guards)
                .await
                .map_err(at(i))?;
            // Two creates on the same criteria in one set would each find nothing and make
            // two resources (and their guard can be bumped only once).
            if let Some(g) = guards.get(before) {
                if guards[..before].iter().any(|h| h.key == g.key) {
                    return Err(at(i)(FhirError::invalid(format!(
                        "Another entry of this transaction already creates a resource conditionally on '{}'",
                        g.key
                    ))));
                }
            }
            plans[i] = Some(plan);
        }
        let mut plans: Vec<Plan> = plans.into_iter().flatten().collect();

        // Every resource changes at most once in a set (http.html#trules: overlapping
        // identities fail the transaction).
        let mut changed: HashMap<(&str, &str), usize> = HashMap::new();
        let mut links = references::Links::default();
        for (i, (req, plan)) in requests.iter().zip(&plans).enumerate() {
            let rt = req.resource_type.as_str();
            let ids: Vec<&str> = match plan {
                Plan::Put { id, .. } => vec![id],
                Plan::Delete(vs) => vs.iter().map(|v| v.id.as_str()).collect(),
                Plan::Existing(_) => vec![],
            };
            for id in ids {
                if let Some(j) = changed.insert((rt, id), i) {
                    return Err(at(i)(FhirError::invalid(format!(
                        "Bundle.entry[{j}] and Bundle.entry[{i}] both change {rt}/{id}; a transaction may change a resource only once"
                    ))));
                }
            }
            let id = match plan {
                Plan::Put { id, .. } => Some(id.as_str()),
                Plan::Existing(v) => Some(v.id.as_str()),
                Plan::Delete(_) => None,
            };
            if let (Some(url), Some(id)) = (&req.full_url, id) {
                links.insert(url, format!("{rt}/{id}"));
            }
        }

        let mut bodies: Vec<Option<Value>> = plans
            .iter_mut()
            .map(|plan| match plan {
                Plan::Put { body, .. } => Some(Value::Object(std::mem::take(body))),
                _ => None,
            })
            .collect();
        for (i, body) in bodies.iter().enumerate() {
            let Some(body) = body else { continue };
            for reference in references::conditional_references(body) {
                if links.contains(&reference) {
                    continue;
                }
                let criteria =
                    Criteria::parse_url(&reference, "conditional reference").map_err(at(i))?;
                let found = self
                    .matching_one(p, &criteria, "conditional reference")
                    .await
                    .map_err(at(i))?;
                links.insert(&reference, format!("{}/{}", found.resource_type, found.id));
            }
        }
        for (req, body) in requests.iter().zip(bodies.iter_mut()) {
            if let Some(body) = body {
                let base = req.full_url.as_deref().and_then(references::base_of);
                references::rewrite(body, &links, base);
            }
        }

        let mut writes = Vec::new();
        let mut outcomes = Vec::with_capacity(plans.len());
        for ((req, plan), body) in requests.iter().zip(plans).zip(bodies) {
            let rt = &req.resource_type;
            let outcome = match plan {
                Plan::Existing(v) => Outcome::Existing(v),
                Plan::Delete(current) => {
                    let mut deleted = Vec::with_capacity(current.len());
                    for c in current {
                        let v = self.new_version(rt, &c.id, c.version + 1, Method::Delete, None);
                        writes.push(Write {
                            expected: Some(c.version),
                            version: v.clone(),
                            index: Vec::new(),
                        });
                        deleted.push(v);
                    }
                    Outcome::Deleted(deleted)
                }
                Plan::Put {
                    id,
                    current,
                    method,
                    ..
                } => {
                    let Some(value) = body else {
                        unreachable!("every Put has a body")
                    };
                    let index = extract::extract(
                        Registry::r4(),
                        rt,
                        &value,
                        &base,
                        self.limits.content_search,
                    );
                    let Value::Object(body) = value else {
                        unreachable!("bodies are objects")
                    };
                    let resource = Resource {
                        resource_type: rt.clone(),
                        body,
                    };
                    let live = current.as_ref().filter(|c| !c.is_deleted());
                    if let Some(c) = live {
                        let old =
                            parsed_body(c).map_err(|error| EntryError { index: None, error })?;
                        if same_content(&old, &resource.body) {
                            outcomes.push(Outcome::Unchanged(c.clone()));
                            continue;
                        }
                    }
                    let number = current.as_ref().map_or(1, |c| c.version + 1);
                    let v = self.new_version(rt, &id, number, method, Some(&resource));
                    writes.push(Write {
                        expected: current.as_ref().map(|c| c.version),
                        version: v.clone(),
                        index,
                    });
                    if live.is_some() {
                        Outcome::Updated(v)
                    } else {
                        Outcome::Created(v)
                    }
                }
            };
            outcomes.push(outcome);
        }
        if !writes.is_empty() || !guards.is_empty() {
            match self.store.commit_guarded(p, writes, guards).await {
                Ok(()) => {}
                Err(StoreError::Conflict) => return Ok(Err(LostRace)),
                Err(e) => {
                    return Err(EntryError {
                        index: None,
                        error: store_error(e),
                    })
                }
            }
        }
        Ok(Ok(outcomes))
    }

    /// Decides what one request does. Conditional creates add the guard they depend on.
    async fn plan(
        &self,
        p: &Partition,
        req: &WriteRequest,
        guards: &mut Vec<Guard>,
    ) -> FhirResult<Plan> {
        let rt = req.resource_type.as_str();
        match &req.op {
            Op::Create {
                resource,
                if_none_exist,
            } => {
                if let Some(criteria) = if_none_exist {
                    let n = self.guard(p, &criteria.key).await?;
                    let mut found = self.matching(p, criteria, 1).await?;
                    match found.len() {
                        0 => guards.push(Guard {
                            key: criteria.key.clone(),
                            expected: n,
                        }),
                        1 => return Ok(Plan::Existing(found.remove(0))),
                        _ => {
                            return Err(FhirError::new(
                                ErrorKind::PreconditionFailed,
                                format!(
                                    "If-None-Exist '{}' matches more than one resource",
                                    criteria.key
                                ),
                            ))
                        }
                    }
                }
                Ok(Plan::Put {
                    id: new_id(),
                    current: None,
                    body: resource.body.clone(),
                    method: Method::Post,
                })
            }
            Op::Update {
                target,
                resource,
                if_match,
            } => {
                let (id, current) = match target {
                    Target::Id(id) => {
                        check_id(id)?;
                        check_update_id(rt, id, resource)?;
                        (id.clone(), self.current_version(p, rt, id).await?)
                    }
                    Target::Criteria(criteria) => {
                        let n = self.guard(p, &criteria.key).await?;
                        let mut found = self.matching(p, criteria, 1).await?;
                        match found.len() {
                            0 => {
                                guards.push(Guard {
                                    key: criteria.key.clone(),
                                    expected: n,
                                });
                                match resource.id() {
                                    Some(id) => {
                                        (id.to_string(), self.current_version(p, rt, id).await?)
                                    }
                                    None => (new_id(), None),
                                }
                            }
                            1 => {
                                let v = found.remove(0);
                                if resource.id().is_some_and(|b| b != v.id) {
                                    return Err(FhirError::at(
                                        ErrorKind::Invalid,
                                        format!("{rt}.id"),
                                        format!(
                                            "The id in the body differs from the id of the resource the criteria match ({})",
                                            v.id
                                        ),
                                    ));
                                }
                                (v.id.clone(), Some(v))
                            }
                            _ => {
                                return Err(FhirError::new(
                                    ErrorKind::PreconditionFailed,
                                    format!(
                                    "The conditional update '{}' matches more than one resource",
                                    criteria.key
                                ),
                                ))
                            }
                        }
                    }
                };
                check_if_match(rt, &id, *if_match, current.as_ref())?;
                Ok(Plan::Put {
                    id,
                    current,
                    body: resource.body.clone(),
                    method: Method::Put,
                })
            }
            Op::Patch {
                target,
                patch,
                if_match,
            } => {
                let current = match target {
                    Target::Id(id) => {
                        check_id(id)?;
                        match self.current_version(p, rt, id).await? {
                            None => {
                                return Err(FhirError::not_found(format!(
                                    "{rt}/{id} does not exist, so it cannot be patched"
                                )))
                            }
                            Some(v) if v.is_deleted() => {
                                return Err(FhirError::new(
                                    ErrorKind::Gone,
                                    format!("{rt}/{id} was deleted, so it cannot be patched"),
                                ))
                            }
                            Some(v) => v,
                        }
                    }
                    Target::Criteria(criteria) => {
                        let mut found = self.matching(p, criteria, 1).await?;
                        match found.len() {
                            0 => {
                                return Err(FhirError::not_found(format!(
                                    "The conditional patch '{}' matches no resource",
                                    criteria.key
                                )))
                            }
                            1 => found.remove(0),
                            _ => {
                                return Err(FhirError::new(
                                    ErrorKind::PreconditionFailed,
                                    format!(
                                        "The conditional patch '{}' matches more than one resource",
                                        criteria.key
                                    ),
                                ))
                            }
                        }
                    }
                };
                check_if_match(rt, &current.id, *if_match, Some(&current))?;
                let body = patched(&current, patch)?;
                Ok(Plan::Put {
                    id: current.id.clone(),
                    current: Some(current),
                    body,
                    method: Method::Patch,
                })
            }
            Op::Delete { target, if_match } => {
                let current = match target {
                    Target::Id(id) => {
                        check_id(id)?;
                        let current = self.current_version(p, rt, id).await?;
                        check_if_match(rt, id, *if_match, current.as_ref())?;
                        current.into_iter().collect()
                    }
                    Target::Criteria(criteria) => {
                        let max = self.limits.max_conditional_delete;
                        let found = self.matching(p, criteria, max).await?;
                        if found.len() > max {
                            return Err(FhirError::new(
                                ErrorKind::PreconditionFailed,
                                format!(
                                    "The conditional delete '{}' matches more than {max} resources; this server deletes at most {max} at once",
                                    criteria.key
                                ),
                            ));
                        }
                        if let (Some(want), [one]) = (if_match, found.as_slice()) {
                            check_if_match(rt, &one.id, Some(*want), Some(one))?;
                        }
                        found
                    }
                };
                Ok(Plan::Delete(
                    current.into_iter().filter(|v| !v.is_deleted()).collect(),
                ))
            }
        }
    }

    async fn current_version(
        &self,
        p: &Partition,
        rt: &str,
        id: &str,
    ) -> FhirResult<Option<Version>> {
        self.store.current(p, rt, id).await.map_err(store_error)
    }

    async fn guard(&self, p: &Partition, key: &str) -> FhirResult<u64> {
        self.store.guard(p, key).await.map_err(store_error)
    }

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
}

/// The current resource with a patch applied, validated like any incoming resource.
fn patched(current: &Version, patch: &PatchBody) -> FhirResult<Map<String, Value>> {
    let before = super::stored_json(current)?;
    let after = match patch {
        PatchBody::Json(doc) => crate::fhir::patch::apply_json_patch(&before, doc)?,
        PatchBody::FhirPath(params) => crate::fhir::patch::apply_fhirpath_patch(&before, params)?,
        PatchBody::Merge(doc) => crate::fhir::patch::apply_merge_patch(&before, doc)?,
    };
    if after.get("id") != before.get("id") {
        return Err(FhirError::at(
            ErrorKind::Unprocessable,
            format!("{}.id", current.resource_type),
            "A patch cannot change the id of a resource",
        ));
    }
    if after.get("resourceType") != before.get("resourceType") {
        return Err(FhirError::at(
            ErrorKind::Unprocessable,
            "resourceType",
            "A patch cannot change the type of a resource",
        ));
    }
    let resource = validate_value(after).map_err(|mut e| {
        if e.kind == ErrorKind::Invalid {
            e.kind = ErrorKind::Unprocessable;
        }
        e.issues.iter_mut().for_each(|i| {
            i.diagnostics = format!("The patched resource is not valid: {}", i.diagnostics)
        });
        e
    })?;
    Ok(resource.body)
}
