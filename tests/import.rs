//! `fhird import`: the command itself on SQLite, and the loader on both stores.

use crate::common;

use fhird::import::{import, input_files, ImportReport, Progress};
use fhird::interactions::{Fhir, Limits};
use fhird::partition::Partition;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

#[derive(Default)]
struct Counted {
    bytes: AtomicU64,
    resources: AtomicU64,
}

impl Progress for Counted {
    fn advance(&self, bytes: u64, resources: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
        self.resources.fetch_add(resources, Ordering::Relaxed);
    }
}

/// A directory with: a transaction Bundle (urn:uuid references), a collection Bundle with one
/// invalid resource, an NDJSON file with a bad line and an invalid resource, and a file that
/// is not JSON.
fn write_inputs(dir: &Path) {
    let tx = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:p1", "resource": {"resourceType": "Patient", "name": [{"family": "Imported"}]},
         "request": {"method": "POST", "url": "Patient"}},
        {"fullUrl": "urn:uuid:o1", "resource": {"resourceType": "Observation", "status": "final",
          "code": {"text": "weight"}, "subject": {"reference": "urn:uuid:p1"}},
         "request": {"method": "POST", "url": "Observation"}}
    ]});
    std::fs::write(dir.join("a-transaction.json"), tx.to_string()).unwrap();
    let collection = json!({"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "http://x/fhir/Organization/org1", "resource": {"resourceType": "Organization", "id": "org1", "name": "Org"}},
        {"resource": {"resourceType": "Patient", "birthDate": "not-a-date"}},
        {"resource": {"resourceType": "Patient", "id": "col-p", "managingOrganization": {"reference": "Organization/org1"}}}
    ]});
    std::fs::write(dir.join("b-collection.json"), collection.to_string()).unwrap();
    let mut nd = String::new();
    for i in 0..7 {
        nd.push_str(&json!({"resourceType": "Practitioner", "id": format!("pr{i}")}).to_string());
        nd.push('\n');
    }
    nd.push_str("{not json\n");
    nd.push_str(&json!({"resourceType": "Practitioner", "birthDate": "soon"}).to_string());
    nd.push('\n');
    std::fs::write(dir.join("c-practitioners.ndjson"), nd).unwrap();
    std::fs::write(dir.join("d-broken.json"), "{").unwrap();
    std::fs::write(dir.join("ignored.txt"), "not an input").unwrap();
}

fn check_report(r: &ImportReport) {
    assert_eq!(r.files, 4, "{r:?}");
    assert_eq!(r.resources, 2 + 2 + 7, "{r:?}");
    assert_eq!(r.failed, 4, "{r:?}");
    let text: Vec<String> = r
        .failures
        .iter()
        .map(|f| format!("{} {}", f.source, f.reason))
        .collect();
    let has = |needle: &str| text.iter().any(|t| t.contains(needle));
    assert!(has("b-collection.json#entry[1]"), "{text:?}");
    assert!(has("birthDate"), "{text:?}");
    assert!(has("c-practitioners.ndjson:8"), "{text:?}");
    assert!(has("c-practitioners.ndjson:9"), "{text:?}");
    assert!(has("d-broken.json"), "{text:?}");
}

async fn loads_and_reports(spec: &str) {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let store = fhird::store::open(spec).await.unwrap();
    let fhir = Arc::new(Fhir::new(
        store.clone(),
        "http://localhost:8080",
        Limits::default(),
    ));
    let files = input_files(&[dir.path().to_path_buf()]).unwrap();
    let progress = Arc::new(Counted::default());
    let report = import(fhir.clone(), Partition::Default, files, 3, progress.clone())
        .await
        .unwrap();
    check_report(&report);
    assert_eq!(progress.resources.load(Ordering::Relaxed), report.resources);
    assert!(progress.bytes.load(Ordering::Relaxed) > 0);
    // The transaction's reference points at the created Patient; the collection kept ids.
    let p = fhir
        .read(&Partition::Default, "Patient", "col-p")
        .await
        .unwrap();
    let p: Value = serde_json::from_slice(p.body.as_deref().unwrap()).unwrap();
    assert_eq!(p["managingOrganization"]["reference"], "Organization/org1");
    fhir.read(&Partition::Default, "Practitioner", "pr6")
        .await
        .unwrap();
    // Loading again changes nothing for resources with ids (updates without changes).
    let files = input_files(&[dir.path().join("c-practitioners.ndjson")]).unwrap();
    let again = import(
        fhir.clone(),
        Partition::Default,
        files,
        1,
        Arc::new(Counted::default()),
    )
    .await
    .unwrap();
    assert_eq!(again.resources, 7);
    let v = fhir
        .read(&Partition::Default, "Practitioner", "pr0")
        .await
        .unwrap();
    assert_eq!(v.version, 1);
    store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    loads_and_reports(&format!("sqlite:{}", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loader_on_mongodb() {
    loads_and_reports(&common::fresh_mongo_spec()).await;
}

#[test]
fn import_command_prints_a_summary_and_fails_on_failures() {
    let dir = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fhird"))
        .args(["import", "--store"])
        .arg(format!("sqlite:{}", data.path().display()))
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("imported 11 resources from 4 files"),
        "{stdout}"
    );
    assert!(stdout.contains("resources/s; 4 failed"), "{stdout}");
    assert!(
        stdout.contains("failed ") && stdout.contains("c-practitioners.ndjson:9"),
        "{stdout}"
    );
    // Only the good files: exit 0.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fhird"))
        .args(["import", "--store"])
        .arg(format!("sqlite:{}", data.path().display()))
        .arg(dir.path().join("a-transaction.json"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // A missing path is an error before anything is loaded.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_fhird"))
        .args(["import", "--store"])
        .arg(format!("sqlite:{}", data.path().display()))
        .arg(dir.path().join("nope.json"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
