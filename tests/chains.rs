//! Chains and `_has` whose other resources are more than the server lists at once
//! (CHAIN_CAP): they are answered when the rest of the search matches few enough resources,
//! checked one by one; when the rest is broad too, by listing the other resources batch by
//! batch up to `max_chain_sweep`, and past that refused with a 400 that says what to narrow.
//! Both stores, over HTTP. Every expected answer follows from how the data below is built.

use crate::common;

use common::{expect, expect_outcome, link, TestServer};
use fhird::interactions::{Limits, CHAIN_CAP};
use serde_json::{json, Value};

/// Past the cap: every one of them is a female patient of Organization/acme with a "common"
/// Observation.
const MANY: usize = CHAIN_CAP + 50;

/// The servers' `max_chain_sweep`: the female patients (MANY) and the Observations with the
/// common code (MANY + 2) are listed; all patients (MANY + 5) and all Observations
/// (MANY + 9) are more.
const SWEEP: usize = MANY + 3;

fn entry(resource: Value) -> Value {
    let url = format!(
        "{}/{}",
        resource["resourceType"].as_str().unwrap(),
        resource["id"].as_str().unwrap()
    );
    json!({"resource": resource, "request": {"method": "PUT", "url": url}})
}

fn patient(id: &str, gender: &str, org: Option<&str>) -> Value {
    let mut p = json!({"resourceType": "Patient", "id": id, "gender": gender});
    if let Some(o) = org {
        p["managingOrganization"] = json!({"reference": format!("Organization/{o}")});
    }
    p
}

fn observation(id: &str, code: &str, patient: &str, date: &str) -> Value {
    json!({
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": {"coding": [{"system": "http://example.org/codes", "code": code}]},
        "subject": {"reference": format!("Patient/{patient}")},
        "effectiveDateTime": date,
    })
}

fn document(id: &str, patient: &str) -> Value {
    json!({
        "resourceType": "Bundle",
        "id": id,
        "type": "document",
        "entry": [{
            "fullUrl": format!("urn:uuid:{id}"),
            "resource": {
                "resourceType": "Composition",
                "status": "final",
                "type": {"text": "note"},
                "subject": {"reference": format!("Patient/{patient}")},
                "date": "2020-01-01",
                "author": [{"display": "x"}],
                "title": "Note",
            },
        }],
    })
}

async fn load(s: &TestServer) {
    let mut resources = vec![
        json!({"resourceType": "Organization", "id": "acme", "name": "Acme"}),
        json!({"resourceType": "Organization", "id": "other", "name": "Other"}),
        patient("m1", "male", Some("other")),
        patient("m2", "male", Some("other")),
        patient("m3", "male", Some("acme")),
        patient("m4", "male", None),
        // The rare code: three on female patients, two on male ones.
        observation("rare-1", "rare", "f0007", "2020-01-03"),
        observation("rare-2", "rare", "m1", "2020-01-01"),
        observation("rare-3", "rare", "f0100", "2020-01-05"),
        observation("rare-4", "rare", "m3", "2020-01-02"),
        observation("rare-5", "rare", "f1020", "2020-01-04"),
        // m1 and m3 also have a common one; m2 and m4 have none.
        observation("common-m1", "common", "m1", "2019-06-01"),
        observation("common-m3", "common", "m3", "2019-06-01"),
        // A contained female patient (of Organization/acme), and a stored male patient with
        // a contained Organization: chains read inside contained resources.
        json!({
            "resourceType": "Observation",
            "id": "obs-contained",
            "status": "final",
            "code": {"coding": [{"system": "http://example.org/codes", "code": "inside"}]},
            "contained": [{
                "resourceType": "Patient",
                "id": "p",
                "gender": "female",
                "managingOrganization": {"reference": "Organization/acme"},
            }],
            "subject": {"reference": "#p"},
        }),
        json!({
            "resourceType": "Patient",
            "id": "pc",
            "gender": "male",
            "contained": [{"resourceType": "Organization", "id": "o", "name": "Inner Org"}],
            "managingOrganization": {"reference": "#o"},
        }),
        observation("obs-pc", "inside", "pc", "2020-02-02"),
        // Documents about f0001 and m1: a chain through the Composition inside.
        document("doc-f", "f0001"),
        document("doc-m", "m1"),
    ];
    for i in 0..MANY {
        let id = format!("f{i:04}");
        resources.push(patient(&id, "female", Some("acme")));
        resources.push(observation(
            &format!("common-{id}"),
            "common",
            &id,
            "2019-01-01",
        ));
    }
    for chunk in resources.chunks(200) {
        let bundle = json!({
            "resourceType": "Bundle",
            "type": "batch",
            "entry": chunk.iter().cloned().map(entry).collect::<Vec<_>>(),
        });
        let answer = expect(s.post("", &bundle).await, 200).await;
        for e in answer["entry"].as_array().unwrap() {
            let status = e["response"]["status"].as_str().unwrap();
            assert!(status.starts_with("201"), "{e}");
        }
    }
}

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"] == "match")
        .map(|e| e["resource"]["id"].as_str().unwrap().to_string())
        .collect()
}

async fn found(s: &TestServer, q: &str) -> Vec<String> {
    ids(&expect(s.get(q).await, 200).await)
}

