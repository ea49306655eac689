//! JSON Patch (RFC 6902) on a resource's JSON, with the `json-patch` crate doing the edits.
//!
//! The document is read here rather than by the crate's serde types: serde fills a missing
//! `value` with `null` (RFC 6902 requires it), and reading each operation on its own lets
//! every error name the operation it is in.

use crate::fhir::outcome::{ErrorKind, FhirError, FhirResult};
use ::json_patch::jsonptr::{Pointer, PointerBuf};
use ::json_patch::{
    AddOperation, CopyOperation, MoveOperation, PatchErrorKind, PatchOperation, RemoveOperation,
    ReplaceOperation, TestOperation,
};
use serde_json::Value;

/// Applies a JSON Patch (RFC 6902) document to a resource given as JSON.
///
/// A malformed document (not JSON, not an array of operations, an unknown `op`, a missing
/// member, a bad JSON Pointer) is [`ErrorKind::Invalid`]; a patch that cannot be applied to
/// this resource (a failed `test`, a path that does not exist, an index out of range, a
/// change of `resourceType`) is [`ErrorKind::Unprocessable`]. Messages name the operation by
/// its index. The result is not validated against the R4 model: the caller does that.
pub fn apply_json_patch(resource: &Value, patch: &[u8]) -> FhirResult<Value> {
    let doc: Value = serde_json::from_slice(patch)
        .map_err(|e| FhirError::invalid(format!("the JSON Patch is not JSON: {e}")))?;
    let Value::Array(items) = doc else {
        return Err(FhirError::invalid(
            "a JSON Patch document must be a JSON array of operations",
        ));
    };
    let ops = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            operation(item)
                .map_err(|m| FhirError::invalid(format!("JSON Patch operation {i}: {m}")))
        })
        .collect::<FhirResult<Vec<_>>>()?;

    let mut out = resource.clone();
    for (i, op) in ops.iter().enumerate() {
        let described = describe(op);
        // One operation at a time, on our own copy: the crate's all-or-nothing `patch` can
        // panic while undoing, and the copy is thrown away on error anyway.
        ::json_patch::patch_unsafe(&mut out, std::slice::from_ref(op)).map_err(|e| {
            FhirError::new(
                ErrorKind::Unprocessable,
                format!(
                    "JSON Patch operation {i} ({described}) failed: {}",
                    reason(&e.kind, op)
                ),
            )
        })?;
        if out.get("resourceType") != resource.get("resourceType") {
            return Err(FhirError::new(
                ErrorKind::Unprocessable,
                format!(
                    "JSON Patch operation {i} ({described}) changes the resourceType, which a patch cannot do"
                ),
            ));
        }
    }
    Ok(out)
}

fn operation(item: Value) -> Result<PatchOperation, String> {
    let Value::Object(mut obj) = item else {
        return Err("an operation must be a JSON object".into());
    };
    let op = match obj.get("op") {
        Some(Value::String(op)) => op.clone(),
        Some(_) => return Err("'op' must be a string".into()),
        None => return Err("the operation has no 'op'".into()),
    };
    let path = pointer(&obj, &op, "path")?;
    let mut value = || {
        obj.remove("value")
            .ok_or_else(|| format!("the {op} operation has no 'value'"))
    };
    Ok(match op.as_str() {
        "add" => PatchOperation::Add(AddOperation {
            path,
            value: value()?,
        }),
        "remove" => PatchOperation::Remove(RemoveOperation { path }),
        "replace" => PatchOperation::Replace(ReplaceOperation {
            path,
            value: value()?,
        }),
        "test" => PatchOperation::Test(TestOperation {
            path,
            value: value()?,
        }),
        "move" => PatchOperation::Move(MoveOperation {
            from: pointer(&obj, &op, "from")?,
            path,
        }),
        "copy" => PatchOperation::Copy(CopyOperation {
            from: pointer(&obj, &op, "from")?,
            path,
        }),
        other => {
            return Err(format!(
                "unknown op '{other}' (add, remove, replace, move, copy or test)"
            ))
        }
    })
}

fn pointer(
    obj: &serde_json::Map<String, Value>,
    op: &str,
    member: &str,
) -> Result<PointerBuf, String> {
    match obj.get(member) {
        Some(Value::String(s)) => Pointer::parse(s)
            .map(Pointer::to_buf)
            .map_err(|e| format!("'{member}' is not a JSON Pointer ({s:?}): {e}")),
        Some(_) => Err(format!("'{member}' must be a string")),
        None => Err(format!("the {op} operation has no '{member}'")),
    }
}

/// `replace /birthDate`, `move /name/1 → /name/0`.
fn describe(op: &PatchOperation) -> String {
    match op {
        PatchOperation::Add(o) => format!("add {}", o.path),
        PatchOperation::Remove(o) => format!("remove {}", o.path),
        PatchOperation::Replace(o) => format!("replace {}", o.path),
        PatchOperation::Test(o) => format!("test {}", o.path),
        PatchOperation::Move(o) => format!("move {} to {}", o.from, o.path),
        PatchOperation::Copy(o) => format!("copy {} to {}", o.from, o.path),
    }
}

fn reason(kind: &PatchErrorKind, op: &PatchOperation) -> String {
    match kind {
        PatchErrorKind::TestFailed => "the value there is not the one the test expects".into(),
        PatchErrorKind::InvalidFromPointer => {
            "'from' does not point to a value in the resource".into()
        }
        PatchErrorKind::InvalidPointer if matches!(op, PatchOperation::Add(_)) => {
            "the path's parent does not exist, or an array index is out of range or malformed"
                .into()
        }
        PatchErrorKind::InvalidPointer => {
            "the path does not exist in the resource (or an array index is out of range or malformed)"
                .into()
        }
        PatchErrorKind::CannotMoveInsideItself => "a value cannot be moved into itself".into(),
        other => other.to_string(),
    }
}
