//! The CapabilityStatement, generated from what the server implements.
//!
//! `capability/CapabilityStatement.json` is a checked-in copy (for base
//! `http://localhost:8080/fhir`); a test keeps it equal to what `/metadata` serves, so a change
//! of capabilities shows up in review. Regenerate it with `fhird capability`.

use super::element_types;
use super::search::params::Registry;
use super::search::text;
use serde_json::{json, Value};

/// Changes whenever the statement's content changes (the statement is not dated per request,
/// so that it is reproducible).
pub const CAPABILITY_DATE: &str = "2026-11-25";

/// Interactions every resource type supports.
const TYPE_INTERACTIONS: &[&str] = &[
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
];

/// The search parameters of a type the server answers (unsupported ones are left out: using
/// them gives 400, as does `_content` unless `content_search`).
fn search_params(rt: &str, content_search: bool) -> Vec<Value> {
    Registry::r4()
        .params_of(rt)
        .into_iter()
        .filter(|p| {
            p.unsupported.is_none() && (content_search || p.code != text::Source::Content.code())
        })
        .map(|p| {
            let mut v = json!({"name": p.code, "definition": p.url, "type": p.kind.as_str()});
            if let Some(inner) = &p.embedded {
                v["documentation"] = json!(format!(
                    "The {inner} first in the Bundle: search by its parameters as \
                     {}.[parameter] (chains too), by its id as {0}={inner}/[id], or :missing",
                    p.code
                ));
            }
            v
        })
        .collect()
}

/// `_revinclude` values that reach a type: every reference parameter that may point at it.
fn rev_includes(rt: &str) -> Vec<String> {
    let mut v: Vec<String> = Registry::r4()
        .referencing(rt)
        .into_iter()
        .map(|(source, p)| format!("{source}:{}", p.code))
        .collect();
    v.insert(0, "*".to_string());
    v
}

/// `_include` values a type offers: each of its reference parameters, and `*`.
fn includes(rt: &str) -> Vec<String> {
    let registry = Registry::r4();
    let mut v: Vec<String> = registry
        .params_of(rt)
        .into_iter()
        .filter(|p| p.follows_references())
        .map(|p| format!("{rt}:{}", p.code))
        .collect();
    v.insert(0, "*".to_string());
    v
}

pub fn capability_statement(base_url: &str, content_search: bool) -> Value {
    let resources: Vec<Value> = element_types::resource_types()
        .iter()
        .map(|rt| {
            json!({
                "type": rt,
                "profile": format!("http://hl7.org/fhir/StructureDefinition/{rt}"),
                "interaction": TYPE_INTERACTIONS.iter().map(|i| json!({"code": i})).collect::<Vec<_>>(),
                "versioning": "versioned-update",
                "readHistory": true,
                "updateCreate": true,
                "conditionalCreate": true,
                "conditionalRead": "modified-since",
                "conditionalUpdate": true,
                "conditionalDelete": "multiple",
                "searchInclude": includes(rt),
                "searchRevInclude": rev_includes(rt),
                "searchParam": search_params(rt, content_search),
            })
        })
        .collect();
    json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITY_DATE,
        "publisher": "fhird",
        "kind": "instance",
        "software": {"name": "fhird", "version": env!("CARGO_PKG_VERSION")},
        "implementation": {"description": "fhird FHIR R4 server", "url": base_url},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "application/json", "application/fhir+xml", "application/xml"],
        "patchFormat": ["application/json-patch+json", "application/fhir+json", "application/fhir+xml", "application/merge-patch+json"],
        "rest": [{
            "mode": "server",
            "compartment": super::search::compartment::urls(),
            "resource": resources,
            "interaction": [
                {"code": "transaction"},
                {"code": "batch"},
                {"code": "history-system"},
                {"code": "search-system"}
            ],
            "searchParam": [
                {"name": "_id", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Resource-id"},
                {"name": "_lastUpdated", "type": "date", "definition": "http://hl7.org/fhir/SearchParameter/Resource-lastUpdated"},
                {"name": "_tag", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Resource-tag"},
                {"name": "_profile", "type": "uri", "definition": "http://hl7.org/fhir/SearchParameter/Resource-profile"},
                {"name": "_security", "type": "token", "definition": "http://hl7.org/fhir/SearchParameter/Resource-security"},
                {"name": "_source", "type": "uri", "definition": "http://hl7.org/fhir/SearchParameter/Resource-source"},
                {"name": "_type", "type": "token"},
                {"name": "_list", "type": "special", "documentation": "The resources a List lists (List.entry.item, entries marked deleted left out), by the List's id; functional lists ($current-…) are not supported"},
                {"name": "_filter", "type": "special", "documentation": "search_filter.html: tests of any search parameter of the searched types (chains too) with eq ne co sw gt lt ge le sa eb ap pr ss sb in ni re, joined by and/or, grouped, negated with not(…); no filters inside a path ([…]), no ew or po"}
            ],
        }],
    })
}
