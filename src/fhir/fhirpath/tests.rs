use super::*;
use serde_json::json;

fn eval(expr: &str, resource: &Value) -> Vec<(String, Value)> {
    Expression::parse(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .evaluate(resource)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .into_iter()
        .map(|i| (i.type_name, i.value.into_owned()))
        .collect()
}

fn types(expr: &str, resource: &Value) -> Vec<String> {
    eval(expr, resource).into_iter().map(|(t, _)| t).collect()
}

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"family": "Chalmers", "given": ["Peter", "James"]}, {"text": "Jim"}],
        "birthDate": "1974-12-25",
        "deceasedBoolean": false,
        "telecom": [
            {"system": "phone", "value": "555"},
            {"system": "email", "value": "a@b.c"}
        ],
        "generalPractitioner": [
            {"reference": "Practitioner/1"},
            {"reference": "http://x.org/fhir/Organization/2/_history/3"},
            {"reference": "#c1"},
            {"type": "Patient", "identifier": {"value": "x"}}
        ],
        "contained": [{"resourceType": "Location", "id": "c1"}],
        "extension": [
            {"url": "http://e/a", "valueString": "A"},
            {"url": "http://e/b", "valueCode": "B"}
        ]
    })
}

#[test]
fn paths_from_the_resource_type_carry_element_types() {
    let p = patient();
    assert_eq!(types("Patient.name", &p), ["HumanName", "HumanName"]);
    assert_eq!(
        eval("Patient.name.given", &p),
        [
            ("string".to_string(), json!("Peter")),
            ("string".to_string(), json!("James"))
        ]
    );
    assert_eq!(types("Patient.birthDate", &p), ["date"]);
    assert_eq!(
        types("Patient.telecom", &p),
        ["ContactPoint", "ContactPoint"]
    );
    assert_eq!(types("Patient.contained", &p), ["Location"]);
    // Another type at the root selects nothing; so does an unknown element.
    assert!(eval("Observation.code", &p).is_empty());
    assert!(eval("Patient.nope", &p).is_empty());
    // Resource and DomainResource are supertypes of every (domain) resource.
    assert_eq!(eval("Resource.id", &p), [("id".to_string(), json!("p1"))]);
    assert_eq!(types("DomainResource.contained", &p), ["Location"]);
}

#[test]
fn multi_base_unions_select_the_branch_of_the_resource_type() {
    let p = patient();
    let e = "Observation.subject | Patient.generalPractitioner | Encounter.subject";
    assert_eq!(eval(e, &p).len(), 4);
    let only = Expression::parse(e).unwrap().specialize("Patient").unwrap();
    assert_eq!(only.evaluate(&p).unwrap().len(), 4);
    assert!(Expression::parse(e).unwrap().specialize("Claim").is_none());
    assert!(Expression::parse("Resource.meta.tag")
        .unwrap()
        .specialize("Claim")
        .is_some());
}

#[test]
fn choice_elements_resolve_to_the_variant_present() {
    let o = json!({"resourceType": "Observation", "valueQuantity": {"value": 185},
        "component": [{"valueString": "x"}, {"valueQuantity": {"value": 1}}]});
    assert_eq!(types("Observation.value", &o), ["Quantity"]);
    assert_eq!(types("Observation.value.as(Quantity)", &o), ["Quantity"]);
    assert!(eval("(Observation.value as CodeableConcept)", &o).is_empty());
    assert_eq!(
        types("Observation.component.value", &o),
        ["string", "Quantity"]
    );
    // `as` over several items filters them (as the R4 search expressions use it).
    assert_eq!(
        types("Observation.component.value as Quantity", &o),
        ["Quantity"]
    );
    assert_eq!(
        types("Observation.component.value.ofType(string)", &o),
        ["string"]
    );
    let c = json!({"resourceType": "Condition", "onsetAge": {"value": 3}});
    // Age is a Quantity profile; `is`/`as` honour that.
    assert_eq!(types("Condition.onset.as(Age)", &c), ["Age"]);
    assert_eq!(types("Condition.onset.as(Quantity)", &c), ["Age"]);
    let o2 = json!({"resourceType": "Observation", "valueDateTime": "2020"});
    // `DateTime` (System type) accepts FHIR dateTime, as Observation-code-value-date needs.
    assert_eq!(types("Observation.value.as(DateTime)", &o2), ["dateTime"]);
    let cm = json!({"resourceType": "ConceptMap", "sourceCanonical": "http://v"});
    assert!(eval("(ConceptMap.source as uri)", &cm).is_empty());
    assert_eq!(
        types("(ConceptMap.source as canonical)", &cm),
        ["canonical"]
    );
}

