//! The search parameters the server supports: the official R4 SearchParameter resources
//! vendored in `profiles/search-parameters.json`, plus the common `Resource` parameters.

use super::text;
use crate::fhir::element_types;
use crate::fhir::fhirpath::Expression;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::OnceLock;

static SOURCE: &str = include_str!("../../../profiles/search-parameters.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    Number,
    Date,
    String,
    Token,
    Reference,
    Composite,
    Quantity,
    Uri,
    Special,
}

impl ParamType {
    pub fn parse(s: &str) -> Option<ParamType> {
        Some(match s {
            "number" => ParamType::Number,
            "date" => ParamType::Date,
            "string" => ParamType::String,
            "token" => ParamType::Token,
            "reference" => ParamType::Reference,
            "composite" => ParamType::Composite,
            "quantity" => ParamType::Quantity,
            "uri" => ParamType::Uri,
            "special" => ParamType::Special,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Number => "number",
            ParamType::Date => "date",
            ParamType::String => "string",
            ParamType::Token => "token",
            ParamType::Reference => "reference",
            ParamType::Composite => "composite",
            ParamType::Quantity => "quantity",
            ParamType::Uri => "uri",
            ParamType::Special => "special",
        }
    }
}

/// One component of a composite parameter.
#[derive(Debug, Clone)]
pub struct Component {
    /// The component's own parameter (resolved from `component.definition`).
    pub code: String,
    pub kind: ParamType,
    /// FHIRPath relative to each item the composite's own expression selects.
    pub expression: String,
}

/// The one type a reference parameter's branches for `base` can point to when each of them
/// keeps only references that resolve to it (`Observation.subject.where(resolve() is
/// Patient)`): the definition's targets are those of every base (`clinical-patient` lists
/// Patient and Group), but on this base the parameter finds Patients only, so `patient=123`
/// is `patient=Patient/123` (the form the stores pair with a code). The declared targets stay
/// what modifiers and chains are checked against.
fn resolved_target(expression: Option<&str>, base: &str) -> Option<String> {
    let prefix = format!("{base}.");
    let mut found: Option<&str> = None;
    for branch in expression?.split(" | ").map(str::trim) {
        if !branch.starts_with(&prefix) {
            continue;
        }
        let t = branch
            .strip_suffix(')')?
            .rsplit_once(".where(resolve() is ")?
            .1;
        if !t.chars().all(|c| c.is_ascii_alphanumeric()) || found.is_some_and(|f| f != t) {
            return None;
        }
        found = Some(t);
    }
    found.map(str::to_string)
}

/// A search parameter as it applies to one resource type.
#[derive(Debug, Clone)]
pub struct SearchParam {
    pub code: String,
    pub url: String,
    pub kind: ParamType,
    /// The FHIRPath expression (the whole of it; parts for other bases select nothing).
    pub expression: Option<String>,
    /// For reference parameters: the resource types it may point to.
    pub targets: Vec<String>,
    /// For reference parameters: the one type it finds on this base, when there is one (a
    /// single target, or every branch for the base keeps only references resolving to one
    /// type): a plain id names a resource of that type.
    pub implied_target: Option<String>,
    pub components: Vec<Component>,
    /// Set when the server cannot evaluate this parameter; searching by it answers 400 with
    /// this reason.
    pub unsupported: Option<String>,
    /// For a parameter that selects a resource held inside this one rather than a reference
    /// (`Bundle.composition`: the Composition first in a document), that resource's type.
    /// Searches chain into it (`composition.subject=…`); includes cannot follow it.
    pub embedded: Option<String>,
}

impl SearchParam {
    /// Whether `_include`, `_revinclude` and their `*` forms follow this parameter: a
    /// supported reference parameter that points at resources stored on their own.
    pub fn follows_references(&self) -> bool {
        self.kind == ParamType::Reference && self.unsupported.is_none() && self.embedded.is_none()
    }
}

/// Every supported parameter by resource type and code.
#[derive(Debug, Default)]
pub struct Registry {
    by_type: HashMap<String, HashMap<String, SearchParam>>,
    /// The parsed expressions per resource type, built on first extraction.
    compiled: OnceLock<HashMap<String, Vec<Compiled>>>,
}

/// A supported parameter's expressions, parsed once and reduced to the union branches that
/// apply to one resource type (what extraction evaluates on every write).
#[derive(Debug)]
pub(crate) struct Compiled {
    pub code: String,
    pub kind: ParamType,
    pub values: Values,
    pub components: Vec<(ParamType, Expression)>,
    /// See [`Registry::most_values`].
    pub most_values: Option<usize>,
}

/// Where a compiled parameter's values come from.
#[derive(Debug)]
pub(crate) enum Values {
    /// Its FHIRPath expression, reduced to one resource type.
    Path(Expression),
    /// The words of the resource's text (`_text`, `_content`, which have no expression).
    Words(text::Source),
    /// The resource of the given type the expression selects inside this one, whose own
    /// parameters are indexed under `{code}.{parameter}` (see [`SearchParam::embedded`]).
    Embedded(Expression, String),
}

/// Reference parameters whose expression selects a resource held inside the resource (the
/// first entry of a Bundle) rather than a Reference, by URL, with that resource's type: the
/// definitions say so in words ("this parameter provides access to search its contents").
const EMBEDDED: &[(&str, &str)] = &[
    (
        "http://hl7.org/fhir/SearchParameter/Bundle-composition",
        "Composition",
    ),
    (
        "http://hl7.org/fhir/SearchParameter/Bundle-message",
        "MessageHeader",
    ),
];

/// The type of the resource an official SearchParameter selects inside its base, if it
/// selects one (see [`EMBEDDED`]).
fn embedded_type(def: &Value) -> Option<String> {
    let url = def["url"].as_str()?;
    EMBEDDED
        .iter()
        .find(|(u, _)| *u == url)
        .map(|(_, t)| t.to_string())
}

/// Why `def` (an official SearchParameter) cannot be evaluated, if it cannot.
fn unsupported_reason(def: &Value, kind: ParamType) -> Option<String> {
    let Some(expression) = def["expression"].as_str() else {
        return match def["code"].as_str() {
            Some(code) if text::Source::of(code).is_some() => None,
            Some("_query") => Some(
                "names a query the server defines (search.html \"_query\"); this server defines none"
                    .to_string(),
            ),
            _ => Some("the parameter has no FHIRPath expression".to_string()),
        };
    };
    if kind == ParamType::Special && !selects_positions(def, expression) {
        return Some(
            "special parameters other than a position search over Location.position (`near`) are not supported"
                .to_string(),
        );
    }
    let components = def["component"].as_array().into_iter().flatten();
    for x in std::iter::once(expression).chain(components.filter_map(|c| c["expression"].as_str()))
    {
        if let Err(e) = Expression::parse(x) {
            return Some(format!("the expression {x} is not supported: {e}"));
        }
    }
    None
}

/// Whether a special parameter's expression selects, on every base, the element `near`
/// searches (`Location.position`: latitude and longitude): the one kind of special parameter
/// this server evaluates (`geo`).
fn selects_positions(def: &Value, expression: &str) -> bool {
    let Ok(e) = Expression::parse(expression) else {
        return false;
    };
    let mut bases = def["base"].as_array().into_iter().flatten().peekable();
    bases.peek().is_some()
        && bases.all(|b| {
            b.as_str()
                .and_then(|b| e.specialize(b))
                .is_some_and(|s| s.selects() == Some(POSITION))
        })
}

/// The element type a position search reads.
const POSITION: &str = "Location.position";

impl Registry {
    /// The registry built from the vendored official definitions (built once, then shared).
    pub fn r4() -> &'static Registry {
        static R4: OnceLock<Registry> = OnceLock::new();
        R4.get_or_init(|| {
            let bundle: Value =
                serde_json::from_str(SOURCE).expect("profiles/search-parameters.json is JSON");
            Registry::from_bundle(&bundle)
        })
    }

