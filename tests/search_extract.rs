//! Index extraction over the official R4 SearchParameters and examples: every expression
//! parses, the unsupported ones are exactly those docs/search-parameters.md lists, extraction
//! never fails on any official example, and hand-checked entries for specific examples.

use crate::common;

use fhird::fhir::element_types;
use fhird::fhir::fhirpath::Expression;
use fhird::fhir::search::extract::{extract, extract_param};
use fhird::fhir::search::params::Registry;
use fhird::fhir::search::values::date_range;
use fhird::fhir::search::{IndexEntry, IndexValue};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

fn example(file: &str) -> Value {
    let text = std::fs::read_to_string(common::examples_dir().join(file)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn index(resource: &Value) -> Vec<IndexEntry> {
    let rt = resource["resourceType"].as_str().unwrap();
    extract(Registry::r4(), rt, resource, BASE, true)
}

/// Every official example that parses and names a resource type: its path, its type and
/// the resource, in directory order.
fn official_examples() -> impl Iterator<Item = (PathBuf, String, Value)> {
    std::fs::read_dir(common::examples_dir())
        .unwrap()
        .filter_map(|f| {
            let path = f.ok()?.path();
            let text = std::fs::read_to_string(&path).ok()?;
            let resource = serde_json::from_str::<Value>(&text).ok()?;
            let rt = resource["resourceType"].as_str()?.to_string();
            Some((path, rt, resource))
        })
}

/// The FHIR base the test resources are stored under.
const BASE: &str = "http://localhost:8080/fhir";

fn of<'e>(entries: &'e [IndexEntry], param: &str) -> Vec<&'e IndexValue> {
    entries
        .iter()
        .filter(|e| e.param == param)
        .map(|e| &e.value)
        .collect()
}

fn norms(entries: &[IndexEntry], param: &str) -> Vec<String> {
    of(entries, param)
        .into_iter()
        .map(|v| match v {
            IndexValue::String { norm, .. } => norm.clone(),
            other => panic!("{param}: not a string: {other:?}"),
        })
        .collect()
}

fn tok(system: Option<&str>, code: Option<&str>, text: Option<&str>) -> IndexValue {
    IndexValue::Token {
        system: system.map(str::to_string),
        code: code.map(str::to_string),
        text: text.map(str::to_string),
    }
}

fn reference(t: &str, id: &str) -> IndexValue {
    IndexValue::Reference {
        target_type: Some(t.into()),
        id: Some(id.into()),
        url: format!("{t}/{id}"),
        version: None,
    }
}

fn day(d: &str) -> IndexValue {
    let (low, high) = date_range(d).unwrap();
    IndexValue::Date { low, high }
}

fn lines_of_doc() -> BTreeMap<String, String> {
    let doc = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/search-parameters.md"),
    )
    .unwrap();
    doc.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("- `")?;
            let (url, rest) = rest.split_once('`')?;
            let (_, reason) = rest.split_once(" — ")?;
            Some((url.to_string(), reason.trim().to_string()))
        })
        .collect()
}

#[test]
fn every_expression_parses_and_the_unsupported_list_is_documented() {
    let registry = Registry::r4();
    let mut unsupported = BTreeMap::new();
    let mut seen = 0;
    for t in element_types::resource_types() {
        for p in registry.params_of(t) {
            seen += 1;
            if let Some(x) = &p.expression {
                Expression::parse(x).unwrap_or_else(|e| panic!("{x}: {e}"));
            }
            for c in &p.components {
                Expression::parse(&c.expression).unwrap();
            }
            if let Some(why) = &p.unsupported {
                unsupported.insert(p.url.clone(), why.clone());
            }
        }
    }
    assert!(seen > 3000, "{seen}");
    assert_eq!(unsupported, lines_of_doc());
    assert_eq!(unsupported.len(), 1);
}

