//! `_contained` (search.html "Contained Resources"): searching the resources held inside
//! others. Extraction indexes each contained resource under its container, in a slot of its
//! own (`extract::contained_slot_prefix`: the second contained Medication's code is
//! `_contained1:Medication.code`), with a marker entry per slot (`extract::CONTAINED_SLOTS`).
//! `Medication?code=X&form=Y&_contained=true` is then a search of the containers: those with
//! some slot `n` whose Medication has code X and form Y. That OR of ANDs over the slots is
//! handed to the store as the AND of ORs it evaluates (each clause takes one criterion of
//! every slot), so two criteria are always met by one contained resource, not by two of one
//! container. The stores record which types contain which and at most how many
//! (`Store::containers_of`); the clauses are capped, and past the cap the slots in use now
//! are counted by index probes before the search is refused.

use super::{store_error, stored_json, Fhir};
use crate::fhir::outcome::{FhirError, FhirResult};
use crate::fhir::search::extract::{
    contained_slot_prefix, CONTAINED_OVERFLOW, CONTAINED_SLOTS, MAX_CONTAINED_SLOTS,
};
use crate::fhir::search::query::{
    Cond, Criterion, SearchRequest, SortKey, StoreFilter, StoreQuery, SystemMatch,
};
use crate::fhir::search::text;
use crate::partition::Partition;
use crate::store::Version;
use serde_json::Value;

/// Most clauses the slots of one `_contained` search may become (criteria ^ slots): a
/// search of two criteria over containers with up to six Medications each is 64.
pub const MAX_CONTAINED_CLAUSES: usize = 64;

/// Where the contained resources of the searched type are, and what one must meet.
pub(super) struct ContainedPlan {
    /// The types recorded as containing resources of the searched type (a superset of
    /// those that do now), sorted.
    pub types: Vec<String>,
    /// Per slot in use, the filters (ANDed) that the contained resource in that slot meets.
    pub slots: Vec<Vec<StoreFilter>>,
    /// The container types of which some resource holds more resources of the searched
    /// type than it indexes (`MAX_CONTAINED_SLOTS`): those past it are not searched.
    pub partial: Vec<String>,
}

impl ContainedPlan {
    /// The containers' filters: some slot meets all of its own, as the AND of ORs of one
    /// filter of each slot (distributing the OR over the ANDs).
    pub fn filters(&self) -> Vec<StoreFilter> {
        let mut clauses: Vec<Vec<Cond>> = vec![Vec::new()];
        for slot in &self.slots {
            let mut next = Vec::with_capacity(clauses.len() * slot.len());
            for clause in &clauses {
                for f in slot {
                    let mut c = clause.clone();
                    c.extend(f.any.iter().cloned());
                    next.push(c);
                }
            }
            clauses = next;
        }
        clauses
            .into_iter()
            .map(|any| StoreFilter { any, negate: false })
            .collect()
    }

    /// The query of the containers whose slot `slot` meets its filters.
    pub fn slot_query(&self, slot: usize, limit: usize) -> StoreQuery {
        StoreQuery {
            resource_types: self.types.clone(),
            filters: self.slots[slot].clone(),
            sort: Vec::new(),
            after: None,
            limit,
        }
    }
}

fn refused(what: &str) -> FhirError {
    FhirError::invalid(format!(
        "{what} cannot be searched inside contained resources (_contained)"
    ))
}

/// The marker of slot `slot` of contained resources of type `rt`.
fn slot_marker(slot: usize, rt: &str) -> Cond {
    Cond::Token {
        param: CONTAINED_SLOTS.to_string(),
        system: SystemMatch::Is(slot.to_string()),
        code: Some(rt.to_string()),
    }
}

