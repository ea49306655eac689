//! Placeholder until the patch module lands (JSON Patch and FHIRPath Patch).

use super::outcome::{ErrorKind, FhirError, FhirResult};
use serde_json::Value;

pub fn apply_json_patch(_resource: &Value, _patch: &[u8]) -> FhirResult<Value> {
    Err(FhirError::new(
        ErrorKind::NotImplemented,
        "JSON Patch is not implemented yet",
    ))
}

pub fn apply_fhirpath_patch(_resource: &Value, _parameters: &Value) -> FhirResult<Value> {
    Err(FhirError::new(
        ErrorKind::NotImplemented,
        "FHIRPath Patch is not implemented yet",
    ))
}
