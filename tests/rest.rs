//! The REST interactions, on both stores, over real HTTP.

use crate::common;

use common::{expect, expect_outcome, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

fn patient(id: Option<&str>, family: &str) -> Value {
    let mut p = json!({
        "resourceType": "Patient",
        "name": [{"family": family, "given": ["Pieter"]}],
        "birthDate": "1974-12-25",
        "gender": "male"
    });
    if let Some(id) = id {
        p["id"] = json!(id);
    }
    p
}

fn header(resp: &reqwest::Response, name: &str) -> String {
    resp.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .to_string()
}

on_both_stores!(
    create_read_update_delete_lifecycle,
    update_as_create_keeps_client_id,
    prefer_return_variants,
    conditional_read,
    if_match_on_update_and_delete,
    unchanged_update_makes_no_version,
    history_at_every_level_with_paging,
    history_since_filter,
    decimals_keep_their_text,
    payer_partitions_are_separate,
    validation_errors,
    protocol_errors,
    xml_in_and_out,
    concurrent_if_match_updates_one_wins,
    concurrent_plain_updates_never_reuse_versions,
);

async fn create_read_update_delete_lifecycle(s: &TestServer) {
    let resp = s
        .post("Patient", &patient(Some("ignored"), "Chalmers"))
        .await;
    let location = header(&resp, "location");
    assert_eq!(header(&resp, "etag"), "W/\"1\"");
    assert!(resp.headers().contains_key("last-modified"));
    let created = expect(resp, 201).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_ne!(id, "ignored", "create must ignore a client id");
    assert_eq!(location, format!("{}/Patient/{id}/_history/1", s.base));
    assert_eq!(created["meta"]["versionId"], "1");
    assert!(created["meta"]["lastUpdated"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    let resp = s.get(&format!("Patient/{id}")).await;
    assert_eq!(header(&resp, "etag"), "W/\"1\"");
    assert!(header(&resp, "content-type").starts_with("application/fhir+json"));
    assert_eq!(expect(resp, 200).await, created);

    let mut changed = created.clone();
    changed["gender"] = json!("other");
    let resp = s.put(&format!("Patient/{id}"), &changed).await;
    assert_eq!(header(&resp, "etag"), "W/\"2\"");
    assert_eq!(
        header(&resp, "location"),
        format!("{}/Patient/{id}/_history/2", s.base)
    );
    let v2 = expect(resp, 200).await;
    assert_eq!(v2["meta"]["versionId"], "2");
    assert_eq!(v2["gender"], "other");

    let v1 = expect(s.get(&format!("Patient/{id}/_history/1")).await, 200).await;
    assert_eq!(v1, created);
    expect_outcome(
        s.get(&format!("Patient/{id}/_history/9")).await,
        404,
        "no version",
    )
    .await;

    let resp = s.delete(&format!("Patient/{id}")).await;
    assert_eq!(header(&resp, "etag"), "W/\"3\"");
    expect_outcome(resp, 200, "Deleted").await;
    expect_outcome(s.get(&format!("Patient/{id}")).await, 410, "deleted").await;
    expect_outcome(
        s.get(&format!("Patient/{id}/_history/3")).await,
        410,
        "deletion",
    )
    .await;
    // Earlier versions stay readable.
    assert_eq!(
        expect(s.get(&format!("Patient/{id}/_history/2")).await, 200).await,
        v2
    );
    // Deleting again changes nothing.
    let resp = s.delete(&format!("Patient/{id}")).await;
    assert!(resp.headers().get("etag").is_none());
    expect_outcome(resp, 200, "nothing to do").await;
    // An update after a delete brings the resource back as a new version.
    let resp = s
        .put(&format!("Patient/{id}"), &patient(Some(&id), "Back"))
        .await;
    assert_eq!(expect(resp, 201).await["meta"]["versionId"], "4");
    // Unknown resources.
    expect_outcome(s.get("Patient/does-not-exist").await, 404, "not known").await;
    expect_outcome(s.delete("Patient/never-was").await, 200, "nothing to do").await;
}

async fn update_as_create_keeps_client_id(s: &TestServer) {
    let resp = s
        .put(
            "Patient/client-chosen.1",
            &patient(Some("client-chosen.1"), "A"),
        )
        .await;
    assert_eq!(
        header(&resp, "location"),
        format!("{}/Patient/client-chosen.1/_history/1", s.base)
    );
    let body = expect(resp, 201).await;
    assert_eq!(body["id"], "client-chosen.1");
    // The same id in another type is another resource.
    let org = json!({"resourceType": "Organization", "id": "client-chosen.1", "name": "Acme"});
    expect(s.put("Organization/client-chosen.1", &org).await, 201).await;
}

async fn prefer_return_variants(s: &TestServer) {
    let p = patient(None, "Prefer");
    let resp = s
        .request(
            Method::POST,
            "Patient",
            Some(&p),
            &[("prefer", "return=minimal")],
        )
        .await;
    assert!(resp.headers().contains_key("location"));
    assert_eq!(resp.status().as_u16(), 201);
    assert!(resp.text().await.unwrap().is_empty());
    let resp = s
        .request(
            Method::POST,
            "Patient",
            Some(&p),
            &[("prefer", "return=OperationOutcome")],
        )
        .await;
    expect_outcome(resp, 201, "Created Patient/").await;
    let resp = s
        .request(
            Method::POST,
            "Patient",
            Some(&p),
            &[("prefer", "return=representation")],
        )
        .await;
    assert_eq!(expect(resp, 201).await["name"][0]["family"], "Prefer");
    let created = expect(s.post("Patient", &p).await, 201).await;
    let id = created["id"].as_str().unwrap();
    let resp = s
        .request(
            Method::DELETE,
            &format!("Patient/{id}"),
            None,
            &[("prefer", "return=minimal")],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 204);
}

async fn conditional_read(s: &TestServer) {
    let created = expect(s.put("Patient/cr", &patient(Some("cr"), "C")).await, 201).await;
    assert_eq!(created["meta"]["versionId"], "1");
    let resp = s
        .request(
            Method::GET,
            "Patient/cr",
            None,
            &[("if-none-match", "W/\"1\"")],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 304);
    assert_eq!(header(&resp, "etag"), "W/\"1\"");
    let resp = s
        .request(
            Method::GET,
            "Patient/cr",
            None,
            &[("if-none-match", "W/\"7\"")],
        )
        .await;
    expect(resp, 200).await;
    let last_modified = header(&s.get("Patient/cr").await, "last-modified");
    let resp = s
        .request(
            Method::GET,
            "Patient/cr",
            None,
            &[("if-modified-since", &last_modified)],
        )
        .await;
    assert_eq!(resp.status().as_u16(), 304);
    let resp = s
        .request(
            Method::GET,
            "Patient/cr",
            None,
            &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")],
        )
        .await;
    expect(resp, 200).await;
}

async fn if_match_on_update_and_delete(s: &TestServer) {
    let p = patient(Some("im"), "M");
    expect(s.put("Patient/im", &p).await, 201).await;
    let mut p2 = p.clone();
    p2["gender"] = json!("female");
    let resp = s
        .request(
            Method::PUT,
            "Patient/im",
            Some(&p2),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    expect(resp, 200).await;
    p2["gender"] = json!("other");
    let resp = s
        .request(
            Method::PUT,
            "Patient/im",
            Some(&p2),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    expect_outcome(resp, 412, "current version is 2").await;
    let resp = s
        .request(
            Method::PUT,
            "Patient/im",
            Some(&p2),
            &[("if-match", "garbage")],
        )
        .await;
    expect_outcome(resp, 400, "If-Match").await;
    let resp = s
        .request(
            Method::DELETE,
            "Patient/im",
            None,
            &[("if-match", "W/\"1\"")],
        )
        .await;
    expect_outcome(resp, 412, "If-Match").await;
    let resp = s
        .request(
            Method::DELETE,
            "Patient/im",
            None,
            &[("if-match", "W/\"2\"")],
        )
        .await;
    expect(resp, 200).await;
    // Nothing changed by the refused requests.
    let h = expect(s.get("Patient/im/_history").await, 200).await;
    assert_eq!(h["entry"].as_array().unwrap().len(), 3);
    // If-Match on a resource that does not exist cannot hold.
    let resp = s
        .request(
            Method::PUT,
            "Patient/nope",
            Some(&patient(Some("nope"), "N")),
            &[("if-match", "W/\"1\"")],
        )
        .await;
    expect_outcome(resp, 412, "does not exist").await;
}

async fn unchanged_update_makes_no_version(s: &TestServer) {
    let p = patient(Some("same"), "S");
    expect(s.put("Patient/same", &p).await, 201).await;
    let again = expect(s.put("Patient/same", &p).await, 200).await;
    assert_eq!(again["meta"]["versionId"], "1");
    let h = expect(s.get("Patient/same/_history").await, 200).await;
    assert_eq!(h["entry"].as_array().unwrap().len(), 1);
}

async fn history_at_every_level_with_paging(s: &TestServer) {
    for i in 0..5 {
        expect(
            s.put(
                &format!("Patient/h{i}"),
                &patient(Some(&format!("h{i}")), "H"),
            )
            .await,
            201,
        )
        .await;
    }
    let mut p = patient(Some("h0"), "H2");
    expect(s.put("Patient/h0", &p).await, 200).await;
    p["gender"] = json!("female");
    expect(s.put("Patient/h0", &p).await, 200).await;
    expect(s.delete("Patient/h1").await, 200).await;
    let org = json!({"resourceType": "Organization", "id": "o1", "name": "Org"});
    expect(s.put("Organization/o1", &org).await, 201).await;

    let inst = expect(s.get("Patient/h0/_history").await, 200).await;
    assert_eq!(inst["type"], "history");
    let versions: Vec<&str> = inst["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["meta"]["versionId"].as_str().unwrap())
        .collect();
    assert_eq!(versions, ["3", "2", "1"]);
    assert_eq!(inst["entry"][0]["request"]["method"], "PUT");
    assert_eq!(
        inst["entry"][0]["fullUrl"],
        format!("{}/Patient/h0", s.base)
    );

    let typ = expect(s.get("Patient/_history").await, 200).await;
    let entries = typ["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 8, "5 creates + 2 updates + 1 delete");
    assert_eq!(entries[0]["request"]["method"], "DELETE");
    assert!(entries[0].get("resource").is_none());
    assert_eq!(entries[0]["request"]["url"], "Patient/h1");

    // System history, paged two at a time: every version exactly once, newest first.
    let mut url = "_history?_count=2".to_string();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = expect(s.get(&url).await, 200).await;
        pages += 1;
        let entries = page["entry"].as_array().cloned().unwrap_or_default();
        assert!(entries.len() <= 2);
        for e in &entries {
            seen.push((
                e["request"]["url"].as_str().unwrap().to_string(),
                e["response"]["etag"].as_str().unwrap().to_string(),
                e["response"]["lastModified"].as_str().unwrap().to_string(),
            ));
        }
        let next = page["link"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["relation"] == "next")
            .map(|l| l["url"].as_str().unwrap().to_string());
        match next {
            Some(n) => url = n,
            None => break,
        }
        assert!(pages < 10, "paging does not end");
    }
    assert_eq!(seen.len(), 9);
    assert_eq!(pages, 5);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.2.cmp(&a.2));
    assert_eq!(seen, sorted, "newest first");
    assert_eq!(seen[0].0, "Organization/o1");

    // A history page stays right while new versions arrive: they are newer than the cursor.
    let first = expect(s.get("Patient/_history?_count=3").await, 200).await;
    let next = first["link"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["relation"] == "next")
        .unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    expect(s.put("Patient/h9", &patient(Some("h9"), "New")).await, 201).await;
    let second = expect(s.get(&next).await, 200).await;
    assert!(second["entry"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["request"]["url"] != "Patient/h9"));

    expect_outcome(s.get("Patient/_history?_at=2020").await, 400, "_at").await;
    expect_outcome(s.get("Patient/_history?_count=x").await, 400, "_count").await;
    expect_outcome(s.get("Patient/zz/_history").await, 404, "not known").await;
    expect_outcome(s.get("_history?_page=garbage").await, 400, "paging").await;
}

async fn history_since_filter(s: &TestServer) {
    expect(s.put("Patient/s1", &patient(Some("s1"), "Old")).await, 201).await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let cut = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    expect(s.put("Patient/s2", &patient(Some("s2"), "New")).await, 201).await;
    let h = expect(
        s.get(&format!(
            "Patient/_history?_since={}",
            cut.replace('+', "%2B")
        ))
        .await,
        200,
    )
    .await;
    let urls: Vec<&str> = h["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["request"]["url"].as_str().unwrap())
        .collect();
    assert_eq!(urls, ["Patient/s2"]);
    expect_outcome(
        s.get("Patient/_history?_since=yesterday").await,
        400,
        "_since",
    )
    .await;
}

async fn decimals_keep_their_text(s: &TestServer) {
    let body = br#"{"resourceType":"Observation","id":"dec","status":"final","code":{"text":"weight"},"valueQuantity":{"value":72.50,"unit":"kg"},"component":[{"code":{"text":"x"},"valueQuantity":{"value":1.0e2}},{"code":{"text":"y"},"valueInteger":0}]}"#;
    let resp = s
        .send_raw(
            Method::PUT,
            "Observation/dec",
            Some("application/fhir+json"),
            body.to_vec(),
        )
        .await;
    assert_eq!(resp.status().as_u16(), 201);
    let text = s.get("Observation/dec").await.text().await.unwrap();
    assert!(text.contains(r#""value":72.50"#), "{text}");
    // serde_json writes the exponent as e+2; the value and its precision are unchanged.
    assert!(
        text.contains(r#""value":1.0e+2"#) || text.contains(r#""value":1.0e2"#),
        "{text}"
    );
}

async fn payer_partitions_are_separate(s: &TestServer) {
    expect_outcome(
        s.get("/payer/PAYX/fhir/metadata").await,
        404,
        "no payer partition",
    )
    .await;
    let payer = json!({
        "resourceType": "Organization", "id": "PAYX", "name": "Payer X",
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "pay"}]}]
    });
    let provider = json!({
        "resourceType": "Organization", "id": "PROV", "name": "Clinic",
        "type": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov"}]}]
    });
    expect(s.put("Organization/PAYX", &payer).await, 201).await;
    expect(s.put("Organization/PROV", &provider).await, 201).await;
    expect_outcome(
        s.get("/payer/PROV/fhir/metadata").await,
        404,
        "no payer partition",
    )
    .await;

    let meta = expect(s.get("/payer/PAYX/fhir/metadata").await, 200).await;
    assert_eq!(
        meta["implementation"]["url"],
        format!("{}/payer/PAYX/fhir", s.root)
    );

    // The same id in two partitions is two resources.
    expect(
        s.put("Patient/m1", &patient(Some("m1"), "Clinic")).await,
        201,
    )
    .await;
    let resp = s
        .put(
            "/payer/PAYX/fhir/Patient/m1",
            &patient(Some("m1"), "Member"),
        )
        .await;
    assert_eq!(
        header(&resp, "location"),
        format!("{}/payer/PAYX/fhir/Patient/m1/_history/1", s.root)
    );
    expect(resp, 201).await;
    assert_eq!(
        expect(s.get("Patient/m1").await, 200).await["name"][0]["family"],
        "Clinic"
    );
    assert_eq!(
        expect(s.get("/payer/PAYX/fhir/Patient/m1").await, 200).await["name"][0]["family"],
        "Member"
    );
    let created = expect(
        s.post("/payer/PAYX/fhir/Patient", &patient(None, "Only"))
            .await,
        201,
    )
    .await;
    let id = created["id"].as_str().unwrap();
    expect_outcome(s.get(&format!("Patient/{id}")).await, 404, "not known").await;

    // Each partition has its own history.
    let h = expect(s.get("/payer/PAYX/fhir/_history").await, 200).await;
    assert_eq!(h["entry"].as_array().unwrap().len(), 2);
    assert!(h["entry"][0]["fullUrl"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/payer/PAYX/fhir/", s.root)));

    // When the Organization stops being a payer, its partition is no longer served.
    expect(s.delete("Organization/PAYX").await, 200).await;
    expect_outcome(
        s.get("/payer/PAYX/fhir/Patient/m1").await,
        404,
        "no payer partition",
    )
    .await;
    expect_outcome(
        s.get("/payer/bad%20id/fhir/metadata").await,
        404,
        "no payer partition",
    )
    .await;
}

async fn validation_errors(s: &TestServer) {
    let raw = |b: &'static str| b.as_bytes().to_vec();
    let ct = Some("application/fhir+json");
    // Malformed JSON.
    let r = s
        .send_raw(Method::POST, "Patient", ct, raw("{\"resourceType\":"))
        .await;
    expect_outcome(r, 400, "not valid JSON").await;
    let r = s.send_raw(Method::POST, "Patient", ct, raw("[1,2]")).await;
    expect_outcome(r, 400, "JSON object").await;
    let r = s.send_raw(Method::POST, "Patient", ct, Vec::new()).await;
    expect_outcome(r, 400, "empty").await;
    // Not a resource / unknown type in the body.
    let r = s
        .send_raw(Method::POST, "Patient", ct, raw(r#"{"name":[]}"#))
        .await;
    expect_outcome(r, 400, "resourceType").await;
    let r = s
        .send_raw(
            Method::POST,
            "Patient",
            ct,
            raw(r#"{"resourceType":"Patientx"}"#),
        )
        .await;
    expect_outcome(r, 400, "Patientx").await;
    // Unknown element, wrong type, bad primitive: named by location.
    let r = s
        .send_raw(
            Method::POST,
            "Patient",
            ct,
            raw(r#"{"resourceType":"Patient","foo":1}"#),
        )
        .await;
    let oo = expect_outcome(r, 400, "foo").await;
    assert_eq!(oo["issue"][0]["expression"][0], "Patient.foo");
    let r = s
        .send_raw(
            Method::POST,
            "Patient",
            ct,
            raw(r#"{"resourceType":"Patient","active":"yes"}"#),
        )
        .await;
    let oo = expect_outcome(r, 400, "active").await;
    assert_eq!(oo["issue"][0]["expression"][0], "Patient.active");
    let r = s
        .send_raw(
            Method::POST,
            "Patient",
            ct,
            raw(r#"{"resourceType":"Patient","name":[{"given":["a",""]}]}"#),
        )
        .await;
    let oo = expect_outcome(r, 400, "empty").await;
    assert_eq!(oo["issue"][0]["expression"][0], "Patient.name[0].given[1]");
    let r = s
        .send_raw(
            Method::POST,
            "Observation",
            ct,
            raw(r#"{"resourceType":"Observation","code":{"text":"x"}}"#),
        )
        .await;
    expect_outcome(r, 400, "status").await;
    // Body type and id must agree with the URL.
    let r = s
        .put(
            "Patient/a1",
            &json!({"resourceType": "Observation", "id": "a1"}),
        )
        .await;
    expect_outcome(r, 400, "URL is for Patient").await;
    let r = s
        .post(
            "Patient",
            &json!({"resourceType": "Observation", "status": "final", "code": {"text": "x"}}),
        )
        .await;
    expect_outcome(r, 400, "URL is for Patient").await;
    let r = s.put("Patient/a1", &patient(Some("a2"), "X")).await;
    expect_outcome(r, 400, "differs").await;
    let r = s.put("Patient/a1", &patient(None, "X")).await;
    expect_outcome(r, 400, "id in the body").await;
    let r = s.put("Patient/bad$id", &patient(Some("bad$id"), "X")).await;
    expect_outcome(r, 400, "bad$id").await;
    let r = s.put("Patient/bad$id", &patient(None, "X")).await;
    expect_outcome(r, 400, "not a valid FHIR id").await;
    // Nothing of the above was stored.
    let h = expect(s.get("_history").await, 200).await;
    assert!(h.get("entry").is_none(), "invalid input was stored: {h}");
}

async fn protocol_errors(s: &TestServer) {
    expect_outcome(
        s.get("Patientx/1").await,
        404,
        "not a FHIR R4 resource type",
    )
    .await;
    expect_outcome(
        s.post("Patientx", &patient(None, "X")).await,
        404,
        "Patientx",
    )
    .await;
    expect_outcome(s.get("/nothing/here").await, 404, "FHIR base is /fhir").await;
    expect_outcome(
        s.get("Patient/1/_history/1/extra").await,
        404,
        "Nothing is served",
    )
    .await;
    let r = s.request(Method::DELETE, "metadata", None, &[]).await;
    assert_eq!(header(&r, "allow"), "GET, HEAD");
    expect_outcome(r, 405, "not allowed").await;
    let r = s.request(Method::POST, "Patient/1", None, &[]).await;
    expect_outcome(r, 405, "POST").await;
    let r = s
        .request(Method::GET, "Patient/1", None, &[("accept", "text/plain")])
        .await;
    expect_outcome(r, 406, "text/plain").await;
    expect_outcome(s.get("metadata?_format=html").await, 406, "_format").await;
    let r = s
        .send_raw(Method::POST, "Patient", Some("text/plain"), b"{}".to_vec())
        .await;
    expect_outcome(r, 415, "text/plain").await;
    let r = s
        .send_raw(Method::POST, "Patient", None, b"{}".to_vec())
        .await;
    expect_outcome(r, 415, "Content-Type").await;
    // Oversized bodies: see robustness.rs (they need a client that reads the early answer).
    let r = s.post("Patient?foo=bar", &patient(None, "X")).await;
    expect_outcome(r, 400, "foo").await;
    // A PATCH must say what kind of patch it carries.
    expect_outcome(
        s.request(Method::PATCH, "Patient/1", None, &[]).await,
        415,
        "json-patch",
    )
    .await;
    // And the server is still fine.
    expect(s.get("metadata").await, 200).await;
}

async fn xml_in_and_out(s: &TestServer) {
    let xml = r#"<Patient xmlns="http://hl7.org/fhir"><id value="x1"/><active value="true"/><name><family value="Xml"/></name></Patient>"#;
    let r = s
        .send_raw(
            Method::PUT,
            "Patient/x1",
            Some("application/fhir+xml"),
            xml.as_bytes().to_vec(),
        )
        .await;
    assert_eq!(r.status().as_u16(), 201);
    let r = s
        .request(
            Method::GET,
            "Patient/x1",
            None,
            &[("accept", "application/fhir+xml")],
        )
        .await;
    assert!(header(&r, "content-type").starts_with("application/fhir+xml"));
    let text = r.text().await.unwrap();
    assert!(text.contains("<family value=\"Xml\"/>"), "{text}");
    assert!(text.contains("<versionId value=\"1\"/>"), "{text}");
    let j = expect(s.get("Patient/x1?_format=json&_pretty=true").await, 200).await;
    assert_eq!(j["name"][0]["family"], "Xml");
    let text = s.get("Patient/x1?_pretty=true").await.text().await.unwrap();
    assert!(text.contains("\n  \"id\": \"x1\""), "{text}");
    // Errors come in the negotiated format too.
    let r = s
        .request(
            Method::GET,
            "Patient/none",
            None,
            &[("accept", "application/fhir+xml")],
        )
        .await;
    assert_eq!(r.status().as_u16(), 404);
    assert!(r.text().await.unwrap().contains("<OperationOutcome"));
    let r = s
        .send_raw(
            Method::POST,
            "Patient",
            Some("application/fhir+xml"),
            b"<Patient><bogus/></Patient>".to_vec(),
        )
        .await;
    expect_outcome(r, 400, "XML").await;
}

async fn concurrent_if_match_updates_one_wins(s: &TestServer) {
    expect(
        s.put("Patient/race", &patient(Some("race"), "R0")).await,
        201,
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let client = s.client.clone();
        let url = s.url("Patient/race");
        tasks.push(tokio::spawn(async move {
            let body = patient(Some("race"), &format!("R{}", i + 1));
            client
                .put(url)
                .header("content-type", "application/fhir+json")
                .header("if-match", "W/\"1\"")
                .body(serde_json::to_vec(&body).unwrap())
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 412),
        "{statuses:?}"
    );
    let h = expect(s.get("Patient/race/_history").await, 200).await;
    assert_eq!(h["entry"].as_array().unwrap().len(), 2);
}

async fn concurrent_plain_updates_never_reuse_versions(s: &TestServer) {
    expect(
        s.put("Patient/serial", &patient(Some("serial"), "S0"))
            .await,
        201,
    )
    .await;
    let mut tasks = Vec::new();
    for i in 0..10 {
        let client = s.client.clone();
        let url = s.url("Patient/serial");
        tasks.push(tokio::spawn(async move {
            let body = patient(Some("serial"), &format!("S{}", i + 1));
            let r = client
                .put(url)
                .header("content-type", "application/fhir+json")
                .body(serde_json::to_vec(&body).unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            r.json::<Value>().await.unwrap()["meta"]["versionId"]
                .as_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        }));
    }
    let mut versions = Vec::new();
    for t in tasks {
        versions.push(t.await.unwrap());
    }
    versions.sort();
    assert_eq!(versions, (2..=11).collect::<Vec<u64>>());
    let h = expect(s.get("Patient/serial/_history?_count=100").await, 200).await;
    assert_eq!(h["entry"].as_array().unwrap().len(), 11);
}
