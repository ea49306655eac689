//! Incoming resources: parse, validate against the R4 model, and stamp server-owned metadata.

use super::element_types;
use super::outcome::{ErrorKind, FhirError, FhirResult, Issue};
use super::primitives;
use serde_json::{Map, Value};

/// A resource that passed validation, as a JSON object (key order and decimal text preserved).
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub resource_type: String,
    pub body: Map<String, Value>,
}

impl Resource {
    pub fn id(&self) -> Option<&str> {
        self.body.get("id").and_then(Value::as_str)
    }
}

/// FHIR `id`: 1–64 of `[A-Za-z0-9-.]`.
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

pub fn check_id(id: &str) -> FhirResult<()> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(FhirError::invalid(format!(
            "'{id}' is not a valid FHIR id (1-64 characters of A-Z, a-z, 0-9, '-' and '.')"
        )))
    }
}

pub fn check_resource_type(name: &str) -> FhirResult<()> {
    if element_types::is_resource_type(name) {
        Ok(())
    } else {
        Err(FhirError::not_found(format!(
            "'{name}' is not a FHIR R4 resource type"
        )))
    }
}

/// Parses and validates one resource in FHIR JSON. Everything the server stores goes through
/// here: the typed R4 model (fhirbolt, strict) checks structure, cardinality and required
/// elements; `primitives` checks the lexical form of every primitive and names its location.
///
/// `expected_type` (the type in the URL) is checked before the rest of the validation, so a
/// resource posted to the wrong endpoint gets that explanation rather than its own defects.
pub fn parse_json(bytes: &[u8], expected_type: Option<&str>) -> FhirResult<Resource> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        FhirError::new(
            ErrorKind::Invalid,
            format!("The body is not valid JSON: {e}"),
        )
    })?;
    validate(value, Some(bytes), expected_type)
}

/// Validates a resource already parsed as JSON (e.g. an entry of a Bundle).
pub fn validate_value(value: Value) -> FhirResult<Resource> {
    validate(value, None, None)
}

fn validate(
    value: Value,
    bytes: Option<&[u8]>,
    expected_type: Option<&str>,
) -> FhirResult<Resource> {
    let Value::Object(body) = value else {
        return Err(FhirError::invalid("A resource must be a JSON object"));
    };
    let resource_type = match body.get("resourceType") {
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(FhirError::at(
                ErrorKind::Invalid,
                "resourceType",
                "resourceType must be a string",
            ))
        }
        None => {
            return Err(FhirError::invalid(
                "The resource has no resourceType, so it is not a FHIR resource",
            ))
        }
    };
    if let Some(expected) = expected_type.filter(|t| *t != resource_type) {
        return Err(FhirError::at(
            ErrorKind::Invalid,
            "resourceType",
            format!("The body is a {resource_type} but the URL is for {expected}"),
        ));
    }
    if !element_types::is_resource_type(&resource_type) {
        return Err(FhirError::at(
            ErrorKind::Invalid,
            "resourceType",
            format!("'{resource_type}' is not a FHIR R4 resource type"),
        ));
    }
    let value = Value::Object(body);
    let problems = primitives::check_primitives(&value);
    if !problems.is_empty() {
        return Err(FhirError {
            kind: ErrorKind::Invalid,
            issues: problems
                .into_iter()
                .map(|p| Issue {
                    severity: "error",
                    code: "value",
                    diagnostics: p.message,
                    expression: Some(p.location),
                })
                .collect(),
        });
    }
    let owned;
    let bytes = match bytes {
        Some(b) => b,
        None => {
            owned = serde_json::to_vec(&value).map_err(|e| {
                FhirError::new(ErrorKind::Internal, format!("re-encoding failed: {e}"))
            })?;
            &owned
        }
    };
    fhir_model::check_json(bytes).map_err(|e| {
        FhirError::at(
            ErrorKind::Invalid,
            resource_type.as_str(),
            format!("The resource does not conform to the FHIR R4 {resource_type} model: {e}"),
        )
    })?;
    let Value::Object(body) = value else {
        unreachable!("checked above")
    };
    Ok(Resource {
        resource_type,
        body,
    })
}

