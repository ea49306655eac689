//! Indexes that order a current-version collection by one search parameter's sort value, so
//! that a `_sort` no filter narrows (`Observation?_sort=-date`, a payer's newest claims) reads
//! its page from an index instead of the sort value of every resource of the type
//! (`mongo_search::Sweep`, which is refused past `FHIRD_MONGO_MAX_SORTED` matches).
//!
//! Which parameters get one is configured per resource type (`FHIRD_MONGO_SORT_INDEXES`,
//! [`DEFAULT`] otherwise): every index costs each write of the type, so not every parameter of
//! every type gets one. A parameter is two indexes (`mongo_search::sort_index_keys`): `_sort=P`
//! reads each resource's smallest value, `_sort=-P` its largest. They are built with the
//! collection's other indexes, the first time this process writes the type; a search uses the
//! ones the collection has, as listed by the server (re-listed after
//! `mongo_layout::RECHECK_AFTER`, so that indexes another process built are seen, and at once
//! after a read whose hinted index an operator dropped).

use super::mongo_layout::{Remembered, RECHECK_AFTER};
use mongodb::bson::Document;
use mongodb::error::{ErrorKind, Result};
use mongodb::{Collection, IndexModel};
use std::collections::HashMap;

/// The sorts clinical, patient and payer lists ask for without other criteria.
pub const DEFAULT: &str = "Observation:date,Encounter:date,Condition:recorded-date,\
Procedure:date,DiagnosticReport:date,MedicationRequest:authoredon,Immunization:date,\
DocumentReference:date,AllergyIntolerance:date,Claim:created,ClaimResponse:created,\
ExplanationOfBenefit:created,Patient:family,Patient:birthdate";

/// NamespaceNotFound: `listIndexes` of a collection that does not exist yet.
const NAMESPACE_NOT_FOUND: i32 = 26;

#[derive(Default)]
pub struct SortIndexes {
    /// Resource type -> the parameters whose sort indexes its collections get.
    wanted: HashMap<String, Vec<String>>,
    /// Collection -> the key patterns of its indexes.
    listed: Remembered<Vec<Document>>,
}

impl SortIndexes {
    /// `Type:param` pairs separated by commas (`Observation:date,Claim:created`); empty or
    /// `none` for no sort index.
    pub fn parse(spec: &str) -> std::result::Result<SortIndexes, String> {
        let mut wanted: HashMap<String, Vec<String>> = HashMap::new();
        let spec = spec.trim();
        if spec.is_empty() || spec == "none" {
            return Ok(SortIndexes::default());
        }
        for item in spec.split(',').map(str::trim) {
            let (rt, param) = item
                .split_once(':')
                .filter(|(rt, p)| {
                    rt.starts_with(|c: char| c.is_ascii_uppercase())
                        && rt.chars().all(|c| c.is_ascii_alphanumeric())
                        && !p.is_empty()
                        && !p.contains([':', '.', '$', ' '])
                })
                .ok_or_else(|| {
                    format!("`{item}` is not `ResourceType:parameter` (e.g. Observation:date)")
                })?;
            let params = wanted.entry(rt.to_string()).or_default();
            if !params.iter().any(|p| p == param) {
                params.push(param.to_string());
            }
        }
        Ok(SortIndexes {
            wanted,
            listed: Remembered::default(),
        })
    }

    /// The configuration of `FHIRD_MONGO_SORT_INDEXES`, or [`DEFAULT`].
    pub fn from_env() -> anyhow::Result<SortIndexes> {
        let spec = std::env::var("FHIRD_MONGO_SORT_INDEXES").unwrap_or_else(|_| DEFAULT.into());
        SortIndexes::parse(&spec).map_err(|e| anyhow::anyhow!("FHIRD_MONGO_SORT_INDEXES: {e}"))
    }

    /// The sort indexes a collection of `resource_type` gets.
    pub fn models(&self, resource_type: &str) -> Vec<IndexModel> {
        self.wanted
            .get(resource_type)
            .into_iter()
            .flatten()
            .flat_map(|p| [false, true].map(|d| super::mongo_search::sort_index_keys(p, d)))
            .map(|keys| IndexModel::builder().keys(keys).build())
            .collect()
    }

    /// The key patterns of the indexes `coll` has (none when it does not exist).
    pub async fn present(&self, coll: &Collection<Document>) -> Result<Vec<Document>> {
        let name = coll.name();
        if let Some(keys) = self.listed.get(name, |_, age| age < RECHECK_AFTER) {
            return Ok(keys);
        }
        let keys = match coll.list_indexes().await {
            Ok(mut cursor) => {
                let mut keys = Vec::new();
                while cursor.advance().await? {
                    keys.push(cursor.deserialize_current()?.keys);
                }
                keys
            }
            Err(e) if matches!(&*e.kind, ErrorKind::Command(c) if c.code == NAMESPACE_NOT_FOUND) => {
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        self.listed.put(name, keys.clone());
        Ok(keys)
    }

    /// Forgets what was listed of `collection` (its indexes have just changed).
    pub fn changed(&self, collection: &str) {
        self.listed.forget(collection);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_and_parameter_pairs() {
        let s = SortIndexes::parse(" Observation:date, Claim:created,Observation:date ").unwrap();
        assert_eq!(s.models("Observation").len(), 2);
        assert_eq!(s.models("Claim").len(), 2);
        assert!(s.models("Patient").is_empty());
        assert!(SortIndexes::parse("none")
            .unwrap()
            .models("Observation")
            .is_empty());
        assert!(SortIndexes::parse("").unwrap().wanted.is_empty());
        for bad in [
            "Observation",
            "observation:date",
            "Observation:",
            "Obs:a.b",
            "A:b,",
        ] {
            assert!(SortIndexes::parse(bad).is_err(), "{bad}");
        }
        let d = SortIndexes::parse(DEFAULT).unwrap();
        assert_eq!(d.models("Patient").len(), 4);
        assert_eq!(d.models("Observation").len(), 2);
    }
}
