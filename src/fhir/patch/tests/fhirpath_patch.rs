//! FHIRPath Patch beyond the official cases: element naming, richer paths, values built
//! from parts, primitive extensions. Error paths are in `fhirpath_errors.rs`.

use super::*;

pub(super) fn pat() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "name": [
            {"family": "Chalmers", "given": ["Peter", "James"], "_given": [null, {"id": "j"}]},
            {"text": "Jim"}
        ],
        "telecom": [
            {"system": "phone", "use": "home", "value": "1"},
            {"system": "phone", "use": "work", "value": "2"},
            {"system": "email", "use": "work", "value": "a@b.c"}
        ],
        "birthDate": "1974-12-25",
        "_birthDate": {"extension": [{"url": "http://t", "valueTime": "14:35:45"}]},
        "deceasedBoolean": false,
        "contact": [
            {"relationship": [{"coding": [{"code": "C"}]}], "gender": "male"},
            {"relationship": [{"coding": [{"code": "E"}]}], "gender": "female"}
        ],
        "extension": [
            {"url": "http://x", "valueString": "x"},
            {"url": "http://y", "valueCode": "y"}
        ]
    })
}

fn with(f: impl FnOnce(&mut Value)) -> Value {
    let mut p = pat();
    f(&mut p);
    p
}

pub(super) fn unprocessable(parameters: &Value, needle: &str) {
    let (kind, msg) = fp_err(&pat(), parameters);
    assert_eq!(kind, ErrorKind::Unprocessable, "{msg}");
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
}

pub(super) fn invalid(parameters: &Value, needle: &str) {
    let (kind, msg) = fp_err(&pat(), parameters);
    assert_eq!(kind, ErrorKind::Invalid, "{msg}");
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
}

#[test]
fn choice_elements_take_the_value_type_in_their_name() {
    let p = json!({"resourceType": "Patient"});
    let add = patch(&[op(
        "add",
        "Patient",
        &[name("deceased"), value("valueBoolean", json!(true))],
    )]);
    assert_eq!(
        fp_ok(&p, &add),
        json!({"resourceType": "Patient", "deceasedBoolean": true})
    );
    // Replacing changes the variant: no `deceasedBoolean` is left beside `deceasedDateTime`.
    let replace = patch(&[op(
        "replace",
        "Patient.deceased",
        &[value("valueDateTime", json!("2020-01-01"))],
    )]);
    assert_eq!(
        fp_ok(&pat(), &replace),
        with(|p| {
            p.as_object_mut().map(|o| o.remove("deceasedBoolean"));
            p["deceasedDateTime"] = json!("2020-01-01");
        })
    );
    // A variant of the choice is already there.
    let again = patch(&[op(
        "add",
        "Patient",
        &[name("deceased"), value("valueDateTime", json!("2020"))],
    )]);
    unprocessable(&again, "already has a value");
    let wrong = patch(&[op(
        "add",
        "Patient",
        &[name("multipleBirth"), value("valueString", json!("2"))],
    )]);
    unprocessable(&wrong, "Patient.multipleBirth[x] cannot be of type string");
}

#[test]
fn where_selects_the_element_to_change() {
    let replace = patch(&[op(
        "replace",
        "Patient.telecom.where(system='phone' and use='work').value",
        &[value("valueString", json!("3"))],
    )]);
    assert_eq!(
        fp_ok(&pat(), &replace),
        with(|p| p["telecom"][1]["value"] = json!("3"))
    );
    let delete = patch(&[op(
        "delete",
        "Patient.contact.where(relationship.coding.code='E')",
        &[],
    )]);
    assert_eq!(
        fp_ok(&pat(), &delete),
        with(|p| {
            p["contact"].as_array_mut().map(|c| c.remove(1));
        })
    );
}

