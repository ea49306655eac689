//! Compartments (compartmentdefinition.html): which parameters put a resource of a given type
//! into, say, a Patient's compartment. From the official CompartmentDefinitions in `profiles/`.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

static SOURCES: &[(&str, &str)] = &[
    (
        "Patient",
        include_str!("../../../profiles/CompartmentDefinition-patient.json"),
    ),
    (
        "Encounter",
        include_str!("../../../profiles/CompartmentDefinition-encounter.json"),
    ),
    (
        "Practitioner",
        include_str!("../../../profiles/CompartmentDefinition-practitioner.json"),
    ),
    (
        "RelatedPerson",
        include_str!("../../../profiles/CompartmentDefinition-relatedPerson.json"),
    ),
    (
        "Device",
        include_str!("../../../profiles/CompartmentDefinition-device.json"),
    ),
];

type Table = HashMap<&'static str, HashMap<String, Vec<String>>>;

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| {
        SOURCES
            .iter()
            .map(|(kind, src)| {
                let def: Value = serde_json::from_str(src).expect("CompartmentDefinition is JSON");
                let members = def["resource"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| {
                        let params: Vec<String> = r["param"]
                            .as_array()?
                            .iter()
                            .filter_map(|p| p.as_str().map(str::to_string))
                            .collect();
                        let code = r["code"].as_str()?.to_string();
                        (!params.is_empty()).then_some((code, params))
                    })
                    .collect();
                (*kind, members)
            })
            .collect()
    })
}

/// True for the types that define a compartment (Patient, Encounter, Practitioner,
/// RelatedPerson, Device).
pub fn is_compartment(kind: &str) -> bool {
    table().contains_key(kind)
}

/// The parameters of `resource_type` that link it into a `kind` compartment (`Observation` in
/// `Patient`: subject, performer); empty when the type is not in that compartment.
pub fn params(kind: &str, resource_type: &str) -> &'static [String] {
    table()
        .get(kind)
        .and_then(|m| m.get(resource_type))
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The canonical URLs of the compartment definitions (`CapabilityStatement.rest.compartment`).
pub fn urls() -> &'static [String] {
    static U: OnceLock<Vec<String>> = OnceLock::new();
    U.get_or_init(|| {
        SOURCES
            .iter()
            .filter_map(|(_, src)| {
                let def: Value = serde_json::from_str(src).ok()?;
                def["url"].as_str().map(str::to_string)
            })
            .collect()
    })
}

/// Every type with members in a `kind` compartment, sorted: those the definition lists, and
/// `kind` itself (each resource is in its own compartment).
pub fn member_types(kind: &str) -> Vec<&str> {
    let Some(members) = table().get(kind) else {
        return Vec::new();
    };
    let mut v: Vec<&str> = members.keys().map(String::as_str).collect();
    if !members.contains_key(kind) {
        v.push(kind);
    }
    v.sort_unstable();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_compartment_from_the_official_definition() {
        assert_eq!(params("Patient", "Observation"), ["subject", "performer"]);
        assert_eq!(params("Patient", "Patient"), ["link"]);
        assert!(params("Patient", "Organization").is_empty());
        assert!(member_types("Patient").contains(&"Claim"));
        assert!(member_types("Device").contains(&"Device"));
        assert!(is_compartment("Encounter") && !is_compartment("Claim"));
        assert_eq!(urls().len(), 5);
        assert!(
            urls().contains(&"http://hl7.org/fhir/CompartmentDefinition/relatedPerson".to_string())
        );
    }
}