#[test]
fn where_with_resolve_is_type() {
    let p = patient();
    let refs = |t: &str| {
        eval(
            &format!("Patient.generalPractitioner.where(resolve() is {t})"),
            &p,
        )
    };
    assert_eq!(refs("Practitioner")[0].1["reference"], "Practitioner/1");
    // Absolute URL with a version.
    assert_eq!(refs("Organization").len(), 1);
    // `#c1` resolves to the contained Location.
    assert_eq!(refs("Location").len(), 1);
    // Only Reference.type says Patient.
    assert_eq!(refs("Patient").len(), 1);
    assert!(refs("Device").is_empty());
    assert_eq!(
        types("Patient.generalPractitioner.first().resolve()", &p),
        ["Practitioner"]
    );
}

#[test]
fn is_follows_the_fhir_hierarchy_and_as_matches_exactly() {
    let p = json!({"resourceType": "Patient", "active": true, "gender": "male"});
    let one = |e: &str| eval(e, &p).into_iter().next();
    let yes = Some(("Boolean".to_string(), json!(true)));
    let no = Some(("Boolean".to_string(), json!(false)));
    // A code is a string for `is`, but `as`/`ofType` keep to the exact type.
    assert_eq!(one("Patient.gender.is(string)"), yes);
    assert_eq!(one("Patient.gender.is(id)"), no);
    assert!(eval("Patient.gender.as(string)", &p).is_empty());
    assert_eq!(eval("Patient.gender.ofType(code)", &p).len(), 1);
    // FHIR `boolean` is not System `Boolean`; a literal is.
    assert_eq!(one("Patient.active.is(boolean)"), yes);
    assert_eq!(one("Patient.active is Boolean"), no);
    assert_eq!(one("true is System.Boolean"), yes);
    assert_eq!(one("1.is(Integer)"), yes);
    assert_eq!(one("'1'.is(Integer)"), no);
    // A name that is no type fails to parse instead of never matching.
    assert!(Expression::parse("Patient.gender.as(string1)").is_err());
    assert!(Expression::parse("Patient.is(System.Patient)").is_ok());
}

#[test]
fn where_compares_primitive_values() {
    let p = patient();
    assert_eq!(
        eval("Patient.telecom.where(system='email').value", &p),
        [("string".to_string(), json!("a@b.c"))]
    );
    assert_eq!(
        eval("Patient.telecom.where(system!='email').value", &p)[0].1,
        json!("555")
    );
    assert_eq!(eval("Patient.telecom.where(system='fax')", &p).len(), 0);
    assert_eq!(
        eval(
            "Patient.telecom.where(system='phone' or system='email')",
            &p
        )
        .len(),
        2
    );
    assert_eq!(
        eval("Patient.telecom.where($this.value = '555').system", &p)[0].1,
        json!("phone")
    );
    assert_eq!(
        eval("Patient.name.where(given.exists())", &p)[0].1["family"],
        "Chalmers"
    );
}

