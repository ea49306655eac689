//! The search interaction at type, system and compartment level: parses the request, resolves
//! chains and `_has` into index look-ups, runs the store query, adds `_include` /
//! `_revinclude` resources and builds the searchset Bundle with keyset paging links.

use super::chains::local_targets;
use super::contained;
use super::{store_error, stored_json, Fhir};
use crate::fhir::bundle::{searchset_bundle, EntryResource, Link, SearchEntry, SearchMode};
use crate::fhir::instant;
use crate::fhir::outcome::{operation_outcome, FhirError, FhirResult, Issue};
use crate::fhir::resource::{check_id, check_resource_type};
use crate::fhir::search::extract::MAX_CONTAINED_SLOTS;
use crate::fhir::search::params::Registry;
use crate::fhir::search::query::{
    self, Cond, ContainedSearch, ContainedType, Cursor, Include, SearchRequest, StoreFilter,
    StoreQuery, Summary, Total,
};
use crate::fhir::search::{compartment, subset};
use crate::partition::Partition;
use crate::store::Version;
use serde_json::Value;
use std::collections::HashSet;

/// Most resources `_include` and `_revinclude` add to one page.
pub const INCLUDE_CAP: usize = 1000;
/// Most rounds of `:iterate`.
const ITERATE_ROUNDS: usize = 4;
/// Most targets and reference parameters in one `_revinclude` query, and most resources in
/// one `_include` read. Each (parameter, target type) pair is an index sub-query listing the
/// targets' ids, so `_revinclude:iterate=*` over a large page in one statement exceeded what
/// SQLite takes (32,766 variables); the pieces stop as soon as the cap is reached.
const INCLUDE_CHUNK: usize = 200;
const REVINCLUDE_PARAMS: usize = 16;

/// Where a search runs.
#[derive(Debug, Clone, Copy)]
pub enum SearchScope<'a> {
    /// `GET [base]?…`: every type, or those in `_type`.
    System,
    /// `GET [base]/[type]?…`
    Type(&'a str),
    /// `GET [base]/[compartment]/[id]/[type]?…`, e.g. `Patient/123/Observation`; with no
    /// type (`Patient/123/*`) every type in the compartment.
    Compartment {
        kind: &'a str,
        id: &'a str,
        resource_type: Option<&'a str>,
    },
}

impl<'a> SearchScope<'a> {
    /// The scope of `[kind]/[id]/[type]`, where `type` may be `*` (the search checks them all).
    pub fn compartment(kind: &'a str, id: &'a str, resource_type: &'a str) -> Self {
        SearchScope::Compartment {
            kind,
            id,
            resource_type: (resource_type != "*").then_some(resource_type),
        }
    }
}

pub(super) fn encode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The reference parameters `inc` follows from a resource of type `rt`.
fn include_params(registry: &Registry, inc: &Include, rt: &str) -> Vec<String> {
    if inc.source_type != "*" && inc.source_type != rt {
        return Vec::new();
    }
    match &inc.param {
        Some(p) => vec![p.clone()],
        None => registry
            .params_of(rt)
            .into_iter()
            .filter(|p| p.follows_references())
            .map(|p| p.code.clone())
            .collect(),
    }
}

