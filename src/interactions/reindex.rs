//! `$reindex`: recomputes the search index entries of stored resources from the current search
//! parameter definitions (after a SearchParameter changed, or for data written before an index
//! existed). System, type and instance level.

use super::{store_error, stored_json, Fhir};
use crate::fhir::outcome::FhirResult;
use crate::fhir::resource::{check_id, check_resource_type};
use crate::fhir::search::params::Registry;
use crate::fhir::search::query::{Cursor, StoreQuery};
use crate::fhir::search::{extract, IndexEntry};
use crate::partition::Partition;
use crate::store::Version;
use serde_json::{json, Value};

/// Resources re-indexed per store round trip.
const BATCH: usize = 200;

fn entries_of(v: &Version, base: &str, content_search: bool) -> FhirResult<Vec<IndexEntry>> {
    Ok(extract::extract(
        Registry::r4(),
        &v.resource_type,
        &stored_json(v)?,
        base,
        content_search,
    ))
}

impl Fhir {
    /// Re-indexes one resource (`id`), every resource of a type, or (with `None`) every
    /// resource of the partition. Answers a Parameters resource with the count.
    pub async fn reindex(
        &self,
        p: &Partition,
        resource_type: Option<&str>,
        id: Option<&str>,
    ) -> FhirResult<Value> {
        let mut done = 0u64;
        if let (Some(rt), Some(id)) = (resource_type, id) {
            check_resource_type(rt)?;
            check_id(id)?;
            let v = self.read(p, rt, id).await?;
            let index = entries_of(&v, &self.base_url(p), self.limits.content_search)?;
            self.store
                .reindex(p, rt, id, v.version, index)
                .await
                .map_err(store_error)?;
            done = 1;
        } else {
            if let Some(rt) = resource_type {
                check_resource_type(rt)?;
            }
            let mut query = StoreQuery {
                resource_types: resource_type
                    .map(|t| vec![t.to_string()])
                    .unwrap_or_default(),
                filters: Vec::new(),
                sort: Vec::new(),
                after: None,
                limit: BATCH,
            };
            let base = self.base_url(p);
            loop {
                let page = self.store.search(p, &query).await.map_err(store_error)?;
                for m in &page {
                    let v = &m.version;
                    let index = entries_of(v, &base, self.limits.content_search)?;
                    // A resource written since the page was read already has fresh entries.
                    if self
                        .store
                        .reindex(p, &v.resource_type, &v.id, v.version, index)
                        .await
                        .map_err(store_error)?
                    {
                        done += 1;
                    }
                }
                let Some(last) = page.last() else { break };
                if page.len() < BATCH {
                    break;
                }
                query.after = Some(Cursor {
                    values: last.sort.clone(),
                    resource_type: last.version.resource_type.clone(),
                    id: last.version.id.clone(),
                    backward: false,
                });
            }
            self.store
                .reindexed(p, resource_type)
                .await
                .map_err(store_error)?;
        }
        Ok(json!({
            "resourceType": "Parameters",
            "parameter": [{"name": "count", "valueInteger": done}]
        }))
    }
}
