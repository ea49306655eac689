//! The query string as a whole: which parameter is which, repetition (AND) and comma lists
//! (OR), lenient handling, and the canonical parameter list for links.

use super::control;
use super::escape::{split_unescaped, unescape};
use super::filter;
use super::problem::Problem;
use super::target::{self, parse_path, Modifier, ParamRef, Path};
use super::value::{cond, is_id};
use super::{
    CodeSetRef, Cond, ContainedSearch, ContainedType, Criterion, Cursor, Filter, ParseOptions,
    SearchRequest, StringMode, Summary, Total,
};
use crate::fhir::element_types;
use crate::fhir::outcome::FhirError;
use crate::fhir::search::extract;
use crate::fhir::search::params::{ParamType, Registry};
use crate::fhir::search::text;

/// Result parameters that make no sense twice.
const SINGLE: [&str; 9] = [
    "_contained",
    "_containedType",
    "_count",
    "_total",
    "_summary",
    "_cursor",
    "_type",
    "_sort",
    "_elements",
];

pub fn parse(
    registry: &Registry,
    resource_type: Option<&str>,
    params: &[(String, String)],
    options: &ParseOptions<'_>,
) -> Result<SearchRequest, FhirError> {
    let types = match resource_type {
        Some(t) if element_types::is_resource_type(t) => vec![t.to_string()],
        Some(t) => return Err(FhirError::invalid(format!("Unknown resource type '{t}'"))),
        None => system_types(params)?,
    };
    let mut request = SearchRequest {
        resource_types: types.clone(),
        filters: Vec::new(),
        sort: Vec::new(),
        count: options.default_count.min(options.max_count),
        total: Total::None,
        summary: Summary::False,
        elements: Vec::new(),
        include: Vec::new(),
        revinclude: Vec::new(),
        cursor: None,
        ignored: Vec::new(),
        canonical: Vec::new(),
        contained: ContainedSearch::Off,
        contained_type: ContainedType::Container,
    };
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in params {
        // search.html: a parameter without a value is ignored.
        if value.is_empty() {
            continue;
        }
        let name = key.split([':', '.']).next().unwrap_or_default();
        let single = SINGLE.contains(&name);
        if single && seen.contains(&name) {
            return Err(FhirError::invalid(format!("'{name}' may appear only once")));
        }
        let outcome = one(
            registry,
            resource_type.is_none(),
            &types,
            key,
            name,
            value,
            options,
            &mut request,
        );
        // Only a used occurrence counts: a skipped `_count:x` leaves `_count` free.
        if single && outcome.is_ok() {
            seen.push(name);
        }
        match outcome {
            Ok(true) => request.canonical.push((key.clone(), value.clone())),
            Ok(false) => {}
            Err(Problem::Unknown(m)) if options.lenient => request.ignored.push((key.clone(), m)),
            Err(p) => return Err(p.into_error()),
        }
    }
    let values: usize = request
        .filters
        .iter()
        .flat_map(|f| &f.any)
        .map(value_count)
        .sum();
    if values > MAX_SEARCH_VALUES {
        return Err(FhirError::invalid(format!(
            "The search has {values} values; at most {MAX_SEARCH_VALUES} are supported \
             (split it into several searches)"
        )));
    }
    request.canonical.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(request)
}

/// Most values (comma-separated items, over all parameters, chains and `_has` included) one
/// search may hold. Each is a term of the store query; the bound keeps a request's work and
/// its query's size bounded, like `CHAIN_CAP` does for the id lists chains produce.
pub const MAX_SEARCH_VALUES: usize = 1000;

fn value_count(c: &Criterion) -> usize {
    match c {
        // `_id=a,b,c` is one condition with all its ids (merge_ids).
        Criterion::Cond(Cond::Id(ids)) => ids.len().max(1),
        Criterion::Cond(_) | Criterion::Codes { .. } | Criterion::List(_) => 1,
        // One value, tried on each type the reference may target.
        Criterion::Chain { inner, .. } => {
            inner.iter().map(|(_, c)| value_count(c)).max().unwrap_or(1)
        }
        Criterion::NoneOf(values) => values.iter().map(value_count).sum(),
        // A chain's own criterion and the same test inside contained resources: one value.
        Criterion::AnyOf(values) => values.iter().map(value_count).max().unwrap_or(1),
        Criterion::Contained { .. } => 0,
        Criterion::Has { inner, .. } => value_count(inner),
    }
}

/// `_type` of a system-level search, read before everything else because it decides which
/// parameters exist.
fn system_types(params: &[(String, String)]) -> Result<Vec<String>, FhirError> {
    match params.iter().find(|(k, v)| k == "_type" && !v.is_empty()) {
        Some((_, v)) => control::types(v).map_err(Problem::into_error),
        None => Ok(Vec::new()),
    }
}

