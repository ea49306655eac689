//! What a parameter name refers to: the search parameter(s) of the searched types, the
//! modifier, and chains (`subject:Patient.name`) and reverse chains (`_has:Type:param:…`),
//! resolved against the registry before any value is read.

use super::problem::Problem;
use crate::fhir::element_types;
use crate::fhir::search::params::{Component, ParamType, Registry, SearchParam};
use crate::fhir::search::text;

/// How deep chains and `_has` may nest: each resolves to a sub-search, so depth multiplies
/// the work of one request.
pub const MAX_DEPTH: usize = 4;

/// The parameters every resource has, searchable even without `_type` at system level.
/// (`_text` is a DomainResource parameter: Bundle, Binary and Parameters have no narrative,
/// so over every type it finds none of them.)
const RESOURCE_LEVEL: [&str; 8] = [
    "_id",
    "_lastUpdated",
    "_tag",
    "_profile",
    "_security",
    "_source",
    "_text",
    "_content",
];

/// Named in search.html but not evaluated by this server.
const NOT_SUPPORTED: [&str; 1] = ["_query"];

/// A parameter as it applies to all the searched types at once.
#[derive(Debug, Clone)]
pub struct ParamRef {
    /// The code the conditions carry (for a composite's component: its index).
    pub code: String,
    /// The name used in error messages.
    pub display: String,
    pub kind: ParamType,
    /// The union of the reference targets over the searched types.
    pub targets: Vec<String>,
    /// The type a plain id names, when every searched type implies the same one
    /// (`SearchParam::implied_target`).
    pub implied_target: Option<String>,
    pub components: Vec<Component>,
    /// Every expression selects Identifiers, so `:of-type` applies.
    pub identifier: bool,
    /// Every expression selects ContactPoint, boolean or uri values, which have no system:
    /// search.html allows only `[parameter]=[code]` for them, never a `|`.
    pub system_less: bool,
    /// The type of the resource the parameter selects inside the searched one
    /// (`SearchParam::embedded`): chains lead into it.
    pub embedded: Option<String>,
    /// For a parameter of such an inner resource (`composition.status`): the code of the
    /// parameter that selects it (`composition`), whose entry says the resource is there.
    pub within: Option<String>,
}

