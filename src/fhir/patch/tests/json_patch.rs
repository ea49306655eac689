//! JSON Patch on FHIR resources, one test per category of the RFC 6902 suite
//! (json-patch/json-patch-tests `tests.json`: add, remove, replace, move, copy, test, pointer
//! escapes and indexes, missing members, unknown ops), plus the FHIR rules.

use super::*;

fn pat() -> Value {
    json!({
        "resourceType": "Patient",
        "id": "p1",
        "active": true,
        "name": [{"family": "Chalmers", "given": ["Peter", "James"]}],
        "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "e"}]
    })
}

fn with(f: impl FnOnce(&mut Value)) -> Value {
    let mut p = pat();
    f(&mut p);
    p
}

fn fails(patch: Value, kind: ErrorKind, needle: &str) {
    let (k, msg) = jp_err(&pat(), patch.to_string().as_bytes());
    assert_eq!(k, kind, "{msg}");
    assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
}

#[test]
fn empty_patch_changes_nothing() {
    assert_eq!(jp_ok(&pat(), json!([])), pat());
}

#[test]
fn add_sets_members_and_inserts_into_arrays() {
    let p = json!([
        {"op": "add", "path": "/gender", "value": "male"},
        {"op": "add", "path": "/active", "value": false},
        {"op": "add", "path": "/name/0/given/1", "value": "P"},
        {"op": "add", "path": "/telecom/-", "value": {"system": "fax", "value": "3"}},
        {"op": "add", "path": "/identifier", "value": [{"value": "i"}]}
    ]);
    assert_eq!(
        jp_ok(&pat(), p),
        with(|p| {
            p["gender"] = json!("male");
            p["active"] = json!(false);
            p["name"][0]["given"] = json!(["Peter", "P", "James"]);
            let fax = json!({"system": "fax", "value": "3"});
            if let Some(t) = p["telecom"].as_array_mut() {
                t.push(fax);
            }
            p["identifier"] = json!([{"value": "i"}]);
        })
    );
    fails(
        json!([{"op": "add", "path": "/name/5", "value": {}}]),
        ErrorKind::Unprocessable,
        "array index is out of range",
    );
    fails(
        json!([{"op": "add", "path": "/name/1e0", "value": {}}]),
        ErrorKind::Unprocessable,
        "operation 0 (add /name/1e0)",
    );
    fails(
        json!([{"op": "add", "path": "/contact/0/gender", "value": "male"}]),
        ErrorKind::Unprocessable,
        "parent does not exist",
    );
}

#[test]
fn remove_members_and_array_items() {
    let p = json!([
        {"op": "remove", "path": "/active"},
        {"op": "remove", "path": "/telecom/0"},
        {"op": "remove", "path": "/name/0/given/1"}
    ]);
    assert_eq!(
        jp_ok(&pat(), p),
        with(|p| {
            p.as_object_mut().map(|o| o.remove("active"));
            p["telecom"] = json!([{"system": "email", "value": "e"}]);
            p["name"][0]["given"] = json!(["Peter"]);
        })
    );
    for path in ["/gender", "/telecom/2", "/telecom/01", "/name/0/given/-"] {
        fails(
            json!([{"op": "remove", "path": path}]),
            ErrorKind::Unprocessable,
            "does not exist",
        );
    }
}

#[test]
fn replace_values() {
    let p = json!([
        {"op": "replace", "path": "/active", "value": false},
        {"op": "replace", "path": "/name/0", "value": {"text": "PJC"}}
    ]);
    assert_eq!(
        jp_ok(&pat(), p),
        with(|p| {
            p["active"] = json!(false);
            p["name"][0] = json!({"text": "PJC"});
        })
    );
    fails(
        json!([{"op": "replace", "path": "/gender", "value": "male"}]),
        ErrorKind::Unprocessable,
        "the path does not exist",
    );
    fails(
        json!([{"op": "replace", "path": "/contact/0", "value": {}}]),
        ErrorKind::Unprocessable,
        "does not exist",
    );
}

#[test]
fn move_and_copy() {
    let p = json!([
        {"op": "move", "from": "/telecom/1", "path": "/telecom/0"},
        {"op": "copy", "from": "/name/0", "path": "/name/-"},
        {"op": "move", "from": "/active", "path": "/active"}
    ]);
    assert_eq!(
        jp_ok(&pat(), p),
        with(|p| {
            p["telecom"] =
                json!([{"system": "email", "value": "e"}, {"system": "phone", "value": "1"}]);
            let copy = p["name"][0].clone();
            if let Some(n) = p["name"].as_array_mut() {
                n.push(copy);
            }
        })
    );
    fails(
        json!([{"op": "move", "from": "/gender", "path": "/x"}]),
        ErrorKind::Unprocessable,
        "'from' does not point to a value",
    );
    fails(
        json!([{"op": "copy", "from": "/telecom/1e0", "path": "/x"}]),
        ErrorKind::Unprocessable,
        "'from' does not point to a value",
    );
    fails(
        json!([{"op": "move", "from": "/name/0", "path": "/name/0/given"}]),
        ErrorKind::Unprocessable,
        "cannot be moved into itself",
    );
}

