//! What the SQLite and MongoDB search backends share: the prefix rules of dates and numbers as
//! data (each backend only spells them in its own query language), keyset-paging conditions,
//! the sort values of a resource computed from its index entries at write time, and the
//! comparison that merges per-type result lists.

use crate::fhir::search::extract;
use crate::fhir::search::query::{
    Cond, Cursor, Prefix, Sort, SortKey, SortValue, StoreFilter, SystemMatch,
};
use crate::fhir::search::{IndexEntry, IndexValue};
use std::cmp::Ordering;
use std::time::Duration;

/// Longest one database read of a search (a page, a count, one query of a listing) may run
/// before the database stops it and the search is refused with `too-costly`, so that a broad
/// search cannot hold the database for minutes.
pub const SEARCH_MAX_TIME: Duration = Duration::from_secs(60);

/// The refusal of a search read stopped at its time limit.
pub fn ran_too_long() -> super::StoreError {
    super::StoreError::TooCostly(
        "this search ran past the time limit of one database read; add criteria to narrow it"
            .into(),
    )
}

/// A column of a range entry a bound applies to: a date's or number's `low`/`high`, an
/// instant's one `value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Low,
    High,
    Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bound<T> {
    pub field: Field,
    pub op: Op,
    pub value: T,
}

/// A disjunction of conjunctions of bounds: an empty outer list matches nothing, an empty
/// inner list matches every entry.
pub type RangePred<T> = Vec<Vec<Bound<T>>>;

fn b<T>(field: Field, op: Op, value: T) -> Bound<T> {
    Bound { field, op, value }
}

/// search.html "Prefixes", for a search range [low, high] against an entry range: eq = the
/// search range contains the entry; gt/lt = the range above/below the search value overlaps
/// the entry; ge/le = gt/lt or eq; sa/eb = the entry starts after / ends before the search
/// range; ap = the ranges overlap once the search range is widened by 10 % of its gap to `now`.
pub fn date_pred(prefix: Prefix, low: i64, high: i64, now: i64) -> RangePred<i64> {
    use Field::{High, Low};
    // `low <= high` is implied (an entry's low never passes its high) but bounds the index
    // range of starts on both sides: without it an eq search reads every later start.
    let eq = vec![
        b(Low, Op::Ge, low),
        b(High, Op::Le, high),
        b(Low, Op::Le, high),
    ];
    match prefix {
        Prefix::Eq => vec![eq],
        Prefix::Ne => vec![vec![b(Low, Op::Lt, low)], vec![b(High, Op::Gt, high)]],
        Prefix::Gt => vec![vec![b(High, Op::Gt, high)]],
        Prefix::Lt => vec![vec![b(Low, Op::Lt, low)]],
        Prefix::Ge => vec![vec![b(High, Op::Gt, high)], eq],
        Prefix::Le => vec![vec![b(Low, Op::Lt, low)], eq],
        Prefix::Sa => vec![vec![b(Low, Op::Gt, high)]],
        Prefix::Eb => vec![vec![b(High, Op::Lt, low)]],
        Prefix::Ap => {
            let gap = if now < low {
                low.saturating_sub(now)
            } else if now > high {
                now.saturating_sub(high)
            } else {
                0
            };
            let widen = gap / 10;
            vec![vec![
                b(Low, Op::Le, high.saturating_add(widen)),
                b(High, Op::Ge, low.saturating_sub(widen)),
            ]]
        }
    }
}

/// A bound on the hull of a resource's values of one date parameter (its earliest start `a`
/// and latest end `d`, kept per resource as the parameter's sort values) that every resource
/// matching some positive filters has: `d >= from` and `a <= to`.
///
/// `date=geX&date=ltY` is two filters, and a resource with several values may satisfy each
/// through a different one, so no single value need lie between X and Y; each filter alone
/// matches most of the data (everything after X, everything before Y). The hull of every
/// match overlaps [X, Y] whichever values satisfied the filters: that window is narrow, and
/// an index of hulls by width serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateWindow {
    pub param: String,
    pub from: i64,
    pub to: i64,
}

