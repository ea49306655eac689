//! Index extraction: evaluates every search parameter's FHIRPath expression over a resource
//! and turns what it selects into normalised [`IndexEntry`]s, by the FHIR type of each selected
//! item (search.html "Search Types and FHIR Data Types").
//!
//! Choices worth knowing (see also docs/search-parameters.md):
//! - a `Range` for a number or quantity parameter is one entry whose `low`/`high` are the
//!   range's bounds (each widened by its own precision; an open end is `f64::MIN`/`MAX`) and
//!   whose `value` is the midpoint (or the one bound given);
//! - `Money` is a quantity with the currency as code and system `urn:iso:std:iso:4217`;
//! - a ContactPoint as token is its `value` as code, without system (the `phone`/`email`
//!   parameters already pick the kind with `where(system=…)`);
//! - references to contained resources (`#id`) give no reference entry; the contained
//!   resource's own entries are kept for chains instead (`contained`); `urn:uuid:`/`urn:oid:` ones give
//!   a url-only entry; a Reference's `identifier` gives a token entry under `{code}:identifier`.

use super::params::{Compiled, ParamType, Registry, Values};
use super::text;
use super::values::{date_range, decimal_range, normalize_string};
use super::{IndexEntry, IndexValue};
use crate::fhir::element_types;
use crate::fhir::fhirpath::{Expression, TItem};
use serde_json::Value;
use std::collections::HashSet;

/// Every index entry of `resource` (whose type is `resource_type`) for every parameter the
/// registry holds for that type, including `_tag`, `_profile`, `_security`, `_source`
/// (`_id` and `_lastUpdated` are answered from the stored id and time, not from entries).
/// `base` is the FHIR base the resource is stored under: an absolute reference below it is
/// a local one (search.html: a relative and an absolute reference to the same resource
/// match each other); one to another server is known by its url alone. `content_search`:
/// whether `_content` is indexed (`text`: its words outnumber all other entries).
pub fn extract(
    registry: &Registry,
    resource_type: &str,
    resource: &Value,
    base: &str,
    content_search: bool,
) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    let root = Expression::root_item(resource);
    // Only a resource with contained resources can reference one (`#id`).
    let mut locals = contained_list(resource).map(|_| Vec::new());
    for param in registry.compiled(resource_type) {
        match &param.values {
            Values::Words(text::Source::Content) if !content_search => {}
            Values::Embedded(expression, ty) => embedded(
                registry, param, expression, ty, resource, &root, base, &mut out,
            ),
            _ => extract_one(param, resource, &root, base, locals.as_mut(), &mut out),
        }
    }
    if let Some(locals) = locals {
        let mut inners = Inners::of(registry, resource, base);
        contained(&mut inners, &locals, None, &mut out);
        contained_slots(&mut inners, &mut out);
    }
    out
}

/// The code of the entries that say which contained resources a resource holds, for
/// `_contained` searches: one token per contained resource, `{slot}|{Type}`
/// (`contained_slot_prefix`).
pub const CONTAINED_SLOTS: &str = "_contained";

/// Most contained resources of one type a resource has indexed in slots; past them it has
/// the marker `_contained` = `more|{Type}` (`CONTAINED_OVERFLOW`). Each slot is every entry
/// of a resource; a 16 MB body of tiny contained resources would otherwise be ~600,000
/// entries.
pub const MAX_CONTAINED_SLOTS: usize = 64;

/// The marker system of a resource holding more than `MAX_CONTAINED_SLOTS` of a type.
pub const CONTAINED_OVERFLOW: &str = "more";

/// The prefix of the entry codes of the `slot`-th contained resource of type `ty` (counted
/// from 0 in the order of `contained`): `_contained0:Medication.code`.
pub fn contained_slot_prefix(slot: usize, ty: &str) -> String {
    format!("{CONTAINED_SLOTS}{slot}:{ty}.")
}