#[test]
fn first_last_and_extension_by_url() {
    let p = patch(&[
        op(
            "replace",
            "Patient.name.first().family",
            &[value("valueString", json!("C"))],
        ),
        op("delete", "Patient.name.last()", &[]),
        op(
            "replace",
            "Patient.extension('http://y').value",
            &[value("valueBoolean", json!(true))],
        ),
    ]);
    assert_eq!(
        fp_ok(&pat(), &p),
        with(|p| {
            p["name"][0]["family"] = json!("C");
            p["name"].as_array_mut().map(|n| n.pop());
            p["extension"][1] = json!({"url": "http://y", "valueBoolean": true});
        })
    );
    // An extension built from parts: `url` and the `value[x]` choice.
    let add = patch(&[op(
        "add",
        "Patient",
        &[
            name("extension"),
            value(
                "part",
                json!([
                    {"name": "url", "valueUri": "http://z"},
                    {"name": "value", "valueInteger": 3}
                ]),
            ),
        ],
    )]);
    let out = fp_ok(&pat(), &add);
    assert_eq!(
        out["extension"][2],
        json!({"url": "http://z", "valueInteger": 3})
    );
}

#[test]
fn of_type_and_as_select_a_choice_variant() {
    let obs = json!({
        "resourceType": "Observation", "status": "final", "code": {"text": "w"},
        "valueQuantity": {"value": 70, "unit": "kg"}
    });
    let p = patch(&[
        op(
            "replace",
            "Observation.value.ofType(Quantity).value",
            &[value("valueDecimal", json!(71))],
        ),
        op(
            "replace",
            "(Observation.value as Quantity).unit",
            &[value("valueString", json!("kilogram"))],
        ),
    ]);
    let mut expected = obs.clone();
    expected["valueQuantity"] = json!({"value": 71, "unit": "kilogram"});
    assert_eq!(fp_ok(&obs, &p), expected);
    let none = patch(&[op("delete", "Observation.value.ofType(string)", &[])]);
    assert_eq!(fp_ok(&obs, &none), obs);
}

#[test]
fn primitive_extensions_follow_their_value() {
    // Deleting a primitive drops its `_birthDate`.
    let delete = patch(&[op("delete", "Patient.birthDate", &[])]);
    let out = fp_ok(&pat(), &delete);
    assert!(out.get("birthDate").is_none() && out.get("_birthDate").is_none());
    // A list item's id stays with it: `_given` is kept aligned (and dropped when empty).
    let delete = patch(&[op("delete", "Patient.name[0].given[0]", &[])]);
    assert_eq!(
        fp_ok(&pat(), &delete)["name"][0],
        json!({"family": "Chalmers", "given": ["James"], "_given": [{"id": "j"}]})
    );
    let delete = patch(&[op("delete", "Patient.name[0].given[1]", &[])]);
    assert_eq!(
        fp_ok(&pat(), &delete)["name"][0],
        json!({"family": "Chalmers", "given": ["Peter"]})
    );
    let swap = patch(&[op(
        "move",
        "Patient.name[0].given",
        &[int("source", 1), int("destination", 0)],
    )]);
    assert_eq!(
        fp_ok(&pat(), &swap)["name"][0]["_given"],
        json!([{"id": "j"}, null])
    );
    // `_valueX` beside `valueX` becomes the element's `_name`.
    let mut v = value("valueDate", json!("1930-01-01"));
    v["_valueDate"] = json!({"id": "d"});
    let replace = patch(&[op("replace", "Patient.birthDate", &[v.clone()])]);
    let out = fp_ok(&pat(), &replace);
    assert_eq!(
        (&out["birthDate"], &out["_birthDate"]),
        (&json!("1930-01-01"), &json!({"id": "d"}))
    );
    v["valueString"] = json!("Pete");
    v.as_object_mut().map(|o| o.remove("valueDate"));
    v["_valueString"] = v
        .as_object_mut()
        .and_then(|o| o.remove("_valueDate"))
        .unwrap_or_default();
    let insert = patch(&[op("insert", "Patient.name[1].given", &[int("index", 0), v])]);
    assert_eq!(
        fp_ok(&pat(), &insert)["name"][1],
        json!({"text": "Jim", "given": ["Pete"], "_given": [{"id": "d"}]})
    );
}

