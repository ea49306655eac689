//! The cases of the official FHIRPath Patch tests (FHIR/fhir-test-cases,
//! `r4/patch/fhir-patch-tests.xml`, and the older `fhir-path-tests.xml` beside it), each
//! named as there, transcribed from XML to JSON.

use super::*;

fn patient(body: Value) -> Value {
    let mut p = json!({"resourceType": "Patient"});
    if let (Some(p), Value::Object(b)) = (p.as_object_mut(), body) {
        p.extend(b);
    }
    p
}

/// A Patient whose identifiers have values "value N", for the list cases.
fn identifiers(values: &[u32]) -> Value {
    let ids: Vec<Value> = values
        .iter()
        .map(|n| json!({"system": "http://example.org", "value": format!("value {n}")}))
        .collect();
    patient(json!({"identifier": ids}))
}

fn identifier_value(n: u32) -> Value {
    value(
        "valueIdentifier",
        json!({"system": "http://example.org", "value": format!("value {n}")}),
    )
}

fn contact() -> Value {
    patient(json!({"contact": [{"name": {"text": "a name"}, "gender": "male"}]}))
}

#[test]
fn no_difference_and_list_unchanged() {
    for input in [
        patient(json!({"birthDate": "1920-01-01"})),
        identifiers(&[1, 2]),
    ] {
        let empty = json!({"resourceType": "Parameters"});
        assert_eq!(fp_ok(&input, &empty), input);
    }
}

#[test]
fn replace_delete_and_add_primitive() {
    let input = patient(json!({"birthDate": "1920-01-01"}));
    let replace = patch(&[op(
        "replace",
        "Patient.birthDate",
        &[value("valueDate", json!("1930-01-01"))],
    )]);
    assert_eq!(
        fp_ok(&input, &replace),
        patient(json!({"birthDate": "1930-01-01"}))
    );
    let delete = patch(&[op("delete", "Patient.birthDate", &[])]);
    assert_eq!(fp_ok(&input, &delete), patient(json!({})));
    let add = patch(&[op(
        "add",
        "Patient",
        &[name("birthDate"), value("valueDate", json!("1930-01-01"))],
    )]);
    assert_eq!(
        fp_ok(&patient(json!({})), &add),
        patient(json!({"birthDate": "1930-01-01"}))
    );
}

#[test]
fn replace_nested_primitive() {
    let gender = patch(&[op(
        "replace",
        "Patient.contact[0].gender",
        &[value("valueCode", json!("female"))],
    )]);
    assert_eq!(
        fp_ok(&contact(), &gender),
        patient(json!({"contact": [{"name": {"text": "a name"}, "gender": "female"}]}))
    );
    let text = patch(&[op(
        "replace",
        "Patient.contact[0].name.text",
        &[value("valueString", json!("the name"))],
    )]);
    assert_eq!(
        fp_ok(&contact(), &text),
        patient(json!({"contact": [{"name": {"text": "the name"}, "gender": "male"}]}))
    );
}

#[test]
fn delete_nested_primitive() {
    let gender = patch(&[op("delete", "Patient.contact[0].gender", &[])]);
    assert_eq!(
        fp_ok(&contact(), &gender),
        patient(json!({"contact": [{"name": {"text": "a name"}}]}))
    );
    // #2: deleting the name's only element leaves no empty `name` behind.
    let text = patch(&[op("delete", "Patient.contact[0].name.text", &[])]);
    assert_eq!(
        fp_ok(&contact(), &text),
        patient(json!({"contact": [{"gender": "male"}]}))
    );
}

#[test]
fn add_nested_primitive() {
    let input = patient(json!({"contact": [{"name": {"text": "a name"}}]}));
    let add = patch(&[op(
        "add",
        "Patient.contact[0]",
        &[name("gender"), value("valueCode", json!("male"))],
    )]);
    assert_eq!(fp_ok(&input, &add), contact());
}

#[test]
fn add_replace_and_delete_complex() {
    let add = patch(&[op(
        "add",
        "Patient",
        &[
            name("maritalStatus"),
            value("valueCodeableConcept", json!({"text": "married"})),
        ],
    )]);
    assert_eq!(
        fp_ok(&patient(json!({})), &add),
        patient(json!({"maritalStatus": {"text": "married"}}))
    );
    let input = patient(json!({"maritalStatus": {"id": "1", "text": "married"}}));
    let replace = patch(&[op(
        "replace",
        "Patient.maritalStatus",
        &[value(
            "valueCodeableConcept",
            json!({"id": "2", "text": "not married"}),
        )],
    )]);
    assert_eq!(
        fp_ok(&input, &replace),
        patient(json!({"maritalStatus": {"id": "2", "text": "not married"}}))
    );
    let delete = patch(&[op("delete", "Patient.maritalStatus", &[])]);
    assert_eq!(fp_ok(&input, &delete), patient(json!({})));
}

#[test]
fn add_and_delete_anonymous_type() {
    let add = patch(&[op(
        "add",
        "Patient",
        &[
            name("contact"),
            value(
                "part",
                json!([{"name": "name", "valueHumanName": {"text": "a name"}}]),
            ),
        ],
    )]);
    let with_contact = patient(json!({"contact": [{"name": {"text": "a name"}}]}));
    assert_eq!(fp_ok(&patient(json!({})), &add), with_contact);
    let delete = patch(&[op("delete", "Patient.contact[0]", &[])]);
    assert_eq!(fp_ok(&with_contact, &delete), patient(json!({})));
}

