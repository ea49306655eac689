//! Search on MongoDB with the attribute pattern (DESIGN.md §3): a current document carries its
//! index entries in one array per kind of value (`xs` strings, `xt` tokens, `xd` dates, `xn`
//! numbers and quantities, `xr` references, `xu` uris), each entry `{p: param, …short typed
//! fields}`, and its per-parameter sort values in `so: {param: {a: ascending, d: descending}}`.
//! Queries use `$elemMatch` on the array of the condition's kind, served by that array's
//! multikey compound index, which starts with `<array>.p`.
//!
//! Entry fields: string `n` (normalised), `e` (exact); token `c` code, `s` system, `tx` text;
//! date `lo`, `hi`; number `v`; quantity `v`, `s`, `c`, `un` (unit); reference `ri` id, `rt`
//! type, `u` url, `rv` version; uri `u`; composite `x: [component entries]` (in `xt`).

use super::mongo_keys::{self, Coverage, KeyMatch};
use super::mongo_windows::{Bound, TimeWindows, Window};
use super::search_common::{
    self as common, date_pred, number_pred, prefix_upper_bound, Field, Key, KeyKind, KeyOp, Op,
    RangePred,
};
use crate::fhir::search::geo;
use crate::fhir::search::params::ParamType;
use crate::fhir::search::query::{
    Cond, Sort, SortKey, SortValue, StoreFilter, StoreQuery, StringMode, SystemMatch, UriMode,
};
use crate::fhir::search::values::normalize_string;
use crate::fhir::search::{IndexEntry, IndexValue};
use mongodb::bson::{doc, Bson, Document, Regex};
use mongodb::IndexModel;

/// The entry arrays of a current document, one per kind of value. A multikey index makes one
/// key per element of the array it covers, so with a single array for every kind each entry
/// was a key in all six indexes (missing fields index as null); with one array per kind an
/// entry is a key in one index only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arr {
    String,
    Token,
    Date,
    Number,
    Reference,
    Uri,
}

const ARRAYS: [Arr; 6] = [
    Arr::String,
    Arr::Token,
    Arr::Date,
    Arr::Number,
    Arr::Reference,
    Arr::Uri,
];

impl Arr {
    fn field(self) -> &'static str {
        match self {
            Arr::String => "xs",
            Arr::Token => "xt",
            Arr::Date => "xd",
            Arr::Number => "xn",
            Arr::Reference => "xr",
            Arr::Uri => "xu",
        }
    }

    /// The entry fields the array's index has after `p`: the range bounds of dates and
    /// numbers. Exact strings, tokens, references and uris are found through the match keys
    /// (`mongo_keys`); what their arrays still answer (`:text`, `:contains`, composites,
    /// versioned references, `:missing`) is bounded by `p` alone. Fewer fields also keep
    /// SecantusDB's index small: it stores the cross product of a compound multikey index's
    /// fields over an array.
    fn key_fields(self) -> &'static [&'static str] {
        match self {
            Arr::Date | Arr::Number => &["lo", "hi"],
            Arr::String | Arr::Token | Arr::Reference | Arr::Uri => &[],
        }
    }

    fn index_keys(self) -> Document {
        let mut d = doc! {format!("{}.p", self.field()): 1};
        for f in self.key_fields() {
            d.insert(format!("{}.{f}", self.field()), 1);
        }
        d
    }

    /// Where the entries of a parameter of this type live. Composites (`{p, x: [parts]}`)
    /// share the token array: no index field covers their parts, so any array's index bounds
    /// them by `p` alone, and a seventh array would cost a seventh index. Positions (`near`,
    /// the one `special` kind indexed) share the number array for the same reason: their
    /// latitude is `lo`/`hi`, so its index serves the latitude band.
    fn of_kind(kind: ParamType) -> Arr {
        match kind {
            ParamType::String => Arr::String,
            ParamType::Token | ParamType::Composite => Arr::Token,
            ParamType::Date => Arr::Date,
            ParamType::Number | ParamType::Quantity | ParamType::Special => Arr::Number,
            ParamType::Reference => Arr::Reference,
            ParamType::Uri => Arr::Uri,
        }
    }

    /// Entries are placed by their value's kind and conditions look them up by theirs; the
    /// two agree because extraction and query parsing both go by the parameter's type
    /// (`{code}:identifier` / `{code}:of-type` entries and conditions are tokens on both sides).
    fn of_value(v: &IndexValue) -> Arr {
        Arr::of_kind(match v {
            IndexValue::String { .. } => ParamType::String,
            IndexValue::Token { .. } => ParamType::Token,
            IndexValue::Date { .. } => ParamType::Date,
            IndexValue::Number { .. } => ParamType::Number,
            IndexValue::Quantity { .. } => ParamType::Quantity,
            IndexValue::Reference { .. } => ParamType::Reference,
            IndexValue::Uri { .. } => ParamType::Uri,
            IndexValue::Composite(_) => ParamType::Composite,
            IndexValue::Position { .. } => ParamType::Special,
        })
    }

    /// The array a condition reads; `None` for conditions on stored columns (`_id`, `t`).
    fn of_cond(cond: &Cond) -> Option<Arr> {
        Some(match cond {
            Cond::String { .. } => Arr::String,
            Cond::Token { .. } | Cond::TokenIn { .. } | Cond::TokenText { .. } => Arr::Token,
            Cond::Composite { .. } => Arr::of_kind(ParamType::Composite),
            Cond::Date { .. } => Arr::Date,
            Cond::Number { .. } | Cond::Quantity { .. } | Cond::Near { .. } => Arr::Number,
            Cond::Reference { .. } | Cond::ReferenceIn { .. } => Arr::Reference,
            Cond::Uri { .. } => Arr::Uri,
            Cond::Missing { kind, .. } => Arr::of_kind(*kind),
            Cond::Id(_) | Cond::LastUpdated { .. } | Cond::IdIn(_) => return None,
        })
    }
}

/// The index of the match keys: `_id` second, so that one key's documents come in the
/// default result order.
fn keys_index() -> Document {
    doc! {mongo_keys::FIELD: 1, "_id": 1}
}

/// The indexes of a current-version collection besides `_id`: one per entry array, the match
/// keys and `{t, _id}`, 8, so 9 in all.
pub fn current_indexes() -> Vec<IndexModel> {
    ARRAYS
        .iter()
        .map(|a| a.index_keys())
        .chain([keys_index(), doc! {"t": 1, "_id": 1}])
        .map(|keys| IndexModel::builder().keys(keys).build())
        .collect()
}

/// The fields a page's documents are read with: the version and its body, and the values the
/// page is ordered by. Named rather than the entry arrays left out: SecantusDB answers a
/// one-match identifier search in ~180 µs of its time instead of ~230 µs.
pub fn page_fields(keys: &[Key], rtype: &str) -> Document {
    let mut fields = doc! {"v": 1, "t": 1, "m": 1, "res": 1, "rz": 1};
    for k in keys {
        if let KeyField::Path(f) = key_field(k, rtype) {
            fields.insert(f, 1);
        }
    }
    fields
}

/// A parameter code as a field name of `so`: field names must not contain `.` or start
/// with `$` (no official code does; custom ones might).
fn so_field(param: &str) -> String {
    let mut s = param.replace('.', "\u{2024}");
    if s.starts_with('$') {
        s.replace_range(0..1, "\u{FF04}");
    }
    s
}

fn set_opt(d: &mut Document, k: &str, v: &Option<String>) {
    if let Some(v) = v {
        d.insert(k, v.as_str());
    }
}

fn value_doc(v: &IndexValue) -> Document {
    let mut d = Document::new();
    match v {
        IndexValue::String { norm, exact } => {
            d.insert("n", norm.as_str());
            d.insert("e", exact.as_str());
        }
        IndexValue::Token { system, code, text } => {
            set_opt(&mut d, "c", code);
            set_opt(&mut d, "s", system);
            set_opt(&mut d, "tx", text);
        }
        IndexValue::Date { low, high } => {
            d.insert("lo", *low);
            d.insert("hi", *high);
        }
        IndexValue::Number { low, high, .. } => {
            d.insert("lo", *low);
            d.insert("hi", *high);
        }
        IndexValue::Quantity {
            low,
            high,
            system,
            code,
            unit,
            ..
        } => {
            d.insert("lo", *low);
            d.insert("hi", *high);
            set_opt(&mut d, "s", system);
            set_opt(&mut d, "c", code);
            set_opt(&mut d, "un", unit);
        }
        IndexValue::Reference {
            target_type,
            id,
            url,
            version,
        } => {
            set_opt(&mut d, "ri", id);
            set_opt(&mut d, "rt", target_type);
            d.insert("u", url.as_str());
            set_opt(&mut d, "rv", version);
        }
        IndexValue::Uri { value } => {
            d.insert("u", value.as_str());
        }
        IndexValue::Position { lat, lng } => {
            let [x, y, z] = geo::unit_vector(*lat, *lng);
            d.insert("lo", *lat);
            d.insert("hi", *lat);
            d.insert("x", x);
            d.insert("y", y);
            d.insert("z", z);
        }
        IndexValue::Composite(parts) => {
            d.insert(
                "x",
                parts
                    .iter()
                    .map(|p| Bson::Document(value_doc(p)))
                    .collect::<Vec<_>>(),
            );
        }
    }
    d
}

fn sort_bson(v: &SortValue) -> Bson {
    match v {
        SortValue::Null => Bson::Null,
        SortValue::Int(i) => Bson::Int64(*i),
        SortValue::Float(f) => Bson::Double(*f),
        SortValue::Text(s) => Bson::String(s.clone()),
    }
}

pub fn sort_value_of(b: Option<&Bson>) -> SortValue {
    match b {
        Some(Bson::Int64(i)) => SortValue::Int(*i),
        Some(Bson::Int32(i)) => SortValue::Int(i64::from(*i)),
        Some(Bson::Double(f)) => SortValue::Float(*f),
        Some(Bson::String(s)) => SortValue::Text(s.clone()),
        _ => SortValue::Null,
    }
}