/// A document Bundle indexes its Composition under `composition.…`: the Composition's own
/// parameters, its id, and the reference entry that says it is there; not its words, and
/// nothing of `message`. A Bundle whose first entry is something else indexes neither.
#[test]
fn a_bundle_indexes_the_resource_first_in_it() {
    let registry = Registry::r4();
    let read = |f: &str| -> Value {
        serde_json::from_str(&std::fs::read_to_string(common::examples_dir().join(f)).unwrap())
            .unwrap()
    };
    let father = extract(registry, "Bundle", &read("Bundle-father.json"), BASE, true);
    let of = |code: &str| -> Vec<&IndexValue> {
        father
            .iter()
            .filter(|e| e.param == code)
            .map(|e| &e.value)
            .collect()
    };
    let id = "180f219f-97a8-486d-99d9-ed631fe4fc57";
    assert_eq!(
        of("composition"),
        [&IndexValue::Reference {
            target_type: Some("Composition".into()),
            id: Some(id.into()),
            url: format!("Composition/{id}"),
            version: None,
        }]
    );
    assert_eq!(
        of("composition._id"),
        [&IndexValue::Token {
            system: None,
            code: Some(id.into()),
            text: None,
        }]
    );
    // Exactly what the Composition stored on its own would have, words aside.
    let bundle = read("Bundle-father.json");
    let own: Vec<(String, IndexValue)> = extract(
        registry,
        "Composition",
        &bundle["entry"][0]["resource"],
        BASE,
        true,
    )
    .into_iter()
    .filter(|e| !matches!(e.param.as_str(), "_text" | "_content"))
    .map(|e| (format!("composition.{}", e.param), e.value))
    .collect();
    let inside: Vec<(String, IndexValue)> = father
        .iter()
        .filter(|e| e.param.starts_with("composition.") && e.param != "composition._id")
        .map(|e| (e.param.clone(), e.value.clone()))
        .collect();
    assert_eq!(inside, own);
    assert!(!of("composition.type").is_empty() && !of("composition.date").is_empty());
    // An absolute reference to another server is kept as its url.
    assert!(matches!(
        of("composition.subject")[..],
        [IndexValue::Reference { url, target_type: None, .. }]
            if url == "http://fhir.healthintersections.com.au/open/Patient/d1"
    ));
    assert!(!of("composition.author").is_empty());
    // What a chain through it reads from a candidate (`chains::local_targets`).
    let bundle_json = read("Bundle-father.json");
    let one = extract_param(registry, "Bundle", "composition.author", &bundle_json, BASE);
    assert_eq!(
        one.iter().map(|e| &e.value).collect::<Vec<_>>(),
        of("composition.author")
    );
    assert!(of("composition._text").is_empty() && of("composition._content").is_empty());
    assert!(!father.iter().any(|e| e.param.starts_with("message")));
    // The Bundle's own parameters are there as for any Bundle.
    assert!(!of("type").is_empty());

    let searchset = extract(
        registry,
        "Bundle",
        &read("Bundle-bundle-example.json"),
        BASE,
        true,
    );
    assert!(!searchset
        .iter()
        .any(|e| e.param.starts_with("composition") || e.param.starts_with("message")));
}