async fn chains_past_the_cap(s: &TestServer) {
    load(s).await;

    // Chain: the female patients are too many to list; the rare Observations are five.
    assert_eq!(
        found(s, "Observation?code=rare&subject:Patient.gender=female").await,
        ["rare-1", "rare-3", "rare-5"]
    );
    assert_eq!(
        found(s, "Observation?code=rare&subject.gender=female&_sort=-date").await,
        ["rare-3", "rare-5", "rare-1"]
    );
    // Through a Bundle's Composition: the candidates' inner references are read too.
    assert_eq!(
        found(
            s,
            "Bundle?type=document&composition.subject:Patient.gender=female"
        )
        .await,
        ["doc-f"]
    );
    // Inside contained resources, through the candidates (female patients are too many to
    // list): obs-contained's contained Patient is female; pc is male.
    assert_eq!(
        found(s, "Observation?code=inside&subject:Patient.gender=female").await,
        ["obs-contained"]
    );
    // Acme's patients are too many too; obs-contained's contained Patient is one of them,
    // pc's Organization is its own contained one.
    assert_eq!(
        found(
            s,
            "Observation?code=inside&subject:Patient.organization.name=acme"
        )
        .await,
        ["obs-contained"]
    );
    // A stored Patient's contained Organization, one level down the chain.
    assert_eq!(
        found(s, "Observation?subject:Patient.organization.name=inner").await,
        ["obs-pc"]
    );
    assert_eq!(
        found(s, "Patient?organization.name=inner%20org").await,
        ["pc"]
    );
    // None of the candidates passes: an empty page, not an error.
    assert!(found(
        s,
        "Observation?_id=rare-2,rare-4&subject:Patient.gender=female"
    )
    .await
    .is_empty());
    // Counted and paged like any search.
    let b = expect(
        s.get("Observation?code=rare&subject:Patient.gender=female&_summary=count")
            .await,
        200,
    )
    .await;
    assert_eq!(b["total"], 3);
    let b = expect(
        s.get("Observation?code=rare&subject:Patient.gender=female&_count=2&_total=accurate")
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&b), ["rare-1", "rare-3"]);
    assert_eq!(b["total"], 3);
    let next = link(&b, "next").unwrap();
    assert_eq!(ids(&expect(s.get(&next).await, 200).await), ["rare-5"]);
    // Two levels: the patients of Acme are too many, Acme itself is one.
    assert_eq!(
        found(
            s,
            "Observation?code=rare&subject:Patient.organization.name=acme"
        )
        .await,
        ["rare-1", "rare-3", "rare-4", "rare-5"]
    );
    // An OR of two chains, one of them too many to list.
    assert_eq!(
        found(
            s,
            "Observation?code=rare&subject:Patient.gender=female,unknown"
        )
        .await,
        ["rare-1", "rare-3", "rare-5"]
    );
    // Both chains of a search past the cap: each checked.
    assert_eq!(
        found(
            s,
            "Observation?code=rare&subject:Patient.gender=female&subject:Patient.organization=acme"
        )
        .await,
        ["rare-1", "rare-3", "rare-5"]
    );

    // _has: the common Observations are too many; the male patients are four.
    assert_eq!(
        found(
            s,
            "Patient?gender=male&_has:Observation:subject:code=common"
        )
        .await,
        ["m1", "m3"]
    );
    assert_eq!(
        found(
            s,
            "Patient?gender=male&_has:Observation:subject:code=common&organization=other"
        )
        .await,
        ["m1"]
    );

    // Too many on both sides: listed batch by batch (two batches), then answered and paged
    // like any search.
    let b = expect(
        s.get("Observation?code=common&subject:Patient.gender=female&_count=500&_total=accurate")
            .await,
        200,
    )
    .await;
    assert_eq!(b["total"], MANY);
    let mut all = ids(&b);
    let mut next = link(&b, "next");
    while let Some(url) = next {
        let b = expect(s.get(&url).await, 200).await;
        all.extend(ids(&b));
        next = link(&b, "next");
    }
    let want: Vec<String> = (0..MANY).map(|i| format!("common-f{i:04}")).collect();
    assert_eq!(all, want);
    let count = |q: &'static str| async move {
        expect(s.get(&format!("{q}&_summary=count")).await, 200).await["total"].clone()
    };
    // The rest of the search is every Observation (obs-contained's Patient is contained).
    assert_eq!(
        count("Observation?subject:Patient.gender=female").await,
        MANY + 4
    );
    assert_eq!(
        count("Patient?_has:Observation:subject:code=common").await,
        MANY + 2
    );
    assert_eq!(
        found(
            s,
            "Patient?_has:Observation:subject:code=common&_id=m1,m2,m3,m4,f0001"
        )
        .await,
        ["f0001", "m1", "m3"]
    );
    // A nested step too many to list at once: listed the same way.
    assert_eq!(
        found(
            s,
            "Organization?_has:Patient:organization:_has:Observation:subject:code=common"
        )
        .await,
        ["acme", "other"]
    );
    // Past max_chain_sweep: refused, naming the criterion. (ORed values are criteria of their
    // own: `gender=female,male` lists MANY and then 5.)
    assert_eq!(
        count("Observation?subject:Patient.gender=female,male").await,
        MANY + 9
    );
    expect_outcome(
        s.get("Observation?subject:Patient.gender:not=other").await,
        400,
        "'subject' matches more than 1053 resources, and the rest of the search",
    )
    .await;
    expect_outcome(
        s.get("Patient?_has:Observation:subject:status=final").await,
        400,
        "_has criterion on Observation matches more than 1053",
    )
    .await;
    expect_outcome(
        s.get("Organization?_has:Patient:organization:_has:Observation:subject:status=final")
            .await,
        400,
        "more than 1053 resources; add criteria",
    )
    .await;
}

fn limits() -> Limits {
    Limits {
        max_chain_sweep: SWEEP,
        ..Limits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_past_the_cap_on_sqlite() {
    let s = TestServer::fresh_with("sqlite", limits()).await;
    chains_past_the_cap(&s).await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chains_past_the_cap_on_mongodb() {
    let s = TestServer::fresh_with("mongodb", limits()).await;
    chains_past_the_cap(&s).await;
    s.stop().await;
}