/// Handles one parameter occurrence; `Ok(true)` when it belongs in the canonical list.
#[allow(clippy::too_many_arguments)]
fn one(
    registry: &Registry,
    system: bool,
    types: &[String],
    key: &str,
    name: &str,
    value: &str,
    options: &ParseOptions<'_>,
    request: &mut SearchRequest,
) -> Result<bool, Problem> {
    let modifier = key.strip_prefix(name).unwrap_or_default();
    let control = matches!(
        name,
        "_format"
            | "_pretty"
            | "_cursor"
            | "_type"
            | "_sort"
            | "_count"
            | "_total"
            | "_summary"
            | "_elements"
            | "_include"
            | "_revinclude"
            | "_contained"
            | "_containedType"
    );
    let content = text::Source::Content.code();
    if !options.content_search && key.split([':', '.']).any(|part| part == content) {
        return Err(Problem::Unknown(
            "Search parameter '_content' is not enabled on this server (it is when started \
             with --content-search, after a $reindex of the data written before)"
                .to_string(),
        ));
    }
    let iterate = matches!(modifier, ":iterate" | ":recurse");
    let include = matches!(name, "_include" | "_revinclude");
    if control && !modifier.is_empty() && !(include && iterate) {
        return Err(Problem::Unknown(format!(
            "Modifier '{modifier}' is not allowed on '{name}'"
        )));
    }
    match name {
        // The HTTP layer's business; not search criteria.
        "_format" | "_pretty" => Ok(false),
        "_cursor" => {
            request.cursor = Some(
                Cursor::decode(value)
                    .ok_or_else(|| Problem::Invalid("Invalid _cursor value".to_string()))?,
            );
            Ok(false)
        }
        "_type" if system => Ok(true),
        "_type" => Err(Problem::Unknown(
            "_type is only allowed in a system-level search".to_string(),
        )),
        "_sort" => {
            request.sort = control::sort(registry, types, value)?;
            Ok(true)
        }
        "_count" => {
            request.count = control::count(value, options.max_count)?;
            Ok(true)
        }
        "_total" => {
            request.total = control::total(value)?;
            Ok(true)
        }
        "_summary" => {
            request.summary = control::summary(value)?;
            Ok(true)
        }
        "_contained" | "_containedType" if system => Err(Problem::Invalid(format!(
            "'{name}' is only supported in a type-level search ([base]/[type]?…)"
        ))),
        "_contained" => {
            request.contained = control::contained(value)?;
            Ok(true)
        }
        "_containedType" => {
            request.contained_type = control::contained_type(value)?;
            Ok(true)
        }
        "_elements" => {
            request.elements = control::elements(value)?;
            Ok(true)
        }
        "_include" => {
            let found = control::includes(registry, types, name, value, iterate)?;
            request.include.extend(found);
            Ok(true)
        }
        "_revinclude" => {
            let found = control::includes(registry, types, name, value, iterate)?;
            request.revinclude.extend(found);
            Ok(true)
        }
        "_list" => {
            if !modifier.is_empty() {
                return Err(Problem::Invalid(format!(
                    "Modifier '{modifier}' is not allowed on '_list'"
                )));
            }
            let mut any = Vec::new();
            for raw in split_unescaped(value, ',') {
                let id = unescape(raw);
                if id.starts_with('$') {
                    return Err(Problem::Invalid(format!(
                        "Functional lists ('_list={id}') are not supported; name a List by id"
                    )));
                }
                if !is_id(&id) {
                    return Err(Problem::Invalid(format!(
                        "Invalid List id '{id}' for '_list'"
                    )));
                }
                any.push(Criterion::List(id));
            }
            if any.is_empty() {
                return Ok(false);
            }
            request.filters.push(Filter { any, negate: false });
            Ok(true)
        }
        "_filter" => {
            if !modifier.is_empty() {
                return Err(Problem::Unknown(format!(
                    "Modifier '{modifier}' is not allowed on '_filter'"
                )));
            }
            filter_search(registry, types, value, options.base_url, request)
        }
        _ if modifier.is_empty() && text::Source::of(name).is_some() => {
            let path = parse_path(registry, types, key, 0)?;
            let Path::Leaf { param, .. } = &path else {
                return Err(Problem::Invalid(format!("Invalid parameter '{key}'")));
            };
            text_search(&param.code, value, request)
        }
        _ => {
            let path = parse_path(registry, types, key, 0)?;
            let items = value_items(value);
            if items.is_empty() {
                return Ok(false);
            }
            let any = if !path.negated() && path.ends_negated() {
                vec![negated_criterion(&path, &items, options.base_url)?]
            } else {
                let mut any = Vec::new();
                for raw in &items {
                    any.extend(criteria(&path, raw, options.base_url)?);
                }
                merge_ids(any)
            };
            request.filters.push(Filter {
                any,
                negate: path.negated(),
            });
            if let Some(within) = needs_presence(&path, false) {
                request.filters.push(presence(within));
            }
            Ok(true)
        }
    }
}

