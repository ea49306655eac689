//! `_summary` and `_elements`: the parts of a resource a search returns (search.html
//! "Summary" and "Elements"). Which elements are summary or mandatory comes from the official
//! StructureDefinitions (`profiles/summary-elements.json`, made by
//! `tools/gen_summary_elements.py`).

use super::query::Summary;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::OnceLock;

static SOURCE: &str = include_str!("../../../profiles/summary-elements.json");

struct Elements {
    summary: Vec<String>,
    mandatory: Vec<String>,
}

fn table() -> &'static HashMap<String, Elements> {
    static T: OnceLock<HashMap<String, Elements>> = OnceLock::new();
    T.get_or_init(|| {
        let v: Value =
            serde_json::from_str(SOURCE).expect("profiles/summary-elements.json is JSON");
        let list = |v: &Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        };
        v.as_object()
            .into_iter()
            .flatten()
            .map(|(k, e)| {
                (
                    k.clone(),
                    Elements {
                        summary: list(&e["summary"]),
                        mandatory: list(&e["mandatory"]),
                    },
                )
            })
            .collect()
    })
}

/// True when JSON property `key` is element `name` (also its choice forms, `valueQuantity` for
/// `value`, and the `_name` sibling that carries a primitive's id and extensions).
fn is_element(key: &str, name: &str) -> bool {
    let key = key.strip_prefix('_').unwrap_or(key);
    key == name
        || key
            .strip_prefix(name)
            .and_then(|rest| rest.chars().next())
            .is_some_and(|c| c.is_ascii_uppercase())
}

/// The tag a server puts on a resource it returns only in part.
fn mark_subsetted(obj: &mut Map<String, Value>) {
    let meta = obj
        .entry("meta")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(meta) = meta.as_object_mut() {
        let tags = meta.entry("tag").or_insert_with(|| json!([]));
        if let Some(tags) = tags.as_array_mut() {
            tags.push(json!({
                "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                "code": "SUBSETTED",
                "display": "Resource encoded in summary mode"
            }));
        }
    }
}

/// Reduces `resource` as `_summary` / `_elements` ask. Returns whether anything was asked
/// for (and the resource marked SUBSETTED).
pub fn apply(resource: &mut Value, summary: Summary, elements: &[String]) -> bool {
    let Some(obj) = resource.as_object_mut() else {
        return false;
    };
    let rt = obj
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let defs = table().get(&rt);
    let mandatory = |k: &str| defs.is_some_and(|d| d.mandatory.iter().any(|m| is_element(k, m)));
    let always = |k: &str| matches!(k, "resourceType" | "id" | "meta") || mandatory(k);
    let keep: Box<dyn Fn(&str) -> bool> = if !elements.is_empty() {
        Box::new(|k: &str| always(k) || elements.iter().any(|e| is_element(k, e)))
    } else {
        match summary {
            Summary::False | Summary::Count => return false,
            Summary::True => Box::new(|k: &str| {
                always(k) || defs.is_some_and(|d| d.summary.iter().any(|s| is_element(k, s)))
            }),
            Summary::Text => Box::new(|k: &str| always(k) || k == "text"),
            Summary::Data => Box::new(|k: &str| k != "text"),
        }
    };
    obj.retain(|k, _| keep(k));
    mark_subsetted(obj);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient() -> Value {
        json!({"resourceType": "Patient", "id": "p", "meta": {"versionId": "1"},
               "text": {"status": "generated", "div": "<div/>"},
               "name": [{"family": "Chalmers"}], "birthDate": "1974-12-25",
               "_birthDate": {"extension": []},
               "contact": [{"name": {"family": "Du Marché"}}], "deceasedBoolean": false})
    }

    #[test]
    fn summary_true_keeps_summary_elements() {
        let mut p = patient();
        assert!(apply(&mut p, Summary::True, &[]));
        let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
        assert!(keys.contains(&"name") && keys.contains(&"deceasedBoolean"));
        assert!(keys.contains(&"_birthDate"));
        assert!(!keys.contains(&"contact") && !keys.contains(&"text"));
        assert_eq!(p["meta"]["tag"][0]["code"], "SUBSETTED");
    }

    #[test]
    fn elements_keep_mandatory_and_listed() {
        let mut o = json!({"resourceType": "Observation", "id": "o", "status": "final",
                           "code": {"text": "x"}, "valueQuantity": {"value": 1},
                           "subject": {"reference": "Patient/p"}});
        apply(&mut o, Summary::False, &["value".to_string()]);
        let keys: Vec<&str> = o.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "resourceType",
                "id",
                "status",
                "code",
                "valueQuantity",
                "meta"
            ]
        );
    }

    #[test]
    fn data_drops_text_only_and_false_changes_nothing() {
        let mut p = patient();
        apply(&mut p, Summary::Data, &[]);
        assert!(p.get("text").is_none() && p.get("contact").is_some());
        let mut p = patient();
        assert!(!apply(&mut p, Summary::False, &[]));
        assert_eq!(p, patient());
    }
}
