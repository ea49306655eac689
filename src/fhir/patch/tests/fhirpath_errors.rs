//! FHIRPath Patch error paths: malformed documents (400) and operations that do not fit the
//! resource (422), each checked for its kind and for a message that says why.

use super::fhirpath_patch::{invalid, pat, unprocessable};
use super::*;

#[test]
fn values_of_the_wrong_type_or_place_are_unprocessable() {
    let add = |n: &str, v: Value| patch(&[op("add", "Patient", &[name(n), v])]);
    let human = value("valueHumanName", json!({"text": "x"}));
    unprocessable(
        &add("maritalStatus", human.clone()),
        "a HumanName value does not fit",
    );
    unprocessable(&add("birthDate", human), "a HumanName value does not fit");
    unprocessable(
        &add("nope", value("valueString", json!("x"))),
        "no element 'nope'",
    );
    unprocessable(
        &add("resourceType", value("valueString", json!("Group"))),
        "no element",
    );
    unprocessable(
        &add("birthDate", value("valueDate", json!("2000"))),
        "already has a value",
    );
    let bad_part = value("part", json!([{"name": "colour", "valueString": "x"}]));
    unprocessable(
        &add("contact", bad_part),
        "Patient.contact has no element 'colour'",
    );
    let add_to_primitive = patch(&[op(
        "add",
        "Patient.birthDate",
        &[name("id"), value("valueString", json!("x"))],
    )]);
    unprocessable(&add_to_primitive, "a date value");
}

#[test]
fn paths_that_select_the_wrong_number_of_elements() {
    let nothing = patch(&[op("delete", "Patient.maritalStatus", &[])]);
    assert_eq!(fp_ok(&pat(), &nothing), pat());
    unprocessable(
        &patch(&[op("delete", "Patient.telecom", &[])]),
        "selects 3 elements",
    );
    let v = || value("valueString", json!("x"));
    unprocessable(
        &patch(&[op("replace", "Patient.maritalStatus", &[v()])]),
        "no content found",
    );
    unprocessable(
        &patch(&[op("replace", "Patient.telecom.value", &[v()])]),
        "selects 3 elements",
    );
    unprocessable(
        &patch(&[op("add", "Patient.name", &[name("text"), v()])]),
        "selects 2 elements",
    );
    unprocessable(
        &patch(&[op("insert", "Patient.name.given", &[int("index", 0), v()])]),
        "selects 2 elements",
    );
    unprocessable(&patch(&[op("delete", "Patient", &[])]), "resource itself");
    unprocessable(
        &patch(&[op("replace", "Patient", &[v()])]),
        "resource itself",
    );
    // A where criterion that is not one boolean cannot be decided.
    unprocessable(
        &patch(&[op("delete", "Patient.name.where(given)", &[])]),
        "evaluating the path failed",
    );
}

#[test]
fn list_operations_out_of_range_or_on_single_elements() {
    let v = || value("valueIdentifier", json!({"value": "x"}));
    let p = patch(&[op("insert", "Patient.identifier", &[int("index", 1), v()])]);
    unprocessable(
        &p,
        "index 1 is out of range: Patient.identifier has 0 items",
    );
    let p = patch(&[op(
        "insert",
        "Patient.name[0].given",
        &[int("index", -1), v()],
    )]);
    unprocessable(&p, "index -1 is out of range");
    let moves = |s, d| {
        patch(&[op(
            "move",
            "Patient.telecom",
            &[int("source", s), int("destination", d)],
        )])
    };
    unprocessable(&moves(3, 0), "out of range: Patient.telecom has 3 items");
    unprocessable(&moves(0, -2), "out of range");
    let p = patch(&[op("insert", "Patient.birthDate", &[int("index", 0), v()])]);
    unprocessable(&p, "Patient.birthDate is not a list");
}

