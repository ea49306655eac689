//! Chains and `_has`: criteria on other resources, turned into conditions a store evaluates on
//! the searched type. Normally the other resources are listed through the index and become an
//! id list (`Cond::ReferenceIn`, `Cond::IdIn`). When they are too many to list (more than
//! `CHAIN_CAP`), a top-level criterion is instead checked against the resources the rest of
//! the search matches, if those are few enough: `Observation?code=X&subject.gender=female`
//! works however many females there are, as long as few Observations have code X. When both
//! sides are broad (`DiagnosticReport?result.code=X` with thousands of such Observations),
//! the criterion's resources are listed after all, `CHAIN_CAP` at a time in id order, up to
//! `Limits::max_chain_sweep`; so are those of a step nested inside another.

use super::{store_error, stored_json, Fhir};
use crate::fhir::outcome::{FhirError, FhirResult};
use crate::fhir::search::extract;
use crate::fhir::search::params::Registry;
use crate::fhir::search::query::{
    Cond, Criterion, Cursor, Filter, SearchRequest, StoreFilter, StoreQuery, SystemMatch,
};
use crate::fhir::search::IndexValue;
use crate::partition::Partition;
use crate::store::Version;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;

/// Most resources a top-level chain or `_has` lists before the rest of the search is tried
/// instead, most resources of that rest it is checked against (one look-up each), and most
/// resources one query of a longer listing reads (`Limits::max_chain_sweep` bounds the
/// listing). Lists become an `IN` list of the outer query.
pub const CHAIN_CAP: usize = 1000;

type Boxed<'a, T> = Pin<Box<dyn Future<Output = FhirResult<T>> + Send + 'a>>;

fn too_many(what: &str, cap: usize) -> FhirError {
    FhirError::invalid(format!(
        "{what} matches more than {cap} resources; add criteria to narrow it"
    ))
}

/// The (type, id) pairs that the `param` entries of `resource` (stored under `base`) point
/// at on this server: extraction gives a type and id to local references only.
pub(super) fn local_targets(
    registry: &Registry,
    rt: &str,
    param: &str,
    resource: &Value,
    base: &str,
) -> Vec<(String, String)> {
    extract::extract_param(registry, rt, param, resource, base)
        .into_iter()
        .filter_map(|e| match e.value {
            IndexValue::Reference {
                target_type: Some(t),
                id: Some(id),
                ..
            } => Some((t, id)),
            _ => None,
        })
        .collect()
}

/// How an error names a chain or `_has` criterion.
fn named(c: &Criterion) -> String {
    match c {
        Criterion::Chain { param, .. } => format!("The chain '{param}'"),
        Criterion::Has { resource_type, .. } => format!("The _has criterion on {resource_type}"),
        _ => String::new(),
    }
}

/// One condition as a filter.
fn only(cond: Cond) -> StoreFilter {
    StoreFilter {
        any: vec![cond],
        negate: false,
    }
}