/// Every official example: extraction neither panics nor selects garbage (every date entry is
/// an ordered range, every entry's param is a parameter of the type).
#[test]
fn extraction_over_every_official_example() {
    let registry = Registry::r4();
    let mut files = 0;
    let mut entries = 0;
    let mut micros = 0u128;
    for f in std::fs::read_dir(common::examples_dir()).unwrap() {
        let path = f.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(resource) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let Some(rt) = resource["resourceType"].as_str() else {
            continue;
        };
        if !element_types::is_resource_type(rt) {
            continue;
        }
        let start = Instant::now();
        let found = extract(registry, rt, &resource, BASE, true);
        micros += start.elapsed().as_micros();
        files += 1;
        entries += found.len();
        for e in &found {
            let code = e
                .param
                .strip_suffix(":identifier")
                .or_else(|| e.param.strip_suffix(":of-type"))
                .unwrap_or(&e.param);
            // `composition.type`: a parameter of the Composition inside a Bundle;
            // `subject:Patient.name`: of a contained Patient `subject` points at, and
            // `subject:contained` the marker of that.
            // `_contained0:Medication.code`: a contained resource's own, in its slot, and
            // `_contained` the slot markers.
            let slot = |reference: &str| {
                reference
                    .strip_prefix("_contained")
                    .is_some_and(|n| n.parse::<usize>().is_ok())
            };
            let known = code == "_contained"
                || match code.split_once('.') {
                    Some((outer, inner)) => match outer.split_once(':') {
                        Some((reference, ty)) => {
                            (registry.param(rt, reference).is_some() || slot(reference))
                                && (inner == "_id" || registry.param(ty, inner).is_some())
                        }
                        None => registry
                            .param(rt, outer)
                            .and_then(|p| p.embedded.as_deref())
                            .is_some_and(|t| inner == "_id" || registry.param(t, inner).is_some()),
                    },
                    None => match code.strip_suffix(":contained") {
                        Some(reference) => registry.param(rt, reference).is_some(),
                        None => registry.param(rt, code).is_some(),
                    },
                };
            assert!(known, "{}: {}", path.display(), e.param);
            if let IndexValue::Date { low, high } = e.value {
                assert!(low <= high, "{}: {e:?}", path.display());
            }
        }
    }
    assert!(files > 5000, "{files}");
    assert!(entries > 100_000, "{entries}");
    eprintln!(
        "{files} examples, {entries} entries, {} µs/resource (unoptimised test build)",
        micros / files as u128
    );
}

#[test]
fn patient_example() {
    let p = example("Patient-example.json");
    let e = index(&p);
    // Given names repeat across the official and maiden names: entries are deduplicated.
    assert_eq!(norms(&e, "given"), ["peter", "james", "jim"]);
    assert_eq!(norms(&e, "family"), ["chalmers", "windsor"]);
    assert!(of(&e, "family").contains(&&IndexValue::String {
        norm: "chalmers".into(),
        exact: "Chalmers".into()
    }));
    let name = norms(&e, "name");
    for n in ["chalmers", "peter", "jim", "windsor"] {
        assert!(name.contains(&n.to_string()), "{n}");
    }
    assert_eq!(of(&e, "birthdate"), [&day("1974-12-25")]);
    let (low, high) = date_range("1974-12-25").unwrap();
    assert_eq!(high - low + 1, 86_400_000_000);
    assert_eq!(
        of(&e, "identifier"),
        [&tok(
            Some("urn:oid:1.2.36.146.595.217.0.1"),
            Some("12345"),
            None
        )]
    );
    assert_eq!(of(&e, "gender"), [&tok(None, Some("male"), None)]);
    assert_eq!(of(&e, "active"), [&tok(None, Some("true"), None)]);
    assert_eq!(of(&e, "deceased"), [&tok(None, Some("false"), None)]);
    // ContactPoint as token: the value; the first telecom has none.
    assert_eq!(
        of(&e, "telecom"),
        [
            &tok(None, Some("(03) 5555 6473"), None),
            &tok(None, Some("(03) 3410 5613"), None),
            &tok(None, Some("(03) 5555 8834"), None)
        ]
    );
    assert_eq!(of(&e, "phone").len(), 3);
    assert!(of(&e, "email").is_empty());
    assert_eq!(norms(&e, "address-city"), ["pleasantville"]);
    let address = norms(&e, "address");
    for part in ["534 erewhon st", "pleasantville", "rainbow", "vic", "3999"] {
        assert!(address.contains(&part.to_string()), "{part}");
    }
    assert_eq!(of(&e, "organization"), [&reference("Organization", "1")]);
    // `_id` and `_lastUpdated` come from stored columns.
    assert!(of(&e, "_id").is_empty() && of(&e, "_lastUpdated").is_empty());
}