/// The parameter that selects the inner resource a criterion reads, when the criterion would
/// also match a resource without that inner resource: `:missing`, `:not`, `:not-in` and a
/// negated criterion match where the inner parameter has no entry, but
/// `Bundle?composition.status:not=final` is about documents (search.html: a chain only
/// matches where the reference leads somewhere).
fn needs_presence(path: &Path, negated: bool) -> Option<&str> {
    match path {
        Path::Leaf { param, modifier }
            if negated
                || matches!(
                    modifier,
                    Modifier::Missing | Modifier::Not | Modifier::NotIn
                ) =>
        {
            param.within.as_deref()
        }
        _ => None,
    }
}

/// The filter that keeps resources holding the inner resource `within` selects.
fn presence(within: &str) -> Filter {
    Filter {
        any: vec![Criterion::Cond(Cond::Missing {
            param: within.to_string(),
            kind: ParamType::Reference,
            missing: false,
        })],
        negate: false,
    }
}

/// `_filter` (`filter`): each AND-ed group of its expression is one filter, of ORed tests
/// or of one negated test.
fn filter_search(
    registry: &Registry,
    types: &[String],
    value: &str,
    base_url: &str,
    request: &mut SearchRequest,
) -> Result<bool, Problem> {
    for group in filter::parse(registry, types, value)? {
        let mut any = Vec::new();
        for t in &group {
            any.extend(criteria(&t.path, &t.raw, base_url)?);
        }
        let negate = match group.as_slice() {
            [one] => one.negated,
            many if many.iter().all(|t| !t.negated) => false,
            _ => {
                return Err(Problem::Invalid(
                    "Invalid _filter: a negated test ORed with other tests (as in `a eq 1 or \
                     not (b eq 2)`) is not supported"
                        .to_string(),
                ))
            }
        };
        let within = group
            .iter()
            .find_map(|t| needs_presence(&t.path, t.negated));
        if within.is_some() && group.len() > 1 {
            return Err(Problem::Invalid(
                "Invalid _filter: a test that matches where a Bundle's inner resource has no \
                 value (pr false, ne, ni, not) cannot be ORed with other tests"
                    .to_string(),
            ));
        }
        request.filters.push(Filter {
            any: if negate { any } else { merge_ids(any) },
            negate,
        });
        if let Some(within) = within {
            request.filters.push(presence(within));
        }
    }
    Ok(true)
}

/// The comma-separated items of a value (still escaped), empty ones left out.
fn value_items(value: &str) -> Vec<&str> {
    split_unescaped(value, ',')
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect()
}

/// `_text` / `_content` with the text search syntax (`text`): each AND-ed group of words is
/// one filter whose values are the group's words, as if each group were a parameter of its
/// own with comma-separated values. `Ok(false)` when the value holds no item (`_text=,`).
fn text_search(code: &str, value: &str, request: &mut SearchRequest) -> Result<bool, Problem> {
    let items = value_items(value);
    if items.is_empty() {
        return Ok(false);
    }
    let groups = items
        .into_iter()
        .map(|raw| text::parse(&unescape(raw)))
        .collect::<Result<Vec<_>, _>>()
        .and_then(text::any_of)
        .map_err(|e| Problem::Invalid(format!("Invalid value for '{code}': {e}")))?;
    for group in groups {
        let any = group
            .into_iter()
            .map(|word| {
                Criterion::Cond(Cond::String {
                    param: code.to_string(),
                    mode: StringMode::StartsWith,
                    value: word,
                })
            })
            .collect();
        request.filters.push(Filter { any, negate: false });
    }
    Ok(true)
}

/// `_id=a,b,c` as one list of ids: an OR of single ids is one set membership test, which a
/// database answers from one index look-up per id (MongoDB counts under a top-level `$or`
/// read the whole collection on some servers).
fn merge_ids(any: Vec<Criterion>) -> Vec<Criterion> {
    let mut ids: Vec<String> = Vec::new();
    let mut out: Vec<Criterion> = Vec::with_capacity(any.len());
    for c in any {
        match c {
            Criterion::Cond(Cond::Id(more)) => ids.extend(more),
            other => out.push(other),
        }
    }
    if !ids.is_empty() {
        ids.sort_unstable();
        ids.dedup();
        out.insert(0, Criterion::Cond(Cond::Id(ids)));
    }
    out
}