#[test]
fn logic_exists_empty_not_and_booleans() {
    let p = patient();
    let deceased = "Patient.deceased.exists() and Patient.deceased != false";
    assert_eq!(eval(deceased, &p), [("Boolean".to_string(), json!(false))]);
    let mut dead = p.clone();
    dead["deceasedDateTime"] = json!("2020-01-01");
    dead.as_object_mut().unwrap().remove("deceasedBoolean");
    assert_eq!(eval(deceased, &dead)[0].1, json!(true));
    let mut alive = p.clone();
    alive.as_object_mut().unwrap().remove("deceasedBoolean");
    assert_eq!(eval(deceased, &alive)[0].1, json!(false));
    assert_eq!(eval("Patient.link.empty()", &p)[0].1, json!(true));
    assert_eq!(eval("Patient.name.exists().not()", &p)[0].1, json!(false));
    assert_eq!(eval("Patient.name.count()", &p)[0].1, json!(2));
    assert!(
        eval("Patient.link.exists() or Patient.name.exists()", &p)[0]
            .1
            .as_bool()
            .unwrap()
    );
    assert_eq!(eval("Patient.birthDate.hasValue()", &p)[0].1, json!(true));
}

#[test]
fn first_last_index_extension_and_resource() {
    let p = patient();
    assert_eq!(
        eval("Patient.name.first().family", &p)[0].1,
        json!("Chalmers")
    );
    assert_eq!(eval("Patient.name.last().text", &p)[0].1, json!("Jim"));
    assert_eq!(eval("Patient.name[1].text", &p)[0].1, json!("Jim"));
    assert!(eval("Patient.name[5]", &p).is_empty());
    assert_eq!(
        eval("Patient.extension('http://e/b').value", &p),
        [("code".to_string(), json!("B"))]
    );
    assert_eq!(
        types("Patient.telecom.where(%resource.id = 'p1')", &p).len(),
        2
    );
    // Escapes in string literals.
    let q = json!({"resourceType": "Patient", "name": [{"family": "O'Brien"}]});
    assert_eq!(
        eval(r"Patient.name.where(family = 'O\'Brien')", &q).len(),
        1
    );
}

#[test]
fn evaluate_on_uses_the_focus_and_keeps_resource() {
    let seq = json!({"resourceType": "MolecularSequence",
        "referenceSeq": {"chromosome": {"text": "1"}},
        "variant": [{"start": 5, "end": 7}]});
    let base = Expression::parse("MolecularSequence.variant").unwrap();
    let v = base.evaluate(&seq).unwrap();
    assert_eq!(v[0].type_name, "MolecularSequence.variant");
    let start = Expression::parse("start").unwrap();
    assert_eq!(
        start.evaluate_on(&seq, &v[0]).unwrap()[0].type_name,
        "integer"
    );
    let chrom = Expression::parse("%resource.referenceSeq.chromosome").unwrap();
    assert_eq!(
        chrom.evaluate_on(&seq, &v[0]).unwrap()[0].type_name,
        "CodeableConcept"
    );
}

#[test]
fn every_official_expression_parses() {
    let bundle: Value =
        serde_json::from_str(include_str!("../../../profiles/search-parameters.json")).unwrap();
    let mut n = 0;
    for e in bundle["entry"].as_array().unwrap() {
        let r = &e["resource"];
        let comps = r["component"].as_array().cloned().unwrap_or_default();
        let exprs = r["expression"]
            .as_str()
            .into_iter()
            .chain(comps.iter().filter_map(|c| c["expression"].as_str()));
        for x in exprs {
            Expression::parse(x).unwrap_or_else(|e| panic!("{x}: {e}"));
            n += 1;
        }
    }
    assert_eq!(n, 1468);
}

#[test]
fn specialised_expressions_resolve_steps_and_know_their_type() {
    let e = Expression::parse("Observation.component | Patient.name").unwrap();
    let o = e.specialize("Observation").unwrap();
    assert_eq!(o.selects(), Some("Observation.component"));
    let p = e.specialize("Patient").unwrap();
    assert_eq!(p.selects(), Some("HumanName"));
    assert_eq!(
        p.evaluate(&patient()).unwrap()[0].value["family"],
        "Chalmers"
    );
    // A choice element has no single type; `as` with the exact type narrows it back.
    let v = Expression::parse("Observation.value").unwrap();
    assert_eq!(v.specialize("Observation").unwrap().selects(), None);
    let c = Expression::parse("code")
        .unwrap()
        .for_focus("Observation", Some("Observation.component"));
    assert_eq!(c.selects(), Some("CodeableConcept"));
    let comp = json!({"resourceType": "Observation", "component": [{"code": {"text": "t"}}]});
    let base = o.evaluate(&comp).unwrap();
    assert_eq!(
        c.evaluate_on(&comp, &base[0]).unwrap()[0].value["text"],
        "t"
    );
}