#[test]
fn list_unchanged_contents_changed() {
    let mut input = identifiers(&[1, 2]);
    input["identifier"][0]["id"] = json!("a");
    input["identifier"][1]["id"] = json!("b");
    let swap = patch(&[
        op(
            "replace",
            "Patient.identifier[0].value",
            &[value("valueString", json!("value 2"))],
        ),
        op(
            "replace",
            "Patient.identifier[1].value",
            &[value("valueString", json!("value 1"))],
        ),
    ]);
    let mut expected = identifiers(&[2, 1]);
    expected["identifier"][0]["id"] = json!("a");
    expected["identifier"][1]["id"] = json!("b");
    assert_eq!(fp_ok(&input, &swap), expected);
}

#[test]
fn add_to_list_and_insert_at_its_end() {
    let add = patch(&[op(
        "add",
        "Patient",
        &[name("identifier"), identifier_value(3)],
    )]);
    assert_eq!(fp_ok(&identifiers(&[1, 2]), &add), identifiers(&[1, 2, 3]));
    // The older file's "Add to list" inserts at index = length.
    let insert = patch(&[op(
        "insert",
        "Patient.identifier",
        &[int("index", 2), identifier_value(3)],
    )]);
    assert_eq!(
        fp_ok(&identifiers(&[1, 2]), &insert),
        identifiers(&[1, 2, 3])
    );
}

#[test]
fn insert_in_list() {
    for (index, expected) in [(1, [1, 3, 2]), (0, [3, 1, 2])] {
        let insert = patch(&[op(
            "insert",
            "Patient.identifier",
            &[int("index", index), identifier_value(3)],
        )]);
        assert_eq!(
            fp_ok(&identifiers(&[1, 2]), &insert),
            identifiers(&expected),
            "index {index}"
        );
    }
}

#[test]
fn delete_from_list() {
    for (index, expected) in [(0, [2, 3]), (1, [1, 3]), (2, [1, 2])] {
        let path = format!("Patient.identifier[{index}]");
        let delete = patch(&[op("delete", &path, &[])]);
        assert_eq!(
            fp_ok(&identifiers(&[1, 2, 3]), &delete),
            identifiers(&expected),
            "{path}"
        );
    }
}

#[test]
fn reorder_list() {
    let moves = |pairs: &[(i64, i64)]| {
        let ops: Vec<Value> = pairs
            .iter()
            .map(|(s, d)| {
                op(
                    "move",
                    "Patient.identifier",
                    &[int("source", *s), int("destination", *d)],
                )
            })
            .collect();
        patch(&ops)
    };
    type Case<'a> = (&'a str, &'a [(i64, i64)], [u32; 4]);
    let cases: [Case; 6] = [
        ("#1", &[(3, 1)], [1, 4, 2, 3]),
        ("#2", &[(3, 0)], [4, 1, 2, 3]),
        ("#3", &[(3, 2)], [1, 2, 4, 3]),
        ("#4", &[(0, 3)], [2, 3, 4, 1]),
        ("#5", &[(1, 0), (2, 1)], [2, 3, 1, 4]),
        ("#6", &[(3, 0), (3, 1), (3, 2)], [4, 3, 2, 1]),
    ];
    for (case, pairs, expected) in cases {
        assert_eq!(
            fp_ok(&identifiers(&[1, 2, 3, 4]), &moves(pairs)),
            identifiers(&expected),
            "Reorder List {case}"
        );
    }
}

#[test]
fn operation_on_missing_element() {
    let input = patient(json!({"identifier": [{"use": "official", "value": "123"}]}));
    let add = patch(&[op(
        "add",
        "Patient.identifier.where(use = 'official').period",
        &[name("end"), value("valueDate", json!("2021-12-01"))],
    )]);
    let (kind, msg) = fp_err(&input, &add);
    assert_eq!(kind, ErrorKind::Unprocessable);
    assert!(
        msg.contains("operation 0") && msg.contains("no content found"),
        "{msg}"
    );
    // #2: adding a list element to a resource without it creates the list.
    let add = patch(&[op(
        "add",
        "Patient",
        &[name("identifier"), identifier_value(3)],
    )]);
    assert_eq!(fp_ok(&patient(json!({})), &add), identifiers(&[3]));
}

#[test]
fn full_resource() {
    let div = |who: &str| {
        format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><b>{who}</b> (\"Jim\")</div>")
    };
    let input = patient(json!({
        "id": "example",
        "text": {"status": "generated", "div": div("Chalmers")},
        "active": true,
        "name": [
            {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
            {"use": "usual", "given": ["Jim"]}
        ],
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{
            "url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
            "valueDateTime": "1974-12-25T14:35:45-05:00"
        }]},
        "deceasedBoolean": false,
        "managingOrganization": {"reference": "Organization/1"}
    }));
    let p = patch(&[
        op(
            "replace",
            "Patient.text.div",
            &[value("valueString", json!(div("Chalmers1")))],
        ),
        op(
            "replace",
            "Patient.name[0].family",
            &[value("valueString", json!("Chalmers1"))],
        ),
    ]);
    let mut expected = input.clone();
    expected["text"]["div"] = json!(div("Chalmers1"));
    expected["name"][0]["family"] = json!("Chalmers1");
    assert_eq!(fp_ok(&input, &p), expected);
}

#[test]
fn consecutive_operations() {
    let name = json!({"family": "du Marché", "given": ["Bénédicte"]});
    let input = patient(json!({"id": "example", "contact": [{"name": name}]}));
    let p = patch(&[
        op(
            "add",
            "Patient.contact[0]",
            &[super::name("gender"), value("valueCode", json!("male"))],
        ),
        op(
            "add",
            "Patient",
            &[
                super::name("contact"),
                value("part", json!([{"name": "gender", "valueCode": "male"}])),
            ],
        ),
    ]);
    assert_eq!(
        fp_ok(&input, &p),
        patient(json!({"id": "example", "contact": [
            {"name": name, "gender": "male"},
            {"gender": "male"}
        ]}))
    );
}
