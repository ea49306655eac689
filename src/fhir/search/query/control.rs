//! The result parameters (search.html "Modifying Search Results"): `_sort`, `_count`,
//! `_total`, `_summary`, `_elements`, `_include`, `_revinclude`, `_type`, `_contained`,
//! `_containedType`.

use super::problem::Problem;
use super::target::{describe, resolve};
use super::{ContainedSearch, ContainedType, Include, Sort, SortKey, Summary, Total};
use crate::fhir::element_types;
use crate::fhir::search::params::{ParamType, Registry};
use crate::fhir::search::text;

/// `_type=Patient,Observation`.
pub fn types(value: &str) -> Result<Vec<String>, Problem> {
    let mut out: Vec<String> = Vec::new();
    for t in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if !element_types::is_resource_type(t) {
            return Err(Problem::Invalid(format!(
                "Unknown resource type '{t}' in _type"
            )));
        }
        if !out.iter().any(|o| o == t) {
            out.push(t.to_string());
        }
    }
    Ok(out)
}

/// `_sort=a,-b`: `-` sorts descending.
pub fn sort(registry: &Registry, types: &[String], value: &str) -> Result<Vec<Sort>, Problem> {
    let mut out = Vec::new();
    let items: Vec<&str> = value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if items.len() > MAX_SORT_KEYS {
        return Err(Problem::Invalid(format!(
            "_sort has {} keys; at most {MAX_SORT_KEYS} are supported",
            items.len()
        )));
    }
    for item in items {
        let (descending, code) = match item.strip_prefix('-') {
            Some(c) => (true, c),
            None => (false, item),
        };
        let key = match code {
            "_id" => SortKey::Id,
            "_lastUpdated" => SortKey::LastUpdated,
            _ => {
                let param = resolve(registry, types, code).map_err(|_| {
                    Problem::Unknown(format!(
                        "Unknown sort parameter '{code}' for {}",
                        describe(types)
                    ))
                })?;
                if text::Source::of(code).is_some() {
                    return Err(Problem::Unknown(format!(
                        "Sorting by the text search parameter '{code}' is not supported"
                    )));
                }
                if matches!(param.kind, ParamType::Composite | ParamType::Special) {
                    return Err(Problem::Unknown(format!(
                        "Sorting by {} parameter '{code}' is not supported",
                        param.kind.as_str()
                    )));
                }
                SortKey::Param {
                    param: code.to_string(),
                    kind: param.kind,
                }
            }
        };
        out.push(Sort { key, descending });
    }
    Ok(out)
}

/// Most keys one `_sort` may name. Each key is a join on SQLite (at most 64 tables in a join)
/// and a term of every keyset page condition, whose size grows with the square of the keys.
pub const MAX_SORT_KEYS: usize = 16;

/// `_count`: a non-negative integer, capped at `max`.
pub fn count(value: &str, max: usize) -> Result<usize, Problem> {
    let v = value.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Problem::Invalid(format!(
            "Invalid _count value '{value}' (expected a non-negative integer)"
        )));
    }
    // All digits: the only parse failure left is overflow, which the cap covers anyway.
    Ok(v.parse::<usize>().unwrap_or(usize::MAX).min(max))
}

pub fn total(value: &str) -> Result<Total, Problem> {
    match value {
        "none" => Ok(Total::None),
        "estimate" => Ok(Total::Estimate),
        "accurate" => Ok(Total::Accurate),
        _ => Err(Problem::Invalid(format!(
            "Invalid _total value '{value}' (expected none, estimate or accurate)"
        ))),
    }
}

pub fn contained(value: &str) -> Result<ContainedSearch, Problem> {
    match value {
        "false" => Ok(ContainedSearch::Off),
        "true" => Ok(ContainedSearch::Only),
        "both" => Ok(ContainedSearch::Both),
        _ => Err(Problem::Invalid(format!(
            "Invalid _contained value '{value}' (expected false, true or both)"
        ))),
    }
}

