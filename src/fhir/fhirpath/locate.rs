//! Where the items an expression selects are in the resource, for FHIRPath Patch, which must
//! change what a path selects rather than read it.
//!
//! Only the path subset a patch needs is covered: a type name or `%resource` at the start,
//! member steps (choice elements included), indexers, `where(…)`, `first()`, `last()`,
//! `extension(url)`, `ofType(T)` and `as T`. Criteria, urls and indexes are evaluated with the
//! ordinary evaluator. Anything else is refused by [`check`] before evaluation, so that a
//! path is never half-understood. This is a separate walk, not a mode of `eval`: the search
//! extraction's hot path stays as it is.

use super::eval::{self, Ctx, TItem};
use super::parser::{Node, TypeOp};
use super::FhirPathError;
use crate::fhir::element_types;
use serde_json::Value;
use std::borrow::Cow;

/// One step from a JSON value to a child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// An item a path selects: where it is in the resource and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// From the resource root to the item; empty for the resource itself.
    pub steps: Vec<Step>,
    /// The item's FHIR type (`HumanName`, `date`, `Patient.contact`, a contained resource's
    /// type …).
    pub type_name: &'static str,
    /// The element the item is (a value of); `None` for the resource itself.
    pub element: Option<ElementRef>,
}

/// An element as the type table names it, so a writer can find its JSON name again (a
/// replaced choice element may need another `deceased[x]` key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ElementRef {
    /// The type (or backbone path) of the object holding the element.
    pub parent_type: &'static str,
    /// The element name without a choice suffix: `deceased` for `deceasedBoolean`.
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocateError {
    /// The path is outside the supported subset or malformed (a bad index).
    #[error("{0}")]
    Invalid(String),
    /// Evaluating part of the path on this resource failed (e.g. a `where` criterion that
    /// gives several items).
    #[error("{0}")]
    Eval(String),
}

impl From<FhirPathError> for LocateError {
    fn from(e: FhirPathError) -> Self {
        LocateError::Eval(e.0)
    }
}

/// The functions a patch path may call.
const CALLS: &[&str] = &["where", "first", "last", "extension"];

/// Whether `node` is a path [`locate`] can follow.
pub(crate) fn check(node: &Node) -> Result<(), String> {
    match node {
        Node::This | Node::Resource | Node::Root(_) => Ok(()),
        Node::Member(t, _) | Node::Index(t, _) => check(t),
        Node::TypeCall(t, TypeOp::As | TypeOp::OfType, _) => check(t),
        Node::Call(t, name, _) if CALLS.contains(&name.as_str()) => check(t),
        Node::Call(_, name, _) => Err(format!(
            "{name}() cannot be used in a patch path (supported: where, first, last, extension, ofType, as)"
        )),
        Node::TypeCall(_, TypeOp::Is, _) => Err("'is' does not select elements".into()),
        Node::Union(..) => Err("'|' cannot be used in a patch path".into()),
        Node::Equals(..) | Node::And(..) | Node::Or(..) => {
            Err("a patch path must select elements, not compute a boolean".into())
        }
        Node::Str(_) | Node::Bool(_) | Node::Number(_) => {
            Err("a patch path must select elements, not a literal".into())
        }
        Node::Field(..) => Err("a resolved expression cannot be used as a patch path".into()),
    }
}

/// An item during the walk: its location and its value in the resource.
struct Found<'a> {
    value: &'a Value,
    loc: Location,
}

impl<'a> Found<'a> {
    fn item(&self) -> TItem<'a> {
        TItem {
            value: Cow::Borrowed(self.value),
            ty: self.loc.type_name,
        }
    }
}

pub(crate) fn locate(node: &Node, resource: &Value) -> Result<Vec<Location>, LocateError> {
    check(node).map_err(LocateError::Invalid)?;
    let root = Found {
        value: resource,
        loc: Location {
            steps: Vec::new(),
            type_name: eval::resource_item(resource).ty,
            element: None,
        },
    };
    let ctx = Ctx { resource };
    Ok(walk(node, &root, &ctx)?
        .into_iter()
        .map(|f| f.loc)
        .collect())
}