impl Fhir {
    /// The request's filters as a store evaluates them (chains and `_has` resolved).
    pub(super) async fn store_filters(
        &self,
        p: &Partition,
        req: &SearchRequest,
    ) -> FhirResult<Vec<StoreFilter>> {
        let mut filters = Vec::with_capacity(req.filters.len() + 1);
        let mut expanded = Vec::with_capacity(req.filters.len());
        for f in &req.filters {
            expanded.push(Filter {
                any: self
                    .expand_contained(p, &req.resource_types, &f.any)
                    .await?,
                negate: f.negate,
            });
        }
        let mut unlisted: Vec<&Filter> = Vec::new();
        for f in &expanded {
            let mut any = Vec::with_capacity(f.any.len());
            for c in &f.any {
                match self.listed(p, c, CHAIN_CAP).await? {
                    Some(cond) => any.push(cond),
                    None => break,
                }
            }
            if any.len() == f.any.len() {
                filters.push(StoreFilter {
                    any,
                    negate: f.negate,
                });
            } else {
                unlisted.push(f);
            }
        }
        if unlisted.is_empty() {
            return Ok(filters);
        }
        // The rest of the search, which every match is among.
        let candidates = match req.resource_types.as_slice() {
            [rt] => self
                .ids_matching(p, rt, filters.clone())
                .await?
                .map(|c| (rt, c)),
            _ => None,
        };
        let Some((rt, candidates)) = candidates else {
            // Broad on both sides: list the criteria's resources after all, up to the sweep cap.
            let cap = self.limits.max_chain_sweep;
            for f in unlisted {
                let mut any = Vec::with_capacity(f.any.len());
                for c in &f.any {
                    let Some(cond) = self.listed(p, c, cap).await? else {
                        return Err(FhirError::invalid(format!(
                            "{} matches more than {cap} resources, and the rest of the search \
                             more than {CHAIN_CAP}; add criteria to narrow either",
                            named(c)
                        )));
                    };
                    any.push(cond);
                }
                filters.push(StoreFilter {
                    any,
                    negate: f.negate,
                });
            }
            return Ok(filters);
        };
        for f in unlisted {
            let mut passing: HashSet<String> = HashSet::new();
            for c in &f.any {
                passing.extend(self.passing(p, rt, c, &candidates).await?);
            }
            filters.push(StoreFilter {
                negate: f.negate,
                ..only(Cond::Id(passing.into_iter().collect()))
            });
        }
        Ok(filters)
    }

    /// `c` as a condition for the store; `None` for a chain or `_has` whose resources are more
    /// than `cap`.
    async fn listed(&self, p: &Partition, c: &Criterion, cap: usize) -> FhirResult<Option<Cond>> {
        match c {
            Criterion::Chain { param, inner } => {
                let mut targets = Vec::new();
                for (ty, crit) in inner {
                    let filter = self.inner_filter(p, ty, crit).await?;
                    let left = cap.saturating_sub(targets.len());
                    let mut take = |batch: Vec<Version>| {
                        targets.extend(batch.into_iter().map(|v| (ty.clone(), v.id)));
                        Ok(())
                    };
                    if !self.sweep(p, ty, vec![filter], left, &mut take).await? {
                        return Ok(None);
                    }
                }
                Ok(Some(Cond::ReferenceIn {
                    param: param.clone(),
                    targets,
                }))
            }
            Criterion::Has {
                resource_type,
                param,
                inner,
            } => {
                let filter = self.inner_filter(p, resource_type, inner).await?;
                let registry = Registry::r4();
                let base = self.base_url(p);
                let mut targets = HashSet::new();
                let mut take = |batch: Vec<Version>| {
                    for v in batch {
                        let resource = stored_json(&v)?;
                        targets.extend(local_targets(
                            registry,
                            resource_type,
                            param,
                            &resource,
                            &base,
                        ));
                    }
                    Ok(())
                };
                if !self
                    .sweep(p, resource_type, vec![filter], cap, &mut take)
                    .await?
                {
                    return Ok(None);
                }
                Ok(Some(Cond::IdIn(targets.into_iter().collect())))
            }
            other => Ok(Some(self.resolve(p, other).await?)),
        }
    }

    /// Hands the resources of `rt` matching every filter to `take`, at most `CHAIN_CAP` + 1 at
    /// a time in id order (keyset pages, so that every query stays bounded however many
    /// there are); `false`, having stopped, when they are more than `cap`.
    async fn sweep(
        &self,
        p: &Partition,
        rt: &str,
        filters: Vec<StoreFilter>,
        cap: usize,
        take: &mut (dyn FnMut(Vec<Version>) -> FhirResult<()> + Send),
    ) -> FhirResult<bool> {
        let mut seen = 0;
        let mut after = None;
        loop {
            let limit = (cap - seen + 1).min(CHAIN_CAP + 1);
            let q = StoreQuery {
                after: after.take(),
                ..StoreQuery::of_type(rt, filters.clone(), limit)
            };
            let found = self.store.search(p, &q).await.map_err(store_error)?;
            let n = found.len();
            if seen + n > cap {
                return Ok(false);
            }
            seen += n;
            let Some(last) = found.last() else {
                return Ok(true);
            };
            after = Some(Cursor {
                values: Vec::new(),
                resource_type: rt.to_string(),
                id: last.version.id.clone(),
                backward: false,
            });
            take(found.into_iter().map(|m| m.version).collect())?;
            if n < limit {
                return Ok(true);
            }
        }
    }

