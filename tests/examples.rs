//! Every official FHIR R4 example (npm `hl7.fhir.r4.examples@4.0.1`, 5,306 files) is written with
//! PUT and read back equal, on both stores. The few that break the R4 specification must be
//! refused with an OperationOutcome and not stored. A report of every refusal and its reason is
//! written to `target/reports/examples-{store}.md`.
//!
//! The package is unpacked by scripts/test.sh; its directory is in `FHIR_R4_EXAMPLES`.

use crate::common;

use common::TestServer;
use fhird::http::HttpLimits;
use futures_util::{stream, StreamExt};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Examples that break the R4 specification, and why (checked by hand against the spec).
const KNOWN_INVALID: &[(&str, &str)] = &[
    (
        "ImplementationGuide-fhir.json",
        "ImplementationGuide.name (1..1) is missing",
    ),
    ("ig-r4.json", "ImplementationGuide.name (1..1) is missing"),
    (
        "Questionnaire-qs1.json",
        "Questionnaire.item.linkId (1..1) is missing",
    ),
    (
        "SearchParameter-questionnaireresponse-extensions-QuestionnaireResponse-item-subject.json",
        "the id has 67 characters; FHIR ids have at most 64",
    ),
];

/// The resource without the server-owned meta fields.
fn comparable(mut v: Value) -> Value {
    if let Some(meta) = v.get_mut("meta").and_then(Value::as_object_mut) {
        meta.shift_remove("versionId");
        meta.shift_remove("lastUpdated");
        if meta.is_empty() {
            v.as_object_mut().unwrap().shift_remove("meta");
        }
    }
    v
}

async fn round_trip_all(s: &TestServer, store: &str) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(common::examples_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.ends_with(".json") && name != "package.json" && name != ".index.json"
        })
        .collect();
    files.sort();
    assert!(
        files.len() >= 5306,
        "only {} example files found",
        files.len()
    );

    let results: Vec<(String, Result<(), String>)> = stream::iter(files)
        .map(|path| async move {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let bytes = std::fs::read(&path).unwrap();
            let original: Value = serde_json::from_slice(&bytes).unwrap();
            let rt = original["resourceType"].as_str().unwrap().to_string();
            let id = original["id"].as_str().unwrap().to_string();
            let url = format!("{rt}/{id}");
            let resp = s
                .send_raw(
                    reqwest::Method::PUT,
                    &url,
                    Some("application/fhir+json"),
                    bytes,
                )
                .await;
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            if status != 201 {
                assert_eq!(
                    body["resourceType"], "OperationOutcome",
                    "{name}: a refusal must be an OperationOutcome"
                );
                assert!(
                    (400..500).contains(&status),
                    "{name}: status {status}: {body}"
                );
                let why = body["issue"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| {
                        format!(
                            "{} ({})",
                            i["diagnostics"].as_str().unwrap_or(""),
                            i["expression"][0].as_str().unwrap_or("-")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ");
                // A refused resource must not have been stored.
                if resource_is_valid_id(&id) {
                    let after = s.get(&url).await.status().as_u16();
                    assert_eq!(after, 404, "{name} was refused but is readable");
                }
                return (name, Err(format!("HTTP {status}: {why}")));
            }
            let read: Value = s.get(&url).await.json().await.unwrap();
            if comparable(read.clone()) != comparable(original.clone()) {
                return (
                    name,
                    Err("read back differs from what was written".to_string()),
                );
            }
            assert_eq!(read["meta"]["versionId"], "1", "{name}");
            (name, Ok(()))
        })
        .buffer_unordered(4)
        .collect()
        .await;

    let refused: BTreeMap<String, String> = results
        .iter()
        .filter_map(|(n, r)| r.as_ref().err().map(|e| (n.clone(), e.clone())))
        .collect();
    let mut report = format!(
        "# Official R4 examples on {store}\n\n{} files written with PUT and read back; {} refused.\n\n| file | why |\n|---|---|\n",
        results.len(),
        refused.len()
    );
    for (n, why) in &refused {
        report.push_str(&format!("| {n} | {} |\n", why.replace('|', "\\|")));
    }
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("../reports");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("examples-{store}.md")), &report).unwrap();
    println!("{report}");

    let known: BTreeMap<String, String> = KNOWN_INVALID
        .iter()
        .map(|(n, w)| (n.to_string(), w.to_string()))
        .collect();
    let unexpected: Vec<_> = refused.keys().filter(|n| !known.contains_key(*n)).collect();
    let accepted_invalid: Vec<_> = known.keys().filter(|n| !refused.contains_key(*n)).collect();
    assert!(
        unexpected.is_empty(),
        "valid examples refused: {unexpected:?}\n{report}"
    );
    assert!(
        accepted_invalid.is_empty(),
        "invalid examples accepted: {accepted_invalid:?}"
    );
}

fn resource_is_valid_id(id: &str) -> bool {
    fhird::fhir::resource::is_valid_id(id)
}

fn big_bodies() -> HttpLimits {
    // Bundle-resources.json is 35 MB.
    HttpLimits {
        max_body_bytes: 64 * 1024 * 1024,
        ..HttpLimits::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_official_example_round_trips_on_sqlite() {
    let s = TestServer::sqlite_with(big_bodies()).await;
    round_trip_all(&s, "sqlite").await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_official_example_round_trips_on_mongodb() {
    let s = TestServer::mongodb_with(big_bodies()).await;
    round_trip_all(&s, "mongodb").await;
    s.stop().await;
}
