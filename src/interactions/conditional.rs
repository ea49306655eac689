//! The search behind conditional interactions (`If-None-Exist`, `PUT Type?…`, `DELETE Type?…`,
//! `PATCH Type?…`) and conditional references (`Patient?identifier=…` in a transaction).

use super::search::encode;
use super::{store_error, Fhir};
use crate::fhir::outcome::{ErrorKind, FhirError, FhirResult};
use crate::fhir::resource::check_resource_type;
use crate::fhir::search::params::Registry;
use crate::fhir::search::query::{self, StoreQuery};
use crate::partition::Partition;
use crate::store::Version;

/// Search result parameters make no sense in a condition; `_id`, `_lastUpdated`, `_tag`,
/// `_profile`, `_security`, `_source` and `_has` select resources and are allowed.
const NOT_CRITERIA: &[&str] = &[
    "_sort",
    "_count",
    "_total",
    "_summary",
    "_elements",
    "_include",
    "_revinclude",
    "_contained",
    "_containedType",
    "_cursor",
    "_format",
    "_pretty",
    "_type",
];

/// Parsed criteria of a conditional interaction.
#[derive(Debug, Clone)]
pub struct Criteria {
    pub resource_type: String,
    params: Vec<(String, String)>,
    /// The criteria in a canonical order: the key of the write guard that serialises
    /// conditional creates with the same criteria.
    pub key: String,
}

impl Criteria {
    /// `query` is the part after `?` (percent-encoded); `what` names the interaction for
    /// error messages (`If-None-Exist`, `conditional update` …).
    pub fn parse(resource_type: &str, query: &str, what: &str) -> FhirResult<Criteria> {
        let params = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        Criteria::from_params(resource_type, params, what)
    }

    /// Criteria from query parameters already decoded (empty values are ignored).
    pub fn from_params(
        resource_type: &str,
        params: Vec<(String, String)>,
        what: &str,
    ) -> FhirResult<Criteria> {
        check_resource_type(resource_type)?;
        let params: Vec<(String, String)> =
            params.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        if params.is_empty() {
            return Err(FhirError::invalid(format!(
                "The {what} has no search criteria; a condition needs at least one search parameter"
            )));
        }
        if let Some((k, _)) = params.iter().find(|(k, _)| {
            let name = k.split(':').next().unwrap_or(k);
            NOT_CRITERIA.contains(&name)
        }) {
            return Err(FhirError::invalid(format!(
                "The {what} criteria cannot contain '{k}': only search parameters select resources"
            )));
        }
        let mut sorted: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        sorted.sort();
        Ok(Criteria {
            resource_type: resource_type.to_string(),
            key: format!("{resource_type}?{}", sorted.join("&")),
            params,
        })
    }

    /// An `If-None-Exist` value (header or `Bundle.entry.request.ifNoneExist`): the query,
    /// with or without a leading `?` or `Type?`.
    pub fn parse_if_none_exist(
        resource_type: &str,
        value: &str,
        what: &str,
    ) -> FhirResult<Criteria> {
        let q = value.trim();
        let q = q
            .strip_prefix(&format!("{resource_type}?"))
            .or_else(|| q.strip_prefix('?'))
            .unwrap_or(q);
        Criteria::parse(resource_type, q, what)
    }

    /// `Type?query` (a conditional URL or reference).
    pub fn parse_url(url: &str, what: &str) -> FhirResult<Criteria> {
        let (rt, query) = url.split_once('?').unwrap_or((url, ""));
        Criteria::parse(rt, query, what)
    }
}

impl Fhir {
    /// The current resources matching `criteria`, at most `limit` + 1 of them (so the caller
    /// can tell "more than `limit`").
    pub(super) async fn matching(
        &self,
        p: &Partition,
        criteria: &Criteria,
        limit: usize,
    ) -> FhirResult<Vec<Version>> {
        let base = self.base_url(p);
        let options = self.parse_options(&base, false);
        let rt = criteria.resource_type.as_str();
        let req = query::parse(Registry::r4(), Some(rt), &criteria.params, &options)?;
        let filters = self.store_filters(p, &req).await?;
        let q = StoreQuery {
            resource_types: vec![rt.to_string()],
            filters,
            sort: Vec::new(),
            after: None,
            limit: limit + 1,
        };
        let found = self.store.search(p, &q).await.map_err(store_error)?;
        Ok(found.into_iter().map(|m| m.version).collect())
    }

    /// The one resource `criteria` matches, for a conditional reference: none or several
    /// fail with 412.
    pub(super) async fn matching_one(
        &self,
        p: &Partition,
        criteria: &Criteria,
        what: &str,
    ) -> FhirResult<Version> {
        let mut found = self.matching(p, criteria, 1).await?;
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(FhirError::new(
                ErrorKind::PreconditionFailed,
                format!("The {what} '{}' matches no resource", criteria.key),
            )),
            _ => Err(FhirError::new(
                ErrorKind::PreconditionFailed,
                format!(
                    "The {what} '{}' matches more than one resource",
                    criteria.key
                ),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_keys_do_not_depend_on_parameter_order() {
        let a = Criteria::parse("Patient", "identifier=http://x%7C1&birthdate=2000", "c").unwrap();
        let b = Criteria::parse("Patient", "birthdate=2000&identifier=http://x|1", "c").unwrap();
        assert_eq!(a.key, b.key);
        assert_ne!(
            a.key,
            Criteria::parse("Patient", "identifier=http://x|2", "c")
                .unwrap()
                .key
        );
    }

    #[test]
    fn criteria_must_select() {
        assert!(Criteria::parse("Patient", "", "c").is_err());
        assert!(Criteria::parse("Patient", "name=", "c").is_err());
        assert!(Criteria::parse("Patient", "name=x&_count=1", "c").is_err());
        assert!(Criteria::parse("Patient", "_sort=name", "c").is_err());
        assert!(Criteria::parse("Nope", "name=x", "c").is_err());
        assert!(Criteria::parse("Patient", "_id=1&_has:Observation:subject:code=1", "c").is_ok());
        assert!(Criteria::parse_url("Patient?name=x", "c").is_ok());
    }
}