/// The entries of every contained resource, each under its own slot
/// (`contained_slot_prefix`), with its `CONTAINED_SLOTS` marker, up to
/// `MAX_CONTAINED_SLOTS` of a type. A search of contained resources asks all its criteria
/// of one slot at a time, so that two criteria are met by the same contained resource, not
/// by two of one container.
fn contained_slots(inners: &mut Inners<'_>, out: &mut Vec<IndexEntry>) {
    let list = inners.list;
    let mut slots: Vec<(&str, usize)> = Vec::new();
    for (at, inner) in list.iter().enumerate() {
        let Some(ty) =
            str_field(inner, "resourceType").filter(|t| element_types::is_resource_type(t))
        else {
            continue;
        };
        let slot = match slots.iter_mut().find(|(t, _)| *t == ty) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                slots.push((ty, 0));
                0
            }
        };
        let marker = |system: String| IndexEntry {
            param: CONTAINED_SLOTS.to_string(),
            value: IndexValue::Token {
                system: Some(system),
                code: Some(ty.to_string()),
                text: None,
            },
        };
        if slot >= MAX_CONTAINED_SLOTS {
            if slot == MAX_CONTAINED_SLOTS {
                out.push(marker(CONTAINED_OVERFLOW.to_string()));
            }
            continue;
        }
        out.push(marker(slot.to_string()));
        let prefix = contained_slot_prefix(slot, ty);
        out.extend(inners.entries(at, ty).iter().map(|e| IndexEntry {
            param: format!("{prefix}{}", e.param),
            value: e.value.clone(),
        }));
    }
}

/// The entries of each contained resource for its own type's parameters (`inner_entries`),
/// by its place in `contained`, computed when first asked for: the chain entries
/// (`contained`) and the slots (`contained_slots`) read the same ones.
struct Inners<'a> {
    registry: &'a Registry,
    base: &'a str,
    list: &'a [Value],
    done: Vec<Option<Vec<IndexEntry>>>,
}

impl<'a> Inners<'a> {
    fn of(registry: &'a Registry, resource: &'a Value, base: &'a str) -> Self {
        let list = contained_list(resource).map_or(&[][..], Vec::as_slice);
        Inners {
            registry,
            base,
            list,
            done: vec![None; list.len()],
        }
    }

    /// The entries of the contained resource at `at`, of type `ty`.
    fn entries(&mut self, at: usize, ty: &str) -> &[IndexEntry] {
        let (registry, base, inner) = (self.registry, self.base, &self.list[at]);
        self.done[at].get_or_insert_with(|| {
            let id = non_empty(str_field(inner, "id"));
            inner_entries(registry, ty, inner, id.as_deref(), base)
        })
    }
}

/// The resources `resource` contains, when it contains any.
fn contained_list(resource: &Value) -> Option<&Vec<Value>> {
    resource
        .get("contained")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
}

/// A reference to a contained resource met during extraction: the reference parameter's
/// code and the local id (`#id`).
type Local = (String, String);

/// The entries of the contained resources `resource`'s reference parameters point at
/// (`"subject": {"reference": "#p1"}` with a Patient `p1` in `contained`): search.html has a
/// chain evaluated inside contained resources, so `Observation?subject.name=x` finds an
/// Observation whose subject is a contained Patient named x. Each is indexed as the chain
/// reads it: `{parameter}:{Type}.{its parameter}` (`subject:Patient.name`), plus its local
/// id as the token `subject:Patient._id`, and once per parameter the marker
/// (`contained_marker`). The contained resource's own references to other
/// contained resources are not followed, and its words are not indexed. `only`: just the
/// entries of that code (`extract_param`). `locals`: the `#id` references extraction met, by
/// parameter, in order.
fn contained(
    inners: &mut Inners<'_>,
    locals: &[Local],
    only: Option<&str>,
    out: &mut Vec<IndexEntry>,
) {
    let list = inners.list;
    let mut seen: Vec<&Local> = Vec::new();
    let mut marked: Vec<(&str, &str)> = Vec::new();
    for local in locals {
        let (code, id) = (local.0.as_str(), local.1.as_str());
        let wanted = only.is_none_or(|o| {
            o.strip_prefix(code)
                .is_some_and(|rest| rest.starts_with(':'))
        });
        if !wanted || seen.contains(&local) {
            continue;
        }
        seen.push(local);
        let Some(at) = list.iter().position(|c| str_field(c, "id") == Some(id)) else {
            continue;
        };
        let Some(ty) =
            str_field(&list[at], "resourceType").filter(|t| element_types::is_resource_type(t))
        else {
            continue;
        };
        let marker = contained_marker(code);
        if !marked.contains(&(code, ty)) && only.is_none_or(|o| o == marker) {
            marked.push((code, ty));
            out.push(IndexEntry {
                param: marker,
                value: id_token(ty),
            });
        }
        let prefix = format!("{code}:{ty}.");
        out.extend(
            inners
                .entries(at, ty)
                .iter()
                .map(|e| IndexEntry {
                    param: format!("{prefix}{}", e.param),
                    value: e.value.clone(),
                })
                .filter(|e| only.is_none_or(|o| e.param == o || is_identifier_of(&e.param, o))),
        );
    }
}