impl Fhir {
    pub async fn search(
        &self,
        p: &Partition,
        scope: SearchScope<'_>,
        params: &[(String, String)],
        lenient: bool,
    ) -> FhirResult<Vec<u8>> {
        let registry = Registry::r4();
        let base = self.base_url(p);
        let (rt, path) = match scope {
            SearchScope::System => (None, String::new()),
            SearchScope::Type(rt) => {
                check_resource_type(rt)?;
                (Some(rt), rt.to_string())
            }
            SearchScope::Compartment {
                kind,
                id,
                resource_type,
            } => {
                check_compartment(kind)?;
                check_id(id)?;
                if let Some(rt) = resource_type {
                    check_resource_type(rt)?;
                }
                let shown = resource_type.unwrap_or("*");
                (resource_type, format!("{kind}/{id}/{shown}"))
            }
        };
        let options = self.parse_options(&base, lenient);
        let req = query::parse(registry, rt, params, &options)?;
        if let Some(c) = &req.cursor {
            if c.values.len() != req.sort.len() {
                return Err(FhirError::invalid(
                    "The _cursor does not belong to this _sort; follow the links of the previous page",
                ));
            }
        }
        let plan = match (req.contained, scope) {
            (ContainedSearch::Off, _) => None,
            (_, SearchScope::Type(rt)) => {
                contained::check_request(&req)?;
                Some(self.contained_plan(p, rt, &req).await?)
            }
            _ => {
                return Err(FhirError::invalid(
                    "_contained is only supported in a type-level search ([base]/[type]?…)",
                ))
            }
        };
        let mut queries = if req.contained == ContainedSearch::Only {
            Vec::new()
        } else {
            let filters = self.store_filters(p, &req).await?;
            self.scoped_queries(p, scope, &req, filters).await?
        };
        // The containers' query comes last (`search_pages` tells its matches by that).
        let plan = plan.flatten();
        if let Some(plan) = &plan {
            queries.push(StoreQuery {
                resource_types: plan.types.clone(),
                filters: plan.filters(),
                sort: req.sort.clone(),
                after: req.cursor.clone(),
                limit: req.count + 1,
            });
        }
        let as_contained = plan.is_some() && req.contained_type == ContainedType::Contained;

        // `_count=0` asks for no entries, so only the total can be wanted (as in HAPI).
        let total = if req.summary == Summary::Count || req.total != Total::None || req.count == 0 {
            let mut total = 0;
            let own = queries.len() - usize::from(as_contained);
            for q in &queries[..own] {
                total += self.store.count(p, q).await.map_err(store_error)?;
            }
            if let (true, Some(plan)) = (as_contained, &plan) {
                total += self.contained_count(p, plan).await?;
            }
            if let (Some(plan), SearchScope::Type(rt), [own, held]) = (&plan, scope, &queries[..]) {
                if !as_contained && plan.types.iter().any(|t| t == rt) {
                    // A container of the searched type that also matches on its own is one
                    // entry, so one match.
                    let mut both = own.clone();
                    both.filters.extend(held.filters.iter().cloned());
                    // Saturating: a write between the counts may have changed them.
                    let twice = self.store.count(p, &both).await.map_err(store_error)?;
                    total = total.saturating_sub(twice);
                }
            }
            Some(total)
        } else {
            None
        };
        let link_for = |cursor: Option<&Cursor>| {
            let mut pairs: Vec<String> = req
                .canonical
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            if let Some(c) = cursor {
                pairs.push(format!("_cursor={}", encode(&c.encode())));
            }
            let sep = if path.is_empty() { "" } else { "/" };
            if pairs.is_empty() {
                format!("{base}{sep}{path}")
            } else {
                format!("{base}{sep}{path}?{}", pairs.join("&"))
            }
        };
        let mut links = vec![Link {
            relation: "self",
            url: link_for(req.cursor.as_ref()),
        }];
        let now = instant::to_fhir_instant(instant::next_micros());
        let bundle_id = uuid::Uuid::new_v4().to_string();
        let mut entries = Vec::new();
        if !req.ignored.is_empty() {
            entries.push(SearchEntry {
                full_url: None,
                resource: EntryResource::Json(ignored_outcome(&req)),
                mode: SearchMode::Outcome,
            });
        }
        if let Some(plan) = plan.as_ref().filter(|p| !p.partial.is_empty()) {
            entries.push(SearchEntry {
                full_url: None,
                resource: EntryResource::Json(operation_outcome(&[Issue {
                    severity: "warning",
                    code: "incomplete",
                    diagnostics: format!(
                        "Some {} resources contain more than {MAX_CONTAINED_SLOTS} resources \
                         of this type; only their first {MAX_CONTAINED_SLOTS} were searched",
                        plan.partial.join(", "),
                    ),
                    expression: None,
                }])),
                mode: SearchMode::Outcome,
            });
        }
        if req.summary == Summary::Count || req.count == 0 {
            return Ok(searchset_bundle(&bundle_id, &now, total, &links, entries));
        }

        let pages = self.search_pages(p, &queries).await?;
        // Which matches are containers of contained ones (the last query's), and which
        // match on their own; with `_contained=both` a resource may be both, and comes once.
        let (own, containers) = match (&plan, pages.split_last()) {
            (Some(_), Some((last, rest))) => (
                rest.iter().flatten().map(|m| key(&m.version)).collect(),
                last.iter().map(|m| key(&m.version)).collect(),
            ),
            _ => (HashSet::new(), HashSet::new()),
        };
        let mut matches = merge(queries.first(), pages);
        matches.dedup_by(|a, b| key(&a.version) == key(&b.version));
        let backward = req.cursor.as_ref().is_some_and(|c| c.backward);
        let (has_previous, has_next) = if backward {
            let more = matches.len() > req.count;
            if more {
                matches.remove(0);
            }
            (more, true)
        } else {
            let more = matches.len() > req.count;
            matches.truncate(req.count);
            (req.cursor.is_some(), more)
        };
        let cursor_at = |m: &crate::store::Match, backward: bool| Cursor {
            values: m.sort.clone(),
            resource_type: m.version.resource_type.clone(),
            id: m.version.id.clone(),
            backward,
        };
        if has_previous {
            if let Some(first) = matches.first() {
                links.push(Link {
                    relation: "previous",
                    url: link_for(Some(&cursor_at(first, true))),
                });
            }
        }
        if has_next {
            if let Some(last) = matches.last() {
                links.push(Link {
                    relation: "next",
                    url: link_for(Some(&cursor_at(last, false))),
                });
            }
        }

        let page: Vec<Version> = matches.into_iter().map(|m| m.version).collect();
        let (included, truncated) = self.includes(p, registry, &req, &page).await?;
        if truncated {
            entries.push(SearchEntry {
                full_url: None,
                resource: EntryResource::Json(operation_outcome(&[Issue {
                    severity: "warning",
                    code: "too-costly",
                    diagnostics: format!(
                        "_include/_revinclude matched more than {INCLUDE_CAP} resources; only the first {INCLUDE_CAP} are included"
                    ),
                    expression: None,
                }])),
                mode: SearchMode::Outcome,
            });
        }
        // Without subsetting, matches and includes go into the Bundle as stored.
        let subsets = req.summary != Summary::False || !req.elements.is_empty();
        if let (true, Some(plan), SearchScope::Type(rt)) = (as_contained, &plan, scope) {
            for v in page {
                let k = key(&v);
                if own.contains(&k) {
                    entries.push(match_entry(&base, v.clone(), &req, subsets)?);
                }
                if !containers.contains(&k) {
                    continue;
                }
                for (local, mut resource) in self.contained_matches(p, plan, rt, &v).await? {
                    if subsets {
                        subset::apply(&mut resource, req.summary, &req.elements);
                    }
                    entries.push(SearchEntry {
                        full_url: Some(format!("{base}/{}/{}#{local}", v.resource_type, v.id)),
                        resource: EntryResource::Json(resource),
                        mode: SearchMode::Match,
                    });
                }
            }
            return Ok(searchset_bundle(&bundle_id, &now, total, &links, entries));
        }
        for v in page {
            entries.push(match_entry(&base, v, &req, subsets)?);
        }
        for v in included {
            entries.push(SearchEntry {
                full_url: Some(format!("{base}/{}/{}", v.resource_type, v.id)),
                resource: EntryResource::Stored(v.body.unwrap_or_default()),
                mode: SearchMode::Include,
            });
        }
        Ok(searchset_bundle(&bundle_id, &now, total, &links, entries))
    }

