//! The history interaction at instance, type and system level.

use super::{store_error, stored_json, Fhir};
use crate::fhir::bundle::{etag, history_bundle, HistoryEntry, Link};
use crate::fhir::instant;
use crate::fhir::outcome::{FhirError, FhirResult};
use crate::fhir::resource::{check_id, check_resource_type};
use crate::partition::Partition;
use crate::store::{HistoryCursor, HistoryQuery, HistoryScope, Method, Version};
use serde_json::Value;

/// The parameters of a history request, already checked.
#[derive(Debug, Clone, Default)]
pub struct HistoryRequest {
    pub count: Option<usize>,
    pub since: Option<i64>,
    since_text: Option<String>,
    cursor: Option<HistoryCursor>,
}

impl HistoryRequest {
    /// Reads `_count`, `_since` and the paging cursor; anything else is refused, because
    /// silently ignoring a filter (`_at`, `_list`) would return wrong results.
    pub fn parse(params: &[(String, String)]) -> FhirResult<HistoryRequest> {
        let mut r = HistoryRequest::default();
        for (k, v) in params {
            match k.as_str() {
                "_count" => {
                    r.count = Some(v.parse().map_err(|_| {
                        FhirError::invalid(format!("_count must be a non-negative integer, not '{v}'"))
                    })?)
                }
                "_since" => {
                    r.since = Some(instant::parse_fhir_instant(v).ok_or_else(|| {
                        FhirError::invalid(format!(
                            "_since must be an instant with a time zone (e.g. 2026-01-01T00:00:00Z), not '{v}'"
                        ))
                    })?);
                    r.since_text = Some(v.clone());
                }
                "_page" => {
                    r.cursor = Some(HistoryCursor::decode(v).ok_or_else(|| {
                        FhirError::invalid(format!("'{v}' is not a paging position this server issued"))
                    })?)
                }
                other => {
                    return Err(FhirError::invalid(format!(
                        "The history interaction does not support the parameter '{other}' (supported: _count, _since)"
                    )))
                }
            }
        }
        Ok(r)
    }
}

fn encode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

impl Fhir {
    pub async fn history(
        &self,
        p: &Partition,
        scope: HistoryScope<'_>,
        req: &HistoryRequest,
    ) -> FhirResult<Value> {
        let path = match scope {
            HistoryScope::System => "_history".to_string(),
            HistoryScope::Type(rt) => {
                check_resource_type(rt)?;
                format!("{rt}/_history")
            }
            HistoryScope::Instance(rt, id) => {
                check_resource_type(rt)?;
                check_id(id)?;
                format!("{rt}/{id}/_history")
            }
        };
        if let HistoryScope::Instance(rt, id) = scope {
            if self
                .store
                .current(p, rt, id)
                .await
                .map_err(store_error)?
                .is_none()
            {
                return Err(FhirError::not_found(format!("{rt}/{id} is not known")));
            }
        }
        let count = req
            .count
            .unwrap_or(self.limits.default_count)
            .min(self.limits.max_count);
        let query = HistoryQuery {
            since: req.since,
            after: req.cursor.clone(),
            limit: count + 1,
        };
        let mut versions = self
            .store
            .history(p, scope, &query)
            .await
            .map_err(store_error)?;
        let has_more = versions.len() > count;
        versions.truncate(count);

        let base = self.base_url(p);
        let link = |cursor: Option<&HistoryCursor>| {
            let mut url = format!("{base}/{path}?_count={count}");
            if let Some(s) = &req.since_text {
                url.push_str(&format!("&_since={}", encode(s)));
            }
            if let Some(c) = cursor {
                url.push_str(&format!("&_page={}", encode(&c.encode())));
            }
            url
        };
        let mut links = vec![Link {
            relation: "self",
            url: link(req.cursor.as_ref()),
        }];
        if has_more {
            if let Some(last) = versions.last() {
                links.push(Link {
                    relation: "next",
                    url: link(Some(&HistoryCursor::after(last))),
                });
            }
        }
        let entries = versions
            .into_iter()
            .map(|v| history_entry(&base, v))
            .collect::<FhirResult<Vec<_>>>()?;
        let now = instant::to_fhir_instant(instant::next_micros());
        Ok(history_bundle(
            &uuid::Uuid::new_v4().to_string(),
            &now,
            &links,
            entries,
        ))
    }
}

fn history_entry(base: &str, v: Version) -> FhirResult<HistoryEntry> {
    let resource = match &v.body {
        Some(_) => Some(stored_json(&v)?),
        None => None,
    };
    let (request_url, status) = match v.method {
        Method::Post => (v.resource_type.clone(), "201 Created"),
        Method::Put if v.version == 1 => (format!("{}/{}", v.resource_type, v.id), "201 Created"),
        Method::Put | Method::Patch => (format!("{}/{}", v.resource_type, v.id), "200 OK"),
        Method::Delete => (format!("{}/{}", v.resource_type, v.id), "204 No Content"),
    };
    Ok(HistoryEntry {
        full_url: format!("{base}/{}/{}", v.resource_type, v.id),
        resource,
        method: v.method.as_str(),
        request_url,
        status,
        etag: etag(v.version),
        last_modified: instant::to_fhir_instant(v.last_updated),
    })
}
