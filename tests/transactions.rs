//! Batch and transaction Bundles and conditional interactions, on both stores, over real HTTP.

use crate::common;

use common::{expect, expect_outcome, TestServer};
use fhird::interactions::Limits;
use reqwest::Method;
use serde_json::{json, Value};

on_both_stores!(
    transaction_resolves_full_urls,
    failed_transaction_leaves_nothing,
    transaction_processing_order_and_reads,
    transaction_conditional_references,
    transaction_if_none_exist_links_to_existing,
    transaction_rejects_overlapping_writes,
    batch_answers_each_entry,
    conditional_create_over_http,
    conditional_update_over_http,
    conditional_delete_single_and_multiple,
    concurrent_conditional_creates_make_one,
    concurrent_conditional_transactions_make_one,
    concurrent_large_transactions_all_commit,
    bundle_limits_and_bad_bundles,
    official_example_transactions,
    payer_partition_transaction,
);

fn patient(family: &str, identifier: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "identifier": [{"system": "http://example.org/mrn", "value": identifier}],
        "name": [{"family": family}],
        "gender": "female"
    })
}

fn transaction(entries: Vec<Value>) -> Value {
    json!({"resourceType": "Bundle", "type": "transaction", "entry": entries})
}

fn post_entry(full_url: &str, resource: Value) -> Value {
    let rt = resource["resourceType"].as_str().unwrap().to_string();
    json!({"fullUrl": full_url, "resource": resource, "request": {"method": "POST", "url": rt}})
}

async fn count(s: &TestServer, query: &str) -> u64 {
    let sep = if query.contains('?') { '&' } else { '?' };
    let b = expect(s.get(&format!("{query}{sep}_summary=count")).await, 200).await;
    b["total"].as_u64().unwrap()
}

