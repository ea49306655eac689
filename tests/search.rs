//! FHIR search over every official R4 example, on both stores, with expected results worked
//! out by hand from the example files and search.html (the comments say why each answer is
//! what it is). The package is unpacked by scripts/test.sh into `FHIR_R4_EXAMPLES`.

mod common;

use common::{expect, expect_outcome, TestServer};
use fhird::http::HttpLimits;
use futures_util::{stream, StreamExt};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// (query, the matches as `Type/id`, in any order).
const CASES: &[(&str, &[&str])] = &[
    // --- string: starts-with, case- and accent-insensitive, every part of a HumanName
    ("Patient?family=chalmers", &["Patient/example"]),
    ("Patient?family=CHALM", &["Patient/example"]),
    ("Patient?name=chalmers", &["Patient/example"]),
    // "Peter" is a given name of example only; "Pieter" (f001) does not start with "pet".
    ("Patient?given=pet", &["Patient/example"]),
    (
        "Patient?family=solo",
        &[
            "Patient/infant-mom",
            "Patient/infant-twin-1",
            "Patient/infant-twin-2",
        ],
    ),
    (
        "Patient?family:exact=Solo",
        &[
            "Patient/infant-mom",
            "Patient/infant-twin-1",
            "Patient/infant-twin-2",
        ],
    ),
    ("Patient?family:exact=solo", &[]),
    (
        "Patient?name:contains=olo",
        &[
            "Patient/infant-mom",
            "Patient/infant-twin-1",
            "Patient/infant-twin-2",
        ],
    ),
    ("Patient?name=leia", &["Patient/infant-mom"]),
    (
        "Patient?family=everywoman",
        &["Patient/genetics-example1", "Patient/mom"],
    ),
    // f001's family name has spaces: "van de Heuvel".
    ("Patient?family=van%20de", &["Patient/f001"]),
    ("Organization?name=artis", &["Organization/f201"]),
    (
        "Organization?address-city=den",
        &["Organization/f001", "Organization/f201"],
    ),
    // comma = OR
    (
        "Patient?family=chalmers,levin",
        &["Patient/example", "Patient/glossy", "Patient/xcda"],
    ),
    // --- token
    (
        "Patient?gender=female",
        &[
            "Patient/animal",
            "Patient/genetics-example1",
            "Patient/infant-mom",
            "Patient/infant-twin-1",
            "Patient/mom",
            "Patient/pat4",
            "Patient/proband",
        ],
    ),
    ("Patient?gender=other", &["Patient/pat2"]),
    (
        "Patient?identifier=urn:oid:1.2.36.146.595.217.0.1|12345",
        &["Patient/example"],
    ),
    // Without a system the value matches in any system: example and xcda both have 12345.
    (
        "Patient?identifier=12345",
        &["Patient/example", "Patient/xcda"],
    ),
    (
        "Patient?identifier=http://hl7.org/fhir/sid/us-ssn|",
        &["Patient/genetics-example1", "Patient/mom"],
    ),
    ("Patient?identifier=|AB60001", &["Patient/ihe-pcd"]),
    // :of-type = identifier type (system|code) and value
    (
        "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|12345",
        &["Patient/example", "Patient/xcda"],
    ),
    (
        "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|444222222",
        &["Patient/genetics-example1", "Patient/mom"],
    ),
    (
        "Patient?identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|SS|12345",
        &[],
    ),
    // :text = CodeableConcept.text or any Coding.display, starts-with
    (
        "Observation?code:text=body%20temp",
        &["Observation/body-temperature", "Observation/f202"],
    ),
    ("Observation?code:text=temperature", &["Observation/f202"]),
    (
        "Observation?code=http://loinc.org|29463-7",
        &["Observation/example"],
    ),
    (
        "Observation?code=9269-2",
        &["Observation/gcs-qa", "Observation/glasgow"],
    ),
    (
        "Observation?code=http://loinc.org|85354-9",
        &[
            "Observation/blood-pressure",
            "Observation/blood-pressure-cancel",
            "Observation/blood-pressure-dar",
        ],
    ),
    // repeated parameters = AND
    (
        "Observation?code=http://loinc.org|85354-9&status=final",
        &[
            "Observation/blood-pressure",
            "Observation/blood-pressure-dar",
        ],
    ),
    (
        "Observation?category=vital-signs&code=http://loinc.org|8310-5",
        &["Observation/body-temperature", "Observation/f202"],
    ),
    // :not also returns resources with no value at all (ihe-pcd has no gender).
    (
        "Patient?gender:not=male",
        &[
            "Patient/animal",
            "Patient/genetics-example1",
            "Patient/ihe-pcd",
            "Patient/infant-mom",
            "Patient/infant-twin-1",
            "Patient/mom",
            "Patient/pat2",
            "Patient/pat4",
            "Patient/proband",
        ],
    ),
    ("Patient?gender:missing=true", &["Patient/ihe-pcd"]),
    (
        "Patient?birthdate:missing=true",
        &[
            "Patient/dicom",
            "Patient/ihe-pcd",
            "Patient/infant-fetal",
            "Patient/pat1",
            "Patient/pat2",
        ],
    ),
    (
        "Patient?_id=example,pat1",
        &["Patient/example", "Patient/pat1"],
    ),
    // --- date: the implicit range of the value's precision
    (
        "Patient?birthdate=1974-12-25",
        &["Patient/ch-example", "Patient/example"],
    ),
    (
        "Patient?birthdate=1973",
        &["Patient/genetics-example1", "Patient/mom"],
    ),
    (
        "Patient?birthdate=lt1940",
        &["Patient/glossy", "Patient/xcda"],
    ),
    (
        "Patient?birthdate=ge2017",
        &[
            "Patient/infant-twin-1",
            "Patient/infant-twin-2",
            "Patient/newborn",
        ],
    ),
    (
        "Patient?birthdate=sa2010-01-01",
        &[
            "Patient/animal",
            "Patient/infant-twin-1",
            "Patient/infant-twin-2",
            "Patient/newborn",
        ],
    ),
    (
        "Patient?gender=male&birthdate=lt1950",
        &["Patient/f001", "Patient/glossy", "Patient/xcda"],
    ),
    (
        "Observation?date=lt2000-01-01",
        &[
            "Observation/bmi",
            "Observation/bmi-using-related",
            "Observation/body-height",
            "Observation/body-length",
            "Observation/body-temperature",
            "Observation/head-circumference",
            "Observation/heart-rate",
            "Observation/mbp",
            "Observation/respiratory-rate",
            "Observation/vitals-panel",
        ],
    ),
    // f001's effectivePeriod has no end: it is ongoing, so it reaches past any date.
    (
        "Observation?date=gt2018-01-01",
        &[
            "Observation/abdo-tender",
            "Observation/bgpanel",
            "Observation/bloodgroup",
            "Observation/clinical-gender",
            "Observation/f001",
            "Observation/map-sitting",
            "Observation/rhstatus",
            "Observation/trachcare",
        ],
    ),
    // A period of several days is not within one day, so eq finds none of f002-f004.
    ("Observation?date=2013-04-03", &[]),
    // --- number and quantity
    (
        "RiskAssessment?probability=0.02",
        &["RiskAssessment/cardiac"],
    ),
    (
        "RiskAssessment?probability=lt0.001",
        &["RiskAssessment/genetic", "RiskAssessment/riskexample"],
    ),
    ("Observation?value-quantity=185", &["Observation/example"]),
    (
        "Observation?value-quantity=gt100",
        &["Observation/656", "Observation/example", "Observation/f204"],
    ),
    (
        "Observation?value-quantity=lt1",
        &[
            "Observation/1minute-apgar-score",
            "Observation/bmd",
            "Observation/herd1",
        ],
    ),
    (
        "Observation?value-quantity=36.5|http://unitsofmeasure.org|Cel",
        &["Observation/body-temperature"],
    ),
    (
        "Observation?value-quantity=36.5||Cel",
        &["Observation/body-temperature"],
    ),
    (
        "Observation?value-quantity=36.5|http://unitsofmeasure.org|kg",
        &[],
    ),
    // --- composite
    (
        "Observation?code-value-quantity=http://loinc.org|29463-7$gt180",
        &["Observation/example"],
    ),
    (
        "Observation?code-value-quantity=http://loinc.org|29463-7$lt180",
        &[],
    ),
    // --- reference
    (
        "Patient?organization=Organization/1",
        &[
            "Patient/ch-example",
            "Patient/dicom",
            "Patient/example",
            "Patient/pat1",
            "Patient/pat2",
            "Patient/pat3",
            "Patient/pat4",
        ],
    ),
    (
        "Patient?organization=1",
        &[
            "Patient/ch-example",
            "Patient/dicom",
            "Patient/example",
            "Patient/pat1",
            "Patient/pat2",
            "Patient/pat3",
            "Patient/pat4",
        ],
    ),
    (
        "Patient?organization:Organization=1",
        &[
            "Patient/ch-example",
            "Patient/dicom",
            "Patient/example",
            "Patient/pat1",
            "Patient/pat2",
            "Patient/pat3",
            "Patient/pat4",
        ],
    ),
    (
        "Observation?subject=Patient/f001",
        &[
            "Observation/ekg",
            "Observation/f001",
            "Observation/f002",
            "Observation/f003",
            "Observation/f004",
            "Observation/f005",
            "Observation/unsat",
        ],
    ),
    (
        "Observation?subject:Patient=f201",
        &[
            "Observation/f202",
            "Observation/f203",
            "Observation/f204",
            "Observation/f205",
            "Observation/f206",
        ],
    ),
    (
        "Observation?patient=f201",
        &[
            "Observation/f202",
            "Observation/f203",
            "Observation/f204",
            "Observation/f205",
            "Observation/f206",
        ],
    ),
    ("Observation?subject=Group/herd1", &["Observation/herd1"]),
    // --- chains, forward and multi-level, and _has
    (
        "Patient?organization.name=gastro",
        &[
            "Patient/ch-example",
            "Patient/dicom",
            "Patient/example",
            "Patient/pat1",
            "Patient/pat2",
            "Patient/pat3",
            "Patient/pat4",
        ],
    ),
    (
        "Observation?patient.identifier=urn:oid:2.16.840.1.113883.2.4.6.3|123456789",
        &[
            "Observation/f202",
            "Observation/f203",
            "Observation/f204",
            "Observation/f205",
            "Observation/f206",
        ],
    ),
    (
        "Observation?subject:Patient.birthdate=1944-11-17",
        &[
            "Observation/ekg",
            "Observation/f001",
            "Observation/f002",
            "Observation/f003",
            "Observation/f004",
            "Observation/f005",
            "Observation/unsat",
        ],
    ),
    (
        "Observation?subject:Patient.organization.name=burgers",
        &[
            "Observation/ekg",
            "Observation/f001",
            "Observation/f002",
            "Observation/f003",
            "Observation/f004",
            "Observation/f005",
            "Observation/unsat",
        ],
    ),
    (
        "Patient?_has:Observation:subject:code=http://loinc.org|29463-7",
        &["Patient/example"],
    ),
    (
        "Patient?_has:Observation:subject:code=http://loinc.org|15074-8",
        &["Patient/f001"],
    ),
    // --- compartment
    (
        "Patient/f001/Observation",
        &[
            "Observation/ekg",
            "Observation/f001",
            "Observation/f002",
            "Observation/f003",
            "Observation/f004",
            "Observation/f005",
            "Observation/unsat",
        ],
    ),
    (
        "Patient/f201/Observation?code=http://loinc.org|",
        &[
            "Observation/f202",
            "Observation/f203",
            "Observation/f205",
            "Observation/f206",
        ],
    ),
];

