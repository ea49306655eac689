//! Evaluation of a parsed expression over a resource held as JSON. Element types come from the
//! R4 element table, so every selected item knows its FHIR type (`HumanName`, `dateTime` …),
//! and choice elements (`value` → `valueQuantity`) resolve to the variant present.

use super::parser::{Node, TypeOp};
use super::FhirPathError;
use crate::fhir::element_types;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// An item during evaluation. Type names are interned (`&'static`), so evaluation does not
/// allocate a name per item.
#[derive(Debug, Clone)]
pub(crate) struct TItem<'a> {
    pub value: Cow<'a, Value>,
    pub ty: &'static str,
}

pub(crate) struct Ctx<'a> {
    pub resource: &'a Value,
}

/// The interned form of a type name known to the element table (resources, datatypes,
/// primitives, backbone paths); `None` for anything else.
pub(crate) fn static_type(name: &str) -> Option<&'static str> {
    element_types::type_def(name).map(|t| t.name())
}

/// The root item of a resource: the resource with its `resourceType` as type.
pub(crate) fn resource_item(resource: &Value) -> TItem<'_> {
    let ty = resource
        .get("resourceType")
        .and_then(Value::as_str)
        .and_then(static_type)
        .unwrap_or("Resource");
    TItem {
        value: Cow::Borrowed(resource),
        ty,
    }
}

fn boolean<'a>(b: bool) -> TItem<'a> {
    TItem {
        value: Cow::Owned(Value::Bool(b)),
        ty: "Boolean",
    }
}

/// The System types literals and computed values have (`true`, `'a'`, `count()`); items read
/// from a resource have FHIR types instead (`boolean`, `string`, `integer`).
const SYSTEM_TYPES: &[&str] = &["Boolean", "String", "Integer", "Decimal"];

/// Whether an item of type `ty` is of type `spec` for `is`: the type itself or a type it is
/// derived from (`code` and `id` are strings, `url` and `canonical` uris, `Age` a Quantity,
/// every resource a Resource). A System type is only the type of literals and computed
/// values: a FHIR `boolean` is not a `System.Boolean`. Stricter than [`type_matches`], which
/// `as` and `ofType` keep because the search expressions rely on it.
pub(crate) fn is_of_type(ty: &str, spec: &str) -> bool {
    if let Some(system) = spec.strip_prefix("System.") {
        return ty == system && SYSTEM_TYPES.contains(&ty);
    }
    match spec {
        "Resource" | "DomainResource" => type_matches(ty, spec),
        _ => ty == spec || fhir_base(ty) == Some(spec),
    }
}

/// The FHIR type a primitive or a Quantity profile is derived from.
fn fhir_base(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "code" | "id" | "markdown" => "string",
        "url" | "canonical" | "oid" | "uuid" => "uri",
        "positiveInt" | "unsignedInt" => "integer",
        "Age" | "Count" | "Distance" | "Duration" | "SimpleQuantity" | "MoneyQuantity" => {
            "Quantity"
        }
        _ => return None,
    })
}

/// Whether an item of type `ty` is of type `spec` for `as`, `ofType` and type names at the
/// start of a path: the type itself, the Quantity profiles for `Quantity`, any resource for
/// `Resource`, and the System types for FHIR primitives. FHIR primitive subtypes (`code` of
/// `string`, `canonical` of `uri`) are NOT folded together: the search expressions use
/// `as uri` / `as canonical` to pick one variant of a choice element, which folding would
/// defeat (the official FHIRPath tests agree: `Patient.gender.as(string)` is empty).
pub(crate) fn type_matches(ty: &str, spec: &str) -> bool {
    if ty == spec {
        return true;
    }
    let spec = spec.strip_prefix("System.").unwrap_or(spec);
    match spec {
        "Quantity" => matches!(
            ty,
            "Age" | "Count" | "Distance" | "Duration" | "SimpleQuantity" | "MoneyQuantity"
        ),
        "Resource" => element_types::is_resource_type(ty),
        "DomainResource" => {
            element_types::is_resource_type(ty) && !matches!(ty, "Bundle" | "Binary" | "Parameters")
        }
        "String" => matches!(
            ty,
            "string" | "code" | "id" | "markdown" | "uri" | "url" | "canonical" | "oid" | "uuid"
        ),
        "Boolean" => ty == "boolean",
        "Integer" => matches!(ty, "integer" | "positiveInt" | "unsignedInt"),
        "Decimal" => ty == "decimal",
        "Date" => ty == "date",
        "DateTime" => matches!(ty, "dateTime" | "instant"),
        "Time" => ty == "time",
        _ => false,
    }
}

