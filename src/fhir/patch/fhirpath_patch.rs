//! FHIRPath Patch (https://hl7.org/fhir/R4/fhirpatch.html): operations in a `Parameters`
//! resource whose paths are FHIRPath, applied in order to a copy of the resource.

use super::operation::{self, Kind, NewValue, Operation};
use super::tree;
use super::value;
use crate::fhir::element_types;
use crate::fhir::fhirpath::{Expression, LocateError, Location, Step};
use crate::fhir::outcome::{ErrorKind, FhirError, FhirResult};
use serde_json::Value;

/// Applies a FHIRPath Patch (a `Parameters` resource) to a resource given as JSON.
///
/// A malformed patch is [`ErrorKind::Invalid`]; one that does not fit this resource (a path
/// that selects nothing or several elements where one is needed, an index out of range, a
/// value of the wrong type) is [`ErrorKind::Unprocessable`]. Messages name the operation by
/// its index. The result is not validated against the R4 model: the caller does that.
pub fn apply_fhirpath_patch(resource: &Value, parameters: &Value) -> FhirResult<Value> {
    let ops = operation::parse(parameters).map_err(|(index, msg)| match index {
        Some(i) => FhirError::at(
            ErrorKind::Invalid,
            parameter(i),
            format!("FHIRPath Patch operation {i}: {msg}"),
        ),
        None => FhirError::invalid(format!("FHIRPath Patch: {msg}")),
    })?;
    let mut doc = resource.clone();
    for (i, op) in ops.iter().enumerate() {
        apply(&mut doc, op).map_err(|(kind, msg)| {
            FhirError::at(
                kind,
                parameter(i),
                format!(
                    "FHIRPath Patch operation {i} ({} at '{}'): {msg}",
                    op.kind.code(),
                    op.path
                ),
            )
        })?;
    }
    // No path reaches `resourceType` (it is no element), so this guards against a defect.
    if doc.get("resourceType") != resource.get("resourceType") {
        return Err(FhirError::new(
            ErrorKind::Unprocessable,
            "FHIRPath Patch: a patch cannot change the resourceType",
        ));
    }
    Ok(doc)
}

fn parameter(i: usize) -> String {
    format!("Parameters.parameter[{i}]")
}

type Failure = (ErrorKind, String);

fn unfit(msg: impl Into<String>) -> Failure {
    (ErrorKind::Unprocessable, msg.into())
}

fn apply(doc: &mut Value, op: &Operation<'_>) -> Result<(), Failure> {
    match &op.kind {
        Kind::Delete => delete(doc, &op.expr),
        Kind::Replace { value } => replace(doc, &op.expr, value),
        Kind::Add { name, value } => add(doc, &op.expr, name, value),
        Kind::Insert { index, value } => insert(doc, &op.expr, *index, value),
        Kind::Move {
            source,
            destination,
        } => move_item(doc, &op.expr, *source, *destination),
    }
}

fn locate(doc: &Value, expr: &Expression) -> Result<Vec<Location>, Failure> {
    expr.locate(doc).map_err(|e| match e {
        LocateError::Invalid(m) => (ErrorKind::Invalid, m),
        LocateError::Eval(m) => unfit(format!("evaluating the path failed: {m}")),
    })
}

/// The one element `expr` selects.
fn single(doc: &Value, expr: &Expression, what: &str) -> Result<Location, Failure> {
    let mut found = locate(doc, expr)?;
    match found.len() {
        1 => Ok(found.remove(0)),
        0 => Err(unfit(format!("no content found at the {what}"))),
        n => Err(unfit(format!(
            "the {what} selects {n} elements; it must select exactly one"
        ))),
    }
}

fn object<'a>(
    doc: &'a mut Value,
    at: &Location,
) -> Result<&'a mut serde_json::Map<String, Value>, Failure> {
    tree::object_at(doc, &at.steps).ok_or_else(|| {
        unfit(format!(
            "the element at the path is a {} value: its id and extensions cannot be patched",
            at.type_name
        ))
    })
}

fn delete(doc: &mut Value, expr: &Expression) -> Result<(), Failure> {
    let found = locate(doc, expr)?;
    match found.as_slice() {
        // The spec: delete "if found".
        [] => Ok(()),
        [one] if one.steps.is_empty() => Err(unfit("the resource itself cannot be deleted")),
        [one] => {
            tree::delete(doc, &one.steps);
            Ok(())
        }
        many => Err(unfit(format!(
            "the path selects {} elements; only one can be deleted at a time",
            many.len()
        ))),
    }
}