/// The entries of a resource held inside another (contained, or first in a Bundle) for its
/// own type's parameters, with its `id` as the token `_id`; not its words, which no chain
/// reads and which are most of a document.
fn inner_entries(
    registry: &Registry,
    ty: &str,
    inner: &Value,
    id: Option<&str>,
    base: &str,
) -> Vec<IndexEntry> {
    let mut entries: Vec<IndexEntry> = id
        .map(|id| IndexEntry {
            param: "_id".to_string(),
            value: id_token(id),
        })
        .into_iter()
        .collect();
    let root = Expression::root_item(inner);
    for p in registry.compiled(ty) {
        if matches!(p.values, Values::Path(_)) {
            extract_one(p, inner, &root, base, None, &mut entries);
        }
    }
    entries
}

/// A token of a code alone (an id, a type name).
fn id_token(code: &str) -> IndexValue {
    IndexValue::Token {
        system: None,
        code: Some(code.to_string()),
        text: None,
    }
}

/// The entry that says a resource's reference parameter `param` points at a contained
/// resource (its code the contained resource's type): what a search checks before it also
/// looks for a chain's test inside contained resources (`Criterion::Contained`).
pub fn contained_marker(param: &str) -> String {
    format!("{param}:contained")
}

/// Whether entry code `code` is the `:identifier` entry of reference parameter `of`.
fn is_identifier_of(code: &str, of: &str) -> bool {
    code.strip_prefix(of) == Some(":identifier")
}

/// The entries of a parameter that selects a resource inside `resource` (`Bundle`'s
/// `composition`: its first entry, when that is a Composition): one reference entry under
/// the parameter's own code, `Type/id` (`Type` alone without an id), which `:missing` and
/// `composition=[id]` read; then every entry of the inner resource for its own type's
/// parameters, with the code `{code}.{parameter}`, and its id as the token
/// `{code}._id` (`inner_entries`).
#[allow(clippy::too_many_arguments)]
fn embedded<'a>(
    registry: &Registry,
    param: &Compiled,
    expression: &Expression,
    ty: &str,
    resource: &'a Value,
    root: &TItem<'a>,
    base: &str,
    out: &mut Vec<IndexEntry>,
) {
    let Ok(items) = expression.evaluate_typed(resource, std::slice::from_ref(root)) else {
        return;
    };
    let Some(inner) = items
        .iter()
        .map(|i| i.value.as_ref())
        .find(|v| str_field(v, "resourceType") == Some(ty))
    else {
        return;
    };
    let id = non_empty(str_field(inner, "id"));
    out.push(IndexEntry {
        param: param.code.clone(),
        value: IndexValue::Reference {
            target_type: Some(ty.to_string()),
            url: match &id {
                Some(id) => format!("{ty}/{id}"),
                None => ty.to_string(),
            },
            id: id.clone(),
            version: None,
        },
    });
    out.extend(
        inner_entries(registry, ty, inner, id.as_deref(), base)
            .into_iter()
            .map(|e| IndexEntry {
                param: format!("{}.{}", param.code, e.param),
                value: e.value,
            }),
    );
}