/// Checks the parts of a request a `_contained` search cannot answer: the order is the
/// containers' (`_id`, `_lastUpdated`: a contained resource has neither of its own, so its
/// parameters give no order shared with stand-alone resources), and `_include` /
/// `_revinclude` would follow references out of the containers.
pub(super) fn check_request(req: &SearchRequest) -> FhirResult<()> {
    if req
        .sort
        .iter()
        .any(|s| !matches!(s.key, SortKey::Id | SortKey::LastUpdated))
    {
        return Err(FhirError::invalid(
            "With _contained, _sort may only name _id and _lastUpdated (the containers' own)",
        ));
    }
    if !req.include.is_empty() || !req.revinclude.is_empty() {
        return Err(refused("_include and _revinclude"));
    }
    Ok(())
}

impl Fhir {
    /// The plan of a `_contained` search of type `rt`; `None` when no stored resource
    /// contains one of that type.
    pub(super) async fn contained_plan(
        &self,
        p: &Partition,
        rt: &str,
        req: &SearchRequest,
    ) -> FhirResult<Option<ContainedPlan>> {
        let criteria = self.contained_criteria(p, req).await?;
        let recorded = self.store.containers_of(p, rt).await.map_err(store_error)?;
        let types: Vec<String> = recorded.iter().map(|(t, _)| t.clone()).collect();
        let Some(most) = recorded.iter().map(|(_, n)| *n).max() else {
            return Ok(None);
        };
        let mut slots = most.min(MAX_CONTAINED_SLOTS);
        let per_slot = criteria.len().max(1);
        let too_many = |slots: usize| {
            per_slot > 1 && (per_slot as f64).powi(slots as i32) > MAX_CONTAINED_CLAUSES as f64
        };
        if too_many(slots) {
            // The record keeps the most a container ever held; count what is held now.
            slots = self.slots_in_use(p, rt, &types).await?;
            if slots == 0 {
                return Ok(None);
            }
        }
        if too_many(slots) {
            return Err(FhirError::invalid(format!(
                "Resources here contain up to {slots} {rt} resources each; with {per_slot} \
                 criteria that makes more than {MAX_CONTAINED_CLAUSES} combinations to test \
                 (use fewer criteria)"
            )));
        }
        let mut partial = Vec::new();
        if most > MAX_CONTAINED_SLOTS {
            let more = Cond::Token {
                param: CONTAINED_SLOTS.to_string(),
                system: SystemMatch::Is(CONTAINED_OVERFLOW.to_string()),
                code: Some(rt.to_string()),
            };
            for (t, n) in &recorded {
                if *n > MAX_CONTAINED_SLOTS
                    && self
                        .store
                        .may_match(p, t, std::slice::from_ref(&more))
                        .await
                        .map_err(store_error)?
                {
                    partial.push(t.clone());
                }
            }
        }
        let slots = (0..slots)
            .map(|slot| {
                let prefix = contained_slot_prefix(slot, rt);
                if criteria.is_empty() {
                    return Ok(vec![StoreFilter {
                        any: vec![slot_marker(slot, rt)],
                        negate: false,
                    }]);
                }
                criteria
                    .iter()
                    .map(|any| {
                        let mut renamed = Vec::with_capacity(any.len());
                        for c in any {
                            renamed.extend(c.within(&prefix).ok_or_else(|| refused(&what(c)))?);
                        }
                        Ok(StoreFilter {
                            any: renamed,
                            negate: false,
                        })
                    })
                    .collect::<FhirResult<Vec<_>>>()
            })
            .collect::<FhirResult<Vec<_>>>()?;
        Ok(Some(ContainedPlan {
            types,
            slots,
            partial,
        }))
    }

