//! The CapabilityStatement, generated from what the server implements.
//!
//! `capability/CapabilityStatement.json` is a checked-in copy (for base
//! `http://localhost:8080/fhir`); a test keeps it equal to what `/metadata` serves, so a change
//! of capabilities shows up in review. Regenerate it with `fhird capability`.

use super::element_types;
use serde_json::{json, Value};

/// Changes whenever the statement's content changes (the statement is not dated per request,
/// so that it is reproducible).
pub const CAPABILITY_DATE: &str = "2026-11-25";

/// Interactions every resource type supports.
const TYPE_INTERACTIONS: &[&str] = &[
    "read",
    "vread",
    "update",
    "delete",
    "history-instance",
    "history-type",
    "create",
];

pub fn capability_statement(base_url: &str) -> Value {
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
                "conditionalCreate": false,
                "conditionalRead": "modified-since",
                "conditionalUpdate": false,
                "conditionalDelete": "not-supported",
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
        "rest": [{
            "mode": "server",
            "resource": resources,
            "interaction": [{"code": "history-system"}],
        }],
    })
}
