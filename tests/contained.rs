//! `_contained` and `_containedType` (search.html "Contained Resources") on both stores, over
//! HTTP, on data built here so every answer follows from the resources below: which
//! containers and contained resources match, that all criteria are met by one contained
//! resource, counts, paging, chains from a contained resource, what a write changes, and
//! the searches refused with a 400.

use crate::common;

use common::{expect, expect_outcome, link, TestServer};
use serde_json::{json, Value};
use std::collections::BTreeSet;

const RX: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";

fn medication(id: &str, code: &str, form: &str) -> Value {
    json!({
        "resourceType": "Medication", "id": id,
        "code": {"coding": [{"system": RX, "code": code}]},
        "form": {"coding": [{"system": "http://snomed.info/sct", "code": form}]}
    })
}

/// A MedicationRequest holding `meds` (the first is the one it orders).
fn request(id: &str, meds: Vec<Value>) -> Value {
    let first = meds[0]["id"].as_str().unwrap().to_string();
    json!({
        "resourceType": "MedicationRequest", "id": id, "status": "active", "intent": "order",
        "contained": meds,
        "medicationReference": {"reference": format!("#{first}")},
        "subject": {"reference": "Patient/p1"}
    })
}

async fn load(s: &TestServer) {
    let put = |r: Value| async move {
        let path = format!(
            "{}/{}",
            r["resourceType"].as_str().unwrap(),
            r["id"].as_str().unwrap()
        );
        expect(s.put(&path, &r).await, 201).await;
    };
    put(json!({"resourceType": "Organization", "id": "acme", "name": "Acme Pharma"})).await;
    put(json!({"resourceType": "Patient", "id": "p1"})).await;
    // Stand-alone Medications.
    put(medication("m-a", "1001", "tablet")).await;
    put(medication("m-b", "2002", "capsule")).await;
    // One contained Medication each.
    put(request("r1", vec![medication("x", "1001", "tablet")])).await;
    put(request("r2", vec![medication("x", "2002", "tablet")])).await;
    // Two: 1001 as a capsule and 3003 as a tablet. `code=1001&form=tablet` holds for the
    // container's Medications together but for neither alone.
    put(request(
        "r3",
        vec![
            medication("one", "1001", "capsule"),
            medication("two", "3003", "tablet"),
        ],
    ))
    .await;
    // A Medication made by a stored Organization, contained in a MedicationDispense.
    let mut made = medication("y", "4004", "tablet");
    made["manufacturer"] = json!({"reference": "Organization/acme"});
    put(json!({
        "resourceType": "MedicationDispense", "id": "d1", "status": "completed",
        "contained": [made],
        "medicationReference": {"reference": "#y"}
    }))
    .await;
    // A Substance containing a Substance: with `_contained=both` it may match both ways.
    put(json!({
        "resourceType": "Substance", "id": "s1",
        "code": {"coding": [{"system": RX, "code": "7007"}]},
        "ingredient": [{"substanceReference": {"reference": "#s2"}}],
        "contained": [{"resourceType": "Substance", "id": "s2",
                       "code": {"coding": [{"system": RX, "code": "7007"}]}}]
    }))
    .await;
    // A contained Patient: not a Medication, never an answer below.
    put(json!({
        "resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"text": "x"},
        "contained": [{"resourceType": "Patient", "id": "pp", "gender": "female"}],
        "subject": {"reference": "#pp"}
    }))
    .await;
}