impl ParamRef {
    pub fn component(parent: &ParamRef, index: usize, component: &Component) -> ParamRef {
        ParamRef {
            code: index.to_string(),
            display: format!("{} (component {})", parent.display, index + 1),
            kind: component.kind,
            targets: Vec::new(),
            implied_target: None,
            components: Vec::new(),
            identifier: false,
            system_less: false,
            embedded: None,
            within: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Modifier {
    None,
    Missing,
    Exact,
    Contains,
    Not,
    Text,
    OfType,
    Identifier,
    Above,
    Below,
    /// `:in` / `:not-in` on a token parameter.
    In,
    NotIn,
    /// `:[Type]` on a reference parameter.
    Type(String),
    /// String equality, case- and accent-insensitive: `_filter`'s `eq` (no URL modifier).
    Equals,
}

/// A resolved parameter name, before values.
#[derive(Debug, Clone)]
pub enum Path {
    Leaf {
        param: ParamRef,
        modifier: Modifier,
    },
    Chain {
        param: String,
        inner: Vec<(String, Path)>,
    },
    Has {
        resource_type: String,
        param: String,
        inner: Box<Path>,
    },
}

impl Path {
    /// The innermost parameter(s) the name leads to: the leaf, or each leaf of a chain's
    /// target types, or the leaf of a `_has`.
    pub fn leaves(&self) -> Vec<&ParamRef> {
        match self {
            Path::Leaf { param, .. } => vec![param],
            Path::Chain { inner, .. } => inner.iter().flat_map(|(_, p)| p.leaves()).collect(),
            Path::Has { inner, .. } => inner.leaves(),
        }
    }

    /// This name with `modifier` on its innermost parameter(s), for `_filter`, whose
    /// operators say what URL modifiers say (and one, string `eq`, that none does).
    pub fn with_modifier(mut self, modifier: &Modifier) -> Path {
        fn set(p: &mut Path, m: &Modifier) {
            match p {
                Path::Leaf { modifier, .. } => *modifier = m.clone(),
                Path::Chain { inner, .. } => inner.iter_mut().for_each(|(_, p)| set(p, m)),
                Path::Has { inner, .. } => set(inner, m),
            }
        }
        set(&mut self, modifier);
        self
    }

    /// `:not` ends this chain or `_has` (its inner criterion then negates all the values).
    pub fn ends_negated(&self) -> bool {
        match self {
            Path::Leaf { modifier, .. } => *modifier == Modifier::Not,
            Path::Chain { inner, .. } => inner.iter().any(|(_, p)| p.ends_negated()),
            Path::Has { inner, .. } => inner.ends_negated(),
        }
    }

    /// `:not` and `:not-in` on a top-level parameter negate its whole filter.
    pub fn negated(&self) -> bool {
        matches!(
            self,
            Path::Leaf {
                modifier: Modifier::Not | Modifier::NotIn,
                ..
            }
        )
    }
}

/// `param:{ty}.{rest}` as a name read from the container's own entries: what extraction
/// keeps of a contained resource of type `ty` that `param` points at
/// (`extract::contained`). `None` for what it does not keep: `_lastUpdated`, the words,
/// `:missing` (a container without such a contained resource lacks the entry too) and `_has`.
pub fn contained_form(param: &str, ty: &str, path: &Path) -> Option<Path> {
    // A resource held inside a Bundle (`composition.subject`) has no contained entries of
    // its own indexed.
    if param.contains('.') {
        return None;
    }
    let prefixed = |code: &str| format!("{param}:{ty}.{code}");
    Some(match path {
        Path::Leaf {
            param: leaf,
            modifier,
        } => {
            let code = leaf.code.as_str();
            if *modifier == Modifier::Missing
                || code == "_lastUpdated"
                || leaf.within.is_some()
                || text::Source::of(code).is_some()
            {
                return None;
            }
            let mut leaf = leaf.clone();
            leaf.code = prefixed(code);
            Path::Leaf {
                param: leaf,
                modifier: modifier.clone(),
            }
        }
        Path::Chain {
            param: inner,
            inner: targets,
        } => Path::Chain {
            param: prefixed(inner),
            inner: targets.clone(),
        },
        Path::Has { .. } => return None,
    })
}

pub fn is_not_supported(name: &str) -> bool {
    NOT_SUPPORTED.contains(&name)
}

/// Where the searched types are named in messages.
pub fn describe(types: &[String]) -> String {
    if types.is_empty() {
        "a system-level search without _type".to_string()
    } else {
        types.join(", ")
    }
}

/// The parameter `code` of every type in `types` (system level without `_type`: the
/// Resource-level ones only).
pub fn resolve(registry: &Registry, types: &[String], code: &str) -> Result<ParamRef, Problem> {
    if is_not_supported(code) {
        return Err(Problem::Unknown(format!(
            "Search parameter '{code}' is not supported"
        )));
    }
    let unknown = || {
        Problem::Unknown(format!(
            "Unknown search parameter '{code}' for {}",
            describe(types)
        ))
    };
    let defs: Vec<(&str, &SearchParam)> = if types.is_empty() {
        if !RESOURCE_LEVEL.contains(&code) {
            return Err(unknown());
        }
        vec![(
            "Patient",
            registry.param("Patient", code).ok_or_else(unknown)?,
        )]
    } else {
        types
            .iter()
            .map(|t| {
                registry
                    .param(t, code)
                    .map(|p| (t.as_str(), p))
                    .ok_or_else(|| {
                        Problem::Unknown(format!("Unknown search parameter '{code}' for {t}"))
                    })
            })
            .collect::<Result<_, _>>()?
    };
    let (_, first) = defs[0];
    for (t, def) in &defs {
        if let Some(reason) = &def.unsupported {
            return Err(Problem::Unknown(format!(
                "Search parameter '{code}' of {t} is not supported: {reason}"
            )));
        }
        if def.kind != first.kind {
            return Err(Problem::Unknown(format!(
                "Search parameter '{code}' has different types across the searched types ({})",
                describe(types)
            )));
        }
    }
    let mut targets: Vec<String> = Vec::new();
    for (_, def) in &defs {
        for t in &def.targets {
            if !targets.contains(t) {
                targets.push(t.clone());
            }
        }
    }
    let embedded = first.embedded.clone();
    if defs.iter().any(|(_, d)| d.embedded != embedded) {
        return Err(Problem::Unknown(format!(
            "Search parameter '{code}' selects different things across the searched types ({})",
            describe(types)
        )));
    }
    let implied_target = first.implied_target.clone().filter(|t| {
        defs.iter()
            .all(|(_, d)| d.implied_target.as_ref() == Some(t))
    });
    Ok(ParamRef {
        code: code.to_string(),
        display: code.to_string(),
        kind: first.kind,
        targets,
        implied_target,
        components: first.components.clone(),
        identifier: defs.iter().all(|(t, d)| {
            path_types(t, d.expression.as_deref(), false)
                .is_some_and(|types| types.iter().all(|x| x == "Identifier"))
        }),
        system_less: first.kind == ParamType::Token
            && defs.iter().all(|(t, d)| {
                path_types(t, d.expression.as_deref(), true).is_some_and(|types| {
                    types
                        .iter()
                        .all(|x| matches!(x.as_str(), "ContactPoint" | "boolean" | "uri"))
                })
            }),
        embedded,
        within: None,
    })
}

/// The types of what each branch of `expression` for `resource_type` selects, when every such
/// branch is a plain path (with `where_ok`, optionally ending in one `.where(…)`, which keeps
/// the type); `None` when one is not, or none applies. (`:of-type` means something only where
/// every path ends on an Identifier.)
fn path_types(
    resource_type: &str,
    expression: Option<&str>,
    where_ok: bool,
) -> Option<Vec<String>> {
    let prefix = format!("{resource_type}.");
    let mut types = Vec::new();
    for part in expression?.split(" | ") {
        let part = part.trim().trim_start_matches('(').trim_end_matches(')');
        let Some(mut path) = part.strip_prefix(&prefix) else {
            continue;
        };
        if where_ok {
            if let Some((before, filter)) = path.split_once(".where(") {
                // Only a filter at the end keeps the path's type (the branch's closing
                // parenthesis may have gone with the trim above).
                if filter.contains(").") {
                    return None;
                }
                path = before;
            }
        }
        let mut current = resource_type.to_string();
        for segment in path.split('.') {
            if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return None;
            }
            current = element_types::element(&current, segment)?
                .type_name
                .to_string();
        }
        types.push(current);
    }
    (!types.is_empty()).then_some(types)
}

/// Resolves a parameter name (everything left of `=`) for `types`. `depth` counts the chain
/// links and `_has` levels above this name.
pub fn parse_path(
    registry: &Registry,
    types: &[String],
    key: &str,
    depth: usize,
) -> Result<Path, Problem> {
    if depth > MAX_DEPTH {
        return Err(Problem::Invalid(format!(
            "Chains and _has may nest at most {MAX_DEPTH} levels deep"
        )));
    }
    if let Some(rest) = key.strip_prefix("_has:") {
        return parse_has(registry, types, key, rest, depth);
    }
    if key == "_has" {
        return Err(has_syntax(key));
    }
    match key.split_once('.') {
        Some((head, tail)) => parse_chain(registry, types, head, tail, depth),
        None => {
            let (name, modifier) = match key.split_once(':') {
                Some((n, m)) => (n, Some(m)),
                None => (key, None),
            };
            let param = resolve(registry, types, name)?;
            if let (Some(inner), Some(m)) = (&param.embedded, modifier) {
                if m != "missing" {
                    return Err(Problem::Unknown(format!(
                        "Modifier ':{m}' is not allowed on '{name}', which selects the \
                         {inner} inside the resource: search by one of its parameters \
                         ('{name}.[parameter]')"
                    )));
                }
            }
            let modifier = parse_modifier(&param, modifier, depth > 0)?;
            Ok(Path::Leaf { param, modifier })
        }
    }
}

fn has_syntax(key: &str) -> Problem {
    Problem::Invalid(format!(
        "Invalid parameter '{key}': expected _has:[type]:[parameter]:[criterion]"
    ))
}

fn parse_has(
    registry: &Registry,
    types: &[String],
    key: &str,
    rest: &str,
    depth: usize,
) -> Result<Path, Problem> {
    let mut parts = rest.splitn(3, ':');
    let (Some(source), Some(code), Some(inner_key)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(has_syntax(key));
    };
    if source.is_empty() || code.is_empty() || inner_key.is_empty() {
        return Err(has_syntax(key));
    }
    if !element_types::is_resource_type(source) {
        return Err(Problem::Unknown(format!(
            "Unknown resource type '{source}' in '{key}'"
        )));
    }
    let source_types = [source.to_string()];
    let param = resolve(registry, &source_types, code)?;
    if param.kind != ParamType::Reference {
        return Err(Problem::Invalid(format!(
            "'{code}' of {source} is not a reference parameter, so it cannot be used in _has"
        )));
    }
    if let Some(inner) = &param.embedded {
        return Err(Problem::Invalid(format!(
            "'{code}' of {source} selects the {inner} inside it, not a resource stored on its \
             own, so it cannot be used in _has"
        )));
    }
    if !types.is_empty()
        && !param.targets.is_empty()
        && !types.iter().any(|t| param.targets.contains(t))
    {
        return Err(Problem::Invalid(format!(
            "'{code}' of {source} does not reference {}",
            describe(types)
        )));
    }
    let inner = parse_path(registry, &source_types, inner_key, depth + 1)?;
    Ok(Path::Has {
        resource_type: source.to_string(),
        param: code.to_string(),
        inner: Box::new(inner),
    })
}

fn parse_chain(
    registry: &Registry,
    types: &[String],
    head: &str,
    tail: &str,
    depth: usize,
) -> Result<Path, Problem> {
    let (name, type_modifier) = match head.split_once(':') {
        Some((n, m)) => (n, Some(m)),
        None => (head, None),
    };
    let param = resolve(registry, types, name)?;
    if param.kind != ParamType::Reference {
        return Err(Problem::Invalid(format!(
            "'{name}' is not a reference parameter, so it cannot be chained"
        )));
    }
    if let Some(inner) = &param.embedded {
        if type_modifier.is_some_and(|t| t != inner) {
            return Err(Problem::Unknown(format!(
                "'{name}' selects a {inner}, so ':{}' cannot follow it",
                type_modifier.unwrap_or_default()
            )));
        }
        return parse_inner(registry, name, inner, tail, depth);
    }
    let candidates: Vec<String> = match type_modifier {
        Some(t) => {
            if !is_target(&param, t) {
                return Err(Problem::Unknown(format!(
                    "Modifier ':{t}' is not a target type of reference parameter '{name}'"
                )));
            }
            vec![t.to_string()]
        }
        None if param.targets.is_empty() => {
            return Err(Problem::Invalid(format!(
            "'{name}' may reference any type: name the type to chain through ('{name}:[type].…')"
        )))
        }
        None => param.targets.clone(),
    };
    let chained = if tail.starts_with("_has:") {
        "_has"
    } else {
        tail.split([':', '.']).next().unwrap_or_default()
    };
    let mut inner = Vec::new();
    let mut first_error = None;
    for candidate in candidates {
        let one = [candidate.clone()];
        if chained != "_has" && registry.param(&candidate, chained).is_none() {
            continue;
        }
        match parse_path(registry, &one, tail, depth + 1) {
            Ok(path) => inner.push((candidate, path)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    if inner.is_empty() {
        return Err(first_error.unwrap_or_else(|| {
            Problem::Unknown(format!(
                "No target type of '{name}' has a search parameter '{chained}'"
            ))
        }));
    }
    Ok(Path::Chain {
        param: name.to_string(),
        inner,
    })
}

/// `{name}.{tail}` where `name` selects a resource of type `inner` held inside the searched
/// one: `tail` is a parameter (or chain) of `inner`, read from the entries extraction keeps
/// under `{name}.{parameter}` (`extract::embedded`). Its words (`_text`, `_content`) and
/// `_lastUpdated` are not kept, nor can `_has` point into a resource that is not stored on
/// its own.
fn parse_inner(
    registry: &Registry,
    name: &str,
    inner: &str,
    tail: &str,
    depth: usize,
) -> Result<Path, Problem> {
    let not_kept = |code: &str| {
        Problem::Unknown(format!(
            "'{name}.{code}' is not supported: the {inner} inside the resource is searched by \
             its other parameters"
        ))
    };
    // Not a level of its own: the inner entries are the searched resource's, so its criteria
    // stay top-level ones (`:not-in` included) and only chains from here on count.
    let path = parse_path(registry, &[inner.to_string()], tail, depth)?;
    let prefixed = |code: &str| format!("{name}.{code}");
    Ok(match path {
        Path::Leaf {
            mut param,
            modifier,
        } => {
            let code = param.code.as_str();
            if code != "_id" && !registry.has_path_entries(inner, code) {
                return Err(not_kept(code));
            }
            param.code = prefixed(&param.code);
            param.display = prefixed(&param.display);
            param.within = Some(name.to_string());
            Path::Leaf { param, modifier }
        }
        Path::Chain { param, inner } => Path::Chain {
            param: prefixed(&param),
            inner,
        },
        Path::Has { .. } => return Err(not_kept("_has")),
    })
}

fn is_target(param: &ParamRef, t: &str) -> bool {
    element_types::is_resource_type(t)
        && (param.targets.is_empty() || param.targets.iter().any(|x| x == t))
}

/// The modifiers search.html defines per type; those this server does not evaluate are
/// refused as not supported rather than ignored (ignoring would widen the result).
fn parse_modifier(
    param: &ParamRef,
    modifier: Option<&str>,
    nested: bool,
) -> Result<Modifier, Problem> {
    let Some(m) = modifier else {
        return Ok(Modifier::None);
    };
    let code = param.display.as_str();
    let kind = param.kind;
    let not_allowed = || {
        Problem::Unknown(format!(
            "Modifier ':{m}' is not allowed on {} parameter '{code}'",
            kind.as_str()
        ))
    };
    let not_supported =
        || Problem::Unknown(format!("Modifier ':{m}' on '{code}' is not supported"));
    let special = matches!(code, "_id" | "_lastUpdated");
    let parsed = match (m, kind) {
        ("missing", _) if !special => Modifier::Missing,
        ("not", ParamType::Token) => Modifier::Not,
        (_, _) if special => return Err(not_allowed()),
        ("exact", ParamType::String) => Modifier::Exact,
        ("contains", ParamType::String) => Modifier::Contains,
        ("text", ParamType::Token) => Modifier::Text,
        ("of-type", ParamType::Token) if param.identifier => Modifier::OfType,
        ("in", ParamType::Token) => Modifier::In,
        ("not-in", ParamType::Token) => Modifier::NotIn,
        ("above", ParamType::Uri | ParamType::Token) => Modifier::Above,
        ("below", ParamType::Uri | ParamType::Token) => Modifier::Below,
        ("above" | "below", ParamType::Reference) => return Err(not_supported()),
        ("identifier", ParamType::Reference) => Modifier::Identifier,
        (t, ParamType::Reference) if element_types::is_resource_type(t) => {
            if !is_target(param, t) {
                return Err(Problem::Unknown(format!(
                    "Modifier ':{t}' is not a target type of reference parameter '{code}'"
                )));
            }
            Modifier::Type(t.to_string())
        }
        _ => return Err(not_allowed()),
    };
    if nested && parsed == Modifier::NotIn {
        return Err(Problem::Unknown(format!(
            "Modifier ':{m}' on '{code}' is not supported inside a chain or _has"
        )));
    }
    Ok(parsed)
}