    /// Builds a registry from a Bundle of SearchParameter resources. A parameter whose base is
    /// `Resource` or `DomainResource` applies to every resource type (DomainResource: every
    /// type but Bundle, Binary and Parameters).
    pub fn from_bundle(bundle: &Value) -> Registry {
        let defs: Vec<&Value> = bundle["entry"]
            .as_array()
            .map(|a| a.iter().map(|e| &e["resource"]).collect())
            .unwrap_or_default();
        let by_url: HashMap<&str, &Value> = defs
            .iter()
            .filter_map(|d| Some((d["url"].as_str()?, *d)))
            .collect();
        let mut registry = Registry::default();
        for def in &defs {
            let (Some(code), Some(kind)) = (
                def["code"].as_str(),
                def["type"].as_str().and_then(ParamType::parse),
            ) else {
                continue;
            };
            let expression = def["expression"].as_str().map(str::to_string);
            let mut unsupported = unsupported_reason(def, kind);
            let mut components = Vec::new();
            for c in def["component"].as_array().into_iter().flatten() {
                let target = c["definition"].as_str().and_then(|u| by_url.get(u));
                match target.and_then(|t| {
                    Some(Component {
                        code: t["code"].as_str()?.to_string(),
                        kind: ParamType::parse(t["type"].as_str()?)?,
                        expression: c["expression"].as_str()?.to_string(),
                    })
                }) {
                    Some(comp) => components.push(comp),
                    None => {
                        unsupported = Some(format!(
                            "component {} is not a known search parameter",
                            c["definition"].as_str().unwrap_or("?")
                        ))
                    }
                }
            }
            let param = SearchParam {
                code: code.to_string(),
                url: def["url"].as_str().unwrap_or_default().to_string(),
                kind,
                expression,
                targets: def["target"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect(),
                implied_target: None,
                components,
                unsupported,
                embedded: embedded_type(def),
            };
            for base in def["base"].as_array().into_iter().flatten() {
                let Some(base) = base.as_str() else { continue };
                let types: Vec<&str> = match base {
                    "Resource" => element_types::resource_types()
                        .iter()
                        .map(String::as_str)
                        .collect(),
                    "DomainResource" => element_types::resource_types()
                        .iter()
                        .map(String::as_str)
                        .filter(|t| !matches!(*t, "Bundle" | "Binary" | "Parameters"))
                        .collect(),
                    t => vec![t],
                };
                for t in types {
                    let mut own = param.clone();
                    own.implied_target = match own.targets.as_slice() {
                        [only] => Some(only.clone()),
                        _ => resolved_target(param.expression.as_deref(), t)
                            .filter(|only| own.targets.contains(only)),
                    };
                    registry
                        .by_type
                        .entry(t.to_string())
                        .or_default()
                        .insert(code.to_string(), own);
                }
            }
        }
        registry
    }

    /// The parameter `code` of `resource_type`, including the `Resource`/`DomainResource`
    /// ones (`_id`, `_lastUpdated`, `_tag`, `_profile`, `_security`, `_source`, `_text`,
    /// `_content`, `_list`, `_has`, `_type` are answered by name elsewhere).
    pub fn param(&self, resource_type: &str, code: &str) -> Option<&SearchParam> {
        self.by_type.get(resource_type)?.get(code)
    }

    /// The supported parameters of `resource_type` that have index entries, parsed, sorted by
    /// code. (`_id` and `_lastUpdated` are answered from stored columns, so they have none.)
    pub(crate) fn compiled(&self, resource_type: &str) -> &[Compiled] {
        let all = self.compiled.get_or_init(|| {
            self.by_type
                .iter()
                .map(|(t, params)| {
                    let mut list: Vec<Compiled> =
                        params.values().filter_map(|p| compile(p, t)).collect();
                    list.sort_by(|a, b| a.code.cmp(&b.code));
                    (t.clone(), list)
                })
                .collect()
        });
        all.get(resource_type)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// The most index values one resource of `resource_type` can have for parameter `code`,
    /// where FHIR's cardinalities bound it: a reference or uri parameter indexes at most one
    /// value per item its expression selects (`Encounter.subject`: 1). `None` otherwise.
    pub fn most_values(&self, resource_type: &str, code: &str) -> Option<usize> {
        self.compiled_param(resource_type, code)?.most_values
    }

    /// Whether parameter `code` of `resource_type` has index entries read from its FHIRPath
    /// expression (not from text words, nor from a resource held inside).
    pub fn has_path_entries(&self, resource_type: &str, code: &str) -> bool {
        self.compiled_param(resource_type, code)
            .is_some_and(|c| matches!(c.values, Values::Path(_)))
    }

    /// The compiled parameter `code` of `resource_type`, when it has index entries.
    pub(crate) fn compiled_param(&self, resource_type: &str, code: &str) -> Option<&Compiled> {
        let compiled = self.compiled(resource_type);
        let at = compiled
            .binary_search_by(|c| c.code.as_str().cmp(code))
            .ok()?;
        Some(&compiled[at])
    }

    /// How many parameters of `resource_type` have index entries.
    pub fn indexed_count(&self, resource_type: &str) -> usize {
        self.compiled(resource_type).len()
    }

    /// The supported reference parameters, of any resource type, that may point at a
    /// `target` resource, as (source type, parameter), sorted: what `_revinclude=*` follows
    /// back and what the CapabilityStatement offers as `_revinclude` values.
    pub fn referencing(&self, target: &str) -> Vec<(&str, &SearchParam)> {
        let mut v: Vec<(&str, &SearchParam)> = self
            .by_type
            .iter()
            .flat_map(|(source, params)| params.values().map(move |p| (source.as_str(), p)))
            .filter(|(_, p)| {
                p.follows_references()
                    && (p.targets.is_empty() || p.targets.iter().any(|t| t == target))
            })
            .collect();
        v.sort_by(|a, b| (a.0, &a.1.code).cmp(&(b.0, &b.1.code)));
        v
    }

    /// All parameters of a resource type, sorted by code (for the CapabilityStatement).
    pub fn params_of(&self, resource_type: &str) -> Vec<&SearchParam> {
        let mut v: Vec<&SearchParam> = self
            .by_type
            .get(resource_type)
            .map(|m| m.values().collect())
            .unwrap_or_default();
        v.sort_by(|a, b| a.code.cmp(&b.code));
        v
    }
}

fn compile(p: &SearchParam, resource_type: &str) -> Option<Compiled> {
    if p.unsupported.is_some() || matches!(p.code.as_str(), "_id" | "_lastUpdated") {
        return None;
    }
    if p.expression.is_none() {
        return Some(Compiled {
            code: p.code.clone(),
            kind: p.kind,
            values: Values::Words(text::Source::of(&p.code)?),
            components: Vec::new(),
            most_values: None,
        });
    }
    let expression = Expression::parse(p.expression.as_deref()?)
        .ok()?
        .specialize(resource_type)?;
    let components = p
        .components
        .iter()
        .map(|c| {
            let e = Expression::parse(&c.expression).ok()?;
            Some((c.kind, e.for_focus(resource_type, expression.selects())))
        })
        .collect::<Option<Vec<_>>>()?;
    let most_values = matches!(p.kind, ParamType::Reference | ParamType::Uri)
        .then(|| expression.max_items(resource_type))
        .flatten();
    let values = match &p.embedded {
        Some(t) => Values::Embedded(expression, t.clone()),
        None => Values::Path(expression),
    };
    Some(Compiled {
        code: p.code.clone(),
        kind: p.kind,
        values,
        components,
        most_values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_definitions_load_for_every_base() {
        let r = Registry::r4();
        let name = r.param("Patient", "name").unwrap();
        assert_eq!(name.kind, ParamType::String);
        let subject = r.param("Observation", "subject").unwrap();
        assert!(subject.targets.iter().any(|t| t == "Patient"));
        // Multi-base parameters apply to each of their bases.
        assert!(r.param("AllergyIntolerance", "patient").is_some());
        // Resource-level parameters apply to every type.
        assert_eq!(r.param("Claim", "_tag").unwrap().kind, ParamType::Token);
        assert_eq!(r.param("Bundle", "_profile").unwrap().kind, ParamType::Uri);
        let cvq = r.param("Observation", "code-value-quantity").unwrap();
        assert_eq!(cvq.components.len(), 2);
        assert_eq!(cvq.components[1].kind, ParamType::Quantity);
        assert!(r.param("Patient", "_query").unwrap().unsupported.is_some());
        assert_eq!(r.param("Patient", "_text").unwrap().unsupported, None);
        assert_eq!(r.param("Bundle", "_content").unwrap().unsupported, None);
        assert!(r.param("Bundle", "_text").is_none());
        let near = r.param("Location", "near").unwrap();
        assert_eq!((near.kind, &near.unsupported), (ParamType::Special, &None));
    }

    /// `clinical-patient` lists Patient and Group for all its bases; a base whose branch keeps
    /// Patients only implies Patient, one that takes the element whole implies nothing.
    #[test]
    fn plain_ids_imply_the_type_a_base_resolves() {
        let r = Registry::r4();
        let implied = |t: &str, code: &str| r.param(t, code).unwrap().implied_target.clone();
        assert_eq!(
            implied("Observation", "patient").as_deref(),
            Some("Patient")
        );
        assert_eq!(implied("Encounter", "patient").as_deref(), Some("Patient"));
        assert_eq!(r.param("Observation", "patient").unwrap().targets.len(), 2);
        assert_eq!(implied("AllergyIntolerance", "patient"), None);
        assert_eq!(implied("Observation", "subject"), None);
        assert_eq!(
            implied("Observation", "specimen").as_deref(),
            Some("Specimen")
        );
        assert_eq!(
            resolved_target(Some("A.x.where(resolve() is Patient) | B.y"), "B"),
            None
        );
        assert_eq!(
            resolved_target(
                Some("A.x.where(resolve() is Patient) | A.z.where(resolve() is Group)"),
                "A"
            ),
            None
        );
        assert_eq!(
            resolved_target(Some("A.x.where(resolve() is Patient) | B.y"), "A").as_deref(),
            Some("Patient")
        );
    }
}
