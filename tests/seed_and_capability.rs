//! The sample data in seed/ loads into both stores, idempotently, into the right partitions;
//! the checked-in CapabilityStatement is what /metadata serves.

use crate::common;

use common::{expect, TestServer};
use fhird::interactions::Fhir;
use fhird::partition::Partition;
use fhird::seed;
use std::path::Path;

async fn seed_loads_twice_without_changes(s: &TestServer) {
    let store = fhird::store::open(&s.store_spec).await.unwrap();
    let fhir = Fhir::new(store.clone(), &s.root, Default::default());
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("seed");
    let first = seed::load(&fhir, &dir).await.unwrap();
    assert!(first.created > 1900, "{first:?}");
    assert_eq!((first.updated, first.unchanged), (0, 0), "{first:?}");
    let second = seed::load(&fhir, &dir).await.unwrap();
    assert_eq!(second.created + second.updated, 0, "{second:?}");
    assert_eq!(second.unchanged, first.created);

    // The payers in the default partition make payer partitions, served over HTTP.
    for payer in ["PAY001", "PAY002", "PAY003"] {
        assert_eq!(
            fhir.payer_partition(payer).await.unwrap(),
            Partition::Payer(payer.into())
        );
        let h = expect(
            s.get(&format!("/payer/{payer}/fhir/Claim/_history?_count=1000"))
                .await,
            200,
        )
        .await;
        let claims = h["entry"].as_array().unwrap();
        assert!(claims.len() >= 25, "{payer} has {} claims", claims.len());
        for c in claims {
            assert_eq!(
                c["resource"]["insurer"]["reference"],
                format!("Organization/{payer}")
            );
        }
    }
    // Clinic records stay in the default partition; claims live with the payers.
    let h = expect(s.get("Patient/_history?_count=1000").await, 200).await;
    assert!(h["entry"].as_array().unwrap().len() >= 50);
    let h = expect(s.get("Claim/_history").await, 200).await;
    assert!(
        h.get("entry").is_none(),
        "claims in the default partition: {h}"
    );
}

on_both_stores!(seed_loads_twice_without_changes);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checked_in_capability_statement_is_what_metadata_serves() {
    let s = TestServer::sqlite().await;
    let served = expect(s.get("metadata").await, 200).await;
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("capability/CapabilityStatement.json"),
    )
    .unwrap()
    .replace("http://localhost:8080/fhir", &s.base);
    let checked_in: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        served, checked_in,
        "capability/CapabilityStatement.json is stale: regenerate it with `fhird capability`"
    );
    assert_eq!(served["fhirVersion"], "4.0.1");
    let types = served["rest"][0]["resource"].as_array().unwrap();
    assert_eq!(types.len(), 146, "every R4 resource type");
    s.stop().await;
}