    /// The store queries a search runs: one, or for a whole compartment (`Patient/123/*`) one
    /// per member type stored in the partition, each with that type's own membership test
    /// (the parameters that put it in the compartment differ by type).
    async fn scoped_queries(
        &self,
        p: &Partition,
        scope: SearchScope<'_>,
        req: &SearchRequest,
        filters: Vec<StoreFilter>,
    ) -> FhirResult<Vec<StoreQuery>> {
        let query = |resource_types: Vec<String>, filters: Vec<StoreFilter>| StoreQuery {
            resource_types,
            filters,
            sort: req.sort.clone(),
            after: req.cursor.clone(),
            limit: req.count + 1,
        };
        let (kind, id, types) = match scope {
            SearchScope::System => return Ok(vec![query(req.resource_types.clone(), filters)]),
            SearchScope::Type(rt) => return Ok(vec![query(vec![rt.to_string()], filters)]),
            SearchScope::Compartment {
                kind,
                id,
                resource_type: Some(rt),
            } => (kind, id, vec![rt.to_string()]),
            SearchScope::Compartment {
                kind,
                id,
                resource_type: None,
            } => {
                let mut members: Vec<String> = compartment::member_types(kind)
                    .into_iter()
                    .map(str::to_string)
                    .collect();
                for t in &req.resource_types {
                    if !members.contains(t) {
                        return Err(FhirError::invalid(format!(
                            "_type: {t} resources are not part of the {kind} compartment"
                        )));
                    }
                }
                if !req.resource_types.is_empty() {
                    members.retain(|t| req.resource_types.contains(t));
                }
                let stored = self.store.resource_types(p).await.map_err(store_error)?;
                members.retain(|t| stored.contains(t));
                members.sort();
                (kind, id, members)
            }
        };
        types
            .into_iter()
            .map(|t| {
                let mut f = filters.clone();
                f.push(compartment_filter(kind, id, &t)?);
                Ok(query(vec![t], f))
            })
            .collect()
    }