/// Sets `id`, `meta.versionId` and `meta.lastUpdated` (server-owned, whatever the client sent)
/// and returns the resource as compact JSON. `resourceType`, `id` and `meta` come first, as in
/// the spec's examples; everything else keeps the client's order.
pub fn stamp(resource: &Resource, id: &str, version: u64, last_updated: &str) -> Vec<u8> {
    let mut meta = match resource.body.get("meta") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    meta.shift_remove("versionId");
    meta.shift_remove("lastUpdated");
    let mut ordered_meta = Map::with_capacity(meta.len() + 2);
    ordered_meta.insert("versionId".into(), Value::String(version.to_string()));
    ordered_meta.insert(
        "lastUpdated".into(),
        Value::String(last_updated.to_string()),
    );
    ordered_meta.extend(meta);

    let mut out = Map::with_capacity(resource.body.len() + 3);
    out.insert(
        "resourceType".into(),
        Value::String(resource.resource_type.clone()),
    );
    out.insert("id".into(), Value::String(id.to_string()));
    out.insert("meta".into(), Value::Object(ordered_meta));
    for (k, v) in &resource.body {
        if !matches!(k.as_str(), "resourceType" | "id" | "meta") {
            out.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_vec(&Value::Object(out)).expect("a JSON map always serialises")
}

/// True when two resources differ only in `meta.versionId` / `meta.lastUpdated`, so an update
/// would change nothing (it is then answered without a new version, as HAPI FHIR does).
pub fn same_content(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    fn strip(m: &Map<String, Value>) -> Map<String, Value> {
        let mut m = m.clone();
        if let Some(Value::Object(meta)) = m.get_mut("meta") {
            meta.shift_remove("versionId");
            meta.shift_remove("lastUpdated");
            if meta.is_empty() {
                m.shift_remove("meta");
            }
        }
        m
    }
    strip(a) == strip(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_json_any(b: &[u8]) -> FhirResult<Resource> {
        parse_json(b, None)
    }

    #[test]
    fn ids() {
        assert!(is_valid_id("a-B.9"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("a b"));
        assert!(!is_valid_id(&"x".repeat(65)));
    }

    #[test]
    fn stamp_puts_server_metadata_first() {
        let r = parse_json_any(br#"{"resourceType":"Patient","active":true,"meta":{"versionId":"9","tag":[{"code":"t"}]}}"#).unwrap();
        let out: Value =
            serde_json::from_slice(&stamp(&r, "p1", 3, "2026-01-01T00:00:00Z")).unwrap();
        let keys: Vec<_> = out.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["resourceType", "id", "meta", "active"]);
        assert_eq!(out["meta"]["versionId"], "3");
        assert_eq!(out["meta"]["tag"][0]["code"], "t");
    }

    #[test]
    fn rejects_bad_input_with_locations() {
        assert_eq!(parse_json_any(b"{").unwrap_err().kind, ErrorKind::Invalid);
        assert_eq!(parse_json_any(b"[]").unwrap_err().kind, ErrorKind::Invalid);
        let e = parse_json_any(br#"{"resourceType":"Nope"}"#).unwrap_err();
        assert!(e.message().contains("Nope"));
        let e =
            parse_json_any(br#"{"resourceType":"Patient","birthDate":"1970-13-01"}"#).unwrap_err();
        assert_eq!(e.issues[0].expression.as_deref(), Some("Patient.birthDate"));
    }

    #[test]
    fn same_content_ignores_server_meta() {
        let a =
            parse_json_any(br#"{"resourceType":"Patient","meta":{"versionId":"1"},"active":true}"#)
                .unwrap();
        let b = parse_json_any(br#"{"resourceType":"Patient","active":true}"#).unwrap();
        assert!(same_content(&a.body, &b.body));
    }
}