pub(crate) fn is_type_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_uppercase())
}

/// The type name a path starts from (`Patient` in `Patient.name.where(…)`), if it starts
/// from one.
pub(crate) fn root_type(node: &Node) -> Option<&str> {
    match node {
        Node::Root(name) if is_type_name(name) => Some(name),
        Node::Member(t, _)
        | Node::Field(t, _)
        | Node::Call(t, _, _)
        | Node::TypeCall(t, _, _)
        | Node::Index(t, _) => root_type(t),
        _ => None,
    }
}

/// `node` without the union branches that start from a type `resource_type` is not, so a
/// multi-base expression costs one branch at evaluation. `None` when nothing is left.
pub(crate) fn specialize(node: &Node, resource_type: &str) -> Option<Node> {
    match node {
        Node::Union(a, b) => match (specialize(a, resource_type), specialize(b, resource_type)) {
            (Some(a), Some(b)) => Some(Node::Union(Box::new(a), Box::new(b))),
            (Some(x), None) | (None, Some(x)) => Some(x),
            (None, None) => None,
        },
        other => match root_type(other) {
            Some(t) if !type_matches(resource_type, t) => None,
            _ => Some(other.clone()),
        },
    }
}

/// The static types an expression is resolved against: the focus and `%resource`.
#[derive(Clone, Copy)]
pub(crate) struct Statics {
    pub focus: Option<&'static str>,
    pub resource: Option<&'static str>,
}

/// `node` with every member step whose input type is known before evaluation replaced by a
/// [`Node::Field`], so evaluation skips the element-table lookups; and the type of what
/// `node` selects, when that is known and single. Evaluation gives the same result either
/// way: item types come from the same table at run time.
pub(crate) fn resolve_fields(node: &Node, st: Statics) -> (Node, Option<&'static str>) {
    let field = |target: Node, tty: Option<&'static str>, name: &str| match tty
        .and_then(|t| field_steps(t, name))
    {
        Some((steps, ty)) => (Node::Field(Box::new(target), steps), ty),
        None => (Node::Member(Box::new(target), name.to_string()), None),
    };
    match node {
        Node::This => (Node::This, st.focus),
        Node::Resource => (Node::Resource, st.resource),
        Node::Root(name) if is_type_name(name) => {
            (node.clone(), st.focus.filter(|f| type_matches(f, name)))
        }
        Node::Root(name) => match st.focus.and_then(|f| field_steps(f, name)) {
            Some((steps, ty)) => (Node::Field(Box::new(Node::This), steps), ty),
            None => (node.clone(), None),
        },
        Node::Member(t, name) => {
            let (t, tty) = resolve_fields(t, st);
            field(t, tty, name)
        }
        Node::Field(t, steps) => (
            Node::Field(Box::new(resolve_fields(t, st).0), steps.clone()),
            None,
        ),
        Node::Call(t, name, args) => {
            let (t, tty) = resolve_fields(t, st);
            // Arguments (`where` criteria, `extension` urls) are evaluated on each item.
            let inner = Statics { focus: tty, ..st };
            let args = args.iter().map(|a| resolve_fields(a, inner).0).collect();
            let ty = match name.as_str() {
                "where" | "first" | "last" => tty,
                _ => None,
            };
            (Node::Call(Box::new(t), name.clone(), args), ty)
        }
        Node::TypeCall(t, op, spec) => {
            let (t, tty) = resolve_fields(t, st);
            let ty = match op {
                TypeOp::Is => None,
                _ => tty.filter(|t| t == spec),
            };
            (Node::TypeCall(Box::new(t), *op, spec.clone()), ty)
        }
        Node::Index(t, i) => {
            let (t, tty) = resolve_fields(t, st);
            (
                Node::Index(Box::new(t), Box::new(resolve_fields(i, st).0)),
                tty,
            )
        }
        Node::Union(a, b) => {
            let (a, ta) = resolve_fields(a, st);
            let (b, tb) = resolve_fields(b, st);
            let ty = if ta == tb { ta } else { None };
            (Node::Union(Box::new(a), Box::new(b)), ty)
        }
        Node::Equals(a, b, neg) => (
            Node::Equals(
                Box::new(resolve_fields(a, st).0),
                Box::new(resolve_fields(b, st).0),
                *neg,
            ),
            None,
        ),
        Node::And(a, b) => (
            Node::And(
                Box::new(resolve_fields(a, st).0),
                Box::new(resolve_fields(b, st).0),
            ),
            None,
        ),
        Node::Or(a, b) => (
            Node::Or(
                Box::new(resolve_fields(a, st).0),
                Box::new(resolve_fields(b, st).0),
            ),
            None,
        ),
        Node::Str(_) | Node::Bool(_) | Node::Number(_) => (node.clone(), None),
    }
}