#[test]
fn test_compares_values_regardless_of_key_order() {
    let p = json!([
        {"op": "test", "path": "/telecom/0", "value": {"value": "1", "system": "phone"}},
        {"op": "test", "path": "/resourceType", "value": "Patient", "spurious": 1},
        {"op": "replace", "path": "/active", "value": false}
    ]);
    assert_eq!(jp_ok(&pat(), p), with(|p| p["active"] = json!(false)));
    // A failed test stops the patch: the resource as given is left as it was.
    fails(
        json!([
            {"op": "replace", "path": "/active", "value": false},
            {"op": "test", "path": "/name/0/family", "value": "Smith"}
        ]),
        ErrorKind::Unprocessable,
        "operation 1 (test /name/0/family) failed: the value there is not the one the test expects",
    );
    fails(
        json!([{"op": "test", "path": "/gender", "value": null}]),
        ErrorKind::Unprocessable,
        "does not exist",
    );
}

#[test]
fn pointer_escapes() {
    let odd = json!({"resourceType": "Basic", "a/b": 1, "m~n": 2});
    let p = json!([
        {"op": "test", "path": "/a~1b", "value": 1},
        {"op": "replace", "path": "/m~0n", "value": 3}
    ]);
    assert_eq!(
        jp_ok(&odd, p),
        json!({"resourceType": "Basic", "a/b": 1, "m~n": 3})
    );
}

#[test]
fn resource_type_cannot_change() {
    for p in [
        json!([{"op": "replace", "path": "/resourceType", "value": "Group"}]),
        json!([{"op": "remove", "path": "/resourceType"}]),
        json!([{"op": "add", "path": "", "value": {"resourceType": "Group"}}]),
        json!([{"op": "replace", "path": "", "value": ["not", "a", "resource"]}]),
    ] {
        fails(p, ErrorKind::Unprocessable, "changes the resourceType");
    }
    // Replacing the whole resource with one of the same type is a patch like any other.
    let whole = json!({"resourceType": "Patient", "id": "p1"});
    assert_eq!(
        jp_ok(
            &pat(),
            json!([{"op": "replace", "path": "", "value": whole}])
        ),
        whole
    );
}

#[test]
fn malformed_documents_are_invalid() {
    let bad = |body: &[u8], needle: &str| {
        let (kind, msg) = jp_err(&pat(), body);
        assert_eq!(kind, ErrorKind::Invalid, "{msg}");
        assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
    };
    bad(b"[{\"op\": ", "not JSON");
    bad(
        b"{\"op\": \"remove\", \"path\": \"/active\"}",
        "must be a JSON array",
    );
    bad(
        b"[\"remove\"]",
        "operation 0: an operation must be a JSON object",
    );
    bad(br#"[{"path": "/a"}]"#, "has no 'op'");
    bad(br#"[{"op": 1, "path": "/a"}]"#, "'op' must be a string");
    bad(
        br#"[{"op": "remove", "path": "/active"}, {"op": "spam", "path": "/a"}]"#,
        "operation 1: unknown op 'spam'",
    );
    bad(br#"[{"op": "remove"}]"#, "has no 'path'");
    bad(
        br#"[{"op": "remove", "path": 3}]"#,
        "'path' must be a string",
    );
    bad(
        br#"[{"op": "remove", "path": "active"}]"#,
        "'path' is not a JSON Pointer",
    );
    bad(
        br#"[{"op": "remove", "path": "/a~2"}]"#,
        "'path' is not a JSON Pointer",
    );
    bad(
        br#"[{"op": "move", "from": "a", "path": "/b"}]"#,
        "'from' is not a JSON Pointer",
    );
    for op in ["add", "replace", "test"] {
        let body = format!(r#"[{{"op": "{op}", "path": "/active"}}]"#);
        bad(
            body.as_bytes(),
            &format!("the {op} operation has no 'value'"),
        );
    }
    for op in ["move", "copy"] {
        let body = format!(r#"[{{"op": "{op}", "path": "/x"}}]"#);
        bad(
            body.as_bytes(),
            &format!("the {op} operation has no 'from'"),
        );
    }
}
