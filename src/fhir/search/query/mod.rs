//! The parsed form of a search request (search.html), and what a store is asked to evaluate.
//!
//! Parsing (query string → [`SearchRequest`]) validates everything against the registry, so a
//! store only ever sees well-formed, normalised conditions. Chains and `_has` are resolved by
//! the interactions layer into [`Cond::ReferenceIn`] / [`Cond::IdIn`] before a store sees them.
//! (Owner of `parse`: the query-parsing work; the types are the contract with the stores.)

mod control;
mod cursor;
mod escape;
mod filter;
mod problem;
mod request;
mod target;
mod value;

pub use control::MAX_SORT_KEYS;
pub use request::MAX_SEARCH_VALUES;
pub use target::MAX_DEPTH;
pub use value::MAX_CONTAINS_BYTES;

use super::params::{ParamType, Registry};
use crate::fhir::outcome::FhirError;

/// The comparison prefixes of number, date and quantity values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prefix {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Sa,
    Eb,
    Ap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringMode {
    /// Default: the normalised value starts with the normalised search text.
    StartsWith,
    /// `:contains`: the normalised value contains the normalised search text.
    Contains,
    /// `:exact`: the value as written equals the search text exactly.
    Exact,
    /// `_filter`'s `eq`: the normalised value equals the normalised search text (the same
    /// character sequence, case-insensitively: search_filter.html).
    Equals,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemMatch {
    /// `code`: any system or none.
    Any,
    /// `|code`: no system.
    None,
    /// `system|code` or `system|`.
    Is(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriMode {
    Equals,
    /// `:above`: the stored uri is the search uri or a prefix of it (by path segment).
    Above,
    /// `:below`: the stored uri starts with the search uri.
    Below,
}

/// One condition on one parameter's index entries. A resource matches when at least one of
/// its entries for `param` satisfies it (except `Missing`, `IdIn`, `Id`, `LastUpdated`).
/// Values are already normalised like index entries (`values::normalize_string`,
/// `values::date_range`, `values::decimal_range`).
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// `_id`: the logical id is one of these.
    Id(Vec<String>),
    /// `_lastUpdated` against the stored version time (microseconds).
    LastUpdated { prefix: Prefix, low: i64, high: i64 },
    String {
        param: String,
        mode: StringMode,
        value: String,
    },
    /// `code` `None` is the `system|` form (any code in that system).
    Token {
        param: String,
        system: SystemMatch,
        code: Option<String>,
    },
    /// The entry's code is one of these, by system (`:in`, `:above`, `:below`, once the
    /// interactions layer has looked the codes up in the partition's terminology).
    TokenIn {
        param: String,
        codes: Vec<(String, Vec<String>)>,
    },
    /// `:text`: the entry's normalised text starts with this normalised text.
    TokenText { param: String, text: String },
    /// The search range [low, high] against the entry's range, per `prefix` (search.html
    /// "date": eq = entry within search range, gt = entry's high > search high, …,
    /// sa = entry's low > search high, eb = entry's high < search low, ap = overlap of the
    /// search range widened by 10 % of the distance to now).
    Date {
        param: String,
        prefix: Prefix,
        low: i64,
        high: i64,
    },
    /// eq: entry value within [low, high] (the search value's precision range); gt/lt/ge/le
    /// compare entry value with `value`; ap: within ±10 % of `value`.
    Number {
        param: String,
        prefix: Prefix,
        value: f64,
        low: f64,
        high: f64,
    },
    /// As `Number`, plus the unit: `system`/`code` when given must equal the entry's
    /// (a `code` without system also matches the entry's `unit`).
    Quantity {
        param: String,
        prefix: Prefix,
        value: f64,
        low: f64,
        high: f64,
        system: Option<String>,
        code: Option<String>,
    },
    /// A reference to one resource: `id` with optional `target_type` (`subject=123`,
    /// `subject:Patient=123`, `subject=Patient/123`), or an absolute `url` (external or
    /// canonical; `version` when the search value had `|version`).
    Reference {
        param: String,
        target_type: Option<String>,
        id: Option<String>,
        url: Option<String>,
        version: Option<String>,
    },
    /// The entry references one of these (type, id) pairs (from a chain).
    ReferenceIn {
        param: String,
        targets: Vec<(String, String)>,
    },
    Uri {
        param: String,
        mode: UriMode,
        value: String,
    },
    /// `near`: a position within `km` (great-circle distance, `geo`) of `lat`/`lng`.
    Near {
        param: String,
        lat: f64,
        lng: f64,
        km: f64,
    },
    /// Every component condition holds on the same composite entry. The components'
    /// `param` fields are the component index as text (`"0"`, `"1"`).
    Composite { param: String, parts: Vec<Cond> },
    /// `:missing=true` (no entry for `param`) / `:missing=false` (at least one). `kind` is the
    /// parameter's type, which says where a store keeps its entries (MongoDB: one array per
    /// kind of value).
    Missing {
        param: String,
        kind: ParamType,
        missing: bool,
    },
    /// The resource's (type, id) is one of these (from `_has`).
    IdIn(Vec<(String, String)>),
}

impl Cond {
    /// This condition asked of a resource held inside another, whose entries carry the
    /// parameter codes `{prefix}{code}` (`_id` is the token `{prefix}_id`); `None` for what
    /// such entries cannot answer (`_lastUpdated`: a contained resource has no version;
    /// `:missing`, which would also match containers without the resource; id lists of
    /// stored resources).
    pub fn within(&self, prefix: &str) -> Option<Vec<Cond>> {
        let renamed = |param: &str| format!("{prefix}{param}");
        let mut c = self.clone();
        match &mut c {
            Cond::Id(ids) => {
                return Some(
                    ids.iter()
                        .map(|id| Cond::Token {
                            param: renamed("_id"),
                            system: SystemMatch::Any,
                            code: Some(id.clone()),
                        })
                        .collect(),
                )
            }
            Cond::LastUpdated { .. } | Cond::Missing { .. } | Cond::IdIn(_) => return None,
            Cond::String { param, .. }
            | Cond::Token { param, .. }
            | Cond::TokenIn { param, .. }
            | Cond::TokenText { param, .. }
            | Cond::Date { param, .. }
            | Cond::Number { param, .. }
            | Cond::Quantity { param, .. }
            | Cond::Reference { param, .. }
            | Cond::ReferenceIn { param, .. }
            | Cond::Uri { param, .. }
            | Cond::Composite { param, .. }
            | Cond::Near { param, .. } => *param = renamed(param),
        }
        Some(vec![c])
    }

    /// The search parameter the condition tests, if it names one (`_id` and `_lastUpdated`
    /// conditions and id lists do not).
    pub fn param(&self) -> Option<&str> {
        match self {
            Cond::String { param, .. }
            | Cond::Token { param, .. }
            | Cond::TokenIn { param, .. }
            | Cond::TokenText { param, .. }
            | Cond::Date { param, .. }
            | Cond::Number { param, .. }
            | Cond::Quantity { param, .. }
            | Cond::Reference { param, .. }
            | Cond::ReferenceIn { param, .. }
            | Cond::Uri { param, .. }
            | Cond::Composite { param, .. }
            | Cond::Near { param, .. }
            | Cond::Missing { param, .. } => Some(param),
            Cond::Id(_) | Cond::IdIn(_) | Cond::LastUpdated { .. } => None,
        }
    }
}

/// A criterion as parsed, before chains and `_has` are resolved.
#[derive(Debug, Clone, PartialEq)]
pub enum Criterion {
    Cond(Cond),
    /// `param.chained=value` / `param:Type.chained=value`: resources whose `param` references a
    /// resource of one of the listed types matching that type's criterion.
    Chain {
        param: String,
        inner: Vec<(String, Box<Criterion>)>,
    },
    /// A token parameter tested against a set of codes that lives in terminology resources:
    /// `:in` / `:not-in` (the filter negates) a ValueSet, `:below` / `:above` a code in its
    /// CodeSystem's hierarchy. Resolved into [`Cond::TokenIn`].
    Codes {
        param: String,
        set: CodeSetRef,
    },
    /// `:not` at the end of a chain or `_has`: the resources matching none of these (all the
    /// values of the parameter, so `gender:not=male,female` is neither). Only ever the inner
    /// criterion of a `Chain` or `Has`.
    NoneOf(Vec<Criterion>),
    /// Any of these: a chain's inner criterion together with its `Contained` form
    /// (`Observation?subject.organization.name=x` where a Patient contains its
    /// Organization). Only ever the inner criterion of a `Chain`; at the top of a search the
    /// alternatives are values of the filter itself.
    AnyOf(Vec<Criterion>),
    /// A chain's test read inside the contained resources its references point at
    /// (`subject:Patient.name` entries of the searched resources themselves, search.html
    /// "a chained condition will be evaluated inside contained resources"), used only where
    /// some resource of the searched type has the `marker` entry (`extract::contained_marker`)
    /// for one of `types`: otherwise the alternatives can match nothing, and leaving them out
    /// keeps the chain's own query as it was.
    Contained {
        marker: String,
        types: Vec<String>,
        alternatives: Vec<Criterion>,
    },
    /// `_list=id`: the resources List/`id` lists (search.html "_list": its `entry.item`,
    /// entries marked deleted left out). A List that does not exist lists nothing.
    List(String),
    /// `_has:Type:param:criterion=value`: resources referenced through `param` by a `Type`
    /// resource matching `inner`.
    Has {
        resource_type: String,
        param: String,
        inner: Box<Criterion>,
    },
}

/// Where the codes of a [`Criterion::Codes`] come from.
#[derive(Debug, Clone, PartialEq)]
pub enum CodeSetRef {
    /// A ValueSet's canonical url (`|version` allowed) or a local reference `ValueSet/id`.
    ValueSet(String),
    /// `code` and the codes it subsumes, in the CodeSystem `system` (`:below`).
    Below { system: String, code: String },
    /// `code` and the codes that subsume it (`:above`).
    Above { system: String, code: String },
}

/// One search parameter occurrence: its values are ORed; `negate` (`:not`) turns the whole
/// group into "no entry matches any of them". Filters of a request are ANDed.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub any: Vec<Criterion>,
    pub negate: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    Id,
    LastUpdated,
    /// Ascending sorts by each resource's smallest entry value, descending by its largest
    /// (dates: low / high; strings: normalised; tokens: code; references: url).
    Param {
        param: String,
        kind: ParamType,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

/// A sort value of one resource. Resources without a value sort after all others in both
/// directions; ties are broken by resource type then id, ascending.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum SortValue {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
}

/// A keyset position: the sort values, type and id of the last resource of the previous page
/// (`backward`: the first resource of the next page, for `previous` links).
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub values: Vec<SortValue>,
    pub resource_type: String,
    pub id: String,
    pub backward: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Total {
    None,
    Estimate,
    Accurate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Summary {
    False,
    True,
    Text,
    Data,
    Count,
}

/// `_include` / `_revinclude`: `source_type:param[:target_type]`, or `*`.
#[derive(Debug, Clone, PartialEq)]
pub struct Include {
    pub source_type: String,
    /// `None` for `*` (every reference parameter of the source type).
    pub param: Option<String>,
    pub target_type: Option<String>,
    pub iterate: bool,
}

/// What a store evaluates: resources of `resource_types` matching every filter, in `sort`
/// order (then type, id), strictly after `after`, at most `limit`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoreQuery {
    pub resource_types: Vec<String>,
    pub filters: Vec<StoreFilter>,
    pub sort: Vec<Sort>,
    pub after: Option<Cursor>,
    pub limit: usize,
}

impl StoreQuery {
    /// The first `limit` resources of `resource_type` matching every filter, in the default
    /// order, from the start: the look-ups chains, `_has` and `Store::may_match` make.
    pub fn of_type(resource_type: &str, filters: Vec<StoreFilter>, limit: usize) -> StoreQuery {
        StoreQuery {
            resource_types: vec![resource_type.to_string()],
            filters,
            sort: Vec::new(),
            after: None,
            limit,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StoreFilter {
    pub any: Vec<Cond>,
    pub negate: bool,
}

/// A parsed search request.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    /// The types searched: one for a type-level search; for a system-level search those in
    /// `_type`, or empty for every type.
    pub resource_types: Vec<String>,
    pub filters: Vec<Filter>,
    pub sort: Vec<Sort>,
    pub count: usize,
    pub total: Total,
    pub summary: Summary,
    /// `_elements` (element names, unqualified), empty when absent.
    pub elements: Vec<String>,
    pub include: Vec<Include>,
    pub revinclude: Vec<Include>,
    /// The paging position (`_cursor`), when this is a later page.
    pub cursor: Option<Cursor>,
    /// Parameters ignored under `Prefer: handling=lenient`, with the reason, for the
    /// OperationOutcome entry.
    pub ignored: Vec<(String, String)>,
    /// The request's parameters sorted by name (stable), without `_cursor`, `_format`,
    /// `_pretty`, ignored or empty ones, for `self`/`next` links.
    pub canonical: Vec<(String, String)>,
    /// `_contained`: whether resources contained in others are searched.
    pub contained: ContainedSearch,
    /// `_containedType`: what a match inside a container is returned as.
    pub contained_type: ContainedType,
}

/// `_contained` (search.html "Contained Resources"): by default only resources that stand
/// on their own are searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainedSearch {
    /// `false` (the default): only resources that are not contained.
    Off,
    /// `true`: only contained resources.
    Only,
    /// `both`.
    Both,
}

/// `_containedType`: a contained match is returned as its container (the default) or as
/// itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainedType {
    Container,
    Contained,
}

/// Options of the server that shape parsing.
#[derive(Debug, Clone)]
pub struct ParseOptions<'a> {
    /// Absolute references that start with this base (`http://host/fhir/`) are local.
    pub base_url: &'a str,
    pub default_count: usize,
    pub max_count: usize,
    /// `Prefer: handling=lenient`.
    pub lenient: bool,
    /// Whether `_content` is indexed (otherwise searching by it answers 400).
    pub content_search: bool,
}

/// Parses a search's query parameters (already percent-decoded, in request order) for the
/// given types (one type, or the `_type` list / empty for a system-level search). Unknown
/// or unsupported parameters and modifiers give a 400 OperationOutcome naming the parameter,
/// unless `lenient` (then they are listed in `ignored`); bad values of known parameters are a
/// 400 either way. A parameter with an empty value is ignored.
pub fn parse(
    registry: &Registry,
    resource_type: Option<&str>,
    params: &[(String, String)],
    options: &ParseOptions<'_>,
) -> Result<SearchRequest, FhirError> {
    request::parse(registry, resource_type, params, options)
}