#[test]
fn observation_example() {
    let o = example("Observation-example.json");
    let e = index(&o);
    let loinc = tok(
        Some("http://loinc.org"),
        Some("29463-7"),
        Some("body weight"),
    );
    assert_eq!(of(&e, "code").len(), 4);
    assert_eq!(of(&e, "code")[0], &loinc);
    let weight = IndexValue::Quantity {
        value: 185.0,
        low: 185.0,
        high: 185.0,
        system: Some("http://unitsofmeasure.org".into()),
        code: Some("[lb_av]".into()),
        unit: Some("lbs".into()),
    };
    assert_eq!(of(&e, "value-quantity"), [&weight]);
    assert_eq!(of(&e, "subject"), [&reference("Patient", "example")]);
    // `patient` is the multi-base clinical-patient: `Observation.subject.where(resolve() is
    // Patient)` is its Observation branch.
    assert_eq!(of(&e, "patient"), [&reference("Patient", "example")]);
    assert_eq!(of(&e, "encounter"), [&reference("Encounter", "example")]);
    assert_eq!(of(&e, "date"), [&day("2016-03-28")]);
    let composites = of(&e, "code-value-quantity");
    assert_eq!(composites.len(), 4, "one per coding × one value");
    assert_eq!(
        composites[0],
        &IndexValue::Composite(vec![loinc.clone(), weight.clone()])
    );
    assert!(
        of(&e, "combo-code-value-quantity").contains(&&IndexValue::Composite(vec![loinc, weight]))
    );
    assert!(of(&e, "code-value-concept").is_empty());
    assert_eq!(
        of(&e, "category"),
        [&tok(
            Some("http://terminology.hl7.org/CodeSystem/observation-category"),
            Some("vital-signs"),
            Some("vital signs")
        )]
    );
}

#[test]
fn period_date_multi_base_and_text_only_concept() {
    // Encounter.period 16:00–16:30 at +10:00.
    let e = index(&example("Encounter-home.json"));
    let (low, _) = date_range("2015-01-17T06:00:00Z").unwrap();
    let (_, high) = date_range("2015-01-17T06:30:00Z").unwrap();
    assert_eq!(of(&e, "date"), [&IndexValue::Date { low, high }]);
    // A Period with only a start is open at the end.
    let mut open = example("Encounter-home.json");
    open["period"] = json!({"start": "2015"});
    let e = index(&open);
    let (low, _) = date_range("2015").unwrap();
    assert_eq!(
        of(&e, "date"),
        [&IndexValue::Date {
            low,
            high: i64::MAX
        }]
    );

    let a = index(&example("AllergyIntolerance-example.json"));
    assert_eq!(of(&a, "patient"), [&reference("Patient", "example")]);

    let p = index(&example("Procedure-example.json"));
    assert_eq!(
        of(&p, "reason-code"),
        [&tok(
            None,
            None,
            Some("generalized abdominal pain 24 hours. localized in rif with rebound and guarding")
        )]
    );
    // Each coding carries its display; the concept's text is an entry of its own (`:text`
    // matches either).
    assert_eq!(
        of(&p, "code"),
        [
            &tok(
                Some("http://snomed.info/sct"),
                Some("80146002"),
                Some("appendectomy (procedure)")
            ),
            &tok(None, None, Some("appendectomy"))
        ]
    );
}

#[test]
fn money_reference_identifier_and_extract_param() {
    let inv = example("Invoice-example.json");
    let e = index(&inv);
    assert_eq!(
        of(&e, "totalgross"),
        [&IndexValue::Quantity {
            value: 48.0,
            low: 48.0,
            high: 48.0,
            system: Some("urn:iso:std:iso:4217".into()),
            code: Some("EUR".into()),
            unit: None
        }]
    );
    // issuer has only an identifier: no reference entry, one `issuer:identifier` token.
    assert!(of(&e, "issuer").is_empty());
    assert_eq!(
        of(&e, "issuer:identifier"),
        [&tok(
            Some("http://myhospital/NamingSystem/departments"),
            Some("CARD_INTERMEDIATE_CARE"),
            None
        )]
    );
    let (low, high) = date_range("2017-01-25T07:00:00Z").unwrap();
    assert_eq!(of(&e, "date"), [&IndexValue::Date { low, high }]);
    let only = extract_param(Registry::r4(), "Invoice", "issuer", &inv, BASE);
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].param, "issuer:identifier");
    assert!(extract_param(Registry::r4(), "Invoice", "nope", &inv, BASE).is_empty());
}