fn statuses(b: &Value) -> Vec<String> {
    b["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["response"]["status"].as_str().unwrap().to_string())
        .collect()
}

/// `Type/id` of a response entry's `location` (`Type/id/_history/n`).
fn located(entry: &Value) -> String {
    let l = entry["response"]["location"].as_str().unwrap();
    l.split("/_history").next().unwrap().to_string()
}

async fn transaction_resolves_full_urls(s: &TestServer) {
    let pat = "urn:uuid:0c3151bd-1cbf-4d64-b04d-cd9187a4c6e0";
    let enc = "urn:uuid:8d2bb7b1-5a6d-4a8b-9a5b-1f0e8c3c6f11";
    let doc = "http://other.example/fhir/Binary/b1";
    let b = transaction(vec![
        post_entry(
            enc,
            json!({"resourceType": "Encounter", "status": "finished",
                   "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                   "subject": {"reference": pat}}),
        ),
        post_entry(
            "urn:uuid:5b7c7d07-3e1b-4b7a-8a89-0d3e49b0c7a2",
            json!({"resourceType": "Observation", "status": "final",
                   "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                   "subject": {"reference": pat},
                   "encounter": {"reference": enc},
                   "text": {"status": "generated", "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\"><a href=\"{pat}\">patient</a></div>")},
                   "extension": [{"url": "http://example.org/ext/see-also", "valueReference": {"reference": pat}}],
                   "derivedFrom": [{"reference": doc}]}),
        ),
        post_entry(pat, patient("Chalmers", "tx-1")),
        post_entry(
            doc,
            json!({"resourceType": "Binary", "contentType": "text/plain", "data": "aGVsbG8="}),
        ),
        post_entry(
            "urn:oid:1.2.840.113619.2.62.994044785528.114289542805",
            json!({"resourceType": "Provenance", "recorded": "2020-01-01T00:00:00Z",
                   "target": [{"reference": pat}],
                   "agent": [{"who": {"reference": "urn:oid:1.2.840.113619.2.62.994044785528.2"}}]}),
        ),
        post_entry(
            "urn:oid:1.2.840.113619.2.62.994044785528.2",
            json!({"resourceType": "Device", "status": "active"}),
        ),
    ]);
    let r = expect(s.post("", &b).await, 200).await;
    assert_eq!(r["type"], "transaction-response");
    assert_eq!(statuses(&r), ["201 Created"; 6]);
    let entries = r["entry"].as_array().unwrap();
    let prov = expect(s.get(&located(&entries[4])).await, 200).await;
    assert_eq!(prov["agent"][0]["who"]["reference"], located(&entries[5]));
    assert_eq!(prov["target"][0]["reference"], located(&entries[2]));
    // Minimal by default: no resource bodies, but etag and lastModified.
    assert!(entries[0].get("resource").is_none());
    assert_eq!(entries[0]["response"]["etag"], "W/\"1\"");
    assert!(entries[0]["response"]["lastModified"].is_string());
    let patient_ref = located(&entries[2]);
    let obs = expect(s.get(&located(&entries[1])).await, 200).await;
    assert_eq!(obs["subject"]["reference"], patient_ref);
    assert_eq!(obs["encounter"]["reference"], located(&entries[0]));
    assert_eq!(
        obs["extension"][0]["valueReference"]["reference"],
        patient_ref
    );
    assert_eq!(obs["derivedFrom"][0]["reference"], located(&entries[3]));
    assert!(obs["text"]["div"]
        .as_str()
        .unwrap()
        .contains(&format!("href=\"{patient_ref}\"")));
    // The rewritten references are indexed: searching by them finds the Observation.
    let id = patient_ref.trim_start_matches("Patient/");
    assert_eq!(
        count(s, &format!("Observation?subject={patient_ref}")).await,
        1
    );
    assert_eq!(count(s, &format!("Observation?patient={id}")).await, 1);
    let enc_body = expect(s.get(&located(&entries[0])).await, 200).await;
    assert_eq!(enc_body["subject"]["reference"], patient_ref);

    // Prefer: return=representation returns the stored resources.
    let b = transaction(vec![post_entry("urn:uuid:x1", patient("Rep", "tx-rep"))]);
    let r = expect(
        s.request(
            Method::POST,
            "",
            Some(&b),
            &[("prefer", "return=representation")],
        )
        .await,
        200,
    )
    .await;
    assert_eq!(r["entry"][0]["resource"]["name"][0]["family"], "Rep");
    assert_eq!(r["entry"][0]["resource"]["meta"]["versionId"], "1");
}

async fn failed_transaction_leaves_nothing(s: &TestServer) {
    // A validation error in one entry: nothing is written, the outcome names the entry.
    let b = transaction(vec![
        post_entry("urn:uuid:a", patient("Good", "fail-1")),
        post_entry(
            "urn:uuid:b",
            json!({"resourceType": "Patient", "birthDate": "1970-13-45"}),
        ),
    ]);
    let o = expect_outcome(s.post("", &b).await, 400, "Bundle.entry[1]").await;
    assert_eq!(
        o["issue"][0]["expression"][0],
        "Bundle.entry[1].resource.Patient.birthDate"
    );
    assert_eq!(count(s, "Patient").await, 0);

    // A precondition that fails after other entries were decided: still nothing written.
    expect(
        s.put(
            "Patient/keep",
            &json!({"resourceType": "Patient", "id": "keep", "active": true}),
        )
        .await,
        201,
    )
    .await;
    let b = transaction(vec![
        post_entry("urn:uuid:c", patient("Other", "fail-2")),
        json!({"fullUrl": "urn:uuid:d", "resource": {"resourceType": "Patient", "id": "keep", "active": false},
               "request": {"method": "PUT", "url": "Patient/keep", "ifMatch": "W/\"7\""}}),
        json!({"request": {"method": "DELETE", "url": "Patient/keep"}}),
    ]);
    let o = expect_outcome(s.post("", &b).await, 412, "Bundle.entry[1]").await;
    assert!(o.to_string().contains("version 7"), "{o}");
    assert_eq!(count(s, "Patient").await, 1);
    let keep = expect(s.get("Patient/keep").await, 200).await;
    assert_eq!(keep["active"], true);
    assert_eq!(keep["meta"]["versionId"], "1");

    // A reference to a resource type that does not exist in the URL: 404 naming the entry.
    let b = transaction(vec![
        post_entry("urn:uuid:e", patient("X", "fail-3")),
        json!({"request": {"method": "DELETE", "url": "Nope/1"}}),
    ]);
    expect_outcome(s.post("", &b).await, 404, "Bundle.entry[1]").await;
    assert_eq!(count(s, "Patient").await, 1);
}

async fn transaction_processing_order_and_reads(s: &TestServer) {
    expect(
        s.put(
            "Patient/gone",
            &json!({"resourceType": "Patient", "id": "gone"}),
        )
        .await,
        201,
    )
    .await;
    expect(
        s.put(
            "Patient/upd",
            &json!({"resourceType": "Patient", "id": "upd", "active": true}),
        )
        .await,
        201,
    )
    .await;
    // Entries in an order that only works when processed DELETE, POST, PUT, GET.
    let b = transaction(vec![
        json!({"request": {"method": "GET", "url": "Patient?_id=upd,gone"}}),
        json!({"request": {"method": "GET", "url": "Patient/upd"}}),
        json!({"resource": {"resourceType": "Patient", "id": "upd", "active": false},
               "request": {"method": "PUT", "url": "Patient/upd", "ifMatch": "W/\"1\""}}),
        post_entry("urn:uuid:new", patient("New", "ord-1")),
        json!({"request": {"method": "DELETE", "url": "Patient/gone"}}),
    ]);
    let r = expect(s.post("", &b).await, 200).await;
    assert_eq!(
        statuses(&r),
        [
            "200 OK",
            "200 OK",
            "200 OK",
            "201 Created",
            "204 No Content"
        ]
    );
    // The reads ran after the writes.
    let found = &r["entry"][0]["resource"];
    assert_eq!(found["resourceType"], "Bundle");
    assert_eq!(found["entry"].as_array().unwrap().len(), 1);
    assert_eq!(r["entry"][1]["resource"]["active"], false);
    assert_eq!(r["entry"][1]["response"]["etag"], "W/\"2\"");
    expect(s.get("Patient/gone").await, 410).await;
    // ifModifiedSince on a read entry: 304 when not changed since, 200 when changed.
    let b = transaction(vec![
        json!({"request": {"method": "GET", "url": "Patient/upd", "ifModifiedSince": "2999-01-01T00:00:00Z"}}),
        json!({"request": {"method": "GET", "url": "Patient/upd", "ifModifiedSince": "2000-01-01T00:00:00Z"}}),
        json!({"request": {"method": "GET", "url": "Patient/upd", "ifNoneMatch": "W/\"2\""}}),
    ]);
    let r = expect(s.post("", &b).await, 200).await;
    assert_eq!(
        statuses(&r),
        ["304 Not Modified", "200 OK", "304 Not Modified"]
    );
    // An update without changes makes no new version, inside a transaction too.
    let b = transaction(vec![
        json!({"resource": {"resourceType": "Patient", "id": "upd", "active": false},
               "request": {"method": "PUT", "url": "Patient/upd"}}),
    ]);
    let r = expect(s.post("", &b).await, 200).await;
    assert_eq!(r["entry"][0]["response"]["etag"], "W/\"2\"");
}

async fn transaction_conditional_references(s: &TestServer) {
    let org = json!({"resourceType": "Organization", "identifier": [{"system": "http://example.org/org", "value": "acme"}], "name": "Acme"});
    let created = expect(s.post("Organization", &org).await, 201).await;
    let b = transaction(vec![post_entry(
        "urn:uuid:p",
        json!({"resourceType": "Patient",
               "managingOrganization": {"reference": "Organization?identifier=http://example.org/org|acme"},
               "generalPractitioner": [{"reference": "Organization?identifier=http://example.org/org|acme"}]}),
    )]);
    let r = expect(s.post("", &b).await, 200).await;
    let p = expect(s.get(&located(&r["entry"][0])).await, 200).await;
    let want = format!("Organization/{}", created["id"].as_str().unwrap());
    assert_eq!(p["managingOrganization"]["reference"], want);
    assert_eq!(p["generalPractitioner"][0]["reference"], want);
    let before = count(s, "Patient").await;
    // No match, and several matches: the transaction fails with 412 and writes nothing.
    let none = transaction(vec![post_entry(
        "urn:uuid:q",
        json!({"resourceType": "Patient", "managingOrganization": {"reference": "Organization?identifier=http://example.org/org|nobody"}}),
    )]);
    expect_outcome(s.post("", &none).await, 412, "matches no resource").await;
    expect(s.post("Organization", &org).await, 201).await;
    let many = transaction(vec![post_entry(
        "urn:uuid:r",
        json!({"resourceType": "Patient", "managingOrganization": {"reference": "Organization?identifier=http://example.org/org|acme"}}),
    )]);
    expect_outcome(s.post("", &many).await, 412, "more than one").await;
    // A conditional reference with an unknown parameter: 400.
    let bad = transaction(vec![post_entry(
        "urn:uuid:s",
        json!({"resourceType": "Patient", "managingOrganization": {"reference": "Organization?nosuchparam=1"}}),
    )]);
    expect_outcome(s.post("", &bad).await, 400, "nosuchparam").await;
    assert_eq!(count(s, "Patient").await, before);
}

async fn transaction_if_none_exist_links_to_existing(s: &TestServer) {
    let existing = expect(s.post("Patient", &patient("Exists", "ine-1")).await, 201).await;
    let id = existing["id"].as_str().unwrap();
    let b = transaction(vec![
        json!({"fullUrl": "urn:uuid:pt", "resource": patient("Exists", "ine-1"),
               "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=http://example.org/mrn|ine-1"}}),
        post_entry(
            "urn:uuid:obs",
            json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "urn:uuid:pt"}}),
        ),
        json!({"fullUrl": "urn:uuid:pt2", "resource": patient("Fresh", "ine-2"),
               "request": {"method": "POST", "url": "Patient", "ifNoneExist": "Patient?identifier=http://example.org/mrn|ine-2"}}),
    ]);
    let r = expect(s.post("", &b).await, 200).await;
    assert_eq!(statuses(&r), ["200 OK", "201 Created", "201 Created"]);
    assert_eq!(located(&r["entry"][0]), format!("Patient/{id}"));
    let obs = expect(s.get(&located(&r["entry"][1])).await, 200).await;
    assert_eq!(obs["subject"]["reference"], format!("Patient/{id}"));
    assert_eq!(
        count(s, "Patient?identifier=http://example.org/mrn|ine-1").await,
        1
    );
    assert_eq!(
        count(s, "Patient?identifier=http://example.org/mrn|ine-2").await,
        1
    );
}