    /// Each query's page, in the order of `queries`.
    async fn search_pages(
        &self,
        p: &Partition,
        queries: &[StoreQuery],
    ) -> FhirResult<Vec<Vec<crate::store::Match>>> {
        let mut pages = Vec::with_capacity(queries.len());
        for q in queries {
            pages.push(self.store.search(p, q).await.map_err(store_error)?);
        }
        Ok(pages)
    }

    /// The `_include` and `_revinclude` resources of a page (each once, never a match again),
    /// following `:iterate` ones over what was added, and whether the cap cut them short.
    /// They stay as stored: a resource is parsed only when an `_include` must look inside it.
    async fn includes(
        &self,
        p: &Partition,
        registry: &Registry,
        req: &SearchRequest,
        matches: &[Version],
    ) -> FhirResult<(Vec<Version>, bool)> {
        let key = |v: &Version| (v.resource_type.clone(), v.id.clone());
        let mut seen: HashSet<(String, String)> = matches.iter().map(key).collect();
        let base = self.base_url(p);
        let mut added: Vec<Version> = Vec::new();
        // This round's resources: the page, then what the previous round added.
        let mut frontier_start = 0;
        let mut stored_types: Option<Vec<String>> = None;
        for round in 0..=ITERATE_ROUNDS {
            let frontier = if round == 0 {
                matches
            } else {
                &added[frontier_start..]
            };
            let mut new: Vec<Version> = Vec::new();
            let mut wanted: Vec<(String, String)> = Vec::new();
            let includes: Vec<&Include> = req
                .include
                .iter()
                .filter(|i| round == 0 || i.iterate)
                .collect();
            let parsed: Vec<Value> = if includes.is_empty() {
                Vec::new()
            } else {
                frontier
                    .iter()
                    .map(stored_json)
                    .collect::<FhirResult<_>>()?
            };
            for inc in includes {
                for (v, r) in frontier.iter().zip(&parsed) {
                    let rt = &v.resource_type;
                    for param in include_params(registry, inc, rt) {
                        for t in local_targets(registry, rt, &param, r, &base) {
                            if inc.target_type.as_ref().is_none_or(|tt| *tt == t.0)
                                && !seen.contains(&t)
                                && !wanted.contains(&t)
                            {
                                wanted.push(t);
                            }
                        }
                    }
                }
            }
            let full = |new: &Vec<Version>| added.len() + new.len() > INCLUDE_CAP;
            for chunk in wanted.chunks(INCLUDE_CHUNK) {
                if full(&new) {
                    break;
                }
                for v in self.store.read_many(p, chunk).await.map_err(store_error)? {
                    if seen.insert(key(&v)) {
                        new.push(v);
                    }
                }
            }
            let targets: Vec<(String, String)> = frontier.iter().map(key).collect();
            for rev in req.revinclude.iter().filter(|i| round == 0 || i.iterate) {
                if rev.source_type == "*" && stored_types.is_none() {
                    stored_types = Some(self.store.resource_types(p).await.map_err(store_error)?);
                }
                let stored = stored_types.as_deref().unwrap_or_default();
                for q in revinclude_queries(registry, rev, &targets, stored) {
                    if full(&new) {
                        break;
                    }
                    for m in self.store.search(p, &q).await.map_err(store_error)? {
                        if seen.insert(key(&m.version)) {
                            new.push(m.version);
                        }
                    }
                }
            }
            if new.is_empty() {
                break;
            }
            frontier_start = added.len();
            added.extend(new);
            if added.len() > INCLUDE_CAP {
                added.truncate(INCLUDE_CAP);
                return Ok((added, true));
            }
        }
        Ok((added, false))
    }
}