/// The windows the positive date filters of a search give, one per parameter bounded on
/// both sides by several filters together, or by an `ap` filter (a window itself). One `eq`
/// filter gives one only with `single`: its matches start inside the search range, one range
/// of an index of starts where the database bounds a range inside an entry (SQLite; not
/// SecantusDB, which reads an `$elemMatch`'s whole parameter).
pub fn date_windows(filters: &[StoreFilter], now: i64, single: bool) -> Vec<DateWindow> {
    struct Bounds {
        param: String,
        from: Option<i64>,
        to: Option<i64>,
        filters: usize,
        approximate: bool,
    }
    let mut out: Vec<Bounds> = Vec::new();
    for f in filters.iter().filter(|f| !f.negate && !f.any.is_empty()) {
        let Some((param, from, to)) = filter_hull_bounds(f, now) else {
            continue;
        };
        let approximate = f.any.iter().any(|c| {
            matches!(
                c,
                Cond::Date {
                    prefix: Prefix::Ap,
                    ..
                }
            )
        });
        match out.iter_mut().find(|b| b.param == param) {
            Some(b) => {
                b.from = b.from.max(from);
                if let Some(t) = to {
                    b.to = min_some(b.to, t);
                }
                b.filters += 1;
                b.approximate |= approximate;
            }
            None => out.push(Bounds {
                param,
                from,
                to,
                filters: 1,
                approximate,
            }),
        }
    }
    out.into_iter()
        .filter(|b| single || b.filters > 1 || b.approximate)
        .filter_map(|b| {
            Some(DateWindow {
                param: b.param,
                from: b.from?,
                to: b.to?,
            })
        })
        .collect()
}

fn min_some(a: Option<i64>, b: i64) -> Option<i64> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// The hull bounds of one filter whose conditions are all dates of one parameter: the
/// loosest over its ORed conditions (a condition without a bound leaves the filter without).
fn filter_hull_bounds(f: &StoreFilter, now: i64) -> Option<(String, Option<i64>, Option<i64>)> {
    let mut param: Option<&str> = None;
    let (mut from, mut to) = (Some(i64::MAX), Some(i64::MIN));
    for c in &f.any {
        let Cond::Date {
            param: p,
            prefix,
            low,
            high,
        } = c
        else {
            return None;
        };
        if param.is_some_and(|q| q != p) {
            return None;
        }
        param = Some(p);
        let (a, b) = pred_hull_bounds(&date_pred(*prefix, *low, *high, now));
        from = from.zip(a).map(|(x, y)| x.min(y));
        to = to.zip(b).map(|(x, y)| x.max(y));
    }
    Some((param?.to_string(), from, to))
}

/// `(from, to)` for one prefix's predicate on an entry's `low`/`high`: any entry satisfying it
/// has `high >= from` and `low <= to`, so its resource's hull has `d >= from`, `a <= to`.
fn pred_hull_bounds(pred: &RangePred<i64>) -> (Option<i64>, Option<i64>) {
    if pred.is_empty() {
        return (None, None);
    }
    let (mut from, mut to) = (Some(i64::MAX), Some(i64::MIN));
    for conj in pred {
        let (mut f, mut t): (Option<i64>, Option<i64>) = (None, None);
        for bd in conj {
            // low <= high, so a lower bound on either end bounds `high` from below and an
            // upper bound on either end bounds `low` from above.
            match bd.op {
                Op::Gt => f = f.max(Some(bd.value.saturating_add(1))),
                Op::Ge => f = f.max(Some(bd.value)),
                Op::Lt => t = min_some(t, bd.value.saturating_sub(1)),
                Op::Le => t = min_some(t, bd.value),
            }
        }
        from = from.zip(f).map(|(x, y)| x.min(y));
        to = to.zip(t).map(|(x, y)| x.max(y));
    }
    (from, to)
}

/// The date prefixes for an entry that is one instant (the stored `_lastUpdated`): the same
/// rules as [`date_pred`] with low = high, folded so that each prefix is one range an index
/// can seek (ge = gt or contained = at or after the search range's start).
pub fn instant_pred(prefix: Prefix, low: i64, high: i64, now: i64) -> RangePred<i64> {
    use Field::Value as V;
    match prefix {
        Prefix::Eq => vec![vec![b(V, Op::Ge, low), b(V, Op::Le, high)]],
        Prefix::Ne => vec![vec![b(V, Op::Lt, low)], vec![b(V, Op::Gt, high)]],
        Prefix::Gt | Prefix::Sa => vec![vec![b(V, Op::Gt, high)]],
        Prefix::Lt | Prefix::Eb => vec![vec![b(V, Op::Lt, low)]],
        Prefix::Ge => vec![vec![b(V, Op::Ge, low)]],
        Prefix::Le => vec![vec![b(V, Op::Le, high)]],
        Prefix::Ap => date_pred(prefix, low, high, now)
            .into_iter()
            .map(|c| c.into_iter().map(|x| b(V, x.op, x.value)).collect())
            .collect(),
    }
}