    /// The ids of the `candidates` (resources of `rt`) that satisfy `c`, one look-up per type
    /// a chain reaches or per candidate a `_has` asks about.
    async fn passing(
        &self,
        p: &Partition,
        rt: &str,
        c: &Criterion,
        candidates: &[Version],
    ) -> FhirResult<Vec<String>> {
        let registry = Registry::r4();
        let base = self.base_url(p);
        match c {
            Criterion::Chain { param, inner } => {
                let mut targets_of: Vec<(&str, Vec<(String, String)>)> = Vec::new();
                let mut wanted: HashMap<&str, HashSet<String>> = HashMap::new();
                for v in candidates {
                    let resource = stored_json(v)?;
                    let targets = local_targets(registry, rt, param, &resource, &base);
                    for (ty, id) in &targets {
                        if let Some((t, _)) = inner.iter().find(|(t, _)| t == ty) {
                            wanted.entry(t.as_str()).or_default().insert(id.clone());
                        }
                    }
                    targets_of.push((v.id.as_str(), targets));
                }
                let mut found: HashSet<(String, String)> = HashSet::new();
                for (ty, crit) in inner {
                    let Some(ids) = wanted.remove(ty.as_str()) else {
                        continue;
                    };
                    let n = ids.len();
                    let filters = vec![
                        self.inner_filter(p, ty, crit).await?,
                        only(Cond::Id(ids.into_iter().collect())),
                    ];
                    let q = StoreQuery::of_type(ty, filters, n);
                    for m in self.store.search(p, &q).await.map_err(store_error)? {
                        found.insert((ty.clone(), m.version.id));
                    }
                }
                Ok(targets_of
                    .into_iter()
                    .filter(|(_, targets)| targets.iter().any(|t| found.contains(t)))
                    .map(|(id, _)| id.to_string())
                    .collect())
            }
            Criterion::Has {
                resource_type,
                param,
                inner,
            } => {
                let filter = self.inner_filter(p, resource_type, inner).await?;
                let mut out = Vec::new();
                for v in candidates {
                    let refers = only(Cond::Reference {
                        param: param.clone(),
                        target_type: Some(rt.to_string()),
                        id: Some(v.id.clone()),
                        url: None,
                        version: None,
                    });
                    let q = StoreQuery::of_type(resource_type, vec![filter.clone(), refers], 1);
                    if !self
                        .store
                        .search(p, &q)
                        .await
                        .map_err(store_error)?
                        .is_empty()
                    {
                        out.push(v.id.clone());
                    }
                }
                Ok(out)
            }
            other => {
                let ids: Vec<String> = candidates.iter().map(|v| v.id.clone()).collect();
                let n = ids.len();
                let filters = vec![only(self.resolve(p, other).await?), only(Cond::Id(ids))];
                let q = StoreQuery::of_type(rt, filters, n);
                let found = self.store.search(p, &q).await.map_err(store_error)?;
                Ok(found.into_iter().map(|m| m.version.id).collect())
            }
        }
    }