#[test]
fn errors_name_the_failing_operation() {
    let p = patch(&[
        op("delete", "Patient.birthDate", &[]),
        op("delete", "Patient.telecom", &[]),
    ]);
    let (kind, msg) = fp_err(&pat(), &p);
    assert_eq!(kind, ErrorKind::Unprocessable);
    assert!(
        msg.starts_with("FHIRPath Patch operation 1 (delete at 'Patient.telecom')"),
        "{msg}"
    );
    let e = apply_fhirpath_patch(&pat(), &p)
        .err()
        .map(|e| e.issues[0].expression.clone());
    assert_eq!(e, Some(Some("Parameters.parameter[1]".into())));
}

#[test]
fn malformed_parameters_are_invalid() {
    let ok = || op("delete", "Patient.birthDate", &[]);
    invalid(
        &json!({"resourceType": "Patient"}),
        "must be a Parameters resource",
    );
    invalid(
        &json!({"resourceType": "Parameters", "parameter": {}}),
        "must be an array",
    );
    invalid(
        &patch(&[ok(), json!({"name": "op", "part": []})]),
        "operation 1: the parameter is named 'op'",
    );
    invalid(&patch(&[json!({"name": "operation"})]), "has no parts");
    invalid(
        &patch(&[op("upsert", "Patient", &[])]),
        "unknown FHIRPath Patch type 'upsert'",
    );
    let no_path = json!({"name": "operation", "part": [{"name": "type", "valueCode": "delete"}]});
    invalid(&patch(&[no_path]), "needs a 'path' part");
    invalid(
        &patch(&[op("delete", "Patient.name[", &[])]),
        "does not parse",
    );
    invalid(
        &patch(&[op("delete", "Patient.name.count()", &[])]),
        "not supported",
    );
    invalid(
        &patch(&[op("delete", "Patient.name | Patient.telecom", &[])]),
        "'|'",
    );
    invalid(
        &patch(&[op("delete", "Patient.name.exists()", &[])]),
        "not supported",
    );
    invalid(
        &patch(&[op("add", "Patient", &[name("gender")])]),
        "needs a 'value' part",
    );
    let v = || value("valueString", json!("x"));
    invalid(
        &patch(&[op("add", "Patient", &[v()])]),
        "needs a 'name' part",
    );
    invalid(
        &patch(&[op("insert", "Patient.name", &[v()])]),
        "needs a 'index' part",
    );
    let half = [int("source", 0)];
    invalid(
        &patch(&[op("move", "Patient.name", &half)]),
        "needs a 'destination' part",
    );
    let index = part("index", "valueString", json!("1"));
    invalid(
        &patch(&[op("insert", "Patient.name", &[index, v()])]),
        "needs a valueInteger",
    );
    let two = json!({"name": "value", "valueString": "x", "valueCode": "y"});
    invalid(
        &patch(&[op("replace", "Patient.gender", &[two])]),
        "more than one",
    );
    invalid(
        &patch(&[op(
            "replace",
            "Patient.gender",
            &[value("valueFoo", json!(1))],
        )]),
        "valueFoo",
    );
    invalid(
        &patch(&[op("replace", "Patient.gender", &[json!({"name": "value"})])]),
        "has no value",
    );
    invalid(
        &patch(&[op(
            "delete",
            "Patient.gender",
            &[part("colour", "valueString", json!(1))],
        )]),
        "unknown part 'colour'",
    );
    invalid(
        &patch(&[op("delete", "Patient.gender", &[name("a"), name("b")])]),
        "more than once",
    );
    invalid(
        &patch(&[op(
            "insert",
            "Patient.name.first()",
            &[int("index", 0), v()],
        )]),
        "must name the list",
    );
    // Nesting is bounded before parsing: the parser is recursive.
    let deep = format!(
        "Patient.name.where({}true{})",
        "(".repeat(40),
        ")".repeat(40)
    );
    invalid(&patch(&[op("delete", &deep, &[])]), "too deeply nested");
}