/// The keys and types element `name` of type `ty` reads, and the single type it selects
/// (none for choice elements and for resources, whose type is in the data).
type Steps = (Vec<(String, &'static str)>, Option<&'static str>);

/// The most items `node` can select from one resource that passed validation, where FHIR's
/// cardinalities bound it (an element that is not an array holds one value at most, a choice
/// element one of its variants), with the items' type when known; `None` when nothing bounds
/// it (an array element, a function other than the filtering ones). Resolved and unresolved
/// element steps are both understood.
pub(crate) fn max_items(node: &Node, st: Statics) -> (Option<usize>, Option<&'static str>) {
    // The items one member step selects on one item of type `ty`, and their type.
    let member = |ty: Option<&'static str>, name: &str| -> (Option<usize>, Option<&'static str>) {
        let Some(td) = ty.and_then(element_types::type_def) else {
            return (None, None);
        };
        match td.element(name) {
            Some(def) if def.is_array => (None, Some(def.type_name)),
            Some(def) => (Some(1), Some(def.type_name)),
            // A choice element has cardinality 0..1: one of its variants.
            None if td.choices(name).is_some() => (Some(1), None),
            // No such element: it selects nothing.
            None => (Some(0), None),
        }
    };
    let times = |a: Option<usize>, b: Option<usize>| a.zip(b).map(|(a, b)| a.saturating_mul(b));
    match node {
        Node::This => (Some(1), st.focus),
        Node::Resource => (Some(1), st.resource),
        Node::Str(_) | Node::Bool(_) | Node::Number(_) => (Some(1), None),
        Node::Equals(..) | Node::And(..) | Node::Or(..) | Node::TypeCall(_, TypeOp::Is, _) => {
            (Some(1), None)
        }
        Node::Root(name) if is_type_name(name) => {
            (Some(1), st.focus.filter(|f| type_matches(f, name)))
        }
        Node::Root(name) => member(st.focus, name),
        Node::Member(t, name) => {
            let (n, ty) = max_items(t, st);
            let (each, child) = member(ty, name);
            (times(n, each), child)
        }
        Node::Field(t, steps) => {
            let (n, ty) = max_items(t, st);
            let (each, child) = match steps.as_slice() {
                [(key, child)] => (member(ty, key).0, Some(*child)),
                // The variants of a choice element are one element: at most one is present.
                _ => (Some(1), None),
            };
            (times(n, each), child)
        }
        Node::Call(t, name, _) => {
            let (n, ty) = max_items(t, st);
            match name.as_str() {
                "where" => (n, ty),
                "first" | "last" => (n.map(|n| n.min(1)), ty),
                // At most one resource per reference, of a type the data says.
                "resolve" => (n, None),
                _ => (None, None),
            }
        }
        Node::TypeCall(t, _, spec) => {
            let (n, ty) = max_items(t, st);
            (n, ty.filter(|t| t == spec).or_else(|| static_type(spec)))
        }
        Node::Index(t, _) => {
            let (n, ty) = max_items(t, st);
            (n.map(|n| n.min(1)), ty)
        }
        Node::Union(a, b) => {
            let ((na, ta), (nb, tb)) = (max_items(a, st), max_items(b, st));
            let n = na.zip(nb).map(|(a, b)| a.saturating_add(b));
            (n, if ta == tb { ta } else { None })
        }
    }
}

