//! The wrapper's contract. (An integration test, so that the library itself is never rebuilt
//! with cfg(test): that would instantiate fhirbolt's generics a second time.)

use fhir_model::{check_json, json_to_xml, xml_to_json};

#[test]
fn accepts_decimals_and_rejects_unknown_elements() {
    let ok = br#"{"resourceType":"Observation","status":"final","code":{"text":"x"},"valueQuantity":{"value":1.50}}"#;
    check_json(ok).unwrap();
    let bad = br#"{"resourceType":"Patient","foo":1}"#;
    let e = check_json(bad).unwrap_err();
    assert!(e.message.contains("foo"), "{}", e.message);
}

#[test]
fn xml_round_trip_keeps_content() {
    let json =
        br#"{"resourceType":"Patient","id":"a","active":true,"name":[{"family":"Chalmers"}]}"#;
    let xml = json_to_xml(json).unwrap();
    assert!(xml.contains("Chalmers"));
    let back: serde_json::Value =
        serde_json::from_slice(&xml_to_json(xml.as_bytes()).unwrap()).unwrap();
    assert_eq!(back["name"][0]["family"], "Chalmers");
    assert_eq!(back["active"], true);
}