#[test]
fn meta_tag_profile_and_uri() {
    let cs = index(&example("CodeSystem-additionalmaterials.json"));
    assert_eq!(
        of(&cs, "_profile"),
        [&IndexValue::Uri {
            value: "http://hl7.org/fhir/StructureDefinition/shareablecodesystem".into()
        }]
    );
    assert_eq!(
        of(&cs, "url"),
        [&IndexValue::Uri {
            value: "http://hl7.org/fhir/additionalmaterials".into()
        }]
    );
    let mut p = example("Patient-example.json");
    p["meta"] = json!({"tag": [{"system": "http://s", "code": "t", "display": "Tag One"}],
        "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
        "source": "http://src#1"});
    let e = index(&p);
    assert_eq!(
        of(&e, "_tag"),
        [&tok(Some("http://s"), Some("t"), Some("tag one"))]
    );
    assert_eq!(
        of(&e, "_security"),
        [&tok(
            Some("http://terminology.hl7.org/CodeSystem/v3-Confidentiality"),
            Some("R"),
            None
        )]
    );
    assert_eq!(
        of(&e, "_source"),
        [&IndexValue::Uri {
            value: "http://src#1".into()
        }]
    );
}

#[test]
fn references_absolute_versioned_contained_and_canonical() {
    let o = json!({"resourceType": "Observation", "status": "final",
        "code": {"text": "x"},
        "subject": {"reference": "http://other.org/fhir/Patient/9/_history/2"},
        "performer": [{"reference": "#p"}, {"reference": "urn:uuid:1f2e"}],
        "basedOn": [{"reference": "ServiceRequest/s1"}]});
    let e = index(&o);
    assert_eq!(
        of(&e, "subject"),
        // Another server's Patient: known by its url (and version), not as a local id.
        [&IndexValue::Reference {
            target_type: None,
            id: None,
            url: "http://other.org/fhir/Patient/9".into(),
            version: Some("2".into())
        }]
    );
    assert_eq!(
        of(&e, "performer"),
        [&IndexValue::Reference {
            target_type: None,
            id: None,
            url: "urn:uuid:1f2e".into(),
            version: None
        }]
    );
    assert_eq!(of(&e, "based-on"), [&reference("ServiceRequest", "s1")]);
    assert_eq!(of(&e, "code"), [&tok(None, None, Some("x"))]);
    // A canonical reference keeps its version apart.
    let q = json!({"resourceType": "QuestionnaireResponse", "status": "completed",
        "questionnaire": "http://x.org/Questionnaire/q|3"});
    assert_eq!(
        of(&index(&q), "questionnaire"),
        [&IndexValue::Reference {
            target_type: None,
            id: None,
            url: "http://x.org/Questionnaire/q".into(),
            version: Some("3".into())
        }]
    );
}

