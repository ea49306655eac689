//! JSON Merge Patch (RFC 7386): not part of FHIR R4, but what several clients send for a
//! partial update (fhirpy's `resource.patch(field=…)`, for one).

use crate::fhir::outcome::{ErrorKind, FhirError, FhirResult};
use serde_json::Value;

/// Applies a merge patch document (a JSON object) to a resource given as JSON.
pub fn apply_merge_patch(resource: &Value, patch: &[u8]) -> FhirResult<Value> {
    let patch: Value = serde_json::from_slice(patch)
        .map_err(|e| FhirError::invalid(format!("The merge patch is not valid JSON: {e}")))?;
    if !patch.is_object() {
        return Err(FhirError::invalid(
            "A JSON Merge Patch must be a JSON object (a JSON Patch is an array: send it as application/json-patch+json)",
        ));
    }
    let mut out = resource.clone();
    ::json_patch::merge(&mut out, &patch);
    if out.get("resourceType") != resource.get("resourceType") {
        return Err(FhirError::at(
            ErrorKind::Unprocessable,
            "resourceType",
            "A patch cannot change or remove the type of a resource",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merges_removes_with_null_and_keeps_the_type() {
        let r = json!({"resourceType": "Patient", "id": "1", "active": true, "gender": "male",
                       "name": [{"family": "A"}]});
        let out = apply_merge_patch(
            &r,
            br#"{"active": false, "gender": null, "name": [{"family": "B"}]}"#,
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"resourceType": "Patient", "id": "1", "active": false, "name": [{"family": "B"}]})
        );
        let e = apply_merge_patch(&r, br#"{"resourceType": null}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unprocessable);
        let e = apply_merge_patch(&r, br#"[{"op": "remove", "path": "/active"}]"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        let e = apply_merge_patch(&r, b"{").unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
    }
}