/// The entries of the one parameter `code` (with its `{code}:identifier` entries for a
/// reference parameter), `code` also naming a parameter of a resource held inside
/// (`composition.subject`); empty when the type has no such supported parameter, and for
/// `_id` and `_lastUpdated` (answered from stored columns).
pub fn extract_param(
    registry: &Registry,
    resource_type: &str,
    code: &str,
    resource: &Value,
    base: &str,
) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    let root = Expression::root_item(resource);
    let find = |c: &str| registry.compiled_param(resource_type, c);
    if let Some(param) = find(code) {
        extract_one(param, resource, &root, base, None, &mut out);
    } else if let Some(param) = code.split_once('.').and_then(|(outer, _)| find(outer)) {
        // `composition.subject`: a parameter of the resource held inside.
        if let Values::Embedded(expression, ty) = &param.values {
            let mut all = Vec::new();
            embedded(
                registry, param, expression, ty, resource, &root, base, &mut all,
            );
            out.extend(
                all.into_iter()
                    .filter(|e| e.param == code || is_identifier_of(&e.param, code)),
            );
        }
    } else if let Some(param) = code
        .split_once(':')
        .and_then(|(reference, _)| find(reference))
    {
        // `subject:Patient.organization`: a parameter of a contained resource.
        let mut locals = Vec::new();
        extract_one(
            param,
            resource,
            &root,
            base,
            Some(&mut locals),
            &mut Vec::new(),
        );
        let mut inners = Inners::of(registry, resource, base);
        contained(&mut inners, &locals, Some(code), &mut out);
    }
    out
}

/// `locals`, when given, collects the references to contained resources (`#id`) a
/// reference parameter selects (they give no entry of their own; see `contained`).
fn extract_one<'a>(
    param: &Compiled,
    resource: &'a Value,
    root: &TItem<'a>,
    base: &str,
    mut locals: Option<&mut Vec<Local>>,
    out: &mut Vec<IndexEntry>,
) {
    let expression = match &param.values {
        Values::Path(e) => e,
        // What an inner resource yields is not this parameter's values (see `embedded`).
        Values::Embedded(..) => return,
        Values::Words(source) => {
            let words = text::words(resource, *source)
                .into_iter()
                .map(|w| IndexValue::String {
                    exact: w.clone(),
                    norm: w,
                });
            out.extend(words.map(|value| IndexEntry {
                param: param.code.clone(),
                value,
            }));
            return;
        }
    };
    // An expression that fails on odd data (e.g. `is` over several items) indexes nothing for
    // that parameter rather than failing the write.
    let Ok(items) = expression.evaluate_typed(resource, std::slice::from_ref(root)) else {
        return;
    };
    let mut values = Vec::new();
    let mut identifiers = Vec::new();
    let mut of_types = Vec::new();
    for item in &items {
        if param.kind == ParamType::Token && item.ty == "Identifier" {
            of_type_tokens(&item.value, &mut of_types);
        }
        if let (Some(locals), ParamType::Reference, "Reference") =
            (locals.as_deref_mut(), param.kind, item.ty)
        {
            let id = str_field(&item.value, "reference").and_then(|r| r.trim().strip_prefix('#'));
            if let Some(id) = id.filter(|id| !id.is_empty()) {
                locals.push((param.code.clone(), id.to_string()));
            }
        }
        if param.kind == ParamType::Composite {
            composite(param, resource, item, base, &mut values);
        } else {
            values_of(param.kind, item, base, &mut values, Some(&mut identifiers));
        }
    }
    push_unique(&param.code, values, out);
    if !identifiers.is_empty() {
        push_unique(&format!("{}:identifier", param.code), identifiers, out);
    }
    if !of_types.is_empty() {
        push_unique(&format!("{}:of-type", param.code), of_types, out);
    }
}

/// The entries behind `identifier:of-type=type-system|type-code|value`: one per coding of the
/// identifier's type, system = the coding's system, code = `{type code}|{value}`.
fn of_type_tokens(identifier: &Value, out: &mut Vec<IndexValue>) {
    let Some(value) = non_empty(str_field(identifier, "value")) else {
        return;
    };
    let codings = identifier
        .get("type")
        .and_then(|t| t.get("coding"))
        .and_then(Value::as_array);
    for c in codings.into_iter().flatten() {
        if let Some(code) = non_empty(str_field(c, "code")) {
            out.push(IndexValue::Token {
                system: non_empty(str_field(c, "system")),
                code: Some(format!("{code}|{value}")),
                text: None,
            });
        }
    }
}

