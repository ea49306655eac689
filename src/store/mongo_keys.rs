//! Flattened match keys for the MongoDB store: one string per exact-match fact of a current
//! document (`"tc|code|8867-4"`, `"rt|subject|Patient|123"`, `"sn|family|smith"`), all in one
//! multikey field `k` with the index `{k: 1, _id: 1}`.
//!
//! Why (docs/mongodb.md "Search speed on SecantusDB"): a search through `$elemMatch` on an
//! entry array costs the server time per candidate document even with tight index bounds,
//! while an equality or range on one string field is served by one index range and, with
//! `_id` second in the index, already in the default result order. The entry arrays stay for
//! what keys cannot express (date and number ranges, `:text`, `:contains`, composites,
//! versioned references, `:missing`).
//!
//! A key is a tag, the parameter code and the value parts, each part escaped (`\` → `\\`,
//! `|` → `\|`) and joined by `|`. The escaping is injective and prefix-preserving, so a
//! starts-with search on the last part is a range on whole keys.

use crate::fhir::search::params::Registry;
use crate::fhir::search::query::{Cond, SortValue, StringMode, SystemMatch, UriMode};
use crate::fhir::search::{IndexEntry, IndexValue};

/// The document field holding the keys.
pub const FIELD: &str = "k";

/// Token with a code, any system (`code=c`).
const TOKEN_CODE: &str = "tc";
/// Token with a system and a code (`code=s|c`).
const TOKEN_SYSTEM_CODE: &str = "ts";
/// Token with a code and no system (`code=|c`).
const TOKEN_NO_SYSTEM: &str = "tn";
/// Local reference, by type and id (`subject=Patient/1`).
const REF_TYPED: &str = "rt";
/// Local reference, by id alone (`subject=1`).
const REF_ID: &str = "ri";
/// Reference to something not on this server, by its url.
const REF_URL: &str = "ru";
/// Uri value.
const URI: &str = "ue";
/// String value, normalised (starts-with and the first half of `:exact`).
const STRING: &str = "sn";

fn push_escaped(out: &mut String, part: &str) {
    for c in part.chars() {
        if c == '\\' || c == '|' {
            out.push('\\');
        }
        out.push(c);
    }
}

/// The tag and parameter a key starts with (`rt|subject` of `rt|subject|Patient|1`):
/// parameter codes hold no `|`, so the second `|` ends them.
pub fn tag_and_param(key: &str) -> &str {
    let end = key.match_indices('|').nth(1).map_or(key.len(), |(i, _)| i);
    &key[..end]
}

fn key(tag: &str, param: &str, parts: &[&str]) -> String {
    let mut k = String::with_capacity(tag.len() + param.len() + 32);
    k.push_str(tag);
    k.push('|');
    push_escaped(&mut k, param);
    for p in parts {
        k.push('|');
        push_escaped(&mut k, p);
    }
    k
}

/// The keys of one index entry (none for kinds that keys do not serve).
pub fn entry_keys(e: &IndexEntry, out: &mut Vec<String>) {
    let p = e.param.as_str();
    match &e.value {
        IndexValue::Token {
            system,
            code: Some(code),
            ..
        } => {
            out.push(key(TOKEN_CODE, p, &[code]));
            out.push(match system {
                Some(s) => key(TOKEN_SYSTEM_CODE, p, &[s, code]),
                None => key(TOKEN_NO_SYSTEM, p, &[code]),
            });
        }
        IndexValue::Reference {
            target_type,
            id,
            url,
            ..
        } => match (target_type, id) {
            (Some(t), Some(id)) => {
                out.push(key(REF_TYPED, p, &[t, id]));
                out.push(key(REF_ID, p, &[id]));
            }
            (None, Some(id)) => out.push(key(REF_ID, p, &[id])),
            (_, None) => out.push(key(REF_URL, p, &[url])),
        },
        IndexValue::Uri { value } => out.push(key(URI, p, &[value])),
        IndexValue::String { norm, .. } => out.push(key(STRING, p, &[norm])),
        IndexValue::Position { lat, lng } => {
            for (level, &size) in CELL_SIZES.iter().enumerate() {
                let (row, col) = (cell_row(*lat, size), cell_col(*lng, size));
                out.push(cell_key(p, level, row, col));
            }
        }
        _ => {}
    }
}