fn replace(doc: &mut Value, expr: &Expression, value: &NewValue<'_>) -> Result<(), Failure> {
    let at = single(doc, expr, "path")?;
    let Some(element) = &at.element else {
        return Err(unfit("the resource itself cannot be replaced"));
    };
    let slot = value::slot(element.parent_type, &element.name, value.type_name()).map_err(unfit)?;
    let built = value::build(value, slot.declared).map_err(unfit)?;
    match at.steps.as_slice() {
        [owner @ .., Step::Key(key), Step::Index(i)] => {
            let obj =
                tree::object_at(doc, owner).ok_or_else(|| unfit("the path's parent is gone"))?;
            tree::replace_item(obj, key, *i, built);
        }
        [owner @ .., Step::Key(key)] => {
            let obj =
                tree::object_at(doc, owner).ok_or_else(|| unfit("the path's parent is gone"))?;
            // A choice element may change variant: `deceasedBoolean` → `deceasedDateTime`.
            if *key != slot.key {
                tree::remove_single(obj, key);
            }
            tree::set_single(obj, &slot.key, built);
        }
        _ => return Err(unfit("the path does not select an element")),
    }
    Ok(())
}

fn add(
    doc: &mut Value,
    expr: &Expression,
    name: &str,
    value: &NewValue<'_>,
) -> Result<(), Failure> {
    let parent = single(doc, expr, "path")?;
    let slot = value::slot(parent.type_name, name, value.type_name()).map_err(unfit)?;
    let built = value::build(value, slot.declared).map_err(unfit)?;
    let obj = object(doc, &parent)?;
    if slot.is_array {
        tree::push(obj, &slot.key, built);
        return Ok(());
    }
    // Any variant of a choice element counts as a value of it.
    let variants = element_types::choices(parent.type_name, name);
    let present = obj.contains_key(&slot.key)
        || variants.is_some_and(|v| v.iter().any(|k| obj.contains_key(k)));
    if present {
        return Err(unfit(format!(
            "{}.{name} is a single element and already has a value (use replace)",
            parent.type_name
        )));
    }
    tree::set_single(obj, &slot.key, built);
    Ok(())
}

/// The list an insert or move path names.
struct List {
    /// The element holding the list.
    parent: Location,
    /// The list's JSON name.
    key: String,
    /// `Patient.identifier`, for messages.
    described: String,
    /// The type of its items.
    declared: &'static str,
    len: usize,
}

fn list(doc: &Value, expr: &Expression, value_type: Option<&str>) -> Result<List, Failure> {
    let (parent_expr, name) = expr.split_last_member().ok_or_else(|| {
        (
            ErrorKind::Invalid,
            "the path must end with the list's element name".to_string(),
        )
    })?;
    let parent = single(doc, &parent_expr, "list's parent element")?;
    let slot = value::slot(parent.type_name, name, value_type).map_err(unfit)?;
    let described = format!("{}.{name}", parent.type_name);
    if !slot.is_array {
        return Err(unfit(format!(
            "{described} is not a list (use add, replace or delete)"
        )));
    }
    let len = tree::value_at(doc, &parent.steps)
        .and_then(Value::as_object)
        .map_or(0, |obj| tree::list_len(obj, &slot.key));
    Ok(List {
        parent,
        key: slot.key,
        described,
        declared: slot.declared,
        len,
    })
}

fn insert(
    doc: &mut Value,
    expr: &Expression,
    index: i64,
    value: &NewValue<'_>,
) -> Result<(), Failure> {
    let list = list(doc, expr, value.type_name())?;
    // Index = length appends (official case "Add to list").
    let at = usize::try_from(index)
        .ok()
        .filter(|i| *i <= list.len)
        .ok_or_else(|| {
            unfit(format!(
                "index {index} is out of range: {} has {} items, so the index must be 0 to {}",
                list.described, list.len, list.len
            ))
        })?;
    let built = value::build(value, list.declared).map_err(unfit)?;
    tree::insert(object(doc, &list.parent)?, &list.key, at, built);
    Ok(())
}

fn move_item(
    doc: &mut Value,
    expr: &Expression,
    source: i64,
    destination: i64,
) -> Result<(), Failure> {
    let list = list(doc, expr, None)?;
    let in_range = |i: i64| usize::try_from(i).ok().filter(|i| *i < list.len);
    let (Some(from), Some(to)) = (in_range(source), in_range(destination)) else {
        return Err(unfit(format!(
            "source {source} or destination {destination} is out of range: {} has {} items",
            list.described, list.len
        )));
    };
    tree::move_item(object(doc, &list.parent)?, &list.key, from, to);
    Ok(())
}
