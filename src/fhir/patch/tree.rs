//! Edits of a resource's JSON that keep a primitive's `_name` sibling (its id and extensions)
//! in step with the value: FHIR JSON keeps them beside the value, and for a list index by
//! index, with `null` where an item has none.

use crate::fhir::fhirpath::Step;
use serde_json::{Map, Value};

type Object = Map<String, Value>;

/// A value ready to be written: its JSON and, for a primitive, its `_name` object.
pub(super) struct Built {
    pub json: Value,
    pub shadow: Option<Value>,
}

fn shadow_key(key: &str) -> String {
    format!("_{key}")
}

pub(super) fn value_at<'a>(root: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(root, |v, step| match step {
        Step::Key(k) => v.get(k),
        Step::Index(i) => v.get(i),
    })
}

pub(super) fn object_at<'a>(root: &'a mut Value, steps: &[Step]) -> Option<&'a mut Object> {
    steps
        .iter()
        .try_fold(root, |v, step| match step {
            Step::Key(k) => v.get_mut(k),
            Step::Index(i) => v.get_mut(i),
        })?
        .as_object_mut()
}

/// Sets single element `key`, replacing any value it had along with its `_key`.
pub(super) fn set_single(obj: &mut Object, key: &str, built: Built) {
    obj.insert(key.to_string(), built.json);
    match built.shadow {
        Some(s) => {
            obj.insert(shadow_key(key), s);
        }
        None => {
            obj.shift_remove(&shadow_key(key));
        }
    }
}

/// Removes single element `key` and its `_key`.
pub(super) fn remove_single(obj: &mut Object, key: &str) {
    obj.shift_remove(key);
    obj.shift_remove(&shadow_key(key));
}

/// The number of items in list `key` (0 when absent).
pub(super) fn list_len(obj: &Object, key: &str) -> usize {
    match obj.get(key) {
        Some(Value::Array(items)) => items.len(),
        Some(_) => 1,
        None => 0,
    }
}

/// List `key`, created when absent; a lone value where a list belongs becomes its only item.
fn list<'a>(obj: &'a mut Object, key: &str) -> Option<&'a mut Vec<Value>> {
    let slot = obj
        .entry(key.to_string())
        .or_insert_with(|| Value::Array(Vec::new()));
    if !slot.is_array() {
        let lone = slot.take();
        *slot = Value::Array(vec![lone]);
    }
    slot.as_array_mut()
}

/// `_key` as a list as long as list `key` (`len` items), created only when `create`.
fn shadow_list<'a>(
    obj: &'a mut Object,
    key: &str,
    len: usize,
    create: bool,
) -> Option<&'a mut Vec<Value>> {
    let skey = shadow_key(key);
    if create && !matches!(obj.get(&skey), Some(Value::Array(_))) {
        obj.insert(skey.clone(), Value::Array(Vec::new()));
    }
    match obj.get_mut(&skey) {
        Some(Value::Array(s)) => {
            s.resize(len, Value::Null);
            Some(s)
        }
        _ => None,
    }
}

/// Drops `_key` when it no longer says anything (all `null`) or its list is gone.
fn tidy(obj: &mut Object, key: &str) {
    let skey = shadow_key(key);
    let useless = match obj.get(&skey) {
        Some(Value::Array(s)) => !obj.contains_key(key) || s.iter().all(Value::is_null),
        _ => false,
    };
    if useless {
        obj.shift_remove(&skey);
    }
}

/// Inserts into list `key` at `index` (at most its length).
pub(super) fn insert(obj: &mut Object, key: &str, index: usize, built: Built) {
    let Some(items) = list(obj, key) else {
        return;
    };
    let len = items.len();
    items.insert(index.min(len), built.json);
    if let Some(s) = shadow_list(obj, key, len, built.shadow.is_some()) {
        s.insert(index.min(len), built.shadow.unwrap_or(Value::Null));
    }
    tidy(obj, key);
}

pub(super) fn push(obj: &mut Object, key: &str, built: Built) {
    let len = list_len(obj, key);
    insert(obj, key, len, built);
}

/// Replaces item `index` (below the length) of list `key`.
pub(super) fn replace_item(obj: &mut Object, key: &str, index: usize, built: Built) {
    let Some(items) = list(obj, key) else {
        return;
    };
    let len = items.len();
    if let Some(item) = items.get_mut(index) {
        *item = built.json;
        let shadow = shadow_list(obj, key, len, built.shadow.is_some());
        if let Some(slot) = shadow.and_then(|s| s.get_mut(index)) {
            *slot = built.shadow.unwrap_or(Value::Null);
        }
    }
    tidy(obj, key);
}

/// Removes item `index` of list `key`, and the list when that was its last item.
pub(super) fn remove_item(obj: &mut Object, key: &str, index: usize) {
    let Some(Value::Array(items)) = obj.get_mut(key) else {
        return;
    };
    let len = items.len();
    if index >= len {
        return;
    }
    items.remove(index);
    let emptied = items.is_empty();
    if let Some(s) = shadow_list(obj, key, len, false) {
        s.remove(index);
    }
    if emptied {
        remove_single(obj, key);
    }
    tidy(obj, key);
}

/// Moves item `from` of list `key` to `to` (both below the length).
pub(super) fn move_item(obj: &mut Object, key: &str, from: usize, to: usize) {
    let Some(Value::Array(items)) = obj.get_mut(key) else {
        return;
    };
    let len = items.len();
    if from >= len || to >= len {
        return;
    }
    let item = items.remove(from);
    items.insert(to, item);
    if let Some(s) = shadow_list(obj, key, len, false) {
        let shadow = s.remove(from);
        s.insert(to, shadow);
    }
    tidy(obj, key);
}

/// Removes the element at `steps` (a `key` or `key`, `index` ending), then any object or
/// list left empty above it, as FHIR JSON has no empty elements. The resource root stays.
pub(super) fn delete(root: &mut Value, steps: &[Step]) {
    let mut steps = steps;
    loop {
        let (owner, removed) = match steps {
            [owner @ .., Step::Key(key), Step::Index(i)] => {
                if let Some(obj) = object_at(root, owner) {
                    remove_item(obj, key, *i);
                }
                (owner, true)
            }
            [owner @ .., Step::Key(key)] => {
                if let Some(obj) = object_at(root, owner) {
                    remove_single(obj, key);
                }
                (owner, true)
            }
            _ => (steps, false),
        };
        let now_empty = matches!(value_at(root, owner), Some(Value::Object(m)) if m.is_empty());
        if !removed || owner.is_empty() || !now_empty {
            return;
        }
        steps = owner;
    }
}