fn push_unique(code: &str, mut values: Vec<IndexValue>, out: &mut Vec<IndexEntry>) {
    if values.len() <= 32 {
        let mut i = 0;
        while i < values.len() {
            if values[..i].contains(&values[i]) {
                values.remove(i);
            } else {
                i += 1;
            }
        }
    } else {
        // IndexValue holds f64s and so is not Hash; its Debug text is an exact key.
        let mut seen = HashSet::new();
        values.retain(|v| seen.insert(format!("{v:?}")));
    }
    out.extend(values.into_iter().map(|value| IndexEntry {
        param: code.to_string(),
        value,
    }));
}

/// At most this many combinations per base item of a composite: the product of component
/// values grows multiplicatively (a concept with 1,000 codings and a value concept with 1,000
/// codings would give a million entries), and a write must not be able to demand that.
const MAX_COMBINATIONS: usize = 1024;

/// The cartesian product of the component values evaluated on one base item.
fn composite(
    param: &Compiled,
    resource: &Value,
    item: &TItem<'_>,
    base: &str,
    out: &mut Vec<IndexValue>,
) {
    let mut combos: Vec<Vec<IndexValue>> = vec![vec![]];
    for (kind, expr) in &param.components {
        let Ok(items) = expr.evaluate_typed(resource, std::slice::from_ref(item)) else {
            return;
        };
        let mut vals = Vec::new();
        for part in &items {
            values_of(*kind, part, base, &mut vals, None);
        }
        if vals.is_empty() {
            return;
        }
        let room = MAX_COMBINATIONS / combos.len().max(1);
        vals.truncate(room.max(1));
        combos = combos
            .into_iter()
            .flat_map(|c| {
                vals.iter().map(move |v| {
                    let mut c = c.clone();
                    c.push(v.clone());
                    c
                })
            })
            .collect();
    }
    out.extend(combos.into_iter().map(IndexValue::Composite));
}

/// The values of one selected item for a parameter of type `kind`. Reference identifiers go
/// to `identifiers` when given.
fn values_of(
    kind: ParamType,
    item: &TItem<'_>,
    base: &str,
    out: &mut Vec<IndexValue>,
    identifiers: Option<&mut Vec<IndexValue>>,
) {
    let v: &Value = &item.value;
    match kind {
        ParamType::String => string_values(item.ty, v, out),
        ParamType::Token => token_values(item.ty, v, out),
        ParamType::Date => date_values(item.ty, v, out),
        ParamType::Number => number_values(item.ty, v, out),
        ParamType::Quantity => quantity_values(item.ty, v, out),
        ParamType::Reference => {
            if item.ty == "Reference" {
                if let Some(r) = v.get("reference").and_then(Value::as_str) {
                    out.extend(reference_value(r, base));
                }
                if let (Some(ids), Some(id)) = (identifiers, v.get("identifier")) {
                    ids.extend(identifier_token(id));
                }
            } else if let Some(s) = v.as_str() {
                out.extend(canonical_value(s, base));
            }
        }
        ParamType::Uri => {
            if let Some(s) = v.as_str() {
                out.push(IndexValue::Uri {
                    value: s.to_string(),
                });
            }
        }
        ParamType::Special => out.extend(position_value(v)),
        ParamType::Composite => {}
    }
}

/// A Location.position with both coordinates in range; a position without them, or with an
/// impossible one, cannot be near anything.
fn position_value(v: &Value) -> Option<IndexValue> {
    let lat = v.get("latitude").and_then(Value::as_f64)?;
    let lng = v.get("longitude").and_then(Value::as_f64)?;
    ((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lng))
        .then_some(IndexValue::Position { lat, lng })
}

fn str_field<'v>(v: &'v Value, key: &str) -> Option<&'v str> {
    v.get(key).and_then(Value::as_str)
}

/// The strings of a single or repeating string element.
fn str_list<'v>(v: &'v Value, key: &str) -> impl Iterator<Item = &'v str> {
    let field = v.get(key);
    let single = field.and_then(Value::as_str);
    let many = field.and_then(Value::as_array);
    single
        .into_iter()
        .chain(many.into_iter().flatten().filter_map(Value::as_str))
}