    /// Turns a parsed criterion into a condition a store evaluates: chains and `_has` become
    /// id lists found through the index, innermost first (the parser caps the nesting).
    pub(super) fn resolve<'a>(&'a self, p: &'a Partition, c: &'a Criterion) -> Boxed<'a, Cond> {
        Box::pin(async move {
            match c {
                Criterion::Cond(c) => Ok(c.clone()),
                Criterion::Codes { param, set } => self.code_set_cond(p, param, set).await,
                Criterion::List(id) => self.list_members(p, id).await,
                Criterion::NoneOf(_) => Err(FhirError::invalid(
                    "':not' is only meaningful at the end of a chain or _has",
                )),
                Criterion::AnyOf(_) | Criterion::Contained { .. } => Err(FhirError::invalid(
                    "alternatives of a chain are only meaningful inside the chain",
                )),
                Criterion::Chain { .. } | Criterion::Has { .. } => {
                    let cap = self.limits.max_chain_sweep;
                    self.listed(p, c, cap)
                        .await?
                        .ok_or_else(|| too_many(&named(c), cap))
                }
            }
        })
    }

    /// The resources List/`id` lists, as an id condition: its entries' local `item`
    /// references, except entries marked deleted (a changes-mode List's removals).
    async fn list_members(&self, p: &Partition, id: &str) -> FhirResult<Cond> {
        let Some(list) = self
            .store
            .current(p, "List", id)
            .await
            .map_err(store_error)?
        else {
            return Ok(Cond::IdIn(Vec::new()));
        };
        if list.is_deleted() {
            return Ok(Cond::IdIn(Vec::new()));
        }
        let mut resource = stored_json(&list)?;
        if let Some(entries) = resource.get_mut("entry").and_then(Value::as_array_mut) {
            entries.retain(|e| e.get("deleted").and_then(Value::as_bool) != Some(true));
        }
        let base = self.base_url(p);
        let members = local_targets(Registry::r4(), "List", "item", &resource, &base);
        Ok(Cond::IdIn(members))
    }

    /// The filter a chain or `_has` applies to the resources (of type `rt`) it goes through:
    /// the resolved inner criterion, or for a trailing `:not` none of its values, or any of
    /// its alternatives.
    async fn inner_filter(
        &self,
        p: &Partition,
        rt: &str,
        inner: &Criterion,
    ) -> FhirResult<StoreFilter> {
        Ok(match inner {
            Criterion::NoneOf(values) => {
                let mut any = Vec::with_capacity(values.len());
                for v in values {
                    any.push(self.resolve(p, v).await?);
                }
                StoreFilter { any, negate: true }
            }
            Criterion::AnyOf(values) => {
                let types = [rt.to_string()];
                let mut any = Vec::with_capacity(values.len());
                for v in self.expand_contained(p, &types, values).await? {
                    any.push(self.resolve(p, &v).await?);
                }
                StoreFilter { any, negate: false }
            }
            other => only(self.resolve(p, other).await?),
        })
    }

    /// `criteria` with each `Contained` one replaced by its alternatives where some resource
    /// of `types` has its marker, and left out where none has.
    async fn expand_contained(
        &self,
        p: &Partition,
        types: &[String],
        criteria: &[Criterion],
    ) -> FhirResult<Vec<Criterion>> {
        let mut out = Vec::with_capacity(criteria.len());
        for c in criteria {
            let Criterion::Contained {
                marker,
                types: inner_types,
                alternatives,
            } = c
            else {
                out.push(c.clone());
                continue;
            };
            if self.any_marked(p, types, marker, inner_types).await? {
                out.extend(alternatives.iter().cloned());
            }
        }
        Ok(out)
    }

    /// Whether some resource of `types` has the `marker` entry of a contained resource of
    /// one of `inner_types`: one exact token probe per searched type (a test of presence
    /// alone, `:missing=false`, would walk the type in id order where nothing has it).
    async fn any_marked(
        &self,
        p: &Partition,
        types: &[String],
        marker: &str,
        inner_types: &[String],
    ) -> FhirResult<bool> {
        let marked: Vec<Cond> = inner_types
            .iter()
            .map(|t| Cond::Token {
                param: marker.to_string(),
                system: SystemMatch::Any,
                code: Some(t.clone()),
            })
            .collect();
        for rt in types {
            if self
                .store
                .may_match(p, rt, &marked)
                .await
                .map_err(store_error)?
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// The resources of `rt` matching every filter; `None` when they are more than
    /// `CHAIN_CAP`.
    async fn ids_matching(
        &self,
        p: &Partition,
        rt: &str,
        filters: Vec<StoreFilter>,
    ) -> FhirResult<Option<Vec<Version>>> {
        let mut found = Vec::new();
        let mut take = |batch: Vec<Version>| {
            found.extend(batch);
            Ok(())
        };
        // With `CHAIN_CAP` as its cap the sweep is one query of `CHAIN_CAP` + 1.
        let all = self.sweep(p, rt, filters, CHAIN_CAP, &mut take).await?;
        Ok(all.then_some(found))
    }
}