async fn load_examples(s: &TestServer) {
    let files: Vec<PathBuf> = std::fs::read_dir(common::examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.ends_with(".json") && n != "package.json" && n != ".index.json"
        })
        .collect();
    let stored: usize = stream::iter(files)
        .map(|path| async move {
            let bytes = std::fs::read(&path).unwrap();
            let v: Value = serde_json::from_slice(&bytes).unwrap();
            let url = format!(
                "{}/{}",
                v["resourceType"].as_str().unwrap(),
                v["id"].as_str().unwrap()
            );
            let resp = s
                .send_raw(
                    reqwest::Method::PUT,
                    &url,
                    Some("application/fhir+json"),
                    bytes,
                )
                .await;
            usize::from(resp.status().as_u16() == 201)
        })
        .buffer_unordered(4)
        .fold(0, |a, b| async move { a + b })
        .await;
    assert!(stored >= 5300, "only {stored} examples stored");
}

fn ids(bundle: &Value, mode: &str) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == mode)
        .map(|e| {
            format!(
                "{}/{}",
                e["resource"]["resourceType"].as_str().unwrap(),
                e["resource"]["id"].as_str().unwrap()
            )
        })
        .collect()
}

async fn search(s: &TestServer, q: &str) -> Value {
    let sep = if q.contains('?') { '&' } else { '?' };
    expect(s.get(&format!("{q}{sep}_count=500")).await, 200).await
}