fn string_entry(s: &str) -> IndexValue {
    IndexValue::String {
        norm: normalize_string(s),
        exact: s.to_string(),
    }
}

fn string_values(ty: &str, v: &Value, out: &mut Vec<IndexValue>) {
    let fields: &[&str] = match ty {
        "HumanName" => &["family", "given", "prefix", "suffix", "text"],
        "Address" => &[
            "line",
            "city",
            "district",
            "state",
            "postalCode",
            "country",
            "text",
        ],
        _ => {
            if let Some(s) = v.as_str() {
                out.push(string_entry(s));
            }
            return;
        }
    };
    for f in fields {
        out.extend(str_list(v, f).map(string_entry));
    }
}

fn non_empty(s: Option<&str>) -> Option<String> {
    s.filter(|s| !s.is_empty()).map(str::to_string)
}

fn norm_text(s: Option<&str>) -> Option<String> {
    s.map(normalize_string).filter(|s| !s.is_empty())
}

fn token(system: Option<String>, code: Option<String>, text: Option<String>) -> Option<IndexValue> {
    (system.is_some() || code.is_some() || text.is_some()).then_some(IndexValue::Token {
        system,
        code,
        text,
    })
}

fn identifier_token(id: &Value) -> Option<IndexValue> {
    token(
        non_empty(str_field(id, "system")),
        non_empty(str_field(id, "value")),
        norm_text(id.get("type").and_then(|t| str_field(t, "text"))),
    )
}

fn token_values(ty: &str, v: &Value, out: &mut Vec<IndexValue>) {
    match ty {
        "Coding" => out.extend(token(
            non_empty(str_field(v, "system")),
            non_empty(str_field(v, "code")),
            norm_text(str_field(v, "display")),
        )),
        "CodeableConcept" => {
            // `:text` matches CodeableConcept.text or any Coding.display (search.html), so
            // each coding carries its display and the concept's text is an entry of its own.
            let codings = v.get("coding").and_then(Value::as_array);
            for c in codings.into_iter().flatten() {
                out.extend(token(
                    non_empty(str_field(c, "system")),
                    non_empty(str_field(c, "code")),
                    norm_text(str_field(c, "display")),
                ));
            }
            out.extend(token(None, None, norm_text(str_field(v, "text"))));
        }
        "Identifier" => out.extend(identifier_token(v)),
        "ContactPoint" => out.extend(token(None, non_empty(str_field(v, "value")), None)),
        _ => match v {
            Value::Bool(b) => out.extend(token(None, Some(b.to_string()), None)),
            Value::String(s) => out.extend(token(None, non_empty(Some(s)), None)),
            // An integer used as a token (e.g. a sequence number) matches its text.
            Value::Number(n) => out.extend(token(None, Some(n.to_string()), None)),
            _ => {}
        },
    }
}

fn date_values(ty: &str, v: &Value, out: &mut Vec<IndexValue>) {
    match ty {
        "Period" => out.extend(period(v)),
        "Timing" => {
            for e in str_list(v, "event") {
                out.extend(date_entry(e));
            }
            if let Some(bounds) = v.get("repeat").and_then(|r| r.get("boundsPeriod")) {
                out.extend(period(bounds));
            }
        }
        _ => {
            if let Some(s) = v.as_str() {
                out.extend(date_entry(s));
            }
        }
    }
}

fn date_entry(s: &str) -> Option<IndexValue> {
    date_range(s).map(|(low, high)| IndexValue::Date { low, high })
}

/// A Period's range; a missing (or unreadable) end is open.
fn period(v: &Value) -> Option<IndexValue> {
    let start = str_field(v, "start").and_then(date_range).map(|r| r.0);
    let end = str_field(v, "end").and_then(date_range).map(|r| r.1);
    if start.is_none() && end.is_none() {
        return None;
    }
    Some(IndexValue::Date {
        low: start.unwrap_or(i64::MIN),
        high: end.unwrap_or(i64::MAX),
    })
}