async fn transaction_rejects_overlapping_writes(s: &TestServer) {
    let twin = |u: &str| {
        json!({"fullUrl": u, "resource": patient("Twin", "twin-1"),
               "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=http://example.org/mrn|twin-1"}})
    };
    let b = transaction(vec![twin("urn:uuid:t1"), twin("urn:uuid:t2")]);
    expect_outcome(s.post("", &b).await, 400, "Bundle.entry[1]").await;
    assert_eq!(count(s, "Patient").await, 0);
    let b = transaction(vec![
        json!({"resource": {"resourceType": "Patient", "id": "twice"}, "request": {"method": "PUT", "url": "Patient/twice"}}),
        json!({"resource": {"resourceType": "Patient", "id": "twice", "active": true}, "request": {"method": "PUT", "url": "Patient/twice"}}),
    ]);
    expect_outcome(s.post("", &b).await, 400, "only once").await;
    expect(s.get("Patient/twice").await, 404).await;
}

async fn batch_answers_each_entry(s: &TestServer) {
    expect(
        s.put(
            "Patient/b1",
            &json!({"resourceType": "Patient", "id": "b1"}),
        )
        .await,
        201,
    )
    .await;
    let b = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"resource": patient("Batch", "b-1"), "request": {"method": "POST", "url": "Patient"}},
        {"resource": {"resourceType": "Patient", "birthDate": "nope"}, "request": {"method": "POST", "url": "Patient"}},
        {"request": {"method": "GET", "url": "Patient/b1"}},
        {"request": {"method": "GET", "url": "Patient/missing"}},
        {"resource": {"resourceType": "Patient", "id": "b1", "active": true}, "request": {"method": "PUT", "url": "Patient/b1", "ifMatch": "W/\"9\""}},
        {"request": {"method": "DELETE", "url": "Patient/b1"}},
        {"request": {"method": "GET", "url": "Patient?name=Batch"}},
        {"request": {"method": "GET", "url": "Patient/b1", "ifNoneMatch": "W/\"1\""}},
        {"request": {"method": "POST", "url": "Patient/$everything"}},
        {"request": {"method": "GET", "url": "Patient?_id=b1", "ifModifiedSince": "2000-01-01T00:00:00Z"}}
    ]});
    let r = expect(s.post("", &b).await, 200).await;
    assert_eq!(r["type"], "batch-response");
    assert_eq!(
        statuses(&r),
        [
            "201 Created",
            "400 Bad Request",
            "200 OK",
            "404 Not Found",
            "412 Precondition Failed",
            "204 No Content",
            "200 OK",
            "410 Gone",
            "501 Not Implemented",
            "200 OK"
        ]
    );
    let e = r["entry"].as_array().unwrap();
    assert_eq!(
        e[1]["response"]["outcome"]["resourceType"],
        "OperationOutcome"
    );
    assert!(e[1]["response"]["outcome"]
        .to_string()
        .contains("Bundle.entry[1]"));
    assert_eq!(e[2]["resource"]["id"], "b1");
    assert_eq!(e[6]["resource"]["entry"].as_array().unwrap().len(), 1);
    assert_eq!(count(s, "Patient").await, 1);
}

