//! On MongoDB, every partition has collections of its own, per resource type, for current
//! versions and for history; nothing of one payer lands in another's collections.

use crate::common;

use common::{expect, fresh_mongo_spec, TestServer};
use fhird::http::HttpLimits;
use mongodb::bson::doc;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_payer_has_collections_of_its_own() {
    let spec = fresh_mongo_spec();
    let db_name = spec.rsplit("db=").next().unwrap().to_string();
    let s = TestServer::start(&spec, HttpLimits::default()).await;
    for payer in ["PAYA", "PAYB"] {
        let org = json!({"resourceType": "Organization", "id": payer, "name": payer,
            "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "pay"}]}]});
        expect(s.put(&format!("Organization/{payer}"), &org).await, 201).await;
        let claim_patient = json!({"resourceType": "Patient", "id": "member1", "active": true});
        expect(
            s.put(
                &format!("/payer/{payer}/fhir/Patient/member1"),
                &claim_patient,
            )
            .await,
            201,
        )
        .await;
    }
    expect(s.delete("/payer/PAYB/fhir/Patient/member1").await, 200).await;

    let client = mongodb::Client::with_uri_str(common::mongo_uri())
        .await
        .unwrap();
    let db = client.database(&db_name);
    let mut names = db.list_collection_names().await.unwrap();
    names.sort();
    assert_eq!(
        names,
        [
            "fhir.Organization",
            "fhir.Organization.history",
            "fhir._layout",
            "payer.PAYA.Patient",
            "payer.PAYA.Patient.history",
            "payer.PAYA._layout",
            "payer.PAYB.Patient",
            "payer.PAYB.Patient.history",
            "payer.PAYB._layout",
        ]
    );
    let a = db.collection::<mongodb::bson::Document>("payer.PAYA.Patient.history");
    assert_eq!(a.count_documents(doc! {}).await.unwrap(), 1);
    let b = db.collection::<mongodb::bson::Document>("payer.PAYB.Patient.history");
    assert_eq!(
        b.count_documents(doc! {}).await.unwrap(),
        2,
        "create + delete"
    );
    let current = db
        .collection::<mongodb::bson::Document>("payer.PAYB.Patient")
        .find_one(doc! {"_id": "member1"})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(current.get_i64("v").unwrap(), 2);
    assert!(current.get("res").unwrap().as_null().is_some(), "deleted");

    // Index entries sit in one array per kind of value, so each is a key in one index only.
    let org = db
        .collection::<mongodb::bson::Document>("fhir.Organization")
        .find_one(doc! {"_id": "PAYA"})
        .await
        .unwrap()
        .unwrap();
    let params = |array: &str| -> Vec<String> {
        org.get_array(array)
            .unwrap()
            .iter()
            .map(|e| e.as_document().unwrap().get_str("p").unwrap().to_string())
            .collect()
    };
    assert!(params("xs").contains(&"name".to_string()), "{org}");
    assert!(params("xt").contains(&"type".to_string()), "{org}");
    assert!(params("xd").is_empty() && params("xu").is_empty(), "{org}");
    assert!(org.get("ix").is_none(), "{org}");

    // History is served from indexes, not collection scans.
    let explain = db
        .run_command(doc! {"explain": {"find": "payer.PAYA.Patient.history", "filter": {"id": "member1"}, "sort": {"t": -1, "id": -1, "v": -1}}})
        .await
        .unwrap();
    let plan = explain.to_string();
    assert!(
        !plan.contains("COLLSCAN"),
        "history query scans the collection: {plan}"
    );
    s.stop().await;
}

/// Each partition records in `…_layout` which of its collections carry the date hull keys:
/// one this build created at once; after the record is lost (as for a collection of an
/// older build), a type-level `$reindex` over HTTP records it again, and a system-level
/// one records every type of the partition.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_records_the_hull_layout() {
    let spec = fresh_mongo_spec();
    let db_name = spec.rsplit("db=").next().unwrap().to_string();
    let s = TestServer::start(&spec, HttpLimits::default()).await;
    let org = json!({"resourceType": "Organization", "id": "PAYA", "name": "PAYA",
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "pay"}]}]});
    expect(s.put("Organization/PAYA", &org).await, 201).await;
    let obs = json!({"resourceType": "Observation", "id": "o1", "status": "final",
        "code": {"text": "x"}, "effectiveDateTime": "2020-03-15"});
    expect(s.put("/payer/PAYA/fhir/Observation/o1", &obs).await, 201).await;
    let pat = json!({"resourceType": "Patient", "id": "p1", "birthDate": "1980"});
    expect(s.put("/payer/PAYA/fhir/Patient/p1", &pat).await, 201).await;

    let client = mongodb::Client::with_uri_str(common::mongo_uri())
        .await
        .unwrap();
    let layout = client
        .database(&db_name)
        .collection::<mongodb::bson::Document>("payer.PAYA._layout");
    let recorded = || async {
        let mut cursor = layout.find(doc! {"hull": true}).await.unwrap();
        let mut names = Vec::new();
        while cursor.advance().await.unwrap() {
            let d = cursor.deserialize_current().unwrap();
            names.push(d.get_str("_id").unwrap().to_string());
        }
        names.sort();
        names
    };
    assert_eq!(
        recorded().await,
        ["payer.PAYA.Observation", "payer.PAYA.Patient"]
    );

    layout.delete_many(doc! {}).await.unwrap();
    let post = |path: &'static str| s.request(reqwest::Method::POST, path, None, &[]);
    expect(post("/payer/PAYA/fhir/Observation/$reindex").await, 200).await;
    assert_eq!(recorded().await, ["payer.PAYA.Observation"]);
    expect(post("/payer/PAYA/fhir/$reindex").await, 200).await;
    assert_eq!(
        recorded().await,
        ["payer.PAYA.Observation", "payer.PAYA.Patient"]
    );
    s.stop().await;
}