/// A JSON number (or numeric string) with its precision range. serde_json keeps the exact
/// text of numbers in this workspace, so `1.50` keeps its two decimals.
fn number(v: &Value) -> Option<(f64, f64, f64)> {
    match v {
        Value::Number(n) => decimal_range(&n.to_string()),
        Value::String(s) => decimal_range(s),
        _ => None,
    }
}

/// A single value as an interval: the value itself at both ends (the precision of a stored
/// value does not widen what it matches; the search value's does).
fn point(v: &Value) -> Option<(f64, f64, f64)> {
    number(v).map(|(value, _, _)| (value, value, value))
}

/// The bounds of a Range as written (open ends unbounded), with its midpoint.
fn range_bounds(v: &Value) -> Option<(f64, f64, f64, &Value)> {
    let low = v.get("low").filter(|q| q.get("value").is_some());
    let high = v.get("high").filter(|q| q.get("value").is_some());
    let lo = low.and_then(|q| number(&q["value"]));
    let hi = high.and_then(|q| number(&q["value"]));
    let unit_source = low.or(high)?;
    let value = match (lo, hi) {
        (Some(l), Some(h)) => (l.0 + h.0) / 2.0,
        (Some(l), None) => l.0,
        (None, Some(h)) => h.0,
        (None, None) => return None,
    };
    Some((
        value,
        lo.map_or(f64::MIN, |l| l.0),
        hi.map_or(f64::MAX, |h| h.0),
        unit_source,
    ))
}

fn number_values(ty: &str, v: &Value, out: &mut Vec<IndexValue>) {
    let found = if ty == "Range" {
        range_bounds(v).map(|(value, low, high, _)| (value, low, high))
    } else {
        point(v)
    };
    if let Some((value, low, high)) = found {
        out.push(IndexValue::Number { value, low, high });
    }
}

fn quantity_values(ty: &str, v: &Value, out: &mut Vec<IndexValue>) {
    let q = |(value, low, high): (f64, f64, f64), units: &Value| IndexValue::Quantity {
        value,
        low,
        high,
        system: non_empty(str_field(units, "system")),
        code: non_empty(str_field(units, "code")),
        unit: non_empty(str_field(units, "unit")),
    };
    match ty {
        "Quantity" | "Age" | "Count" | "Distance" | "Duration" | "SimpleQuantity"
        | "MoneyQuantity" => {
            if let Some(n) = v.get("value").and_then(point) {
                out.push(q(n, v));
            }
        }
        "Money" => {
            if let Some((value, low, high)) = v.get("value").and_then(point) {
                let currency = non_empty(str_field(v, "currency"));
                out.push(IndexValue::Quantity {
                    value,
                    low,
                    high,
                    system: currency
                        .as_ref()
                        .map(|_| "urn:iso:std:iso:4217".to_string()),
                    code: currency,
                    unit: None,
                });
            }
        }
        "Range" => {
            if let Some((value, low, high, units)) = range_bounds(v) {
                out.push(q((value, low, high), units));
            }
        }
        _ => {
            if let Some(n) = point(v).filter(|_| !v.is_object()) {
                out.push(IndexValue::Quantity {
                    value: n.0,
                    low: n.1,
                    high: n.2,
                    system: None,
                    code: None,
                    unit: None,
                });
            }
        }
    }
}

/// A Reference.reference as an index value; `None` for a contained (`#id`) reference. A
/// relative reference, or an absolute one below `base`, names a local resource: type, id and
/// the relative url `Type/id`. Any other url (another server's, `urn:uuid:`, …) is kept as
/// written, without type and id: it does not name a resource of this server.
fn reference_value(r: &str, base: &str) -> Option<IndexValue> {
    let r = r.trim();
    if r.is_empty() || r.starts_with('#') {
        return None;
    }
    // `…/_history/n` names a version of whatever precedes it, local or not.
    let (target, version) = match r.rsplit_once("/_history/") {
        Some((t, v)) if !v.is_empty() && !v.contains('/') => (t, Some(v.to_string())),
        _ => (r, None),
    };
    let local = if target.contains("://") || target.starts_with("urn:") {
        target
            .strip_prefix(base)
            .and_then(|rest| rest.strip_prefix('/'))
            .filter(|_| !base.is_empty())
    } else {
        Some(target)
    };
    if let Some((ty, id)) = local.and_then(|l| l.split_once('/')) {
        if !id.is_empty() && !id.contains('/') && element_types::is_resource_type(ty) {
            return Some(IndexValue::Reference {
                target_type: Some(ty.to_string()),
                id: Some(id.to_string()),
                url: format!("{ty}/{id}"),
                version,
            });
        }
    }
    Some(IndexValue::Reference {
        target_type: None,
        id: None,
        url: target.to_string(),
        version,
    })
}