/// Steps, type and (parent type, element name) of each item `expr` selects.
type Located = (Vec<Step>, String, Option<(String, String)>);

fn located(expr: &str, resource: &Value) -> Vec<Located> {
    Expression::parse(expr)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .locate(resource)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
        .into_iter()
        .map(|l| {
            let element = l.element.map(|e| (e.parent_type.to_string(), e.name));
            (l.steps, l.type_name.to_string(), element)
        })
        .collect()
}

fn key(k: &str) -> Step {
    Step::Key(k.into())
}

#[test]
fn locate_gives_the_json_location_of_each_item() {
    let p = patient();
    let el = |parent: &str, name: &str| Some((parent.to_string(), name.to_string()));
    assert_eq!(
        located("Patient.name[0].given", &p),
        [
            (
                vec![key("name"), Step::Index(0), key("given"), Step::Index(0)],
                "string".into(),
                el("HumanName", "given")
            ),
            (
                vec![key("name"), Step::Index(0), key("given"), Step::Index(1)],
                "string".into(),
                el("HumanName", "given")
            ),
        ]
    );
    assert_eq!(
        located("Patient.deceased", &p),
        [(
            vec![key("deceasedBoolean")],
            "boolean".into(),
            el("Patient", "deceased")
        )]
    );
    assert_eq!(located("Patient", &p), [(vec![], "Patient".into(), None)]);
    let steps = |e: &str| -> Vec<Vec<Step>> { located(e, &p).into_iter().map(|l| l.0).collect() };
    assert_eq!(
        steps("Patient.telecom.where(system = 'email')"),
        [vec![key("telecom"), Step::Index(1)]]
    );
    assert_eq!(
        steps("Patient.telecom.last().value"),
        [vec![key("telecom"), Step::Index(1), key("value")]]
    );
    assert_eq!(
        steps("Patient.extension('http://e/b')"),
        [vec![key("extension"), Step::Index(1)]]
    );
    assert_eq!(
        steps("Patient.contained.ofType(Location)"),
        [vec![key("contained"), Step::Index(0)]]
    );
    assert_eq!(steps("Patient.name.first().text"), Vec::<Vec<Step>>::new());
    assert_eq!(steps("Observation.code"), Vec::<Vec<Step>>::new());
    assert_eq!(steps("Patient.name[5]"), Vec::<Vec<Step>>::new());
}

#[test]
fn locate_refuses_what_it_cannot_place() {
    for e in [
        "Patient.name | Patient.telecom",
        "Patient.name.exists()",
        "Patient.name.count()",
        "Patient.name.given = 'x'",
        "'x'",
        "Patient.id is id",
    ] {
        let expr = Expression::parse(e).unwrap();
        assert!(expr.check_locatable().is_err(), "{e}");
        assert!(
            matches!(expr.locate(&patient()), Err(LocateError::Invalid(_))),
            "{e}"
        );
    }
    let p = patient();
    let eval_error = Expression::parse("Patient.name.where(given)")
        .unwrap()
        .locate(&p);
    assert!(matches!(eval_error, Err(LocateError::Eval(_))));
    let given = Expression::parse("Patient.name[0].given").unwrap();
    let (parent, name) = given.split_last_member().unwrap();
    assert_eq!(name, "given");
    assert_eq!(
        parent.locate(&p).unwrap()[0].steps,
        [key("name"), Step::Index(0)]
    );
    assert!(Expression::parse("Patient.name.first()")
        .unwrap()
        .split_last_member()
        .is_none());
}