pub fn contained_type(value: &str) -> Result<ContainedType, Problem> {
    match value {
        "container" => Ok(ContainedType::Container),
        "contained" => Ok(ContainedType::Contained),
        _ => Err(Problem::Invalid(format!(
            "Invalid _containedType value '{value}' (expected container or contained)"
        ))),
    }
}

pub fn summary(value: &str) -> Result<Summary, Problem> {
    match value {
        "true" => Ok(Summary::True),
        "text" => Ok(Summary::Text),
        "data" => Ok(Summary::Data),
        "count" => Ok(Summary::Count),
        "false" => Ok(Summary::False),
        _ => Err(Problem::Invalid(format!(
            "Invalid _summary value '{value}' (expected true, text, data, count or false)"
        ))),
    }
}

/// `_elements=name,birthDate`; a `Patient.name` form is accepted as `name`.
pub fn elements(value: &str) -> Result<Vec<String>, Problem> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let name = match item.split_once('.') {
            Some((t, rest)) if element_types::is_resource_type(t) => rest,
            _ => item,
        };
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(Problem::Invalid(format!(
                "Invalid element name '{item}' in _elements"
            )));
        }
        out.push(name.to_string());
    }
    Ok(out)
}

/// `_include` / `_revinclude` values: `Type:param[:target]`, `Type:*`, or `*` (for
/// `_include`: every reference of the searched types; for `_revinclude`: every resource
/// of any type that references a match, kept as source type `*`).
pub fn includes(
    registry: &Registry,
    types: &[String],
    name: &str,
    value: &str,
    iterate: bool,
) -> Result<Vec<Include>, Problem> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if item == "*" {
            if name == "_revinclude" {
                out.push(Include {
                    source_type: "*".to_string(),
                    param: None,
                    target_type: None,
                    iterate,
                });
                continue;
            }
            if types.is_empty() {
                return Err(Problem::Invalid(
                    "_include=* needs the searched types (use _type)".to_string(),
                ));
            }
            out.extend(types.iter().map(|t| Include {
                source_type: t.clone(),
                param: None,
                target_type: None,
                iterate,
            }));
            continue;
        }
        let parts: Vec<&str> = item.split(':').collect();
        let (source, code, target) = match parts.as_slice() {
            [s, c] => (*s, *c, None),
            [s, c, t] => (*s, *c, Some(*t)),
            _ => {
                return Err(Problem::Invalid(format!(
                    "Invalid {name} value '{item}' (expected [type]:[parameter] or [type]:[parameter]:[target type])"
                )))
            }
        };
        if !element_types::is_resource_type(source) {
            return Err(Problem::Unknown(format!(
                "Unknown resource type '{source}' in {name}={item}"
            )));
        }
        if code == "*" && target.is_none() {
            out.push(Include {
                source_type: source.to_string(),
                param: None,
                target_type: None,
                iterate,
            });
            continue;
        }
        let Some(param) = registry.param(source, code) else {
            return Err(Problem::Unknown(format!(
                "Unknown search parameter '{code}' for {source} in {name}"
            )));
        };
        if param.kind != ParamType::Reference {
            return Err(Problem::Invalid(format!(
                "'{code}' of {source} is not a reference parameter, so it cannot be used in {name}"
            )));
        }
        if let Some(inner) = &param.embedded {
            return Err(Problem::Invalid(format!(
                "'{code}' of {source} selects the {inner} inside it, which is returned with it, \
                 so it cannot be used in {name}"
            )));
        }
        if let Some(t) = target {
            let known = element_types::is_resource_type(t)
                && (param.targets.is_empty() || param.targets.iter().any(|x| x == t));
            if !known {
                return Err(Problem::Invalid(format!(
                    "'{t}' is not a target type of '{code}' of {source} in {name}"
                )));
            }
        }
        out.push(Include {
            source_type: source.to_string(),
            param: Some(code.to_string()),
            target_type: target.map(str::to_string),
            iterate,
        });
    }
    Ok(out)
}
