//! PATCH over HTTP (JSON Patch and FHIRPath Patch), plain, conditional and in transactions,
//! on both stores.

use crate::common;

use common::{expect, expect_outcome, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

on_both_stores!(
    json_patch,
    fhirpath_patch,
    patch_preconditions_and_errors,
    conditional_patch,
    patch_in_transaction,
);

const JSON_PATCH: &str = "application/json-patch+json";

fn patient(id: &str) -> Value {
    json!({"resourceType": "Patient", "id": id,
           "identifier": [{"system": "http://example.org/mrn", "value": id}],
           "name": [{"family": "Chalmers", "given": ["Peter"]}],
           "birthDate": "1974-12-25", "active": true})
}

async fn patch(
    s: &TestServer,
    path: &str,
    ct: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut rb = s
        .client
        .request(Method::PATCH, s.url(path))
        .header("content-type", ct)
        .body(serde_json::to_vec(body).unwrap());
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    rb.send().await.unwrap()
}

async fn json_patch(s: &TestServer) {
    expect(s.put("Patient/jp", &patient("jp")).await, 201).await;
    let ops = json!([
        {"op": "test", "path": "/name/0/family", "value": "Chalmers"},
        {"op": "replace", "path": "/birthDate", "value": "1975-01-01"},
        {"op": "add", "path": "/name/0/given/-", "value": "James"},
        {"op": "remove", "path": "/active"}
    ]);
    let r = patch(s, "Patient/jp", JSON_PATCH, &ops, &[]).await;
    assert_eq!(r.headers()["etag"], "W/\"2\"");
    let p = expect(r, 200).await;
    assert_eq!(p["birthDate"], "1975-01-01");
    assert_eq!(p["name"][0]["given"], json!(["Peter", "James"]));
    assert!(p.get("active").is_none());
    assert_eq!(p["meta"]["versionId"], "2");
    // The new version is indexed: search sees the patched values.
    let b = expect(s.get("Patient?birthdate=1975-01-01").await, 200).await;
    assert_eq!(b["entry"][0]["resource"]["id"], "jp");
    // History records the interaction as PATCH.
    let h = expect(s.get("Patient/jp/_history").await, 200).await;
    assert_eq!(h["entry"][0]["request"]["method"], "PATCH");
    // A patch that changes nothing makes no new version.
    let same = json!([{"op": "replace", "path": "/birthDate", "value": "1975-01-01"}]);
    let p = expect(patch(s, "Patient/jp", JSON_PATCH, &same, &[]).await, 200).await;
    assert_eq!(p["meta"]["versionId"], "2");
    // Plain application/json: an array is a JSON Patch, an object a merge patch (RFC 7386).
    let arr = json!([{"op": "add", "path": "/gender", "value": "male"}]);
    let p = expect(
        patch(s, "Patient/jp", "application/json", &arr, &[]).await,
        200,
    )
    .await;
    assert_eq!(p["gender"], "male");
    let merge = json!({"gender": null, "active": true});
    let p = expect(
        patch(s, "Patient/jp", "application/merge-patch+json", &merge, &[]).await,
        200,
    )
    .await;
    assert!(p.get("gender").is_none());
    assert_eq!(p["active"], true);
    assert_eq!(p["meta"]["versionId"], "4");
    let p = expect(
        patch(
            s,
            "Patient/jp",
            "application/json",
            &json!({"active": false}),
            &[],
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["active"], false);
    let bad = json!({"birthDate": "soon"});
    expect_outcome(
        patch(s, "Patient/jp", "application/merge-patch+json", &bad, &[]).await,
        422,
        "birthDate",
    )
    .await;
}

async fn fhirpath_patch(s: &TestServer) {
    expect(s.put("Patient/fp", &patient("fp")).await, 201).await;
    let params = json!({"resourceType": "Parameters", "parameter": [
        {"name": "operation", "part": [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.birthDate"},
            {"name": "value", "valueDate": "1980-02-02"}]},
        {"name": "operation", "part": [
            {"name": "type", "valueCode": "add"},
            {"name": "path", "valueString": "Patient"},
            {"name": "name", "valueString": "deceased"},
            {"name": "value", "valueBoolean": false}]},
        {"name": "operation", "part": [
            {"name": "type", "valueCode": "insert"},
            {"name": "path", "valueString": "Patient.name.where(family='Chalmers').given"},
            {"name": "index", "valueInteger": 0},
            {"name": "value", "valueString": "Jim"}]}
    ]});
    let p = expect(
        patch(s, "Patient/fp", "application/fhir+json", &params, &[]).await,
        200,
    )
    .await;
    assert_eq!(p["birthDate"], "1980-02-02");
    assert_eq!(p["deceasedBoolean"], false);
    assert_eq!(p["name"][0]["given"], json!(["Jim", "Peter"]));
    // A path that selects nothing for replace: 422 naming the operation.
    let bad = json!({"resourceType": "Parameters", "parameter": [
        {"name": "operation", "part": [
            {"name": "type", "valueCode": "replace"},
            {"name": "path", "valueString": "Patient.gender"},
            {"name": "value", "valueCode": "male"}]}]});
    expect_outcome(
        patch(s, "Patient/fp", "application/fhir+json", &bad, &[]).await,
        422,
        "operation",
    )
    .await;
    // Not a Parameters resource: 400.
    expect_outcome(
        patch(
            s,
            "Patient/fp",
            "application/fhir+json",
            &patient("fp"),
            &[],
        )
        .await,
        400,
        "Parameters",
    )
    .await;
}

async fn patch_preconditions_and_errors(s: &TestServer) {
    expect(s.put("Patient/pe", &patient("pe")).await, 201).await;
    let ok = json!([{"op": "replace", "path": "/active", "value": false}]);
    // If-Match: stale → 412, current → 200.
    expect_outcome(
        patch(s, "Patient/pe", JSON_PATCH, &ok, &[("if-match", "W/\"5\"")]).await,
        412,
        "If-Match",
    )
    .await;
    expect(
        patch(s, "Patient/pe", JSON_PATCH, &ok, &[("if-match", "W/\"1\"")]).await,
        200,
    )
    .await;
    // Malformed patch documents: 400; a failing test: 422.
    let r = s
        .send_raw(
            Method::PATCH,
            "Patient/pe",
            Some(JSON_PATCH),
            b"{\"op\":\"add\"}".to_vec(),
        )
        .await;
    expect_outcome(r, 400, "").await;
    let r = s
        .send_raw(
            Method::PATCH,
            "Patient/pe",
            Some(JSON_PATCH),
            b"not json".to_vec(),
        )
        .await;
    expect_outcome(r, 400, "").await;
    let failing = json!([{"op": "test", "path": "/active", "value": true}]);
    expect_outcome(
        patch(s, "Patient/pe", JSON_PATCH, &failing, &[]).await,
        422,
        "test",
    )
    .await;
    // A patched resource that is not valid FHIR: 422, nothing written.
    let invalid = json!([{"op": "replace", "path": "/birthDate", "value": "yesterday"}]);
    expect_outcome(
        patch(s, "Patient/pe", JSON_PATCH, &invalid, &[]).await,
        422,
        "birthDate",
    )
    .await;
    let unknown = json!([{"op": "add", "path": "/colour", "value": "blue"}]);
    expect_outcome(
        patch(s, "Patient/pe", JSON_PATCH, &unknown, &[]).await,
        422,
        "",
    )
    .await;
    // id and resourceType cannot change.
    let id = json!([{"op": "replace", "path": "/id", "value": "other"}]);
    expect_outcome(
        patch(s, "Patient/pe", JSON_PATCH, &id, &[]).await,
        422,
        "id",
    )
    .await;
    let rt = json!([{"op": "replace", "path": "/resourceType", "value": "Group"}]);
    expect_outcome(
        patch(s, "Patient/pe", JSON_PATCH, &rt, &[]).await,
        422,
        "resourceType",
    )
    .await;
    let p = expect(s.get("Patient/pe").await, 200).await;
    assert_eq!(p["meta"]["versionId"], "2");
    assert_eq!(p["birthDate"], "1974-12-25");
    // Missing and deleted resources.
    expect_outcome(
        patch(s, "Patient/nobody", JSON_PATCH, &ok, &[]).await,
        404,
        "nobody",
    )
    .await;
    expect(s.delete("Patient/pe").await, 200).await;
    expect_outcome(
        patch(s, "Patient/pe", JSON_PATCH, &ok, &[]).await,
        410,
        "deleted",
    )
    .await;
    // A media type that is no patch: 415.
    let r = s
        .send_raw(
            Method::PATCH,
            "Patient/pe",
            Some("text/plain"),
            b"x".to_vec(),
        )
        .await;
    expect_outcome(r, 415, "json-patch").await;
}

async fn conditional_patch(s: &TestServer) {
    expect(s.put("Patient/cp1", &patient("cp1")).await, 201).await;
    let ops = json!([{"op": "replace", "path": "/active", "value": false}]);
    let p = expect(
        patch(
            s,
            "Patient?identifier=http://example.org/mrn|cp1",
            JSON_PATCH,
            &ops,
            &[],
        )
        .await,
        200,
    )
    .await;
    assert_eq!(p["id"], "cp1");
    assert_eq!(p["active"], false);
    expect_outcome(
        patch(
            s,
            "Patient?identifier=http://example.org/mrn|none",
            JSON_PATCH,
            &ops,
            &[],
        )
        .await,
        404,
        "matches no",
    )
    .await;
    let mut twin = patient("cp2");
    twin["identifier"][0]["value"] = json!("cp1");
    expect(s.put("Patient/cp2", &twin).await, 201).await;
    expect_outcome(
        patch(
            s,
            "Patient?identifier=http://example.org/mrn|cp1",
            JSON_PATCH,
            &ops,
            &[],
        )
        .await,
        412,
        "more than one",
    )
    .await;
}

async fn patch_in_transaction(s: &TestServer) {
    expect(s.put("Patient/tp", &patient("tp")).await, 201).await;
    use base64::Engine;
    let doc = json!([{"op": "replace", "path": "/active", "value": false}]).to_string();
    let data = base64::engine::general_purpose::STANDARD.encode(doc);
    let b = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"resource": {"resourceType": "Binary", "contentType": JSON_PATCH, "data": data},
         "request": {"method": "PATCH", "url": "Patient/tp"}},
        {"fullUrl": "urn:uuid:obs", "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "x"}, "subject": {"reference": "Patient/tp"}},
         "request": {"method": "POST", "url": "Observation"}}
    ]});
    let r = expect(s.post("", &b).await, 200).await;
    assert_eq!(r["entry"][0]["response"]["status"], "200 OK");
    assert_eq!(r["entry"][0]["response"]["etag"], "W/\"2\"");
    let p = expect(s.get("Patient/tp").await, 200).await;
    assert_eq!(p["active"], false);
    // FHIRPath Patch in a transaction, failing: the whole transaction fails.
    let b = json!({"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:o2", "resource": {"resourceType": "Observation", "status": "final", "code": {"text": "y"}},
         "request": {"method": "POST", "url": "Observation"}},
        {"resource": {"resourceType": "Parameters", "parameter": [{"name": "operation", "part": [
            {"name": "type", "valueCode": "replace"}, {"name": "path", "valueString": "Patient.gender"},
            {"name": "value", "valueCode": "male"}]}]},
         "request": {"method": "PATCH", "url": "Patient/tp"}}
    ]});
    let before = expect(s.get("Observation?_summary=count").await, 200).await["total"].clone();
    expect_outcome(s.post("", &b).await, 422, "Bundle.entry[1]").await;
    let after = expect(s.get("Observation?_summary=count").await, 200).await["total"].clone();
    assert_eq!(before, after);
}