/// A position's grid cell at each of a few sizes (`gc|{param}|{level}|{row}|{col}`). SecantusDB
/// bounds an entry-array scan by the parameter alone (a `near` over 100k Locations read all of
/// them, 0.6 s), while a `$in` of equality keys is a few short ranges of `{k, _id}` in every
/// MongoDB: a `near` asks for the cells of the finest size whose cells cover its cap in at most
/// [`MAX_CELL_KEYS`] keys (10 km: 0.1° cells, 100 km: 1°, 1,000 km: 10°); the entry test
/// still decides.
const GEO_CELL: &str = "gc";
/// Cell sizes in degrees, by level.
const CELL_SIZES: [f64; 3] = [0.1, 1.0, 10.0];
const MAX_CELL_KEYS: usize = 100;

fn cell_key(param: &str, level: usize, row: i64, col: i64) -> String {
    key(
        GEO_CELL,
        param,
        &[&level.to_string(), &row.to_string(), &col.to_string()],
    )
}

/// Rows from the south pole; the north pole is in the last row. Monotonic in `lat`, so the
/// rows of a band's ends hold every latitude between them.
fn cell_row(lat: f64, size: f64) -> i64 {
    let rows = (180.0 / size).round() as i64;
    (((lat + 90.0) / size).floor() as i64).clamp(0, rows - 1)
}

/// Columns from the antimeridian eastwards, any longitude taken round the globe (180° is
/// -180°).
fn cell_col(lng: f64, size: f64) -> i64 {
    let cols = (360.0 / size).round() as i64;
    (((lng + 180.0) / size).floor() as i64).rem_euclid(cols)
}

/// The cell keys a position inside `cap` has at the finest level that covers the cap in at
/// most [`MAX_CELL_KEYS`]; `None` when none does (a cap of thousands of km, or one holding a
/// pole at the finer levels): the entry test alone then decides.
pub fn cap_cell_keys(param: &str, cap: &crate::fhir::search::geo::Cap) -> Option<Vec<String>> {
    let half = cap.lng_half_width();
    CELL_SIZES.iter().enumerate().find_map(|(level, &size)| {
        let all_cols = (360.0 / size).round() as i64;
        let rows = cell_row(cap.lat_low, size)..=cell_row(cap.lat_high, size);
        let (west, east) = (
            cell_col(cap.lng - half, size),
            cell_col(cap.lng + half, size),
        );
        let cols: Vec<i64> = if 2.0 * half + size >= 360.0 {
            (0..all_cols).collect()
        } else if west <= east {
            (west..=east).collect()
        } else {
            (west..all_cols).chain(0..=east).collect()
        };
        let n = (rows.end() - rows.start() + 1) as usize * cols.len();
        (n <= MAX_CELL_KEYS).then(|| {
            rows.flat_map(|r| cols.iter().map(move |&c| cell_key(param, level, r, c)))
                .collect()
        })
    })
}

/// Date hull of one parameter, by width class and start bucket (`dw|{param}|{class}|{bucket}`,
/// `dw|{param}|w` past the widest class). The hull is a resource's earliest start and latest
/// end over the parameter's values: `date=geX&date=ltY` holds through two values of one
/// resource as well as through one, and each filter alone matches most of the data, but the
/// hull of every match overlaps [X, Y]. A hull narrower than a class's span that overlaps a
/// window starts less than one span before it, so a window is a few buckets per class: one
/// `$in` of equality keys, which every MongoDB serves from `{k, _id}` (docs/mongodb.md).
const HULL: &str = "dw";
/// The bucket spans in µs, each class holding the hulls narrower than its span: ~1.16 days
/// (instants and whole days, most dates), 11.6 days, 116 days, 3.2 years, 31.7 years, 317 years.
const HULL_SPANS: [i64; 6] = [
    100_000_000_000,
    1_000_000_000_000,
    10_000_000_000_000,
    100_000_000_000_000,
    1_000_000_000_000_000,
    10_000_000_000_000_000,
];
/// The class of wider and open-ended hulls: one key per parameter, read by every window.
const HULL_WIDE: &str = "w";
/// Most keys a window query asks for: a window of about 3 years in the narrowest class. A
/// wider window is left to the date filters (its matches are many anyway).
const MAX_WINDOW_KEYS: u64 = 1_000;