/// A canonical (or uri) used as a reference: `url|version`.
fn canonical_value(s: &str, base: &str) -> Option<IndexValue> {
    let (url, version) = match s.split_once('|') {
        Some((u, v)) => (u, Some(v.to_string())),
        None => (s, None),
    };
    match reference_value(url, base)? {
        IndexValue::Reference {
            target_type,
            id,
            url,
            version: history,
        } => Some(IndexValue::Reference {
            target_type,
            id,
            url,
            version: version.or(history),
        }),
        other => Some(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_of_each_shape() {
        let base = "http://s/fhir";
        let local = |id: &str, version: Option<&str>| {
            Some(IndexValue::Reference {
                target_type: Some("Patient".into()),
                id: Some(id.into()),
                url: format!("Patient/{id}"),
                version: version.map(Into::into),
            })
        };
        let foreign = |url: &str, version: Option<&str>| {
            Some(IndexValue::Reference {
                target_type: None,
                id: None,
                url: url.into(),
                version: version.map(Into::into),
            })
        };
        assert_eq!(
            reference_value("Patient/1/_history/2", base),
            local("1", Some("2"))
        );
        // An absolute reference below this server's base is the same resource as Patient/1.
        assert_eq!(
            reference_value("http://s/fhir/Patient/1", base),
            local("1", None)
        );
        assert_eq!(
            reference_value("http://s/fhir/Patient/1/_history/3", base),
            local("1", Some("3"))
        );
        // Another server's Patient/1 is not ours.
        for other in [
            "http://other/fhir/Patient/1",
            "http://s/fhirx/Patient/1",
            "http://s/Patient/1",
        ] {
            assert_eq!(reference_value(other, base), foreign(other, None));
        }
        assert_eq!(reference_value("#c", base), None);
        assert_eq!(
            reference_value("urn:uuid:1234", base),
            foreign("urn:uuid:1234", None)
        );
        assert_eq!(
            canonical_value("http://h/ValueSet/x|2.0", base),
            foreign("http://h/ValueSet/x", Some("2.0"))
        );
        assert_eq!(
            canonical_value("http://s/fhir/Patient/9|2", base),
            local("9", Some("2"))
        );
    }

    #[test]
    fn numbers_keep_their_written_precision() {
        let v: Value = serde_json::from_str("1.50").unwrap();
        let (value, low, high) = number(&v).unwrap();
        assert_eq!(value, 1.5);
        assert!((low - 1.495).abs() < 1e-12 && (high - 1.505).abs() < 1e-12);
        let v: Value = serde_json::from_str("100").unwrap();
        assert_eq!(number(&v), Some((100.0, 99.5, 100.5)));
    }

    #[test]
    fn ranges_and_money() {
        let mut out = Vec::new();
        let range = serde_json::json!({"low": {"value": 2, "unit": "a", "system": "http://unitsofmeasure.org", "code": "a"}, "high": {"value": 8, "unit": "a"}});
        quantity_values("Range", &range, &mut out);
        assert_eq!(
            out[0],
            IndexValue::Quantity {
                value: 5.0,
                low: 2.0,
                high: 8.0,
                system: Some("http://unitsofmeasure.org".into()),
                code: Some("a".into()),
                unit: Some("a".into())
            }
        );
        let open = serde_json::json!({"high": {"value": 8}});
        number_values("Range", &open, &mut out);
        assert_eq!(
            out[1],
            IndexValue::Number {
                value: 8.0,
                low: f64::MIN,
                high: 8.0
            }
        );
    }
}