async fn conditional_create_over_http(s: &TestServer) {
    let ine = [("if-none-exist", "identifier=http://example.org/mrn|cc-1")];
    let r = s
        .request(
            Method::POST,
            "Patient",
            Some(&patient("Cond", "cc-1")),
            &ine,
        )
        .await;
    let first = expect(r, 201).await;
    let r = s
        .request(
            Method::POST,
            "Patient",
            Some(&patient("Cond", "cc-1")),
            &ine,
        )
        .await;
    assert_eq!(r.status().as_u16(), 200);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let again = expect(r, 200).await;
    assert_eq!(again["id"], first["id"]);
    assert!(loc.ends_with(&format!(
        "Patient/{}/_history/1",
        first["id"].as_str().unwrap()
    )));
    expect(s.post("Patient", &patient("Dup", "cc-1")).await, 201).await;
    let r = s
        .request(
            Method::POST,
            "Patient",
            Some(&patient("Cond", "cc-1")),
            &ine,
        )
        .await;
    expect_outcome(r, 412, "more than one").await;
    let r = s
        .request(
            Method::POST,
            "Patient",
            Some(&patient("Cond", "cc-1")),
            &[("if-none-exist", "bogus=1")],
        )
        .await;
    expect_outcome(r, 400, "bogus").await;
    let r = s
        .request(
            Method::POST,
            "Patient",
            Some(&patient("Cond", "cc-1")),
            &[("if-none-exist", "_count=1")],
        )
        .await;
    expect_outcome(r, 400, "_count").await;
}