fn field_steps(ty: &str, name: &str) -> Option<Steps> {
    let td = element_types::type_def(ty)?;
    if let Some(def) = td.element(name) {
        let single = Some(def.type_name).filter(|t| *t != "Resource");
        return Some((vec![(name.to_string(), def.type_name)], single));
    }
    let steps = td
        .choices(name)?
        .iter()
        .filter_map(|v| Some((v.clone(), td.element(v)?.type_name)))
        .collect();
    Some((steps, None))
}

pub(crate) fn eval<'a>(
    node: &Node,
    focus: &[TItem<'a>],
    ctx: &Ctx<'a>,
) -> Result<Vec<TItem<'a>>, FhirPathError> {
    Ok(match node {
        Node::This => focus.to_vec(),
        Node::Resource => vec![resource_item(ctx.resource)],
        Node::Str(s) => vec![TItem {
            value: Cow::Owned(Value::String(s.clone())),
            ty: "String",
        }],
        Node::Bool(b) => vec![boolean(*b)],
        Node::Number(n) => {
            let v: Value =
                serde_json::from_str(n).map_err(|_| FhirPathError(format!("bad number {n}")))?;
            let ty = if n.contains('.') {
                "Decimal"
            } else {
                "Integer"
            };
            vec![TItem {
                value: Cow::Owned(v),
                ty,
            }]
        }
        Node::Root(name) if is_type_name(name) => focus
            .iter()
            .filter(|i| type_matches(i.ty, name))
            .cloned()
            .collect(),
        Node::Root(name) => {
            let mut out = Vec::new();
            for item in focus {
                member(item, name, &mut out);
            }
            out
        }
        Node::Member(target, name) => {
            let mut out = Vec::new();
            for item in &eval(target, focus, ctx)? {
                member(item, name, &mut out);
            }
            out
        }
        Node::Field(target, steps) => {
            let mut out = Vec::new();
            for item in &eval(target, focus, ctx)? {
                if item.value.is_object() {
                    for (key, ty) in steps {
                        push_children(item, key, Some(ty), &mut out);
                    }
                }
            }
            out
        }
        Node::TypeCall(target, op, spec) => {
            let input = eval(target, focus, ctx)?;
            match op {
                TypeOp::As | TypeOp::OfType => input
                    .into_iter()
                    .filter(|i| type_matches(i.ty, spec))
                    .collect(),
                TypeOp::Is => match input.as_slice() {
                    [] => vec![],
                    [one] => vec![boolean(is_of_type(one.ty, spec))],
                    _ => return Err(FhirPathError("'is' needs a single item".into())),
                },
            }
        }
        Node::Call(target, name, args) => {
            let input = eval(target, focus, ctx)?;
            call(name, input, args, ctx)?
        }
        Node::Index(target, index) => {
            let input = eval(target, focus, ctx)?;
            let index = eval(index, focus, ctx)?;
            let n = match index.as_slice() {
                [one] => one.value.as_u64(),
                _ => None,
            }
            .ok_or_else(|| FhirPathError("an index must be one non-negative integer".into()))?;
            usize::try_from(n)
                .ok()
                .and_then(|n| input.into_iter().nth(n))
                .into_iter()
                .collect()
        }
        // Union should drop duplicates; comparing every pair of JSON values is quadratic in
        // the size of large resources, and extraction deduplicates its entries anyway, so
        // this keeps them (nothing the search expressions do counts items).
        Node::Union(a, b) => {
            let mut out = eval(a, focus, ctx)?;
            out.extend(eval(b, focus, ctx)?);
            out
        }
        Node::Equals(a, b, negate) => {
            let a = eval(a, focus, ctx)?;
            let b = eval(b, focus, ctx)?;
            if a.is_empty() || b.is_empty() {
                vec![]
            } else {
                let same = a.len() == b.len()
                    && a.iter()
                        .zip(&b)
                        .all(|(x, y)| values_equal(&x.value, &y.value));
                vec![boolean(same != *negate)]
            }
        }
        Node::And(a, b) => {
            let a = truth(&eval(a, focus, ctx)?)?;
            let b = truth(&eval(b, focus, ctx)?)?;
            match (a, b) {
                (Some(false), _) | (_, Some(false)) => vec![boolean(false)],
                (Some(true), Some(true)) => vec![boolean(true)],
                _ => vec![],
            }
        }
        Node::Or(a, b) => {
            let a = truth(&eval(a, focus, ctx)?)?;
            let b = truth(&eval(b, focus, ctx)?)?;
            match (a, b) {
                (Some(true), _) | (_, Some(true)) => vec![boolean(true)],
                (Some(false), Some(false)) => vec![boolean(false)],
                _ => vec![],
            }
        }
    })
}