    /// How many slots of contained `rt` resources some current resource of `types` holds
    /// (0: none; at most `MAX_CONTAINED_SLOTS`): one index probe per type and slot.
    async fn slots_in_use(&self, p: &Partition, rt: &str, types: &[String]) -> FhirResult<usize> {
        let mut slots = 0;
        let mut deeper = types.to_vec();
        // Slots are numbered from 0 in each container, so a type without slot n has no
        // later one.
        while !deeper.is_empty() && slots < MAX_CONTAINED_SLOTS {
            let mut still = Vec::new();
            for t in deeper {
                if self
                    .store
                    .may_match(p, &t, &[slot_marker(slots, rt)])
                    .await
                    .map_err(store_error)?
                {
                    still.push(t);
                }
            }
            if still.is_empty() {
                break;
            }
            slots += 1;
            deeper = still;
        }
        Ok(slots)
    }

    /// The request's filters resolved (chains listed through the index), each an OR of
    /// conditions on a contained resource's own parameters.
    async fn contained_criteria(
        &self,
        p: &Partition,
        req: &SearchRequest,
    ) -> FhirResult<Vec<Vec<Cond>>> {
        let mut out = Vec::with_capacity(req.filters.len());
        for f in &req.filters {
            if f.negate {
                return Err(refused(
                    "A negated criterion (:not, :not-in, not in _filter)",
                ));
            }
            let mut any = Vec::with_capacity(f.any.len());
            for c in &f.any {
                match c {
                    // A chain's test inside the contained resource's own contained
                    // resources: contained resources contain none (dom-2).
                    Criterion::Contained { .. } => continue,
                    Criterion::Has { .. } => return Err(refused("_has")),
                    Criterion::List(_) => return Err(refused("_list")),
                    _ => {}
                }
                let cond = self.resolve(p, c).await?;
                if let Some(code) = cond.param().filter(|c| text::Source::of(c).is_some()) {
                    // Extraction keeps no words of contained resources.
                    return Err(refused(code));
                }
                any.push(cond);
            }
            out.push(any);
        }
        Ok(out)
    }

    /// The contained resources of type `rt` in `container` that meet the plan's filters, in
    /// the order of `contained`, as (local id, resource).
    pub(super) async fn contained_matches(
        &self,
        p: &Partition,
        plan: &ContainedPlan,
        rt: &str,
        container: &Version,
    ) -> FhirResult<Vec<(String, Value)>> {
        let resource = stored_json(container)?;
        let of_type: Vec<&Value> = resource
            .get("contained")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter(|c| c.get("resourceType").and_then(Value::as_str) == Some(rt))
                    .collect()
            })
            .unwrap_or_default();
        let mut out = Vec::new();
        for (slot, inner) in of_type.into_iter().enumerate() {
            // With one slot the container matched through it.
            let meets = if plan.slots.len() == 1 {
                true
            } else if slot < plan.slots.len() {
                let mut q = plan.slot_query(slot, 1);
                q.resource_types = vec![container.resource_type.clone()];
                q.filters.push(StoreFilter {
                    any: vec![Cond::Id(vec![container.id.clone()])],
                    negate: false,
                });
                !self
                    .store
                    .search(p, &q)
                    .await
                    .map_err(store_error)?
                    .is_empty()
            } else {
                false
            };
            if meets {
                let id = inner
                    .get("id")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                out.push((id, inner.clone()));
            }
        }
        Ok(out)
    }

    /// How many contained resources meet the plan's filters: each is in one slot.
    pub(super) async fn contained_count(
        &self,
        p: &Partition,
        plan: &ContainedPlan,
    ) -> FhirResult<u64> {
        let mut total = 0;
        for slot in 0..plan.slots.len() {
            let q = plan.slot_query(slot, 0);
            total += self.store.count(p, &q).await.map_err(store_error)?;
        }
        Ok(total)
    }
}

/// How an error names what a condition tests.
fn what(c: &Cond) -> String {
    match c {
        Cond::LastUpdated { .. } => "_lastUpdated".to_string(),
        Cond::Missing { param, .. } => format!("'{param}:missing'"),
        Cond::IdIn(_) => "_has".to_string(),
        other => format!("'{}'", other.param().unwrap_or("_id")),
    }
}