#[test]
fn values_built_from_parts_and_resources() {
    let p = patch(&[
        op(
            "add",
            "Patient",
            &[
                name("contact"),
                value(
                    "part",
                    json!([
                        {"name": "name", "part": [
                            {"name": "family", "valueString": "Doe"},
                            {"name": "given", "valueString": "J"},
                            {"name": "given", "valueString": "K"}
                        ]},
                        {"name": "telecom", "valueContactPoint": {"system": "phone", "value": "9"}}
                    ]),
                ),
            ],
        ),
        op(
            "add",
            "Patient",
            &[
                name("contained"),
                part(
                    "value",
                    "resource",
                    json!({"resourceType": "Organization", "id": "o"}),
                ),
            ],
        ),
    ]);
    let out = fp_ok(&pat(), &p);
    assert_eq!(
        out["contact"][2],
        json!({"name": {"family": "Doe", "given": ["J", "K"]},
               "telecom": [{"system": "phone", "value": "9"}]})
    );
    assert_eq!(
        out["contained"],
        json!([{"resourceType": "Organization", "id": "o"}])
    );
}

#[test]
fn list_items_are_replaced_in_place() {
    let p = patch(&[
        op(
            "replace",
            "Patient.name[1]",
            &[value("valueHumanName", json!({"family": "Jones"}))],
        ),
        op(
            "delete",
            "Patient.name[0].given.where($this = 'Peter')",
            &[],
        ),
    ]);
    assert_eq!(
        fp_ok(&pat(), &p)["name"],
        json!([
            {"family": "Chalmers", "given": ["James"], "_given": [{"id": "j"}]},
            {"family": "Jones"}
        ])
    );
}

#[test]
fn contained_resources_are_typed_by_their_resource_type() {
    let input = json!({
        "resourceType": "Patient",
        "contained": [
            {"resourceType": "Organization", "id": "o", "name": "Acme"},
            {"resourceType": "Practitioner", "id": "d"}
        ]
    });
    let p = patch(&[
        op(
            "replace",
            "Patient.contained.ofType(Organization).name",
            &[value("valueString", json!("Acme Health"))],
        ),
        op(
            "add",
            "Patient.contained.ofType(Practitioner)",
            &[name("active"), value("valueBoolean", json!(true))],
        ),
        op(
            "replace",
            "Patient.contained[0]",
            &[part(
                "value",
                "resource",
                json!({"resourceType": "Organization", "id": "o2"}),
            )],
        ),
    ]);
    assert_eq!(
        fp_ok(&input, &p)["contained"],
        json!([
            {"resourceType": "Organization", "id": "o2"},
            {"resourceType": "Practitioner", "id": "d", "active": true}
        ])
    );
}

#[test]
fn quantity_profiles_share_the_quantity_shape() {
    let input = json!({"resourceType": "Condition", "subject": {"reference": "Patient/1"}});
    let p = patch(&[op(
        "add",
        "Condition",
        &[
            name("onset"),
            value("valueAge", json!({"value": 40, "unit": "a"})),
        ],
    )]);
    assert_eq!(
        fp_ok(&input, &p)["onsetAge"],
        json!({"value": 40, "unit": "a"})
    );
    let obs = json!({"resourceType": "Observation", "status": "final", "code": {}});
    let p = patch(&[op(
        "add",
        "Observation",
        &[
            name("referenceRange"),
            value(
                "part",
                json!([{"name": "low", "valueQuantity": {"value": 1}}]),
            ),
        ],
    )]);
    assert_eq!(
        fp_ok(&obs, &p)["referenceRange"],
        json!([{"low": {"value": 1}}])
    );
}