/// Adds the entry arrays (all six, empty ones too, so that `$set`ting them in a reindex
/// replaces every one), the match keys and `so` to a current-version document.
pub fn add_index_fields(d: &mut Document, entries: &[IndexEntry]) {
    // Indexed by `Arr as usize`, which is the order of `ARRAYS`.
    let mut arrays: [Vec<Bson>; 6] = Default::default();
    for e in entries {
        let mut x = doc! {"p": e.param.as_str()};
        x.extend(value_doc(&e.value));
        arrays[Arr::of_value(&e.value) as usize].push(Bson::Document(x));
    }
    let mut so = Document::new();
    for (param, a, dv) in common::param_sort_values(entries) {
        let mut s = Document::new();
        if a != SortValue::Null {
            s.insert("a", sort_bson(&a));
        }
        if dv != SortValue::Null {
            s.insert("d", sort_bson(&dv));
        }
        so.insert(so_field(&param), s);
    }
    for (a, entries) in ARRAYS.iter().zip(arrays) {
        d.insert(a.field(), entries);
    }
    d.insert(mongo_keys::FIELD, mongo_keys::document_keys(entries));
    d.insert("so", so);
}

/// A filter that may be known to match everything or nothing before it reaches the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Q {
    All,
    Nothing,
    Doc(Document),
}

fn q_and(parts: Vec<Q>) -> Q {
    let mut docs = Vec::new();
    for p in parts {
        match p {
            Q::Nothing => return Q::Nothing,
            Q::All => {}
            Q::Doc(d) => docs.push(d),
        }
    }
    match docs.len() {
        0 => Q::All,
        _ => Q::Doc(and_all(docs)),
    }
}

/// The conjunction of `parts` as one flat `$and` (or the one part; `{}` when none). MongoDB
/// flattens nested `$and`s itself; SecantusDB does not, and a nested one kept it from
/// bounding an index scan by both sides (a `_lastUpdated` window inside a search's `$and`:
/// 240–1,050 ms for an empty window at 51k Observations, 1 ms flat).
pub fn and_all(parts: impl IntoIterator<Item = Document>) -> Document {
    let mut flat = Vec::new();
    for part in parts {
        push_conjuncts(part, &mut flat);
    }
    match flat.len() {
        0 => Document::new(),
        1 => flat.remove(0),
        _ => doc! {"$and": flat},
    }
}

/// The conjuncts of `d` onto `flat`: the parts of an `$and` alone (at any depth), nothing for
/// the match-all `{}`, `d` itself otherwise.
fn push_conjuncts(d: Document, flat: &mut Vec<Document>) {
    if d.is_empty() {
        return;
    }
    if d.len() == 1 {
        if let Ok(parts) = d.get_array("$and") {
            if parts.iter().all(|p| matches!(p, Bson::Document(_))) {
                for p in parts.iter().filter_map(Bson::as_document) {
                    push_conjuncts(p.clone(), flat);
                }
                return;
            }
        }
    }
    flat.push(d);
}

fn q_or(parts: Vec<Q>) -> Q {
    let mut docs = Vec::new();
    for p in parts {
        match p {
            Q::All => return Q::All,
            Q::Nothing => {}
            Q::Doc(d) => docs.push(d),
        }
    }
    match docs.len() {
        0 => Q::Nothing,
        1 => Q::Doc(docs.remove(0)),
        _ => Q::Doc(doc! {"$or": docs}),
    }
}

fn q_not(q: Q) -> Q {
    match q {
        Q::All => Q::Nothing,
        Q::Nothing => Q::All,
        Q::Doc(d) => Q::Doc(doc! {"$nor": [d]}),
    }
}

fn range_q<T: Copy + Into<Bson>>(pred: &RangePred<T>, field: impl Fn(Field) -> String) -> Q {
    q_or(
        pred.iter()
            .map(|conj| {
                // Bounds on one field merge into one operator document.
                let mut d = Document::new();
                for bd in conj {
                    let op = match bd.op {
                        Op::Lt => "$lt",
                        Op::Le => "$lte",
                        Op::Gt => "$gt",
                        Op::Ge => "$gte",
                    };
                    let f = field(bd.field);
                    match d.get_mut(&f) {
                        Some(Bson::Document(ops)) => {
                            ops.insert(op, bd.value.into());
                        }
                        _ => {
                            d.insert(f, doc! {op: bd.value.into()});
                        }
                    }
                }
                if d.is_empty() {
                    Q::All
                } else {
                    Q::Doc(d)
                }
            })
            .collect(),
    )
}

fn prefix_range_ops(prefix: &str) -> Document {
    doc! {"$gte": prefix, "$lt": prefix_upper_bound(prefix)}
}

fn prefix_range(field: &str, prefix: &str) -> Document {
    doc! {field: prefix_range_ops(prefix)}
}