async fn run_cases(s: &TestServer) {
    let mut failures = Vec::new();
    for (q, want) in CASES {
        let b = search(s, q).await;
        assert_eq!(b["type"], "searchset", "{q}");
        let got: BTreeSet<String> = ids(&b, "match").into_iter().collect();
        let want: BTreeSet<String> = want.iter().map(|s| s.to_string()).collect();
        if got != want {
            failures.push(format!("{q}\n   want {want:?}\n   got  {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} searches wrong:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

async fn result_parameters(s: &TestServer) {
    // _sort by a date ascending (ties by id), then descending.
    let b = search(s, "Patient?gender=female&_sort=birthdate").await;
    assert_eq!(
        ids(&b, "match"),
        [
            "Patient/proband",
            "Patient/genetics-example1",
            "Patient/mom",
            "Patient/pat4",
            "Patient/infant-mom",
            "Patient/animal",
            "Patient/infant-twin-1"
        ]
    );
    let b = search(s, "Patient?gender=female&_sort=-birthdate").await;
    assert_eq!(
        ids(&b, "match"),
        [
            "Patient/infant-twin-1",
            "Patient/animal",
            "Patient/infant-mom",
            "Patient/pat4",
            "Patient/genetics-example1",
            "Patient/mom",
            "Patient/proband"
        ]
    );
    // Resources without the sort value come last.
    let b = search(s, "Patient?organization=1&_sort=birthdate").await;
    assert_eq!(
        ids(&b, "match"),
        [
            "Patient/ch-example",
            "Patient/example",
            "Patient/pat3",
            "Patient/pat4",
            "Patient/dicom",
            "Patient/pat1",
            "Patient/pat2"
        ]
    );

    // Keyset paging: 22 patients in pages of 5, each exactly once, in id order.
    let mut seen = Vec::new();
    let mut next = Some("Patient?_sort=_id&_count=5".to_string());
    let mut pages = 0;
    while let Some(url) = next {
        let b = expect(s.get(&url).await, 200).await;
        seen.extend(ids(&b, "match"));
        next = b["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_string());
        pages += 1;
        assert!(pages < 10);
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(seen, sorted);
    assert_eq!(seen.len(), 22);
    assert_eq!(pages, 5);

    // _summary=count and _total
    let b = expect(s.get("Patient?_summary=count").await, 200).await;
    assert_eq!(b["total"], 22);
    assert!(b.get("entry").is_none());
    let b = expect(
        s.get("Patient?gender=female&_total=accurate&_count=2")
            .await,
        200,
    )
    .await;
    assert_eq!(b["total"], 7);
    assert_eq!(ids(&b, "match").len(), 2);

    // _elements keeps what was asked for (and id/meta), marked SUBSETTED.
    let b = search(s, "Patient?_id=example&_elements=gender").await;
    let p = &b["entry"][0]["resource"];
    assert_eq!(p["gender"], "male");
    assert!(p.get("name").is_none() && p.get("birthDate").is_none());
    assert_eq!(p["meta"]["tag"][0]["code"], "SUBSETTED");
    let b = search(s, "Patient?_id=example&_summary=true").await;
    let p = &b["entry"][0]["resource"];
    assert!(p.get("name").is_some() && p.get("contact").is_none());

    // _include, _include:iterate, _revinclude
    let b = search(s, "Observation?_id=f001&_include=Observation:subject").await;
    assert_eq!(ids(&b, "match"), ["Observation/f001"]);
    assert_eq!(ids(&b, "include"), ["Patient/f001"]);
    let b = search(
        s,
        "Observation?_id=f001&_include=Observation:subject&_include:iterate=Patient:organization",
    )
    .await;
    let inc: BTreeSet<String> = ids(&b, "include").into_iter().collect();
    assert_eq!(
        inc,
        ["Organization/f001", "Patient/f001"]
            .map(String::from)
            .into()
    );
    let b = search(s, "Patient?_id=f201&_revinclude=Observation:subject").await;
    assert_eq!(ids(&b, "match"), ["Patient/f201"]);
    let inc: BTreeSet<String> = ids(&b, "include").into_iter().collect();
    assert_eq!(
        inc,
        [
            "Observation/f202",
            "Observation/f203",
            "Observation/f204",
            "Observation/f205",
            "Observation/f206"
        ]
        .map(String::from)
        .into()
    );

    // System level
    let b = search(s, "/fhir?_id=example&_type=Patient,Observation").await;
    let got: BTreeSet<String> = ids(&b, "match").into_iter().collect();
    assert_eq!(
        got,
        ["Observation/example", "Patient/example"]
            .map(String::from)
            .into()
    );

    // POST _search with a form body answers like GET.
    let resp = s
        .send_raw(
            reqwest::Method::POST,
            "Patient/_search",
            Some("application/x-www-form-urlencoded"),
            b"family=chalmers".to_vec(),
        )
        .await;
    let b = expect(resp, 200).await;
    assert_eq!(ids(&b, "match"), ["Patient/example"]);
}

/// `$reindex` recomputes every entry; searches answer the same afterwards.
async fn reindex(s: &TestServer) {
    let count = |b: &Value| b["parameter"][0]["valueInteger"].as_u64().unwrap();
    let post = |path: &'static str| s.request(reqwest::Method::POST, path, None, &[]);
    let b = expect(post("Patient/example/$reindex").await, 200).await;
    assert_eq!(count(&b), 1);
    let b = expect(post("Patient/$reindex").await, 200).await;
    assert_eq!(count(&b), 22);
    let b = expect(post("$reindex").await, 200).await;
    assert!(count(&b) >= 5300, "{b}");
    let b = search(s, "Patient?family=chalmers").await;
    assert_eq!(ids(&b, "match"), ["Patient/example"]);
    let b = search(
        s,
        "Observation?subject:Patient.organization.name=burgers&_summary=count",
    )
    .await;
    assert_eq!(b["total"], 7);
    expect_outcome(post("Patient/nosuch/$reindex").await, 404, "nosuch").await;
}

async fn errors(s: &TestServer) {
    expect_outcome(s.get("Patient?foo=bar").await, 400, "foo").await;
    expect_outcome(s.get("Patient?birthdate=notadate").await, 400, "birthdate").await;
    expect_outcome(s.get("Patient?gender:exact=male").await, 400, "exact").await;
    expect_outcome(s.get("Patient?_sort=foo").await, 400, "foo").await;
    expect_outcome(s.get("Patient?organization.nosuch=x").await, 400, "nosuch").await;
    expect_outcome(
        s.get("Patient?_include=Patient:nosuch").await,
        400,
        "nosuch",
    )
    .await;
    // Lenient handling ignores the unknown parameter and says so.
    let resp = s
        .request(
            reqwest::Method::GET,
            "Patient?foo=bar&family=chalmers",
            None,
            &[("prefer", "handling=lenient")],
        )
        .await;
    let b = expect(resp, 200).await;
    assert_eq!(ids(&b, "match"), ["Patient/example"]);
    let outcome = b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["search"]["mode"] == "outcome")
        .unwrap();
    assert!(outcome["resource"].to_string().contains("foo"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_over_the_official_examples_on_sqlite() {
    let s = TestServer::sqlite_with(big_bodies()).await;
    load_examples(&s).await;
    run_cases(&s).await;
    result_parameters(&s).await;
    errors(&s).await;
    reindex(&s).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_over_the_official_examples_on_mongodb() {
    let s = TestServer::mongodb_with(big_bodies()).await;
    load_examples(&s).await;
    run_cases(&s).await;
    result_parameters(&s).await;
    errors(&s).await;
    reindex(&s).await;
    s.stop().await;
}

fn big_bodies() -> HttpLimits {
    HttpLimits {
        max_body_bytes: 64 * 1024 * 1024,
        ..HttpLimits::default()
    }
}