/// The queries for the resources that reference any of `targets` as `rev` says: through one
/// parameter, every reference parameter of one type (`Type:*`), or, for `*`, every
/// reference parameter that may point at a target's type, asked of each stored type that has
/// such parameters with those of its own; in pieces of at most `INCLUDE_CHUNK` targets and
/// `REVINCLUDE_PARAMS` parameters.
fn revinclude_queries(
    registry: &Registry,
    rev: &Include,
    targets: &[(String, String)],
    stored_types: &[String],
) -> Vec<StoreQuery> {
    let targets: Vec<(String, String)> = targets
        .iter()
        .filter(|(t, _)| rev.target_type.as_ref().is_none_or(|tt| tt == t))
        .cloned()
        .collect();
    let per_type: Vec<(String, Vec<String>)> = if rev.source_type == "*" {
        let mut codes: HashSet<&str> = HashSet::new();
        let mut seen_types: HashSet<&str> = HashSet::new();
        for (t, _) in &targets {
            if seen_types.insert(t) {
                codes.extend(
                    registry
                        .referencing(t)
                        .into_iter()
                        .map(|(_, p)| p.code.as_str()),
                );
            }
        }
        // One query across every type would ask each type for every code (on MongoDB one
        // `find` per collection and code chunk: ~80 s for an iterated `*` over the official
        // examples); a type is asked only for the codes it has.
        stored_types
            .iter()
            .filter_map(|t| {
                let mut params = include_params(registry, rev, t);
                params.retain(|code| codes.contains(code.as_str()));
                (!params.is_empty()).then(|| (t.clone(), params))
            })
            .collect()
    } else {
        let params = match &rev.param {
            Some(p) => vec![p.clone()],
            None => include_params(registry, rev, &rev.source_type),
        };
        vec![(rev.source_type.clone(), params)]
    };
    let mut queries = Vec::new();
    for targets in targets.chunks(INCLUDE_CHUNK) {
        for (source_type, params) in &per_type {
            for params in params.chunks(REVINCLUDE_PARAMS) {
                queries.push(StoreQuery {
                    resource_types: vec![source_type.clone()],
                    filters: vec![StoreFilter {
                        any: params
                            .iter()
                            .map(|param| Cond::ReferenceIn {
                                param: param.clone(),
                                targets: targets.to_vec(),
                            })
                            .collect(),
                        negate: false,
                    }],
                    sort: Vec::new(),
                    after: None,
                    limit: INCLUDE_CAP + 1,
                });
            }
        }
    }
    queries
}

/// A resource's (type, id).
fn key(v: &Version) -> (String, String) {
    (v.resource_type.clone(), v.id.clone())
}

/// The pages of queries that share an order (`first`'s), merged, then cut to the page (the
/// last ones before a backward cursor).
fn merge(
    first: Option<&StoreQuery>,
    mut pages: Vec<Vec<crate::store::Match>>,
) -> Vec<crate::store::Match> {
    match (first, pages.len()) {
        (_, 1) => pages.pop().unwrap_or_default(),
        (Some(first), _) => crate::store::merge_pages(
            pages,
            &first.sort,
            first.after.as_ref().is_some_and(|c| c.backward),
            first.limit,
        ),
        (None, _) => Vec::new(),
    }
}

/// The entry of a match: as stored, or subset by `_summary` / `_elements`.
fn match_entry(
    base: &str,
    v: Version,
    req: &SearchRequest,
    subsets: bool,
) -> FhirResult<SearchEntry> {
    let resource = if subsets {
        let mut resource = stored_json(&v)?;
        subset::apply(&mut resource, req.summary, &req.elements);
        EntryResource::Json(resource)
    } else {
        EntryResource::Stored(v.body.unwrap_or_default())
    };
    Ok(SearchEntry {
        full_url: Some(format!("{base}/{}/{}", v.resource_type, v.id)),
        resource,
        mode: SearchMode::Match,
    })
}

/// The condition that confines a search to one compartment: any of the type's compartment
/// parameters references the compartment's owner (and the owner itself is in its own
/// compartment).
fn check_compartment(kind: &str) -> FhirResult<()> {
    if compartment::is_compartment(kind) {
        Ok(())
    } else {
        Err(FhirError::not_found(format!(
            "{kind} does not define a compartment (those are Patient, Encounter, Practitioner, RelatedPerson, Device)"
        )))
    }
}

/// Membership of a resource of type `rt` in the compartment of `kind`/`id`: one of the
/// definition's parameters points at it, or it is that resource itself.
fn compartment_filter(kind: &str, id: &str, rt: &str) -> FhirResult<StoreFilter> {
    let mut any: Vec<Cond> = compartment::params(kind, rt)
        .iter()
        .map(|param| Cond::Reference {
            param: param.clone(),
            target_type: Some(kind.to_string()),
            id: Some(id.to_string()),
            url: None,
            version: None,
        })
        .collect();
    if rt == kind {
        any.push(Cond::Id(vec![id.to_string()]));
    }
    if any.is_empty() {
        return Err(FhirError::invalid(format!(
            "{rt} resources are not part of the {kind} compartment"
        )));
    }
    Ok(StoreFilter { any, negate: false })
}

fn ignored_outcome(req: &SearchRequest) -> Value {
    let issues: Vec<Issue> = req
        .ignored
        .iter()
        .map(|(param, reason)| Issue {
            severity: "warning",
            code: "not-supported",
            diagnostics: format!("The parameter '{param}' was ignored: {reason}"),
            expression: None,
        })
        .collect();
    operation_outcome(&issues)
}