fn hull_key(param: &str, a: i64, d: i64) -> String {
    let width = d.checked_sub(a);
    match HULL_SPANS
        .iter()
        .position(|&span| width.is_some_and(|w| w < span))
    {
        Some(class) => {
            let bucket = a.div_euclid(HULL_SPANS[class]);
            key(HULL, param, &[&class.to_string(), &bucket.to_string()])
        }
        None => key(HULL, param, &[HULL_WIDE]),
    }
}

/// The hull keys a resource's hull of `param` may have when it overlaps [`from`, `to`] (µs),
/// the parameter's overflow marker included; `None` when the window is too wide for keys.
pub fn window_keys(param: &str, from: i64, to: i64) -> Option<Vec<String>> {
    let ranges: Vec<(usize, i64, i64)> = HULL_SPANS
        .iter()
        .enumerate()
        .map(|(class, &span)| {
            // Narrower than `span` and ending at or after `from`: starts after `from - span`.
            let first = from.saturating_sub(span - 1).div_euclid(span);
            (class, first, to.div_euclid(span))
        })
        .collect();
    let total: u64 = ranges
        .iter()
        .map(|&(_, first, last)| {
            if last < first {
                0
            } else {
                last.abs_diff(first).saturating_add(1)
            }
        })
        .sum();
    // `to < from` is no empty window: two filters may hold through two values whose hull
    // spans it; classes narrower than the gap get no keys.
    if total > MAX_WINDOW_KEYS {
        return None;
    }
    let mut out: Vec<String> = ranges
        .into_iter()
        .flat_map(|(class, first, last)| {
            (first..=last).map(move |b| key(HULL, param, &[&class.to_string(), &b.to_string()]))
        })
        .collect();
    out.push(key(HULL, param, &[HULL_WIDE]));
    out.push(overflow_marker(param));
    Some(out)
}

/// The hull key of each date parameter of a resource.
/// The hull is the parameter's sort values (`a` earliest start, `d` latest end), as SQLite's
/// `ix_present_window` has it: only date values sort as integers.
fn hull_keys<'a>(
    entries: &'a [IndexEntry],
    by_param: &mut std::collections::BTreeMap<&'a str, Vec<String>>,
) {
    for (param, a, d) in super::search_common::param_sort_values(entries) {
        let (SortValue::Int(a), SortValue::Int(d)) = (a, d) else {
            continue;
        };
        // The key group is named by the entries' own string (the map borrows them).
        if let Some(e) = entries.iter().find(|e| e.param == param) {
            by_param
                .entry(e.param.as_str())
                .or_default()
                .push(hull_key(&param, a, d));
        }
    }
}

/// Most keys one document carries. SecantusDB leaves every key of a document past the
/// 10,000th out of a multikey index (found with the official ValueSet c80-doc-typecodes:
/// 12,815 keys, its `_profile` key not found); real MongoDB has no such limit, but a document
/// this wide costs every index write anyway.
pub const KEY_CAP: usize = 8_000;

/// The marker a document carries instead of the keys of a parameter it has too many of: a
/// search on that parameter tests such documents by their entry arrays.
pub fn overflow_marker(param: &str) -> String {
    key("~", param, &[])
}

/// Whether every document of `resource_type` carries all its keys of `param`, so that no
/// document can carry the parameter's overflow marker: the parameter's values are bounded by
/// FHIR's cardinalities (`Encounter.subject`: one value, at most two keys). To give way, its
/// keys would have to be the widest group of a document still past [`KEY_CAP`]; but then
/// every group has at most as many keys, and the document at most (groups) × (those keys + a
/// marker), within the cap.
pub fn always_keyed(resource_type: &str, param: &str) -> bool {
    let registry = Registry::r4();
    let Some(values) = registry.most_values(resource_type, param) else {
        return false;
    };
    // Every parameter; at most one more group per parameter (a reference's `:identifier`
    // tokens, an identifier's `:of-type` tokens); the pairs.
    let groups = 2 * registry.indexed_count(resource_type) + 1;
    groups.saturating_mul(2 * values + 1) <= KEY_CAP
}

/// Patient + code pair: `pt|{reference param}|{patient id}|{token key}`, for the search that
/// SMART apps and EHRs send most (`Observation?patient=X&code=Y`). Without it the search
/// reads every key of the narrower half: all of a patient's Observations, or every patient's
/// Observations with that code, which grows with the data.
const PAIR: &str = "pt";
/// The key group of the pairs (not a parameter code: those have no `~`).
const PAIRS: &str = "~pairs";
/// A document referring to more patients than this gets no pair keys but the pairs' overflow
/// marker: pairs multiply, and such documents (Groups, Lists) are rarely searched this way.
const MAX_PAIRED_PATIENTS: usize = 4;