#[test]
fn number_timing_and_resource_relative_composite() {
    let r = index(&example("RiskAssessment-cardiac.json"));
    let [IndexValue::Number { value, low, high }] = of(&r, "probability")[..] else {
        panic!("{:?}", of(&r, "probability"));
    };
    // A single value covers itself only.
    assert_eq!((*value, *low, *high), (0.02, 0.02, 0.02));

    let plan = json!({"resourceType": "CarePlan", "status": "active", "intent": "plan",
        "subject": {"reference": "Patient/1"},
        "activity": [{"detail": {"status": "scheduled", "scheduledTiming": {
            "event": ["2020-01-02"],
            "repeat": {"boundsPeriod": {"start": "2020-01-01", "end": "2020-01-31"}}}}}]});
    let e = index(&plan);
    let (jan_low, _) = date_range("2020-01-01").unwrap();
    let (_, jan_high) = date_range("2020-01-31").unwrap();
    assert_eq!(
        of(&e, "activity-date"),
        [
            &day("2020-01-02"),
            &IndexValue::Date {
                low: jan_low,
                high: jan_high
            }
        ]
    );
    // The clinical `patient` parameter: CarePlan.subject.where(resolve() is Patient).
    assert_eq!(of(&e, "patient"), [&reference("Patient", "1")]);
    let mut group = plan.clone();
    group["subject"] = json!({"reference": "Group/g"});
    let e = index(&group);
    assert!(of(&e, "patient").is_empty());
    assert_eq!(of(&e, "subject"), [&reference("Group", "g")]);

    // A component evaluated against %resource rather than the base item.
    let seq = json!({"resourceType": "MolecularSequence", "coordinateSystem": 0,
        "referenceSeq": {"chromosome": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/chromosome-human", "code": "1"}]}},
        "variant": [{"start": 128, "end": 129}]});
    let e = index(&seq);
    let num = |n: f64| IndexValue::Number {
        value: n,
        low: n,
        high: n,
    };
    assert_eq!(
        of(&e, "chromosome-variant-coordinate"),
        [&IndexValue::Composite(vec![
            tok(
                Some("http://terminology.hl7.org/CodeSystem/chromosome-human"),
                Some("1"),
                None
            ),
            num(128.0),
            num(129.0)
        ])]
    );
}

#[test]
fn composite_combinations_are_bounded() {
    let codings: Vec<Value> = (0..100)
        .map(|i| json!({"system": "http://s", "code": format!("c{i}")}))
        .collect();
    let o = json!({"resourceType": "Observation", "status": "final",
        "code": {"coding": codings.clone()},
        "valueCodeableConcept": {"coding": codings}});
    let e = index(&o);
    // 100 × 100 combinations would be 10,000; at most 1,024 are kept: 100 codes × the first
    // 10 value codings.
    assert_eq!(of(&e, "code-value-concept").len(), 1000);
    assert_eq!(of(&e, "code").len(), 100);
}

/// The precompiled (pruned, statically resolved) expressions that extraction evaluates select
/// exactly what the expressions as written select, on every official example, including
/// composite components on each base item.
#[test]
fn precompiled_expressions_agree_with_the_written_ones() {
    fn flat(items: Vec<fhird::fhir::fhirpath::Item<'_>>) -> Vec<(String, Value)> {
        items
            .into_iter()
            .map(|i| (i.type_name, i.value.into_owned()))
            .collect()
    }
    let registry = Registry::r4();
    let mut compared = 0;
    for (path, rt, resource) in official_examples() {
        let rt = rt.as_str();
        for p in registry.params_of(rt) {
            let Some(x) = p.expression.as_deref().filter(|_| p.unsupported.is_none()) else {
                continue;
            };
            let written = Expression::parse(x).unwrap();
            let Some(compiled) = written.specialize(rt) else {
                assert!(written.evaluate(&resource).unwrap().is_empty());
                continue;
            };
            let plain = written.evaluate(&resource).unwrap();
            assert_eq!(
                flat(compiled.evaluate(&resource).unwrap()),
                flat(plain.clone()),
                "{} {rt}.{}",
                path.display(),
                p.code
            );
            compared += 1;
            for c in &p.components {
                let written_c = Expression::parse(&c.expression).unwrap();
                let compiled_c = written_c.for_focus(rt, compiled.selects());
                for base in &plain {
                    assert_eq!(
                        flat(compiled_c.evaluate_on(&resource, base).unwrap()),
                        flat(written_c.evaluate_on(&resource, base).unwrap()),
                        "{} {rt}.{} {}",
                        path.display(),
                        p.code,
                        c.expression
                    );
                }
            }
        }
    }
    assert!(compared > 50_000, "{compared}");
}

/// Prints the extraction cost over all official examples (run with `--ignored --nocapture`,
/// ideally with `--release`).
#[test]
#[ignore]
fn bench_extraction() {
    let registry = Registry::r4();
    let mut docs = Vec::new();
    for f in std::fs::read_dir(common::examples_dir()).unwrap() {
        let path = f.unwrap().path();
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        if v["resourceType"]
            .as_str()
            .is_some_and(element_types::is_resource_type)
        {
            docs.push(v);
        }
    }
    let _ = extract(registry, "Patient", &docs[0], BASE, true);
    for name in ["all", "Patient-example.json", "Observation-example.json"] {
        let set: Vec<&Value> = if name == "all" {
            docs.iter().collect()
        } else {
            vec![]
        };
        let single;
        let set = if set.is_empty() {
            single = example(name);
            vec![&single; 2000]
        } else {
            set
        };
        let start = Instant::now();
        let mut n = 0;
        for d in &set {
            n += extract(registry, d["resourceType"].as_str().unwrap(), d, BASE, true).len();
        }
        let per = start.elapsed().as_secs_f64() * 1e6 / set.len() as f64;
        eprintln!(
            "{name}: {per:.1} µs/resource ({} resources, {n} entries)",
            set.len()
        );
    }
}

/// The parameters whose values FHIR's cardinalities bound (what lets MongoDB skip overflow
/// markers, `mongo_keys::always_keyed`) never index more values than the bound on any official
/// example, and the bound is what the definitions say for well-known ones.
#[test]
fn bounded_parameters_hold_their_bound_on_every_example() {
    let registry = Registry::r4();
    assert_eq!(registry.most_values("Encounter", "subject"), Some(1));
    assert_eq!(registry.most_values("Observation", "patient"), Some(1));
    assert_eq!(registry.most_values("Claim", "patient"), Some(1));
    assert_eq!(registry.most_values("ValueSet", "url"), Some(1));
    assert_eq!(registry.most_values("Observation", "performer"), None);
    assert_eq!(
        registry.most_values("Patient", "general-practitioner"),
        None
    );
    assert_eq!(registry.most_values("Observation", "code"), None);
    assert_eq!(registry.most_values("Patient", "_profile"), None);
    let mut bounded: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut checked = 0;
    for (path, rt, resource) in official_examples() {
        let rt = rt.as_str();
        if !element_types::is_resource_type(rt) {
            continue;
        }
        let found = extract(registry, rt, &resource, BASE, true);
        for p in registry.params_of(rt) {
            let Some(most) = registry.most_values(rt, &p.code) else {
                continue;
            };
            let n = found.iter().filter(|e| e.param == p.code).count();
            assert!(
                n <= most,
                "{}: {} values of {rt}.{} (at most {most})",
                path.display(),
                n,
                p.code
            );
            bounded.insert((rt.to_string(), p.code.clone()), most);
            checked += usize::from(n > 0);
        }
    }
    eprintln!(
        "{} bounded parameters, {checked} checks with values",
        bounded.len()
    );
    assert!(bounded.len() > 300, "{}", bounded.len());
    assert!(checked > 1_000, "{checked}");
}

/// A contained resource a reference parameter points at is indexed for chains: its own
/// parameters under `{reference}:{Type}.`, its local id, one marker per parameter and type;
/// a contained resource nothing points at, and words, are not. Every contained resource is
/// indexed for `_contained` in a slot of its type.
#[test]
fn contained_resources_are_indexed_where_referenced() {
    let registry = Registry::r4();
    let obs = json!({
        "resourceType": "Observation",
        "id": "o",
        "status": "final",
        "code": {"text": "x"},
        "contained": [
            {"resourceType": "Practitioner", "id": "a", "name": [{"family": "Ames"}]},
            {"resourceType": "Practitioner", "id": "b", "name": [{"family": "Bell"}]},
            {"resourceType": "Patient", "id": "p", "gender": "female",
             "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">words</div>"}},
            {"resourceType": "Device", "id": "unused", "lotNumber": "L1"}
        ],
        "subject": {"reference": "#p"},
        "performer": [{"reference": "#a"}, {"reference": "#b"}, {"reference": "#a"}]
    });
    let entries = extract(registry, "Observation", &obs, BASE, true);
    let of = |code: &str| -> Vec<&IndexValue> {
        entries
            .iter()
            .filter(|e| e.param == code)
            .map(|e| &e.value)
            .collect()
    };
    let token = |c: &str| IndexValue::Token {
        system: None,
        code: Some(c.into()),
        text: None,
    };
    assert_eq!(of("performer:contained"), [&token("Practitioner")]);
    assert_eq!(of("subject:contained"), [&token("Patient")]);
    assert_eq!(of("patient:contained"), [&token("Patient")]);
    assert_eq!(of("performer:Practitioner._id"), [&token("a"), &token("b")]);
    assert_eq!(of("performer:Practitioner.family").len(), 2);
    assert_eq!(of("subject:Patient.gender").len(), 1);
    assert!(of("subject:Patient._text").is_empty());
    // For chains, only what a reference points at.
    assert!(!entries
        .iter()
        .any(|e| e.param.contains("Device") && !e.param.starts_with("_contained")));
    // For `_contained`, every contained resource in a slot of its type, with a marker.
    let marker = |slot: &str, ty: &str| IndexValue::Token {
        system: Some(slot.into()),
        code: Some(ty.into()),
        text: None,
    };
    assert_eq!(
        of("_contained"),
        [
            &marker("0", "Practitioner"),
            &marker("1", "Practitioner"),
            &marker("0", "Patient"),
            &marker("0", "Device")
        ]
    );
    assert_eq!(of("_contained0:Practitioner._id"), [&token("a")]);
    assert_eq!(of("_contained1:Practitioner._id"), [&token("b")]);
    assert_eq!(of("_contained0:Device._id"), [&token("unused")]);
    assert!(of("_contained0:Patient._text").is_empty());
    // No reference entry for a `#` reference itself.
    assert!(of("subject").is_empty());
    // What a chain's candidate check reads (`extract_param`).
    let one = extract_param(
        registry,
        "Observation",
        "performer:Practitioner.family",
        &obs,
        BASE,
    );
    assert_eq!(one.len(), 2);
    assert!(one
        .iter()
        .all(|e| e.param == "performer:Practitioner.family"));
}

/// Past `MAX_CONTAINED_SLOTS` contained resources of a type, the rest are not indexed, and
/// one marker says so.
#[test]
fn contained_slots_are_capped() {
    use fhird::fhir::search::extract::{CONTAINED_OVERFLOW, MAX_CONTAINED_SLOTS};
    let registry = Registry::r4();
    let contained: Vec<Value> = (0..MAX_CONTAINED_SLOTS + 10)
        .map(
            |i| json!({"resourceType": "Goal", "id": format!("g{i}"), "lifecycleStatus": "active"}),
        )
        .collect();
    let plan = json!({
        "resourceType": "CarePlan", "id": "c", "status": "active", "intent": "plan",
        "subject": {"reference": "Patient/1"}, "contained": contained
    });
    let entries = extract(registry, "CarePlan", &plan, BASE, false);
    let markers: Vec<&Option<String>> = entries
        .iter()
        .filter(|e| e.param == "_contained")
        .filter_map(|e| match &e.value {
            IndexValue::Token { system, .. } => Some(system),
            _ => None,
        })
        .collect();
    assert_eq!(markers.len(), MAX_CONTAINED_SLOTS + 1);
    assert_eq!(markers.last().unwrap().as_deref(), Some(CONTAINED_OVERFLOW));
    let last = format!("_contained{}:Goal._id", MAX_CONTAINED_SLOTS - 1);
    assert_eq!(entries.iter().filter(|e| e.param == last).count(), 1);
    let past = format!("_contained{}:Goal._id", MAX_CONTAINED_SLOTS);
    assert!(!entries.iter().any(|e| e.param == past));
}
