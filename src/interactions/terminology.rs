//! The terminology behind the token modifiers `:in`, `:not-in`, `:above` and `:below`: the
//! ValueSet and CodeSystem resources they name are looked up in the searched partition, then
//! (for a payer partition) in the default partition, where shared terminology lives; the
//! codes they stand for become one [`Cond::TokenIn`].

use super::{store_error, stored_json, Fhir};
use crate::fhir::outcome::{FhirError, FhirResult};
use crate::fhir::search::query::{CodeSetRef, Cond, StoreFilter, StoreQuery, UriMode};
use crate::fhir::terminology::{self, Canonicals, CodeSet, Hierarchy};
use crate::partition::Partition;
use serde_json::Value;
use std::collections::BTreeSet;

/// Most codes one modifier may stand for: they become one index look-up per code.
pub const CODE_CAP: usize = 10_000;

/// Most terminology resources one expansion may read.
const FETCH_CAP: usize = 200;

fn cond(param: &str, set: CodeSet) -> Cond {
    Cond::TokenIn {
        param: param.to_string(),
        codes: set
            .into_iter()
            .map(|(s, codes)| (s, codes.into_iter().collect()))
            .collect(),
    }
}

impl Fhir {
    pub(super) async fn code_set_cond(
        &self,
        p: &Partition,
        param: &str,
        set: &CodeSetRef,
    ) -> FhirResult<Cond> {
        match set {
            CodeSetRef::ValueSet(reference) => {
                let vs = self.value_set(p, reference).await?;
                let mut fetched = Canonicals::default();
                let mut todo = vec![vs.clone()];
                let mut fetches = 0;
                while let Some(next) = todo.pop() {
                    let (sets, systems) = terminology::needs(&next);
                    for url in sets {
                        if fetched.value_sets.contains_key(&url) {
                            continue;
                        }
                        fetches += 1;
                        if let Some(found) = self.canonical(p, "ValueSet", &url).await? {
                            todo.push(found.clone());
                            fetched.value_sets.insert(url, found);
                        }
                    }
                    for url in systems {
                        if fetched.code_systems.contains_key(&url) {
                            continue;
                        }
                        fetches += 1;
                        if let Some(found) = self.canonical(p, "CodeSystem", &url).await? {
                            fetched.code_systems.insert(url, found);
                        }
                    }
                    if fetches > FETCH_CAP {
                        return Err(FhirError::invalid(format!(
                            "ValueSet '{reference}' needs more than {FETCH_CAP} terminology resources to expand"
                        )));
                    }
                }
                let codes =
                    terminology::expand(&vs, &fetched, CODE_CAP).map_err(FhirError::invalid)?;
                Ok(cond(param, codes))
            }
            CodeSetRef::Below { system, code } | CodeSetRef::Above { system, code } => {
                let cs = self
                    .canonical(p, "CodeSystem", system)
                    .await?
                    .ok_or_else(|| {
                        FhirError::invalid(format!(
                        "CodeSystem '{system}' is not on this server, so ':above' and ':below' \
                         cannot be evaluated for it"
                    ))
                    })?;
                let h = Hierarchy::of(&cs);
                let codes: BTreeSet<String> = if matches!(set, CodeSetRef::Below { .. }) {
                    h.below(code, true)
                } else {
                    h.above(code)
                };
                Ok(cond(param, CodeSet::from([(system.clone(), codes)])))
            }
        }
    }

    /// The ValueSet an `:in` value names: a local reference `ValueSet/id`, or a canonical url.
    async fn value_set(&self, p: &Partition, reference: &str) -> FhirResult<Value> {
        let local = reference
            .strip_prefix("ValueSet/")
            .filter(|id| !id.contains('/'));
        let found = match local {
            Some(id) => match self.store.current(p, "ValueSet", id).await {
                Ok(Some(v)) if v.body.is_some() => Some(stored_json(&v)?),
                Ok(_) => None,
                Err(e) => return Err(store_error(e)),
            },
            None => self.canonical(p, "ValueSet", reference).await?,
        };
        found.ok_or_else(|| {
            FhirError::invalid(format!(
                "ValueSet '{reference}' is not on this server (searched by {})",
                if local.is_some() {
                    "id"
                } else {
                    "canonical url"
                }
            ))
        })
    }

    /// The resource of `rt` with canonical `url` (`url|version` picks that version) in the
    /// partition, else in the default partition.
    async fn canonical(&self, p: &Partition, rt: &str, url: &str) -> FhirResult<Option<Value>> {
        let (bare, version) = match url.split_once('|') {
            Some((u, v)) => (u, Some(v)),
            None => (url, None),
        };
        let mut partitions = vec![p.clone()];
        if *p != Partition::Default {
            partitions.push(Partition::Default);
        }
        for part in &partitions {
            let q = StoreQuery {
                resource_types: vec![rt.to_string()],
                filters: vec![StoreFilter {
                    any: vec![Cond::Uri {
                        param: "url".into(),
                        mode: UriMode::Equals,
                        value: bare.to_string(),
                    }],
                    negate: false,
                }],
                sort: Vec::new(),
                after: None,
                limit: 50,
            };
            let found = self.store.search(part, &q).await.map_err(store_error)?;
            let mut candidates = Vec::new();
            for m in found {
                let r = stored_json(&m.version)?;
                let matches_version =
                    version.is_none_or(|v| r.get("version").and_then(Value::as_str) == Some(v));
                if matches_version {
                    candidates.push((m.version.last_updated, r));
                }
            }
            // Of several without a version asked for, the most recently written one.
            if let Some((_, r)) = candidates.into_iter().max_by_key(|(t, _)| *t) {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }
}