fn pair_key(ref_param: &str, patient: &str, token_key: &str) -> String {
    key(PAIR, ref_param, &[patient, token_key])
}

/// The marker of documents without pair keys because they refer to too many patients.
pub fn pair_marker() -> String {
    overflow_marker(PAIRS)
}

/// The keys of a document's entries, sorted and without repeats (a value found through two
/// paths of one expression is one fact). Past [`KEY_CAP`], the parameters with the most keys
/// are left out, each replaced by its [`overflow_marker`].
pub fn document_keys(entries: &[IndexEntry]) -> Vec<String> {
    let mut by_param: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let mut patients: Vec<(&str, &str)> = Vec::new();
    for e in entries {
        entry_keys(e, by_param.entry(e.param.as_str()).or_default());
        if let IndexValue::Reference {
            target_type: Some(t),
            id: Some(id),
            ..
        } = &e.value
        {
            if t == "Patient" {
                patients.push((e.param.as_str(), id.as_str()));
            }
        }
    }
    hull_keys(entries, &mut by_param);
    for keys in by_param.values_mut() {
        keys.sort_unstable();
        keys.dedup();
    }
    patients.sort_unstable();
    patients.dedup();
    let mut markers = Vec::new();
    if patients.len() > MAX_PAIRED_PATIENTS {
        markers.push(pair_marker());
    } else if !patients.is_empty() {
        let tokens: Vec<&String> = by_param
            .values()
            .flatten()
            .filter(|k| is_token_key(k))
            .collect();
        let pairs: Vec<String> = patients
            .iter()
            .flat_map(|(rp, id)| tokens.iter().map(move |t| pair_key(rp, id, t)))
            .collect();
        if !pairs.is_empty() {
            by_param.insert(PAIRS, pairs);
        }
    }
    let mut total: usize = by_param.values().map(Vec::len).sum::<usize>() + markers.len();
    while total > KEY_CAP {
        let Some((&widest, keys)) = by_param.iter().max_by_key(|(_, k)| k.len()) else {
            break;
        };
        total = total - keys.len() + 1;
        markers.push(overflow_marker(widest));
        by_param.remove(widest);
    }
    let mut out: Vec<String> = by_param.into_values().flatten().chain(markers).collect();
    out.sort_unstable();
    out
}

fn is_token_key(k: &str) -> bool {
    [TOKEN_CODE, TOKEN_SYSTEM_CODE, TOKEN_NO_SYSTEM]
        .iter()
        .any(|t| k.len() > t.len() && k.starts_with(t) && k.as_bytes()[t.len()] == b'|')
}

/// The patient a condition names, as `(reference param, patient id)`: the half of a pair key
/// a query can use.
pub fn pairable_patient(cond: &Cond) -> Option<(&str, &str)> {
    match cond {
        Cond::Reference {
            param,
            target_type: Some(t),
            id: Some(id),
            url: None,
            version: None,
        } if t == "Patient" => Some((param, id)),
        _ => None,
    }
}

/// The pair keys of a token condition with a patient: the token's keys, each paired.
pub fn pair_keys(patient: (&str, &str), token: &Cond) -> Option<Vec<String>> {
    if !matches!(token, Cond::Token { .. } | Cond::TokenIn { .. }) {
        return None;
    }
    match cond_match(token)? {
        (KeyMatch::AnyOf(keys), Coverage::Exact) => Some(
            keys.iter()
                .map(|k| pair_key(patient.0, patient.1, k))
                .collect(),
        ),
        _ => None,
    }
}

/// What a condition asks of `k`.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyMatch {
    /// Some key equal to one of these.
    AnyOf(Vec<String>),
    /// Some key starting with this.
    Prefix(String),
}

/// How much of a condition its keys decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// The key match is the whole condition.
    Exact,
    /// The key match is implied by the condition and narrows it; the entry test still decides.
    Narrows,
}