fn call<'a>(
    name: &str,
    input: Vec<TItem<'a>>,
    args: &[Node],
    ctx: &Ctx<'a>,
) -> Result<Vec<TItem<'a>>, FhirPathError> {
    Ok(match name {
        "where" => {
            let mut out = Vec::new();
            for item in input {
                let keep = truth(&eval(&args[0], std::slice::from_ref(&item), ctx)?)?;
                if keep == Some(true) {
                    out.push(item);
                }
            }
            out
        }
        "exists" => {
            let input = match args.first() {
                Some(_) => call("where", input, args, ctx)?,
                None => input,
            };
            vec![boolean(!input.is_empty())]
        }
        "empty" => vec![boolean(input.is_empty())],
        "not" => match truth(&input)? {
            Some(b) => vec![boolean(!b)],
            None => vec![],
        },
        "hasValue" => match input.as_slice() {
            [one] => vec![boolean(
                element_types::is_primitive(one.ty) && !one.value.is_null(),
            )],
            _ => vec![boolean(false)],
        },
        "first" => input.into_iter().take(1).collect(),
        "last" => input.into_iter().last().into_iter().collect(),
        "count" => vec![TItem {
            value: Cow::Owned(Value::from(input.len())),
            ty: "Integer",
        }],
        "resolve" => input
            .iter()
            .filter_map(|i| resolve_type(i, ctx))
            .map(|ty| TItem {
                value: Cow::Owned(Value::Object(Map::new())),
                ty,
            })
            .collect(),
        "extension" => {
            let mut out = Vec::new();
            for item in &input {
                let url = eval(&args[0], std::slice::from_ref(item), ctx)?;
                let Some(url) = url
                    .first()
                    .and_then(|u| u.value.as_str().map(str::to_owned))
                else {
                    continue;
                };
                let mut exts = Vec::new();
                member(item, "extension", &mut exts);
                out.extend(
                    exts.into_iter()
                        .filter(|e| e.value.get("url").and_then(Value::as_str) == Some(&url)),
                );
            }
            out
        }
        other => {
            return Err(FhirPathError(format!(
                "function {other}() is not supported"
            )))
        }
    })
}

/// The type of the resource a Reference (or canonical/uri) points to, as `resolve() is T`
/// needs it: from `reference` (`Type/id`, `…/Type/id`, `…/Type/id/_history/n`, or `#id` of
/// a contained resource), else from `Reference.type`.
fn resolve_type(item: &TItem<'_>, ctx: &Ctx<'_>) -> Option<&'static str> {
    let (reference, declared) = match &*item.value {
        Value::String(s) => (Some(s.as_str()), None),
        Value::Object(m) => (
            m.get("reference").and_then(Value::as_str),
            m.get("type").and_then(Value::as_str),
        ),
        _ => return None,
    };
    if let Some(r) = reference {
        if let Some(local) = r.strip_prefix('#') {
            return ctx.resource["contained"]
                .as_array()?
                .iter()
                .find(|c| c["id"].as_str() == Some(local))
                .and_then(|c| c["resourceType"].as_str())
                .and_then(static_type);
        }
        if let Some(t) = reference_type(r) {
            return Some(t);
        }
    }
    // `Reference.type` is a uri: a bare type name or the StructureDefinition URL.
    let declared = declared?;
    let name = declared.rsplit('/').next().unwrap_or(declared);
    static_type(name).filter(|t| element_types::is_resource_type(t))
}

