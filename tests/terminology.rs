//! Token modifiers backed by terminology resources on the server: `:in` / `:not-in` a
//! ValueSet, `:below` / `:above` a code in its CodeSystem's hierarchy — with the official R4
//! ValueSets and CodeSystems, over the real HTTP server on both stores. Expected results are
//! worked out from those files: condition-clinical is `active` (children `recurrence`,
//! `relapse`) and `inactive` (children `remission`, `resolved`); the ValueSet of the same
//! name includes the whole system; observation-vitalsignresult lists LOINC codes, among them
//! 8867-4 (heart rate) and 8310-5 (body temperature), not 2339-0 (glucose).

use crate::common;

use common::{examples_dir, expect, expect_outcome, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";

async fn load_official(s: &TestServer, file: &str, prefix: &str) {
    let body: Value =
        serde_json::from_str(&std::fs::read_to_string(examples_dir().join(file)).unwrap()).unwrap();
    let path = format!(
        "{prefix}/{}/{}",
        body["resourceType"].as_str().unwrap(),
        body["id"].as_str().unwrap()
    );
    expect(s.put(&path, &body).await, 201).await;
}

fn condition(id: &str, status: &str) -> Value {
    json!({"resourceType": "Condition", "id": id,
        "clinicalStatus": {"coding": [{"system": CLINICAL, "code": status}]},
        "subject": {"reference": "Patient/p1"}})
}

fn observation(id: &str, code: &str) -> Value {
    json!({"resourceType": "Observation", "id": id, "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]}})
}

async fn ids(s: &TestServer, query: &str) -> BTreeSet<String> {
    let b = expect(s.get(query).await, 200).await;
    b["entry"]
        .as_array()
        .map(|es| {
            es.iter()
                .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

async fn run(s: &TestServer) {
    for f in [
        "CodeSystem-condition-clinical.json",
        "ValueSet-condition-clinical.json",
        "ValueSet-observation-vitalsignresult.json",
        "ValueSet-condition-code.json",
    ] {
        load_official(s, f, "/fhir").await;
    }
    // A value set of our own: two clinical statuses by concept, one excluded from a filter.
    let narrow = json!({"resourceType": "ValueSet", "id": "still-ill", "url": "http://example.org/vs/still-ill",
        "version": "2", "status": "active",
        "compose": {"include": [{"system": CLINICAL,
            "filter": [{"property": "concept", "op": "is-a", "value": "active"}]}],
            "exclude": [{"system": CLINICAL, "concept": [{"code": "relapse"}]}]}});
    expect(s.put("/fhir/ValueSet/still-ill", &narrow).await, 201).await;
    for (id, status) in [
        ("c-active", "active"),
        ("c-recurrence", "recurrence"),
        ("c-relapse", "relapse"),
        ("c-inactive", "inactive"),
        ("c-resolved", "resolved"),
    ] {
        expect(
            s.put(&format!("/fhir/Condition/{id}"), &condition(id, status))
                .await,
            201,
        )
        .await;
    }
    expect(
        s.put(
            "/fhir/Condition/c-none",
            &json!({"resourceType": "Condition", "id": "c-none", "subject": {"reference": "Patient/p1"}}),
        )
        .await,
        201,
    )
    .await;
    for (id, code) in [
        ("o-hr", "8867-4"),
        ("o-temp", "8310-5"),
        ("o-glucose", "2339-0"),
    ] {
        expect(
            s.put(&format!("/fhir/Observation/{id}"), &observation(id, code))
                .await,
            201,
        )
        .await;
    }

    let all_coded = [
        "c-active",
        "c-recurrence",
        "c-relapse",
        "c-inactive",
        "c-resolved",
    ];
    // :in, by canonical url (whole code system) and by local reference.
    assert_eq!(
        ids(
            s,
            "/fhir/Condition?clinical-status:in=http://hl7.org/fhir/ValueSet/condition-clinical"
        )
        .await,
        set(&all_coded)
    );
    assert_eq!(
        ids(s, "/fhir/Condition?clinical-status:in=ValueSet/still-ill").await,
        set(&["c-active", "c-recurrence"])
    );
    // A canonical with a version: the version must be the stored one.
    assert_eq!(
        ids(
            s,
            "/fhir/Condition?clinical-status:in=http://example.org/vs/still-ill%7C2"
        )
        .await,
        set(&["c-active", "c-recurrence"])
    );
    expect_outcome(
        s.get("/fhir/Condition?clinical-status:in=http://example.org/vs/still-ill%7C3")
            .await,
        400,
        "is not on this server",
    )
    .await;
    // :not-in: no coding in the set, including resources without the element (as :not).
    assert_eq!(
        ids(
            s,
            "/fhir/Condition?clinical-status:not-in=ValueSet/still-ill"
        )
        .await,
        set(&["c-relapse", "c-inactive", "c-resolved", "c-none"])
    );
    // A value set listing LOINC codes (no CodeSystem needed).
    assert_eq!(
        ids(
            s,
            "/fhir/Observation?code:in=http://hl7.org/fhir/ValueSet/observation-vitalsignresult"
        )
        .await,
        set(&["o-hr", "o-temp"])
    );
    // :below = the code and its descendants; :above = the code and its ancestors.
    assert_eq!(
        ids(
            s,
            &format!("/fhir/Condition?clinical-status:below={CLINICAL}%7Cactive")
        )
        .await,
        set(&["c-active", "c-recurrence", "c-relapse"])
    );
    assert_eq!(
        ids(
            s,
            &format!("/fhir/Condition?clinical-status:above={CLINICAL}%7Crelapse")
        )
        .await,
        set(&["c-active", "c-relapse"])
    );
    assert_eq!(
        ids(
            s,
            &format!("/fhir/Condition?clinical-status:below={CLINICAL}%7Cresolved")
        )
        .await,
        set(&["c-resolved"])
    );
    // Combined with other criteria, and counted.
    let b = expect(
        s.get(&format!(
            "/fhir/Condition?clinical-status:below={CLINICAL}%7Cinactive&subject=Patient/p1&_summary=count"
        ))
        .await,
        200,
    )
    .await;
    assert_eq!(b["total"], 2);

    // What cannot be answered exactly is a 400 naming the reason.
    expect_outcome(
        s.get("/fhir/Condition?clinical-status:in=http://example.org/no-such-vs")
            .await,
        400,
        "not on this server",
    )
    .await;
    // condition-code is SNOMED CT by filter; SNOMED is not on the server.
    expect_outcome(
        s.get("/fhir/Condition?code:in=http://hl7.org/fhir/ValueSet/condition-code")
            .await,
        400,
        "http://snomed.info/sct",
    )
    .await;
    expect_outcome(
        s.get("/fhir/Condition?code:below=http://snomed.info/sct%7C404684003")
            .await,
        400,
        "CodeSystem 'http://snomed.info/sct' is not on this server",
    )
    .await;
    expect_outcome(
        s.get("/fhir/Condition?clinical-status:below=active").await,
        400,
        "system|code",
    )
    .await;
    expect_outcome(
        s.get("/fhir/Observation?subject:Patient.gender:not-in=ValueSet/still-ill")
            .await,
        400,
        "not supported inside a chain",
    )
    .await;

    // A payer partition uses its own terminology first, then the default partition's.
    let payer = json!({"resourceType": "Organization", "id": "PAYT", "name": "Payer T",
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "pay"}]}]});
    expect(s.put("/fhir/Organization/PAYT", &payer).await, 201).await;
    for (id, status) in [("m-active", "active"), ("m-resolved", "resolved")] {
        expect(
            s.put(
                &format!("/payer/PAYT/fhir/Condition/{id}"),
                &condition(id, status),
            )
            .await,
            201,
        )
        .await;
    }
    assert_eq!(
        ids(
            s,
            "/payer/PAYT/fhir/Condition?clinical-status:in=http://example.org/vs/still-ill"
        )
        .await,
        set(&["m-active"])
    );
    assert_eq!(
        ids(
            s,
            &format!("/payer/PAYT/fhir/Condition?clinical-status:above={CLINICAL}%7Cresolved")
        )
        .await,
        set(&["m-resolved"])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminology_modifiers_on_sqlite() {
    let s = TestServer::sqlite().await;
    run(&s).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminology_modifiers_on_mongodb() {
    let s = TestServer::mongodb().await;
    run(&s).await;
    s.stop().await;
}