/// Number and quantity prefixes (search.html "Prefixes"), for the search value's precision
/// range [low, high] against an entry's interval (a single value's is one point): eq = the
/// search range contains the entry; gt/lt = the entry reaches above/below the search value;
/// ge/le likewise or equal; sa/eb = the entry lies wholly above/below it; ap = the entry
/// overlaps the value ± 10 %. For single values these are the plain comparisons.
pub fn number_pred(prefix: Prefix, value: f64, low: f64, high: f64) -> RangePred<f64> {
    use Field::{High, Low};
    match prefix {
        // As for dates, `low <= high` bounds the index range of lows.
        Prefix::Eq => vec![vec![
            b(Low, Op::Ge, low),
            b(High, Op::Le, high),
            b(Low, Op::Le, high),
        ]],
        Prefix::Ne => vec![vec![b(Low, Op::Lt, low)], vec![b(High, Op::Gt, high)]],
        Prefix::Gt => vec![vec![b(High, Op::Gt, value)]],
        Prefix::Sa => vec![vec![b(Low, Op::Gt, value)]],
        Prefix::Lt => vec![vec![b(Low, Op::Lt, value)]],
        Prefix::Eb => vec![vec![b(High, Op::Lt, value)]],
        Prefix::Ge => vec![vec![b(High, Op::Ge, value)]],
        Prefix::Le => vec![vec![b(Low, Op::Le, value)]],
        Prefix::Ap => {
            let (a, z) = (value * 0.9, value * 1.1);
            vec![vec![b(Low, Op::Le, a.max(z)), b(High, Op::Ge, a.min(z))]]
        }
    }
}

/// The exclusive upper bound of the strings that start with `prefix`. U+10FFFF is a
/// noncharacter, so no real value continues past it.
pub fn prefix_upper_bound(prefix: &str) -> String {
    let mut s = String::with_capacity(prefix.len() + 4);
    s.push_str(prefix);
    s.push(char::MAX);
    s
}