fn match_urls(b: &Value) -> BTreeSet<String> {
    b["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| {
            let url = e["fullUrl"].as_str().unwrap();
            url.split_once("/fhir/")
                .map_or(url, |(_, rest)| rest)
                .to_string()
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

async fn found(s: &TestServer, q: &str) -> BTreeSet<String> {
    match_urls(&expect(s.get(q).await, 200).await)
}

async fn contained_searches(s: &TestServer) {
    load(s).await;

    // The default: stand-alone Medications only.
    assert_eq!(
        found(s, "Medication?code=1001").await,
        set(&["Medication/m-a"])
    );
    assert_eq!(
        found(s, "Medication?code=1001&_contained=false").await,
        set(&["Medication/m-a"])
    );
    // Contained ones, returned as their containers (the default `_containedType`).
    assert_eq!(
        found(s, "Medication?code=1001&_contained=true").await,
        set(&["MedicationRequest/r1", "MedicationRequest/r3"])
    );
    assert_eq!(
        found(s, &format!("Medication?code={RX}|2002&_contained=true")).await,
        set(&["MedicationRequest/r2"])
    );
    assert_eq!(
        found(s, "Medication?code=1001&_contained=both").await,
        set(&[
            "Medication/m-a",
            "MedicationRequest/r1",
            "MedicationRequest/r3"
        ])
    );
    // Every criterion is met by one contained Medication: r3 holds a 1001 and a tablet,
    // but not a 1001 tablet.
    assert_eq!(
        found(s, "Medication?code=1001&form=tablet&_contained=true").await,
        set(&["MedicationRequest/r1"])
    );
    assert_eq!(
        found(s, "Medication?code=3003&form=tablet&_contained=true").await,
        set(&["MedicationRequest/r3"])
    );
    assert_eq!(
        found(s, "Medication?code=1001,3003&form=capsule&_contained=true").await,
        set(&["MedicationRequest/r3"])
    );
    assert_eq!(
        found(s, "Medication?_id=two&code=1001&_contained=true").await,
        set(&[])
    );
    assert_eq!(
        found(s, "Medication?_id=two&code=3003&_contained=true").await,
        set(&["MedicationRequest/r3"])
    );
    // No criterion: every container of a Medication.
    assert_eq!(
        found(s, "Medication?_contained=true").await,
        set(&[
            "MedicationDispense/d1",
            "MedicationRequest/r1",
            "MedicationRequest/r2",
            "MedicationRequest/r3"
        ])
    );
    // A resource that matches on its own and as a container: one entry, counted once.
    let b = expect(
        s.get("Substance?code=7007&_contained=both&_total=accurate")
            .await,
        200,
    )
    .await;
    assert_eq!(match_urls(&b), set(&["Substance/s1"]));
    assert_eq!(b["total"], 1, "{b}");
    let b = expect(
        s.get("Substance?code=7007&_contained=both&_containedType=contained&_total=accurate")
            .await,
        200,
    )
    .await;
    assert_eq!(match_urls(&b), set(&["Substance/s1", "Substance/s1#s2"]));
    assert_eq!(b["total"], 2, "{b}");
    // A type nothing contains.
    assert_eq!(found(s, "Goal?_contained=true").await, set(&[]));
    // A chain from a contained resource to a stored one.
    assert_eq!(
        found(s, "Medication?manufacturer.name=acme&_contained=true").await,
        set(&["MedicationDispense/d1"])
    );
    assert_eq!(
        found(
            s,
            "Medication?manufacturer=Organization/acme&_contained=true"
        )
        .await,
        set(&["MedicationDispense/d1"])
    );
    // `_filter` is read inside them too.
    assert_eq!(
        found(
            s,
            "Medication?_filter=code%20eq%203003%20and%20form%20eq%20tablet&_contained=true"
        )
        .await,
        set(&["MedicationRequest/r3"])
    );

    // The contained resources themselves: each its own entry, its fullUrl the container's
    // with the local id as fragment.
    let b = expect(
        s.get("Medication?code=1001,3003&_contained=true&_containedType=contained&_total=accurate")
            .await,
        200,
    )
    .await;
    assert_eq!(
        match_urls(&b),
        set(&[
            "MedicationRequest/r1#x",
            "MedicationRequest/r3#one",
            "MedicationRequest/r3#two"
        ])
    );
    assert_eq!(b["total"], 3, "each contained match counts: {b}");
    for e in b["entry"].as_array().unwrap() {
        assert_eq!(e["resource"]["resourceType"], "Medication");
        let local = e["fullUrl"].as_str().unwrap().rsplit('#').next().unwrap();
        assert_eq!(e["resource"]["id"], local);
    }
    // Only the slot that meets every criterion.
    assert_eq!(
        found(
            s,
            "Medication?code=1001&form=capsule&_contained=true&_containedType=contained"
        )
        .await,
        set(&["MedicationRequest/r3#one"])
    );
    assert_eq!(
        found(
            s,
            "Medication?code=1001&_contained=both&_containedType=contained"
        )
        .await,
        set(&[
            "Medication/m-a",
            "MedicationRequest/r1#x",
            "MedicationRequest/r3#one"
        ])
    );
    // Counts: containers, or contained matches.
    let count = |q: String| async move {
        expect(s.get(&q).await, 200).await["total"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(
        count("Medication?code=1001&_contained=true&_summary=count".into()).await,
        2
    );
    assert_eq!(
        count("Medication?code=1001&_contained=both&_summary=count".into()).await,
        3
    );
    assert_eq!(
        count("Medication?_contained=true&_containedType=contained&_summary=count".into()).await,
        5
    );
    // `_summary` / `_elements` shape the contained resources returned.
    let b = expect(
        s.get("Medication?_id=y&_contained=true&_containedType=contained&_elements=code")
            .await,
        200,
    )
    .await;
    let m = &b["entry"][0]["resource"];
    assert!(m["code"].is_object() && m.get("form").is_none(), "{m}");

    // Paging over matches and containers together, by id (`_id` values, whatever the
    // type), each once.
    let mut seen = Vec::new();
    let mut next = Some("Medication?_contained=both&_sort=_id&_count=2".to_string());
    let mut pages = 0;
    while let Some(url) = next {
        let b = expect(s.get(&url).await, 200).await;
        for e in b["entry"].as_array().into_iter().flatten() {
            let r = &e["resource"];
            seen.push(format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            ));
        }
        next = link(&b, "next");
        pages += 1;
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seen,
        [
            "MedicationDispense/d1",
            "Medication/m-a",
            "Medication/m-b",
            "MedicationRequest/r1",
            "MedicationRequest/r2",
            "MedicationRequest/r3"
        ]
    );

    // What a write changes: an update replaces the contained resources' entries, a
    // deletion removes them.
    expect(
        s.put(
            "MedicationRequest/r1",
            &request("r1", vec![medication("x", "5005", "tablet")]),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        found(s, "Medication?code=1001&_contained=true").await,
        set(&["MedicationRequest/r3"])
    );
    assert_eq!(
        found(s, "Medication?code=5005&_contained=true").await,
        set(&["MedicationRequest/r1"])
    );
    expect(s.delete("MedicationRequest/r3").await, 200).await;
    assert_eq!(
        found(s, "Medication?code=1001&_contained=true").await,
        set(&[])
    );
    assert_eq!(
        found(s, "Medication?code=3003&_contained=true").await,
        set(&[])
    );

    // A container of seven Medications: two criteria, met by one of them, are 2^7
    // combinations, refused. Once it holds one, the store's record still says seven, so the
    // slots in use are counted instead, and the search is answered.
    let seven: Vec<Value> = (0..7)
        .map(|i| medication(&format!("s{i}"), &format!("900{i}"), "tablet"))
        .collect();
    expect(
        s.put("MedicationRequest/r9", &request("r9", seven)).await,
        201,
    )
    .await;
    expect_outcome(
        s.get("Medication?code=9003&form=tablet&_contained=true")
            .await,
        400,
        "combinations",
    )
    .await;
    assert_eq!(
        found(s, "Medication?code=9003&_contained=true").await,
        set(&["MedicationRequest/r9"])
    );
    expect(
        s.put(
            "MedicationRequest/r9",
            &request("r9", vec![medication("s0", "9003", "tablet")]),
        )
        .await,
        200,
    )
    .await;
    assert_eq!(
        found(s, "Medication?code=9003&form=tablet&_contained=true").await,
        set(&["MedicationRequest/r9"])
    );

    // Past 64 Medications in one container, the rest are not indexed, and a search says
    // so in a warning outcome entry while any such container is stored.
    let many: Vec<Value> = (0..70)
        .map(|i| medication(&format!("n{i}"), &format!("8{i:03}"), "tablet"))
        .collect();
    expect(
        s.put("MedicationRequest/r70", &request("r70", many)).await,
        201,
    )
    .await;
    let outcome = |b: &Value| {
        b["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["search"]["mode"] == "outcome")
            .map(|e| e["resource"]["issue"][0]["diagnostics"].to_string())
            .collect::<Vec<_>>()
    };
    let b = expect(s.get("Medication?code=8063&_contained=true").await, 200).await;
    assert_eq!(match_urls(&b), set(&["MedicationRequest/r70"]));
    assert!(outcome(&b)[0].contains("first 64"), "{b}");
    let b = expect(s.get("Medication?code=8064&_contained=true").await, 200).await;
    assert_eq!(match_urls(&b), set(&[]));
    assert_eq!(outcome(&b).len(), 1, "{b}");
    // A search of another type is not warned about.
    let b = expect(s.get("Goal?_contained=true").await, 200).await;
    assert!(outcome(&b).is_empty(), "{b}");
    expect(
        s.put(
            "MedicationRequest/r70",
            &request("r70", vec![medication("n0", "8000", "tablet")]),
        )
        .await,
        200,
    )
    .await;
    let b = expect(s.get("Medication?code=8000&_contained=true").await, 200).await;
    assert_eq!(match_urls(&b), set(&["MedicationRequest/r70"]));
    assert!(outcome(&b).is_empty(), "{b}");

    // Refused with the reason.
    for (q, needle) in [
        ("?_contained=true", "type-level"),
        ("Patient/p1/MedicationRequest?_contained=true", "type-level"),
        ("Medication?_contained=maybe", "_contained"),
        (
            "Medication?_contained=true&_containedType=inline",
            "_containedType",
        ),
        ("Medication?_contained=true&_sort=code", "_sort"),
        (
            "Medication?_contained=true&_include=Medication:manufacturer",
            "_include",
        ),
        ("Medication?_contained=true&code:missing=true", "missing"),
        ("Medication?_contained=true&code:not=1001", "negated"),
        (
            "Medication?_contained=true&_lastUpdated=gt2000",
            "_lastUpdated",
        ),
        (
            "Medication?_contained=true&_has:MedicationRequest:medication:status=active",
            "_has",
        ),
        ("Medication?_contained=true&_text=x", "_text"),
        ("Medication?_contained=true&_contained=false", "only once"),
    ] {
        expect_outcome(s.get(q).await, 400, needle).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contained_searches_on_sqlite() {
    let s = TestServer::sqlite().await;
    contained_searches(&s).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contained_searches_on_mongodb() {
    let s = TestServer::mongodb().await;
    contained_searches(&s).await;
    s.stop().await;
}
