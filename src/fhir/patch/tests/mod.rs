//! Patch tests. Cases from the official FHIR test suite (FHIR/fhir-test-cases,
//! `r4/patch/fhir-patch-tests.xml`) are in `official.rs`, transcribed from XML to JSON; JSON
//! Patch cases follow the categories of the RFC 6902 suite (json-patch/json-patch-tests,
//! `tests.json`), put on FHIR resources.

mod fhirpath_errors;
mod fhirpath_patch;
mod json_patch;
mod official;

use super::{apply_fhirpath_patch, apply_json_patch};
use crate::fhir::outcome::ErrorKind;
use serde_json::{json, Map, Value};

/// A FHIRPath Patch `Parameters` with these operations.
fn patch(ops: &[Value]) -> Value {
    json!({"resourceType": "Parameters", "parameter": ops})
}

/// One operation: its `type` and `path`, then `parts`.
fn op(ty: &str, path: &str, parts: &[Value]) -> Value {
    let mut all = vec![
        json!({"name": "type", "valueCode": ty}),
        json!({"name": "path", "valueString": path}),
    ];
    all.extend(parts.iter().cloned());
    json!({"name": "operation", "part": all})
}

/// A part `name` with one `key` (`valueString`, `part` …).
fn part(name: &str, key: &str, v: Value) -> Value {
    let mut m = Map::new();
    m.insert("name".into(), json!(name));
    m.insert(key.into(), v);
    Value::Object(m)
}

fn value(key: &str, v: Value) -> Value {
    part("value", key, v)
}

fn name(n: &str) -> Value {
    part("name", "valueString", json!(n))
}

fn int(name: &str, i: i64) -> Value {
    part(name, "valueInteger", json!(i))
}

fn fp_ok(resource: &Value, parameters: &Value) -> Value {
    apply_fhirpath_patch(resource, parameters).unwrap_or_else(|e| panic!("{e}"))
}

fn fp_err(resource: &Value, parameters: &Value) -> (ErrorKind, String) {
    match apply_fhirpath_patch(resource, parameters) {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => (e.kind, e.message()),
    }
}

fn jp_ok(resource: &Value, patch: Value) -> Value {
    apply_json_patch(resource, patch.to_string().as_bytes()).unwrap_or_else(|e| panic!("{e}"))
}

fn jp_err(resource: &Value, patch: &[u8]) -> (ErrorKind, String) {
    match apply_json_patch(resource, patch) {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => (e.kind, e.message()),
    }
}