/// The key match of a condition, or `None` when keys do not serve it.
pub fn cond_match(cond: &Cond) -> Option<(KeyMatch, Coverage)> {
    use Coverage::*;
    let one = |k: String| KeyMatch::AnyOf(vec![k]);
    Some(match cond {
        Cond::Token {
            param,
            system,
            code: Some(code),
        } => (
            one(match system {
                SystemMatch::Any => key(TOKEN_CODE, param, &[code]),
                SystemMatch::None => key(TOKEN_NO_SYSTEM, param, &[code]),
                SystemMatch::Is(s) => key(TOKEN_SYSTEM_CODE, param, &[s, code]),
            }),
            Exact,
        ),
        Cond::TokenIn { param, codes } => (
            KeyMatch::AnyOf(
                codes
                    .iter()
                    .flat_map(|(s, cs)| {
                        cs.iter()
                            .map(move |c| key(TOKEN_SYSTEM_CODE, param, &[s, c]))
                    })
                    .collect(),
            ),
            Exact,
        ),
        Cond::Reference {
            param,
            target_type,
            id,
            url,
            version: None,
        } => (
            one(match (target_type, id, url) {
                (Some(t), Some(id), None) => key(REF_TYPED, param, &[t, id]),
                (None, Some(id), None) => key(REF_ID, param, &[id]),
                (None, None, Some(u)) => key(REF_URL, param, &[u]),
                _ => return None,
            }),
            Exact,
        ),
        Cond::ReferenceIn { param, targets } => (
            KeyMatch::AnyOf(
                targets
                    .iter()
                    .map(|(t, id)| key(REF_TYPED, param, &[t, id]))
                    .collect(),
            ),
            Exact,
        ),
        Cond::Uri { param, mode, value } => match mode {
            UriMode::Equals => (one(key(URI, param, &[value])), Exact),
            UriMode::Below => (KeyMatch::Prefix(key(URI, param, &[value])), Exact),
            UriMode::Above => (
                KeyMatch::AnyOf(
                    super::search_common::uri_above_candidates(value)
                        .iter()
                        .map(|u| key(URI, param, &[u]))
                        .collect(),
                ),
                Exact,
            ),
        },
        Cond::String {
            param,
            mode: StringMode::StartsWith,
            value,
        } => (KeyMatch::Prefix(key(STRING, param, &[value])), Exact),
        Cond::String {
            param,
            mode: StringMode::Equals,
            value,
        } => (one(key(STRING, param, &[value])), Exact),
        Cond::String {
            param,
            mode: StringMode::Exact,
            value,
        } => (
            one(key(
                STRING,
                param,
                &[&crate::fhir::search::values::normalize_string(value)],
            )),
            Narrows,
        ),
        Cond::Near {
            param,
            lat,
            lng,
            km,
        } => (
            KeyMatch::AnyOf(cap_cell_keys(
                param,
                &crate::fhir::search::geo::Cap::new(*lat, *lng, *km),
            )?),
            Narrows,
        ),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every position the chord test puts inside a cap has one of the cap's cell keys: caps
    /// of several sizes, across the antimeridian and near the poles, probed on a grid around
    /// each.
    #[test]
    fn a_cap_asks_for_the_cell_of_every_position_inside_it() {
        use crate::fhir::search::geo::{unit_vector, Cap};
        // (lat, lng, km, the level of its cells, at most this many cells)
        let caps = [
            (46.06565, -106.10463, 10.0, 0, 12),
            (42.28, -83.74, 120.0, 1, 12),
            (-17.0, 179.95, 11.0, 0, 12),
            (0.05, -179.999, 30.0, 0, 42),
            (89.9, 10.0, 5.0, 1, 60),
            // Holds the pole: every column of its row.
            (89.99, 0.0, 5.0, 2, 36),
            // Too wide for cells.
            (10.0, 10.0, 9_000.0, 9, 0),
            (-33.9, 18.4, 900.0, 2, 12),
            (51.5, -0.1, 0.0, 0, 4),
        ];
        for (lat, lng, km, level, most) in caps {
            let cap = Cap::new(lat, lng, km);
            let Some(keys) = cap_cell_keys("near", &cap) else {
                assert_eq!(level, 9, "{lat},{lng} of {km} km has no cells");
                continue;
            };
            let prefix = format!("gc|near|{level}|");
            assert!(
                keys.len() <= most && keys.iter().all(|k| k.starts_with(&prefix)),
                "{lat},{lng} of {km} km: {keys:?}"
            );
            let span = km / 111.0 * 1.2 + 1e-6;
            let mut inside = 0;
            for i in -60..=60 {
                for j in -60..=60 {
                    let p_lat = lat + span * f64::from(i) / 60.0;
                    let p_lng = lng + span * f64::from(j) / 60.0 / lat.to_radians().cos();
                    if !(-90.0..=90.0).contains(&p_lat) || !cap.contains(unit_vector(p_lat, p_lng))
                    {
                        continue;
                    }
                    inside += 1;
                    let mut own = Vec::new();
                    let p_lng = (p_lng + 180.0).rem_euclid(360.0) - 180.0;
                    entry_keys(
                        &entry(
                            "near",
                            IndexValue::Position {
                                lat: p_lat,
                                lng: p_lng,
                            },
                        ),
                        &mut own,
                    );
                    assert!(
                        own.iter().any(|k| keys.contains(k)),
                        "{p_lat},{p_lng} in the cap at {lat},{lng} of {km} km: {own:?}"
                    );
                }
            }
            assert!(inside > 0, "{lat},{lng}");
        }
    }

    fn entry(param: &str, value: IndexValue) -> IndexEntry {
        IndexEntry {
            param: param.into(),
            value,
        }
    }

    #[test]
    fn a_window_asks_for_the_hull_key_of_every_hull_it_overlaps() {
        const DAY: i64 = 86_400_000_000;
        const YEAR: i64 = 365 * DAY;
        let t0 = 1_584_230_400_000_000; // 2020-03-15
        let mut points = vec![i64::MIN, -40 * YEAR, -1, 0, 1, t0, i64::MAX];
        for (i, step) in [
            1,
            DAY / 3,
            DAY - 1,
            DAY,
            11 * DAY,
            116 * DAY,
            3 * YEAR,
            40 * YEAR,
        ]
        .into_iter()
        .enumerate()
        {
            for k in [-2i64, -1, 1, 2] {
                points.push(t0 + k * step + i as i64);
            }
        }
        let mut checked = 0;
        for &from in &points {
            for &to in &points {
                let Some(keys) = window_keys("date", from, to) else {
                    continue;
                };
                for &a in &points {
                    for &d in points.iter().filter(|&&d| d >= a) {
                        let hull = hull_key("date", a, d);
                        if d >= from && a <= to {
                            checked += 1;
                            assert!(
                                keys.contains(&hull),
                                "hull [{a}, {d}] overlaps [{from}, {to}]: {hull} not in {keys:?}"
                            );
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
        // A day's window is a handful of keys, and the day before it shares none of the
        // narrowest class's.
        let day = window_keys("date", t0, t0 + DAY - 1).unwrap();
        assert!(day.len() <= 16, "{day:?}");
        assert!(!day.contains(&hull_key("date", t0 - 3 * DAY, t0 - 2 * DAY - 1)));
        assert!(day.contains(&overflow_marker("date")));
        // Windows of decades are left to the date filters.
        assert!(window_keys("date", t0 - 10 * YEAR, t0).is_none());
        // Every date parameter of a document gets the key of its hull.
        let keys = document_keys(&[
            entry(
                "date",
                IndexValue::Date {
                    low: t0,
                    high: t0 + 5,
                },
            ),
            entry(
                "date",
                IndexValue::Date {
                    low: t0 + 2 * DAY,
                    high: t0 + 2 * DAY,
                },
            ),
            entry("issued", IndexValue::Date { low: 7, high: 7 }),
        ]);
        assert!(keys.contains(&hull_key("date", t0, t0 + 2 * DAY)));
        assert!(keys.contains(&hull_key("issued", 7, 7)));
        assert_eq!(keys.len(), 2);
    }

    #[test]
    fn escaping_keeps_parts_apart_and_prefixes_intact() {
        // Without escaping these two would be the same key.
        assert_ne!(
            key("ts", "code", &["a|b", "c"]),
            key("ts", "code", &["a", "b|c"])
        );
        assert_eq!(key("sn", "name", &["a\\|b"]), "sn|name|a\\\\\\|b");
        // A prefix of a value gives a prefix of its key, and no other parameter's keys share it.
        let full = key(STRING, "name", &["smi|th"]);
        assert!(full.starts_with(&key(STRING, "name", &["smi|"])));
        assert!(!key(STRING, "name2", &["smith"]).starts_with(&key(STRING, "name", &[""])));
    }

    #[test]
    fn a_key_starts_with_its_tag_and_parameter() {
        let k = key("rt", "subject", &["Patient", "a|b"]);
        assert_eq!(tag_and_param(&k), "rt|subject");
        assert_eq!(tag_and_param(&overflow_marker("code")), "~|code");
    }

    #[test]
    fn single_valued_references_are_always_keyed() {
        assert!(always_keyed("Encounter", "subject"));
        assert!(always_keyed("Observation", "patient"));
        assert!(!always_keyed("Observation", "performer"));
        assert!(!always_keyed("Observation", "code"));
        assert!(!always_keyed("Observation", "no-such-parameter"));
    }

    #[test]
    fn the_widest_parameters_give_way_to_markers_past_the_cap() {
        let token = |param: &str, i: usize| {
            entry(
                param,
                IndexValue::Token {
                    system: None,
                    code: Some(format!("c{i}")),
                    text: None,
                },
            )
        };
        let mut entries: Vec<IndexEntry> = (0..KEY_CAP).map(|i| token("code", i)).collect();
        entries.push(token("status", 0));
        let keys = document_keys(&entries);
        assert!(keys.len() <= KEY_CAP);
        assert!(keys.contains(&overflow_marker("code")));
        assert!(keys.contains(&key(TOKEN_CODE, "status", &["c0"])));
        assert!(!keys.iter().any(|k| k.starts_with("tc|code|")));
        // Under the cap nothing gives way.
        let few = document_keys(&entries[KEY_CAP - 10..]);
        assert_eq!(few.len(), 22);
        assert!(!few.iter().any(|k| k.starts_with('~')));
    }

    #[test]
    fn each_condition_form_finds_the_keys_its_entries_get() {
        let token = |system: Option<&str>| {
            document_keys(&[entry(
                "code",
                IndexValue::Token {
                    system: system.map(Into::into),
                    code: Some("c".into()),
                    text: Some("ignored".into()),
                },
            )])
        };
        let cond = |system| Cond::Token {
            param: "code".into(),
            system,
            code: Some("c".into()),
        };
        let hits = |keys: &[String], c: &Cond| match cond_match(c).unwrap().0 {
            KeyMatch::AnyOf(ks) => ks.iter().any(|k| keys.contains(k)),
            KeyMatch::Prefix(p) => keys.iter().any(|k| k.starts_with(&p)),
        };
        let with_system = token(Some("s"));
        let without = token(None);
        assert!(hits(&with_system, &cond(SystemMatch::Any)));
        assert!(hits(&with_system, &cond(SystemMatch::Is("s".into()))));
        assert!(!hits(&with_system, &cond(SystemMatch::None)));
        assert!(!hits(&with_system, &cond(SystemMatch::Is("t".into()))));
        assert!(hits(&without, &cond(SystemMatch::Any)));
        assert!(hits(&without, &cond(SystemMatch::None)));
        assert!(!hits(&without, &cond(SystemMatch::Is("s".into()))));

        let local = document_keys(&[entry(
            "subject",
            IndexValue::Reference {
                target_type: Some("Patient".into()),
                id: Some("1".into()),
                url: "Patient/1".into(),
                version: None,
            },
        )]);
        let reference = |t: Option<&str>, id: Option<&str>, url: Option<&str>| Cond::Reference {
            param: "subject".into(),
            target_type: t.map(Into::into),
            id: id.map(Into::into),
            url: url.map(Into::into),
            version: None,
        };
        assert!(hits(&local, &reference(Some("Patient"), Some("1"), None)));
        assert!(hits(&local, &reference(None, Some("1"), None)));
        assert!(!hits(&local, &reference(Some("Group"), Some("1"), None)));
        assert!(!hits(&local, &reference(None, None, Some("Patient/1"))));
        // A versioned reference is left to the entry array.
        assert!(cond_match(&Cond::Reference {
            param: "subject".into(),
            target_type: None,
            id: Some("1".into()),
            url: None,
            version: Some("2".into()),
        })
        .is_none());

        let name = document_keys(&[entry(
            "name",
            IndexValue::String {
                norm: "smith".into(),
                exact: "Smith".into(),
            },
        )]);
        let string = |mode, value: &str| Cond::String {
            param: "name".into(),
            mode,
            value: value.into(),
        };
        assert!(hits(&name, &string(StringMode::StartsWith, "smi")));
        assert!(!hits(&name, &string(StringMode::StartsWith, "smy")));
        assert!(hits(&name, &string(StringMode::Exact, "Smith")));
        assert_eq!(
            cond_match(&string(StringMode::Exact, "Smith")).unwrap().1,
            Coverage::Narrows
        );
        assert!(cond_match(&string(StringMode::Contains, "mit")).is_none());
    }
}