async fn conditional_update_over_http(s: &TestServer) {
    let url = "Patient?identifier=http://example.org/mrn|cu-1";
    // No match and no id: created with a new id.
    let r = expect(s.put(url, &patient("First", "cu-1")).await, 201).await;
    let id = r["id"].as_str().unwrap().to_string();
    // One match: updated in place.
    let r = expect(s.put(url, &patient("Second", "cu-1")).await, 200).await;
    assert_eq!(r["id"], id);
    assert_eq!(r["meta"]["versionId"], "2");
    // An id in the body that is not the match's: 400.
    let mut other = patient("Third", "cu-1");
    other["id"] = json!("someone-else");
    expect_outcome(s.put(url, &other).await, 400, "differs").await;
    // If-Match applies to the matched resource.
    let r = s
        .request(
            Method::PUT,
            url,
            Some(&patient("Third", "cu-1")),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    expect_outcome(r, 412, "If-Match").await;
    // No match, id in the body: update-as-create with that id.
    let mut with_id = patient("Own", "cu-2");
    with_id["id"] = json!("cu-own");
    expect(
        s.put("Patient?identifier=http://example.org/mrn|cu-2", &with_id)
            .await,
        201,
    )
    .await;
    expect(s.get("Patient/cu-own").await, 200).await;
    // Several matches: 412.
    expect(s.post("Patient", &patient("Dup", "cu-1")).await, 201).await;
    expect_outcome(
        s.put(url, &patient("Fourth", "cu-1")).await,
        412,
        "more than one",
    )
    .await;
    // No criteria at all: 400 (PUT on a type needs them).
    expect_outcome(
        s.put("Patient", &patient("X", "cu-3")).await,
        400,
        "criteria",
    )
    .await;
}

async fn conditional_delete_single_and_multiple(s: &TestServer) {
    for i in 0..3 {
        expect(
            s.post("Patient", &patient(&format!("Del{i}"), "cd-many"))
                .await,
            201,
        )
        .await;
    }
    expect(s.post("Patient", &patient("Single", "cd-one")).await, 201).await;
    let r = s
        .delete("Patient?identifier=http://example.org/mrn|cd-one")
        .await;
    assert!(r.headers().get("etag").is_some());
    expect(r, 200).await;
    assert_eq!(
        count(s, "Patient?identifier=http://example.org/mrn|cd-one").await,
        0
    );
    let o = expect(
        s.delete("Patient?identifier=http://example.org/mrn|cd-many")
            .await,
        200,
    )
    .await;
    assert!(o.to_string().contains("Deleted 3 resources"), "{o}");
    assert_eq!(count(s, "Patient").await, 0);
    // Nothing matches: still success.
    expect(
        s.delete("Patient?identifier=http://example.org/mrn|cd-many")
            .await,
        200,
    )
    .await;
    // Past the configured cap: 412, and nothing is deleted.
    let kind = if s.store_spec.starts_with("sqlite:") {
        "sqlite"
    } else {
        "mongodb"
    };
    let small = TestServer::fresh_with(
        kind,
        Limits {
            max_conditional_delete: 2,
            ..Limits::default()
        },
    )
    .await;
    for i in 0..3 {
        expect(
            small
                .post("Patient", &patient(&format!("Cap{i}"), "cap"))
                .await,
            201,
        )
        .await;
    }
    let r = small
        .delete("Patient?identifier=http://example.org/mrn|cap")
        .await;
    expect_outcome(r, 412, "more than 2").await;
    assert_eq!(count(&small, "Patient").await, 3);
    small.stop().await;
}

async fn concurrent_conditional_creates_make_one(s: &TestServer) {
    let mut tasks = Vec::new();
    for i in 0..12 {
        let client = s.client.clone();
        let url = s.url("Patient");
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("content-type", "application/fhir+json")
                .header("if-none-exist", "identifier=http://example.org/mrn|race-1")
                .body(serde_json::to_vec(&patient(&format!("Race{i}"), "race-1")).unwrap())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = r.json().await.unwrap();
            (status, body["id"].as_str().unwrap_or_default().to_string())
        }));
    }
    let mut results = Vec::new();
    for t in tasks {
        results.push(t.await.unwrap());
    }
    let created = results.iter().filter(|(st, _)| *st == 201).count();
    assert_eq!(created, 1, "{results:?}");
    assert!(
        results.iter().all(|(st, _)| *st == 201 || *st == 200),
        "{results:?}"
    );
    let ids: std::collections::HashSet<_> = results.iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(ids.len(), 1, "{results:?}");
    assert_eq!(
        count(s, "Patient?identifier=http://example.org/mrn|race-1").await,
        1
    );
}