fn escape_regex(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for c in s.chars() {
        if "\\^$.|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The entry field a number or quantity bound applies to.
fn number_field(f: Field) -> String {
    if f == Field::High { "hi" } else { "lo" }.to_string()
}

/// The test of one entry (its fields, without `p`) for a typed condition; `None` for
/// conditions not about one entry.
fn entry_test(cond: &Cond, now: i64) -> Option<Q> {
    Some(match cond {
        Cond::String { mode, value, .. } => Q::Doc(match mode {
            StringMode::StartsWith => prefix_range("n", value),
            StringMode::Contains => doc! {"n": Regex {
                pattern: escape_regex(value),
                options: String::new(),
            }},
            StringMode::Exact => doc! {"n": normalize_string(value), "e": value.as_str()},
            StringMode::Equals => doc! {"n": value.as_str()},
        }),
        Cond::Token { system, code, .. } => {
            let mut d = Document::new();
            if let Some(c) = code {
                d.insert("c", c.as_str());
            }
            match system {
                SystemMatch::Any => {}
                SystemMatch::None => {
                    d.insert("s", Bson::Null);
                }
                SystemMatch::Is(s) => {
                    d.insert("s", s.as_str());
                }
            }
            if d.is_empty() {
                Q::All
            } else {
                Q::Doc(d)
            }
        }
        Cond::TokenIn { codes, .. } => q_or(
            codes
                .iter()
                .map(|(system, codes)| Q::Doc(doc! {"s": system.as_str(), "c": {"$in": codes}}))
                .collect(),
        ),
        Cond::TokenText { text, .. } => Q::Doc(prefix_range("tx", text)),
        Cond::Date {
            prefix, low, high, ..
        } => range_q(&date_pred(*prefix, *low, *high, now), |f| {
            if f == Field::High { "hi" } else { "lo" }.to_string()
        }),
        Cond::Number {
            prefix,
            value,
            low,
            high,
            ..
        } => range_q(&number_pred(*prefix, *value, *low, *high), number_field),
        Cond::Quantity {
            prefix,
            value,
            low,
            high,
            system,
            code,
            ..
        } => {
            let mut parts = vec![range_q(
                &number_pred(*prefix, *value, *low, *high),
                number_field,
            )];
            if let Some(s) = system {
                parts.push(Q::Doc(doc! {"s": s.as_str()}));
            }
            match (code, system) {
                (Some(c), Some(_)) => parts.push(Q::Doc(doc! {"c": c.as_str()})),
                (Some(c), None) => parts.push(Q::Doc(
                    doc! {"$or": [{"c": c.as_str()}, {"un": c.as_str()}]},
                )),
                (None, _) => {}
            }
            q_and(parts)
        }
        Cond::Reference {
            target_type,
            id,
            url,
            version,
            ..
        } => {
            if id.is_none() && url.is_none() {
                return Some(Q::Nothing);
            }
            let mut d = Document::new();
            if let Some(id) = id {
                d.insert("ri", id.as_str());
                if let Some(t) = target_type {
                    d.insert("rt", t.as_str());
                }
            }
            if let Some(u) = url {
                d.insert("u", u.as_str());
            }
            if let Some(v) = version {
                d.insert("rv", v.as_str());
            }
            Q::Doc(d)
        }
        Cond::ReferenceIn { targets, .. } => q_or(
            common::ids_by_type(targets)
                .into_iter()
                .map(|(t, ids)| Q::Doc(doc! {"ri": {"$in": ids}, "rt": t}))
                .collect(),
        ),
        Cond::Uri { mode, value, .. } => Q::Doc(match mode {
            UriMode::Equals => doc! {"u": value.as_str()},
            UriMode::Below => prefix_range("u", value),
            UriMode::Above => doc! {"u": {"$in": common::uri_above_candidates(value)}},
        }),
        Cond::Near { lat, lng, km, .. } => {
            let cap = geo::Cap::new(*lat, *lng, *km);
            Q::Doc(doc! {"lo": {"$gte": cap.lat_low, "$lte": cap.lat_high}})
        }
        Cond::Id(_)
        | Cond::LastUpdated { .. }
        | Cond::Composite { .. }
        | Cond::Missing { .. }
        | Cond::IdIn(_) => return None,
    })
}

/// The exact part of a `near` condition, which no query operator on an entry expresses: some
/// position entry of `param` within the squared chord of the centre (`geo`). What an index
/// reads first is the cap's grid cells in `k` (`mongo_keys::cap_cell_keys`), or without them
/// the latitude band of the number array.
fn near_expr(param: &str, cap: &geo::Cap) -> Q {
    let squared = |field: &str, c: f64| {
        let diff = doc! {"$subtract": [format!("$$e.{field}"), c]};
        doc! {"$multiply": [diff.clone(), diff]}
    };
    let [cx, cy, cz] = cap.centre;
    let chord2 = doc! {"$add": [squared("x", cx), squared("y", cy), squared("z", cz)]};
    let inside = doc! {"$and": [
        {"$eq": ["$$e.p", param]},
        {"$lte": [chord2, cap.max_chord2]},
    ]};
    let each = doc! {"$map": {
        "input": {"$ifNull": [format!("${}", Arr::Number.field()), []]},
        "as": "e",
        "in": inside,
    }};
    Q::Doc(doc! {"$expr": {"$anyElementTrue": [each]}})
}

/// Renames the field paths of a filter (not its operators) under `prefix`.
fn prefix_fields(d: Document, prefix: &str) -> Document {
    d.into_iter()
        .map(|(k, v)| {
            if k.starts_with('$') {
                let v = match v {
                    Bson::Array(items) => Bson::Array(
                        items
                            .into_iter()
                            .map(|i| match i {
                                Bson::Document(d) => Bson::Document(prefix_fields(d, prefix)),
                                other => other,
                            })
                            .collect(),
                    ),
                    other => other,
                };
                (k, v)
            } else {
                (format!("{prefix}{k}"), v)
            }
        })
        .collect()
}

fn elem_match(arr: Arr, param: &str, test: Q) -> Q {
    match test {
        Q::Nothing => Q::Nothing,
        Q::All => Q::Doc(doc! {format!("{}.p", arr.field()): param}),
        Q::Doc(t) => {
            // The same equalities on the dotted paths, which the `$elemMatch` implies: a server
            // that does not derive index bounds from `$elemMatch` (SecantusDB scans the whole
            // index: 509,398 keys for one code at 10k resources, 58 with these) bounds the
            // scan with them; MongoDB gets the same bounds either way.
            let mut outer = doc! {format!("{}.p", arr.field()): param};
            let nested = t.keys().any(|k| k == "p");
            for (k, v) in t.iter().filter(|_| !nested) {
                if !k.starts_with('$') && !matches!(v, Bson::Document(_) | Bson::Array(_)) {
                    outer.insert(format!("{}.{k}", arr.field()), v.clone());
                }
            }
            let mut inner = doc! {"p": param};
            if t.keys().any(|k| k == "p") {
                inner.insert("$and", vec![t]);
            } else {
                inner.extend(t);
            }
            outer.insert(arr.field(), doc! {"$elemMatch": inner});
            Q::Doc(outer)
        }
    }
}

fn part_index(part: &Cond, fallback: usize) -> usize {
    cond_param(part)
        .and_then(|p| p.parse().ok())
        .unwrap_or(fallback)
}

/// The parameter a condition on one entry array tests (not a composite's, nor `:missing`).
fn cond_param(cond: &Cond) -> Option<&str> {
    match cond {
        Cond::Composite { .. } | Cond::Missing { .. } => None,
        other => other.param(),
    }
}

/// Whether only documents with index entries can pass a condition: a deleted resource's
/// document has none.
fn needs_entries(cond: &Cond) -> bool {
    match cond {
        Cond::Missing { missing, .. } => !missing,
        Cond::Composite { .. } => true,
        other => cond_param(other).is_some(),
    }
}

fn cond_q(cond: &Cond, rtype: &str, now: i64) -> Q {
    match cond {
        Cond::Id(ids) => {
            if ids.is_empty() {
                Q::Nothing
            } else {
                Q::Doc(doc! {"_id": {"$in": ids.clone()}})
            }
        }
        Cond::IdIn(pairs) => {
            let ids: Vec<&str> = pairs
                .iter()
                .filter(|(t, _)| t == rtype)
                .map(|(_, id)| id.as_str())
                .collect();
            if ids.is_empty() {
                Q::Nothing
            } else {
                Q::Doc(doc! {"_id": {"$in": ids}})
            }
        }
        Cond::LastUpdated { prefix, low, high } => {
            range_q(&common::instant_pred(*prefix, *low, *high, now), |_| {
                "t".into()
            })
        }
        Cond::Missing {
            param,
            kind,
            missing,
        } => {
            let path = format!("{}.p", Arr::of_kind(*kind).field());
            Q::Doc(if *missing {
                doc! {path: {"$ne": param.as_str()}}
            } else {
                doc! {path: param.as_str()}
            })
        }
        Cond::Composite { param, parts } => {
            let mut tests = Vec::new();
            for (i, part) in parts.iter().enumerate() {
                let Some(t) = entry_test(part, now) else {
                    return Q::Nothing;
                };
                let path = format!("x.{}.", part_index(part, i));
                tests.push(match t {
                    Q::Doc(d) => Q::Doc(prefix_fields(d, &path)),
                    other => other,
                });
            }
            if parts.is_empty() {
                return Q::Nothing;
            }
            elem_match(Arr::of_kind(ParamType::Composite), param, q_and(tests))
        }
        _ => {
            let Some(param) = cond_param(cond) else {
                return Q::Nothing;
            };
            let entry = entry_q(cond, param, now);
            match mongo_keys::cond_match(cond) {
                Some((m, coverage)) => {
                    let marker = marker_of(rtype, param);
                    let keyed = key_q(m, marker.as_deref(), entry.clone());
                    match coverage {
                        Coverage::Exact => keyed,
                        Coverage::Narrows => q_and(vec![keyed, entry]),
                    }
                }
                None => entry,
            }
        }
    }
}

/// A condition tested on the entries of its kind (for `near`, with its exact test).
fn entry_q(cond: &Cond, param: &str, now: i64) -> Q {
    let (Some(arr), Some(t)) = (Arr::of_cond(cond), entry_test(cond, now)) else {
        return Q::Nothing;
    };
    let Cond::Near { lat, lng, km, .. } = cond else {
        return elem_match(arr, param, t);
    };
    let cap = geo::Cap::new(*lat, *lng, *km);
    // With grid cells in `k` to read, the entry test names no indexed path of its own:
    // SecantusDB's `count` would otherwise read the parameter's whole number-index range
    // instead of the cells.
    let band = match (mongo_keys::cap_cell_keys(param, &cap), t) {
        (Some(_), Q::Doc(mut t)) => {
            t.insert("p", param);
            Q::Doc(doc! {arr.field(): {"$elemMatch": t}})
        }
        (_, t) => elem_match(arr, param, t),
    };
    q_and(vec![band, near_expr(param, &cap)])
}

/// The overflow marker documents of `rtype` may carry instead of their keys of `param`;
/// `None` when none can (`mongo_keys::always_keyed`).
fn marker_of(rtype: &str, param: &str) -> Option<String> {
    (!mongo_keys::always_keyed(rtype, param)).then(|| mongo_keys::overflow_marker(param))
}

/// A key match, with the documents that carry the parameter's overflow marker instead of its
/// keys tested by `entry`. The exact form drives the index with `$in` (keys and marker) and
/// filters with an `$or`: a top-level `$or` makes SecantusDB's `count` 50x slower. Without a
/// marker (no document can carry one) the keys decide alone.
fn key_q(m: KeyMatch, marker: Option<&str>, entry: Q) -> Q {
    let f = mongo_keys::FIELD;
    match m {
        KeyMatch::AnyOf(keys) if keys.is_empty() => Q::Nothing,
        KeyMatch::AnyOf(keys) => {
            let keys_bson = || match keys.len() {
                1 => Bson::String(keys[0].clone()),
                _ => Bson::Document(doc! {"$in": keys.clone()}),
            };
            let Some(marker) = marker.filter(|_| entry != Q::Nothing) else {
                return Q::Doc(doc! {f: keys_bson()});
            };
            let mut with_marker = keys.clone();
            with_marker.push(marker.to_string());
            q_and(vec![
                Q::Doc(doc! {f: {"$in": with_marker}}),
                q_or(vec![Q::Doc(doc! {f: keys_bson()}), entry]),
            ])
        }
        // On an array, `{k: {$gte, $lt}}` holds when one key is above the lower bound and
        // another below the upper; the range must hold for one key.
        KeyMatch::Prefix(p) => {
            let keyed = in_prefix_range(&p);
            match marker {
                Some(marker) => q_or(vec![keyed, marked(marker, entry)]),
                None => keyed,
            }
        }
    }
}

/// Documents with a key starting with `prefix`.
fn in_prefix_range(prefix: &str) -> Q {
    Q::Doc(doc! {mongo_keys::FIELD: {"$elemMatch": prefix_range_ops(prefix)}})
}

/// Documents that carry `marker` instead of their keys and whose entries pass `entry`.
fn marked(marker: &str, entry: Q) -> Q {
    q_and(vec![Q::Doc(doc! {mongo_keys::FIELD: marker}), entry])
}

/// Documents of resources that are not deleted. A deleted resource's document has no index
/// fields, so a filter that needs them implies this (`Part::live`).
fn live() -> Q {
    Q::Doc(doc! {"m": {"$ne": "DELETE"}})
}

/// A criterion that one match key decides: the documents with `key`, and the documents that
/// carry `marker` instead of their keys (past the key cap) whose entries pass `entry`.
struct Lead {
    /// One key per ORed value (`code=a,b`), each deciding its value alone.
    keys: Vec<String>,
    /// `None` when no document can carry one.
    marker: Option<String>,
    entry: Q,
    /// The key only narrows the criterion: `entry` decides for keyed documents too.
    narrows: bool,
    /// The key's range may be long (a patient's record, a common code): worth reading in
    /// windows.
    wide: bool,
}

impl Lead {
    /// The lead of a first filter whose values (ORed) are each one key of one parameter.
    fn of(any: &[Cond], rtype: &str, now: i64) -> Option<Lead> {
        let param = cond_param(any.first()?)?;
        let mut keys = Vec::with_capacity(any.len());
        let mut entries = Vec::with_capacity(any.len());
        let mut narrows = false;
        for cond in any {
            let (KeyMatch::AnyOf(k), coverage) = mongo_keys::cond_match(cond)? else {
                return None;
            };
            let ([key], true) = (k.as_slice(), cond_param(cond) == Some(param)) else {
                return None;
            };
            keys.push(key.clone());
            entries.push(entry_q(cond, param, now));
            narrows |= coverage == Coverage::Narrows;
        }
        keys.sort_unstable();
        keys.dedup();
        Some(Lead {
            marker: marker_of(rtype, param),
            entry: q_or(entries),
            narrows,
            wide: any.iter().all(spans_many),
            keys,
        })
    }
}

/// Whether a criterion's key range is likely long: references (a patient's whole record) and
/// codes (every resource with a common code), not identifiers, which name one resource or few.
fn spans_many(cond: &Cond) -> bool {
    match cond {
        Cond::Reference { .. } | Cond::ReferenceIn { .. } => true,
        Cond::Token { param, .. } => !param.ends_with("identifier"),
        _ => false,
    }
}

/// One filter of a query; the first also with its key when one key decides it.
struct Part {
    q: Q,
    lead: Option<Lead>,
    /// The hull keys of a date window: `k` serves the filter.
    window: bool,
    /// Only documents with index entries or keys pass `q`: they are live.
    live: bool,
    /// The first filter's two halves when it is a prefix of a parameter whose documents may
    /// carry its overflow marker (see [`PrefixSplit`]).
    prefix: Option<PrefixLead>,
}

/// A first filter of key prefixes of one parameter (`family=smi`, `url:below=…`) whose
/// documents may carry the parameter's overflow marker instead of its keys: the documents
/// with a key in one of the ranges (`keyed`), and those with the marker whose entries pass
/// (`marked`). A document has a parameter's keys or its marker, never both.
struct PrefixLead {
    keyed: Q,
    marked: Q,
    marker: String,
}

impl PrefixLead {
    fn of(any: &[Cond], rtype: &str, now: i64) -> Option<PrefixLead> {
        let prefix = |c: &Cond| match c {
            Cond::String { mode, .. } => *mode == StringMode::StartsWith,
            Cond::Uri { mode, .. } => *mode == UriMode::Below,
            _ => false,
        };
        if !any.iter().all(prefix) {
            return None;
        }
        let param = cond_param(any.first()?)?;
        let marker = marker_of(rtype, param)?;
        let mut ranges = Vec::with_capacity(any.len());
        let mut entries = Vec::with_capacity(any.len());
        for cond in any {
            if cond_param(cond) != Some(param) {
                return None;
            }
            let (KeyMatch::Prefix(p), coverage) = mongo_keys::cond_match(cond)? else {
                return None;
            };
            let entry = entry_q(cond, param, now);
            if entry == Q::Nothing {
                return None;
            }
            let keyed = in_prefix_range(&p);
            ranges.push(match coverage {
                Coverage::Exact => keyed,
                Coverage::Narrows => q_and(vec![keyed, entry.clone()]),
            });
            entries.push(entry);
        }
        Some(PrefixLead {
            keyed: q_or(ranges),
            marked: marked(&marker, q_or(entries)),
            marker,
        })
    }
}

/// A search whose first filter is a [`PrefixLead`], split at it: a page reads the keyed
/// documents (`keyed`) and, at once, probes for documents with `marker` (as a key look-up,
/// which concurrent searches share: mongo_lookups); only when some exist (almost never) are
/// the marked ones that pass the entry test read (`marked`), and the two pages merge in
/// `_id` order. A count adds up the two halves.
///
/// SecantusDB 0.5.3 answers the one filter with both, an `$or`, by re-testing every fetched
/// document against both branches: `Patient?family=…` on the 100k benchmark store, 600
/// searches through pymongo, server CPU per search, median of five rounds: the `$or` 267 µs,
/// the keyed half alone 167 µs, an `$or` of the range and the bare marker 267 µs; a probe of
/// the marker (`{k: marker}`) 88 µs, and the marked half with its entry test 200 µs.
#[derive(Clone)]
pub struct PrefixSplit {
    pub keyed: Document,
    pub marked: Document,
    pub marker: String,
}

impl PrefixSplit {
    /// The probe for marked documents, as a key look-up of the marker (its filter alone,
    /// and its key for a batch): alone, `{k: marker}` is one index point, where the marked
    /// half's own filter cost SecantusDB 200 µs.
    pub fn probe(&self) -> (Document, KeyLookup) {
        (
            doc! {mongo_keys::FIELD: self.marker.as_str()},
            KeyLookup {
                keys: vec![self.marker.clone()],
                marker: None,
            },
        )
    }
}

/// A query's filters on one type's collection, built once for the whole filter and for its
/// split at the leading key.
pub struct Filters(Vec<Part>);

/// The filters of a query on one type's collection, in the order the server should use them.
///
/// A patient reference and a token criterion become one pair key, and the filters are put in
/// order of likely narrowness: SecantusDB drives from the first indexed predicate (MongoDB
/// races the candidate plans, so the order costs it nothing) and reads the whole index range
/// of that predicate, however few documents the page needs.
///
/// With `hulls` (every document of the collection carries its date hull keys), a window that
/// positive date filters bound on both sides adds the hull keys it may hit (an implied
/// criterion, placed before the dates and the broad ones).
pub fn filters(query: &StoreQuery, rtype: &str, now: i64, hulls: bool) -> Filters {
    fn single(f: &StoreFilter) -> Option<&Cond> {
        (!f.negate && f.any.len() == 1).then(|| &f.any[0])
    }
    let patient = query.filters.iter().enumerate().find_map(|(i, f)| {
        single(f)
            .and_then(mongo_keys::pairable_patient)
            .map(|p| (i, p))
    });
    let mut parts = Vec::new();
    let mut paired = None;
    let mut rest: Vec<(usize, &StoreFilter)> = Vec::new();
    for (i, f) in query.filters.iter().enumerate() {
        if let (Some((pi, p)), Some(c)) = (patient, single(f)) {
            if let Some(keys) = mongo_keys::pair_keys(p, c) {
                let both = q_and(vec![
                    cond_q(&query.filters[pi].any[0], rtype, now),
                    cond_q(c, rtype, now),
                ]);
                let marker = mongo_keys::pair_marker();
                let lead = (parts.is_empty() && keys.len() == 1).then(|| Lead {
                    keys: keys.clone(),
                    marker: Some(marker.clone()),
                    entry: both.clone(),
                    narrows: false,
                    wide: true,
                });
                parts.push(Part {
                    q: key_q(KeyMatch::AnyOf(keys), Some(&marker), both),
                    lead,
                    window: false,
                    live: true,
                    prefix: None,
                });
                paired = Some(pi);
                continue;
            }
        }
        rest.push((i, f));
    }
    rest.retain(|(i, _)| Some(*i) != paired);
    rest.sort_by_key(|(_, f)| narrowness(f));
    let windows: Vec<Q> = if hulls {
        common::date_windows(&query.filters, now, true)
            .iter()
            .filter_map(|w| mongo_keys::window_keys(&w.param, w.from, w.to))
            .map(|keys| Q::Doc(doc! {mongo_keys::FIELD: {"$in": keys}}))
            .collect()
    } else {
        Vec::new()
    };
    let mut windows = Some(windows);
    for (_, f) in rest {
        if narrowness(f) >= WINDOW_NARROWNESS {
            for q in windows.take().into_iter().flatten() {
                parts.push(Part {
                    q,
                    lead: None,
                    window: true,
                    live: true,
                    prefix: None,
                });
            }
        }
        let any = q_or(f.any.iter().map(|c| cond_q(c, rtype, now)).collect());
        // Only the first filter can lead.
        let first = parts.is_empty() && !f.negate;
        let lead = first.then(|| Lead::of(&f.any, rtype, now)).flatten();
        let prefix = first.then(|| PrefixLead::of(&f.any, rtype, now)).flatten();
        parts.push(Part {
            q: if f.negate { q_not(any) } else { any },
            lead,
            window: false,
            live: !f.negate && !f.any.is_empty() && f.any.iter().all(needs_entries),
            prefix,
        });
    }
    Filters(parts)
}

/// Where a date window goes among the filters: after every kind that keys serve and before
/// tokens without a code, dates and `:missing` (a window always follows from date filters,
/// so it is never last).
const WINDOW_NARROWNESS: u8 = 6;

/// A query whose first filter one key per value decides, split in two: the documents with a
/// key (`{k: key}` or `{k: {$in: keys}}`, and `rest`), and the few that carry the
/// parameter's marker instead (`marker`, `Nothing` when none can match): a document has the
/// keys of a parameter or its marker, never both, so the two parts add up. `extra` is added
/// to both (a page's keyset condition).
pub struct LeadSplit {
    keys: Vec<String>,
    rest: Option<Document>,
    pub marker: Q,
    /// The parameter's overflow marker, when a document may carry one.
    marker_key: Option<String>,
    /// The key's range may be long (see [`Lead`]).
    pub wide: bool,
}

impl Filters {
    /// The index serving the first positive single-condition filter, for a sort that would
    /// otherwise be answered by a walk of the whole collection on some planners; none when
    /// the match keys serve a filter (see [`first_index`]).
    pub fn index_hint(&self, query: &StoreQuery) -> Option<Document> {
        if self.0.iter().any(|p| p.window) {
            return None;
        }
        first_index(query)
    }

    /// Live documents matching every filter. A filter that needs index entries makes the
    /// test of liveness redundant (it costs SecantusDB ~30 µs a query).
    pub fn all(&self) -> Q {
        self.with_first(None, Q::All)
    }

    /// [`Filters::all`] with the first filter's test replaced by `first`, and `extra`.
    fn with_first(&self, first: Option<&Q>, extra: Q) -> Q {
        let implied = self.0.iter().any(|p| p.live);
        let tests = self.0.iter().enumerate().map(|(i, p)| match (i, first) {
            (0, Some(q)) => q.clone(),
            _ => p.q.clone(),
        });
        q_and(
            (!implied)
                .then(live)
                .into_iter()
                .chain(tests)
                .chain([extra])
                .collect(),
        )
    }

    /// The query split at its leading prefix, when its first filter is one (see
    /// [`PrefixSplit`]); `extra` is added to both halves (a page's keyset condition).
    pub fn prefix_split(&self, extra: Q) -> Option<PrefixSplit> {
        let lead = self.0.first()?.prefix.as_ref()?;
        let half = |q: &Q| match self.with_first(Some(q), extra.clone()) {
            Q::Doc(d) => Some(d),
            Q::All | Q::Nothing => None,
        };
        Some(PrefixSplit {
            keyed: half(&lead.keyed)?,
            marked: half(&lead.marked)?,
            marker: lead.marker.clone(),
        })
    }

    /// The query split at its leading key, when its first filter has one.
    pub fn lead_split(&self, extra: Q) -> Option<LeadSplit> {
        let (first, others) = self.0.split_first()?;
        let lead = first.lead.as_ref()?;
        let others = others.iter().map(|p| p.q.clone());
        let mut rest = Vec::new();
        if lead.narrows {
            rest.push(lead.entry.clone());
        }
        rest.extend(others.clone());
        rest.push(extra.clone());
        let marker = match &lead.marker {
            Some(m) => {
                let mut all = vec![
                    Q::Doc(doc! {mongo_keys::FIELD: m.as_str()}),
                    lead.entry.clone(),
                ];
                all.extend(others);
                all.push(extra);
                q_and(all)
            }
            None => Q::Nothing,
        };
        let rest = match q_and(rest) {
            Q::Nothing => return None,
            Q::All => None,
            Q::Doc(d) => Some(d),
        };
        Some(LeadSplit {
            keys: lead.keys.clone(),
            rest,
            marker,
            marker_key: lead.marker.clone(),
            wide: lead.wide,
        })
    }
}

impl LeadSplit {
    /// The documents with the key inside an `_id` window, passing the rest, for a read in
    /// ascending or `descending` `_id` order.
    ///
    /// SecantusDB enters the `{k, _id}` range at the key's start in the scan's direction and
    /// stops at the far `_id` bound if the key's predicate carries it; a near bound never
    /// moves the start. So the far bound goes with the key, and both bounds also stand on
    /// their own: with the near bound next to the far one the far one is ignored (a window
    /// of a patient's 357 Encounters: 6.4 ms, 2.0 ms split), and without the far bound
    /// repeated, another array's test makes it read the key's whole range (a patient's
    /// 3,615 Observations with a date test: 36 ms, 2.5 ms repeated).
    pub fn keyed(&self, window: Option<&Window>, descending: bool) -> Document {
        let key_with = |key: &str, bound: Option<&Document>| {
            let mut one = doc! {mongo_keys::FIELD: key};
            one.extend(bound.cloned().unwrap_or_default());
            one
        };
        let mut parts = vec![match self.keys.as_slice() {
            [key] => key_with(key, None),
            keys => doc! {mongo_keys::FIELD: {"$in": keys}},
        }];
        let bound = |b: &Bound, above: bool| {
            let op = match (above, b.inclusive) {
                (true, true) => "$gte",
                (true, false) => "$gt",
                (false, true) => "$lte",
                (false, false) => "$lt",
            };
            doc! {"_id": {op: b.id.as_str()}}
        };
        if let Some(w) = window {
            let (near, far) = if descending {
                (
                    w.high.as_ref().map(|b| bound(b, false)),
                    w.low.as_ref().map(|b| bound(b, true)),
                )
            } else {
                (
                    w.low.as_ref().map(|b| bound(b, true)),
                    w.high.as_ref().map(|b| bound(b, false)),
                )
            };
            if let Some(f) = &far {
                parts[0] = match self.keys.as_slice() {
                    [key] => key_with(key, Some(f)),
                    // SecantusDB takes no `_id` bound with an `$in` of keys (it read two
                    // codes' 6,542 keys for a window of 6 in 80 ms), but does with each key
                    // of an `$or` (3 ms).
                    keys => {
                        doc! {"$or": keys.iter().map(|k| key_with(k, Some(f))).collect::<Vec<_>>()}
                    }
                };
                if self.rest.is_some() {
                    parts.push(f.clone());
                }
            }
            parts.extend(near);
        }
        parts.extend(self.rest.iter().cloned());
        and_all(parts)
    }
}

/// How narrow a filter likely is (lower first), by its condition's kind.
fn narrowness(f: &StoreFilter) -> u8 {
    match f.any.as_slice() {
        [c] if !f.negate => common::narrowness(c),
        _ => u8::MAX,
    }
}

/// The document field a key reads, or the key's constant value in this collection.
enum KeyField {
    Path(String),
    Const(SortValue),
}

fn key_field(k: &Key, rtype: &str) -> KeyField {
    match &k.kind {
        KeyKind::Id => KeyField::Path("_id".into()),
        KeyKind::LastUpdated => KeyField::Path("t".into()),
        KeyKind::ResourceType => KeyField::Const(SortValue::Text(rtype.to_string())),
        KeyKind::Param { param, descending } => KeyField::Path(sort_field(param, *descending)),
    }
}

/// The field of a parameter's sort value: each resource's smallest value for an ascending
/// sort, its largest for a descending one.
fn sort_field(param: &str, descending: bool) -> String {
    format!(
        "so.{}.{}",
        so_field(param),
        if descending { "d" } else { "a" }
    )
}

/// The index that gives the order of `_sort=param` (or `-param`): the sort value, then `_id`
/// ascending (the tiebreak, docs/search.md); walked backward for a previous page.
pub fn sort_index_keys(param: &str, descending: bool) -> Document {
    doc! {sort_field(param, descending): if descending { -1 } else { 1 }, "_id": 1}
}

/// The sort index a search could walk: one parameter sort and no positive filter (with one,
/// the filter's matches are sorted instead: they may be few, and a planner that walks the
/// order while filtering may read the whole collection for them).
fn sort_index_for(query: &StoreQuery) -> Option<Document> {
    match query.sort.as_slice() {
        [Sort {
            key: SortKey::Param { param, .. },
            descending,
        }] if unfiltered(query) => Some(sort_index_keys(param, *descending)),
        _ => None,
    }
}

/// Whether two index key patterns name the same fields in the same order and directions (a
/// server lists `1` as an int, a long or a double).
fn same_pattern(a: &Document, b: &Document) -> bool {
    let sign = |v: &Bson| match v {
        Bson::Int32(i) => i.signum() as f64,
        Bson::Int64(i) => i.signum() as f64,
        Bson::Double(f) => f.signum(),
        _ => f64::NAN,
    };
    a.len() == b.len()
        && a.iter()
            .zip(b.iter())
            .all(|((fa, va), (fb, vb))| fa == fb && sign(va) == sign(vb))
}

/// Whether a search may walk a sort index (so the collection's indexes are worth listing).
pub fn wants_sort_index(query: &StoreQuery) -> bool {
    sort_index_for(query).is_some()
}

fn keyset_q(keys: &[Key], after: &[SortValue], rtype: &str) -> Q {
    q_or(
        common::keyset_after(keys, after)
            .into_iter()
            .map(|conj| {
                q_and(
                    conj.into_iter()
                        .map(|(i, op)| match key_field(&keys[i], rtype) {
                            KeyField::Const(v) => {
                                if common::key_op_holds(&op, &v) {
                                    Q::All
                                } else {
                                    Q::Nothing
                                }
                            }
                            KeyField::Path(f) => Q::Doc(match op {
                                KeyOp::IsNull => doc! {f: Bson::Null},
                                KeyOp::NotNull => doc! {f: {"$ne": Bson::Null}},
                                KeyOp::Eq(v) => doc! {f: sort_bson(&v)},
                                KeyOp::Gt(v) => doc! {f: {"$gt": sort_bson(&v)}},
                                KeyOp::Lt(v) => doc! {f: {"$lt": sort_bson(&v)}},
                            }),
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

/// How a search reads one type's collection: a filter, an order and a limit, and how an order
/// no index gives is read.
pub struct SearchPlan {
    pub filter: Document,
    pub sort: Document,
    pub limit: i64,
    /// The projection of the page's documents ([`page_fields`]).
    pub fields: Document,
    /// The index for a read in an order no index gives (see [`Filters::index_hint`]), or the
    /// sort index an unfiltered parameter sort walks.
    pub sort_hint: Option<Document>,
    /// Set when the page is read in `_id` windows (mongo_windows) instead of with `filter`.
    pub windowed: Option<Windowed>,
    /// Set when the order is by a parameter's sort value (or `_lastUpdated` against the
    /// `_id` direction): no index gives it.
    pub unindexed: Option<Unindexed>,
    /// Set when the page is one key's first documents in `_id` order, which can be read
    /// together with other such pages (mongo_lookups).
    pub lookup: Option<KeyLookup>,
    /// Set when the page, in ascending `_id` order, is read as the two halves of a leading
    /// prefix.
    pub prefix: Option<PrefixSplit>,
}

/// A first page in `_id` order that one key per ORed value decides alone, with no other
/// filter, and whose key names few documents (an identifier, not a reference or a code).
#[derive(Clone)]
pub struct KeyLookup {
    pub keys: Vec<String>,
    /// The parameter's overflow marker, when a document may carry one.
    pub marker: Option<String>,
}

impl KeyLookup {
    /// What a batch with this search asks `k` for: its keys and its marker.
    pub fn wanted(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().chain(&self.marker).map(String::as_str)
    }
}

/// How a page in an order no index gives is read.
///
/// A filtered search has the server sort its matches and keep the page's first `limit` (a
/// top-k sort on MongoDB, which holds only those; SecantusDB holds its candidates for any
/// query). Absent sort values come last in either direction here, where MongoDB puts them
/// first in ascending order: with one key that may be absent, its values and its absences are
/// read by two sorted queries, the second only when the first leaves the page short (a
/// patient's 3,538 Observations by date on SecantusDB: 65 ms, where an aggregation computing a
/// flag to sort on took 180 ms and reading every match's sort values 200 ms).
///
/// An unfiltered search ordered by one parameter that has a sort index (mongo_sort_indexes)
/// is read like a filtered one, from that index. Another unfiltered search, or one ordered by
/// several keys that may be absent, is a sweep.
pub enum Unindexed {
    /// One sorted query: no key can be absent.
    Sorted,
    /// The first key's values, then its absences (the reverse when they come first).
    Split {
        field: String,
        nulls_first: bool,
        /// The order of the documents without a value: the keys after the first.
        nulls_sort: Document,
    },
    Sweep(Sweep),
}

/// A sweep reads the sort values of every match (a projection of a few small fields), keeps
/// the page's first `limit` in this process and then reads their documents by id. No server
/// is asked to sort a whole collection: SecantusDB holds every document a query reads (it was
/// killed sorting 533k Observations), so an unfiltered sweep reads `_id` windows.
pub struct Sweep {
    /// The projection of the sort fields.
    pub fields: Document,
    /// No positive filter bounds the read: it goes through the whole collection in `_id`
    /// windows (mongo_windows::Sweep).
    pub whole: bool,
}

impl Unindexed {
    /// The sorted queries of a page (filter, order), in the page's order; none for a sweep.
    pub fn parts(&self, plan: &SearchPlan) -> Vec<(Document, Document)> {
        match self {
            Unindexed::Sorted => vec![(plan.filter.clone(), plan.sort.clone())],
            Unindexed::Split {
                field,
                nulls_first,
                nulls_sort,
            } => {
                let with = |cond: Bson| and_doc(&plan.filter, doc! {field.as_str(): cond});
                let values = (with(doc! {"$ne": Bson::Null}.into()), plan.sort.clone());
                let nulls = (with(Bson::Null), nulls_sort.clone());
                if *nulls_first {
                    vec![nulls, values]
                } else {
                    vec![values, nulls]
                }
            }
            Unindexed::Sweep(_) => Vec::new(),
        }
    }
}

/// A page in `_id` order read window by window: of one wide key's range (plus the documents
/// that carry the key's marker, in one query of their own), or of the whole collection when
/// no filter narrows the search.
pub struct Windowed {
    pub over: Over,
    pub descending: bool,
    /// The cursor's id in this collection, where the page starts.
    pub after: Option<String>,
}

/// What a windowed read reads in each window.
pub enum Over {
    Key(LeadSplit),
    /// The whole filter (liveness, negated filters, the keyset), cut by each window.
    Collection(Document),
}

impl Windowed {
    /// The windows of a page of `need`; a keyed read's first window is `first` buckets when
    /// given (mongo_windows::FirstWindows), 1/64 of the id space when not.
    pub fn windows(&self, need: usize, first: Option<u32>) -> super::mongo_windows::Windows {
        use super::mongo_windows::Windows;
        let after = self.after.as_deref();
        match (&self.over, first) {
            (Over::Key(_), Some(first)) => Windows::keyed(self.descending, after, need, first),
            (Over::Key(_), None) => Windows::new(self.descending, after, need),
            (Over::Collection(_), _) => Windows::whole(self.descending, after, need),
        }
    }

    /// What a keyed read of `collection` learns its first window by: the collection, the
    /// leading key's tag and parameter (`rt|subject`) and how many keys are ORed. Only for a
    /// key that decides alone: with
    /// other filters (`subject=…&date=ge…`) a window reads every document of the key's
    /// range in it but holds only those that pass, so a wider first window read more for
    /// the same page (100k, the benchmark's date kind: 3–15 % fewer searches a second).
    pub fn shape(&self, collection: &str) -> Option<String> {
        let Over::Key(split) = &self.over else {
            return None;
        };
        if split.rest.is_some() {
            return None;
        }
        let group = mongo_keys::tag_and_param(split.keys.first()?);
        Some(format!("{collection} {group} {}", split.keys.len()))
    }

    /// The query of one window.
    pub fn filter_in(&self, window: Option<&Window>) -> Document {
        match &self.over {
            Over::Key(split) => split.keyed(window, self.descending),
            Over::Collection(filter) => in_window(filter, window),
        }
    }

    /// The query of the marker documents, when there is one.
    pub fn marker(&self) -> Option<&Document> {
        match &self.over {
            Over::Key(LeadSplit {
                marker: Q::Doc(m), ..
            }) => Some(m),
            _ => None,
        }
    }
}

/// `filter` cut to an `_id` window.
pub fn in_window(filter: &Document, window: Option<&Window>) -> Document {
    let mut range = Document::new();
    if let Some(b) = window.and_then(|w| w.low.as_ref()) {
        range.insert(if b.inclusive { "$gte" } else { "$gt" }, b.id.as_str());
    }
    if let Some(b) = window.and_then(|w| w.high.as_ref()) {
        range.insert(if b.inclusive { "$lte" } else { "$lt" }, b.id.as_str());
    }
    if range.is_empty() {
        filter.clone()
    } else {
        and_doc(filter, doc! {"_id": range})
    }
}

/// `filter` and one more condition (the condition alone when the filter is empty).
fn and_doc(filter: &Document, cond: Document) -> Document {
    and_all([filter.clone(), cond])
}

impl SearchPlan {
    /// The commands of the plan on `collection` (for explain): one `find`, a windowed read's
    /// first window and its marker query, or a sweep's (first) read.
    pub fn commands(&self, collection: &str) -> Vec<Document> {
        let find = |filter: Document| {
            doc! {
                "find": collection,
                "filter": filter,
                "sort": self.sort.clone(),
                "limit": self.limit,
                "projection": self.fields.clone(),
            }
        };
        // A key look-up in the form of a batch of such look-ups (mongo_lookups).
        let batch = |l: &KeyLookup| {
            let wanted: Vec<&str> = l.wanted().collect();
            let (filter, fields) = super::mongo_lookups::batch_read(&wanted, &self.fields);
            let mut batch = find(filter);
            batch.insert("projection", fields);
            batch.insert("limit", self.limit.saturating_mul(2));
            batch
        };
        if let Some(w) = &self.windowed {
            let first = w.windows(self.limit as usize, None).next(0);
            let mut out = vec![find(w.filter_in(first.as_ref()))];
            out.extend(w.marker().cloned().map(find));
            out
        } else if let Some(Unindexed::Sweep(s)) = &self.unindexed {
            let filter = if s.whole {
                let first = super::mongo_windows::Sweep::new(SWEEP_WINDOW).next(0);
                in_window(&self.filter, first.as_ref())
            } else {
                self.filter.clone()
            };
            let mut cmd =
                doc! {"find": collection, "filter": filter, "projection": s.fields.clone()};
            if let Some(h) = &self.sort_hint {
                cmd.insert("hint", h.clone());
            }
            vec![cmd]
        } else if let Some(u) = &self.unindexed {
            u.parts(self)
                .into_iter()
                .map(|(filter, sort)| {
                    let mut cmd = find(filter);
                    cmd.insert("sort", sort);
                    if let Some(h) = &self.sort_hint {
                        cmd.insert("hint", h.clone());
                    }
                    cmd
                })
                .collect()
        } else if let Some(l) = &self.lookup {
            // Alone, and in the form of a batch of such searches (mongo_lookups).
            vec![find(self.filter.clone()), batch(l)]
        } else if let Some(p) = &self.prefix {
            let (alone, probe) = p.probe();
            vec![
                find(p.keyed.clone()),
                find(alone),
                batch(&probe),
                find(p.marked.clone()),
            ]
        } else {
            vec![find(self.filter.clone())]
        }
    }
}

/// About how many matches one window of a whole-collection sweep should hold.
pub const SWEEP_WINDOW: usize = 20_000;

/// The plan of a search on one type's collection, or `None` when nothing can match. Sorts on
/// `_id` / `t` alone stay index-backed.
pub fn plan(
    query: &StoreQuery,
    keys: &[Key],
    rtype: &str,
    now: i64,
    hulls: bool,
    indexes: &[Document],
) -> Option<SearchPlan> {
    let filters = filters(query, rtype, now, hulls);
    let keyset = match &query.after {
        Some(c) => keyset_q(keys, &common::cursor_tuple(c), rtype),
        None => Q::All,
    };
    let filter = match q_and(vec![filters.all(), keyset.clone()]) {
        Q::Nothing => return None,
        Q::All => Document::new(),
        Q::Doc(d) => d,
    };
    let mut sort = Document::new();
    let mut nulls_sort = Document::new();
    let mut fields = doc! {"_id": 1};
    for (i, k) in keys.iter().enumerate() {
        let KeyField::Path(f) = key_field(k, rtype) else {
            continue;
        };
        fields.insert(f.clone(), 1);
        let dir = if k.descending { -1 } else { 1 };
        if i > 0 && !nulls_sort.contains_key(&f) {
            nulls_sort.insert(f.clone(), dir);
        }
        if !sort.contains_key(&f) {
            sort.insert(f, dir);
        }
    }
    let lookup = key_lookup(query, keys, &filters);
    let prefix = ascending_id_order(query, keys)
        .then(|| filters.prefix_split(keyset.clone()))
        .flatten();
    let windowed = windowed(query, keys, rtype, &filters, keyset, &filter);
    let nullable: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].nullable()).collect();
    let sort_index =
        sort_index_for(query).filter(|ix| indexes.iter().any(|have| same_pattern(have, ix)));
    let unindexed = (!index_ordered(keys)).then(|| {
        // Walking a sort index, the values then the absences (each range in the index's
        // order) are read like a filtered search's.
        let whole = unfiltered(query) && sort_index.is_none();
        let first = keys.first().map(|k| (key_field(k, rtype), k.nulls_first));
        match (whole, nullable.as_slice(), first) {
            (false, [], _) => Unindexed::Sorted,
            (false, [0], Some((KeyField::Path(field), nulls_first))) => Unindexed::Split {
                field,
                nulls_first,
                nulls_sort,
            },
            _ => Unindexed::Sweep(Sweep { fields, whole }),
        }
    });
    Some(SearchPlan {
        filter,
        sort,
        limit: i64::try_from(query.limit).unwrap_or(i64::MAX),
        fields: page_fields(keys, rtype),
        sort_hint: sort_index.or_else(|| filters.index_hint(query)),
        windowed,
        unindexed,
        lookup,
        prefix,
    })
}

/// A page of the default order (`_id`; the type is constant within a collection), forward.
fn ascending_id_order(query: &StoreQuery, keys: &[Key]) -> bool {
    query.sort.is_empty()
        && query.limit > 0
        && keys
            .iter()
            .all(|k| !k.descending && matches!(k.kind, KeyKind::Id | KeyKind::ResourceType))
}

/// The page as a key look-up, when it is one (see [`KeyLookup`]).
fn key_lookup(query: &StoreQuery, keys: &[Key], filters: &Filters) -> Option<KeyLookup> {
    if !ascending_id_order(query, keys) || query.after.is_some() {
        return None;
    }
    let split = filters.lead_split(Q::All)?;
    (split.rest.is_none() && !split.wide).then_some(KeyLookup {
        keys: split.keys,
        marker: split.marker_key,
    })
}

/// No positive filter narrows the search (none at all, or only negated ones).
/// The `_lastUpdated` windows of a page in `_lastUpdated` order that no positive filter but
/// `_lastUpdated` narrows (`mongo_windows::TimeWindows`); `None` for an ascending first page,
/// which has no edge to start from.
pub fn time_windows(query: &StoreQuery, keys: &[Key], now: i64) -> Option<TimeWindows> {
    let first = keys
        .first()
        .filter(|k| matches!(k.kind, KeyKind::LastUpdated))?;
    let narrowed = query
        .filters
        .iter()
        .any(|f| !f.negate && f.any.iter().any(|c| !matches!(c, Cond::LastUpdated { .. })));
    if narrowed {
        return None;
    }
    let edge = match &query.after {
        Some(cursor) => match cursor.values.first()? {
            SortValue::Int(t) => *t,
            _ => return None,
        },
        None if first.descending => now,
        None => return None,
    };
    Some(TimeWindows::new(edge, first.descending))
}

fn unfiltered(query: &StoreQuery) -> bool {
    query.filters.iter().all(|f| f.negate || f.any.is_empty())
}

/// The windowed read of a page, when it pays: the order is `_id` alone and the first filter
/// is one key whose range may be long, or no positive filter narrows the search at all
/// (SecantusDB reads the whole `_id` range of a query whatever its limit: the first page of
/// 533k Observations ran past 60 s and grew the server past 8 GB).
fn windowed(
    query: &StoreQuery,
    keys: &[Key],
    rtype: &str,
    filters: &Filters,
    keyset: Q,
    filter: &Document,
) -> Option<Windowed> {
    if !query.sort.is_empty() || query.limit == 0 {
        return None;
    }
    let id_key = keys.iter().find(|k| matches!(k.kind, KeyKind::Id))?;
    let over = match filters.lead_split(keyset).filter(|s| s.wide) {
        Some(split) => Over::Key(split),
        None if unfiltered(query) => Over::Collection(filter.clone()),
        None => return None,
    };
    Some(Windowed {
        over,
        descending: id_key.descending,
        after: query
            .after
            .as_ref()
            .filter(|c| c.resource_type == rtype)
            .map(|c| c.id.clone()),
    })
}

/// Whether an index of every current-version collection gives the order of `keys`, so that
/// the server never sorts the matches in memory: the default `_id` order, or `_lastUpdated`
/// then `_id` in one direction (`{t: 1, _id: 1}`, walked either way). The type key is
/// constant within a collection.
pub fn index_ordered(keys: &[Key]) -> bool {
    let mut kinds: Vec<(&KeyKind, bool)> = keys
        .iter()
        .filter(|k| k.kind != KeyKind::ResourceType)
        .map(|k| (&k.kind, k.descending))
        .collect();
    kinds.dedup_by(|b, a| a.0 == b.0 && *a.0 == KeyKind::Id);
    match kinds.as_slice() {
        [(KeyKind::Id, _)] => true,
        [(KeyKind::LastUpdated, t), (KeyKind::Id, id)] => t == id,
        _ => false,
    }
}

/// The index serving the query's first positive single-condition filter: the hint of a
/// search ordered by a parameter's sort value (no index provides that order, and a planner that
/// must sort anyway may settle for a collection scan; the `<array>.p` prefix of the hinted
/// index always bounds the scan). None when a filter is answered by match keys: every
/// planner serves an equality or range on `k` from its index unasked, and a hint makes
/// SecantusDB read the whole index (a count of 58 matches: 0.7 ms unhinted, 160 ms hinted;
/// a month's Observations at 100k by their date hull keys: 3.3 s hinted to the date index).
/// Counts are never hinted (`MongoStore::count_command`).
fn first_index(query: &StoreQuery) -> Option<Document> {
    let single = || {
        query
            .filters
            .iter()
            .filter(|f| !f.negate && f.any.len() == 1)
    };
    if single().any(|f| mongo_keys::cond_match(&f.any[0]).is_some()) {
        return None;
    }
    single().find_map(|f| index_for(&f.any[0]))
}

fn index_for(cond: &Cond) -> Option<Document> {
    match cond {
        Cond::Id(_) | Cond::IdIn(_) => Some(doc! {"_id": 1}),
        Cond::LastUpdated { .. } => Some(doc! {"t": 1, "_id": 1}),
        // Absence is not in any index.
        Cond::Missing { missing: true, .. } => None,
        _ => Arr::of_cond(cond).map(Arr::index_keys),
    }
}

/// The sort values of a result document, in the order of the query's own sort keys.
pub fn match_sort_values(d: &Document, keys: &[Key], n: usize, rtype: &str) -> Vec<SortValue> {
    keys.iter()
        .take(n)
        .map(|k| match key_field(k, rtype) {
            KeyField::Const(v) => v,
            KeyField::Path(p) => {
                let mut cur: Option<&Bson> = None;
                let mut doc = Some(d);
                for part in p.split('.') {
                    cur = doc.and_then(|x| x.get(part));
                    doc = match cur {
                        Some(Bson::Document(inner)) => Some(inner),
                        _ => None,
                    };
                }
                sort_value_of(cur)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conjunctions_are_one_flat_and() {
        let window = doc! {"t": {"$gte": 5}};
        let search = doc! {"$and": [{"m": {"$ne": "DELETE"}}, {"t": {"$gt": 1}}]};
        assert_eq!(
            and_all([search.clone(), window.clone()]),
            doc! {"$and": [{"m": {"$ne": "DELETE"}}, {"t": {"$gt": 1}}, {"t": {"$gte": 5}}]}
        );
        // Nested two deep, and match-all parts left out.
        let deeper = doc! {"$and": [{"k": "a"}, search.clone()]};
        assert_eq!(
            and_all([deeper, Document::new(), window.clone()]),
            doc! {"$and": [{"k": "a"}, {"m": {"$ne": "DELETE"}}, {"t": {"$gt": 1}}, {"t": {"$gte": 5}}]}
        );
        assert_eq!(and_all([Document::new(), window.clone()]), window);
        assert_eq!(and_all(Vec::new()), Document::new());
        // An `$and` beside other fields, or an `$or`, is a part of its own.
        let mixed = doc! {"$and": [{"a": 1}], "b": 2};
        let or = doc! {"$or": [{"a": 1}, {"b": 2}]};
        assert_eq!(
            and_all([mixed.clone(), or.clone()]),
            doc! {"$and": [mixed, or]}
        );
    }

    #[test]
    fn a_leading_prefix_splits_where_documents_may_carry_the_marker() {
        let starts = |rt: &str, param: &str| StoreQuery {
            resource_types: vec![rt.into()],
            filters: vec![StoreFilter {
                any: vec![Cond::String {
                    param: param.into(),
                    mode: StringMode::StartsWith,
                    value: "smi".into(),
                }],
                negate: false,
            }],
            sort: Vec::new(),
            after: None,
            limit: 10,
        };
        // A Patient may have any number of names: its family keys can give way to the marker.
        let split = filters(&starts("Patient", "family"), "Patient", 0, false)
            .prefix_split(Q::All)
            .expect("a split");
        assert_eq!(split.marker, mongo_keys::overflow_marker("family"));
        assert_eq!(
            split.keyed,
            doc! {mongo_keys::FIELD: {"$elemMatch": prefix_range_ops("sn|family|smi")}}
        );
        let marked = split
            .marked
            .get_array("$and")
            .expect("marker and entry test");
        assert_eq!(
            marked[0],
            Bson::Document(doc! {mongo_keys::FIELD: split.marker.as_str()})
        );
        // A page's keyset condition goes to both halves.
        let after = doc! {"_id": {"$gt": "x"}};
        let split = filters(&starts("Patient", "family"), "Patient", 0, false)
            .prefix_split(Q::Doc(after.clone()))
            .expect("a split");
        for half in [&split.keyed, &split.marked] {
            let parts = half.get_array("$and").expect("a conjunction");
            assert_eq!(parts.last(), Some(&Bson::Document(after.clone())));
        }
        // Negated, the filter cannot lead.
        let mut negated = starts("Patient", "family");
        negated.filters[0].negate = true;
        assert!(filters(&negated, "Patient", 0, false)
            .prefix_split(Q::All)
            .is_none());
    }

    #[test]
    fn composite_parts_are_paths_into_one_entry() {
        let d = prefix_fields(doc! {"c": "x", "$or": [{"v": 1}]}, "x.0.");
        assert_eq!(d, doc! {"x.0.c": "x", "$or": [{"x.0.v": 1}]});
    }

    #[test]
    fn each_entry_lands_in_the_array_of_its_kind_only() {
        assert!(ARRAYS.iter().enumerate().all(|(i, a)| *a as usize == i));
        let entry = |param: &str, value| IndexEntry {
            param: param.into(),
            value,
        };
        let token = IndexValue::Token {
            system: Some("s".into()),
            code: Some("c".into()),
            text: None,
        };
        let mut d = Document::new();
        add_index_fields(
            &mut d,
            &[
                entry("gender", token.clone()),
                entry("birthdate", IndexValue::Date { low: 1, high: 2 }),
                entry(
                    "combo",
                    IndexValue::Composite(vec![token, IndexValue::Date { low: 1, high: 2 }]),
                ),
            ],
        );
        let len = |f: &str| d.get_array(f).unwrap().len();
        assert_eq!(ARRAYS.map(|a| len(a.field())), [0, 2, 1, 0, 0, 0], "{d}");
        assert_eq!(
            d.get_array("xt").unwrap()[1],
            Bson::Document(
                doc! {"p": "combo", "x": [{"c": "c", "s": "s"}, {"lo": 1_i64, "hi": 2_i64}]}
            )
        );
        // Every index starts with the `p` of its own array.
        for (a, keys) in ARRAYS.iter().zip(current_indexes()) {
            assert_eq!(
                keys.keys.keys().next().unwrap(),
                &format!("{}.p", a.field())
            );
        }
    }

    #[test]
    fn known_empty_branches_fold_away() {
        assert_eq!(q_or(vec![Q::Nothing, Q::Nothing]), Q::Nothing);
        assert_eq!(
            q_and(vec![Q::All, Q::Doc(doc! {"a": 1})]),
            Q::Doc(doc! {"a": 1})
        );
        assert_eq!(q_not(Q::Nothing), Q::All);
    }

    /// Identifier-like first pages in the default order with no other filter are look-ups;
    /// codes, second filters, later pages and other orders are not.
    #[test]
    fn only_first_pages_of_a_key_that_names_few_documents_are_look_ups() {
        let token = |param: &str, code: &str| Cond::Token {
            param: param.into(),
            system: SystemMatch::Is("http://acme.org/mrn".into()),
            code: Some(code.into()),
        };
        let search = |filters: Vec<Vec<Cond>>| StoreQuery {
            resource_types: vec!["Patient".into()],
            filters: filters
                .into_iter()
                .map(|any| StoreFilter { any, negate: false })
                .collect(),
            sort: Vec::new(),
            after: None,
            limit: 20,
        };
        let keys = common::order_keys(&[], false);
        let lookup = |q: &StoreQuery| plan(q, &keys, "Patient", 0, true, &[]).unwrap().lookup;
        let one = search(vec![vec![token("identifier", "7")]]);
        let l = lookup(&one).expect("an identifier is a look-up");
        assert_eq!(l.keys.len(), 1);
        assert_eq!(l.marker.as_deref(), Some("~|identifier"));
        let ored = search(vec![vec![
            token("identifier", "7"),
            token("identifier", "8"),
        ]]);
        assert_eq!(lookup(&ored).expect("ORed identifiers").keys.len(), 2);
        // A code may name most of a collection; a second filter decides with the key.
        assert!(lookup(&search(vec![vec![token("gender", "female")]])).is_none());
        let two = search(vec![
            vec![token("identifier", "7")],
            vec![token("gender", "female")],
        ]);
        assert!(lookup(&two).is_none());
        // A later page, or another order.
        let mut later = one.clone();
        later.after = Some(crate::fhir::search::query::Cursor {
            values: Vec::new(),
            resource_type: "Patient".into(),
            id: "5".into(),
            backward: false,
        });
        assert!(lookup(&later).is_none());
        let mut sorted = one.clone();
        sorted.sort = vec![crate::fhir::search::query::Sort {
            key: crate::fhir::search::query::SortKey::LastUpdated,
            descending: true,
        }];
        let sorted_keys = common::order_keys(&sorted.sort, false);
        assert!(plan(&sorted, &sorted_keys, "Patient", 0, true, &[])
            .unwrap()
            .lookup
            .is_none());
    }

    /// A parameter no document can carry the overflow marker of (one subject per Encounter)
    /// is read without the marker query and tested by its keys alone; a code (many codings
    /// per resource) keeps both.
    #[test]
    fn bounded_parameters_have_no_marker_query() {
        let search = |rt: &str, cond: Cond| StoreQuery {
            resource_types: vec![rt.into()],
            filters: vec![StoreFilter {
                any: vec![cond],
                negate: false,
            }],
            sort: Vec::new(),
            after: None,
            limit: 20,
        };
        let keys = common::order_keys(&[], false);
        let subject = search(
            "Encounter",
            Cond::Reference {
                param: "subject".into(),
                target_type: Some("Patient".into()),
                id: Some("1".into()),
                url: None,
                version: None,
            },
        );
        let plan_of = |q: &StoreQuery, rt: &str| plan(q, &keys, rt, 0, true, &[]).unwrap();
        let commands = plan_of(&subject, "Encounter").commands("c");
        assert_eq!(commands.len(), 1, "{commands:?}");
        assert!(!format!("{commands:?}").contains("~|"), "{commands:?}");
        let code = search(
            "Observation",
            Cond::Token {
                param: "code".into(),
                system: SystemMatch::Is("http://loinc.org".into()),
                code: Some("1-8".into()),
            },
        );
        let commands = plan_of(&code, "Observation").commands("c");
        assert_eq!(commands.len(), 2, "{commands:?}");
        assert!(
            format!("{:?}", commands[1]).contains("~|code"),
            "{commands:?}"
        );
    }

    /// A two-sided date search puts the window's hull keys before its date filters and asks
    /// for no index by hint (a hint to the date index made SecantusDB count a month of 100k
    /// Observations in 3.3 s instead of 9 ms); without hull keys a sorted read hints the date
    /// index.
    #[test]
    fn date_windows_lead_unhinted_when_the_collection_has_hull_keys() {
        use crate::fhir::search::query::Prefix;
        let day = |prefix, low: i64| Cond::Date {
            param: "date".into(),
            prefix,
            low,
            high: low + 86_399_999_999,
        };
        let query = StoreQuery {
            resource_types: vec!["Observation".into()],
            filters: vec![
                StoreFilter {
                    any: vec![day(Prefix::Ge, 0)],
                    negate: false,
                },
                StoreFilter {
                    any: vec![day(Prefix::Lt, 86_400_000_000)],
                    negate: false,
                },
            ],
            sort: Vec::new(),
            after: None,
            limit: 20,
        };
        let with = plan(&query, &[], "Observation", 0, true, &[]).unwrap();
        assert_eq!(with.sort_hint, None);
        let text = format!("{}", with.filter);
        let window = text.find("dw|date|").expect("hull keys asked for");
        assert!(window < text.find("xd").unwrap(), "{text}");
        let without = plan(&query, &[], "Observation", 0, false, &[]).unwrap();
        assert_eq!(without.sort_hint, Some(Arr::Date.index_keys()));
        assert!(!format!("{}", without.filter).contains("dw|"));
    }

    /// An unfiltered sort by a parameter walks the collection's sort index when it has one
    /// (however the server spells the key pattern's numbers), and is swept otherwise; with a
    /// filter it stays a sort of the filter's matches.
    #[test]
    fn unfiltered_parameter_sorts_walk_a_sort_index_when_there_is_one() {
        let by = |descending: bool, filters: Vec<StoreFilter>| StoreQuery {
            resource_types: vec!["Observation".into()],
            filters,
            sort: vec![Sort {
                key: SortKey::Param {
                    param: "date".into(),
                    kind: ParamType::Date,
                },
                descending,
            }],
            after: None,
            limit: 20,
        };
        let listed = [
            doc! {"_id": 1},
            doc! {"so.date.d": -1.0, "_id": 1i64},
            doc! {"so.date.a": 1i64, "_id": 1.0},
        ];
        for descending in [true, false] {
            let q = by(descending, Vec::new());
            let keys = common::order_keys(&q.sort, false);
            let walked = plan(&q, &keys, "Observation", 0, true, &listed).unwrap();
            assert_eq!(walked.sort_hint, Some(sort_index_keys("date", descending)));
            assert!(matches!(walked.unindexed, Some(Unindexed::Split { .. })));
            let swept = plan(&q, &keys, "Observation", 0, true, &listed[..1]).unwrap();
            assert!(matches!(swept.unindexed, Some(Unindexed::Sweep(_))));
        }
        let coded = StoreFilter {
            any: vec![Cond::Token {
                param: "code".into(),
                system: SystemMatch::Any,
                code: Some("x".into()),
            }],
            negate: false,
        };
        let q = by(true, vec![coded]);
        let keys = common::order_keys(&q.sort, false);
        let filtered = plan(&q, &keys, "Observation", 0, true, &listed).unwrap();
        assert_ne!(filtered.sort_hint, Some(sort_index_keys("date", true)));
    }

    /// The liveness test goes where no filter needs index entries (a deleted resource's
    /// document has none): `_id`, `:missing=true` and negated filters alone keep it.
    #[test]
    fn liveness_is_tested_only_where_no_filter_implies_it() {
        let family = Cond::String {
            param: "family".into(),
            mode: crate::fhir::search::query::StringMode::StartsWith,
            value: "smi".into(),
        };
        let missing = Cond::Missing {
            param: "birthdate".into(),
            kind: ParamType::Date,
            missing: true,
        };
        let tests_liveness = |filters: Vec<(Cond, bool)>| {
            let query = StoreQuery {
                resource_types: vec!["Patient".into()],
                filters: filters
                    .into_iter()
                    .map(|(c, negate)| StoreFilter {
                        any: vec![c],
                        negate,
                    })
                    .collect(),
                sort: Vec::new(),
                after: None,
                limit: 20,
            };
            let filter = plan(&query, &[], "Patient", 0, true, &[]).unwrap().filter;
            format!("{filter}").contains("DELETE")
        };
        assert!(!tests_liveness(vec![(family.clone(), false)]));
        assert!(!tests_liveness(vec![
            (Cond::Id(vec!["a".into()]), false),
            (family.clone(), false)
        ]));
        assert!(tests_liveness(vec![(family.clone(), true)]));
        assert!(tests_liveness(vec![(Cond::Id(vec!["a".into()]), false)]));
        assert!(tests_liveness(vec![(missing.clone(), false)]));
        assert!(!tests_liveness(vec![(missing, false), (family, false)]));
        assert!(tests_liveness(vec![]));
    }
}