fn walk<'a>(node: &Node, root: &Found<'a>, ctx: &Ctx<'a>) -> Result<Vec<Found<'a>>, LocateError> {
    let copy = |f: &Found<'a>| Found {
        value: f.value,
        loc: f.loc.clone(),
    };
    Ok(match node {
        Node::This | Node::Resource => vec![copy(root)],
        Node::Root(name) if eval::is_type_name(name) => {
            if eval::type_matches(root.loc.type_name, name) {
                vec![copy(root)]
            } else {
                vec![]
            }
        }
        Node::Root(name) => {
            let mut out = Vec::new();
            children(root, name, &mut out);
            out
        }
        Node::Member(target, name) => {
            let mut out = Vec::new();
            for f in &walk(target, root, ctx)? {
                children(f, name, &mut out);
            }
            out
        }
        Node::Index(target, index) => {
            let input = walk(target, root, ctx)?;
            let n = match eval::eval(index, &[root.item()], ctx)?.as_slice() {
                [one] => one.value.as_u64(),
                _ => None,
            }
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| {
                LocateError::Invalid("an index must be one non-negative integer".into())
            })?;
            input.into_iter().nth(n).into_iter().collect()
        }
        Node::TypeCall(target, _, spec) => walk(target, root, ctx)?
            .into_iter()
            .filter(|f| eval::type_matches(f.loc.type_name, spec))
            .collect(),
        Node::Call(target, name, args) => {
            let input = walk(target, root, ctx)?;
            call(name, input, args, ctx)?
        }
        _ => return Err(LocateError::Invalid("unsupported patch path".into())),
    })
}

fn call<'a>(
    name: &str,
    input: Vec<Found<'a>>,
    args: &[Node],
    ctx: &Ctx<'a>,
) -> Result<Vec<Found<'a>>, LocateError> {
    let arg = || {
        args.first()
            .ok_or_else(|| LocateError::Invalid(format!("{name}() needs an argument")))
    };
    Ok(match name {
        "first" => input.into_iter().take(1).collect(),
        "last" => input.into_iter().last().into_iter().collect(),
        "where" => {
            let criteria = arg()?;
            let mut out = Vec::new();
            for f in input {
                let result = eval::eval(criteria, &[f.item()], ctx)?;
                if eval::truth(&result)? == Some(true) {
                    out.push(f);
                }
            }
            out
        }
        "extension" => {
            let url_expr = arg()?;
            let mut out = Vec::new();
            for f in &input {
                let url = eval::eval(url_expr, &[f.item()], ctx)?;
                let Some(url) = url
                    .first()
                    .and_then(|u| u.value.as_str().map(str::to_owned))
                else {
                    continue;
                };
                let mut exts = Vec::new();
                children(f, "extension", &mut exts);
                out.extend(
                    exts.into_iter()
                        .filter(|e| e.value.get("url").and_then(Value::as_str) == Some(&url)),
                );
            }
            out
        }
        other => {
            return Err(LocateError::Invalid(format!(
                "{other}() cannot be used in a patch path"
            )))
        }
    })
}

/// Appends the children `name` of `parent`, typed and located; a choice element yields the
/// variant present, located at its own key (`deceasedBoolean`).
fn children<'a>(parent: &Found<'a>, name: &str, out: &mut Vec<Found<'a>>) {
    if !parent.value.is_object() {
        return;
    }
    let parent_type = parent.loc.type_name;
    let Some(td) = element_types::type_def(parent_type) else {
        push_children(parent, name, name, None, out);
        return;
    };
    if let Some(def) = td.element(name) {
        push_children(parent, name, name, Some(def.type_name), out);
    } else if let Some(variants) = td.choices(name) {
        for v in variants {
            if let Some(def) = td.element(v) {
                push_children(parent, v, name, Some(def.type_name), out);
            }
        }
    }
}

fn push_children<'a>(
    parent: &Found<'a>,
    key: &str,
    base: &str,
    ty: Option<&'static str>,
    out: &mut Vec<Found<'a>>,
) {
    let mut push = |value: &'a Value, index: Option<usize>| {
        if value.is_null() {
            return;
        }
        let type_name = match ty {
            // Contained and Bundle-entry resources take the type they say they are.
            Some("Resource") => value
                .get("resourceType")
                .and_then(Value::as_str)
                .and_then(eval::static_type)
                .unwrap_or("Resource"),
            Some(t) => t,
            None => eval::guess_type(value),
        };
        let mut steps = parent.loc.steps.clone();
        steps.push(Step::Key(key.to_string()));
        steps.extend(index.map(Step::Index));
        out.push(Found {
            value,
            loc: Location {
                steps,
                type_name,
                element: Some(ElementRef {
                    parent_type: parent.loc.type_name,
                    name: base.to_string(),
                }),
            },
        });
    };
    match parent.value.get(key) {
        Some(Value::Array(items)) => items.iter().enumerate().for_each(|(i, v)| push(v, Some(i))),
        Some(v) => push(v, None),
        None => {}
    }
}