async fn concurrent_conditional_transactions_make_one(s: &TestServer) {
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = s.client.clone();
        let url = s.base.clone();
        let b = transaction(vec![
            json!({"fullUrl": "urn:uuid:p", "resource": patient("TxRace", "race-tx"),
                   "request": {"method": "POST", "url": "Patient", "ifNoneExist": "identifier=http://example.org/mrn|race-tx"}}),
            post_entry(
                "urn:uuid:o",
                json!({"resourceType": "Observation", "status": "final", "code": {"text": format!("obs {i}")}, "subject": {"reference": "urn:uuid:p"}}),
            ),
        ]);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("content-type", "application/fhir+json")
                .body(serde_json::to_vec(&b).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let body: Value = r.json().await.unwrap();
            located(&body["entry"][0])
        }));
    }
    let mut patients = std::collections::HashSet::new();
    for t in tasks {
        patients.insert(t.await.unwrap());
    }
    assert_eq!(patients.len(), 1, "{patients:?}");
    assert_eq!(
        count(s, "Patient?identifier=http://example.org/mrn|race-tx").await,
        1
    );
    let p = patients.into_iter().next().unwrap();
    assert_eq!(count(s, &format!("Observation?subject={p}")).await, 8);
}

/// More large transactions at once than the MongoDB store admits together (4): every one
/// commits; none fails for lack of database cache or a write conflict.
async fn concurrent_large_transactions_all_commit(s: &TestServer) {
    let mut tasks = Vec::new();
    for t in 0..6 {
        let client = s.client.clone();
        let url = s.base.clone();
        let mut entries = vec![post_entry(
            "urn:uuid:pat",
            patient(&format!("Big{t}"), &format!("big-{t}")),
        )];
        for i in 0..150 {
            entries.push(post_entry(
                &format!("urn:uuid:o{i}"),
                json!({"resourceType": "Observation", "status": "final",
                       "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
                       "subject": {"reference": "urn:uuid:pat"},
                       "effectiveDateTime": format!("2020-01-{:02}", i % 28 + 1),
                       "valueQuantity": {"value": i, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}),
            ));
        }
        let b = transaction(entries);
        tasks.push(tokio::spawn(async move {
            let r = client
                .post(url)
                .header("content-type", "application/fhir+json")
                .body(serde_json::to_vec(&b).unwrap())
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap())
        }));
    }
    for t in tasks {
        let (status, body) = t.await.unwrap();
        assert_eq!(status, 200, "{}", &body[..body.len().min(500)]);
    }
    assert_eq!(
        count(s, "Observation?code=http://loinc.org|8867-4").await,
        900
    );
}