/// The criteria of one value of a parameter, ORed: the parameter's own, and where it chains,
/// the same test on the contained resources the references may point at (search.html: "a
/// chained condition will be evaluated inside contained resources"; extraction indexes them
/// as `{reference}:{Type}.{parameter}`), at every level of the chain.
fn criteria(path: &Path, raw: &str, base_url: &str) -> Result<Vec<Criterion>, Problem> {
    let leaf = |param: &ParamRef, modifier: &Modifier| {
        if param.kind == ParamType::Token {
            if let Some(set) = code_set(param, modifier, raw)? {
                return Ok(Criterion::Codes {
                    param: param.code.clone(),
                    set,
                });
            }
        }
        Ok(Criterion::Cond(cond(param, modifier, raw, base_url)?))
    };
    with_contained(path, &leaf, true)
}

/// `path`'s criterion and, when `contained` and it chains, those of its contained forms.
fn with_contained(
    path: &Path,
    leaf: &Leaf<'_>,
    contained: bool,
) -> Result<Vec<Criterion>, Problem> {
    let Path::Chain { param, inner } = path else {
        return Ok(vec![walk(path, leaf)?]);
    };
    let mut own = Vec::with_capacity(inner.len());
    for (t, p) in inner {
        let mut alternatives = with_contained(p, leaf, true)?;
        let one = if alternatives.len() == 1 {
            alternatives.remove(0)
        } else {
            Criterion::AnyOf(alternatives)
        };
        own.push((t.clone(), Box::new(one)));
    }
    let mut out = vec![Criterion::Chain {
        param: param.clone(),
        inner: own,
    }];
    if contained {
        let mut alternatives = Vec::new();
        let mut types = Vec::new();
        for (t, p) in inner {
            if let Some(inside) = target::contained_form(param, t, p) {
                // A contained resource's references to other contained ones are not indexed.
                alternatives.extend(with_contained(&inside, leaf, false)?);
                types.push(t.clone());
            }
        }
        if !alternatives.is_empty() {
            out.push(Criterion::Contained {
                marker: extract::contained_marker(param),
                types,
                alternatives,
            });
        }
    }
    Ok(out)
}

/// A chain or `_has` ending in `:not`: one criterion for all the values, whose innermost
/// part matches none of them (per value, `not male OR not female` would match everything).
fn negated_criterion(path: &Path, items: &[&str], base_url: &str) -> Result<Criterion, Problem> {
    walk(path, &|param, modifier| {
        Ok(Criterion::NoneOf(
            items
                .iter()
                .map(|raw| Ok(Criterion::Cond(cond(param, modifier, raw, base_url)?)))
                .collect::<Result<Vec<_>, Problem>>()?,
        ))
    })
}

type Leaf<'a> = dyn Fn(&ParamRef, &Modifier) -> Result<Criterion, Problem> + 'a;

/// The criterion of a resolved parameter name: chains and `_has` keep their shape, `leaf`
/// builds the innermost criterion.
fn walk(path: &Path, leaf: &Leaf<'_>) -> Result<Criterion, Problem> {
    Ok(match path {
        Path::Leaf { param, modifier } => leaf(param, modifier)?,
        Path::Chain { param, inner } => Criterion::Chain {
            param: param.clone(),
            inner: inner
                .iter()
                .map(|(t, p)| Ok((t.clone(), Box::new(walk(p, leaf)?))))
                .collect::<Result<Vec<_>, Problem>>()?,
        },
        Path::Has {
            resource_type,
            param,
            inner,
        } => Criterion::Has {
            resource_type: resource_type.clone(),
            param: param.clone(),
            inner: Box::new(walk(inner, leaf)?),
        },
    })
}

/// The code set a token modifier names, if it names one: `:in` / `:not-in` a ValueSet (url or
/// `ValueSet/id`), `:below` / `:above` a `system|code`.
fn code_set(
    param: &ParamRef,
    modifier: &Modifier,
    raw: &str,
) -> Result<Option<CodeSetRef>, Problem> {
    let name = &param.display;
    Ok(Some(match modifier {
        // Empty values never get here: a parameter with an empty value is skipped.
        Modifier::In | Modifier::NotIn => CodeSetRef::ValueSet(unescape(raw)),
        Modifier::Above | Modifier::Below => {
            let parts = split_unescaped(raw, '|');
            let (system, code) = match parts.as_slice() {
                [s, c] if !s.is_empty() && !c.is_empty() => (unescape(s), unescape(c)),
                _ => {
                    return Err(Problem::Invalid(format!(
                        "'{name}:above' and ':below' need a value system|code, not '{}'",
                        unescape(raw)
                    )))
                }
            };
            if *modifier == Modifier::Below {
                CodeSetRef::Below { system, code }
            } else {
                CodeSetRef::Above { system, code }
            }
        }
        _ => return Ok(None),
    }))
}