/// The stored uris `:above` matches: the search uri and every prefix of it that ends before a
/// `/` of its path (search.html: "the stored uri is a parent of the search uri").
pub fn uri_above_candidates(uri: &str) -> Vec<String> {
    let path_start = uri.find("://").map(|i| i + 3).unwrap_or(0);
    let mut out = vec![uri.to_string()];
    let trimmed = uri.trim_end_matches('/');
    if trimmed.len() != uri.len() && !trimmed.is_empty() {
        out.push(trimmed.to_string());
    }
    for (i, c) in trimmed.char_indices() {
        if c == '/' && i > path_start {
            out.push(trimmed[..i].to_string());
            out.push(trimmed[..=i].to_string());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// (type, id) pairs grouped by type, types in order, so a store can test `type = T AND id IN
/// (…)` per type instead of one alternative per pair.
/// The types of the resources contained in a resource whose index entries these are, each
/// with how many of that type it holds (from its `_contained` slot markers; one more than
/// `extract::MAX_CONTAINED_SLOTS` when it holds more than it indexes): what a store records
/// for `Store::containers_of`.
pub fn contained_types(index: &[IndexEntry]) -> Vec<(&str, usize)> {
    let mut out: Vec<(&str, usize)> = Vec::new();
    for e in index {
        if e.param != extract::CONTAINED_SLOTS {
            continue;
        }
        let IndexValue::Token {
            system: Some(slot),
            code: Some(ty),
            ..
        } = &e.value
        else {
            continue;
        };
        // Past the slots a resource indexes, one more than they: what a search warns about.
        let most = match slot.parse::<usize>() {
            Ok(slot) => slot + 1,
            Err(_) if slot == extract::CONTAINED_OVERFLOW => extract::MAX_CONTAINED_SLOTS + 1,
            Err(_) => continue,
        };
        match out.iter_mut().find(|(t, _)| *t == ty) {
            Some((_, n)) => *n = (*n).max(most),
            None => out.push((ty, most)),
        }
    }
    out
}

pub fn ids_by_type(pairs: &[(String, String)]) -> Vec<(String, Vec<String>)> {
    let mut map: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    for (t, id) in pairs {
        map.entry(t.as_str()).or_default().push(id.clone());
    }
    map.into_iter()
        .map(|(t, ids)| (t.to_string(), ids))
        .collect()
}

/// The name a component of a composite parameter is indexed under. `$` never appears in a
/// search parameter code, so these cannot collide with real parameters.
pub fn composite_part_param(param: &str, index: usize) -> String {
    format!("{param}${index}")
}

/// The sort value of one entry for ascending and for descending order: a date or a number
/// range sorts by its low end ascending and its high end descending; other kinds by their
/// one value.
fn entry_sort_values(v: &IndexValue) -> Option<(SortValue, SortValue)> {
    let one = |s: SortValue| Some((s.clone(), s));
    match v {
        IndexValue::String { norm, .. } => one(SortValue::Text(norm.clone())),
        IndexValue::Token { code, .. } => one(SortValue::Text(code.clone()?)),
        IndexValue::Date { low, high } => Some((SortValue::Int(*low), SortValue::Int(*high))),
        IndexValue::Number { low, high, .. } | IndexValue::Quantity { low, high, .. } => {
            Some((SortValue::Float(*low), SortValue::Float(*high)))
        }
        IndexValue::Reference { url, .. } => one(SortValue::Text(url.clone())),
        IndexValue::Uri { value } => one(SortValue::Text(value.clone())),
        IndexValue::Composite(_) | IndexValue::Position { .. } => None,
    }
}

/// Per parameter a resource has entries for: its smallest ascending and largest descending
/// sort value (`Null` when its entries have none, e.g. composites). Also records which
/// parameters are present, for `:missing`.
pub fn param_sort_values(entries: &[IndexEntry]) -> Vec<(String, SortValue, SortValue)> {
    let mut out: Vec<(String, SortValue, SortValue)> = Vec::new();
    for e in entries {
        let vals = entry_sort_values(&e.value);
        let slot = match out.iter_mut().position(|(p, _, _)| *p == e.param) {
            Some(i) => &mut out[i],
            None => {
                out.push((e.param.clone(), SortValue::Null, SortValue::Null));
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        if let Some((a, d)) = vals {
            if slot.1 == SortValue::Null || compare_values(&a, &slot.1) == Ordering::Less {
                slot.1 = a;
            }
            if slot.2 == SortValue::Null || compare_values(&d, &slot.2) == Ordering::Greater {
                slot.2 = d;
            }
        }
    }
    out
}

/// Total order of non-null sort values as both databases compare them: numbers numerically,
/// text by UTF-8 bytes, numbers before text. `Null` is ordered by the key's rules, not here.
pub fn compare_values(a: &SortValue, b: &SortValue) -> Ordering {
    fn rank(v: &SortValue) -> u8 {
        match v {
            SortValue::Null => 0,
            SortValue::Int(_) | SortValue::Float(_) => 1,
            SortValue::Text(_) => 2,
        }
    }
    match (a, b) {
        (SortValue::Int(x), SortValue::Int(y)) => x.cmp(y),
        (SortValue::Int(x), SortValue::Float(y)) => (*x as f64).total_cmp(y),
        (SortValue::Float(x), SortValue::Int(y)) => x.total_cmp(&(*y as f64)),
        (SortValue::Float(x), SortValue::Float(y)) => x.total_cmp(y),
        (SortValue::Text(x), SortValue::Text(y)) => x.as_bytes().cmp(y.as_bytes()),
        _ => rank(a).cmp(&rank(b)),
    }
}

/// What a result list is ordered by: the request's sort keys, then resource type, then id.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyKind {
    Id,
    LastUpdated,
    /// A parameter's stored sort value: the ascending (`descending == false`) or descending one.
    Param {
        param: String,
        descending: bool,
    },
    ResourceType,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub kind: KeyKind,
    pub descending: bool,
    pub nulls_first: bool,
}

impl Key {
    /// Only a parameter's sort value can be absent.
    pub fn nullable(&self) -> bool {
        matches!(self.kind, KeyKind::Param { .. })
    }
}

/// The ordering keys of a query; for a backward cursor every direction is reversed (the store
/// reads the page before the cursor in reverse and then flips it back). Ties go by type and
/// id ascending, except after a descending `_lastUpdated` first: then they descend too, the
/// order the time indexes give when walked backward (MongoDB `{t: 1, _id: 1}`, SQLite
/// `history_by_type_time`), so that neither store sorts every match.
pub fn order_keys(sort: &[Sort], backward: bool) -> Vec<Key> {
    let ties_descending = sort
        .first()
        .is_some_and(|s| s.key == SortKey::LastUpdated && s.descending);
    let mut keys: Vec<Key> = sort
        .iter()
        .map(|s| Key {
            kind: match &s.key {
                SortKey::Id => KeyKind::Id,
                SortKey::LastUpdated => KeyKind::LastUpdated,
                SortKey::Param { param, .. } => KeyKind::Param {
                    param: param.clone(),
                    descending: s.descending,
                },
            },
            descending: s.descending,
            nulls_first: false,
        })
        .collect();
    keys.push(Key {
        kind: KeyKind::ResourceType,
        descending: ties_descending,
        nulls_first: false,
    });
    keys.push(Key {
        kind: KeyKind::Id,
        descending: ties_descending,
        nulls_first: false,
    });
    if backward {
        for k in &mut keys {
            k.descending = !k.descending;
            k.nulls_first = !k.nulls_first;
        }
    }
    keys
}

/// The full key tuple of a cursor: its sort values, then its type and id.
pub fn cursor_tuple(c: &Cursor) -> Vec<SortValue> {
    let mut v = c.values.clone();
    v.push(SortValue::Text(c.resource_type.clone()));
    v.push(SortValue::Text(c.id.clone()));
    v
}

#[derive(Debug, Clone, PartialEq)]
pub enum KeyOp {
    IsNull,
    NotNull,
    Eq(SortValue),
    Gt(SortValue),
    Lt(SortValue),
}

/// The rows strictly after `after` in `keys` order, as a disjunction of conjunctions of
/// (key index, test): for each position i, keys before i equal and key i strictly after.
pub fn keyset_after(keys: &[Key], after: &[SortValue]) -> Vec<Vec<(usize, KeyOp)>> {
    let mut out = Vec::new();
    let mut prefix: Vec<(usize, KeyOp)> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let v = after.get(i).cloned().unwrap_or(SortValue::Null);
        let mut strict: Vec<KeyOp> = Vec::new();
        if v == SortValue::Null {
            if key.nulls_first {
                strict.push(KeyOp::NotNull);
            }
        } else {
            strict.push(if key.descending {
                KeyOp::Lt(v.clone())
            } else {
                KeyOp::Gt(v.clone())
            });
            if !key.nulls_first && key.nullable() {
                strict.push(KeyOp::IsNull);
            }
        }
        for op in strict {
            let mut conj = prefix.clone();
            conj.push((i, op));
            out.push(conj);
        }
        prefix.push((
            i,
            if v == SortValue::Null {
                KeyOp::IsNull
            } else {
                KeyOp::Eq(v)
            },
        ));
    }
    out
}

/// Whether a known value passes a key test (for keys that are constant in a query, such as the
/// resource type of a per-type collection).
pub fn key_op_holds(op: &KeyOp, v: &SortValue) -> bool {
    let null = *v == SortValue::Null;
    match op {
        KeyOp::IsNull => null,
        KeyOp::NotNull => !null,
        KeyOp::Eq(x) => !null && compare_values(v, x) == Ordering::Equal,
        KeyOp::Gt(x) => !null && compare_values(v, x) == Ordering::Greater,
        KeyOp::Lt(x) => !null && compare_values(v, x) == Ordering::Less,
    }
}

/// Orders two key tuples by `keys` (used to merge per-type result lists).
pub fn compare_tuples(keys: &[Key], a: &[SortValue], b: &[SortValue]) -> Ordering {
    for (i, key) in keys.iter().enumerate() {
        let x = a.get(i).unwrap_or(&SortValue::Null);
        let y = b.get(i).unwrap_or(&SortValue::Null);
        let o = match (x == &SortValue::Null, y == &SortValue::Null) {
            (true, true) => Ordering::Equal,
            (true, false) => {
                if key.nulls_first {
                    Ordering::Less
                } else {
                    Ordering::Greater
                }
            }
            (false, true) => {
                if key.nulls_first {
                    Ordering::Greater
                } else {
                    Ordering::Less
                }
            }
            (false, false) => {
                let o = compare_values(x, y);
                if key.descending {
                    o.reverse()
                } else {
                    o
                }
            }
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// One page from pages of the same search over disjoint sets of resources (per type, per
/// compartment member): each is that set's first `limit` matches after the cursor, or its last
/// `limit` before a backward one, in the query's order; the page is the overall first (last)
/// `limit` of them, in that order.
pub fn merge_pages(
    pages: Vec<Vec<super::Match>>,
    sort: &[Sort],
    backward: bool,
    limit: usize,
) -> Vec<super::Match> {
    let keys = order_keys(sort, false);
    let tuple = |m: &super::Match| {
        let mut t = m.sort.clone();
        t.push(SortValue::Text(m.version.resource_type.clone()));
        t.push(SortValue::Text(m.version.id.clone()));
        t
    };
    let mut all: Vec<(Vec<SortValue>, super::Match)> = pages
        .into_iter()
        .flatten()
        .map(|m| (tuple(&m), m))
        .collect();
    all.sort_by(|a, b| compare_tuples(&keys, &a.0, &b.0));
    if backward {
        all.drain(..all.len().saturating_sub(limit));
    } else {
        all.truncate(limit);
    }
    all.into_iter().map(|(_, m)| m).collect()
}

/// "Now" for `ap` on dates, in microseconds.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// How narrow a condition usually is, smallest first. A guess from the kind of condition:
/// explicit ids and references name few resources, dates and `:missing` name many. SQLite
/// counts candidates in this order and breaks ties with it; MongoDB puts filters in this order
/// (see `mongo_search::filters`).
pub fn narrowness(cond: &Cond) -> u8 {
    match cond {
        Cond::Id(_) | Cond::IdIn(_) => 0,
        Cond::Reference { .. } | Cond::ReferenceIn { .. } => 1,
        Cond::Token {
            system: SystemMatch::Is(_),
            code: Some(_),
            ..
        }
        | Cond::Uri { .. } => 2,
        Cond::Token { code: Some(_), .. } | Cond::TokenIn { .. } => 3,
        Cond::String { .. } | Cond::TokenText { .. } | Cond::Composite { .. } => 4,
        Cond::Number { .. } | Cond::Quantity { .. } | Cond::Near { .. } => 5,
        Cond::Token { .. } => 6,
        Cond::Date { .. } | Cond::LastUpdated { .. } => 7,
        Cond::Missing { .. } => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(desc: bool, nulls_first: bool) -> Key {
        Key {
            kind: KeyKind::Param {
                param: "p".into(),
                descending: desc,
            },
            descending: desc,
            nulls_first,
        }
    }

    #[test]
    fn keyset_puts_nulls_last_after_values() {
        let keys = [key(false, false), key(false, false)];
        let after = [SortValue::Int(5), SortValue::Text("a".into())];
        let got = keyset_after(&keys, &after);
        assert_eq!(
            got,
            vec![
                vec![(0, KeyOp::Gt(SortValue::Int(5)))],
                vec![(0, KeyOp::IsNull)],
                vec![
                    (0, KeyOp::Eq(SortValue::Int(5))),
                    (1, KeyOp::Gt(SortValue::Text("a".into())))
                ],
                vec![(0, KeyOp::Eq(SortValue::Int(5))), (1, KeyOp::IsNull)],
            ]
        );
        let after_null = [SortValue::Null, SortValue::Text("a".into())];
        assert_eq!(
            keyset_after(&keys, &after_null),
            vec![
                vec![
                    (0, KeyOp::IsNull),
                    (1, KeyOp::Gt(SortValue::Text("a".into())))
                ],
                vec![(0, KeyOp::IsNull), (1, KeyOp::IsNull)],
            ]
        );
    }

    #[test]
    fn uri_above_lists_parents() {
        assert_eq!(
            uri_above_candidates("http://a.org/fhir/ValueSet/x"),
            vec![
                "http://a.org",
                "http://a.org/",
                "http://a.org/fhir",
                "http://a.org/fhir/",
                "http://a.org/fhir/ValueSet",
                "http://a.org/fhir/ValueSet/",
                "http://a.org/fhir/ValueSet/x",
            ]
        );
    }

    #[test]
    fn instant_rules_agree_with_range_rules() {
        // For every prefix and a few instants around a search range, the folded rule gives the
        // same answer as the range rule with low = high = t.
        let holds = |p: &RangePred<i64>, lo: i64, hi: i64| {
            p.iter().any(|conj| {
                conj.iter().all(|x| {
                    let v = if x.field == Field::High { hi } else { lo };
                    match x.op {
                        Op::Lt => v < x.value,
                        Op::Le => v <= x.value,
                        Op::Gt => v > x.value,
                        Op::Ge => v >= x.value,
                    }
                })
            })
        };
        use Prefix::*;
        for prefix in [Eq, Ne, Gt, Lt, Ge, Le, Sa, Eb, Ap] {
            for t in [5, 9, 10, 15, 20, 21, 30] {
                assert_eq!(
                    holds(&date_pred(prefix, 10, 20, 100), t, t),
                    holds(&instant_pred(prefix, 10, 20, 100), t, t),
                    "{prefix:?} at {t}"
                );
            }
        }
    }

    #[test]
    fn date_ge_is_gt_or_contained() {
        let p = date_pred(Prefix::Ge, 10, 20, 0);
        assert_eq!(
            p,
            vec![
                vec![b(Field::High, Op::Gt, 20)],
                vec![
                    b(Field::Low, Op::Ge, 10),
                    b(Field::High, Op::Le, 20),
                    b(Field::Low, Op::Le, 20)
                ]
            ]
        );
    }

    fn dated(prefix: Prefix, low: i64, high: i64) -> Cond {
        Cond::Date {
            param: "date".into(),
            prefix,
            low,
            high,
        }
    }

    fn filter(any: Vec<Cond>) -> StoreFilter {
        StoreFilter { any, negate: false }
    }

    fn date_window(from: i64, to: i64) -> Vec<DateWindow> {
        vec![DateWindow {
            param: "date".into(),
            from,
            to,
        }]
    }

    #[test]
    fn two_sided_date_filters_give_a_window() {
        let now = 1_000_000;
        let window = |filters: Vec<StoreFilter>| date_windows(&filters, now, false);
        // ge [100, 199] & lt [300, 399]: a matching value ends at or after 100; one starts
        // before 300.
        assert_eq!(
            window(vec![
                filter(vec![dated(Prefix::Ge, 100, 199)]),
                filter(vec![dated(Prefix::Lt, 300, 399)]),
            ]),
            date_window(100, 299)
        );
        // gt/sa bound by the search range's end, le by its end, eb by its start.
        assert_eq!(
            window(vec![
                filter(vec![dated(Prefix::Gt, 100, 199)]),
                filter(vec![dated(Prefix::Le, 300, 399)]),
                filter(vec![dated(Prefix::Sa, 150, 159)]),
                filter(vec![dated(Prefix::Eb, 350, 359)]),
            ]),
            date_window(200, 349)
        );
        // An OR takes its loosest member; one without a bound (ne) leaves the filter without.
        assert_eq!(
            window(vec![
                filter(vec![dated(Prefix::Ge, 100, 199), dated(Prefix::Ge, 50, 59)]),
                filter(vec![dated(Prefix::Lt, 300, 399)]),
            ])[0]
                .from,
            50
        );
        assert!(window(vec![
            filter(vec![dated(Prefix::Ge, 100, 199)]),
            filter(vec![
                dated(Prefix::Lt, 300, 399),
                dated(Prefix::Ne, 500, 599)
            ]),
        ])
        .is_empty());
        // One side alone is no window; one eq filter is its own index range, ap a window.
        assert!(window(vec![filter(vec![dated(Prefix::Ge, 100, 199)])]).is_empty());
        assert!(window(vec![filter(vec![dated(Prefix::Eq, 100, 199)])]).is_empty());
        assert_eq!(
            window(vec![
                filter(vec![dated(Prefix::Eq, 100, 199)]),
                filter(vec![dated(Prefix::Le, 150, 159)]),
            ]),
            date_window(100, 159)
        );
        // ap widens by 10 % of the distance to now: (1_000_000 - 199) / 10.
        assert_eq!(
            window(vec![filter(vec![dated(Prefix::Ap, 100, 199)])]),
            date_window(100 - 99_980, 199 + 99_980)
        );
        // Negated filters and other parameters bound nothing here.
        let mut negated = filter(vec![dated(Prefix::Lt, 300, 399)]);
        negated.negate = true;
        assert!(window(vec![filter(vec![dated(Prefix::Ge, 100, 199)]), negated]).is_empty());
    }
}