async fn bundle_limits_and_bad_bundles(s: &TestServer) {
    let kind = if s.store_spec.starts_with("sqlite:") {
        "sqlite"
    } else {
        "mongodb"
    };
    let small = TestServer::fresh_with(
        kind,
        Limits {
            max_bundle_entries: 3,
            ..Limits::default()
        },
    )
    .await;
    let entries: Vec<Value> = (0..4)
        .map(|i| {
            post_entry(
                &format!("urn:uuid:{i}"),
                patient("Lim", &format!("lim-{i}")),
            )
        })
        .collect();
    expect_outcome(
        small.post("", &transaction(entries)).await,
        413,
        "at most 3",
    )
    .await;
    assert_eq!(count(&small, "Patient").await, 0);
    small.stop().await;

    let collection = json!({"resourceType": "Bundle", "type": "collection", "entry": []});
    expect_outcome(s.post("", &collection).await, 400, "batch or a transaction").await;
    expect_outcome(s.post("", &patient("Not", "a-bundle")).await, 400, "Bundle").await;
    let r = s
        .send_raw(
            Method::POST,
            "",
            Some("application/fhir+json"),
            b"{not json".to_vec(),
        )
        .await;
    expect_outcome(r, 400, "JSON").await;
    let no_request = transaction(vec![json!({"resource": patient("No", "req")})]);
    expect_outcome(s.post("", &no_request).await, 400, "request").await;
    let bad_method = transaction(vec![
        json!({"resource": patient("Bad", "m"), "request": {"method": "FETCH", "url": "Patient"}}),
    ]);
    expect_outcome(s.post("", &bad_method).await, 400, "").await;
    let wrong_type = transaction(vec![
        json!({"resource": patient("W", "t"), "request": {"method": "POST", "url": "Observation"}}),
    ]);
    expect_outcome(s.post("", &wrong_type).await, 400, "Observation").await;
    // An empty transaction is fine and answers an empty response.
    let r = expect(s.post("", &transaction(vec![])).await, 200).await;
    assert_eq!(r["type"], "transaction-response");
    assert_eq!(count(s, "Patient").await, 0);
}