/// The resource type in a literal reference `[base/]Type/id[/_history/v]`.
pub(crate) fn reference_type(reference: &str) -> Option<&'static str> {
    let path = reference.split(['?', '#']).next().unwrap_or(reference);
    let mut segs: Vec<&str> = path.split('/').collect();
    if segs.len() >= 4 && segs[segs.len() - 2] == "_history" {
        segs.truncate(segs.len() - 2);
    }
    let [.., ty, id] = segs.as_slice() else {
        return None;
    };
    if id.is_empty() {
        return None;
    }
    static_type(ty).filter(|t| element_types::is_resource_type(t))
}

/// Truth value of a collection (FHIRPath singleton evaluation): empty → unknown, one boolean →
/// itself, any other single item → true.
pub(crate) fn truth(items: &[TItem<'_>]) -> Result<Option<bool>, FhirPathError> {
    match items {
        [] => Ok(None),
        [one] => Ok(Some(one.value.as_bool().unwrap_or(true))),
        _ => Err(FhirPathError(
            "a boolean test got more than one item".into(),
        )),
    }
}

fn values_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // Compared by value, not text: with arbitrary precision `1.0` and `1` differ as text.
        (Value::Number(x), Value::Number(y)) => {
            x.to_string().parse::<f64>().ok() == y.to_string().parse::<f64>().ok()
        }
        _ => a == b,
    }
}

/// Appends the children `name` of `item`, typed from the element table; a choice element
/// (`value`) yields whichever typed variant (`valueQuantity` …) is present.
fn member<'a>(item: &TItem<'a>, name: &str, out: &mut Vec<TItem<'a>>) {
    if !item.value.is_object() {
        return;
    }
    let Some(td) = element_types::type_def(item.ty) else {
        // An item of a type the table does not know (cannot happen for table-typed
        // input): fall back to the JSON, with types guessed from the values.
        push_children(item, name, None, out);
        return;
    };
    if let Some(def) = td.element(name) {
        push_children(item, name, Some(def.type_name), out);
    } else if let Some(variants) = td.choices(name) {
        for v in variants {
            if let Some(def) = td.element(v) {
                push_children(item, v, Some(def.type_name), out);
            }
        }
    }
}

fn push_children<'a>(
    item: &TItem<'a>,
    key: &str,
    ty: Option<&'static str>,
    out: &mut Vec<TItem<'a>>,
) {
    let mut push = |v: Cow<'a, Value>| {
        if v.is_null() {
            return;
        }
        let ty = match ty {
            // Contained and Bundle-entry resources take the type they say they are.
            Some("Resource") => v
                .get("resourceType")
                .and_then(Value::as_str)
                .and_then(static_type)
                .unwrap_or("Resource"),
            Some(t) => t,
            None => guess_type(&v),
        };
        out.push(TItem { value: v, ty });
    };
    match &item.value {
        Cow::Borrowed(parent) => {
            let parent: &'a Value = parent;
            match parent.get(key) {
                Some(Value::Array(a)) => a.iter().for_each(|v| push(Cow::Borrowed(v))),
                Some(v) => push(Cow::Borrowed(v)),
                None => {}
            }
        }
        Cow::Owned(parent) => match parent.get(key) {
            Some(Value::Array(a)) => a.iter().for_each(|v| push(Cow::Owned(v.clone()))),
            Some(v) => push(Cow::Owned(v.clone())),
            None => {}
        },
    }
}

pub(crate) fn guess_type(v: &Value) -> &'static str {
    match v {
        Value::Bool(_) => "boolean",
        Value::Number(_) => "decimal",
        Value::String(_) => "string",
        _ => "Element",
    }
}