fn example(name: &str) -> Value {
    let path = common::examples_dir().join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

async fn official_example_transactions(s: &TestServer) {
    // Transactions that need nothing beforehand.
    let r = expect(s.post("", &example("Bundle-xds.json")).await, 200).await;
    assert_eq!(statuses(&r), ["201 Created"; 5]);
    let doc = expect(s.get(&located(&r["entry"][0])).await, 200).await;
    assert_eq!(doc["subject"]["reference"], located(&r["entry"][1]));
    assert_eq!(
        doc["content"][0]["attachment"]["url"],
        located(&r["entry"][4])
    );
    let r = expect(s.post("", &example("Bundle-hla-1.json")).await, 200).await;
    assert_eq!(r["entry"].as_array().unwrap().len(), 22);
    let r = expect(s.post("", &example("Bundle-ussg-fht.json")).await, 200).await;
    assert_eq!(statuses(&r), ["201 Created"; 11]);
    expect(s.get("Questionnaire/54127-6").await, 200).await;

    // The spec's showcase transaction uses an operation ($lookup) this server does not
    // offer: it fails whole, naming that entry, and writes nothing.
    let before = count(s, "Patient").await;
    let showcase = example("Bundle-bundle-transaction.json");
    expect_outcome(s.post("", &showcase).await, 501, "Bundle.entry[7]").await;
    assert_eq!(count(s, "Patient").await, before);
    // Without that entry, and with the resources its preconditions name in place, it commits.
    let mut b = showcase.clone();
    b["entry"].as_array_mut().unwrap().remove(7);
    expect(
        s.put(
            "Patient/123a",
            &json!({"resourceType": "Patient", "id": "123a"}),
        )
        .await,
        201,
    )
    .await;
    expect(
        s.put(
            "Patient/123a",
            &json!({"resourceType": "Patient", "id": "123a", "active": true}),
        )
        .await,
        200,
    )
    .await;
    expect(
        s.put(
            "Patient/234",
            &json!({"resourceType": "Patient", "id": "234"}),
        )
        .await,
        201,
    )
    .await;
    let r = expect(s.post("", &b).await, 200).await;
    let st = statuses(&r);
    assert_eq!(
        &st[..7],
        [
            "201 Created",
            "201 Created",
            "201 Created",
            "201 Created",
            "200 OK",
            "204 No Content",
            "204 No Content"
        ]
    );
    assert_eq!(st[7], "200 OK");
    assert_eq!(st[8], "404 Not Found");
    expect(s.get("Patient/234").await, 410).await;
    let p = expect(s.get("Patient/123a").await, 200).await;
    assert_eq!(p["meta"]["versionId"], "3");
}

async fn payer_partition_transaction(s: &TestServer) {
    let payer = json!({"resourceType": "Organization", "id": "PAYTX", "name": "Tx Payer",
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "pay"}]}]});
    expect(s.put("Organization/PAYTX", &payer).await, 201).await;
    let b = transaction(vec![post_entry("urn:uuid:pp", patient("Member", "pay-1"))]);
    let r = expect(s.post("/payer/PAYTX/fhir", &b).await, 200).await;
    let loc = located(&r["entry"][0]);
    expect(s.get(&format!("/payer/PAYTX/fhir/{loc}")).await, 200).await;
    expect(s.get(&loc).await, 404).await;
}
